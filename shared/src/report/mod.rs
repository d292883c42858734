//! The period report: one billing month of one scope, as every format (JSON, CSV, and later HTML
//! and XLSX) and every channel (the HTTP API, emails, chat) shows it.
//!
//! [`build`] reads a [`CostStore`] and computes a [`Report`]; [`render_json`] and [`render_csv`]
//! turn it into bytes. Nothing here reads the clock: the caller passes `now`.
//!
//! The report reuses the breakdown and budget code instead of computing its own sums: totals and
//! breakdowns come from [`summarize`], the change from [`period_over_period`] and [`movers`], the
//! daily series from [`trend`], untagged spend from [`tag_coverage`] and budget standings from
//! [`budget::evaluate`]. So a report agrees to the cent with `costkit summary`, `costkit breakdown`
//! and `costkit budget check` over the same store.
//!
//! Which rows count: the report of billing period `2024-09` covers the store's rows whose billing
//! period is `2024-09` (the FOCUS BillingPeriodStart month), like `costkit summary --period`. The
//! daily series and the comparison with the previous period are by charge day; a row of the billing
//! period whose charge day falls outside the month (a late adjustment) counts in the totals and
//! breakdowns but not in those two, and the report says so in [`Report::notes`].
//!
//! JSON schema: `docs/report.schema.json`; CSV layout and field meanings: `docs/reports.md`.

mod csv;
pub mod engines;
mod focus;
mod html;
mod svg;
mod xlsx;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use thiserror::Error;

use crate::aggregate::{summarize, top_per_currency, CostBasis, DailyRow, GroupBy, TagRow};
use crate::breakdown::{movers, period_over_period, tag_coverage, trend, DayRange, Granularity};
use crate::budget::{self, period_spend, Budget, LinearRunRate};
use crate::leaderboard::LeaderboardSection;
use crate::money::Currency;
use crate::store::{CostStore, Filter, StoreError};

pub use self::csv::render_csv;
pub use self::engines::{
    compute_engines, EngineConfig, EngineError, FocusSource, LeaderboardConfig,
    DEFAULT_FOCUS_MONTHS,
};
pub use self::focus::{focus_parts, write_focus_slice, BlobFocusSource, FocusSliceError};
pub use self::html::render_html;
pub use self::xlsx::{render_xlsx, XlsxError};

/// Version of the JSON document's shape; bumped on any incompatible change.
///
/// 2: recommendations carry `subject`, `severity`, `amount`, `window_days`, `reasons` and
/// `as_of`; the `leaderboard` section.
pub const SCHEMA_VERSION: u32 = 2;

/// Why a report could not be built.
#[derive(Debug, Error)]
pub enum ReportError {
    /// The period is not a `YYYY-MM` month.
    #[error("`{0}` is not a billing period: use YYYY-MM, e.g. 2024-09")]
    InvalidPeriod(String),
    /// The store has no rows for the period and scope.
    #[error("no cost data for {period}{scope}")]
    NoData {
        /// The period label.
        period: String,
        /// ` (provider X)` or empty.
        scope: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A billing period: one calendar month, the UTC days `start..end`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReportPeriod {
    /// `YYYY-MM`.
    pub label: String,
    /// First day.
    pub start: NaiveDate,
    /// The first day of the next month (exclusive end).
    pub end: NaiveDate,
}

impl ReportPeriod {
    /// Parses exactly `YYYY-MM` (four-digit year, two-digit month 01-12).
    pub fn parse(s: &str) -> Result<ReportPeriod, ReportError> {
        let bad = || ReportError::InvalidPeriod(s.to_string());
        let b = s.as_bytes();
        if b.len() != 7
            || b[4] != b'-'
            || !b
                .iter()
                .enumerate()
                .all(|(i, c)| i == 4 || c.is_ascii_digit())
        {
            return Err(bad());
        }
        let year: i32 = s[..4].parse().map_err(|_| bad())?;
        let month: u32 = s[5..].parse().map_err(|_| bad())?;
        let start = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(bad)?;
        Ok(ReportPeriod::month_of(start))
    }

    /// The month holding `day`.
    pub fn month_of(day: NaiveDate) -> ReportPeriod {
        let start = day.with_day(1).unwrap_or(day);
        let end = start
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(start + Duration::days(31));
        ReportPeriod {
            label: format!("{:04}-{:02}", start.year(), start.month()),
            start,
            end,
        }
    }

    /// The month before.
    pub fn previous(&self) -> ReportPeriod {
        ReportPeriod::month_of(self.start - Duration::days(1))
    }

    /// Days in the month.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }

    fn range(&self) -> DayRange {
        DayRange {
            start: self.start,
            end: self.end,
        }
    }
}

/// Which spend a report covers. Empty means everything in the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReportScope {
    /// Only this provider (ProviderName, e.g. `AWS`).
    pub provider: Option<String>,
}

impl ReportScope {
    fn filter(&self, period: &ReportPeriod) -> Filter {
        Filter {
            billing_period: Some(period.label.clone()),
            provider: self.provider.clone(),
        }
    }

