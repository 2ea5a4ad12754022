//! Creating the named, seeded parameters of the densify and decoder layers in a backbone-style store.

use candle_core::{DType, Device, Tensor, Var};
use ctssl_backbones::init::{kaiming_normal_fan_out, linear_uniform, rng_for};
use ctssl_backbones::{ParamKind, ParamStore};
use rand_distr::{Distribution, Normal};

use crate::error::{Result, SparseError};

/// Registers variables under SparK's parameter names; each tensor draws from its own seeded stream
/// (selected by its name, as in `ctssl-backbones`), so values do not depend on construction order.
#[derive(Debug)]
pub struct ParamBuilder {
    /// The store the variables go into.
    pub store: ParamStore,
    /// Initialisation seed.
    pub seed: u64,
    /// Float dtype of the parameters.
    pub dtype: DType,
    /// Device of the parameters.
    pub device: Device,
}

impl ParamBuilder {
    /// An empty builder.
    pub fn new(seed: u64, dtype: DType, device: &Device) -> Self {
        ParamBuilder { store: ParamStore::new(), seed, dtype, device: device.clone() }
    }

    /// Registers `tensor` under `name`.
    pub fn add(&mut self, name: &str, tensor: Tensor, kind: ParamKind) -> Result<Var> {
        let var = Var::from_tensor(&tensor.to_dtype(self.dtype)?)?;
        self.store.insert(name, var.clone(), kind);
        Ok(var)
    }

    /// A trainable tensor of zeros.
    pub fn zeros(&mut self, name: &str, shape: &[usize]) -> Result<Var> {
        let t = Tensor::zeros(shape, self.dtype, &self.device)?;
        self.add(name, t, ParamKind::Trainable)
    }

    /// A trainable tensor of ones.
    pub fn ones(&mut self, name: &str, shape: &[usize]) -> Result<Var> {
        let t = Tensor::ones(shape, self.dtype, &self.device)?;
        self.add(name, t, ParamKind::Trainable)
    }

    /// A buffer (not trained) with the given values.
    pub fn buffer(&mut self, name: &str, tensor: Tensor) -> Result<Var> {
        self.add(name, tensor, ParamKind::Buffer)
    }

    /// Normal(0, std²) truncated to ±2 std (values outside are redrawn), as `timm`'s `trunc_normal_`
    /// with bounds at two standard deviations.
    pub fn trunc_normal(&mut self, name: &str, shape: &[usize], std: f64) -> Result<Var> {
        let normal = Normal::new(0.0f64, std).map_err(|e| SparseError::InvalidConfig(format!("{name}: {e}")))?;
        let mut rng = rng_for(self.seed, name);
        let n: usize = shape.iter().product();
        let mut values = Vec::with_capacity(n);
        while values.len() < n {
            let v = normal.sample(&mut rng);
            if v.abs() <= 2.0 * std {
                values.push(v as f32);
            }
        }
        let t = Tensor::from_vec(values, shape, &self.device)?;
        self.add(name, t, ParamKind::Trainable)
    }

    /// Kaiming normal (fan-out, ReLU gain) as `ctssl-backbones` initialises convolutions.
    pub fn kaiming_fan_out(&mut self, name: &str, shape: &[usize]) -> Result<Var> {
        let t = kaiming_normal_fan_out(self.seed, name, shape, DType::F32, &self.device)?;
        self.add(name, t, ParamKind::Trainable)
    }

    /// U(−1/√fan_in, 1/√fan_in): PyTorch's default for a convolution's weight and bias.
    pub fn uniform_fan_in(&mut self, name: &str, shape: &[usize], fan_in: usize) -> Result<Var> {
        let t = linear_uniform(self.seed, name, shape, fan_in, DType::F32, &self.device)?;
        self.add(name, t, ParamKind::Trainable)
    }
}
