//! Hand-run benchmark: anomaly detection over 10,000 daily series of 730 days on one thread.
//!
//! `cargo bench -p costkit-core --bench anomaly` (release). Prints the time, the throughput and
//! the detection score on the same suite. Series generation is not timed.

use std::time::Instant;

use costkit_core::analysis::anomaly::{detect, DetectorConfig};
use costkit_core::analysis::score::DetectionScore;
use costkit_core::analysis::synth;

fn main() {
    let n: usize = std::env::var("ANOMALY_BENCH_SERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let days = 730;
    let suite = synth::suite(42, n, days);
    let cfg = DetectorConfig::default();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut flagged = 0usize;
    let mut all = Vec::with_capacity(n);
    for s in &suite {
        let points = detect(&s.series, &cfg);
        flagged += points.iter().filter(|p| p.flag).count();
        all.push(points);
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(a, b)| a - b);
    let mut score = DetectionScore::default();
    for (s, p) in suite.iter().zip(&all) {
        let flags: Vec<bool> = p.iter().map(|p| p.flag).collect();
        score.add(&s.label_ranges(), &flags, 3);
    }
    println!(
        "{n} series x {days} days: {secs:.3} s on one thread ({:.1} M slots/s), {flagged} flagged slots",
        (n * days) as f64 / secs / 1e6
    );
    if let Some(cpu) = cpu {
        // On a shared machine the wall time includes waiting for a core; CPU time does not.
        println!("CPU time of this process: {cpu:.2} s");
    }
    println!(
        "F1 {:.3} precision {:.3} recall {:.3} false alerts/series-year {:.2}",
        score.f1(),
        score.precision(),
        score.recall(),
        score.false_per_series_year()
    );
}

/// User + system CPU seconds of this process, from `/proc/self/stat` (Linux; `None` elsewhere).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on every Linux configuration this runs on.
    Some((utime + stime) / 100.0)
}
