//! Idle and underused resources, from cost and usage records and, when given, a metrics file.
//!
//! The billing data says what a resource costs and what kind of charge it is (the AWS usage type
//! in `x_UsageType`, or SkuMeter), but not how it is wired: a CUR has no "attached to" column.
//! Each rule therefore states its signal and its limits (also in `docs/optimization.md`):
//!
//! * `ebs-unattached`: an EBS volume (`EBS:VolumeUsage*`) whose account and availability zone had
//!   no instance hours at all in the data window. It cannot be attached to a running instance, so
//!   it is unattached or attached to an instance stopped the whole time.
//! * `ebs-stopped-instance`: an EBS volume in an account and zone where instances ran earlier in
//!   the window but none in its last `stopped_days` days, while the volume kept billing: storage of
//!   stopped (or terminated) instances.
//! * `ebs-no-io` (metrics): a volume whose `io_ops` samples are all zero over the metrics window.
//! * `eip-idle`: `ElasticIP:IdleAddress` / `PublicIPv4:IdleAddress` charges, which AWS bills only
//!   for addresses not attached to a running instance.
//! * `nat-low-traffic`: a NAT gateway (`NatGateway-Hours`) that processed less than
//!   `nat_min_gb_per_month` (`NatGateway-Bytes`, GB) over the last 30 days of data.
//! * `snapshot-old`: an EBS snapshot (`EBS:SnapshotUsage*`) billed for at least
//!   `snapshot_min_age_days` days of the data (the data cannot show a creation date, so this is
//!   the age it has at least).
//! * `instance-idle` (metrics): an instance whose maximum CPU over the last `metrics_days` days is
//!   below `cpu_idle_percent` (Compute Optimizer's idle criterion).
//! * `instance-downsize` (metrics): maximum CPU low enough that half the capacity (the next size
//!   down in the family) still keeps `headroom` spare: max × (1 + headroom) <= 50%.
//!
//! Estimated monthly savings are the resource's EffectiveCost (after commitment and negotiated
//! discounts) for the charges the action removes, over the last 30 days of data (scaled to 30
//! days when the data is shorter); downsizing saves half of the instance's cost. A resource
//! flagged by several rules gets one recommendation whose savings is the largest single
//! action's, never the sum: the actions are alternatives on the same resource.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::commitments::usage_type;
use super::metrics::{Metrics, Stat};
use crate::flow::messages::{Finding, FindingKind, Severity};
use crate::focus::{ChargeCategory, FocusRecord};
use crate::money::Currency;
use crate::text::Text;
use crate::time::Timestamp;

/// Thresholds of the idle rules.
#[derive(Clone, Debug)]
pub struct IdleOptions {
    /// Days without instance hours after which a zone's instances count as stopped.
    pub stopped_days: i64,
    /// GB per 30 days under which a NAT gateway counts as idle.
    pub nat_min_gb_per_month: Decimal,
    /// Days a snapshot must have been billed to count as old.
    pub snapshot_min_age_days: i64,
    /// Days of metrics considered (Compute Optimizer looks at 14).
    pub metrics_days: i64,
    /// Maximum CPU (percent) under which an instance is idle.
    pub cpu_idle_percent: f64,
    /// Spare capacity to keep when downsizing (0.2 = 20%).
    pub headroom: f64,
    /// Recommendations saving less than this a month are dropped.
    pub min_monthly_savings: Decimal,
}

