//! Budget definitions: the `budgets.yaml` file, its types and its validation.
//!
//! The file is read with `serde_yaml_ng` straight into validating types, so every error names the
//! field path and the YAML line the library saw it on (`budgets.yaml:12:
//! budgets[1].thresholds[0].percent: must be > 0`). Checks that involve several fields of one budget
//! run while that budget is built and point at the budget's first line. The published JSON Schema
//! (`docs/budgets.schema.json`) states the same rules; a test keeps the two in step.
//!
//! Money in the file is read from the YAML text itself, never through a float: `1000.10` is the
//! exact decimal 1000.10.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::aggregate::CostBasis;
use crate::focus::{ChargeCategory, ServiceCategory};
use crate::money::Currency;
use crate::yaml::{checked, decimal, ViaMap};

/// Default number of days of data a period needs before FORECASTED thresholds are evaluated.
pub const DEFAULT_FORECAST_MIN_DAYS: u32 = 7;

/// An invalid or unreadable budgets file.
pub type BudgetConfigError = crate::yaml::ConfigError;

/// A parsed, validated budgets file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetFile {
    /// The budgets, in file order; names are unique.
    pub budgets: Vec<Budget>,
}

impl BudgetFile {
    /// Reads and validates a budgets file.
    pub fn load(path: &Path) -> Result<BudgetFile, BudgetConfigError> {
        let (text, file) = crate::yaml::read(path)?;
        BudgetFile::parse(&text, &file)
    }

    /// Parses and validates budgets YAML; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<BudgetFile, BudgetConfigError> {
        let raw: RawFile = crate::yaml::parse(text, file)?;
        let mut seen = BTreeSet::new();
        for (i, b) in raw.budgets.iter().enumerate() {
            if !seen.insert(b.name.clone()) {
                return Err(BudgetConfigError::invalid(
                    file,
                    crate::yaml::key_line(text, "name", &b.name).unwrap_or(0),
                    format!(
                        "budgets[{i}].name: `{}` is already used by an earlier budget",
                        b.name
                    ),
                ));
            }
        }
        Ok(BudgetFile {
            budgets: raw.budgets,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, deserialize_with = "crate::yaml::version")]
    #[allow(dead_code)]
    version: u32,
    budgets: Vec<Budget>,
}

/// One budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Unique name; also the key of its alert state.
    pub name: String,
    /// The period the amount applies to.
    pub period: PeriodSpec,
    /// How the amount of a period is set.
    pub amount: AmountSpec,
    /// The budget's currency; spend in other currencies is excluded (and reported).
    pub currency: Currency,
    /// BilledCost or EffectiveCost.
    pub basis: CostBasis,
    /// Which spend counts.
    pub scope: Scope,
    /// Which charge kinds count.
    pub include: Include,
    /// Alert thresholds.
    pub thresholds: Vec<Threshold>,
    /// Days of data a period needs before FORECASTED thresholds are evaluated.
    pub forecast_min_days: u32,
}

/// The period a budget amount covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeriodSpec {
    /// Calendar months (UTC).
    Monthly,
    /// Calendar quarters: Jan-Mar, Apr-Jun, Jul-Sep, Oct-Dec.
    Quarterly,
    /// Calendar years.
    Annual,
    /// One fixed window, both days included.
    Custom {
        /// First day.
        start: NaiveDate,
        /// Last day (inclusive).
        end: NaiveDate,
    },
}

/// Planned amounts by calendar month, `(year, month)` -> amount.
pub type MonthPlan = BTreeMap<(i32, u32), Decimal>;

/// How a period's amount is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmountSpec {
    /// The same amount every period.
    Fixed(Decimal),
    /// An amount per calendar month (`(year, month)` -> amount); a period's amount is the sum of its
    /// months.
    Planned(MonthPlan),
    /// The previous period's actual spend (same scope, basis and inclusions), changed by
    /// `change_percent`.
    PreviousPeriod {
        /// Percent added to (or, negative, taken from) last period's spend.
        change_percent: Decimal,
        /// The amount to use when the previous period has no spend data in the store.
        first_period: Option<Decimal>,
    },
}

/// Which charge categories count toward a budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Include {
    /// ChargeCategory `Credit` rows.
    #[serde(default = "yes")]
    pub credits: bool,
    /// ChargeCategory `Tax` rows.
    #[serde(default = "yes")]
    pub tax: bool,
    /// Negative aggregate rows outside `Credit` (see `docs/budgets.md` for what this can and
    /// cannot catch from daily aggregates).
    #[serde(default = "yes")]
    pub refunds: bool,
}

