//! A seeded synthetic benchmark of daily cost-like series with labelled anomalies.
//!
//! Real labelled cost series are not public, so the detector and the forecaster are measured on
//! series built to look like what FinOps teams see in Cost Explorer, one series per service or
//! account: a level between $50 and $50,000 a day, weekly seasonality (weekday-heavy dev/test
//! workloads, flat production), growth or decline, multiplicative noise, month-end batch jobs,
//! monthly fees charged on the 1st, quiet holidays, and sparse zero-heavy series (data transfer,
//! occasional jobs). Known calendar effects are normal behaviour and are not labelled.
//!
//! Injected anomalies are labelled as slot windows: spikes and drops (1-3 days), temporary level
//! shifts (5-21 days), persistent level shifts (labelled over their first 7 days; afterwards the
//! new level is the normal one) and ramps (labelled over the ramp). None is injected in the first
//! 60 days (the learning period plus history) or in the last [`HOLDOUT`] days, which forecasts are
//! scored on. Everything is a pure function of the seed.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::Normal;

use super::series::Series;

/// Days at the end of each series kept free of anomalies: the forecast hold-out.
pub const HOLDOUT: usize = 30;

/// Days at the start kept free of anomalies.
pub const WARMUP: usize = 60;

/// The shape of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Archetype {
    /// Production workload: nearly flat week.
    Steady,
    /// Dev/test: weekends and holidays much lower.
    Business,
    /// Nightly batch with a heavier last day of the month.
    MonthEnd,
    /// Usage plus a monthly fee (support, RI upfront, tax) charged on the 1st.
    MonthlyFee,
    /// Mostly zero, positive on a minority of days.
    Sparse,
}

/// The kind of an injected anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnomalyKind {
    /// 1-3 days far above the expected level.
    Spike,
    /// 1-3 days far below it.
    Drop,
    /// A level change lasting 5-21 days, then back.
    TemporaryShift,
    /// A level change that stays; only its first 7 days are anomalous.
    PersistentShift,
    /// A gradual climb over 7-21 days to a new level that stays.
    Ramp,
}

/// A labelled anomaly: slots `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First anomalous slot.
    pub start: usize,
    /// One past the last anomalous slot.
    pub end: usize,
    /// What was injected.
    pub kind: AnomalyKind,
}

/// One benchmark series with its labels.
#[derive(Clone, Debug)]
pub struct LabelledSeries {
    /// `s0042-business` and so on.
    pub name: String,
    /// Shape.
    pub archetype: Archetype,
    /// The values (no gaps).
    pub series: Series,
    /// Injected anomalies, in time order, non-overlapping.
    pub anomalies: Vec<Window>,
}

impl Window {
    /// The slots, for [`super::score::DetectionScore::add`].
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

impl LabelledSeries {
    /// The labelled slot ranges.
    pub fn label_ranges(&self) -> Vec<std::ops::Range<usize>> {
        self.anomalies.iter().map(Window::range).collect()
    }

    /// Values as a plain slice-friendly vector.
    pub fn values(&self) -> Vec<f64> {
        self.series
            .values
            .iter()
            .map(|v| v.unwrap_or(0.0))
            .collect()
    }
}

/// The first day of every benchmark series (a Monday).
pub fn start_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// `n` series of `days` days each, reproducible from `seed`.
pub fn suite(seed: u64, n: usize, days: usize) -> Vec<LabelledSeries> {
    (0..n).map(|i| series(seed, i, days)).collect()
}

/// Series number `index` of the suite for `seed`; independent of the other series.
pub fn series(seed: u64, index: usize, days: usize) -> LabelledSeries {
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix(seed ^ splitmix(index as u64 + 1)));
    let archetype = match rng.random_range(0..10u32) {
        0..=2 => Archetype::Steady,
        3..=4 => Archetype::Business,
        5..=6 => Archetype::MonthEnd,
        7..=8 => Archetype::MonthlyFee,
        _ => Archetype::Sparse,
    };
    let level = (rng.random_range(50f64.ln()..50_000f64.ln())).exp();
    let growth_per_year: f64 = rng.random_range(-0.2..0.8);
    let sigma: f64 = rng.random_range(0.03..0.12);
    let weekend: f64 = match archetype {
        Archetype::Business => rng.random_range(0.3..0.7),
        Archetype::Steady => rng.random_range(0.9..1.0),
        _ => rng.random_range(0.75..0.95),
    };
    let month_end: f64 = rng.random_range(1.3..2.0);
    let fee: f64 = rng.random_range(2.0..10.0);
    let holiday: f64 = rng.random_range(0.6..0.85);
    let sparse_p: f64 = rng.random_range(0.1..0.4);
    let normal = Normal::standard();

