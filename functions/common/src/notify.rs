//! The notify function.
//!
//! * `finding` messages (SQS): each finding goes through the routing file
//!   (`COSTKIT_NOTIFY_ROUTES_S3_KEY` in the bucket, default `config/notify.yaml`; without it, every
//!   finding to the alert topic `COSTKIT_TOPIC_ARN` on channel `sns`, as before) to its channels:
//!   sent at once with retries, receipts and dead letters ([`flow::notify::send`]), or collected
//!   into the channel's daily/weekly digest ([`flow::notify::collect`]).
//! * The schedule (EventBridge, daily): [`flush`] sends every digest whose period has ended.
//! * The report schedules (weekly, monthly; `detail.report`): [`scheduled_report`].
//!
//! The routing, channels, retries, receipts, dead letters and digests are `costkit_shell::notify`
//! (shared with the Azure and Google Cloud shells); this module wires AWS into it: SNS topics and
//! SES as platform channels, Secrets Manager as the secret lookup, the SQS dead-letter queue.
//! Channels are built once per batch; secrets are never logged. A report link, signed with the report signing key, is embedded when
//! `COSTKIT_REPORT_BASE_URL` and `COSTKIT_SIGNING_KEY_SECRET_ARN` are set.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use costkit_aws::ses::SesChannel;
use costkit_core::flow::messages::Message;
use costkit_core::flow::notify::Flushed;
use costkit_core::flow::FlowError;
use costkit_core::notify::routing::{ChannelSpec, EmailTransport, Target};
use costkit_core::notify::{Channel, TopicChannel};
use costkit_core::ports::Queue;
use costkit_http::SharedStore;
use costkit_shell::notify::{
    digests_summary, flush_digests, load_routes, route_finding, NotifySettings, PlatformChannels,
    Routes,
};
use costkit_shell::report::{scheduled_report_run, ReportCadence, ScheduledReportEnv};

use crate::{config, sqs, App};

/// The channel name in delivery receipts when there is no routing file
/// (`delivery/sns/<finding id>`).
pub const CHANNEL: &str = "sns";

pub use costkit_shell::notify::DIGEST_GRACE;

fn invalid(e: impl std::fmt::Display) -> FlowError {
    FlowError::Invalid(e.to_string())
}

/// SNS topics (by ARN, or the function's alert topic) and SES: the channels only AWS has.
struct AwsChannels(App);

impl PlatformChannels for AwsChannels {
    fn build(
        &self,
        spec: &ChannelSpec,
        _secrets: &dyn Fn(&str) -> Result<String, String>,
    ) -> Option<Result<Box<dyn Channel>, String>> {
        let app = &self.0;
        let name = spec.name.as_str();
        match &spec.target {
            Target::Sns { topic_arn } => {
                let arn = topic_arn.clone().or_else(|| app.config.topic_arn.clone());
                Some(
                    app.topic(&arn, config::TOPIC_ARN)
                        .map(|t| Box::new(TopicChannel::new(name, t)) as Box<dyn Channel>)
                        .map_err(|e| e.to_string()),
                )
            }
            Target::Email {
                transport: EmailTransport::Ses { configuration_set },
                from,
                to,
            } => Some(Ok(Box::new(SesChannel::new(
                &app.clients,
                name,
                from,
                to,
                configuration_set.clone(),
                app.handle.clone(),
            )))),
            _ => None,
        }
    }
}

