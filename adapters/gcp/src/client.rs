//! One [`Gcp`] per process (a Cloud Run instance): the project, the HTTP transport with its
//! retry policy (`costkit-rest`), each service's endpoint, and how requests are authorized.
//!
//! Endpoints default to Google's (`https://firestore.googleapis.com` ...). Each can point at an
//! emulator from the environment, under the names Google's tools use:
//!
//! | Service       | Variable                  | Value                              |
//! |---------------|---------------------------|------------------------------------|
//! | Firestore     | `FIRESTORE_EMULATOR_HOST` | `host:port` (REST on that port)    |
//! | Pub/Sub       | `PUBSUB_EMULATOR_HOST`    | `host:port` (REST on that port)    |
//! | Cloud Storage | `STORAGE_EMULATOR_HOST`   | `http://host:port` (JSON API base) |
//! | BigQuery      | `BIGQUERY_EMULATOR_HOST`  | `http://host:port` (REST base)     |
//!
//! Requests to an emulator carry no token; the others a bearer token from the metadata server
//! ([`crate::auth`]).

use std::sync::Arc;

use costkit_rest::{ApiError, Call, RetryPolicy, Transport};
use reqwest::header::HeaderValue;
use reqwest::{Request, Response, Url};
use serde::de::DeserializeOwned;

use crate::auth::MetadataServer;
use crate::error::GcpError;

/// The Google Cloud services costkit calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// Firestore (native mode), REST v1.
    Firestore,
    /// Pub/Sub, REST v1.
    PubSub,
    /// Cloud Storage, JSON API v1.
    Storage,
    /// BigQuery, REST v2.
    BigQuery,
}

impl Service {
    /// Name in errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            Service::Firestore => "Firestore",
            Service::PubSub => "Pub/Sub",
            Service::Storage => "Cloud Storage",
            Service::BigQuery => "BigQuery",
        }
    }

    /// Google's endpoint.
    pub fn default_base(self) -> &'static str {
        match self {
            Service::Firestore => "https://firestore.googleapis.com",
            Service::PubSub => "https://pubsub.googleapis.com",
            Service::Storage => "https://storage.googleapis.com",
            Service::BigQuery => "https://bigquery.googleapis.com",
        }
    }

    /// The variable naming an emulator for the service.
    pub fn emulator_var(self) -> &'static str {
        match self {
            Service::Firestore => "FIRESTORE_EMULATOR_HOST",
            Service::PubSub => "PUBSUB_EMULATOR_HOST",
            Service::Storage => "STORAGE_EMULATOR_HOST",
            Service::BigQuery => "BIGQUERY_EMULATOR_HOST",
        }
    }

    const ALL: [Service; 4] = [
        Service::Firestore,
        Service::PubSub,
        Service::Storage,
        Service::BigQuery,
    ];

    fn index(self) -> usize {
        match self {
            Service::Firestore => 0,
            Service::PubSub => 1,
            Service::Storage => 2,
            Service::BigQuery => 3,
        }
    }
}

/// Where a service is and whether it wants a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Base URL without a trailing slash (`https://firestore.googleapis.com`).
    pub base: Url,
    /// An emulator: requests carry no token.
    pub emulator: bool,
}

impl Endpoint {
    /// `value` as an emulator endpoint: `host:port` or a URL.
    pub fn emulator(var: &str, value: &str) -> Result<Endpoint, GcpError> {
        let v = value.trim();
        let url = if v.contains("://") {
            v.to_string()
        } else {
            format!("http://{v}")
        };
        Ok(Endpoint {
            base: parse_base(var, &url)?,
            emulator: true,
        })
    }
}

fn parse_base(name: &str, v: &str) -> Result<Url, GcpError> {
    let mut u =
        Url::parse(v).map_err(|e| GcpError::Config(format!("{name} `{v}` is not a URL: {e}")))?;
    // Paths are appended to it: no trailing slash.
    let p = u.path().trim_end_matches('/').to_string();
    u.set_path(&p);
    Ok(u)
}

/// A Google Cloud project and the clients' shared plumbing.
#[derive(Clone, Debug)]
pub struct Gcp {
    transport: Transport,
    project: String,
    endpoints: [Endpoint; 4],
    metadata: Option<Arc<MetadataServer>>,
}

