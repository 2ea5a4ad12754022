//! Exponential moving average of parameters: the momentum (target) encoder of BYOL-like methods.

use candle_core::{Tensor, Var};

use crate::error::{Result, TrainError};

/// Pairs of (target, online) variables: `target ← m·target + (1 − m)·online` for parameters, and
/// `target ← online` for buffers (batch-norm running mean and variance).
///
/// The targets are `Var`s updated with [`Var::set`] from detached values, so no gradient flows into them;
/// they must not be given to an optimizer. Use [`Ema::target_tensors`] (detached) in the forward pass.
#[derive(Debug, Clone)]
pub struct Ema {
    params: Vec<(String, Var, Var)>,
    buffers: Vec<(String, Var, Var)>,
}

fn copy_var(v: &Var) -> Result<Var> {
    Ok(Var::from_tensor(&v.as_detached_tensor().copy()?)?)
}

fn check_pairs(pairs: &[(String, Var, Var)]) -> Result<()> {
    for (name, t, o) in pairs {
        let (t, o) = (t.as_tensor(), o.as_tensor());
        if t.dims() != o.dims() {
            return Err(TrainError::ShapeMismatch {
                name: name.clone(),
                expected: o.dims().to_vec(),
                found: t.dims().to_vec(),
            });
        }
        if t.dtype() != o.dtype() {
            return Err(TrainError::InvalidArgument(format!("{name}: dtype {:?} vs {:?}", t.dtype(), o.dtype())));
        }
    }
    Ok(())
}

impl Ema {
    /// Targets initialised as copies of the online parameters and buffers.
    pub fn from_online(params: &[(String, Var)], buffers: &[(String, Var)]) -> Result<Self> {
        let dup = |xs: &[(String, Var)]| -> Result<Vec<(String, Var, Var)>> {
            xs.iter().map(|(n, v)| Ok((n.clone(), copy_var(v)?, v.clone()))).collect()
        };
        Ok(Self { params: dup(params)?, buffers: dup(buffers)? })
    }

    /// Pairs existing target variables with online ones: `(name, target, online)`; shapes must match.
    pub fn from_pairs(params: Vec<(String, Var, Var)>, buffers: Vec<(String, Var, Var)>) -> Result<Self> {
        check_pairs(&params)?;
        check_pairs(&buffers)?;
        Ok(Self { params, buffers })
    }

    /// One EMA update with momentum `m` ∈ [0, 1] (1 keeps the target, 0 copies the online network).
    pub fn update(&self, m: f64) -> Result<()> {
        if !(0.0..=1.0).contains(&m) {
            return Err(TrainError::InvalidArgument(format!("EMA momentum {m} outside [0, 1]")));
        }
        for (_, target, online) in &self.params {
            let t = target.as_detached_tensor();
            let o = online.as_detached_tensor();
            target.set(&(t.affine(m, 0.0)? + o.affine(1.0 - m, 0.0)?)?)?;
        }
        for (_, target, online) in &self.buffers {
            target.set(&online.as_detached_tensor())?;
        }
        Ok(())
    }

    /// The target parameters and buffers, detached, by name.
    pub fn target_tensors(&self) -> Vec<(String, Tensor)> {
        self.params.iter().chain(&self.buffers).map(|(n, t, _)| (n.clone(), t.as_detached_tensor())).collect()
    }

    /// The target variables (parameters then buffers), for checkpoints.
    pub fn target_vars(&self) -> Vec<(String, Var)> {
        self.params.iter().chain(&self.buffers).map(|(n, t, _)| (n.clone(), t.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn v(x: &[f64]) -> Var {
        Var::from_slice(x, x.len(), &Device::Cpu).unwrap()
    }

    #[test]
    fn ema_update_and_buffer_copy() {
        let w = v(&[1.0, 2.0]);
        let rm = v(&[0.0, 0.0]);
        let ema = Ema::from_online(&[("w".into(), w.clone())], &[("bn.running_mean".into(), rm.clone())]).unwrap();
        w.set(&Tensor::new(&[3.0f64, 0.0], &Device::Cpu).unwrap()).unwrap();
        rm.set(&Tensor::new(&[0.5f64, -0.5], &Device::Cpu).unwrap()).unwrap();
        ema.update(0.9).unwrap();
        let t = ema.target_tensors();
        let tw = t[0].1.to_vec1::<f64>().unwrap();
        assert!((tw[0] - (0.9 * 1.0 + 0.1 * 3.0)).abs() < 1e-15 && (tw[1] - 1.8).abs() < 1e-15);
        assert_eq!(t[1].1.to_vec1::<f64>().unwrap(), vec![0.5, -0.5]);
        ema.update(1.0).unwrap();
        assert_eq!(ema.target_tensors()[0].1.to_vec1::<f64>().unwrap(), tw);
        assert!(ema.update(1.5).is_err());
    }

    #[test]
    fn no_gradient_reaches_the_target() {
        let w = v(&[1.0, 2.0]);
        let ema = Ema::from_online(&[("w".into(), w.clone())], &[]).unwrap();
        let target = ema.target_vars()[0].1.clone();
        // loss uses both online and (detached) target
        let loss = (w.as_tensor() * &ema.target_tensors()[0].1).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        assert!(grads.get(w.as_tensor()).is_some());
        assert!(grads.get(target.as_tensor()).is_none());
    }

    #[test]
    fn pairs_must_match() {
        let r = Ema::from_pairs(vec![("w".into(), v(&[1.0]), v(&[1.0, 2.0]))], vec![]);
        assert!(matches!(r, Err(TrainError::ShapeMismatch { .. })));
    }
}
