//! Forecasting with honest, self-measured uncertainty.
//!
//! [`forecast`] fits a few cheap candidate models to a [`Series`] and keeps the one that forecast
//! the series' own past best:
//!
//! * robust damped-trend Holt-Winters, per seasonal period of the step (a week for daily data, a
//!   day and a week for hourly data), on the raw values (additive) and, for positive series, on
//!   their logarithm (multiplicative). Innovations are Huber-clipped against a running error scale,
//!   so one spike barely moves the level while a lasting shift is followed within days;
//! * Croston's method with the Syntetos-Boylan correction, for zero-heavy (intermittent) series;
//! * for daily data, recurring day-of-month effects (a fee on the 1st, a month-end batch) are
//!   measured separately and added back (see [`calendar`]).
//!
//! Parameters come from small grids searched on one-step errors (no numerical optimiser). Each
//! candidate then runs once over the whole history as an online filter; at every origin of a
//! rolling grid its state has seen only the past, so its 1..H-step forecasts there are out of
//! sample. Those errors, divided by the model's running error scale at the origin, choose the
//! candidate (lowest mean absolute error) and give the prediction intervals: empirical quantiles
//! per horizon, not a normal assumption. The [`Backtest`] reported with each forecast repeats the
//! exercise on the last few non-overlapping windows, with intervals built only from errors that
//! were known at each window's origin.

pub mod calendar;
mod model;
pub mod totals;

use chrono::NaiveDateTime;
use thiserror::Error;

use super::score;
use super::series::{Series, Step};
use calendar::DayEffect;
use model::{Croston, Hw, HwParams, Model, Transform};

pub use totals::{period_totals, verdict, PeriodTotal, SpendForecast, Verdict, MAX_MASE};

/// One forecast slot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForecastPoint {
    /// The slot's timestamp.
    pub time: NaiveDateTime,
    /// Point forecast.
    pub value: f64,
    /// Lower bound of the 80 % prediction interval.
    pub lo80: f64,
    /// Upper bound of the 80 % prediction interval.
    pub hi80: f64,
    /// Lower bound of the 95 % prediction interval.
    pub lo95: f64,
    /// Upper bound of the 95 % prediction interval.
    pub hi95: f64,
}

/// How well the chosen method forecast the series' own recent past.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backtest {
    /// Non-overlapping windows at the end of the history, each forecast from its own origin.
    pub windows: usize,
    /// Slots per window.
    pub horizon: usize,
    /// Observed slots scored.
    pub points: usize,
    /// Mean over windows of the MASE (scaled by the in-sample seasonal naive error up to each
    /// origin); `None` when the history is constant.
    pub mase: Option<f64>,
    /// Share of actual values inside the 80 % intervals.
    pub coverage80: f64,
    /// Share inside the 95 % intervals.
    pub coverage95: f64,
}

/// A forecast with its method and its own backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct Forecast {
    /// The chosen method, in words (`holt-winters log, season 7, damped trend`).
    pub method: String,
    /// The series' step.
    pub step: Step,
    /// One point per slot after the last input slot.
    pub points: Vec<ForecastPoint>,
    /// The method's accuracy on the series' own history; `None` when too short to tell.
    pub backtest: Option<Backtest>,
    /// Day-of-month effects found and forecast (daily series only).
    pub day_effects: Vec<DayEffect>,
}

/// Why no forecast could be made.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ForecastError {
    /// Nothing observed.
    #[error("the series has no observations")]
    Empty,
    /// A horizon of zero.
    #[error("the horizon must be at least one step")]
    ZeroHorizon,
}

/// Forecasts `horizon` slots after the last slot of `series`, with 80 % and 95 % intervals and a
/// backtest of the chosen method.
pub fn forecast(series: &Series, horizon: usize) -> Result<Forecast, ForecastError> {
    let engine = Engine::fit(series, horizon)?;
    Ok(engine.forecast(horizon))
}

