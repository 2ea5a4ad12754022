//! Supervised fuzzing of every ctssl-io reader, on stable Rust.
//!
//! ```text
//! cargo run --release -p ctssl-io --example fuzz -- --minutes 10 --seed 1 \
//!     --corpus tests/data/conformance/dicom --out target/fuzz
//! ```
//!
//! The supervisor makes seeded mutations of the corpus files (bit flips, byte sets, length fields
//! set to values like 0xFFFFFFF0, truncation, chunk duplication and deletion, splicing of two
//! files) and hands them in batches to a worker process — this same program with `--worker` —
//! which runs under an address-space limit (`RLIMIT_AS`). The worker reads each input with every
//! reader whose corpus it belongs to, inside `catch_unwind`, and reports its outcome and the peak
//! bytes it allocated (a counting allocator). The supervisor records panics, aborts (the worker
//! died: a failed allocation, a stack overflow, a signal) and hangs (no answer within
//! `--timeout-ms`; the worker is killed), restarts the worker after the input that killed it, and
//! saves every failing input under `OUT/failures/`. At the end it writes `OUT/summary.md`.
//!
//! docs/fuzzing.md describes the options and the last long run.

mod engine;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ctssl_io::ReadOptions;
use engine::{memory_bound, mutate, Rng, TARGETS};

#[global_allocator]
static ALLOCATOR: engine::Counting = engine::Counting;

struct Args {
    minutes: f64,
    inputs: Option<usize>,
    seed: u64,
    corpus: Vec<PathBuf>,
    out: PathBuf,
    timeout_ms: u64,
    batch: usize,
    rlimit_mb: u64,
    max_image_mb: u64,
}

fn parse_args() -> Result<(Args, Option<PathBuf>), String> {
    let mut a = Args {
        minutes: 1.0,
        inputs: None,
        seed: 1,
        corpus: Vec::new(),
        out: PathBuf::from("target/fuzz"),
        timeout_ms: 10_000,
        batch: 250,
        rlimit_mb: 4096,
        max_image_mb: ReadOptions::default().max_image_bytes >> 20,
    };
    let mut worker = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--minutes" => a.minutes = value("--minutes")?.parse().map_err(|e| format!("--minutes: {e}"))?,
            "--inputs" => a.inputs = Some(value("--inputs")?.parse().map_err(|e| format!("--inputs: {e}"))?),
            "--seed" => a.seed = value("--seed")?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--corpus" => a.corpus.push(value("--corpus")?.into()),
            "--out" => a.out = value("--out")?.into(),
            "--timeout-ms" => {
                a.timeout_ms = value("--timeout-ms")?.parse().map_err(|e| format!("--timeout-ms: {e}"))?
            }
            "--batch" => a.batch = value("--batch")?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--rlimit-mb" => a.rlimit_mb = value("--rlimit-mb")?.parse().map_err(|e| format!("--rlimit-mb: {e}"))?,
            "--max-image-mb" => {
                a.max_image_mb = value("--max-image-mb")?.parse().map_err(|e| format!("--max-image-mb: {e}"))?
            }
            "--worker" => worker = Some(PathBuf::from(value("--worker")?)),
            "-h" | "--help" => {
                println!(
                    "fuzz [--minutes M | --inputs N] [--seed S] --corpus DIR... [--out DIR] [--timeout-ms T] \
                     [--batch B] [--rlimit-mb R] [--max-image-mb L]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.corpus.is_empty() {
        a.corpus.push(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/conformance/dicom")));
    }
    Ok((a, worker))
}

fn main() {
    let (args, worker) = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fuzz: {e}");
            std::process::exit(2);
        }
    };
    let result = match worker {
        Some(list) => run_worker(&list, &args),
        None => supervise(&args),
    };
    if let Err(e) = result {
        eprintln!("fuzz: {e}");
        std::process::exit(1);
    }
}

fn options(args: &Args) -> ReadOptions {
    ReadOptions::default().with_max_image_bytes(args.max_image_mb << 20)
}

// ---------------------------------------------------------------------------------------------
// Worker: reads the inputs listed in a file, one line per input: `TARGET<TAB>PATH`.

