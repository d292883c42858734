//! The Cost Management Query API as the ingest flow's cost source.
//!
//! `POST {endpoint}{scope}/providers/Microsoft.CostManagement/query?api-version=2023-11-01`, one
//! billing month at a time (daily granularity allows at most 31 days), grouped by up to two
//! dimensions (the API's limit; `ServiceName` × `SubscriptionId` by default, the same money view
//! as Cost Explorer's `SERVICE` × `LINKED_ACCOUNT`). Both `ActualCost` and `AmortizedCost` are
//! pulled so the normalizer can fill BilledCost and EffectiveCost. Pages are followed through
//! `properties.nextLink` (POSTing the same body; a repeated link is an error, not a loop; a link to
//! another host is refused so the bearer token never leaves the endpoint). 429 and 5xx are retried
//! by [`crate::http`], honouring `Retry-After` and the
//! `x-ms-ratelimit-microsoft.costmanagement-{qpu,entity,tenant}-retry-after` headers.
//!
//! The month's pages are returned as **one** document, a JSON array of
//! `{"cost_management_query": {"type", "scope"}, "response": <the page as Azure sent it>}`: the
//! `azure-cm-query` dialect of the core reads it (`costkit_core::normalize::azure_query`).

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use costkit_core::breakdown::DayRange;
use costkit_core::flow::ingest::CostSource;
use costkit_core::ports::PortError;
use reqwest::{Method, Request, Url};
use serde_json::json;
use serde_json::value::RawValue;
use tokio::runtime::Handle;

use crate::auth::TokenSource;
use crate::error::AzureError;
use crate::http::{api_error, Call, Transport};

const SVC: &str = "Cost Management";
/// The API version costkit speaks.
pub const API_VERSION: &str = "2023-11-01";
/// Public Azure's Resource Manager endpoint.
pub const ARM_ENDPOINT: &str = "https://management.azure.com";
/// Pages followed at most for one query (a month of daily groups is a handful).
const MAX_PAGES: usize = 1000;

fn raw(text: &str) -> Result<Box<RawValue>, AzureError> {
    RawValue::from_string(text.to_string())
        .map_err(|e| AzureError::invalid("Cost Management response", e))
}

/// What to ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmQuery {
    /// `/subscriptions/{id}`, `/providers/Microsoft.Billing/billingAccounts/{id}`, ...
    pub scope: String,
    /// `ActualCost` or `AmortizedCost`.
    pub kind: String,
    /// First day.
    pub from: NaiveDate,
    /// Day after the last (exclusive, like [`DayRange`]).
    pub to: NaiveDate,
    /// Dimensions to group by (at most two).
    pub grouping: Vec<String>,
}

impl CmQuery {
    /// The request body.
    pub fn body(&self) -> serde_json::Value {
        let last = self.to - Duration::days(1);
        json!({
            "type": self.kind,
            "timeframe": "Custom",
            "timePeriod": {
                "from": format!("{}T00:00:00+00:00", self.from),
                "to": format!("{last}T23:59:59+00:00"),
            },
            "dataset": {
                "granularity": "Daily",
                "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
                "grouping": self.grouping.iter().map(|g| json!({"type": "Dimension", "name": g})).collect::<Vec<_>>(),
            }
        })
    }
}

/// The Query API client.
#[derive(Clone, Debug)]
pub struct CostManagement {
    transport: Transport,
    tokens: Arc<TokenSource>,
    endpoint: Url,
}

