//! costkit on Azure Functions as a **custom handler**: one HTTP server (axum) on
//! `FUNCTIONS_CUSTOMHANDLER_PORT` serves every function; the Functions host POSTs each invocation
//! to `/{function name}` and reads back `Outputs`/`Logs`/`ReturnValue` ([`invocation`]).
//!
//! | function | trigger | does |
//! |---|---|---|
//! | `ingest` | timer (daily) | Cost Management query of the month(s) → raw blob → `normalize` job |
//! | `normalize` | queue `costkit-normalize` | one part → FOCUS Parquet, staged aggregates; the last part loads the store → `data_updated` to the budget and anomaly queues |
//! | `budget-check` | queue `costkit-budget` | budgets → findings queue |
//! | `anomaly` | queue `costkit-anomaly` | monitors → findings queue |
//! | `notify` | queue `costkit-findings` | finding → the channels of the routing file `config/notify.yaml` (Slack, Teams, webhooks, SMTP, the alerts queue; without the file, the alerts queue), once per channel |
//! | `notify-digest` | timer (daily) | the daily/weekly digests whose period ended |
//! | `export` | queue `costkit-exports` (Event Grid `BlobCreated`) | a cost export run's `manifest.json` → one normalize job, a part per data file |
//! | `report` | HTTP `GET /api/reports/{file}` (function key) | the shared report router (`costkit-http`) |
//! | `report-link` | HTTP `GET /api/link/reports/{file}` (no function key) | signed links only (the links emails and chat messages carry): anything unsigned answers 401 |
//! | `report-weekly` | timer (Mondays) | the month to date's report (HTML, CSV) written to `reports/weekly/` and sent to the routed channels with a signed 7-day link, once per week and channel |
//! | `report-monthly` | timer (the 1st) | last month's report, the same way, under `reports/monthly/` |
//!
//! Each step is the shell-neutral code of `costkit-shell` over the ports of `costkit-azure`; this
//! crate only parses the host's payloads and wires the ports. A failed queue invocation answers
//! 500, so the host retries it and moves it to `<queue>-poison` after `maxDequeueCount`; a message
//! that can never succeed (bad data, bad message) goes to `<queue>-poison` at once and the
//! invocation succeeds, as SQS's dead-letter queue does on AWS.

pub mod invocation;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use costkit_azure::auth::{TokenSource, ARM_RESOURCE};
use costkit_azure::cost_management::{CmSource, CostManagement, ARM_ENDPOINT};
use costkit_azure::http::RetryPolicy;
use costkit_azure::ports::{AzBlobs, AzQueue, FanOut, QueuePublisher, TableState};
use costkit_azure::{Storage, TableStore};
use costkit_core::flow::messages::Message;
use costkit_core::flow::FlowError;
use costkit_core::ports::{BlobStore, Queue};
use costkit_core::store::CostStore;
use costkit_http::{ApiConfig, Auth, SharedStore};
use costkit_shell::consume::{run_body, settle, Consumed, Ports, StepSettings};
use costkit_shell::notify::NotifySettings;
use costkit_shell::report::{self, ReportCadence, ScheduledReportEnv};
use serde_json::{json, Map, Value};
use tokio::runtime::Handle;

use invocation::{InvocationRequest, InvocationResponse};

/// The channel name in delivery receipts without a routing file (`delivery/queue/<finding id>`).
pub const CHANNEL: &str = "queue";

