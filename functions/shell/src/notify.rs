//! The notify step, written once for every shell (Lambda, Azure custom handler, Cloud Run):
//! the routing file read from the blob store, its channels built from the file and the
//! platform's secrets, each finding sent through its routes (retries, receipts, dead letters,
//! idempotency keys: [`flow::notify::send`](costkit_core::flow::notify::send)) or collected into
//! a digest, and the scheduled digest flush.
//!
//! What differs per cloud is passed in ([`NotifySettings`]): how a secret id is looked up (Secrets
//! Manager on AWS; on Azure and Google Cloud an environment variable that Key Vault or Secret
//! Manager fills), where notification dead letters go, the name of the default channel (the
//! receipts each shell always wrote) and the channels only one platform has (SNS topics by ARN,
//! SES: [`PlatformChannels`]). Slack, Teams, webhooks and SMTP come from `costkit-notify`; a
//! channel of type `sns` without a `topic_arn` publishes to the shell's alerts publisher (SNS
//! topic, Storage queue, Pub/Sub topic).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use costkit_core::flow::messages::Finding;
use costkit_core::flow::notify::{collect, flush_due, send, Delivery, Flushed, Pacing};
use costkit_core::flow::FlowError;
use costkit_core::notify::routing::{ChannelSpec, EmailTransport, Mode, Target};
use costkit_core::notify::{Channel, ChannelKind, Content, Notice, RoutingFile, TopicChannel};
use costkit_core::ports::{BlobStore, PortError, Publication, Publisher, Queue, StateStore};
use costkit_http::auth::SigningKey;
use costkit_notify::{resolve, resolve_setting, HttpChannel, SmtpChannel, SmtpSettings};
use serde_json::{json, Value};

/// How long after a digest period ends before it is sent: findings of the period's last minutes
/// (an evaluation that started before midnight) land first.
pub const DIGEST_GRACE: Duration = Duration::from_secs(3600);

/// Timeout of one HTTP or SMTP attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an embedded report link is valid.
const LINK_VALIDITY_SECS: i64 = 7 * 24 * 3600;

/// Looks up a secret's string value by the id a routing file names in `{secret: <id>, key: …}`
/// (and the report signing key's id). The error text must not contain the value.
pub type SecretLookup = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// A secret lookup over environment variables: the id is the variable's name. On Azure an app
/// setting holding a Key Vault reference and on Cloud Run a variable filled from Secret Manager
/// both arrive this way.
pub fn env_secrets() -> SecretLookup {
    Arc::new(|id: &str| {
        crate::env_var(id).ok_or_else(|| format!("environment variable {id} is not set"))
    })
}

/// Channels only one platform can build (on AWS: SNS topics, SES email).
pub trait PlatformChannels: Send + Sync {
    /// Builds the channel `spec` when this platform serves its target itself; `None` leaves it
    /// to the cloud-neutral channels. The error says what is wrong, without secrets.
    fn build(
        &self,
        spec: &ChannelSpec,
        secrets: &dyn Fn(&str) -> Result<String, String>,
    ) -> Option<Result<Box<dyn Channel>, String>>;
}

/// The notify step's settings, as each shell wires them.
#[derive(Clone)]
pub struct NotifySettings {
    /// Key of the routing file in the blob store (absent: every finding to the alerts
    /// publisher on [`default_channel`](Self::default_channel)).
    pub routes_key: String,
    /// The channel name without a routing file (receipts `delivery/<name>/<finding id>`): `sns`
    /// on AWS, `queue` on Azure, `pubsub` on Google Cloud, what each shell always wrote.
    pub default_channel: String,
    /// Secret lookup for `{secret: …}` references and the report signing key.
    pub secrets: SecretLookup,
    /// Where dead letters also go (the state store always keeps them).
    pub dead_letters: Option<Arc<dyn Queue>>,
    /// Base URL of the report API, for signed links in messages.
    pub report_base_url: Option<String>,
    /// The report signing key: (the setting that names it, for errors; its secret id).
    pub signing_key_secret: Option<(String, String)>,
    /// The report signing key itself, when the shell already holds it (Azure and Google Cloud
    /// read it from an app setting / variable that Key Vault or Secret Manager fills); it wins
    /// over [`signing_key_secret`](Self::signing_key_secret).
    pub signing_key: Option<SigningKey>,
    /// The setting a missing signing key is reported under (`COSTKIT_SIGNING_KEY_SECRET_ARN` on
    /// AWS, `COSTKIT_REPORT_SIGNING_KEY` on Azure and Google Cloud).
    pub signing_key_setting: String,
    /// Platform channels (SNS by ARN, SES), tried before the cloud-neutral ones.
    pub platform: Option<Arc<dyn PlatformChannels>>,
}

