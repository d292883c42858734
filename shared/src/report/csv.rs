//! The report as one flat ("long") CSV table: `section,dimension,group,day,currency,metric,value`.
//!
//! One table rather than one per section, so a single file opens in a spreadsheet or pandas and
//! pivots on any column. Every number of the JSON report is one row; amounts are exact decimals,
//! empty cells mean "not applicable" (JSON `null`). The sections and their metrics are listed in
//! `docs/reports.md`.
//!
//! Text cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return; tag values and account names come from cloud users) are prefixed with `'`.
//! Numeric cells are written as they are, negative amounts included.

use rust_decimal::Decimal;

use super::Report;

/// The header row.
pub const CSV_HEADER: [&str; 7] = [
    "section",
    "dimension",
    "group",
    "day",
    "currency",
    "metric",
    "value",
];

fn text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

fn num(d: Decimal) -> String {
    d.normalize().to_string()
}

fn opt(d: Option<Decimal>) -> String {
    d.map(num).unwrap_or_default()
}

struct Rows {
    w: ::csv::Writer<Vec<u8>>,
}

impl Rows {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        section: &str,
        dimension: &str,
        group: &str,
        day: &str,
        currency: &str,
        metric: &str,
        value: &str,
    ) -> Result<(), ::csv::Error> {
        self.w.write_record([
            section,
            &text(dimension),
            &text(group),
            day,
            &text(currency),
            metric,
            value,
        ])
    }
}

