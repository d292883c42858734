//! The candidate models: robust damped Holt-Winters (in raw or log space, per seasonal period)
//! and Croston's method with the Syntetos-Boylan correction for intermittent series.
//!
//! Every model is an online filter: `update` consumes one slot (a gap is `None` and only moves
//! the state forward), `predict` gives the `h`-step-ahead value from the current state. Running
//! one filter over the history therefore yields honest out-of-sample forecasts at every origin in
//! a single pass: the state at slot `t` has seen nothing after `t`.

/// How values are transformed before modelling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Transform {
    /// As given: additive seasonality and errors.
    Raw,
    /// `ln(y + offset)`: multiplicative seasonality and errors proportional to the level.
    Log {
        /// Added before taking the log, so rare zeros stay finite.
        offset: f64,
    },
}

impl Transform {
    pub(crate) fn fwd(self, y: f64) -> f64 {
        match self {
            Transform::Raw => y,
            Transform::Log { offset } => (y + offset).max(f64::MIN_POSITIVE).ln(),
        }
    }

    pub(crate) fn inv(self, z: f64) -> f64 {
        match self {
            Transform::Raw => z,
            // Clamp so a wild state cannot overflow to infinity.
            Transform::Log { offset } => z.min(700.0).exp() - offset,
        }
    }
}

/// Huber bound on innovations, in units of the running error scale: larger errors move the
/// state as if they were this large, so one spike cannot drag the level.
const CLIP: f64 = 3.0;
/// Errors above this many scales count as this many when updating the scale itself.
const SCALE_CLIP: f64 = 4.0;
/// Smoothing of the running error scale.
const SCALE_RATE: f64 = 0.05;
/// This many consecutive outliers on the same side are a level shift, not outliers: the level
/// moves to them at once instead of creeping there at the clipped rate.
const SHIFT_RUN: u32 = 4;

/// Smoothing parameters of Holt-Winters in error-correction form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HwParams {
    pub alpha: f64,
    pub beta: f64,
    pub phi: f64,
    pub gamma: f64,
}

/// Robust damped-trend Holt-Winters state.
#[derive(Clone, Debug)]
pub(crate) struct Hw {
    pub m: usize,
    pub p: HwParams,
    pub level: f64,
    pub trend: f64,
    pub season: Vec<f64>,
    pub scale: f64,
    /// `damp[h]` = φ + φ² + … + φʰ.
    damp: Vec<f64>,
    /// The slot the next `update` expects and its seasonal position (saves a division per step).
    next: usize,
    pos: usize,
    /// The current run of same-side outliers: side, length, Σ deseasonalised values.
    run_side: bool,
    run_len: u32,
    run_level: f64,
    /// Level shifts accepted so far.
    pub shifts: u32,
}

impl Hw {
    /// Initial state from the first two seasons (or the first few values without a season).
    /// `scale0` is a robust guess of the one-step error size.
    pub(crate) fn init(z: &[Option<f64>], m: usize, p: HwParams, scale0: f64, hmax: usize) -> Hw {
        let span = if m > 0 { (2 * m).min(z.len()) } else { 0 };
        let mut season = vec![0.0; m];
        let level;
        if m > 0 {
            // Per-position mean over the first two seasons, minus the overall mean.
            let mut sum = vec![0.0; m];
            let mut cnt = vec![0usize; m];
            for (t, v) in z[..span].iter().enumerate() {
                if let Some(v) = v {
                    sum[t % m] += v;
                    cnt[t % m] += 1;
                }
            }
            let (tot, n) = sum
                .iter()
                .zip(&cnt)
                .filter(|(_, c)| **c > 0)
                .fold((0.0, 0usize), |(a, b), (s, c)| (a + s / *c as f64, b + 1));
            let mean = if n > 0 { tot / n as f64 } else { 0.0 };
            for i in 0..m {
                if cnt[i] > 0 {
                    season[i] = sum[i] / cnt[i] as f64 - mean;
                }
            }
            level = mean;
        } else {
            let first: Vec<f64> = z.iter().flatten().take(3).copied().collect();
            level = if first.is_empty() {
                0.0
            } else {
                first.iter().sum::<f64>() / first.len() as f64
            };
        }
        let mut damp = Vec::with_capacity(hmax + 1);
        let mut acc = 0.0;
        let mut pw = 1.0;
        damp.push(0.0);
        for _ in 0..hmax {
            pw *= p.phi;
            acc += pw;
            damp.push(acc);
        }
        Hw {
            m,
            p,
            level,
            trend: 0.0,
            season,
            scale: scale0,
            damp,
            next: 0,
            pos: 0,
            run_side: false,
            run_len: 0,
            run_level: 0.0,
            shifts: 0,
        }
    }

