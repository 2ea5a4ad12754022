//! Summary over seeds: mean with a Student-t 95% confidence interval.

use crate::error::{Result, TrainError};

/// Two-sided 95% Student-t quantiles t(0.975, df) for df = 1..=30 (standard table).
const T975: [f64; 30] = [
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604, 2.1448,
    2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484,
    2.0452, 2.0423,
];

/// t(0.975, df); beyond 30 the largest tabulated df not above `df` is used (40, 60, 120, then 1.960),
/// which errs on the wide side.
pub fn t_quantile_975(df: usize) -> Option<f64> {
    match df {
        0 => None,
        1..=30 => Some(T975[df - 1]),
        31..=39 => Some(2.0423),
        40..=59 => Some(2.0211),
        60..=119 => Some(2.0003),
        120..=999 => Some(1.9799),
        _ => Some(1.9600),
    }
}

/// Mean, sample standard deviation and 95% confidence half-width of a set of per-seed values.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeanCi {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1 denominator); `None` for n = 1.
    pub std: Option<f64>,
    /// Half-width t(0.975, n−1)·std/√n; `None` for n = 1 (no interval).
    pub half_width: Option<f64>,
}

/// Mean ± 95% confidence interval (Student t, n − 1 degrees of freedom) over `values`.
pub fn mean_ci95(values: &[f64]) -> Result<MeanCi> {
    if values.is_empty() {
        return Err(TrainError::InvalidArgument("no values".into()));
    }
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(TrainError::InvalidArgument(format!("non-finite value {bad}")));
    }
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Ok(MeanCi { n, mean, std: None, half_width: None });
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let std = var.sqrt();
    let half_width = t_quantile_975(n - 1).map(|t| t * std / (n as f64).sqrt());
    Ok(MeanCi { n, mean, std: Some(std), half_width })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_of_three_seeds() {
        // values 1, 2, 3: mean 2, s = 1, half width = 4.3027 / sqrt(3)
        let r = mean_ci95(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(r.mean, 2.0);
        assert!((r.std.unwrap() - 1.0).abs() < 1e-12);
        assert!((r.half_width.unwrap() - 4.3027 / 3f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn single_value_has_no_interval_and_empty_is_error() {
        let r = mean_ci95(&[0.7]).unwrap();
        assert_eq!((r.mean, r.std, r.half_width), (0.7, None, None));
        assert!(mean_ci95(&[]).is_err());
        assert!(mean_ci95(&[1.0, f64::NAN]).is_err());
    }

    #[test]
    fn t_table_is_monotone() {
        let ts: Vec<f64> = (1..2000).map(|d| t_quantile_975(d).unwrap()).collect();
        assert!(ts.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(t_quantile_975(0), None);
        assert_eq!(t_quantile_975(5000), Some(1.96));
    }
}
