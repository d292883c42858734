//! costkit on Google Cloud: one **Cloud Run** service (axum on `$PORT`) serving every step.
//!
//! | route | caller | does |
//! |---|---|---|
//! | `POST /scheduler/ingest` | Cloud Scheduler (daily; body `{"start","end"}` for a backfill) | billing export in BigQuery → raw pages → `normalize` topic |
//! | `POST /scheduler/report/weekly` | Cloud Scheduler (Mondays) | the month to date's report (HTML, CSV) written to `reports/weekly/` in the bucket and sent to the routed channels with a signed 7-day link, once per week and channel |
//! | `POST /scheduler/report/monthly` | Cloud Scheduler (the 1st) | last month's report, the same way, under `reports/monthly/` |
//! | `POST /scheduler/notify-digest` | Cloud Scheduler (daily) | the daily/weekly notification digests whose period ended |
//! | `POST /pubsub/normalize` | push subscription on the normalize topic | one part → FOCUS Parquet, staged aggregates; the last part loads the store → `data_updated` topic |
//! | `POST /pubsub/budget-check` | push subscription on the data-updated topic | budgets → findings topic |
//! | `POST /pubsub/anomaly` | a second push subscription on the data-updated topic | monitors → findings topic |
//! | `POST /pubsub/notify` | push subscription on the findings topic | finding → the channels of the routing file `config/notify.yaml` (Slack, Teams, webhooks, SMTP, the alerts topic; without the file, the alerts topic), once per channel (receipts in Firestore) |
//! | `POST /pubsub/budget-notification` | push subscription on a Cloud Billing budget's topic | a crossed threshold → findings topic (status updates ignored) |
//! | `GET /reports/…`, `/focus/…`, `/dashboard`, `/healthz` | people, scripts | the shared report router (`costkit-http`) |
//!
//! Each step is the shell-neutral code of `costkit-shell`; this crate only reads the platform's
//! requests (Cloud Scheduler's HTTP target, Pub/Sub's push envelope) and wires the ports.
//!
//! **Push answers.** Pub/Sub acknowledges a push on 102/200/201/202/204 and redelivers on anything
//! else (with the subscription's retry backoff, until its dead-letter policy's maximum attempts).
//! So: success → 200; a message that can never succeed (not base64, not a costkit message, bad
//! data such as an invalid budgets file or a malformed billing file) is copied to the dead-letter
//! topic at once and acknowledged with 200 (retrying it five or more times would change nothing),
//! logged with its `messageId`; a transient failure (store, bucket or topic unavailable) answers
//! 503 so Pub/Sub retries it; a request that is not a push envelope answers 400 (it did not come
//! from Pub/Sub). The same `messageId` delivered twice changes nothing: every step is idempotent
//! (`docs/architecture.md`, "Idempotency and ordering").
//!
//! **Push authentication.** With `COSTKIT_PUSH_AUDIENCE` set, every `/scheduler/…` and
//! `/pubsub/…` request must carry a Google-signed OIDC token for that audience ([`push_auth`]);
//! otherwise 401 and nothing runs.

pub mod push_auth;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use costkit_core::budget::gcp_notification::BudgetNotification;
use costkit_core::flow::ingest::CostSource;
use costkit_core::flow::messages::Message;
use costkit_core::flow::FlowError;
use costkit_core::ports::Queue;
use costkit_core::store::CostStore;
use costkit_gcp::bigquery::SourceSettings;
use costkit_gcp::firestore::Firestore;
use costkit_gcp::gcs::Bucket;
use costkit_gcp::ports::{GcsBlobs, PubSubPublisher, PubSubQueue};
use costkit_gcp::pubsub::Topic;
use costkit_gcp::state::FirestoreState;
use costkit_gcp::{FirestoreStore, Gcp, GcpError, RetryPolicy};
use costkit_http::ApiConfig;
use costkit_shell::consume::{run_body, settle, Consumed, OpenEach, Ports, StepSettings, STEPS};
use costkit_shell::env_var as var;
use costkit_shell::notify::NotifySettings;
use costkit_shell::report::{self, ReportCadence, ScheduledReportEnv};
use serde_json::{json, Value};
use tokio::runtime::Handle;

