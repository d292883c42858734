//! Cost Explorer `GetCostAndUsage`: daily costs, every page, as the raw JSON AWS sent.
//!
//! The raw response bodies are kept (not the SDK's parsed structs) so they can be stored in S3
//! unchanged and read by `costkit_core::normalize::aws_ce`, which reconciles its FOCUS records
//! against the response's own amounts.
//!
//! Cost Explorer allows a handful of requests per second and bills each one, so throttling
//! (`ThrottlingException`, `LimitExceededException`) and transient failures (network errors,
//! 5xx) are retried here with bounded exponential backoff and full jitter ([`Backoff`]); the SDK's
//! own retry is off for this client so attempts are not multiplied.

use std::sync::{Arc, Mutex};

use aws_sdk_costexplorer::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_costexplorer::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_costexplorer::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_costexplorer::types::{DateInterval, GroupDefinition, GroupDefinitionType};
use chrono::{Datelike, Months, NaiveDate};

use crate::clients::AwsClients;
use crate::error::AwsError;
use crate::retry::{is_throttling_code, Backoff};

const SVC: &str = "Cost Explorer";
const OP: &str = "GetCostAndUsage";
/// A query that pages on past this is broken (a token that repeats): stop rather than spend.
const MAX_PAGES: usize = 10_000;

/// Metrics requested. `NetUnblendedCost` is the invoice amount after discounts (BilledCost),
/// `NetAmortizedCost` its amortized counterpart (EffectiveCost); the gross metrics and usage are
/// kept as `x_` columns by the normalizer.
pub const METRICS: &[&str] = &[
    "UnblendedCost",
    "AmortizedCost",
    "NetUnblendedCost",
    "NetAmortizedCost",
    "UsageQuantity",
];

/// The second daily query's grouping (Cost Explorer allows two group keys per query; the first
/// query always uses `SERVICE` and `LINKED_ACCOUNT`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecondGrouping {
    /// `REGION`, `LINKED_ACCOUNT`.
    Region,
    /// A cost allocation tag key, `LINKED_ACCOUNT`.
    Tag(String),
}

/// One `GetCostAndUsage` query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CeQuery {
    /// A name for storage keys and logs (`service-account`, `region-account`, `tag-team-account`).
    pub label: String,
    /// First day (inclusive).
    pub start: NaiveDate,
    /// Last day (exclusive, as in Cost Explorer).
    pub end: NaiveDate,
    /// Metrics to request.
    pub metrics: Vec<String>,
    /// Group keys: (`DIMENSION` | `TAG` | `COST_CATEGORY`, key).
    pub group_by: Vec<(GroupDefinitionType, String)>,
}

impl CeQuery {
    /// The two standard daily queries for `[start, end)`: by service and linked account, and by
    /// region (or a tag) and linked account. Both carry the linked account so every record lands
    /// in the right account's slice. They are two views of the same money: normalize and load one
    /// of them into a store slice, never both.
    pub fn daily_pair(start: NaiveDate, end: NaiveDate, second: &SecondGrouping) -> [CeQuery; 2] {
        let metrics: Vec<String> = METRICS.iter().map(|m| m.to_string()).collect();
        let (label, def) = match second {
            SecondGrouping::Region => (
                "region-account".to_string(),
                (GroupDefinitionType::Dimension, "REGION".to_string()),
            ),
            SecondGrouping::Tag(k) => (
                format!("tag-{}-account", sanitize(k)),
                (GroupDefinitionType::Tag, k.clone()),
            ),
        };
        let account = (GroupDefinitionType::Dimension, "LINKED_ACCOUNT".to_string());
        [
            CeQuery {
                label: "service-account".into(),
                start,
                end,
                metrics: metrics.clone(),
                group_by: vec![
                    (GroupDefinitionType::Dimension, "SERVICE".into()),
                    account.clone(),
                ],
            },
            CeQuery {
                label,
                start,
                end,
                metrics,
                group_by: vec![def, account],
            },
        ]
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The pages of one query, each the raw JSON body of a `GetCostAndUsage` response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CePages {
    /// The query that produced them.
    pub query: CeQuery,
    /// Response bodies in page order.
    pub pages: Vec<Vec<u8>>,
}

impl CePages {
    /// The pages as one JSON array: the form `costkit_core::normalize::aws_ce` reads as "the
    /// pages of one query" (and the form stored in S3).
    pub fn to_json_array(&self) -> Vec<u8> {
        let len: usize = self.pages.iter().map(|p| p.len() + 2).sum();
        let mut out = Vec::with_capacity(len + 2);
        out.push(b'[');
        for (i, p) in self.pages.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b",\n");
            }
            out.extend_from_slice(p.trim_ascii());
        }
        out.extend_from_slice(b"]\n");
        out
    }
}

