//! One serialisable choice among the optimizers, so a method or a config file can name its optimizer and
//! settings (`kind = "lamb"`, `lr = ...`) and a caller can build it over any parameters.

use candle_core::Var;
use serde::{Deserialize, Serialize};

use super::{split_decay, AdamW, AdamWConfig, Lamb, LambConfig, Lars, LarsConfig, Optimizer, Sgd, SgdConfig};
use crate::error::Result;

/// An optimizer and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerChoice {
    /// SGD with momentum.
    Sgd(SgdConfig),
    /// Adam / AdamW.
    #[serde(rename = "adamw")]
    AdamW(AdamWConfig),
    /// LARS.
    Lars(LarsConfig),
    /// LAMB.
    Lamb(LambConfig),
}

impl OptimizerChoice {
    /// `sgd`, `adamw`, `lars` or `lamb`.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerChoice::Sgd(_) => "sgd",
            OptimizerChoice::AdamW(_) => "adamw",
            OptimizerChoice::Lars(_) => "lars",
            OptimizerChoice::Lamb(_) => "lamb",
        }
    }

    /// The base learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            OptimizerChoice::Sgd(c) => c.lr,
            OptimizerChoice::AdamW(c) => c.lr,
            OptimizerChoice::Lars(c) => c.lr,
            OptimizerChoice::Lamb(c) => c.lr,
        }
    }

    /// The base weight decay.
    pub fn weight_decay(&self) -> f64 {
        match self {
            OptimizerChoice::Sgd(c) => c.weight_decay,
            OptimizerChoice::AdamW(c) => c.weight_decay,
            OptimizerChoice::Lars(c) => c.weight_decay,
            OptimizerChoice::Lamb(c) => c.weight_decay,
        }
    }

    /// The same choice with another base learning rate.
    pub fn with_lr(mut self, lr: f64) -> Self {
        match &mut self {
            OptimizerChoice::Sgd(c) => c.lr = lr,
            OptimizerChoice::AdamW(c) => c.lr = lr,
            OptimizerChoice::Lars(c) => c.lr = lr,
            OptimizerChoice::Lamb(c) => c.lr = lr,
        }
        self
    }

    /// Builds the optimizer over `params`, with no weight decay (and no trust ratio) on biases and
    /// batch-norm parameters ([`split_decay`]).
    pub fn build(&self, params: Vec<(String, Var)>) -> Result<Box<dyn Optimizer>> {
        let groups = split_decay(params);
        Ok(match *self {
            OptimizerChoice::Sgd(c) => Box::new(Sgd::new(groups, c)?),
            OptimizerChoice::AdamW(c) => Box::new(AdamW::new(groups, c)?),
            OptimizerChoice::Lars(c) => Box::new(Lars::new(groups, c)?),
            OptimizerChoice::Lamb(c) => Box::new(Lamb::new(groups, c)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn builds_each_kind_and_round_trips_through_json() {
        let w = Var::ones((2, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let choices = [
            OptimizerChoice::Sgd(SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() }),
            OptimizerChoice::AdamW(AdamWConfig { lr: 1e-3, ..Default::default() }),
            OptimizerChoice::Lars(LarsConfig { lr: 0.2, ..Default::default() }),
            OptimizerChoice::Lamb(LambConfig { lr: 2e-4, ..Default::default() }),
        ];
        for c in choices {
            let o = c.build(vec![("w".into(), w.clone())]).unwrap();
            assert_eq!(o.learning_rate(), c.lr());
            let json = serde_json::to_string(&c).unwrap();
            assert!(json.contains(&format!("\"kind\":\"{}\"", c.name())), "{json}");
            let back: OptimizerChoice = serde_json::from_str(&json).unwrap();
            assert_eq!(back, c);
            assert_eq!(c.with_lr(0.5).lr(), 0.5);
        }
    }
}
