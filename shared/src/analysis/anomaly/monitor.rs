//! Anomaly monitors: the `monitors.yaml` file and their daily evaluation over the store's daily
//! aggregates.
//!
//! A monitor watches the spend of a scope (the budgets' [`Scope`]: providers, accounts, services,
//! categories, regions, one tag), optionally split into one series per value of a dimension
//! (`split_by: service` watches every service separately). Each series runs through the online
//! detector; anomalies below the monitor's minimum $ or % impact are dropped, the rest get root
//! causes (the child values with the largest dollar contribution) and are checked against
//! feedback. Money stays exact: actual spend is summed in `Decimal`; only expectations (a
//! statistical estimate) pass through `f64` and are rounded to cents.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{Duration, NaiveDate};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::detector::{detect, DetectorConfig};
use super::events::{events, root_causes, Child, Direction};
use super::feedback::{suppressed_by, AlertKey, Feedback};
use crate::aggregate::{CostBasis, DailyRow, TagRow};
use crate::analysis::series::Series;
use crate::budget::config::Scope;
use crate::budget::spend::daily_row_in_scope;
use crate::money::Currency;

/// An unreadable or invalid monitors file.
pub type MonitorConfigError = crate::yaml::ConfigError;

/// A dimension of the daily aggregates a monitor can split by or explain with.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// SubAccountId.
    Account,
    /// ServiceName.
    Service,
    /// ServiceCategory.
    ServiceCategory,
    /// ChargeCategory.
    ChargeCategory,
    /// RegionId.
    Region,
    /// One tag key's values.
    Tag(String),
}

impl Dimension {
    /// Its name in the file and in reports.
    pub fn name(&self) -> String {
        match self {
            Dimension::Account => "account".into(),
            Dimension::Service => "service".into(),
            Dimension::ServiceCategory => "service_category".into(),
            Dimension::ChargeCategory => "charge_category".into(),
            Dimension::Region => "region".into(),
            Dimension::Tag(k) => format!("tag:{k}"),
        }
    }

    fn parse(s: &str) -> Option<Dimension> {
        Some(match s {
            "account" => Dimension::Account,
            "service" => Dimension::Service,
            "service_category" => Dimension::ServiceCategory,
            "charge_category" => Dimension::ChargeCategory,
            "region" => Dimension::Region,
            _ => Dimension::Tag(s.strip_prefix("tag:").filter(|k| !k.is_empty())?.into()),
        })
    }

    /// The row's value of this dimension (`None` for a tag: daily rows hold no tags).
    pub(crate) fn of(&self, r: &DailyRow) -> Option<String> {
        Some(match self {
            Dimension::Account => r.key.sub_account_id.to_string(),
            Dimension::Service => r.key.service_name.to_string(),
            Dimension::ServiceCategory => r.key.service_category.to_string(),
            Dimension::ChargeCategory => r.key.charge_category.to_string(),
            Dimension::Region => r.key.region_id.to_string(),
            Dimension::Tag(_) => return None,
        })
    }

    /// The dimensions the daily aggregates hold, in report order.
    pub const DAILY: [Dimension; 5] = [
        Dimension::Account,
        Dimension::Region,
        Dimension::Service,
        Dimension::ServiceCategory,
        Dimension::ChargeCategory,
    ];
}

/// Reads a scalar through `f` inside the parser's own call, so an error carries the scalar's line.
struct Scalar<T>(fn(&str) -> Result<T, String>);

impl<T> serde::de::Visitor<'_> for Scalar<T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        (self.0)(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Dimension {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Scalar(|s| {
            Dimension::parse(s).ok_or_else(|| {
                format!(
                    "`{s}`: use account, service, service_category, charge_category, region or tag:KEY"
                )
            })
        }))
    }
}

