//! The serverless flows, written once against the ports: ingest, normalize, budget check and
//! notify. The AWS, Azure and GCP shells and the CLI call these same functions; only the port
//! implementations differ.
//!
//! * [`ingest`]: plan whole months, pull a provider API, keep raw pages, queue normalize jobs.
//! * [`normalize`]: normalize one part of a delivery; the last part loads the whole delivery.
//! * [`budget`]: evaluate budgets, advance the alert state, emit findings.
//! * [`anomaly`]: run the anomaly monitors, emit one finding per new anomaly.
//! * [`notify`]: deliver findings once per channel.
//! * [`messages`]: the JSON messages between the steps.

pub mod anomaly;
pub mod budget;
pub mod focus;
pub mod ingest;
pub mod messages;
pub mod normalize;
pub mod notify;

use thiserror::Error;

use crate::pipeline::PipelineError;
use crate::ports::PortError;
use crate::store::StoreError;
use crate::NormalizeError;

/// Why a flow step failed. Every variant names what it was working on.
#[derive(Debug, Error)]
pub enum FlowError {
    /// A port (object store, queue, topic, state) failed.
    #[error(transparent)]
    Port(#[from] PortError),
    /// The cost store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An input could not be normalized (names the file, line and column).
    #[error(transparent)]
    Normalize(#[from] NormalizeError),
    /// The pipeline failed (input, output or reconciliation).
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The output could not be written.
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
    /// A configuration file (budgets, monitors) is unreadable or invalid (names the line and
    /// field).
    #[error(transparent)]
    Config(#[from] crate::yaml::ConfigError),
    /// A local file operation failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The message or request is invalid.
    #[error("{0}")]
    Invalid(String),
}

impl FlowError {
    /// True when retrying cannot help (bad data or a bad message): the message should go to the
    /// dead-letter queue rather than be retried.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            FlowError::Normalize(_)
                | FlowError::Pipeline(_)
                | FlowError::Config(_)
                | FlowError::Invalid(_)
        )
    }
}
