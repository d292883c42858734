//! The online detector: one pass over a series, one verdict per slot, each from data up to it.
//!
//! The model works on `y = ln(x + c)` (cost moves in percentages, not dollars), where `c` is a
//! tenth of the typical value seen while learning, so zeros stay finite and tiny values do not
//! dominate. In that space it is an additive robust Holt-Winters model:
//!
//! * a local level (and a damped trend) updated only by residuals clipped at `clip` robust standard
//!   deviations, so one outlier cannot drag it;
//! * one seasonal profile per period (a week for daily data; a day and a week for hourly data),
//!   both estimated from the learning period (two full weeks for hourly data);
//! * a robust scale (bias-corrected EWMA of clipped squared residuals);
//! * for daily data, calendar effects: the residuals of each day of the month (and of the last day
//!   of the month) are remembered, and a day that matches its own recurring effect (fees on the
//!   1st, month-end batches) is normal; listed holidays may run up to half below expectation.
//!
//! A slot whose standardized residual exceeds `z_threshold` is an outlier: it is not learned from.
//! When `shift_after` outliers in a row have the same sign the level is re-anchored to them, so a
//! persistent level shift stops alerting. Series that are mostly zero (more than 30 % zeros among
//! the last 28 observations) are judged differently: a zero is normal and a positive value is
//! compared with the recent positive values only.

use std::collections::VecDeque;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use statrs::function::erf::erfc;

use crate::analysis::series::{Series, Step};

/// Tuning of the detector. The defaults are for daily cost; [`DetectorConfig::machine`] is the
/// generic setting of `costkit anomaly detect`.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorConfig {
    /// |robust z| above which a slot is an outlier.
    pub z_threshold: f64,
    /// Minimum |actual - expected| for a flag, in the series' units (dollars for cost).
    pub min_impact: f64,
    /// Minimum |actual - expected| / expected for a flag (0.2 = 20 %).
    pub min_impact_ratio: f64,
    /// Observations before the first verdict; `None` picks `max(10, 3 × the shortest period)`.
    pub learning: Option<usize>,
    /// Consecutive same-sign outliers after which the level is re-anchored (a level shift is
    /// accepted as the new normal); `None` picks `max(4, period / 4)`.
    pub shift_after: Option<usize>,
    /// Learn recurring day-of-month effects (daily series only).
    pub calendar: bool,
    /// Days (month, day) on which spend may fall to half of normal without an alert (daily only).
    pub holidays: Vec<(u32, u32)>,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            z_threshold: 4.0,
            min_impact: 0.0,
            min_impact_ratio: 0.1,
            learning: None,
            shift_after: None,
            calendar: true,
            holidays: default_holidays(),
        }
    }
}

impl DetectorConfig {
    /// The setting of the machine CLI: no money threshold (values are not always money).
    pub fn machine() -> Self {
        DetectorConfig {
            min_impact: 0.0,
            ..DetectorConfig::default()
        }
    }
}

/// Dec 24-26, Dec 31 and Jan 1: the year-end days on which most companies' dev/test spend drops.
pub fn default_holidays() -> Vec<(u32, u32)> {
    vec![(12, 24), (12, 25), (12, 26), (12, 31), (1, 1)]
}

/// The detector's verdict on one slot.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    /// What the model expected, in the series' units (`None` during learning and in gaps).
    pub expected: Option<f64>,
    /// Robust standardized residual (signed; 0 during learning and in gaps).
    pub z: f64,
    /// `1 - p`, with `p` the two-sided normal tail probability of `z`: 0 is ordinary, near 1 is
    /// surprising. `z_threshold` 4 corresponds to 0.99994.
    pub score: f64,
    /// The slot is anomalous.
    pub flag: bool,
}