/// Settings (app settings of the Function App; defaults match `infra/azure`).
#[derive(Clone, Debug)]
pub struct Config {
    /// `COSTKIT_TABLE`: the store and state table.
    pub table: String,
    /// `COSTKIT_CONTAINER`: raw pages, staged aggregates, FOCUS files, config, reports.
    pub container: String,
    /// `COSTKIT_NORMALIZE_QUEUE`.
    pub normalize_queue: String,
    /// `COSTKIT_BUDGET_QUEUE` (receives `data_updated`).
    pub budget_queue: String,
    /// `COSTKIT_ANOMALY_QUEUE` (receives `data_updated`).
    pub anomaly_queue: String,
    /// `COSTKIT_FINDINGS_QUEUE`.
    pub findings_queue: String,
    /// `COSTKIT_ALERTS_QUEUE`: where notify publishes.
    pub alerts_queue: String,
    /// `COSTKIT_EXPORTS_QUEUE`: Event Grid `BlobCreated` events of the data container.
    pub exports_queue: String,
    /// `COSTKIT_COST_SCOPE`: the Cost Management scope ingest queries.
    pub cost_scope: Option<String>,
    /// `COSTKIT_COST_MANAGEMENT_ENDPOINT` (default `https://management.azure.com`).
    pub cost_management_endpoint: String,
    /// `COSTKIT_COST_GROUPING` (default `ServiceName,SubscriptionId`; at most two).
    pub cost_grouping: Vec<String>,
    /// `COSTKIT_HISTORY_MONTHS` (Cost Management serves 37 months; default 13).
    pub history_months: u32,
    /// `COSTKIT_BUDGETS_KEY` (default `config/budgets.yaml`).
    pub budgets_key: String,
    /// `COSTKIT_MONITORS_KEY` (default `config/monitors.yaml`).
    pub monitors_key: String,
    /// The report's rules, teams and actions files in the container (`COSTKIT_RULES_KEY`,
    /// `COSTKIT_TEAMS_KEY`, `COSTKIT_ACTIONS_KEY`) and `COSTKIT_REPORT_IDLE`.
    pub report_files: costkit_shell::report::ReportFiles,
    /// `COSTKIT_NOTIFY_ROUTES_KEY` (default `config/notify.yaml`): the notification routing file
    /// (`docs/notifications.md`); `{secret: <app setting>, key: …}` references in it read a JSON
    /// app setting (a Key Vault reference, `COSTKIT_NOTIFY_SECRETS` in `infra/azure`).
    pub notify_routes_key: String,
    /// `COSTKIT_NOTIFY_DEAD_LETTER_QUEUE` (default `costkit-notify-dead-letter`): deliveries that
    /// gave up (also kept in the table under `deadletter/<channel>/<id>`).
    pub notify_dead_letter_queue: String,
    /// `COSTKIT_REPORT_AUTH`: `PLATFORM` (the function key / Easy Auth checked the caller),
    /// `API_KEY` (hashes in `COSTKIT_REPORT_API_KEYS`, a Key Vault reference), else closed.
    pub report_auth: Option<String>,
    /// `COSTKIT_REPORT_API_KEYS`: `{"keys":[{"id","sha256"}]}`.
    pub report_api_keys: Option<String>,
    /// `COSTKIT_REPORT_BASE_URL`: where signed report links point, the `report-link` function's
    /// base (`https://<app>.azurewebsites.net/api/link`). Scheduled reports need it.
    pub report_base_url: Option<String>,
    /// `COSTKIT_REPORT_SIGNING_KEY` (a Key Vault reference): signs the links in messages and
    /// scheduled reports, and the report functions accept links signed with it. Scheduled reports
    /// need it. Its `Debug` shows no key. An unusable value (shorter than 32 bytes, an
    /// unresolved Key Vault reference) is kept as its error: logged at start, no links, and the
    /// report runs fail with it, while everything else runs.
    pub signing_key: report::LinkKey,
}

use costkit_shell::env_var as var;

impl Default for Config {
    fn default() -> Self {
        Config {
            table: "costkit".into(),
            container: "costkit".into(),
            normalize_queue: "costkit-normalize".into(),
            budget_queue: "costkit-budget".into(),
            anomaly_queue: "costkit-anomaly".into(),
            findings_queue: "costkit-findings".into(),
            alerts_queue: "costkit-alerts".into(),
            exports_queue: "costkit-exports".into(),
            cost_scope: None,
            cost_management_endpoint: ARM_ENDPOINT.into(),
            cost_grouping: CmSource::default_grouping(),
            history_months: 13,
            budgets_key: "config/budgets.yaml".into(),
            monitors_key: "config/monitors.yaml".into(),
            report_files: costkit_shell::report::ReportFiles::default(),
            notify_routes_key: "config/notify.yaml".into(),
            notify_dead_letter_queue: "costkit-notify-dead-letter".into(),
            report_auth: None,
            report_api_keys: None,
            report_base_url: None,
            signing_key: Ok(None),
        }
    }
}

