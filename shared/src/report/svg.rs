//! Small inline SVG charts for the HTML report: no scripts, no external references, readable in
//! print. Geometry is f64 (a chart is a picture of the numbers, not the numbers: the tables next to
//! each chart carry the exact amounts). Every text that reaches the SVG goes through [`esc`].

use std::fmt::Write;

use chrono::NaiveDate;

/// Colours of stacked series, in order; the last one is kept for the folded "others" line.
pub const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

const W: f64 = 800.0;
const H: f64 = 260.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;

/// Escapes text for HTML and SVG (element content and quoted attributes).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A step of 1, 2 or 5 times a power of ten, near `range / 5`.
fn nice_step(range: f64) -> f64 {
    if !range.is_finite() || range <= 0.0 {
        return 1.0;
    }
    let raw = range / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Axis label: thousands as `k`, millions as `M`, so labels stay short.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The y scale of a plot: value range padded to nice ticks.
struct YScale {
    lo: f64,
    hi: f64,
    step: f64,
}

impl YScale {
    fn new(min: f64, max: f64) -> YScale {
        let min = min.min(0.0);
        let max = if max <= min { min + 1.0 } else { max };
        let step = nice_step(max - min);
        YScale {
            lo: (min / step).floor() * step,
            hi: (max / step).ceil() * step,
            step,
        }
    }

    fn y(&self, v: f64) -> f64 {
        let plot = H - TOP - BOTTOM;
        TOP + plot * (1.0 - (v - self.lo) / (self.hi - self.lo))
    }
}

/// The x scale: `n` equal slots across the plot.
struct XScale {
    n: usize,
}

impl XScale {
    fn slot(&self) -> f64 {
        (W - LEFT - RIGHT) / self.n.max(1) as f64
    }
    /// Centre of slot `i`.
    fn x(&self, i: f64) -> f64 {
        LEFT + self.slot() * (i + 0.5)
    }
}

fn open(out: &mut String, kind: &str, title: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" data-chart="{kind}" viewBox="0 0 {W} {H}" width="100%" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = esc(title)
    );
}

fn axes(out: &mut String, ys: &YScale, xs: &XScale, days: &[NaiveDate], currency: &str) {
    let mut v = ys.lo;
    // Guard against a degenerate step producing an endless loop.
    let mut guard = 0;
    while v <= ys.hi + ys.step * 0.01 && guard < 50 {
        let y = ys.y(v);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd" stroke-width="1"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end" fill="#555">{label}</text>"##,
            x2 = W - RIGHT,
            tx = LEFT - 6.0,
            ty = y + 4.0,
            label = esc(&tick_label(v)),
        );
        v += ys.step;
        guard += 1;
    }
    let zero = ys.y(0.0);
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" x2="{x2}" y1="{zero:.1}" y2="{zero:.1}" stroke="#888" stroke-width="1"/>"##,
        x2 = W - RIGHT
    );
    // Day labels: about eight across the axis.
    let every = days.len().div_ceil(8).max(1);
    for (i, d) in days.iter().enumerate() {
        // The last day too, unless it would crowd the label before it.
        let last = i + 1 == days.len() && i % every >= every.div_ceil(2);
        if i % every == 0 || last {
            let _ = write!(
                out,
                r##"<text x="{x:.1}" y="{y}" font-size="11" text-anchor="middle" fill="#555">{l}</text>"##,
                x = xs.x(i as f64),
                y = H - BOTTOM + 16.0,
                l = d.format("%m-%d"),
            );
        }
    }
    let _ = write!(
        out,
        r##"<text x="4" y="{y}" font-size="11" fill="#555">{c}</text>"##,
        y = TOP + 4.0,
        c = esc(currency)
    );
}

/// A forecast day for the band chart.
pub struct BandDay {
    /// Slot index in the chart's days.
    pub index: usize,
    /// Point forecast.
    pub value: f64,
    /// 80 % bounds.
    pub lo80: f64,
    /// 80 % bounds.
    pub hi80: f64,
    /// 95 % bounds.
    pub lo95: f64,
    /// 95 % bounds.
    pub hi95: f64,
}