use costkit_gcp::pubsub::PushEnvelope;
use push_auth::{PushAuth, PushAuthConfig, PushAuthError, GOOGLE_JWKS_URL};

/// The channel name in delivery receipts without a routing file (`delivery/pubsub/<finding id>`).
pub const CHANNEL: &str = "pubsub";

/// The route of Cloud Billing budget notifications (`/pubsub/budget-notification`).
pub const BUDGET_NOTIFICATION: &str = "budget-notification";

/// Settings (environment variables of the Cloud Run service; defaults match `infra/gcp`).
#[derive(Clone, Debug)]
pub struct Config {
    /// `COSTKIT_FIRESTORE_DATABASE` (default `(default)`).
    pub firestore_database: String,
    /// `COSTKIT_FIRESTORE_ROOT` (default `costkit`): the store's root collection; state items
    /// live in `<root>_state`.
    pub firestore_root: String,
    /// `COSTKIT_BUCKET`: raw pages, staged aggregates, FOCUS files, config, reports.
    pub bucket: Option<String>,
    /// `COSTKIT_NORMALIZE_TOPIC` (default `costkit-normalize`).
    pub normalize_topic: String,
    /// `COSTKIT_DATA_UPDATED_TOPIC` (default `costkit-data-updated`; the budget-check and anomaly
    /// subscriptions both receive it).
    pub data_updated_topic: String,
    /// `COSTKIT_FINDINGS_TOPIC` (default `costkit-findings`).
    pub findings_topic: String,
    /// `COSTKIT_ALERTS_TOPIC` (default `costkit-alerts`): where notify publishes; people
    /// subscribe (email, chat) with filters on the `kind`/`severity` attributes.
    pub alerts_topic: String,
    /// `COSTKIT_DEAD_LETTER_TOPIC` (default `costkit-dead-letter`): messages that can never
    /// succeed; also the subscriptions' dead-letter topic in `infra/gcp`.
    pub dead_letter_topic: String,
    /// `COSTKIT_HISTORY_MONTHS` (default 13, at most 60).
    pub history_months: u32,
    /// `COSTKIT_BUDGETS_KEY` (default `config/budgets.yaml`).
    pub budgets_key: String,
    /// `COSTKIT_MONITORS_KEY` (default `config/monitors.yaml`).
    pub monitors_key: String,
    /// The report's rules, teams and actions files in the bucket (`COSTKIT_RULES_KEY`,
    /// `COSTKIT_TEAMS_KEY`, `COSTKIT_ACTIONS_KEY`) and `COSTKIT_REPORT_IDLE`.
    pub report_files: costkit_shell::report::ReportFiles,
    /// `COSTKIT_NOTIFY_ROUTES_KEY` (default `config/notify.yaml`): the notification routing file
    /// (`docs/notifications.md`); `{secret: <variable>, key: …}` references in it read a JSON
    /// variable filled from Secret Manager (`COSTKIT_NOTIFY_SECRETS` in `infra/gcp`).
    pub notify_routes_key: String,
    /// `COSTKIT_NOTIFY_DEAD_LETTER_TOPIC` (default `costkit-notify-dead-letter`): deliveries
    /// that gave up (also kept in Firestore under `deadletter/<channel>/<id>`).
    pub notify_dead_letter_topic: String,
    /// `COSTKIT_REPORT_AUTH`: `PLATFORM` (the service requires IAM: Cloud Run checked the
    /// caller), `API_KEY` (hashes in `COSTKIT_REPORT_API_KEYS`), else closed.
    pub report_auth: Option<String>,
    /// `COSTKIT_REPORT_API_KEYS`: `{"keys":[{"id","sha256"}]}` (a Secret Manager secret
    /// exposed as a variable).
    pub report_api_keys: Option<String>,
    /// Push authentication: `COSTKIT_PUSH_AUDIENCE`, `COSTKIT_PUSH_SERVICE_ACCOUNT`,
    /// `COSTKIT_PUSH_JWKS_URL`. Unset: the platform is trusted (the service requires IAM).
    pub push: Option<PushAuthConfig>,
    /// `COSTKIT_REPORT_BASE_URL`: where signed report links point (the service's URL).
    /// Scheduled reports need it.
    pub report_base_url: Option<String>,
    /// `COSTKIT_REPORT_SIGNING_KEY` (a Secret Manager secret exposed as a variable): signs the
    /// links in messages and scheduled reports, and the report routes accept links signed with
    /// it. Scheduled reports need it. Its `Debug` shows no key. An unusable value (shorter than
    /// 32 bytes) is kept as its error: logged at start, no links, and the report runs fail with
    /// it, while everything else runs.
    pub signing_key: report::LinkKey,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            firestore_database: "(default)".into(),
            firestore_root: "costkit".into(),
            bucket: None,
            normalize_topic: "costkit-normalize".into(),
            data_updated_topic: "costkit-data-updated".into(),
            findings_topic: "costkit-findings".into(),
            alerts_topic: "costkit-alerts".into(),
            dead_letter_topic: "costkit-dead-letter".into(),
            history_months: 13,
            budgets_key: "config/budgets.yaml".into(),
            monitors_key: "config/monitors.yaml".into(),
            report_files: costkit_shell::report::ReportFiles::default(),
            notify_routes_key: "config/notify.yaml".into(),
            notify_dead_letter_topic: "costkit-notify-dead-letter".into(),
            report_auth: None,
            report_api_keys: None,
            push: None,
            report_base_url: None,
            signing_key: Ok(None),
        }
    }
}