impl NotifySettings {
    /// Settings with no dead-letter queue, no report links and no platform channels.
    pub fn new(routes_key: &str, default_channel: &str, secrets: SecretLookup) -> NotifySettings {
        NotifySettings {
            routes_key: routes_key.to_string(),
            default_channel: default_channel.to_string(),
            secrets,
            dead_letters: None,
            report_base_url: None,
            signing_key_secret: None,
            signing_key: None,
            signing_key_setting: "COSTKIT_SIGNING_KEY_SECRET_ARN".to_string(),
            platform: None,
        }
    }
}

/// An `Arc`'d publisher as a publisher (the core implements it for references only).
struct SharedPublisher(Arc<dyn Publisher>);

impl Publisher for SharedPublisher {
    fn publish(&self, p: &Publication) -> Result<(), PortError> {
        self.0.publish(p)
    }
}

/// The routing file and its channels, built once per batch (or per message).
pub struct Routes {
    /// The routing file (or the default).
    pub file: RoutingFile,
    channels: Vec<Box<dyn Channel>>,
    dead_letters: Option<Arc<dyn Queue>>,
    signing_key: Option<SigningKey>,
    report_base_url: Option<String>,
}

impl Routes {
    /// The built channel named `name`.
    pub fn channel(&self, name: &str) -> Option<&dyn Channel> {
        self.channels
            .iter()
            .find(|c| c.name() == name)
            .map(|c| c.as_ref())
    }

    /// A signed link to the report of `month` (`YYYY-MM`), when the shell can sign one.
    pub fn link(&self, month: &str, now: DateTime<Utc>) -> Option<String> {
        let key = self.signing_key.as_ref()?;
        let base = self.report_base_url.as_deref()?;
        let path = costkit_http::auth::sign_path(
            key,
            &format!("/reports/{month}.html"),
            now.timestamp() + LINK_VALIDITY_SECS,
        );
        Some(format!("{}{path}", base.trim_end_matches('/')))
    }

    fn dead_letters(&self) -> Option<&dyn Queue> {
        self.dead_letters.as_deref()
    }
}

fn invalid(e: impl std::fmt::Display) -> FlowError {
    FlowError::Invalid(e.to_string())
}

/// The routing that applies without a routing file: every finding at once to the alerts
/// publisher, on a channel named `name`.
pub fn default_routes(name: &str) -> RoutingFile {
    let mut file = RoutingFile::default_sns();
    for c in &mut file.channels {
        c.name = name.to_string();
    }
    for r in &mut file.routes {
        r.channel = name.to_string();
    }
    file
}

/// Reads the routing file (or the default) from `blobs` and builds its channels; `alerts` is the
/// publisher of `sns` channels without a `topic_arn`. Blocks: call it from a blocking thread
/// inside the runtime (HTTP channels block on it).
pub fn load_routes(
    blobs: &dyn BlobStore,
    alerts: Option<Arc<dyn Publisher>>,
    settings: &NotifySettings,
) -> Result<Routes, FlowError> {
    let key = &settings.routes_key;
    let file = match blobs.get_bytes(key) {
        Ok(bytes) => {
            let text =
                String::from_utf8(bytes).map_err(|_| invalid(format!("{key}: not UTF-8")))?;
            RoutingFile::parse(&text, key).map_err(invalid)?
        }
        Err(PortError::NotFound(_)) => default_routes(&settings.default_channel),
        Err(e) => return Err(e.into()),
    };
    let lookup = settings.secrets.clone();
    let secrets = move |id: &str| lookup(id);
    let mut channels: Vec<Box<dyn Channel>> = Vec::new();
    for spec in &file.channels {
        let what = |e: &dyn std::fmt::Display| {
            invalid(format!("{key}: channel `{}`: {e}", spec.name.as_str()))
        };
        let platform = settings
            .platform
            .as_ref()
            .and_then(|p| p.build(spec, &secrets));
        let ch = match platform {
            Some(built) => built.map_err(|e| what(&e))?,
            None => neutral_channel(spec, alerts.as_ref(), &secrets).map_err(|e| what(&e))?,
        };
        channels.push(ch);
    }
    let signing_key = match &settings.signing_key_secret {
        _ if settings.signing_key.is_some() => settings.signing_key.clone(),
        Some((setting, id)) => Some(SigningKey::new(
            secrets(id)
                .map_err(|e| invalid(format!("{setting}: {e}")))?
                .trim()
                .as_bytes()
                .to_vec(),
        )),
        None => None,
    };
    Ok(Routes {
        file,
        channels,
        dead_letters: settings.dead_letters.clone(),
        signing_key,
        report_base_url: settings.report_base_url.clone(),
    })
}

