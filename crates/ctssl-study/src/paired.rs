//! Paired comparisons of every initialisation with a baseline (random initialisation), seed by seed.
//!
//! Every initialisation of a study sees the same subsets, seeds and test set, so the question "is
//! pre-training A better than random initialisation at 10 % of the labels" is a paired one: the
//! difference of the two test metrics is taken per seed, and a one-sample Student t test on those
//! differences gives the mean difference, its 95 % interval and a two-sided p-value (SciPy's
//! `ttest_rel`). The p-values of one run are Holm-corrected together (family-wise error 5 % over
//! every comparison the run makes), and only a Holm-corrected p below 0.05 with an interval above 0
//! is called "better".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::error::{Result, StudyError};
use crate::results::{permille, Protocol, ResultRow};
use crate::summary::Metric;

/// Significance level of every claim in a report (family-wise, after Holm's correction).
pub const ALPHA: f64 = 0.05;

/// The paired t test of per-seed differences `a − b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedTest {
    /// Number of pairs with both values defined.
    pub n: usize,
    /// Mean of the differences.
    pub mean_diff: f64,
    /// Sample standard deviation of the differences (`None` for one pair).
    pub sd_diff: Option<f64>,
    /// 95 % interval of the mean difference (`None` without variance or with one pair).
    pub ci: Option<(f64, f64)>,
    /// Two-sided p-value (`None` where the test is undefined: one pair, or differences without variance).
    pub p: Option<f64>,
}

impl PairedTest {
    /// Whether the differences had no variance (every seed gave the same difference).
    pub fn without_variance(&self) -> bool {
        self.sd_diff == Some(0.0)
    }
}

/// Paired t test of `a` against `b` (equal lengths, pairs in the same order). Pairs where either value
/// is not finite are left out (`n` says how many remain); no pair left is an error.
pub fn paired_t(a: &[f64], b: &[f64]) -> Result<PairedTest> {
    if a.len() != b.len() {
        return Err(StudyError::InvalidArgument(format!(
            "paired values of unequal length ({} and {})",
            a.len(),
            b.len()
        )));
    }
    let d: Vec<f64> = a.iter().zip(b).filter(|(x, y)| x.is_finite() && y.is_finite()).map(|(x, y)| x - y).collect();
    let n = d.len();
    if n == 0 {
        return Err(StudyError::InvalidArgument("no pair with both values defined".into()));
    }
    let mean_diff = d.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Ok(PairedTest { n, mean_diff, sd_diff: None, ci: None, p: None });
    }
    let var = d.iter().map(|x| (x - mean_diff).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    if sd == 0.0 || sd < 1e-12 * mean_diff.abs() {
        return Ok(PairedTest { n, mean_diff, sd_diff: Some(0.0), ci: None, p: None });
    }
    let se = sd / (n as f64).sqrt();
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64)
        .map_err(|e| StudyError::InvalidArgument(format!("Student t with {} degrees of freedom: {e}", n - 1)))?;
    let q = t.inverse_cdf(0.975);
    let p = (2.0 * t.sf((mean_diff / se).abs())).min(1.0);
    Ok(PairedTest { n, mean_diff, sd_diff: Some(sd), ci: Some((mean_diff - q * se, mean_diff + q * se)), p: Some(p) })
}

/// Holm's step-down correction of a family of p-values (`None`: not part of the family, stays `None`).
/// Equal to `statsmodels.stats.multitest.multipletests(p, method="holm")[1]` on the defined values.
pub fn holm(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut order: Vec<(usize, f64)> = p.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let m = order.len();
    let mut out = vec![None; p.len()];
    let mut running: f64 = 0.0;
    for (k, &(i, v)) in order.iter().enumerate() {
        running = running.max(((m - k) as f64 * v).min(1.0));
        out[i] = Some(running);
    }
    out
}

/// One row of `comparisons.csv`: an initialisation against the baseline in one cell of the study.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Task.
    pub task: String,
    /// Protocol.
    pub protocol: Protocol,
    /// Label fraction.
    pub fraction: f64,
    /// The initialisation compared (a method, or a second random initialisation).
    pub method: String,
    /// The baseline (`random`).
    pub baseline: String,
    /// Seeds in the cell (pairs found), including those whose metric was undefined.
    pub seeds: usize,
    /// The paired test; `None` when no pair had both values defined.
    pub test: Option<PairedTest>,
    /// Holm-corrected p-value over the run's family.
    pub p_holm: Option<f64>,
}

impl Comparison {
    /// Pairs left out because a metric was undefined (NaN: a test split with one class, say).
    pub fn undefined(&self) -> usize {
        self.seeds - self.test.map_or(0, |t| t.n)
    }

