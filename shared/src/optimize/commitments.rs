//! Commitment recommendations from FOCUS records: which spend a Savings Plan, Reserved Instance or
//! committed use discount could cover, as an hourly series per group, simulated with
//! [`super::simulate`].
//!
//! Eligible spend is on-demand usage: ChargeCategory `Usage`, PricingCategory `Standard`, no
//! commitment discount already applied, not a correction, EffectiveCost (what is paid today, after
//! negotiated discounts) as the on-demand amount. Which services count per commitment type is
//! decided in [`classify`] and written down in `docs/optimization.md`.
//!
//! Records of an hour or less go into the hour they start in. Longer records (daily exports) are
//! spread evenly over their hours, exactly: the last hour takes the remainder, so the series adds
//! up to the records' EffectiveCost to the last digit. A group's series runs over the whole window
//! of the data (first charge start to last charge end of any usage record), zeros included: a
//! commitment is paid in hours nobody uses it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::simulate::{purchasable, Point, Simulator, Terms};
use crate::flow::messages::{Finding, FindingKind, Severity};
use crate::focus::{ChargeCategory, ChargeClass, FocusRecord, PricingCategory};
use crate::money::Currency;
use crate::text::Text;
use crate::time::Timestamp;

/// The kinds of commitment simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitmentType {
    /// AWS Compute Savings Plans, Azure savings plan for compute: spend commitments across
    /// families and regions.
    SavingsPlan,
    /// AWS Reserved Instances (EC2, RDS, ElastiCache, OpenSearch, Redshift) and Azure
    /// reservations: per instance family and region.
    ReservedInstance,
    /// Google Cloud committed use discounts (Compute Engine, spend-based flexible CUDs).
    CommittedUse,
}

impl CommitmentType {
    /// Every type.
    pub const ALL: &'static [CommitmentType] = &[
        CommitmentType::SavingsPlan,
        CommitmentType::ReservedInstance,
        CommitmentType::CommittedUse,
    ];

    /// `savings-plan`, `reserved-instance`, `committed-use`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommitmentType::SavingsPlan => "savings-plan",
            CommitmentType::ReservedInstance => "reserved-instance",
            CommitmentType::CommittedUse => "committed-use",
        }
    }

    /// Parses [`CommitmentType::as_str`] names (and `sp`, `ri`, `cud`).
    pub fn parse(s: &str) -> Option<CommitmentType> {
        match s {
            "savings-plan" | "sp" => Some(CommitmentType::SavingsPlan),
            "reserved-instance" | "ri" => Some(CommitmentType::ReservedInstance),
            "committed-use" | "cud" => Some(CommitmentType::CommittedUse),
            _ => None,
        }
    }
}

/// One series: a commitment type and where it applies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GroupKey {
    /// The commitment type.
    pub commitment: CommitmentType,
    /// Billing currency (never mixed).
    pub currency: Currency,
    /// ProviderName.
    pub provider: Text,
    /// Service the commitment is for (empty for Savings Plans, which span services).
    pub service: Text,
    /// Instance family (`m5`, `db.r6g`), for reservations.
    pub family: Option<Text>,
    /// RegionId, for reservations and CUDs.
    pub region: Option<Text>,
    /// Platform (AWS operation such as `RunInstances:0002` for Windows), for reservations.
    pub platform: Option<Text>,
}

impl GroupKey {
    /// A readable, stable label: `reserved-instance AWS AmazonEC2 m5 us-east-1 RunInstances`.
    pub fn label(&self) -> String {
        let mut parts = vec![
            self.commitment.as_str().to_string(),
            self.provider.to_string(),
        ];
        for p in [
            &Some(self.service.clone()),
            &self.family,
            &self.region,
            &self.platform,
        ]
        .into_iter()
        .flatten()
        {
            if !p.is_empty() {
                parts.push(p.to_string());
            }
        }
        parts.push(self.currency.to_string());
        parts.join(" ")
    }
}

fn is_aws(provider: &str) -> bool {
    provider.eq_ignore_ascii_case("AWS") || provider.starts_with("Amazon")
}

fn is_azure(provider: &str) -> bool {
    provider.starts_with("Microsoft") || provider.eq_ignore_ascii_case("Azure")
}

fn is_gcp(provider: &str) -> bool {
    provider.starts_with("Google")
}

