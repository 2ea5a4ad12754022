//! Killed runs lose nothing: `study`, `pretrain` and `finetune` are killed with SIGKILL (what `kill -9`
//! sends) at named moments — in the middle of pre-training, between two evaluations, after a checkpoint's
//! or `results.csv`'s bytes are written but before they replace the old file — and at a moment chosen by
//! the clock, then started again on the same folder. Each must finish with the `results.csv` (the
//! `seconds` column aside) and the encoder or model bytes of a run that was never interrupted, and leave
//! no temporary file behind. A second process on a folder in use is refused.
//!
//! The runs are child processes: this test binary started again with `CTSSL_KILL_JOB` set, running the
//! ignored test `child`, which does one job and exits. `CTSSL_HOLD_AT` (see `ctssl::train::hold`) holds
//! a child at a named point, where the parent kills it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use ctssl::pipeline::data::phantom_data;
use ctssl::pipeline::evaluate::{EvalPoint, Init};
use ctssl::pipeline::finetune::{finetune_run, FinetuneJob};
use ctssl::pipeline::methods::RunShape;
use ctssl::pipeline::pretrain::{pretrain, PretrainRequest};
use ctssl::pipeline::{run_study, StudyConfig};
use ctssl::study::nested_subsets;
use ctssl::train::hold::{HELD_LINE, HOLD_ENV};
use ctssl::train::trainer::RunLength;

const JOB_ENV: &str = "CTSSL_KILL_JOB";
const OUT_ENV: &str = "CTSSL_KILL_OUT";
/// A limit in bytes on the size of any file the child writes (`RLIMIT_FSIZE`): a full disk, as the
/// child's writes see it (they fail with "File too large" instead of "No space left on device").
const FILE_LIMIT_ENV: &str = "CTSSL_KILL_FILE_LIMIT";

/// A study small enough to run several times in a debug build, with enough pre-training steps (12, a
/// checkpoint every 4) and evaluations (2 seeds × 2 fractions × 3 protocols × 2 initialisations) to kill
/// in the middle of each.
fn config() -> StudyConfig {
    let mut cfg = common::tiny();
    cfg.pretrain.methods = vec!["spark".parse().unwrap()];
    cfg.pretrain.epochs = 3;
    cfg.pretrain.batch_size = 4;
    cfg.pretrain.checkpoint_every = 4;
    cfg.protocol.negative_control = false;
    cfg
}

/// The job a child runs: `study`, `pretrain` (MoCo v2: a queue and a momentum encoder to restore) or
/// `finetune`, into `out`.
fn run_job(job: &str, out: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let cfg = config();
    let device = candle_core::Device::Cpu;
    match job {
        "study" => {
            run_study(&cfg, out, &device)?;
        }
        "pretrain" => {
            let data = phantom_data(&cfg.data, &[])?;
            let req = PretrainRequest {
                method: "moco_v2".parse()?,
                backbone: cfg.backbone()?,
                shape: RunShape {
                    image_size: cfg.model.image_size,
                    length: RunLength {
                        epochs: cfg.pretrain.epochs,
                        steps_per_epoch: 0,
                        batch_size: cfg.pretrain.batch_size,
                    },
                    lr_scale: cfg.pretrain.lr_scale,
                    seed: 7,
                    decoder_width: None,
                    spark_norm_pix: true,
                },
                views: cfg.pretrain.views,
                input: cfg.input()?,
                checkpoint_every: cfg.pretrain.checkpoint_every,
                stop_after: None,
            };
            pretrain(&req, &data.pool, out, &device)?;
        }
        "finetune" => {
            let data = phantom_data(&cfg.data, &["head".to_string()])?.with_input(&cfg.input()?);
            let task = &data.tasks[0];
            let patients: Vec<String> = task.train.slices.slices.iter().map(|s| s.patient_id.clone()).collect();
            let subsets = nested_subsets(&patients, &task.train.labels, &[0.5], 3)?;
            let point = EvalPoint { task, init_name: "random", subset: &subsets.subsets[0], seed: 3 };
            let mut settings = cfg.finetune.clone();
            settings.steps = 12;
            settings.eval_every = 3;
            let job = FinetuneJob {
                init: &Init::Random,
                backbone: &cfg.backbone()?,
                settings: &settings,
                image_size: cfg.model.image_size,
                description: "kill test",
            };
            finetune_run(point, job, Some(out), &device)?;
        }
        other => return Err(format!("unknown job {other}").into()),
    }
    Ok(())
}

