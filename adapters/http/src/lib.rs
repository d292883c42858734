//! # costkit-http
//!
//! costkit's HTTP API: one axum [`Router`] that every shell serves. `costkit serve` runs it on
//! 127.0.0.1 over the SQLite store; the AWS report function wraps it in `lambda_http` behind a
//! Function URL; the Azure and GCP handlers forward to it.
//!
//! Routes (see `docs/reports.md`):
//!
//! * `GET /healthz`: liveness, never authenticated, touches no data.
//! * `GET /reports/{period}.json`, `.csv`, `.html`, `.xlsx`: the period report
//!   ([`costkit_core::report::generate`], with the engine sections [`ApiConfig::engines`]
//!   configures); `?provider=AWS` narrows the scope.
//! * `GET /focus/{period}.csv`, `.parquet`: the period's FOCUS slice from the blob store
//!   ([`ApiConfig::blobs`]; 404 when none is configured or the period has no FOCUS parts).
//! * `GET /dashboard` and `GET /dashboard/data.json`: the interactive dashboard (see
//!   [`dashboard`]).
//!
//! Every other route is 404; with no credentials configured every route but `/healthz` is 401
//! ([`Auth`]). Downloads carry `Content-Type`, `Content-Disposition`, a strong `ETag` (304 on
//! `If-None-Match`) and are compressed with gzip when the client accepts it.
//!
//! Building the router for a shell:
//!
//! ```no_run
//! use std::sync::Arc;
//! use costkit_http::{router, ApiConfig, Auth, ApiKeyHash, OpenPerRequest};
//! # fn open() -> Result<costkit_sqlite::SqliteStore, costkit_core::store::StoreError> { unimplemented!() }
//! let store = Arc::new(OpenPerRequest::new(open));
//! let config = ApiConfig::new(Auth::api_keys([ApiKeyHash::of("secret")]));
//! let app: axum::Router = router(store, config);
//! ```
//!
//! The store is called on tokio's blocking pool (`spawn_blocking`): every [`CostStore`] is
//! synchronous, and the SQLite one is `Send` but not `Sync`.

pub mod auth;
pub mod dashboard;
pub mod encoding;

use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use costkit_core::output::OutputFormat;
use costkit_core::ports::{BlobStore, StateStore};
use costkit_core::report::{
    self, EngineConfig, ReportError, ReportOptions, ReportPeriod, ReportScope,
};
use costkit_core::store::{CostStore, StoreError};

pub use auth::{sign_path, ApiKeyHash, Auth, Decision, SigningKey};

/// Access to a store for one request. Implementations decide whether each request opens its own
/// connection ([`OpenPerRequest`]) or requests take turns on one ([`SharedStore`]).
pub trait StoreAccess: Send + Sync + 'static {
    /// Runs `f` with a store. Called on a blocking thread.
    fn with_store(&self, f: &mut dyn FnMut(&dyn CostStore)) -> Result<(), StoreError>;
}

/// Opens a store for every request (SQLite: a connection per request, so requests run side by
/// side).
pub struct OpenPerRequest<F> {
    open: F,
}

impl<F> OpenPerRequest<F> {
    /// Wraps an opening function.
    pub fn new(open: F) -> Self {
        OpenPerRequest { open }
    }
}

impl<F, S> StoreAccess for OpenPerRequest<F>
where
    F: Fn() -> Result<S, StoreError> + Send + Sync + 'static,
    S: CostStore,
{
    fn with_store(&self, f: &mut dyn FnMut(&dyn CostStore)) -> Result<(), StoreError> {
        let s = (self.open)()?;
        f(&s);
        Ok(())
    }
}

/// One store shared by every request, one request at a time (a store that is `Send` but not
/// `Sync`, or one that holds a client worth reusing).
pub struct SharedStore<S> {
    store: Mutex<S>,
}

impl<S> SharedStore<S> {
    /// Wraps a store.
    pub fn new(store: S) -> Self {
        SharedStore {
            store: Mutex::new(store),
        }
    }
}

impl<S: CostStore + Send + 'static> StoreAccess for SharedStore<S> {
    fn with_store(&self, f: &mut dyn FnMut(&dyn CostStore)) -> Result<(), StoreError> {
        // A panic while holding the lock leaves the store as it was (reads only), so a poisoned
        // lock is still usable.
        let guard = self.store.lock().unwrap_or_else(|p| p.into_inner());
        f(&*guard);
        Ok(())
    }
}

