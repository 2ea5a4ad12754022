//! Multinomial logistic regression with an L2 penalty on the weights (not the bias), fitted exactly (the
//! problem is strictly convex in the weights) by [`lbfgs`](super::lbfgs) in f64:
//!
//! `minimise  (1/n) Σᵢ −log softmax(xᵢ W + b)[yᵢ] + (λ/2) ‖W‖²`
//!
//! This is scikit-learn's `LogisticRegression(C = 1 / (n λ))` with the multinomial loss. Features are
//! row-major `[n, c]`; the parameters are `W: [c, k]` followed by `b: [k]`.

use ctssl_kernels::cpu::matmul::{matmul_strided, View};

use super::lbfgs::{minimize, LbfgsOptions};

/// A fitted (or starting) linear classifier.
#[derive(Debug, Clone, PartialEq)]
pub struct Logistic {
    /// Feature dimension.
    pub c: usize,
    /// Classes.
    pub k: usize,
    /// `W` (`[c, k]` row-major) then `b` (`[k]`).
    pub theta: Vec<f64>,
}

impl Logistic {
    /// All-zero weights and bias.
    pub fn zeros(c: usize, k: usize) -> Self {
        Self { c, k, theta: vec![0.0; c * k + k] }
    }

    /// Class probabilities of `x: [n, c]`, `[n, k]` row-major.
    pub fn probs(&self, x: &[f64]) -> Vec<f64> {
        let mut z = vec![0.0; x.len() / self.c.max(1) * self.k];
        let (w, b) = self.theta.split_at(self.c * self.k);
        logits_into((self.c, self.k), w, b, x, &mut z);
        z.chunks_exact_mut(self.k).for_each(softmax_in_place);
        z
    }

    /// Fits the penalised problem with strength `lambda` on `x: [n, c]`, `y: [n]`, starting from `self`
    /// (a warm start); returns whether the solver converged.
    pub fn fit(&mut self, x: &[f64], y: &[u32], lambda: f64, opts: &LbfgsOptions) -> bool {
        let (c, k) = (self.c, self.k);
        let mut scratch = vec![0.0; y.len() * k];
        let f = |theta: &[f64], grad: &mut [f64]| objective(c, k, (x, y), lambda, theta, grad, &mut scratch);
        let r = minimize(f, std::mem::take(&mut self.theta), opts);
        self.theta = r.x;
        r.converged
    }
}

/// The penalised objective at `theta` (`W: [c, k]` then `b: [k]`) on `data = (x: [n, c], y: [n])`; writes
/// its gradient into `grad`. `scratch` holds `n · k` values.
fn objective(
    c: usize,
    k: usize,
    data: (&[f64], &[u32]),
    lambda: f64,
    theta: &[f64],
    grad: &mut [f64],
    scratch: &mut [f64],
) -> f64 {
    let (x, y) = data;
    let n = y.len() as f64;
    let (w, b) = theta.split_at(c * k);
    logits_into((c, k), w, b, x, scratch);
    let mut loss = 0.0;
    for (zi, &yi) in scratch.chunks_exact_mut(k).zip(y) {
        let m = zi.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
        let lse = m + zi.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        loss += lse - zi[yi as usize];
        // zi becomes (p − onehot) / n: the gradient of the mean loss with respect to the logits
        zi.iter_mut().for_each(|v| *v = (*v - lse).exp() / n);
        zi[yi as usize] -= 1.0 / n;
    }
    let (gw, gb) = grad.split_at_mut(c * k);
    // gW = λW + xᵀ D, gb = Σᵢ Dᵢ
    gw.iter_mut().zip(w).for_each(|(g, wv)| *g = lambda * wv);
    matmul_strided(c, k, y.len(), gw, (k, 1), true, View::rows(x, c).t(), View::rows(scratch, k), 1);
    gb.iter_mut().for_each(|g| *g = 0.0);
    for di in scratch.chunks_exact(k) {
        gb.iter_mut().zip(di).for_each(|(g, dv)| *g += dv);
    }
    loss / n + 0.5 * lambda * w.iter().map(|v| v * v).sum::<f64>()
}

