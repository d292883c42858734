//! The normalize function: one `normalize` message per record → `costkit_shell::normalize`
//! ([`flow::normalize::run_part`] in a scratch directory removed after each part) on S3, the
//! table and the `data_updated` topic.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use costkit_core::flow;
use costkit_core::flow::messages::Message;

use crate::{config, sqs, App};

/// Handles a batch from the normalize queue.
pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    sqs::each_message(event, |msg| async {
        let Message::Normalize(job) = msg else {
            return Err(sqs::unexpected(&msg, "normalize"));
        };
        let blobs = app.blobs()?;
        let state = app.state()?;
        let mut store = app.store()?;
        let analysis = app.topic(&app.config.analysis_topic_arn, config::ANALYSIS_TOPIC_ARN)?;
        app.blocking(move || costkit_shell::normalize(&job, &blobs, &state, &mut store, &analysis))
            .await?;
        Ok::<(), flow::FlowError>(())
    })
    .await
}
