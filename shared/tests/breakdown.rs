//! Breakdowns: movers, trends and tag coverage agree with hand-computed sums to the cent.

use chrono::NaiveDate;
use costkit_core::aggregate::{CostBasis, GroupBy, LoadBatch, UNTAGGED};
use costkit_core::breakdown::{
    movers, period_over_period, tag_coverage, trend, DayRange, Granularity,
};
use costkit_core::store::contract::record;
use rust_decimal::Decimal;

fn dec(s: &str) -> Decimal {
    s.parse().expect(s)
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect(s)
}

/// March against February, month to date on the 3rd: EC2 grows, RDS is new, S3 disappears.
fn batch() -> LoadBatch {
    let mut b = LoadBatch::default();
    for r in [
        record("111", "2024-02", 1, "EC2", "10.00", Some("web")),
        record("111", "2024-02", 2, "EC2", "10.00", None),
        record("111", "2024-02", 3, "S3", "4.50", Some("data")),
        // Outside the like-for-like window (after Feb 3): must not count.
        record("111", "2024-02", 20, "EC2", "1000", Some("web")),
        record("111", "2024-03", 1, "EC2", "15.00", Some("web")),
        record("111", "2024-03", 2, "EC2", "12.25", Some("web")),
        record("111", "2024-03", 3, "RDS", "7.10", None),
    ] {
        b.add(&r);
    }
    b
}

#[test]
fn month_to_date_movers() {
    let (rows, _) = batch().rows();
    let cmp = period_over_period(d("2024-03-03"), Granularity::Month);
    let m = movers(&rows, &[], &GroupBy::Service, CostBasis::Billed, &cmp);
    let got: Vec<(&str, Decimal, Decimal, Decimal, Option<Decimal>)> = m
        .iter()
        .map(|m| {
            (
                m.group.as_str(),
                m.previous,
                m.current,
                m.change,
                m.change_pct,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "EC2",
                dec("20.00"),
                dec("27.25"),
                dec("7.25"),
                Some(dec("36.25"))
            ),
            ("RDS", dec("0"), dec("7.10"), dec("7.10"), None),
            (
                "S3",
                dec("4.50"),
                dec("0"),
                dec("-4.50"),
                Some(dec("-100.00"))
            ),
        ]
    );
    // Totals of both sides equal the plain sums of the two windows.
    let cur: Decimal = m.iter().map(|m| m.current).sum();
    let prev: Decimal = m.iter().map(|m| m.previous).sum();
    assert_eq!((prev, cur), (dec("24.50"), dec("34.35")));
}

#[test]
fn movers_by_tag_keep_untagged_spend() {
    let (rows, tags) = batch().rows();
    let team: Vec<_> = tags.into_iter().filter(|t| t.key.key == "team").collect();
    let cmp = period_over_period(d("2024-03-03"), Granularity::Month);
    let m = movers(
        &rows,
        &team,
        &GroupBy::Tag("team".into()),
        CostBasis::Billed,
        &cmp,
    );
    let find = |g: &str| m.iter().find(|x| x.group == g).expect(g);
    assert_eq!(find("web").current, dec("27.25"));
    assert_eq!(find("web").previous, dec("10.00"));
    assert_eq!(find(UNTAGGED).current, dec("7.10"));
    assert_eq!(find(UNTAGGED).previous, dec("10.00"));
    assert_eq!(find("data").previous, dec("4.50"));
}

#[test]
fn trend_buckets_add_up() {
    let (rows, _) = batch().rows();
    let range = DayRange {
        start: d("2024-02-01"),
        end: d("2024-04-01"),
    };
    let t = trend(
        &rows,
        &[],
        &GroupBy::Service,
        CostBasis::Billed,
        Granularity::Month,
        &range,
    );
    assert_eq!(t.buckets, vec![d("2024-02-01"), d("2024-03-01")]);
    let ec2 = t.lines.iter().find(|l| l.group == "EC2").expect("EC2");
    assert_eq!(ec2.values, vec![dec("1020.00"), dec("27.25")]);
    assert_eq!(ec2.total, dec("1047.25"));
    assert_eq!(t.lines[0].group, "EC2", "largest first");
    let weeks = trend(
        &rows,
        &[],
        &GroupBy::Provider,
        CostBasis::Billed,
        Granularity::Week,
        &range,
    );
    let all: Decimal = weeks.lines.iter().map(|l| l.total).sum();
    assert_eq!(all, dec("1058.85"));
    // 2024-02-01 is a Thursday: the first bucket starts on Monday 2024-01-29.
    assert_eq!(weeks.buckets[0], d("2024-01-29"));
}

#[test]
fn untagged_spend_per_key() {
    let (rows, tags) = batch().rows();
    let team: Vec<_> = tags
        .iter()
        .filter(|t| t.key.key == "team")
        .cloned()
        .collect();
    let cov = tag_coverage(
        &rows,
        &[("team".into(), team), ("owner".into(), Vec::new())],
        CostBasis::Billed,
    );
    assert_eq!(cov.len(), 2);
    assert_eq!(cov[0].key, "team");
    assert_eq!(cov[0].total, dec("1058.85"));
    assert_eq!(cov[0].untagged, dec("17.10"));
    assert_eq!(cov[0].tagged, dec("1041.75"));
    assert_eq!(cov[0].untagged_pct, Some(dec("1.61")));
    assert_eq!(cov[1].key, "owner");
    assert_eq!(cov[1].untagged, cov[1].total);
    assert_eq!(cov[1].untagged_pct, Some(dec("100.00")));
}