impl Config {
    /// Reads the environment; only malformed values fail here.
    pub fn from_env() -> anyhow::Result<Config> {
        let d = Config::default();
        let push = var("COSTKIT_PUSH_AUDIENCE").map(|audience| PushAuthConfig {
            audience,
            service_account: var("COSTKIT_PUSH_SERVICE_ACCOUNT"),
            jwks_url: var("COSTKIT_PUSH_JWKS_URL").unwrap_or_else(|| GOOGLE_JWKS_URL.into()),
        });
        Ok(Config {
            firestore_database: var("COSTKIT_FIRESTORE_DATABASE").unwrap_or(d.firestore_database),
            firestore_root: var("COSTKIT_FIRESTORE_ROOT").unwrap_or(d.firestore_root),
            bucket: var("COSTKIT_BUCKET"),
            normalize_topic: var("COSTKIT_NORMALIZE_TOPIC").unwrap_or(d.normalize_topic),
            data_updated_topic: var("COSTKIT_DATA_UPDATED_TOPIC").unwrap_or(d.data_updated_topic),
            findings_topic: var("COSTKIT_FINDINGS_TOPIC").unwrap_or(d.findings_topic),
            alerts_topic: var("COSTKIT_ALERTS_TOPIC").unwrap_or(d.alerts_topic),
            dead_letter_topic: var("COSTKIT_DEAD_LETTER_TOPIC").unwrap_or(d.dead_letter_topic),
            history_months: costkit_shell::env_months(
                "COSTKIT_HISTORY_MONTHS",
                60,
                d.history_months,
            )?,
            budgets_key: var("COSTKIT_BUDGETS_KEY").unwrap_or(d.budgets_key),
            monitors_key: var("COSTKIT_MONITORS_KEY").unwrap_or(d.monitors_key),
            report_files: costkit_shell::report::ReportFiles::from_env("_KEY")?,
            notify_routes_key: var("COSTKIT_NOTIFY_ROUTES_KEY").unwrap_or(d.notify_routes_key),
            notify_dead_letter_topic: var("COSTKIT_NOTIFY_DEAD_LETTER_TOPIC")
                .unwrap_or(d.notify_dead_letter_topic),
            report_auth: var("COSTKIT_REPORT_AUTH"),
            report_api_keys: var("COSTKIT_REPORT_API_KEYS"),
            push,
            report_base_url: report::base_url(
                report::BASE_URL_VAR,
                var(report::BASE_URL_VAR).as_deref(),
            )?,
            signing_key: report::link_key(
                report::SIGNING_KEY_VAR,
                var(report::SIGNING_KEY_VAR).as_deref(),
            ),
        })
    }
}

