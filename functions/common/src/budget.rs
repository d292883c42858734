//! The budget-check function: a batch of `data_updated` messages (from the budget queue, which
//! the analysis topic feeds with raw delivery) or a scheduled event → one
//! [`flow::budget::check`] over the budgets YAML in the bucket, the store and the alert state;
//! findings go to the findings queue.
//!
//! A batch of several `data_updated` messages needs one check, not one per message: the check
//! reads the whole store. When the check fails, every record of the batch is reported failed.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use costkit_core::budget::LinearRunRate;
use costkit_core::flow::budget::{self, BudgetRun};
use costkit_core::flow::messages::Message;
use costkit_core::flow::FlowError;

use crate::{config, App};

/// Runs one budget check at `now`.
pub async fn check(app: &App, now: DateTime<Utc>) -> Result<BudgetRun, FlowError> {
    let store = app.store()?;
    let blobs = app.blobs()?;
    let state = app.state()?;
    let findings = app.queue(&app.config.findings_queue_url, config::FINDINGS_QUEUE_URL)?;
    let key = app.config.budgets_key.clone();
    let run = app
        .blocking(move || {
            budget::check(&store, &blobs, &state, &findings, &key, &LinearRunRate, now)
        })
        .await?;
    for s in &run.findings {
        tracing::info!(finding_id = %s.id, "budget alert sent");
    }
    tracing::info!(
        budgets = run.statuses.len(),
        findings = run.findings.len(),
        "budgets checked"
    );
    Ok(run)
}

/// Handles a batch from the budget queue: records that are not `data_updated` fail
/// (permanently); if any record is one, the store is checked once.
pub async fn handle_sqs(app: &App, event: SqsEvent, now: DateTime<Utc>) -> SqsBatchResponse {
    let mut updates = Vec::new();
    let mut response = SqsBatchResponse::default();
    let mut fail = |id: String, e: &FlowError| {
        tracing::error!(message_id = %id, permanent = e.is_permanent(), error = %e, "message failed");
        let mut f = BatchItemFailure::default();
        f.item_identifier = id;
        response.batch_item_failures.push(f);
    };
    for r in &event.records {
        let id = r.message_id.clone().unwrap_or_default();
        match r.body.as_deref().map(Message::from_json) {
            Some(Ok(Message::DataUpdated(d))) => {
                tracing::info!(message_id = %id, job_id = %d.job_id, "data updated");
                updates.push(id);
            }
            Some(Ok(other)) => fail(id, &crate::sqs::unexpected(&other, "budget-check")),
            Some(Err(e)) => fail(id, &FlowError::Invalid(e)),
            None => fail(id, &FlowError::Invalid("SQS record without a body".into())),
        }
    }
    if !updates.is_empty() {
        if let Err(e) = check(app, now).await {
            for id in updates {
                fail(id, &e);
            }
        }
    }
    response
}

/// Handles either trigger: an SQS batch (`Records`) answers with its failures; any other event
/// (the schedule) runs the check at the event's `time` (else now) and answers with the number of
/// findings sent.
pub async fn handle_event(
    app: &App,
    event: serde_json::Value,
) -> Result<serde_json::Value, FlowError> {
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)
            .map_err(|e| FlowError::Invalid(format!("not an SQS event: {e}")))?;
        let r = handle_sqs(app, batch, Utc::now()).await;
        return serde_json::to_value(r).map_err(|e| FlowError::Invalid(e.to_string()));
    }
    let now = event
        .get("time")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let run = check(app, now).await?;
    Ok(serde_json::json!({"budgets": run.statuses.len(), "findings": run.findings.len()}))
}
