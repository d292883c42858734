//! Budgets: an amount per period for a scope of spend, thresholds on actual and forecasted spend,
//! and an alert state machine.
//!
//! Everything here is pure. [`evaluate`] computes a budget's [`BudgetStatus`] at a given `now`
//! from the store's daily aggregates ([`DailyRow`], and [`TagRow`] for a tag scope);
//! [`AlertState::step`] turns a status into the alerts that fire now and records them. The caller
//! loads and saves the [`AlertState`].
//!
//! * [`config`]: the `budgets.yaml` file (schema: `docs/budgets.schema.json`).
//! * [`period`]: monthly, quarterly, annual and custom periods.
//! * [`spend`]: scope filter and exact per-currency spend.
//! * [`forecast`]: the [`PeriodForecaster`] seam, the default [`SeasonalForecaster`] and the
//!   [`LinearRunRate`] method.
//! * [`alerts`]: the state machine.
//! * [`gcp_notification`]: Google Cloud Billing budget notifications (Pub/Sub) as findings.

pub mod alerts;
pub mod config;
pub mod forecast;
pub mod gcp_notification;
pub mod period;
pub mod spend;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::aggregate::{CostBasis, DailyRow, TagRow};
use crate::money::Currency;

pub use alerts::{Alert, AlertState};
pub use config::{
    AmountSpec, Budget, BudgetConfigError, BudgetFile, Limit, PeriodSpec, SpendKind, Threshold,
};
pub use forecast::{LinearRunRate, PeriodForecaster, SeasonalForecaster};
pub use period::{period_at, previous_period, Period};
pub use spend::{period_spend, PeriodSpend};

/// One threshold, checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThresholdCheck {
    /// Threshold id (`actual:80%`, `forecasted:900`).
    pub id: String,
    /// Actual or forecasted.
    pub on: SpendKind,
    /// The spend level that crosses it (`None` when a percent has no amount to apply to).
    pub level: Option<Decimal>,
    /// The spend compared with it (`None` when not evaluated).
    pub observed: Option<Decimal>,
    /// `observed >= level`.
    pub crossed: bool,
    /// Why it was not evaluated, if it was not.
    pub skipped: Option<String>,
}

/// A budget's standing at one instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BudgetStatus {
    /// Budget name.
    pub name: String,
    /// The period containing `now`.
    pub period: Period,
    /// The budget's currency.
    pub currency: Currency,
    /// Cost basis.
    pub basis: CostBasis,
    /// The period's amount (`None` when it cannot be set, see `warnings`).
    pub amount: Option<Decimal>,
    /// Spend so far.
    pub actual: Decimal,
    /// `actual / amount × 100` when the amount is positive.
    pub percent_used: Option<Decimal>,
    /// Forecasted period total.
    pub forecast: Option<Decimal>,
    /// The forecaster's name.
    pub forecaster: &'static str,
    /// Days from the period start through the last day with data.
    pub covered_days: i64,
    /// Every threshold, checked.
    pub checks: Vec<ThresholdCheck>,
    /// Things the reader must know (excluded currencies, a missing planned month, ...).
    pub warnings: Vec<String>,
}

fn resolve_amount(
    budget: &Budget,
    period: &Period,
    daily: &[DailyRow],
    tags: &[TagRow],
    now: DateTime<Utc>,
    warnings: &mut Vec<String>,
) -> Option<Decimal> {
    match &budget.amount {
        AmountSpec::Fixed(a) => Some(*a),
        AmountSpec::Planned(plan) => {
            let months = period.months();
            let missing: Vec<String> = months
                .iter()
                .filter(|m| !plan.contains_key(m))
                .map(|(y, m)| format!("{y}-{m:02}"))
                .collect();
            if !missing.is_empty() || months.is_empty() {
                warnings.push(format!(
                    "amount.planned has no amount for {}",
                    if missing.is_empty() {
                        period.label.clone()
                    } else {
                        missing.join(", ")
                    }
                ));
                return None;
            }
            Some(months.iter().filter_map(|m| plan.get(m)).sum())
        }
        AmountSpec::PreviousPeriod {
            change_percent,
            first_period,
        } => {
            let prev = previous_period(&budget.period, period);
            let spend = period_spend(budget, &prev, daily, tags, now);
            if spend.rows == 0 {
                if first_period.is_none() {
                    warnings.push(format!(
                        "amount.previous_period: no spend data for {} and no first_period amount",
                        prev.label
                    ));
                }
                return *first_period;
            }
            Some(spend.total * (Decimal::ONE_HUNDRED + change_percent) / Decimal::ONE_HUNDRED)
        }
    }
}

/// Computes `budget`'s status at `now` over the store's rows. `tags` are the per-tag rows of the
/// budget's tag key (unused without a tag scope); rows for days starting at or after `now` are
/// ignored.
pub fn evaluate(
    budget: &Budget,
    daily: &[DailyRow],
    tags: &[TagRow],
    now: DateTime<Utc>,
    forecaster: &dyn PeriodForecaster,
) -> BudgetStatus {
    let period = period_at(&budget.period, now.date_naive());
    let spend = period_spend(budget, &period, daily, tags, now);
    let mut warnings = Vec::new();
    if spend.other_currency_rows > 0 {
        let amounts: Vec<String> = spend
            .other_currency
            .0
            .iter()
            .map(|(c, v)| format!("{} {c}", v.normalize()))
            .collect();
        warnings.push(format!(
            "{} aggregate rows in scope are in other currencies and not counted ({})",
            spend.other_currency_rows,
            amounts.join(", ")
        ));
    }
    let amount = resolve_amount(budget, &period, daily, tags, now, &mut warnings);
    let positive = amount.filter(|a| *a > Decimal::ZERO);
    let covered_days = spend.covered_days(&period);
    let forecast = forecaster.forecast(&period, &spend);
    let checks = budget
        .thresholds
        .iter()
        .map(|t| {
            let level = match t.limit {
                Limit::Percent(_) => t.level(positive),
                Limit::Amount(_) => t.level(amount),
            };
            let (observed, skipped) = match t.on {
                SpendKind::Actual => (Some(spend.total), None),
                SpendKind::Forecasted if covered_days < i64::from(budget.forecast_min_days) => (
                    None,
                    Some(format!(
                        "forecasts start after {} days of data; the period has {covered_days}",
                        budget.forecast_min_days
                    )),
                ),
                SpendKind::Forecasted => match forecast {
                    Some(f) => (Some(f), None),
                    None => (None, Some("no forecast".to_string())),
                },
            };
            let skipped = match (level, skipped) {
                (None, _) => Some("no positive budget amount for a percent threshold".to_string()),
                (_, s) => s,
            };
            ThresholdCheck {
                id: t.id(),
                on: t.on,
                level,
                observed: if skipped.is_some() { None } else { observed },
                crossed: skipped.is_none()
                    && matches!((observed, level), (Some(o), Some(l)) if o >= l),
                skipped,
            }
        })
        .collect();
    BudgetStatus {
        name: budget.name.clone(),
        currency: budget.currency.clone(),
        basis: budget.basis,
        amount,
        actual: spend.total,
        percent_used: positive.map(|a| spend.total * Decimal::ONE_HUNDRED / a),
        forecast,
        forecaster: forecaster.name(),
        covered_days,
        checks,
        warnings,
        period,
    }
}
