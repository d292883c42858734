//! One HTTP client and the retry policy every Azure call goes through.
//!
//! Retried: network errors and the statuses that mean "later" (408, 429, 500, 502, 503, 504).
//! The wait honours what the service asks for: the longest of `x-ms-retry-after-ms`,
//! `Retry-After` (seconds or an HTTP date) and Cost Management's
//! `x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers (seconds). Without such a header the wait is exponential backoff with full jitter. A service
//! asking for a longer wait than [`RetryPolicy::max_wait`] ends the attempts with a clear error
//! instead of holding a function for minutes.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Request, Response, StatusCode};

use crate::error::AzureError;

/// Bounded retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first one included (at least 1).
    pub max_attempts: u32,
    /// Cap of the first backoff wait; doubles after every attempt.
    pub base: Duration,
    /// Upper bound of a backoff wait.
    pub max_delay: Duration,
    /// Longest wait a service may ask for (`Retry-After`); longer ones fail at once.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    /// 6 attempts, backoff caps 200 ms ... 10 s, server-requested waits up to 60 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A random wait in `[0, min(max_delay, base * 2^(attempt-1))]` (full jitter).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        let cap = self
            .base
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        let cap = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(fastrand::u64(0..=cap))
    }
}

/// True for the statuses worth another attempt.
pub fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// The wait a response asks for, if any (see the module docs for the headers read).
pub fn requested_wait(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut waits = Vec::new();
    if let Some(ms) = text("x-ms-retry-after-ms").and_then(|v| v.trim().parse::<u64>().ok()) {
        waits.push(Duration::from_millis(ms));
    }
    if let Some(v) = text("retry-after") {
        let v = v.trim();
        if let Ok(secs) = v.parse::<u64>() {
            waits.push(Duration::from_secs(secs));
        } else if let Ok(at) = chrono::DateTime::parse_from_rfc2822(v) {
            let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
            waits.push(Duration::from_secs(u64::try_from(secs).unwrap_or(0)));
        }
    }
    // Cost Management sends one per throttling dimension (qpu, entity, tenant): all must pass.
    waits.extend(
        headers
            .iter()
            .filter(|(k, _)| {
                let k = k.as_str();
                k.starts_with("x-ms-ratelimit-microsoft.costmanagement-")
                    && k.ends_with("-retry-after")
            })
            .filter_map(|(_, v)| v.to_str().ok()?.trim().parse::<u64>().ok())
            .map(Duration::from_secs),
    );
    waits.into_iter().max()
}

/// `e` with its sources, so "error sending request" says why.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// What a call is, for errors and logs.
#[derive(Clone, Debug)]
pub struct Call<'a> {
    /// Service name.
    pub service: &'static str,
    /// Operation name.
    pub operation: &'static str,
    /// The object concerned.
    pub what: &'a str,
}

/// The shared HTTP client with the retry policy.
#[derive(Clone, Debug)]
pub struct Transport {
    /// The client (one connection pool per process).
    pub client: reqwest::Client,
    /// Retries.
    pub retry: RetryPolicy,
}

