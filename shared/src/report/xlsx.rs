//! The report as an Excel workbook (`rust_xlsxwriter`): one sheet per section, amounts as numbers
//! with currency formats, and native Excel charts (daily spend by provider, daily spend stacked by
//! service, the service breakdown, budgets against their amounts, the forecast range).
//!
//! **Precision.** Excel stores numbers as IEEE doubles (about 15 significant digits), while report
//! amounts are exact decimals that can carry 10 or more decimal places. Every amount is therefore
//! written twice: a number cell holding the amount **rounded to the cent** (half away from zero,
//! exactly representable to the cent below 10^13), formatted with its currency, for sums, pivots
//! and charts; and, next to it, a text cell with the **exact** decimal (the same string as in the
//! JSON report). Sums of rounded cells can differ from the rounded total by a few cents when many
//! lines carry sub-cent digits; the exact column is the reference.

use chrono::{Datelike, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use rust_xlsxwriter::{Chart, ChartType, ExcelDateTime, Format, FormatAlign, Workbook, Worksheet};

use super::{Breakdown, DailySeries, Report};
use crate::money::Currency;

pub use rust_xlsxwriter::XlsxError;

/// An amount rounded to the cent, as Excel will hold it.
pub fn cents(d: Decimal) -> f64 {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .to_f64()
        .unwrap_or(0.0)
}

/// The number format of a currency: `#,##0.00 "USD"`. Only letters and digits of the code are
/// kept, so a hostile currency string cannot change the format's meaning.
fn currency_format(c: &str) -> Format {
    let code: String = c.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    Format::new().set_num_format(format!("#,##0.00 \"{code}\";-#,##0.00 \"{code}\""))
}

struct Fmts {
    head: Format,
    title: Format,
    date: Format,
    pct: Format,
    exact: Format,
}

impl Fmts {
    fn new() -> Fmts {
        Fmts {
            head: Format::new().set_bold().set_background_color("#E8ECF1"),
            title: Format::new().set_bold().set_font_size(14),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            pct: Format::new().set_num_format("0.00\"%\""),
            exact: Format::new().set_align(FormatAlign::Right),
        }
    }
}

fn excel_date(d: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_ymd(d.year() as u16, d.month() as u8, d.day() as u8)
}

/// A worksheet with a row cursor.
struct Sheet<'a> {
    ws: &'a mut Worksheet,
    f: &'a Fmts,
    row: u32,
}

impl<'a> Sheet<'a> {
    fn header(&mut self, cols: &[&str]) -> Result<(), XlsxError> {
        for (i, c) in cols.iter().enumerate() {
            self.ws
                .write_string_with_format(self.row, i as u16, *c, &self.f.head)?;
        }
        self.row += 1;
        Ok(())
    }

    fn text(&mut self, col: u16, s: &str) -> Result<(), XlsxError> {
        self.ws.write_string(self.row, col, s)?;
        Ok(())
    }

    /// An amount: the cent-rounded number in `col`, the exact decimal as text in `col + 1`.
    fn money(&mut self, col: u16, d: Decimal, c: &Currency) -> Result<(), XlsxError> {
        self.ws
            .write_number_with_format(self.row, col, cents(d), &currency_format(c.as_str()))?;
        self.ws.write_string_with_format(
            self.row,
            col + 1,
            d.normalize().to_string(),
            &self.f.exact,
        )?;
        Ok(())
    }

    fn opt_money(&mut self, col: u16, d: Option<Decimal>, c: &Currency) -> Result<(), XlsxError> {
        match d {
            Some(d) => self.money(col, d, c),
            None => Ok(()),
        }
    }

    fn pct(&mut self, col: u16, p: Option<Decimal>) -> Result<(), XlsxError> {
        if let Some(p) = p.and_then(|p| p.to_f64()) {
            self.ws
                .write_number_with_format(self.row, col, p, &self.f.pct)?;
        }
        Ok(())
    }

    fn date(&mut self, col: u16, d: NaiveDate) -> Result<(), XlsxError> {
        self.ws
            .write_datetime_with_format(self.row, col, excel_date(d)?, &self.f.date)?;
        Ok(())
    }

    fn next(&mut self) {
        self.row += 1;
    }

    fn title(&mut self, s: &str) -> Result<(), XlsxError> {
        self.ws
            .write_string_with_format(self.row, 0, s, &self.f.title)?;
        self.row += 2;
        Ok(())
    }
}

