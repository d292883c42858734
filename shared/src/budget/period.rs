//! Budget periods: which window `now` falls in, and the one before it.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::config::PeriodSpec;

/// One budget period: the UTC days `start..end` (end exclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// First day.
    pub start: NaiveDate,
    /// The day after the last day.
    pub end: NaiveDate,
    /// `2024-09`, `2024-Q3`, `2024`, or `2024-09-01..2024-11-30` for a custom window; part of the
    /// alert-state key, so alerts reset when it changes.
    pub label: String,
}

impl Period {
    /// Number of days in the period.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }

    /// True when `day` is in the period.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.start <= day && day < self.end
    }

    /// The first day of each calendar month starting inside the period.
    pub fn months(&self) -> Vec<(i32, u32)> {
        let mut out = Vec::new();
        let mut d = first_of_month(self.start);
        if d < self.start {
            d = add_months(d, 1);
        }
        while d < self.end {
            out.push((d.year(), d.month()));
            d = add_months(d, 1);
        }
        out
    }
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// `d` (a month's first day) moved by `n` months.
fn add_months(d: NaiveDate, n: i32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + n;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1).unwrap_or(d)
}

fn month_period(start: NaiveDate, months: i32, label: String) -> Period {
    Period {
        start,
        end: add_months(start, months),
        label,
    }
}

/// The period of `spec` that contains `day`. A custom window is returned whatever `day` is (before
/// it nothing is spent yet; after it, the window is complete).
pub fn period_at(spec: &PeriodSpec, day: NaiveDate) -> Period {
    let (y, m) = (day.year(), day.month());
    match *spec {
        PeriodSpec::Monthly => month_period(
            NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(day),
            1,
            format!("{y}-{m:02}"),
        ),
        PeriodSpec::Quarterly => {
            let q = (m - 1) / 3;
            month_period(
                NaiveDate::from_ymd_opt(y, q * 3 + 1, 1).unwrap_or(day),
                3,
                format!("{y}-Q{}", q + 1),
            )
        }
        PeriodSpec::Annual => month_period(
            NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or(day),
            12,
            format!("{y}"),
        ),
        PeriodSpec::Custom { start, end } => custom(start, end + Duration::days(1)),
    }
}

fn custom(start: NaiveDate, end_exclusive: NaiveDate) -> Period {
    Period {
        start,
        end: end_exclusive,
        label: format!("{start}..{}", end_exclusive - Duration::days(1)),
    }
}

/// The period before `p`: the previous month, quarter or year, or for a custom window the window
/// of the same length that ends where it starts.
pub fn previous_period(spec: &PeriodSpec, p: &Period) -> Period {
    match spec {
        PeriodSpec::Custom { .. } => custom(p.start - Duration::days(p.days()), p.start),
        _ => period_at(spec, p.start - Duration::days(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect(s)
    }

    #[test]
    fn calendar_periods_and_their_predecessors() {
        let q = period_at(&PeriodSpec::Quarterly, d("2024-11-15"));
        assert_eq!((q.start, q.end), (d("2024-10-01"), d("2025-01-01")));
        assert_eq!(q.label, "2024-Q4");
        assert_eq!(q.days(), 92);
        let pq = previous_period(&PeriodSpec::Quarterly, &q);
        assert_eq!(
            (pq.start, pq.end, pq.label.as_str()),
            (d("2024-07-01"), d("2024-10-01"), "2024-Q3")
        );
        let m = period_at(&PeriodSpec::Monthly, d("2024-01-31"));
        let pm = previous_period(&PeriodSpec::Monthly, &m);
        assert_eq!(
            (pm.start, pm.end, pm.label.as_str()),
            (d("2023-12-01"), d("2024-01-01"), "2023-12")
        );
        let a = period_at(&PeriodSpec::Annual, d("2024-02-29"));
        assert_eq!((a.days(), a.label.as_str()), (366, "2024"));
        assert_eq!(a.months().len(), 12);
    }

    #[test]
    fn custom_window_includes_its_end_day() {
        let spec = PeriodSpec::Custom {
            start: d("2024-09-10"),
            end: d("2024-09-19"),
        };
        let p = period_at(&spec, d("2025-01-01"));
        assert_eq!(p.days(), 10);
        assert!(p.contains(d("2024-09-19")) && !p.contains(d("2024-09-20")));
        assert_eq!(p.label, "2024-09-10..2024-09-19");
        let prev = previous_period(&spec, &p);
        assert_eq!((prev.start, prev.end), (d("2024-08-31"), d("2024-09-10")));
        assert!(p.months().is_empty(), "no month starts inside 09-10..09-19");
    }
}
