//! `costkit budget ...`: budgets from a YAML file checked against the store, with the alert state
//! kept in a JSON file next to the store.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use costkit_core::aggregate::CostBasis;
use costkit_core::budget::{evaluate, Alert, AlertState, BudgetFile, SeasonalForecaster};
use costkit_core::store::{CostStore, Filter};
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;

use crate::commands::{cents, OutFormat};

/// `--now` values.
pub fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    costkit_core::time::parse_timestamp(s)
        .ok_or_else(|| format!("`{s}`: use an ISO time such as 2024-09-15T00:00:00Z"))
}

/// Where the alert state of the store at `store` lives: `<store>.budget-state.json`.
pub fn state_path(store: &Path) -> PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(".budget-state.json");
    PathBuf::from(s)
}

fn load_state(path: &Path) -> Result<AlertState> {
    if !path.exists() {
        return Ok(AlertState::default());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let state: AlertState = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a costkit budget state file", path.display()))?;
    if state.version != costkit_core::budget::alerts::STATE_VERSION {
        bail!(
            "{}: budget state version {} is not one this costkit reads",
            path.display(),
            state.version
        );
    }
    Ok(state)
}

/// Writes the state to a temporary file and renames it over the old one, so an interrupted run
/// never leaves a half-written state (which would re-fire or lose alerts).
fn save_state(path: &Path, state: &AlertState) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, serde_json::to_string_pretty(state)? + "\n")
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn basis_name(b: CostBasis) -> &'static str {
    match b {
        CostBasis::Billed => "billed",
        CostBasis::Effective => "effective",
    }
}

fn opt_cents(d: Option<Decimal>) -> String {
    d.map(cents).unwrap_or_else(|| "-".into())
}

fn alert_text(a: &Alert) -> String {
    let mut s = format!(
        "{} {} {} crossed: {} {} >= {} {}",
        a.budget,
        a.period,
        a.threshold,
        a.on.as_str(),
        cents(a.observed),
        cents(a.level),
        a.currency
    );
    if a.escalation {
        s.push_str(" (escalation)");
    }
    if !a.also_crossed.is_empty() {
        s.push_str(&format!(" (also crossed: {})", a.also_crossed.join(", ")));
    }
    s
}

/// `costkit budget check`.
pub fn check(
    budgets: &Path,
    store: &Path,
    now: Option<DateTime<Utc>>,
    format: OutFormat,
) -> Result<()> {
    let file = BudgetFile::load(budgets)?;
    if !store.exists() {
        bail!(
            "{}: no store here; run `costkit load <files>` first",
            store.display()
        );
    }
    let st = SqliteStore::open(store)?;
    let now = now.unwrap_or_else(Utc::now);
    let all = Filter::default();
    let daily = st.daily(&all)?;
    let keys: BTreeSet<&str> = file
        .budgets
        .iter()
        .filter_map(|b| b.scope.tag.as_ref().map(|t| t.key.as_str()))
        .collect();
    let mut tags = Vec::new();
    for k in keys {
        tags.extend(st.daily_tags(k, &all)?);
    }
    let state_file = state_path(store);
    let mut state = load_state(&state_file)?;
    let mut results = Vec::new();
    for b in &file.budgets {
        let status = evaluate(b, &daily, &tags, now, &SeasonalForecaster);
        let alerts = state.step(&status, now);
        results.push((status, alerts));
    }
    save_state(&state_file, &state)?;

    let mut out = std::io::stdout().lock();
    match format {
        OutFormat::Json => {
            let v: Vec<serde_json::Value> = results
                .iter()
                .map(|(s, a)| {
                    serde_json::json!({
                        "budget": s.name,
                        "period": s.period.label,
                        "period_start": s.period.start.to_string(),
                        "period_end": s.period.end.to_string(),
                        "currency": s.currency.as_str(),
                        "basis": basis_name(s.basis),
                        "actual": s.actual.normalize().to_string(),
                        "amount": s.amount.map(|d| d.normalize().to_string()),
                        "percent_used": s.percent_used.map(|d| d.round_dp(4).normalize().to_string()),
                        "forecast": s.forecast.map(|d| d.round_dp(4).normalize().to_string()),
                        "forecaster": s.forecaster,
                        "covered_days": s.covered_days,
                        "thresholds": s.checks,
                        "alerts": a,
                        "open_alerts": state.open(&s.name).iter().map(|f| f.threshold.clone()).collect::<Vec<_>>(),
                        "warnings": s.warnings,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        OutFormat::Table | OutFormat::Csv => {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            t.set_header(vec![
                "Budget",
                "Period",
                "Basis",
                "Spend",
                "Amount",
                "% used",
                "Forecast",
                "Alerts now",
            ]);
            for (s, a) in &results {
                let right = |x: String| Cell::new(x).set_alignment(CellAlignment::Right);
                t.add_row(vec![
                    Cell::new(&s.name),
                    Cell::new(&s.period.label),
                    Cell::new(basis_name(s.basis)),
                    right(format!("{} {}", cents(s.actual), s.currency)),
                    right(opt_cents(s.amount)),
                    right(
                        s.percent_used
                            .map(|p| format!("{}%", p.round_dp(1)))
                            .unwrap_or_else(|| "-".into()),
                    ),
                    right(opt_cents(s.forecast)),
                    Cell::new(
                        a.iter()
                            .map(|x| x.threshold.clone())
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                ]);
            }
            writeln!(out, "{t}")?;
            for (s, a) in &results {
                for x in a {
                    writeln!(out, "ALERT {}", alert_text(x))?;
                }
                for w in &s.warnings {
                    writeln!(out, "warning: {}: {w}", s.name)?;
                }
            }
            writeln!(out, "alert state: {}", state_file.display())?;
        }
    }
    Ok(())
}