/// The ports the routes run over, as the wiring builds them (the GCP adapters in production,
/// the core's local ports and SQLite in tests).
#[derive(Clone)]
pub struct Wiring {
    /// What the queue-driven steps use (bucket, state, store, topics).
    pub ports: Ports,
    /// The normalize topic (ingest publishes jobs).
    pub normalize: Arc<dyn Queue>,
    /// The dead-letter topic.
    pub dead_letter: Arc<dyn Queue>,
    /// The billing data source of the scheduled ingest (absent: ingest fails and says why).
    pub source: Option<Arc<dyn CostSource>>,
}

/// What the server keeps between requests.
#[derive(Clone)]
pub struct App {
    /// Settings.
    pub config: Arc<Config>,
    /// The ports.
    pub wiring: Wiring,
    /// The push token verifier, when `COSTKIT_PUSH_AUDIENCE` is set.
    pub push_auth: Option<Arc<PushAuth>>,
}

impl Wiring {
    /// The Google Cloud ports for `config` on `gcp` (Firestore, Cloud Storage, Pub/Sub, the
    /// BigQuery billing export from `COSTKIT_BILLING_TABLE`); their calls run on `handle`.
    pub fn gcp(config: &Config, gcp: &Gcp, handle: Handle) -> anyhow::Result<Wiring> {
        let bucket = config
            .bucket
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("COSTKIT_BUCKET is not set"))?;
        let root = &config.firestore_root;
        let db = Firestore::with_database(gcp, &config.firestore_database);
        let store = FirestoreStore::with_db(db.clone(), root, handle.clone())?;
        let state = FirestoreState::with_db(db, &format!("{root}_state"), handle.clone())?;
        let topic =
            |t: &str| -> Arc<dyn Queue> { Arc::new(PubSubQueue::new(gcp, t, handle.clone())) };
        let source = match SourceSettings::from_vars(costkit_shell::env_var)? {
            Some(s) => {
                Some(Arc::new(s.source(gcp.clone(), handle.clone())?) as Arc<dyn CostSource>)
            }
            None => None,
        };
        Ok(Wiring {
            ports: Ports {
                blobs: Arc::new(GcsBlobs::new(gcp, bucket, handle.clone())),
                state: Arc::new(state),
                store: Arc::new(move || Ok(Box::new(store.clone()) as Box<dyn CostStore + Send>)),
                analysis: topic(&config.data_updated_topic),
                findings: topic(&config.findings_topic),
                alerts: Arc::new(PubSubPublisher::new(
                    gcp,
                    &config.alerts_topic,
                    handle.clone(),
                )),
                notify: notify_settings(config, Some(topic(&config.notify_dead_letter_topic))),
            },
            normalize: topic(&config.normalize_topic),
            dead_letter: topic(&config.dead_letter_topic),
            source,
        })
    }
}

/// The notify step's settings for `config`: the routing file in the bucket, secrets from the
/// environment (Cloud Run fills the variables from Secret Manager), dead letters to
/// `dead_letters` (the notification dead-letter topic), the report link's base URL and key.
pub fn notify_settings(config: &Config, dead_letters: Option<Arc<dyn Queue>>) -> NotifySettings {
    let mut s = NotifySettings::new(
        &config.notify_routes_key,
        CHANNEL,
        costkit_shell::notify::env_secrets(),
    );
    s.dead_letters = dead_letters;
    s.report_base_url = config.report_base_url.clone();
    s.signing_key = config.signing_key.clone().ok().flatten();
    s.signing_key_setting = report::SIGNING_KEY_VAR.to_string();
    s
}