/// Daily spend as bars for days with data, then the forecast as a line inside its 80 % and 95 %
/// bands for the rest of the period.
pub fn daily_with_forecast(
    title: &str,
    days: &[NaiveDate],
    actual: &[Option<f64>],
    band: &[BandDay],
    currency: &str,
) -> String {
    let vals = actual
        .iter()
        .flatten()
        .copied()
        .chain(band.iter().flat_map(|b| [b.lo95, b.hi95, b.value]));
    let (min, max) = vals.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let ys = YScale::new(min, max);
    let xs = XScale { n: days.len() };
    let mut out = String::new();
    open(&mut out, "daily-forecast", title);
    axes(&mut out, &ys, &xs, days, currency);
    let bw = xs.slot() * 0.7;
    for (i, v) in actual.iter().enumerate() {
        if let Some(v) = v {
            let (y0, y1) = (ys.y(0.0), ys.y(*v));
            let _ = write!(
                out,
                r##"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{h:.1}" fill="#4e79a7"><title>{d}: {v:.2}</title></rect>"##,
                x = xs.x(i as f64) - bw / 2.0,
                y = y0.min(y1),
                h = (y0 - y1).abs(),
                d = days.get(i).map(|d| d.to_string()).unwrap_or_default(),
            );
        }
    }
    if !band.is_empty() {
        let poly = |lo: &dyn Fn(&BandDay) -> f64, hi: &dyn Fn(&BandDay) -> f64| {
            let mut pts: Vec<String> = band
                .iter()
                .map(|b| format!("{:.1},{:.1}", xs.x(b.index as f64), ys.y(hi(b))))
                .collect();
            pts.extend(
                band.iter()
                    .rev()
                    .map(|b| format!("{:.1},{:.1}", xs.x(b.index as f64), ys.y(lo(b)))),
            );
            pts.join(" ")
        };
        let _ = write!(
            out,
            r##"<polygon class="band95" points="{}" fill="#f28e2b" fill-opacity="0.18"/>"##,
            poly(&|b| b.lo95, &|b| b.hi95)
        );
        let _ = write!(
            out,
            r##"<polygon class="band80" points="{}" fill="#f28e2b" fill-opacity="0.35"/>"##,
            poly(&|b| b.lo80, &|b| b.hi80)
        );
        let line: Vec<String> = band
            .iter()
            .map(|b| format!("{:.1},{:.1}", xs.x(b.index as f64), ys.y(b.value)))
            .collect();
        let _ = write!(
            out,
            r##"<polyline class="forecast" points="{}" fill="none" stroke="#c05a00" stroke-width="2" stroke-dasharray="5 3"/>"##,
            line.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

/// Daily spend stacked by series (positive amounts upwards, credits downwards from zero).
pub fn stacked(
    title: &str,
    days: &[NaiveDate],
    series: &[(String, Vec<f64>)],
    currency: &str,
) -> String {
    let mut pos = vec![0.0f64; days.len()];
    let mut neg = vec![0.0f64; days.len()];
    for (_, vals) in series {
        for (i, v) in vals.iter().enumerate().take(days.len()) {
            if *v >= 0.0 {
                pos[i] += v;
            } else {
                neg[i] += v;
            }
        }
    }
    let max = pos.iter().copied().fold(0.0f64, f64::max);
    let min = neg.iter().copied().fold(0.0f64, f64::min);
    let ys = YScale::new(min, max);
    let xs = XScale { n: days.len() };
    let mut out = String::new();
    open(&mut out, "daily-by-service", title);
    axes(&mut out, &ys, &xs, days, currency);
    let bw = xs.slot() * 0.7;
    let mut up = vec![0.0f64; days.len()];
    let mut down = vec![0.0f64; days.len()];
    for (k, (name, vals)) in series.iter().enumerate() {
        let color = if k + 1 == series.len() && name.starts_with('(') {
            PALETTE[PALETTE.len() - 1]
        } else {
            PALETTE[k % (PALETTE.len() - 1)]
        };
        let _ = write!(out, r#"<g class="series" fill="{color}">"#);
        for (i, v) in vals.iter().enumerate().take(days.len()) {
            if *v == 0.0 {
                continue;
            }
            let (from, to) = if *v > 0.0 {
                let from = up[i];
                up[i] += v;
                (from, up[i])
            } else {
                let from = down[i];
                down[i] += v;
                (from, down[i])
            };
            let (y0, y1) = (ys.y(from), ys.y(to));
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{h:.2}"><title>{n} {d}: {v:.2}</title></rect>"#,
                x = xs.x(i as f64) - bw / 2.0,
                y = y0.min(y1),
                h = (y0 - y1).abs(),
                n = esc(name),
                d = days[i],
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A budget's burn-down: cumulative actual spend, the budget amount as a flat line, and a dashed
/// line from the last actual day to the forecasted period total at the period's last day.
pub fn burn_down(
    title: &str,
    days: &[NaiveDate],
    cumulative: &[f64],
    amount: Option<f64>,
    forecast: Option<f64>,
    currency: &str,
) -> String {
    let vals = cumulative.iter().copied().chain(amount).chain(forecast);
    let (min, max) = vals.fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let ys = YScale::new(min, max * 1.05);
    let xs = XScale { n: days.len() };
    let mut out = String::new();
    open(&mut out, "burn-down", title);
    axes(&mut out, &ys, &xs, days, currency);
    if let Some(a) = amount {
        let y = ys.y(a);
        let _ = write!(
            out,
            r##"<line class="budget" x1="{LEFT}" x2="{x2}" y1="{y:.1}" y2="{y:.1}" stroke="#e15759" stroke-width="2"/>"##,
            x2 = W - RIGHT
        );
    }
    if !cumulative.is_empty() {
        let pts: Vec<String> = cumulative
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", xs.x(i as f64), ys.y(*v)))
            .collect();
        let _ = write!(
            out,
            r##"<polyline class="actual" points="{}" fill="none" stroke="#4e79a7" stroke-width="2.5"/>"##,
            pts.join(" ")
        );
        if let (Some(f), Some(last)) = (forecast, cumulative.last()) {
            let i = cumulative.len() - 1;
            let end = days.len().saturating_sub(1);
            if end > i {
                let _ = write!(
                    out,
                    r##"<polyline class="forecast" points="{:.1},{:.1} {:.1},{:.1}" fill="none" stroke="#c05a00" stroke-width="2" stroke-dasharray="5 3"/>"##,
                    xs.x(i as f64),
                    ys.y(*last),
                    xs.x(end as f64),
                    ys.y(f)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_step(100.0), 20.0);
        assert_eq!(nice_step(7.0), 2.0);
        let s = YScale::new(-3.0, 97.0);
        assert_eq!((s.lo, s.hi, s.step), (-20.0, 100.0, 20.0));
    }

    #[test]
    fn series_names_cannot_break_out_of_the_svg() {
        let d = [NaiveDate::from_ymd_opt(2024, 9, 1).expect("day")];
        let svg = stacked(
            "t",
            &d,
            &[("</svg><script>x</script>".into(), vec![1.0])],
            "USD",
        );
        assert!(!svg.contains("<script>"));
        assert_eq!(svg.matches("</svg>").count(), 1);
    }
}
