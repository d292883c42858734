//! Azure Cost Management Query API responses (`POST {scope}/providers/Microsoft.CostManagement/query`,
//! daily granularity, grouped), as costkit's Azure ingest keeps them.
//!
//! The file is a JSON array of pages. Each page is the service's response, unchanged, in an
//! envelope saying which query it answers, because the response itself does not say whether its
//! costs are actual or amortized:
//!
//! ```json
//! [{"cost_management_query": {"type": "ActualCost", "scope": "/subscriptions/…"},
//!   "response": {"properties": {"columns": [{"name": "Cost", "type": "Number"}, …], "rows": [[…]]}}}]
//! ```
//!
//! Rows are daily aggregates. The actual and amortized pages of the same query are joined on
//! (day, grouping values, currency): BilledCost is the actual cost, EffectiveCost the amortized
//! cost; a row only one side has gets zero for the other (a reservation purchase is actual-only,
//! its amortized share sits in the usage rows). So, exactly and per currency,
//! Σ BilledCost = Σ actual `Cost` and Σ EffectiveCost = Σ amortized `Cost`. Numbers are read from
//! the JSON text itself (never through a double). The decisions are in `docs/mapping/azure.md`.

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::focus::*;
use crate::input::{Format, Input, Progress};
use crate::money::{parse_decimal, Currency, CurrencyTotals};
use crate::normalize::azure::lookup::lookups;
use crate::normalize::{Dialect, Job, RecordStream, SourceTotals};
use crate::text::Text;
use crate::time::{month_start, next_month_start};

/// The envelope key that marks a page (and lets detection recognise the file).
pub const ENVELOPE_KEY: &str = "cost_management_query";

/// `ServiceName` of rows from a query not grouped by `ServiceName`.
pub const ALL_SERVICES: &str = "Azure (all services)";

/// The `x_` columns this dialect writes, in output order.
pub const EXTENSION_COLUMNS: &[&str] = &[
    "x_AggregationSource",
    "x_GroupBy",
    "x_ActualCost",
    "x_AmortizedCost",
    "x_ChargeType",
];

/// Which query a page answers.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct QueryInfo {
    /// `ActualCost`, `AmortizedCost` or `Usage` (= actual).
    #[serde(rename = "type")]
    pub kind: String,
    /// The scope queried (`/subscriptions/{id}`, `/providers/Microsoft.Billing/billingAccounts/{id}`...).
    pub scope: String,
}

#[derive(Deserialize)]
struct Page<'a> {
    cost_management_query: QueryInfo,
    #[serde(borrow)]
    response: Response<'a>,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(borrow)]
    properties: Properties<'a>,
}

#[derive(Deserialize)]
struct Properties<'a> {
    #[serde(default)]
    columns: Vec<Column>,
    #[serde(borrow, default)]
    rows: Vec<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct Column {
    name: String,
}

/// The billing account a scope stands for: the billing account of a billing scope, else the
/// management group or subscription itself (the Query API does not name the account above it).
pub fn billing_account_of(scope: &str) -> Option<String> {
    let parts: Vec<&str> = scope.trim_matches('/').split('/').collect();
    let after = |name: &str| {
        parts
            .iter()
            .position(|p| p.eq_ignore_ascii_case(name))
            .and_then(|i| parts.get(i + 1))
            .map(|s| s.to_string())
    };
    after("billingAccounts")
        .or_else(|| after("managementGroups"))
        .or_else(|| after("subscriptions"))
}

/// One joined daily row.
#[derive(Default)]
struct Joined {
    actual: Option<(Decimal, String)>,
    amortized: Option<(Decimal, String)>,
    charge_type: Option<String>,
}

/// The join key: day, grouping values (in the query's column order), currency.
type Key = (NaiveDate, Vec<String>, String);

struct QueryStream {
    records: std::vec::IntoIter<FocusRecord>,
    totals: SourceTotals,
    notes: Vec<String>,
}

impl Iterator for QueryStream {
    type Item = Result<FocusRecord, NormalizeError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.records.next().map(Ok)
    }
}

impl RecordStream for QueryStream {
    fn dialect(&self) -> Dialect {
        Dialect::AzureCostQuery
    }

    fn extension_columns(&self) -> Vec<Text> {
        EXTENSION_COLUMNS.iter().map(|c| Text::from(*c)).collect()
    }