/// Creates the bucket and the topics of `config` if they are missing: for emulators and first
/// local runs (`infra/gcp` creates them in Google Cloud, with the push subscriptions).
pub async fn ensure_resources(config: &Config, gcp: &Gcp) -> Result<(), GcpError> {
    if let Some(b) = &config.bucket {
        Bucket::new(gcp, b).create().await?;
    }
    for t in [
        &config.normalize_topic,
        &config.data_updated_topic,
        &config.findings_topic,
        &config.alerts_topic,
        &config.dead_letter_topic,
        &config.notify_dead_letter_topic,
    ] {
        Topic::new(gcp, t).create().await?;
    }
    Ok(())
}

impl App {
    /// The service from the environment, on the Google Cloud ports; call inside the runtime.
    pub async fn from_env() -> anyhow::Result<App> {
        let config = Config::from_env()?;
        let gcp = Gcp::from_env(RetryPolicy::default()).await?;
        // Local runs on the emulators start empty; in Google Cloud the IaC made everything.
        if var("COSTKIT_ENSURE_RESOURCES").is_some_and(|v| v == "1" || v == "true") {
            ensure_resources(&config, &gcp).await?;
        }
        let wiring = Wiring::gcp(&config, &gcp, Handle::current())?;
        App::new(config, wiring)
    }

    /// An app over given ports.
    pub fn new(config: Config, wiring: Wiring) -> anyhow::Result<App> {
        let push_auth = match &config.push {
            Some(p) => Some(Arc::new(PushAuth::new(p.clone())?)),
            None => None,
        };
        Ok(App {
            config: Arc::new(config),
            wiring,
            push_auth,
        })
    }

    fn settings(&self) -> StepSettings {
        StepSettings {
            budgets_key: self.config.budgets_key.clone(),
            monitors_key: self.config.monitors_key.clone(),
        }
    }
}

/// The report API settings of the service: the authentication the settings ask for (accepting
/// links signed with the signing key), the engines, the bucket's FOCUS files. Reads the monitors
/// file once, so call it at start-up.
pub async fn api_config(app: &App) -> anyhow::Result<ApiConfig> {
    let c = &app.config;
    let mut auth = report::report_auth(c.report_auth.as_deref(), c.report_api_keys.as_deref())?;
    if let Ok(Some(key)) = &c.signing_key {
        auth = auth.with_signing_key(key.clone());
    }
    let ports = &app.wiring.ports;
    let mut api = ApiConfig::new(auth);
    api.engines = report::engines(
        ports.blobs.clone(),
        Some(ports.state.clone()),
        &c.monitors_key,
        &c.report_files,
    )
    .await?;
    api.blobs = Some(ports.blobs.clone());
    // Slice owners: a month's FOCUS prefix holds every daily re-delivery.
    api.state = Some(ports.state.clone());
    Ok(api)
}

/// The service's router: the Cloud Scheduler and Pub/Sub routes, and the shared report router
/// ([`api_config`]) for everything else. Call it at start-up.
pub async fn router(app: App) -> anyhow::Result<Router> {
    let api = api_config(&app).await?;
    Ok(router_with(app, api))
}

/// The service's router with the report API settings `api` (tests fix its clock).
pub fn router_with(app: App, api: ApiConfig) -> Router {
    let reports = costkit_http::router(Arc::new(OpenEach(app.wiring.ports.store.clone())), api);
    let triggers = Router::new()
        .route("/scheduler/ingest", post(scheduler_ingest))
        .route("/scheduler/report/{cadence}", post(scheduler_report))
        .route("/scheduler/notify-digest", post(scheduler_notify_digest))
        .route("/pubsub/{step}", post(push))
        .with_state(app);
    triggers.merge(reports)
}

/// An error answer: the status and `{"error": "..."}`.
fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

