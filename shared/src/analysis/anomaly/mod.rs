//! Anomaly detection over daily cost (and any other regular series). See `docs/anomalies.md`.
//!
//! * [`detector`]: the online detector, one verdict per slot from data up to that slot.
//! * [`events`]: flagged slots grouped into anomalies, and root causes across child series.
//! * [`monitor`]: the `monitors.yaml` file and daily evaluation over the store's aggregates.
//! * [`drill`]: usage-type and resource root causes, read on demand from FOCUS records.
//! * [`feedback`]: "not an issue" / "planned" records and the rule that suppresses similar alerts.

pub mod detector;
pub mod drill;
pub mod events;
pub mod feedback;
pub mod monitor;

pub use detector::{detect, score_of, Detector, DetectorConfig, Point};
pub use events::{events, root_causes, Child, Contribution, Direction, Event};
pub use feedback::{suppressed_by, AlertKey, Feedback, Verdict};
