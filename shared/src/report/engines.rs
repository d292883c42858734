//! The report's engine sections ([`EngineSections`]) computed from the store by the existing
//! engines: anomalies from the anomaly monitors (with root causes), the forecast of the period
//! total with 80 % and 95 % ranges and the method's own backtest. Every shell (`costkit report`,
//! `costkit serve`, the Lambda report function) calls [`compute_engines`], so the sections are
//! computed one way everywhere.
//!
//! The recommendations (idle resources and user rule findings) and the leaderboard need FOCUS
//! records, not daily sums: they read the period's current records (and those of the months
//! before it, [`EngineConfig::focus_months`]) from a [`FocusSource`], in ONE pass that feeds the
//! idle analyzer, the rules engine and the leaderboard builder together.
//!
//! A section is `None` ("not configured") unless its engine is configured: anomalies need a
//! monitors file, the forecast is on unless switched off, recommendations need a rules file or the
//! idle rules, the leaderboard needs a teams and an actions file. An empty list means "configured,
//! nothing found". A configured section that cannot be computed (no FOCUS source, unreadable FOCUS
//! data) stays `None` and the report carries a note saying why.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use thiserror::Error;

use super::{
    Backtest, EngineSections, ForecastDay, ForecastInterval, ForecastLine, Recommendation,
    ReportAnomaly, ReportPeriod, ReportScope, RootCause,
};
use crate::aggregate::CostBasis;
use crate::analysis::anomaly::monitor::{evaluate, MonitorFile};
use crate::analysis::forecast::{period_totals, verdict, Verdict};
use crate::budget::Period;
use crate::flow::FlowError;
use crate::focus::FocusRecord;
use crate::leaderboard::{ActionsFile, LeaderboardBuilder, LeaderboardSection, TeamsFile};
use crate::money::Currency;
use crate::optimize::idle::{IdleAnalyzer, IdleOptions, IdleRecommendation};
use crate::output::{FocusSink, OutputError};
use crate::rules::{Engine, RuleMatch, RulesFile};
use crate::store::{CostStore, Filter, StoreError};

/// Where the report's FOCUS records come from: the current records of billing periods (the
/// bucket's `focus/billing_period=YYYY-MM/` files in the functions, a directory of them locally).
/// Implementations must pass each record once (no superseded re-deliveries): the recommendations
/// and the leaderboard add up its money.
pub trait FocusSource: Send + Sync + fmt::Debug {
    /// Streams the current FOCUS records of the billing `periods` (`YYYY-MM`) into `sink`;
    /// returns the records passed.
    fn read(&self, periods: &[String], sink: &mut dyn FocusSink) -> Result<u64, FlowError>;
}

/// The leaderboard's settings: the teams and the recommendations marked done.
#[derive(Clone, Debug)]
pub struct LeaderboardConfig {
    /// Teams and scoring (`docs/teams.schema.json`).
    pub teams: TeamsFile,
    /// Actions marked done (`docs/actions.schema.json`).
    pub actions: ActionsFile,
}

/// Which engines fill a report.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Anomaly monitors (`costkit anomalies --monitors`); `None` leaves the section out.
    pub monitors: Option<MonitorFile>,
    /// Forecast the period's total (on by default).
    pub forecast: bool,
    /// User rules (`costkit rules run --rules`): their findings join the recommendations.
    pub rules: Option<RulesFile>,
    /// The idle-resource rules with their thresholds (`costkit recommend idle`); `None` = off.
    pub idle: Option<IdleOptions>,
    /// Teams and actions for the leaderboard section; `None` leaves it out.
    pub leaderboard: Option<LeaderboardConfig>,
    /// The FOCUS records the rules, the idle rules and the leaderboard read.
    pub focus: Option<Arc<dyn FocusSource>>,
    /// Billing periods read for them: the report's period and the `focus_months - 1` before it
    /// (rule windows, snapshot ages and the leaderboard's before windows reach back). At least 1.
    pub focus_months: u32,
    /// Why an engine that should run cannot (e.g. the monitors file is invalid): each becomes a
    /// note of every report, so a missing section is never mistaken for "not configured".
    pub problems: Vec<String>,
}

/// Billing periods read by default for the FOCUS sections: the report's month and the two before
/// it (90 days: the idle rules' snapshot age, the leaderboard's 30-day windows).
pub const DEFAULT_FOCUS_MONTHS: u32 = 3;

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            monitors: None,
            forecast: true,
            rules: None,
            idle: None,
            leaderboard: None,
            focus: None,
            focus_months: DEFAULT_FOCUS_MONTHS,
            problems: Vec::new(),
        }
    }
}

