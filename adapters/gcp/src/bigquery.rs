//! The Cloud Billing export in BigQuery as the ingest flow's cost source.
//!
//! One billing month at a time, costkit runs a `jobs.query` (`POST
//! bigquery/v2/projects/{project}/queries`) over the standard table
//! (`gcp_billing_export_v1_<ACCOUNT>`), the detailed table (`gcp_billing_export_resource_v1_<ACCOUNT>`)
//! or Google's FOCUS view, follows `jobs.getQueryResults` with `pageToken` to the last page (polling
//! with `timeoutMs` while `jobComplete` is false) and turns each page of `f`/`v` rows back into the
//! shape the foundation's normalizers read:
//!
//! * standard and detailed tables: newline-delimited JSON rows exactly as `bq extract` writes them
//!   (nested records as objects, repeated records as arrays, numbers as the text BigQuery sent,
//!   timestamps as RFC 3339), dialect `gcp-billing`;
//! * the FOCUS view: a FOCUS CSV (repeated key/value records such as `Tags` as a JSON object, other
//!   records as JSON), dialect `focus`.
//!
//! **Which rows.** The store replaces whole (account, billing period) slices, and a GCP billing
//! period is the *invoice month* (`invoice.month`, Pacific time), so the query selects
//! `invoice.month IN UNNEST(@invoice_months)` for the months the day range touches. A
//! `usage_start_time` day range would be wrong twice over: the first hours of a UTC month belong
//! to the previous Pacific invoice (loading them would replace that month's slice with 7 hours of
//! it), and late-arriving rows (usage reported late, corrections, credits) are *restated onto the
//! open invoice* with an older usage time, so they would be dropped. With `invoice.month` every run
//! re-reads the whole invoice to date, which is what the slice replacement wants.
//!
//! **Partition pruning** on `_PARTITIONTIME` is opt-in ([`ExportQuery::partition_lookback_days`]):
//! the export tables are partitioned by load day, and rows restated onto an invoice keep being
//! loaded after its month ended, so only a *lower* bound is ever safe (the invoice month's first day
//! minus the lookback, never an upper bound). It is off by default because no row of an invoice may
//! be missed if an account's tables were created differently (copied, or re-partitioned on
//! `usage_start_time`); `docs/gcp-deploy.md` says when to turn it on to cut the bytes scanned.
//!
//! **Failures.** A 200 response with `errors[]` is a failure naming the query (BigQuery and its
//! emulator both report some SQL errors that way). 429 and 5xx are retried by the shared transport
//! (`Retry-After` honoured); `jobs.query` carries a `requestId`, so a retried POST does not start a
//! second job. The rows received must add up to `totalRows`, or the run fails.
//!
//! Money never goes through a double: `FLOAT64` and `NUMERIC` cells are kept as the decimal text
//! BigQuery sent (checked to be a finite number), exactly what the normalizers parse.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, Months, NaiveDate, SecondsFormat, Utc};
use costkit_core::breakdown::DayRange;
use costkit_core::flow::ingest::CostSource;
use costkit_core::ports::PortError;
use costkit_rest::{error_chain, Call};
use reqwest::{Method, Request, Url};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use thiserror::Error;
use tokio::runtime::Handle;

use crate::client::{api_error, json_request, Gcp, Service};
use crate::error::GcpError;

const SVC: &str = "BigQuery";
/// Pages followed at most for one query.
const MAX_PAGES: usize = 100_000;

/// BigQuery failures.
#[derive(Debug, Error)]
pub enum BigQueryError {
    /// Bad settings (table name, endpoint...).
    #[error("BigQuery configuration: {0}")]
    Config(String),
    /// The call failed: an error status, the retries ran out, no token.
    #[error(transparent)]
    Gcp(#[from] GcpError),
    /// The query failed although the call succeeded (`errors[]` in a 200, a job that never ends).
    #[error("BigQuery {what}: {msg}")]
    Query {
        /// The query (`standard export billing-proj.billing.gcp_billing_export_v1_X for 202409`).
        what: String,
        /// The service's messages.
        msg: String,
    },
    /// A response costkit cannot read, or rows that do not add up.
    #[error("BigQuery {what}: {msg}")]
    Invalid {
        /// The query.
        what: String,
        /// What is wrong (page and row, field path).
        msg: String,
    },
}

impl BigQueryError {
    fn invalid(what: &str, msg: impl Into<String>) -> BigQueryError {
        BigQueryError::Invalid {
            what: what.to_string(),
            msg: msg.into(),
        }
    }
}

/// Which billing data a table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// `gcp_billing_export_v1_<ACCOUNT>`.
    Standard,
    /// `gcp_billing_export_resource_v1_<ACCOUNT>`.
    Detailed,
    /// Google's FOCUS view (or table) over the export.
    Focus,
}

impl ExportKind {
    /// The core dialect the pages are in.
    pub fn dialect(self) -> &'static str {
        match self {
            ExportKind::Standard | ExportKind::Detailed => "gcp-billing",
            ExportKind::Focus => "focus",
        }
    }

    /// The cost-source name (keys, job ids).
    pub fn source_name(self) -> &'static str {
        match self {
            ExportKind::Standard => "gcp-bq-standard",
            ExportKind::Detailed => "gcp-bq-detailed",
            ExportKind::Focus => "gcp-bq-focus",
        }
    }

    /// Guesses the kind from Google's table names; `None` for any other name.
    pub fn from_table_name(table: &str) -> Option<ExportKind> {
        if table.starts_with("gcp_billing_export_resource_v1_") {
            Some(ExportKind::Detailed)
        } else if table.starts_with("gcp_billing_export_v1_") {
            Some(ExportKind::Standard)
        } else if table.contains("focus") {
            Some(ExportKind::Focus)
        } else {
            None
        }
    }

    fn label(self) -> &'static str {
        match self {
            ExportKind::Standard => "standard export",
            ExportKind::Detailed => "detailed export",
            ExportKind::Focus => "FOCUS view",
        }
    }
}

