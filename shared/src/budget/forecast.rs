//! Forecasted period-end spend, for FORECASTED thresholds.
//!
//! Budgets only need one number: the spend expected by the period's end. [`PeriodForecaster`] is
//! the seam. [`SeasonalForecaster`] is the default: the forecasting engine of
//! [`crate::analysis::forecast`] (weekly seasonality, trend, day-of-month fees, backtested) over the
//! scope's daily history. [`LinearRunRate`] is the simple method, used by it while the history is
//! too short to learn from.

use rust_decimal::Decimal;

use super::period::Period;
use super::spend::PeriodSpend;

/// Predicts a budget scope's total spend for a whole period from its spend so far.
pub trait PeriodForecaster {
    /// Short name shown next to forecasts (`linear-run-rate`).
    fn name(&self) -> &'static str;

    /// The forecasted total for `period`, or `None` when there is nothing to forecast from.
    fn forecast(&self, period: &Period, spend: &PeriodSpend) -> Option<Decimal>;
}

/// Linear run-rate: spend so far ÷ days covered × days in the period.
///
/// "Days covered" runs from the period's first day through the last day that has data, not
/// through today: billing data arrives a day or two late, and dividing by days that have no data
/// yet would forecast too low. It is exactly what its name says and nothing more: it knows no
/// weekly pattern and no trend, and a monthly fee charged on the first day (which the aggregates
/// put there) is extrapolated as if it recurred daily, so early in a month it over-forecasts
/// scopes with large up-front fees. Once the data covers the whole period the forecast is the
/// actual spend.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinearRunRate;

impl PeriodForecaster for LinearRunRate {
    fn name(&self) -> &'static str {
        "linear-run-rate"
    }

    fn forecast(&self, period: &Period, spend: &PeriodSpend) -> Option<Decimal> {
        let covered = spend.covered_days(period);
        if covered <= 0 {
            return None;
        }
        let days = period.days();
        if covered >= days {
            return Some(spend.total);
        }
        // Multiply before dividing so an exact result stays exact (e.g. 70 × 30 / 7 = 300).
        spend
            .total
            .checked_mul(Decimal::from(days))?
            .checked_div(Decimal::from(covered))
    }
}

/// The default: the scope's whole daily history (not only the period's days) forecast to the
/// period's end by [`crate::analysis::forecast::period_totals`]: exact spend to date plus the
/// expected spend of the remaining days, learned with weekly seasonality, trend and recurring
/// day-of-month charges. With under [`SeasonalForecaster::MIN_HISTORY_DAYS`] days of history, or
/// when the engine's [`crate::analysis::forecast::verdict`] withholds the forecast (too sparse a
/// history, a failed backtest), it falls back to [`LinearRunRate`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SeasonalForecaster;

impl SeasonalForecaster {
    /// Days of history (first to last day with data) needed before the seasonal model is used.
    pub const MIN_HISTORY_DAYS: i64 = 21;
}

impl PeriodForecaster for SeasonalForecaster {
    fn name(&self) -> &'static str {
        "seasonal"
    }

    fn forecast(&self, period: &Period, spend: &PeriodSpend) -> Option<Decimal> {
        let last = spend.last_day?;
        if spend.covered_days(period) >= period.days() {
            return Some(spend.total);
        }
        let first = *spend.history.keys().next()?;
        if (last - first).num_days() + 1 < Self::MIN_HISTORY_DAYS {
            return LinearRunRate.forecast(period, spend);
        }
        let sf = crate::analysis::forecast::period_totals(
            &spend.history,
            last,
            std::slice::from_ref(period),
        )
        .ok()?;
        // A history the engine cannot forecast (too sparse, or its backtest failed) gets the
        // simple method rather than numbers the engine itself does not trust.
        if crate::analysis::forecast::verdict(&spend.history, &sf)
            != crate::analysis::forecast::Verdict::Usable
        {
            return LinearRunRate.forecast(period, spend);
        }
        sf.totals.first().map(|t| t.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect(s)
    }

    #[test]
    fn run_rate_extrapolates_from_the_last_day_with_data() {
        let p = Period {
            start: d("2024-09-01"),
            end: d("2024-10-01"),
            label: "2024-09".into(),
        };
        let mut s = PeriodSpend::default();
        assert_eq!(LinearRunRate.forecast(&p, &s), None);
        s.total = Decimal::from(70);
        s.last_day = Some(d("2024-09-07"));
        assert_eq!(LinearRunRate.forecast(&p, &s), Some(Decimal::from(300)));
        s.last_day = Some(d("2024-09-30"));
        assert_eq!(LinearRunRate.forecast(&p, &s), Some(Decimal::from(70)));
    }

    fn spend_with_history(history: &[(NaiveDate, Decimal)], period: &Period) -> PeriodSpend {
        let mut s = PeriodSpend::default();
        for (day, v) in history {
            s.history.insert(*day, *v);
            if period.contains(*day) {
                s.total += *v;
                s.daily.insert(*day, *v);
                s.rows += 1;
                s.last_day = Some(*day);
            }
        }
        s
    }

    #[test]
    fn seasonal_forecaster_learns_the_week_and_the_fee_on_the_first() {
        let p = Period {
            start: d("2024-09-01"),
            end: d("2024-10-01"),
            label: "2024-09".into(),
        };
        // Since June: 100 on weekdays, 20 on weekends, and a 900 fee on every 1st.
        let mut hist = Vec::new();
        let mut day = d("2024-06-01");
        while day <= d("2024-09-07") {
            let weekend = chrono::Datelike::weekday(&day).number_from_monday() >= 6;
            let mut v = Decimal::from(if weekend { 20 } else { 100 });
            if chrono::Datelike::day(&day) == 1 {
                v += Decimal::from(900);
            }
            hist.push((day, v));
            day += chrono::Duration::days(1);
        }
        let s = spend_with_history(&hist, &p);
        // 1-7 Sep: 900 + 20 (Sun 1st) + 5 × 100 + 20 (Sat 7th) = 1440 so far.
        assert_eq!(s.total, Decimal::from(1440));
        // 8-30 Sep: 16 weekdays and 7 weekend days = 1740 more, 3180 in all.
        let f = SeasonalForecaster.forecast(&p, &s).expect("forecast");
        assert!((f - Decimal::from(3180)).abs() < Decimal::from(30), "{f}");
        // The run rate extrapolates the fee as if it recurred daily.
        let lr = LinearRunRate.forecast(&p, &s).expect("run rate");
        assert!(lr > Decimal::from(6000), "{lr}");
    }

    #[test]
    fn seasonal_forecaster_uses_the_run_rate_on_short_history() {
        let p = Period {
            start: d("2024-09-01"),
            end: d("2024-10-01"),
            label: "2024-09".into(),
        };
        let hist: Vec<(NaiveDate, Decimal)> = (1..=7)
            .map(|i| (d(&format!("2024-09-{i:02}")), Decimal::from(40)))
            .collect();
        let s = spend_with_history(&hist, &p);
        assert_eq!(
            SeasonalForecaster.forecast(&p, &s),
            Some(Decimal::from(1200))
        );
        assert_eq!(
            SeasonalForecaster.forecast(&p, &PeriodSpend::default()),
            None
        );
    }
}