/// Windows in the reported backtest.
const REPORT_WINDOWS: usize = 3;
/// At most this many rolling origins per candidate (a stride keeps long series cheap).
const MAX_ORIGINS: usize = 100;
/// At most this many pooled errors per quantile estimate (a stride thins larger pools).
const MAX_POOL: usize = 200;
/// Fewer pooled errors than this at a horizon and the intervals fall back to a widened normal.
const MIN_ERRORS: usize = 30;
/// One-step errors in the recent error scale (at least two seasons).
const SCALE_WINDOW: usize = 28;

#[derive(Clone, Debug)]
struct Candidate {
    name: String,
    transform: Transform,
    model: Model,
    /// Smallest error scale used (a hundredth of the series' robust noise level), so scaled
    /// errors stay finite on constant stretches.
    floor: f64,
}

/// The scale errors are measured in: the median absolute one-step error over a recent window.
/// A median shrugs off the few large errors of a recent anomaly, which would otherwise widen every
/// interval for weeks after it.
struct RecentScale {
    buf: Vec<f64>,
    cap: usize,
    next: usize,
    scratch: Vec<f64>,
    floor: f64,
}

impl RecentScale {
    fn new(cap: usize, floor: f64) -> RecentScale {
        RecentScale {
            buf: Vec::with_capacity(cap),
            cap,
            next: 0,
            scratch: Vec::with_capacity(cap),
            floor,
        }
    }

    fn push(&mut self, e: f64) {
        if self.buf.len() < self.cap {
            self.buf.push(e.abs());
        } else {
            self.buf[self.next] = e.abs();
            self.next = (self.next + 1) % self.cap;
        }
    }

    fn get(&mut self) -> f64 {
        if self.buf.is_empty() {
            return self.floor.max(f64::MIN_POSITIVE);
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.buf);
        let mid = self.scratch.len() / 2;
        let (_, m, _) = self.scratch.select_nth_unstable_by(mid, f64::total_cmp);
        m.max(self.floor).max(f64::MIN_POSITIVE)
    }
}

/// Per-horizon quantiles of scaled errors: `q[h][k]` for `PROBS[k]`, `h` from 1.
#[derive(Clone, Debug)]
struct QTable {
    q: Vec<[f64; 5]>,
}

impl QTable {
    fn at(&self, h: usize) -> [f64; 5] {
        let last = self.q.len() - 1;
        if h <= last {
            return self.q[h];
        }
        // Beyond the backtested horizons, widen like a random walk: an assumption, stated in
        // docs/forecasting.md, not a measurement.
        let f = (h as f64 / last as f64).sqrt();
        let b = self.q[last];
        [b[0] * f, b[1] * f, b[2], b[3] * f, b[4] * f]
    }
}

/// A fitted forecaster: the chosen candidate run over the whole history.
#[derive(Clone, Debug)]
pub(crate) struct Engine {
    start: NaiveDateTime,
    step: Step,
    n: usize,
    /// Observed values with day effects removed (effect days are gaps for the model).
    z: Vec<Option<f64>>,
    /// Observed values as given.
    y: Vec<Option<f64>>,
    effects: Vec<DayEffect>,
    /// The effects' amount per history slot (empty without effects).
    eff: Vec<f64>,
    /// The lowest value a forecast or bound may take (see [`floor_of`]); `None` for series that
    /// are often negative.
    low: Option<f64>,
    chosen: Candidate,
    /// State after the last slot.
    state: Model,
    /// Error scale after the last slot.
    scale: f64,
    table: QTable,
    backtest: Option<Backtest>,
    /// First rolling origin.
    origin0: usize,
}

fn time_at(start: NaiveDateTime, step: Step, i: usize) -> NaiveDateTime {
    start + chrono::Duration::seconds(step.seconds() * i as i64)
}

/// The 2.5 %, 10 %, 50 %, 90 % and 97.5 % quantiles (nearest rank), by selection rather than a full sort: the median first,
/// then each tail quantile inside its half.
fn quantiles(v: &mut [f64]) -> [f64; 5] {
    let n = v.len();
    let rank = |p: f64| ((p * (n - 1) as f64).round() as usize).min(n - 1);
    let mid = rank(0.5);
    let (lo, m, hi) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let med = *m;
    let mut out = [0.0; 5];
    out[2] = med;
    for (k, p) in [(1usize, 0.10), (0, 0.025)] {
        let r = rank(p);
        out[k] = if r < lo.len() {
            *lo.select_nth_unstable_by(r, f64::total_cmp).1
        } else {
            med
        };
    }
    for (k, p) in [(3usize, 0.90), (4, 0.975)] {
        let r = rank(p);
        out[k] = if r > mid {
            *hi.select_nth_unstable_by(r - mid - 1, f64::total_cmp).1
        } else {
            med
        };
    }
    out
}

