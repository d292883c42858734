//! Root causes below the store's grain: usage type (or SKU) and resource, computed on demand from
//! FOCUS records.
//!
//! The store keeps daily aggregates by account, service, region and charge category. Resource ids
//! would multiply its size, and its write bill on DynamoDB, for data that is read a few times a
//! month. So when an anomaly is found, its window and the [`BASELINE_DAYS`] before it are read
//! again from the FOCUS records and broken down by usage type (`SkuMeter`, else `SkuId`) and by
//! resource (`ResourceId`), and each child is judged against its own history exactly as the
//! aggregate children are ([`root_causes`]).
//!
//! Records are matched to the anomaly the way the monitor matched aggregate rows: the same scope,
//! currency, cost basis and split value, and the UTC day of `ChargePeriodStart`.

use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;

use super::detector::DetectorConfig;
use super::events::{root_causes, Child, Direction, Event};
use super::monitor::{Dimension, Monitor, MonitorAnomaly, MonitorFile, RootCause};
use crate::aggregate::{CostBasis, DailyKey, DailyRow, Slice, Sums};
use crate::analysis::series::Series;
use crate::budget::spend::daily_row_in_scope;
use crate::focus::FocusRecord;
use crate::output::{FocusSink, OutputError};
use crate::text::Text;
use crate::time::period_key;

/// Days of history before an anomaly that a child's expectation is learned from.
pub const BASELINE_DAYS: i64 = 28;

/// Root causes of each kind kept per anomaly.
pub const TOP_PER_KIND: usize = 5;

/// What a drill-down breaks spend down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DetailKind {
    /// `SkuMeter` (AWS usage type, Azure meter, GCP SKU description), else `SkuId`.
    UsageType,
    /// `ResourceId`.
    Resource,
}

impl DetailKind {
    /// The dimension name in root causes.
    pub fn name(self) -> &'static str {
        match self {
            DetailKind::UsageType => "usage_type",
            DetailKind::Resource => "resource",
        }
    }
}

/// Accumulates the records of one anomaly's scope, per usage type and resource and day.
#[derive(Debug)]
pub struct DrillDown {
    monitor: Monitor,
    split: Option<String>,
    first: NaiveDate,
    start: NaiveDate,
    end: NaiveDate,
    children: HashMap<(DetailKind, Text), Vec<Decimal>>,
    matched: u64,
    total: Decimal,
}

impl DrillDown {
    /// A drill-down for `anomaly`, found by `monitor`.
    pub fn new(monitor: &Monitor, anomaly: &MonitorAnomaly) -> DrillDown {
        DrillDown {
            monitor: monitor.clone(),
            split: anomaly.series.as_ref().map(|(_, v)| v.clone()),
            first: anomaly.start - Duration::days(BASELINE_DAYS),
            start: anomaly.start,
            end: anomaly.end,
            children: HashMap::new(),
            matched: 0,
            total: Decimal::ZERO,
        }
    }

    /// The days whose records it needs (both included).
    pub fn days(&self) -> (NaiveDate, NaiveDate) {
        (self.first, self.end)
    }

    /// The billing periods (`YYYY-MM`) those days fall in, oldest first. Charges of a day are
    /// normally billed in its month; a few providers bill late usage in the next period, so the
    /// month after the last day is included too.
    pub fn periods(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut d = self.first.with_day0(0).unwrap_or(self.first);
        let last = self.end;
        loop {
            out.push(d.format("%Y-%m").to_string());
            if d > last {
                break;
            }
            d = d
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(last + Duration::days(1));
        }
        out
    }

    /// Records matched so far.
    pub fn matched(&self) -> u64 {
        self.matched
    }

    /// Σ of the matched records' cost basis inside the anomaly's window, exact: lets a caller
    /// check the records against the aggregates the anomaly was found on.
    pub fn window_total(&self) -> Decimal {
        self.total
    }

