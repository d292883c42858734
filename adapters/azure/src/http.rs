//! The Azure side of the shared REST transport (`costkit-rest`): Azure's own wait headers and
//! error bodies.
//!
//! Retried (by `costkit-rest`): network errors and 408, 429, 500, 502, 503, 504. The wait
//! honours what the service asks for: the longest of `Retry-After` (seconds or an HTTP date,
//! read by `costkit-rest`), `x-ms-retry-after-ms` and Cost Management's
//! `x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers (seconds, read here by
//! [`azure_waits`]). Build Azure transports with [`transport`], which installs that hook.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Response;

pub use costkit_rest::{error_chain, is_transient, Call, RetryPolicy, Transport};

use costkit_rest::ApiError;

use crate::error::AzureError;

/// A transport for Azure calls: the shared client and retries, with [`azure_waits`] installed.
pub fn transport(retry: RetryPolicy) -> Result<Transport, AzureError> {
    Ok(Transport::new(retry)?.with_wait_headers(azure_waits))
}

/// The waits Azure asks for beyond `Retry-After`: `x-ms-retry-after-ms` and Cost Management's
/// per-dimension `x-ms-ratelimit-microsoft.costmanagement-*-retry-after` (the longest wins).
pub fn azure_waits(headers: &HeaderMap) -> Option<Duration> {
    let mut waits = Vec::new();
    if let Some(ms) = headers
        .get("x-ms-retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        waits.push(Duration::from_millis(ms));
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

/// The wait an Azure response asks for, if any (see the module docs for the headers read).
pub fn requested_wait(headers: &HeaderMap) -> Option<Duration> {
    costkit_rest::retry_after(headers)
        .into_iter()
        .chain(azure_waits(headers))
        .max()
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
    AzureError::Api(ApiError::new(
        call,
        status,
        header_code.or(code),
        message.unwrap_or_else(|| body.chars().take(500).collect()),
    ))
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
        let t = transport(RetryPolicy::default()).expect("transport");
        assert_eq!(
            t.requested_wait(&h),
            Some(Duration::from_millis(250)),
            "Azure transports read Azure's headers"
        );
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
}
