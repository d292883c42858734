//! Test support (feature `testkit`): a local HTTP server that answers with canned responses in
//! order and records every request, standing in for a cloud API in tests (Cost Management,
//! Entra ID, the GCP metadata server...; the replayed bodies follow the documented shapes).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path and query, as sent.
    pub path_and_query: String,
    /// Headers (names lower-case).
    pub headers: Vec<(String, String)>,
    /// Body text.
    pub body: String,
}

/// A canned answer: status, headers, body.
type Answer = (u16, Vec<(String, String)>, String);

/// Canned answers, taken in order; every request is recorded. A request with no answer left
/// gets a 500 saying so.
#[derive(Clone, Default)]
pub struct Replay {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Replay {
    /// Queues an answer.
    pub fn push(&self, status: u16, headers: &[(&str, &str)], body: String) {
        if let Ok(mut a) = self.answers.lock() {
            a.push_back((
                status,
                headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body,
            ));
        }
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Serves on a free loopback port (on the current runtime); returns `http://127.0.0.1:port`.
    pub async fn serve(&self) -> std::io::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let me = self.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let me = me.clone();
            async move { me.answer(req).await }
        });
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "replay server stopped");
            }
        });
        Ok(format!("http://{addr}"))
    }

    async fn answer(&self, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 16 << 20)
            .await
            .unwrap_or_default();
        if let Ok(mut s) = self.seen.lock() {
            s.push(Seen {
                method: parts.method.to_string(),
                path_and_query: parts
                    .uri
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect(),
                body: String::from_utf8_lossy(&body).to_string(),
            });
        }
        let next = self.answers.lock().ok().and_then(|mut a| a.pop_front());
        let (status, headers, body) =
            next.unwrap_or((500, Vec::new(), "no canned answer left".into()));
        let mut r = Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
        for (k, v) in headers {
            r = r.header(k, v);
        }
        r.body(Body::from(body))
            .unwrap_or_else(|_| Response::new(Body::empty()))
    }
}
