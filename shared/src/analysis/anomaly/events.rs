//! From per-slot verdicts to anomalies (start, end, expected, actual, impact, score) and their
//! root causes across child series.

use std::ops::Range;

#[cfg(test)]
use super::detector::detect;
use super::detector::{Detector, DetectorConfig, Point};
use crate::analysis::series::Series;

/// Up or down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Spend above expectation.
    Up,
    /// Spend below expectation.
    Down,
}

/// One anomaly: a run of consecutive flagged slots (gaps inside a run do not break it).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// First flagged slot.
    pub start: usize,
    /// One past the last flagged slot.
    pub end: usize,
    /// The run reaches the last slot of the series: the anomaly may still grow.
    pub ongoing: bool,
    /// Σ expected over the run's observed slots.
    pub expected: f64,
    /// Σ actual over the same slots.
    pub actual: f64,
    /// The highest score in the run.
    pub max_score: f64,
    /// Sign of `actual - expected`.
    pub direction: Direction,
}

impl Event {
    /// `actual - expected`.
    pub fn impact(&self) -> f64 {
        self.actual - self.expected
    }

    /// `impact / expected × 100`, when the expectation is positive.
    pub fn impact_percent(&self) -> Option<f64> {
        (self.expected > 0.0).then(|| self.impact() / self.expected * 100.0)
    }

    /// The slots.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// Groups flagged slots into events.
pub fn events(values: &[Option<f64>], points: &[Point]) -> Vec<Event> {
    let n = points.len().min(values.len());
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if !points[i].flag {
            i += 1;
            continue;
        }
        let start = i;
        let mut last = i;
        let (mut expected, mut actual, mut max_score) = (0.0, 0.0, 0.0f64);
        while i < n && (points[i].flag || values[i].is_none()) {
            if let (Some(x), Some(e)) = (values[i], points[i].expected) {
                expected += e;
                actual += x;
                max_score = max_score.max(points[i].score);
            }
            if points[i].flag {
                last = i;
            }
            i += 1;
        }
        let end = last + 1;
        out.push(Event {
            start,
            end,
            ongoing: end == n,
            expected,
            actual,
            max_score,
            direction: if actual >= expected {
                Direction::Up
            } else {
                Direction::Down
            },
        });
        i = end;
    }
    out
}

/// One child's share of an anomaly.
#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    /// The child dimension (`account`, `region`, `service`, ...).
    pub dimension: String,
    /// The child's value (`123456789012`, `us-east-1`, ...).
    pub value: String,
    /// Σ the child's actual over the anomaly's slots.
    pub actual: f64,
    /// Σ the child's own expectation over those slots.
    pub expected: f64,
    /// `actual - expected`: the child's dollars of the deviation.
    pub contribution: f64,
    /// `contribution ÷ the parent's deviation` (1.0 = all of it).
    pub share: f64,
}

/// A child series of a monitored series: one value of one dimension.
#[derive(Clone, Debug)]
pub struct Child {
    /// The dimension.
    pub dimension: String,
    /// The value.
    pub value: String,
    /// Its series, on the parent's slots (a slot without spend is 0, not a gap).
    pub series: Series,
}