/// One monitor.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    /// Unique name.
    pub name: String,
    /// Only spend in this currency is watched (others are never converted).
    #[serde(deserialize_with = "currency")]
    pub currency: Currency,
    /// `billed` (default) or `effective`.
    #[serde(default = "billed", deserialize_with = "basis")]
    pub basis: CostBasis,
    /// Which spend: the budgets' scope (an empty scope is all spend).
    #[serde(default)]
    pub scope: Scope,
    /// One series per value of this dimension (a per-service or per-account monitor).
    #[serde(default)]
    pub split_by: Option<Dimension>,
    /// Minimum total impact of an anomaly, in the currency.
    #[serde(default)]
    pub min_impact: Decimal,
    /// Minimum impact in percent of the expected spend over the anomaly.
    #[serde(default = "min_percent")]
    pub min_impact_percent: f64,
    /// Robust z-score above which a day is anomalous (higher: fewer, larger alerts).
    #[serde(default = "z")]
    pub z_threshold: f64,
}

fn billed() -> CostBasis {
    CostBasis::Billed
}
fn min_percent() -> f64 {
    10.0
}
fn z() -> f64 {
    DetectorConfig::default().z_threshold
}

fn currency<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
    d.deserialize_str(Scalar(|s| {
        let c = Currency::new(s);
        if c.is_iso4217_shaped() {
            Ok(c)
        } else {
            Err(format!("`{s}` is not a three-letter currency code"))
        }
    }))
}

fn basis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<CostBasis, D::Error> {
    d.deserialize_str(Scalar(|s| match s {
        "billed" => Ok(CostBasis::Billed),
        "effective" => Ok(CostBasis::Effective),
        _ => Err(format!("`{s}`: must be `billed` or `effective`")),
    }))
}

/// A parsed monitors file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorFile {
    /// File format version (1).
    #[serde(default)]
    pub version: Option<u32>,
    /// The monitors.
    pub monitors: Vec<Monitor>,
    /// Feedback on past anomalies.
    #[serde(default)]
    pub feedback: Vec<Feedback>,
}

impl MonitorFile {
    /// Reads and validates a monitors file.
    pub fn load(path: &Path) -> Result<MonitorFile, MonitorConfigError> {
        let (text, file) = crate::yaml::read(path)?;
        MonitorFile::parse(&text, &file)
    }

    /// Parses and validates monitors YAML; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<MonitorFile, MonitorConfigError> {
        let invalid =
            |line: usize, message: String| MonitorConfigError::invalid(file, line, message);
        let f: MonitorFile = crate::yaml::parse(text, file)?;
        if let Some(v) = f.version.filter(|v| *v != 1) {
            return Err(invalid(0, format!("version: must be 1, not {v}")));
        }
        let line_of = |name: &str| {
            text.lines()
                .position(|l| {
                    l.trim_start().trim_start_matches("- ").trim() == format!("name: {name}")
                })
                .map(|i| i + 1)
                .unwrap_or(0)
        };
        let mut seen = BTreeSet::new();
        for (i, m) in f.monitors.iter().enumerate() {
            let at = |msg: String| invalid(line_of(&m.name), format!("monitors[{i}].{msg}"));
            if m.name.trim().is_empty() {
                return Err(at("name: must not be empty".into()));
            }
            if !seen.insert(m.name.clone()) {
                return Err(at(format!("name: `{}` is already used", m.name)));
            }
            if m.min_impact < Decimal::ZERO || m.min_impact_percent < 0.0 {
                return Err(at("min_impact, min_impact_percent: must be >= 0".into()));
            }
            if m.z_threshold.is_nan() || m.z_threshold < 2.0 {
                return Err(at("z_threshold: must be >= 2".into()));
            }
            if m.scope.tag.is_some() || matches!(m.split_by, Some(Dimension::Tag(_))) {
                let dims = m.scope.non_tag_dimensions();
                let split_daily = m
                    .split_by
                    .as_ref()
                    .is_some_and(|d| !matches!(d, Dimension::Tag(_)));
                if !dims.is_empty() || split_daily {
                    return Err(at(
                        "scope: a tag monitor cannot also filter or split by sub account, \
                         service, category or region: the per-tag aggregates hold only provider, \
                         billing account, day, tag and currency"
                            .into(),
                    ));
                }
                if let (Some(t), Some(Dimension::Tag(k))) = (&m.scope.tag, &m.split_by) {
                    if &t.key != k {
                        return Err(at(format!(
                            "split_by: tag:{k} differs from scope.tag.key {}",
                            t.key
                        )));
                    }
                }
            }
        }
        for (i, fb) in f.feedback.iter().enumerate() {
            if !seen.contains(&fb.monitor) {
                return Err(invalid(
                    0,
                    format!("feedback[{i}].monitor: no monitor `{}`", fb.monitor),
                ));
            }
            if fb.end < fb.start {
                return Err(invalid(0, format!("feedback[{i}].end: before start")));
            }
        }
        Ok(f)
    }

    /// The tag keys the monitors need from the store.
    pub fn tag_keys(&self) -> BTreeSet<String> {
        self.monitors
            .iter()
            .flat_map(|m| {
                let split = match &m.split_by {
                    Some(Dimension::Tag(k)) => Some(k.clone()),
                    _ => None,
                };
                m.scope
                    .tag
                    .as_ref()
                    .map(|t| t.key.clone())
                    .into_iter()
                    .chain(split)
            })
            .collect()
    }
}

