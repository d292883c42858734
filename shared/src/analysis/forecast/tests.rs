use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use rust_decimal::Decimal;

use super::*;
use crate::budget::period::{period_at, Period};
use crate::budget::PeriodSpec;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect(s)
}

/// Deterministic uniform noise in [-1, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}

fn nested(p: &ForecastPoint) -> bool {
    p.lo95 <= p.lo80 && p.lo80 <= p.value && p.value <= p.hi80 && p.hi80 <= p.hi95
}

#[test]
fn empty_series_and_zero_horizon_are_refused() {
    let s = Series::daily(d("2024-01-01"), []);
    assert_eq!(forecast(&s, 5), Err(ForecastError::Empty));
    let gaps = Series {
        values: vec![None, None],
        ..Series::daily(d("2024-01-01"), [])
    };
    assert_eq!(forecast(&gaps, 5), Err(ForecastError::Empty));
    let one = Series::daily(d("2024-01-01"), [5.0]);
    assert_eq!(forecast(&one, 0), Err(ForecastError::ZeroHorizon));
}

#[test]
fn very_short_history_gives_the_mean_with_wide_intervals_and_no_backtest() {
    let s = Series::daily(d("2024-01-01"), [90.0, 110.0, 100.0]);
    let f = forecast(&s, 4).expect("forecast");
    assert_eq!(f.points.len(), 4);
    assert_eq!(
        f.points[0].time,
        d("2024-01-04").and_hms_opt(0, 0, 0).expect("t")
    );
    assert!(f.backtest.is_none());
    for p in &f.points {
        assert!((p.value - 100.0).abs() < 1e-9, "{p:?}");
        assert!(nested(p));
        // At least ±20 % for 80 %: three values say little about the spread.
        assert!(p.hi80 - p.lo80 >= 40.0, "{p:?}");
    }
    let single = forecast(&Series::daily(d("2024-01-01"), [7.0]), 2).expect("one value");
    assert!((single.points[1].value - 7.0).abs() < 1e-9);
    assert!(single.points[1].hi95 > single.points[1].hi80 && single.points[1].hi80 > 7.0);
}

#[test]
fn two_weeks_of_history_forecast_without_a_season() {
    let v: Vec<f64> = (0..12).map(|i| 50.0 + (i % 3) as f64).collect();
    let f = forecast(&Series::daily(d("2024-01-01"), v), 7).expect("forecast");
    assert!(!f.method.contains("season"), "{}", f.method);
    for p in &f.points {
        assert!((45.0..56.0).contains(&p.value), "{p:?}");
        assert!(nested(p));
    }
}

#[test]
fn zero_heavy_series_forecast_the_rate_with_non_negative_bounds() {
    let mut rng = Lcg(7);
    // About one day in five has spend of about 100: a rate of about 20 a day.
    let v: Vec<f64> = (0..400)
        .map(|_| {
            if rng.next() > 0.6 {
                100.0 + 20.0 * rng.next()
            } else {
                0.0
            }
        })
        .collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let f = forecast(&Series::daily(d("2024-01-01"), v), 30).expect("forecast");
    let avg = f.points.iter().map(|p| p.value).sum::<f64>() / 30.0;
    for p in &f.points {
        assert!(p.lo95 >= 0.0 && p.lo80 >= 0.0, "{p:?}");
        assert!(nested(p));
        // 100-ish spend days must fit in the 95 % range.
        assert!(p.hi95 >= 90.0, "{p:?}");
    }
    // A point forecast between "nothing" and the mean rate, never above the mean by much.
    assert!(
        (0.0..=1.3 * mean).contains(&avg),
        "avg {avg} mean {mean} {}",
        f.method
    );
}

/// Hourly load: a daily cycle on a weekday or weekend level.
fn hourly_truth(t: usize) -> f64 {
    let hour = (t % 24) as f64;
    let weekend = (t / 24) % 7 >= 5;
    let daily = 40.0 * (std::f64::consts::TAU * (hour - 14.0) / 24.0).cos();
    (if weekend { 60.0 } else { 120.0 }) + daily * if weekend { 0.5 } else { 1.0 }
}