/// Renders the report as CSV (UTF-8, `\n` line ends, RFC 4180 quoting).
pub fn render_csv(report: &Report) -> Result<Vec<u8>, ::csv::Error> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    let mut r = Rows { w };

    let meta: Vec<(&str, String)> = vec![
        ("schema_version", report.schema_version.to_string()),
        ("period", report.period.label.clone()),
        ("period_start", report.period.start.to_string()),
        ("period_end", report.period.end.to_string()),
        (
            "scope_provider",
            report.scope.provider.clone().unwrap_or_default(),
        ),
        ("as_of", report.as_of.to_string()),
        ("complete", report.complete.to_string()),
        ("data_through", report.data_through.to_string()),
        ("basis", report.basis.to_string()),
        (
            "change_current_start",
            report.change.current.start.to_string(),
        ),
        ("change_current_end", report.change.current.end.to_string()),
        (
            "change_previous_start",
            report.change.previous.start.to_string(),
        ),
        (
            "change_previous_end",
            report.change.previous.end.to_string(),
        ),
        (
            "change_previous_period",
            report.change.previous_period.clone(),
        ),
    ];
    for (k, v) in meta {
        r.row("report", "", "", "", "", k, &text(&v))?;
    }

    for t in &report.totals {
        let c = t.currency.as_str();
        r.row("total", "", "", "", c, "billed", &num(t.billed))?;
        r.row("total", "", "", "", c, "effective", &num(t.effective))?;
        r.row("total", "", "", "", c, "list", &num(t.list))?;
        r.row("total", "", "", "", c, "contracted", &num(t.contracted))?;
        r.row("total", "", "", "", c, "records", &t.records.to_string())?;
    }

    for l in &report.change.lines {
        let c = l.currency.as_str();
        for (basis, d) in [("billed", &l.billed), ("effective", &l.effective)] {
            r.row(
                "change",
                "",
                "",
                "",
                c,
                &format!("{basis}_previous"),
                &num(d.previous),
            )?;
            r.row(
                "change",
                "",
                "",
                "",
                c,
                &format!("{basis}_current"),
                &num(d.current),
            )?;
            r.row(
                "change",
                "",
                "",
                "",
                c,
                &format!("{basis}_change"),
                &num(d.change),
            )?;
            r.row(
                "change",
                "",
                "",
                "",
                c,
                &format!("{basis}_change_pct"),
                &opt(d.change_pct),
            )?;
        }
    }

    for b in &report.breakdowns {
        for l in &b.lines {
            let c = l.currency.as_str();
            r.row(
                "breakdown",
                &b.dimension,
                &l.group,
                "",
                c,
                "billed",
                &num(l.billed),
            )?;
            r.row(
                "breakdown",
                &b.dimension,
                &l.group,
                "",
                c,
                "effective",
                &num(l.effective),
            )?;
            r.row(
                "breakdown",
                &b.dimension,
                &l.group,
                "",
                c,
                "billed_share_pct",
                &opt(l.billed_share_pct),
            )?;
        }
    }

    let m = &report.top_movers;
    for l in &m.lines {
        let c = l.currency.as_str();
        r.row(
            "mover",
            &m.dimension,
            &l.group,
            "",
            c,
            "previous",
            &num(l.previous),
        )?;
        r.row(
            "mover",
            &m.dimension,
            &l.group,
            "",
            c,
            "current",
            &num(l.current),
        )?;
        r.row(
            "mover",
            &m.dimension,
            &l.group,
            "",
            c,
            "change",
            &num(l.change),
        )?;
        r.row(
            "mover",
            &m.dimension,
            &l.group,
            "",
            c,
            "change_pct",
            &opt(l.change_pct),
        )?;
    }

    for d in [&report.daily, &report.daily_by_service] {
        for l in &d.lines {
            let c = l.currency.as_str();
            for (i, day) in d.days.iter().enumerate() {
                let day = day.to_string();
                if let Some(v) = l.billed.get(i) {
                    r.row("daily", &d.dimension, &l.group, &day, c, "billed", &num(*v))?;
                }
                if let Some(v) = l.effective.get(i) {
                    r.row(
                        "daily",
                        &d.dimension,
                        &l.group,
                        &day,
                        c,
                        "effective",
                        &num(*v),
                    )?;
                }
            }
        }
    }

    for u in &report.untagged {
        let c = u.currency.as_str();
        r.row("untagged", "tag", &u.key, "", c, "total", &num(u.total))?;
        r.row("untagged", "tag", &u.key, "", c, "tagged", &num(u.tagged))?;
        r.row(
            "untagged",
            "tag",
            &u.key,
            "",
            c,
            "untagged",
            &num(u.untagged),
        )?;
        r.row(
            "untagged",
            "tag",
            &u.key,
            "",
            c,
            "untagged_pct",
            &opt(u.untagged_pct),
        )?;
    }

    for b in &report.budgets {
        let c = b.currency.as_str();
        let g = b.name.as_str();
        r.row("budget", "budget", g, "", c, "period", &text(&b.period))?;
        r.row("budget", "budget", g, "", c, "basis", b.basis)?;
        r.row("budget", "budget", g, "", c, "amount", &opt(b.amount))?;
        r.row("budget", "budget", g, "", c, "actual", &num(b.actual))?;
        r.row(
            "budget",
            "budget",
            g,
            "",
            c,
            "percent_used",
            &opt(b.percent_used),
        )?;
        r.row("budget", "budget", g, "", c, "forecast", &opt(b.forecast))?;
        r.row(
            "budget",
            "budget",
            g,
            "",
            c,
            "covered_days",
            &b.covered_days.to_string(),
        )?;
        for t in &b.thresholds {
            let state = match (&t.skipped, t.crossed) {
                (Some(why), _) => format!("skipped: {why}"),
                (None, true) => "crossed".to_string(),
                (None, false) => "not crossed".to_string(),
            };
            r.row(
                "budget",
                "threshold",
                g,
                "",
                c,
                &format!("threshold {}", t.id),
                &text(&state),
            )?;
        }
        for wmsg in &b.warnings {
            r.row("budget", "budget", g, "", c, "warning", &text(wmsg))?;
        }
        for (i, v) in b.cumulative.iter().enumerate() {
            let day = (b.period_start + chrono::Duration::days(i as i64)).to_string();
            r.row("budget", "budget", g, &day, c, "cumulative", &num(*v))?;
        }
    }

    if let Some(list) = &report.anomalies {
        for a in list {
            let c = a.currency.as_str();
            let day = a.day.to_string();
            r.row(
                "anomaly",
                &a.dimension,
                &a.group,
                &day,
                c,
                "actual",
                &num(a.actual),
            )?;
            r.row(
                "anomaly",
                &a.dimension,
                &a.group,
                &day,
                c,
                "expected",
                &num(a.expected),
            )?;
            r.row(
                "anomaly",
                &a.dimension,
                &a.group,
                &day,
                c,
                "lower",
                &opt(a.lower),
            )?;
            r.row(
                "anomaly",
                &a.dimension,
                &a.group,
                &day,
                c,
                "upper",
                &opt(a.upper),
            )?;
            r.row(
                "anomaly",
                &a.dimension,
                &a.group,
                &day,
                c,
                "score",
                &a.score.to_string(),
            )?;
            for rc in &a.root_causes {
                r.row(
                    "anomaly",
                    &a.dimension,
                    &a.group,
                    &day,
                    c,
                    &format!("root_cause {}={}", rc.dimension, rc.group),
                    &num(rc.change),
                )?;
            }
        }
    }

    if let Some(list) = &report.forecast {
        for f in list {
            let c = f.currency.as_str();
            r.row(
                "forecast",
                &f.basis,
                &f.method,
                "",
                c,
                "actual",
                &num(f.actual),
            )?;
            // A withheld forecast has no total row; its method column carries the reason.
            match (f.total, &f.note) {
                (Some(t), _) => r.row("forecast", &f.basis, &f.method, "", c, "total", &num(t))?,
                (None, note) => {
                    let why = format!("{} ({})", f.method, note.as_deref().unwrap_or(f.status));
                    r.row("forecast", &f.basis, &why, "", c, "withheld", "")?
                }
            }
            for d in &f.daily {
                let day = d.day.to_string();
                for (metric, v) in [
                    ("daily", d.value),
                    ("daily_lower_80", d.lower_80),
                    ("daily_upper_80", d.upper_80),
                    ("daily_lower_95", d.lower_95),
                    ("daily_upper_95", d.upper_95),
                ] {
                    r.row("forecast", &f.basis, &f.method, &day, c, metric, &num(v))?;
                }
            }
            for i in &f.intervals {
                r.row(
                    "forecast",
                    &f.basis,
                    &f.method,
                    "",
                    c,
                    &format!("lower_{}", i.level_pct),
                    &num(i.lower),
                )?;
                r.row(
                    "forecast",
                    &f.basis,
                    &f.method,
                    "",
                    c,
                    &format!("upper_{}", i.level_pct),
                    &num(i.upper),
                )?;
            }
            if let Some(b) = &f.backtest {
                r.row(
                    "forecast",
                    &f.basis,
                    &f.method,
                    "",
                    c,
                    &format!("backtest_{}", b.metric),
                    &b.value.to_string(),
                )?;
            }
        }
    }

    if let Some(list) = &report.recommendations {
        for x in list {
            let c = x.currency.as_ref().map(|c| c.as_str()).unwrap_or("");
            let group = x.subject.as_str();
            let day = x.as_of.to_string();
            let mut put = |metric: &str, value: &str| {
                r.row("recommendation", &x.source, group, &day, c, metric, value)
            };
            put("title", &text(&x.title))?;
            put("severity", x.severity)?;
            put("amount", &num(x.amount))?;
            put("window_days", &x.window_days.to_string())?;
            put("monthly_savings", &opt(x.monthly_savings))?;
            if let Some(id) = &x.resource_id {
                put("resource_id", &text(id))?;
            }
            for reason in &x.reasons {
                put("reason", &text(reason))?;
            }
        }
    }

    if let Some(lb) = &report.leaderboard {
        let as_of = lb.as_of.map(|d| d.to_string()).unwrap_or_default();
        for t in &lb.standings {
            let mut put = |currency: &str, metric: &str, value: &str| {
                r.row(
                    "leaderboard",
                    "team",
                    &t.team,
                    &as_of,
                    currency,
                    metric,
                    value,
                )
            };
            put("", "rank", &t.rank.to_string())?;
            put("", "points", &t.points.to_string())?;
            for (cur, v) in &t.verified_monthly_savings {
                put(cur.as_str(), "verified_monthly_savings", &num(*v))?;
            }
            put("", "verified", &t.verified.to_string())?;
            put("", "actions", &t.actions.to_string())?;
            put("", "pending", &t.pending.to_string())?;
            for b in &t.badges {
                put("", "badge", super::html::badge_name(*b))?;
            }
        }
        for a in &lb.actions {
            let c = a.currency.as_ref().map(|c| c.as_str()).unwrap_or("");
            let day = a.done.to_string();
            let mut put = |metric: &str, value: &str| {
                r.row("leaderboard", "action", &a.id, &day, c, metric, value)
            };
            put("scope", &text(&a.scope))?;
            put("team", &text(a.team.as_deref().unwrap_or("")))?;
            put("before_monthly", &opt(a.before_monthly))?;
            put("after_monthly", &opt(a.after_monthly))?;
            put("expected_monthly", &opt(a.expected_monthly))?;
            put("verified_monthly_savings", &num(a.verified_monthly_savings))?;
            put("points", &a.points.to_string())?;
            put("status", super::html::status_name(a.status))?;
        }
    }

    for n in &report.notes {
        r.row("note", "", "", "", "", "note", &text(n))?;
    }

    r.w.flush()?;
    r.w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_text_is_defused() {
        assert_eq!(text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(text("-web"), "'-web");
        assert_eq!(text("web"), "web");
        assert_eq!(num(Decimal::new(-1250, 2)), "-12.5");
    }
}