/// A fully qualified table or view, `project.dataset.table`.
///
/// Table names cannot be query parameters, so each part is checked against BigQuery's naming
/// rules before it is put into SQL (between backquotes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRef {
    /// Project id (`billing-proj`, or domain-scoped `example.com:proj`).
    pub project: String,
    /// Dataset id.
    pub dataset: String,
    /// Table or view id.
    pub table: String,
}

impl TableRef {
    /// Parses `project.dataset.table` (a domain-scoped project `example.com:proj` is allowed).
    pub fn parse(s: &str) -> Result<TableRef, BigQueryError> {
        let s = s.trim().trim_matches('`');
        let bad = |why: &str| BigQueryError::Config(format!("table `{s}`: {why}"));
        let (rest, table) = s
            .rsplit_once('.')
            .ok_or_else(|| bad("expected project.dataset.table"))?;
        let (project, dataset) = rest
            .rsplit_once('.')
            .ok_or_else(|| bad("expected project.dataset.table"))?;
        let project_ok = |p: &str| {
            let (domain, id) = p.rsplit_once(':').unwrap_or(("", p));
            (6..=30).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        };
        if !project_ok(project) {
            return Err(bad(
                "the project id must be 6-30 lower-case letters, digits or hyphens",
            ));
        }
        if dataset.is_empty()
            || dataset.len() > 1024
            || !dataset
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(bad("the dataset id must be letters, digits or underscores"));
        }
        if table.is_empty()
            || table.len() > 1024
            || !table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(bad(
                "the table id must be letters, digits, underscores or hyphens",
            ));
        }
        Ok(TableRef {
            project: project.to_string(),
            dataset: dataset.to_string(),
            table: table.to_string(),
        })
    }
}

impl fmt::Display for TableRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.project, self.dataset, self.table)
    }
}

/// The first day of every month that `range` touches (end exclusive), oldest first.
pub fn months_of(range: &DayRange) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let Some(last) = range.end.pred_opt().filter(|l| *l >= range.start) else {
        return out;
    };
    let mut m = range.start.with_day(1).unwrap_or(range.start);
    while m <= last {
        out.push(m);
        match m.checked_add_months(Months::new(1)) {
            Some(next) => m = next,
            None => break,
        }
    }
    out
}

/// What to select from the export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportQuery {
    /// The table or view.
    pub table: TableRef,
    /// What it holds.
    pub kind: ExportKind,
    /// Prune partitions: `_PARTITIONTIME >=` the first invoice month's first day minus this many
    /// days (standard and detailed tables only; never an upper bound). `None`: no pruning.
    pub partition_lookback_days: Option<u32>,
}

impl ExportQuery {
    /// The SQL (named parameters `@invoice_months`, `@partition_from`, `@period_from`,
    /// `@period_to`).
    pub fn sql(&self) -> String {
        let t = &self.table;
        match self.kind {
            ExportKind::Standard | ExportKind::Detailed => {
                // Unqualified: a pseudo-column of the only table in FROM (bqemulator also
                // rejects the qualified `t._PARTITIONTIME`).
                let prune = if self.partition_lookback_days.is_some() {
                    "\n  AND _PARTITIONTIME >= @partition_from"
                } else {
                    ""
                };
                format!(
                    "SELECT t.* FROM `{t}` AS t\nWHERE t.invoice.month IN UNNEST(@invoice_months){prune}"
                )
            }
            // A Pacific-time billing period starts at 07:00 or 08:00 UTC on the 1st, so it lies
            // inside the UTC calendar month: half-open UTC month bounds select whole periods.
            ExportKind::Focus => format!(
                "SELECT t.* FROM `{t}` AS t\nWHERE t.BillingPeriodStart >= @period_from AND t.BillingPeriodStart < @period_to"
            ),
        }
    }

    /// The query parameters for `range`; `None` when the range is empty.
    pub fn parameters(&self, range: &DayRange) -> Option<Vec<Value>> {
        let months = months_of(range);
        let first = *months.first()?;
        let last = *months.last()?;
        let ts = |d: NaiveDate| format!("{d} 00:00:00+00");
        let mut params = Vec::new();
        match self.kind {
            ExportKind::Standard | ExportKind::Detailed => {
                let values: Vec<Value> = months
                    .iter()
                    .map(|m| json!({"value": m.format("%Y%m").to_string()}))
                    .collect();
                params.push(json!({
                    "name": "invoice_months",
                    "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
                    "parameterValue": {"arrayValues": values},
                }));
                if let Some(days) = self.partition_lookback_days {
                    let from = first
                        .checked_sub_days(chrono::Days::new(u64::from(days)))
                        .unwrap_or(first);
                    params.push(json!({
                        "name": "partition_from",
                        "parameterType": {"type": "TIMESTAMP"},
                        "parameterValue": {"value": ts(from)},
                    }));
                }
            }
            ExportKind::Focus => {
                let to = last.checked_add_months(Months::new(1)).unwrap_or(last);
                params.push(json!({
                    "name": "period_from",
                    "parameterType": {"type": "TIMESTAMP"},
                    "parameterValue": {"value": ts(first)},
                }));
                params.push(json!({
                    "name": "period_to",
                    "parameterType": {"type": "TIMESTAMP"},
                    "parameterValue": {"value": ts(to)},
                }));
            }
        }
        Some(params)
    }