    /// "better" / "worse" where the corrected test says so, else "no evidence" (or why there is no test).
    pub fn verdict(&self) -> &'static str {
        match (self.test, self.p_holm) {
            (None, _) => "undefined",
            (Some(t), _) if t.without_variance() => "no variance",
            (Some(t), _) if t.n < 2 => "one seed",
            (Some(t), Some(p)) if p < ALPHA => match t.ci {
                Some((lo, _)) if lo > 0.0 => "better",
                Some((_, hi)) if hi < 0.0 => "worse",
                _ => "no evidence",
            },
            _ => "no evidence",
        }
    }
}

/// Every initialisation but `baseline` against `baseline`, per task × protocol × fraction, paired by
/// seed on `metric`; Holm-corrected over all of them. Inits listed in `outside_family` (a negative
/// control) get their own correction, so they neither dilute nor borrow from the real comparisons.
pub fn compare_to_baseline(
    rows: &[ResultRow],
    metric: Metric,
    baseline: &str,
    outside_family: &[&str],
) -> Result<Vec<Comparison>> {
    type Cell = (String, Protocol, u32, String);
    let mut values: BTreeMap<Cell, BTreeMap<u64, f64>> = BTreeMap::new();
    let mut fractions: BTreeMap<u32, f64> = BTreeMap::new();
    for r in rows {
        let f = permille(r.fraction);
        fractions.insert(f, r.fraction);
        values.entry((r.task.clone(), r.protocol, f, r.init.clone())).or_default().insert(r.seed, metric.of(r));
    }
    let mut out = Vec::new();
    for ((task, protocol, f, init), by_seed) in &values {
        if init == baseline {
            continue;
        }
        let Some(base) = values.get(&(task.clone(), *protocol, *f, baseline.to_string())) else { continue };
        let (a, b): (Vec<f64>, Vec<f64>) = by_seed.iter().filter_map(|(s, v)| base.get(s).map(|w| (*v, *w))).unzip();
        if a.is_empty() {
            continue;
        }
        let test = paired_t(&a, &b).ok();
        out.push(Comparison {
            task: task.clone(),
            protocol: *protocol,
            fraction: fractions[f],
            method: init.clone(),
            baseline: baseline.to_string(),
            seeds: a.len(),
            test,
            p_holm: None,
        });
    }
    for inside in [true, false] {
        let idx: Vec<usize> =
            (0..out.len()).filter(|&i| outside_family.contains(&out[i].method.as_str()) != inside).collect();
        let p: Vec<Option<f64>> = idx.iter().map(|&i| out[i].test.and_then(|t| t.p)).collect();
        for (&i, q) in idx.iter().zip(holm(&p)) {
            out[i].p_holm = q;
        }
    }
    Ok(out)
}

fn opt(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map(|x| format!("{x:.6}")).unwrap_or_default()
}

/// `comparisons.csv`: `task,protocol,fraction,method,baseline,n,mean_diff,ci_low,ci_high,p,p_holm`
/// (`n`: pairs with both values defined; empty fields where a value is undefined).
pub fn comparisons_csv(comparisons: &[Comparison]) -> String {
    let mut s = String::from("task,protocol,fraction,method,baseline,n,mean_diff,ci_low,ci_high,p,p_holm\n");
    for c in comparisons {
        let t = c.test;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{}",
            c.task,
            c.protocol.name(),
            c.fraction,
            c.method,
            c.baseline,
            t.map_or(0, |t| t.n),
            opt(t.map(|t| t.mean_diff)),
            opt(t.and_then(|t| t.ci).map(|c| c.0)),
            opt(t.and_then(|t| t.ci).map(|c| c.1)),
            opt(t.and_then(|t| t.p)),
            opt(c.p_holm),
        );
    }
    s
}

