//! The HTML and XLSX renderings of the report over real SQLite stores loaded from the repository's
//! fixtures and samples: self-contained HTML with the three charts, every user text escaped,
//! exact amounts shown; XLSX totals equal to the JSON report's.

mod common;

use chrono::{DateTime, Utc};
use costkit_core::budget::BudgetFile;
use costkit_core::report::{
    build, render_csv, render_html, render_json, render_xlsx, EngineSections, ForecastDay,
    ForecastInterval, ForecastLine, Report, ReportOptions, ReportPeriod, ReportScope,
};
use costkit_core::store::CostStore;
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn dec(s: &str) -> Decimal {
    s.parse().expect(s)
}

fn store(files: &[&str]) -> SqliteStore {
    let mut s = SqliteStore::in_memory().expect("store");
    common::load(&mut s, files);
    s
}

fn report(store: &dyn CostStore, period: &str, options: &ReportOptions, now: &str) -> Report {
    build(
        store,
        &ReportPeriod::parse(period).expect("period"),
        &ReportScope::default(),
        options,
        EngineSections::default(),
        at(now),
    )
    .expect("report")
}

const HOSTILE: &str = "tests/fixtures/report/hostile_names.csv";

/// Nothing in the page loads from elsewhere: no scripts, no links, no external URLs in any tag;
/// the only URL is the SVG namespace, which is a name, not a fetch. User text is escaped, so every
/// `<` in the page starts a real tag.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    let mut tags = Vec::new();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find('<') {
        let end = rest[i..].find('>').map(|j| i + j + 1).unwrap_or(rest.len());
        tags.push(&rest[i..end]);
        rest = &rest[end..];
    }
    assert!(tags.len() > 100, "a page with tags");
    for t in &tags {
        for bad in [
            "<script", "<link", "<iframe", "<img", "<object", "src=", "href=", "url(",
        ] {
            assert!(!t.contains(bad), "tag `{t}` contains `{bad}`");
        }
        if t.contains("http") {
            assert!(
                t.contains("xmlns=\"http://www.w3.org/2000/svg\""),
                "tag `{t}`"
            );
        }
    }
    assert!(!lower.contains("@import"));
}

