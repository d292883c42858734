//! Test support for the shells' tests (feature `testkit`): loading a fixture into a store, the SMTP
//! sink's Maildir, and a local HTTP receiver standing in for
//! a Slack, Teams or webhook endpoint. It is a real HTTP server on a loopback port, so the
//! channels under test make real requests; it records them for the test to inspect.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

/// One request the sink received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Path (no query).
    pub path: String,
    /// Headers, names lower-case.
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
}

/// A receiver that answers `200 ok` to every POST, except under `/fail`, where it answers
/// `503` (a receiver that is down), and records every request.
#[derive(Clone, Debug, Default)]
pub struct WebhookSink {
    log: Arc<Mutex<Vec<Received>>>,
}

async fn record(
    State(log): State<Arc<Mutex<Vec<Received>>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let path = uri.path().to_string();
    let down = path.starts_with("/fail");
    if let Ok(mut l) = log.lock() {
        l.push(Received {
            path,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: body.to_vec(),
        });
    }
    if down {
        (StatusCode::SERVICE_UNAVAILABLE, "down")
    } else {
        (StatusCode::OK, "ok")
    }
}

impl WebhookSink {
    /// Starts serving on a free loopback port on the current runtime; returns its base URL
    /// (`http://127.0.0.1:<port>`).
    pub async fn serve(&self) -> std::io::Result<String> {
        let app = axum::Router::new()
            .fallback(record)
            .with_state(self.log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(format!("http://{addr}"))
    }

    /// The requests received on `path`, in order.
    pub fn received(&self, path: &str) -> Vec<Received> {
        self.log
            .lock()
            .map(|l| l.iter().filter(|r| r.path == path).cloned().collect())
            .unwrap_or_default()
    }
}

/// Loads a billing file from the repository (`rel`, relative to its root) into `store` through
/// the normalize pipeline, as a load made on 2024-10-01. Panics on any failure: it is test set-up.
#[allow(clippy::expect_used)] // test set-up: a panic is the failure report
pub fn load_repo_file(store: &mut dyn costkit_core::store::CostStore, rel: &str) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    let jobs = costkit_core::normalize::plan(&[file], None).expect("test set-up: plan");
    let mut batch = costkit_core::aggregate::LoadBatch::default();
    costkit_core::pipeline::run(
        &jobs,
        &costkit_core::input::Progress::default(),
        None,
        Some(&mut batch),
        &mut || {},
    )
    .expect("test set-up: normalize");
    store
        .replace(
            &batch,
            &costkit_core::store::LoadMeta {
                dialect: "test".into(),
                files: vec![rel.into()],
                loaded_at: "2024-10-01T00:00:00Z".into(),
            },
        )
        .expect("test set-up: store");
}

/// Σ BilledCost of billing period `period` in USD, straight from the store's daily rows.
#[allow(clippy::expect_used)] // test set-up: a panic is the failure report
pub fn usd_billed(
    store: &dyn costkit_core::store::CostStore,
    period: &str,
) -> costkit_core::money::Decimal {
    store
        .daily(&costkit_core::store::Filter {
            billing_period: Some(period.into()),
            ..costkit_core::store::Filter::default()
        })
        .expect("test set-up: read the store")
        .iter()
        .filter(|r| r.key.currency.as_str() == "USD")
        .map(|r| r.sums.billed)
        .sum()
}

/// The SMTP sink of `scripts/notify-sinks.sh` (aiosmtpd writing a Maildir): host, port and the
/// Maildir, from `COSTKIT_SMTP_ENDPOINT` and `COSTKIT_SMTP_MAILDIR`. Panics, naming the command to
/// run, when they are not set: the tests that need it fail rather than skip.
pub fn smtp_sink() -> (String, String, std::path::PathBuf) {
    let var = |name: &str| {
        match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!("{name} is not set: start the SMTP sink with `scripts/notify-sinks.sh start` and `eval \"$(scripts/notify-sinks.sh env)\"` (scripts/test.sh does this)"),
    }
    };
    let endpoint = var("COSTKIT_SMTP_ENDPOINT");
    let Some((host, port)) = endpoint.rsplit_once(':') else {
        panic!("COSTKIT_SMTP_ENDPOINT `{endpoint}` is not host:port");
    };
    (
        host.to_string(),
        port.to_string(),
        std::path::PathBuf::from(var("COSTKIT_SMTP_MAILDIR")),
    )
}

/// The messages in the Maildir carrying idempotency key `key`.
#[allow(clippy::expect_used)] // test set-up: a panic is the failure report
pub fn maildir_messages(maildir: &std::path::Path, key: &str) -> Vec<Vec<u8>> {
    let needle = format!("X-Costkit-Idempotency-Key: {key}");
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let bytes = std::fs::read(e.path()).expect("test set-up: read a Maildir message");
            if String::from_utf8_lossy(&bytes).contains(&needle) {
                out.push(bytes);
            }
        }
    }
    out
}