/// Per-horizon quantiles from scaled errors `errs[h]` = (target slot, error), using only targets
/// `<= max_target`. The intervals describe the series' normal behaviour, so errors at outliers and
/// across a level shift the filter accepted are left out: anomalies are the detector's business,
/// and counting them would widen every interval of a clean stretch. Neighbouring horizons are pooled (±15 %) at a geometric set of anchors and
/// interpolated between them; widths never shrink with the horizon.
fn quantile_table(ev: &Eval, max_target: usize, hb: usize, sigma1: f64) -> QTable {
    let mut anchors = vec![1usize];
    while let Some(&h) = anchors.last() {
        if h >= hb {
            break;
        }
        anchors.push(((h as f64 * 1.25).round() as usize).max(h + 1).min(hb));
    }
    let mut at_anchor: Vec<[f64; 5]> = Vec::with_capacity(anchors.len());
    let mut pool: Vec<f64> = Vec::new();
    // Outliers are left out only while they are rare; where they are common (an intermittent
    // series' spend days) they are the series' normal behaviour.
    let observed = ev.observed.max(1);
    let skip_outliers = ev.outlier.iter().filter(|o| **o).count() * 20 <= observed;
    for &a in &anchors {
        let lo = ((a as f64 / 1.15).round() as usize).max(1);
        let hi = ((a as f64 * 1.15).round() as usize).min(hb);
        pool.clear();
        for (h, e) in ev.errs.iter().enumerate().take(hi + 1).skip(lo) {
            pool.extend(
                e.iter()
                    .filter(|(t, _)| {
                        let t = *t as usize;
                        t <= max_target
                            && !(skip_outliers && ev.outlier[t])
                            && ev.shifts[t] == ev.shifts[t - h]
                    })
                    .map(|x| x.1),
            );
        }
        if pool.len() > MAX_POOL {
            let k = pool.len().div_ceil(MAX_POOL);
            let thinned: Vec<f64> = pool.iter().step_by(k).copied().collect();
            pool = thinned;
        }
        if pool.len() >= MIN_ERRORS {
            at_anchor.push(quantiles(&mut pool));
        } else {
            // Too few errors to measure: a normal with the one-step scale growing like a random
            // walk, widened by half for the uncertainty of not knowing.
            let s = 1.5 * sigma1 * (a as f64).sqrt();
            at_anchor.push([-1.96 * s, -1.2816 * s, 0.0, 1.2816 * s, 1.96 * s]);
        }
    }
    let mut q = vec![[0.0; 5]; hb + 1];
    for w in 0..anchors.len() {
        let (a, qa) = (anchors[w], at_anchor[w]);
        let (b, qb) = anchors
            .get(w + 1)
            .map(|b| (*b, at_anchor[w + 1]))
            .unwrap_or((a, qa));
        for (h, slot) in q.iter_mut().enumerate().take(b + 1).skip(a) {
            let f = if b > a {
                (h - a) as f64 / (b - a) as f64
            } else {
                0.0
            };
            for k in 0..5 {
                slot[k] = qa[k] + f * (qb[k] - qa[k]);
            }
        }
    }
    q[0] = q[1];
    for h in 2..=hb {
        let prev = q[h - 1];
        let cur = &mut q[h];
        cur[0] = cur[0].min(prev[0]);
        cur[1] = cur[1].min(prev[1]);
        cur[3] = cur[3].max(prev[3]);
        cur[4] = cur[4].max(prev[4]);
    }
    QTable { q }
}

/// Share of observed values that may be negative for a series to still count as a mostly
/// non-negative one (spend with the odd credit or refund).
const RARE_NEGATIVE: f64 = 0.05;