    #[inline]
    fn seas(&self, t: usize) -> f64 {
        if self.m > 0 {
            self.season[t % self.m]
        } else {
            0.0
        }
    }

    /// Consumes slot `t` (slots come in order); returns the one-step error (before clipping), if
    /// observed, and whether it was clipped.
    #[inline]
    pub(crate) fn update(&mut self, t: usize, z: Option<f64>) -> Option<(f64, bool)> {
        if t != self.next {
            self.pos = if self.m > 0 { t % self.m } else { 0 };
        }
        let pos = self.pos;
        self.next = t + 1;
        self.pos += 1;
        if self.pos == self.m {
            self.pos = 0;
        }
        let p = self.p;
        let base = self.level + p.phi * self.trend;
        let Some(z) = z else {
            self.level = base;
            self.trend *= p.phi;
            return None;
        };
        let s = if self.m > 0 { self.season[pos] } else { 0.0 };
        let e = z - base - s;
        let bound = CLIP * self.scale;
        let ec = e.clamp(-bound, bound);
        self.level = base + p.alpha * ec;
        self.trend = p.phi * self.trend + p.beta * ec;
        if self.m > 0 {
            self.season[pos] += p.gamma * (1.0 - p.alpha) * ec;
        }
        let clipped = e != ec;
        if clipped {
            let side = e > 0.0;
            if self.run_len == 0 || side != self.run_side {
                self.run_side = side;
                self.run_len = 0;
                self.run_level = 0.0;
            }
            self.run_len += 1;
            self.run_level += z - s;
            if self.run_len >= SHIFT_RUN {
                self.level = self.run_level / f64::from(self.run_len);
                self.trend = 0.0;
                self.run_len = 0;
                self.shifts += 1;
            }
        } else {
            self.run_len = 0;
        }
        let a = e.abs().min(SCALE_CLIP * self.scale);
        self.scale += SCALE_RATE * (a - self.scale);
        // A scale of exactly zero (a constant stretch) would freeze the filter.
        if self.scale <= 0.0 {
            self.scale = f64::MIN_POSITIVE;
        }
        Some((e, clipped))
    }

    /// The value `h` steps after slot `t`, from the state after `t`.
    #[inline]
    pub(crate) fn predict(&self, t: usize, h: usize) -> f64 {
        let d = self
            .damp
            .get(h)
            .copied()
            .unwrap_or_else(|| *self.damp.last().unwrap_or(&0.0));
        self.level + d * self.trend + self.seas(t + h)
    }
}

/// Mean Huber-clipped one-step error of a parameter set, skipping the initialisation span.
pub(crate) fn hw_loss(z: &[Option<f64>], m: usize, p: HwParams, scale0: f64, skip: usize) -> f64 {
    let mut hw = Hw::init(z, m, p, scale0, 0);
    let cap = 3.0 * scale0;
    let mut sum = 0.0;
    let mut n = 0usize;
    for (t, v) in z.iter().enumerate() {
        if let Some((e, _)) = hw.update(t, *v) {
            if t >= skip {
                sum += e.abs().min(cap);
                n += 1;
            }
        }
    }
    if n == 0 {
        f64::INFINITY
    } else {
        sum / n as f64
    }
}

const ALPHAS: [f64; 5] = [0.04, 0.1, 0.2, 0.4, 0.7];
const GAMMAS: [f64; 3] = [0.02, 0.1, 0.3];
/// (β, φ): no trend, then two damped trends.
const TRENDS: [(f64, f64); 3] = [(0.0, 0.0), (0.005, 0.97), (0.03, 0.9)];

