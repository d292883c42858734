//! Period totals: the spend expected by the end of a month, quarter or year, as exact actual spend
//! to date plus the forecast of the remaining days, with ranges for the total.
//!
//! Daily forecast errors are correlated (a level that is a little off is off every day), so the
//! range of a sum is not the sum of daily ranges nor their root-sum-square. It is measured the same
//! way as the daily intervals: at rolling origins of the history, the relative error of the sum of
//! the next `d` days (`Σ actual ÷ Σ forecast − 1`) for exactly the `d` days still to forecast.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use super::{Engine, Forecast, ForecastError};
use crate::analysis::series::Series;
use crate::budget::period::Period;

/// A period's expected total.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodTotal {
    /// The period.
    pub period: Period,
    /// Exact spend in the period through the last day with data.
    pub actual: Decimal,
    /// Expected spend for the rest of the period, rounded to cents. Daily points are medians (an
    /// intermittent series' median day is zero); this is the expected sum, so it can differ from
    /// the sum of the daily points.
    pub forecast: Decimal,
    /// `actual + forecast`.
    pub total: Decimal,
    /// 80 % range of the total.
    pub lo80: Decimal,
    /// 80 % range of the total.
    pub hi80: Decimal,
    /// 95 % range of the total.
    pub lo95: Decimal,
    /// 95 % range of the total.
    pub hi95: Decimal,
    /// Days forecast.
    pub remaining_days: usize,
    /// How the range was obtained: `backtest` (measured over rolling origins), `extrapolated`
    /// (measured for a shorter span and widened), `daily-bounds` (the sum of the daily bounds, as if
    /// every day erred the same way), or `exact` (nothing left to forecast).
    pub range_source: &'static str,
}

/// A spend series' daily forecast and its period totals.
#[derive(Clone, Debug, PartialEq)]
pub struct SpendForecast {
    /// The last day with data; forecasts start the day after.
    pub last_day: NaiveDate,
    /// Daily forecast through the end of the longest period.
    pub forecast: Forecast,
    /// One total per requested period, in the order given.
    pub totals: Vec<PeriodTotal>,
}