impl Gcp {
    /// The project on Google's endpoints, with tokens from `metadata` (`None`: no token, for
    /// emulators and tests).
    pub fn new(
        project: &str,
        retry: RetryPolicy,
        metadata: Option<Arc<MetadataServer>>,
    ) -> Result<Gcp, GcpError> {
        let project = project.trim();
        if project.is_empty() {
            return Err(GcpError::Config("the project id is empty".into()));
        }
        let mut endpoints = Vec::with_capacity(4);
        for s in Service::ALL {
            endpoints.push(Endpoint {
                base: parse_base(s.name(), s.default_base())?,
                emulator: false,
            });
        }
        let endpoints: [Endpoint; 4] = endpoints
            .try_into()
            .map_err(|_| GcpError::Config("endpoints".into()))?;
        Ok(Gcp {
            transport: Transport::new(retry)?,
            project: project.to_string(),
            endpoints,
            metadata,
        })
    }

    /// The same project with `service` at `endpoint`.
    pub fn with_endpoint(mut self, service: Service, endpoint: Endpoint) -> Gcp {
        self.endpoints[service.index()] = endpoint;
        self
    }

    /// From the environment: the project from `COSTKIT_GCP_PROJECT`, else `GOOGLE_CLOUD_PROJECT`,
    /// else the metadata server; each service's emulator from its variable (see the module
    /// docs); tokens from the metadata server for the services not emulated.
    pub async fn from_env(retry: RetryPolicy) -> Result<Gcp, GcpError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        let emulated: Vec<(Service, String)> = Service::ALL
            .iter()
            .filter_map(|s| var(s.emulator_var()).map(|v| (*s, v)))
            .collect();
        let metadata = if emulated.len() == Service::ALL.len() {
            None
        } else {
            Some(Arc::new(MetadataServer::from_env()?))
        };
        let project = match var("COSTKIT_GCP_PROJECT").or_else(|| var("GOOGLE_CLOUD_PROJECT")) {
            Some(p) => p,
            None => match &metadata {
                Some(m) => m
                    .project_id(&Transport::new(retry.clone())?)
                    .await
                    .map_err(|e| {
                        GcpError::Config(format!(
                            "no project id: set COSTKIT_GCP_PROJECT or GOOGLE_CLOUD_PROJECT \
                             (the metadata server did not answer: {e})"
                        ))
                    })?,
                None => {
                    return Err(GcpError::Config(
                        "no project id: set COSTKIT_GCP_PROJECT or GOOGLE_CLOUD_PROJECT".into(),
                    ))
                }
            },
        };
        let mut gcp = Gcp::new(&project, retry, metadata)?;
        for (s, v) in emulated {
            gcp = gcp.with_endpoint(s, Endpoint::emulator(s.emulator_var(), &v)?);
        }
        Ok(gcp)
    }

    /// The project id.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The HTTP client and retry policy.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Where `service` is.
    pub fn endpoint(&self, service: Service) -> &Endpoint {
        &self.endpoints[service.index()]
    }

    /// `path` (starting with `/`, already percent-encoded where needed) on `service`.
    pub fn url(&self, service: Service, path: &str) -> Result<Url, GcpError> {
        let base = &self.endpoint(service).base;
        let s = format!("{}{path}", base.as_str().trim_end_matches('/'));
        Url::parse(&s).map_err(|e| GcpError::Config(format!("URL `{s}`: {e}")))
    }

    /// Adds the bearer token `service` needs (none for an emulator).
    pub async fn authorize(&self, service: Service, req: &mut Request) -> Result<(), GcpError> {
        if self.endpoint(service).emulator {
            return Ok(());
        }
        let Some(m) = &self.metadata else {
            return Ok(());
        };
        let token = m.token(&self.transport).await?;
        let v = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|e| GcpError::Config(format!("authorization header: {e}")))?;
        req.headers_mut().insert(reqwest::header::AUTHORIZATION, v);
        Ok(())
    }

    /// Sends the request `build` makes (called for every attempt), authorized, with the retry
    /// policy. Returns the first non-transient response, error statuses included.
    pub async fn send<F>(
        &self,
        call: &Call<'_>,
        service: Service,
        mut build: F,
    ) -> Result<Response, GcpError>
    where
        F: FnMut() -> Result<Request, GcpError>,
    {
        self.transport
            .send(call, || {
                let req = build();
                async move {
                    let mut req = req?;
                    self.authorize(service, &mut req).await?;
                    Ok::<_, GcpError>(req)
                }
            })
            .await
    }

    /// Like [`Gcp::send`], but an error status is an error ([`api_error`]).
    pub async fn send_ok<F>(
        &self,
        call: &Call<'_>,
        service: Service,
        build: F,
    ) -> Result<Response, GcpError>
    where
        F: FnMut() -> Result<Request, GcpError>,
    {
        let resp = self.send(call, service, build).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(api_error(call, resp).await)
        }
    }

    /// Like [`Gcp::send_ok`], reading a JSON response.
    pub async fn send_json<T, F>(
        &self,
        call: &Call<'_>,
        service: Service,
        build: F,
    ) -> Result<T, GcpError>
    where
        T: DeserializeOwned,
        F: FnMut() -> Result<Request, GcpError>,
    {
        let resp = self.send_ok(call, service, build).await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| GcpError::invalid(call.what, format!("response: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            GcpError::invalid(
                call.what,
                format!("{} {} response: {e}", call.service, call.operation),
            )
        })
    }
}