/// Logits `x W + b` of `x: [n, c]` into `out: [n, k]`.
fn logits_into((c, k): (usize, usize), w: &[f64], b: &[f64], x: &[f64], out: &mut [f64]) {
    let n = x.len() / c.max(1);
    out.chunks_exact_mut(k).for_each(|zi| zi.copy_from_slice(b));
    matmul_strided(n, k, c, out, (k, 1), true, View::rows(x, c), View::rows(w, k), 1);
}

fn softmax_in_place(z: &mut [f64]) {
    let m = z.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v));
    z.iter_mut().for_each(|v| *v = (*v - m).exp());
    let s: f64 = z.iter().sum();
    z.iter_mut().for_each(|v| *v /= s);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fixed numbers, and the reference solution of the same objective (λ = 0.1) computed with SciPy 1.17:
    // `scipy.optimize.minimize(f, zeros(12), jac=True, method="L-BFGS-B", options={"gtol": 1e-12})`,
    // largest gradient component 1e-9 at the solution.
    const X: [f64; 24] = [
        0.3, -1.2, 0.5, //
        1.1, 0.4, -0.7, //
        -0.9, 0.8, 1.3, //
        0.2, -0.3, -1.1, //
        1.7, 1.0, 0.1, //
        -1.4, -0.6, 0.9, //
        0.6, 1.5, -0.2, //
        -0.5, -1.8, 0.4,
    ];
    const Y: [u32; 8] = [0, 1, 2, 0, 1, 2, 1, 0];

    #[test]
    fn matches_the_reference_solution() {
        let mut m = Logistic::zeros(3, 3);
        assert!(m.fit(&X, &Y, 0.1, &LbfgsOptions { grad_tol: 1e-10, max_iter: 1000, ..Default::default() }));
        let reference = REFERENCE_THETA;
        for (a, b) in m.theta[..9].iter().zip(&reference[..9]) {
            assert!((a - b).abs() < 1e-6, "{:?} vs {reference:?}", m.theta);
        }
        // the bias is defined up to a common shift: compare centred biases
        let centre = |b: &[f64]| -> Vec<f64> {
            let mean = b.iter().sum::<f64>() / b.len() as f64;
            b.iter().map(|v| v - mean).collect()
        };
        for (a, b) in centre(&m.theta[9..]).iter().zip(centre(&reference[9..])) {
            assert!((a - b).abs() < 1e-6, "{:?} vs {reference:?}", m.theta);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let theta: Vec<f64> = (0..12).map(|i| (i as f64 * 0.37).sin()).collect();
        let lambda = 0.3;
        let mut scratch = vec![0.0; 24];
        let mut grad = vec![0.0; 12];
        let mut value = |t: &[f64], g: &mut [f64]| objective(3, 3, (&X, &Y), lambda, t, g, &mut scratch);
        let v0 = value(&theta, &mut grad);
        // the objective itself, from the probabilities
        let p = Logistic { c: 3, k: 3, theta: theta.clone() }.probs(&X);
        let ce: f64 = p.chunks(3).zip(Y).map(|(pi, y)| -pi[y as usize].ln()).sum::<f64>() / 8.0;
        assert!((v0 - ce - 0.5 * lambda * theta[..9].iter().map(|v| v * v).sum::<f64>()).abs() < 1e-12);
        let h = 1e-6;
        let mut sink = vec![0.0; 12];
        for i in 0..12 {
            let (mut a, mut b) = (theta.clone(), theta.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (value(&a, &mut sink) - value(&b, &mut sink)) / (2.0 * h);
            assert!((grad[i] - fd).abs() < 1e-8, "{i}: {} vs {fd}", grad[i]);
        }
    }

    const REFERENCE_THETA: [f64; 12] = [
        0.07973233297,
        0.803536592,
        -0.883268925,
        -0.9783276711,
        0.7425191982,
        0.2358084729,
        -0.4150035426,
        -0.2140316173,
        0.6290351599,
        0.3062240915,
        -0.01556405509,
        -0.2906600364,
    ];
}
