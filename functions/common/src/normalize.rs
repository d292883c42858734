//! The normalize function: one `normalize` message per record → [`flow::normalize::run_part`]
//! on S3, the table and the `data_updated` topic, in a scratch directory under `/tmp` that is
//! removed after each part (Lambda's `/tmp` outlives invocations).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use costkit_core::flow::messages::Message;
use costkit_core::flow::normalize::{run_part, NormalizeEnv, PartOutcome};
use costkit_core::flow::{self, FlowError};

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
        let outcome = app
            .blocking(move || {
                let work = tempfile::Builder::new()
                    .prefix("costkit-normalize-")
                    .tempdir()
                    .map_err(|e| FlowError::Io("scratch directory".into(), e))?;
                let mut env = NormalizeEnv {
                    blobs: &blobs,
                    state: &state,
                    store: &mut store,
                    analysis: &analysis,
                    workdir: work.path(),
                    now: Utc::now(),
                };
                let out = run_part(&job, &mut env);
                // The TempDir is dropped (removed) here, failed or not.
                out.map(|o| (job.job_id, job.part, o))
            })
            .await?;
        let (job_id, part, outcome) = outcome;
        match outcome {
            PartOutcome::Staged { records } => {
                tracing::info!(%job_id, part, records, "part staged")
            }
            PartOutcome::Committed(r) => {
                tracing::info!(%job_id, part, load_id = r.load_id, slices = r.slices.len(), "delivery loaded")
            }
            PartOutcome::AlreadyCommitted => {
                tracing::info!(%job_id, part, "delivery loaded before; repeat dropped")
            }
        }
        Ok::<(), flow::FlowError>(())
    })
    .await
}
