//! The report's engine sections ([`EngineSections`]) computed from the store by the existing
//! engines: anomalies from the anomaly monitors (with root causes), the forecast of the period
//! total with 80 % and 95 % ranges and the method's own backtest. Every shell (`costkit report`,
//! `costkit serve`, the Lambda report function) calls [`compute_engines`], so the sections are
//! computed one way everywhere.
//!
//! A section is `None` ("not configured") unless its engine is configured: anomalies need a
//! monitors file, the forecast is on unless switched off. An empty list means "configured, nothing
//! found".

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use thiserror::Error;

use super::{
    Backtest, EngineSections, ForecastDay, ForecastInterval, ForecastLine, ReportAnomaly,
    ReportPeriod, ReportScope, RootCause,
};
use crate::aggregate::CostBasis;
use crate::analysis::anomaly::monitor::{evaluate, MonitorFile};
use crate::analysis::forecast::{period_totals, verdict, Verdict};
use crate::budget::Period;
use crate::money::Currency;
use crate::store::{CostStore, Filter, StoreError};

/// Which engines fill a report.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Anomaly monitors (`costkit anomalies --monitors`); `None` leaves the section out.
    pub monitors: Option<MonitorFile>,
    /// Forecast the period's total (on by default).
    pub forecast: bool,
    /// Why an engine that should run cannot (e.g. the monitors file is invalid): each becomes a
    /// note of every report, so a missing section is never mistaken for "not configured".
    pub problems: Vec<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            monitors: None,
            forecast: true,
            problems: Vec::new(),
        }
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

    Ok(EngineSections {
        anomalies,
        forecast,
        recommendations: None,
    })
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
