//! Authentication for Azure Storage and the Cost Management API.
//!
//! * [`SharedKey`]: the storage account key signs every request (HMAC-SHA256 over the request's
//!   canonical form, as the storage REST reference defines it for Blob/Queue and for Table).
//!   Azurite checks these signatures, so the tests exercise the real algorithm.
//! * [`TokenSource`]: an Entra ID bearer token, from the Function App's managed identity
//!   (`IDENTITY_ENDPOINT` / `IDENTITY_HEADER`) or from a service principal's client credentials
//!   (OAuth2 `client_credentials` grant). Storage accepts it (with `x-ms-version` 2019-02-02 or
//!   later) and Cost Management requires it. Tokens are cached until five minutes before expiry.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Request;
use serde::Deserialize;
use sha2::Sha256;

use costkit_rest::{ApiError, Call};

use crate::error::AzureError;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Azurite's well-known development account.
pub const DEVSTORE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (published in Azurite's README; not a secret).
pub const DEVSTORE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Resource (audience) of Azure Storage tokens.
pub const STORAGE_RESOURCE: &str = "https://storage.azure.com";
/// Resource (audience) of Azure Resource Manager tokens (Cost Management).
pub const ARM_RESOURCE: &str = "https://management.azure.com";

/// A storage account name and its key.
#[derive(Clone)]
pub struct SharedKey {
    account: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKey")
            .field("account", &self.account)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SharedKey {
    /// The account `account` with its base64 key.
    pub fn new(account: &str, key_base64: &str) -> Result<SharedKey, AzureError> {
        let key = B64.decode(key_base64.trim()).map_err(|e| {
            AzureError::Config(format!(
                "the key of storage account `{account}` is not base64: {e}"
            ))
        })?;
        if account.is_empty() {
            return Err(AzureError::Config(
                "the storage account name is empty".into(),
            ));
        }
        Ok(SharedKey {
            account: account.to_string(),
            key,
        })
    }

    /// Azurite's development account.
    pub fn devstore() -> SharedKey {
        SharedKey {
            account: DEVSTORE_ACCOUNT.into(),
            key: B64.decode(DEVSTORE_KEY).unwrap_or_default(),
        }
    }

    /// The account name.
    pub fn account(&self) -> &str {
        &self.account
    }

    fn sign(&self, string_to_sign: &str) -> String {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()));
        mac.update(string_to_sign.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// `/account/path`: with path-style URLs (Azurite, `http://host:port/account/...`) the
    /// account appears twice, as the reference specifies.
    fn resource_path(&self, req: &Request) -> String {
        format!("/{}{}", self.account, req.url().path())
    }

    /// The string to sign of a Blob or Queue request (SharedKey, version 2015-02-21 and later).
    pub fn blob_queue_string_to_sign(&self, req: &Request) -> String {
        let h = req.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        let length = body_len(req)
            .filter(|n| *n > 0)
            .map(|n| n.to_string())
            .unwrap_or_default();
        let mut s = String::with_capacity(256);
        s.push_str(req.method().as_str());
        s.push('\n');
        for name in ["content-encoding", "content-language"] {
            s.push_str(&get(name));
            s.push('\n');
        }
        s.push_str(&length);
        s.push('\n');
        for name in [
            "content-md5",
            "content-type",
            "date",
            "if-modified-since",
            "if-match",
            "if-none-match",
            "if-unmodified-since",
            "range",
        ] {
            s.push_str(&get(name));
            s.push('\n');
        }
        s.push_str(&canonical_ms_headers(h));
        s.push_str(&self.resource_path(req));
        let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (k, v) in req.url().query_pairs() {
            params
                .entry(k.to_lowercase())
                .or_default()
                .push(v.into_owned());
        }
        for (k, mut vs) in params {
            vs.sort();
            s.push('\n');
            s.push_str(&k);
            s.push(':');
            s.push_str(&vs.join(","));
        }
        s
    }

    /// The string to sign of a Table request (SharedKey for the Table service).
    pub fn table_string_to_sign(&self, req: &Request) -> String {
        let h = req.headers();
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut resource = self.resource_path(req);
        if let Some((_, comp)) = req.url().query_pairs().find(|(k, _)| k == "comp") {
            resource.push_str("?comp=");
            resource.push_str(&comp);
        }
        format!(
            "{}\n{}\n{}\n{}\n{}",
            req.method().as_str(),
            get("content-md5"),
            get("content-type"),
            get("x-ms-date"),
            resource
        )
    }

    /// Signs a Blob or Queue request.
    pub fn sign_blob_queue(&self, req: &mut Request) -> Result<(), AzureError> {
        let sig = self.sign(&self.blob_queue_string_to_sign(req));
        set_auth(req, &format!("SharedKey {}:{sig}", self.account))
    }

    /// Signs a Table request.
    pub fn sign_table(&self, req: &mut Request) -> Result<(), AzureError> {
        let sig = self.sign(&self.table_string_to_sign(req));
        set_auth(req, &format!("SharedKey {}:{sig}", self.account))
    }
}

fn body_len(req: &Request) -> Option<usize> {
    req.body().and_then(|b| b.as_bytes()).map(<[u8]>::len)
}

/// `x-ms-*` headers, lower-cased, sorted, one `name:value\n` each (values trimmed, inner runs of
/// whitespace folded to one space).
fn canonical_ms_headers(h: &HeaderMap) -> String {
    let mut v: Vec<(String, String)> = h
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-ms-"))
        .map(|(k, v)| {
            let value = v.to_str().unwrap_or("");
            let folded = value.split_whitespace().collect::<Vec<_>>().join(" ");
            (k.as_str().to_string(), folded)
        })
        .collect();
    v.sort();
    v.into_iter().map(|(k, v)| format!("{k}:{v}\n")).collect()
}

fn set_auth(req: &mut Request, value: &str) -> Result<(), AzureError> {
    let v = HeaderValue::from_str(value)
        .map_err(|e| AzureError::Config(format!("authorization header: {e}")))?;
    req.headers_mut().insert(AUTHORIZATION, v);
    Ok(())
}

/// Where bearer tokens come from.
#[derive(Clone, Debug)]
pub enum TokenKind {
    /// The App Service / Functions managed identity endpoint (`IDENTITY_ENDPOINT`,
    /// `IDENTITY_HEADER`); `client_id` picks a user-assigned identity.
    ManagedIdentity {
        /// `IDENTITY_ENDPOINT`.
        endpoint: String,
        /// `IDENTITY_HEADER` (sent as `X-IDENTITY-HEADER`).
        header: String,
        /// A user-assigned identity's client id (`AZURE_CLIENT_ID`), or the system identity.
        client_id: Option<String>,
    },
    /// A service principal's secret (OAuth2 client credentials grant).
    ClientCredentials {
        /// Token endpoint base, `https://login.microsoftonline.com` unless overridden.
        authority: String,
        /// Tenant id.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// Client secret.
        client_secret: String,
    },
}

/// A cached bearer token for one resource (audience).
#[derive(Debug)]
pub struct TokenSource {
    kind: TokenKind,
    resource: String,
    cache: Mutex<Option<(String, SystemTime)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Client credentials: seconds from now.
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    /// Managed identity: epoch seconds (as a string).
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
}

fn num(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl TokenSource {
    /// Tokens for `resource` (e.g. [`STORAGE_RESOURCE`], [`ARM_RESOURCE`]) from `kind`.
    pub fn new(kind: TokenKind, resource: &str) -> TokenSource {
        TokenSource {
            kind,
            resource: resource.trim_end_matches('/').to_string(),
            cache: Mutex::new(None),
        }
    }

    /// From the environment: client credentials when `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
    /// `AZURE_CLIENT_SECRET` are set (optionally `AZURE_AUTHORITY_HOST`), else the managed
    /// identity when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are (Functions sets them when an
    /// identity is assigned; `AZURE_CLIENT_ID` then picks a user-assigned one). `None` otherwise.
    pub fn from_env(resource: &str) -> Option<TokenSource> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        let client_id = var("AZURE_CLIENT_ID");
        if let (Some(tenant_id), Some(client_id), Some(client_secret)) = (
            var("AZURE_TENANT_ID"),
            client_id.clone(),
            var("AZURE_CLIENT_SECRET"),
        ) {
            let authority = var("AZURE_AUTHORITY_HOST")
                .unwrap_or_else(|| "https://login.microsoftonline.com".into());
            return Some(TokenSource::new(
                TokenKind::ClientCredentials {
                    authority,
                    tenant_id,
                    client_id,
                    client_secret,
                },
                resource,
            ));
        }
        match (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
            (Some(endpoint), Some(header)) => Some(TokenSource::new(
                TokenKind::ManagedIdentity {
                    endpoint,
                    header,
                    client_id,
                },
                resource,
            )),
            _ => None,
        }
    }

    /// A valid token, fetched when the cached one is missing or expires within five minutes.
    pub async fn token(&self, http: &reqwest::Client) -> Result<String, AzureError> {
        let now = SystemTime::now();
        if let Ok(c) = self.cache.lock() {
            if let Some((t, exp)) = c.as_ref() {
                if *exp > now + Duration::from_secs(300) {
                    return Ok(t.clone());
                }
            }
        }
        let (token, expires) = self.fetch(http).await?;
        if let Ok(mut c) = self.cache.lock() {
            *c = Some((token.clone(), expires));
        }
        Ok(token)
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<(String, SystemTime), AzureError> {
        let (op, req) = match &self.kind {
            TokenKind::ManagedIdentity {
                endpoint,
                header,
                client_id,
            } => {
                let mut url = reqwest::Url::parse(endpoint).map_err(|e| {
                    AzureError::Config(format!("IDENTITY_ENDPOINT `{endpoint}`: {e}"))
                })?;
                url.query_pairs_mut()
                    .append_pair("resource", &self.resource)
                    .append_pair("api-version", "2019-08-01");
                if let Some(c) = client_id {
                    url.query_pairs_mut().append_pair("client_id", c);
                }
                (
                    "managed identity token",
                    http.get(url).header("X-IDENTITY-HEADER", header),
                )
            }
            TokenKind::ClientCredentials {
                authority,
                tenant_id,
                client_id,
                client_secret,
            } => {
                let body = form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", client_secret)
                    .append_pair("scope", &format!("{}/.default", self.resource))
                    .finish();
                let url = format!(
                    "{}/{tenant_id}/oauth2/v2.0/token",
                    authority.trim_end_matches('/')
                );
                (
                    "client credentials token",
                    http.post(url)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(body),
                )
            }
        };
        let what = format!("{op} for {}", self.resource);
        let call = Call {
            service: "Entra ID",
            operation: "GetToken",
            what: &what,
        };
        let resp = req.send().await.map_err(|e| {
            AzureError::Api(ApiError::new(&call, 0, None, crate::http::error_chain(&e)))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if !status.is_success() {
            // The error body names the problem (AADSTS codes); it never contains the secret.
            return Err(AzureError::Api(ApiError::new(
                &call,
                status.as_u16(),
                None,
                text.chars().take(500).collect(),
            )));
        }
        let t: TokenResponse = serde_json::from_str(&text)
            .map_err(|e| AzureError::invalid(&what, format!("token response: {e}")))?;
        let now_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let expires_at = t
            .expires_on
            .as_ref()
            .and_then(num)
            .or_else(|| t.expires_in.as_ref().and_then(num).map(|s| now_secs + s))
            .unwrap_or(now_secs + 300);
        Ok((t.access_token, UNIX_EPOCH + Duration::from_secs(expires_at)))
    }
}

/// How requests to a storage service are authorized.
#[derive(Clone, Debug)]
pub enum StorageAuth {
    /// Account key (Azurite, or accounts that allow shared keys).
    SharedKey(SharedKey),
    /// Entra ID bearer tokens (managed identity in production).
    Bearer(std::sync::Arc<TokenSource>),
}

/// Which signing rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Service {
    Blob,
    Queue,
    Table,
}

impl StorageAuth {
    /// Authorizes `req` (which already carries `x-ms-date` and `x-ms-version`).
    pub(crate) async fn apply(
        &self,
        http: &reqwest::Client,
        service: Service,
        req: &mut Request,
    ) -> Result<(), AzureError> {
        match self {
            StorageAuth::SharedKey(k) => match service {
                Service::Table => k.sign_table(req),
                Service::Blob | Service::Queue => k.sign_blob_queue(req),
            },
            StorageAuth::Bearer(t) => {
                let token = t.token(http).await?;
                set_auth(req, &format!("Bearer {token}"))
            }
        }
    }
}