/// A failed flow: 400 when retrying cannot help, 503 when it may.
fn flow_failure(what: &str, e: &FlowError) -> Response {
    let permanent = e.is_permanent();
    tracing::error!(what, permanent, error = %e, "request failed");
    let status = if permanent {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    error(status, format!("{what}: {e}"))
}

/// A scheduler route's answer: 200 with the run's summary, or the failure.
fn answer(what: &str, result: Result<Value, FlowError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => flow_failure(what, &e),
    }
}

/// Checks the push token when configured; `Err` is the answer to send.
async fn authorize(app: &App, headers: &HeaderMap, what: &str) -> Result<(), Response> {
    let Some(verifier) = &app.push_auth else {
        return Ok(());
    };
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match verifier.verify(header).await {
        Ok(claims) => {
            tracing::debug!(what, sub = %claims.sub, email = claims.email.as_deref().unwrap_or(""), "push token verified");
            Ok(())
        }
        Err(e @ PushAuthError::Keys { .. }) => {
            tracing::error!(what, error = %e, "push token not checked: keys unavailable");
            Err(error(StatusCode::SERVICE_UNAVAILABLE, e))
        }
        Err(e) => {
            tracing::warn!(what, error = %e, "push request refused");
            let mut r = error(StatusCode::UNAUTHORIZED, e);
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
            Err(r)
        }
    }
}

/// The run's clock: Cloud Scheduler's `X-CloudScheduler-ScheduleTime` (so a retried attempt of
/// the same run plans the same months and queues the same job ids), else now.
fn schedule_time(headers: &HeaderMap) -> DateTime<Utc> {
    headers
        .get("x-cloudscheduler-scheduletime")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc3339(v.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

/// The scheduled ingest. An empty body is the daily run; `{"start":"2024-08-01","end":
/// "2024-10-01"}` (end exclusive) a backfill (`gcloud scheduler jobs run` with a one-off job, or
/// any authorized POST).
async fn scheduler_ingest(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&app, &headers, "ingest").await {
        return r;
    }
    let now = schedule_time(&headers);
    let result = async {
        let detail: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| FlowError::Invalid(format!("request body: {e}")))?
        };
        let request = costkit_shell::backfill_request(&detail)?;
        let source = app.wiring.source.clone().ok_or_else(|| {
            FlowError::Invalid("no billing source: set COSTKIT_BILLING_TABLE".into())
        })?;
        let (blobs, queue) = (app.wiring.ports.blobs.clone(), app.wiring.normalize.clone());
        let months = app.config.history_months;
        costkit_shell::blocking(move || {
            costkit_shell::scheduled_ingest(&*source, &*blobs, &*queue, &request, months, now)
        })
        .await
    }
    .await;
    answer("ingest", result)
}

/// The scheduled weekly or monthly report (`/scheduler/report/weekly`, `…/monthly`;
/// `costkit_shell::report::scheduled_report_run`): the month's report rendered to
/// `reports/<cadence>/<run>/` in the bucket and sent to the routed channels (the alerts topic
/// without a routing file) with a link signed for 7 days, once per run and channel (a retried
/// attempt has the same schedule time, so the same run). Without `COSTKIT_REPORT_BASE_URL` or
/// `COSTKIT_REPORT_SIGNING_KEY` it answers 400 naming the setting, before anything is rendered.
async fn scheduler_report(
    State(app): State<App>,
    Path(cadence): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&app, &headers, "report").await {
        return r;
    }
    let result = async {
        let cadence = ReportCadence::parse(&cadence)?;
        if let Err(why) = &app.config.signing_key {
            return Err(FlowError::Invalid(why.clone()));
        }
        let p = app.wiring.ports.clone();
        let engines = report::engines(
            p.blobs.clone(),
            Some(p.state.clone()),
            &app.config.monitors_key,
            &app.config.report_files,
        )
        .await
        .map_err(|e| FlowError::Invalid(e.to_string()))?;
        let env = ScheduledReportEnv {
            store: Arc::new(OpenEach(p.store.clone())),
            blobs: p.blobs,
            state: p.state,
            alerts: Some(p.alerts),
            settings: p.notify,
            engines,
        };
        report::scheduled_report_run(env, cadence, schedule_time(&headers)).await
    }
    .await;
    answer("scheduled report", result)
}

