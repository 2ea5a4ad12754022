//! Named points where a process can be held so that a test can kill it there (`kill -9`).
//!
//! Crash-consistency tests need to kill a run at an exact moment: in the middle of pre-training, between
//! two evaluations, after a checkpoint's bytes are written but before they replace the old file. The
//! library marks those moments with [`hold_point`]. In a normal run the environment variable
//! [`HOLD_ENV`] is unset and a hold point costs one load of an initialised `OnceLock`. When it is set to
//! `NAME#N`, the `N`-th time the process passes the point `NAME` it prints `ctssl-held NAME#N` on
//! standard output and sleeps until it is killed.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable naming the point to hold at: `NAME#N` (`N` counts from 1; `NAME` alone is
/// `NAME#1`).
pub const HOLD_ENV: &str = "CTSSL_HOLD_AT";

/// The line printed (followed by ` NAME#N`) when the process is held.
pub const HELD_LINE: &str = "ctssl-held";

/// The point to hold at, read once from the environment.
fn target() -> Option<&'static (String, u64)> {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    TARGET
        .get_or_init(|| {
            let spec = std::env::var(HOLD_ENV).ok()?;
            match spec.rsplit_once('#') {
                Some((name, n)) => Some((name.to_string(), n.parse().ok()?)),
                None => Some((spec, 1)),
            }
        })
        .as_ref()
}

/// Passes the point `name`; holds the process there (forever) if the environment asks for it.
pub fn hold_point(name: &str) {
    static PASSES: AtomicU64 = AtomicU64::new(0);
    let Some((wanted, n)) = target() else { return };
    if wanted != name {
        return;
    }
    if PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{HELD_LINE} {name}#{n}");
        let _ = out.flush();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