#[test]
fn html_is_self_contained_and_escapes_user_text() {
    let s = store(&[HOSTILE]);
    let options = ReportOptions {
        tag_keys: vec!["team".into()],
        ..ReportOptions::default()
    };
    let r = report(&s, "2024-09", &options, "2025-01-01T00:00:00Z");
    let html = String::from_utf8(render_html(&r).expect("html")).expect("utf-8");
    assert_self_contained(&html);
    // The hostile names are shown, escaped (askama writes numeric entities, the SVG code named
    // ones: both are fine).
    let text = html
        .replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
        .replace("&#34;", "&quot;")
        .replace("&#38;", "&amp;");
    assert!(text.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(text.contains("&lt;/td&gt;&lt;script&gt;alert(&quot;team&quot;)"));
    assert!(text.contains("web &amp; &quot;ops&quot;"));
    assert!(text.contains("Acme &lt;b&gt;bold&lt;/b&gt;") || !text.contains("Acme"));
    // Exact money: 5 days x 12.34 + 5 x 0.0000000001.
    assert!(
        html.contains("61.7000000005"),
        "the exact total is shown: {}",
        &html[..400]
    );
    // The daily chart and the stacked service chart exist (no budget, no burn-down).
    assert_eq!(html.matches("data-chart=\"daily-forecast\"").count(), 1);
    assert_eq!(html.matches("data-chart=\"daily-by-service\"").count(), 1);
    assert_eq!(html.matches("data-chart=\"burn-down\"").count(), 0);
    assert!(html.contains("@media print"));
    // Not configured is said as such, not shown as "nothing found".
    assert!(html.contains("Anomaly detection is not configured."));
}

#[test]
fn html_draws_the_forecast_band_and_budget_burn_down() {
    let s = store(&[common::TWO_MONTHS, common::AWS_CUR]);
    let budgets = BudgetFile::load(&common::repo_file("docs/budgets.example.yaml"))
        .expect("budgets")
        .budgets;
    let n_budgets = budgets.len();
    let options = ReportOptions {
        budgets,
        ..ReportOptions::default()
    };
    let period = ReportPeriod::parse("2024-09").expect("period");
    // Mid-month: data through the 3rd, a forecast for the rest of the month.
    let fc = ForecastLine {
        currency: costkit_core::money::Currency::new("USD"),
        basis: "billed".into(),
        method: "test".into(),
        actual: dec("27.65"),
        status: "ok",
        note: None,
        total: Some(dec("300")),
        intervals: vec![ForecastInterval {
            level_pct: 80,
            lower: dec("250"),
            upper: dec("350"),
        }],
        backtest: None,
        daily: (4..=30)
            .map(|d| ForecastDay {
                day: chrono::NaiveDate::from_ymd_opt(2024, 9, d).expect("day"),
                value: dec("10"),
                lower_80: dec("8"),
                upper_80: dec("12"),
                lower_95: dec("6"),
                upper_95: dec("14"),
            })
            .collect(),
    };
    let r = build(
        &s,
        &period,
        &ReportScope::default(),
        &options,
        EngineSections {
            forecast: Some(vec![fc]),
            ..EngineSections::default()
        },
        at("2024-09-04T12:00:00Z"),
    )
    .expect("report");
    let html = String::from_utf8(render_html(&r).expect("html")).expect("utf-8");
    assert_self_contained(&html);
    assert!(html.contains("class=\"band80\""));
    assert!(html.contains("class=\"band95\""));
    assert!(html.contains("class=\"forecast\""));
    let shown_budgets = r.budgets.len();
    assert!(shown_budgets > 0 && shown_budgets <= n_budgets);
    assert_eq!(
        html.matches("data-chart=\"burn-down\"").count(),
        shown_budgets
    );
    for b in &r.budgets {
        assert_eq!(b.cumulative.len() as i64, b.covered_days, "{}", b.name);
        if let Some(last) = b.cumulative.last() {
            assert_eq!(*last, b.actual, "{}: burn-down ends at the actual", b.name);
        }
    }
}

/// The daily series by service adds up to the daily series by provider, day by day.
#[test]
fn daily_by_service_adds_up() {
    let s = store(&[common::MULTI, common::AWS_CUR]);
    for period in common::periods(&s) {
        let options = ReportOptions {
            daily_services_limit: 3,
            ..ReportOptions::default()
        };
        let r = report(&s, &period, &options, "2025-06-01T00:00:00Z");
        for t in &r.totals {
            let sum = |d: &costkit_core::report::DailySeries| -> Vec<Decimal> {
                let mut v = vec![Decimal::ZERO; d.days.len()];
                for l in d.lines.iter().filter(|l| l.currency == t.currency) {
                    for (a, b) in v.iter_mut().zip(&l.billed) {
                        *a += *b;
                    }
                }
                v
            };
            assert_eq!(sum(&r.daily), sum(&r.daily_by_service), "{period}");
            let n = r
                .daily_by_service
                .lines
                .iter()
                .filter(|l| l.currency == t.currency)
                .count();
            assert!(n <= 4, "{period}: three services and the rest");
        }
    }
}

/// The workbook is a valid zip with the expected sheets, and its totals cells hold the JSON
/// totals rounded to the cent next to the exact text. A real reader (openpyxl) checks the same
/// numbers in `scripts/report-browser-tests.sh`.
#[test]
fn xlsx_has_every_sheet_and_the_json_totals() {
    let s = store(&[common::TWO_MONTHS, common::MULTI, common::AWS_CUR]);
    let options = ReportOptions {
        tag_keys: vec!["team".into()],
        ..ReportOptions::default()
    };
    let r = report(&s, "2024-09", &options, "2025-01-01T00:00:00Z");
    let xlsx = render_xlsx(&r).expect("xlsx");
    assert_eq!(&xlsx[..4], b"PK\x03\x04", "a zip file");
    // The sheet names and the shared strings are stored uncompressed-readable only after
    // inflating; check through the zip directory instead: every sheet part is present.
    let names = zip_names(&xlsx);
    for n in 1..=14 {
        assert!(
            names
                .iter()
                .any(|x| x == &format!("xl/worksheets/sheet{n}.xml")),
            "sheet {n} in {names:?}"
        );
    }
    assert!(
        names.iter().any(|x| x.starts_with("xl/charts/chart")),
        "native charts"
    );
    // The exact totals of the JSON are in the workbook as text (shared strings), next to the
    // cent-rounded numbers.
    let json: serde_json::Value =
        serde_json::from_slice(&render_json(&r).expect("json")).expect("parse");
    let strings = zip_entry(&xlsx, "xl/sharedStrings.xml");
    let summary = zip_entry(&xlsx, "xl/worksheets/sheet1.xml");
    for t in json["totals"].as_array().expect("totals") {
        let billed = t["billed"].as_str().expect("billed");
        assert!(
            strings.contains(&format!(">{billed}<")),
            "exact billed {billed} in the workbook"
        );
        let cents = dec(billed)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        let as_f64: f64 = cents.to_string().parse().expect("f64");
        assert!(
            summary.contains(&format!("<v>{as_f64}</v>")),
            "rounded billed {as_f64} as a number on the summary sheet"
        );
    }
}

/// One entry of a zip, inflated (enough for a structure check without a zip crate).
fn zip_entry(zip: &[u8], name: &str) -> String {
    use std::io::Read;
    let u16_at = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]) as usize;
    let u32_at =
        |i: usize| u32::from_le_bytes([zip[i], zip[i + 1], zip[i + 2], zip[i + 3]]) as usize;
    let mut i = 0;
    while i + 46 <= zip.len() {
        if zip[i..i + 4] == [0x50, 0x4b, 0x01, 0x02] {
            let n = u16_at(i + 28);
            let (m, k) = (u16_at(i + 30), u16_at(i + 32));
            if &zip[i + 46..i + 46 + n] == name.as_bytes() {
                let method = u16_at(i + 10);
                let size = u32_at(i + 20);
                let local = u32_at(i + 42);
                let start = local + 30 + u16_at(local + 26) + u16_at(local + 28);
                let data = &zip[start..start + size];
                let mut out = String::new();
                if method == 8 {
                    flate2::read::DeflateDecoder::new(data)
                        .read_to_string(&mut out)
                        .expect("inflate");
                } else {
                    out = String::from_utf8(data.to_vec()).expect("utf-8");
                }
                return out;
            }
            i += 46 + n + m + k;
        } else {
            i += 1;
        }
    }
    panic!("{name} not in the zip");
}