impl Gcp {
    /// `POST url` with the JSON `body`, reading a JSON response (see [`Gcp::send_json`]).
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        service: Service,
        url: &Url,
        body: &serde_json::Value,
    ) -> Result<T, GcpError> {
        self.send_json(call, service, || {
            json_request(reqwest::Method::POST, url, body)
        })
        .await
    }
}

/// A JSON request: `method url` with `body` serialized.
pub fn json_request(
    method: reqwest::Method,
    url: &Url,
    body: &serde_json::Value,
) -> Result<Request, GcpError> {
    let bytes = serde_json::to_vec(body)
        .map_err(|e| GcpError::Config(format!("request body for {url}: {e}")))?;
    let mut req = Request::new(method, url.clone());
    req.headers_mut().insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *req.body_mut() = Some(bytes.into());
    Ok(req)
}

/// Turns an error response into [`GcpError::Api`], reading Google's error body
/// (`{"error": {"code", "message", "status", "errors": [{"reason"}]}}`).
pub async fn api_error(call: &Call<'_>, resp: Response) -> GcpError {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let (code, message) = parse_error_body(&body);
    GcpError::Api(ApiError::new(
        call,
        status,
        code,
        message.unwrap_or_else(|| body.chars().take(500).collect()),
    ))
}

fn parse_error_body(body: &str) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return (None, None);
    };
    // Some emulators answer with a one-element array of the error object.
    let v = v.as_array().and_then(|a| a.first()).unwrap_or(&v);
    let e = v.get("error").unwrap_or(v);
    let code = e
        .get("status")
        .and_then(|s| s.as_str())
        .or_else(|| {
            e.get("errors")
                .and_then(|x| x.get(0))
                .and_then(|x| x.get("reason"))
                .and_then(|r| r.as_str())
        })
        .map(str::to_string);
    let msg = e
        .get("message")
        .and_then(|m| m.as_str())
        .map(str::to_string);
    (code, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_error_bodies() {
        let firestore = r#"{"error":{"code":409,"message":"Document already exists: projects/p/databases/(default)/documents/c/d","status":"ALREADY_EXISTS"}}"#;
        assert_eq!(
            parse_error_body(firestore),
            (
                Some("ALREADY_EXISTS".into()),
                Some(
                    "Document already exists: projects/p/databases/(default)/documents/c/d".into()
                )
            )
        );
        let gcs = r#"{"error":{"code":404,"message":"No such object: b/o","errors":[{"message":"No such object: b/o","domain":"global","reason":"notFound"}]}}"#;
        assert_eq!(parse_error_body(gcs).0.as_deref(), Some("notFound"));
        let array = r#"[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(
            parse_error_body(array).0.as_deref(),
            Some("INVALID_ARGUMENT")
        );
        assert_eq!(parse_error_body("<html>"), (None, None));
    }

    #[test]
    fn emulator_endpoints_take_host_port_or_a_url() {
        let e = Endpoint::emulator("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080").expect("ok");
        assert_eq!(e.base.as_str(), "http://127.0.0.1:8080/");
        assert!(e.emulator);
        let e = Endpoint::emulator("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443/").expect("ok");
        assert_eq!(e.base.as_str(), "http://127.0.0.1:4443/");
        let gcp = Gcp::new("p", RetryPolicy::default(), None)
            .expect("gcp")
            .with_endpoint(Service::Storage, e);
        assert_eq!(
            gcp.url(Service::Storage, "/storage/v1/b/x/o")
                .expect("url")
                .as_str(),
            "http://127.0.0.1:4443/storage/v1/b/x/o"
        );
        assert_eq!(
            gcp.url(Service::Firestore, "/v1/projects/p")
                .expect("url")
                .as_str(),
            "https://firestore.googleapis.com/v1/projects/p"
        );
        assert!(Gcp::new(" ", RetryPolicy::default(), None).is_err());
    }
}
