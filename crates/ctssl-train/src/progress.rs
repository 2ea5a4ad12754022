//! What a user sees during a run: a progress bar (step, loss, learning rate, images/s, ETA) that falls
//! back to plain `tracing` log lines when stdout is not a terminal, and a JSON-lines metrics log in the
//! run folder.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::error::{Result, TrainError};

/// Throughput and remaining time from the work done since a start point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Images processed per second.
    pub images_per_s: f64,
    /// Estimated time to the last step; `None` before any step is done.
    pub eta: Option<Duration>,
}

/// Computes [`Rate`] from `steps_done` steps and `images` images in `elapsed`, `steps_left` to go.
pub fn rate(steps_done: u64, images: u64, elapsed: Duration, steps_left: u64) -> Rate {
    let secs = elapsed.as_secs_f64();
    let images_per_s = if secs > 0.0 { images as f64 / secs } else { 0.0 };
    let eta = (steps_done > 0).then(|| Duration::from_secs_f64(secs / steps_done as f64 * steps_left as f64));
    Rate { images_per_s, eta }
}

/// Formats a duration as `h:mm:ss`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// One status line: `step 120/1000 loss 0.4321 lr 1.000e-3 350.2 img/s eta 0:04:10`.
pub fn format_status(step: u64, total: u64, loss: f64, lr: f64, r: &Rate) -> String {
    let eta = r.eta.map_or_else(|| "?".to_string(), format_duration);
    format!("step {step}/{total} loss {loss:.4} lr {lr:.3e} {:.1} img/s eta {eta}", r.images_per_s)
}

/// Progress of a run over optimizer steps.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    first_step: u64,
    images: u64,
    start: Instant,
    last_line: Instant,
    line_every: Duration,
}

impl Progress {
    /// Progress from `first_step` (non-zero when resuming) to `total` steps; a bar when stdout is a
    /// terminal, otherwise one `tracing` info line at most every `line_every`.
    pub fn new(first_step: u64, total: u64, line_every: Duration) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            if let Ok(style) = ProgressStyle::default_bar().template("{bar:30} {msg}") {
                bar.set_style(style);
            }
            bar.set_position(first_step);
            bar
        });
        Self::with_bar(bar, first_step, total, line_every)
    }

    /// Progress that only writes log lines (for tests and non-interactive runs).
    pub fn plain(first_step: u64, total: u64, line_every: Duration) -> Self {
        Self::with_bar(None, first_step, total, line_every)
    }

    fn with_bar(bar: Option<ProgressBar>, first_step: u64, total: u64, line_every: Duration) -> Self {
        let now = Instant::now();
        Self { bar, total, first_step, images: 0, start: now, last_line: now, line_every }
    }

    /// Records that step `step` (0-based) is done, with its loss, learning rate and batch size; returns the
    /// status line.
    pub fn update(&mut self, step: u64, loss: f64, lr: f64, images: u64) -> String {
        self.images += images;
        let done = (step + 1).saturating_sub(self.first_step);
        let r = rate(done, self.images, self.start.elapsed(), self.total.saturating_sub(step + 1));
        let line = format_status(step + 1, self.total, loss, lr, &r);
        match &self.bar {
            Some(bar) => {
                bar.set_position(step + 1);
                bar.set_message(line.clone());
            }
            None => {
                if self.last_line.elapsed() >= self.line_every || step + 1 == self.total {
                    tracing::info!("{line}");
                    self.last_line = Instant::now();
                }
            }
        }
        line
    }

    /// Ends the bar (if any).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// Appends one JSON object per line to `<run folder>/metrics.jsonl` (per step and per epoch records).
/// Non-finite floats are written as `null` (JSON has no NaN).
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    out: BufWriter<File>,
}

impl MetricsLog {
    /// Opens (creating the folder and file, appending when resuming) `dir/metrics.jsonl`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let path = dir.join("metrics.jsonl");
        let f = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| TrainError::io(&path, e))?;
        Ok(Self { path, out: BufWriter::new(f) })
    }

    /// Writes one record as a line and flushes it.
    pub fn log<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let line =
            serde_json::to_string(record).map_err(|source| TrainError::Json { what: "a progress record", source })?;
        writeln!(self.out, "{line}").and_then(|_| self.out.flush()).map_err(|e| TrainError::io(&self.path, e))
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_eta() {
        let r = rate(10, 640, Duration::from_secs(2), 90);
        assert_eq!(r.images_per_s, 320.0);
        assert_eq!(r.eta, Some(Duration::from_secs(18)));
        assert_eq!(rate(0, 0, Duration::ZERO, 5), Rate { images_per_s: 0.0, eta: None });
        assert_eq!(format_duration(Duration::from_secs(3723)), "1:02:03");
        let line = format_status(120, 1000, 0.43214, 1e-3, &r);
        assert_eq!(line, "step 120/1000 loss 0.4321 lr 1.000e-3 320.0 img/s eta 0:00:18");
    }

    #[test]
    fn plain_progress_reports_steps() {
        let mut p = Progress::plain(5, 10, Duration::from_secs(3600));
        let line = p.update(5, 1.5, 0.1, 32);
        assert!(line.starts_with("step 6/10 loss 1.5000 lr 1.000e-1"), "{line}");
        p.finish();
    }

    #[test]
    fn metrics_log_appends_json_lines() {
        #[derive(Serialize)]
        struct Rec {
            step: u64,
            loss: f64,
        }
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        {
            let mut m = MetricsLog::open(&run).unwrap();
            m.log(&Rec { step: 0, loss: 1.25 }).unwrap();
            m.log(&Rec { step: 1, loss: f64::NAN }).unwrap();
        }
        let mut m = MetricsLog::open(&run).unwrap();
        m.log(&serde_json::json!({"epoch": 0, "val_auc": 0.75})).unwrap();
        let text = std::fs::read_to_string(m.path()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["loss"], 1.25);
        assert!(lines[1]["loss"].is_null());
        assert_eq!(lines[2]["val_auc"], 0.75);
    }
}