fn new_sheet<'a>(
    wb: &'a mut Workbook,
    name: &str,
    widths: &[f64],
) -> Result<&'a mut Worksheet, XlsxError> {
    let ws = wb.add_worksheet();
    ws.set_name(name)?;
    for (i, w) in widths.iter().enumerate() {
        ws.set_column_width(i as u16, *w)?;
    }
    Ok(ws)
}

fn summary(wb: &mut Workbook, r: &Report, f: &Fmts) -> Result<(), XlsxError> {
    let ws = new_sheet(
        wb,
        "Summary",
        &[26.0, 18.0, 20.0, 18.0, 20.0, 18.0, 20.0, 18.0, 20.0, 10.0],
    )?;
    let mut s = Sheet { ws, f, row: 0 };
    let scope = r
        .scope
        .provider
        .as_ref()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    s.title(&format!("Cost report {}{scope}", r.period.label))?;
    for (k, v) in [
        ("Period start", r.period.start.to_string()),
        ("Period end (exclusive)", r.period.end.to_string()),
        ("Data through", r.data_through.to_string()),
        ("As of", r.as_of.to_string()),
        (
            "Month complete",
            if r.complete { "yes" } else { "no" }.to_string(),
        ),
        ("Basis of movers and untagged", r.basis.to_string()),
        ("Schema version", r.schema_version.to_string()),
    ] {
        s.text(0, k)?;
        s.text(1, &v)?;
        s.next();
    }
    s.next();
    s.text(
        0,
        "Amount columns hold the amount rounded to the cent; the (exact) column next to each holds the exact decimal.",
    )?;
    s.next();
    s.next();
    s.header(&[
        "Currency",
        "Billed",
        "Billed (exact)",
        "Effective",
        "Effective (exact)",
        "List",
        "List (exact)",
        "Contracted",
        "Contracted (exact)",
        "Records",
    ])?;
    for t in &r.totals {
        s.text(0, t.currency.as_str())?;
        s.money(1, t.billed, &t.currency)?;
        s.money(3, t.effective, &t.currency)?;
        s.money(5, t.list, &t.currency)?;
        s.money(7, t.contracted, &t.currency)?;
        s.ws.write_number(s.row, 9, t.records as f64)?;
        s.next();
    }
    s.next();
    s.text(
        0,
        &format!(
            "Change: {} to {} against {} to {} ({})",
            r.change.current.start,
            r.change.current.end,
            r.change.previous.start,
            r.change.previous.end,
            r.change.previous_period
        ),
    )?;
    s.next();
    s.header(&[
        "Currency",
        "Basis",
        "Previous",
        "Previous (exact)",
        "Current",
        "Current (exact)",
        "Change",
        "Change (exact)",
        "Change %",
    ])?;
    for l in &r.change.lines {
        for (basis, d) in [("billed", &l.billed), ("effective", &l.effective)] {
            s.text(0, l.currency.as_str())?;
            s.text(1, basis)?;
            s.money(2, d.previous, &l.currency)?;
            s.money(4, d.current, &l.currency)?;
            s.money(6, d.change, &l.currency)?;
            s.pct(8, d.change_pct)?;
            s.next();
        }
    }
    if !r.notes.is_empty() {
        s.next();
        s.header(&["Notes"])?;
        for n in &r.notes {
            s.text(0, n)?;
            s.next();
        }
    }
    Ok(())
}

