//! The dashboard: one HTML page with inline CSS and JavaScript, embedded in the binary (no build
//! step, no external hosts, works offline), and the JSON it reads.
//!
//! * `GET /dashboard` serves the page. Its script is allowed by a CSP hash (`script-src
//!   'sha256-…'`), so nothing else can run in it.
//! * `GET /dashboard/data.json` serves the daily aggregates of the last [`DATA_DAYS`] days with
//!   data (by day, provider, account, service, region and currency; and per tag key and value),
//!   amounts as exact decimal strings. The page filters them in the browser (provider, account,
//!   service, tag, date range) and sums them exactly (decimal strings added as scaled integers).
//!
//! **Authentication.** Both routes are behind the same check as every other route. A browser
//! opens the dashboard through a signed link (`costkit key sign /dashboard`); the page cannot
//! sign, so the server, having accepted the request, puts a signed link to `/dashboard/data.json`
//! into the page that expires no later than the link that opened it (an hour after a request with
//! an API key). Without a signing key the page is served but tells the user it cannot load data
//! unless the platform authenticates requests (then the data call needs no link).

use std::collections::BTreeSet;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use chrono::Duration;
use costkit_core::aggregate::{row_label, GroupBy};
use costkit_core::store::Filter;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{internal, respond_bytes, sign_path, ApiError, Format, Shared};

/// Days of data the dashboard loads, ending at the store's latest day.
pub const DATA_DAYS: i64 = 92;

/// Validity of the data link in a page opened with an API key (no link expiry to follow).
const KEYED_DATA_LINK_SECS: i64 = 3600;

const PAGE: &str = include_str!("../assets/dashboard.html");
const SCRIPT: &str = include_str!("../assets/dashboard.js");

fn script_hash() -> String {
    let digest = Sha256::digest(SCRIPT.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

fn html_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `GET /dashboard`.
pub(crate) async fn page(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = (state.config.clock)().timestamp();
    // The link that opened the page (already verified) bounds the data link's life.
    let expires = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "expires")
        .and_then(|(_, v)| v.parse::<i64>().ok());
    let data_url = match state.config.auth.signing_key() {
        Some(key) => {
            let exp = expires.unwrap_or(now + KEYED_DATA_LINK_SECS);
            sign_path(key, "/dashboard/data.json", exp)
        }
        None => "/dashboard/data.json".to_string(),
    };
    let signed = state.config.auth.signing_key().is_some();
    let body = PAGE
        .replace("{{DATA_URL}}", &html_attr(&data_url))
        .replace("{{SIGNED}}", if signed { "yes" } else { "no" })
        .replace("{{SCRIPT}}", SCRIPT);
    let csp = format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        script_hash()
    );
    let mut resp = respond_bytes(
        body.as_bytes(),
        "costkit-dashboard",
        Format::Html,
        &method,
        &headers,
    )?;
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        csp.parse().map_err(internal)?,
    );
    // The page embeds a link that grants access to data: never cache it anywhere.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().map_err(internal)?);
    resp.headers_mut().remove(header::CONTENT_DISPOSITION);
    Ok(resp)
}

#[derive(Serialize)]
struct Data {
    /// First and last day included.
    start: Option<String>,
    end: Option<String>,
    /// `[day, provider, account, service, region, currency, billed, effective]`.
    rows: Vec<[String; 8]>,
    /// Tag keys present.
    tag_keys: Vec<String>,
    /// `[day, provider, billing account, key, value, currency, billed, effective]`.
    tags: Vec<[String; 8]>,
}

/// `GET /dashboard/data.json`.
pub(crate) async fn data(
    State(state): State<Shared>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    for (k, _) in form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        if k != "expires" && k != "sig" {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown query parameter `{k}`"),
            ));
        }
    }
    let st = state.clone();
    let body = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ApiError> {
        let mut out: Option<Result<Data, String>> = None;
        st.store
            .with_store(&mut |store| {
                out = Some(collect(store).map_err(|e| e.to_string()));
            })
            .map_err(|e| {
                tracing::error!("store error: {e}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the cost store failed; see the server log",
                )
            })?;
        let data = match out {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                tracing::error!("dashboard data: {e}");
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the cost store failed; see the server log",
                ));
            }
            None => return Err(internal("the store did not run")),
        };
        let mut v = serde_json::to_vec(&data).map_err(internal)?;
        v.push(b'\n');
        Ok(v)
    })
    .await
    .map_err(internal)??;
    let mut resp = respond_bytes(
        &body,
        "costkit-dashboard-data",
        Format::Json,
        &method,
        &headers,
    )?;
    resp.headers_mut().remove(header::CONTENT_DISPOSITION);
    Ok(resp)
}

fn collect(
    store: &dyn costkit_core::store::CostStore,
) -> Result<Data, costkit_core::store::StoreError> {
    let all = store.daily(&Filter::default())?;
    let Some(last) = all.iter().map(|r| r.key.day).max() else {
        return Ok(Data {
            start: None,
            end: None,
            rows: Vec::new(),
            tag_keys: Vec::new(),
            tags: Vec::new(),
        });
    };
    let first = last - Duration::days(DATA_DAYS - 1);
    let mut rows: Vec<[String; 8]> = all
        .iter()
        .filter(|r| r.key.day >= first)
        .map(|r| {
            [
                r.key.day.to_string(),
                r.slice.provider.to_string(),
                row_label(&GroupBy::Account, r).unwrap_or_default(),
                r.key.service_name.to_string(),
                row_label(&GroupBy::Region, r).unwrap_or_default(),
                r.key.currency.to_string(),
                r.sums.billed.normalize().to_string(),
                r.sums.effective.normalize().to_string(),
            ]
        })
        .collect();
    rows.sort();
    let keys = store.tag_keys(&Filter::default())?;
    let mut tags = Vec::new();
    let mut present = BTreeSet::new();
    for k in &keys {
        for t in store.daily_tags(k, &Filter::default())? {
            if t.key.day < first {
                continue;
            }
            present.insert(k.clone());
            tags.push([
                t.key.day.to_string(),
                t.slice.provider.to_string(),
                t.slice.billing_account_id.to_string(),
                t.key.key.to_string(),
                t.key.value.to_string(),
                t.key.currency.to_string(),
                t.sums.billed.normalize().to_string(),
                t.sums.effective.normalize().to_string(),
            ]);
        }
    }
    tags.sort();
    Ok(Data {
        start: Some(first.to_string()),
        end: Some(last.to_string()),
        rows,
        tag_keys: present.into_iter().collect(),
        tags,
    })
}
