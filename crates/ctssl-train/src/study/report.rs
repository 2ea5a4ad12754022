//! The study's report: plots (PNG and SVG) of every metric against the label fraction with confidence
//! bands, and `report.md` with the run's facts, the tables and a summary of which initialisation holds
//! up best as labels shrink — whatever the data shows.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::results::{permille, Protocol, ResultRow};
use super::summary::{aggregate, robustness, Cell, Metric};
use crate::error::Result;
use crate::plot::{LineChart, Series};

/// What the report says about the run besides the results (`("backbone", "resnet_tiny")` ...), in order.
pub type RunFacts = Vec<(String, String)>;

fn fmt_cell(c: Option<&Cell>) -> String {
    match c.and_then(|c| c.value.as_ref()) {
        None => "–".into(),
        Some(v) => match v.half_width {
            Some(h) => format!("{:.3} ± {:.3}", v.mean, h),
            None => format!("{:.3} (n=1)", v.mean),
        },
    }
}

fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

/// The chart of `metric` against the label fraction for one task and protocol, one line per initialisation.
pub fn chart(cells: &[Cell], task: &str, protocol: Protocol, metric: Metric) -> LineChart {
    let mut by_init: BTreeMap<&str, Vec<&Cell>> = BTreeMap::new();
    for c in cells.iter().filter(|c| c.task == task && c.protocol == protocol) {
        by_init.entry(c.init.as_str()).or_default().push(c);
    }
    let series = by_init
        .into_iter()
        .map(|(init, mut cs)| {
            cs.sort_by(|a, b| a.fraction.total_cmp(&b.fraction));
            let points = cs
                .iter()
                .filter_map(|c| {
                    let v = c.value.as_ref()?;
                    Some((c.fraction * 100.0, v.mean, v.half_width.map(|h| (v.mean - h, v.mean + h))))
                })
                .collect();
            Series { name: init.to_string(), points }
        })
        .collect();
    LineChart {
        title: format!("{task}: {} ({}), mean ± 95 % CI over seeds", metric.label(), protocol.name().replace('_', " ")),
        x_label: "training labels (% of patients)".into(),
        y_label: metric.label().into(),
        log_x: true,
        series,
    }
}

