//! The report function: the HTTP report API (`costkit_http::router`) behind a Function URL.
//!
//! Authentication (`COSTKIT_REPORT_AUTH`): `AWS_IAM` trusts the platform (the Function URL's
//! `AuthType: AWS_IAM` has already verified the SigV4 signature); `API_KEY` checks `x-api-key`
//! against the SHA-256 hashes in the Secrets Manager secret `COSTKIT_API_KEYS_SECRET_ARN`
//! (`{"keys":[{"id":"…","sha256":"<hex>"}]}`, read once at cold start). Anything else, or
//! nothing, leaves the API closed: every request is refused with 401.

use costkit_aws::messaging::get_secret_string;
use costkit_core::report::EngineConfig;
use costkit_http::{ApiConfig, Auth, SharedStore, SigningKey};

use crate::{config, App};

/// Parses the API keys secret (shared by every shell).
pub use costkit_shell::parse_keys;

/// The authentication the environment asks for, accepting links signed with the key in
/// `COSTKIT_SIGNING_KEY_SECRET_ARN` when it is set (the links scheduled reports and notifications
/// embed).
pub async fn auth(app: &App) -> anyhow::Result<Auth> {
    let auth = base_auth(app).await?;
    match &app.config.signing_key_secret_arn {
        Some(arn) => {
            let key = get_secret_string(app.clients.secrets(), arn)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", config::SIGNING_KEY_SECRET_ARN))?;
            tracing::info!("signed report links enabled");
            Ok(auth.with_signing_key(SigningKey::new(key.trim().as_bytes().to_vec())))
        }
        None => Ok(auth),
    }
}

async fn base_auth(app: &App) -> anyhow::Result<Auth> {
    match app.config.report_auth.as_deref() {
        Some("AWS_IAM") => Ok(Auth::platform_authenticated()),
        Some("API_KEY") => {
            let id = app
                .config
                .require(&app.config.api_keys_secret_arn, config::API_KEYS_SECRET_ARN)?;
            let text = get_secret_string(app.clients.secrets(), id).await?;
            let keys = parse_keys(id, &text)?;
            tracing::info!(keys = keys.len(), "report API keys loaded");
            Ok(Auth::api_keys(keys))
        }
        other => {
            tracing::warn!(
                COSTKIT_REPORT_AUTH = other.unwrap_or(""),
                "no report authentication configured (AWS_IAM or API_KEY): every request is refused"
            );
            Ok(Auth::api_keys([]))
        }
    }
}

/// The report engines (the monitors, rules, teams and actions files read once at cold start;
/// shared by every shell). The FOCUS sections read the bucket's current deliveries (the table's
/// slice owners).
async fn engines(app: &App) -> anyhow::Result<EngineConfig> {
    match app.blobs() {
        Ok(blobs) => {
            let state: Option<std::sync::Arc<dyn costkit_core::ports::StateStore>> =
                match app.state() {
                    Ok(s) => Some(std::sync::Arc::new(s)),
                    Err(_) => None,
                };
            costkit_shell::report::engines(
                std::sync::Arc::new(blobs),
                state,
                &app.config.monitors_key,
                &app.config.report_files,
            )
            .await
        }
        Err(_) => Ok(EngineConfig::default()),
    }
}

/// The report API settings of the function: its authentication (with the link signing key),
/// engines, and the bucket's FOCUS files for `/focus/...`.
pub async fn api_config(app: &App) -> anyhow::Result<ApiConfig> {
    let mut config = ApiConfig::new(auth(app).await?);
    config.engines = engines(app).await?;
    if let Ok(blobs) = app.blobs() {
        config.blobs = Some(std::sync::Arc::new(blobs));
        // Slice owners: a month's FOCUS prefix holds every daily re-delivery.
        config.state = Some(std::sync::Arc::new(app.state()?));
    }
    Ok(config)
}

/// The report API router over the table with `config` (tests fix its clock).
pub fn router_with(app: &App, config: ApiConfig) -> anyhow::Result<axum::Router> {
    Ok(costkit_http::router(
        std::sync::Arc::new(SharedStore::new(app.store()?)),
        config,
    ))
}

/// The report API router over the table, with the bucket's FOCUS files for `/focus/...`.
pub async fn router(app: &App) -> anyhow::Result<axum::Router> {
    let config = api_config(app).await?;
    router_with(app, config)
}