impl Config {
    /// Reads the environment; only malformed values fail here.
    pub fn from_env() -> anyhow::Result<Config> {
        let d = Config::default();
        let history_months =
            costkit_shell::env_months("COSTKIT_HISTORY_MONTHS", 37, d.history_months)?;
        let cost_grouping = match var("COSTKIT_COST_GROUPING") {
            Some(v) => {
                let g: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if g.len() > 2 {
                    anyhow::bail!("COSTKIT_COST_GROUPING: `{v}`: Cost Management groups by at most 2 dimensions");
                }
                g
            }
            None => d.cost_grouping,
        };
        Ok(Config {
            table: var("COSTKIT_TABLE").unwrap_or(d.table),
            container: var("COSTKIT_CONTAINER").unwrap_or(d.container),
            normalize_queue: var("COSTKIT_NORMALIZE_QUEUE").unwrap_or(d.normalize_queue),
            budget_queue: var("COSTKIT_BUDGET_QUEUE").unwrap_or(d.budget_queue),
            anomaly_queue: var("COSTKIT_ANOMALY_QUEUE").unwrap_or(d.anomaly_queue),
            findings_queue: var("COSTKIT_FINDINGS_QUEUE").unwrap_or(d.findings_queue),
            alerts_queue: var("COSTKIT_ALERTS_QUEUE").unwrap_or(d.alerts_queue),
            exports_queue: var("COSTKIT_EXPORTS_QUEUE").unwrap_or(d.exports_queue),
            cost_scope: var("COSTKIT_COST_SCOPE"),
            cost_management_endpoint: var("COSTKIT_COST_MANAGEMENT_ENDPOINT")
                .unwrap_or(d.cost_management_endpoint),
            cost_grouping,
            history_months,
            budgets_key: var("COSTKIT_BUDGETS_KEY").unwrap_or(d.budgets_key),
            monitors_key: var("COSTKIT_MONITORS_KEY").unwrap_or(d.monitors_key),
            report_files: costkit_shell::report::ReportFiles::from_env("_KEY")?,
            notify_routes_key: var("COSTKIT_NOTIFY_ROUTES_KEY").unwrap_or(d.notify_routes_key),
            notify_dead_letter_queue: var("COSTKIT_NOTIFY_DEAD_LETTER_QUEUE")
                .unwrap_or(d.notify_dead_letter_queue),
            report_auth: var("COSTKIT_REPORT_AUTH"),
            report_api_keys: var("COSTKIT_REPORT_API_KEYS"),
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

/// What the server keeps between invocations: settings, the storage account (one HTTP pool) and
/// the Cost Management client.
#[derive(Clone, Debug)]
pub struct App {
    /// Settings.
    pub config: Arc<Config>,
    /// The storage account.
    pub storage: Storage,
    /// Cost Management (absent when no token source is configured: ingest then fails clearly).
    pub cost_management: Option<CostManagement>,
    /// The runtime the ports block on.
    pub handle: Handle,
}

impl App {
    /// From the environment; call inside the runtime.
    pub fn from_env() -> anyhow::Result<App> {
        let config = Config::from_env()?;
        let storage = Storage::from_env(RetryPolicy::default())?;
        let cm = match TokenSource::from_env(ARM_RESOURCE) {
            Some(t) => Some(CostManagement::new(
                costkit_azure::http::transport(cost_management_retry())?,
                Arc::new(t),
                &config.cost_management_endpoint,
            )?),
            None => None,
        };
        Ok(App::new(config, storage, cm))
    }

    /// An app over given parts (tests point them at Azurite and a local server).
    pub fn new(config: Config, storage: Storage, cost_management: Option<CostManagement>) -> App {
        App {
            config: Arc::new(config),
            storage,
            cost_management,
            handle: Handle::current(),
        }
    }

    /// The data container.
    pub fn blobs(&self) -> AzBlobs {
        AzBlobs::new(&self.storage, &self.config.container, self.handle.clone())
    }

    /// State items in the table.
    pub fn state(&self) -> TableState {
        TableState::new(&self.storage, &self.config.table, self.handle.clone())
    }

    /// The cost store in the table.
    pub fn store(&self) -> TableStore {
        TableStore::new(&self.storage, &self.config.table, self.handle.clone())
    }

    /// A storage queue.
    pub fn queue(&self, name: &str) -> AzQueue {
        AzQueue::new(&self.storage, name, self.handle.clone())
    }

    /// Where `data_updated` goes: the budget and anomaly queues.
    pub fn analysis(&self) -> FanOut {
        FanOut::new(vec![
            self.queue(&self.config.budget_queue),
            self.queue(&self.config.anomaly_queue),
        ])
    }

    /// The ports the queue-driven steps run over.
    pub fn ports(&self) -> Ports {
        let store = self.store();
        Ports {
            blobs: Arc::new(self.blobs()),
            state: Arc::new(self.state()),
            store: Arc::new(move || Ok(Box::new(store.clone()) as Box<dyn CostStore + Send>)),
            analysis: Arc::new(self.analysis()),
            findings: Arc::new(self.queue(&self.config.findings_queue)),
            alerts: Arc::new(QueuePublisher::new(
                &self.storage,
                &self.config.alerts_queue,
                self.handle.clone(),
            )),
            notify: self.notify_settings(),
        }
    }

    /// The notify step's settings: the routing file in the container, secrets from app settings
    /// (Key Vault references), dead letters to the notification dead-letter queue, and the
    /// report link's base URL and signing key.
    pub fn notify_settings(&self) -> NotifySettings {
        let mut s = NotifySettings::new(
            &self.config.notify_routes_key,
            CHANNEL,
            costkit_shell::notify::env_secrets(),
        );
        s.dead_letters = Some(Arc::new(self.queue(&self.config.notify_dead_letter_queue)));
        s.report_base_url = self.config.report_base_url.clone();
        s.signing_key = self.config.signing_key.clone().ok().flatten();
        s.signing_key_setting = report::SIGNING_KEY_VAR.to_string();
        s
    }

    /// Creates the table, container and queues (poison queues included) if missing: for
    /// emulators and first runs; `infra/azure` creates them in Azure.
    pub async fn ensure_resources(&self) -> Result<(), costkit_azure::AzureError> {
        self.store().create_table().await?;
        self.blobs().container().create().await?;
        let c = &self.config;
        for q in [
            &c.normalize_queue,
            &c.budget_queue,
            &c.anomaly_queue,
            &c.findings_queue,
            &c.alerts_queue,
            &c.exports_queue,
        ] {
            self.queue(q).queue().create().await?;
            self.queue(&poison(q)).queue().create().await?;
        }
        self.queue(&c.notify_dead_letter_queue)
            .queue()
            .create()
            .await?;
        Ok(())
    }
}

/// Cost Management's limits are low and it says how long to wait: fewer, longer attempts.
pub fn cost_management_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base: std::time::Duration::from_secs(1),
        max_delay: std::time::Duration::from_secs(30),
        max_wait: std::time::Duration::from_secs(120),
    }
}

/// The poison queue the Functions host uses for `queue`.
pub fn poison(queue: &str) -> String {
    format!("{queue}-poison")
}

/// The router: one POST route per function, plus `GET /healthz`.
pub fn router(app: App) -> Router {
    Router::new()
        .route("/{function}", post(invoke))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .with_state(app)
}

/// Binding name of the queue triggers in `function.json`.
pub const QUEUE_BINDING: &str = "message";
/// Binding name of the timer triggers.
pub const TIMER_BINDING: &str = "timer";
/// Binding name of the HTTP trigger.
pub const HTTP_BINDING: &str = "req";
/// Binding name of the HTTP output.
pub const HTTP_OUTPUT: &str = "res";

/// Every function this handler serves and its trigger type (the folders under `app/`).
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("ingest", "timerTrigger"),
    ("report-weekly", "timerTrigger"),
    ("report-monthly", "timerTrigger"),
    ("notify-digest", "timerTrigger"),
    ("normalize", "queueTrigger"),
    ("budget-check", "queueTrigger"),
    ("anomaly", "queueTrigger"),
    ("notify", "queueTrigger"),
    ("export", "queueTrigger"),
    ("report", "httpTrigger"),
    ("report-link", "httpTrigger"),
];

/// The one HTTP function without a function key: it serves signed links only.
pub const LINK_FUNCTION: &str = "report-link";

async fn invoke(
    State(app): State<App>,
    Path(function): Path<String>,
    Json(req): Json<InvocationRequest>,
) -> Response {
    let now = req.utc_now().unwrap_or_else(Utc::now);
    let result = match function.as_str() {
        "ingest" => ingest(&app, &req, now).await,
        "report-weekly" => report_scheduled(&app, ReportCadence::Weekly, now).await,
        "report-monthly" => report_scheduled(&app, ReportCadence::Monthly, now).await,
        "notify-digest" => notify_digest(&app, now).await,
        "report" | LINK_FUNCTION => return report(&app, &function, &req, now).await,
        "normalize" | "budget-check" | "anomaly" | "notify" | "export" => {
            return queue_function(&app, &function, &req, now).await
        }
        other => Err(FlowError::Invalid(format!("no function `{other}`"))),
    };
    match result {
        Ok(v) => Json(InvocationResponse::new(Vec::new(), v)).into_response(),
        Err(e) => failure(&function, &e),
    }
}

/// A failed invocation: 500 with the error in `Logs`, so the host records it and retries.
fn failure(function: &str, e: &FlowError) -> Response {
    tracing::error!(function, permanent = e.is_permanent(), error = %e, "invocation failed");
    let body = InvocationResponse::new(vec![format!("{function} failed: {e}")], Value::Null);
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

/// The daily ingest (timer). A backfill runs the function by hand with
/// `{"input": "{\"start\":\"2024-08-01\",\"end\":\"2024-10-01\"}"}` (admin endpoint), which the
/// host passes as `Data.timer`... a timer payload has `ScheduleStatus` instead, read as the
/// daily run.
async fn ingest(
    app: &App,
    req: &InvocationRequest,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    let detail = match req.data.get(TIMER_BINDING) {
        Some(Value::String(s)) if !s.trim().is_empty() => serde_json::from_str(s)
            .map_err(|e| FlowError::Invalid(format!("backfill input: {e}")))?,
        Some(Value::Object(o)) if o.contains_key("start") => Value::Object(o.clone()),
        _ => Value::Null,
    };
    let request = costkit_shell::backfill_request(&detail)?;
    let scope = app
        .config
        .cost_scope
        .clone()
        .ok_or_else(|| FlowError::Invalid("COSTKIT_COST_SCOPE is not set".into()))?;
    let cm = app.cost_management.clone().ok_or_else(|| {
        FlowError::Invalid(
            "no Cost Management credentials: assign a managed identity (IDENTITY_ENDPOINT) or set AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET".into(),
        )
    })?;
    let source = CmSource::new(
        cm,
        &scope,
        app.config.cost_grouping.clone(),
        app.handle.clone(),
    );
    let blobs = app.blobs();
    let queue = app.queue(&app.config.normalize_queue);
    let months = app.config.history_months;
    costkit_shell::blocking(move || {
        costkit_shell::scheduled_ingest(&source, &blobs, &queue, &request, months, now)
    })
    .await
}

/// Queue-triggered functions: parse the message, run the step; a permanent failure sends the
/// message to the poison queue at once (the invocation succeeds), a transient one fails the
/// invocation so the host retries it.
async fn queue_function(
    app: &App,
    function: &str,
    req: &InvocationRequest,
    now: DateTime<Utc>,
) -> Response {
    let queue = match function {
        "normalize" => &app.config.normalize_queue,
        "budget-check" => &app.config.budget_queue,
        "anomaly" => &app.config.anomaly_queue,
        "export" => &app.config.exports_queue,
        _ => &app.config.findings_queue,
    }
    .clone();
    let id = req.meta("Id").unwrap_or_default();
    let dequeue = req.meta("DequeueCount").unwrap_or_default();
    tracing::info!(function, message_id = %id, dequeue_count = %dequeue, "message received");
    let text = match req.queue_item(QUEUE_BINDING) {
        Ok(t) => t,
        Err(e) => return failure(function, &e),
    };
    let result = if function == "export" {
        export_event(app, &text, now).await
    } else {
        let settings = StepSettings {
            budgets_key: app.config.budgets_key.clone(),
            monitors_key: app.config.monitors_key.clone(),
        };
        run_body(function, &text, &app.ports(), &settings, now).await
    };
    let poison_q: Arc<dyn Queue> = Arc::new(app.queue(&poison(&queue)));
    match settle(function, result, &text, &id, poison_q, &poison(&queue)).await {
        Ok(Consumed::Done(v)) => Json(InvocationResponse::new(Vec::new(), v)).into_response(),
        Ok(Consumed::DeadLettered(why)) => {
            Json(InvocationResponse::new(vec![why], Value::Null)).into_response()
        }
        Err(e) => failure(function, &e),
    }
}

/// An Event Grid `Microsoft.Storage.BlobCreated` event (Event Grid schema, delivered to the
/// exports queue): a `manifest.json` in the data container queues its export run's normalize job,
/// one message per part (the job id is stable per run, so a repeated event queues the same job);
/// other blobs (the data files, written first) are ignored.
async fn export_event(app: &App, text: &str, now: DateTime<Utc>) -> Result<Value, FlowError> {
    let event: Value = serde_json::from_str(text)
        .map_err(|e| FlowError::Invalid(format!("not an Event Grid event: {e}")))?;
    // Event Grid may deliver a one-element array.
    let event = match event {
        Value::Array(mut a) if a.len() == 1 => a.remove(0),
        v => v,
    };
    let kind = event
        .get("eventType")
        .or_else(|| event.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind != "Microsoft.Storage.BlobCreated" {
        return Ok(json!({"ignored": kind}));
    }
    let subject = event.get("subject").and_then(Value::as_str).unwrap_or("");
    let prefix = format!(
        "/blobServices/default/containers/{}/blobs/",
        app.config.container
    );
    let Some(key) = subject.strip_prefix(&prefix) else {
        tracing::warn!(subject, container = %app.config.container, "blob event outside the data container: ignored");
        return Ok(json!({"ignored": subject}));
    };
    if key.rsplit('/').next() != Some(costkit_azure::exports::MANIFEST_NAME) {
        return Ok(json!({"ignored": key}));
    }
    let blobs = app.blobs();
    let queue = app.queue(&app.config.normalize_queue);
    let key = key.to_string();
    costkit_shell::blocking(move || {
        let bytes = blobs.get_bytes(&key)?;
        let job = costkit_azure::exports::manifest_job(&key, &bytes, now)
            .map_err(|e| FlowError::Invalid(e.to_string()))?;
        for part in 0..job.parts.len() {
            let msg = Message::Normalize(costkit_core::flow::messages::NormalizeJob { part, ..job.clone() });
            queue.send(&msg.to_json(), &msg.dedup_id())?;
        }
        tracing::info!(manifest = %key, job_id = %job.job_id, parts = job.parts.len(), "export run queued");
        Ok(json!({"job_id": job.job_id, "parts": job.parts.len()}))
    })
    .await
}

/// The report authentication of `function`: for `report` what the settings ask for, accepting
/// links signed with the signing key too; for `report-link` (no function key at the host) signed
/// links only, so without a signing key it refuses everything.
pub fn report_auth(config: &Config, function: &str) -> anyhow::Result<Auth> {
    let auth = if function == LINK_FUNCTION {
        Auth::api_keys([])
    } else {
        report::report_auth(
            config.report_auth.as_deref(),
            config.report_api_keys.as_deref(),
        )?
    };
    Ok(match &config.signing_key {
        Ok(Some(key)) => auth.with_signing_key(key.clone()),
        _ => auth,
    })
}

/// The report API settings of `function` at the invocation's time `now` (the host's
/// `sys.UtcNow`: link expiry is checked against it), with the shell's engines. A custom handler
/// invocation is one request, so the settings files are read per report request (a few small
/// blobs) rather than cached: a changed rules or teams file shows in the next report.
pub async fn report_api_config(
    app: &App,
    function: &str,
    now: DateTime<Utc>,
) -> Result<ApiConfig, FlowError> {
    let auth = report_auth(&app.config, function).map_err(|e| FlowError::Invalid(e.to_string()))?;
    let mut api = ApiConfig::new(auth);
    api.clock = Arc::new(move || now);
    api.engines = report::engines(
        Arc::new(app.blobs()),
        Some(Arc::new(app.state())),
        &app.config.monitors_key,
        &app.config.report_files,
    )
    .await
    .map_err(|e| FlowError::Invalid(e.to_string()))?;
    Ok(api)
}

/// The shared report router over the table store with `api`.
pub fn report_router(app: &App, api: ApiConfig) -> Router {
    costkit_http::router(Arc::new(SharedStore::new(app.store())), api)
}

/// Calls the report router in process; returns status, headers and body text.
async fn call_router(
    router: Router,
    req: axum::http::Request<axum::body::Body>,
) -> Result<(u16, Map<String, Value>, String), FlowError> {
    let resp = tower::ServiceExt::oneshot(router, req)
        .await
        .map_err(|e| FlowError::Invalid(format!("report router: {e}")))?;
    let status = resp.status().as_u16();
    let mut headers = Map::new();
    for (k, v) in resp.headers() {
        if let Ok(v) = v.to_str() {
            headers.insert(k.to_string(), Value::String(v.to_string()));
        }
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 256 << 20)
        .await
        .map_err(|e| FlowError::Invalid(format!("report body: {e}")))?;
    // The host carries the body as text: the reports served here are CSV, JSON and HTML.
    let body = String::from_utf8(bytes.to_vec()).map_err(|_| {
        FlowError::Invalid("the report is binary; the HTTP trigger carries text only".into())
    })?;
    Ok((status, headers, body))
}

/// The HTTP-triggered report download: the host's request is replayed on the shared router
/// (path after the `/api` route prefix, and `/link` for signed links; `Accept-Encoding` dropped
/// so the body stays text).
async fn report(
    app: &App,
    function: &str,
    req: &InvocationRequest,
    now: DateTime<Utc>,
) -> Response {
    let result = async {
        let http = req.http(HTTP_BINDING)?;
        let url = reqwest_url(&http.url)?;
        let mut path = url.strip_prefix("/api").unwrap_or(&url);
        if function == LINK_FUNCTION {
            path = path.strip_prefix("/link").unwrap_or(path);
        }
        let path = path.to_string();
        let mut b = axum::http::Request::builder()
            .method(http.method.as_str())
            .uri(path);
        for (k, v) in &http.headers {
            if !k.eq_ignore_ascii_case("accept-encoding") && !k.eq_ignore_ascii_case("host") {
                b = b.header(k.as_str(), v.as_str());
            }
        }
        let request = b
            .body(axum::body::Body::from(http.body.clone()))
            .map_err(|e| FlowError::Invalid(format!("report request: {e}")))?;
        call_router(
            report_router(app, report_api_config(app, function, now).await?),
            request,
        )
        .await
    }
    .await;
    match result {
        Ok((status, headers, body)) => {
            Json(InvocationResponse::http(HTTP_OUTPUT, status, headers, body)).into_response()
        }
        Err(e) => failure(function, &e),
    }
}

/// Path and query of a URL.
fn reqwest_url(url: &str) -> Result<String, FlowError> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| FlowError::Invalid(format!("request URL `{url}` is not absolute")))?;
    Ok(match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    })
}

