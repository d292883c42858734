//! Feedback on anomalies ("not an issue", "planned") and the rule that suppresses similar alerts.
//!
//! Similar means, precisely:
//!
//! * the same monitor;
//! * every dimension value the feedback names (for example `account: 111`) is among the alert's
//!   dimension values (its monitored scope plus its top root cause); a feedback naming none
//!   matches every alert of the monitor;
//! * `planned`: the alert starts inside the feedback's date range (both days included). Planned
//!   work is announced for a window; nothing outside it is suppressed;
//! * `not_an_issue`: the alert goes the same direction as the anomaly the feedback was given on,
//!   starts within [`NOT_AN_ISSUE_DAYS`] days after that anomaly ended, and its % impact is at
//!   most 1.5 × the acknowledged one's (when that was recorded): the same behaviour again is not
//!   news, a clearly bigger one is.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::events::Direction;

/// How long a "not an issue" verdict keeps similar alerts quiet, in days after the anomaly.
pub const NOT_AN_ISSUE_DAYS: i64 = 90;

/// What the user said about an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A false alarm: this behaviour is normal.
    NotAnIssue,
    /// Expected: a planned change (migration, load test, launch) in the given window.
    Planned,
}

/// One feedback record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// The verdict.
    pub verdict: Verdict,
    /// The monitor's name.
    pub monitor: String,
    /// Dimension values the feedback is about (`account: "111"`, `service: AmazonEC2`).
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// First day (the anomaly's, or the planned window's).
    pub start: NaiveDate,
    /// Last day, included.
    pub end: NaiveDate,
    /// The anomaly's direction (not_an_issue); `None` matches both.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// The acknowledged anomaly's % impact (not_an_issue), in absolute value.
    #[serde(default)]
    pub impact_percent: Option<f64>,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
}

/// What the suppression rule needs to know about an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertKey<'a> {
    /// Monitor name.
    pub monitor: &'a str,
    /// The alert's dimension values.
    pub dimensions: &'a BTreeMap<String, String>,
    /// First day of the anomaly.
    pub start: NaiveDate,
    /// Up or down.
    pub direction: Direction,
    /// % impact, when defined.
    pub impact_percent: Option<f64>,
}

impl Feedback {
    /// True when this feedback suppresses the alert (see the module docs for the rule).
    pub fn suppresses(&self, a: &AlertKey<'_>) -> bool {
        if self.monitor != a.monitor {
            return false;
        }
        if !self
            .dimensions
            .iter()
            .all(|(k, v)| a.dimensions.get(k) == Some(v))
        {
            return false;
        }
        match self.verdict {
            Verdict::Planned => self.start <= a.start && a.start <= self.end,
            Verdict::NotAnIssue => {
                let days_after = (a.start - self.end).num_days();
                let timely = a.start >= self.start && days_after <= NOT_AN_ISSUE_DAYS;
                let same_way = self.direction.is_none_or(|d| d == a.direction);
                let not_bigger = match (self.impact_percent, a.impact_percent) {
                    (Some(known), Some(now)) => now.abs() <= 1.5 * known.abs(),
                    _ => true,
                };
                timely && same_way && not_bigger
            }
        }
    }
}

/// The first feedback that suppresses the alert, if any.
pub fn suppressed_by<'f>(feedback: &'f [Feedback], a: &AlertKey<'_>) -> Option<&'f Feedback> {
    feedback.iter().find(|f| f.suppresses(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn dims(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn planned_suppresses_inside_its_window_only() {
        let f = Feedback {
            verdict: Verdict::Planned,
            monitor: "ec2".into(),
            dimensions: dims(&[("account", "111")]),
            start: d("2024-05-01"),
            end: d("2024-05-07"),
            direction: None,
            impact_percent: None,
            note: Some("load test".into()),
        };
        let alert_dims = dims(&[("account", "111"), ("region", "us-east-1")]);
        let key = |start: NaiveDate, monitor: &'static str| AlertKey {
            monitor,
            dimensions: &alert_dims,
            start,
            direction: Direction::Up,
            impact_percent: Some(300.0),
        };
        assert!(f.suppresses(&key(d("2024-05-01"), "ec2")));
        assert!(f.suppresses(&key(d("2024-05-07"), "ec2")));
        assert!(
            !f.suppresses(&key(d("2024-05-08"), "ec2")),
            "after the window"
        );
        assert!(!f.suppresses(&key(d("2024-04-30"), "ec2")), "before it");
        assert!(
            !f.suppresses(&key(d("2024-05-03"), "s3")),
            "another monitor"
        );
        let other = dims(&[("account", "222")]);
        let k = AlertKey {
            dimensions: &other,
            ..key(d("2024-05-03"), "ec2")
        };
        assert!(!f.suppresses(&k), "another account");
    }

    #[test]
    fn not_an_issue_suppresses_the_same_behaviour_but_not_a_bigger_one() {
        let f = Feedback {
            verdict: Verdict::NotAnIssue,
            monitor: "total".into(),
            dimensions: BTreeMap::new(),
            start: d("2024-03-10"),
            end: d("2024-03-11"),
            direction: Some(Direction::Up),
            impact_percent: Some(40.0),
            note: None,
        };
        let none = BTreeMap::new();
        let key = |start: &str, direction, pct| AlertKey {
            monitor: "total",
            dimensions: &none,
            start: d(start),
            direction,
            impact_percent: Some(pct),
        };
        assert!(f.suppresses(&key("2024-04-10", Direction::Up, 55.0)));
        assert!(
            f.suppresses(&key("2024-06-09", Direction::Up, 60.0)),
            "day 90"
        );
        assert!(
            !f.suppresses(&key("2024-06-10", Direction::Up, 60.0)),
            "day 91"
        );
        assert!(
            !f.suppresses(&key("2024-04-10", Direction::Up, 61.0)),
            "1.5x bigger"
        );
        assert!(
            !f.suppresses(&key("2024-04-10", Direction::Down, -30.0)),
            "other way"
        );
        assert!(
            !f.suppresses(&key("2024-03-01", Direction::Up, 30.0)),
            "earlier"
        );
        let list = [f.clone()];
        assert!(suppressed_by(&list, &key("2024-04-10", Direction::Up, 20.0)).is_some());
    }

    #[test]
    fn feedback_reads_from_yaml() {
        let y = "- verdict: not_an_issue\n  monitor: total\n  start: 2024-03-10\n  end: 2024-03-11\n  direction: up\n  impact_percent: 40\n- verdict: planned\n  monitor: ec2\n  dimensions: {account: '111'}\n  start: 2024-05-01\n  end: 2024-05-07\n";
        let f: Vec<Feedback> = serde_yaml_ng::from_str(y).expect("yaml");
        assert_eq!(f.len(), 2);
        assert_eq!(
            f[1].dimensions.get("account").map(String::as_str),
            Some("111")
        );
        assert_eq!(f[0].direction, Some(Direction::Up));
    }
}
