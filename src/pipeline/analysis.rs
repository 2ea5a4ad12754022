//! What a finished study concludes: every initialisation against random initialisation, paired by seed
//! and Holm-corrected ([`ctssl_study::paired`]); the controls printed before any comparison
//! (learnability, precision, pre-training effect, negative control, shortcut); the limits of the
//! conclusions; and the pre-training curves with their collapse monitors.

use std::collections::BTreeMap;
use std::path::Path;

use ctssl_study::plot::{LineChart, Point, Series};
use ctssl_study::{
    compare_to_baseline, position_shortcut_auc, Analysis, CheckRow, Comparison, Metric, Protocol, ResultRow, ALPHA,
};

use super::config::{DataSource, StudyConfig};
use super::data::StudyData;
use super::error::Result;

/// The baseline's name in the results.
pub const RANDOM: &str = "random";
/// The negative control's name: a second random initialisation.
pub const RANDOM_CONTROL: &str = "random_b";

/// Random initialisation with every label must reach this test ROC-AUC on a binary task.
pub const LEARNABLE_AUC: f64 = 0.8;
/// One test AUC's standard error must not exceed this.
pub const MAX_AUC_SE: f64 = 0.025;
/// Position along the series alone must not predict a binary label better than this ROC-AUC.
pub const MAX_SHORTCUT_AUC: f64 = 0.65;

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn is_full(r: &ResultRow) -> bool {
    (r.fraction - 1.0).abs() < 1e-9
}

/// The comparisons, controls, limits and curves of a study whose results are `rows`.
pub fn analyse(cfg: &StudyConfig, data: &StudyData, rows: &[ResultRow], out: &Path) -> Result<Analysis> {
    let comparisons = compare_to_baseline(rows, Metric::RocAuc, RANDOM, &[RANDOM_CONTROL])?;
    let mut checks = Vec::new();
    learnability(data, rows, &mut checks);
    precision(data, rows, &mut checks);
    pretraining_effect(cfg, &comparisons, &mut checks);
    negative_control(&comparisons, &mut checks);
    shortcut(data, &mut checks)?;
    let limits = limits(cfg, data, &comparisons);
    let sections = pretraining_curves(cfg, out)?.into_iter().collect();
    Ok(Analysis { comparisons, checks, limits, sections })
}

/// Random initialisation, fine-tuned with every training label, must learn each binary task.
fn learnability(data: &StudyData, rows: &[ResultRow], checks: &mut Vec<CheckRow>) {
    for task in data.tasks.iter().filter(|t| t.train.num_classes == 2) {
        let value = mean(
            rows.iter()
                .filter(|r| r.task == task.name && r.init == RANDOM && r.protocol == Protocol::Finetune && is_full(r))
                .map(|r| r.roc_auc),
        );
        checks.push(CheckRow {
            check: "learnability".into(),
            task: task.name.clone(),
            method: RANDOM.into(),
            value,
            threshold: LEARNABLE_AUC,
            passed: value >= LEARNABLE_AUC,
            what: "mean test ROC-AUC of random initialisation fine-tuned on all training labels".into(),
        });
    }
}

/// Each task's test AUC must be precise enough to tell initialisations apart.
fn precision(data: &StudyData, rows: &[ResultRow], checks: &mut Vec<CheckRow>) {
    for task in &data.tasks {
        let mine: Vec<&ResultRow> = rows.iter().filter(|r| r.task == task.name).collect();
        let full: Vec<&ResultRow> = mine
            .iter()
            .copied()
            .filter(|r| r.init == RANDOM && r.protocol == Protocol::Finetune && is_full(r))
            .collect();
        let value = mean(if full.is_empty() { &mine } else { &full }.iter().map(|r| r.roc_auc_se));
        checks.push(CheckRow {
            check: "precision".into(),
            task: task.name.clone(),
            method: RANDOM.into(),
            value,
            threshold: MAX_AUC_SE,
            passed: value <= MAX_AUC_SE,
            what: format!(
                "standard error of one test ROC-AUC (patient-level bootstrap; {} test patients, {} slices)",
                {
                    let mut p: Vec<&str> = task.test.slices.slices.iter().map(|s| s.patient_id.as_str()).collect();
                    p.sort_unstable();
                    p.dedup();
                    p.len()
                },
                task.test.len()
            ),
        });
    }
}