/// The lowest value forecasts and bounds of `obs` may take: 0 for a series that was never
/// negative; its lowest value for a series with rare negative values (spend with the odd credit:
/// a one-off credit is not a pattern to extrapolate, and an interval built from the errors of an
/// intermittent series would otherwise reach far below anything ever seen); `None` when negative
/// values are common (a genuinely signed series, left unbounded).
fn floor_of(obs: &[f64]) -> Option<f64> {
    let neg = obs.iter().filter(|v| **v < 0.0).count();
    if neg == 0 {
        Some(0.0)
    } else if (neg as f64) <= RARE_NEGATIVE * obs.len() as f64 {
        obs.iter().copied().reduce(f64::min)
    } else {
        None
    }
}

/// The five forecast values (2.5 %, 10 %, point, 90 %, 97.5 %) in the series' units.
fn bands(
    tr: Transform,
    pred: f64,
    scale: f64,
    q: [f64; 5],
    effect: f64,
    low: Option<f64>,
) -> [f64; 5] {
    let centre = pred + q[2] * scale;
    let mut out = [0.0; 5];
    for k in 0..5 {
        let z = if k == 2 { centre } else { pred + q[k] * scale };
        let v = tr.inv(z) + effect;
        out[k] = low.map_or(v, |l| v.max(l));
    }
    // Keep the point inside its intervals and the intervals nested.
    out[1] = out[1].min(out[2]);
    out[0] = out[0].min(out[1]);
    out[3] = out[3].max(out[2]);
    out[4] = out[4].max(out[3]);
    out
}

impl Engine {
    pub(crate) fn fit(series: &Series, horizon: usize) -> Result<Engine, ForecastError> {
        if horizon == 0 {
            return Err(ForecastError::ZeroHorizon);
        }
        let n = series.len();
        let obs: Vec<f64> = series.values.iter().flatten().copied().collect();
        if obs.is_empty() {
            return Err(ForecastError::Empty);
        }
        let nonneg = obs.iter().all(|v| *v >= 0.0);
        let low = floor_of(&obs);
        let zeros = obs.iter().filter(|v| **v == 0.0).count() as f64 / obs.len() as f64;
        let step = series.step;
        let effects = if step == Step::DAILY && n >= 90 {
            calendar::detect(&series.values, &calendar::month_flags(series.start, n))
        } else {
            Vec::new()
        };
        // The amount of the effects per slot; effect days are gaps for the models.
        let eff = if effects.is_empty() {
            Vec::new()
        } else {
            calendar::effects_by_slot(&effects, &calendar::month_flags(series.start, n))
        };
        let z: Vec<Option<f64>> = series
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| v.filter(|_| eff.get(i).is_none_or(|e| *e == 0.0)))
            .collect();
        let seasons: Vec<usize> = step
            .seasonal_periods()
            .into_iter()
            .filter(|m| n >= 3 * m && obs.len() >= 2 * m)
            .collect();
        let hb = horizon.min((n / 3).max(1));
        let hmax = horizon.max(hb) + 1;

        let mut transforms = vec![Transform::Raw];
        if nonneg && zeros <= 0.05 {
            let mut pos: Vec<f64> = obs.iter().copied().filter(|v| *v > 0.0).collect();
            if !pos.is_empty() {
                let mid = pos.len() / 2;
                let (_, med, _) = pos.select_nth_unstable_by(mid, f64::total_cmp);
                let offset = if zeros > 0.0 { 0.1 * *med } else { 0.0 };
                transforms.push(Transform::Log { offset });
            }
        }