/// One child's contribution to an anomaly, in money.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RootCause {
    /// Dimension name (`account`, `region`, ...).
    pub dimension: String,
    /// Value.
    pub value: String,
    /// Its dollars of the deviation, rounded to cents.
    pub contribution: Decimal,
    /// Share of the deviation (1 = all).
    pub share: f64,
}

/// An anomaly found by a monitor.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MonitorAnomaly {
    /// Monitor name.
    pub monitor: String,
    /// The split value (`None` for an unsplit monitor).
    pub series: Option<(String, String)>,
    /// First day.
    pub start: NaiveDate,
    /// Last day (included).
    pub end: NaiveDate,
    /// Still going on the last day with data.
    pub ongoing: bool,
    /// Currency.
    pub currency: Currency,
    /// Σ expected, rounded to cents.
    pub expected: Decimal,
    /// Σ actual, exact.
    pub actual: Decimal,
    /// `actual - expected`.
    pub impact: Decimal,
    /// Impact in percent of expected.
    pub impact_percent: Option<f64>,
    /// Up or down.
    pub direction: Direction,
    /// Highest daily score.
    pub score: f64,
    /// Children by dollar contribution, largest in the anomaly's direction first.
    pub root_causes: Vec<RootCause>,
    /// The feedback that suppresses it (`monitor verdict start..end`), if any.
    pub suppressed_by: Option<String>,
}

/// Daily money per day, day index from `first`.
struct DaySeries {
    amounts: Vec<Decimal>,
}

impl DaySeries {
    fn new(days: usize) -> DaySeries {
        DaySeries {
            amounts: vec![Decimal::ZERO; days],
        }
    }
    fn to_series(&self, first: NaiveDate) -> Series {
        Series::daily(
            first,
            self.amounts.iter().map(|d| d.to_f64().unwrap_or(0.0)),
        )
    }
}

/// Evaluates every monitor over the aggregates, using days before `today` only, and returns the
/// anomalies that start on or after `since`.
pub fn evaluate(
    file: &MonitorFile,
    daily: &[DailyRow],
    tags: &[TagRow],
    since: NaiveDate,
    today: NaiveDate,
) -> Vec<MonitorAnomaly> {
    let mut out = Vec::new();
    for m in &file.monitors {
        out.extend(evaluate_one(m, &file.feedback, daily, tags, since, today));
    }
    out.sort_by(|a, b| {
        b.start
            .cmp(&a.start)
            .then_with(|| b.impact.abs().cmp(&a.impact.abs()))
    });
    out
}

type Key = Option<String>;
/// A scoped amount: (split value, child (dimension, value) for tag rows, day, amount).
type ScopedRow = (Key, Option<(String, String)>, NaiveDate, Decimal);