    let start = start_date();
    // The expected value before anomalies and noise: what a perfect model would predict.
    let base: Vec<f64> = (0..days)
        .map(|t| {
            let day = start + Duration::days(t as i64);
            // Continuous growth rate: -20 %..+80 % a year in log terms.
            let mut v = level * (growth_per_year * t as f64 / 365.0).exp();
            if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                v *= weekend;
            }
            if archetype == Archetype::Business && is_holiday(day) {
                v *= holiday;
            }
            if archetype == Archetype::MonthEnd && is_last_day_of_month(day) {
                v *= month_end;
            }
            v
        })
        .collect();

    let anomalies = place_anomalies(&mut rng, days, archetype);
    let mut factor = vec![1.0f64; days];
    let mut sparse_forced = vec![false; days];
    for w in &anomalies {
        match w.kind {
            AnomalyKind::Spike => {
                let f = 1.0 + rng.random_range((6.0 * sigma).max(0.8)..3.0);
                let f = if archetype == Archetype::Sparse {
                    f * 4.0
                } else {
                    f
                };
                for x in &mut factor[w.start..w.end] {
                    *x *= f;
                }
                if archetype == Archetype::Sparse {
                    for s in &mut sparse_forced[w.start..w.end] {
                        *s = true;
                    }
                }
            }
            AnomalyKind::Drop => {
                let f = rng.random_range(0.05..0.45);
                for x in &mut factor[w.start..w.end] {
                    *x *= f;
                }
            }
            AnomalyKind::TemporaryShift => {
                let f = if rng.random_bool(0.75) {
                    1.0 + rng.random_range(0.5..1.5)
                } else {
                    rng.random_range(0.3..0.55)
                };
                for x in &mut factor[w.start..w.end] {
                    *x *= f;
                }
            }
            AnomalyKind::PersistentShift => {
                let f = if rng.random_bool(0.75) {
                    1.0 + rng.random_range(0.5..1.5)
                } else {
                    rng.random_range(0.35..0.6)
                };
                for x in &mut factor[w.start..] {
                    *x *= f;
                }
            }
            AnomalyKind::Ramp => {
                let top = 1.0 + rng.random_range(0.8..2.0);
                let len = (w.end - w.start) as f64;
                for (k, x) in factor[w.start..].iter_mut().enumerate() {
                    let frac = ((k + 1) as f64 / len).min(1.0);
                    *x *= 1.0 + (top - 1.0) * frac;
                }
            }
        }
    }

    let mut values = Vec::with_capacity(days);
    for t in 0..days {
        let day = start + Duration::days(t as i64);
        let noise = (sigma * rng.sample(normal)).exp();
        let v = match archetype {
            Archetype::Sparse => {
                let on = rng.random_bool(sparse_p) || sparse_forced[t];
                if on {
                    base[t] * factor[t] * (0.5 * rng.sample(normal)).exp()
                } else {
                    0.0
                }
            }
            Archetype::MonthlyFee => {
                let usage = base[t] * factor[t] * noise;
                if day.day() == 1 {
                    usage + level * fee
                } else {
                    usage
                }
            }
            _ => base[t] * factor[t] * noise,
        };
        // Cost data is reported to the cent.
        values.push((v * 100.0).round() / 100.0);
    }

    let name = format!(
        "s{index:04}-{}",
        format!("{archetype:?}").to_ascii_lowercase()
    );
    LabelledSeries {
        name,
        archetype,
        series: Series::daily(start, values),
        anomalies,
    }
}