fn yes() -> bool {
    true
}

impl Default for Include {
    fn default() -> Self {
        Include {
            credits: true,
            tax: true,
            refunds: true,
        }
    }
}

/// A filter over FOCUS dimensions and one tag key. Empty lists match everything; values match
/// exactly as the store holds them (see `costkit summary --by ...`). Charge and service categories
/// are FOCUS values and are matched ignoring case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// ProviderName values.
    #[serde(default)]
    pub providers: Vec<String>,
    /// BillingAccountId values.
    #[serde(default)]
    pub billing_accounts: Vec<String>,
    /// SubAccountId values.
    #[serde(default)]
    pub sub_accounts: Vec<String>,
    /// ServiceName values.
    #[serde(default)]
    pub services: Vec<String>,
    /// ServiceCategory values.
    #[serde(default, deserialize_with = "service_categories")]
    pub service_categories: Vec<ServiceCategory>,
    /// RegionId values.
    #[serde(default)]
    pub regions: Vec<String>,
    /// ChargeCategory values.
    #[serde(default, deserialize_with = "charge_categories")]
    pub charge_categories: Vec<ChargeCategory>,
    /// One tag key and the values that count.
    #[serde(default)]
    pub tag: Option<TagFilter>,
}

impl Scope {
    /// Names of the dimension filters the per-tag aggregates cannot apply (they hold only
    /// provider, billing account, day, tag and currency).
    pub fn non_tag_dimensions(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if !self.sub_accounts.is_empty() {
            v.push("sub_accounts");
        }
        if !self.services.is_empty() {
            v.push("services");
        }
        if !self.service_categories.is_empty() {
            v.push("service_categories");
        }
        if !self.regions.is_empty() {
            v.push("regions");
        }
        if !self.charge_categories.is_empty() {
            v.push("charge_categories");
        }
        v
    }
}

/// A tag condition: the tag `key` has one of `values`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagFilter {
    /// Tag key, as stored.
    #[serde(deserialize_with = "non_empty")]
    pub key: String,
    /// Accepted values (`"true"` for a valueless tag).
    #[serde(deserialize_with = "non_empty_list")]
    pub values: Vec<String>,
}

/// Whether a threshold watches actual or forecasted period spend.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SpendKind {
    /// Spend so far in the period.
    Actual,
    /// Forecasted spend at the period's end.
    Forecasted,
}

impl SpendKind {
    /// `actual` or `forecasted`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpendKind::Actual => "actual",
            SpendKind::Forecasted => "forecasted",
        }
    }
}

/// A threshold's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Percent of the period's amount (`80` = 80%).
    Percent(Decimal),
    /// An absolute amount in the budget's currency.
    Amount(Decimal),
}

/// One alert threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threshold {
    /// Level.
    pub limit: Limit,
    /// Actual or forecasted spend.
    pub on: SpendKind,
}

impl Threshold {
    /// Stable identity of the threshold within a budget, used as its alert-state key:
    /// `actual:80%` or `forecasted:900`.
    pub fn id(&self) -> String {
        match self.limit {
            Limit::Percent(p) => format!("{}:{}%", self.on.as_str(), p.normalize()),
            Limit::Amount(a) => format!("{}:{}", self.on.as_str(), a.normalize()),
        }
    }