/// Keeps the raw body of the response a request got (one capture per call).
#[derive(Clone, Debug, Default)]
struct CaptureBody(Arc<Mutex<Option<Vec<u8>>>>);

impl CaptureBody {
    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }
}

impl Intercept for CaptureBody {
    fn name(&self) -> &'static str {
        "costkit::CaptureBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_costexplorer::error::BoxError> {
        // Non-streaming responses are fully read before deserialization: the bytes are here.
        if let (Some(bytes), Ok(mut slot)) = (context.response().body().bytes(), self.0.lock()) {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// Whether a failed call is worth another attempt: throttling, network trouble, a 5xx.
fn retryable<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool
where
    R: std::fmt::Debug,
    SdkError<E, R>: ProvideErrorMetadata,
{
    if e.code().is_some_and(is_throttling_code) {
        return true;
    }
    matches!(
        e,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
    )
}

/// Whether the service answered with a 5xx (any Cost Explorer operation).
fn server_error<E>(e: &SdkError<E, aws_sdk_costexplorer::config::http::HttpResponse>) -> bool {
    e.raw_response()
        .is_some_and(|r| r.status().is_server_error())
}

/// The Cost Explorer fetcher.
#[derive(Clone, Debug)]
pub struct CostExplorer {
    pub(crate) client: aws_sdk_costexplorer::Client,
    pub(crate) backoff: Backoff,
    history_months: u32,
}

impl CostExplorer {
    /// A fetcher using the shared clients and their Cost Explorer backoff; 13 months of history.
    pub fn new(clients: &AwsClients) -> CostExplorer {
        CostExplorer {
            client: clients.cost_explorer().clone(),
            backoff: clients.settings().cost_explorer_backoff.clone(),
            history_months: 13,
        }
    }

    /// Sets how many months Cost Explorer keeps (13 by default; 38 with multi-year data
    /// enabled in the account), the current month included.
    pub fn with_history_months(mut self, months: u32) -> CostExplorer {
        self.history_months = months.max(1);
        self
    }

    /// Sets the retry policy.
    pub fn with_backoff(mut self, backoff: Backoff) -> CostExplorer {
        self.backoff = backoff;
        self
    }

    /// Clamps `[start, end)` to what Cost Explorer can answer on `today`: not before the first
    /// day of the oldest month it keeps (a query starting earlier is refused by the API) and not
    /// past tomorrow (no data yet). Fails when nothing is left.
    pub fn clamp(
        &self,
        start: NaiveDate,
        end: NaiveDate,
        today: NaiveDate,
    ) -> Result<(NaiveDate, NaiveDate), AwsError> {
        let month_start = today.with_day(1).unwrap_or(today);
        let earliest = month_start
            .checked_sub_months(Months::new(self.history_months - 1))
            .unwrap_or(month_start);
        let latest = today.succ_opt().unwrap_or(today);
        let (s, e) = (start.max(earliest), end.min(latest));
        if s >= e {
            return Err(AwsError::Config(format!(
                "Cost Explorer range {start}..{end} is outside the {} months it keeps ({earliest}..{latest})",
                self.history_months
            )));
        }
        if s != start || e != end {
            tracing::info!(%start, %end, clamped_start = %s, clamped_end = %e, "clamped Cost Explorer range");
        }
        Ok((s, e))
    }

    /// Fetches every page of `query` (after [`CostExplorer::clamp`]ing its range to `today`).
    pub async fn fetch(&self, query: &CeQuery, today: NaiveDate) -> Result<CePages, AwsError> {
        let (start, end) = self.clamp(query.start, query.end, today)?;
        let mut query = query.clone();
        query.start = start;
        query.end = end;
        let period = DateInterval::builder()
            .start(start.format("%Y-%m-%d").to_string())
            .end(end.format("%Y-%m-%d").to_string())
            .build()
            .map_err(|e| AwsError::Config(format!("Cost Explorer request: {e}")))?;
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .client
                .get_cost_and_usage()
                .time_period(period.clone())
                .granularity(aws_sdk_costexplorer::types::Granularity::Daily)
                .set_next_page_token(token.clone());
            for m in &query.metrics {
                req = req.metrics(m);
            }
            for (t, k) in &query.group_by {
                req = req.group_by(GroupDefinition::builder().r#type(t.clone()).key(k).build());
            }
            let (out, body) = self.send_with_retry(req).await?;
            pages.push(body);
            match out.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) => {
                    if token.as_deref() == Some(next.as_str()) || pages.len() >= MAX_PAGES {
                        return Err(AwsError::Invalid {
                            what: format!("{SVC} {OP} ({})", query.label),
                            message: format!(
                                "paging does not end (page {}, token repeats or too many pages)",
                                pages.len()
                            ),
                        });
                    }
                    token = Some(next);
                }
                None => break,
            }
        }
        tracing::info!(query = %query.label, pages = pages.len(), %start, %end, "fetched Cost Explorer pages");
        Ok(CePages { query, pages })
    }