    /// Folds in one record (ignored unless it is in the anomaly's scope and days).
    pub fn add(&mut self, r: &FocusRecord) {
        let day = r.charge_period_start.date_naive();
        if day < self.first || day > self.end || r.billing_currency != self.monitor.currency {
            return;
        }
        if !self.in_scope(r) {
            return;
        }
        let amount = match self.monitor.basis {
            CostBasis::Billed => r.billed_cost,
            CostBasis::Effective => r.effective_cost,
        };
        let idx = (day - self.first).num_days() as usize;
        let len = ((self.end - self.first).num_days() + 1) as usize;
        let usage = r
            .sku_meter
            .as_ref()
            .filter(|s| !s.is_empty())
            .or(r.sku_id.as_ref().filter(|s| !s.is_empty()));
        let resource = r.resource_id.as_ref().filter(|s| !s.is_empty());
        for (kind, value) in [
            (DetailKind::UsageType, usage),
            (DetailKind::Resource, resource),
        ] {
            if let Some(v) = value {
                let days = self
                    .children
                    .entry((kind, v.clone()))
                    .or_insert_with(|| vec![Decimal::ZERO; len]);
                days[idx] += amount;
            }
        }
        self.matched += 1;
        if day >= self.start {
            self.total += amount;
        }
    }

    fn in_scope(&self, r: &FocusRecord) -> bool {
        let m = &self.monitor;
        let listed = |l: &[String], v: &str| l.is_empty() || l.iter().any(|x| x == v);
        let tag_key = m
            .scope
            .tag
            .as_ref()
            .map(|t| t.key.as_str())
            .or(match &m.split_by {
                Some(Dimension::Tag(k)) => Some(k.as_str()),
                _ => None,
            });
        if let Some(key) = tag_key {
            // Tag monitors watch the per-tag aggregates: provider, billing account and the tag.
            let Some(value) = r.tags.get(key).map(|v| v.to_text()) else {
                return false;
            };
            return listed(&m.scope.providers, &r.provider_name)
                && listed(&m.scope.billing_accounts, &r.billing_account_id)
                && m.scope
                    .tag
                    .as_ref()
                    .is_none_or(|f| f.values.iter().any(|v| *v == *value))
                && self.split.as_ref().is_none_or(|s| *s == *value);
        }
        let row = DailyRow {
            slice: Slice {
                provider: r.provider_name.clone(),
                billing_account_id: r.billing_account_id.clone(),
                billing_period: period_key(&r.billing_period_start),
            },
            key: DailyKey {
                day: r.charge_period_start.date_naive(),
                sub_account_id: r.sub_account_id.clone().unwrap_or_default(),
                sub_account_name: r.sub_account_name.clone().unwrap_or_default(),
                service_name: r.service_name.clone(),
                service_category: Text::new_static(r.service_category.as_str()),
                region_id: r.region_id.clone().unwrap_or_default(),
                charge_category: Text::new_static(r.charge_category.as_str()),
                currency: r.billing_currency.clone(),
            },
            sums: Sums::default(),
        };
        daily_row_in_scope(&m.scope, &row)
            && match (&m.split_by, &self.split) {
                (Some(d), Some(v)) => d.of(&row).is_some_and(|x| x == *v),
                _ => true,
            }
    }

    /// The usage types and resources that explain `anomaly`, the largest contribution in its
    /// direction first: at most [`TOP_PER_KIND`] of each kind. Children whose contribution runs
    /// against the anomaly are left out (they explain nothing).
    pub fn causes(&self, anomaly: &MonitorAnomaly) -> Vec<RootCause> {
        let len = ((self.end - self.first).num_days() + 1) as usize;
        let start = (self.start - self.first).num_days() as usize;
        let event = Event {
            start,
            end: len,
            ongoing: anomaly.ongoing,
            expected: anomaly.expected.to_f64().unwrap_or(0.0),
            actual: anomaly.actual.to_f64().unwrap_or(0.0),
            max_score: anomaly.score,
            direction: anomaly.direction,
        };
        let cfg = DetectorConfig {
            z_threshold: self.monitor.z_threshold,
            min_impact_ratio: 0.0,
            ..DetectorConfig::default()
        };
        let mut out = Vec::new();
        for kind in [DetailKind::UsageType, DetailKind::Resource] {
            let mut kids: Vec<Child> = self
                .children
                .iter()
                .filter(|((k, _), _)| *k == kind)
                .map(|((_, v), days)| Child {
                    dimension: kind.name().to_string(),
                    value: v.to_string(),
                    series: Series::daily(
                        self.first,
                        days.iter().map(|d| d.to_f64().unwrap_or(0.0)),
                    ),
                })
                .collect();
            // A single value is all of the spend: it explains nothing the parent does not.
            if kids.len() < 2 {
                continue;
            }
            kids.sort_by(|a, b| a.value.cmp(&b.value));
            let same_way = |c: f64| match anomaly.direction {
                Direction::Up => c > 0.0,
                Direction::Down => c < 0.0,
            };
            out.extend(
                root_causes(&event, &kids, &cfg)
                    .into_iter()
                    .filter(|c| same_way(c.contribution))
                    .take(TOP_PER_KIND)
                    .map(|c| RootCause {
                        dimension: c.dimension,
                        value: c.value,
                        contribution: Decimal::from_f64(c.contribution)
                            .unwrap_or_default()
                            .round_dp(2),
                        share: c.share,
                    }),
            );
        }
        out
    }
}