/// A wide daily table (one column per line, billed basis) with a stacked column chart per currency.
fn daily_sheet(
    wb: &mut Workbook,
    name: &str,
    d: &DailySeries,
    basis_billed: bool,
    f: &Fmts,
) -> Result<(), XlsxError> {
    let ws = new_sheet(wb, name, &[12.0])?;
    let mut s = Sheet { ws, f, row: 0 };
    let basis = if basis_billed { "billed" } else { "effective" };
    s.title(&format!("Daily {basis} cost by {}", d.dimension))?;
    let head_row = s.row;
    s.ws.write_string_with_format(head_row, 0, "Day", &f.head)?;
    for (i, l) in d.lines.iter().enumerate() {
        s.ws.write_string_with_format(
            head_row,
            i as u16 + 1,
            format!("{} ({})", l.group, l.currency),
            &f.head,
        )?;
        s.ws.set_column_width(i as u16 + 1, 18.0)?;
    }
    s.next();
    let first = s.row;
    for (k, day) in d.days.iter().enumerate() {
        s.date(0, *day)?;
        for (i, l) in d.lines.iter().enumerate() {
            let v = if basis_billed {
                &l.billed
            } else {
                &l.effective
            };
            if let Some(v) = v.get(k) {
                s.ws.write_number_with_format(
                    s.row,
                    i as u16 + 1,
                    cents(*v),
                    &currency_format(l.currency.as_str()),
                )?;
            }
        }
        s.next();
    }
    let last = s.row.saturating_sub(1);
    // One chart per currency: amounts of different currencies never share an axis.
    let mut currencies: Vec<&Currency> = d.lines.iter().map(|l| &l.currency).collect();
    currencies.dedup();
    currencies.sort();
    currencies.dedup();
    let chart_col = d.lines.len() as u16 + 2;
    for (n, c) in currencies.iter().enumerate() {
        let mut chart = Chart::new(ChartType::ColumnStacked);
        chart
            .title()
            .set_name(&format!("Daily {basis} cost by {}, {c}", d.dimension));
        for (i, _) in d
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.currency == **c)
        {
            let col = i as u16 + 1;
            chart
                .add_series()
                .set_name((name, head_row, col))
                .set_categories((name, first, 0, last, 0))
                .set_values((name, first, col, last, col));
        }
        chart.x_axis().set_num_format("mm-dd");
        chart.set_width(720).set_height(360);
        s.ws.insert_chart(head_row + (n as u32) * 20, chart_col, &chart)?;
    }
    Ok(())
}

fn breakdown_rows(
    s: &mut Sheet<'_>,
    b: &Breakdown,
    with_dim: bool,
) -> Result<(u32, u32), XlsxError> {
    let first = s.row;
    for l in &b.lines {
        let mut col = 0;
        if with_dim {
            s.text(0, &b.dimension)?;
            col = 1;
        }
        s.text(col, &l.group)?;
        s.text(col + 1, l.currency.as_str())?;
        s.money(col + 2, l.billed, &l.currency)?;
        s.money(col + 4, l.effective, &l.currency)?;
        s.pct(col + 6, l.billed_share_pct)?;
        s.next();
    }
    Ok((first, s.row.saturating_sub(1)))
}

const BREAKDOWN_HEAD: [&str; 7] = [
    "Group",
    "Currency",
    "Billed",
    "Billed (exact)",
    "Effective",
    "Effective (exact)",
    "Billed share %",
];

fn breakdown_sheet(
    wb: &mut Workbook,
    name: &str,
    b: Option<&Breakdown>,
    chart: bool,
    f: &Fmts,
) -> Result<(), XlsxError> {
    let ws = new_sheet(wb, name, &[40.0, 10.0, 18.0, 22.0, 18.0, 22.0, 14.0])?;
    let mut s = Sheet { ws, f, row: 0 };
    let Some(b) = b else {
        s.text(0, "No data for this dimension.")?;
        return Ok(());
    };
    s.title(&format!("Spend by {}", b.dimension))?;
    s.header(&BREAKDOWN_HEAD)?;
    let (first, last) = breakdown_rows(&mut s, b, false)?;
    if chart && !b.lines.is_empty() {
        let mut c = Chart::new(ChartType::Bar);
        c.title()
            .set_name(&format!("Billed cost by {}", b.dimension));
        c.add_series()
            .set_name("Billed")
            .set_categories((name, first, 0, last, 0))
            .set_values((name, first, 2, last, 2));
        c.y_axis().set_reverse();
        c.set_width(640).set_height(420);
        c.legend().set_hidden();
        s.ws.insert_chart(2, 8, &c)?;
    }
    Ok(())
}

