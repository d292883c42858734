//! The workload and measurements of the generational stores' hand-run benchmarks (the Table
//! store's and the Firestore store's examples): one replace of a slice of `days x services`
//! daily rows with tags, a second replace of the same data (the generation swap) and full
//! reads. Each example only builds its store and prints the [`StoreBench`].

use std::fmt;
use std::time::{Duration, Instant};

use super::generational::GenerationSize;
use super::{meta, record};
use crate::aggregate::LoadBatch;
use crate::store::generational::GenerationalStore;
use crate::store::{CostStore, Filter};

/// `days` and `services` from the command line (`-- DAYS SERVICES`; 28 and 1000 by default,
/// days at most 28 so one February slice holds them all).
pub fn args() -> (usize, usize) {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    (
        args.first().copied().unwrap_or(28).min(28),
        args.get(1).copied().unwrap_or(1000),
    )
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct StoreBench {
    /// Daily rows written.
    pub rows: usize,
    /// Row items (entities, documents) of the current generation.
    pub items: usize,
    /// Row items of the replaced generation still stored (0 when cleanup worked).
    pub old_items_left: usize,
    /// The first replace.
    pub first: Duration,
    /// The second replace of the same data (new generation, flip, old one deleted).
    pub second: Duration,
    /// The daily read, and the rows it returned.
    pub daily: (Duration, usize),
    /// The read of tag key `team`, and the rows it returned.
    pub tags: (Duration, usize),
    /// The tag key listing, and the keys it returned.
    pub tag_keys: (Duration, Vec<String>),
}

/// Runs the workload on `store` (empty), counting row items with `size`. Fails when the daily
/// read does not return every row written.
pub fn run<S>(
    store: &mut S,
    size: &GenerationSize<S>,
    days: usize,
    services: usize,
) -> Result<StoreBench, Box<dyn std::error::Error>>
where
    S: GenerationalStore + CostStore,
    S::Error: 'static,
{
    let mut batch = LoadBatch::default();
    for day in 1..=days.min(28) as u32 {
        for s in 0..services {
            let team = ["web", "data", "ml"][s % 3];
            batch.add(&record(
                "123456789012",
                "2024-02",
                day,
                &format!("service-{s}"),
                "1.2345678901",
                Some(team),
            ));
        }
    }
    let rows = days.min(28) * services;
    let meta = meta("bench");
    let t = Instant::now();
    let r1 = store.replace(&batch, &meta)?;
    let first = t.elapsed();
    let t = Instant::now();
    let r2 = store.replace(&batch, &meta)?;
    let second = t.elapsed();
    let t = Instant::now();
    let daily = store.daily(&Filter::default())?;
    let daily = (t.elapsed(), daily.len());
    let t = Instant::now();
    let tags = store.daily_tags("team", &Filter::default())?;
    let tags = (t.elapsed(), tags.len());
    let t = Instant::now();
    let keys = store.tag_keys(&Filter::default())?;
    let tag_keys = (t.elapsed(), keys);
    let slice = batch.slices.keys().next().cloned().ok_or("no slice")?;
    let items = size(store, &slice, r2.load_id)?;
    let old_items_left = size(store, &slice, r1.load_id)?;
    if daily.1 != rows {
        return Err(format!("read {} rows, wrote {rows}", daily.1).into());
    }
    Ok(StoreBench {
        rows,
        items,
        old_items_left,
        first,
        second,
        daily,
        tags,
        tag_keys,
    })
}

impl fmt::Display for StoreBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rows {} (+{} tag rows) in {} row items (old generation: {} left)",
            self.rows, self.tags.1, self.items, self.old_items_left
        )?;
        writeln!(
            f,
            "first replace   {:>8.2?}  ({:.0} rows/s)",
            self.first,
            self.rows as f64 / self.first.as_secs_f64()
        )?;
        writeln!(
            f,
            "second replace  {:>8.2?}  (new generation, flip, old one deleted)",
            self.second
        )?;
        writeln!(
            f,
            "daily read      {:>8.2?}  ({} rows)",
            self.daily.0, self.daily.1
        )?;
        writeln!(
            f,
            "tag read        {:>8.2?}  ({} rows)",
            self.tags.0, self.tags.1
        )?;
        write!(
            f,
            "tag keys        {:>8.2?}  ({:?})",
            self.tag_keys.0, self.tag_keys.1
        )
    }
}