fn to_cents(x: f64) -> Decimal {
    Decimal::from_f64(x)
        .unwrap_or(Decimal::ZERO)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The lowest sum of `len` consecutive values (all of them when fewer), never above zero.
fn lowest_sum(values: &[f64], len: usize) -> f64 {
    let len = len.clamp(1, values.len().max(1));
    let mut run: f64 = values.iter().take(len).sum();
    let mut low = run;
    for i in len..values.len() {
        run += values[i] - values[i - len];
        low = low.min(run);
    }
    low.min(0.0)
}

/// Forecasts the totals of `periods` from `daily` spend (days without an entry between the first
/// entry and `last_day` are zero spend: the store has no rows for them) through `last_day`.
/// Entries after `last_day` are ignored.
pub fn period_totals(
    daily: &BTreeMap<NaiveDate, Decimal>,
    last_day: NaiveDate,
    periods: &[Period],
) -> Result<SpendForecast, ForecastError> {
    let first = *daily
        .keys()
        .next()
        .filter(|d| **d <= last_day)
        .ok_or(ForecastError::Empty)?;
    let days = (last_day - first).num_days() as usize + 1;
    let mut values = vec![0.0f64; days];
    for (d, v) in daily.range(first..=last_day) {
        let i = (*d - first).num_days() as usize;
        values[i] = rust_decimal::prelude::ToPrimitive::to_f64(v).unwrap_or(0.0);
    }
    let next = last_day + chrono::Duration::days(1);
    let horizon = periods
        .iter()
        .map(|p| (p.end - next).num_days().max(0) as usize)
        .max()
        .unwrap_or(0)
        .max(1);
    let series = Series::daily(first, values.clone());
    let engine = Engine::fit(&series, horizon)?;
    let fc = engine.forecast(horizon);
    let path = engine.mean_path(horizon);
    let mut totals = Vec::with_capacity(periods.len());
    for p in periods {
        let actual: Decimal = daily
            .range(p.start..p.end)
            .filter(|(d, _)| **d <= last_day)
            .map(|(_, v)| *v)
            .sum();
        // Forecast days: from the later of `next` and the period start, to the period end.
        let from = next.max(p.start);
        let a = (from - last_day).num_days().max(1) as usize;
        let b = (p.end - last_day).num_days() - 1;
        let b = if b < a as i64 { 0 } else { b as usize };
        if b == 0 {
            totals.push(PeriodTotal {
                period: p.clone(),
                actual,
                forecast: Decimal::ZERO,
                total: actual,
                lo80: actual,
                hi80: actual,
                lo95: actual,
                hi95: actual,
                remaining_days: 0,
                range_source: "exact",
            });
            continue;
        }
        let pts = &fc.points[a - 1..b];
        let raw: f64 = path[a - 1..b].iter().sum();
        // Relative errors of sums measured from origin + 1, for the span that ends at the
        // period's end (a conservative stand-in when the period starts later).
        let mut source = "backtest";
        let mut rel = engine.total_error_quantiles(b);
        if rel.is_none() {
            let mut len = b / 2;
            while len >= 7 {
                if let Some((mean, q)) = engine.total_error_quantiles(len) {
                    let w = (b as f64 / len as f64).sqrt();
                    rel = Some((mean, [q[0] * w, q[1] * w, q[2], q[3] * w, q[4] * w]));
                    source = "extrapolated";
                    break;
                }
                len /= 2;
            }
        }
        // The expected sum: the model's sum corrected by the mean relative error of past sums
        // (kept inside the 80 % range, so one wild past month cannot drag it out).
        let f = match rel {
            Some((mean, q)) => raw * (1.0 + mean.clamp(q[1], q[3])),
            None => raw,
        };
        let forecast = to_cents(f);
        let bounds: [f64; 4] = match rel {
            Some((_, q)) => [
                raw * (1.0 + q[0]),
                raw * (1.0 + q[1]),
                raw * (1.0 + q[3]),
                raw * (1.0 + q[4]),
            ],
            None => {
                // The daily bounds are around the daily points (medians), the expected sum is
                // around the mean path: the widths of the summed daily bounds (as if every day
                // erred the same way, a conservative assumption) are put around the expected sum,
                // so the point cannot end up outside or at the edge of its own range.
                source = "daily-bounds";
                let sum = |g: fn(&super::ForecastPoint) -> f64| pts.iter().map(g).sum::<f64>();
                let centre = sum(|x| x.value);
                [
                    f - (centre - sum(|x| x.lo95)),
                    f - (centre - sum(|x| x.lo80)),
                    f + (sum(|x| x.hi80) - centre),
                    f + (sum(|x| x.hi95) - centre),
                ]
            }
        };
        // Never below what the history has ever done over as many days: 0 for a series that was
        // never negative, its most negative run of days for spend with the odd credit.
        let clip = |x: f64| match engine.low {
            Some(_) => x.max(lowest_sum(&values, b + 1 - a)),
            None => x,
        };
        let lo95 = actual + to_cents(clip(bounds[0].min(f)));
        let lo80 = actual + to_cents(clip(bounds[1].min(f)));
        let hi80 = actual + to_cents(bounds[2].max(f));
        let hi95 = actual + to_cents(bounds[3].max(f));
        totals.push(PeriodTotal {
            period: p.clone(),
            actual,
            forecast,
            total: actual + forecast,
            lo80: lo80.min(actual + forecast),
            hi80: hi80.max(actual + forecast),
            lo95: lo95.min(lo80),
            hi95: hi95.max(hi80),
            remaining_days: b + 1 - a,
            range_source: source,
        });
    }
    Ok(SpendForecast {
        last_day,
        forecast: fc,
        totals,
    })
}

/// Fewer days with spend than this in the [`RECENT_DAYS`] through the last day (or a shorter
/// history) and a forecast is not shown: a month has no weekly pattern, level or error of sums to
/// learn from so little.
pub const MIN_SPEND_DAYS: usize = 28;
/// The window [`MIN_SPEND_DAYS`] is counted in.
pub const RECENT_DAYS: i64 = 90;
/// A backtest MASE above this and a forecast is not shown: the method's errors on the series' own
/// recent past were this many times the in-sample error of repeating the previous week. Forecasts
/// of the benchmark suite average 1.9 (multi-step errors against a one-step scale); 5 is far
/// outside what a usable forecast scores.
pub const MAX_MASE: f64 = 5.0;

/// A backtest MASE above [`MAX_MASE`] withholds the forecast only when under this share of the
/// actual values were inside their 80 % intervals as well.
pub const CALIBRATED80: f64 = 0.75;
/// Under this share of the backtest's actual values inside their 80 % intervals and the ranges
/// are not shown: they demonstrably do not describe the series (the benchmark suite's series
/// average 79 %).
pub const MIN_COVERAGE80: f64 = 0.5;
/// Backtest points needed before [`MIN_COVERAGE80`] is applied.
pub const MIN_COVERAGE_POINTS: usize = 20;

/// Whether a spend forecast is fit to be shown to people (reports, `costkit forecast`).
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Show it.
    Usable,
    /// Too short or too sparse a history: say "not enough history" instead of numbers.
    InsufficientHistory {
        /// Days with non-zero spend in the last [`RECENT_DAYS`] through the last day.
        days_with_spend: usize,
        /// Days from the first day with data through the last day.
        days: usize,
    },
    /// The method forecast the series' own past far worse than naive, or its ranges held the
    /// actual values far less often than they claim: say so instead of numbers.
    Unreliable {
        /// The backtest's MASE (0 when it has none: a constant history).
        mase: f64,
        /// The backtest's share of actual values inside the 80 % intervals.
        coverage80: f64,
    },
}