fn run_worker(list: &Path, args: &Args) -> Result<(), String> {
    limit_address_space(args.rlimit_mb << 20);
    // Panics are reported through catch_unwind's payload, not printed.
    std::panic::set_hook(Box::new(|_| {}));
    let text = std::fs::read_to_string(list).map_err(|e| format!("{}: {e}", list.display()))?;
    let options = options(args);
    let stdout = std::io::stdout();
    for (i, line) in text.lines().enumerate() {
        let Some((name, path)) = line.split_once('\t') else { continue };
        let Some(target) = TARGETS.iter().find(|t| t.name == name) else { continue };
        let path = Path::new(path);
        let declared = (target.declared_bytes)(path);
        {
            let mut out = stdout.lock();
            let _ = writeln!(out, "BEGIN {i}");
            let _ = out.flush();
        }
        let base = engine::start_measuring();
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| (target.read)(path, &options));
        let peak = engine::peak_since(base);
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let (status, message) = match outcome {
            Ok(Ok(())) => ("ok".to_string(), String::new()),
            Ok(Err((kind, msg))) => (kind, msg),
            Err(p) => ("PANIC".to_string(), panic_text(&*p)),
        };
        let message = message.replace(['\n', '\t'], " ");
        let mut out = stdout.lock();
        let _ = writeln!(out, "END {i}\t{status}\t{peak}\t{declared}\t{ms:.3}\t{message}");
        let _ = out.flush();
    }
    Ok(())
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(unix)]
fn limit_address_space(bytes: u64) {
    let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
    // SAFETY: setrlimit reads the struct we pass and changes only this process's limit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    if rc != 0 {
        eprintln!("fuzz worker: setrlimit(RLIMIT_AS) failed; running without an address-space limit");
    }
}

#[cfg(not(unix))]
fn limit_address_space(_bytes: u64) {
    eprintln!("fuzz worker: no address-space limit on this platform");
}

// ---------------------------------------------------------------------------------------------
// Supervisor.

/// Inputs slower than this are saved (as `slow-*`) to look at; the hang timeout is separate.
const SLOW_MS: f64 = 1000.0;

struct Input {
    target: &'static str,
    seed_name: String,
    path: PathBuf,
    len: u64,
}

#[derive(Default)]
struct Stats {
    inputs: usize,
    ok: usize,
    errors: BTreeMap<String, usize>,
    panics: usize,
    contained_panics: usize,
    aborts: usize,
    hangs: usize,
    over_bound: usize,
    slow: usize,
    max_ms: f64,
    /// Per seed file: inputs, max peak, the bound at that input, max peak / bound.
    per_seed: BTreeMap<String, SeedStats>,
    failures: Vec<String>,
}

#[derive(Default, Clone)]
struct SeedStats {
    inputs: usize,
    max_peak: u64,
    bound_at_max: u64,
    max_ratio: f64,
}