/// The clock the API reads (report `now`, link expiry); tests and replays can fix it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What the router needs besides the store.
#[derive(Clone)]
pub struct ApiConfig {
    /// Authentication.
    pub auth: Auth,
    /// What reports include (tag breakdowns, budgets, limits).
    pub report: ReportOptions,
    /// The engine sections of reports (anomaly monitors, forecast).
    pub engines: EngineConfig,
    /// Where the FOCUS files are (`focus/billing_period=YYYY-MM/`): a directory locally, the
    /// bucket in AWS. Without one, `/focus/...` answers 404.
    pub blobs: Option<Arc<dyn BlobStore>>,
    /// The flows' state store, where each slice's current delivery is recorded. With it, FOCUS
    /// downloads skip superseded deliveries of a month; without it every file under the
    /// period's prefix is served (a local directory holding one delivery per period).
    pub state: Option<Arc<dyn StateStore>>,
    /// The clock (default: the system clock).
    pub clock: Clock,
}

impl ApiConfig {
    /// Default report options and the system clock.
    pub fn new(auth: Auth) -> Self {
        ApiConfig {
            auth,
            report: ReportOptions::default(),
            engines: EngineConfig::default(),
            blobs: None,
            state: None,
            clock: Arc::new(Utc::now),
        }
    }
}

pub(crate) struct AppState {
    store: Arc<dyn StoreAccess>,
    config: ApiConfig,
}

pub(crate) type Shared = Arc<AppState>;

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string() + "\n";
        let mut r = (self.status, body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"costkit\""),
            );
        }
        r
    }
}

/// The router over `store`. Hand it to `axum::serve` ([`serve`]), to `lambda_http::run`, or call
/// it as a tower `Service`.
pub fn router(store: Arc<dyn StoreAccess>, config: ApiConfig) -> Router {
    let state: Shared = Arc::new(AppState { store, config });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/reports/{file}", get(report_file))
        .route("/focus/{file}", get(focus_file))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/data.json", get(dashboard::data))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let mut parts = v.splitn(2, ' ');
        let scheme = parts.next().unwrap_or("");
        if scheme.eq_ignore_ascii_case("bearer") {
            return parts.next().map(str::trim).filter(|k| !k.is_empty());
        }
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

async fn authenticate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let now = (state.config.clock)().timestamp();
    let decision = state.config.auth.check(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query(),
        presented_key(req.headers()),
        now,
    );
    match decision {
        Decision::Allow => next.run(req).await,
        Decision::Unauthorized(m) => {
            tracing::info!(path = req.uri().path(), "401: {m}");
            ApiError::new(StatusCode::UNAUTHORIZED, m).into_response()
        }
        Decision::Forbidden(m) => {
            tracing::info!(path = req.uri().path(), "403: {m}");
            ApiError::new(StatusCode::FORBIDDEN, m).into_response()
        }
    }
}

async fn healthz() -> Response {
    let mut r = (StatusCode::OK, "{\"status\":\"ok\"}\n").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// Download formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Csv,
    Html,
    Xlsx,
    Parquet,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Html => "text/html; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }

    fn ext(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Html => "html",
            Format::Xlsx => "xlsx",
            Format::Parquet => "parquet",
        }
    }

    /// XLSX and Parquet are compressed already: compressing again costs CPU for nothing.
    fn compressible(self) -> bool {
        !matches!(self, Format::Xlsx | Format::Parquet)
    }

    /// HTML opens in the browser; everything else downloads.
    fn disposition(self) -> &'static str {
        match self {
            Format::Html => "inline",
            _ => "attachment",
        }
    }
}

fn scope_from_query(query: Option<&str>) -> Result<ReportScope, ApiError> {
    let mut scope = ReportScope::default();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "provider" if scope.provider.is_none() && !v.is_empty() => {
                scope.provider = Some(v.into_owned())
            }
            "provider" => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "give `provider` once, with a value",
                ))
            }
            // Signed-link parameters, already checked.
            "expires" | "sig" => {}
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("unknown query parameter `{other}` (known: provider)"),
                ))
            }
        }
    }
    Ok(scope)
}

async fn report_file(
    State(state): State<Shared>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (period, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such route"))?;
    let format = match ext {
        "json" => Format::Json,
        "csv" => Format::Csv,
        "html" => Format::Html,
        "xlsx" => Format::Xlsx,
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no report format `.{ext}`; use .json, .csv, .html or .xlsx"),
            ))
        }
    };
    let period = ReportPeriod::parse(period)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let scope = scope_from_query(query.as_deref())?;
    let now = (state.config.clock)();

    let st = state.clone();
    let body = tokio::task::spawn_blocking(move || render(&st, &period, &scope, format, now))
        .await
        .map_err(|e| {
            tracing::error!("report task failed: {e}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the report task failed")
        })??;
    respond_bytes(&body.0, &body.1, format, &method, &headers)
}