    fn describe(&self) -> String {
        match &self.provider {
            Some(p) => format!(" (provider {p})"),
            None => String::new(),
        }
    }
}

/// What a report includes beyond the fixed sections.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Tag keys to break spend down by (each becomes a `tag:KEY` breakdown).
    pub tag_keys: Vec<String>,
    /// Tag keys whose untagged spend is reported; empty means every key the period has.
    pub untagged_keys: Vec<String>,
    /// Lines kept per breakdown and currency; the rest are folded into one `(N others)` line so
    /// the lines still add up to the totals. 0 keeps every line.
    pub breakdown_limit: usize,
    /// What the top movers are grouped by.
    pub movers_by: GroupBy,
    /// Movers listed per currency.
    pub movers_limit: usize,
    /// The cost basis of movers and untagged spend (totals, breakdowns, change and the daily
    /// series carry both bases).
    pub basis: CostBasis,
    /// Budgets to report; with a provider scope only budgets scoped to that provider are shown.
    pub budgets: Vec<Budget>,
    /// Services kept per currency in the daily series by service; the rest are folded into one
    /// `(N others)` line. 0 keeps every service.
    pub daily_services_limit: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            tag_keys: Vec::new(),
            untagged_keys: Vec::new(),
            breakdown_limit: 20,
            movers_by: GroupBy::Service,
            movers_limit: 10,
            basis: CostBasis::Billed,
            budgets: Vec::new(),
            daily_services_limit: 8,
        }
    }
}

/// Sections computed by engines outside the store's sums (anomaly detection, forecasting,
/// recommendations). Each is filled when the engine is configured; `None` means "not configured"
/// and renders as `null`, which readers must not confuse with an empty list ("configured, nothing
/// found").
#[derive(Clone, Debug, Default)]
pub struct EngineSections {
    /// Anomalies in the period, with their root causes.
    pub anomalies: Option<Vec<ReportAnomaly>>,
    /// Forecasts of the period's total, with intervals and backtest accuracy.
    pub forecast: Option<Vec<ForecastLine>>,
    /// Recommendations and rule findings.
    pub recommendations: Option<Vec<Recommendation>>,
    /// The leaderboard.
    pub leaderboard: Option<LeaderboardSection>,
    /// Notes the engines add (e.g. why a configured section is missing).
    pub notes: Vec<String>,
}

/// Spend of one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CurrencyTotal {
    /// Currency.
    pub currency: Currency,
    /// Σ BilledCost.
    pub billed: Decimal,
    /// Σ EffectiveCost.
    pub effective: Decimal,
    /// Σ ListCost.
    pub list: Decimal,
    /// Σ ContractedCost.
    pub contracted: Decimal,
    /// FOCUS records folded into these sums.
    pub records: u64,
}

/// One basis of a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delta {
    /// Spend in the previous range.
    pub previous: Decimal,
    /// Spend in the current range.
    pub current: Decimal,
    /// `current - previous`.
    pub change: Decimal,
    /// Change in percent of `previous`, two decimals; `null` when `previous` is zero.
    pub change_pct: Option<Decimal>,
}

/// The change of one currency's spend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangeLine {
    /// Currency.
    pub currency: Currency,
    /// On BilledCost.
    pub billed: Delta,
    /// On EffectiveCost.
    pub effective: Delta,
}

/// Like-for-like change versus the previous period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The period's days through the last day with data.
    pub current: DayRange,
    /// The same number of days at the start of the previous month (clipped at its end).
    pub previous: DayRange,
    /// The previous period's label.
    pub previous_period: String,
    /// Per currency.
    pub lines: Vec<ChangeLine>,
}

/// One group of a breakdown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BreakdownLine {
    /// The group's label (`(N others)` for the folded tail, `(untagged)` in tag breakdowns).
    pub group: String,
    /// Currency.
    pub currency: Currency,
    /// Σ BilledCost.
    pub billed: Decimal,
    /// Σ EffectiveCost.
    pub effective: Decimal,
    /// Share of the currency's billed total in percent, two decimals; `null` when that is zero.
    pub billed_share_pct: Option<Decimal>,
}

/// Spend split by one dimension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    /// `provider`, `service`, `account`, `region`, `charge-category` or `tag:KEY`.
    pub dimension: String,
    /// Lines per currency, largest billed first; they add up to the totals.
    pub lines: Vec<BreakdownLine>,
}

/// One group's like-for-like change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MoverLine {
    /// The group's label.
    pub group: String,
    /// Currency.
    pub currency: Currency,
    /// Spend in the previous range.
    pub previous: Decimal,
    /// Spend in the current range.
    pub current: Decimal,
    /// `current - previous`.
    pub change: Decimal,
    /// Change in percent of `previous`, two decimals; `null` for a new cost.
    pub change_pct: Option<Decimal>,
}

