//! The notify function.
//!
//! * `finding` messages (SQS): each finding goes through the routing file
//!   (`COSTKIT_NOTIFY_ROUTES_S3_KEY` in the bucket, default `config/notify.yaml`; without it, every
//!   finding to the alert topic `COSTKIT_TOPIC_ARN` on channel `sns`, as before) to its channels:
//!   sent at once with retries, receipts and dead letters ([`flow::notify::send`]), or collected
//!   into the channel's daily/weekly digest ([`flow::notify::collect`]).
//! * The schedule (EventBridge, daily): [`flush`] sends every digest whose period has ended.
//!
//! Channels are built once per batch: SNS topics and SES from the function's clients, Slack,
//! Teams, webhooks and SMTP from `costkit-notify`, with secrets from the environment or Secrets
//! Manager (never logged). A report link, signed with the report signing key, is embedded when
//! `COSTKIT_REPORT_BASE_URL` and `COSTKIT_SIGNING_KEY_SECRET_ARN` are set.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Datelike, Utc};
use costkit_aws::ports::SqsQueue;
use costkit_aws::ses::SesChannel;
use costkit_core::flow::messages::{Finding, Message};
use costkit_core::flow::notify::{collect, flush_due, send, Delivery, Flushed, Pacing};
use costkit_core::flow::FlowError;
use costkit_core::notify::routing::{EmailTransport, Mode, Target};
use costkit_core::notify::{Channel, ChannelKind, Content, Notice, RoutingFile, TopicChannel};
use costkit_core::ports::{BlobStore, PortError, Queue, StateStore};
use costkit_notify::{resolve, resolve_setting, HttpChannel, SmtpChannel, SmtpSettings};

use crate::{config, sqs, App};

/// The channel name in delivery receipts when there is no routing file
/// (`delivery/sns/<finding id>`).
pub const CHANNEL: &str = "sns";

/// How long after a digest period ends before it is sent: findings of the period's last minutes
/// (an evaluation that started before midnight) land first.
pub const DIGEST_GRACE: Duration = Duration::from_secs(3600);

/// Timeout of one HTTP or SMTP attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an embedded report link is valid.
const LINK_VALIDITY_SECS: i64 = 7 * 24 * 3600;

/// The routing and channels of one batch.
struct Routes {
    file: RoutingFile,
    channels: Vec<Box<dyn Channel>>,
    dead_letters: Option<SqsQueue>,
    signing_key: Option<costkit_http::auth::SigningKey>,
}

impl Routes {
    fn channel(&self, name: &str) -> Option<&dyn Channel> {
        self.channels
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.as_ref())
    }

    /// A signed link to the report of `month` (`YYYY-MM`), when the function can sign one.
    fn link(&self, app: &App, month: &str, now: DateTime<Utc>) -> Option<String> {
        let key = self.signing_key.as_ref()?;
        let base = app.config.report_base_url.as_deref()?;
        let path = costkit_http::auth::sign_path(
            key,
            &format!("/reports/{month}.html"),
            now.timestamp() + LINK_VALIDITY_SECS,
        );
        Some(format!("{}{path}", base.trim_end_matches('/')))
    }
}

fn invalid(e: impl std::fmt::Display) -> FlowError {
    FlowError::Invalid(e.to_string())
}

/// Reads the routing file (or the default) and builds its channels. Runs on a blocking thread.
fn routes(app: &App) -> Result<Routes, FlowError> {
    let key = &app.config.notify_routes_key;
    let file = match app.blobs()?.get_bytes(key) {
        Ok(bytes) => {
            let text =
                String::from_utf8(bytes).map_err(|_| invalid(format!("{key}: not UTF-8")))?;
            RoutingFile::parse(&text, key).map_err(invalid)?
        }
        Err(PortError::NotFound(_)) => RoutingFile::default_sns(),
        Err(e) => return Err(e.into()),
    };
    let secrets = |id: &str| -> Result<String, String> {
        app.handle
            .block_on(costkit_aws::messaging::get_secret_string(
                app.clients.secrets(),
                id,
            ))
            .map_err(|e| e.to_string())
    };
    let mut channels: Vec<Box<dyn Channel>> = Vec::new();
    for spec in &file.channels {
        let name = spec.name.as_str();
        let what = |e: &dyn std::fmt::Display| invalid(format!("{key}: channel `{name}`: {e}"));
        let ch: Box<dyn Channel> = match &spec.target {
            Target::Sns { topic_arn } => {
                let arn = topic_arn.clone().or_else(|| app.config.topic_arn.clone());
                Box::new(TopicChannel::new(name, app.topic(&arn, config::TOPIC_ARN)?))
            }
            Target::Email {
                transport,
                from,
                to,
            } => match transport {
                EmailTransport::Ses { configuration_set } => Box::new(SesChannel::new(
                    &app.clients,
                    name,
                    from,
                    to,
                    configuration_set.clone(),
                    app.handle.clone(),
                )),
                EmailTransport::Smtp {
                    host,
                    port,
                    tls,
                    username,
                    password,
                } => {
                    let credentials = match (username, password) {
                        (Some(u), Some(p)) => Some((
                            resolve_setting(u, &secrets)
                                .map_err(|e| what(&e))?
                                .expose()
                                .to_string(),
                            resolve(p, &secrets).map_err(|e| what(&e))?,
                        )),
                        _ => None,
                    };
                    Box::new(
                        SmtpChannel::new(
                            name,
                            from,
                            to,
                            &SmtpSettings {
                                host: host.clone(),
                                port: *port,
                                tls: *tls,
                                credentials,
                                timeout: ATTEMPT_TIMEOUT,
                            },
                        )
                        .map_err(|e| what(&e))?,
                    )
                }
            },
            Target::Slack { url } | Target::Teams { url } => Box::new(
                HttpChannel::new(
                    name,
                    spec.kind(),
                    resolve_setting(url, &secrets).map_err(|e| what(&e))?,
                    None,
                    ATTEMPT_TIMEOUT,
                    app.handle.clone(),
                )
                .map_err(|e| what(&e))?,
            ),
            Target::Webhook {
                url,
                signing_secret,
            } => Box::new(
                HttpChannel::new(
                    name,
                    ChannelKind::Webhook,
                    resolve_setting(url, &secrets).map_err(|e| what(&e))?,
                    Some(resolve(signing_secret, &secrets).map_err(|e| what(&e))?),
                    ATTEMPT_TIMEOUT,
                    app.handle.clone(),
                )
                .map_err(|e| what(&e))?,
            ),
        };
        channels.push(ch);
    }
    let dead_letters = match &app.config.notify_dlq_url {
        Some(url) => Some(app.queue(&Some(url.clone()), config::NOTIFY_DLQ_URL)?),
        None => None,
    };
    let signing_key = match &app.config.signing_key_secret_arn {
        Some(arn) => Some(costkit_http::auth::SigningKey::new(
            secrets(arn)
                .map_err(|e| invalid(format!("{}: {e}", config::SIGNING_KEY_SECRET_ARN)))?
                .trim()
                .as_bytes()
                .to_vec(),
        )),
        None => None,
    };
    Ok(Routes {
        file,
        channels,
        dead_letters,
        signing_key,
    })
}

