//! The alert state machine: which thresholds fire now, given what fired before.
//!
//! Rules, for each budget:
//! * a threshold fires once per (budget, period, basis, threshold); the state remembers it;
//! * when several thresholds of one kind (actual or forecasted) are newly crossed together, one
//!   alert reports the highest and lists the others, which count as fired too; a later, higher
//!   threshold fires again (an escalation);
//! * a new period, or a change of the budget's cost basis, starts over: nothing has fired;
//! * acknowledging marks the alerts fired so far as seen (they stop showing as open); it does not
//!   silence a later escalation;
//! * a snooze silences the budget until a time: thresholds crossed meanwhile are not recorded, so
//!   they fire at the first evaluation after the snooze if they are still crossed. A snooze is set
//!   by a person for a time, so it outlives a period change.
//!
//! The state is a plain serializable value; the caller stores it (the CLI in a JSON file next to
//! the store, a serverless deployment in its table) and passes `now`, so the machine is pure.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::config::SpendKind;
use super::BudgetStatus;
use crate::aggregate::CostBasis;
use crate::money::Currency;

/// Version of the serialized state layout.
pub const STATE_VERSION: u32 = 1;

/// Alert state of every budget, keyed by budget name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    /// Layout version ([`STATE_VERSION`]).
    pub version: u32,
    /// Per budget.
    pub budgets: BTreeMap<String, BudgetAlertState>,
}

impl Default for AlertState {
    fn default() -> Self {
        AlertState {
            version: STATE_VERSION,
            budgets: BTreeMap::new(),
        }
    }
}

/// One budget's alert state for its current period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetAlertState {
    /// The period label the fired list belongs to.
    pub period: String,
    /// The cost basis the fired list belongs to.
    pub basis: CostBasis,
    /// Thresholds fired in this period.
    pub fired: Vec<FiredThreshold>,
    /// No alerts before this instant.
    pub snoozed_until: Option<DateTime<Utc>>,
}

/// A threshold that has fired in the current period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredThreshold {
    /// Threshold id (`actual:80%`).
    pub threshold: String,
    /// Actual or forecasted.
    pub on: SpendKind,
    /// Spend level of the threshold when it fired.
    pub level: Decimal,
    /// The spend (actual or forecasted) that crossed it.
    pub observed: Decimal,
    /// When it fired.
    pub at: DateTime<Utc>,
    /// False when a higher threshold crossed at the same time was the one reported.
    pub reported: bool,
    /// When a person acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// An alert to send now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Budget name.
    pub budget: String,
    /// Period label.
    pub period: String,
    /// Cost basis.
    pub basis: CostBasis,
    /// Actual or forecasted.
    pub on: SpendKind,
    /// The highest newly crossed threshold (`actual:80%`).
    pub threshold: String,
    /// Its spend level.
    pub level: Decimal,
    /// The spend that crossed it.
    pub observed: Decimal,
    /// The budget's currency.
    pub currency: Currency,
    /// The period's budget amount, when known.
    pub amount: Option<Decimal>,
    /// True when a lower threshold of the same kind fired earlier in this period.
    pub escalation: bool,
    /// Lower thresholds crossed at the same time (recorded as fired, not reported separately).
    pub also_crossed: Vec<String>,
}

impl AlertState {
    /// The state of `budget` for `period`/`basis`, started over when either changed.
    fn current(&mut self, budget: &str, period: &str, basis: CostBasis) -> &mut BudgetAlertState {
        let e = self
            .budgets
            .entry(budget.to_string())
            .or_insert_with(|| BudgetAlertState {
                period: period.to_string(),
                basis,
                fired: Vec::new(),
                snoozed_until: None,
            });
        if e.period != period || e.basis != basis {
            e.period = period.to_string();
            e.basis = basis;
            e.fired.clear();
        }
        e
    }

    /// Applies one evaluation: records and returns the alerts that fire at `now` (at most one per
    /// kind, actual first).
    pub fn step(&mut self, status: &BudgetStatus, now: DateTime<Utc>) -> Vec<Alert> {
        let e = self.current(&status.name, &status.period.label, status.basis);
        if let Some(until) = e.snoozed_until {
            if now < until {
                return Vec::new();
            }
            e.snoozed_until = None;
        }
        let mut alerts = Vec::new();
        for kind in [SpendKind::Actual, SpendKind::Forecasted] {
            let mut new: Vec<(&str, Decimal, Decimal)> = status
                .checks
                .iter()
                .filter(|c| c.on == kind && c.crossed)
                .filter(|c| !e.fired.iter().any(|f| f.threshold == c.id))
                .filter_map(|c| Some((c.id.as_str(), c.level?, c.observed?)))
                .collect();
            if new.is_empty() {
                continue;
            }
            new.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
            let escalation = e.fired.iter().any(|f| f.on == kind);
            let Some(&(top, level, observed)) = new.last() else {
                continue;
            };
            for &(id, lvl, obs) in &new {
                e.fired.push(FiredThreshold {
                    threshold: id.to_string(),
                    on: kind,
                    level: lvl,
                    observed: obs,
                    at: now,
                    reported: id == top,
                    acknowledged_at: None,
                });
            }
            alerts.push(Alert {
                budget: status.name.clone(),
                period: status.period.label.clone(),
                basis: status.basis,
                on: kind,
                threshold: top.to_string(),
                level,
                observed,
                currency: status.currency.clone(),
                amount: status.amount,
                escalation,
                also_crossed: new[..new.len() - 1]
                    .iter()
                    .map(|x| x.0.to_string())
                    .collect(),
            });
        }
        alerts
    }

    /// Acknowledges every alert `budget` has fired in its current period; returns how many were
    /// open.
    pub fn acknowledge(&mut self, budget: &str, now: DateTime<Utc>) -> usize {
        let Some(e) = self.budgets.get_mut(budget) else {
            return 0;
        };
        let mut n = 0;
        for f in e.fired.iter_mut().filter(|f| f.acknowledged_at.is_none()) {
            f.acknowledged_at = Some(now);
            n += 1;
        }
        n
    }

    /// Silences `budget` until `until`.
    pub fn snooze(&mut self, budget: &str, until: DateTime<Utc>) {
        match self.budgets.get_mut(budget) {
            Some(e) => e.snoozed_until = Some(until),
            None => {
                // No evaluation yet: keep the snooze in a placeholder entry; the first evaluation
                // adopts it (an empty period label never matches a real one, so it starts over).
                self.budgets.insert(
                    budget.to_string(),
                    BudgetAlertState {
                        period: String::new(),
                        basis: CostBasis::Billed,
                        fired: Vec::new(),
                        snoozed_until: Some(until),
                    },
                );
            }
        }
    }

    /// Reported alerts of `budget`'s current period that nobody has acknowledged.
    pub fn open(&self, budget: &str) -> Vec<&FiredThreshold> {
        self.budgets
            .get(budget)
            .map(|e| {
                e.fired
                    .iter()
                    .filter(|f| f.reported && f.acknowledged_at.is_none())
                    .collect()
            })
            .unwrap_or_default()
    }
}