/// The groups that changed most, over the same ranges as [`Change`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopMovers {
    /// The grouping.
    pub dimension: String,
    /// `billed` or `effective`.
    pub basis: &'static str,
    /// Largest absolute change first, at most the configured number per currency.
    pub lines: Vec<MoverLine>,
}

/// One group's spend per day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DailyLine {
    /// The group's label (a provider or service; `(N others)` for the folded tail).
    pub group: String,
    /// Currency.
    pub currency: Currency,
    /// Σ BilledCost per day, aligned with [`DailySeries::days`].
    pub billed: Vec<Decimal>,
    /// Σ EffectiveCost per day, aligned with [`DailySeries::days`].
    pub effective: Vec<Decimal>,
}

/// Spend per day of the period, for charts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DailySeries {
    /// What the lines are split by (`provider` or `service`).
    pub dimension: String,
    /// Every day of the month, oldest first.
    pub days: Vec<NaiveDate>,
    /// One line per group and currency.
    pub lines: Vec<DailyLine>,
}

/// Spend lacking one tag key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UntaggedLine {
    /// The tag key.
    pub key: String,
    /// Currency.
    pub currency: Currency,
    /// All spend.
    pub total: Decimal,
    /// Spend on records carrying the key.
    pub tagged: Decimal,
    /// `total - tagged`.
    pub untagged: Decimal,
    /// Untagged share in percent, two decimals; `null` when the total is zero.
    pub untagged_pct: Option<Decimal>,
}

/// One threshold of a budget, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BudgetThreshold {
    /// `actual:80%`, `forecasted:900`.
    pub id: String,
    /// The spend level that crosses it.
    pub level: Option<Decimal>,
    /// The spend compared with it.
    pub observed: Option<Decimal>,
    /// `observed >= level`.
    pub crossed: bool,
    /// Why it was not evaluated.
    pub skipped: Option<String>,
}

/// A budget's standing at the end of the report's period (or now, for the running month).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BudgetLine {
    /// Budget name.
    pub name: String,
    /// The budget period's label (`2024-09`, `2024-Q3`, ...).
    pub period: String,
    /// Its first day.
    pub period_start: NaiveDate,
    /// The day after its last day.
    pub period_end: NaiveDate,
    /// Currency.
    pub currency: Currency,
    /// `billed` or `effective`.
    pub basis: &'static str,
    /// The period's amount.
    pub amount: Option<Decimal>,
    /// Spend so far.
    pub actual: Decimal,
    /// `actual / amount` in percent, two decimals.
    pub percent_used: Option<Decimal>,
    /// Forecasted period total, two decimals.
    pub forecast: Option<Decimal>,
    /// The forecast method.
    pub forecaster: &'static str,
    /// Days of the budget period covered by data.
    pub covered_days: i64,
    /// Thresholds.
    pub thresholds: Vec<BudgetThreshold>,
    /// Warnings from the evaluation.
    pub warnings: Vec<String>,
    /// Cumulative actual spend at the end of each day of the budget period, from its first day
    /// through the last day with data (`covered_days` entries): the burn-down line.
    pub cumulative: Vec<Decimal>,
}

/// An anomaly as the report shows it (from the anomaly engine, when configured).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportAnomaly {
    /// The day.
    pub day: NaiveDate,
    /// The series' dimension (`total`, `service`, ...).
    pub dimension: String,
    /// The series' group.
    pub group: String,
    /// Currency.
    pub currency: Currency,
    /// Observed spend.
    pub actual: Decimal,
    /// Expected spend.
    pub expected: Decimal,
    /// Bounds of the expected range.
    pub lower: Option<Decimal>,
    /// Upper bound of the expected range.
    pub upper: Option<Decimal>,
    /// The detector's score (higher is more anomalous).
    pub score: f64,
    /// What drove it, largest contribution first.
    pub root_causes: Vec<RootCause>,
}

/// One contributor to an anomaly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RootCause {
    /// Dimension (`service`, `account`, `region`, `tag:KEY`).
    pub dimension: String,
    /// Group.
    pub group: String,
    /// Its change against expectation.
    pub change: Decimal,
}

/// A forecast of the period's total (from the forecasting engine, when configured).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ForecastLine {
    /// Currency.
    pub currency: Currency,
    /// `billed` or `effective`.
    pub basis: String,
    /// The method's name.
    pub method: String,
    /// Exact spend in the period through the last day with data.
    pub actual: Decimal,
    /// `ok`; `insufficient-history` (too short or sparse a history to learn from) or
    /// `unreliable` (the method's backtest was far worse than naive): then no numbers are given
    /// (`total` is `None`, `intervals` and `daily` are empty) and `note` says why.
    pub status: &'static str,
    /// Why the forecast is withheld, for people; `None` when `status` is `ok`.
    pub note: Option<String>,
    /// Point forecast of the period total (`actual` plus the expected rest, in cents); `None`
    /// when withheld.
    pub total: Option<Decimal>,
    /// Prediction intervals of the period total (empty when withheld).
    pub intervals: Vec<ForecastInterval>,
    /// Accuracy of the method on this series' history.
    pub backtest: Option<Backtest>,
    /// The daily forecast for the period's remaining days (empty when the period has data
    /// through its last day), for the forecast band of the daily chart.
    pub daily: Vec<ForecastDay>,
}