fn pacing() -> Pacing<'static> {
    Pacing {
        sleep: &std::thread::sleep,
        unit: &fastrand::f64,
    }
}

/// Routes one finding: sends it to its immediate channels, collects it into its digests.
/// Returns what happened per channel. Port failures are errors (the message is retried; receipts
/// keep channels that already got it from getting it twice); channel failures end in the dead
/// letter.
fn route_finding(
    app: &App,
    routes: &Routes,
    f: &Finding,
    state: &dyn StateStore,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Delivery)>, FlowError> {
    let month = format!("{:04}-{:02}", f.found_at.year(), f.found_at.month());
    let link = routes.link(app, &month, now);
    let mut out = Vec::new();
    for (spec, mode) in routes.file.destinations(f) {
        let d = match mode {
            Mode::Digest(cadence) => collect(f, &spec.name, cadence, now, state)?,
            Mode::Immediate => {
                let ch = routes
                    .channel(&spec.name)
                    .ok_or_else(|| invalid(format!("channel `{}` was not built", spec.name)))?;
                let notice = Notice {
                    content: Content::Finding(f),
                    link: link.as_deref(),
                };
                send(
                    ch,
                    &notice,
                    state,
                    &routes.file.retry,
                    &pacing(),
                    routes.dead_letters.as_ref().map(|q| q as &dyn Queue),
                    now,
                )?
            }
        };
        tracing::info!(finding_id = %f.id, channel = %spec.name, delivery = d.as_str(), "finding routed");
        out.push((spec.name.clone(), d));
    }
    Ok(out)
}

/// Handles a batch from the findings queue.
pub async fn handle(app: &App, event: SqsEvent) -> SqsBatchResponse {
    let built = {
        let a = app.clone();
        app.blocking(move || routes(&a).map(std::sync::Arc::new))
            .await
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
            let a = app.clone();
            app.blocking(move || route_finding(&a, &routes, &f, &state, Utc::now()))
                .await
                .map(|_| ())
        }
    })
    .await
}

/// The scheduled run: sends every digest whose period ended at least [`DIGEST_GRACE`] ago.
pub async fn flush(app: &App, now: DateTime<Utc>) -> Result<Vec<Flushed>, FlowError> {
    let a = app.clone();
    app.blocking(move || {
        let routes = routes(&a)?;
        let state = a.state()?;
        let channels: Vec<&dyn Channel> = routes.channels.iter().map(|c| c.as_ref()).collect();
        // A digest links to the report of the month its period ended in (yesterday's, as a rule).
        let yesterday = now - chrono::Duration::days(1);
        let month = format!("{:04}-{:02}", yesterday.year(), yesterday.month());
        let link = routes.link(&a, &month, now);
        let done = flush_due(
            now,
            DIGEST_GRACE,
            &channels,
            link.as_deref(),
            &state,
            &routes.file.retry,
            &pacing(),
            routes.dead_letters.as_ref().map(|q| q as &dyn Queue),
        )?;
        for d in &done {
            tracing::info!(
                channel = %d.digest.channel,
                cadence = d.digest.cadence.as_str(),
                start = %d.digest.start,
                findings = d.count,
                delivery = d.delivery.as_str(),
                "digest flushed"
            );
        }
        Ok(done)
    })
    .await
}

/// The function's entry: an SQS batch (`Records`) or the digest schedule (an EventBridge event).
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
    let done = flush(app, now).await?;
    Ok(serde_json::json!({
        "digests": done.iter().map(|d| serde_json::json!({
            "channel": d.digest.channel,
            "cadence": d.digest.cadence.as_str(),
            "start": d.digest.start,
            "findings": d.count,
            "delivery": d.delivery.as_str(),
        })).collect::<Vec<_>>()
    }))
}