/// The notify settings of the function: the routing file in the bucket, Secrets Manager, the
/// notification dead-letter queue, the report link's key.
pub fn settings(app: &App) -> Result<NotifySettings, FlowError> {
    let a = app.clone();
    let secrets = Arc::new(move |id: &str| -> Result<String, String> {
        a.handle
            .block_on(costkit_aws::messaging::get_secret_string(
                a.clients.secrets(),
                id,
            ))
            .map_err(|e| e.to_string())
    });
    let mut s = NotifySettings::new(&app.config.notify_routes_key, CHANNEL, secrets);
    s.dead_letters = match &app.config.notify_dlq_url {
        Some(url) => {
            Some(Arc::new(app.queue(&Some(url.clone()), config::NOTIFY_DLQ_URL)?) as Arc<dyn Queue>)
        }
        None => None,
    };
    s.report_base_url = app.config.report_base_url.clone();
    s.signing_key_secret = app
        .config
        .signing_key_secret_arn
        .clone()
        .map(|arn| (config::SIGNING_KEY_SECRET_ARN.to_string(), arn));
    s.platform = Some(Arc::new(AwsChannels(app.clone())));
    Ok(s)
}

/// Reads the routing file (or the default) and builds its channels. Runs on a blocking thread.
fn routes(app: &App) -> Result<Routes, FlowError> {
    let settings = settings(app)?;
    load_routes(&app.blobs()?, None, &settings)
}

/// Handles a batch from the findings queue.
pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let built = {
        let a = app.clone();
        app.blocking(move || routes(&a).map(Arc::new)).await
    };
    sqs::each_message(event, |msg| {
        let built = match &built {
            Ok(r) => Ok(r.clone()),
            Err(e) => Err(invalid(e)),
        };
        async move {
            let Message::Finding(f) = msg else {
                return Err(sqs::unexpected(&msg, "notify"));
            };
            let routes = built?;
            let state = app.state()?;
            app.blocking(move || route_finding(&routes, &f, &state, Utc::now()))
                .await
                .map(|_| ())
        }
    })
    .await
}

/// The scheduled run: sends every digest whose period ended at least [`DIGEST_GRACE`] ago.
pub async fn flush(app: &App, now: DateTime<Utc>) -> Result<Vec<Flushed>, FlowError> {
    let a = app.clone();
    app.blocking(move || flush_digests(&routes(&a)?, &a.state()?, now))
        .await
}

/// The scheduled weekly or monthly report (`costkit_shell::report::scheduled_report_run`): the
/// month's report from the table rendered to `reports/<cadence>/<run>/` in the bucket and sent
/// to the routed channels with a link signed by the report key. This function runs it because it
/// owns delivery (channels, SES, secrets, receipts); the report function answers only its
/// Function URL.
pub async fn scheduled_report(
    app: &App,
    cadence: ReportCadence,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, FlowError> {
    let blobs: Arc<dyn costkit_core::ports::BlobStore> = Arc::new(app.blobs()?);
    let state: Arc<dyn costkit_core::ports::StateStore> = Arc::new(app.state()?);
    let engines = costkit_shell::report::engines(
        blobs.clone(),
        Some(state.clone()),
        &app.config.monitors_key,
        &app.config.report_files,
    )
    .await
    .map_err(invalid)?;
    let env = ScheduledReportEnv {
        store: Arc::new(SharedStore::new(app.store()?)),
        blobs,
        state,
        alerts: None,
        settings: settings(app)?,
        engines,
    };
    scheduled_report_run(env, cadence, now).await
}

/// The function's entry: an SQS batch (`Records`), the digest schedule (an EventBridge event), or
/// a report schedule (the same event with `detail.report` = `weekly` or `monthly`).
pub async fn handle_any(
    app: &App,
    event: serde_json::Value,
) -> Result<serde_json::Value, FlowError> {
    if event.get("Records").is_some() {
        let e: SqsEvent = serde_json::from_value(event).map_err(invalid)?;
        let resp = handle(app, e).await;
        return serde_json::to_value(resp).map_err(invalid);
    }
    let now = event
        .get("time")
        .and_then(|t| t.as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    if let Some(report) = event.get("detail").and_then(|d| d.get("report")) {
        let cadence = report
            .as_str()
            .ok_or_else(|| invalid("event detail.report: expected `weekly` or `monthly`"))?;
        return scheduled_report(app, ReportCadence::parse(cadence)?, now).await;
    }
    let done = flush(app, now).await?;
    Ok(digests_summary(&done))
}