fn supervise(args: &Args) -> Result<(), String> {
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for dir in &args.corpus {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            seeds.push((f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), bytes));
        }
    }
    let ext = |name: &str| name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let plan: Vec<(&engine::Target, Vec<usize>)> = TARGETS
        .iter()
        .map(|t| (t, (0..seeds.len()).filter(|&i| t.extensions.contains(&ext(&seeds[i].0).as_str())).collect()))
        .filter(|(_, s): &(&engine::Target, Vec<usize>)| !s.is_empty())
        .collect();
    if plan.is_empty() {
        return Err("no corpus file matches any target".into());
    }
    let all: Vec<Vec<u8>> = seeds.iter().map(|(_, b)| b.clone()).collect();
    let work = args.out.join("work");
    let failures = args.out.join("failures");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    std::fs::create_dir_all(&failures).map_err(|e| format!("{}: {e}", failures.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let options = options(args);

    let mut rng = Rng::new(args.seed);
    let mut stats = Stats::default();
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.minutes * 60.0);
    let mut batch_no = 0usize;
    loop {
        let done = match args.inputs {
            Some(n) => stats.inputs >= n,
            None => Instant::now() >= deadline,
        };
        if done {
            break;
        }
        let count = match args.inputs {
            Some(n) => args.batch.min(n - stats.inputs),
            None => args.batch,
        };
        // Make the batch.
        let mut inputs = Vec::with_capacity(count);
        let mut list = String::new();
        for k in 0..count {
            let (target, seed_ids) = &plan[(batch_no * count + k) % plan.len()];
            let seed = seed_ids[rng.below(seed_ids.len())];
            let data = mutate(&mut rng, &seeds[seed].1, &all);
            let path = work.join(format!("{k:05}.{}", target.extensions[0]));
            std::fs::write(&path, &data).map_err(|e| format!("{}: {e}", path.display()))?;
            list.push_str(&format!("{}\t{}\n", target.name, path.display()));
            inputs.push(Input { target: target.name, seed_name: seeds[seed].0.clone(), path, len: data.len() as u64 });
        }
        let list_path = work.join("batch.txt");
        std::fs::write(&list_path, &list).map_err(|e| format!("{}: {e}", list_path.display()))?;
        run_batch(args, &exe, &list, &work, &inputs, &options, &failures, &mut stats)?;
        batch_no += 1;
        if batch_no.is_multiple_of(20) {
            eprintln!(
                "fuzz: {} inputs, {} panics, {} aborts, {} hangs, {} over the memory bound, {:.0} s",
                stats.inputs,
                stats.panics,
                stats.aborts,
                stats.hangs,
                stats.over_bound,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let summary = summary(args, &stats, started.elapsed());
    let path = args.out.join("summary.md");
    std::fs::write(&path, &summary).map_err(|e| format!("{}: {e}", path.display()))?;
    print!("{summary}");
    Ok(())
}

fn spawn_worker(args: &Args, exe: &Path, list: &Path) -> Result<(Child, mpsc::Receiver<String>), String> {
    let mut child = Command::new(exe)
        .arg("--worker")
        .arg(list)
        .args(["--rlimit-mb", &args.rlimit_mb.to_string(), "--max-image-mb", &args.max_image_mb.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the worker: {e}"))?;
    let stdout = child.stdout.take().ok_or("worker without stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    Ok((child, rx))
}

#[allow(clippy::too_many_arguments)]
fn run_batch(
    args: &Args,
    exe: &Path,
    list: &str,
    work: &Path,
    inputs: &[Input],
    options: &ReadOptions,
    failures: &Path,
    stats: &mut Stats,
) -> Result<(), String> {
    let lines: Vec<&str> = list.lines().collect();
    let mut next = 0usize;
    while next < inputs.len() {
        // A worker for the inputs from `next` on.
        let rest = work.join("rest.txt");
        std::fs::write(&rest, lines[next..].join("\n")).map_err(|e| e.to_string())?;
        let (mut child, rx) = spawn_worker(args, exe, &rest)?;
        let offset = next;
        let timeout = Duration::from_millis(args.timeout_ms);
        loop {
            if next >= inputs.len() {
                let _ = child.wait();
                break;
            }
            match rx.recv_timeout(timeout) {
                Ok(line) if line.starts_with("BEGIN ") => {}
                Ok(line) if line.starts_with("END ") => {
                    let fields: Vec<&str> = line[4..].splitn(6, '\t').collect();
                    let (Some(i), Some(status), Some(peak), Some(declared), Some(ms)) = (
                        fields.first().and_then(|s| s.parse::<usize>().ok()),
                        fields.get(1),
                        fields.get(2).and_then(|s| s.parse::<u64>().ok()),
                        fields.get(3).and_then(|s| s.parse::<u64>().ok()),
                        fields.get(4).and_then(|s| s.parse::<f64>().ok()),
                    ) else {
                        continue;
                    };
                    let input = &inputs[offset + i];
                    let message = fields.get(5).copied().unwrap_or("");
                    record(stats, input, status, peak, declared, ms, message, options, failures);
                    next = offset + i + 1;
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let input = &inputs[next];
                    stats.inputs += 1;
                    stats.hangs += 1;
                    save(stats, input, "hang", &format!("no answer within {} ms", args.timeout_ms), failures);
                    next += 1;
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                    if next < inputs.len() {
                        let input = &inputs[next];
                        stats.inputs += 1;
                        stats.aborts += 1;
                        save(stats, input, "abort", &format!("worker died: {status}"), failures);
                        next += 1;
                    }
                    break;
                }
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record(
    stats: &mut Stats,
    input: &Input,
    status: &str,
    peak: u64,
    declared: u64,
    ms: f64,
    message: &str,
    options: &ReadOptions,
    failures: &Path,
) {
    stats.inputs += 1;
    stats.max_ms = stats.max_ms.max(ms);
    if ms > SLOW_MS {
        stats.slow += 1;
        save(stats, input, "slow", &format!("{ms:.0} ms ({status})"), failures);
    }
    match status {
        "ok" => stats.ok += 1,
        "PANIC" => {
            stats.panics += 1;
            save(stats, input, "panic", message, failures);
        }
        kind => {
            *stats.errors.entry(format!("{}: {kind}", input.target)).or_default() += 1;
            if message.contains("panicked") {
                stats.contained_panics += 1;
                save(stats, input, "contained-panic", message, failures);
            }
        }
    }
    let bound = memory_bound(input.len, declared, options);
    if peak > bound {
        stats.over_bound += 1;
        save(stats, input, "memory", &format!("peak {peak} bytes > bound {bound}"), failures);
    }
    let s = stats.per_seed.entry(format!("{} ({})", input.seed_name, input.target)).or_default();
    s.inputs += 1;
    let ratio = peak as f64 / bound as f64;
    if peak > s.max_peak {
        s.max_peak = peak;
        s.bound_at_max = bound;
    }
    s.max_ratio = s.max_ratio.max(ratio);
}

fn save(stats: &mut Stats, input: &Input, kind: &str, message: &str, failures: &Path) {
    let n = stats.failures.len();
    let ext = input.path.extension().and_then(|e| e.to_str()).unwrap_or("bin");
    let name = format!("{kind}-{n:04}-{}.{ext}", input.target);
    let to = failures.join(&name);
    let _ = std::fs::copy(&input.path, &to);
    let _ = std::fs::write(
        failures.join(format!("{name}.txt")),
        format!("{} from {}: {message}\n", input.target, input.seed_name),
    );
    stats.failures.push(format!("{name}: {} from {}: {message}", input.target, input.seed_name));
}

fn summary(args: &Args, stats: &Stats, elapsed: Duration) -> String {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let mut s = String::new();
    s.push_str("# Fuzzing summary\n\n");
    s.push_str(&format!(
        "seed {}, corpus {}, {:.1} min, worker address-space limit {} MiB, max image {} MiB, timeout {} ms per input\n\n",
        args.seed,
        args.corpus.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", "),
        elapsed.as_secs_f64() / 60.0,
        args.rlimit_mb,
        args.max_image_mb,
        args.timeout_ms
    ));
    s.push_str("| inputs | read | typed errors | panics | contained panics | aborts | hangs | over the memory bound | slower than 1 s | slowest input |\n|---|---|---|---|---|---|---|---|---|---|\n");
    let errors: usize = stats.errors.values().sum();
    s.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} ms |\n\n",
        stats.inputs,
        stats.ok,
        errors,
        stats.panics,
        stats.contained_panics,
        stats.aborts,
        stats.hangs,
        stats.over_bound,
        stats.slow,
        stats.max_ms
    ));
    s.push_str("Typed errors by reader and kind: ");
    s.push_str(&stats.errors.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
    s.push_str("\n\nPeak memory per seed file (the most any of its mutants allocated, against the bound at that input: 16 MiB + 32 × file size + 3 × declared image, or inflated data set for a deflated file):\n\n");
    s.push_str(
        "| seed file (reader) | inputs | max peak MiB | bound there MiB | max peak / bound |\n|---|---|---|---|---|\n",
    );
    for (name, x) in &stats.per_seed {
        s.push_str(&format!(
            "| {name} | {} | {:.2} | {:.1} | {:.3} |\n",
            x.inputs,
            mib(x.max_peak),
            mib(x.bound_at_max),
            x.max_ratio
        ));
    }
    s.push_str(&format!("\nFailing inputs saved: {}\n", stats.failures.len()));
    for f in &stats.failures {
        s.push_str(&format!("- {f}\n"));
    }
    s
}