/// File names in a zip's central directory (enough for a structure check without a zip crate).
fn zip_names(zip: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let sig = [0x50u8, 0x4b, 0x01, 0x02];
    let mut i = 0;
    while i + 46 <= zip.len() {
        if zip[i..i + 4] == sig {
            let n = u16::from_le_bytes([zip[i + 28], zip[i + 29]]) as usize;
            if let Ok(s) = std::str::from_utf8(&zip[i + 46..(i + 46 + n).min(zip.len())]) {
                out.push(s.to_string());
            }
            i += 46 + n;
        } else {
            i += 1;
        }
    }
    out
}

/// Writes the HTML, XLSX and JSON reports of the samples to `$COSTKIT_REPORT_OUT` for the browser
/// and openpyxl checks of `scripts/report-browser-tests.sh` (which sets the variable).
#[test]
fn write_reports_for_external_checks() {
    let Ok(dir) = std::env::var("COSTKIT_REPORT_OUT") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("out dir");
    // STEADY gives the USD series the history its forecast band needs.
    let s = store(&[
        common::TWO_MONTHS,
        common::STEADY,
        common::MULTI,
        common::AWS_CUR,
        HOSTILE,
    ]);
    let budgets = BudgetFile::load(&common::repo_file("docs/budgets.example.yaml"))
        .expect("budgets")
        .budgets;
    let options = ReportOptions {
        tag_keys: vec!["team".into()],
        budgets,
        ..ReportOptions::default()
    };
    // Mid-month, with the engines: the forecast band shows for the rest of the month.
    let r = costkit_core::report::generate(
        &s,
        &ReportPeriod::parse("2024-09").expect("period"),
        &ReportScope::default(),
        &options,
        &costkit_core::report::EngineConfig::default(),
        at("2024-09-20T00:00:00Z"),
    )
    .expect("report");
    // The report with its FOCUS sections (recommendations, leaderboard), for the same readers.
    let bucket = tempfile::tempdir().expect("dir");
    for (i, f) in common::SECTIONS_FILES.iter().enumerate() {
        common::write_focus_parts(bucket.path(), f, &format!("job{i}"));
    }
    let sections_store = store(&common::SECTIONS_FILES);
    let sr = costkit_core::report::generate(
        &sections_store,
        &ReportPeriod::parse("2024-10").expect("period"),
        &ReportScope::default(),
        &ReportOptions::default(),
        &common::sections_engines(bucket.path()),
        at("2024-11-05T12:00:00Z"),
    )
    .expect("sections report");
    assert!(sr.recommendations.is_some() && sr.leaderboard.is_some());
    std::fs::write(
        dir.join("report-sections.html"),
        render_html(&sr).expect("html"),
    )
    .expect("write");
    std::fs::write(
        dir.join("report-sections.xlsx"),
        render_xlsx(&sr).expect("xlsx"),
    )
    .expect("write");
    std::fs::write(
        dir.join("report-sections.json"),
        render_json(&sr).expect("json"),
    )
    .expect("write");
    std::fs::write(dir.join("report.html"), render_html(&r).expect("html")).expect("write");
    std::fs::write(dir.join("report.xlsx"), render_xlsx(&r).expect("xlsx")).expect("write");
    std::fs::write(dir.join("report.json"), render_json(&r).expect("json")).expect("write");
    // The store's own sums, for the reader to compare with.
    let filter = costkit_core::store::Filter {
        billing_period: Some("2024-09".into()),
        provider: None,
    };
    let mut sums = serde_json::Map::new();
    for t in &r.totals {
        let (b, e) = common::store_sums(&s, &filter, t.currency.as_str());
        sums.insert(
            t.currency.to_string(),
            serde_json::json!({"billed": b.to_string(), "effective": e.to_string()}),
        );
    }
    std::fs::write(
        dir.join("store-sums.json"),
        serde_json::to_vec_pretty(&sums).expect("json"),
    )
    .expect("write");
}