/// Writes `comparisons.csv` into `dir` atomically.
pub fn write_comparisons(dir: &Path, comparisons: &[Comparison]) -> Result<std::path::PathBuf> {
    let path = dir.join("comparisons.csv");
    ctssl_train::checkpoint::write_bytes_atomic(&path, comparisons_csv(comparisons).as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::row;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn paired_t_matches_scipy_ttest_rel() {
        // scipy.stats.ttest_rel(a, b) and .confidence_interval(0.95), SciPy 1.x
        let a = [0.71, 0.74, 0.69, 0.77, 0.73];
        let b = [0.65, 0.70, 0.66, 0.69, 0.70];
        let t = paired_t(&a, &b).unwrap();
        assert_eq!(t.n, 5);
        assert!(close(t.p.unwrap(), 0.0077566582837396095, 1e-9), "{t:?}");
        let (lo, hi) = t.ci.unwrap();
        assert!(close(lo, 0.021081365976620955, 1e-9) && close(hi, 0.07491863402337905, 1e-9), "{t:?}");

        let t = paired_t(&[0.9, 0.8, 0.85], &[0.88, 0.82, 0.80]).unwrap();
        assert!(close(t.p.unwrap(), 0.49748109237039273, 1e-9), "{t:?}");
        let (lo, hi) = t.ci.unwrap();
        assert!(close(lo, -0.07057338268468438, 1e-8) && close(hi, 0.10390671601801774, 1e-9), "{t:?}");

        let a = [0.61, 0.64, 0.58, 0.66, 0.70, 0.59, 0.63, 0.65, 0.62, 0.68];
        let b = [0.55, 0.60, 0.57, 0.58, 0.61, 0.56, 0.60, 0.57, 0.59, 0.60];
        let t = paired_t(&a, &b).unwrap();
        assert!(close(t.p.unwrap(), 0.00022306229877803557, 1e-8), "{t:?}");
        let (lo, hi) = t.ci.unwrap();
        assert!(close(lo, 0.03275260517154905, 1e-9) && close(hi, 0.07324739482845097, 1e-9), "{t:?}");
    }

    #[test]
    fn undefined_values_and_constant_differences_are_said_not_hidden() {
        let t = paired_t(&[0.7, f64::NAN, 0.8], &[0.6, 0.5, 0.7]).unwrap();
        let c = Comparison {
            task: "lung".into(),
            protocol: Protocol::Finetune,
            fraction: 0.1,
            method: "spark".into(),
            baseline: "random".into(),
            seeds: 3,
            test: Some(t),
            p_holm: None,
        };
        assert_eq!((c.undefined(), c.verdict()), (1, "no variance"));
        assert_eq!(t.n, 2);
        assert!(t.without_variance() && t.p.is_none() && t.ci.is_none());
        let t = paired_t(&[0.7], &[0.6]).unwrap();
        assert!(t.p.is_none() && t.sd_diff.is_none());
        assert!(paired_t(&[f64::NAN], &[0.6]).is_err());
        assert!(paired_t(&[0.1, 0.2], &[0.1]).is_err());
    }

    #[test]
    fn holm_matches_statsmodels() {
        // statsmodels.stats.multitest.multipletests(p, method="holm")[1]
        let p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.0001, 0.5, 0.049];
        let want = [0.06, 0.16, 0.15, 0.035, 0.4, 0.0008, 0.5, 0.16];
        let got = holm(&p.map(Some));
        for (g, w) in got.iter().zip(want) {
            assert!(close(g.unwrap(), w, 1e-12), "{got:?}");
        }
        // undefined p-values are not part of the family
        let got = holm(&[Some(0.01), None, Some(0.04)]);
        assert_eq!(got[1], None);
        assert!(close(got[0].unwrap(), 0.02, 1e-12) && close(got[2].unwrap(), 0.04, 1e-12));
    }

    #[test]
    fn comparisons_pair_by_seed_and_correct_over_the_run() {
        let mut rows = Vec::new();
        for seed in 0..5u64 {
            let s = seed as f64 * 0.01;
            rows.push(row("lung", "random", 0.1, seed, 0.60 + s));
            // a consistent gain of 0.1 with small noise: better
            rows.push(row("lung", "spark", 0.1, seed, 0.70 + s + [0.0, 0.002, -0.001, 0.001, -0.002][seed as usize]));
            // no gain
            rows.push(row("lung", "moco_v2", 0.1, seed, 0.60 + s + [0.02, -0.03, 0.01, -0.01, 0.0][seed as usize]));
            // a second random initialisation: the negative control, outside the family
            rows.push(row("lung", "random_b", 0.1, seed, 0.60 + s + [0.01, -0.01, 0.0, 0.005, -0.005][seed as usize]));
        }
        let c = compare_to_baseline(&rows, Metric::RocAuc, "random", &["random_b"]).unwrap();
        assert_eq!(c.len(), 3);
        let by = |m: &str| c.iter().find(|x| x.method == m).unwrap();
        assert_eq!(by("spark").verdict(), "better");
        assert_eq!(by("moco_v2").verdict(), "no evidence");
        assert_eq!(by("random_b").verdict(), "no evidence");
        // two comparisons in the family: Holm doubles the smaller p at most
        let (ps, pm) = (by("spark").test.unwrap().p.unwrap(), by("moco_v2").test.unwrap().p.unwrap());
        assert!(close(by("spark").p_holm.unwrap(), (2.0 * ps).min(1.0), 1e-12));
        assert!(close(by("moco_v2").p_holm.unwrap(), pm.max(2.0 * ps).min(1.0), 1e-12));
        // the control is corrected alone
        assert_eq!(by("random_b").p_holm, by("random_b").test.unwrap().p);
        let csv = comparisons_csv(&c);
        assert!(csv.starts_with("task,protocol,fraction,method,baseline,n,mean_diff,ci_low,ci_high,p,p_holm\n"));
        assert_eq!(csv.lines().count(), 4);
    }
}