/// Two-sided normal tail complement of a standardized residual.
pub fn score_of(z: f64) -> f64 {
    1.0 - erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// Runs the detector over a whole series.
pub fn detect(series: &Series, cfg: &DetectorConfig) -> Vec<Point> {
    let mut d = Detector::new(series.start, series.step, cfg.clone());
    series.values.iter().map(|v| d.push(*v)).collect()
}

const CLIP: f64 = 2.5;
const ZERO_WINDOW: usize = 28;
const POSITIVE_WINDOW: usize = 30;
/// Positive values a mostly-zero series needs before a positive value can be judged.
const MIN_POSITIVES: usize = 8;
const CAL_HISTORY: usize = 3;
/// CUSUM allowance and decision interval, in robust standard deviations.
const CUSUM_K: f64 = 0.5;
const CUSUM_H: f64 = 6.0;

#[derive(Clone, Copy, Debug, Default)]
struct Cusum {
    sum: f64,
    resid: f64,
    n: usize,
}

/// A streaming detector: feed slots in order with [`Detector::push`]. Its answer for a slot never
/// depends on later slots, which is what makes verdicts stable as data arrives.
#[derive(Clone, Debug)]
pub struct Detector {
    cfg: DetectorConfig,
    start: NaiveDateTime,
    step: Step,
    periods: Vec<usize>,
    learning: usize,
    shift_after: usize,
    alpha: f64,
    beta: f64,
    phi: f64,
    gamma: f64,
    lambda: f64,
    kappa: f64,
    daily: bool,
    /// Index of the next slot.
    t: usize,
    /// Observations of the learning period: (slot, value).
    learn: Vec<(usize, f64)>,
    state: Option<State>,
}

#[derive(Clone, Debug)]
struct State {
    log: bool,
    c: f64,
    level: f64,
    trend: f64,
    sigma: f64,
    sigma_floor: f64,
    /// Seasonal profile of the shortest period.
    s1: Vec<f64>,
    /// Seasonal profile of the second period (hourly: the week).
    s2: Vec<f64>,
    run: Vec<f64>,
    /// One-sided CUSUMs of standardized residuals (up, down) with the residuals they hold.
    cusum: [Cusum; 2],
    /// Residual history per calendar key: days 1-31 (index 0-30) and last day of month (31).
    cal: Vec<VecDeque<f64>>,
    zeros: VecDeque<bool>,
    zero_count: usize,
    positives: VecDeque<f64>,
    /// Median and robust scale of `positives`, computed when first needed after a change.
    positives_stats: Option<(f64, f64)>,
}

impl State {
    fn positive_stats(&mut self) -> (f64, f64) {
        if let Some(st) = self.positives_stats {
            return st;
        }
        let v: Vec<f64> = self.positives.iter().copied().collect();
        let mut w = v.clone();
        let st = (median(&mut w), mad(&v));
        self.positives_stats = Some(st);
        st
    }

    fn push_positive(&mut self, ln_x: f64) {
        push_bounded(&mut self.positives, ln_x, POSITIVE_WINDOW);
        self.positives_stats = None;
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn mad(v: &[f64]) -> f64 {
    let mut w = v.to_vec();
    let m = median(&mut w);
    let mut d: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    1.4826 * median(&mut d)
}

/// `E[min(Z², c²)]` for a standard normal `Z`: the bias of a clipped variance estimate.
fn clipped_variance(c: f64) -> f64 {
    let phi = (-0.5 * c * c).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let inside = 1.0 - erfc(c / std::f64::consts::SQRT_2);
    inside - 2.0 * c * phi + c * c * (1.0 - inside)
}

fn smoothing(half_life: f64) -> f64 {
    1.0 - 0.5f64.powf(1.0 / half_life.max(1.0))
}

impl Detector {
    /// A detector for a series starting at `start` with spacing `step`.
    pub fn new(start: NaiveDateTime, step: Step, cfg: DetectorConfig) -> Detector {
        let periods = step.seasonal_periods();
        let m1 = periods.first().copied().unwrap_or(0);
        // Two full cycles of the longest period, so each seasonal profile is seen twice; at least
        // ten observations.
        let longest = periods.last().copied().unwrap_or(0);
        let auto = if periods.len() > 1 {
            2 * longest
        } else if step == Step::DAILY && cfg.calendar {
            // A month, so every day of the month (fees on the 1st, month-end jobs) is seen once.
            31
        } else {
            (3 * m1).max(10)
        };
        let learning = cfg.learning.unwrap_or(auto).max(3);
        let shift_after = cfg.shift_after.unwrap_or((m1 / 4).max(4)).max(2);
        let half = if m1 > 0 {
            (m1 as f64 / 2.0).max(3.0)
        } else {
            5.0
        };
        let alpha = smoothing(half);
        Detector {
            daily: step == Step::DAILY,
            start,
            step,
            periods,
            learning,
            shift_after,
            alpha,
            beta: alpha * alpha * 0.2,
            phi: 0.98,
            gamma: 0.15,
            lambda: smoothing(if m1 > 0 { 2.0 * m1 as f64 } else { 14.0 }),
            kappa: clipped_variance(CLIP),
            t: 0,
            learn: Vec::new(),
            state: None,
            cfg,
        }
    }

    /// Slots consumed so far.
    pub fn slots(&self) -> usize {
        self.t
    }

    fn date(&self, t: usize) -> NaiveDate {
        if self.daily {
            self.start.date() + chrono::Days::new(t as u64)
        } else {
            (self.start + Duration::seconds(self.step.0 * t as i64)).date()
        }
    }

    /// What the model expects at slot `t >= self.slots()` from the data seen so far (level,
    /// trend and seasonal profiles; for a mostly-zero series its mean). `None` while learning.
    pub fn expected_at(&self, t: usize) -> Option<f64> {
        let s = self.state.as_ref()?;
        if s.zero_count * 10 >= 3 * s.zeros.len() {
            let on = 1.0 - s.zero_count as f64 / s.zeros.len().max(1) as f64;
            let mut v: Vec<f64> = s.positives.iter().copied().collect();
            return Some(if v.is_empty() {
                0.0
            } else {
                on * median(&mut v).exp()
            });
        }
        let m1 = self.periods.first().copied().unwrap_or(1).max(1);
        let m2 = self.periods.get(1).copied().unwrap_or(1).max(1);
        let h = t.saturating_sub(self.t) + 1;
        let damp: f64 = (1..=h).map(|i| self.phi.powi(i as i32)).sum();
        let y = s.level + damp * s.trend + s.s1[t % m1] + s.s2[t % m2];
        Some(from_y(s.log, s.c, y))
    }

    /// Consumes the next slot and returns the verdict on it.
    pub fn push(&mut self, value: Option<f64>) -> Point {
        let t = self.t;
        self.t += 1;
        let Some(x) = value.filter(|v| v.is_finite()) else {
            if let Some(s) = &mut self.state {
                s.level += self.phi * s.trend;
                s.trend *= self.phi;
            }
            return Point::default();
        };
        if self.state.is_none() {
            self.learn.push((t, x));
            if self.learn.len() >= self.learning {
                self.init();
            }
            return Point::default();
        }
        self.step_state(t, x)
    }

    fn init(&mut self) {
        let learn = std::mem::take(&mut self.learn);
        let xs: Vec<f64> = learn.iter().map(|p| p.1).collect();
        let log = xs.iter().all(|x| *x >= 0.0);
        let mut pos: Vec<f64> = xs.iter().copied().filter(|x| *x > 0.0).collect();
        let typical = median(&mut pos);
        let c = if typical > 0.0 { 0.1 * typical } else { 1.0 };
        let ys: Vec<(usize, f64)> = learn.iter().map(|(t, x)| (*t, to_y(log, c, *x))).collect();
        let m1 = self.periods.first().copied().unwrap_or(1).max(1);
        let m2 = self.periods.get(1).copied().unwrap_or(1).max(1);

        let mut all: Vec<f64> = ys.iter().map(|p| p.1).collect();
        let center = median(&mut all);
        let mut s1 = vec![0.0; m1];
        if m1 > 1 {
            for (p, slot) in s1.iter_mut().enumerate() {
                let mut v: Vec<f64> = ys
                    .iter()
                    .filter(|(t, _)| t % m1 == p)
                    .map(|(_, y)| y - center)
                    .collect();
                *slot = median(&mut v);
            }
            center_profile(&mut s1);
        }
        // Scale from same-position differences one longest period apart (a fitted profile would
        // understate it, and shorter lags would mix weekdays with weekends).
        let by_slot: std::collections::HashMap<usize, f64> = ys.iter().copied().collect();
        let diffs_at = |lag: usize| -> Vec<f64> {
            ys.iter()
                .filter(|(t, _)| *t >= lag)
                .filter_map(|(t, y)| {
                    by_slot
                        .get(&(t - lag))
                        .map(|p| (y - p) / std::f64::consts::SQRT_2)
                })
                .collect()
        };
        let mut diffs = Vec::new();
        for lag in self.periods.iter().rev().copied().chain([1]) {
            diffs = diffs_at(lag);
            if diffs.len() >= 10 {
                break;
            }
        }
        let resid: Vec<f64> = ys.iter().map(|(t, y)| y - center - s1[t % m1]).collect();
        let sigma = if diffs.len() >= 5 {
            mad(&diffs)
        } else {
            1.5 * mad(&resid)
        };

        // The second profile holds what the first misses (weekends of hourly data): a position
        // gets an effect only when every week of learning shows a clear one of the same sign,
        // and the smallest of them, so neither noise nor a one-off outlier becomes a pattern.
        let mut s2 = vec![0.0; m2];
        if m2 > 1 {
            let mut by_pos: Vec<Vec<f64>> = vec![Vec::new(); m2];
            for (t, y) in &ys {
                by_pos[t % m2].push(y - center - s1[t % m1]);
            }
            let clear = 2.0 * sigma;
            for (slot, v) in s2.iter_mut().zip(&mut by_pos) {
                if v.len() >= 2 && (v.iter().all(|r| *r > clear) || v.iter().all(|r| *r < -clear)) {
                    *slot = if v.len() == 2 {
                        if v[0].abs() < v[1].abs() {
                            v[0]
                        } else {
                            v[1]
                        }
                    } else {
                        median(v)
                    };
                }
            }
            center_profile(&mut s2);
        }
        let season = |t: usize| s1[t % m1] + s2[t % m2];
        // The level at the end of learning: deseasonalized median of the last period.
        let tail = ys.len().saturating_sub(m1.max(5));
        let mut recent: Vec<f64> = ys[tail..].iter().map(|(t, y)| y - season(*t)).collect();
        let level = median(&mut recent);

        let sigma_floor = if log {
            0.01
        } else {
            let mut a: Vec<f64> = xs.clone();
            (0.01 * median(&mut a).abs()).max(0.05 * mad(&xs)).max(1e-9)
        };

        let mut cal = vec![VecDeque::new(); 32];
        if self.daily && self.cfg.calendar {
            for (t, y) in &ys {
                let (dom, last) = cal_keys(self.date(*t));
                let r = from_y(log, c, *y) - from_y(log, c, level + season(*t));
                for k in std::iter::once(dom).chain(last) {
                    push_bounded(&mut cal[k], r, CAL_HISTORY);
                }
            }
        }
        let mut zeros = VecDeque::new();
        let mut zero_count = 0;
        let mut positives = VecDeque::new();
        for x in &xs {
            push_zero(&mut zeros, &mut zero_count, *x <= 0.0);
            if *x > 0.0 {
                push_bounded(&mut positives, x.ln(), POSITIVE_WINDOW);
            }
        }
        self.state = Some(State {
            log,
            c,
            level,
            trend: 0.0,
            // A scale from a few weeks of data is uncertain; start on the cautious side and let
            // the running estimate take over.
            sigma: (1.25 * sigma).max(sigma_floor),
            sigma_floor,
            s1,
            s2,
            run: Vec::new(),
            cusum: [Cusum::default(); 2],
            cal,
            zeros,
            zero_count,
            positives,
            positives_stats: None,
        });
    }

    fn step_state(&mut self, t: usize, x: f64) -> Point {
        let date = self.daily.then(|| self.date(t));
        let holiday = date
            .map(|d| self.cfg.holidays.contains(&(d.month(), d.day())))
            .unwrap_or(false);
        let keys = date.filter(|_| self.cfg.calendar).map(cal_keys);
        let m1 = self.periods.first().copied().unwrap_or(1).max(1);
        let m2 = self.periods.get(1).copied().unwrap_or(1).max(1);
        let (phi, alpha, beta, gamma, lambda, kappa) = (
            self.phi,
            self.alpha,
            self.beta,
            self.gamma,
            self.lambda,
            self.kappa,
        );
        let thr = self.cfg.z_threshold;
        let shift_after = self.shift_after;
        let (min_impact, min_ratio) = (self.cfg.min_impact, self.cfg.min_impact_ratio);
        let Some(s) = self.state.as_mut() else {
            return Point::default();
        };

        push_zero(&mut s.zeros, &mut s.zero_count, x <= 0.0);
        let intermittent = s.zero_count * 10 >= 3 * s.zeros.len();
        let y = to_y(s.log, s.c, x);
        let sigma = s.sigma;
        let pred = s.level + phi * s.trend + s.s1[t % m1] + s.s2[t % m2];
        let e = y - pred;

        // The smallest |z| among the explanations: the base model, a recurring calendar effect,
        // a holiday.
        let mut z = e / sigma;
        let base_x = from_y(s.log, s.c, pred);
        let mut expected_x = base_x;
        let mut explained = false;
        if let Some((dom, last)) = keys {
            // Calendar effects are amounts (a fee is the same dollars on a quiet or a busy day),
            // judged on the scale of the day's noise in the same units.
            let (log, c) = (s.log, s.c);
            let noise = |v: f64| if log { sigma * (v + c) } else { sigma };
            let excess = x - base_x;
            for k in std::iter::once(dom).chain(last) {
                if let Some(effect) = calendar_effect(&s.cal[k], k == 0 || k == 31, base_x, noise) {
                    let zc = (excess - effect.0) / effect.1;
                    if zc.abs() < z.abs() {
                        z = zc;
                        expected_x = base_x + effect.0;
                        explained = true;
                    }
                }
            }
            for k in std::iter::once(dom).chain(last) {
                push_bounded(&mut s.cal[k], excess, CAL_HISTORY);
            }
        }
        if holiday && z < 0.0 {
            let tol = if s.log {
                std::f64::consts::LN_2
            } else {
                0.5 * pred.abs()
            };
            z = (z + tol / sigma).min(0.0);
            explained = true;
        }

        let (z, expected, outlier) = if intermittent {
            // Mostly-zero series: zeros are normal; a positive value is compared with recent
            // positive values only, and only a rise is anomalous.
            // The expected value is the mean: the chance of a positive day times a typical one.
            let on = 1.0 - s.zero_count as f64 / s.zeros.len().max(1) as f64;
            let n = s.positives.len();
            let (med, spread) = s.positive_stats();
            let typical = if n == 0 { 0.0 } else { on * med.exp() };
            if x <= 0.0 || n < MIN_POSITIVES {
                (0.0, typical, false)
            } else {
                let zp = (x.ln() - med) / spread.max(0.1);
                (zp, typical, zp > thr)
            }
        } else {
            (z, expected_x, z.abs() > thr)
        };
        if x > 0.0 && !(intermittent && outlier) {
            s.push_positive(x.ln());
        }

        // Learn. Outliers and explained days leave the base model alone; in a mostly-zero series
        // the zeros do too.
        let mut drift = false;
        let base_outlier = !intermittent && outlier || intermittent && e.abs() > thr * sigma;
        if explained || (intermittent && x <= 0.0) {
            s.level += phi * s.trend;
            s.trend *= phi;
            s.run.clear();
        } else if base_outlier {
            if s.run.first().is_some_and(|r| r.signum() != e.signum()) {
                s.run.clear();
            }
            s.run.push(e);
            s.level += phi * s.trend;
            s.trend *= phi;
            if s.run.len() >= shift_after {
                // A shift that persisted: accept the new level.
                s.level += median(&mut s.run);
                s.run.clear();
            }
        } else {
            s.run.clear();
            // A drift too slow for the outlier test (a ramp the level would follow) builds up in
            // the CUSUMs; when one fires, the level jumps to where the residuals have been.
            let zc = (e / sigma).clamp(-3.0, 3.0);
            for (i, sign) in [1.0, -1.0].into_iter().enumerate() {
                let c = &mut s.cusum[i];
                c.sum = (c.sum + sign * zc - CUSUM_K).max(0.0);
                if c.sum > 0.0 {
                    c.resid += e;
                    c.n += 1;
                } else {
                    *c = Cusum::default();
                }
                if c.sum > CUSUM_H && !intermittent {
                    drift = true;
                    s.level += c.resid / c.n.max(1) as f64;
                    s.cusum = [Cusum::default(); 2];
                    break;
                }
            }
            let ec = e.clamp(-CLIP * sigma, CLIP * sigma);
            s.level += phi * s.trend + alpha * ec;
            s.trend = phi * s.trend + beta * ec;
            s.s1[t % m1] += gamma * (1.0 - alpha) * ec;
            if m2 > 1 {
                s.s2[t % m2] += gamma * (1.0 - alpha) * ec;
            }
            let v = (1.0 - lambda) * sigma * sigma + lambda * ec * ec / kappa;
            s.sigma = v.sqrt().max(s.sigma_floor);
        }

        let impact = x - expected;
        let ratio = if expected.abs() > 0.0 {
            impact.abs() / expected.abs()
        } else {
            f64::INFINITY
        };
        let flag = (outlier || drift) && impact.abs() >= min_impact && ratio >= min_ratio;
        Point {
            expected: Some(expected),
            z,
            score: score_of(z),
            flag,
        }
    }
}

/// Calendar keys of a day: its day of month (0-30) and, on the last day, the month-end key (31).
fn cal_keys(d: NaiveDate) -> (usize, Option<usize>) {
    let last = (d + Duration::days(1)).day() == 1;
    (d.day0() as usize, last.then_some(31))
}

/// The recurring effect (an amount) of a calendar key and the scale to judge it on, when its
/// history shows one: on the 1st and the last day of the month (where fees and batch jobs land)
/// one clear occurrence suffices; other days need two of the last three, of the same sign.
/// `noise(v)` is the noise of a day whose expected value is `v` (proportional for cost).
fn calendar_effect(
    h: &VecDeque<f64>,
    prior: bool,
    base: f64,
    noise: impl Fn(f64) -> f64,
) -> Option<(f64, f64)> {
    let needed = if prior { 1 } else { 2 };
    if h.len() < needed {
        return None;
    }
    let mut buf = [0.0f64; CAL_HISTORY];
    let v = &mut buf[..h.len().min(CAL_HISTORY)];
    for (slot, r) in v.iter_mut().zip(h.iter()) {
        *slot = *r;
    }
    let med = median(v);
    let clear_above = 3.0 * noise(base);
    let clear = v
        .iter()
        .filter(|r| r.signum() == med.signum() && r.abs() > clear_above)
        .count();
    if clear < needed {
        return None;
    }
    // `median` sorted `v`.
    let spread = if v.len() >= 2 {
        (v[v.len() - 1] - v[0]) / 2.0
    } else {
        0.0
    };
    let day = noise((base + med).max(0.0));
    let scale = (day * day + (0.1 * med).powi(2) + spread * spread).sqrt();
    Some((med, scale))
}

fn center_profile(s: &mut [f64]) {
    let mean = s.iter().sum::<f64>() / s.len().max(1) as f64;
    for v in s {
        *v -= mean;
    }
}

fn to_y(log: bool, c: f64, x: f64) -> f64 {
    if log {
        (x.max(0.0) + c).ln()
    } else {
        x
    }
}

fn from_y(log: bool, c: f64, y: f64) -> f64 {
    if log {
        (y.exp() - c).max(0.0)
    } else {
        y
    }
}

fn push_bounded(q: &mut VecDeque<f64>, v: f64, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(v);
}

fn push_zero(q: &mut VecDeque<bool>, count: &mut usize, zero: bool) {
    if q.len() == ZERO_WINDOW {
        if let Some(true) = q.pop_front() {
            *count -= 1;
        }
    }
    q.push_back(zero);
    if zero {
        *count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    /// A small deterministic normal generator, so the tests need no RNG crate.
    struct Noise(u64);
    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    fn day0() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, 4).expect("date")
    }

    /// A weekday-heavy daily cost series around `level` with 5 % noise.
    fn daily(n: usize, level: f64, seed: u64) -> Vec<f64> {
        let mut r = Noise(seed);
        (0..n)
            .map(|t| {
                let w = if t % 7 >= 5 { 0.6 } else { 1.0 };
                (level * w * (0.05 * r.normal()).exp() * 100.0).round() / 100.0
            })
            .collect()
    }

    fn flags(values: &[f64], cfg: &DetectorConfig) -> Vec<bool> {
        detect(&Series::daily(day0(), values.iter().copied()), cfg)
            .iter()
            .map(|p| p.flag)
            .collect()
    }

    fn events(f: &[bool]) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < f.len() {
            if f[i] {
                let s = i;
                while i < f.len() && f[i] {
                    i += 1;
                }
                out.push(s..i);
            } else {
                i += 1;
            }
        }
        out
    }

    #[test]
    fn verdicts_on_a_prefix_equal_verdicts_on_the_whole_series() {
        let mut v = daily(200, 1000.0, 1);
        v[90] *= 4.0;
        for x in &mut v[150..] {
            *x *= 2.0;
        }
        let s = Series::daily(day0(), v.iter().copied());
        let full = detect(&s, &DetectorConfig::default());
        for cut in [40, 91, 120, 151, 155, 199] {
            let prefix = Series::daily(day0(), v[..cut].iter().copied());
            let part = detect(&prefix, &DetectorConfig::default());
            assert_eq!(part, full[..cut].to_vec(), "cut at {cut}");
        }
        assert!(full[90].flag, "the spike is found");
    }

    #[test]
    fn nothing_is_judged_during_learning() {
        let cfg = DetectorConfig::default();
        let mut v = daily(60, 500.0, 2);
        v[5] = 50_000.0;
        v[20] = 0.0;
        let p = detect(&Series::daily(day0(), v.iter().copied()), &cfg);
        // Daily cost learns a month (so every day of the month is seen once).
        assert!(p[..31].iter().all(|p| !p.flag && p.expected.is_none()));
        assert!(p[31].expected.is_some());
        let short = DetectorConfig {
            learning: Some(10),
            ..cfg
        };
        let p = detect(&Series::daily(day0(), v.iter().copied()), &short);
        assert!(p[..10].iter().all(|p| p.expected.is_none()));
        assert!(p[10].expected.is_some());
    }

    #[test]
    fn a_persistent_shift_alerts_then_becomes_normal() {
        let mut v = daily(240, 800.0, 3);
        for x in &mut v[120..] {
            *x *= 1.8;
        }
        let f = flags(&v, &DetectorConfig::default());
        let ev = events(&f);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].start, 120);
        assert!(ev[0].end <= 126, "{ev:?}");
        // A drop the same way.
        let mut v = daily(240, 800.0, 4);
        for x in &mut v[120..] {
            *x *= 0.4;
        }
        let ev = events(&flags(&v, &DetectorConfig::default()));
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].start, 120);
    }

    #[test]
    fn a_ramp_is_caught_while_it_climbs() {
        let mut v = daily(240, 800.0, 5);
        for (k, x) in v[120..].iter_mut().enumerate() {
            *x *= 1.0 + 1.0 * ((k + 1) as f64 / 20.0).min(1.0);
        }
        let ev = events(&flags(&v, &DetectorConfig::default()));
        assert!(!ev.is_empty());
        assert!(ev.iter().all(|e| e.start >= 120 && e.start < 143), "{ev:?}");
    }

    #[test]
    fn min_impact_and_ratio_hold_back_small_anomalies() {
        let mut v = daily(150, 100.0, 6);
        v[100] *= 1.5; // +$50: 8 robust sigmas of 5 % noise
        let base = DetectorConfig::default();
        assert!(flags(&v, &base)[100]);
        let dollars = DetectorConfig {
            min_impact: 60.0,
            ..base.clone()
        };
        assert!(!flags(&v, &dollars)[100]);
        let percent = DetectorConfig {
            min_impact_ratio: 0.6,
            ..base
        };
        assert!(!flags(&v, &percent)[100]);
    }

    #[test]
    fn recurring_month_start_fees_are_learned_and_a_one_off_is_not() {
        let mut v = daily(400, 300.0, 7);
        let d0 = day0();
        for (t, x) in v.iter_mut().enumerate() {
            if (d0 + Duration::days(t as i64)).day() == 1 {
                *x += 2000.0;
            }
        }
        let f = flags(&v, &DetectorConfig::default());
        let firsts: Vec<usize> = (0..400)
            .filter(|t| (d0 + Duration::days(*t as i64)).day() == 1)
            .collect();
        assert!(
            firsts.iter().all(|t| !f[*t]),
            "fees alert: {:?}",
            events(&f)
        );
        // A fee twice as large as usual is still anomalous.
        let last = firsts[firsts.len() - 1];
        v[last] += 4000.0;
        assert!(flags(&v, &DetectorConfig::default())[last]);
        // A one-off spike on the 10th does not teach the 10th to spike.
        let mut v = daily(400, 300.0, 8);
        let tenth: Vec<usize> = (0..400)
            .filter(|t| (d0 + Duration::days(*t as i64)).day() == 10)
            .collect();
        v[tenth[3]] *= 5.0;
        v[tenth[4]] *= 5.0;
        let f = flags(&v, &DetectorConfig::default());
        assert!(f[tenth[3]] && f[tenth[4]]);
    }

    #[test]
    fn zero_heavy_series_treat_zeros_as_normal_and_flag_big_positives() {
        let mut r = Noise(9);
        let mut v: Vec<f64> = (0..365)
            .map(|_| {
                if r.uniform() < 0.25 {
                    (40.0 * (0.4 * r.normal()).exp() * 100.0).round() / 100.0
                } else {
                    0.0
                }
            })
            .collect();
        v[200] = 900.0;
        let f = flags(&v, &DetectorConfig::default());
        assert!(f[200], "a 20x positive day is anomalous");
        let ev = events(&f);
        assert_eq!(
            ev.len(),
            1,
            "zeros and ordinary positives are normal: {ev:?}"
        );
    }

    #[test]
    fn hourly_series_with_daily_and_weekly_cycles() {
        // Business-hours traffic: high 9-17 on weekdays, low at night and all weekend.
        let mut r = Noise(10);
        let start = day0().and_time(NaiveTime::MIN);
        let n = 24 * 7 * 10;
        let mut v: Vec<f64> = (0..n)
            .map(|t| {
                let hour = t % 24;
                let weekend = (t / 24) % 7 >= 5;
                let base = if (9..17).contains(&hour) && !weekend {
                    200.0
                } else {
                    60.0
                };
                base * (0.08 * r.normal()).exp()
            })
            .collect();
        let spike = 24 * 7 * 5 + 24 * 2 + 3; // a Wednesday, 03:00
        v[spike] *= 3.0;
        let outage = 24 * 7 * 7 + 24 + 10; // a Tuesday, 10:00-13:00 near zero
        for x in &mut v[outage..outage + 3] {
            *x = 1.0;
        }
        let s = Series {
            start,
            step: Step::HOURLY,
            values: v.into_iter().map(Some).collect(),
        };
        let p = detect(&s, &DetectorConfig::machine());
        let f: Vec<bool> = p.iter().map(|p| p.flag).collect();
        // Two weeks of learning.
        assert!(p[..336].iter().all(|p| p.expected.is_none()));
        assert!(f[spike] && f[outage]);
        let ev = events(&f);
        assert!(ev.len() <= 4, "few alerts besides the two: {ev:?}");
    }

    #[test]
    fn gaps_keep_the_weekly_pattern_in_place() {
        let v = daily(120, 700.0, 11);
        let mut s = Series::daily(day0(), v.iter().copied());
        for t in [40, 41, 42, 60, 77] {
            s.values[t] = None;
        }
        let p = detect(&s, &DetectorConfig::default());
        assert!(
            p.iter().all(|p| !p.flag),
            "{:?}",
            events(&p.iter().map(|p| p.flag).collect::<Vec<_>>())
        );
        assert!(p[40].expected.is_none() && p[43].expected.is_some());
    }

    #[test]
    fn score_is_a_tail_probability() {
        assert!(score_of(0.0).abs() < 1e-12);
        assert!((score_of(1.959964) - 0.95).abs() < 1e-5);
        assert!((score_of(-4.0) - 0.999_936_6).abs() < 1e-6);
    }
}