/// The scheduled weekly or monthly report (timer; `costkit_shell::report::scheduled_report_run`):
/// the month's report rendered to `reports/<cadence>/<run>/` in the container and sent to the
/// routed channels (the alerts queue without a routing file) with a link signed for 7 days, once
/// per run and channel. Without `COSTKIT_REPORT_BASE_URL` or `COSTKIT_REPORT_SIGNING_KEY` it
/// fails naming the setting, before anything is rendered.
async fn report_scheduled(
    app: &App,
    cadence: ReportCadence,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    if let Err(why) = &app.config.signing_key {
        return Err(FlowError::Invalid(why.clone()));
    }
    let ports = app.ports();
    let engines = report::engines(
        ports.blobs.clone(),
        Some(ports.state.clone()),
        &app.config.monitors_key,
        &app.config.report_files,
    )
    .await
    .map_err(|e| FlowError::Invalid(e.to_string()))?;
    let env = ScheduledReportEnv {
        store: Arc::new(SharedStore::new(app.store())),
        blobs: ports.blobs,
        state: ports.state,
        alerts: Some(ports.alerts),
        settings: ports.notify,
        engines,
    };
    report::scheduled_report_run(env, cadence, now).await
}

/// The digest run (timer, daily): every daily or weekly digest whose period ended is sent.
async fn notify_digest(app: &App, now: DateTime<Utc>) -> Result<Value, FlowError> {
    let ports = app.ports();
    costkit_shell::notify::flush(
        ports.blobs,
        ports.state,
        Some(ports.alerts),
        ports.notify,
        now,
    )
    .await
}
