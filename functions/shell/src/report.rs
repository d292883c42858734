//! The report side every shell shares: the authentication its settings ask for and the
//! scheduled report written to the blob store.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use costkit_core::analysis::anomaly::monitor::MonitorFile;
use costkit_core::flow::FlowError;
use costkit_core::ports::{BlobStore, PortError};
use costkit_core::report::EngineConfig;
use costkit_http::{ApiConfig, Auth, StoreAccess};
use serde_json::{json, Value};

/// The report authentication for `COSTKIT_REPORT_AUTH` = `mode`: `PLATFORM` trusts the platform
/// (the function key or Easy Auth on Azure, Cloud Run's IAM invoker check on Google Cloud),
/// `API_KEY` checks `x-api-key` against the hashes in `keys` (`COSTKIT_REPORT_API_KEYS`, a Key
/// Vault reference or a Secret Manager secret mounted as a variable); anything else leaves the
/// API closed.
pub fn report_auth(mode: Option<&str>, keys: Option<&str>) -> anyhow::Result<Auth> {
    match mode {
        Some("PLATFORM") => Ok(Auth::platform_authenticated()),
        Some("API_KEY") => {
            let text = keys.ok_or_else(|| {
                anyhow::anyhow!("COSTKIT_REPORT_AUTH=API_KEY needs COSTKIT_REPORT_API_KEYS")
            })?;
            Ok(Auth::api_keys(crate::parse_keys(
                "COSTKIT_REPORT_API_KEYS",
                text,
            )?))
        }
        other => {
            tracing::warn!(
                COSTKIT_REPORT_AUTH = other.unwrap_or(""),
                "no report authentication configured (PLATFORM or API_KEY): every request is refused"
            );
            Ok(Auth::api_keys([]))
        }
    }
}

/// The report engines: the forecast always; anomalies when the monitors file `monitors_key`
/// exists in `blobs` (the anomaly step's file), read once when the router is built. An invalid
/// monitors file does not take the reports down: it is logged, and every report carries a note
/// saying why it has no anomalies section (the anomaly step fails on it loudly).
pub async fn engines(
    blobs: Arc<dyn BlobStore>,
    monitors_key: &str,
) -> anyhow::Result<EngineConfig> {
    let mut engines = EngineConfig::default();
    let key = monitors_key.to_string();
    let text = tokio::task::spawn_blocking(move || blobs.get_bytes(&key)).await?;
    match text {
        Ok(bytes) => {
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("{monitors_key}: not UTF-8 text"))?;
            match MonitorFile::parse(&text, monitors_key) {
                Ok(file) => engines.monitors = Some(file),
                Err(e) => {
                    tracing::error!(error = %e, "invalid monitors file: reports carry no anomalies section");
                    engines
                        .problems
                        .push(format!("anomalies not computed: {e}"));
                }
            }
        }
        Err(PortError::NotFound(_)) => {
            tracing::info!(key = %monitors_key, "no monitors file: reports carry no anomalies section");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(engines)
}

/// The month a scheduled report at `now` covers: the month to date, or last month on the 1st.
pub fn scheduled_report_name(now: DateTime<Utc>) -> String {
    let day = now.date_naive();
    let month = if day.day() == 1 {
        day.pred_opt().unwrap_or(day)
    } else {
        day
    };
    format!("{}.csv", month.format("%Y-%m"))
}

/// The scheduled report: the CSV report of [`scheduled_report_name`] rendered by the shared
/// router and written to `reports/<YYYY-MM>.csv` in `blobs`.
pub async fn scheduled_report(
    store: Arc<dyn StoreAccess>,
    blobs: Arc<dyn BlobStore>,
    now: DateTime<Utc>,
) -> Result<Value, FlowError> {
    let name = scheduled_report_name(now);
    // The router is called in process: the platform already authorized the trigger.
    let router = costkit_http::router(store, ApiConfig::new(Auth::platform_authenticated()));
    let request = axum::http::Request::builder()
        .uri(format!("/reports/{name}"))
        .body(axum::body::Body::empty())
        .map_err(|e| FlowError::Invalid(format!("report request: {e}")))?;
    let resp = tower::ServiceExt::oneshot(router, request)
        .await
        .map_err(|e| FlowError::Invalid(format!("report router: {e}")))?;
    let status = resp.status().as_u16();
    let body = axum::body::to_bytes(resp.into_body(), 256 << 20)
        .await
        .map_err(|e| FlowError::Invalid(format!("report body: {e}")))?;
    if status != 200 {
        return Err(FlowError::Invalid(format!(
            "report {name}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    let key = format!("reports/{name}");
    let k = key.clone();
    crate::blocking(move || Ok(blobs.put_bytes(&k, &body, "text/csv")?)).await?;
    tracing::info!(%key, "scheduled report written");
    Ok(json!({"report": key}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheduled_report_covers_the_month_to_date_or_last_month_on_the_first() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        assert_eq!(
            scheduled_report_name(at("2026-03-15T09:00:00Z")),
            "2026-03.csv"
        );
        assert_eq!(
            scheduled_report_name(at("2026-03-01T06:00:00Z")),
            "2026-02.csv"
        );
        assert_eq!(
            scheduled_report_name(at("2026-01-01T06:00:00Z")),
            "2025-12.csv"
        );
    }

    #[test]
    fn api_key_mode_needs_keys_and_unknown_modes_close_the_api() {
        assert!(report_auth(Some("API_KEY"), None).is_err());
        let bad = report_auth(
            Some("API_KEY"),
            Some("{\"keys\":[{\"id\":\"a\",\"sha256\":\"zz\"}]}"),
        );
        assert!(bad.is_err_and(|e| e.to_string().contains("key `a`")));
        assert!(report_auth(Some("OPEN"), None).expect("closed").is_closed());
        assert!(!report_auth(Some("PLATFORM"), None)
            .expect("platform")
            .is_closed());
    }
}