impl EngineConfig {
    /// True when a section needs FOCUS records (rules, idle rules or the leaderboard).
    pub fn needs_focus(&self) -> bool {
        self.rules.is_some() || self.idle.is_some() || self.leaderboard.is_some()
    }
}

/// Why the engine sections could not be computed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn cents(x: f64) -> Decimal {
    Decimal::from_f64(x)
        .unwrap_or(Decimal::ZERO)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Computes the engine sections of the report of `period` and `scope` as of `now`.
///
/// * Anomalies: every monitor (of the scope's provider, for a provider scope) over the store's
///   days before `now` and before the period's end; anomalies that start in the period, feedback
///   suppressions left out.
/// * Forecast: per currency, the scope's daily spend on `basis` (every billing period, by charge
///   day) through the period's last day with data, forecast to the period's end.
pub fn compute_engines(
    store: &dyn CostStore,
    period: &ReportPeriod,
    scope: &ReportScope,
    basis: CostBasis,
    config: &EngineConfig,
    now: DateTime<Utc>,
) -> Result<EngineSections, EngineError> {
    let history = store.daily(&Filter {
        billing_period: None,
        provider: scope.provider.clone(),
    })?;
    let today = now.date_naive().min(period.end);
    let anomalies = match &config.monitors {
        None => None,
        Some(file) => {
            let mut file = file.clone();
            if let Some(p) = &scope.provider {
                file.monitors
                    .retain(|m| m.scope.providers.iter().any(|x| x == p));
            }
            // Monitors see every provider's rows: their own scope filters them.
            let all = store.daily(&Filter::default())?;
            let mut tags = Vec::new();
            for k in file.tag_keys() {
                tags.extend(store.daily_tags(&k, &Filter::default())?);
            }
            let found = evaluate(&file, &all, &tags, period.start, today);
            Some(
                found
                    .into_iter()
                    .filter(|a| a.suppressed_by.is_none() && a.start < period.end)
                    .map(|a| {
                        let (dimension, group) = match &a.series {
                            Some((d, v)) => (d.clone(), v.clone()),
                            None => ("monitor".to_string(), a.monitor.clone()),
                        };
                        ReportAnomaly {
                            day: a.start,
                            dimension,
                            group,
                            currency: a.currency.clone(),
                            actual: a.actual.normalize(),
                            expected: a.expected.normalize(),
                            lower: None,
                            upper: None,
                            score: a.score,
                            root_causes: a
                                .root_causes
                                .iter()
                                .map(|c| RootCause {
                                    dimension: c.dimension.clone(),
                                    group: c.value.clone(),
                                    change: c.contribution.normalize(),
                                })
                                .collect(),
                        }
                    })
                    .collect(),
            )
        }
    };

    let forecast = if config.forecast {
        Some(forecast_lines(&history, period, basis, today))
    } else {
        None
    };

    let (recommendations, leaderboard, notes) = focus_sections(period, scope, config, now);
    Ok(EngineSections {
        anomalies,
        forecast,
        recommendations,
        leaderboard,
        notes,
    })
}

/// The billing periods read for the FOCUS sections, oldest first.
fn focus_periods(period: &ReportPeriod, months: u32) -> Vec<String> {
    let mut out = vec![period.label.clone()];
    let mut p = period.clone();
    for _ in 1..months.max(1) {
        p = p.previous();
        out.push(p.label.clone());
    }
    out.reverse();
    out
}

/// The one pass over the FOCUS records: every record of the scope goes to each configured
/// engine.
struct Fanout<'a> {
    provider: Option<&'a str>,
    idle: Option<IdleAnalyzer>,
    rules: Option<Engine>,
    leaderboard: Option<LeaderboardBuilder<'a>>,
}

impl FocusSink for Fanout<'_> {
    fn write(&mut self, r: &FocusRecord) -> Result<(), OutputError> {
        if self.provider.is_some_and(|p| r.provider_name.as_str() != p) {
            return Ok(());
        }
        if let Some(a) = &mut self.idle {
            a.add(r);
        }
        if let Some(e) = &mut self.rules {
            e.add(r);
        }
        if let Some(b) = &mut self.leaderboard {
            b.add(r);
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        Ok(0)
    }
}