impl Default for IdleOptions {
    fn default() -> Self {
        IdleOptions {
            stopped_days: 7,
            nat_min_gb_per_month: Decimal::TEN,
            snapshot_min_age_days: 90,
            metrics_days: 14,
            cpu_idle_percent: 5.0,
            headroom: 0.2,
            min_monthly_savings: Decimal::ZERO,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Volume,
    Snapshot,
    IdleAddress,
    NatGateway,
    Instance,
}

fn kind_of(usage: &str) -> Option<Kind> {
    if usage.contains("EBS:VolumeUsage")
        || usage.contains("EBS:VolumeP-IOPS")
        || usage.contains("EBS:VolumeP-Throughput")
        || usage.contains("EBS:VolumeIOUsage")
    {
        Some(Kind::Volume)
    } else if usage.contains("EBS:SnapshotUsage") || usage.contains("EBS:SnapshotArchive") {
        Some(Kind::Snapshot)
    } else if usage.contains("ElasticIP:IdleAddress") || usage.contains("PublicIPv4:IdleAddress") {
        Some(Kind::IdleAddress)
    } else if usage.contains("NatGateway-") {
        Some(Kind::NatGateway)
    } else if usage.contains("BoxUsage")
        || usage.contains("SpotUsage")
        || usage.contains("DedicatedUsage")
    {
        Some(Kind::Instance)
    } else {
        None
    }
}

#[derive(Debug)]
struct Resource {
    kind: Kind,
    currency: Currency,
    account: Option<Text>,
    region: Option<Text>,
    zone: Option<Text>,
    service: Text,
    name: Option<Text>,
    /// EffectiveCost of the relevant charges per day (days since the epoch).
    cost: BTreeMap<i64, Decimal>,
    /// NAT gateway GB processed per day.
    gb: BTreeMap<i64, Decimal>,
    first: Timestamp,
    last: Timestamp,
}

/// Folds records into per-resource facts, then applies the rules.
#[derive(Debug, Default)]
pub struct IdleAnalyzer {
    resources: HashMap<Text, Resource>,
    /// (account, zone) → last end of an instance-hour record.
    zone_instances: HashMap<(Option<Text>, Text), Timestamp>,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
}

fn day(t: &Timestamp) -> i64 {
    t.timestamp().div_euclid(86_400)
}

/// Which rule flagged a resource, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleHit {
    /// Rule name (`ebs-unattached`...).
    pub rule: &'static str,
    /// The evidence, with numbers.
    pub reason: String,
    /// Monthly savings of this action alone.
    pub monthly_savings: Decimal,
}

/// One resource to act on, merged across rules and sources.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IdleRecommendation {
    /// ResourceId.
    pub resource_id: String,
    /// ResourceName (the `Name` tag), when known.
    pub resource_name: Option<String>,
    /// What the resource is (`ebs-volume`, `snapshot`, `elastic-ip`, `nat-gateway`, `instance`).
    pub resource_kind: &'static str,
    /// SubAccountId.
    pub account: Option<String>,
    /// RegionId.
    pub region: Option<String>,
    /// ServiceName.
    pub service: String,
    /// Currency of the savings.
    pub currency: Currency,
    /// Estimated monthly savings: the largest of the rules' (alternative actions, not added).
    pub monthly_savings: Decimal,
    /// Every rule that flagged it.
    pub hits: Vec<RuleHit>,
    /// Last day of the data the estimate is based on.
    pub as_of: chrono::NaiveDate,
}

impl IdleRecommendation {
    /// The finding for the notify flow; the id is stable for a resource and data end.
    pub fn finding(&self, now: DateTime<Utc>) -> Finding {
        let mut scope = BTreeMap::new();
        scope.insert("resource".to_string(), self.resource_id.clone());
        scope.insert("service".to_string(), self.service.clone());
        if let Some(a) = &self.account {
            scope.insert("account".to_string(), a.clone());
        }
        if let Some(r) = &self.region {
            scope.insert("region".to_string(), r.clone());
        }
        let rules: Vec<&str> = self.hits.iter().map(|h| h.rule).collect();
        Finding {
            id: format!(
                "recommendation:idle:{}:{}",
                self.resource_id,
                self.as_of.format("%Y-%m-%d")
            ),
            kind: FindingKind::Recommendation,
            severity: if self.monthly_savings >= Decimal::ONE_HUNDRED {
                Severity::Warning
            } else {
                Severity::Info
            },
            title: format!(
                "{} {}: save {} {} a month ({})",
                self.resource_kind,
                self.resource_id,
                self.monthly_savings.round_dp(2),
                self.currency,
                rules.join(", ")
            ),
            summary: self
                .hits
                .iter()
                .map(|h| h.reason.clone())
                .collect::<Vec<_>>()
                .join(" "),
            scope,
            amount: Some(self.monthly_savings.round_dp(2)),
            currency: Some(self.currency.clone()),
            found_at: now,
            detail: serde_json::to_value(self).unwrap_or(serde_json::Value::Null),
        }
    }
}

impl IdleAnalyzer {
    /// An empty analyzer.
    pub fn new() -> IdleAnalyzer {
        IdleAnalyzer::default()
    }

