//! Every pre-training method of the study by name ([`Method`]), with the views ([`Views`]) and the
//! optimizer it trains with: the one place where the study learns what a method needs.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use ctssl_augment::BuiltinRecipe;
use ctssl_backbones::ResNetConfig;
use ctssl_contrastive::{build_method, method_spec, ContrastiveMethod, Scale};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::{PipelineError, Result};
pub use super::method_run::{MethodRun, RunShape};
use super::names;

/// A pre-training method of the study: SparK (`ctssl-sparse`) or one of `ctssl-contrastive`'s.
///
/// Parsed from its name ([`FromStr`]: the contrastive methods' aliases too, in any case, `-` for `_`), also
/// when a configuration is read; written as its canonical name ([`Display`](fmt::Display)), which is what
/// `results.csv`, `comparisons.csv`, the report and the run folders (`pretrain/<name>`) use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// SparK, masked image modelling on a sparse-convolution ResNet: `spark`.
    Spark,
    /// A contrastive or joint-embedding method (its own names: [`ContrastiveMethod`]).
    Contrastive(ContrastiveMethod),
}

impl Method {
    /// Every method the study can pre-train, in the order `--methods all` runs them.
    pub const ALL: [Method; 8] = [
        Method::Spark,
        Method::Contrastive(ContrastiveMethod::SimClr),
        Method::Contrastive(ContrastiveMethod::MocoV2),
        Method::Contrastive(ContrastiveMethod::Byol),
        Method::Contrastive(ContrastiveMethod::Swav),
        Method::Contrastive(ContrastiveMethod::BarlowTwins),
        Method::Contrastive(ContrastiveMethod::Vicreg),
        Method::Contrastive(ContrastiveMethod::Dino),
    ];

    /// The canonical name: `spark`, or the contrastive method's ([`ContrastiveMethod::name`]).
    pub fn name(self) -> &'static str {
        match self {
            Method::Spark => "spark",
            Method::Contrastive(m) => m.name(),
        }
    }

    /// The view recipe the method trains on with `views`.
    pub fn recipe(self, views: Views) -> BuiltinRecipe {
        match (self, views) {
            (Method::Spark, Views::Study | Views::Own) => BuiltinRecipe::Spark,
            (Method::Spark, Views::Ct) => BuiltinRecipe::SparkCt,
            (Method::Contrastive(m), Views::Study) => m.study_recipe().unwrap_or(m.recipe()),
            (Method::Contrastive(m), Views::Own) => m.recipe(),
            (Method::Contrastive(m), Views::Ct) if m.multi_crop() => BuiltinRecipe::CtMultiCrop,
            (Method::Contrastive(_), Views::Ct) => BuiltinRecipe::Ct,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = PipelineError;

    /// `spark` or a name [`ContrastiveMethod`] parses; an error lists the canonical names.
    fn from_str(s: &str) -> Result<Self> {
        if s.to_ascii_lowercase() == Method::Spark.name() {
            return Ok(Method::Spark);
        }
        s.parse::<ContrastiveMethod>()
            .map(Method::Contrastive)
            .map_err(|_| names::unknown("method", s, Method::ALL.map(Method::name)))
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        names::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        names::deserialize(d)
    }
}

/// Whose views a method trains on (the `[pretrain] views` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Views {
    /// `study`: the reference study's recipe where the method is one of the study's (MoCo v2, BYOL, SwAV);
    /// the method's own published recipe otherwise.
    Study,
    /// `own`: every method's own published recipe.
    Own,
    /// `ct`: views for CT that keep laterality: the study's recipe without flips and with small rotations
    /// (`ct`, `ct_multi_crop` for the multi-crop methods, `spark_ct` for SparK). The CPU presets' choice:
    /// left and right organs are mirror images, and flipped views teach an encoder to confuse them.
    Ct,
}

impl Views {
    /// Every choice.
    pub const ALL: [Views; 3] = [Views::Study, Views::Own, Views::Ct];

