//! The budget-check function: `flow::budget::check` (through `costkit_shell::budget_check`) over the budgets YAML in the bucket, the
//! store and the alert state; findings go to the findings queue. Triggered by `data_updated`
//! batches and a schedule ([`crate::analysis`]).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use costkit_core::flow::budget::BudgetRun;
use costkit_core::flow::FlowError;

use crate::{analysis, config, App};

/// Runs one budget check at `now`.
pub async fn check(app: &App, now: DateTime<Utc>) -> Result<BudgetRun, FlowError> {
    let store = app.store()?;
    let blobs = app.blobs()?;
    let state = app.state()?;
    let findings = app.queue(&app.config.findings_queue_url, config::FINDINGS_QUEUE_URL)?;
    let key = app.config.budgets_key.clone();
    app.blocking(move || costkit_shell::budget_check(&store, &blobs, &state, &findings, &key, now))
        .await
}

/// Handles a batch from the budget queue.
pub async fn handle_sqs(app: &App, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
    analysis::handle_sqs("budget-check", event, now, |now| async move {
        check(app, now).await.map(|r| r.findings.len())
    })
    .await
}

/// Handles either trigger (SQS batch or schedule).
pub async fn handle_event(
    app: &App,
    event: serde_json::Value,
) -> Result<serde_json::Value, FlowError> {
    analysis::handle_event("budget-check", event, |now| async move {
        check(app, now).await.map(|r| r.findings.len())
    })
    .await
}
