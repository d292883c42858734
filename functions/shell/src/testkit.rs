//! Test servers for the shells' tests (feature `testkit`): a local HTTP receiver standing in for
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