/// Chooses parameters by coordinate descent over small grids (α, then γ, then the trend, then the
/// neighbours of α again): at most 13 filter passes instead of the full 45-point grid.
pub(crate) fn fit_hw(z: &[Option<f64>], m: usize, scale0: f64, skip: usize) -> HwParams {
    let mut p = HwParams {
        alpha: 0.15,
        beta: 0.0,
        phi: 0.0,
        gamma: if m > 0 { 0.05 } else { 0.0 },
    };
    let mut best = hw_loss(z, m, p, scale0, skip);
    let try_set = |p: &mut HwParams, best: &mut f64, q: HwParams| {
        if q == *p {
            return;
        }
        let l = hw_loss(z, m, q, scale0, skip);
        if l < *best {
            *best = l;
            *p = q;
        }
    };
    for a in ALPHAS {
        let q = HwParams { alpha: a, ..p };
        try_set(&mut p, &mut best, q);
    }
    if m > 0 {
        for g in GAMMAS {
            let q = HwParams { gamma: g, ..p };
            try_set(&mut p, &mut best, q);
        }
    }
    for (b, f) in TRENDS {
        let q = HwParams {
            beta: b,
            phi: f,
            ..p
        };
        try_set(&mut p, &mut best, q);
    }
    // Revisit the neighbours of the chosen α now that the rest has moved.
    let i = ALPHAS.iter().position(|a| *a == p.alpha).unwrap_or(0);
    for j in [i.wrapping_sub(1), i + 1] {
        if let Some(&a) = ALPHAS.get(j) {
            let q = HwParams { alpha: a, ..p };
            try_set(&mut p, &mut best, q);
        }
    }
    p
}

/// Croston's method with the Syntetos-Boylan bias correction: the expected value per slot of a
/// series that is mostly zero, as (smoothed demand size) ÷ (smoothed interval between demands).
///
/// Demand sizes are smoothed robustly, like the Holt-Winters level: a size further than
/// [`CLIP`] deviations from the current one moves it as if it were only that far (a one-off
/// purchase of 100 times the usual charge would otherwise inflate every forecast day for months),
/// and [`SHIFT_RUN`] such sizes in a row on the same side are a new level, taken at once.
#[derive(Clone, Debug)]
pub(crate) struct Croston {
    alpha: f64,
    size: f64,
    /// Running mean absolute deviation of demand sizes from the smoothed size.
    dev: f64,
    interval: f64,
    since: f64,
    pub scale: f64,
    run_side: bool,
    run_len: u32,
    run_sum: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    *v.select_nth_unstable_by(mid, f64::total_cmp).1
}

impl Croston {
    pub(crate) fn init(z: &[Option<f64>], alpha: f64, scale0: f64) -> Croston {
        let obs: Vec<f64> = z.iter().flatten().copied().collect();
        let nz: Vec<f64> = obs.iter().copied().filter(|v| *v != 0.0).collect();
        // Median and median deviation: the start must not be dragged by the outliers the
        // updates are protected from.
        let size = median(nz.clone());
        let dev = median(nz.iter().map(|v| (v - size).abs()).collect())
            .max(1e-3 * size.abs())
            .max(f64::MIN_POSITIVE);
        let interval = if nz.is_empty() {
            1.0
        } else {
            obs.len() as f64 / nz.len() as f64
        };
        Croston {
            alpha,
            size,
            dev,
            interval,
            since: 0.0,
            scale: scale0,
            run_side: false,
            run_len: 0,
            run_sum: 0.0,
        }
    }

    pub(crate) fn update(&mut self, z: Option<f64>) -> Option<(f64, bool)> {
        let f = self.value();
        self.since += 1.0;
        let z = z?;
        if z != 0.0 {
            let d = z - self.size;
            let limit = CLIP * self.dev;
            if d.abs() > limit {
                let side = d > 0.0;
                if self.run_len > 0 && self.run_side == side {
                    self.run_len += 1;
                    self.run_sum += z;
                } else {
                    self.run_side = side;
                    self.run_len = 1;
                    self.run_sum = z;
                }
            } else {
                self.run_len = 0;
            }
            if self.run_len >= SHIFT_RUN {
                let mean = self.run_sum / self.run_len as f64;
                self.dev = (mean - self.size).abs() / CLIP;
                self.size = mean;
                self.run_len = 0;
            } else {
                let c = d.clamp(-limit, limit);
                self.size += self.alpha * c;
                let a = d.abs().min(SCALE_CLIP * self.dev);
                self.dev = (self.dev + SCALE_RATE * (a - self.dev)).max(f64::MIN_POSITIVE);
            }
            self.interval += self.alpha * (self.since - self.interval);
            self.since = 0.0;
        }
        let e = z - f;
        let outlier = e.abs() > CLIP * self.scale;
        let a = e.abs().min(SCALE_CLIP * self.scale.max(f64::MIN_POSITIVE));
        self.scale += SCALE_RATE * (a - self.scale);
        if self.scale <= 0.0 {
            self.scale = f64::MIN_POSITIVE;
        }
        Some((e, outlier))
    }

