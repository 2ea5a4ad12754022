//! The study's report: plots (PNG and SVG) of every metric against the label fraction with confidence
//! bands, and `report.md` with the run's facts, the controls, the paired comparisons with random
//! initialisation (Holm-corrected), and descriptive tables — whatever the data shows. Nothing is called
//! better than random initialisation unless the corrected paired test says so; no winner is picked by
//! its mean.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::controls::CheckRow;
use crate::error::Result;
use crate::paired::{Comparison, ALPHA};
use crate::plot::{LineChart, Series};
use crate::results::{permille, Protocol, ResultRow};
use crate::summary::{aggregate, robustness, Cell, Metric};

/// What the report says about the run besides the results (`("backbone", "resnet_tiny")` ...), in order.
pub type RunFacts = Vec<(String, String)>;

/// What the study concluded besides the rows: the paired comparisons, the controls, and what limits the
/// conclusions (printed as given).
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Every initialisation against random initialisation (`comparisons.csv`).
    pub comparisons: Vec<Comparison>,
    /// The controls (`checks.csv`).
    pub checks: Vec<CheckRow>,
    /// Limits of the conclusions, one sentence each.
    pub limits: Vec<String>,
    /// Extra markdown sections (pre-training curves...), printed after the comparisons.
    pub sections: Vec<String>,
}

fn fmt_cell(c: Option<&Cell>) -> String {
    let undefined = c.map_or(0, |c| c.undefined);
    let note = if undefined > 0 { format!(" ({undefined} undefined)") } else { String::new() };
    match c.and_then(|c| c.value.as_ref()) {
        None => format!("–{note}"),
        Some(v) => match (v.half_width, v.std) {
            (_, Some(0.0)) => format!("{:.3} (no variance over {} seeds){note}", v.mean, v.n),
            (Some(h), _) => format!("{:.3} ± {:.3}{note}", v.mean, h),
            (None, _) => format!("{:.3} (n=1){note}", v.mean),
        },
    }
}

fn fmt_comparison(c: &Comparison) -> String {
    let Some(t) = c.test else { return format!("undefined ({} seeds)", c.seeds) };
    let undefined = c.undefined();
    let note = if undefined > 0 { format!(" ({undefined} of {} seeds undefined)", c.seeds) } else { String::new() };
    let interval = t.ci.map_or(String::new(), |(lo, hi)| format!(" [{lo:+.3}, {hi:+.3}]"));
    let p = c.p_holm.map_or(String::new(), |p| format!(", p_Holm {}", fmt_p(p)));
    let verdict = match c.verdict() {
        "better" => " **better**",
        "worse" => " **worse**",
        "no evidence" => "",
        other => return format!("{:+.3} ({other}){note}", t.mean_diff),
    };
    format!("{:+.3}{interval}{p}{verdict}{note}", t.mean_diff)
}

