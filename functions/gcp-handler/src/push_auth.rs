//! Verifying the OIDC tokens Pub/Sub push subscriptions and Cloud Scheduler jobs send
//! (`Authorization: Bearer <JWT>`): an RS256 signature by one of Google's keys (the JWKS at
//! <https://www.googleapis.com/oauth2/v3/certs>, fetched and cached), issuer
//! `accounts.google.com` or `https://accounts.google.com`, the configured audience, not expired,
//! and, when configured, the sending service account's verified `email`.
//!
//! Cloud Run checks these tokens itself when the service requires authentication; this check is
//! for a service that also serves report downloads with API keys (and so admits unauthenticated
//! callers), where anyone could otherwise post a forged message.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use thiserror::Error;

/// Google's signing keys for ID tokens.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// The issuers Google writes in ID tokens.
pub const GOOGLE_ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];

/// How long a fetched key set is used when the response says nothing (Google's keys rotate about
/// every two weeks and are published well before use; its `Cache-Control` is a few hours).
const DEFAULT_KEYS_TTL: Duration = Duration::from_secs(3600);

/// A token with a key id the cached set lacks makes a refetch, but not more often than this, so
/// forged tokens cannot make the service hammer the key endpoint.
const MIN_REFETCH: Duration = Duration::from_secs(30);

/// Clock skew allowed on `exp` (and `iat`/`nbf`), in seconds.
const LEEWAY_SECS: u64 = 60;

/// Why a request was refused.
#[derive(Debug, Error)]
pub enum PushAuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing `Authorization: Bearer <OIDC token>`")]
    Missing,
    /// The token is malformed, badly signed, expired, or for someone else.
    #[error("invalid OIDC token: {0}")]
    Invalid(String),
    /// Google's keys could not be fetched (the request should be retried).
    #[error("fetching the token signing keys from {url}: {message}")]
    Keys {
        /// The JWKS URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// The claims of a verified token that the handler logs.
#[derive(Clone, Debug, Deserialize)]
pub struct PushClaims {
    /// The token's subject (the service account's unique id).
    #[serde(default)]
    pub sub: String,
    /// The service account's email.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether Google verified the email.
    #[serde(default)]
    pub email_verified: Option<bool>,
}

/// What the verifier accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushAuthConfig {
    /// The expected `aud` (`COSTKIT_PUSH_AUDIENCE`: the push endpoint's audience, by default the
    /// service URL in `infra/gcp`).
    pub audience: String,
    /// The expected `email` (`COSTKIT_PUSH_SERVICE_ACCOUNT`), if any.
    pub service_account: Option<String>,
    /// Where the keys are (`COSTKIT_PUSH_JWKS_URL`, default [`GOOGLE_JWKS_URL`]; tests use a
    /// local server).
    pub jwks_url: String,
}

struct Cached {
    keys: JwkSet,
    fetched: Instant,
    ttl: Duration,
}

/// Verifies push tokens, with the key set cached.
pub struct PushAuth {
    config: PushAuthConfig,
    http: reqwest::Client,
    cache: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for PushAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushAuth")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PushAuth {
    /// A verifier for `config`.
    pub fn new(config: PushAuthConfig) -> anyhow::Result<PushAuth> {
        // Only the pure-Rust backend is compiled in; installing it explicitly keeps a second
        // backend enabled elsewhere in the build from making verification panic.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(PushAuth {
            config,
            http,
            cache: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PushAuthConfig {
        &self.config
    }

    /// Checks the `Authorization` header value; returns the token's claims.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<PushClaims, PushAuthError> {
        let token = authorization
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(PushAuthError::Missing)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| PushAuthError::Invalid(format!("header: {e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(PushAuthError::Invalid(format!(
                "algorithm {:?}, expected RS256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| PushAuthError::Invalid("no `kid` in the header".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.config.audience]);
        validation.set_issuer(&GOOGLE_ISSUERS);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<PushClaims>(token, &key, &validation).map_err(|e| {
            PushAuthError::Invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired".into(),
                ErrorKind::InvalidAudience => format!(
                    "the audience is not `{}` (COSTKIT_PUSH_AUDIENCE)",
                    self.config.audience
                ),
                ErrorKind::InvalidIssuer => "the issuer is not accounts.google.com".into(),
                ErrorKind::InvalidSignature => "the signature does not verify".into(),
                _ => e.to_string(),
            })
        })?;
        if let Some(expected) = &self.config.service_account {
            let claims = &data.claims;
            if claims.email.as_deref() != Some(expected.as_str())
                || claims.email_verified != Some(true)
            {
                return Err(PushAuthError::Invalid(format!(
                    "the token is for {}, not the verified service account {expected} (COSTKIT_PUSH_SERVICE_ACCOUNT)",
                    claims.email.as_deref().unwrap_or("no email")
                )));
            }
        }
        Ok(data.claims)
    }

    /// The key `kid`, from the cached set or a fresh one.
    async fn key(&self, kid: &str) -> Result<DecodingKey, PushAuthError> {
        let refetch = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.as_ref() {
                Some(c) if c.fetched.elapsed() < c.ttl => {
                    if let Some(jwk) = c.keys.find(kid) {
                        return decoding_key(jwk);
                    }
                    c.fetched.elapsed() >= MIN_REFETCH
                }
                _ => true,
            }
        };
        if !refetch {
            return Err(PushAuthError::Invalid(format!("unknown key id `{kid}`")));
        }
        let fetched = self.fetch().await?;
        let key = fetched.keys.find(kid).map(decoding_key);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some(fetched);
        key.unwrap_or_else(|| Err(PushAuthError::Invalid(format!("unknown key id `{kid}`"))))
    }

    async fn fetch(&self) -> Result<Cached, PushAuthError> {
        let url = &self.config.jwks_url;
        let err = |message: String| PushAuthError::Keys {
            url: url.clone(),
            message,
        };
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(err(format!("HTTP {status}")));
        }
        let ttl = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_KEYS_TTL);
        let keys: JwkSet = resp
            .json()
            .await
            .map_err(|e| err(format!("not a JWK set: {e}")))?;
        tracing::info!(%url, keys = keys.keys.len(), ttl_secs = ttl.as_secs(), "token signing keys fetched");
        Ok(Cached {
            keys,
            fetched: Instant::now(),
            ttl,
        })
    }
}

fn decoding_key(jwk: &jsonwebtoken::jwk::Jwk) -> Result<DecodingKey, PushAuthError> {
    DecodingKey::from_jwk(jwk).map_err(|e| PushAuthError::Invalid(format!("signing key: {e}")))
}

/// `max-age` of a `Cache-Control` value.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control.split(',').find_map(|d| {
        let (k, v) = d.trim().split_once('=')?;
        k.eq_ignore_ascii_case("max-age")
            .then(|| v.trim().parse::<u64>().ok())
            .flatten()
            .map(Duration::from_secs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=22101, must-revalidate, no-transform"),
            Some(Duration::from_secs(22101))
        );
        assert_eq!(max_age("no-store"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