/// One forecast day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForecastDay {
    /// The day.
    pub day: NaiveDate,
    /// Point forecast, cents.
    pub value: Decimal,
    /// 80 % interval, lower bound.
    pub lower_80: Decimal,
    /// 80 % interval, upper bound.
    pub upper_80: Decimal,
    /// 95 % interval, lower bound.
    pub lower_95: Decimal,
    /// 95 % interval, upper bound.
    pub upper_95: Decimal,
}

/// A prediction interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForecastInterval {
    /// Nominal coverage in percent (80, 95).
    pub level_pct: u8,
    /// Lower bound.
    pub lower: Decimal,
    /// Upper bound.
    pub upper: Decimal,
}

/// Backtest accuracy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backtest {
    /// Metric name (`MASE`, `MAPE`, `coverage80`).
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// Backtest windows evaluated.
    pub windows: u32,
}

/// A recommendation or rule finding (when the idle rules or a rules file are configured).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recommendation {
    /// Where it came from: `idle:<rule>` (e.g. `idle:ebs-unattached`, the idle rule with the
    /// largest savings) or `rule:<name>` (a user rule).
    pub source: String,
    /// One-line description.
    pub title: String,
    /// What it is about: `resource=<id>` or the rule's grouping (`ServiceName=..., RegionId=...`,
    /// `total`).
    pub subject: String,
    /// The resource concerned, when the subject is one.
    pub resource_id: Option<String>,
    /// `info`, `warning` or `critical` (rules: their `finding` action; idle: warning from 100 a
    /// month).
    pub severity: &'static str,
    /// Currency of the amounts.
    pub currency: Option<Currency>,
    /// Dollars at stake: the estimated monthly savings (idle) or the subject's cost over the
    /// rule's window (rules).
    pub amount: Decimal,
    /// The window of `amount`, in days (30 for idle recommendations).
    pub window_days: u32,
    /// Estimated monthly savings after existing discounts (idle); `null` for rule findings (a
    /// rule says what costs, not what an action saves).
    pub monthly_savings: Option<Decimal>,
    /// The evidence (idle: each rule that flagged the resource, with numbers; rules: flags and
    /// channels).
    pub reasons: Vec<String>,
    /// The last day of the FOCUS data the amounts are based on.
    pub as_of: NaiveDate,
}

/// The period report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The billing period.
    pub period: ReportPeriod,
    /// The scope.
    pub scope: ReportScope,
    /// The UTC day the report was built on (the day of `now`).
    pub as_of: NaiveDate,
    /// True once the period has ended (`now` is past its last day). Billing data can still be
    /// restated after that.
    pub complete: bool,
    /// The latest charge day with data in the period.
    pub data_through: NaiveDate,
    /// `billed` or `effective`: the basis of movers and untagged spend.
    pub basis: &'static str,
    /// Spend per currency (currencies are never added together).
    pub totals: Vec<CurrencyTotal>,
    /// Like-for-like change versus the previous period.
    pub change: Change,
    /// Breakdowns by provider, service, account, region, charge category and the chosen tag keys.
    pub breakdowns: Vec<Breakdown>,
    /// Top movers.
    pub top_movers: TopMovers,
    /// Spend per day, per provider.
    pub daily: DailySeries,
    /// Spend per day, per service (the largest services per currency, then one `(N others)`
    /// line, so the lines add up to `daily`).
    pub daily_by_service: DailySeries,
    /// Untagged spend per tag key.
    pub untagged: Vec<UntaggedLine>,
    /// Budget standings (empty without budgets).
    pub budgets: Vec<BudgetLine>,
    /// Filled when the anomaly engine is configured; `null` otherwise.
    pub anomalies: Option<Vec<ReportAnomaly>>,
    /// Filled when the forecasting engine is configured; `null` otherwise.
    pub forecast: Option<Vec<ForecastLine>>,
    /// Filled when the idle rules or a rules file are configured; `null` otherwise.
    pub recommendations: Option<Vec<Recommendation>>,
    /// Team points for verified savings, filled when teams and actions files are configured;
    /// `null` otherwise.
    pub leaderboard: Option<LeaderboardSection>,
    /// Things the reader must know about the numbers.
    pub notes: Vec<String>,
}

impl Report {
    /// The file name stem for downloads, see [`file_stem`].
    pub fn file_stem(&self) -> String {
        file_stem(&self.period.label, self.scope.provider.as_deref())
    }
}