/// The channels every cloud has: the alerts publisher, Slack, Teams, webhooks, SMTP.
fn neutral_channel(
    spec: &ChannelSpec,
    alerts: Option<&Arc<dyn Publisher>>,
    secrets: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Box<dyn Channel>, String> {
    let name = spec.name.as_str();
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let handle = || {
        tokio::runtime::Handle::try_current()
            .map_err(|_| "no async runtime to send HTTP requests on".to_string())
    };
    Ok(match &spec.target {
        Target::Sns { topic_arn: None } => {
            let alerts = alerts.ok_or("this shell has no alerts topic or queue")?;
            Box::new(TopicChannel::new(name, SharedPublisher(alerts.clone())))
        }
        Target::Sns {
            topic_arn: Some(arn),
        } => {
            return Err(format!(
            "topic_arn `{arn}` names an SNS topic, which only the AWS functions can publish to; \
                 without topic_arn the channel publishes to this shell's alerts queue or topic"
        ))
        }
        Target::Email {
            transport: EmailTransport::Ses { .. },
            ..
        } => {
            return Err(
                "transport `ses` (Amazon SES) is only available on AWS; use `transport: smtp`"
                    .into(),
            )
        }
        Target::Email {
            transport:
                EmailTransport::Smtp {
                    host,
                    port,
                    tls,
                    username,
                    password,
                },
            from,
            to,
        } => {
            let credentials = match (username, password) {
                (Some(u), Some(p)) => Some((
                    resolve_setting(u, secrets)
                        .map_err(|x| e(&x))?
                        .expose()
                        .to_string(),
                    resolve(p, secrets).map_err(|x| e(&x))?,
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
                .map_err(|x| e(&x))?,
            )
        }
        Target::Slack { url } | Target::Teams { url } => Box::new(
            HttpChannel::new(
                name,
                spec.kind(),
                resolve_setting(url, secrets).map_err(|x| e(&x))?,
                None,
                ATTEMPT_TIMEOUT,
                handle()?,
            )
            .map_err(|x| e(&x))?,
        ),
        Target::Webhook {
            url,
            signing_secret,
        } => Box::new(
            HttpChannel::new(
                name,
                ChannelKind::Webhook,
                resolve_setting(url, secrets).map_err(|x| e(&x))?,
                Some(resolve(signing_secret, secrets).map_err(|x| e(&x))?),
                ATTEMPT_TIMEOUT,
                handle()?,
            )
            .map_err(|x| e(&x))?,
        ),
    })
}

/// Real waits and a real random source for the retries' jitter.
fn pacing() -> Pacing<'static> {
    Pacing {
        sleep: &std::thread::sleep,
        unit: &fastrand::f64,
    }
}

/// Routes one finding: sends it to its immediate channels, collects it into its digests.
/// Returns what happened per channel. Port failures are errors (the message is retried; receipts
/// keep channels that already got it from getting it twice); channel failures end in the dead
/// letter. Blocks.
pub fn route_finding(
    routes: &Routes,
    f: &Finding,
    state: &dyn StateStore,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Delivery)>, FlowError> {
    let month = format!("{:04}-{:02}", f.found_at.year(), f.found_at.month());
    let link = routes.link(&month, now);
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
                    routes.dead_letters(),
                    now,
                )?
            }
        };
        tracing::info!(finding_id = %f.id, channel = %spec.name, delivery = d.as_str(), "finding routed");
        out.push((spec.name.clone(), d));
    }
    Ok(out)
}

