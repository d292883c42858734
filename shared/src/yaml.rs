//! Helpers for YAML configuration files read with `serde_yaml_ng` (budgets, rules).
//!
//! Every check runs inside the YAML deserializer's own call for the value it checks (a scalar
//! visitor, or a mapping visitor for rules across the fields of one mapping). That is what lets the
//! library attach the exact field path and line to the error. Scalars are read as their YAML text,
//! so amounts never pass through a float.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::money::parse_decimal;

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