    /// The spend level, in the budget's currency, at which this threshold is crossed, given the
    /// period's amount (`None` when a percent threshold has no amount to apply to).
    pub fn level(&self, amount: Option<Decimal>) -> Option<Decimal> {
        match self.limit {
            Limit::Percent(p) => amount.map(|a| a * p / Decimal::ONE_HUNDRED),
            Limit::Amount(a) => Some(a),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThreshold {
    #[serde(default)]
    percent: Option<Positive>,
    #[serde(default)]
    amount: Option<Positive>,
    #[serde(default = "actual")]
    on: SpendKind,
}

fn actual() -> SpendKind {
    SpendKind::Actual
}

impl TryFrom<RawThreshold> for Threshold {
    type Error = String;
    fn try_from(r: RawThreshold) -> Result<Self, String> {
        let limit = match (r.percent, r.amount) {
            (Some(p), None) => Limit::Percent(p.0),
            (None, Some(a)) => Limit::Amount(a.0),
            (Some(_), Some(_)) => return Err("give `percent` or `amount`, not both".into()),
            (None, None) => return Err("needs `percent` or `amount`".into()),
        };
        Ok(Threshold { limit, on: r.on })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawPeriod {
    Monthly,
    Quarterly,
    Annual,
    Custom,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAmount {
    #[serde(default)]
    fixed: Option<NonNegative>,
    #[serde(default, deserialize_with = "planned")]
    planned: Option<MonthPlan>,
    #[serde(default)]
    previous_period: Option<RawPrevious>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrevious {
    #[serde(default)]
    change_percent: Option<Signed>,
    #[serde(default)]
    first_period: Option<NonNegative>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    #[serde(deserialize_with = "non_empty")]
    name: String,
    period: RawPeriod,
    #[serde(default)]
    start: Option<Date>,
    #[serde(default)]
    end: Option<Date>,
    amount: RawAmount,
    #[serde(deserialize_with = "currency")]
    currency: Currency,
    #[serde(default = "billed", deserialize_with = "basis")]
    basis: CostBasis,
    #[serde(default)]
    scope: Scope,
    #[serde(default)]
    include: Include,
    thresholds: Vec<Threshold>,
    #[serde(default = "min_days", deserialize_with = "positive_days")]
    forecast_min_days: u32,
}

fn billed() -> CostBasis {
    CostBasis::Billed
}

fn min_days() -> u32 {
    DEFAULT_FORECAST_MIN_DAYS
}

impl TryFrom<RawBudget> for Budget {
    type Error = String;
    fn try_from(r: RawBudget) -> Result<Self, String> {
        let period = match (r.period, r.start, r.end) {
            (RawPeriod::Custom, Some(s), Some(e)) => {
                if e.0 < s.0 {
                    return Err(format!(
                        "end: {} is before start {} (both days are included)",
                        e.0, s.0
                    ));
                }
                PeriodSpec::Custom {
                    start: s.0,
                    end: e.0,
                }
            }
            (RawPeriod::Custom, _, _) => {
                return Err("period `custom` needs both `start` and `end` (YYYY-MM-DD)".into())
            }
            (_, Some(_), _) | (_, _, Some(_)) => {
                return Err("`start` and `end` are only for period `custom`".into())
            }
            (RawPeriod::Monthly, None, None) => PeriodSpec::Monthly,
            (RawPeriod::Quarterly, None, None) => PeriodSpec::Quarterly,
            (RawPeriod::Annual, None, None) => PeriodSpec::Annual,
        };
        let a = r.amount;
        let amount = match (a.fixed, a.planned, a.previous_period) {
            (Some(f), None, None) => AmountSpec::Fixed(f.0),
            (None, Some(p), None) => {
                if let PeriodSpec::Custom { start, end } = period {
                    let month_end = end.succ_opt().map(|d| d.day() == 1).unwrap_or(false);
                    if start.day() != 1 || !month_end {
                        return Err(
                            "amount.planned: a custom period with a planned amount must \
                             start on a month's first day and end on a month's last day"
                                .into(),
                        );
                    }
                }
                AmountSpec::Planned(p)
            }
            (None, None, Some(p)) => AmountSpec::PreviousPeriod {
                change_percent: p.change_percent.map(|c| c.0).unwrap_or_default(),
                first_period: p.first_period.map(|f| f.0),
            },
            _ => {
                return Err(
                    "amount: give exactly one of `fixed`, `planned` or `previous_period`".into(),
                )
            }
        };
        if r.thresholds.is_empty() {
            return Err("thresholds: at least one threshold is needed".into());
        }
        if let Some(t) = &r.scope.tag {
            let dims = r.scope.non_tag_dimensions();
            if !dims.is_empty() {
                return Err(format!(
                    "scope.tag cannot be combined with scope.{}: the store's per-tag aggregates \
                     hold only provider, billing account, day, tag and currency",
                    dims.join(", scope.")
                ));
            }
            if !(r.include.credits && r.include.tax && r.include.refunds) {
                return Err(format!(
                    "include: a budget scoped by tag `{}` must include credits, tax and refunds: \
                     the per-tag aggregates carry no charge category",
                    t.key
                ));
            }
        }
        Ok(Budget {
            name: r.name,
            period,
            amount,
            currency: r.currency,
            basis: r.basis,
            scope: r.scope,
            include: r.include,
            thresholds: r.thresholds,
            forecast_min_days: r.forecast_min_days,
        })
    }
}

// ----- validating readers (helpers shared with other YAML files in `crate::yaml`) -----

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawBudget, Budget>::new())
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawThreshold, Threshold>::new())
    }
}

/// A decimal > 0.
struct Positive(Decimal);
impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| match decimal(s)? {
            v if v > Decimal::ZERO => Ok(Positive(v)),
            _ => Err("must be > 0".into()),
        })
    }
}