    pub(crate) fn value(&self) -> f64 {
        (1.0 - self.alpha / 2.0) * self.size / self.interval.max(1.0)
    }
}

/// A model ready to run.
#[derive(Clone, Debug)]
pub(crate) enum Model {
    HoltWinters(Hw),
    Croston(Croston),
}

impl Model {
    /// Consumes slot `t`; for an observed slot, the one-step error and whether it was an outlier.
    #[inline]
    pub(crate) fn update(&mut self, t: usize, z: Option<f64>) -> Option<(f64, bool)> {
        match self {
            Model::HoltWinters(h) => h.update(t, z),
            Model::Croston(c) => c.update(z),
        }
    }

    /// Level shifts accepted so far.
    pub(crate) fn shifts(&self) -> u32 {
        match self {
            Model::HoltWinters(h) => h.shifts,
            Model::Croston(_) => 0,
        }
    }

    #[inline]
    pub(crate) fn predict(&self, t: usize, h: usize) -> f64 {
        match self {
            Model::HoltWinters(m) => m.predict(t, h),
            Model::Croston(c) => c.value(),
        }
    }
}

/// A robust guess of the one-step error size: the median absolute lag-`lag` difference (lag 1
/// when there is no season), never zero.
pub(crate) fn robust_scale(z: &[Option<f64>], lag: usize) -> f64 {
    let lag = lag.max(1);
    let mut d: Vec<f64> = z
        .iter()
        .zip(z.iter().skip(lag))
        .filter_map(|(a, b)| Some((b.as_ref()? - a.as_ref()?).abs()))
        .collect();
    let mut s = 0.0;
    if !d.is_empty() {
        let mid = d.len() / 2;
        let (_, m, _) = d.select_nth_unstable_by(mid, f64::total_cmp);
        s = *m;
        if s <= 0.0 {
            s = d.iter().sum::<f64>() / d.len() as f64;
        }
    }
    if s <= 0.0 {
        let mean_abs = z.iter().flatten().map(|v| v.abs()).sum::<f64>()
            / z.iter().flatten().count().max(1) as f64;
        s = 1e-6 * (1.0 + mean_abs);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pure_season_is_learned_and_repeated() {
        let pat = [1.0, 2.0, 3.0, 4.0, 5.0, 0.5, 0.5];
        let z: Vec<Option<f64>> = (0..70).map(|i| Some(10.0 + pat[i % 7])).collect();
        let p = fit_hw(&z, 7, robust_scale(&z, 7), 14);
        let mut hw = Hw::init(&z, 7, p, robust_scale(&z, 7), 14);
        for (t, v) in z.iter().enumerate() {
            hw.update(t, *v);
        }
        for h in 1..=14 {
            let want = 10.0 + pat[(69 + h) % 7];
            assert!((hw.predict(69, h) - want).abs() < 1e-6, "h={h}");
        }
    }

    #[test]
    fn croston_shrugs_off_a_one_off_purchase_and_follows_a_lasting_change() {
        // 10 every 2nd slot, one charge of 20,000, then 10 again.
        let mut z: Vec<Option<f64>> = (0..100)
            .map(|i| Some(if i % 2 == 0 { 10.0 } else { 0.0 }))
            .collect();
        z[50] = Some(20_000.0);
        let mut c = Croston::init(&z, 0.1, 1.0);
        for v in &z[..60] {
            c.update(*v);
        }
        // Plain Croston would carry about 0.1 × 20,000 × 0.9⁴ into the size: ~1,300 a charge.
        assert!(c.size < 15.0, "{}", c.size);
        // From slot 60 on, every charge is 100: a new level, taken within a few charges.
        for i in 60..80 {
            c.update(Some(if i % 2 == 0 { 100.0 } else { 0.0 }));
        }
        assert!((c.size - 100.0).abs() < 5.0, "{}", c.size);
    }

    #[test]
    fn croston_forecasts_the_mean_rate() {
        // 10 every 4th slot: 2.5 a slot, less the SBA correction.
        let z: Vec<Option<f64>> = (0..200)
            .map(|i| Some(if i % 4 == 0 { 10.0 } else { 0.0 }))
            .collect();
        let mut c = Croston::init(&z, 0.1, 1.0);
        for v in &z {
            c.update(*v);
        }
        assert!((c.value() - 2.5 * 0.95).abs() < 0.05, "{}", c.value());
    }
}
