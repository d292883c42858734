//! The anomaly step: run the monitors over the store and emit one finding per new anomaly.
//!
//! An anomaly is identified by its monitor, its series and its first day; it is reported once,
//! when first seen (an ongoing anomaly keeps growing in `costkit anomalies` and the reports, but is
//! not re-sent every day). The finding is sent before the "reported" mark is written, so a crash in
//! between re-sends the same finding id, which the notify step drops.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use super::focus::{period_owners, read_current};
use super::messages::{Finding, FindingKind, Message, Severity};
use super::FlowError;
use crate::aggregate::DailyRow;
use crate::analysis::anomaly::drill::Drills;
use crate::analysis::anomaly::monitor::{evaluate, MonitorAnomaly, MonitorFile};
use crate::analysis::anomaly::Direction;
use crate::ports::{put_once, BlobStore, Queue, StateStore};
use crate::store::{CostStore, Filter};

/// How far back a run looks for anomalies that started recently (late data can reveal an anomaly
/// a few days after it began).
pub const LOOKBACK_DAYS: i64 = 14;

/// What an anomaly check did.
#[derive(Clone, Debug)]
pub struct AnomalyRun {
    /// Every anomaly in the look-back window (suppressed ones included, marked).
    pub anomalies: Vec<MonitorAnomaly>,
    /// Findings sent now.
    pub findings: Vec<Finding>,
}

/// Loads `monitors_key`, evaluates the monitors with data before `now`'s day, and sends a finding
/// for each anomaly not reported before and not suppressed by feedback.
pub fn check(
    store: &dyn CostStore,
    blobs: &dyn BlobStore,
    state: &dyn StateStore,
    findings: &dyn Queue,
    monitors_key: &str,
    now: DateTime<Utc>,
) -> Result<AnomalyRun, FlowError> {
    let text = blobs.get_bytes(monitors_key)?;
    let text = String::from_utf8(text)
        .map_err(|_| FlowError::Invalid(format!("{monitors_key}: not UTF-8 text")))?;
    let file = MonitorFile::parse(&text, monitors_key)?;
    let all = Filter::default();
    let daily = store.daily(&all)?;
    let mut tags = Vec::new();
    for k in file.tag_keys() {
        tags.extend(store.daily_tags(&k, &all)?);
    }
    let today = now.date_naive();
    let since = today - Duration::days(LOOKBACK_DAYS);
    let mut anomalies = evaluate(&file, &daily, &tags, since, today);
    let mut new = Vec::new();
    for (i, a) in anomalies.iter().enumerate() {
        if a.suppressed_by.is_none()
            && state
                .get(&format!("anomaly/{}", finding(a, now).id))?
                .is_none()
        {
            new.push(i);
        }
    }
    // Usage-type and resource causes, read from the FOCUS files for the anomalies about to be
    // sent. Without them the alert still goes out, with the aggregate causes.
    if !new.is_empty() {
        if let Err(e) = drill_down(&file, &mut anomalies, &new, &daily, blobs, state) {
            tracing::warn!(error = %e, "resource-level root causes unavailable");
        }
    }
    let mut sent = Vec::new();
    for a in new.iter().map(|i| &anomalies[*i]) {
        let f = finding(a, now);
        let mark = format!("anomaly/{}", f.id);
        let msg = Message::Finding(f.clone());
        findings.send(&msg.to_json(), &msg.dedup_id())?;
        put_once(state, &mark, now.to_rfc3339().as_bytes())?;
        sent.push(f);
    }
    Ok(AnomalyRun {
        anomalies,
        findings: sent,
    })
}

/// Adds usage-type and resource root causes to `anomalies[which]`, from one pass over the
/// current FOCUS records of the billing periods they span.
fn drill_down(
    file: &MonitorFile,
    anomalies: &mut [MonitorAnomaly],
    which: &[usize],
    daily: &[DailyRow],
    blobs: &dyn BlobStore,
    state: &dyn StateStore,
) -> Result<(), FlowError> {
    let mut drills = Drills::new(file, anomalies, which);
    let periods = drills.periods();
    let slices: BTreeSet<(&str, &str, &str)> = daily
        .iter()
        .filter(|r| periods.contains(&r.slice.billing_period))
        .map(|r| {
            (
                r.slice.provider.as_str(),
                r.slice.billing_account_id.as_str(),
                r.slice.billing_period.as_str(),
            )
        })
        .collect();
    let owners = period_owners(state, slices)?;
    let dir = tempfile::tempdir().map_err(|e| FlowError::Io("temporary directory".into(), e))?;
    let read = read_current(
        blobs,
        state,
        &periods,
        Some(&owners),
        dir.path(),
        &mut drills,
    )?;
    tracing::info!(
        files = read.files.len(),
        records = read.records,
        superseded = read.superseded,
        matched = drills.matched(),
        "read FOCUS records for root causes"
    );
    drills.apply(anomalies);
    Ok(())
}

/// The finding for an anomaly; its id is monitor, series and first day.
pub fn finding(a: &MonitorAnomaly, now: DateTime<Utc>) -> Finding {
    let series = a
        .series
        .as_ref()
        .map(|(d, v)| format!("{d}={v}"))
        .unwrap_or_else(|| "all".to_string());
    let mut scope = BTreeMap::new();
    scope.insert("monitor".to_string(), a.monitor.clone());
    if let Some((d, v)) = &a.series {
        scope.insert(d.clone(), v.clone());
    }
    let pct = a
        .impact_percent
        .map(|p| format!(" ({p:+.0}%)"))
        .unwrap_or_default();
    let direction = match a.direction {
        Direction::Up => "above",
        Direction::Down => "below",
    };
    let severity = match a.impact_percent {
        Some(p) if p.abs() >= 100.0 => Severity::Critical,
        _ => Severity::Warning,
    };
    let causes: Vec<String> = a
        .root_causes
        .iter()
        .take(3)
        .map(|c| {
            format!(
                "{} {} {:+} {}",
                c.dimension, c.value, c.contribution, a.currency
            )
        })
        .collect();
    let title = format!(
        "Anomaly in {} ({series}) since {}: {:+} {}{pct}",
        a.monitor,
        a.start,
        a.impact.round_dp(2),
        a.currency
    );
    let summary = format!(
        "Spend from {} to {}{} was {} {} against {} {} expected, {} {} {direction} expectation. \
         Top causes: {}.",
        a.start,
        a.end,
        if a.ongoing { " (ongoing)" } else { "" },
        a.actual.round_dp(2),
        a.currency,
        a.expected.round_dp(2),
        a.currency,
        a.impact.abs().round_dp(2),
        a.currency,
        if causes.is_empty() {
            "none identified".to_string()
        } else {
            causes.join("; ")
        }
    );
    Finding {
        id: format!("anomaly:{}:{series}:{}", a.monitor, a.start),
        kind: FindingKind::Anomaly,
        severity,
        title,
        summary,
        scope,
        amount: Some(a.impact),
        currency: Some(a.currency.clone()),
        found_at: now,
        detail: serde_json::to_value(a).unwrap_or(serde_json::Value::Null),
    }
}
