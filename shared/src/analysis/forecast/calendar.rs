//! Recurring day-of-month effects in daily series: a fee charged on the 1st, a batch on the last
//! day of the month. Cost series carry these commonly; a weekly model cannot represent them, and
//! treated as noise they inflate every interval. An effect is kept only when it recurs clearly in
//! most past months, so series without one are left alone.

use chrono::{Datelike, Duration, NaiveDateTime};

/// Which day of the month.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonthDay {
    /// The 1st.
    First,
    /// The last day.
    Last,
}

impl MonthDay {
    fn matches(self, t: NaiveDateTime) -> bool {
        match self {
            MonthDay::First => t.day() == 1,
            MonthDay::Last => (t + Duration::days(1)).day() == 1,
        }
    }

    /// `1st` or `last`.
    pub fn label(self) -> &'static str {
        match self {
            MonthDay::First => "1st",
            MonthDay::Last => "last day",
        }
    }
}

/// A detected effect: on matching days, `amount` is added to what the weekly model expects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DayEffect {
    /// The day.
    pub day: MonthDay,
    /// Additive amount, in the series' units (the median of the last three occurrences).
    pub amount: f64,
}

impl DayEffect {
    /// The amount at time `t` (zero on other days).
    pub fn at(&self, t: NaiveDateTime) -> f64 {
        if self.day.matches(t) {
            self.amount
        } else {
            0.0
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len();
    let (lo, m, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper = *m;
    if n % 2 == 1 {
        upper
    } else {
        let lower = lo.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        0.5 * (lower + upper)
    }
}

const FIRST: u8 = 1;
const LAST: u8 = 2;

/// Per daily slot from `start`: bit 1 on the 1st, bit 2 on a month's last day. Walking the
/// calendar once is much cheaper than a date computation per slot and question.
pub(crate) fn month_flags(start: NaiveDateTime, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut d = start.date();
    for _ in 0..n {
        let Some(next) = d.succ_opt() else { break };
        out.push(u8::from(d.day() == 1) * FIRST + u8::from(next.day() == 1) * LAST);
        d = next;
    }
    out.resize(n, 0);
    out
}

impl MonthDay {
    fn bit(self) -> u8 {
        match self {
            MonthDay::First => FIRST,
            MonthDay::Last => LAST,
        }
    }
}

/// The effects' amount per slot, from [`month_flags`].
pub(crate) fn effects_by_slot(effects: &[DayEffect], flags: &[u8]) -> Vec<f64> {
    flags
        .iter()
        .map(|f| {
            effects
                .iter()
                .filter(|e| f & e.day.bit() != 0)
                .map(|e| e.amount)
                .sum()
        })
        .collect()
}

/// Finds day-of-month effects in a daily series, given its [`month_flags`]. Needs three
/// occurrences.
pub(crate) fn detect(values: &[Option<f64>], flags: &[u8]) -> Vec<DayEffect> {
    let n = values.len().min(flags.len());
    let special = |i: usize| flags[i] != 0;
    // Typical day-to-day noise: median |y_t - y_{t-7}| over ordinary days.
    let mut diffs: Vec<f64> = (7..n)
        .filter(|&i| !special(i) && !special(i - 7))
        .filter_map(|i| Some((values[i]? - values[i - 7]?).abs()))
        .collect();
    let noise = median(&mut diffs);
    let mut out = Vec::new();
    for day in [MonthDay::First, MonthDay::Last] {
        let mut excess = Vec::new();
        for i in 0..n {
            if flags[i] & day.bit() == 0 {
                continue;
            }
            let Some(v) = values[i] else { continue };
            // Baseline: the median of the ordinary days within a week either side. The same
            // weekday a week away is in the window, and the median resists the weekend.
            let mut near: Vec<f64> = (i.saturating_sub(7)..(i + 8).min(n))
                .filter(|&j| j != i && !special(j))
                .filter_map(|j| values[j])
                .collect();
            if near.len() < 5 {
                continue;
            }
            excess.push(v - median(&mut near));
        }
        if excess.len() < 3 {
            continue;
        }
        let mut all = excess.clone();
        let med = median(&mut all);
        // Clear and recurring: the typical excess stands far above day-to-day noise, and at least
        // three quarters of the occurrences point the same way by more than half of it.
        let consistent = excess
            .iter()
            .filter(|e| e.signum() == med.signum() && e.abs() > 0.5 * med.abs())
            .count();
        if med.abs() > 3.0 * noise.max(f64::MIN_POSITIVE) && consistent * 4 >= excess.len() * 3 {
            let mut recent: Vec<f64> = excess.iter().rev().take(3).copied().collect();
            out.push(DayEffect {
                day,
                amount: median(&mut recent),
            });
        }
    }
    out
}

/// Σ of the effects at `t`.
pub(crate) fn effect_at(effects: &[DayEffect], t: NaiveDateTime) -> f64 {
    effects.iter().map(|e| e.at(t)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn start() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2024, 1, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("date")
    }

    #[test]
    fn a_fee_on_the_first_is_found_and_plain_series_are_left_alone() {
        let t0 = start();
        let fee: Vec<Option<f64>> = (0..200)
            .map(|i| {
                let t = t0 + Duration::days(i);
                let w = if i % 7 >= 5 { 60.0 } else { 100.0 };
                Some(w + if t.day() == 1 { 500.0 } else { 0.0 } + (i % 3) as f64)
            })
            .collect();
        let flags = month_flags(t0, fee.len());
        assert_eq!(flags[0], FIRST);
        assert_eq!(flags[30], LAST, "2024-01-31");
        let e = detect(&fee, &flags);
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].day, MonthDay::First);
        assert!((e[0].amount - 500.0).abs() < 45.0, "{e:?}");
        let plain: Vec<Option<f64>> = fee
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let t = t0 + Duration::days(i as i64);
                v.map(|v| if t.day() == 1 { v - 500.0 } else { v })
            })
            .collect();
        assert!(detect(&plain, &flags).is_empty());
    }
}