/// The AWS service code of a record: `x_ServiceCode` from the CUR, else mapped from ServiceName.
fn aws_service_code(r: &FocusRecord) -> Option<&str> {
    if let Some(c) = r.extension("x_ServiceCode") {
        return Some(c);
    }
    Some(match r.service_name.as_str() {
        "Amazon Elastic Compute Cloud" | "Amazon Elastic Compute Cloud - Compute" => "AmazonEC2",
        "AWS Lambda" => "AWSLambda",
        "Amazon Elastic Container Service" => "AmazonECS",
        "Amazon Elastic Kubernetes Service" => "AmazonEKS",
        "Amazon Relational Database Service" => "AmazonRDS",
        "Amazon ElastiCache" => "AmazonElastiCache",
        "Amazon OpenSearch Service" => "AmazonES",
        "Amazon Redshift" => "AmazonRedshift",
        _ => return None,
    })
}

/// The usage type: `x_UsageType` (CUR) or SkuMeter (AWS FOCUS exports put it there).
pub fn usage_type(r: &FocusRecord) -> &str {
    r.extension("x_UsageType")
        .or(r.sku_meter.as_deref())
        .unwrap_or("")
}

/// The instance type in a usage type (`USE2-BoxUsage:m5.large` → `m5.large`) or in SkuPriceDetails.
fn instance_type<'a>(r: &'a FocusRecord, usage: &'a str) -> Option<&'a str> {
    if let Some((_, t)) = usage.split_once(':') {
        if t.contains('.') {
            return Some(t);
        }
    }
    r.sku_price_details
        .as_ref()
        .and_then(|d| d.get("InstanceType").or_else(|| d.get("x_InstanceType")))
        .and_then(|v| v.as_str())
}

/// `m5.large` → `m5`, `db.r6g.xlarge` → `db.r6g`, `cache.t3.micro` → `cache.t3`.
fn family(instance: &str) -> &str {
    match instance.rfind('.') {
        Some(i) => &instance[..i],
        None => instance,
    }
}

/// True for a record whose cost a new commitment could cover: on-demand usage not already
/// discounted by a commitment.
pub fn on_demand_usage(r: &FocusRecord) -> bool {
    r.charge_category == ChargeCategory::Usage
        && r.charge_class != Some(ChargeClass::Correction)
        && r.pricing_category == Some(PricingCategory::Standard)
        && r.commitment_discount_id.is_none()
}

/// The commitment types (with their family/region keys) a record's spend is eligible for. EC2
/// instance usage is eligible for both a Savings Plan and a Reserved Instance: the two are
/// alternatives for the same spend, never to be added up.
pub fn classify(r: &FocusRecord) -> Vec<GroupKey> {
    let mut out = Vec::new();
    if !on_demand_usage(r) {
        return out;
    }
    let provider = r.provider_name.as_str();
    let key = |c: CommitmentType,
               service: &str,
               family: Option<&str>,
               region: Option<&Text>,
               platform: Option<&str>| GroupKey {
        commitment: c,
        currency: r.billing_currency.clone(),
        provider: r.provider_name.clone(),
        service: Text::from(service),
        family: family.map(Text::from),
        region: region.cloned(),
        platform: platform.map(Text::from),
    };
    if is_aws(provider) {
        let Some(code) = aws_service_code(r) else {
            return out;
        };
        let usage = usage_type(r);
        let ec2_instance = code == "AmazonEC2"
            && (usage.contains("BoxUsage")
                || usage.contains("DedicatedUsage")
                || usage.contains("HostUsage"));
        let sp = ec2_instance
            || (code == "AWSLambda"
                && (usage.contains("Lambda-GB-Second") || usage.contains("Lambda-Provisioned")))
            || ((code == "AmazonECS" || code == "AmazonEKS") && usage.contains("Fargate"));
        if sp {
            out.push(key(CommitmentType::SavingsPlan, "", None, None, None));
        }
        let reservable = ec2_instance && !usage.contains("HostUsage")
            || (code == "AmazonRDS" && usage.contains("InstanceUsage"))
            || (code == "AmazonElastiCache" && usage.contains("NodeUsage"))
            || (code == "AmazonES" && usage.contains("ESInstance"))
            || (code == "AmazonRedshift" && usage.contains("Node:"));
        if reservable {
            if let Some(t) = instance_type(r, usage) {
                out.push(key(
                    CommitmentType::ReservedInstance,
                    code,
                    Some(family(t)),
                    r.region_id.as_ref(),
                    r.extension("x_Operation"),
                ));
            }
        }
    } else if is_azure(provider) {
        if r.service_name == "Virtual Machines" {
            out.push(key(CommitmentType::SavingsPlan, "", None, None, None));
            if let Some(meter) = r.sku_meter.as_deref() {
                out.push(key(
                    CommitmentType::ReservedInstance,
                    "Virtual Machines",
                    Some(meter),
                    r.region_id.as_ref(),
                    None,
                ));
            }
        }
    } else if is_gcp(provider) && r.service_name == "Compute Engine" {
        let what = r
            .sku_meter
            .as_deref()
            .or(r.charge_description.as_deref())
            .unwrap_or("");
        let compute = ["Core", "Ram", "vCPU", "Memory", "Instance"]
            .iter()
            .any(|w| what.contains(w));
        if compute {
            out.push(key(
                CommitmentType::CommittedUse,
                "Compute Engine",
                None,
                None,
                None,
            ));
        }
    }
    out
}

