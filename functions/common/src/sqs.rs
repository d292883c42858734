//! SQS batches with partial failures: each record is handled on its own; the ids of the ones
//! that failed go back in `batchItemFailures`, so SQS retries only those and moves a message to
//! the dead-letter queue after `maxReceiveCount` receives (`ReportBatchItemFailures` in the
//! template's event source mappings).

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use costkit_core::flow::messages::Message;
use costkit_core::flow::FlowError;

/// Handles every record of `event` with `handle` (in order, one at a time: a function's memory
/// is sized for one normalize part) and reports the failed ones.
///
/// A record whose body is not a costkit message fails permanently. Every failure is logged with
/// the message id, its receive count and whether it is permanent (bad data or message: retrying
/// cannot help and the message will end in the dead-letter queue) or transient (retried).
pub async fn each_message<F, Fut>(event: SqsEvent, mut handle: F) -> SqsBatchResponse
where
    F: FnMut(Message) -> Fut,
    Fut: Future<Output = Result<(), FlowError>>,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let result = match parse(&record) {
            Ok(msg) => handle(msg).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let receives = record
                .attributes
                .get("ApproximateReceiveCount")
                .map(String::as_str)
                .unwrap_or("?");
            tracing::error!(
                message_id = %id,
                receive_count = receives,
                permanent = e.is_permanent(),
                error = %e,
                "message failed"
            );
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

fn parse(record: &SqsMessage) -> Result<Message, FlowError> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| FlowError::Invalid("SQS record without a body".into()))?;
    Message::from_json(body).map_err(FlowError::Invalid)
}

/// The error for a message of the wrong kind on a function's queue (shared by every shell).
pub use costkit_shell::unexpected;
