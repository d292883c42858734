//! Time-series analysis: the shared input type, anomaly detection, forecasting and their scoring.
//!
//! Everything here is a pure function of its inputs (no clock reads: callers pass `now`), so the
//! CLI, the serverless functions and the tests get the same answers from the same data.

pub mod anomaly;
pub mod forecast;
pub mod score;
pub mod series;
#[cfg(feature = "testkit")]
pub mod synth;

pub use series::{read_date_value_csv, ObservedSeries, Series, SeriesError, Step};