fn place_anomalies(rng: &mut ChaCha8Rng, days: usize, archetype: Archetype) -> Vec<Window> {
    let mut out: Vec<Window> = Vec::new();
    if days < WARMUP + HOLDOUT + 30 {
        return out;
    }
    let usable = days - WARMUP - HOLDOUT;
    // About two anomalies per series-year.
    let wanted = ((usable as f64 / 365.0) * 2.0).round().max(1.0) as usize;
    let mut tries = 0;
    while out.len() < wanted && tries < 200 {
        tries += 1;
        let kind = if archetype == Archetype::Sparse {
            AnomalyKind::Spike
        } else {
            match rng.random_range(0..10u32) {
                0..=2 => AnomalyKind::Spike,
                3 => AnomalyKind::Drop,
                4..=5 => AnomalyKind::TemporaryShift,
                6..=7 => AnomalyKind::PersistentShift,
                _ => AnomalyKind::Ramp,
            }
        };
        let len = match kind {
            AnomalyKind::Spike | AnomalyKind::Drop => rng.random_range(1..=3),
            AnomalyKind::TemporaryShift => rng.random_range(5..=21),
            AnomalyKind::PersistentShift => 7,
            AnomalyKind::Ramp => rng.random_range(7..=21),
        };
        let start = WARMUP + rng.random_range(0..usable.saturating_sub(len).max(1));
        let end = start + len;
        if end > days - HOLDOUT {
            continue;
        }
        // Keep 28 quiet days around every anomaly so each one is judged against a settled level.
        let clash = out.iter().any(|w| start < w.end + 28 && w.start < end + 28);
        if clash {
            continue;
        }
        out.push(Window { start, end, kind });
    }
    out.sort_by_key(|w| w.start);
    out
}

/// Dec 24-26, Dec 31 and Jan 1: the days dev/test spend drops in most companies.
pub fn is_holiday(day: NaiveDate) -> bool {
    matches!((day.month(), day.day()), (12, 24..=26) | (12, 31) | (1, 1))
}

fn is_last_day_of_month(day: NaiveDate) -> bool {
    (day + Duration::days(1)).day() == 1
}

/// SplitMix64, to derive independent per-series seeds from one suite seed.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_independent_of_suite_size() {
        let a = suite(7, 5, 730);
        let b = suite(7, 12, 730);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.series, y.series);
            assert_eq!(x.anomalies, y.anomalies);
        }
        assert_ne!(suite(8, 1, 730)[0].series, a[0].series);
    }

    #[test]
    fn labels_stay_out_of_warmup_and_holdout() {
        for s in suite(1, 200, 730) {
            assert!(!s.anomalies.is_empty(), "{}", s.name);
            for w in &s.anomalies {
                assert!(
                    w.start >= WARMUP && w.end <= 730 - HOLDOUT,
                    "{}: {w:?}",
                    s.name
                );
                assert!(w.start < w.end);
            }
            assert!(
                s.values().iter().all(|v| v.is_finite() && *v >= 0.0),
                "{}",
                s.name
            );
        }
    }

    #[test]
    fn a_spike_is_visible_in_the_data() {
        let s = suite(3, 400, 730)
            .into_iter()
            .find(|s| {
                s.archetype == Archetype::Steady
                    && s.anomalies.iter().any(|w| w.kind == AnomalyKind::Spike)
            })
            .expect("a steady series with a spike");
        let v = s.values();
        let w = s
            .anomalies
            .iter()
            .find(|w| w.kind == AnomalyKind::Spike)
            .expect("spike");
        let before: f64 = v[w.start - 14..w.start].iter().sum::<f64>() / 14.0;
        assert!(
            v[w.start] > before * 1.5,
            "{} at {}: {} vs {before}",
            s.name,
            w.start,
            v[w.start]
        );
    }
}