    /// Adds one record.
    pub fn add(&mut self, r: &FocusRecord) {
        if r.charge_category != ChargeCategory::Usage {
            return;
        }
        self.start = Some(
            self.start
                .map_or(r.charge_period_start, |s| s.min(r.charge_period_start)),
        );
        self.end = Some(
            self.end
                .map_or(r.charge_period_end, |e| e.max(r.charge_period_end)),
        );
        let Some(id) = r.resource_id.as_ref() else {
            return;
        };
        let usage = usage_type(r);
        let Some(kind) = kind_of(usage) else {
            return;
        };
        if kind == Kind::Instance {
            if let Some(z) = &r.availability_zone {
                let e = self
                    .zone_instances
                    .entry((r.sub_account_id.clone(), z.clone()))
                    .or_insert(r.charge_period_end);
                *e = (*e).max(r.charge_period_end);
            }
        }
        let res = self
            .resources
            .entry(id.clone())
            .or_insert_with(|| Resource {
                kind,
                currency: r.billing_currency.clone(),
                account: r.sub_account_id.clone(),
                region: r.region_id.clone(),
                zone: r.availability_zone.clone(),
                service: r.service_name.clone(),
                name: r.resource_name.clone(),
                cost: BTreeMap::new(),
                gb: BTreeMap::new(),
                first: r.charge_period_start,
                last: r.charge_period_end,
            });
        // A resource id is one kind of resource; other charges on it (an instance's data
        // transfer) are not what the action removes.
        if res.kind != kind || res.currency != r.billing_currency {
            return;
        }
        res.first = res.first.min(r.charge_period_start);
        res.last = res.last.max(r.charge_period_end);
        if res.zone.is_none() {
            res.zone = r.availability_zone.clone();
        }
        *res.cost.entry(day(&r.charge_period_start)).or_default() += r.effective_cost;
        if kind == Kind::NatGateway && usage.contains("NatGateway-Bytes") {
            if let Some(q) = r.consumed_quantity.or(r.pricing_quantity) {
                *res.gb.entry(day(&r.charge_period_start)).or_default() += q;
            }
        }
    }

