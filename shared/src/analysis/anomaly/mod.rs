//! Anomaly detection over daily cost (and any other regular series).
//!
//! * [`detector`]: the online detector, one verdict per slot from data up to that slot.

pub mod detector;

pub use detector::{detect, score_of, Detector, DetectorConfig, Point};
