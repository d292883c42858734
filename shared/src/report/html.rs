//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no scripts and no
//! external references, so it opens offline, can be mailed as an attachment and prints on A4.
//!
//! The page is an askama template (`shared/templates/report.html`), compiled into the crate; askama
//! escapes every value (tag values, account and service names come from cloud users). The only
//! unescaped insertions are the SVG charts, built in [`super::svg`], which escapes its own text.
//!
//! Amounts are shown exactly (every digit of the decimal, with thousands separators and at least
//! two decimals); the charts draw the same numbers as f64.

use std::collections::BTreeMap;

use askama::Template;
use chrono::Duration;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::svg::{self, BandDay, PALETTE};
use super::{DailySeries, Report};
use crate::leaderboard::{Badge, Status};
use crate::money::Currency;

/// Formats an exact amount for people: thousands separators, at least two decimals, every
/// further digit kept (`1234.5` → `1,234.50`, `-0.0000000001` stays as it is).
pub fn money(d: Decimal) -> String {
    let s = d.normalize().to_string();
    let (sign, s) = match s.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", s.as_str()),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let mut frac = frac.to_string();
    while frac.len() < 2 {
        frac.push('0');
    }
    format!("{sign}{grouped}.{frac}")
}

fn money_c(d: Decimal, c: &Currency) -> String {
    format!("{} {c}", money(d))
}

/// A badge's name as the reports show it (the JSON's kebab-case name).
pub(super) fn badge_name(b: Badge) -> &'static str {
    match b {
        Badge::FirstSaving => "first-saving",
        Badge::FourFigures => "four-figures",
        Badge::OnTarget => "on-target",
        Badge::Streak => "streak",
        Badge::CleanSweep => "clean-sweep",
    }
}

/// An action's verification status as the reports show it (the JSON's snake_case name).
pub(super) fn status_name(s: Status) -> &'static str {
    match s {
        Status::Verified => "verified",
        Status::NotVerified => "not_verified",
        Status::Pending => "pending",
        Status::NoHistory => "no_history",
    }
}

fn opt_money(d: Option<Decimal>) -> String {
    d.map(money).unwrap_or_else(|| "—".into())
}

