//! Helpers for YAML configuration files read with `serde_yaml_ng` (budgets, rules, monitors,
//! routing, teams and actions): one error type, reading, and the scalar checks.
//!
//! Every check runs inside the YAML deserializer's own call for the value it checks (a scalar
//! visitor, or a mapping visitor for rules across the fields of one mapping). That is what lets the
//! library attach the exact field path and line to the error. Scalars are read as their YAML text,
//! so amounts never pass through a float.

use std::fmt;
use std::path::Path;

use rust_decimal::Decimal;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use thiserror::Error;

use crate::money::parse_decimal;

/// An unreadable or invalid configuration file. Every configuration file (budgets, rules,
/// monitors, routing, teams, actions) reports its problems this one way, so every message starts
/// with `file:line:`.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid: bad YAML, a wrong type, a missing or unknown field, or a rule broken.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based YAML line (0 when the parser could not tell).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// `path: message`, the field path (`rules[3].filter.and[1].op`) first.
        message: String,
    },
}

impl ConfigError {
    /// A broken rule found after parsing, at `line` (0 when unknown) of `file`.
    pub fn invalid(file: &str, line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: file.to_string(),
            line,
            column: 0,
            message: message.into(),
        }
    }

    /// A `serde_yaml_ng` error in `file`, placed at its line and column.
    pub(crate) fn yaml(e: &serde_yaml_ng::Error, file: &str) -> ConfigError {
        let (line, column, message) = location(e);
        ConfigError::Invalid {
            file: file.to_string(),
            line,
            column,
            message,
        }
    }
}

/// Reads a configuration file: its text and its name for error messages.
pub(crate) fn read(path: &Path) -> Result<(String, String), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: file.clone(),
        source,
    })?;
    Ok((text, file))
}

/// Deserializes YAML `text` of `file`; errors carry the line and the field path.
pub(crate) fn parse<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, ConfigError> {
    serde_yaml_ng::from_str(text).map_err(|e| ConfigError::yaml(&e, file))
}

/// One scalar or a list of scalars, each read as its YAML text (quote account ids with leading
/// zeros: YAML reads `0123` as a number).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OneOrMany(pub Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_or_many(d, false).map(OneOrMany)
    }
}

/// One scalar or a list of scalars as their texts; with `non_empty`, an empty list is an error
/// (raised inside the list's own visit, so the message carries the field's path and line).
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(
    d: D,
    non_empty: bool,
) -> Result<Vec<String>, D::Error> {
    struct V {
        non_empty: bool,
    }
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a value or a list of values")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(Scalar(s)) = seq.next_element()? {
                out.push(s);
            }
            if self.non_empty && out.is_empty() {
                return Err(de::Error::custom("the list is empty"));
            }
            Ok(out)
        }
    }
    d.deserialize_any(V { non_empty })
}

/// A scalar read as its YAML text.
pub(crate) struct Scalar(pub(crate) String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| Ok(s.to_string())).map(Scalar)
    }
}

/// Line, column and message of a `serde_yaml_ng` error, without the library's own
/// " at line L column C" suffix (the line already leads our messages). Line and column are 1-based,
/// 0 when the parser could not tell.
pub(crate) fn location(e: &serde_yaml_ng::Error) -> (usize, usize, String) {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let mut message = e.to_string();
    let suffix = format!(" at line {line} column {column}");
    if let Some(m) = message.strip_suffix(&suffix) {
        message = m.to_string();
    }
    (line, column, message)
}

/// Reads a mapping as `R` and converts it to `T`; a conversion error points at the mapping.
pub(crate) struct ViaMap<R, T>(pub std::marker::PhantomData<(R, T)>);

impl<R, T> ViaMap<R, T> {
    /// The visitor.
    pub(crate) fn new() -> Self {
        ViaMap(std::marker::PhantomData)
    }
}

impl<'de, R, T> Visitor<'de> for ViaMap<R, T>
where
    R: Deserialize<'de>,
    T: TryFrom<R, Error = String>,
{
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let raw = R::deserialize(de::value::MapAccessDeserializer::new(map))?;
        T::try_from(raw).map_err(de::Error::custom)
    }
}

/// Reads a scalar's text and checks it with `f`.
pub(crate) struct Check<T>(pub fn(&str) -> Result<T, String>);

impl<T> Visitor<'_> for Check<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        (self.0)(&v.to_string()).map_err(E::custom)
    }
}

/// Deserializes a scalar as its text and checks it with `f`.
pub(crate) fn checked<'de, D: Deserializer<'de>, T>(
    d: D,
    f: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    d.deserialize_str(Check(f))
}

/// The `version` field of a configuration file: 1, the only version this costkit reads.
pub(crate) fn version<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    checked(d, |s| match s.trim() {
        "1" => Ok(1),
        _ => Err(format!(
            "must be 1 (this costkit reads version 1 of this file, not `{s}`)"
        )),
    })
}

/// An exact decimal from a YAML scalar's text.
pub(crate) fn decimal(s: &str) -> Result<Decimal, String> {
    parse_decimal(s).ok_or_else(|| format!("`{s}` is not a decimal number"))
}

/// The line of the last `key: value` entry in `text` (also as a list item, `- key: value`), for
/// errors serde cannot place because they span two entries (a duplicate name).
pub(crate) fn key_line(text: &str, key: &str, value: &str) -> Option<usize> {
    let prefix = format!("{key}:");
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            t.strip_prefix(prefix.as_str())
                .map(|v| v.trim().trim_matches(['"', '\'']) == value)
                .unwrap_or(false)
        })
        .map(|(i, _)| i + 1)
        .last()
}