fn evaluate_one(
    m: &Monitor,
    feedback: &[Feedback],
    daily: &[DailyRow],
    tags: &[TagRow],
    since: NaiveDate,
    today: NaiveDate,
) -> Vec<MonitorAnomaly> {
    let listed = |l: &[String], v: &str| l.is_empty() || l.iter().any(|x| x == v);
    let mut rows: Vec<ScopedRow> = Vec::new();
    let tag_mode = m.scope.tag.is_some() || matches!(m.split_by, Some(Dimension::Tag(_)));
    if tag_mode {
        let key = m
            .scope
            .tag
            .as_ref()
            .map(|t| t.key.clone())
            .or_else(|| match &m.split_by {
                Some(Dimension::Tag(k)) => Some(k.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for t in tags {
            let in_scope = *t.key.key == *key
                && m.scope
                    .tag
                    .as_ref()
                    .is_none_or(|f| f.values.iter().any(|v| *v == *t.key.value))
                && listed(&m.scope.providers, &t.slice.provider)
                && listed(&m.scope.billing_accounts, &t.slice.billing_account_id)
                && t.key.currency == m.currency
                && t.key.day < today;
            if in_scope {
                let split = m.split_by.as_ref().map(|_| t.key.value.to_string());
                let child = Some((
                    "billing_account".to_string(),
                    t.slice.billing_account_id.to_string(),
                ));
                rows.push((split, child, t.key.day, t.sums.basis(m.basis)));
            }
        }
    } else {
        for r in daily {
            if r.key.currency == m.currency && r.key.day < today && daily_row_in_scope(&m.scope, r)
            {
                let split = m.split_by.as_ref().and_then(|d| d.of(r));
                rows.push((split, None, r.key.day, r.sums.basis(m.basis)));
            }
        }
    }
    let Some(first) = rows.iter().map(|r| r.2).min() else {
        return Vec::new();
    };
    // The last day with data anywhere in the store: later days are not known yet.
    let last = daily
        .iter()
        .map(|r| r.key.day)
        .chain(tags.iter().map(|t| t.key.day))
        .filter(|d| *d < today)
        .max()
        .unwrap_or(first);
    let days = ((last - first).num_days() + 1).max(1) as usize;
    let idx = |d: NaiveDate| (d - first).num_days() as usize;

    let mut parents: BTreeMap<Key, DaySeries> = BTreeMap::new();
    for (split, _, day, amount) in &rows {
        parents
            .entry(split.clone())
            .or_insert_with(|| DaySeries::new(days))
            .amounts[idx(*day)] += *amount;
    }
    let cfg = DetectorConfig {
        z_threshold: m.z_threshold,
        min_impact_ratio: 0.0,
        ..DetectorConfig::default()
    };
    let mut out = Vec::new();
    for (split, parent) in &parents {
        let series = parent.to_series(first);
        let points = detect(&series, &cfg);
        for ev in events(&series.values, &points) {
            let start = first + Duration::days(ev.start as i64);
            let end = first + Duration::days(ev.end as i64 - 1);
            if start < since {
                continue;
            }
            let actual: Decimal = parent.amounts[ev.range()].iter().copied().sum();
            let expected = Decimal::from_f64(ev.expected)
                .unwrap_or_default()
                .round_dp(2);
            let impact = actual - expected;
            let pct = ev.impact_percent();
            if impact.abs() < m.min_impact || pct.is_some_and(|p| p.abs() < m.min_impact_percent) {
                continue;
            }
            // Children of this series over every explaining dimension.
            let mut children: BTreeMap<(String, String), DaySeries> = BTreeMap::new();
            if tag_mode {
                for (s, child, day, amount) in &rows {
                    if s == split {
                        if let Some(c) = child {
                            children
                                .entry(c.clone())
                                .or_insert_with(|| DaySeries::new(days))
                                .amounts[idx(*day)] += *amount;
                        }
                    }
                }
            } else {
                for r in daily {
                    if r.key.currency != m.currency
                        || r.key.day < first
                        || r.key.day > last
                        || !daily_row_in_scope(&m.scope, r)
                        || m.split_by.as_ref().and_then(|d| d.of(r)) != *split
                    {
                        continue;
                    }
                    for d in Dimension::DAILY
                        .iter()
                        .filter(|d| Some(*d) != m.split_by.as_ref())
                    {
                        if let Some(v) = d.of(r) {
                            children
                                .entry((d.name(), v))
                                .or_insert_with(|| DaySeries::new(days))
                                .amounts[idx(r.key.day)] += r.sums.basis(m.basis);
                        }
                    }
                }
            }
            // A dimension with a single value explains nothing (it is all of the spend).
            let mut values_per_dim: BTreeMap<&str, usize> = BTreeMap::new();
            for (d, _) in children.keys() {
                *values_per_dim.entry(d.as_str()).or_default() += 1;
            }
            let kids: Vec<Child> = children
                .iter()
                .filter(|((d, _), _)| values_per_dim.get(d.as_str()).copied().unwrap_or(0) > 1)
                .map(|((d, v), s)| Child {
                    dimension: d.clone(),
                    value: v.clone(),
                    series: s.to_series(first),
                })
                .collect();
            let causes: Vec<RootCause> = root_causes(&ev, &kids, &cfg)
                .into_iter()
                .take(5)
                .map(|c| RootCause {
                    dimension: c.dimension,
                    value: c.value,
                    contribution: Decimal::from_f64(c.contribution)
                        .unwrap_or_default()
                        .round_dp(2),
                    share: c.share,
                })
                .collect();
            let mut dims: BTreeMap<String, String> = BTreeMap::new();
            if let (Some(d), Some(v)) = (&m.split_by, split) {
                dims.insert(d.name(), v.clone());
            }
            // Every root cause with a same-direction share of at least 20 % describes the alert.
            for c in causes.iter().filter(|c| c.share >= 0.2) {
                dims.entry(c.dimension.clone())
                    .or_insert_with(|| c.value.clone());
            }
            let key = AlertKey {
                monitor: &m.name,
                dimensions: &dims,
                start,
                direction: ev.direction,
                impact_percent: pct,
            };
            let suppressed = suppressed_by(feedback, &key)
                .map(|f| format!("{} {:?} {}..{}", f.monitor, f.verdict, f.start, f.end));
            out.push(MonitorAnomaly {
                monitor: m.name.clone(),
                series: match (&m.split_by, split) {
                    (Some(d), Some(v)) => Some((d.name(), v.clone())),
                    _ => None,
                },
                start,
                end,
                ongoing: ev.ongoing,
                currency: m.currency.clone(),
                expected,
                actual,
                impact,
                impact_percent: pct,
                direction: ev.direction,
                score: ev.max_score,
                root_causes: causes,
                suppressed_by: suppressed,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{DailyKey, Slice, Sums};
    use crate::text::Text;

    fn row(day: NaiveDate, account: &str, service: &str, region: &str, amount: &str) -> DailyRow {
        let a: Decimal = amount.parse().expect("decimal");
        DailyRow {
            slice: Slice {
                provider: Text::new("AWS"),
                billing_account_id: Text::new("999"),
                billing_period: day.format("%Y-%m").to_string(),
            },
            key: DailyKey {
                day,
                sub_account_id: Text::new(account),
                sub_account_name: Text::new(""),
                service_name: Text::new(service),
                service_category: Text::new("Compute"),
                region_id: Text::new(region),
                charge_category: Text::new("Usage"),
                currency: Currency::new("USD"),
            },
            sums: Sums {
                billed: a,
                effective: a,
                ..Sums::default()
            },
        }
    }

    /// 120 days of flat spend in two accounts; days 100-101 account 222's EC2 in eu-west-1 jumps
    /// by $400.50 a day.
    fn store() -> Vec<DailyRow> {
        let d0 = NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
        let mut rows = Vec::new();
        for t in 0..120 {
            let day = d0 + Duration::days(t);
            let wiggle = ["0.00", "3.10", "-2.20", "1.05", "-1.75"][t as usize % 5];
            let w: Decimal = wiggle.parse().expect("dec");
            rows.push(row(
                day,
                "111",
                "AmazonEC2",
                "us-east-1",
                &(Decimal::from(300) + w).to_string(),
            ));
            rows.push(row(day, "111", "AmazonS3", "us-east-1", "50.25"));
            let ec2 = if (100..102).contains(&t) {
                "600.50"
            } else {
                "200.00"
            };
            rows.push(row(day, "222", "AmazonEC2", "eu-west-1", ec2));
        }
        rows
    }

    const YAML: &str = "version: 1
monitors:
  - name: total
    currency: USD
  - name: per-account
    currency: USD
    split_by: account
    min_impact: 100
  - name: s3
    currency: USD
    scope: {services: [AmazonS3]}
feedback:
  - verdict: planned
    monitor: per-account
    dimensions: {account: '222'}
    start: 2024-04-09
    end: 2024-04-12
";

    #[test]
    fn monitors_find_the_anomaly_its_root_cause_and_honour_feedback() {
        let f = MonitorFile::parse(YAML, "m.yaml").expect("parse");
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let found = evaluate(&f, &store(), &[], d("2024-01-01"), d("2024-05-01"));
        let total: Vec<&MonitorAnomaly> = found.iter().filter(|a| a.monitor == "total").collect();
        assert_eq!(total.len(), 1, "{found:#?}");
        let a = total[0];
        assert_eq!((a.start, a.end), (d("2024-04-10"), d("2024-04-11")));
        assert_eq!(a.direction, Direction::Up);
        // Actual is exact: 300.00 + 303.10 + 2 × 50.25 + 2 × 600.50.
        assert_eq!(a.actual, "1904.60".parse::<Decimal>().expect("dec"));
        assert!(
            (a.impact - Decimal::from(801)).abs() < Decimal::from(5),
            "{a:?}"
        );
        let top: Vec<(&str, &str)> = a
            .root_causes
            .iter()
            .take(3)
            .map(|c| (c.dimension.as_str(), c.value.as_str()))
            .collect();
        assert!(top.contains(&("account", "222")) && top.contains(&("region", "eu-west-1")));
        let acct = a
            .root_causes
            .iter()
            .find(|c| c.value == "222")
            .expect("account 222");
        assert!(
            (acct.contribution - Decimal::from(801)).abs() < Decimal::ONE,
            "{acct:?}"
        );
        assert!(a.suppressed_by.is_none());
        // The per-account monitor sees it in 222 only, and the planned feedback covers it.
        let per: Vec<&MonitorAnomaly> = found
            .iter()
            .filter(|a| a.monitor == "per-account")
            .collect();
        assert_eq!(per.len(), 1, "{per:#?}");
        assert_eq!(per[0].series, Some(("account".into(), "222".into())));
        assert!(per[0].suppressed_by.is_some());
        // Flat S3 has nothing.
        assert!(found.iter().all(|a| a.monitor != "s3"));
        // `since` after the anomaly hides it; `today` before it means it has not happened yet.
        assert!(evaluate(&f, &store(), &[], d("2024-04-12"), d("2024-05-01")).is_empty());
        assert!(evaluate(&f, &store(), &[], d("2024-01-01"), d("2024-04-10")).is_empty());
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = MonitorFile::parse(
            "monitors:\n  - name: a\n    currency: USD\n    split_by: colour\n",
            "m.yaml",
        )
        .expect_err("bad split");
        assert!(e.to_string().starts_with("m.yaml:4:"), "{e}");
        assert!(e.to_string().contains("colour"), "{e}");
        let e = MonitorFile::parse(
            "monitors:\n  - name: a\n    currency: USD\n  - name: a\n    currency: EUR\n",
            "m.yaml",
        )
        .expect_err("dup");
        assert!(
            e.to_string().starts_with("m.yaml:1:") || e.to_string().contains("already used"),
            "{e}"
        );
        let e = MonitorFile::parse(
            "monitors:\n  - name: t\n    currency: USD\n    scope: {tag: {key: team, values: [web]}, services: [EC2]}\n",
            "m.yaml",
        )
        .expect_err("tag + service");
        assert!(e.to_string().contains("tag monitor"), "{e}");
    }
}

#[cfg(test)]
mod doc_tests {
    use super::*;

    #[test]
    fn the_example_in_the_docs_parses() {
        let doc = include_str!("../../../../docs/anomalies.md");
        let start = doc.find("```yaml\n").expect("yaml block") + 8;
        let len = doc[start..].find("```").expect("end of block");
        let f = MonitorFile::parse(&doc[start..start + len], "docs/anomalies.md").expect("parse");
        assert_eq!(f.monitors.len(), 6);
        assert_eq!(f.feedback.len(), 2);
        assert_eq!(f.monitors[4].split_by, Some(Dimension::Tag("team".into())));
        let e = MonitorFile::parse(
            "monitors:\n  - name: a\n    currency: USD\n    split_by: colour\n",
            "monitors.yaml",
        )
        .expect_err("bad");
        assert!(
            e.to_string()
                .starts_with("monitors.yaml:4: monitors[0].split_by: `colour`"),
            "{e}"
        );
    }
}