/// Writes the plots under `run_dir/plots/` and `run_dir/report.md`; returns the report's path.
///
/// `skipped` lists, per task, the fractions that were not evaluated and why.
pub fn write_report(
    run_dir: &Path,
    rows: &[ResultRow],
    facts: &RunFacts,
    skipped: &BTreeMap<String, Vec<String>>,
) -> Result<PathBuf> {
    let tasks: BTreeSet<&str> = rows.iter().map(|r| r.task.as_str()).collect();
    let protocols: BTreeSet<Protocol> = rows.iter().map(|r| r.protocol).collect();
    let per_metric: BTreeMap<&str, Vec<Cell>> = Metric::ALL.iter().map(|m| (m.name(), aggregate(rows, *m))).collect();
    let auc = &per_metric["roc_auc"];

    let mut md = String::new();
    let _ = writeln!(md, "# Label-fraction study\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    for (k, v) in facts {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    let _ = writeln!(md, "| evaluations | {} rows in `results.csv` |\n", rows.len());

    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(
        md,
        "Ranked by mean test ROC-AUC at the smallest label fraction that every initialisation reached; \
         *retained* = that AUC / the AUC with all training labels. Intervals are 95 % Student-t over seeds.\n"
    );
    for &task in &tasks {
        for &protocol in &protocols {
            let r = robustness(auc, task, protocol);
            let Some(best) = r.first() else { continue };
            let random = r.iter().find(|x| x.init == "random");
            // The interval of a mean at the smallest common fraction, to say whether a gap is established.
            let interval = |init: &str| {
                auc.iter()
                    .find(|c| {
                        c.task == task
                            && c.protocol == protocol
                            && c.init == init
                            && permille(c.fraction) == permille(best.smallest_fraction)
                    })
                    .and_then(|c| c.value.as_ref())
                    .and_then(|v| v.half_width)
            };
            let versus = match random {
                Some(rd) if rd.init != best.init => {
                    let overlap = match (interval(&best.init), interval("random")) {
                        (Some(a), Some(b)) => (best.smallest - rd.smallest).abs() <= a + b,
                        _ => true,
                    };
                    format!(
                        " ({:+.3} over random initialisation's {:.3}{})",
                        best.smallest - rd.smallest,
                        rd.smallest,
                        if overlap { "; the 95 % intervals overlap, so the gap is not established" } else { "" }
                    )
                }
                Some(_) => " — no pre-training beat random initialisation there".into(),
                None => String::new(),
            };
            let steady = r.iter().filter(|x| x.retained.is_finite()).max_by(|a, b| a.retained.total_cmp(&b.retained));
            let _ = writeln!(
                md,
                "- **{task}, {}**: at {} of the labels, **{}** is best with ROC-AUC {:.3}{versus}; {} keeps the \
                 largest share of its full-label AUC ({:.0} %).",
                protocol.name().replace('_', " "),
                percent(best.smallest_fraction),
                best.init,
                best.smallest,
                steady.map_or("–", |s| s.init.as_str()),
                steady.map_or(f64::NAN, |s| s.retained * 100.0)
            );
        }
    }
    let _ = writeln!(md);

    for &task in &tasks {
        let _ = writeln!(md, "## {task}\n");
        for &protocol in &protocols {
            let r = robustness(auc, task, protocol);
            if !r.is_empty() {
                let _ = writeln!(md, "### {} — robustness\n", protocol.name().replace('_', " "));
                let _ = writeln!(
                    md,
                    "| initialisation | AUC, all labels | AUC, {} | retained | mean over fractions |",
                    percent(r[0].smallest_fraction)
                );
                let _ = writeln!(md, "|---|---|---|---|---|");
                for x in &r {
                    let _ = writeln!(
                        md,
                        "| {} | {:.3} | {:.3} | {:.0} % | {:.3} |",
                        x.init,
                        x.full,
                        x.smallest,
                        x.retained * 100.0,
                        x.mean_over_fractions
                    );
                }
                let _ = writeln!(md);
            }
            for metric in Metric::ALL {
                let cells = &per_metric[metric.name()];
                let mine: Vec<&Cell> = cells.iter().filter(|c| c.task == task && c.protocol == protocol).collect();
                if mine.is_empty() {
                    continue;
                }
                let stem = run_dir.join("plots").join(format!("{task}_{}_{}", protocol.name(), metric.name()));
                let chart = chart(cells, task, protocol, metric);
                if chart.series.iter().any(|s| !s.points.is_empty()) {
                    chart.save(&stem)?;
                }
                if metric != Metric::RocAuc && metric != Metric::Accuracy {
                    continue;
                }
                let inits: BTreeSet<&str> = mine.iter().map(|c| c.init.as_str()).collect();
                let mut fractions: Vec<u32> = mine.iter().map(|c| permille(c.fraction)).collect();
                fractions.sort_unstable_by(|a, b| b.cmp(a));
                fractions.dedup();
                let _ = writeln!(md, "### {}, {}\n", protocol.name().replace('_', " "), metric.label());
                let name = stem.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                let _ = writeln!(md, "![{task} {} {}](plots/{name}.png)\n", protocol.name(), metric.name());
                let _ = write!(md, "| labels | patients |");
                for i in &inits {
                    let _ = write!(md, " {i} |");
                }
                let _ = writeln!(md);
                let _ = writeln!(md, "|---|---|{}", "---|".repeat(inits.len()));
                for f in fractions {
                    let row_cells: Vec<&&Cell> = mine.iter().filter(|c| permille(c.fraction) == f).collect();
                    let patients = row_cells.first().map_or(0.0, |c| c.train_patients);
                    let _ = write!(md, "| {} | {:.0} |", percent(f as f64 / 1000.0), patients);
                    for i in &inits {
                        let c = row_cells.iter().find(|c| c.init == *i).map(|c| **c);
                        let _ = write!(md, " {} |", fmt_cell(c));
                    }
                    let _ = writeln!(md);
                }
                let _ = writeln!(md);
            }
        }
        if let Some(s) = skipped.get(task).filter(|s| !s.is_empty()) {
            let _ = writeln!(md, "Fractions not evaluated for {task}:\n");
            for line in s {
                let _ = writeln!(md, "- {line}");
            }
            let _ = writeln!(md);
        }
    }
    let path = run_dir.join("report.md");
    crate::checkpoint::write_bytes_atomic(&path, md.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::study::fixtures::row;

    #[test]
    fn report_names_the_method_that_holds_up_and_writes_plots() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = Vec::new();
        for seed in 0..3 {
            let jitter = seed as f64 * 0.01;
            for (f, good, bad) in [(1.0, 0.90, 0.92), (0.25, 0.86, 0.80), (0.05, 0.82, 0.65)] {
                rows.push(row("lung", "spark", f, seed, good + jitter));
                rows.push(row("lung", "random", f, seed, bad + jitter));
            }
        }
        let facts = vec![("backbone".to_string(), "resnet_tiny".to_string())];
        let mut skipped = BTreeMap::new();
        skipped.insert("lung".to_string(), vec!["1 %: the same 2 patients as the 5 % subset".to_string()]);
        let path = write_report(dir.path(), &rows, &facts, &skipped).unwrap();
        let md = std::fs::read_to_string(path).unwrap();
        assert!(md.contains("at 5 % of the labels, **spark** is best with ROC-AUC 0.830"), "{md}");
        assert!(md.contains("+0.170 over random"), "{md}");
        assert!(md.contains("| 5 % | 2 |"), "{md}");
        assert!(md.contains("the same 2 patients"));
        assert!(dir.path().join("plots/lung_finetune_roc_auc.png").exists());
        assert!(dir.path().join("plots/lung_finetune_f1_macro.svg").exists());
    }
}