/// A decimal >= 0.
struct NonNegative(Decimal);
impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| match decimal(s)? {
            v if v >= Decimal::ZERO => Ok(NonNegative(v)),
            _ => Err("must be >= 0".into()),
        })
    }
}

/// A decimal > -100 (a change in percent that leaves a positive amount).
struct Signed(Decimal);
impl<'de> Deserialize<'de> for Signed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| match decimal(s)? {
            v if v > Decimal::from(-100) => Ok(Signed(v)),
            _ => Err("must be > -100".into()),
        })
    }
}

/// A `YYYY-MM-DD` date.
struct Date(NaiveDate);
impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| {
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map(Date)
                .map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
        })
    }
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |s| {
        if s.trim().is_empty() {
            Err("must not be empty".into())
        } else {
            Ok(s.to_string())
        }
    })
}

fn non_empty_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of values")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut v = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                v.push(s);
            }
            if v.is_empty() {
                return Err(de::Error::custom("needs at least one value"));
            }
            Ok(v)
        }
    }
    d.deserialize_seq(ListVisitor)
}

fn currency<'de, D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
    checked(d, |s| {
        let c = Currency::new(s);
        if c.is_iso4217_shaped() {
            Ok(c)
        } else {
            Err(format!("`{s}` is not a three-letter currency code"))
        }
    })
}

fn basis<'de, D: Deserializer<'de>>(d: D) -> Result<CostBasis, D::Error> {
    checked(d, |s| match s {
        "billed" => Ok(CostBasis::Billed),
        "effective" => Ok(CostBasis::Effective),
        _ => Err(format!("`{s}`: must be `billed` or `effective`")),
    })
}

fn positive_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    checked(d, |s| match s.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}`: must be a whole number of days >= 1")),
    })
}

/// A list of FOCUS values, each read as a scalar so a bad one is reported at its own line.
struct FocusValue<T>(T);

impl<'de> Deserialize<'de> for FocusValue<ChargeCategory> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| {
            ChargeCategory::parse(s).map(FocusValue).ok_or_else(|| {
                format!(
                    "`{s}` is not a FOCUS ChargeCategory (Usage, Purchase, Tax, Credit, Adjustment)"
                )
            })
        })
    }
}

impl<'de> Deserialize<'de> for FocusValue<ServiceCategory> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| {
            ServiceCategory::parse(s)
                .map(FocusValue)
                .ok_or_else(|| format!("`{s}` is not a FOCUS ServiceCategory"))
        })
    }
}

fn charge_categories<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ChargeCategory>, D::Error> {
    Ok(Vec::<FocusValue<ChargeCategory>>::deserialize(d)?
        .into_iter()
        .map(|v| v.0)
        .collect())
}

fn service_categories<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ServiceCategory>, D::Error> {
    Ok(Vec::<FocusValue<ServiceCategory>>::deserialize(d)?
        .into_iter()
        .map(|v| v.0)
        .collect())
}

/// A planned month key, `YYYY-MM`.
struct Month(i32, u32);
impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| {
            NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d")
                .map(|d| Month(d.year(), d.month()))
                .map_err(|_| format!("`{s}` is not a month (YYYY-MM)"))
        })
    }
}

fn planned<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MonthPlan>, D::Error> {
    struct PlanVisitor;
    impl<'de> Visitor<'de> for PlanVisitor {
        type Value = BTreeMap<(i32, u32), Decimal>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a mapping of YYYY-MM to amounts")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(k) = m.next_key::<Month>()? {
                let v = m.next_value::<NonNegative>()?;
                if out.insert((k.0, k.1), v.0).is_some() {
                    return Err(de::Error::custom(format!(
                        "month {}-{:02} is planned twice",
                        k.0, k.1
                    )));
                }
            }
            if out.is_empty() {
                return Err(de::Error::custom("needs at least one month"));
            }
            Ok(out)
        }
    }
    d.deserialize_map(PlanVisitor).map(Some)
}