impl CostManagement {
    /// A client of `endpoint` ([`ARM_ENDPOINT`] in Azure; a local server in tests) with tokens for
    /// `https://management.azure.com` from `tokens`.
    pub fn new(
        transport: Transport,
        tokens: Arc<TokenSource>,
        endpoint: &str,
    ) -> Result<CostManagement, AzureError> {
        let endpoint = Url::parse(endpoint.trim_end_matches('/')).map_err(|e| {
            AzureError::Config(format!("Cost Management endpoint `{endpoint}`: {e}"))
        })?;
        Ok(CostManagement {
            transport,
            tokens,
            endpoint,
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    fn query_url(&self, scope: &str) -> Result<Url, AzureError> {
        let scope = scope.trim_matches('/');
        let mut u = self.endpoint.clone();
        u.set_path(&format!(
            "{}/{scope}/providers/Microsoft.CostManagement/query",
            self.endpoint.path().trim_end_matches('/')
        ));
        u.set_query(Some(&format!("api-version={API_VERSION}")));
        Ok(u)
    }

    /// Runs one query, following `nextLink` to the end; returns every page as sent (the text
    /// itself: amounts are never parsed into a double).
    pub async fn query(&self, q: &CmQuery) -> Result<Vec<Box<RawValue>>, AzureError> {
        if q.grouping.len() > 2 {
            return Err(AzureError::Config(format!(
                "Cost Management groups by at most 2 dimensions, not {:?}",
                q.grouping
            )));
        }
        let what = format!("{} {} {}..{}", q.scope, q.kind, q.from, q.to);
        let call = Call {
            service: SVC,
            operation: "Query",
            what: &what,
        };
        let body = serde_json::to_vec(&q.body()).unwrap_or_default();
        let mut url = self.query_url(&q.scope)?;
        let mut seen = std::collections::HashSet::new();
        let mut pages = Vec::new();
        loop {
            let resp = self
                .transport
                .send(&call, || async {
                    let token = self.tokens.token(&self.transport.client).await?;
                    let mut req = Request::new(Method::POST, url.clone());
                    let h = req.headers_mut();
                    let v = |s: &str| {
                        reqwest::header::HeaderValue::from_str(s)
                            .map_err(|e| AzureError::Config(format!("header: {e}")))
                    };
                    h.insert("authorization", v(&format!("Bearer {token}"))?);
                    h.insert("content-type", v("application/json")?);
                    *req.body_mut() = Some(body.clone().into());
                    Ok::<_, AzureError>(req)
                })
                .await?;
            let status = resp.status().as_u16();
            if status == 204 {
                // No data for the scope and period: an empty page, so the month is still
                // recorded (and replaces what was there).
                pages.push(raw(
                    r#"{"properties":{"nextLink":null,"columns":[],"rows":[]}}"#,
                )?);
                return Ok(pages);
            }
            if !resp.status().is_success() {
                return Err(api_error(&call, resp).await);
            }
            let text = resp
                .text()
                .await
                .map_err(|e| AzureError::invalid(&what, format!("response: {e}")))?;
            // Parsed once for the links only; the page is kept as the text Azure sent.
            let page: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| AzureError::invalid(&what, format!("response is not JSON: {e}")))?;
            let next = page
                .pointer("/properties/nextLink")
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            if page.pointer("/properties/rows").is_none() {
                return Err(AzureError::invalid(
                    &what,
                    "response without properties.rows",
                ));
            }
            pages.push(raw(&text)?);
            let Some(next) = next else {
                return Ok(pages);
            };
            let next_url = Url::parse(&next)
                .map_err(|e| AzureError::invalid(&what, format!("nextLink `{next}`: {e}")))?;
            if next_url.host_str() != self.endpoint.host_str()
                || next_url.port_or_known_default() != self.endpoint.port_or_known_default()
            {
                return Err(AzureError::invalid(
                    &what,
                    format!(
                        "nextLink points to another host ({next}); not following it with the token"
                    ),
                ));
            }
            if !seen.insert(next.clone()) || pages.len() >= MAX_PAGES {
                return Err(AzureError::invalid(
                    &what,
                    format!(
                        "nextLink repeats or never ends ({} pages): {next}",
                        pages.len()
                    ),
                ));
            }
            url = next_url;
        }
    }

    /// The actual and amortized pages of `scope` for `range`, as one `azure-cm-query` document.
    pub async fn month_document(
        &self,
        scope: &str,
        range: &DayRange,
        grouping: &[String],
    ) -> Result<Vec<u8>, AzureError> {
        let mut doc: Vec<String> = Vec::new();
        for kind in ["ActualCost", "AmortizedCost"] {
            let q = CmQuery {
                scope: scope.to_string(),
                kind: kind.to_string(),
                from: range.start,
                to: range.end,
                grouping: grouping.to_vec(),
            };
            let info = json!({"type": kind, "scope": scope}).to_string();
            for page in self.query(&q).await? {
                doc.push(format!(
                    "{{\"cost_management_query\":{info},\"response\":{}}}",
                    page.get()
                ));
            }
        }
        Ok(format!("[{}]", doc.join(",\n")).into_bytes())
    }
}

/// Cost Management as the ingest flow's [`CostSource`] (`azure-cm`, dialect `azure-cm-query`).
#[derive(Clone, Debug)]
pub struct CmSource {
    cm: CostManagement,
    scope: String,
    grouping: Vec<String>,
    handle: Handle,
}

impl CmSource {
    /// The default grouping: service × subscription.
    pub fn default_grouping() -> Vec<String> {
        vec!["ServiceName".into(), "SubscriptionId".into()]
    }

    /// A source over `scope`, grouped by `grouping` (at most two dimensions).
    pub fn new(cm: CostManagement, scope: &str, grouping: Vec<String>, handle: Handle) -> CmSource {
        CmSource {
            cm,
            scope: scope.to_string(),
            grouping,
            handle,
        }
    }
}

impl CostSource for CmSource {
    fn name(&self) -> &str {
        "azure-cm"
    }

    fn dialect(&self) -> &str {
        "azure-cm-query"
    }

    fn fetch(&self, range: &DayRange) -> Result<Vec<Vec<u8>>, PortError> {
        self.handle
            .block_on(self.cm.month_document(&self.scope, range, &self.grouping))
            .map(|d| vec![d])
            .map_err(|e| {
                PortError::backend(
                    format!(
                        "Cost Management {} {}..{}",
                        self.scope, range.start, range.end
                    ),
                    e,
                )
            })
    }
}
