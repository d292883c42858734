//! The notify function: `finding` messages → [`flow::notify::deliver`] to the alert topic
//! (`COSTKIT_TOPIC_ARN`), once per finding: the delivery receipt is a state item.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use costkit_core::flow::messages::Message;
use costkit_core::flow::notify::{deliver, Delivery};

use crate::{config, sqs, App};

/// The channel name in delivery receipts (`delivery/sns/<finding id>`).
pub const CHANNEL: &str = "sns";

/// Handles a batch from the findings queue.
pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    sqs::each_message(event, |msg| async {
        let Message::Finding(f) = msg else {
            return Err(sqs::unexpected(&msg, "notify"));
        };
        let topic = app.topic(&app.config.topic_arn, config::TOPIC_ARN)?;
        let state = app.state()?;
        let id = f.id.clone();
        let d = app
            .blocking(move || deliver(&f, CHANNEL, &topic, &state))
            .await?;
        match d {
            Delivery::Sent => tracing::info!(finding_id = %id, "finding published"),
            Delivery::Duplicate => {
                tracing::info!(finding_id = %id, "finding delivered before; dropped")
            }
        }
        Ok(())
    })
    .await
}
