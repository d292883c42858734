//! The detector on the seeded synthetic benchmark (`analysis::synth`): window-level F1 and false
//! alerts per series-year, asserted, with recall per anomaly kind in the message.

use std::collections::BTreeMap;

use costkit_core::analysis::anomaly::{detect, DetectorConfig};
use costkit_core::analysis::score::DetectionScore;
use costkit_core::analysis::synth;

/// An alert up to this many days after a window still counts for it (a shift is confirmed late,
/// a temporary shift alerts again when it ends).
const SLACK: usize = 3;

struct Report {
    total: DetectionScore,
    by_kind: BTreeMap<String, (usize, usize)>,
    by_archetype: BTreeMap<String, DetectionScore>,
}

impl Report {
    fn text(&self) -> String {
        let mut s = format!(
            "F1 {:.3} precision {:.3} recall {:.3} false/series-year {:.2} ({} windows, {} events, {} false)\n",
            self.total.f1(),
            self.total.precision(),
            self.total.recall(),
            self.total.false_per_series_year(),
            self.total.windows,
            self.total.events,
            self.total.false_events
        );
        for (k, (hit, n)) in &self.by_kind {
            s.push_str(&format!(
                "  recall {k}: {hit}/{n} = {:.3}\n",
                *hit as f64 / *n as f64
            ));
        }
        for (a, d) in &self.by_archetype {
            s.push_str(&format!(
                "  {a}: F1 {:.3} precision {:.3} recall {:.3} false/series-year {:.2}\n",
                d.f1(),
                d.precision(),
                d.recall(),
                d.false_per_series_year()
            ));
        }
        s
    }
}

fn run(seed: u64, n: usize, days: usize) -> Report {
    let cfg = DetectorConfig::default();
    let mut total = DetectionScore::default();
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut by_archetype: BTreeMap<String, DetectionScore> = BTreeMap::new();
    for s in synth::suite(seed, n, days) {
        let flags: Vec<bool> = detect(&s.series, &cfg).iter().map(|p| p.flag).collect();
        total.add(&s.label_ranges(), &flags, SLACK);
        if std::env::var("ANOMALY_DUMP").is_ok() {
            let labels = s.label_ranges();
            let mut i = 0;
            while i < flags.len() {
                if flags[i] {
                    let st = i;
                    while i < flags.len() && flags[i] {
                        i += 1;
                    }
                    if !labels.iter().any(|w| st < w.end + SLACK && w.start < i) {
                        println!(
                            "FALSE {} {}..{} {}",
                            s.name,
                            st,
                            i,
                            synth::start_date() + chrono::Duration::days(st as i64)
                        );
                    }
                }
                i += 1;
            }
            for w in &s.anomalies {
                let end = (w.end + SLACK).min(flags.len());
                if !flags[w.start..end].iter().any(|f| *f) {
                    println!("MISS {} {:?} {}..{}", s.name, w.kind, w.start, w.end);
                }
            }
        }
        by_archetype
            .entry(format!("{:?}", s.archetype))
            .or_default()
            .add(&s.label_ranges(), &flags, SLACK);
        for w in &s.anomalies {
            let end = (w.end + SLACK).min(flags.len());
            let e = by_kind.entry(format!("{:?}", w.kind)).or_default();
            e.1 += 1;
            if flags[w.start..end].iter().any(|f| *f) {
                e.0 += 1;
            }
        }
    }
    Report {
        total,
        by_kind,
        by_archetype,
    }
}

fn check(seed: u64) {
    let r = run(seed, 300, 730);
    let text = r.text();
    println!("seed {seed}: {text}");
    assert!(r.total.f1() >= 0.85, "seed {seed}: {text}");
    assert!(
        r.total.false_per_series_year() <= 6.0,
        "seed {seed}: {text}"
    );
}

#[test]
fn synthetic_suite_f1_and_false_alerts() {
    check(20240101);
}

#[test]
fn a_differently_seeded_suite_scores_the_same() {
    check(977);
}
