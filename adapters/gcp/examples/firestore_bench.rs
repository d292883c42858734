//! Hand-run benchmark of the Firestore store on Google's Firestore emulator (numbers go in
//! docs/gcp-firestore-store.md): one replace of a slice of `days x services` daily rows with
//! tags, a second replace of the same data (the generation swap), and full reads.
//!
//! ```sh
//! scripts/gcp-emulators.sh start && eval "$(scripts/gcp-emulators.sh env)"
//! cargo run --release -p costkit-gcp --example firestore_bench -- 28 1000
//! ```

use std::time::Instant;

use costkit_core::aggregate::LoadBatch;
use costkit_core::store::contract::record;
use costkit_core::store::{CostStore, Filter, LoadMeta};
use costkit_gcp::{Endpoint, FirestoreStore, Gcp, RetryPolicy, Service};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (days, services) = (
        args.first().copied().unwrap_or(28).min(28),
        args.get(1).copied().unwrap_or(1000),
    );
    let host = std::env::var("FIRESTORE_EMULATOR_HOST")
        .map_err(|_| "FIRESTORE_EMULATOR_HOST is not set (scripts/gcp-emulators.sh env)")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let gcp = Gcp::new("costkit-bench", RetryPolicy::default(), None)?.with_endpoint(
        Service::Firestore,
        Endpoint::emulator("FIRESTORE_EMULATOR_HOST", &host)?,
    );
    let root = format!("bench{}", std::process::id());
    let mut store = FirestoreStore::new(&gcp, &root, rt.handle().clone())?;
    let mut batch = LoadBatch::default();
    for day in 1..=days as u32 {
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
    let rows = days * services;
    let meta = LoadMeta {
        dialect: "focus".into(),
        files: vec!["bench".into()],
        loaded_at: "2026-01-01T00:00:00Z".into(),
    };
    let t = Instant::now();
    let r = store.replace(&batch, &meta)?;
    let first = t.elapsed();
    let t = Instant::now();
    let r2 = store.replace(&batch, &meta)?;
    let second = t.elapsed();
    let t = Instant::now();
    let daily = store.daily(&Filter::default())?;
    let read = t.elapsed();
    let t = Instant::now();
    let tags = store.daily_tags("team", &Filter::default())?;
    let read_tags = t.elapsed();
    let t = Instant::now();
    let keys = store.tag_keys(&Filter::default())?;
    let read_keys = t.elapsed();
    let slice = batch.slices.keys().next().cloned().ok_or("no slice")?;
    let docs = rt.block_on(store.generation_size(&slice, r2.load_id))?;
    let gone = rt.block_on(store.generation_size(&slice, r.load_id))?;
    println!(
        "rows {rows} (+{} tag rows) in {docs} chunk documents (old generation: {gone} left)",
        tags.len()
    );
    println!(
        "first replace {:.2} s ({:.0} rows/s)",
        first.as_secs_f64(),
        rows as f64 / first.as_secs_f64()
    );
    println!("second replace {:.2} s", second.as_secs_f64());
    println!(
        "daily read {} rows {:.2} s",
        daily.len(),
        read.as_secs_f64()
    );
    println!(
        "daily_tags read {} rows {:.3} s",
        tags.len(),
        read_tags.as_secs_f64()
    );
    println!("tag_keys {keys:?} {:.3} s", read_keys.as_secs_f64());
    if daily.len() != rows {
        return Err(format!("read {} rows, wrote {rows}", daily.len()).into());
    }
    Ok(())
}
