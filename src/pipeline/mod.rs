//! The workflows a user runs, composed from the crates: the study's configuration and presets
//! ([`config`]), its data from synthetic patients or DICOM folders ([`data`]), every method by name
//! ([`methods::Method`]), one pre-training run ([`pretrain`]), one evaluation ([`evaluate`]) and the whole
//! label-fraction study ([`study`]). The `pretrain`, `finetune` and `study` examples are thin command
//! lines over these.

pub mod analysis;
pub mod config;
pub mod data;
pub mod error;
pub mod evaluate;
pub mod finetune;
mod method_run;
pub mod methods;
mod names;
pub mod pretrain;
pub mod sources;
mod spark;
pub mod study;

pub use config::StudyConfig;
pub use error::{PipelineError, Result};
pub use study::{run_study, StudyOutcome};

/// The device of a name: `cpu`, or `cuda` / `cuda:N` (needs the `cuda` feature of this package).
pub fn device(name: &str) -> Result<candle_core::Device> {
    match name {
        "cpu" => Ok(candle_core::Device::Cpu),
        n if n == "cuda" || n.starts_with("cuda:") => {
            let ordinal = n
                .strip_prefix("cuda:")
                .map_or(Ok(0), |o| o.parse::<usize>())
                .map_err(|_| PipelineError::Config(format!("bad device `{n}` (cpu, cuda or cuda:N)")))?;
            candle_core::Device::new_cuda(ordinal).map_err(|e| {
                PipelineError::Config(format!("device {n}: {e} (build with `--features cuda` on a machine with CUDA)"))
            })
        }
        other => Err(PipelineError::Config(format!("unknown device `{other}` (cpu, cuda or cuda:N)"))),
    }
}

/// Prepares the process for training on the CPU.
///
/// # Safety
///
/// It sets environment variables ([`ctssl_kernels::runtime::configure_candle_threads`]): call it first
/// thing in `main`, before any thread is started, so that no other thread reads or writes the
/// environment meanwhile.
///
/// Sizes candle's own elementwise pool (the gradient sums of `backward`) as rayon's and keeps its
/// workers from spinning between ops, unless the user set `CANDLE_NUM_THREADS` /
/// `CANDLE_BARRIER_POOL_SPIN_LIMIT` ([`ctssl_kernels::runtime::configure_candle_threads`]). Builds
/// rayon's global pool with the calling thread as one of its threads
/// ([`ctssl_kernels::runtime::init_thread_pool`]); if the pool already exists, leaves it.
pub unsafe fn init_cpu_runtime() {
    // SAFETY: this function's contract is the one `configure_candle_threads` needs.
    unsafe { ctssl_kernels::runtime::configure_candle_threads(0) };
    let _ = ctssl_kernels::runtime::init_thread_pool(0);
}

/// Sends log lines (training progress when the output is not a terminal) to stderr at `info`, or as
/// `RUST_LOG` says; for command-line programs. Does nothing if a logger is already installed.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ctssl_train::eval=warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