fn tags_sheet(wb: &mut Workbook, r: &Report, f: &Fmts) -> Result<(), XlsxError> {
    let ws = new_sheet(
        wb,
        "By tag",
        &[18.0, 30.0, 10.0, 18.0, 22.0, 18.0, 22.0, 14.0],
    )?;
    let mut s = Sheet { ws, f, row: 0 };
    s.title("Spend by tag")?;
    let mut head = vec!["Tag key"];
    head.extend(BREAKDOWN_HEAD);
    s.header(&head)?;
    let mut any = false;
    for b in r
        .breakdowns
        .iter()
        .filter(|b| b.dimension.starts_with("tag:"))
    {
        breakdown_rows(&mut s, b, true)?;
        any = true;
    }
    if !any {
        s.text(
            0,
            "No tag keys configured for breakdowns (costkit serve --tag KEY).",
        )?;
        s.next();
    }
    s.next();
    s.text(0, "Untagged spend")?;
    s.next();
    s.header(&[
        "Tag key",
        "Currency",
        "Total",
        "Total (exact)",
        "Tagged",
        "Tagged (exact)",
        "Untagged",
        "Untagged (exact)",
        "Untagged %",
    ])?;
    for u in &r.untagged {
        s.text(0, &u.key)?;
        s.text(1, u.currency.as_str())?;
        s.money(2, u.total, &u.currency)?;
        s.money(4, u.tagged, &u.currency)?;
        s.money(6, u.untagged, &u.currency)?;
        s.pct(8, u.untagged_pct)?;
        s.next();
    }
    Ok(())
}

fn movers_sheet(wb: &mut Workbook, r: &Report, f: &Fmts) -> Result<(), XlsxError> {
    let ws = new_sheet(
        wb,
        "Movers",
        &[40.0, 10.0, 16.0, 20.0, 16.0, 20.0, 16.0, 20.0, 12.0],
    )?;
    let mut s = Sheet { ws, f, row: 0 };
    s.title(&format!(
        "Top movers by {} ({} cost)",
        r.top_movers.dimension, r.top_movers.basis
    ))?;
    s.header(&[
        "Group",
        "Currency",
        "Previous",
        "Previous (exact)",
        "Current",
        "Current (exact)",
        "Change",
        "Change (exact)",
        "Change %",
    ])?;
    for l in &r.top_movers.lines {
        s.text(0, &l.group)?;
        s.text(1, l.currency.as_str())?;
        s.money(2, l.previous, &l.currency)?;
        s.money(4, l.current, &l.currency)?;
        s.money(6, l.change, &l.currency)?;
        s.pct(8, l.change_pct)?;
        s.next();
    }
    Ok(())
}

fn budgets_sheet(wb: &mut Workbook, r: &Report, f: &Fmts) -> Result<(), XlsxError> {
    let name = "Budgets";
    let ws = new_sheet(
        wb,
        name,
        &[
            24.0, 12.0, 10.0, 10.0, 16.0, 20.0, 16.0, 20.0, 10.0, 16.0, 20.0, 30.0, 40.0,
        ],
    )?;
    let mut s = Sheet { ws, f, row: 0 };
    s.title("Budgets")?;
    if r.budgets.is_empty() {
        s.text(0, "No budgets configured for this scope.")?;
        return Ok(());
    }
    s.header(&[
        "Budget",
        "Period",
        "Currency",
        "Basis",
        "Amount",
        "Amount (exact)",
        "Actual",
        "Actual (exact)",
        "Used %",
        "Forecast",
        "Forecast (exact)",
        "Thresholds crossed",
        "Warnings",
    ])?;
    let first = s.row;
    for b in &r.budgets {
        s.text(0, &b.name)?;
        s.text(1, &b.period)?;
        s.text(2, b.currency.as_str())?;
        s.text(3, b.basis)?;
        s.opt_money(4, b.amount, &b.currency)?;
        s.money(6, b.actual, &b.currency)?;
        s.pct(8, b.percent_used)?;
        s.opt_money(9, b.forecast, &b.currency)?;
        let crossed: Vec<&str> = b
            .thresholds
            .iter()
            .filter(|t| t.crossed)
            .map(|t| t.id.as_str())
            .collect();
        s.text(11, &crossed.join(", "))?;
        s.text(12, &b.warnings.join("; "))?;
        s.next();
    }
    let last = s.row - 1;
    let mut c = Chart::new(ChartType::Column);
    c.title()
        .set_name("Budgets: actual and forecast against the amount");
    for (col, label) in [(4u16, "Amount"), (6, "Actual"), (9, "Forecast")] {
        c.add_series()
            .set_name(label)
            .set_categories((name, first, 0, last, 0))
            .set_values((name, first, col, last, col));
    }
    c.set_width(720).set_height(360);
    s.ws.insert_chart(s.row + 1, 0, &c)?;
    Ok(())
}