/// Ranks children by their dollar contribution to `event`, in the event's direction first.
///
/// Each child's expectation is its own detector's forecast from the data before the anomaly (so a
/// child with a weekly pattern is judged against its own pattern, and the anomaly does not move
/// it). A child still learning is expected to spend its average of the 28 days before (0 for a
/// child that did not exist), so a brand-new service carries its whole spend as contribution.
pub fn root_causes(event: &Event, children: &[Child], cfg: &DetectorConfig) -> Vec<Contribution> {
    let deviation = event.impact();
    let mut out: Vec<Contribution> = children
        .iter()
        .map(|c| {
            // The child's expectation from its history before the anomaly only, so the anomaly
            // does not teach the child's model what to expect.
            let mut d = Detector::new(c.series.start, c.series.step, cfg.clone());
            for v in c.series.values.iter().take(event.start) {
                d.push(*v);
            }
            let before: Vec<f64> = c.series.values[..event.start.min(c.series.len())]
                .iter()
                .rev()
                .take(28)
                .map(|v| v.unwrap_or(0.0))
                .collect();
            let fallback = if before.is_empty() {
                0.0
            } else {
                before.iter().sum::<f64>() / before.len() as f64
            };
            let (mut actual, mut expected) = (0.0, 0.0);
            for t in event.range() {
                actual += c.series.values.get(t).copied().flatten().unwrap_or(0.0);
                expected += d.expected_at(t).unwrap_or(fallback);
            }
            let contribution = actual - expected;
            Contribution {
                dimension: c.dimension.clone(),
                value: c.value.clone(),
                actual,
                expected,
                contribution,
                share: if deviation != 0.0 {
                    contribution / deviation
                } else {
                    0.0
                },
            }
        })
        .collect();
    let sign = if deviation >= 0.0 { -1.0 } else { 1.0 };
    out.sort_by(|a, b| {
        (sign * a.contribution)
            .total_cmp(&(sign * b.contribution))
            .then_with(|| a.dimension.cmp(&b.dimension))
            .then_with(|| a.value.cmp(&b.value))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn day0() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 2, 5).expect("date")
    }

    #[test]
    fn runs_become_events_and_the_last_one_is_ongoing() {
        let p = |flag: bool, e: f64| Point {
            expected: Some(e),
            z: if flag { 6.0 } else { 0.0 },
            score: if flag { 0.99 } else { 0.1 },
            flag,
        };
        let values = vec![
            Some(10.0),
            Some(30.0),
            None,
            Some(40.0),
            Some(10.0),
            Some(2.0),
        ];
        let points = vec![
            p(false, 10.0),
            p(true, 10.0),
            Point::default(),
            p(true, 10.0),
            p(false, 10.0),
            p(true, 10.0),
        ];
        let ev = events(&values, &points);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].range(), 1..4, "a gap does not split a run");
        assert_eq!((ev[0].actual, ev[0].expected), (70.0, 20.0));
        assert_eq!(ev[0].impact(), 50.0);
        assert_eq!(ev[0].impact_percent(), Some(250.0));
        assert!(!ev[0].ongoing);
        assert_eq!(ev[0].direction, Direction::Up);
        assert_eq!(ev[1].range(), 5..6);
        assert!(ev[1].ongoing);
        assert_eq!(ev[1].direction, Direction::Down);
    }

    #[test]
    fn root_causes_rank_children_by_their_dollars() {
        // Three accounts with flat spend; on days 100-102 one rises $500/day, one $100/day and
        // one falls $50/day, and a new account appears spending $30/day.
        let n = 110;
        let make = |base: f64, delta: f64| {
            Series::daily(
                day0(),
                (0..n).map(move |t| {
                    if (100..103).contains(&t) {
                        base + delta
                    } else {
                        base
                    }
                }),
            )
        };
        let children = vec![
            Child {
                dimension: "account".into(),
                value: "b".into(),
                series: make(200.0, 100.0),
            },
            Child {
                dimension: "account".into(),
                value: "a".into(),
                series: make(1000.0, 500.0),
            },
            Child {
                dimension: "account".into(),
                value: "c".into(),
                series: make(400.0, -50.0),
            },
            Child {
                dimension: "account".into(),
                value: "new".into(),
                series: make(0.0, 30.0),
            },
        ];
        let parent: Vec<f64> = (0..n)
            .map(|t| {
                children
                    .iter()
                    .map(|c| c.series.values[t].unwrap_or(0.0))
                    .sum()
            })
            .collect();
        let parent = Series::daily(day0(), parent);
        let cfg = DetectorConfig::default();
        let points = detect(&parent, &cfg);
        let ev = events(&parent.values, &points);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].range(), 100..103);
        assert!((ev[0].impact() - 3.0 * 580.0).abs() < 1e-6, "{:?}", ev[0]);
        let rc = root_causes(&ev[0], &children, &cfg);
        let got: Vec<(&str, f64)> = rc
            .iter()
            .map(|c| (c.value.as_str(), (c.contribution * 100.0).round() / 100.0))
            .collect();
        assert_eq!(
            got,
            vec![("a", 1500.0), ("b", 300.0), ("new", 90.0), ("c", -150.0)]
        );
        assert!((rc[0].share - 1500.0 / 1740.0).abs() < 1e-9);
        let total: f64 = rc.iter().map(|c| c.contribution).sum();
        assert!(
            (total - ev[0].impact()).abs() < 1e-6,
            "contributions add up"
        );
    }
}