impl FocusSink for DrillDown {
    fn write(&mut self, record: &FocusRecord) -> Result<(), OutputError> {
        self.add(record);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        Ok(self.matched)
    }
}

/// Adds drill-down causes to an anomaly's aggregate causes, largest contribution in the anomaly's
/// direction first.
pub fn merge_causes(anomaly: &mut MonitorAnomaly, detail: Vec<RootCause>) {
    anomaly.root_causes.extend(detail);
    let sign = match anomaly.direction {
        Direction::Up => -1,
        Direction::Down => 1,
    };
    anomaly.root_causes.sort_by(|a, b| {
        (a.contribution * Decimal::from(sign))
            .cmp(&(b.contribution * Decimal::from(sign)))
            .then_with(|| a.dimension.cmp(&b.dimension))
            .then_with(|| a.value.cmp(&b.value))
    });
}

/// Drill-downs of several anomalies fed from one pass over the records.
#[derive(Debug, Default)]
pub struct Drills {
    items: Vec<(usize, DrillDown)>,
}

impl Drills {
    /// Drill-downs for `anomalies[i]` for each `i` in `which` (anomalies of monitors not in `file`
    /// are left alone).
    pub fn new(file: &MonitorFile, anomalies: &[MonitorAnomaly], which: &[usize]) -> Drills {
        let items = which
            .iter()
            .filter_map(|&i| {
                let a = anomalies.get(i)?;
                let m = file.monitors.iter().find(|m| m.name == a.monitor)?;
                Some((i, DrillDown::new(m, a)))
            })
            .collect();
        Drills { items }
    }

    /// The billing periods to read, oldest first.
    pub fn periods(&self) -> Vec<String> {
        let set: std::collections::BTreeSet<String> =
            self.items.iter().flat_map(|(_, d)| d.periods()).collect();
        set.into_iter().collect()
    }

    /// Records matched by any drill-down.
    pub fn matched(&self) -> u64 {
        self.items.iter().map(|(_, d)| d.matched()).sum()
    }

    /// Adds each drill-down's causes to its anomaly.
    pub fn apply(self, anomalies: &mut [MonitorAnomaly]) {
        for (i, d) in self.items {
            if let Some(a) = anomalies.get_mut(i) {
                let causes = d.causes(a);
                merge_causes(a, causes);
            }
        }
    }
}

impl FocusSink for Drills {
    fn write(&mut self, r: &FocusRecord) -> Result<(), OutputError> {
        for (_, d) in self.items.iter_mut() {
            d.add(r);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        Ok(self.matched())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::anomaly::monitor::MonitorFile;

    fn anomaly(start: &str, end: &str) -> MonitorAnomaly {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        MonitorAnomaly {
            monitor: "total".into(),
            series: None,
            start: d(start),
            end: d(end),
            ongoing: false,
            currency: crate::money::Currency::new("USD"),
            expected: Decimal::from(100),
            actual: Decimal::from(300),
            impact: Decimal::from(200),
            impact_percent: Some(200.0),
            direction: Direction::Up,
            score: 9.0,
            root_causes: Vec::new(),
            suppressed_by: None,
        }
    }

    #[test]
    fn reads_the_baseline_months_and_the_next_one() {
        let file = MonitorFile::parse(
            "version: 1\nmonitors:\n  - name: total\n    currency: USD\n",
            "m.yaml",
        )
        .expect("parse");
        let d = DrillDown::new(&file.monitors[0], &anomaly("2024-03-10", "2024-03-12"));
        assert_eq!(d.periods(), ["2024-02", "2024-03", "2024-04"]);
        let d = DrillDown::new(&file.monitors[0], &anomaly("2024-03-30", "2024-04-02"));
        assert_eq!(d.periods(), ["2024-03", "2024-04", "2024-05"]);
    }
}