/// The child's side: runs the job named in the environment; does nothing in a normal test run.
#[test]
#[ignore = "the child process of the kill tests; runs only with CTSSL_KILL_JOB set"]
fn child() {
    let (Ok(job), Ok(out)) = (std::env::var(JOB_ENV), std::env::var(OUT_ENV)) else { return };
    #[cfg(unix)]
    if let Some(limit) = std::env::var(FILE_LIMIT_ENV).ok().and_then(|l| l.parse::<u64>().ok()) {
        limit_file_size(limit);
    }
    if let Err(e) = run_job(&job, Path::new(&out)) {
        panic!("{job} failed: {}", ctssl::pipeline::error::chain(&*e));
    }
}

/// Makes every write past `bytes` into one file fail (EFBIG) instead of killing the process (SIGXFSZ).
#[cfg(unix)]
fn limit_file_size(bytes: u64) {
    // SAFETY: plain system calls on this process with valid arguments; no memory is shared with them.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

/// Starts a child running `job` into `out`, held at `hold` if given; its standard error is read only by
/// [`finish`] and [`refused`] (a pipe nobody reads would fill up and stall the child).
fn spawn(job: &str, out: &Path, hold: Option<&str>, stderr: Stdio) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(JOB_ENV, job)
        .env(OUT_ENV, out)
        .env_remove(HOLD_ENV)
        .stdout(Stdio::piped())
        .stderr(stderr);
    if let Some(h) = hold {
        cmd.env(HOLD_ENV, h);
    }
    cmd.spawn().unwrap()
}

/// Runs `job` to the end; panics if it fails.
fn finish(job: &str, out: &Path) -> Duration {
    let t0 = Instant::now();
    let output = spawn(job, out, None, Stdio::piped()).wait_with_output().unwrap();
    assert!(output.status.success(), "{job} in {} failed: {}", out.display(), String::from_utf8_lossy(&output.stderr));
    t0.elapsed()
}

/// Runs `job` until it reaches `hold`, then kills it with SIGKILL; panics if it ends before the point.
fn kill_at(job: &str, out: &Path, hold: &str) -> Child {
    let mut child = spawn(job, out, Some(hold), Stdio::null());
    let stdout = child.stdout.take().unwrap();
    let held = BufReader::new(stdout).lines().map_while(Result::ok).any(|l| l.contains(HELD_LINE));
    assert!(held, "{job} ended before reaching {hold}");
    child
}

/// Kills a child with SIGKILL and reaps it.
fn kill(mut child: Child) {
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
}

/// Kills `job` after `after` of running (or lets it finish if it is faster).
fn kill_after(job: &str, out: &Path, after: Duration) {
    let mut child = spawn(job, out, None, Stdio::null());
    let t0 = Instant::now();
    while t0.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // It may end by itself between the last check and the signal: then the next call finds it done.
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `results.csv` without its last column (`seconds`, the wall time of each evaluation).
fn results_without_seconds(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|l| format!("{}\n", l.rsplit_once(',').unwrap().0)).collect()
}

/// Every file under `dir` (relative path), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().to_path_buf())
        .collect();
    out.sort();
    out
}

/// Asserts that `run` holds the same results and weights as `reference`, and no temporary file.
fn assert_same(reference: &Path, run: &Path, weights: &[&str]) {
    if reference.join("results.csv").exists() {
        assert_eq!(
            results_without_seconds(&run.join("results.csv")),
            results_without_seconds(&reference.join("results.csv")),
            "results.csv of {} differs from the uninterrupted run's",
            run.display()
        );
    }
    for w in weights {
        let (a, b) = (std::fs::read(reference.join(w)).unwrap(), std::fs::read(run.join(w)).unwrap());
        assert!(a == b, "{w} of {} differs from the uninterrupted run's", run.display());
    }
    let stray: Vec<PathBuf> = files(run)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            (name.starts_with('.') && name != ".lock") || name.ends_with(".tmp")
        })
        .collect();
    assert!(stray.is_empty(), "temporary files left behind: {stray:?}");
}

