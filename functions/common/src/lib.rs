//! Shared glue of the costkit Lambda functions (`functions/*`): configuration from the
//! environment, AWS clients and ports built once per cold start ([`App`]), running a synchronous
//! flow off the runtime's workers ([`App::blocking`]), SQS partial batch failures ([`sqs`]) and
//! JSON logs ([`init_tracing`]).
//!
//! Each function's handler lives here as a module ([`ingest`], [`normalize`], [`budget`], [`anomaly`],
//! [`notify`], [`report`]) so the tests can call it with real events against moto; the binaries
//! only start the runtime.

pub mod analysis;
pub mod anomaly;
pub mod budget;
pub mod config;
pub mod ingest;
pub mod normalize;
pub mod notify;
pub mod report;
pub mod sqs;

use std::sync::Arc;

use costkit_aws::ports::{DynamoState, S3Blobs, SnsTopic, SqsQueue};
use costkit_aws::{AwsClients, DynamoStore};
use costkit_core::flow::FlowError;
use tokio::runtime::Handle;

pub use config::Config;

/// What a function keeps between invocations: its configuration and the AWS clients (one HTTP
/// connection pool), built at cold start.
#[derive(Clone, Debug)]
pub struct App {
    /// Settings from the environment.
    pub config: Arc<Config>,
    /// The AWS clients.
    pub clients: Arc<AwsClients>,
    /// The runtime the ports block on.
    pub handle: Handle,
}

impl App {
    /// Configuration and clients from the environment; call once, inside the runtime.
    pub fn from_env() -> anyhow::Result<App> {
        let config = Config::from_env()?;
        let clients = AwsClients::from_env()?;
        Ok(App::new(config, clients))
    }

    /// An app over given settings and clients (tests point them at moto).
    pub fn new(config: Config, clients: AwsClients) -> App {
        App {
            config: Arc::new(config),
            clients: Arc::new(clients),
            handle: Handle::current(),
        }
    }

    /// The data bucket (`COSTKIT_BUCKET`).
    pub fn blobs(&self) -> Result<S3Blobs, FlowError> {
        Ok(S3Blobs::new(
            &self.clients,
            self.config.require(&self.config.bucket, config::BUCKET)?,
            self.handle.clone(),
        ))
    }

    /// The state items in the table (`COSTKIT_TABLE`).
    pub fn state(&self) -> Result<DynamoState, FlowError> {
        Ok(DynamoState::new(
            &self.clients,
            self.config.require(&self.config.table, config::TABLE)?,
            self.handle.clone(),
        ))
    }

    /// The cost store in the table (`COSTKIT_TABLE`).
    pub fn store(&self) -> Result<DynamoStore, FlowError> {
        Ok(DynamoStore::new(
            &self.clients,
            self.config.require(&self.config.table, config::TABLE)?,
            self.handle.clone(),
        ))
    }

    /// An SQS queue named by one of the configured URLs.
    pub fn queue(&self, url: &Option<String>, var: &str) -> Result<SqsQueue, FlowError> {
        Ok(SqsQueue::new(
            &self.clients,
            self.config.require(url, var)?,
            self.handle.clone(),
        ))
    }

    /// An SNS topic named by one of the configured ARNs.
    pub fn topic(&self, arn: &Option<String>, var: &str) -> Result<SnsTopic, FlowError> {
        Ok(SnsTopic::new(
            &self.clients,
            self.config.require(arn, var)?,
            self.handle.clone(),
        ))
    }

    /// Runs a synchronous flow on a blocking thread: the ports `block_on` this runtime, which
    /// must not happen on one of its workers.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, FlowError>
    where
        F: FnOnce() -> Result<T, FlowError> + Send + 'static,
        T: Send + 'static,
    {
        costkit_shell::blocking(f).await
    }
}

/// Sets up `tracing` (shared by every shell: `costkit_shell::init_tracing`).
pub use costkit_shell::init_tracing;