#[test]
fn hourly_series_learn_the_day_and_the_week() {
    let mut rng = Lcg(11);
    let n = 24 * 7 * 6;
    let v: Vec<Option<f64>> = (0..n)
        .map(|t| Some((hourly_truth(t) + 4.0 * rng.next()).max(0.0)))
        .collect();
    let start = d("2024-01-01").and_hms_opt(0, 0, 0).expect("t");
    let s = Series {
        start,
        step: Step::HOURLY,
        values: v,
    };
    let h = 72;
    let f = forecast(&s, h).expect("forecast");
    assert_eq!(f.points[0].time, start + Duration::hours(n as i64));
    // The forecast must follow the noiseless truth closely (the noise is ±4).
    let mut err = 0.0;
    for (k, p) in f.points.iter().enumerate() {
        err += (p.value - hourly_truth(n + k)).abs();
        assert!(nested(p));
    }
    let mae = err / h as f64;
    assert!(mae < 6.0, "MAE {mae} with {}", f.method);
    // The history ends on a Sunday: only the weekly season knows that Monday is busier.
    assert!(f.method.contains("season 168"), "{}", f.method);
    let bt = f.backtest.expect("backtest");
    assert!(bt.coverage80 > 0.5, "{bt:?}");
}

#[test]
fn gaps_do_not_shift_the_weekly_pattern() {
    let pat = [100.0, 120.0, 110.0, 105.0, 90.0, 30.0, 20.0];
    let mut rng = Lcg(3);
    let mut values: Vec<Option<f64>> = (0..140)
        .map(|t| Some(pat[t % 7] * (1.0 + 0.02 * rng.next())))
        .collect();
    for t in [20, 21, 22, 50, 77, 78, 101, 130, 131, 132, 133] {
        values[t] = None;
    }
    let s = Series {
        values,
        ..Series::daily(d("2024-01-01"), [])
    };
    let f = forecast(&s, 14).expect("forecast");
    for (k, p) in f.points.iter().enumerate() {
        let want = pat[(140 + k) % 7];
        assert!(
            (p.value - want).abs() < 0.06 * want,
            "slot {}: {} vs {want}",
            140 + k,
            p.value
        );
    }
}

#[test]
fn one_spike_does_not_move_the_forecast() {
    let mut rng = Lcg(5);
    let mut v: Vec<f64> = (0..200)
        .map(|_| 1000.0 * (1.0 + 0.03 * rng.next()))
        .collect();
    v[195] = 20_000.0;
    let f = forecast(&Series::daily(d("2024-01-01"), v), 14).expect("forecast");
    for p in &f.points {
        assert!((p.value - 1000.0).abs() < 50.0, "{p:?} {}", f.method);
        assert!(
            p.hi95 < 1500.0,
            "the spike must not blow up the intervals: {p:?}"
        );
    }
}

#[test]
fn a_lasting_level_shift_is_followed_within_days() {
    let mut rng = Lcg(9);
    let v: Vec<f64> = (0..200)
        .map(|t| (if t < 190 { 1000.0 } else { 2000.0 }) * (1.0 + 0.03 * rng.next()))
        .collect();
    let f = forecast(&Series::daily(d("2024-01-01"), v), 7).expect("forecast");
    for p in &f.points {
        assert!((p.value - 2000.0).abs() < 150.0, "{p:?}");
    }
}

#[test]
fn a_fee_on_the_first_is_forecast_on_the_next_first() {
    let mut rng = Lcg(13);
    let start = d("2024-01-01");
    let v: Vec<f64> = (0..200)
        .map(|i| {
            let day = start + Duration::days(i);
            100.0 * (1.0 + 0.05 * rng.next()) + if day.day() == 1 { 3000.0 } else { 0.0 }
        })
        .collect();
    // 200 days from 2024-01-01 ends on 2024-07-18; 2024-08-01 is 14 days later.
    let f = forecast(&Series::daily(start, v), 20).expect("forecast");
    assert_eq!(f.day_effects.len(), 1, "{:?}", f.day_effects);
    for p in &f.points {
        if p.time.date() == d("2024-08-01") {
            assert!((p.value - 3100.0).abs() < 200.0, "{p:?}");
        } else {
            assert!((p.value - 100.0).abs() < 15.0, "{p:?}");
        }
    }
}