/// Each method's frozen features must beat random features under the linear probe (kNN where there is
/// no probe), all training labels, averaged over the tasks.
fn pretraining_effect(cfg: &StudyConfig, comparisons: &[Comparison], checks: &mut Vec<CheckRow>) {
    let protocol = if cfg.finetune.linear_probe { Protocol::LinearProbe } else { Protocol::Knn };
    for method in &cfg.pretrain.methods {
        let diffs: Vec<&Comparison> = comparisons
            .iter()
            .filter(|c| c.method == method.name() && c.protocol == protocol && (c.fraction - 1.0).abs() < 1e-9)
            .collect();
        let value = mean(diffs.iter().filter_map(|c| c.test.map(|t| t.mean_diff)));
        checks.push(CheckRow {
            check: "pretraining_effect".into(),
            task: "all".into(),
            method: method.to_string(),
            value,
            threshold: 0.0,
            passed: value > 0.0,
            what: format!(
                "{} ROC-AUC of its frozen features − that of random features, all labels, mean over {} task(s)",
                protocol.name().replace('_', " "),
                diffs.len()
            ),
        });
    }
}

/// Two random initialisations must not be called different.
fn negative_control(comparisons: &[Comparison], checks: &mut Vec<CheckRow>) {
    let controls: Vec<&Comparison> = comparisons.iter().filter(|c| c.method == RANDOM_CONTROL).collect();
    if controls.is_empty() {
        return;
    }
    let value = controls.iter().filter_map(|c| c.p_holm).fold(f64::NAN, f64::min);
    checks.push(CheckRow {
        check: "negative_control".into(),
        task: "all".into(),
        method: RANDOM_CONTROL.into(),
        value,
        threshold: ALPHA,
        passed: value >= ALPHA,
        what: format!(
            "smallest Holm-corrected p of a second random initialisation against the first over {} comparisons",
            controls.len()
        ),
    });
}

/// The position of a slice along its series alone must not predict a binary label.
fn shortcut(data: &StudyData, checks: &mut Vec<CheckRow>) -> Result<()> {
    for task in data.tasks.iter().filter(|t| t.train.num_classes == 2) {
        let Some([train, test]) = &task.positions else { continue };
        let auc = position_shortcut_auc(train, &task.train.labels, test, &task.test.labels, 10)?;
        // either direction is a shortcut
        let value = auc.map_or(f64::NAN, |a| a.max(1.0 - a));
        checks.push(CheckRow {
            check: "shortcut".into(),
            task: task.name.clone(),
            method: "-".into(),
            value,
            threshold: MAX_SHORTCUT_AUC,
            passed: value <= MAX_SHORTCUT_AUC,
            what: "test ROC-AUC of the label predicted from the slice's position along its series alone".into(),
        });
    }
    Ok(())
}

/// What the design cannot say, in sentences the report prints.
fn limits(cfg: &StudyConfig, data: &StudyData, comparisons: &[Comparison]) -> Vec<String> {
    let family =
        comparisons.iter().filter(|c| c.method != RANDOM_CONTROL && c.test.and_then(|t| t.p).is_some()).count();
    let mut l = vec![
        format!(
            "Each method is pre-trained once (seed {}): the seeds repeat subsets, fine-tuning and random weights, \
             not pre-training, so a difference between two methods may be a difference between two pre-training runs.",
            cfg.pretrain.seed
        ),
        format!(
            "{} seeds per comparison: a paired t test with {} degrees of freedom, Holm-corrected over {family} \
             comparisons, detects only large and consistent differences; \"no evidence\" is not evidence of no difference.",
            cfg.protocol.seeds.len(),
            cfg.protocol.seeds.len().saturating_sub(1)
        ),
        "Slices of one patient are not independent: every standard error of a test AUC here comes from resampling \
         whole patients."
            .into(),
    ];
    if cfg.data.source == DataSource::Phantom {
        l.push(format!(
            "The data are synthetic ({}); a conclusion here is about this simulator, to be confirmed on real CT \
             (the same commands run on DICOM with --data-dir and --labels).",
            data.description
        ));
    }
    if data.tasks.iter().any(|t| t.positions.is_none()) {
        l.push("The shortcut check needs slice positions, which this data source does not provide.".into());
    }
    l
}

