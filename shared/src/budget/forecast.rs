//! Forecasted period-end spend, for FORECASTED thresholds.
//!
//! Budgets only need one number: the spend expected by the period's end. [`PeriodForecaster`] is
//! the seam. [`LinearRunRate`] is the simple method in use today; the forecasting engine of issue 3
//! (seasonality, trend and prediction intervals) replaces it behind the same trait.

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
}