#[test]
fn backtest_of_white_noise_matches_theory() {
    // Level 100 plus uniform noise on [-10, 10]: the best forecast is 100 with mean absolute error
    // 5; seasonal naive's in-sample error is E|U1 - U2| = 20/3. MASE ≈ 0.75.
    let mut rng = Lcg(21);
    let v: Vec<f64> = (0..600).map(|_| 100.0 + 10.0 * rng.next()).collect();
    let f = forecast(&Series::daily(d("2024-01-01"), v), 30).expect("forecast");
    let bt = f.backtest.expect("backtest");
    assert_eq!((bt.windows, bt.horizon, bt.points), (3, 30, 90));
    let mase = bt.mase.expect("mase");
    assert!((0.65..0.9).contains(&mase), "{bt:?} {}", f.method);
    assert!((0.65..=0.95).contains(&bt.coverage80), "{bt:?}");
    assert!(bt.coverage95 >= bt.coverage80);
    // The 80 % interval of U(-10, 10) is ±8.
    let p = f.points[0];
    assert!((p.hi80 - p.lo80 - 16.0).abs() < 5.0, "{p:?}");
}

#[test]
fn non_negative_series_never_get_negative_bounds() {
    let mut rng = Lcg(4);
    let v: Vec<f64> = (0..100).map(|_| (1.0 + rng.next()).max(0.0)).collect();
    let f = forecast(&Series::daily(d("2024-01-01"), v), 10).expect("forecast");
    assert!(f.points.iter().all(|p| p.lo95 >= 0.0 && nested(p)));
}

fn periods_at(day: NaiveDate) -> Vec<Period> {
    [
        PeriodSpec::Monthly,
        PeriodSpec::Quarterly,
        PeriodSpec::Annual,
    ]
    .iter()
    .map(|s| period_at(s, day))
    .collect()
}

#[test]
fn period_totals_add_exact_actuals_to_forecast_cents() {
    // 10.004 a day since 2024-01-01, through 2024-03-10: March has 10 days of data.
    let mut daily = BTreeMap::new();
    let mut day = d("2024-01-01");
    while day <= d("2024-03-10") {
        daily.insert(day, Decimal::new(10_004, 3));
        day += Duration::days(1);
    }
    // A later entry is ignored.
    daily.insert(d("2024-03-12"), Decimal::from(999));
    let sf = period_totals(&daily, d("2024-03-10"), &periods_at(d("2024-03-11"))).expect("totals");
    let [m, q, y] = &sf.totals[..] else {
        panic!("three totals")
    };
    assert_eq!(m.period.label, "2024-03");
    assert_eq!(m.actual, Decimal::new(100_040, 3), "exact, not rounded");
    assert_eq!(m.remaining_days, 21);
    // A constant series forecasts its constant: 21 × 10.004 = 210.084 → 210.08.
    assert_eq!(m.forecast, Decimal::new(21_008, 2));
    assert_eq!(m.total, m.actual + m.forecast);
    assert_eq!(m.total, Decimal::new(310_120, 3));
    assert!(m.lo95 <= m.lo80 && m.lo80 <= m.total && m.total <= m.hi80 && m.hi80 <= m.hi95);
    assert_eq!(q.period.label, "2024-Q1");
    assert_eq!(q.actual, Decimal::new(10_004 * 70, 3));
    assert_eq!(q.remaining_days, 21);
    assert_eq!(y.remaining_days, 366 - 70);
    assert_eq!(
        y.forecast,
        Decimal::new(296_118, 2),
        "296 × 10.004 = 2961.184"
    );
    assert_eq!(sf.forecast.points.len(), 296);
}

#[test]
fn period_totals_ranges_widen_with_the_days_left() {
    let mut rng = Lcg(17);
    let mut daily = BTreeMap::new();
    let start = d("2023-01-01");
    for i in 0..500 {
        let day = start + Duration::days(i);
        let weekend = day.weekday().number_from_monday() >= 6;
        let v = (if weekend { 60.0 } else { 100.0 }) * (1.0 + 0.1 * rng.next());
        daily.insert(day, Decimal::from_f64_retain(v).expect("f64").round_dp(2));
    }
    let last = start + Duration::days(499);
    let sf = period_totals(&daily, last, &periods_at(last + Duration::days(1))).expect("totals");
    let widths: Vec<Decimal> = sf.totals.iter().map(|t| t.hi80 - t.lo80).collect();
    assert!(widths[0] <= widths[2], "{widths:?}");
    for t in &sf.totals {
        assert!(t.lo95 <= t.lo80 && t.lo80 <= t.total && t.total <= t.hi80 && t.hi80 <= t.hi95);
        // About 90 a day on average.
        let per_day = t.forecast / Decimal::from(t.remaining_days.max(1) as u64);
        assert!(
            per_day > Decimal::from(75) && per_day < Decimal::from(100),
            "{t:?}"
        );
    }
    let year = &sf.totals[2];
    assert!(
        year.range_source == "backtest" || year.range_source == "extrapolated",
        "{year:?}"
    );
}

