//! Cloud-neutral REST plumbing shared by costkit's cloud adapters (Azure, Google Cloud): one
//! reqwest client per process and the retry policy every call goes through.
//!
//! Retried: network errors and the statuses that mean "later" (408, 429, 500, 502, 503, 504).
//! The wait honours what the service asks for: the longest of the standard `Retry-After` header
//! (seconds or an HTTP date) and whatever a cloud-specific [`WaitHeaders`] hook reads (Azure's
//! `x-ms-retry-after-ms`, for instance, lives in `costkit-azure`). Without such a header the wait
//! is exponential backoff with full jitter. A service asking for a longer wait than
//! [`RetryPolicy::max_wait`] ends the attempts with a clear error instead of holding a function
//! for minutes.
//!
//! Adapters keep their own error types: [`Transport::send`] is generic over any error that a
//! [`RestError`] converts into, so request builders return the adapter's error unchanged. What
//! every cloud's errors share is here once: an error status as [`ApiError`], attempts that ran
//! out as [`RetriesExhausted`] (the adapters embed both as variant payloads).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Request, Response, StatusCode};
use thiserror::Error;

#[cfg(feature = "testkit")]
pub mod testkit;

/// Failures of the transport itself (the adapters convert them into their own errors).
#[derive(Debug, Error)]
pub enum RestError {
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// A throttled or transient failure persisted through every allowed attempt.
    #[error(transparent)]
    RetriesExhausted(RetriesExhausted),
}

/// An error status a service answered with (after the retries the policy allows). The adapters
/// embed it as their `Api` variant and add what is cloud-specific (which codes mean a lost
/// conditional write, for instance) around it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{service} {operation} {what}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
pub struct ApiError {
    /// The service (`Table`, `Blob`, `Firestore`, `Cloud Storage`...).
    pub service: &'static str,
    /// The operation (`InsertEntity`, `commit`, `objects.insert`...).
    pub operation: &'static str,
    /// The object concerned (entity, blob, document, topic, scope...).
    pub what: String,
    /// HTTP status (0 when no response came back at all).
    pub status: u16,
    /// The service's error code (`x-ms-error-code`, OData or ARM `code`, Google's canonical
    /// status such as `ABORTED` or the JSON API's reason such as `notFound`).
    pub code: Option<String>,
    /// The service's message.
    pub message: String,
}

impl ApiError {
    /// The error of `call` answered with `status`.
    pub fn new(call: &Call<'_>, status: u16, code: Option<String>, message: String) -> ApiError {
        ApiError {
            service: call.service,
            operation: call.operation,
            what: call.what.to_string(),
            status,
            code,
            message,
        }
    }

    /// 404: the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// Whether the status is one worth another attempt ([`is_transient_status`]).
    pub fn is_transient(&self) -> bool {
        is_transient_status(self.status)
    }
}

/// A throttled or transient failure that persisted through every allowed attempt.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{service} {operation} {what}: gave up after {attempts} attempts: {last}")]
pub struct RetriesExhausted {
    /// Service.
    pub service: &'static str,
    /// Operation.
    pub operation: &'static str,
    /// The object concerned.
    pub what: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last failure.
    pub last: String,
}

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
    is_transient_status(status.as_u16())
}

/// True for the statuses worth another attempt (408, 429, 500, 502, 503, 504), as a number: the
/// one classification the transport and [`ApiError::is_transient`] share.
pub fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The wait the standard `Retry-After` header asks for (seconds or an HTTP date), if any.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

/// A cloud-specific reader of extra wait headers (beyond `Retry-After`).
pub type WaitHeaders = fn(&HeaderMap) -> Option<Duration>;

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
    /// Extra wait headers of the cloud (read besides `Retry-After`; the longest wait wins).
    pub wait_headers: Option<WaitHeaders>,
}