    /// Applies the rules (and the metrics rules when `metrics` is given).
    pub fn recommend(
        &self,
        opts: &IdleOptions,
        metrics: Option<&Metrics>,
    ) -> Vec<IdleRecommendation> {
        let (Some(start), Some(end)) = (self.start, self.end) else {
            return Vec::new();
        };
        // The last 30 days of data (all of it when shorter), and the factor to a 30-day month.
        let days = ((end - start).num_seconds() as f64 / 86_400.0)
            .ceil()
            .max(1.0) as i64;
        let span = days.min(30);
        let from_day = day(&end) - span + if end.timestamp() % 86_400 == 0 { 0 } else { 1 };
        let to_month = |x: Decimal| x * Decimal::from(30) / Decimal::from(span);
        let as_of = (end - Duration::seconds(1)).date_naive();
        let stopped_since = end - Duration::days(opts.stopped_days);
        let mut out = Vec::new();
        let mut ids: Vec<&Text> = self.resources.keys().collect();
        ids.sort();
        for id in ids {
            let r = &self.resources[id];
            let recent: Decimal = r.cost.range(from_day..).map(|(_, v)| *v).sum();
            let monthly = to_month(recent);
            let mut hits = Vec::new();
            match r.kind {
                Kind::Volume => {
                    if r.last > stopped_since {
                        let zone_last = r
                            .zone
                            .as_ref()
                            .map(|z| self.zone_instances.get(&(r.account.clone(), z.clone())));
                        match zone_last {
                            Some(None) => hits.push(RuleHit {
                                rule: "ebs-unattached",
                                reason: format!(
                                    "Volume billed until {} with no instance running in account {} zone {} during the {days} days of data: unattached, or attached to an instance stopped the whole time.",
                                    r.last.format("%Y-%m-%d"),
                                    r.account.as_deref().unwrap_or("-"),
                                    r.zone.as_deref().unwrap_or("-"),
                                ),
                                monthly_savings: monthly,
                            }),
                            Some(Some(last)) if *last <= stopped_since => hits.push(RuleHit {
                                rule: "ebs-stopped-instance",
                                reason: format!(
                                    "Volume still billed but no instance has run in account {} zone {} since {}: storage of stopped or terminated instances.",
                                    r.account.as_deref().unwrap_or("-"),
                                    r.zone.as_deref().unwrap_or("-"),
                                    last.format("%Y-%m-%d %H:%M"),
                                ),
                                monthly_savings: monthly,
                            }),
                            _ => {}
                        }
                    }
                    if let Some(m) = metrics.filter(|m| m.has("io_ops")) {
                        if let Some(o) = m.stat(
                            id,
                            "io_ops",
                            Stat::Max,
                            end,
                            Duration::days(opts.metrics_days),
                        ) {
                            if o.value == 0.0 {
                                hits.push(RuleHit {
                                    rule: "ebs-no-io",
                                    reason: format!(
                                        "No I/O in {} samples over the last {} days of metrics.",
                                        o.samples, opts.metrics_days
                                    ),
                                    monthly_savings: monthly,
                                });
                            }
                        }
                    }
                }
                Kind::IdleAddress => {
                    if !recent.is_zero() {
                        hits.push(RuleHit {
                            rule: "eip-idle",
                            reason: format!(
                                "Public IPv4 address billed as idle (not attached to a running instance): {} {} in the last {span} days.",
                                recent.round_dp(2),
                                r.currency
                            ),
                            monthly_savings: monthly,
                        });
                    }
                }
                Kind::NatGateway => {
                    let gb: Decimal = r.gb.range(from_day..).map(|(_, v)| *v).sum();
                    let gb_month = to_month(gb);
                    if r.last > stopped_since && gb_month < opts.nat_min_gb_per_month {
                        hits.push(RuleHit {
                            rule: "nat-low-traffic",
                            reason: format!(
                                "NAT gateway processed {} GB in the last {span} days (under {} GB a month) while costing {} {}.",
                                gb.round_dp(3),
                                opts.nat_min_gb_per_month,
                                recent.round_dp(2),
                                r.currency
                            ),
                            monthly_savings: monthly,
                        });
                    }
                }
                Kind::Snapshot => {
                    let age = (r.last - r.first).num_days();
                    if r.last > stopped_since && age >= opts.snapshot_min_age_days {
                        hits.push(RuleHit {
                            rule: "snapshot-old",
                            reason: format!(
                                "Snapshot billed since {} ({age} days of data); check it is still needed. Snapshots are incremental: deleting one frees only the blocks no other snapshot references, so the saving is at most this.",
                                r.first.format("%Y-%m-%d")
                            ),
                            monthly_savings: monthly,
                        });
                    }
                }
                Kind::Instance => {
                    if let Some(m) = metrics.filter(|m| m.has("cpu_max")) {
                        if let Some(o) = m.stat(
                            id,
                            "cpu_max",
                            Stat::Max,
                            end,
                            Duration::days(opts.metrics_days),
                        ) {
                            if o.value < opts.cpu_idle_percent {
                                hits.push(RuleHit {
                                    rule: "instance-idle",
                                    reason: format!(
                                        "Maximum CPU {:.1}% over {} samples in the last {} days (idle under {}%): stop or terminate it.",
                                        o.value, o.samples, opts.metrics_days, opts.cpu_idle_percent
                                    ),
                                    monthly_savings: monthly,
                                });
                            } else if o.value * (1.0 + opts.headroom) <= 50.0 {
                                hits.push(RuleHit {
                                    rule: "instance-downsize",
                                    reason: format!(
                                        "Maximum CPU {:.1}% over the last {} days: the next size down (half the vCPUs) would peak at {:.1}%, keeping {:.0}% headroom.",
                                        o.value,
                                        opts.metrics_days,
                                        o.value * 2.0,
                                        opts.headroom * 100.0
                                    ),
                                    monthly_savings: monthly / Decimal::TWO,
                                });
                            }
                        }
                    }
                }
            }
            if hits.is_empty() {
                continue;
            }
            let best = hits
                .iter()
                .map(|h| h.monthly_savings)
                .max()
                .unwrap_or_default();
            if best <= Decimal::ZERO || best < opts.min_monthly_savings {
                continue;
            }
            out.push(IdleRecommendation {
                resource_id: id.to_string(),
                resource_name: r.name.as_ref().map(|n| n.to_string()),
                resource_kind: match r.kind {
                    Kind::Volume => "ebs-volume",
                    Kind::Snapshot => "snapshot",
                    Kind::IdleAddress => "elastic-ip",
                    Kind::NatGateway => "nat-gateway",
                    Kind::Instance => "instance",
                },
                account: r.account.as_ref().map(|a| a.to_string()),
                region: r.region.as_ref().map(|a| a.to_string()),
                service: r.service.to_string(),
                currency: r.currency.clone(),
                monthly_savings: best,
                hits,
                as_of,
            });
        }
        out.sort_by(|a, b| {
            b.monthly_savings
                .cmp(&a.monthly_savings)
                .then_with(|| a.resource_id.cmp(&b.resource_id))
        });
        out
    }
}
