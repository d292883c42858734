//! The forecasting benchmark: on the seeded synthetic suite, forecast each series' anomaly-free
//! last 30 days from the 700 before them, and compare with seasonal naive (period 7).
//!
//! Done when: mean MASE at least 15 % below seasonal naive's, and 80 % intervals covering between
//! 75 % and 85 % of the held-out days. Checked on two seeds.

use std::collections::BTreeMap;

use costkit_core::analysis::forecast::forecast;
use costkit_core::analysis::score::{mase, seasonal_naive};
use costkit_core::analysis::synth::{suite, HOLDOUT};
use costkit_core::analysis::Series;

const SERIES: usize = 300;
const DAYS: usize = 730;

#[derive(Default)]
struct Tally {
    ours: Vec<f64>,
    naive: Vec<f64>,
    points: usize,
    in80: usize,
    in95: usize,
    bt_mase: Vec<f64>,
    bt80: Vec<f64>,
}

impl Tally {
    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len().max(1) as f64
    }
    fn line(&self, name: &str) -> String {
        format!(
            "{name:>10}: n={:3} MASE ours {:.3} naive {:.3} ({:+.1} %)  cover80 {:.3} cover95 {:.3}  backtest MASE {:.3} cover80 {:.3}",
            self.ours.len(),
            Self::mean(&self.ours),
            Self::mean(&self.naive),
            100.0 * (Self::mean(&self.ours) / Self::mean(&self.naive) - 1.0),
            self.in80 as f64 / self.points.max(1) as f64,
            self.in95 as f64 / self.points.max(1) as f64,
            Self::mean(&self.bt_mase),
            Self::mean(&self.bt80),
        )
    }
}

fn run(seed: u64) -> Tally {
    let mut all = Tally::default();
    let mut by: BTreeMap<String, Tally> = BTreeMap::new();
    for s in suite(seed, SERIES, DAYS) {
        let v = s.values();
        let cut = DAYS - HOLDOUT;
        let (hist, actual) = v.split_at(cut);
        let series = Series {
            start: s.series.start,
            step: s.series.step,
            values: s.series.values[..cut].to_vec(),
        };
        let f = forecast(&series, HOLDOUT).expect("forecast");
        assert_eq!(f.points.len(), HOLDOUT);
        let point: Vec<f64> = f.points.iter().map(|p| p.value).collect();
        let naive = seasonal_naive(hist, 7, HOLDOUT);
        let (Some(ours), Some(base)) =
            (mase(actual, &point, hist, 7), mase(actual, &naive, hist, 7))
        else {
            continue;
        };
        let t = by.entry(format!("{:?}", s.archetype)).or_default();
        for t in [&mut all, t] {
            t.ours.push(ours);
            t.naive.push(base);
            for (a, p) in actual.iter().zip(&f.points) {
                t.points += 1;
                t.in80 += usize::from(p.lo80 <= *a && *a <= p.hi80);
                t.in95 += usize::from(p.lo95 <= *a && *a <= p.hi95);
            }
            if let Some(b) = f.backtest {
                if let Some(m) = b.mase {
                    t.bt_mase.push(m);
                }
                t.bt80.push(b.coverage80);
            }
        }
    }
    for (k, t) in &by {
        eprintln!("seed {seed} {}", t.line(k));
    }
    eprintln!("seed {seed} {}", all.line("all"));
    all
}

fn check(seed: u64) {
    let t = run(seed);
    let ours = Tally::mean(&t.ours);
    let naive = Tally::mean(&t.naive);
    assert!(t.ours.len() >= SERIES * 9 / 10, "scored {}", t.ours.len());
    assert!(
        ours <= 0.85 * naive,
        "seed {seed}: mean MASE {ours:.3} is not 15 % below seasonal naive's {naive:.3}"
    );
    let c80 = t.in80 as f64 / t.points as f64;
    assert!(
        (0.75..=0.85).contains(&c80),
        "seed {seed}: 80 % interval coverage {c80:.3}"
    );
    let c95 = t.in95 as f64 / t.points as f64;
    assert!(c95 >= 0.88, "seed {seed}: 95 % interval coverage {c95:.3}");
}

#[test]
fn beats_seasonal_naive_with_calibrated_intervals_seed_1() {
    check(1);
}

#[test]
fn beats_seasonal_naive_with_calibrated_intervals_seed_2() {
    check(2);
}