    fn source_totals(&self) -> SourceTotals {
        self.totals.clone()
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

fn bad(file: &str, row: u64, column: &str, msg: String) -> NormalizeError {
    NormalizeError::cell(file, row, column, NormalizeErrorKind::InvalidValue(msg))
}

/// `UsageDate` as the API gives it: a number `20240901`, or a date-time string.
fn parse_day(raw: &str) -> Option<NaiveDate> {
    let t = raw.trim().trim_matches('"');
    if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(t, "%Y%m%d").ok();
    }
    NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok()
}

fn text_of(raw: &RawValue) -> String {
    match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Null) => String::new(),
        _ => raw.get().to_string(),
    }
}

fn charge_category(charge_type: Option<&str>) -> ChargeCategory {
    match charge_type.map(str::to_ascii_lowercase).as_deref() {
        Some("purchase") => ChargeCategory::Purchase,
        Some("refund") => ChargeCategory::Credit,
        Some("tax") => ChargeCategory::Tax,
        Some("adjustment") => ChargeCategory::Adjustment,
        _ => ChargeCategory::Usage,
    }
}

/// Opens a file of Cost Management query pages.
pub fn open(job: &Job, progress: &Progress) -> Result<Box<dyn RecordStream>, NormalizeError> {
    let path = job.inputs.first().ok_or_else(|| {
        NormalizeError::file(
            "(none)",
            NormalizeErrorKind::Malformed("no input file".into()),
        )
    })?;
    let input = Input::open(path, progress)?;
    let file = input.name();
    if input.format != Format::Json {
        return Err(NormalizeError::file(
            &file,
            NormalizeErrorKind::Malformed(
                "Cost Management query pages must be a JSON array of {\"cost_management_query\": …, \"response\": …}".into(),
            ),
        ));
    }
    let mut text = String::new();
    input
        .into_reader()
        .read_to_string(&mut text)
        .map_err(|e| NormalizeError::file(&file, NormalizeErrorKind::Io(e.to_string())))?;
    let pages: Vec<Page> = serde_json::from_str(&text).map_err(|e| {
        NormalizeError::line(
            &file,
            e.line() as u64,
            NormalizeErrorKind::Malformed(format!(
                "not a JSON array of Cost Management query pages: {e}"
            )),
        )
    })?;

    let mut joined: BTreeMap<Key, Joined> = BTreeMap::new();
    let mut totals = SourceTotals::default();
    let mut effective = CurrencyTotals::default();
    let mut has_amortized = false;
    let mut account: Option<String> = None;
    let mut group_names: Option<Vec<String>> = None;
    let mut row_no = 0u64;
    for (page_no, page) in pages.iter().enumerate() {
        let info = &page.cost_management_query;
        let amortized = match info.kind.to_ascii_lowercase().as_str() {
            "actualcost" | "usage" => false,
            "amortizedcost" => true,
            _ => {
                return Err(NormalizeError::file(
                    &file,
                    NormalizeErrorKind::InvalidValue(format!(
                        "page {}: query type `{}` is not ActualCost, AmortizedCost or Usage",
                        page_no + 1,
                        info.kind
                    )),
                ))
            }
        };
        has_amortized |= amortized;
        // A query with no data answers 204; its page carries no columns and nothing to read.
        if page.response.properties.rows.is_empty() {
            continue;
        }
        let acct = billing_account_of(&info.scope).ok_or_else(|| {
            NormalizeError::file(
                &file,
                NormalizeErrorKind::InvalidValue(format!(
                    "page {}: scope `{}` names no billing account, management group or subscription",
                    page_no + 1,
                    info.scope
                )),
            )
        })?;
        match &account {
            Some(a) if *a != acct => {
                return Err(NormalizeError::file(
                    &file,
                    NormalizeErrorKind::Malformed(format!(
                        "pages of two scopes in one file ({a} and {acct}): one file is one query"
                    )),
                ))
            }
            _ => account = Some(acct),
        }
        let cols: Vec<String> = page
            .response
            .properties
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let find = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| cols.iter().position(|c| c.eq_ignore_ascii_case(n)))
        };
        let cost_col = find(&["Cost", "PreTaxCost", "CostUSD", "PreTaxCostUSD"])
            .ok_or_else(|| NormalizeError::missing_column(&file, "Cost"))?;
        let date_col = find(&["UsageDate"]).ok_or_else(|| {
            NormalizeError::file(
                &file,
                NormalizeErrorKind::Malformed(format!(
                    "page {}: no `UsageDate` column: the query must use daily granularity",
                    page_no + 1
                )),
            )
        })?;
        let cur_col = find(&["Currency", "BillingCurrency"])
            .ok_or_else(|| NormalizeError::missing_column(&file, "Currency"))?;
        let skip = [cost_col, date_col, cur_col];
        let groups: Vec<usize> = (0..cols.len())
            .filter(|i| !skip.contains(i) && !cols[*i].to_ascii_lowercase().starts_with("cost"))
            .filter(|i| !cols[*i].eq_ignore_ascii_case("PreTaxCostUSD"))
            .collect();
        let names: Vec<String> = groups.iter().map(|i| cols[*i].clone()).collect();
        match &group_names {
            Some(g) if *g != names => {
                return Err(NormalizeError::file(
                    &file,
                    NormalizeErrorKind::Malformed(format!(
                        "page {} is grouped by {names:?}, earlier pages by {g:?}: the actual and amortized queries must use one grouping",
                        page_no + 1
                    )),
                ))
            }
            _ => group_names = Some(names.clone()),
        }
        for row in &page.response.properties.rows {
            row_no += 1;
            if row.len() != cols.len() {
                return Err(NormalizeError::line(
                    &file,
                    row_no,
                    NormalizeErrorKind::RowShape(format!(
                        "page {}: {} values for {} columns",
                        page_no + 1,
                        row.len(),
                        cols.len()
                    )),
                ));
            }
            let raw_cost = row[cost_col].get().trim_matches('"');
            let cost = parse_decimal(raw_cost).ok_or_else(|| {
                bad(
                    &file,
                    row_no,
                    &cols[cost_col],
                    format!("`{raw_cost}` is not a number"),
                )
            })?;
            let day = parse_day(row[date_col].get()).ok_or_else(|| {
                bad(
                    &file,
                    row_no,
                    &cols[date_col],
                    format!("`{}` is not a day (YYYYMMDD)", row[date_col].get()),
                )
            })?;
            let currency = text_of(row[cur_col]).trim().to_ascii_uppercase();
            if currency.len() != 3 {
                return Err(bad(
                    &file,
                    row_no,
                    &cols[cur_col],
                    format!("`{currency}` is not a currency code"),
                ));
            }
            let values: Vec<String> = groups.iter().map(|i| text_of(row[*i])).collect();
            let charge_type = names
                .iter()
                .position(|n| n.eq_ignore_ascii_case("ChargeType"))
                .map(|i| values[i].clone());
            let entry = joined.entry((day, values, currency.clone())).or_default();
            let slot = if amortized {
                &mut entry.amortized
            } else {
                &mut entry.actual
            };
            if slot.is_some() {
                return Err(NormalizeError::line(
                    &file,
                    row_no,
                    NormalizeErrorKind::Malformed(format!(
                        "page {}: the same day and group appear twice in the {} results (a page saved twice?); loading both would count it twice",
                        page_no + 1,
                        if amortized { "amortized" } else { "actual" }
                    )),
                ));
            }
            *slot = Some((cost, raw_cost.to_string()));
            entry.charge_type = entry.charge_type.take().or(charge_type);
            let cur = Currency::new(&currency);
            if amortized {
                effective.add(&cur, cost);
            } else {
                totals.billed.add(&cur, cost);
            }
            totals.rows += 1;
        }
    }
    if has_amortized {
        totals.effective = Some(effective);
    }
    let billing_account = Text::from(account.unwrap_or_default().as_str());
    let names = group_names.unwrap_or_default();
    let group_by = names.join(",");
    let idx = |n: &str| names.iter().position(|c| c.eq_ignore_ascii_case(n));
    let (svc_i, sub_i, subname_i, loc_i) = (
        idx("ServiceName"),
        idx("SubscriptionId"),
        idx("SubscriptionName"),
        idx("ResourceLocation"),
    );
    let mut unknown_services = std::collections::BTreeSet::new();
    let mut actual_only = 0u64;
    let mut amortized_only = 0u64;
    let mut records = Vec::with_capacity(joined.len());
    let provider = Text::from("Microsoft");
    for ((day, values, currency), j) in joined {
        let value = |i: Option<usize>| i.map(|i| values[i].as_str()).filter(|v| !v.is_empty());
        let start = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default());
        let end = start + Duration::days(1);
        let billed = j.actual.as_ref().map_or(Decimal::ZERO, |a| a.0);
        let eff = match (&j.amortized, has_amortized) {
            (Some(a), _) => a.0,
            (None, true) => Decimal::ZERO,
            // Actual cost alone: EffectiveCost = BilledCost (cash basis), as for actual exports.
            (None, false) => billed,
        };
        if has_amortized {
            match (&j.actual, &j.amortized) {
                (Some(_), None) => actual_only += 1,
                (None, Some(_)) => amortized_only += 1,
                _ => {}
            }
        }
        let service_name = value(svc_i).unwrap_or(ALL_SERVICES);
        let (service_category, subcategory) = match lookups().service_named(service_name) {
            Some(s) => (s.category, s.subcategory.clone()),
            None => {
                if svc_i.is_some() {
                    unknown_services.insert(service_name.to_string());
                }
                (
                    ServiceCategory::Other,
                    Some(Text::from(ServiceCategory::Other.other_subcategory())),
                )
            }
        };
        let region = value(loc_i).and_then(|l| lookups().region(l));
        let sub = value(sub_i).map(Text::from);
        let mut extensions: Vec<(Text, Text)> = vec![
            (
                Text::from("x_AggregationSource"),
                Text::from("CostManagementQuery"),
            ),
            (Text::from("x_GroupBy"), Text::from(group_by.as_str())),
        ];
        if let Some((_, raw)) = &j.actual {
            extensions.push((Text::from("x_ActualCost"), Text::from(raw.as_str())));
        }
        if let Some((_, raw)) = &j.amortized {
            extensions.push((Text::from("x_AmortizedCost"), Text::from(raw.as_str())));
        }
        if let Some(ct) = j.charge_type.as_deref().filter(|c| !c.is_empty()) {
            extensions.push((Text::from("x_ChargeType"), Text::from(ct)));
        }
        let charge_category = charge_category(j.charge_type.as_deref());
        records.push(FocusRecord {
            billed_cost: billed,
            effective_cost: eff,
            // The Query API has no list or negotiated price (see the mapping document).
            list_cost: billed,
            contracted_cost: billed,
            billing_account_id: billing_account.clone(),
            billing_currency: Currency::new(&currency),
            billing_period_start: month_start(&start),
            billing_period_end: next_month_start(&start),
            charge_period_start: start,
            charge_period_end: end,
            charge_category,
            charge_frequency: Some(if charge_category == ChargeCategory::Purchase {
                ChargeFrequency::OneTime
            } else {
                ChargeFrequency::UsageBased
            }),
            charge_description: Some(Text::from(
                format!("{service_name} on {day} ({group_by})").as_str(),
            )),
            invoice_issuer_name: provider.clone(),
            provider_name: provider.clone(),
            publisher_name: provider.clone(),
            service_provider_name: provider.clone(),
            host_provider_name: provider.clone(),
            region_id: region.map(|r| r.id.clone()),
            region_name: region.map(|r| r.name.clone()),
            service_name: Text::from(service_name),
            service_category,
            service_subcategory: subcategory,
            sub_account_id: sub.clone(),
            sub_account_name: value(subname_i).map(Text::from),
            sub_account_type: sub.map(|_| Text::from("Subscription")),
            extensions,
            ..FocusRecord::default()
        });
    }
    let mut notes = Vec::new();
    if !has_amortized {
        notes.push(
            "actual cost only: EffectiveCost = BilledCost (add the AmortizedCost query for amortized reservations and savings plans)".to_string(),
        );
    }
    if actual_only + amortized_only > 0 {
        notes.push(format!(
            "{actual_only} daily rows only in the actual results (EffectiveCost 0: commitment purchases) and {amortized_only} only in the amortized results (BilledCost 0: covered usage)"
        ));
    }
    if !unknown_services.is_empty() {
        notes.push(format!(
            "services not in the FinOps toolkit table, ServiceCategory Other: {}",
            unknown_services.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Box::new(QueryStream {
        records: records.into_iter(),
        totals,
        notes,
    }))
}

/// Whether a JSON file's first bytes look like Cost Management query pages.
pub fn sniff(head: &str) -> bool {
    head.contains(&format!("\"{ENVELOPE_KEY}\""))
}