impl Transport {
    /// A rustls client with sensible timeouts, honouring only the standard `Retry-After`.
    pub fn new(retry: RetryPolicy) -> Result<Transport, RestError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| RestError::Client(error_chain(&e)))?;
        Ok(Transport {
            client,
            retry,
            wait_headers: None,
        })
    }

    /// The same transport, also honouring the wait headers `hook` reads.
    pub fn with_wait_headers(mut self, hook: WaitHeaders) -> Transport {
        self.wait_headers = Some(hook);
        self
    }

    /// The wait a response asks for: the longest of `Retry-After` and the cloud's own headers.
    pub fn requested_wait(&self, headers: &HeaderMap) -> Option<Duration> {
        let extra = self.wait_headers.and_then(|hook| hook(headers));
        retry_after(headers).into_iter().chain(extra).max()
    }

    /// Sends the request `build` makes (called again for every attempt: fresh date, fresh
    /// signature or token), retrying transient failures. Returns the first non-transient
    /// response, which may be an error status: the caller decides what 404 or 409 mean.
    pub async fn send<F, Fut, E>(&self, call: &Call<'_>, mut build: F) -> Result<Response, E>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Request, E>>,
        E: From<RestError>,
    {
        let max = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = build().await?;
            let (last, wait) = match self.client.execute(req).await {
                Ok(resp) if is_transient(resp.status()) => {
                    let wait = self.requested_wait(resp.headers());
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
            let give_up = |last: String| {
                RestError::RetriesExhausted(RetriesExhausted {
                    service: call.service,
                    operation: call.operation,
                    what: call.what.to_string(),
                    attempts: attempt,
                    last,
                })
            };
            if attempt >= max {
                return Err(give_up(last).into());
            }
            let delay = match wait {
                Some(w) if w > self.retry.max_wait => {
                    return Err(give_up(format!(
                        "{last} (the service asks to wait {} s, more than the {} s allowed)",
                        w.as_secs(),
                        self.retry.max_wait.as_secs()
                    ))
                    .into())
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_in_seconds_or_as_an_http_date() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("30"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        let at = chrono::Utc::now() + chrono::Duration::seconds(30);
        let v = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        h.insert("retry-after", HeaderValue::from_str(&v).expect("header"));
        let w = retry_after(&h).expect("a wait");
        assert!(
            w >= Duration::from_secs(28) && w <= Duration::from_secs(30),
            "{w:?}"
        );
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn the_hook_adds_cloud_headers_and_the_longest_wait_wins() {
        fn ms(h: &HeaderMap) -> Option<Duration> {
            let v = h.get("x-wait-ms")?.to_str().ok()?.parse().ok()?;
            Some(Duration::from_millis(v))
        }
        let plain = Transport::new(RetryPolicy::default()).expect("transport");
        let hooked = plain.clone().with_wait_headers(ms);
        let mut h = HeaderMap::new();
        h.insert("x-wait-ms", HeaderValue::from_static("2500"));
        assert_eq!(plain.requested_wait(&h), None, "no hook, no cloud header");
        assert_eq!(hooked.requested_wait(&h), Some(Duration::from_millis(2500)));
        h.insert("retry-after", HeaderValue::from_static("1"));
        assert_eq!(hooked.requested_wait(&h), Some(Duration::from_millis(2500)));
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(hooked.requested_wait(&h), Some(Duration::from_secs(3)));
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

    #[test]
    fn an_api_error_reads_as_before_and_classifies_its_status() {
        let call = Call {
            service: "Firestore",
            operation: "commit",
            what: "doc",
        };
        let e = ApiError::new(&call, 409, Some("ABORTED".into()), "m".into());
        assert_eq!(e.to_string(), "Firestore commit doc: HTTP 409 (ABORTED): m");
        assert!(!e.is_not_found() && !e.is_transient());
        let e = ApiError::new(&call, 404, None, "gone".into());
        assert_eq!(e.to_string(), "Firestore commit doc: HTTP 404: gone");
        assert!(e.is_not_found());
        assert!(ApiError::new(&call, 503, None, String::new()).is_transient());
    }

    #[test]
    fn only_later_statuses_are_transient() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                is_transient(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
        for s in [200, 400, 401, 403, 404, 409, 412, 501] {
            assert!(
                !is_transient(StatusCode::from_u16(s).expect("status")),
                "{s}"
            );
        }
    }
}