impl Transport {
    /// A rustls client with sensible timeouts.
    pub fn new(retry: RetryPolicy) -> Result<Transport, AzureError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| AzureError::Config(format!("HTTP client: {}", error_chain(&e))))?;
        Ok(Transport { client, retry })
    }

    /// Sends the request `build` makes (called again for every attempt: fresh date, fresh
    /// signature), retrying transient failures. Returns the first non-transient response, which
    /// may be an error status: the caller decides what 404 or 409 mean.
    pub async fn send<F, Fut>(&self, call: &Call<'_>, mut build: F) -> Result<Response, AzureError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Request, AzureError>>,
    {
        let max = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = build().await?;
            let (last, wait) = match self.client.execute(req).await {
                Ok(resp) if is_transient(resp.status()) => {
                    let wait = requested_wait(resp.headers());
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    (
                        format!(
                            "HTTP {status}: {}",
                            body.chars().take(300).collect::<String>()
                        ),
                        wait,
                    )
                }
                Ok(resp) => return Ok(resp),
                Err(e) => (error_chain(&e), None),
            };
            let give_up = |last: String| AzureError::RetriesExhausted {
                service: call.service,
                operation: call.operation,
                what: call.what.to_string(),
                attempts: attempt,
                last,
            };
            if attempt >= max {
                return Err(give_up(last));
            }
            let delay = match wait {
                Some(w) if w > self.retry.max_wait => {
                    return Err(give_up(format!(
                        "{last} (the service asks to wait {} s, more than the {} s allowed)",
                        w.as_secs(),
                        self.retry.max_wait.as_secs()
                    )))
                }
                Some(w) => w,
                None => self.retry.backoff(attempt),
            };
            tracing::debug!(
                service = call.service,
                operation = call.operation,
                what = call.what,
                attempt,
                wait_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %last,
                "transient failure; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// Turns an error response into [`AzureError::Api`], reading the service's code and message
/// from `x-ms-error-code` and the body (storage XML `<Error>`, Table OData JSON, ARM JSON).
pub async fn api_error(call: &Call<'_>, resp: Response) -> AzureError {
    let status = resp.status().as_u16();
    let header_code = resp
        .headers()
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.text().await.unwrap_or_default();
    let (code, message) = parse_error_body(&body);
    AzureError::Api {
        service: call.service,
        operation: call.operation,
        what: call.what.to_string(),
        status,
        code: header_code.or(code),
        message: message.unwrap_or_else(|| body.chars().take(500).collect()),
    }
}

fn parse_error_body(body: &str) -> (Option<String>, Option<String>) {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let e = v
            .get("odata.error")
            .or_else(|| v.get("error"))
            .unwrap_or(&v);
        let code = e.get("code").and_then(|c| c.as_str()).map(str::to_string);
        let msg = e.get("message").and_then(|m| {
            m.as_str()
                .map(str::to_string)
                .or_else(|| m.get("value").and_then(|x| x.as_str()).map(str::to_string))
        });
        return (code, msg);
    }
    if let Ok(doc) = roxmltree::Document::parse(body) {
        let find = |name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name(name))
                .and_then(|n| n.text())
                .map(|t| t.trim().to_string())
        };
        return (find("Code"), find("Message"));
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn waits_come_from_the_headers_azure_sends() {
        let mut h = HeaderMap::new();
        assert_eq!(requested_wait(&h), None);
        h.insert(
            "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
            HeaderValue::from_static("7"),
        );
        h.insert(
            "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
            HeaderValue::from_static("12"),
        );
        assert_eq!(
            requested_wait(&h),
            Some(Duration::from_secs(12)),
            "the longest wins"
        );
        h.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(requested_wait(&h), Some(Duration::from_secs(30)));
        let mut h = HeaderMap::new();
        h.insert("x-ms-retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(requested_wait(&h), Some(Duration::from_millis(250)));
    }

    #[test]
    fn retry_after_as_an_http_date() {
        let mut h = HeaderMap::new();
        let at = chrono::Utc::now() + chrono::Duration::seconds(30);
        let v = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        h.insert("retry-after", HeaderValue::from_str(&v).expect("header"));
        let w = requested_wait(&h).expect("a wait");
        assert!(
            w >= Duration::from_secs(28) && w <= Duration::from_secs(30),
            "{w:?}"
        );
    }

    #[test]
    fn error_bodies_of_each_service() {
        let table = r#"{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"The specified entity already exists."}}}"#;
        assert_eq!(
            parse_error_body(table),
            (
                Some("EntityAlreadyExists".into()),
                Some("The specified entity already exists.".into())
            )
        );
        let arm = r#"{"error":{"code":"429","message":"Too many requests. Please retry."}}"#;
        assert_eq!(parse_error_body(arm).0.as_deref(), Some("429"));
        let xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>";
        assert_eq!(parse_error_body(xml).0.as_deref(), Some("BlobNotFound"));
    }

    #[test]
    fn backoff_is_capped_and_random() {
        let p = RetryPolicy {
            max_attempts: 9,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_wait: Duration::from_secs(5),
        };
        for a in 1..20 {
            assert!(p.backoff(a) <= Duration::from_secs(1));
        }
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| p.backoff(4)).collect();
        assert!(waits.len() > 40);
    }
}