/// Sends every digest whose period ended at least [`DIGEST_GRACE`] before `now`. Blocks.
pub fn flush_digests(
    routes: &Routes,
    state: &dyn StateStore,
    now: DateTime<Utc>,
) -> Result<Vec<Flushed>, FlowError> {
    let channels: Vec<&dyn Channel> = routes.channels.iter().map(|c| c.as_ref()).collect();
    // A digest links to the report of the month its period ended in (yesterday's, as a rule).
    let yesterday = now - chrono::Duration::days(1);
    let month = format!("{:04}-{:02}", yesterday.year(), yesterday.month());
    let link = routes.link(&month, now);
    let done = flush_due(
        now,
        DIGEST_GRACE,
        &channels,
        link.as_deref(),
        state,
        &routes.file.retry,
        &pacing(),
        routes.dead_letters(),
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
}

/// The summary of a finding's deliveries: `{"deliveries": {"<channel>": "sent", …}}`.
pub fn deliveries_summary(done: &[(String, Delivery)]) -> Value {
    let map: serde_json::Map<String, Value> = done
        .iter()
        .map(|(c, d)| (c.clone(), Value::String(d.as_str().to_string())))
        .collect();
    json!({ "deliveries": map })
}

/// The summary of a flush: `{"digests": [{"channel", "cadence", "start", "findings", "delivery"}]}`.
pub fn digests_summary(done: &[Flushed]) -> Value {
    json!({
        "digests": done.iter().map(|d| json!({
            "channel": d.digest.channel,
            "cadence": d.digest.cadence.as_str(),
            "start": d.digest.start,
            "findings": d.count,
            "delivery": d.delivery.as_str(),
        })).collect::<Vec<_>>()
    })
}

/// One finding end to end, off the runtime: routes loaded, the finding routed; the summary.
pub async fn notify_finding(
    blobs: Arc<dyn BlobStore>,
    state: Arc<dyn StateStore>,
    alerts: Option<Arc<dyn Publisher>>,
    settings: NotifySettings,
    f: Finding,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    crate::blocking(move || {
        let routes = load_routes(&*blobs, alerts, &settings)?;
        let done = route_finding(&routes, &f, &*state, now)?;
        Ok(deliveries_summary(&done))
    })
    .await
}

/// The scheduled digest run, off the runtime: routes loaded, due digests sent; the summary.
pub async fn flush(
    blobs: Arc<dyn BlobStore>,
    state: Arc<dyn StateStore>,
    alerts: Option<Arc<dyn Publisher>>,
    settings: NotifySettings,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    crate::blocking(move || {
        let routes = load_routes(&*blobs, alerts, &settings)?;
        let done = flush_digests(&routes, &*state, now)?;
        Ok(digests_summary(&done))
    })
    .await
}

/// Sends a scheduled report to every channel that takes it (see
/// [`report_destinations`](crate::notify::report_destinations)), once per (report, channel):
/// a receipt `delivery/<channel>/<report id>` makes a second run a no-op. Blocks.
pub fn route_report(
    routes: &Routes,
    report: &costkit_core::notify::ReportNotice,
    link: &str,
    state: &dyn StateStore,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Delivery)>, FlowError> {
    let mut out = Vec::new();
    for name in report_destinations(&routes.file) {
        let ch = routes
            .channel(&name)
            .ok_or_else(|| invalid(format!("channel `{name}` was not built")))?;
        let notice = Notice {
            content: Content::Report(report),
            link: Some(link),
        };
        let d = send(
            ch,
            &notice,
            state,
            &routes.file.retry,
            &pacing(),
            routes.dead_letters(),
            now,
        )?;
        tracing::info!(report = %report.id, channel = %name, delivery = d.as_str(), "report routed");
        out.push((name, d));
    }
    Ok(out)
}

/// The channels a scheduled report goes to: those with a route that would take an `info`
/// finding of any kind and any scope (no `kinds`, no `scope`, `min_severity: info`), in file
/// order, each once. A route's digest mode does not apply: a report is already a summary.
pub fn report_destinations(file: &RoutingFile) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in &file.routes {
        let takes_all = r.kinds.is_empty()
            && r.scope.is_empty()
            && r.min_severity == costkit_core::flow::messages::Severity::Info;
        if takes_all && !out.contains(&r.channel) {
            out.push(r.channel.clone());
        }
    }
    out
}

/// The signed link to `path` for a scheduled report: errors name the missing setting, since a
/// report email without a working link is not what was scheduled.
pub fn required_link(
    routes: &Routes,
    settings: &NotifySettings,
    path: &str,
    now: DateTime<Utc>,
) -> Result<String, FlowError> {
    let base = routes.report_base_url.as_deref().ok_or_else(|| {
        invalid("COSTKIT_REPORT_BASE_URL is not set: scheduled reports need the report API's public base URL for their signed link")
    })?;
    let key = routes.signing_key.as_ref().ok_or_else(|| {
        invalid(format!(
            "{} is not set: scheduled reports need the report signing key for their signed link",
            settings
                .signing_key_secret
                .as_ref()
                .map_or(settings.signing_key_setting.as_str(), |(s, _)| s.as_str())
        ))
    })?;
    let path = costkit_http::auth::sign_path(key, path, now.timestamp() + LINK_VALIDITY_SECS);
    Ok(format!("{}{path}", base.trim_end_matches('/')))
}