/// The file name stem of a report download: `costkit-report-2024-09`, with `-<provider>` for a
/// provider scope reduced to lower-case letters, digits and dashes (safe in a
/// `Content-Disposition` header and on every file system).
pub fn file_stem(period: &str, provider: Option<&str>) -> String {
    let mut s = format!("costkit-report-{period}");
    if let Some(p) = provider {
        let slug: String = p
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let slug = slug.trim_matches('-');
        if !slug.is_empty() {
            s.push('-');
            s.push_str(slug);
        }
    }
    s
}

fn basis_name(b: CostBasis) -> &'static str {
    match b {
        CostBasis::Billed => "billed",
        CostBasis::Effective => "effective",
    }
}

fn dimension_name(by: &GroupBy) -> String {
    match by {
        GroupBy::Provider => "provider".into(),
        GroupBy::Account => "account".into(),
        GroupBy::Service => "service".into(),
        GroupBy::Region => "region".into(),
        GroupBy::ChargeCategory => "charge-category".into(),
        GroupBy::Tag(k) => format!("tag:{k}"),
    }
}

fn pct(part: Decimal, whole: Decimal) -> Option<Decimal> {
    if whole.is_zero() {
        return None;
    }
    (part * Decimal::ONE_HUNDRED)
        .checked_div(whole.abs())
        .map(|p| p.round_dp(2).normalize())
}

fn delta(previous: Decimal, current: Decimal) -> Delta {
    let change = current - previous;
    Delta {
        previous: previous.normalize(),
        current: current.normalize(),
        change: change.normalize(),
        change_pct: pct(change, previous),
    }
}

/// The instant budgets are evaluated at: `now`, or the last second of the period when the period
/// has ended (so a past month's report shows where its budgets ended).
fn budget_instant(period: &ReportPeriod, now: DateTime<Utc>) -> DateTime<Utc> {
    let end = period.end.and_time(chrono::NaiveTime::MIN).and_utc() - Duration::seconds(1);
    now.min(end)
}

fn tag_rows_of(
    store: &dyn CostStore,
    key: &str,
    filter: &Filter,
) -> Result<Vec<TagRow>, StoreError> {
    store.daily_tags(key, filter)
}