        let mut cands: Vec<Candidate> = Vec::new();
        let periods: Vec<usize> = if seasons.is_empty() {
            vec![0]
        } else {
            seasons.clone()
        };
        let short = obs.len() < 4;
        for &tr in &transforms {
            let zt: Vec<Option<f64>> = z.iter().map(|v| v.map(|x| tr.fwd(x))).collect();
            for &m in &periods {
                let mut scale0 = model::robust_scale(&zt, m.max(1));
                if short {
                    // Nothing to measure the noise from: assume a fifth of the typical value.
                    let mean_abs = obs.iter().map(|v| v.abs()).sum::<f64>() / obs.len() as f64;
                    scale0 = scale0.max(0.2 * mean_abs);
                }
                let skip = if m > 0 { 2 * m } else { 3 };
                let p = if short {
                    HwParams {
                        alpha: 0.0,
                        beta: 0.0,
                        phi: 0.0,
                        gamma: 0.0,
                    }
                } else {
                    // Parameters from the recent past only: cheaper, and what matters for the
                    // forecast.
                    let fit_len = (6 * m).max(400);
                    model::fit_hw(&zt[n.saturating_sub(fit_len)..], m, scale0, skip)
                };
                let mut name = match tr {
                    Transform::Raw => "holt-winters additive".to_string(),
                    Transform::Log { .. } => "holt-winters multiplicative (log)".to_string(),
                };
                if m > 0 {
                    name.push_str(&format!(", season {m}"));
                }
                if p.beta > 0.0 {
                    name.push_str(", damped trend");
                }
                cands.push(Candidate {
                    name,
                    transform: tr,
                    model: Model::HoltWinters(Hw::init(&zt, m, p, scale0, hmax)),
                    floor: 0.01 * scale0,
                });
            }
            if short {
                break;
            }
        }
        if zeros >= 0.1 && !short {
            let scale0 = model::robust_scale(&z, 1);
            cands.push(Candidate {
                name: "croston-sba (intermittent)".to_string(),
                transform: Transform::Raw,
                model: Model::Croston(Croston::init(&z, 0.1, scale0)),
                floor: 0.01 * scale0,
            });
        }

        let warm = periods.iter().map(|m| 2 * m).max().unwrap_or(0).max(3);
        // Origins from the recent past only (about a year of daily data, four weeks of hourly):
        // errors long ago describe a series that may have changed since.
        let recent =
            n.saturating_sub(hb + (4 * periods.iter().max().copied().unwrap_or(0)).max(366));
        let origin0 = warm.max(n / 5).max(recent).min(n.saturating_sub(1));
        let span = n.saturating_sub(1 + origin0);
        let stride = span.div_ceil(MAX_ORIGINS).max(1);
        // Reported windows: the last REPORT_WINDOWS non-overlapping windows of `hr` slots, kept
        // only while enough earlier errors exist to build their intervals.
        let hr = hb;
        let mut report: Vec<usize> = Vec::new();
        for k in 1..=REPORT_WINDOWS {
            let Some(o) = n.checked_sub(1 + k * hr) else {
                break;
            };
            if o < origin0 + hr + 10 * stride {
                break;
            }
            report.push(o);
        }

        let mut best: Option<(f64, Candidate, Eval)> = None;
        for c in cands {
            let season = periods.iter().max().copied().unwrap_or(0);
            let ev = evaluate(&c, &z, series, &eff, origin0, stride, hb, &report, season);
            let score = if ev.count > 0 {
                ev.abs_sum / ev.count as f64
            } else {
                f64::INFINITY
            };
            if best.as_ref().is_none_or(|(s, _, _)| score < *s) {
                best = Some((score, c, ev));
            }
        }
        let (_, chosen, ev) = best.ok_or(ForecastError::Empty)?;