/// `generate` fills the engine sections: the forecast of a running month from the store's own
/// daily spend, with ordered ranges and daily points for the rest of the month; monitors, when
/// configured, give a list (empty here: nothing stands out), not `null`.
#[test]
fn generate_fills_the_engine_sections() {
    use costkit_core::analysis::anomaly::monitor::MonitorFile;
    use costkit_core::report::{generate, EngineConfig};
    let s = store(&[common::TWO_MONTHS, common::STEADY]);
    let period = ReportPeriod::parse("2024-09").expect("period");
    let monitors = MonitorFile::parse(
        "version: 1\nmonitors:\n  - name: all\n    currency: USD\n",
        "monitors.yaml",
    )
    .expect("monitors");
    let engines = EngineConfig {
        monitors: Some(monitors),
        ..EngineConfig::default()
    };
    let r = generate(
        &s,
        &period,
        &ReportScope::default(),
        &ReportOptions::default(),
        &engines,
        at("2024-09-04T08:00:00Z"),
    )
    .expect("report");
    assert_eq!(r.anomalies, Some(Vec::new()));
    let fc = r.forecast.as_ref().expect("forecast configured");
    assert_eq!(fc.len(), 1, "one currency");
    let f = &fc[0];
    assert_eq!((f.status, &f.note), ("ok", &None), "{f:?}");
    let total = f.total.expect("a shown forecast has a total");
    // Actual: Σ billed of the charge days of September before the 4th, straight from the store.
    let rows = s
        .daily(&costkit_core::store::Filter::default())
        .expect("daily");
    let expected: Decimal = rows
        .iter()
        .filter(|r| r.key.day >= period.start && r.key.day.to_string().as_str() < "2024-09-04")
        .map(|r| r.sums.billed)
        .sum();
    assert_eq!(f.actual, expected.normalize());
    let i80 = f.intervals.iter().find(|i| i.level_pct == 80).expect("80");
    let i95 = f.intervals.iter().find(|i| i.level_pct == 95).expect("95");
    assert!(i95.lower <= i80.lower && i80.lower <= total && total <= i80.upper);
    assert!(i80.upper <= i95.upper);
    // Spend that was never negative: the total is at least the spend so far, and so is every
    // lower bound.
    assert!(total >= f.actual && i95.lower >= f.actual, "{f:?}");
    // About 27 more days at 60..110.
    assert!(
        total > Decimal::from(1800) && total < Decimal::from(3300),
        "{f:?}"
    );
    let last = f.daily.last().expect("daily points").day;
    assert_eq!(last.to_string(), "2024-09-30");
    for d in &f.daily {
        assert!(d.lower_95 <= d.lower_80 && d.lower_80 <= d.upper_80 && d.upper_80 <= d.upper_95);
        assert!(d.lower_80 <= d.value && d.value <= d.upper_80 && d.lower_95 >= Decimal::ZERO);
    }
    // Three days of history: no numbers, a reason, in every format.
    let short = store(&[common::TWO_MONTHS]);
    let r = generate(
        &short,
        &period,
        &ReportScope::default(),
        &ReportOptions::default(),
        &EngineConfig::default(),
        at("2024-09-04T08:00:00Z"),
    )
    .expect("report");
    let f = &r.forecast.as_ref().expect("forecast configured")[0];
    assert_eq!(f.status, "insufficient-history");
    assert!(f.total.is_none() && f.intervals.is_empty() && f.daily.is_empty());
    let note = f.note.as_deref().expect("a reason");
    assert!(note.starts_with("not enough history"), "{note}");
    let html = String::from_utf8(render_html(&r).expect("html")).expect("utf-8");
    assert!(html.contains("not enough history"));
    assert!(!html.contains("class=\"band80\""));
    let csv = String::from_utf8(render_csv(&r).expect("csv")).expect("utf-8");
    assert!(csv.contains("not enough history") && csv.contains(",withheld,"));
    let json: serde_json::Value =
        serde_json::from_slice(&render_json(&r).expect("json")).expect("parse");
    assert!(json["forecast"][0]["total"].is_null());
    assert_eq!(json["forecast"][0]["status"], "insufficient-history");
    // Switched off: not configured.
    let r = generate(
        &s,
        &period,
        &ReportScope::default(),
        &ReportOptions::default(),
        &EngineConfig {
            monitors: None,
            forecast: false,
            problems: vec!["anomalies are left out: test".into()],
            ..EngineConfig::default()
        },
        at("2024-09-04T08:00:00Z"),
    )
    .expect("report");
    assert!(r.anomalies.is_none() && r.forecast.is_none());
    assert!(r.notes.iter().any(|n| n == "anomalies are left out: test"));
}