fn anomalies_sheet(wb: &mut Workbook, r: &Report, f: &Fmts) -> Result<(), XlsxError> {
    let ws = new_sheet(
        wb,
        "Anomalies",
        &[
            12.0, 14.0, 30.0, 10.0, 16.0, 20.0, 16.0, 20.0, 16.0, 20.0, 16.0, 20.0, 8.0, 60.0,
        ],
    )?;
    let mut s = Sheet { ws, f, row: 0 };
    s.title("Anomalies")?;
    let Some(list) = &r.anomalies else {
        s.text(0, "Anomaly detection is not configured.")?;
        return Ok(());
    };
    if list.is_empty() {
        s.text(0, "No anomalies in this period.")?;
        return Ok(());
    }
    s.header(&[
        "Day",
        "Dimension",
        "Group",
        "Currency",
        "Actual",
        "Actual (exact)",
        "Expected",
        "Expected (exact)",
        "Lower",
        "Lower (exact)",
        "Upper",
        "Upper (exact)",
        "Score",
        "Root causes",
    ])?;
    for a in list {
        s.date(0, a.day)?;
        s.text(1, &a.dimension)?;
        s.text(2, &a.group)?;
        s.text(3, a.currency.as_str())?;
        s.money(4, a.actual, &a.currency)?;
        s.money(6, a.expected, &a.currency)?;
        s.opt_money(8, a.lower, &a.currency)?;
        s.opt_money(10, a.upper, &a.currency)?;
        if a.score.is_finite() {
            s.ws.write_number(s.row, 12, a.score)?;
        }
        let causes: Vec<String> = a
            .root_causes
            .iter()
            .map(|c| format!("{} {}: {}", c.dimension, c.group, c.change.normalize()))
            .collect();
        s.text(13, &causes.join("; "))?;
        s.next();
    }
    Ok(())
}

fn forecast_sheet(wb: &mut Workbook, r: &Report, f: &Fmts) -> Result<(), XlsxError> {
    let name = "Forecast";
    let ws = new_sheet(
        wb,
        name,
        &[
            12.0, 10.0, 30.0, 16.0, 20.0, 16.0, 20.0, 16.0, 20.0, 16.0, 20.0, 16.0, 20.0, 30.0,
        ],
    )?;
    let mut s = Sheet { ws, f, row: 0 };
    s.title("Forecast to the end of the period")?;
    let Some(list) = &r.forecast else {
        s.text(0, "Forecasting is not configured.")?;
        return Ok(());
    };
    if list.is_empty() {
        s.text(0, "No forecast could be made (too little history).")?;
        return Ok(());
    }
    s.header(&[
        "Basis",
        "Currency",
        "Method",
        "Actual",
        "Actual (exact)",
        "Total",
        "Total (exact)",
        "80% low",
        "80% low (exact)",
        "80% high",
        "80% high (exact)",
        "95% low",
        "95% low (exact)",
        "Backtest",
    ])?;
    for x in list {
        s.text(0, &x.basis)?;
        s.text(1, x.currency.as_str())?;
        match &x.note {
            Some(n) => s.text(2, &format!("{} ({n})", x.method))?,
            None => s.text(2, &x.method)?,
        }
        s.money(3, x.actual, &x.currency)?;
        s.opt_money(5, x.total, &x.currency)?;
        let i80 = x.intervals.iter().find(|i| i.level_pct == 80);
        let i95 = x.intervals.iter().find(|i| i.level_pct == 95);
        s.opt_money(7, i80.map(|i| i.lower), &x.currency)?;
        s.opt_money(9, i80.map(|i| i.upper), &x.currency)?;
        s.opt_money(11, i95.map(|i| i.lower), &x.currency)?;
        if let Some(b) = &x.backtest {
            s.text(
                13,
                &format!("{} {:.3} over {} windows", b.metric, b.value, b.windows),
            )?;
        }
        s.next();
    }
    // The daily forecast of the first line with one, as a table and a line chart with its range.
    if let Some(x) = list.iter().find(|x| !x.daily.is_empty()) {
        s.next();
        s.text(
            0,
            &format!("Daily forecast, {} {} ({})", x.basis, x.currency, x.method),
        )?;
        s.next();
        let head = s.row;
        s.header(&[
            "Day", "Forecast", "80% low", "80% high", "95% low", "95% high",
        ])?;
        let first = s.row;
        let cf = currency_format(x.currency.as_str());
        for d in &x.daily {
            s.date(0, d.day)?;
            for (col, v) in [
                (1u16, d.value),
                (2, d.lower_80),
                (3, d.upper_80),
                (4, d.lower_95),
                (5, d.upper_95),
            ] {
                s.ws.write_number_with_format(s.row, col, cents(v), &cf)?;
            }
            s.next();
        }
        let last = s.row - 1;
        let mut c = Chart::new(ChartType::Line);
        c.title().set_name("Daily forecast with 80% and 95% ranges");
        for col in 1u16..=5 {
            c.add_series()
                .set_name((name, head, col))
                .set_categories((name, first, 0, last, 0))
                .set_values((name, first, col, last, col));
        }
        c.x_axis().set_num_format("mm-dd");
        c.set_width(720).set_height(360);
        s.ws.insert_chart(head, 7, &c)?;
    }
    Ok(())
}

