//! Credentials for Google APIs on Cloud Run: OAuth2 access tokens of the service's own service
//! account, from the metadata server.
//!
//! `GET http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token`
//! with `Metadata-Flavor: Google` answers `{"access_token", "expires_in", "token_type"}`; the
//! token is cached until five minutes before it expires (Google's client libraries refresh
//! about as early), so a warm instance asks once an hour at most. `GCE_METADATA_HOST` (the
//! variable Google's libraries read) points elsewhere, for tests. The emulators take no token:
//! requests to them go without an `Authorization` header.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use costkit_rest::{Call, Transport};
use reqwest::{Method, Request, Url};
use serde::Deserialize;

use crate::client::api_error;
use crate::error::GcpError;

/// The metadata server's host on Google Cloud.
pub const METADATA_HOST: &str = "metadata.google.internal";

/// How long before expiry a cached token is replaced.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// The metadata server: access tokens (cached) and the project id.
#[derive(Debug)]
pub struct MetadataServer {
    base: Url,
    cache: Mutex<Option<(String, SystemTime)>>,
}

impl MetadataServer {
    /// The server at `base` (`http://host[:port]`).
    pub fn new(base: &str) -> Result<MetadataServer, GcpError> {
        let base = Url::parse(base)
            .map_err(|e| GcpError::Config(format!("metadata server `{base}`: {e}")))?;
        Ok(MetadataServer {
            base,
            cache: Mutex::new(None),
        })
    }

    /// `http://$GCE_METADATA_HOST`, else `http://metadata.google.internal`.
    pub fn from_env() -> Result<MetadataServer, GcpError> {
        let host = std::env::var("GCE_METADATA_HOST")
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| METADATA_HOST.to_string());
        let host = host.trim();
        if host.contains("://") {
            MetadataServer::new(host)
        } else {
            MetadataServer::new(&format!("http://{host}"))
        }
    }

    async fn get(
        &self,
        transport: &Transport,
        operation: &'static str,
        path: &str,
    ) -> Result<String, GcpError> {
        let url = self
            .base
            .join(path)
            .map_err(|e| GcpError::Config(format!("metadata path `{path}`: {e}")))?;
        let call = Call {
            service: "metadata server",
            operation,
            what: path,
        };
        let resp = transport
            .send(&call, || {
                let mut req = Request::new(Method::GET, url.clone());
                req.headers_mut().insert(
                    "metadata-flavor",
                    reqwest::header::HeaderValue::from_static("Google"),
                );
                async move { Ok::<_, GcpError>(req) }
            })
            .await?;
        if !resp.status().is_success() {
            return Err(api_error(&call, resp).await);
        }
        resp.text()
            .await
            .map_err(|e| GcpError::invalid(path, format!("response: {e}")))
    }

    /// A valid access token of the default service account, fetched when the cached one is
    /// missing or expires within five minutes.
    pub async fn token(&self, transport: &Transport) -> Result<String, GcpError> {
        let now = SystemTime::now();
        if let Ok(c) = self.cache.lock() {
            if let Some((t, exp)) = c.as_ref() {
                if *exp > now + REFRESH_MARGIN {
                    return Ok(t.clone());
                }
            }
        }
        let path = "/computeMetadata/v1/instance/service-accounts/default/token";
        let text = self.get(transport, "token", path).await?;
        let t: TokenResponse = serde_json::from_str(&text)
            .map_err(|e| GcpError::invalid(path, format!("token response: {e}")))?;
        let expires = now + Duration::from_secs(t.expires_in);
        if let Ok(mut c) = self.cache.lock() {
            *c = Some((t.access_token.clone(), expires));
        }
        Ok(t.access_token)
    }

    /// The project the service runs in.
    pub async fn project_id(&self, transport: &Transport) -> Result<String, GcpError> {
        let path = "/computeMetadata/v1/project/project-id";
        let id = self.get(transport, "project-id", path).await?;
        let id = id.trim();
        if id.is_empty() {
            return Err(GcpError::invalid(path, "empty project id"));
        }
        Ok(id.to_string())
    }
}