    /// How errors name this query.
    pub fn describe(&self, range: &DayRange) -> String {
        let months: Vec<String> = months_of(range)
            .iter()
            .map(|m| m.format("%Y%m").to_string())
            .collect();
        format!(
            "{} {} for invoice month {}",
            self.kind.label(),
            self.table,
            months.join(",")
        )
    }
}

/// A column of a result schema.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Field {
    /// Column name.
    pub name: String,
    /// `STRING`, `FLOAT`, `NUMERIC`, `TIMESTAMP`, `RECORD`...
    #[serde(rename = "type")]
    pub kind: String,
    /// `NULLABLE`, `REQUIRED` or `REPEATED`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Sub-fields of a record.
    #[serde(default)]
    pub fields: Vec<Field>,
}

impl Field {
    fn repeated(&self) -> bool {
        self.mode.as_deref() == Some("REPEATED")
    }
}

#[derive(Deserialize)]
struct Schema {
    #[serde(default)]
    fields: Vec<Field>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobRef {
    #[serde(default)]
    project_id: Option<String>,
    job_id: String,
    #[serde(default)]
    location: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorProto {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    location: Option<String>,
}

impl fmt::Display for ErrorProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.reason.as_deref().unwrap_or("error"),
            self.location
                .as_deref()
                .map(|l| format!(" at {l}"))
                .unwrap_or_default(),
            self.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )
    }
}

/// `jobs.query` and `jobs.getQueryResults` answers (the fields costkit reads).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryResponse {
    #[serde(default)]
    job_reference: Option<JobRef>,
    #[serde(default)]
    job_complete: Option<bool>,
    #[serde(default)]
    schema: Option<Schema>,
    #[serde(default)]
    rows: Vec<Value>,
    #[serde(default)]
    total_rows: Option<String>,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    errors: Vec<ErrorProto>,
}

/// One page of results: the schema and the rows as BigQuery sent them (`{"f": [{"v": ...}]}`).
#[derive(Clone, Debug)]
pub struct ResultPage {
    /// Result schema.
    pub schema: Arc<Vec<Field>>,
    /// Rows.
    pub rows: Vec<Value>,
}

/// The BigQuery REST client (the two calls costkit needs).
#[derive(Clone, Debug)]
pub struct BigQuery {
    gcp: Gcp,
    /// The project the query jobs run (and are billed) in.
    job_project: String,
    /// The dataset's location (`US`, `EU`, `europe-west1`); `None` lets BigQuery find it.
    location: Option<String>,
    /// Rows per page.
    page_size: u32,
    /// How long one call waits for the job (`timeoutMs`).
    wait: Duration,
    /// How long a query may run in all before costkit gives up.
    deadline: Duration,
}

impl BigQuery {
    /// A client on `gcp`'s BigQuery endpoint (Google's, or the emulator of
    /// `BIGQUERY_EMULATOR_HOST`), running query jobs in `gcp`'s project (which needs
    /// `roles/bigquery.jobUser`; the export dataset may live in another project and needs
    /// `roles/bigquery.dataViewer`).
    pub fn new(gcp: Gcp) -> BigQuery {
        let job_project = gcp.project().to_string();
        BigQuery {
            gcp,
            job_project,
            location: None,
            page_size: 10_000,
            wait: Duration::from_secs(10),
            deadline: Duration::from_secs(600),
        }
    }

    /// Runs the query jobs in `project` instead.
    pub fn with_job_project(mut self, project: &str) -> Result<BigQuery, BigQueryError> {
        let p = project.trim();
        if p.is_empty() {
            return Err(BigQueryError::Config("the job project is empty".into()));
        }
        self.job_project = p.to_string();
        Ok(self)
    }

    /// Runs jobs in the dataset's `location`.
    pub fn with_location(mut self, location: Option<String>) -> BigQuery {
        self.location = location.filter(|l| !l.trim().is_empty());
        self
    }

    /// Rows per page (`maxResults`), at least 1.
    pub fn with_page_size(mut self, rows: u32) -> BigQuery {
        self.page_size = rows.max(1);
        self
    }

    /// How long each call waits for the job, and how long the whole query may take.
    pub fn with_timeouts(mut self, per_call: Duration, deadline: Duration) -> BigQuery {
        self.wait = per_call;
        self.deadline = deadline;
        self
    }

    fn url(&self, tail: &str) -> Result<Url, BigQueryError> {
        Ok(self.gcp.url(
            Service::BigQuery,
            &format!("/bigquery/v2/projects/{}/{tail}", self.job_project),
        )?)
    }