        let sigma1 = 1.25;
        let mut table = quantile_table(&ev, usize::MAX, hb, sigma1);
        if short {
            // Under four observations nothing can be measured: widen generously.
            for q in &mut table.q {
                for v in q.iter_mut() {
                    *v *= 2.0;
                }
            }
        }
        let backtest = report.last().map(|&oldest| {
            let rt = quantile_table(&ev, oldest, hb, sigma1);
            report_backtest(&chosen, series, &eff, low, &rt, &ev.at_report, &report, hr)
        });
        Ok(Engine {
            start: series.start,
            step,
            n,
            z,
            y: series.values.clone(),
            effects,
            eff,
            low,
            chosen,
            state: ev.final_state,
            scale: ev.final_scale,
            table,
            backtest: backtest.flatten(),
            origin0,
        })
    }

    fn time(&self, i: usize) -> NaiveDateTime {
        time_at(self.start, self.step, i)
    }

    /// The forecast for slots `n .. n + horizon`.
    pub(crate) fn forecast(&self, horizon: usize) -> Forecast {
        let tr = self.chosen.transform;
        let last = self.n - 1;
        let scale = self.scale;
        let points = (1..=horizon)
            .map(|h| {
                let t = self.time(last + h);
                let b = bands(
                    tr,
                    self.state.predict(last, h),
                    scale,
                    self.table.at(h),
                    calendar::effect_at(&self.effects, t),
                    self.low,
                );
                ForecastPoint {
                    time: t,
                    value: b[2],
                    lo80: b[1],
                    hi80: b[3],
                    lo95: b[0],
                    hi95: b[4],
                }
            })
            .collect();
        Forecast {
            method: self.chosen.name.clone(),
            step: self.step,
            points,
            backtest: self.backtest,
            day_effects: self.effects.clone(),
        }
    }

    /// The model's own forecasts for slots `n .. n + horizon`, without the median correction the
    /// published points get: sums of these, corrected by the measured bias of sums, estimate
    /// expected totals (an intermittent series' median day is zero, its expected day is not).
    pub(crate) fn mean_path(&self, horizon: usize) -> Vec<f64> {
        let tr = self.chosen.transform;
        let last = self.n - 1;
        (1..=horizon)
            .map(|h| {
                let e = calendar::effect_at(&self.effects, self.time(last + h));
                let v = tr.inv(self.state.predict(last, h)) + e;
                self.low.map_or(v, |l| v.max(l))
            })
            .collect()
    }

    /// Trimmed mean (of the central 80 %) and quantiles (2.5 %, 10 %, 50 %, 90 %, 97.5 %) of the relative error of the sum of the next
    /// `len` slots, `Σ actual ÷ Σ forecast − 1`, measured at rolling origins of the history. `None`
    /// when no origin has `len` slots after it, the sums are not positive or the series is often
    /// negative (a ratio of sums means nothing there).
    pub(crate) fn total_error_quantiles(&self, len: usize) -> Option<(f64, [f64; 5])> {
        let low = self.low?;
        if len == 0 {
            return None;
        }
        let tr = self.chosen.transform;
        let last_origin = self.n.checked_sub(1 + len)?;
        if last_origin < self.origin0 {
            return None;
        }
        let stride = ((last_origin - self.origin0) / 60).max(1);
        let mut m = self.chosen.model.clone();
        let mut rel = Vec::new();
        for t in 0..=last_origin {
            m.update(t, self.z[t].map(|x| tr.fwd(x)));
            if t < self.origin0 || !(last_origin - t).is_multiple_of(stride) {
                continue;
            }
            let (mut sa, mut sf) = (0.0, 0.0);
            let mut complete = true;
            for h in 1..=len {
                let Some(a) = self.y[t + h] else {
                    complete = false;
                    break;
                };
                let f = (tr.inv(m.predict(t, h)) + self.eff.get(t + h).copied().unwrap_or(0.0))
                    .max(low);
                sa += a;
                sf += f;
            }
            if complete && sf > 0.0 {
                rel.push(sa / sf - 1.0);
            }
        }
        if rel.len() < 8 {
            return None;
        }
        let q = quantiles(&mut rel);
        // The mean of the central 80 %: heavy tails (a month that held a one-off purchase) must
        // not drag the correction of the expected sum to the edge of its own range.
        let inner: Vec<f64> = rel
            .iter()
            .copied()
            .filter(|r| q[1] <= *r && *r <= q[3])
            .collect();
        let mean = inner.iter().sum::<f64>() / inner.len().max(1) as f64;
        Some((mean, q))
    }
}

/// What one candidate's pass over the history produced.
struct Eval {
    /// Σ |actual − forecast| in the series' units over all (origin, horizon) pairs.
    abs_sum: f64,
    count: usize,
    /// Scaled transformed-space errors per horizon (index 0 unused).
    errs: Vec<Vec<(u32, f64)>>,
    /// At each reported origin: the transformed predictions for 1..=hr and the scale.
    at_report: Vec<(Vec<f64>, f64)>,
    /// Slots whose value the model clipped as an outlier.
    outlier: Vec<bool>,
    /// Level shifts accepted up to each slot.
    shifts: Vec<u32>,
    /// Observed slots.
    observed: usize,
    final_state: Model,
    final_scale: f64,
}