/// The digest run (daily): every daily or weekly digest whose period ended is sent.
async fn scheduler_notify_digest(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Err(r) = authorize(&app, &headers, "notify-digest").await {
        return r;
    }
    let p = app.wiring.ports.clone();
    let result = costkit_shell::notify::flush(
        p.blobs,
        p.state,
        Some(p.alerts),
        p.notify,
        schedule_time(&headers),
    )
    .await;
    answer("notify digest", result)
}

/// A Pub/Sub push to `/pubsub/{step}`.
async fn push(
    State(app): State<App>,
    Path(step): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !STEPS.contains(&step.as_str()) && step != BUDGET_NOTIFICATION {
        return error(StatusCode::NOT_FOUND, format!("no step `{step}`"));
    }
    if let Err(r) = authorize(&app, &headers, &step).await {
        return r;
    }
    let envelope: PushEnvelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            let m = format!("not a Pub/Sub push request ({{\"message\":{{\"data\",\"messageId\",...}},\"subscription\"}}): {e}");
            tracing::warn!(step, error = %m, "push refused");
            return error(StatusCode::BAD_REQUEST, m);
        }
    };
    let m = &envelope.message;
    tracing::info!(step, message_id = %m.message_id, subscription = %envelope.subscription, delivery_attempt = envelope.delivery_attempt, "push received");
    // The publish time is the step's clock: a redelivery evaluates the same moment.
    let now = DateTime::parse_from_rfc3339(&m.publish_time)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    let text = m.bytes().map_err(|e| e.to_string()).and_then(|b| {
        String::from_utf8(b).map_err(|_| format!("message {}: data is not UTF-8", m.message_id))
    });
    let (result, text) = match text {
        Ok(text) if step == BUDGET_NOTIFICATION => (
            budget_notification(&app, &text, &m.attributes, now).await,
            text,
        ),
        Ok(text) => (
            run_body(&step, &text, &app.wiring.ports, &app.settings(), now).await,
            text,
        ),
        Err(why) => (Err(FlowError::Invalid(why)), m.data.clone()),
    };
    let outcome = settle(
        &step,
        result,
        &text,
        &m.message_id,
        app.wiring.dead_letter.clone(),
        &app.config.dead_letter_topic,
    )
    .await;
    match outcome {
        Ok(Consumed::Done(v)) => {
            Json(json!({"messageId": m.message_id, "result": v})).into_response()
        }
        Ok(Consumed::DeadLettered(why)) => {
            Json(json!({"messageId": m.message_id, "deadLettered": why})).into_response()
        }
        Err(e) => flow_failure(&step, &e),
    }
}

/// A Cloud Billing budget notification: a crossed threshold becomes a finding on the findings
/// topic (its id is stable per budget, interval and threshold, so the notify step sends each
/// crossing once however often Google repeats it); a status update is acknowledged and dropped.
async fn budget_notification(
    app: &App,
    text: &str,
    attributes: &std::collections::BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    let notification = BudgetNotification::parse(text.as_bytes(), attributes)
        .map_err(|e| FlowError::Invalid(e.to_string()))?;
    let Some(finding) = notification.finding(now) else {
        tracing::info!(budget = %notification.budget_name, budget_id = %notification.budget_id, "budget status update: no threshold crossed");
        return Ok(json!({"finding": null}));
    };
    let msg = Message::Finding(finding);
    let findings = app.wiring.ports.findings.clone();
    let (body, id) = (msg.to_json(), msg.dedup_id());
    let sent = id.clone();
    costkit_shell::blocking(move || Ok(findings.send(&body, &id)?)).await?;
    tracing::info!(finding_id = %sent, budget = %notification.budget_name, "budget notification forwarded");
    Ok(json!({"finding": sent}))
}