    async fn call(
        &self,
        call: &Call<'_>,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<QueryResponse, BigQueryError> {
        let what = call.what;
        let resp = self
            .gcp
            .send(call, Service::BigQuery, || match body {
                Some(b) => json_request(method.clone(), url, b),
                None => Ok(Request::new(method.clone(), url.clone())),
            })
            .await?;
        if !resp.status().is_success() {
            return Err(api_error(call, resp).await.into());
        }
        let text = resp.text().await.map_err(|e| {
            BigQueryError::invalid(what, format!("reading the response: {}", error_chain(&e)))
        })?;
        let r: QueryResponse = serde_json::from_str(&text).map_err(|e| {
            BigQueryError::invalid(
                what,
                format!(
                    "{} response is not the documented JSON: {e}",
                    call.operation
                ),
            )
        })?;
        if !r.errors.is_empty() {
            let msgs: Vec<String> = r.errors.iter().map(ToString::to_string).collect();
            return Err(BigQueryError::Query {
                what: what.to_string(),
                msg: format!("the query failed: {}", msgs.join("; ")),
            });
        }
        Ok(r)
    }

    /// Runs `sql` with `params` and returns every page of the result.
    pub async fn query(
        &self,
        sql: &str,
        params: Vec<Value>,
        what: &str,
    ) -> Result<Vec<ResultPage>, BigQueryError> {
        let started = Instant::now();
        let timeout_ms = u64::try_from(self.wait.as_millis()).unwrap_or(10_000);
        // One id per logical query: a POST retried after a lost response finds the same job.
        let request_id = format!(
            "costkit-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        let mut body = json!({
            "query": sql,
            "useLegacySql": false,
            "parameterMode": "NAMED",
            "queryParameters": params,
            "maxResults": self.page_size,
            "timeoutMs": timeout_ms,
            "formatOptions": {"useInt64Timestamp": true},
            "requestId": request_id,
            "labels": {"costkit": "ingest"},
        });
        if let Some(loc) = &self.location {
            body["location"] = json!(loc);
        }
        let post = Call {
            service: SVC,
            operation: "jobs.query",
            what,
        };
        let mut resp = self
            .call(&post, Method::POST, &self.url("queries")?, Some(&body))
            .await?;
        let job = resp.job_reference.take().ok_or_else(|| {
            BigQueryError::invalid(what, "jobs.query answered without jobReference")
        })?;
        let project = job
            .project_id
            .clone()
            .unwrap_or_else(|| self.job_project.clone());
        let location = job.location.clone().or_else(|| self.location.clone());
        let get = Call {
            service: SVC,
            operation: "jobs.getQueryResults",
            what,
        };
        let results_url = |token: Option<&str>| -> Result<Url, BigQueryError> {
            let mut u = self.gcp.url(
                Service::BigQuery,
                &format!("/bigquery/v2/projects/{project}/queries/{}", job.job_id),
            )?;
            {
                let mut q = u.query_pairs_mut();
                q.append_pair("maxResults", &self.page_size.to_string());
                q.append_pair("timeoutMs", &timeout_ms.to_string());
                q.append_pair("formatOptions.useInt64Timestamp", "true");
                if let Some(l) = &location {
                    q.append_pair("location", l);
                }
                if let Some(t) = token {
                    q.append_pair("pageToken", t);
                }
            }
            Ok(u)
        };
        // Wait for the job: getQueryResults with timeoutMs blocks server-side up to that long.
        while resp.job_complete != Some(true) {
            if started.elapsed() > self.deadline {
                return Err(BigQueryError::Query {
                    what: what.to_string(),
                    msg: format!(
                        "job {} still running after {} s; giving up",
                        job.job_id,
                        self.deadline.as_secs()
                    ),
                });
            }
            resp = self
                .call(&get, Method::GET, &results_url(None)?, None)
                .await?;
        }
        let total: Option<u64> = resp.total_rows.as_deref().and_then(|t| t.parse().ok());
        let mut schema: Option<Arc<Vec<Field>>> = None;
        let mut pages = Vec::new();
        let mut seen_tokens = std::collections::HashSet::new();
        let mut received: u64 = 0;
        loop {
            if schema.is_none() {
                if let Some(s) = resp.schema.take() {
                    schema = Some(Arc::new(s.fields));
                }
            }
            let rows = std::mem::take(&mut resp.rows);
            if !rows.is_empty() {
                let s = schema
                    .clone()
                    .ok_or_else(|| BigQueryError::invalid(what, "rows arrived without a schema"))?;
                received += rows.len() as u64;
                pages.push(ResultPage { schema: s, rows });
            }
            let Some(token) = resp.page_token.take().filter(|t| !t.is_empty()) else {
                break;
            };
            if !seen_tokens.insert(token.clone()) || pages.len() >= MAX_PAGES {
                return Err(BigQueryError::invalid(
                    what,
                    format!("pageToken `{token}` repeats or paging never ends"),
                ));
            }
            if started.elapsed() > self.deadline {
                return Err(BigQueryError::Query {
                    what: what.to_string(),
                    msg: format!("paging took longer than {} s", self.deadline.as_secs()),
                });
            }
            resp = self
                .call(&get, Method::GET, &results_url(Some(&token))?, None)
                .await?;
            if resp.job_complete == Some(false) {
                return Err(BigQueryError::invalid(
                    what,
                    "a result page reported the finished job as incomplete",
                ));
            }
        }
        if let Some(total) = total {
            if total != received {
                return Err(BigQueryError::invalid(
                    what,
                    format!("totalRows is {total} but {received} rows arrived"),
                ));
            }
        }
        tracing::debug!(what, rows = received, pages = pages.len(), "query done");
        Ok(pages)
    }
}

