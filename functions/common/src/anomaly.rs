//! The anomaly function: `flow::anomaly::check` (through `costkit_shell::anomaly_check`) runs the monitors YAML in the bucket over the
//! store; each new anomaly becomes one finding on the findings queue. Triggered by `data_updated`
//! batches and a schedule ([`crate::analysis`]).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use costkit_core::flow::anomaly::AnomalyRun;
use costkit_core::flow::FlowError;

use crate::{analysis, config, App};

/// Runs the monitors once at `now`.
pub async fn check(app: &App, now: DateTime<Utc>) -> Result<AnomalyRun, FlowError> {
    let store = app.store()?;
    let blobs = app.blobs()?;
    let state = app.state()?;
    let findings = app.queue(&app.config.findings_queue_url, config::FINDINGS_QUEUE_URL)?;
    let key = app.config.monitors_key.clone();
    app.blocking(move || costkit_shell::anomaly_check(&store, &blobs, &state, &findings, &key, now))
        .await
}

/// Handles a batch from the anomaly queue.
pub async fn handle_sqs(app: &App, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
    analysis::handle_sqs("anomaly", event, now, |now| async move {
        check(app, now).await.map(|r| r.findings.len())
    })
    .await
}

/// Handles either trigger (SQS batch or schedule).
pub async fn handle_event(
    app: &App,
    event: serde_json::Value,
) -> Result<serde_json::Value, FlowError> {
    analysis::handle_event("anomaly", event, |now| async move {
        check(app, now).await.map(|r| r.findings.len())
    })
    .await
}
