//! Views per second per recipe and size, on one thread, measured both in wall time and in the CPU time
//! of the measuring thread (Linux `/proc/thread-self/schedstat`), so that the rate per core can be read
//! on a busy machine too. Prints a markdown table.
//!
//! ```text
//! cargo run --release -p ctssl-augment --example views_per_second -- [--seconds 2] [--sizes 64,128,224] [--recipes study,spark] [--loader-only]
//! ```

use std::time::Instant;

use ctssl_augment::{chest_phantom, phantom_slices, BuiltinRecipe, Loader, LoaderConfig, Recipe};

/// On-CPU time of the calling thread in seconds (`None` where schedstat is unavailable).
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// On-CPU time of the whole process in seconds (`/proc/self/schedstat` is per thread; use stat's utime+stime).
fn process_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = s.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut seconds = 2.0f64;
    let mut sizes = vec![64usize, 128, 224];
    let mut loader_only = false;
    let mut recipes: Vec<String> = BuiltinRecipe::pretraining().map(|r| r.to_string()).collect();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().ok_or("--seconds needs a value")?.parse()?,
            "--sizes" => {
                sizes =
                    args.next().ok_or("--sizes needs a value")?.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            "--loader-only" => loader_only = true,
            "--recipes" => {
                recipes = args.next().ok_or("--recipes needs a value")?.split(',').map(String::from).collect()
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let slice = chest_phantom(512, 512, 1)?;
    if !loader_only {
        println!("| recipe | size | views / sample | views/s (wall) | views/s per CPU-second |");
        println!("|---|---|---|---|---|");
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
        for &size in &sizes {
            for name in &recipes {
                let recipe = Recipe::by_name(name, size)?;
                let (wall, cpu, views) = pool.install(|| -> Result<_, ctssl_augment::AugmentError> {
                    for p in 0..5 {
                        recipe.make_views(&slice, 0, 0, p)?; // warm-up
                    }
                    let (t0, c0) = (Instant::now(), thread_cpu_seconds());
                    let mut views = 0usize;
                    let mut p = 0u64;
                    while t0.elapsed().as_secs_f64() < seconds {
                        views += recipe.make_views(&slice, 0, 1, p)?.len();
                        p += 1;
                    }
                    let cpu = match (c0, thread_cpu_seconds()) {
                        (Some(a), Some(b)) => Some(b - a),
                        _ => None,
                    };
                    Ok((t0.elapsed().as_secs_f64(), cpu, views))
                })?;
                let per_cpu = cpu.map(|c| format!("{:.0}", views as f64 / c)).unwrap_or_else(|| "n/a".into());
                println!("| {name} | {size} | {} | {:.0} | {per_cpu} |", recipe.num_views(), views as f64 / wall);
            }
        }
    }
    // Loader: study recipe, 64 px, batches of 64, all cores, prefetch 4, 256 slices of 512 × 512.
    let slices = phantom_slices(256, 512)?;
    for &size in &sizes {
        let config = LoaderConfig { batch_size: 64, prefetch: 4, ..LoaderConfig::default() };
        let loader = Loader::new(slices.clone(), Recipe::study(size), config)?;
        let (t0, c0) = (Instant::now(), process_cpu_seconds());
        let mut views = 0usize;
        let mut epoch = 0;
        while t0.elapsed().as_secs_f64() < seconds {
            for b in loader.epoch(epoch) {
                views += b?.views.iter().map(|t| t.dims()[0]).sum::<usize>();
            }
            epoch += 1;
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = match (c0, process_cpu_seconds()) {
            (Some(a), Some(b)) => format!("{:.0}", views as f64 / (b - a)),
            _ => "n/a".into(),
        };
        println!(
            "loader study {size} px, {} threads: {:.0} views/s wall, {cpu} views per CPU-second, {views} views",
            rayon::current_num_threads(),
            views as f64 / wall
        );
    }
    Ok(())
}