    /// `study`, `own` or `ct`.
    pub fn name(self) -> &'static str {
        match self {
            Views::Study => "study",
            Views::Own => "own",
            Views::Ct => "ct",
        }
    }
}

impl fmt::Display for Views {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Views {
    type Err = PipelineError;

    /// A name of [`Views::ALL`]; an error lists them.
    fn from_str(s: &str) -> Result<Self> {
        Views::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| names::unknown("views", s, Views::ALL.map(Views::name)))
    }
}

impl Serialize for Views {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        names::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for Views {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        names::deserialize(d)
    }
}

/// Builds `method` on `backbone` for a run of `shape`, on the views `views` chooses.
pub fn method_run(
    method: Method,
    backbone: ResNetConfig,
    shape: RunShape,
    views: Views,
    device: &Device,
) -> Result<MethodRun> {
    let paper = Scale::for_backbone(&backbone) == Scale::Paper;
    let recipe = method.recipe(views);
    match method {
        Method::Spark => super::spark::spark_run(backbone, shape, recipe, paper, device),
        Method::Contrastive(m) => contrastive_run(m, backbone, shape, recipe, device),
    }
}

/// A contrastive method with its default optimizer (learning rate times `shape.lr_scale`) on `recipe`.
fn contrastive_run(
    method: ContrastiveMethod,
    backbone: ResNetConfig,
    shape: RunShape,
    recipe: BuiltinRecipe,
    device: &Device,
) -> Result<MethodRun> {
    let spec = method_spec(method, Scale::for_backbone(&backbone));
    let recipe = recipe.recipe(shape.image_size);
    let method = build_method(method, backbone, shape.seed, device)?;
    let mut choice = spec.optimizer;
    choice.lr *= shape.lr_scale;
    let optimizer = choice.build(method.trainable_vars(), shape.length.batch_size)?;
    let trainer = choice.trainer_config(shape.length, shape.seed)?;
    Ok(MethodRun { method, recipe, optimizer, trainer, optimizer_settings: format!("{choice:?}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for m in Method::ALL {
            assert_eq!(m.to_string().parse::<Method>().unwrap(), m);
        }
        for v in Views::ALL {
            assert_eq!(v.to_string().parse::<Views>().unwrap(), v);
        }
        let contrastive: Vec<Method> = ContrastiveMethod::ALL.map(Method::Contrastive).to_vec();
        assert_eq!(Method::ALL[1..], contrastive[..], "every contrastive method, once");
        let moco = Method::Contrastive(ContrastiveMethod::MocoV2);
        for alias in ["moco", "mocov2", "MoCo-v2", "moco_v2"] {
            assert_eq!(alias.parse::<Method>().unwrap(), moco);
        }
        assert_eq!("SparK".parse::<Method>().unwrap(), Method::Spark);
        let e = "sprak".parse::<Method>().unwrap_err().to_string();
        assert!(e.contains("`sprak`") && e.contains("spark, simclr, moco_v2, byol, swav, barlow_twins, vicreg, dino"));
        let e = "mine".parse::<Views>().unwrap_err().to_string();
        assert!(e.contains("`mine`") && e.contains("study, own, ct"), "{e}");
    }

    #[test]
    fn each_method_owns_its_recipe_for_each_views_choice() {
        // what the study trained on before the registry (results stay comparable)
        fn expect(m: &'static str, v: &'static str) -> &'static str {
            match (m, v) {
                ("spark", "ct") => "spark_ct",
                ("spark", _) => "spark",
                ("swav" | "dino", "ct") => "ct_multi_crop",
                (_, "ct") => "ct",
                ("moco_v2" | "byol", "study") => "study",
                ("swav", "study") => "study_multi_crop",
                ("barlow_twins" | "vicreg", _) => "byol",
                (m, _) => m,
            }
        }
        for m in Method::ALL {
            for v in Views::ALL {
                assert_eq!(m.recipe(v).name(), expect(m.name(), v.name()), "{m} {v}");
            }
        }
    }
}
