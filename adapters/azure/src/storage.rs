//! A storage account: its Blob, Queue and Table endpoints, how requests are authorized, and the
//! request plumbing (date, version, signature, retries) the three services share.

use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Request, Response, Url};

use crate::auth::{Service, SharedKey, StorageAuth, TokenSource, STORAGE_RESOURCE};
use crate::error::AzureError;
use crate::http::{api_error, Call, RetryPolicy, Transport};

/// `x-ms-version` of Blob and Queue requests.
pub const BLOB_QUEUE_VERSION: &str = "2023-11-03";
/// `x-ms-version` of Table requests (the Table service's newest version).
pub const TABLE_VERSION: &str = "2019-02-02";

/// One storage account.
#[derive(Clone, Debug)]
pub struct Storage {
    transport: Transport,
    auth: StorageAuth,
    blob: Url,
    queue: Url,
    table: Url,
}

fn parse_url(name: &str, v: &str) -> Result<Url, AzureError> {
    let mut u = Url::parse(v.trim())
        .map_err(|e| AzureError::Config(format!("{name} `{v}` is not a URL: {e}")))?;
    // Paths are appended below; a trailing slash would double it.
    let p = u.path().trim_end_matches('/').to_string();
    u.set_path(&p);
    Ok(u)
}

impl Storage {
    /// The account from a connection string: `AccountName`/`AccountKey` with either
    /// `BlobEndpoint`/`QueueEndpoint`/`TableEndpoint` (Azurite) or `DefaultEndpointsProtocol` +
    /// `EndpointSuffix`; `UseDevelopmentStorage=true` is Azurite on its default ports.
    pub fn from_connection_string(cs: &str, retry: RetryPolicy) -> Result<Storage, AzureError> {
        let mut fields = std::collections::HashMap::new();
        for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                AzureError::Config(format!(
                    "connection string: `{}` is not key=value",
                    part.split('=').next().unwrap_or("")
                ))
            })?;
            fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        if fields
            .get("usedevelopmentstorage")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            let key = SharedKey::devstore();
            return Storage::new(
                StorageAuth::SharedKey(key),
                "http://127.0.0.1:10000/devstoreaccount1",
                "http://127.0.0.1:10001/devstoreaccount1",
                "http://127.0.0.1:10002/devstoreaccount1",
                retry,
            );
        }
        let account = fields
            .get("accountname")
            .ok_or_else(|| AzureError::Config("connection string has no AccountName".into()))?;
        let key = fields
            .get("accountkey")
            .ok_or_else(|| AzureError::Config("connection string has no AccountKey".into()))?;
        let key = SharedKey::new(account, key)?;
        let protocol = fields
            .get("defaultendpointsprotocol")
            .map_or("https", String::as_str);
        let suffix = fields
            .get("endpointsuffix")
            .map_or("core.windows.net", String::as_str);
        let ep = |svc: &str| {
            fields
                .get(&format!("{svc}endpoint"))
                .cloned()
                .unwrap_or_else(|| format!("{protocol}://{account}.{svc}.{suffix}"))
        };
        Storage::new(
            StorageAuth::SharedKey(key),
            &ep("blob"),
            &ep("queue"),
            &ep("table"),
            retry,
        )
    }

    /// The account `account` in public Azure with Entra ID tokens (managed identity).
    pub fn with_token(
        account: &str,
        tokens: Arc<TokenSource>,
        retry: RetryPolicy,
    ) -> Result<Storage, AzureError> {
        let ep = |svc: &str| format!("https://{account}.{svc}.core.windows.net");
        Storage::new(
            StorageAuth::Bearer(tokens),
            &ep("blob"),
            &ep("queue"),
            &ep("table"),
            retry,
        )
    }

    /// From the environment, first match wins:
    /// 1. `COSTKIT_STORAGE_CONNECTION_STRING`, else `AzureWebJobsStorage` (a connection string);
    /// 2. `COSTKIT_STORAGE_ACCOUNT`, else `AzureWebJobsStorage__accountName` (identity-based
    ///    connection): bearer tokens from the managed identity or client credentials.
    pub fn from_env(retry: RetryPolicy) -> Result<Storage, AzureError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        if let Some(cs) =
            var("COSTKIT_STORAGE_CONNECTION_STRING").or_else(|| var("AzureWebJobsStorage"))
        {
            return Storage::from_connection_string(&cs, retry);
        }
        if let Some(account) =
            var("COSTKIT_STORAGE_ACCOUNT").or_else(|| var("AzureWebJobsStorage__accountName"))
        {
            let tokens = TokenSource::from_env(STORAGE_RESOURCE).ok_or_else(|| {
                AzureError::Config(format!(
                    "storage account `{account}` without a key needs a managed identity \
                     (IDENTITY_ENDPOINT, IDENTITY_HEADER) or AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET"
                ))
            })?;
            return Storage::with_token(&account, Arc::new(tokens), retry);
        }
        Err(AzureError::Config(
            "no storage account: set COSTKIT_STORAGE_CONNECTION_STRING (or AzureWebJobsStorage) \
             or COSTKIT_STORAGE_ACCOUNT (or AzureWebJobsStorage__accountName)"
                .into(),
        ))
    }

    /// The account at explicit endpoints.
    pub fn new(
        auth: StorageAuth,
        blob: &str,
        queue: &str,
        table: &str,
        retry: RetryPolicy,
    ) -> Result<Storage, AzureError> {
        Ok(Storage {
            transport: crate::http::transport(retry)?,
            auth,
            blob: parse_url("BlobEndpoint", blob)?,
            queue: parse_url("QueueEndpoint", queue)?,
            table: parse_url("TableEndpoint", table)?,
        })
    }

    /// The HTTP client and retry policy.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn endpoint(&self, service: Service) -> &Url {
        match service {
            Service::Blob => &self.blob,
            Service::Queue => &self.queue,
            Service::Table => &self.table,
        }
    }

    /// The endpoint with `segments` appended (each percent-encoded on its own).
    pub(crate) fn url<'s>(
        &self,
        service: Service,
        segments: impl IntoIterator<Item = &'s str>,
    ) -> Url {
        let mut u = self.endpoint(service).clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty();
            p.extend(segments);
        }
        u
    }

    async fn build(
        &self,
        service: Service,
        method: Method,
        url: Url,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Request, AzureError> {
        let mut req = Request::new(method, url);
        let h = req.headers_mut();
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let version = match service {
            Service::Table => TABLE_VERSION,
            Service::Blob | Service::Queue => BLOB_QUEUE_VERSION,
        };
        let mut put = |k: &str, v: &str| -> Result<(), AzureError> {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| AzureError::Config(format!("header `{k}`: {e}")))?;
            let value = HeaderValue::from_str(v)
                .map_err(|e| AzureError::Config(format!("header `{k}` value: {e}")))?;
            h.insert(name, value);
            Ok(())
        };
        put("x-ms-date", &date)?;
        put("x-ms-version", version)?;
        for (k, v) in headers {
            put(k, v)?;
        }
        if let Some(b) = body {
            *req.body_mut() = Some(b.to_vec().into());
        } else if matches!(*req.method(), Method::PUT | Method::POST) {
            // Storage wants an explicit zero length on empty PUT/POST.
            *req.body_mut() = Some(Vec::new().into());
        }
        self.auth
            .apply(&self.transport.client, service, &mut req)
            .await?;
        Ok(req)
    }

    /// Sends one request with retries and returns the response, error statuses included.
    pub(crate) async fn send(
        &self,
        call: &Call<'_>,
        service: Service,
        method: Method,
        url: &Url,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Response, AzureError> {
        self.transport
            .send(call, || {
                self.build(service, method.clone(), url.clone(), headers, body)
            })
            .await
    }

    /// Like [`Storage::send`], but an error status is an error.
    pub(crate) async fn send_ok(
        &self,
        call: &Call<'_>,
        service: Service,
        method: Method,
        url: &Url,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Result<Response, AzureError> {
        let resp = self.send(call, service, method, url, headers, body).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(api_error(call, resp).await)
        }
    }
}
