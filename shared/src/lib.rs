//! # costkit-core
//!
//! The pure core of costkit. Everything the serverless functions and the CLI share lives here, with no
//! cloud SDK, no HTTP framework and no async runtime (CI proves it with `cargo tree`).
//!
//! The main pieces and how they fit together:
//!
//! * [`focus`]: the FOCUS 1.2 Cost and Usage record ([`focus::FocusRecord`]), its allowed-value enums,
//!   [`focus::Tags`] and the column table ([`focus::FocusColumn`]).
//! * [`money`]: exact amounts ([`rust_decimal::Decimal`]) with their [`money::Currency`].
//! * [`input`]: opens a billing file (gzip and BOM handled) and sniffs whether it is CSV, JSON or Parquet.
//! * [`normalize`]: one streaming parser per provider export dialect, picked from the header by
//!   [`normalize::detect`]; every parser yields `Result<FocusRecord, NormalizeError>` one row at a time.
//! * [`output`]: FOCUS CSV and Parquet writers.
//! * [`aggregate`]: folds records into daily aggregates, the unit the stores keep.
//! * [`analysis`]: time series, anomaly detection and forecasting, with their scoring.
//! * [`breakdown`]: period over period, top movers, spend per bucket, untagged spend per tag key.
//! * [`budget`]: budgets over the aggregates, with an alert state machine.
//! * [`report`]: the period report (totals, change, breakdowns, movers, budgets) and its JSON and CSV
//!   renderers.
//! * [`optimize`]: commitment recommendations (exact hour-by-hour simulation) and idle resources.
//! * [`rules`]: user rules in YAML, compiled into one streaming evaluator.
//! * [`leaderboard`]: team points for savings verified in the billing data, net of the trend.
//! * [`deps`]: resource dependency maps from billing ids, tags and inventories, with cost roll-up
//!   and DOT/SVG output.
//! * [`pipeline`]: runs jobs into a sink and a [`aggregate::LoadBatch`], checking reconciliation.
//! * [`ports`]: object storage, queues, topics and a conditional state store, which each cloud
//!   implements; [`local`] has the local implementations the CLI uses.
//! * [`notify`]: notification renderers (SNS, email, Slack, Teams, signed webhook), the routing file
//!   and the channel port.
//! * [`flow`]: ingest, normalize, budget check and notify, written once against the ports.
//! * [`store`]: the [`store::CostStore`] port that the SQLite, DynamoDB, Table storage and Firestore
//!   adapters implement.

pub mod aggregate;
pub mod analysis;
pub mod breakdown;
pub mod budget;
pub mod deps;
pub mod error;
pub mod flow;
pub mod focus;
pub mod input;
pub mod leaderboard;
pub mod local;
pub mod money;
pub mod normalize;
pub mod notify;
pub mod optimize;
pub mod output;
pub mod pipeline;
pub mod ports;
pub mod report;
pub mod rules;
pub mod store;
pub mod text;
pub mod time;
pub mod yaml;

pub use error::{NormalizeError, NormalizeErrorKind};
pub use focus::FocusRecord;