/// Builds the report of `period` for `scope` from `store`, as of `now`.
///
/// Errors with [`ReportError::NoData`] when the store has no rows for the period and scope.
pub fn build(
    store: &dyn CostStore,
    period: &ReportPeriod,
    scope: &ReportScope,
    options: &ReportOptions,
    engines: EngineSections,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    let filter = scope.filter(period);
    let rows = store.daily(&filter)?;
    if rows.is_empty() {
        return Err(ReportError::NoData {
            period: period.label.clone(),
            scope: scope.describe(),
        });
    }
    let mut notes = Vec::new();
    let range = period.range();
    let outside: Vec<&DailyRow> = rows.iter().filter(|r| !range.contains(r.key.day)).collect();
    if !outside.is_empty() {
        let mut amounts: BTreeMap<Currency, Decimal> = BTreeMap::new();
        for r in &outside {
            *amounts.entry(r.key.currency.clone()).or_default() += r.sums.billed;
        }
        let list: Vec<String> = amounts
            .iter()
            .map(|(c, v)| format!("{} {c}", v.normalize()))
            .collect();
        notes.push(format!(
            "{} aggregate rows of billing period {} have charge days outside the month (billed {}); \
             they count in the totals and breakdowns but not in the daily series or the change",
            outside.len(),
            period.label,
            list.join(", ")
        ));
    }
    // `rows` is not empty, so there is a latest day; fall back to the period's start otherwise.
    let data_through = rows
        .iter()
        .map(|r| r.key.day)
        .filter(|d| range.contains(*d))
        .max()
        .unwrap_or(period.start);

    // Totals: Σ of every row of the period, per currency.
    let mut totals: BTreeMap<Currency, CurrencyTotal> = BTreeMap::new();
    for r in &rows {
        let t = totals
            .entry(r.key.currency.clone())
            .or_insert_with(|| CurrencyTotal {
                currency: r.key.currency.clone(),
                billed: Decimal::ZERO,
                effective: Decimal::ZERO,
                list: Decimal::ZERO,
                contracted: Decimal::ZERO,
                records: 0,
            });
        t.billed += r.sums.billed;
        t.effective += r.sums.effective;
        t.list += r.sums.list;
        t.contracted += r.sums.contracted;
        t.records += r.sums.rows;
    }
    let billed_total: BTreeMap<Currency, Decimal> =
        totals.iter().map(|(c, t)| (c.clone(), t.billed)).collect();
    let totals: Vec<CurrencyTotal> = totals
        .into_values()
        .map(|t| CurrencyTotal {
            billed: t.billed.normalize(),
            effective: t.effective.normalize(),
            list: t.list.normalize(),
            contracted: t.contracted.normalize(),
            ..t
        })
        .collect();

    // Breakdowns.
    let mut dims = vec![
        GroupBy::Provider,
        GroupBy::Service,
        GroupBy::Account,
        GroupBy::Region,
        GroupBy::ChargeCategory,
    ];
    dims.extend(options.tag_keys.iter().map(|k| GroupBy::Tag(k.clone())));
    let mut tag_cache: BTreeMap<String, Vec<TagRow>> = BTreeMap::new();
    let mut breakdowns = Vec::new();
    for by in &dims {
        let tags = match by {
            GroupBy::Tag(k) => {
                if !tag_cache.contains_key(k) {
                    tag_cache.insert(k.clone(), tag_rows_of(store, k, &filter)?);
                }
                tag_cache.get(k).map(Vec::as_slice).unwrap_or(&[])
            }
            _ => &[],
        };
        let mut lines = summarize(&rows, tags, by, CostBasis::Billed);
        if options.breakdown_limit > 0 {
            lines = top_per_currency(lines, options.breakdown_limit);
        }
        breakdowns.push(Breakdown {
            dimension: dimension_name(by),
            lines: lines
                .into_iter()
                .map(|l| BreakdownLine {
                    billed_share_pct: pct(
                        l.cost,
                        billed_total.get(&l.currency).copied().unwrap_or_default(),
                    ),
                    group: l.group,
                    currency: l.currency,
                    billed: l.cost.normalize(),
                    effective: l.other.normalize(),
                })
                .collect(),
        });
    }

    // Like-for-like change: this period's rows on its days through `data_through`, against the
    // previous billing period's rows on the same number of days.
    let prev_period = period.previous();
    let cmp = period_over_period(data_through, Granularity::Month);
    let prev_filter = scope.filter(&prev_period);
    let prev_rows = store.daily(&prev_filter)?;
    let compared: Vec<DailyRow> = rows
        .iter()
        .filter(|r| cmp.current.contains(r.key.day))
        .chain(
            prev_rows
                .iter()
                .filter(|r| cmp.previous.contains(r.key.day)),
        )
        .cloned()
        .collect();
    if prev_rows.is_empty() {
        notes.push(format!(
            "no cost data for the previous period {}: every change is from zero",
            prev_period.label
        ));
    }
    let per_currency = |basis: CostBasis| -> BTreeMap<Currency, (Decimal, Decimal)> {
        let mut m: BTreeMap<Currency, (Decimal, Decimal)> = BTreeMap::new();
        for l in movers(&compared, &[], &GroupBy::Provider, basis, &cmp) {
            let e = m.entry(l.currency).or_default();
            e.0 += l.previous;
            e.1 += l.current;
        }
        m
    };
    let billed_change = per_currency(CostBasis::Billed);
    let effective_change = per_currency(CostBasis::Effective);
    let currencies: BTreeSet<&Currency> = billed_change
        .keys()
        .chain(effective_change.keys())
        .collect();
    let change = Change {
        current: cmp.current,
        previous: cmp.previous,
        previous_period: prev_period.label.clone(),
        lines: currencies
            .into_iter()
            .map(|c| {
                let b = billed_change.get(c).copied().unwrap_or_default();
                let e = effective_change.get(c).copied().unwrap_or_default();
                ChangeLine {
                    currency: c.clone(),
                    billed: delta(b.0, b.1),
                    effective: delta(e.0, e.1),
                }
            })
            .collect(),
    };

    // Top movers, over the same ranges.
    let mover_tags: Vec<TagRow> = match &options.movers_by {
        GroupBy::Tag(k) => {
            let cur = tag_rows_of(store, k, &filter)?;
            let prev = tag_rows_of(store, k, &prev_filter)?;
            cur.into_iter()
                .filter(|r| cmp.current.contains(r.key.day))
                .chain(
                    prev.into_iter()
                        .filter(|r| cmp.previous.contains(r.key.day)),
                )
                .collect()
        }
        _ => Vec::new(),
    };
    let mut per_cur_count: BTreeMap<Currency, usize> = BTreeMap::new();
    let mover_lines = movers(
        &compared,
        &mover_tags,
        &options.movers_by,
        options.basis,
        &cmp,
    )
    .into_iter()
    .filter(|m| !m.change.is_zero())
    .filter(|m| {
        let n = per_cur_count.entry(m.currency.clone()).or_default();
        *n += 1;
        *n <= options.movers_limit
    })
    .map(|m| MoverLine {
        group: m.group,
        currency: m.currency,
        previous: m.previous.normalize(),
        current: m.current.normalize(),
        change: m.change.normalize(),
        change_pct: m.change_pct.map(|p| p.normalize()),
    })
    .collect();
    let top_movers = TopMovers {
        dimension: dimension_name(&options.movers_by),
        basis: basis_name(options.basis),
        lines: mover_lines,
    };

    // Daily series per provider and per service, both bases, over every day of the month.
    let daily = daily_series(&rows, &GroupBy::Provider, &range, 0);
    let daily_by_service = daily_series(
        &rows,
        &GroupBy::Service,
        &range,
        options.daily_services_limit,
    );

    // Untagged spend per tag key.
    let keys = if options.untagged_keys.is_empty() {
        store.tag_keys(&filter)?
    } else {
        options.untagged_keys.clone()
    };
    let mut per_key = Vec::with_capacity(keys.len());
    for k in keys {
        let t = match tag_cache.get(&k) {
            Some(t) => t.clone(),
            None => tag_rows_of(store, &k, &filter)?,
        };
        per_key.push((k, t));
    }
    let untagged = tag_coverage(&rows, &per_key, options.basis)
        .into_iter()
        .map(|c| UntaggedLine {
            key: c.key,
            currency: c.currency,
            total: c.total.normalize(),
            tagged: c.tagged.normalize(),
            untagged: c.untagged.normalize(),
            untagged_pct: c.untagged_pct.map(|p| p.normalize()),
        })
        .collect();

    let budgets = budget_lines(store, period, scope, &options.budgets, now)?;

    Ok(Report {
        schema_version: SCHEMA_VERSION,
        period: period.clone(),
        scope: scope.clone(),
        as_of: now.date_naive(),
        complete: now.date_naive() >= period.end,
        data_through,
        basis: basis_name(options.basis),
        totals,
        change,
        breakdowns,
        top_movers,
        daily,
        daily_by_service,
        untagged,
        budgets,
        anomalies: engines.anomalies,
        forecast: engines.forecast,
        recommendations: engines.recommendations,
        leaderboard: engines.leaderboard,
        notes: {
            notes.extend(engines.notes);
            notes
        },
    })
}