type FocusSections = (
    Option<Vec<Recommendation>>,
    Option<LeaderboardSection>,
    Vec<String>,
);

/// Recommendations (idle rules and user rules) and the leaderboard from the FOCUS records of
/// the report's months. Problems become notes and leave the sections `None`: a partial read would
/// be a silent gap.
fn focus_sections(
    period: &ReportPeriod,
    scope: &ReportScope,
    config: &EngineConfig,
    now: DateTime<Utc>,
) -> FocusSections {
    if !config.needs_focus() {
        return (None, None, Vec::new());
    }
    let wanted: Vec<&str> = [
        config.rules.as_ref().map(|_| "rule findings"),
        config
            .idle
            .as_ref()
            .map(|_| "idle-resource recommendations"),
        config.leaderboard.as_ref().map(|_| "the leaderboard"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let Some(source) = &config.focus else {
        return (
            None,
            None,
            vec![format!(
                "{} not computed: no FOCUS source is configured (they read FOCUS records, not the \
                 store's daily sums)",
                wanted.join(", ")
            )],
        );
    };
    let periods = focus_periods(period, config.focus_months);
    let mut fan = Fanout {
        provider: scope.provider.as_deref(),
        idle: config.idle.as_ref().map(|_| IdleAnalyzer::new()),
        rules: config.rules.as_ref().map(Engine::new),
        leaderboard: config.leaderboard.as_ref().map(|l| {
            LeaderboardBuilder::new(&l.teams, &l.actions, crate::rules::config::Basis::Effective)
        }),
    };
    let records = match source.read(&periods, &mut fan) {
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "reading FOCUS records for the report failed");
            return (
                None,
                None,
                vec![format!(
                    "{} not computed: reading the FOCUS records of {} failed: {e}",
                    wanted.join(", "),
                    periods.join(", ")
                )],
            );
        }
    };
    let mut notes = Vec::new();
    if records == 0 {
        notes.push(format!(
            "{}: no FOCUS records found for {}",
            wanted.join(", "),
            periods.join(", ")
        ));
    }
    let mut recommendations = None;
    if config.rules.is_some() || config.idle.is_some() {
        let mut list = Vec::new();
        if let (Some(a), Some(opts)) = (&fan.idle, &config.idle) {
            list.extend(
                a.recommend(opts, None)
                    .iter()
                    .map(|r| idle_recommendation(r, now)),
            );
        }
        if let Some(e) = &fan.rules {
            if e.needs_metrics() {
                notes.push(
                    "rules with utilization conditions never hold in reports (no metrics file)"
                        .to_string(),
                );
            }
            list.extend(e.evaluate(None).iter().map(rule_recommendation));
        }
        // Largest dollars at stake first; ties in a stable, readable order.
        list.sort_by(|a, b| {
            b.amount
                .cmp(&a.amount)
                .then_with(|| a.source.cmp(&b.source))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        recommendations = Some(list);
    }
    let leaderboard = fan.leaderboard.as_ref().map(|b| b.finish().section());
    (recommendations, leaderboard, notes)
}

fn idle_recommendation(r: &IdleRecommendation, now: DateTime<Utc>) -> Recommendation {
    // The hits are alternatives on one resource; the source names the one with the largest
    // savings (the one `monthly_savings` is).
    let top = r
        .hits
        .iter()
        .max_by(|a, b| a.monthly_savings.cmp(&b.monthly_savings))
        .map(|h| h.rule)
        .unwrap_or(r.resource_kind);
    let rules: Vec<&str> = r.hits.iter().map(|h| h.rule).collect();
    let name = r
        .resource_name
        .as_deref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    Recommendation {
        source: format!("idle:{top}"),
        title: format!(
            "{} {}{name}: {}",
            r.resource_kind,
            r.resource_id,
            rules.join(", ")
        ),
        subject: format!("resource={}", r.resource_id),
        resource_id: Some(r.resource_id.clone()),
        severity: r.finding(now).severity.as_str(),
        currency: Some(r.currency.clone()),
        amount: r.monthly_savings.normalize(),
        window_days: 30,
        monthly_savings: Some(r.monthly_savings.normalize()),
        reasons: r
            .hits
            .iter()
            .map(|h| format!("{}: {}", h.rule, h.reason))
            .collect(),
        as_of: r.as_of,
    }
}

fn rule_recommendation(m: &RuleMatch) -> Recommendation {
    let mut reasons = Vec::new();
    if !m.flags.is_empty() {
        reasons.push(format!("flagged for: {}", m.flags.join(", ")));
    }
    if !m.channels.is_empty() {
        reasons.push(format!("notifies: {}", m.channels.join(", ")));
    }
    Recommendation {
        source: format!("rule:{}", m.rule),
        title: format!(
            "Rule {}: {} ({} days to {})",
            m.rule, m.subject, m.window_days, m.as_of
        ),
        subject: m.subject.clone(),
        resource_id: m.dimensions.get("resource").cloned(),
        severity: m.severity.as_str(),
        currency: Some(m.currency.clone()),
        amount: m.amount.normalize(),
        window_days: m.window_days,
        monthly_savings: None,
        reasons,
        as_of: m.as_of,
    }
}

fn forecast_lines(
    rows: &[crate::aggregate::DailyRow],
    period: &ReportPeriod,
    basis: CostBasis,
    today: NaiveDate,
) -> Vec<ForecastLine> {
    // Days before `today` only: a running day is not complete.
    let mut per_currency: BTreeMap<Currency, BTreeMap<NaiveDate, Decimal>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.key.day < today) {
        *per_currency
            .entry(r.key.currency.clone())
            .or_default()
            .entry(r.key.day)
            .or_default() += r.sums.basis(basis);
    }
    let target = Period {
        start: period.start,
        end: period.end,
        label: period.label.clone(),
    };
    let basis_name = match basis {
        CostBasis::Billed => "billed",
        CostBasis::Effective => "effective",
    };
    let mut out = Vec::new();
    for (currency, daily) in per_currency {
        // The forecast starts after the last day with data in the period (a currency without
        // data in the period has nothing to forecast).
        let Some(last_day) = daily
            .range(period.start..period.end)
            .next_back()
            .map(|(d, _)| *d)
        else {
            continue;
        };
        let Ok(sf) = period_totals(&daily, last_day, std::slice::from_ref(&target)) else {
            continue;
        };
        let Some(pt) = sf.totals.first() else {
            continue;
        };
        let days: Vec<ForecastDay> = sf
            .forecast
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| (last_day + Duration::days(i as i64 + 1), p))
            .filter(|(d, _)| *d < period.end)
            .map(|(day, p)| ForecastDay {
                day,
                value: cents(p.value),
                lower_80: cents(p.lo80),
                upper_80: cents(p.hi80),
                lower_95: cents(p.lo95),
                upper_95: cents(p.hi95),
            })
            .collect();
        let backtest = sf.forecast.backtest.map(|b| match b.mase {
            Some(m) => Backtest {
                metric: "MASE".into(),
                value: m,
                windows: b.windows as u32,
            },
            None => Backtest {
                metric: "coverage80".into(),
                value: b.coverage80,
                windows: b.windows as u32,
            },
        });
        // A forecast that cannot be trusted is not shown: a FinOps engineer must not read a
        // 95 % range of -25,599 for a month with 0.09 spent, nor a month total from a week.
        // (A finished period is its exact actual: nothing to withhold.)
        let judged = verdict(&daily, &sf);
        if judged != Verdict::Usable && pt.remaining_days > 0 {
            out.push(ForecastLine {
                currency,
                basis: basis_name.into(),
                method: sf.forecast.method,
                actual: pt.actual.normalize(),
                status: match judged {
                    Verdict::Unreliable { .. } => "unreliable",
                    _ => "insufficient-history",
                },
                note: judged.explain(),
                total: None,
                intervals: Vec::new(),
                backtest,
                daily: Vec::new(),
            });
            continue;
        }
        out.push(ForecastLine {
            currency,
            basis: basis_name.into(),
            method: format!("{}; range: {}", sf.forecast.method, pt.range_source),
            actual: pt.actual.normalize(),
            status: "ok",
            note: None,
            total: Some(pt.total.normalize()),
            intervals: vec![
                ForecastInterval {
                    level_pct: 80,
                    lower: pt.lo80.normalize(),
                    upper: pt.hi80.normalize(),
                },
                ForecastInterval {
                    level_pct: 95,
                    lower: pt.lo95.normalize(),
                    upper: pt.hi95.normalize(),
                },
            ],
            backtest,
            daily: if pt.remaining_days == 0 {
                Vec::new()
            } else {
                days
            },
        });
    }
    out
}
