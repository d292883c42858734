//! The trigger shared by the analysis functions (budget-check, anomaly): a batch of
//! `data_updated` messages from their queue (the analysis topic feeds each with raw delivery) or a
//! scheduled event runs ONE check over the whole store: several updates in a batch need one look,
//! not one each. When the check fails, every `data_updated` record of the batch is reported failed.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use costkit_core::flow::messages::Message;
use costkit_core::flow::FlowError;

/// Handles a batch: records that are not `data_updated` fail (permanently); if any record is one,
/// `check` runs once at `now`.
pub async fn handle_sqs<F, Fut>(
    function: &str,
    event: SqsEvent,
    now: DateTime<Utc>,
    check: F,
) -> SqsBatchResponse
where
    F: FnOnce(DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<usize, FlowError>>,
{
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
            Some(Ok(other)) => fail(id, &crate::sqs::unexpected(&other, function)),
            Some(Err(e)) => fail(id, &FlowError::Invalid(e)),
            None => fail(id, &FlowError::Invalid("SQS record without a body".into())),
        }
    }
    if !updates.is_empty() {
        if let Err(e) = check(now).await {
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
pub async fn handle_event<F, Fut>(
    function: &str,
    event: serde_json::Value,
    check: F,
) -> Result<serde_json::Value, FlowError>
where
    F: FnOnce(DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<usize, FlowError>>,
{
    if event.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event)
            .map_err(|e| FlowError::Invalid(format!("not an SQS event: {e}")))?;
        let r = handle_sqs(function, batch, Utc::now(), check).await;
        return serde_json::to_value(r).map_err(|e| FlowError::Invalid(e.to_string()));
    }
    let now = event
        .get("time")
        .and_then(serde_json::Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let findings = check(now).await?;
    Ok(serde_json::json!({"findings": findings}))
}