fn recommendations_sheet(wb: &mut Workbook, r: &Report, f: &Fmts) -> Result<(), XlsxError> {
    let ws = new_sheet(
        wb,
        "Recommendations",
        &[
            24.0, 10.0, 60.0, 40.0, 10.0, 14.0, 18.0, 14.0, 18.0, 10.0, 80.0,
        ],
    )?;
    let mut s = Sheet { ws, f, row: 0 };
    s.title("Recommendations and rule findings")?;
    let Some(list) = &r.recommendations else {
        s.text(
            0,
            "No recommendation source is configured (idle rules or a rules file).",
        )?;
        return Ok(());
    };
    if list.is_empty() {
        s.text(0, "No recommendations: nothing matched.")?;
        return Ok(());
    }
    s.header(&[
        "Source",
        "Severity",
        "Recommendation",
        "Subject",
        "Currency",
        "At stake",
        "At stake (exact)",
        "Monthly savings",
        "Monthly savings (exact)",
        "Window (days)",
        "Evidence",
    ])?;
    for x in list {
        s.text(0, &x.source)?;
        s.text(1, x.severity)?;
        s.text(2, &x.title)?;
        s.text(3, &x.subject)?;
        if let Some(c) = &x.currency {
            s.text(4, c.as_str())?;
            s.opt_money(5, Some(x.amount), c)?;
            s.opt_money(7, x.monthly_savings, c)?;
        } else {
            s.ws.write_number(s.row, 5, cents(x.amount))?;
            if let Some(v) = x.monthly_savings {
                s.ws.write_number(s.row, 7, cents(v))?;
            }
        }
        s.ws.write_number(s.row, 9, f64::from(x.window_days))?;
        s.text(10, &x.reasons.join("; "))?;
        s.next();
    }
    Ok(())
}