/// Spend per day of `range` by `by`, both bases. With `limit > 0`, the `limit` groups with the
/// largest billed total per currency are kept and the rest summed into one `(N others)` line.
fn daily_series(rows: &[DailyRow], by: &GroupBy, range: &DayRange, limit: usize) -> DailySeries {
    let billed_trend = trend(rows, &[], by, CostBasis::Billed, Granularity::Day, range);
    let effective_trend = trend(rows, &[], by, CostBasis::Effective, Granularity::Day, range);
    let n_days = billed_trend.buckets.len();
    let mut lines: BTreeMap<(String, Currency), DailyLine> = BTreeMap::new();
    for (is_billed, t) in [(true, billed_trend.lines), (false, effective_trend.lines)] {
        for l in t {
            let e = lines
                .entry((l.group.clone(), l.currency.clone()))
                .or_insert_with(|| DailyLine {
                    group: l.group.clone(),
                    currency: l.currency.clone(),
                    billed: vec![Decimal::ZERO; n_days],
                    effective: vec![Decimal::ZERO; n_days],
                });
            let target = if is_billed {
                &mut e.billed
            } else {
                &mut e.effective
            };
            for (slot, v) in target.iter_mut().zip(l.values) {
                *slot = v;
            }
        }
    }
    let mut per_currency: BTreeMap<Currency, Vec<DailyLine>> = BTreeMap::new();
    for l in lines.into_values() {
        per_currency.entry(l.currency.clone()).or_default().push(l);
    }
    let mut out = Vec::new();
    for (currency, mut ls) in per_currency {
        let total = |l: &DailyLine| l.billed.iter().copied().sum::<Decimal>();
        ls.sort_by(|a, b| total(b).cmp(&total(a)).then(a.group.cmp(&b.group)));
        if limit > 0 && ls.len() > limit {
            let rest = ls.split_off(limit);
            let mut other = DailyLine {
                group: format!("({} others)", rest.len()),
                currency,
                billed: vec![Decimal::ZERO; n_days],
                effective: vec![Decimal::ZERO; n_days],
            };
            for l in &rest {
                for (o, v) in other.billed.iter_mut().zip(&l.billed) {
                    *o += *v;
                }
                for (o, v) in other.effective.iter_mut().zip(&l.effective) {
                    *o += *v;
                }
            }
            ls.push(other);
        }
        out.extend(ls);
    }
    for l in &mut out {
        for v in l.billed.iter_mut().chain(l.effective.iter_mut()) {
            *v = v.normalize();
        }
    }
    DailySeries {
        dimension: dimension_name(by),
        days: billed_trend.buckets,
        lines: out,
    }
}

/// Builds the report with its engine sections: [`build`], then [`compute_engines`] for the
/// anomalies and the forecast. The one entry point of every shell (`costkit report`, `costkit
/// serve`, the Lambda report function), so they all show the same report.
pub fn generate(
    store: &dyn CostStore,
    period: &ReportPeriod,
    scope: &ReportScope,
    options: &ReportOptions,
    engines: &EngineConfig,
    now: DateTime<Utc>,
) -> Result<Report, ReportError> {
    // The sums first: a period without data fails before any engine runs.
    let mut report = build(
        store,
        period,
        scope,
        options,
        EngineSections::default(),
        now,
    )?;
    let sections = compute_engines(store, period, scope, options.basis, engines, now).map_err(
        |e| match e {
            EngineError::Store(s) => ReportError::Store(s),
        },
    )?;
    report.anomalies = sections.anomalies;
    report.forecast = sections.forecast;
    report.recommendations = sections.recommendations;
    report.leaderboard = sections.leaderboard;
    report.notes.extend(sections.notes);
    report.notes.extend(engines.problems.iter().cloned());
    Ok(report)
}