    async fn send_with_retry(
        &self,
        req: aws_sdk_costexplorer::operation::get_cost_and_usage::builders::GetCostAndUsageFluentBuilder,
    ) -> Result<
        (
            aws_sdk_costexplorer::operation::get_cost_and_usage::GetCostAndUsageOutput,
            Vec<u8>,
        ),
        AwsError,
    > {
        let (out, capture) = self
            .call_with_retry(OP, || {
                let capture = CaptureBody::default();
                let sent = req.clone().customize().interceptor(capture.clone()).send();
                async move { sent.await.map(|out| (out, capture)) }
            })
            .await?;
        let body = capture.take().ok_or_else(|| AwsError::Invalid {
            what: format!("{SVC} {OP}"),
            message: "the response body was not available to keep".into(),
        })?;
        Ok((out, body))
    }

    /// Sends a Cost Explorer request (`send` builds and sends one attempt) with the fetcher's
    /// backoff: throttling, dispatch and timeout failures and 5xx answers are retried up to
    /// `max_attempts`, anything else fails at once with its AWS error code.
    pub(crate) async fn call_with_retry<T, E, F, Fut>(
        &self,
        operation: &'static str,
        mut send: F,
    ) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<
            Output = Result<T, SdkError<E, aws_sdk_costexplorer::config::http::HttpResponse>>,
        >,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let max = self.backoff.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match send().await {
                Ok(out) => return Ok(out),
                Err(e) => {
                    if !(retryable(&e) || server_error(&e)) {
                        return Err(AwsError::api(SVC, operation, e));
                    }
                    if attempt >= max {
                        return Err(AwsError::RetriesExhausted {
                            service: SVC,
                            operation,
                            attempts: attempt,
                            last: DisplayErrorContext(&e).to_string(),
                        });
                    }
                    tracing::warn!(attempt, operation, code = ?e.code(), "Cost Explorer call failed; retrying after backoff");
                    self.backoff.sleep(attempt).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn ce(months: u32) -> CostExplorer {
        let clients = AwsClients::new(crate::AwsSettings::emulator("http://127.0.0.1:1"));
        CostExplorer::new(&clients).with_history_months(months)
    }

    #[test]
    fn range_is_clamped_to_the_history_window() {
        let today = d("2026-05-15");
        let (s, e) = ce(13)
            .clamp(d("2024-01-01"), d("2026-06-01"), today)
            .expect("clamp");
        assert_eq!(s, d("2025-05-01"), "13 months including May 2026");
        assert_eq!(e, d("2026-05-16"), "up to and including today");
        let (s, _) = ce(38)
            .clamp(d("2020-01-01"), d("2026-05-02"), today)
            .expect("clamp");
        assert_eq!(s, d("2023-04-01"));
        let (s, e) = ce(13)
            .clamp(d("2026-01-03"), d("2026-01-09"), today)
            .expect("inside");
        assert_eq!((s, e), (d("2026-01-03"), d("2026-01-09")));
    }

    #[test]
    fn a_range_entirely_too_old_is_an_error() {
        let err = ce(13)
            .clamp(d("2020-01-01"), d("2020-02-01"), d("2026-05-15"))
            .expect_err("too old");
        assert!(err.to_string().contains("outside the 13 months"), "{err}");
    }

    #[test]
    fn pages_join_into_one_array() {
        let q = CeQuery::daily_pair(d("2026-01-01"), d("2026-01-02"), &SecondGrouping::Region)[0]
            .clone();
        let p = CePages {
            query: q,
            pages: vec![b"{\"a\":1}\n".to_vec(), b"{\"b\":2}".to_vec()],
        };
        let v: serde_json::Value = serde_json::from_slice(&p.to_json_array()).expect("json");
        assert_eq!(v, serde_json::json!([{"a": 1}, {"b": 2}]));
    }

    #[test]
    fn the_second_query_groups_by_tag_and_account() {
        let [a, b] = CeQuery::daily_pair(
            d("2026-01-01"),
            d("2026-01-02"),
            &SecondGrouping::Tag("Cost Center".into()),
        );
        assert_eq!(a.label, "service-account");
        assert_eq!(b.label, "tag-cost_center-account");
        assert_eq!(
            b.group_by[0],
            (GroupDefinitionType::Tag, "Cost Center".into())
        );
        assert_eq!(b.group_by[1].1, "LINKED_ACCOUNT");
    }
}
