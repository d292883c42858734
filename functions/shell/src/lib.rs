//! What every serverless shell does around the core's flows, written once: each step run over the
//! core's ports with its logging, notification routing ([`notify`]), the backfill request, the
//! report API keys, tracing set-up and running a synchronous flow off the async runtime. The shells (`functions/common` for Lambda,
//! `functions/azure-handler`, the Cloud Run handler) only parse their platform's events and wire
//! their ports to these functions.

pub mod consume;
pub mod notify;
pub mod report;
#[cfg(feature = "testkit")]
pub mod testkit;

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use costkit_core::breakdown::DayRange;
use costkit_core::budget::SeasonalForecaster;
use costkit_core::flow::anomaly::{self, AnomalyRun};
use costkit_core::flow::budget::{self, BudgetRun};
use costkit_core::flow::ingest::{self, CostSource, IngestConfig, IngestRequest};
use costkit_core::flow::messages::{Message, NormalizeJob};
use costkit_core::flow::normalize::{run_part, NormalizeEnv, PartOutcome};
use costkit_core::flow::FlowError;
use costkit_core::ports::{BlobStore, Queue, StateStore};
use costkit_core::store::CostStore;
use costkit_http::ApiKeyHash;
use serde::Deserialize;
use serde_json::{json, Value};

/// Sets up `tracing`: JSON lines when `COSTKIT_LOG_FORMAT=json` (for CloudWatch Logs Insights or
/// Application Insights), plain text otherwise; the level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // The platforms add their own timestamp and have no colour terminal.
        .with_ansi(false)
        .without_time();
    let json = std::env::var("COSTKIT_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    // Only the first initialisation in a process wins; a second (tests) is harmless.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// A setting from the environment, trimmed; `None` when unset or blank.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A number of months of history from the environment variable `name` (1 to `max`, the
/// provider's window), `default` when unset.
pub fn env_months(name: &str, max: u32, default: u32) -> anyhow::Result<u32> {
    match env_var(name) {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|m| (1..=max).contains(m))
            .ok_or_else(|| {
                anyhow::anyhow!("{name}: `{v}` is not a number of months from 1 to {max}")
            }),
        None => Ok(default),
    }
}

/// Runs a synchronous flow on a blocking thread: the ports `block_on` the runtime, which must not
/// happen on one of its workers.
pub async fn blocking<T, F>(f: F) -> Result<T, FlowError>
where
    F: FnOnce() -> Result<T, FlowError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| FlowError::Invalid(format!("the flow's thread failed: {e}")))?
}

/// The error for a message of the wrong kind on a function's queue (a wiring mistake: permanent).
pub fn unexpected(msg: &Message, function: &str) -> FlowError {
    let kind = match msg {
        Message::Normalize(_) => "normalize",
        Message::DataUpdated(_) => "data_updated",
        Message::Finding(_) => "finding",
    };
    FlowError::Invalid(format!(
        "the {function} function does not take `{kind}` messages"
    ))
}

/// A backfill's dates as a trigger carries them (`end` exclusive, like Cost Explorer's
/// `TimePeriod`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Backfill {
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
}

/// The core's request (`end` inclusive) for a trigger's `{"start", "end"}` (`end` exclusive);
/// `null` is the daily run.
pub fn backfill_request(detail: &Value) -> Result<IngestRequest, FlowError> {
    let b: Backfill = match detail {
        Value::Null => Backfill::default(),
        v => serde_json::from_value(v.clone()).map_err(|e| {
            FlowError::Invalid(format!(
                "event detail: {e} (expected {{\"start\": \"YYYY-MM-DD\", \"end\": \"YYYY-MM-DD\"}}, end exclusive)"
            ))
        })?,
    };
    let end =
        match (b.start, b.end) {
            (Some(s), Some(e)) if e <= s => {
                return Err(FlowError::Invalid(format!(
                    "event detail: end {e} must be after start {s} (end is exclusive)"
                )))
            }
            (_, Some(e)) => Some(e.pred_opt().ok_or_else(|| {
                FlowError::Invalid(format!("event detail: end {e} is out of range"))
            })?),
            (_, None) => None,
        };
    Ok(IngestRequest {
        start: b.start,
        end,
    })
}