fn leaderboard_sheet(wb: &mut Workbook, r: &Report, f: &Fmts) -> Result<(), XlsxError> {
    let ws = new_sheet(
        wb,
        "Leaderboard",
        &[
            24.0, 40.0, 12.0, 12.0, 16.0, 16.0, 14.0, 16.0, 14.0, 16.0, 14.0, 16.0, 18.0, 12.0,
            10.0, 14.0,
        ],
    )?;
    let mut s = Sheet { ws, f, row: 0 };
    s.title("Leaderboard: verified savings by team")?;
    let Some(lb) = &r.leaderboard else {
        s.text(0, "No leaderboard is configured (teams and actions files).")?;
        return Ok(());
    };
    s.text(
        0,
        &format!(
            "Data through {}; {} days before and after each done day, normalized to 30 days, \
             net of the rest of the spend's trend.",
            lb.as_of
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            lb.window_days
        ),
    )?;
    s.next();
    s.next();
    s.header(&[
        "Rank",
        "Team",
        "Points",
        "Currency",
        "Verified savings / month",
        "Verified savings (exact)",
        "Verified actions",
        "Actions",
        "Pending",
        "Badges",
    ])?;
    for t in &lb.standings {
        // One line per currency of verified savings (a team with none still gets its line).
        let savings: Vec<(Option<&Currency>, Option<Decimal>)> =
            if t.verified_monthly_savings.is_empty() {
                vec![(None, None)]
            } else {
                t.verified_monthly_savings
                    .iter()
                    .map(|(c, v)| (Some(c), Some(*v)))
                    .collect()
            };
        for (c, v) in savings {
            s.ws.write_number(s.row, 0, t.rank as f64)?;
            s.text(1, &t.team)?;
            s.ws.write_number(s.row, 2, t.points as f64)?;
            if let Some(c) = c {
                s.text(3, c.as_str())?;
                s.opt_money(4, v, c)?;
            }
            s.ws.write_number(s.row, 6, t.verified as f64)?;
            s.ws.write_number(s.row, 7, t.actions as f64)?;
            s.ws.write_number(s.row, 8, t.pending as f64)?;
            s.text(
                9,
                &t.badges
                    .iter()
                    .map(|b| super::html::badge_name(*b))
                    .collect::<Vec<_>>()
                    .join(", "),
            )?;
            s.next();
        }
    }
    s.next();
    s.header(&[
        "Action",
        "Scope",
        "Done",
        "Team",
        "Currency",
        "Before / 30 d",
        "(exact)",
        "After / 30 d",
        "(exact)",
        "Expected / 30 d",
        "(exact)",
        "Saved / month",
        "(exact)",
        "Trend factor",
        "Points",
        "Status",
    ])?;
    for a in &lb.actions {
        s.text(0, &a.id)?;
        s.text(1, &a.scope)?;
        s.date(2, a.done)?;
        s.text(3, a.team.as_deref().unwrap_or(""))?;
        if let Some(c) = &a.currency {
            s.text(4, c.as_str())?;
            s.opt_money(5, a.before_monthly, c)?;
            s.opt_money(7, a.after_monthly, c)?;
            s.opt_money(9, a.expected_monthly, c)?;
            s.opt_money(11, Some(a.verified_monthly_savings), c)?;
        }
        if let Some(fct) = a.baseline_factor {
            s.ws.write_number(s.row, 13, fct.to_f64().unwrap_or(0.0))?;
        }
        s.ws.write_number(s.row, 14, a.points as f64)?;
        s.text(15, super::html::status_name(a.status))?;
        s.next();
    }
    Ok(())
}

/// Renders the report as an XLSX workbook.
pub fn render_xlsx(report: &Report) -> Result<Vec<u8>, XlsxError> {
    let r = report;
    let f = Fmts::new();
    let mut wb = Workbook::new();
    // The workbook's creation time is the report's day, not the clock's second: the same report
    // is the same bytes, so its ETag holds across requests.
    let created = ExcelDateTime::from_ymd(
        u16::try_from(r.as_of.year()).unwrap_or(1900),
        r.as_of.month() as u8,
        r.as_of.day() as u8,
    )?;
    wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    let billed = r.basis == "billed";
    summary(&mut wb, r, &f)?;
    daily_sheet(&mut wb, "Daily", &r.daily, billed, &f)?;
    daily_sheet(&mut wb, "Daily by service", &r.daily_by_service, billed, &f)?;
    let dim = |d: &str| r.breakdowns.iter().find(|b| b.dimension == d);
    breakdown_sheet(&mut wb, "By service", dim("service"), true, &f)?;
    breakdown_sheet(&mut wb, "By account", dim("account"), false, &f)?;
    breakdown_sheet(&mut wb, "By region", dim("region"), false, &f)?;
    breakdown_sheet(&mut wb, "By provider", dim("provider"), false, &f)?;
    breakdown_sheet(
        &mut wb,
        "By charge category",
        dim("charge-category"),
        false,
        &f,
    )?;
    tags_sheet(&mut wb, r, &f)?;
    movers_sheet(&mut wb, r, &f)?;
    budgets_sheet(&mut wb, r, &f)?;
    anomalies_sheet(&mut wb, r, &f)?;
    forecast_sheet(&mut wb, r, &f)?;
    recommendations_sheet(&mut wb, r, &f)?;
    leaderboard_sheet(&mut wb, r, &f)?;
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_round_half_away_from_zero() {
        let d = |s: &str| s.parse::<Decimal>().expect("decimal");
        assert_eq!(cents(d("1.005")), 1.01);
        assert_eq!(cents(d("-1.005")), -1.01);
        assert_eq!(cents(d("22646.0099717119")), 22646.01);
        assert_eq!(cents(d("-0.0000000001")), 0.0);
    }

    #[test]
    fn currency_codes_cannot_inject_format_text() {
        // Only the code's letters survive.
        let f = currency_format("US\"D;@");
        assert_eq!(
            f,
            Format::new().set_num_format("#,##0.00 \"USD\";-#,##0.00 \"USD\"")
        );
    }
}