/// The pre-training loss of every method (relative to its first steps, smoothed) and the effective rank of
/// the contrastive methods' embeddings (a collapse monitor: 1 = collapsed), as plots and a report section.
fn pretraining_curves(cfg: &StudyConfig, out: &Path) -> Result<Option<String>> {
    let mut loss = Vec::new();
    let mut rank = Vec::new();
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for method in &cfg.pretrain.methods {
        let path = out.join("pretrain").join(method.name()).join("train").join("metrics.csv");
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let mut lines = text.lines();
        let Some(header) = lines.next() else { continue };
        let cols: Vec<&str> = header.split(',').collect();
        let col = |n: &str| cols.iter().position(|c| *c == n);
        let (Some(cs), Some(cl)) = (col("step"), col("loss")) else { continue };
        let cr = col("monitor_rank");
        let rows: Vec<Vec<f64>> =
            lines.map(|l| l.split(',').map(|v| v.trim().parse::<f64>().unwrap_or(f64::NAN)).collect()).collect();
        let get = |r: &Vec<f64>, c: usize| r.get(c).copied().unwrap_or(f64::NAN);
        let raw: Vec<(f64, f64)> =
            rows.iter().map(|r| (get(r, cs), get(r, cl))).filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
        if raw.is_empty() {
            continue;
        }
        let start = mean(raw.iter().take(10).map(|p| p.1));
        let window = 20.min(raw.len());
        let smooth: Vec<Point> = (window - 1..raw.len())
            .step_by((raw.len() / 200).max(1))
            .map(|i| (raw[i].0 + 1.0, mean(raw[i + 1 - window..=i].iter().map(|p| p.1)) / start, None))
            .collect();
        let end = smooth.last().map_or(f64::NAN, |p| p.1);
        let mut summary = format!("loss {:.3} → {:.3} ({:.0} % of its start)", start, end * start, end * 100.0);
        loss.push(Series { name: method.to_string(), points: smooth });
        if let Some(cr) = cr {
            let pts: Vec<Point> = rows
                .iter()
                .map(|r| (get(r, cs) + 1.0, get(r, cr), None))
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            if let (Some(first), Some(lastp)) = (pts.first(), pts.last()) {
                summary.push_str(&format!("; embedding effective rank {:.1} → {:.1}", first.1, lastp.1));
                rank.push(Series { name: method.to_string(), points: pts });
            }
        }
        last.insert(method.to_string(), summary);
    }
    if loss.is_empty() {
        return Ok(None);
    }
    let plots = out.join("plots");
    LineChart {
        title: "pre-training loss (moving mean of 20 steps / mean of the first 10)".into(),
        x_label: "step".into(),
        y_label: "relative loss".into(),
        log_x: true,
        series: loss,
    }
    .save(&plots.join("pretraining_loss"))?;
    let mut md = String::from("## Pre-training\n\n![pre-training loss](plots/pretraining_loss.png)\n\n");
    if !rank.is_empty() {
        LineChart {
            title: "collapse monitor: effective rank of the embeddings (1 = collapsed)".into(),
            x_label: "step".into(),
            y_label: "effective rank".into(),
            log_x: true,
            series: rank,
        }
        .save(&plots.join("pretraining_rank"))?;
        md.push_str("![collapse monitor](plots/pretraining_rank.png)\n\n");
    }
    for (m, s) in last {
        md.push_str(&format!("- **{m}**: {s}\n"));
    }
    Ok(Some(md))
}
