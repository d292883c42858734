//! Consuming a message from one of the pipeline's queues, written once for every queue-driven
//! shell (Azure Storage queues, Pub/Sub push): the step a message runs, over the ports the shell
//! wires, and what happens to a message that can never succeed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use costkit_core::flow::messages::Message;
use costkit_core::flow::FlowError;
use costkit_core::ports::{BlobStore, Publisher, Queue, StateStore};
use costkit_core::store::{CostStore, StoreError};
use costkit_http::StoreAccess;

use crate::notify::NotifySettings;
use serde_json::{json, Value};

/// Opens the cost store for one step. A cloud store is a cheap handle over a shared client; a
/// SQLite store opens its file.
pub type OpenStore = Arc<dyn Fn() -> Result<Box<dyn CostStore + Send>, StoreError> + Send + Sync>;

/// The report router's access to an [`OpenStore`]: a store opened for each request.
pub struct OpenEach(pub OpenStore);

impl StoreAccess for OpenEach {
    fn with_store(&self, f: &mut dyn FnMut(&dyn CostStore)) -> Result<(), StoreError> {
        let store = (self.0)()?;
        f(&*store);
        Ok(())
    }
}

/// The ports the queue-driven steps run over, as the shell wires them.
#[derive(Clone)]
pub struct Ports {
    /// Raw pages, staged aggregates, FOCUS files, config files.
    pub blobs: Arc<dyn BlobStore>,
    /// Job progress, alert state, delivery receipts.
    pub state: Arc<dyn StateStore>,
    /// The cost store.
    pub store: OpenStore,
    /// Where normalize sends `data_updated` (budget check and anomaly both receive it).
    pub analysis: Arc<dyn Queue>,
    /// Where budget check and anomaly send findings.
    pub findings: Arc<dyn Queue>,
    /// The alerts topic or queue: where a routing file's `sns` channel (and the default route,
    /// without a routing file) publishes.
    pub alerts: Arc<dyn Publisher>,
    /// The notify step's routing file, secrets and dead letters.
    pub notify: NotifySettings,
}

/// The settings the steps read.
#[derive(Clone, Debug)]
pub struct StepSettings {
    /// Key of the budgets YAML in the blob store.
    pub budgets_key: String,
    /// Key of the anomaly monitors YAML in the blob store.
    pub monitors_key: String,
}

/// The queue-driven steps, by the name the shells route them under.
pub const STEPS: &[&str] = &["normalize", "budget-check", "anomaly", "notify"];

/// Runs step `step` on `msg` and returns a summary for the log and the response. A message of
/// the wrong kind for the step is a permanent error (a wiring mistake).
pub async fn run_message(
    step: &str,
    msg: Message,
    ports: &Ports,
    settings: &StepSettings,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    let p = ports.clone();
    match (step, msg) {
        ("normalize", Message::Normalize(job)) => {
            let outcome = crate::blocking(move || {
                let mut store = (p.store)()?;
                crate::normalize(&job, &*p.blobs, &*p.state, &mut *store, &*p.analysis)
            })
            .await?;
            Ok(json!({"outcome": format!("{outcome:?}")}))
        }
        (step @ ("budget-check" | "anomaly"), Message::DataUpdated(_)) => {
            let budgets = step == "budget-check";
            let key = if budgets {
                settings.budgets_key.clone()
            } else {
                settings.monitors_key.clone()
            };
            let findings = crate::blocking(move || {
                let store = (p.store)()?;
                let (s, b, st, f) = (&*store, &*p.blobs, &*p.state, &*p.findings);
                Ok(if budgets {
                    crate::budget_check(s, b, st, f, &key, now)?.findings.len()
                } else {
                    crate::anomaly_check(s, b, st, f, &key, now)?.findings.len()
                })
            })
            .await?;
            Ok(json!({"findings": findings}))
        }
        ("notify", Message::Finding(f)) => {
            crate::notify::notify_finding(p.blobs, p.state, Some(p.alerts), p.notify, f, now).await
        }
        (step, msg) => Err(crate::unexpected(&msg, step)),
    }
}

/// What became of a consumed message.
#[derive(Debug)]
pub enum Consumed {
    /// The step ran; its summary.
    Done(Value),
    /// The message can never succeed: it was copied to the dead-letter queue and is done with.
    /// The text says why and where it went.
    DeadLettered(String),
}

/// Settles a step's `result` for message `body` (id `message_id`, received from `queue`). A
/// permanent failure (bad data, bad message) is copied to `dead_letter` (named `dead_letter_name`)
/// at once and counts as handled, so the platform does not retry what cannot succeed. A transient
/// failure, or a failure to dead-letter, is returned: the shell fails the delivery and the
/// platform retries it (and dead-letters it itself after its maximum number of attempts).
pub async fn settle(
    step: &str,
    result: Result<Value, FlowError>,
    body: &str,
    message_id: &str,
    dead_letter: Arc<dyn Queue>,
    dead_letter_name: &str,
) -> Result<Consumed, FlowError> {
    match result {
        Ok(v) => Ok(Consumed::Done(v)),
        Err(e) if e.is_permanent() => {
            tracing::error!(step, message_id, dead_letter = dead_letter_name, error = %e, "permanent failure: message dead-lettered");
            let text = body.to_string();
            let id = message_id.to_string();
            crate::blocking(move || Ok(dead_letter.send(&text, &id)?)).await?;
            Ok(Consumed::DeadLettered(format!(
                "{step}: permanent failure, message {message_id} moved to {dead_letter_name}: {e}"
            )))
        }
        Err(e) => Err(e),
    }
}

/// Parses `body` as a costkit message and runs `step` on it; a body that is not a costkit
/// message is a permanent error.
pub async fn run_body(
    step: &str,
    body: &str,
    ports: &Ports,
    settings: &StepSettings,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    match Message::from_json(body) {
        Ok(msg) => run_message(step, msg, ports, settings, now).await,
        Err(e) => Err(FlowError::Invalid(e)),
    }
}