#[test]
fn a_finished_period_is_its_actual_spend() {
    let mut daily = BTreeMap::new();
    daily.insert(d("2024-02-28"), Decimal::new(1234, 2));
    daily.insert(d("2024-02-29"), Decimal::new(1, 2));
    let feb = period_at(&PeriodSpec::Monthly, d("2024-02-01"));
    let sf = period_totals(&daily, d("2024-02-29"), &[feb]).expect("totals");
    let t = &sf.totals[0];
    assert_eq!(
        (t.total, t.remaining_days, t.range_source),
        (Decimal::new(1235, 2), 0, "exact")
    );
    assert_eq!((t.lo95, t.hi95), (t.total, t.total));
}

/// A month total's range properties: nested, the point inside, and never below `floor` (the
/// actual spend plus the lowest the history ever went over as many days).
fn assert_sane(t: &PeriodTotal, floor: Decimal) {
    assert!(
        t.lo95 <= t.lo80 && t.lo80 <= t.total && t.total <= t.hi80 && t.hi80 <= t.hi95,
        "{t:?}"
    );
    assert!(t.lo95 >= floor, "lower bound below {floor}: {t:?}");
    assert!(t.total >= floor, "{t:?}");
}

/// The demo's shape: a year of rare small charges, a few larger days, one purchase of 20,000 on
/// a 1st, a month of ordinary daily spend, and one cheap day into the new month. `credit` adds a
/// small refund on one day.
fn lumpy_history(credit: bool) -> (BTreeMap<NaiveDate, Decimal>, NaiveDate) {
    let mut rng = Lcg(11);
    let mut daily = BTreeMap::new();
    let start = d("2023-09-03");
    let money = |v: f64| Decimal::from_f64_retain(v).expect("f64").round_dp(4);
    daily.insert(start, Decimal::ZERO);
    for i in [1, 2, 18, 59, 60, 61, 62, 63, 64, 65, 180, 181, 182] {
        daily.insert(start + Duration::days(i), money(2.0 + 2.0 * rng.next()));
    }
    if credit {
        daily.insert(d("2024-08-12"), Decimal::new(-1875, 3));
    }
    daily.insert(d("2024-09-01"), Decimal::from(20_000));
    let mut day = d("2024-09-02");
    while day <= d("2024-09-30") {
        daily.insert(day, money(13.0 + 5.0 * rng.next()));
        day += Duration::days(1);
    }
    daily.insert(d("2024-10-01"), Decimal::new(864, 4));
    (daily, d("2024-10-01"))
}

fn october() -> Period {
    period_at(&PeriodSpec::Monthly, d("2024-10-01"))
}

#[test]
fn lumpy_non_negative_history_gives_non_negative_nested_totals_around_their_point() {
    let (daily, last) = lumpy_history(false);
    let sf = period_totals(&daily, last, &[october()]).expect("totals");
    let t = &sf.totals[0];
    assert_eq!(t.actual, Decimal::new(864, 4));
    assert_sane(t, t.actual);
    for p in &sf.forecast.points {
        assert!(nested(p) && p.lo95 >= 0.0, "{p:?}");
    }
    // One purchase of 20,000 must not become the expected rate of every following day: the
    // ordinary days run at about 13.
    assert!(t.forecast < Decimal::from(30 * 40), "{t:?}");
}

#[test]
fn a_rare_credit_does_not_open_the_range_to_large_negative_totals() {
    // Before: the credit made the series "signed", the totals fell back to summing daily 95 %
    // bounds and the month's 95 % range started at -25,599 with 0.09 spent so far.
    let (daily, last) = lumpy_history(true);
    let sf = period_totals(&daily, last, &[october()]).expect("totals");
    let t = &sf.totals[0];
    // The lowest the history went over 30 days is the credit itself (1.875, 1.88 in cents).
    assert_sane(t, t.actual - Decimal::new(188, 2));
    assert_ne!(t.range_source, "daily-bounds", "{t:?}");
    for p in &sf.forecast.points {
        assert!(nested(p) && p.lo95 >= -1.875, "{p:?}");
    }
}

