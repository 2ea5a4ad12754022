//! The names that select behaviour in a configuration (`pretrain.methods`, `pretrain.views`,
//! `data.source`, `model.arch`, `model.stem`): each is an enum with `FromStr` and `Display`, and goes
//! through serde as its name, so a misspelled name fails when the file is read, with the error that
//! lists the valid ones. Use as `#[serde(with = "super::names")]` or from a type's own serde impls.

use std::fmt::Display;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serializer};

use super::error::PipelineError;

/// Writes `value` as its name ([`Display`]).
pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// Reads a name and parses it ([`FromStr`]); the parse error becomes the deserializer's.
pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: Into<PipelineError>,
    D: Deserializer<'de>,
{
    let name = String::deserialize(d)?;
    name.parse().map_err(|e: T::Err| {
        de::Error::custom(match e.into() {
            PipelineError::Config(m) => m,
            other => other.to_string(),
        })
    })
}

/// `unknown {what} `{name}` (known: a, b, c)`: the configuration error of a name not in `known`.
pub fn unknown<'a>(what: &str, name: &str, known: impl IntoIterator<Item = &'a str>) -> PipelineError {
    let known: Vec<&str> = known.into_iter().collect();
    PipelineError::Config(format!("unknown {what} `{name}` (known: {})", known.join(", ")))
}
