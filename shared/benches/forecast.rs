//! Forecast speed: 10,000 synthetic daily series of 730 days, each forecast 30 days ahead with its
//! backtest, on one thread. Run by hand: `cargo bench -p costkit-core --bench forecast`
//! (`-- N` for another series count).

use std::time::Instant;

use costkit_core::analysis::forecast::forecast;
use costkit_core::analysis::synth::suite;

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let t0 = Instant::now();
    let series = suite(42, n, 730);
    let gen = t0.elapsed();
    let t1 = Instant::now();
    let mut points = 0usize;
    let mut backtested = 0usize;
    for s in &series {
        match forecast(&s.series, 30) {
            Ok(f) => {
                points += f.points.len();
                backtested += usize::from(f.backtest.is_some());
            }
            Err(e) => eprintln!("{}: {e}", s.name),
        }
    }
    let took = t1.elapsed();
    println!(
        "forecast: {n} series x 730 days, horizon 30, {backtested} with backtests, {points} points: {:.3} s ({:.1} us/series); generating the series took {:.3} s",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64,
        gen.as_secs_f64()
    );
}