fn budget_lines(
    store: &dyn CostStore,
    period: &ReportPeriod,
    scope: &ReportScope,
    budgets: &[Budget],
    now: DateTime<Utc>,
) -> Result<Vec<BudgetLine>, ReportError> {
    let shown: Vec<&Budget> = budgets
        .iter()
        .filter(|b| match &scope.provider {
            None => true,
            Some(p) => b.scope.providers.iter().any(|x| x == p),
        })
        .collect();
    if shown.is_empty() {
        return Ok(Vec::new());
    }
    // A budget's period can be a quarter or a year and its amount can depend on the period before,
    // so budgets see every row (their own scope filters them).
    let all = Filter::default();
    let daily = store.daily(&all)?;
    let mut tags = Vec::new();
    let keys: BTreeSet<&str> = shown
        .iter()
        .filter_map(|b| b.scope.tag.as_ref().map(|t| t.key.as_str()))
        .collect();
    for k in keys {
        tags.extend(store.daily_tags(k, &all)?);
    }
    let at = budget_instant(period, now);
    Ok(shown
        .into_iter()
        .map(|b| {
            let s = budget::evaluate(b, &daily, &tags, at, &LinearRunRate);
            let spend = period_spend(b, &s.period, &daily, &tags, at);
            let mut running = Decimal::ZERO;
            let cumulative = (0..s.covered_days.max(0))
                .map(|i| {
                    let day = s.period.start + Duration::days(i);
                    running += spend.daily.get(&day).copied().unwrap_or_default();
                    running.normalize()
                })
                .collect();
            BudgetLine {
                cumulative,
                name: s.name,
                period: s.period.label,
                period_start: s.period.start,
                period_end: s.period.end,
                currency: s.currency,
                basis: basis_name(s.basis),
                amount: s.amount.map(|a| a.normalize()),
                actual: s.actual.normalize(),
                percent_used: s.percent_used.map(|p| p.round_dp(2).normalize()),
                forecast: s.forecast.map(|f| f.round_dp(2).normalize()),
                forecaster: s.forecaster,
                covered_days: s.covered_days,
                thresholds: s
                    .checks
                    .into_iter()
                    .map(|c| BudgetThreshold {
                        id: c.id,
                        level: c.level.map(|l| l.normalize()),
                        observed: c.observed.map(|o| o.round_dp(2).normalize()),
                        crossed: c.crossed,
                        skipped: c.skipped,
                    })
                    .collect(),
                warnings: s.warnings,
            }
        })
        .collect())
}

/// The report as pretty-printed JSON (schema: `docs/report.schema.json`), newline-terminated.
/// Amounts are exact decimal strings.
pub fn render_json(report: &Report) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec_pretty(report)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_strictly() {
        let p = ReportPeriod::parse("2024-02").expect("valid");
        assert_eq!(p.start, NaiveDate::from_ymd_opt(2024, 2, 1).expect("date"));
        assert_eq!(p.end, NaiveDate::from_ymd_opt(2024, 3, 1).expect("date"));
        assert_eq!(p.days(), 29);
        assert_eq!(p.previous().label, "2024-01");
        assert_eq!(
            ReportPeriod::parse("2024-01")
                .expect("valid")
                .previous()
                .label,
            "2023-12"
        );
        let december = ReportPeriod::parse("2024-12").expect("valid");
        assert_eq!(
            december.end,
            NaiveDate::from_ymd_opt(2025, 1, 1).expect("date")
        );
        for bad in [
            "2024-13",
            "2024-00",
            "2024-9",
            "24-09",
            "2024/09",
            "2024-09-01",
            "",
            "abcd-ef",
            "+202-09",
        ] {
            assert!(
                matches!(ReportPeriod::parse(bad), Err(ReportError::InvalidPeriod(_))),
                "{bad} must be rejected"
            );
        }
    }

    #[test]
    fn budgets_of_a_past_month_are_evaluated_at_its_end() {
        let p = ReportPeriod::parse("2024-09").expect("valid");
        let later = DateTime::parse_from_rfc3339("2025-01-10T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let at = budget_instant(&p, later);
        assert_eq!(at.to_rfc3339(), "2024-09-30T23:59:59+00:00");
        let during = DateTime::parse_from_rfc3339("2024-09-10T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(budget_instant(&p, during), during);
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("2024-09", None), "costkit-report-2024-09");
        assert_eq!(
            file_stem("2024-09", Some("Google Cloud")),
            "costkit-report-2024-09-google-cloud"
        );
        assert_eq!(
            file_stem("2024-09", Some("\"x\"; evil")),
            "costkit-report-2024-09-x---evil"
        );
        assert_eq!(file_stem("2024-09", Some("é")), "costkit-report-2024-09");
    }
}