fn render(
    st: &AppState,
    period: &ReportPeriod,
    scope: &ReportScope,
    format: Format,
    now: DateTime<Utc>,
) -> Result<(Vec<u8>, String), ApiError> {
    let mut out: Option<Result<(Vec<u8>, String), ApiError>> = None;
    st.store
        .with_store(&mut |store| {
            let r = report::generate(
                store,
                period,
                scope,
                &st.config.report,
                &st.config.engines,
                now,
            );
            out = Some(match r {
                Ok(rep) => {
                    let bytes = match format {
                        Format::Json => report::render_json(&rep).map_err(|e| e.to_string()),
                        Format::Csv => report::render_csv(&rep).map_err(|e| e.to_string()),
                        Format::Html => report::render_html(&rep).map_err(|e| e.to_string()),
                        Format::Xlsx => report::render_xlsx(&rep).map_err(|e| e.to_string()),
                        Format::Parquet => Err("a report has no Parquet form".to_string()),
                    };
                    bytes.map(|b| (b, rep.file_stem())).map_err(|e| {
                        tracing::error!("rendering the report failed: {e}");
                        ApiError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "rendering the report failed",
                        )
                    })
                }
                Err(e) => Err(report_error(e)),
            });
        })
        .map_err(|e| report_error(ReportError::Store(e)))?;
    out.unwrap_or_else(|| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the store did not run the report",
        ))
    })
}

async fn focus_file(
    State(state): State<Shared>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (period, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such route"))?;
    let (format, out) = match ext {
        "csv" => (Format::Csv, OutputFormat::Csv),
        "parquet" => (Format::Parquet, OutputFormat::Parquet),
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no FOCUS format `.{ext}`; use .csv or .parquet"),
            ))
        }
    };
    let period = ReportPeriod::parse(period)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let scope = scope_from_query(query.as_deref())?;
    if scope.provider.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the FOCUS slice is the whole billing period; `provider` is not supported here",
        ));
    }
    let Some(blobs) = state.config.blobs.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no FOCUS files are configured for this server",
        ));
    };
    let label = period.label.clone();
    let flow_state = state.config.state.clone();
    let body = tokio::task::spawn_blocking(move || -> Result<Option<Vec<u8>>, ApiError> {
        let dir = tempfile::tempdir().map_err(internal)?;
        let path = report::write_focus_slice(
            blobs.as_ref(),
            flow_state.as_deref(),
            &period,
            out,
            dir.path(),
        )
        .map_err(|e| {
            tracing::error!("FOCUS slice of {}: {e}", period.label);
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reading the FOCUS files failed; see the server log",
            )
        })?;
        match path {
            Some(p) => Ok(Some(std::fs::read(p).map_err(internal)?)),
            None => Ok(None),
        }
    })
    .await
    .map_err(|e| {
        tracing::error!("FOCUS task failed: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the FOCUS task failed")
    })??;
    let Some(body) = body else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no FOCUS files for {label}"),
        ));
    };
    respond_bytes(
        &body,
        &format!("costkit-focus-{label}"),
        format,
        &method,
        &headers,
    )
}

fn report_error(e: ReportError) -> ApiError {
    match e {
        ReportError::InvalidPeriod(_) => ApiError::new(StatusCode::BAD_REQUEST, e.to_string()),
        ReportError::NoData { .. } => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
        ReportError::Store(s) => {
            // The backend's message can name files and hosts: log it, answer without it.
            tracing::error!("store error: {s}");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the cost store failed; see the server log",
            )
        }
    }
}

pub(crate) fn respond_bytes(
    body: &[u8],
    stem: &str,
    format: Format,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let coding = if body.len() >= encoding::MIN_COMPRESS && format.compressible() {
        encoding::choose(accept)
    } else {
        encoding::Coding::Identity
    };
    let tag = encoding::etag(body, coding);
    let mut builder = Response::builder()
        .header(header::ETAG, &tag)
        .header(header::VARY, "Accept-Encoding")
        // Reports are private data: caches may keep them for this user only and must revalidate.
        .header(header::CACHE_CONTROL, "private, no-cache")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| encoding::none_match(v, &tag));
    if not_modified {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(internal);
    }
    let encoded = encoding::encode(body, coding).map_err(internal)?;
    builder = builder
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, format.content_type())
        .header(
            header::CONTENT_DISPOSITION,
            format!(
                "{}; filename=\"{stem}.{}\"",
                format.disposition(),
                format.ext()
            ),
        )
        .header(header::CONTENT_LENGTH, encoded.len());
    if format == Format::Html {
        // The report page is self-contained: it needs nothing but its inline styles.
        builder = builder.header(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        );
    }
    if let Some(t) = coding.token() {
        builder = builder.header(header::CONTENT_ENCODING, t);
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(encoded)
    };
    builder.body(body).map_err(internal)
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!("building a response failed: {e}");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}