/// The time resolution of the data a series was built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Every eligible record covered at most an hour.
    Hourly,
    /// Some records covered longer periods (daily exports) and were spread evenly over their
    /// hours: peaks inside a day are invisible, so the simulation over-states what a commitment
    /// can cover.
    Spread,
}

/// An hourly series of eligible on-demand spend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HourlySeries {
    /// The group.
    pub key: GroupKey,
    /// The first hour.
    pub start: Timestamp,
    /// On-demand spend per hour.
    pub values: Vec<Decimal>,
    /// How fine the source data was.
    pub resolution: Resolution,
}

/// Folds records into hourly series, one per [`GroupKey`].
#[derive(Debug, Default)]
pub struct SeriesBuilder {
    groups: Vec<GroupKey>,
    index: HashMap<GroupKey, usize>,
    /// (group, hour since the epoch) → spend.
    cells: HashMap<(usize, i64), Decimal, foldhash::fast::RandomState>,
    spread: Vec<bool>,
    first_hour: Option<i64>,
    end_hour: Option<i64>,
    /// Eligible records seen.
    pub records: u64,
}

fn hour_of(t: &DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

impl SeriesBuilder {
    /// An empty builder.
    pub fn new() -> SeriesBuilder {
        SeriesBuilder::default()
    }

    /// Adds one record (any record: non-eligible ones only widen the data window).
    pub fn add(&mut self, r: &FocusRecord) {
        if r.charge_category != ChargeCategory::Usage {
            return;
        }
        let start = hour_of(&r.charge_period_start);
        // The exclusive end, rounded up to a whole hour.
        let end = (r.charge_period_end.timestamp() + 3599)
            .div_euclid(3600)
            .max(start + 1);
        self.first_hour = Some(self.first_hour.map_or(start, |f| f.min(start)));
        self.end_hour = Some(self.end_hour.map_or(end, |e| e.max(end)));
        let keys = classify(r);
        if keys.is_empty() || r.effective_cost.is_zero() {
            return;
        }
        self.records += 1;
        let hours = end - start;
        for key in keys {
            let g = match self.index.get(&key) {
                Some(g) => *g,
                None => {
                    self.groups.push(key.clone());
                    self.spread.push(false);
                    self.index.insert(key, self.groups.len() - 1);
                    self.groups.len() - 1
                }
            };
            if hours == 1 {
                *self.cells.entry((g, start)).or_default() += r.effective_cost;
            } else {
                self.spread[g] = true;
                let share = (r.effective_cost / Decimal::from(hours)).round_dp(12);
                let mut left = r.effective_cost;
                for h in start..end {
                    let v = if h == end - 1 { left } else { share };
                    left -= v;
                    *self.cells.entry((g, h)).or_default() += v;
                }
            }
        }
    }

    /// The series, sorted by group, each over the whole data window.
    pub fn finish(self) -> Vec<HourlySeries> {
        let (Some(first), Some(end)) = (self.first_hour, self.end_hour) else {
            return Vec::new();
        };
        let len = (end - first) as usize;
        let mut values: Vec<Vec<Decimal>> = vec![vec![Decimal::ZERO; len]; self.groups.len()];
        for ((g, h), v) in self.cells {
            values[g][(h - first) as usize] += v;
        }
        let start = DateTime::<Utc>::from_timestamp(first * 3600, 0).unwrap_or_default();
        let mut out: Vec<HourlySeries> = self
            .groups
            .into_iter()
            .zip(values)
            .zip(self.spread)
            .map(|((key, values), spread)| HourlySeries {
                key,
                start,
                values,
                resolution: if spread {
                    Resolution::Spread
                } else {
                    Resolution::Hourly
                },
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct CommitmentOptions {
    /// The commitment's terms.
    pub terms: Terms,
    /// Which types to recommend.
    pub types: Vec<CommitmentType>,
    /// Utilization the conservative point keeps (default 0.95).
    pub min_utilization: Decimal,
    /// Groups whose eligible spend over the window is below this are left out.
    pub min_eligible: Decimal,
}

/// A commitment recommendation for one group.
#[derive(Clone, Debug, Serialize)]
pub struct CommitmentRecommendation {
    /// The group.
    pub key: GroupKey,
    /// The terms simulated.
    pub terms: Terms,
    /// First hour simulated.
    pub window_start: Timestamp,
    /// End of the last hour simulated (exclusive).
    pub window_end: Timestamp,
    /// Resolution of the data.
    pub resolution: Resolution,
    /// The savings curve: the 5% quantiles of the hourly series and the two points below.
    pub curve: Vec<Point>,
    /// The point with the highest savings (commitment rounded down to 0.001 per hour).
    pub max_savings: Point,
    /// The highest commitment up to the max-savings point that keeps utilization at or above
    /// the minimum (rounded down to 0.001 per hour).
    pub conservative: Point,
}

impl CommitmentRecommendation {
    /// The finding for the notify flow: one per group and point, id stable for the same data
    /// window, terms and group.
    pub fn finding(&self, which: &str, now: DateTime<Utc>) -> Option<Finding> {
        let p = match which {
            "max-savings" => &self.max_savings,
            "conservative" => &self.conservative,
            _ => return None,
        };
        if p.commitment.is_zero() || p.savings <= Decimal::ZERO {
            return None;
        }
        let cur = &self.key.currency;
        let mut scope = BTreeMap::new();
        scope.insert(
            "commitment".to_string(),
            self.key.commitment.as_str().to_string(),
        );
        scope.insert("provider".to_string(), self.key.provider.to_string());
        if !self.key.service.is_empty() {
            scope.insert("service".to_string(), self.key.service.to_string());
        }
        if let Some(f) = &self.key.family {
            scope.insert("family".to_string(), f.to_string());
        }
        if let Some(r) = &self.key.region {
            scope.insert("region".to_string(), r.to_string());
        }
        let title = format!(
            "Buy {} {}/h of {} ({}): saves {} {} a month",
            p.commitment,
            cur,
            self.key.label(),
            which,
            p.monthly_savings.round_dp(2),
            cur
        );
        let summary = format!(
            "A {}-year {} commitment of {} {}/h at a {}% discount covers {}% of the eligible \
             on-demand spend at {}% utilization, saving {} {} over the {} hours simulated \
             ({} {} a month){}.",
            self.terms.years,
            self.terms.payment.as_str(),
            p.commitment,
            cur,
            (self.terms.discount * Decimal::ONE_HUNDRED).normalize(),
            (p.coverage * Decimal::ONE_HUNDRED).round_dp(1),
            (p.utilization * Decimal::ONE_HUNDRED).round_dp(1),
            p.savings.round_dp(2),
            cur,
            p.hours,
            p.monthly_savings.round_dp(2),
            cur,
            match p.break_even_month {
                Some(m) if !p.upfront.is_zero() =>
                    format!("; the upfront payment is paid back in month {m}"),
                _ => String::new(),
            }
        );
        Some(Finding {
            id: format!(
                "recommendation:commitment:{}:{}y:{}:{}:{}:{}:{}",
                self.key.label().replace(' ', "/"),
                self.terms.years,
                self.terms.payment.as_str(),
                self.terms.discount.normalize(),
                which,
                self.window_start.format("%Y%m%dT%H"),
                self.window_end.format("%Y%m%dT%H"),
            ),
            kind: FindingKind::Recommendation,
            severity: Severity::Info,
            title,
            summary,
            scope,
            amount: Some(p.monthly_savings.round_dp(2)),
            currency: Some(cur.clone()),
            found_at: now,
            detail: serde_json::to_value(p).unwrap_or(serde_json::Value::Null),
        })
    }
}

/// Simulates every series of a requested type.
pub fn recommend(
    series: &[HourlySeries],
    opts: &CommitmentOptions,
) -> Vec<CommitmentRecommendation> {
    series
        .iter()
        .filter(|s| opts.types.contains(&s.key.commitment))
        .filter_map(|s| {
            let sim = Simulator::new(&s.values, opts.terms);
            if sim.total() < opts.min_eligible || sim.total().is_zero() {
                return None;
            }
            let curve = sim
                .curve_levels(opts.min_utilization)
                .into_iter()
                .map(|l| sim.at_level(l))
                .collect();
            let keep = Decimal::ONE - opts.terms.discount;
            let best = purchasable(sim.max_savings_level() * keep);
            let safe = purchasable(sim.conservative_level(opts.min_utilization) * keep);
            Some(CommitmentRecommendation {
                key: s.key.clone(),
                terms: opts.terms,
                window_start: s.start,
                window_end: s.start + Duration::hours(s.values.len() as i64),
                resolution: s.resolution,
                curve,
                max_savings: sim.at_commitment(best),
                conservative: sim.at_commitment(safe),
            })
        })
        .collect()
}
