//! Spend of a budget's scope over a period, from the store's daily aggregates.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::config::{Budget, Include, Scope};
use super::period::Period;
use crate::aggregate::{DailyRow, Slice, TagRow};
use crate::money::CurrencyTotals;

/// What a budget's scope spent in one period, in the budget's currency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeriodSpend {
    /// Σ of the budget's basis over the counted rows.
    pub total: Decimal,
    /// The same, per UTC day (days without rows are absent).
    pub daily: BTreeMap<NaiveDate, Decimal>,
    /// Aggregate rows counted.
    pub rows: u64,
    /// The latest day with a counted row.
    pub last_day: Option<NaiveDate>,
    /// Rows in scope but in another currency: never converted, never added; reported instead.
    pub other_currency_rows: u64,
    /// Their amounts, per currency, on the budget's basis.
    pub other_currency: CurrencyTotals,
    /// The scope's spend per UTC day for every day known at `now` (before the period too), in the
    /// budget's currency: what a seasonal forecaster learns from.
    pub history: BTreeMap<NaiveDate, Decimal>,
}

impl PeriodSpend {
    fn add(&mut self, day: NaiveDate, amount: Decimal) {
        self.total += amount;
        *self.daily.entry(day).or_default() += amount;
        self.rows += 1;
        self.last_day = self.last_day.max(Some(day));
    }

    /// Days from the period's first day through the last day with data (0 without data): how much
    /// of the period the data covers.
    pub fn covered_days(&self, period: &Period) -> i64 {
        self.last_day
            .map(|d| (d - period.start).num_days() + 1)
            .unwrap_or(0)
    }
}

fn listed(list: &[String], v: &str) -> bool {
    list.is_empty() || list.iter().any(|x| x == v)
}

fn slice_in_scope(scope: &Scope, s: &Slice) -> bool {
    listed(&scope.providers, &s.provider) && listed(&scope.billing_accounts, &s.billing_account_id)
}

/// True when a daily row's dimensions match the scope (tag conditions aside).
pub fn daily_row_in_scope(scope: &Scope, r: &DailyRow) -> bool {
    slice_in_scope(scope, &r.slice)
        && listed(&scope.sub_accounts, &r.key.sub_account_id)
        && listed(&scope.services, &r.key.service_name)
        && listed(&scope.regions, &r.key.region_id)
        && (scope.service_categories.is_empty()
            || scope
                .service_categories
                .iter()
                .any(|c| c.as_str().eq_ignore_ascii_case(&r.key.service_category)))
        && (scope.charge_categories.is_empty()
            || scope
                .charge_categories
                .iter()
                .any(|c| c.as_str().eq_ignore_ascii_case(&r.key.charge_category)))
}

/// Whether an aggregate row of `category` with `amount` counts under the inclusion flags.
///
/// Credits and tax are whole FOCUS charge categories. A refund has no category of its own: it is
/// a negative amount in the category it refunds. Daily aggregates net every record of one key
/// (day, account, service, region, category), so "exclude refunds" can only drop aggregate rows
/// whose net amount is negative outside `Credit`; a refund that lands on the same key as larger
/// charges of that day is netted into them and stays counted.
pub fn counts(include: &Include, category: &str, amount: Decimal) -> bool {
    if category.eq_ignore_ascii_case("Credit") {
        return include.credits;
    }
    if category.eq_ignore_ascii_case("Tax") && !include.tax {
        return false;
    }
    include.refunds || amount >= Decimal::ZERO
}

/// Sums the budget's spend in `period` from daily rows (or, for a tag scope, the per-tag rows of
/// its key), counting only days that started before `now`: data stamped later is not yet known at
/// `now`, which keeps an evaluation at a past `now` reproducible. The scope's daily spend on every
/// known day, inside the period or not, goes to [`PeriodSpend::history`].
pub fn period_spend(
    budget: &Budget,
    period: &Period,
    daily: &[DailyRow],
    tags: &[TagRow],
    now: DateTime<Utc>,
) -> PeriodSpend {
    let mut out = PeriodSpend::default();
    let known = |day: NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc() < now)
            .unwrap_or(false)
    };
    let count = |out: &mut PeriodSpend, day, currency: &crate::money::Currency, amount| {
        if *currency == budget.currency {
            *out.history.entry(day).or_default() += amount;
        }
        if !period.contains(day) {
            return;
        }
        if *currency == budget.currency {
            out.add(day, amount);
        } else {
            out.other_currency_rows += 1;
            out.other_currency.add(currency, amount);
        }
    };
    match &budget.scope.tag {
        Some(tag) => {
            for t in tags {
                if t.key.key == tag.key
                    && tag.values.iter().any(|v| *v == t.key.value)
                    && slice_in_scope(&budget.scope, &t.slice)
                    && known(t.key.day)
                {
                    count(
                        &mut out,
                        t.key.day,
                        &t.key.currency,
                        t.sums.basis(budget.basis),
                    );
                }
            }
        }
        None => {
            for r in daily {
                let amount = r.sums.basis(budget.basis);
                if known(r.key.day)
                    && daily_row_in_scope(&budget.scope, r)
                    && counts(&budget.include, &r.key.charge_category, amount)
                {
                    count(&mut out, r.key.day, &r.key.currency, amount);
                }
            }
        }
    }
    out
}
