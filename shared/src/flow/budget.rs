//! The budget-check step: evaluate every budget, advance the alert state, emit findings.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::messages::{Finding, FindingKind, Message, Severity};
use super::FlowError;
use crate::budget::{evaluate, Alert, AlertState, BudgetFile, BudgetStatus, PeriodForecaster};
use crate::ports::{update_json, BlobStore, Queue, StateStore};
use crate::store::{CostStore, Filter};

/// State key of the budget alert state.
pub const ALERT_STATE_KEY: &str = "budget/alert-state";

/// What a budget check did.
#[derive(Clone, Debug)]
pub struct BudgetRun {
    /// Every budget's standing.
    pub statuses: Vec<BudgetStatus>,
    /// Findings sent.
    pub findings: Vec<Finding>,
}

/// Loads the budgets file from `budgets_key`, evaluates each budget at `now`, advances the alert
/// state (so each threshold fires once per period) and sends one finding per alert.
///
/// Findings are sent before the state is saved: if the invocation dies in between, the retry sends
/// the same findings again with the same ids, and the notify step drops the repeats. Saving first
/// would lose the alert instead.
pub fn check(
    store: &dyn CostStore,
    blobs: &dyn BlobStore,
    state: &dyn StateStore,
    findings: &dyn Queue,
    budgets_key: &str,
    forecaster: &dyn PeriodForecaster,
    now: DateTime<Utc>,
) -> Result<BudgetRun, FlowError> {
    let text = blobs.get_bytes(budgets_key)?;
    let text = String::from_utf8(text)
        .map_err(|_| FlowError::Invalid(format!("{budgets_key}: not UTF-8 text")))?;
    let file = BudgetFile::parse(&text, budgets_key)?;
    let all = Filter::default();
    let daily = store.daily(&all)?;
    let keys: BTreeSet<&str> = file
        .budgets
        .iter()
        .filter_map(|b| b.scope.tag.as_ref().map(|t| t.key.as_str()))
        .collect();
    let mut tags = Vec::new();
    for k in keys {
        tags.extend(store.daily_tags(k, &all)?);
    }
    let statuses: Vec<BudgetStatus> = file
        .budgets
        .iter()
        .map(|b| evaluate(b, &daily, &tags, now, forecaster))
        .collect();
    // Step the state in a conditional update; a concurrent check that got in first makes this
    // one re-read and re-step, so an alert is never recorded twice.
    let alerts: Vec<Alert> = update_json(state, ALERT_STATE_KEY, |st: &mut AlertState| {
        statuses
            .iter()
            .flat_map(|s| st.step(s, now))
            .collect::<Vec<_>>()
    })?;
    let mut sent = Vec::new();
    for a in &alerts {
        let f = finding(a, now);
        let msg = Message::Finding(f.clone());
        findings.send(&msg.to_json(), &msg.dedup_id())?;
        sent.push(f);
    }
    Ok(BudgetRun {
        statuses,
        findings: sent,
    })
}

/// The finding for a budget alert. Its id names the budget, period, basis and threshold, the
/// unit the state machine fires once.
pub fn finding(a: &Alert, now: DateTime<Utc>) -> Finding {
    let basis = match a.basis {
        crate::aggregate::CostBasis::Billed => "billed",
        crate::aggregate::CostBasis::Effective => "effective",
    };
    let severity = match a.amount {
        Some(amount) if a.observed >= amount => Severity::Critical,
        _ => Severity::Warning,
    };
    let mut scope = BTreeMap::new();
    scope.insert("budget".to_string(), a.budget.clone());
    scope.insert("period".to_string(), a.period.clone());
    scope.insert("basis".to_string(), basis.to_string());
    let title = format!(
        "Budget {}: {} spend {} {} crossed {}",
        a.budget,
        a.on.as_str(),
        a.observed.round_dp(2),
        a.currency,
        a.threshold
    );
    let summary = match a.amount {
        Some(amount) => format!(
            "{} spend for {} is {} {} against a budget of {} {} (threshold {} at {} {}){}.",
            capitalize(a.on.as_str()),
            a.period,
            a.observed.round_dp(2),
            a.currency,
            amount.round_dp(2),
            a.currency,
            a.threshold,
            a.level.round_dp(2),
            a.currency,
            if a.escalation { ", an escalation" } else { "" }
        ),
        None => format!(
            "{} spend for {} is {} {} (threshold {} at {} {}).",
            capitalize(a.on.as_str()),
            a.period,
            a.observed.round_dp(2),
            a.currency,
            a.threshold,
            a.level.round_dp(2),
            a.currency
        ),
    };
    Finding {
        id: format!("budget:{}:{}:{}:{}", a.budget, a.period, basis, a.threshold),
        kind: FindingKind::BudgetAlert,
        severity,
        title,
        summary,
        scope,
        amount: Some(a.observed),
        currency: Some(a.currency.clone()),
        found_at: now,
        detail: serde_json::to_value(a).unwrap_or(serde_json::Value::Null),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