#[allow(clippy::too_many_arguments)]
fn evaluate(
    c: &Candidate,
    z: &[Option<f64>],
    series: &Series,
    eff: &[f64],
    origin0: usize,
    stride: usize,
    hb: usize,
    report: &[usize],
    season: usize,
) -> Eval {
    let n = z.len();
    let tr = c.transform;
    let zt: Vec<Option<f64>> = z.iter().map(|v| v.map(|x| tr.fwd(x))).collect();
    // The value the model should have predicted at each slot: the observation less its day effect.
    let target: Vec<Option<f64>> = series
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| v.map(|x| tr.fwd(x - eff.get(i).copied().unwrap_or(0.0))))
        .collect();
    let mut m = c.model.clone();
    let mut errs: Vec<Vec<(u32, f64)>> = vec![Vec::new(); hb + 1];
    let mut abs_sum = 0.0;
    let mut count = 0usize;
    let mut at_report = vec![(Vec::new(), 0.0); report.len()];
    let mut outlier = vec![false; n];
    let mut shifts = vec![0u32; n];
    let mut observed = 0usize;
    let mut rs = RecentScale::new(SCALE_WINDOW.max(2 * season), c.floor);
    for t in 0..n {
        if let Some((e, out)) = m.update(t, zt[t]) {
            outlier[t] = out;
            observed += 1;
            rs.push(e);
        }
        shifts[t] = m.shifts();
        if let Some(k) = report.iter().position(|&o| o == t) {
            at_report[k] = ((1..=hb).map(|h| m.predict(t, h)).collect(), rs.get());
        }
        if t < origin0 || !(n - 1 - t).is_multiple_of(stride) {
            continue;
        }
        let scale = rs.get();
        for h in 1..=hb.min(n - 1 - t) {
            let Some(a) = target[t + h] else { continue };
            let p = m.predict(t, h);
            errs[h].push(((t + h) as u32, (a - p) / scale));
            if let Some(y) = series.values[t + h] {
                let e = eff.get(t + h).copied().unwrap_or(0.0);
                abs_sum += (y - tr.inv(p) - e).abs();
                count += 1;
            }
        }
    }
    Eval {
        abs_sum,
        count,
        errs,
        at_report,
        outlier,
        shifts,
        observed,
        final_state: m,
        final_scale: rs.get(),
    }
}

#[allow(clippy::too_many_arguments)]
fn report_backtest(
    c: &Candidate,
    series: &Series,
    eff: &[f64],
    low: Option<f64>,
    table: &QTable,
    at_report: &[(Vec<f64>, f64)],
    report: &[usize],
    hr: usize,
) -> Option<Backtest> {
    let m = series
        .step
        .season()
        .filter(|m| series.len() > 2 * m)
        .unwrap_or(1);
    let mut mases = Vec::new();
    let (mut points, mut in80, mut in95) = (0usize, 0usize, 0usize);
    for (k, &o) in report.iter().enumerate() {
        let (preds, scale) = &at_report[k];
        let history: Vec<f64> = series.values[..=o].iter().flatten().copied().collect();
        let mut actual = Vec::new();
        let mut fc = Vec::new();
        for h in 1..=hr {
            let Some(a) = series.values.get(o + h).copied().flatten() else {
                continue;
            };
            let b = bands(
                c.transform,
                preds[h - 1],
                *scale,
                table.at(h),
                eff.get(o + h).copied().unwrap_or(0.0),
                low,
            );
            actual.push(a);
            fc.push(b[2]);
            points += 1;
            in80 += usize::from(b[1] <= a && a <= b[3]);
            in95 += usize::from(b[0] <= a && a <= b[4]);
        }
        if let Some(v) = score::mase(&actual, &fc, &history, m) {
            mases.push(v);
        }
    }
    if points == 0 {
        return None;
    }
    Some(Backtest {
        windows: report.len(),
        horizon: hr,
        points,
        mase: (!mases.is_empty()).then(|| mases.iter().sum::<f64>() / mases.len() as f64),
        coverage80: in80 as f64 / points as f64,
        coverage95: in95 as f64 / points as f64,
    })
}

#[cfg(test)]
mod tests;