fn pct(d: Option<Decimal>) -> String {
    d.map(|p| format!("{}%", p.normalize()))
        .unwrap_or_else(|| "—".into())
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

struct Kpi {
    label: String,
    value: String,
    sub: String,
}

struct LegendItem {
    color: &'static str,
    label: String,
}

struct Chart {
    heading: String,
    svg: String,
    legend: Vec<LegendItem>,
}

struct Column {
    name: &'static str,
    numeric: bool,
}

struct Cell {
    text: String,
    numeric: bool,
}

struct Table {
    caption: String,
    columns: Vec<Column>,
    rows: Vec<Vec<Cell>>,
    empty: String,
}

impl Table {
    /// `columns`: names, a leading `#` marks a numeric (right-aligned) column.
    fn new(columns: &[&'static str], empty: impl Into<String>) -> Table {
        Table {
            caption: String::new(),
            columns: columns
                .iter()
                .map(|c| match c.strip_prefix('#') {
                    Some(n) => Column {
                        name: n,
                        numeric: true,
                    },
                    None => Column {
                        name: c,
                        numeric: false,
                    },
                })
                .collect(),
            rows: Vec::new(),
            empty: empty.into(),
        }
    }

    fn caption(mut self, c: impl Into<String>) -> Table {
        self.caption = c.into();
        self
    }

    fn row(&mut self, cells: Vec<String>) {
        let row = cells
            .into_iter()
            .zip(&self.columns)
            .map(|(text, c)| Cell {
                text,
                numeric: c.numeric,
            })
            .collect();
        self.rows.push(row);
    }
}

struct Section {
    id: &'static str,
    heading: String,
    tables: Vec<Table>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page {
    title: String,
    meta: Vec<String>,
    kpis: Vec<Kpi>,
    notes: Vec<String>,
    charts: Vec<Chart>,
    sections: Vec<Section>,
    schema_version: u32,
}

/// Daily totals per currency on the report's basis (sum over the provider lines).
fn daily_totals(d: &DailySeries, billed: bool) -> BTreeMap<Currency, Vec<Decimal>> {
    let mut m: BTreeMap<Currency, Vec<Decimal>> = BTreeMap::new();
    for l in &d.lines {
        let e = m
            .entry(l.currency.clone())
            .or_insert_with(|| vec![Decimal::ZERO; d.days.len()]);
        let vals = if billed { &l.billed } else { &l.effective };
        for (slot, v) in e.iter_mut().zip(vals) {
            *slot += *v;
        }
    }
    m
}

fn charts(r: &Report) -> Vec<Chart> {
    let billed = r.basis == "billed";
    let mut out = Vec::new();
    let days = &r.daily.days;
    for (currency, totals) in daily_totals(&r.daily, billed) {
        let fc = r.forecast.as_ref().and_then(|l| {
            l.iter()
                .find(|x| x.currency == currency && x.basis == r.basis)
        });
        // Bars for the days with data; where the forecast starts (the first day not yet complete
        // when the report was made), the band takes over.
        let forecast_from = fc.and_then(|x| x.daily.first()).map(|d| d.day);
        let actual: Vec<Option<f64>> = days
            .iter()
            .zip(&totals)
            .map(|(d, v)| {
                (*d <= r.data_through && forecast_from.is_none_or(|s| *d < s)).then(|| f(*v))
            })
            .collect();
        let band: Vec<BandDay> = fc
            .map(|x| {
                x.daily
                    .iter()
                    .filter(|d| d.day >= r.period.start && d.day < r.period.end)
                    .map(|d| BandDay {
                        index: (d.day - r.period.start).num_days() as usize,
                        value: f(d.value),
                        lo80: f(d.lower_80),
                        hi80: f(d.upper_80),
                        lo95: f(d.lower_95),
                        hi95: f(d.upper_95),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut legend = vec![LegendItem {
            color: PALETTE[0],
            label: format!("actual {} cost per day", r.basis),
        }];
        if !band.is_empty() {
            legend.push(LegendItem {
                color: "#c05a00",
                label: "forecast, with 80% and 95% ranges".into(),
            });
        }
        let heading = match fc.and_then(|x| x.total.map(|t| (x, t))) {
            Some((x, total)) => format!(
                "Daily {} spend, {currency}: forecast total {} ({})",
                r.basis,
                money_c(total, &currency),
                x.method
            ),
            None => match fc.and_then(|x| x.note.as_ref()) {
                Some(note) => format!("Daily {} spend, {currency}: {note}", r.basis),
                None => format!("Daily {} spend, {currency}", r.basis),
            },
        };
        out.push(Chart {
            svg: svg::daily_with_forecast(&heading, days, &actual, &band, currency.as_str()),
            heading,
            legend,
        });
    }

    let mut by_currency: BTreeMap<&Currency, Vec<(String, Vec<f64>)>> = BTreeMap::new();
    for l in &r.daily_by_service.lines {
        let vals = if billed { &l.billed } else { &l.effective };
        by_currency
            .entry(&l.currency)
            .or_default()
            .push((l.group.clone(), vals.iter().map(|v| f(*v)).collect()));
    }
    for (currency, series) in by_currency {
        let heading = format!("Daily {} spend by service, {currency}", r.basis);
        let n = series.len();
        let legend = series
            .iter()
            .enumerate()
            .map(|(k, (name, _))| LegendItem {
                color: if k + 1 == n && name.starts_with('(') {
                    PALETTE[PALETTE.len() - 1]
                } else {
                    PALETTE[k % (PALETTE.len() - 1)]
                },
                label: name.clone(),
            })
            .collect();
        out.push(Chart {
            svg: svg::stacked(
                &heading,
                &r.daily_by_service.days,
                &series,
                currency.as_str(),
            ),
            heading,
            legend,
        });
    }

    for b in &r.budgets {
        let n = (b.period_end - b.period_start).num_days().max(1);
        let days: Vec<_> = (0..n).map(|i| b.period_start + Duration::days(i)).collect();
        let cumulative: Vec<f64> = b.cumulative.iter().map(|v| f(*v)).collect();
        let heading = format!(
            "Budget {}: {} of {} {} ({})",
            b.name,
            money(b.actual),
            opt_money(b.amount),
            b.currency,
            b.period
        );
        out.push(Chart {
            svg: svg::burn_down(
                &heading,
                &days,
                &cumulative,
                b.amount.map(f),
                b.forecast.map(f),
                b.currency.as_str(),
            ),
            heading,
            legend: vec![
                LegendItem {
                    color: PALETTE[0],
                    label: "actual, cumulative".into(),
                },
                LegendItem {
                    color: "#e15759",
                    label: "budget".into(),
                },
                LegendItem {
                    color: "#c05a00",
                    label: format!("forecast ({})", b.forecaster),
                },
            ],
        });
    }
    out
}

fn sections(r: &Report) -> Vec<Section> {
    let mut out = Vec::new();

    let mut totals = Table::new(
        &[
            "Currency",
            "#Billed",
            "#Effective",
            "#List",
            "#Contracted",
            "#Records",
        ],
        "No spend.",
    );
    for t in &r.totals {
        totals.row(vec![
            t.currency.to_string(),
            money(t.billed),
            money(t.effective),
            money(t.list),
            money(t.contracted),
            t.records.to_string(),
        ]);
    }
    let mut change = Table::new(
        &[
            "Currency",
            "Basis",
            "#Previous",
            "#Current",
            "#Change",
            "#Change %",
        ],
        "No comparable spend.",
    )
    .caption(format!(
        "{} to {} against {} to {} ({}), like for like",
        r.change.current.start,
        r.change.current.end - Duration::days(1),
        r.change.previous.start,
        r.change.previous.end - Duration::days(1),
        r.change.previous_period
    ));
    for l in &r.change.lines {
        for (basis, d) in [("billed", &l.billed), ("effective", &l.effective)] {
            change.row(vec![
                l.currency.to_string(),
                basis.into(),
                money(d.previous),
                money(d.current),
                money(d.change),
                pct(d.change_pct),
            ]);
        }
    }
    out.push(Section {
        id: "totals",
        heading: "Totals and change".into(),
        tables: vec![totals, change],
    });

    let mut tables = Vec::new();
    for b in &r.breakdowns {
        let mut t = Table::new(
            &["Group", "Currency", "#Billed", "#Effective", "#Share"],
            format!("No spend by {}.", b.dimension),
        )
        .caption(format!("By {}", b.dimension));
        for l in &b.lines {
            t.row(vec![
                l.group.clone(),
                l.currency.to_string(),
                money(l.billed),
                money(l.effective),
                pct(l.billed_share_pct),
            ]);
        }
        tables.push(t);
    }
    out.push(Section {
        id: "breakdowns",
        heading: "Breakdowns".into(),
        tables,
    });

    let mut movers = Table::new(
        &[
            "Group",
            "Currency",
            "#Previous",
            "#Current",
            "#Change",
            "#Change %",
        ],
        "Nothing changed.",
    )
    .caption(format!(
        "By {}, {} cost, largest absolute change first",
        r.top_movers.dimension, r.top_movers.basis
    ));
    for l in &r.top_movers.lines {
        movers.row(vec![
            l.group.clone(),
            l.currency.to_string(),
            money(l.previous),
            money(l.current),
            money(l.change),
            l.change_pct
                .map(|p| format!("{}%", p.normalize()))
                .unwrap_or_else(|| "new".into()),
        ]);
    }
    out.push(Section {
        id: "movers",
        heading: "Top movers".into(),
        tables: vec![movers],
    });

    let mut untagged = Table::new(
        &[
            "Tag key",
            "Currency",
            "#Total",
            "#Tagged",
            "#Untagged",
            "#Untagged %",
        ],
        "No tag keys in this period.",
    );
    for u in &r.untagged {
        untagged.row(vec![
            u.key.clone(),
            u.currency.to_string(),
            money(u.total),
            money(u.tagged),
            money(u.untagged),
            pct(u.untagged_pct),
        ]);
    }
    out.push(Section {
        id: "untagged",
        heading: "Untagged spend".into(),
        tables: vec![untagged],
    });

    let mut budgets = Table::new(
        &[
            "Budget",
            "Period",
            "Currency",
            "#Amount",
            "#Actual",
            "#Used",
            "#Forecast",
            "Thresholds crossed",
            "Warnings",
        ],
        "No budgets configured for this scope.",
    );
    for b in &r.budgets {
        let crossed: Vec<&str> = b
            .thresholds
            .iter()
            .filter(|t| t.crossed)
            .map(|t| t.id.as_str())
            .collect();
        budgets.row(vec![
            b.name.clone(),
            b.period.clone(),
            b.currency.to_string(),
            opt_money(b.amount),
            money(b.actual),
            pct(b.percent_used),
            opt_money(b.forecast),
            if crossed.is_empty() {
                "none".into()
            } else {
                crossed.join(", ")
            },
            b.warnings.join("; "),
        ]);
    }
    out.push(Section {
        id: "budgets",
        heading: "Budgets".into(),
        tables: vec![budgets],
    });

    let mut anomalies = Table::new(
        &[
            "Day",
            "Series",
            "Currency",
            "#Actual",
            "#Expected",
            "#Range",
            "#Score",
            "Root causes",
        ],
        match r.anomalies {
            None => "Anomaly detection is not configured.",
            Some(_) => "No anomalies in this period.",
        },
    );
    for a in r.anomalies.iter().flatten() {
        let range = match (a.lower, a.upper) {
            (Some(l), Some(u)) => format!("{} – {}", money(l), money(u)),
            (Some(l), None) => format!("≥ {}", money(l)),
            (None, Some(u)) => format!("≤ {}", money(u)),
            (None, None) => "—".into(),
        };
        let causes: Vec<String> = a
            .root_causes
            .iter()
            .map(|c| format!("{} {}: {}", c.dimension, c.group, money(c.change)))
            .collect();
        anomalies.row(vec![
            a.day.to_string(),
            format!("{} {}", a.dimension, a.group),
            a.currency.to_string(),
            money(a.actual),
            money(a.expected),
            range,
            format!("{:.1}", a.score),
            causes.join("; "),
        ]);
    }
    out.push(Section {
        id: "anomalies",
        heading: "Anomalies".into(),
        tables: vec![anomalies],
    });

    let mut forecast = Table::new(
        &[
            "Currency",
            "Basis",
            "Method",
            "#Actual",
            "#Forecast total",
            "#80% range",
            "#95% range",
            "Backtest",
        ],
        match r.forecast {
            None => "Forecasting is not configured.",
            Some(_) => "No forecast could be made (too little history).",
        },
    );
    for x in r.forecast.iter().flatten() {
        let range = |lvl: u8| {
            x.intervals
                .iter()
                .find(|i| i.level_pct == lvl)
                .map(|i| format!("{} – {}", money(i.lower), money(i.upper)))
                .unwrap_or_else(|| "—".into())
        };
        // A withheld forecast says why where its numbers would be.
        let method = match &x.note {
            Some(n) => format!("{} ({n})", x.method),
            None => x.method.clone(),
        };
        forecast.row(vec![
            x.currency.to_string(),
            x.basis.clone(),
            method,
            money(x.actual),
            x.total.map(money).unwrap_or_else(|| "—".into()),
            range(80),
            range(95),
            x.backtest
                .as_ref()
                .map(|b| format!("{} {:.3} over {} windows", b.metric, b.value, b.windows))
                .unwrap_or_else(|| "too short to tell".into()),
        ]);
    }
    out.push(Section {
        id: "forecast",
        heading: "Forecast to the end of the period".into(),
        tables: vec![forecast],
    });

    let mut recs = Table::new(
        &[
            "Source",
            "Severity",
            "Recommendation",
            "Subject",
            "#At stake",
            "#Window (days)",
            "#Monthly savings",
            "Evidence",
        ],
        match r.recommendations {
            None => "No recommendation source is configured (idle rules or a rules file).",
            Some(_) => "No recommendations: nothing matched.",
        },
    );
    for x in r.recommendations.iter().flatten() {
        let m = |v: Decimal| match &x.currency {
            Some(c) => money_c(v, c),
            None => money(v),
        };
        recs.row(vec![
            x.source.clone(),
            x.severity.to_string(),
            x.title.clone(),
            x.subject.clone(),
            m(x.amount),
            x.window_days.to_string(),
            x.monthly_savings.map(m).unwrap_or_else(|| "—".into()),
            x.reasons.join("; "),
        ]);
    }
    out.push(Section {
        id: "recommendations",
        heading: "Recommendations and rule findings".into(),
        tables: vec![recs],
    });

    let mut teams = Table::new(
        &[
            "#Rank",
            "Team",
            "#Points",
            "#Verified savings / month",
            "Verified",
            "#Pending",
            "Badges",
        ],
        match r.leaderboard {
            None => "No leaderboard is configured (teams and actions files).",
            Some(_) => "No teams.",
        },
    );
    let mut actions = Table::new(
        &[
            "Action",
            "Scope",
            "Done",
            "Team",
            "#Before / 30 d",
            "#After / 30 d",
            "#Trend",
            "#Expected",
            "#Saved / month",
            "#Points",
            "Status",
        ],
        "No actions marked done.",
    );
    if let Some(lb) = &r.leaderboard {
        teams.caption = format!(
            "Points for savings verified in the billing data through {}: {} days before and \
             after each done day, normalized to 30 days, net of the rest of the spend's trend.",
            lb.as_of
                .map(|d| d.to_string())
                .unwrap_or_else(|| "—".into()),
            lb.window_days
        );
        for t in &lb.standings {
            teams.row(vec![
                t.rank.to_string(),
                t.team.clone(),
                t.points.to_string(),
                if t.verified_monthly_savings.is_empty() {
                    "—".into()
                } else {
                    t.verified_monthly_savings
                        .iter()
                        .map(|(c, v)| money_c(*v, c))
                        .collect::<Vec<_>>()
                        .join(" + ")
                },
                format!("{} of {}", t.verified, t.actions),
                t.pending.to_string(),
                t.badges
                    .iter()
                    .map(|b| format!("{} ({})", badge_name(*b), b.rule()))
                    .collect::<Vec<_>>()
                    .join("; "),
            ]);
        }
        for a in &lb.actions {
            actions.row(vec![
                a.id.clone(),
                a.scope.clone(),
                a.done.to_string(),
                a.team.clone().unwrap_or_else(|| "—".into()),
                opt_money(a.before_monthly),
                opt_money(a.after_monthly),
                a.baseline_factor
                    .map(|f| format!("×{}", f.round_dp(3).normalize()))
                    .unwrap_or_else(|| "—".into()),
                opt_money(a.expected_monthly),
                match &a.currency {
                    Some(c) => money_c(a.verified_monthly_savings, c),
                    None => money(a.verified_monthly_savings),
                },
                a.points.to_string(),
                status_name(a.status).into(),
            ]);
        }
    }
    out.push(Section {
        id: "leaderboard",
        heading: "Leaderboard: verified savings by team".into(),
        tables: if r.leaderboard.is_some() {
            vec![teams, actions]
        } else {
            vec![teams]
        },
    });
    out
}

/// Renders the report as a self-contained HTML page (UTF-8 bytes).
pub fn render_html(report: &Report) -> Result<Vec<u8>, askama::Error> {
    let r = report;
    let scope = match &r.scope.provider {
        Some(p) => format!(" — {p}"),
        None => String::new(),
    };
    let mut meta = vec![
        format!(
            "Period {} to {}",
            r.period.start,
            r.period.end - Duration::days(1)
        ),
        format!("Data through {}", r.data_through),
        format!("As of {}", r.as_of),
        if r.complete {
            "Month complete".to_string()
        } else {
            "Month running".to_string()
        },
    ];
    if let Some(p) = &r.scope.provider {
        meta.push(format!("Provider {p}"));
    }
    let kpis = r
        .totals
        .iter()
        .map(|t| {
            let ch = r.change.lines.iter().find(|l| l.currency == t.currency);
            Kpi {
                label: format!("Billed cost, {}", t.currency),
                value: money(t.billed),
                sub: format!(
                    "effective {}{}",
                    money(t.effective),
                    ch.map(|c| format!("; change {}", pct(c.billed.change_pct)))
                        .unwrap_or_default()
                ),
            }
        })
        .collect();
    let page = Page {
        title: format!("Cost report {}{scope}", r.period.label),
        meta,
        kpis,
        notes: r.notes.clone(),
        charts: charts(r),
        sections: sections(r),
        schema_version: r.schema_version,
    };
    Ok(page.render()?.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_exact_and_grouped() {
        let d = |s: &str| s.parse::<Decimal>().expect("decimal");
        assert_eq!(money(d("1234567.5")), "1,234,567.50");
        assert_eq!(money(d("-0.0000000001")), "-0.0000000001");
        assert_eq!(money(d("100")), "100.00");
        assert_eq!(money(d("-1027.150")), "-1,027.15");
        assert_eq!(money(d("22646.0099717119")), "22,646.0099717119");
    }
}
