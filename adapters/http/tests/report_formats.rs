//! The HTML and XLSX renderings of the report over real SQLite stores loaded from the repository's
//! fixtures and samples: self-contained HTML with the three charts, every user text escaped,
//! exact amounts shown; XLSX totals equal to the JSON report's.

mod common;

use chrono::{DateTime, Utc};
use costkit_core::budget::BudgetFile;
use costkit_core::report::{
    build, render_html, EngineSections, ForecastDay, ForecastInterval, ForecastLine, Report,
    ReportOptions, ReportPeriod, ReportScope,
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
        total: dec("300"),
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