fn fmt_p(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
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
    analysis: &Analysis,
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

    write_controls(&mut md, &analysis.checks);
    write_comparisons(&mut md, &analysis.comparisons);
    if !analysis.limits.is_empty() {
        let _ = writeln!(md, "## Limits\n");
        for l in &analysis.limits {
            let _ = writeln!(md, "- {l}");
        }
        let _ = writeln!(md);
    }
    for section in &analysis.sections {
        let _ = writeln!(md, "{section}\n");
    }
    let _ = writeln!(
        md,
        "## Descriptive results\n\nMeans ± 95 % Student-t intervals over seeds of each initialisation on its own; \
         the comparisons above, not these intervals, say whether two initialisations differ. *Retained* = the AUC \
         at the smallest fraction every initialisation reached / the AUC with all training labels.\n"
    );
    for &task in &tasks {
        let _ = writeln!(md, "## {task}\n");
        for &protocol in &protocols {
            write_robustness(&mut md, auc, task, protocol);
            for metric in Metric::ALL {
                write_metric(&mut md, run_dir, &per_metric[metric.name()], task, protocol, metric)?;
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
    ctssl_train::checkpoint::write_bytes_atomic(&path, md.as_bytes())?;
    Ok(path)
}

/// The descriptive robustness table of one task and protocol (nothing when there is no AUC).
fn write_robustness(md: &mut String, auc: &[Cell], task: &str, protocol: Protocol) {
    let r = robustness(auc, task, protocol);
    if r.is_empty() {
        return;
    }
    let _ = writeln!(md, "### {} — robustness (descriptive)\n", protocol.name().replace('_', " "));
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

/// One metric of one task and protocol: its plot (every metric) and, for ROC-AUC and accuracy, its table
/// of cells by label fraction and initialisation.
fn write_metric(
    md: &mut String,
    run_dir: &Path,
    cells: &[Cell],
    task: &str,
    protocol: Protocol,
    metric: Metric,
) -> Result<()> {
    let mine: Vec<&Cell> = cells.iter().filter(|c| c.task == task && c.protocol == protocol).collect();
    if mine.is_empty() {
        return Ok(());
    }
    let stem = run_dir.join("plots").join(format!("{task}_{}_{}", protocol.name(), metric.name()));
    let chart = chart(cells, task, protocol, metric);
    if chart.series.iter().any(|s| !s.points.is_empty()) {
        chart.save(&stem)?;
    }
    if metric != Metric::RocAuc && metric != Metric::Accuracy {
        return Ok(());
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
    Ok(())
}

fn write_controls(md: &mut String, checks: &[CheckRow]) {
    if checks.is_empty() {
        return;
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    let _ = writeln!(md, "## Controls\n");
    let _ = writeln!(
        md,
        "Checked before any comparison is read ({} of {} passed; `checks.csv`). A failed control limits what \
         the comparisons below can mean.\n",
        checks.len() - failed,
        checks.len()
    );
    let _ = writeln!(
        md,
        "| check | task | initialisation | value | threshold | passed | what |\n|---|---|---|---|---|---|---|"
    );
    for c in checks {
        let value = if c.value.is_finite() { format!("{:.4}", c.value) } else { "undefined".into() };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {value} | {} | {} | {} |",
            c.check,
            c.task,
            c.method,
            c.threshold,
            if c.passed { "yes" } else { "**no**" },
            c.what
        );
    }
    let _ = writeln!(md);
}

fn write_comparisons(md: &mut String, comparisons: &[Comparison]) {
    if comparisons.is_empty() {
        return;
    }
    let family = comparisons.iter().filter(|c| c.method != "random_b" && c.test.and_then(|t| t.p).is_some()).count();
    let _ = writeln!(md, "## Pre-training against random initialisation (paired)\n");
    let _ = writeln!(
        md,
        "Each cell: mean over seeds of (test ROC-AUC of the initialisation − that of random initialisation on the \
         same subset, seed and test set), its 95 % interval (paired Student t), and the p-value after Holm's \
         correction over all {family} comparisons of this run. **better** / **worse**: Holm-corrected p < {ALPHA} \
         with the interval beside 0; anything else is no evidence either way. `comparisons.csv` has every number.\n"
    );
    let claims: Vec<&Comparison> = comparisons.iter().filter(|c| matches!(c.verdict(), "better" | "worse")).collect();
    if claims.is_empty() {
        let _ = writeln!(md, "**No pre-training differs from random initialisation after correction.**\n");
    } else {
        let _ = writeln!(md, "Established after correction:\n");
        for c in &claims {
            let _ = writeln!(
                md,
                "- {} {} at {} of the labels: **{}** is {} than {} ({})",
                c.task,
                c.protocol.name().replace('_', " "),
                percent(c.fraction),
                c.method,
                c.verdict(),
                c.baseline,
                fmt_comparison(c)
            );
        }
        let _ = writeln!(md);
    }
    let keys: BTreeSet<(&str, Protocol)> = comparisons.iter().map(|c| (c.task.as_str(), c.protocol)).collect();
    for (task, protocol) in keys {
        let mine: Vec<&Comparison> = comparisons.iter().filter(|c| c.task == task && c.protocol == protocol).collect();
        let methods: BTreeSet<&str> = mine.iter().map(|c| c.method.as_str()).collect();
        let mut fractions: Vec<u32> = mine.iter().map(|c| permille(c.fraction)).collect();
        fractions.sort_unstable_by(|a, b| b.cmp(a));
        fractions.dedup();
        let _ = writeln!(md, "### {task}, {}\n", protocol.name().replace('_', " "));
        let _ = write!(md, "| labels |");
        for m in &methods {
            let _ = write!(md, " {m} − random |");
        }
        let _ = writeln!(md, "\n|---|{}", "---|".repeat(methods.len()));
        for f in fractions {
            let _ = write!(md, "| {} |", percent(f as f64 / 1000.0));
            for m in &methods {
                let c = mine.iter().find(|c| c.method == *m && permille(c.fraction) == f);
                let _ = write!(md, " {} |", c.map_or("–".into(), |c| fmt_comparison(c)));
            }
            let _ = writeln!(md);
        }
        let _ = writeln!(md);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fixtures::row;

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
        let comparisons = crate::compare_to_baseline(&rows, Metric::RocAuc, "random", &[]).unwrap();
        let analysis = Analysis { comparisons, ..Analysis::default() };
        let path = write_report(dir.path(), &rows, &facts, &skipped, &analysis).unwrap();
        let md = std::fs::read_to_string(path).unwrap();
        // a constant gain over three seeds has no variance: said so, not called better
        assert!(md.contains("+0.170 (no variance)"), "{md}");
        assert!(md.contains("No pre-training differs from random initialisation after correction"), "{md}");
        assert!(!md.contains("is best"), "{md}");
        assert!(md.contains("| 5 % | 2 |"), "{md}");
        assert!(md.contains("the same 2 patients"));
        assert!(dir.path().join("plots/lung_finetune_roc_auc.png").exists());
        assert!(dir.path().join("plots/lung_finetune_f1_macro.svg").exists());
    }
}