/// The scheduled ingest: plans whole months for `req` at `now`, pulls them from `source`, keeps
/// the raw pages and queues one normalize job per month. Returns a summary of the jobs queued.
pub fn scheduled_ingest(
    source: &dyn CostSource,
    blobs: &dyn BlobStore,
    normalize: &dyn Queue,
    req: &IngestRequest,
    history_months: u32,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    let cfg = IngestConfig {
        history_months,
        ..IngestConfig::default()
    };
    let months: Vec<DayRange> = ingest::plan_months(now.date_naive(), req, &cfg)?;
    let report = ingest::ingest(source, &months, blobs, normalize, &ingest::run_id(now), now)?;
    let jobs: Vec<Value> = report
        .months
        .iter()
        .map(|(range, keys, job)| {
            tracing::info!(start = %range.start, end = %range.end, pages = keys.len(), job_id = %job, "month queued");
            json!({"start": range.start, "end": range.end, "pages": keys.len(), "job_id": job})
        })
        .collect();
    Ok(json!({"jobs": jobs}))
}

/// One normalize part in a scratch directory that is removed afterwards (serverless `/tmp`
/// outlives invocations), logging what happened.
pub fn normalize(
    job: &NormalizeJob,
    blobs: &dyn BlobStore,
    state: &dyn StateStore,
    store: &mut dyn CostStore,
    analysis: &dyn Queue,
) -> Result<PartOutcome, FlowError> {
    let work = tempfile::Builder::new()
        .prefix("costkit-normalize-")
        .tempdir()
        .map_err(|e| FlowError::Io("scratch directory".into(), e))?;
    let mut env = NormalizeEnv {
        blobs,
        state,
        store,
        analysis,
        workdir: work.path(),
        now: Utc::now(),
    };
    let outcome = run_part(job, &mut env)?;
    let (job_id, part) = (&job.job_id, job.part);
    match &outcome {
        PartOutcome::Staged { records } => tracing::info!(%job_id, part, records, "part staged"),
        PartOutcome::Committed(r) => {
            tracing::info!(%job_id, part, load_id = r.load_id, slices = r.slices.len(), "delivery loaded")
        }
        PartOutcome::AlreadyCommitted => {
            tracing::info!(%job_id, part, "delivery loaded before; repeat dropped")
        }
    }
    Ok(outcome)
}

/// One budget check at `now` with the seasonal forecaster, logging the alerts sent.
pub fn budget_check(
    store: &dyn CostStore,
    blobs: &dyn BlobStore,
    state: &dyn StateStore,
    findings: &dyn Queue,
    budgets_key: &str,
    now: DateTime<Utc>,
) -> Result<BudgetRun, FlowError> {
    let run = budget::check(
        store,
        blobs,
        state,
        findings,
        budgets_key,
        &SeasonalForecaster,
        now,
    )?;
    for s in &run.findings {
        tracing::info!(finding_id = %s.id, "budget alert sent");
    }
    tracing::info!(
        budgets = run.statuses.len(),
        findings = run.findings.len(),
        "budgets checked"
    );
    Ok(run)
}

/// One run of the anomaly monitors at `now`, logging the anomalies sent.
pub fn anomaly_check(
    store: &dyn CostStore,
    blobs: &dyn BlobStore,
    state: &dyn StateStore,
    findings: &dyn Queue,
    monitors_key: &str,
    now: DateTime<Utc>,
) -> Result<AnomalyRun, FlowError> {
    let run = anomaly::check(store, blobs, state, findings, monitors_key, now)?;
    for f in &run.findings {
        tracing::info!(finding_id = %f.id, "anomaly sent");
    }
    tracing::info!(
        anomalies = run.anomalies.len(),
        findings = run.findings.len(),
        "monitors evaluated"
    );
    Ok(run)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysSecret {
    keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    sha256: String,
}

/// Parses the report API keys document `{"keys":[{"id":"…","sha256":"<hex>"}]}` (a secret in
/// Secrets Manager or Key Vault); errors name the secret and the key entry.
pub fn parse_keys(secret_id: &str, text: &str) -> anyhow::Result<Vec<ApiKeyHash>> {
    let s: KeysSecret = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "secret {secret_id}: expected {{\"keys\":[{{\"id\":\"…\",\"sha256\":\"<hex>\"}}]}}: {e}"
        )
    })?;
    s.keys
        .iter()
        .map(|k| {
            ApiKeyHash::from_str(&k.sha256).map_err(|e| {
                anyhow::anyhow!("secret {secret_id}: key `{}`: field `sha256`: {e}", k.id)
            })
        })
        .collect()
}