// ---------------------------------------------------------------------------------------------
// Rows back into the export's shape.

/// Where in the result a value sits, for error messages.
struct At<'a> {
    what: &'a str,
    page: usize,
    row: usize,
}

impl At<'_> {
    fn err(&self, path: &str, msg: impl fmt::Display) -> BigQueryError {
        BigQueryError::invalid(
            self.what,
            format!(
                "page {} row {}, field `{path}`: {msg}",
                self.page + 1,
                self.row + 1
            ),
        )
    }
}

/// A `TIMESTAMP` cell as RFC 3339 UTC: int64 microseconds (`useInt64Timestamp`) or the older
/// floating seconds form (`1.7251776E9`), read exactly.
fn timestamp(text: &str) -> Option<String> {
    let t = text.trim();
    let micros: i64 = if t.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        t.parse().ok()?
    } else {
        let secs = Decimal::from_scientific(t)
            .or_else(|_| t.parse::<Decimal>())
            .ok()?;
        let m = secs.checked_mul(Decimal::from(1_000_000))?;
        if !m.fract().is_zero() {
            return None;
        }
        i64::try_from(m.trunc()).ok()?
    };
    let dt: DateTime<Utc> = DateTime::from_timestamp_micros(micros)?;
    Some(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn is_numeric(kind: &str) -> bool {
    matches!(
        kind,
        "FLOAT"
            | "FLOAT64"
            | "NUMERIC"
            | "BIGNUMERIC"
            | "BIGDECIMAL"
            | "DECIMAL"
            | "INTEGER"
            | "INT64"
    )
}

/// The decimal text of a numeric cell, unchanged; `NaN`/`Infinity` and non-numbers are errors
/// (a cost that is not a number must stop the run, not vanish).
fn number_text(text: &str) -> Option<&str> {
    let t = text.trim();
    let ok = t.parse::<Decimal>().is_ok() || Decimal::from_scientific(t).is_ok();
    ok.then_some(t)
}

/// One cell (`v`) of `field` as JSON in the export's shape.
fn cell(field: &Field, v: &Value, path: &str, at: &At<'_>) -> Result<Value, BigQueryError> {
    if field.repeated() {
        let items = match v {
            Value::Null => return Ok(Value::Array(Vec::new())),
            Value::Array(a) => a,
            _ => return Err(at.err(path, "a repeated field is not an array")),
        };
        let single = Field {
            mode: Some("NULLABLE".into()),
            ..field.clone()
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let inner = item.get("v").unwrap_or(&Value::Null);
            out.push(cell(&single, inner, &format!("{path}[{i}]"), at)?);
        }
        return Ok(Value::Array(out));
    }
    if v.is_null() {
        return Ok(Value::Null);
    }
    let kind = field.kind.as_str();
    if matches!(kind, "RECORD" | "STRUCT") {
        let cells = v
            .get("f")
            .and_then(Value::as_array)
            .ok_or_else(|| at.err(path, "a record without `f`"))?;
        return record(&field.fields, cells, path, at);
    }
    let text = v
        .as_str()
        .ok_or_else(|| at.err(path, format!("expected a string cell, got {v}")))?;
    Ok(match kind {
        _ if is_numeric(kind) => Value::String(
            number_text(text)
                .ok_or_else(|| at.err(path, format!("`{text}` is not a finite number")))?
                .to_string(),
        ),
        "TIMESTAMP" => Value::String(
            timestamp(text).ok_or_else(|| at.err(path, format!("`{text}` is not a timestamp")))?,
        ),
        "BOOLEAN" | "BOOL" => match text {
            "true" | "TRUE" => Value::Bool(true),
            "false" | "FALSE" => Value::Bool(false),
            _ => return Err(at.err(path, format!("`{text}` is not a boolean"))),
        },
        "JSON" => serde_json::from_str(text)
            .map_err(|e| at.err(path, format!("JSON column is not JSON: {e}")))?,
        _ => Value::String(text.to_string()),
    })
}

fn record(
    fields: &[Field],
    cells: &[Value],
    path: &str,
    at: &At<'_>,
) -> Result<Value, BigQueryError> {
    if cells.len() != fields.len() {
        return Err(at.err(
            if path.is_empty() { "(row)" } else { path },
            format!("{} cells for {} schema fields", cells.len(), fields.len()),
        ));
    }
    let mut obj = Map::with_capacity(fields.len());
    for (f, c) in fields.iter().zip(cells) {
        let p = if path.is_empty() {
            f.name.clone()
        } else {
            format!("{path}.{}", f.name)
        };
        let v = c.get("v").unwrap_or(&Value::Null);
        obj.insert(f.name.clone(), cell(f, v, &p, at)?);
    }
    Ok(Value::Object(obj))
}

/// One result row as a JSON object in the export's shape.
fn row_object(
    schema: &[Field],
    row: &Value,
    at: &At<'_>,
) -> Result<Map<String, Value>, BigQueryError> {
    let cells = row
        .get("f")
        .and_then(Value::as_array)
        .ok_or_else(|| at.err("(row)", "a row without `f`"))?;
    match record(schema, cells, "", at)? {
        Value::Object(m) => Ok(m),
        _ => Err(at.err("(row)", "not a record")),
    }
}

/// A page as newline-delimited JSON, one export row per line (the `gcp-billing` dialect).
pub fn page_to_ndjson(
    page: &ResultPage,
    page_no: usize,
    what: &str,
) -> Result<Vec<u8>, BigQueryError> {
    let mut out = Vec::with_capacity(page.rows.len() * 1024);
    for (i, row) in page.rows.iter().enumerate() {
        let at = At {
            what,
            page: page_no,
            row: i,
        };
        let obj = row_object(&page.schema, row, &at)?;
        serde_json::to_writer(&mut out, &Value::Object(obj))
            .map_err(|e| at.err("(row)", format!("writing JSON: {e}")))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// A repeated `{key, value}` record (FOCUS `Tags`) as one JSON object; `None` for other shapes.
fn key_value_object(v: &Value) -> Option<Value> {
    let items = v.as_array()?;
    let mut m = Map::with_capacity(items.len());
    for item in items {
        let o = item.as_object()?;
        let key = o.get("key")?.as_str()?;
        m.insert(
            key.to_string(),
            o.get("value").cloned().unwrap_or(Value::Null),
        );
    }
    Some(Value::Object(m))
}

/// A page of FOCUS view rows as FOCUS CSV (the `focus` dialect): scalar columns as text, `Tags`
/// given as repeated key/value records as a JSON object, other records and arrays as JSON.
pub fn page_to_focus_csv(
    page: &ResultPage,
    page_no: usize,
    what: &str,
) -> Result<Vec<u8>, BigQueryError> {
    let mut w = csv::Writer::from_writer(Vec::with_capacity(page.rows.len() * 1024));
    let header: Vec<&str> = page.schema.iter().map(|f| f.name.as_str()).collect();
    let csv_err = |e: csv::Error| BigQueryError::invalid(what, format!("writing CSV: {e}"));
    w.write_record(&header).map_err(csv_err)?;
    for (i, row) in page.rows.iter().enumerate() {
        let at = At {
            what,
            page: page_no,
            row: i,
        };
        let obj = row_object(&page.schema, row, &at)?;
        let mut cells: Vec<String> = Vec::with_capacity(obj.len());
        for f in page.schema.iter() {
            let v = obj.get(&f.name).unwrap_or(&Value::Null);
            cells.push(match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::Array(a) if a.is_empty() && f.name == "Tags" => String::new(),
                other => {
                    let shaped = if f.name == "Tags" {
                        key_value_object(other).unwrap_or_else(|| other.clone())
                    } else {
                        other.clone()
                    };
                    shaped.to_string()
                }
            });
        }
        w.write_record(&cells).map_err(csv_err)?;
    }
    w.into_inner()
        .map_err(|e| BigQueryError::invalid(what, format!("writing CSV: {e}")))
}

/// The billing export as the ingest flow's [`CostSource`]: one query per billing month, each
/// result page one raw page (empty pages are skipped; a month without rows has no pages).
#[derive(Clone, Debug)]
pub struct BillingExportSource {
    bq: BigQuery,
    query: ExportQuery,
    handle: Handle,
}

impl BillingExportSource {
    /// A source running `query` through `bq` on the runtime `handle`.
    pub fn new(bq: BigQuery, query: ExportQuery, handle: Handle) -> BillingExportSource {
        BillingExportSource { bq, query, handle }
    }

    /// The pages for `range`, converted (async form of [`CostSource::fetch`]).
    pub async fn pages(&self, range: &DayRange) -> Result<Vec<Vec<u8>>, BigQueryError> {
        let what = self.query.describe(range);
        let Some(params) = self.query.parameters(range) else {
            return Ok(Vec::new());
        };
        let pages = self.bq.query(&self.query.sql(), params, &what).await?;
        let mut out = Vec::with_capacity(pages.len());
        for (i, p) in pages.iter().enumerate() {
            out.push(match self.query.kind {
                ExportKind::Standard | ExportKind::Detailed => page_to_ndjson(p, i, &what)?,
                ExportKind::Focus => page_to_focus_csv(p, i, &what)?,
            });
        }
        Ok(out)
    }
}

/// The source's settings from environment variables (the Cloud Run service's, set by
/// `infra/gcp`):
///
/// | variable | meaning |
/// |---|---|
/// | `COSTKIT_BILLING_TABLE` | `project.dataset.table` of the export table or FOCUS view (unset: no source) |
/// | `COSTKIT_BILLING_TABLE_KIND` | `standard`, `detailed` or `focus`; default from Google's table names |
/// | `COSTKIT_BIGQUERY_LOCATION` | the dataset's location (`US`, `EU`, `europe-west1`) |
/// | `COSTKIT_BIGQUERY_JOB_PROJECT` | the project the query jobs run in (default: the service's) |
/// | `COSTKIT_BIGQUERY_PARTITION_LOOKBACK_DAYS` | turns on `_PARTITIONTIME` pruning (see the module docs) |
/// | `COSTKIT_BIGQUERY_PAGE_SIZE` | rows per page (default 10000) |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSettings {
    /// What to query.
    pub query: ExportQuery,
    /// Dataset location.
    pub location: Option<String>,
    /// Job project override.
    pub job_project: Option<String>,
    /// Rows per page.
    pub page_size: Option<u32>,
}

impl SourceSettings {
    /// Reads the variables through `var` (`None` when `COSTKIT_BILLING_TABLE` is unset).
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<SourceSettings>, BigQueryError> {
        let var = |n: &str| var(n).filter(|v| !v.trim().is_empty());
        let Some(table) = var("COSTKIT_BILLING_TABLE") else {
            return Ok(None);
        };
        let table = TableRef::parse(&table)?;
        let kind = match var("COSTKIT_BILLING_TABLE_KIND").as_deref().map(str::trim) {
            Some("standard") => ExportKind::Standard,
            Some("detailed") => ExportKind::Detailed,
            Some("focus") => ExportKind::Focus,
            Some(other) => {
                return Err(BigQueryError::Config(format!(
                    "COSTKIT_BILLING_TABLE_KIND `{other}`: expected standard, detailed or focus"
                )))
            }
            None => ExportKind::from_table_name(&table.table).ok_or_else(|| {
                BigQueryError::Config(format!(
                    "cannot tell what `{table}` holds from its name: set COSTKIT_BILLING_TABLE_KIND \
                     to standard, detailed or focus"
                ))
            })?,
        };
        let number = |name: &str| -> Result<Option<u32>, BigQueryError> {
            var(name)
                .map(|v| {
                    v.trim().parse::<u32>().map_err(|_| {
                        BigQueryError::Config(format!("{name} `{v}` is not a whole number"))
                    })
                })
                .transpose()
        };
        let partition_lookback_days = number("COSTKIT_BIGQUERY_PARTITION_LOOKBACK_DAYS")?;
        if partition_lookback_days.is_some() && kind == ExportKind::Focus {
            return Err(BigQueryError::Config(
                "COSTKIT_BIGQUERY_PARTITION_LOOKBACK_DAYS applies to the export tables, not to a FOCUS view".into(),
            ));
        }
        Ok(Some(SourceSettings {
            query: ExportQuery {
                table,
                kind,
                partition_lookback_days,
            },
            location: var("COSTKIT_BIGQUERY_LOCATION"),
            job_project: var("COSTKIT_BIGQUERY_JOB_PROJECT"),
            page_size: number("COSTKIT_BIGQUERY_PAGE_SIZE")?,
        }))
    }

    /// The source on `gcp`, running on `handle`.
    pub fn source(self, gcp: Gcp, handle: Handle) -> Result<BillingExportSource, BigQueryError> {
        let mut bq = BigQuery::new(gcp).with_location(self.location);
        if let Some(p) = &self.job_project {
            bq = bq.with_job_project(p)?;
        }
        if let Some(n) = self.page_size {
            bq = bq.with_page_size(n);
        }
        Ok(BillingExportSource::new(bq, self.query, handle))
    }
}

impl CostSource for BillingExportSource {
    fn name(&self) -> &str {
        self.query.kind.source_name()
    }

    fn dialect(&self) -> &str {
        self.query.kind.dialect()
    }

    fn fetch(&self, range: &DayRange) -> Result<Vec<Vec<u8>>, PortError> {
        self.handle
            .block_on(self.pages(range))
            .map_err(|e| PortError::backend(self.query.describe(range), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect(s)
    }

    #[test]
    fn table_names_are_checked_before_they_reach_sql() {
        let t = TableRef::parse("billing-proj.billing.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9")
            .expect("valid");
        assert_eq!(t.dataset, "billing");
        assert!(TableRef::parse("example.com:billing-proj.ds.t").is_ok());
        for bad in [
            "ds.table",
            "billing-proj.ds.t` WHERE 1=1; --",
            "Billing-Proj.ds.t",
            "billing-proj.d s.t",
            "billing-proj.ds.",
        ] {
            assert!(TableRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_day_range_selects_whole_invoice_months() {
        let r = DayRange {
            start: d("2024-09-01"),
            end: d("2024-09-20"),
        };
        assert_eq!(months_of(&r), vec![d("2024-09-01")]);
        let r = DayRange {
            start: d("2024-08-15"),
            end: d("2024-10-01"),
        };
        assert_eq!(months_of(&r), vec![d("2024-08-01"), d("2024-09-01")]);
        let empty = DayRange {
            start: d("2024-09-01"),
            end: d("2024-09-01"),
        };
        assert!(months_of(&empty).is_empty());
        let q = ExportQuery {
            table: TableRef::parse("billing-proj.billing.gcp_billing_export_v1_X").expect("t"),
            kind: ExportKind::Standard,
            partition_lookback_days: Some(2),
        };
        let p = q.parameters(&r).expect("params");
        assert_eq!(p[0]["parameterValue"]["arrayValues"][1]["value"], "202409");
        assert_eq!(p[1]["parameterValue"]["value"], "2024-07-30 00:00:00+00");
        assert!(q.sql().contains("AND _PARTITIONTIME >= @partition_from"));
        let focus = ExportQuery {
            kind: ExportKind::Focus,
            partition_lookback_days: None,
            ..q
        };
        let p = focus.parameters(&r).expect("params");
        assert_eq!(p[0]["parameterValue"]["value"], "2024-08-01 00:00:00+00");
        assert_eq!(p[1]["parameterValue"]["value"], "2024-10-01 00:00:00+00");
    }

    #[test]
    fn settings_from_the_environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(SourceSettings::from_vars(vars(&[])).expect("ok"), None);
        let s = SourceSettings::from_vars(vars(&[
            (
                "COSTKIT_BILLING_TABLE",
                "billing-proj.billing.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9",
            ),
            ("COSTKIT_BIGQUERY_LOCATION", "EU"),
            ("COSTKIT_BIGQUERY_PARTITION_LOOKBACK_DAYS", "2"),
        ]))
        .expect("ok")
        .expect("some");
        assert_eq!(s.query.kind, ExportKind::Detailed);
        assert_eq!(s.query.partition_lookback_days, Some(2));
        assert_eq!(s.location.as_deref(), Some("EU"));
        let e = SourceSettings::from_vars(vars(&[(
            "COSTKIT_BILLING_TABLE",
            "billing-proj.billing.my_view",
        )]))
        .expect_err("kind unknown");
        assert!(e.to_string().contains("COSTKIT_BILLING_TABLE_KIND"), "{e}");
        let s = SourceSettings::from_vars(vars(&[
            ("COSTKIT_BILLING_TABLE", "billing-proj.billing.my_view"),
            ("COSTKIT_BILLING_TABLE_KIND", "focus"),
        ]))
        .expect("ok")
        .expect("some");
        assert_eq!(s.query.kind, ExportKind::Focus);
        assert!(SourceSettings::from_vars(vars(&[
            (
                "COSTKIT_BILLING_TABLE",
                "billing-proj.billing.gcp_billing_export_v1_X"
            ),
            ("COSTKIT_BIGQUERY_PAGE_SIZE", "many"),
        ]))
        .is_err());
    }

    #[test]
    fn timestamps_in_both_rest_forms_are_exact() {
        assert_eq!(
            timestamp("1726308000000000").as_deref(),
            Some("2024-09-14T10:00:00Z")
        );
        assert_eq!(
            timestamp("1727860447123456").as_deref(),
            Some("2024-10-02T09:14:07.123456Z")
        );
        assert_eq!(
            timestamp("1.7251776E9").as_deref(),
            Some("2024-09-01T08:00:00Z")
        );
        assert_eq!(timestamp("soon"), None);
        assert_eq!(
            timestamp("1.0000000000000001E9"),
            None,
            "sub-microsecond is not a BigQuery time"
        );
    }

    #[test]
    fn rows_come_back_in_the_export_shape_with_numbers_as_sent() {
        let schema: Vec<Field> = serde_json::from_value(json!([
            {"name": "cost", "type": "FLOAT"},
            {"name": "n", "type": "NUMERIC"},
            {"name": "ts", "type": "TIMESTAMP"},
            {"name": "invoice", "type": "RECORD", "fields": [{"name": "month", "type": "STRING"}]},
            {"name": "credits", "type": "RECORD", "mode": "REPEATED", "fields": [
                {"name": "amount", "type": "FLOAT"}, {"name": "type", "type": "STRING"}]},
            {"name": "inherited", "type": "BOOLEAN"}
        ]))
        .expect("schema");
        let row = json!({"f": [
            {"v": "0.1234567890123"}, {"v": "1.123456789"}, {"v": "1726308000000000"},
            {"v": {"f": [{"v": "202409"}]}},
            {"v": [{"v": {"f": [{"v": "-1e-06"}, {"v": "PROMOTION"}]}}]},
            {"v": null}
        ]});
        let page = ResultPage {
            schema: Arc::new(schema),
            rows: vec![row],
        };
        let text = page_to_ndjson(&page, 0, "q").expect("converts");
        let back: Value = serde_json::from_slice(&text).expect("json");
        assert_eq!(
            back,
            json!({"cost": "0.1234567890123", "n": "1.123456789", "ts": "2024-09-14T10:00:00Z",
                   "invoice": {"month": "202409"},
                   "credits": [{"amount": "-1e-06", "type": "PROMOTION"}], "inherited": null})
        );
        let bad = ResultPage {
            schema: page.schema.clone(),
            rows: vec![json!({"f": [
                {"v": "NaN"}, {"v": null}, {"v": null}, {"v": null}, {"v": []}, {"v": null}]})],
        };
        let e = page_to_ndjson(&bad, 2, "standard export t for invoice month 202409")
            .expect_err("NaN cost");
        assert_eq!(
            e.to_string(),
            "BigQuery standard export t for invoice month 202409: page 3 row 1, field `cost`: `NaN` is not a finite number"
        );
    }

    #[test]
    fn focus_rows_become_focus_csv_with_tags_as_an_object() {
        let schema: Vec<Field> = serde_json::from_value(json!([
            {"name": "BilledCost", "type": "NUMERIC"},
            {"name": "ChargePeriodStart", "type": "TIMESTAMP"},
            {"name": "Tags", "type": "RECORD", "mode": "REPEATED", "fields": [
                {"name": "key", "type": "STRING"}, {"name": "value", "type": "STRING"}]},
            {"name": "x_Credits", "type": "RECORD", "mode": "REPEATED", "fields": [
                {"name": "amount", "type": "NUMERIC"}]}
        ]))
        .expect("schema");
        let page = ResultPage {
            schema: Arc::new(schema),
            rows: vec![json!({"f": [
                {"v": "12.5"}, {"v": "1726308000000000"},
                {"v": [{"v": {"f": [{"v": "env"}, {"v": "prod"}]}}]},
                {"v": [{"v": {"f": [{"v": "-0.5"}]}}]}
            ]})],
        };
        let csv = String::from_utf8(page_to_focus_csv(&page, 0, "q").expect("csv")).expect("utf8");
        assert_eq!(
            csv,
            "BilledCost,ChargePeriodStart,Tags,x_Credits\n12.5,2024-09-14T10:00:00Z,\"{\"\"env\"\":\"\"prod\"\"}\",\"[{\"\"amount\"\":\"\"-0.5\"\"}]\"\n"
        );
    }
}