#[test]
fn a_killed_study_resumes_to_the_results_and_encoder_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let took = finish("study", &reference);

    // Killed in turn during pre-training (after its 6th step), while writing its second checkpoint,
    // between two evaluations, and while writing results.csv; each restart goes on from what is on disk.
    let run = dir.path().join("killed");
    for hold in ["train-step#6", "write:ckpt-8.safetensors#1", "evaluation#5", "write:results.csv#9"] {
        kill(kill_at("study", &run, hold));
    }
    finish("study", &run);
    assert_same(&reference, &run, &["pretrain/spark/encoder.safetensors"]);

    // Killed by the clock, wherever it is, three times.
    let run = dir.path().join("clock");
    for share in [0.15, 0.4, 0.7] {
        kill_after("study", &run, took.mul_f64(share));
    }
    finish("study", &run);
    assert_same(&reference, &run, &["pretrain/spark/encoder.safetensors"]);
}

#[test]
fn a_killed_pretraining_resumes_to_the_encoder_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let took = finish("pretrain", &reference);
    let run = dir.path().join("killed");
    for hold in ["train-step#3", "write:ckpt-4.safetensors#1", "train-step#5", "write:ckpt-12.safetensors#1"] {
        kill(kill_at("pretrain", &run, hold));
    }
    kill_after("pretrain", &run, took.mul_f64(0.5));
    finish("pretrain", &run);
    assert_same(&reference, &run, &["encoder.safetensors"]);
}

#[test]
fn a_killed_finetuning_resumes_to_the_results_and_model_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let took = finish("finetune", &reference);
    let run = dir.path().join("killed");
    kill(kill_at("finetune", &run, "write:results.csv#1"));
    kill_after("finetune", &run, took.mul_f64(0.5));
    finish("finetune", &run);
    assert_same(&reference, &run, &["model.safetensors"]);
}

#[test]
fn a_second_process_on_a_run_folder_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let holder = kill_at("finetune", &run, "write:results.csv#1");
    let second = spawn("finetune", &run, None, Stdio::piped()).wait_with_output().unwrap();
    assert!(!second.status.success(), "the second process must fail");
    // The child's panic message carries the error.
    let out = String::from_utf8_lossy(&second.stderr).into_owned();
    kill(holder);
    assert!(out.contains("in use by process"), "{out}");
    // Once the holder is gone the folder can be used again.
    finish("finetune", &run);
}

#[test]
#[cfg(unix)]
fn a_full_disk_is_an_error_naming_the_file_and_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // 16 KiB: the data record and config fit, the first pre-training checkpoint does not.
    let output = spawn_with_file_limit("study", &run, 16 * 1024).wait_with_output().unwrap();
    assert!(!output.status.success(), "the study must fail on a full disk");
    let err = String::from_utf8_lossy(&output.stderr);
    let ckpt = run.join("pretrain/spark/train/ckpt-4.safetensors");
    assert!(err.contains(&ckpt.display().to_string()), "the error names the file: {err}");
    assert!(err.contains("File too large"), "the error keeps the system's reason: {err}");
    assert!(!ckpt.exists(), "no partial checkpoint");
    let stray: Vec<PathBuf> = files(&run)
        .into_iter()
        .filter(|p| p.file_name().unwrap_or_default().to_string_lossy().starts_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    for f in files(&run) {
        let name = f.file_name().unwrap_or_default().to_string_lossy().into_owned();
        assert!(!name.starts_with('.') || name == ".lock", "temporary file left behind: {}", f.display());
    }
    // With room again, the same command finishes.
    finish("study", &run);
}

#[test]
fn an_unwritable_run_folder_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let run = blocker.join("run");
    let err = run_study(&config(), &run, &candle_core::Device::Cpu).unwrap_err();
    let text = ctssl::pipeline::error::chain(&err);
    assert!(text.contains(&run.display().to_string()), "{text}");
    let io = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<std::io::Error>());
    assert!(io.is_some(), "the io::Error is the source of {text}");
}

/// [`spawn`] with every file of the child limited to `bytes`; standard error is piped.
#[cfg(unix)]
fn spawn_with_file_limit(job: &str, out: &Path, bytes: u64) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(JOB_ENV, job)
        .env(OUT_ENV, out)
        .env(FILE_LIMIT_ENV, bytes.to_string())
        .env_remove(HOLD_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}