#[test]
fn summed_daily_bounds_are_centred_on_the_expected_total() {
    // Three weeks, spend on about one day in three: too short to measure errors of 28-day sums,
    // so the range comes from the daily bounds. Their points are medians (zero), the expected
    // total is not: before, the total sat at or above the top of its own 80 % range.
    let mut daily = BTreeMap::new();
    let start = d("2024-02-01");
    for i in 0..21 {
        let v = if i % 3 == 1 { 30 + i } else { 0 };
        daily.insert(start + Duration::days(i), Decimal::from(v));
    }
    let last = start + Duration::days(20);
    let sf = period_totals(&daily, last, &[period_at(&PeriodSpec::Monthly, last)]).expect("totals");
    let t = &sf.totals[0];
    assert_eq!(t.range_source, "daily-bounds", "{t:?}");
    assert_sane(t, t.actual);
    assert!(t.total > t.actual && t.total < t.hi80, "{t:?}");
}

#[test]
fn the_verdict_withholds_forecasts_of_short_sparse_or_badly_backtested_histories() {
    // The demo's history: the method forecast its own past far worse than naive.
    let (daily, last) = lumpy_history(true);
    let sf = period_totals(&daily, last, &[october()]).expect("totals");
    match verdict(&daily, &sf) {
        Verdict::Unreliable { mase, .. } => assert!(mase > MAX_MASE, "{mase}"),
        v => panic!("{v:?} {:?}", sf.forecast.backtest),
    }
    // Two weeks of data.
    let mut short = BTreeMap::new();
    for i in 0..14 {
        short.insert(d("2024-03-01") + Duration::days(i), Decimal::from(10));
    }
    let last = d("2024-03-14");
    let sf = period_totals(&short, last, &[period_at(&PeriodSpec::Monthly, last)]).expect("t");
    assert_eq!(
        verdict(&short, &sf),
        Verdict::InsufficientHistory {
            days_with_spend: 14,
            days: 14
        }
    );
    // A year, but spend on only ten of the last 90 days.
    let mut sparse = BTreeMap::new();
    sparse.insert(d("2023-06-01"), Decimal::from(5));
    for i in 0..10 {
        sparse.insert(d("2024-03-01") + Duration::days(9 * i), Decimal::from(50));
    }
    let last = d("2024-05-28");
    let sf = period_totals(&sparse, last, &[period_at(&PeriodSpec::Monthly, last)]).expect("t");
    assert!(matches!(
        verdict(&sparse, &sf),
        Verdict::InsufficientHistory {
            days_with_spend: 10,
            ..
        }
    ));
    // Half a year of ordinary weekday/weekend spend is forecast.
    let mut rng = Lcg(3);
    let mut steady = BTreeMap::new();
    let start = d("2024-01-01");
    for i in 0..180 {
        let day = start + Duration::days(i);
        let weekend = day.weekday().number_from_monday() >= 6;
        let v = (if weekend { 60.0 } else { 100.0 }) * (1.0 + 0.1 * rng.next());
        steady.insert(day, Decimal::from_f64_retain(v).expect("f64").round_dp(2));
    }
    let last = start + Duration::days(179);
    let mut sf = period_totals(&steady, last, &[period_at(&PeriodSpec::Monthly, last)]).expect("t");
    assert_eq!(verdict(&steady, &sf), Verdict::Usable);
    // The backtest rules on their own: a large MASE whose ranges held is shown; a large MASE
    // whose ranges failed, or ranges that held under half the values, is not.
    let mut judge = |mase: f64, coverage80: f64| {
        let b = sf.forecast.backtest.as_mut().expect("backtest");
        (b.mase, b.coverage80, b.points) = (Some(mase), coverage80, 90);
        verdict(&steady, &sf)
    };
    assert_eq!(judge(7.6, 0.94), Verdict::Usable);
    assert!(matches!(judge(50.0, 0.64), Verdict::Unreliable { .. }));
    assert!(matches!(judge(0.9, 0.33), Verdict::Unreliable { .. }));
    assert_eq!(judge(0.9, 0.6), Verdict::Usable);
}
