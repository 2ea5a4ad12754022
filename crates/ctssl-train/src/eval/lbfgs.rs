//! Limited-memory BFGS for smooth objectives in f64 (Nocedal & Wright, algorithm 7.4 and 7.5), with a
//! backtracking line search on the Armijo condition. Used for the linear probe's convex fits, which are
//! small (at most a few thousand unknowns) and must give the same answer on every run.

use std::collections::VecDeque;

/// When [`minimize`] stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsOptions {
    /// Most iterations.
    pub max_iter: usize,
    /// Stop when the largest gradient component is at most this.
    pub grad_tol: f64,
    /// Pairs of updates remembered.
    pub memory: usize,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        Self { max_iter: 200, grad_tol: 1e-6, memory: 10 }
    }
}

/// What [`minimize`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct LbfgsOutcome {
    /// The minimiser found.
    pub x: Vec<f64>,
    /// The objective there.
    pub value: f64,
    /// Iterations done.
    pub iterations: usize,
    /// Whether the gradient tolerance was reached (else the iteration limit, or no more descent).
    pub converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Minimises `f` from `x0`; `f(x, grad)` returns the objective at `x` and writes its gradient.
pub fn minimize(mut f: impl FnMut(&[f64], &mut [f64]) -> f64, x0: Vec<f64>, opts: &LbfgsOptions) -> LbfgsOutcome {
    let n = x0.len();
    let mut x = x0;
    let mut g = vec![0.0; n];
    let mut value = f(&x, &mut g);
    // the remembered pairs (s, y, 1 / s·y), oldest first; a full history recycles its oldest buffers
    let mut hist: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(opts.memory.max(1));
    let (mut x_new, mut g_new, mut d) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let (mut s_new, mut y_new) = (vec![0.0; n], vec![0.0; n]);
    let mut alpha = vec![0.0; opts.memory.max(1)];
    for iter in 0..opts.max_iter {
        if max_abs(&g) <= opts.grad_tol {
            return LbfgsOutcome { x, value, iterations: iter, converged: true };
        }
        // two-loop recursion: d = -H g
        d.copy_from_slice(&g);
        for (i, (s, y, rho)) in hist.iter().enumerate().rev() {
            alpha[i] = rho * dot(s, &d);
            d.iter_mut().zip(y).for_each(|(di, yi)| *di -= alpha[i] * yi);
        }
        let gamma = match hist.back() {
            Some((s, y, _)) => dot(s, y) / dot(y, y),
            None => 1.0 / max_abs(&g).max(1.0),
        };
        d.iter_mut().for_each(|di| *di *= gamma);
        for (i, (s, y, rho)) in hist.iter().enumerate() {
            let beta = rho * dot(y, &d);
            d.iter_mut().zip(s).for_each(|(di, si)| *di += (alpha[i] - beta) * si);
        }
        d.iter_mut().for_each(|di| *di = -*di);
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // not a descent direction (rounding): restart from steepest descent
            hist.clear();
            d.iter_mut().zip(&g).for_each(|(di, gi)| *di = -gi / max_abs(&g).max(1.0));
            slope = dot(&g, &d);
        }
        // backtracking line search on the Armijo condition
        let mut step = 1.0;
        let mut accepted = None;
        for _ in 0..40 {
            x_new.iter_mut().zip(&x).zip(&d).for_each(|((xn, xi), di)| *xn = xi + step * di);
            let v = f(&x_new, &mut g_new);
            if v.is_finite() && v <= value + 1e-4 * step * slope {
                accepted = Some(v);
                break;
            }
            step *= 0.5;
        }
        let Some(v) = accepted else {
            return LbfgsOutcome { x, value, iterations: iter, converged: false };
        };
        s_new.iter_mut().zip(x_new.iter().zip(&x)).for_each(|(si, (a, b))| *si = a - b);
        y_new.iter_mut().zip(g_new.iter().zip(&g)).for_each(|(yi, (a, b))| *yi = a - b);
        let sy = dot(&s_new, &y_new);
        if sy > 1e-12 * dot(&y_new, &y_new).max(f64::MIN_POSITIVE) {
            // the pair goes into the oldest pair's buffers when the history is full
            let (mut s, mut y, _) = if hist.len() == opts.memory.max(1) {
                hist.pop_front().unwrap_or_default()
            } else {
                (vec![0.0; n], vec![0.0; n], 0.0)
            };
            std::mem::swap(&mut s, &mut s_new);
            std::mem::swap(&mut y, &mut y_new);
            s_new.resize(n, 0.0);
            y_new.resize(n, 0.0);
            hist.push_back((s, y, 1.0 / sy));
        }
        std::mem::swap(&mut x, &mut x_new);
        std::mem::swap(&mut g, &mut g_new);
        let decrease = value - v;
        value = v;
        if decrease <= 1e-15 * value.abs().max(1.0) && max_abs(&g) <= opts.grad_tol.sqrt() {
            return LbfgsOutcome { x, value, iterations: iter + 1, converged: true };
        }
    }
    let converged = max_abs(&g) <= opts.grad_tol;
    LbfgsOutcome { x, value, iterations: opts.max_iter, converged }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosen = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let r = minimize(rosen, vec![-1.2, 1.0], &LbfgsOptions { max_iter: 500, ..Default::default() });
        assert!(r.converged, "{r:?}");
        assert!((r.x[0] - 1.0).abs() < 1e-5 && (r.x[1] - 1.0).abs() < 1e-5, "{r:?}");
    }

    #[test]
    fn solves_a_quadratic_exactly() {
        // f = 1/2 x'Ax - b'x with A = diag(1..=20): x* = b / diag
        let f = |x: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for i in 0..x.len() {
                let a = (i + 1) as f64;
                g[i] = a * x[i] - 1.0;
                v += 0.5 * a * x[i] * x[i] - x[i];
            }
            v
        };
        let r = minimize(f, vec![0.0; 20], &LbfgsOptions::default());
        assert!(r.converged);
        for (i, xi) in r.x.iter().enumerate() {
            assert!((xi - 1.0 / (i + 1) as f64).abs() < 1e-6);
        }
    }
}