impl Verdict {
    /// A sentence for people; `None` for a usable forecast.
    pub fn explain(&self) -> Option<String> {
        match self {
            Verdict::Usable => None,
            Verdict::InsufficientHistory {
                days_with_spend,
                days,
            } => Some(format!(
                "not enough history to forecast: {days_with_spend} days with spend in the last {} \
                 ({days} days of history); at least {MIN_SPEND_DAYS} are needed",
                RECENT_DAYS.min(*days as i64)
            )),
            Verdict::Unreliable { mase, coverage80 } => Some(format!(
                "no forecast: the method forecast this series' own recent past poorly (backtest \
                 MASE {mase:.1}, {:.0} % inside the 80 % ranges; shown only with a MASE up to \
                 {MAX_MASE} or {:.0} % inside, and never under {:.0} %); the history is too \
                 irregular to project",
                100.0 * coverage80,
                100.0 * CALIBRATED80,
                100.0 * MIN_COVERAGE80
            )),
        }
    }
}

/// Judges `sf`, computed by [`period_totals`] from `daily`: see [`Verdict`].
pub fn verdict(daily: &BTreeMap<NaiveDate, Decimal>, sf: &SpendForecast) -> Verdict {
    let last = sf.last_day;
    let days = daily
        .keys()
        .next()
        .filter(|d| **d <= last)
        .map_or(0, |d| (last - *d).num_days() as usize + 1);
    let from = last - Duration::days(RECENT_DAYS - 1);
    let days_with_spend = daily
        .range(from..=last)
        .filter(|(_, v)| !v.is_zero())
        .count();
    if days < MIN_SPEND_DAYS || days_with_spend < MIN_SPEND_DAYS {
        return Verdict::InsufficientHistory {
            days_with_spend,
            days,
        };
    }
    let Some(b) = sf.forecast.backtest else {
        return Verdict::Usable;
    };
    match b.mase {
        // Large point errors alone mean a hard series; when its ranges still held the actual
        // values, they say so honestly and the forecast is shown.
        Some(mase) if mase > MAX_MASE && b.coverage80 < CALIBRATED80 => Verdict::Unreliable {
            mase,
            coverage80: b.coverage80,
        },
        mase if b.points >= MIN_COVERAGE_POINTS && b.coverage80 < MIN_COVERAGE80 => {
            Verdict::Unreliable {
                mase: mase.unwrap_or(0.0),
                coverage80: b.coverage80,
            }
        }
        _ => Verdict::Usable,
    }
}
