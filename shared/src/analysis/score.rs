//! Scoring detectors and forecasters: window-level F1, false alerts per series-year, MASE and
//! prediction-interval coverage. Used by the benchmark tests and by each forecast's own backtest.

use std::ops::Range;

/// How a detector did over a set of labelled series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DetectionScore {
    /// Labelled windows.
    pub windows: usize,
    /// Windows with at least one alert inside (or within the slack after).
    pub detected: usize,
    /// Alert events: maximal runs of consecutive flagged slots.
    pub events: usize,
    /// Events that overlap no window.
    pub false_events: usize,
    /// Total length of the series, in years of 365 slots.
    pub series_years: f64,
}

impl DetectionScore {
    /// Detected windows ÷ windows.
    pub fn recall(&self) -> f64 {
        ratio(self.detected, self.windows)
    }

    /// True events ÷ events.
    pub fn precision(&self) -> f64 {
        ratio(self.events - self.false_events, self.events)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// False events per series-year.
    pub fn false_per_series_year(&self) -> f64 {
        if self.series_years == 0.0 {
            0.0
        } else {
            self.false_events as f64 / self.series_years
        }
    }

    /// Adds one series' result: its labels and the detector's flag per slot.
    ///
    /// An event counts as true when it overlaps a window extended by `slack` slots after its end
    /// (a detector may confirm a shift a day or two late).
    pub fn add(&mut self, labels: &[Range<usize>], flags: &[bool], slack: usize) {
        self.windows += labels.len();
        self.series_years += flags.len() as f64 / 365.0;
        let hit = |a: usize, b: usize| labels.iter().any(|w| a < w.end + slack && w.start < b);
        for w in labels {
            let end = (w.end + slack).min(flags.len());
            if flags
                .get(w.start..end)
                .is_some_and(|f| f.iter().any(|x| *x))
            {
                self.detected += 1;
            }
        }
        let mut i = 0;
        while i < flags.len() {
            if !flags[i] {
                i += 1;
                continue;
            }
            let start = i;
            while i < flags.len() && flags[i] {
                i += 1;
            }
            self.events += 1;
            if !hit(start, i) {
                self.false_events += 1;
            }
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Mean absolute scaled error of `forecast` against `actual`, scaled by the in-sample MAE of the
/// seasonal naive method with period `m` on `history`. `None` when the scale is zero (a constant
/// history) or the inputs are empty.
pub fn mase(actual: &[f64], forecast: &[f64], history: &[f64], m: usize) -> Option<f64> {
    if actual.is_empty() || actual.len() != forecast.len() || history.len() <= m || m == 0 {
        return None;
    }
    let scale = history
        .windows(m + 1)
        .map(|w| (w[m] - w[0]).abs())
        .sum::<f64>()
        / (history.len() - m) as f64;
    if scale <= 0.0 {
        return None;
    }
    let mae = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (a - f).abs())
        .sum::<f64>()
        / actual.len() as f64;
    Some(mae / scale)
}

/// Share of `actual` values inside `[lo, hi]`.
pub fn coverage(actual: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    if actual.is_empty() {
        return 1.0;
    }
    let inside = actual
        .iter()
        .zip(lo.iter().zip(hi))
        .filter(|(a, (l, h))| **l <= **a && **a <= **h)
        .count();
    inside as f64 / actual.len() as f64
}

/// The seasonal naive forecast: the last full season repeated.
pub fn seasonal_naive(history: &[f64], m: usize, horizon: usize) -> Vec<f64> {
    if history.len() < m || m == 0 {
        return vec![history.last().copied().unwrap_or(0.0); horizon];
    }
    let last = &history[history.len() - m..];
    (0..horizon).map(|h| last[h % m]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(start: usize, end: usize) -> Range<usize> {
        start..end
    }

    #[test]
    fn events_windows_and_slack() {
        let mut flags = vec![false; 365];
        flags[10] = true; // inside window 1
        flags[11] = true; // same event
        flags[52] = true; // within slack of window 2 (ends at 50)
        flags[200] = true; // false
        flags[300] = true; // false
        let mut s = DetectionScore::default();
        s.add(&[w(10, 12), w(40, 50), w(100, 101)], &flags, 3);
        assert_eq!(s.windows, 3);
        assert_eq!(s.detected, 2);
        assert_eq!(s.events, 4);
        assert_eq!(s.false_events, 2);
        assert!((s.precision() - 0.5).abs() < 1e-12);
        assert!((s.recall() - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.f1() - 4.0 / 7.0).abs() < 1e-12);
        assert!((s.false_per_series_year() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn mase_of_seasonal_naive_on_a_pure_season_is_zero() {
        let h: Vec<f64> = (0..28)
            .map(|i| [1.0, 2.0, 3.0, 4.0, 5.0, 0.5, 0.5][i % 7] + i as f64)
            .collect();
        let f = seasonal_naive(&h, 7, 7);
        assert_eq!(f, h[21..28].to_vec());
        // The in-sample scale is 7 (the trend over a week); an error of 7 everywhere is MASE 1.
        let actual: Vec<f64> = f.iter().map(|x| x + 7.0).collect();
        assert!((mase(&actual, &f, &h, 7).expect("scale") - 1.0).abs() < 1e-12);
        assert_eq!(mase(&actual, &f, &[1.0; 20], 7), None);
        assert!((coverage(&[1.0, 5.0], &[0.0, 0.0], &[2.0, 2.0]) - 0.5).abs() < 1e-12);
    }
}
