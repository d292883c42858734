//! Hand-run benchmark of the Table store on Azurite (numbers go in docs/azure-table-store.md):
//! one replace of a slice of `days x services` daily rows with tags, a second replace of the same
//! data (the generation swap), and a full read.
//!
//! ```sh
//! scripts/azurite.sh start && eval "$(scripts/azurite.sh env)"
//! cargo run --release -p costkit-azure --features testkit --example table_bench -- 30 1000
//! ```

use std::time::Instant;

use costkit_azure::auth::{SharedKey, StorageAuth};
use costkit_azure::http::RetryPolicy;
use costkit_azure::{Storage, TableStore};
use costkit_core::aggregate::LoadBatch;
use costkit_core::store::contract::record;
use costkit_core::store::{CostStore, Filter, LoadMeta};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (days, services) = (
        args.first().copied().unwrap_or(30).min(28),
        args.get(1).copied().unwrap_or(1000),
    );
    let env =
        |n: &str| std::env::var(n).map_err(|_| format!("{n} is not set (scripts/azurite.sh env)"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let storage = Storage::new(
        StorageAuth::SharedKey(SharedKey::devstore()),
        &env("COSTKIT_AZURITE_BLOB")?,
        &env("COSTKIT_AZURITE_QUEUE")?,
        &env("COSTKIT_AZURITE_TABLE")?,
        RetryPolicy::default(),
    )?;
    let table = format!("bench{}", std::process::id());
    let mut store = TableStore::new(&storage, &table, rt.handle().clone());
    rt.block_on(store.create_table())?;
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
    store.replace(&batch, &meta)?;
    let second = t.elapsed();
    let t = Instant::now();
    let daily = store.daily(&Filter::default())?;
    let read = t.elapsed();
    let t = Instant::now();
    let tags = store.daily_tags("team", &Filter::default())?;
    let read_tags = t.elapsed();
    let slice = batch.slices.keys().next().cloned().ok_or("no slice")?;
    let entities = rt.block_on(store.generation_size(&slice, r.load_id + 1))?;
    println!(
        "rows {rows} (+{} tag rows) in {entities} entities",
        tags.len()
    );
    println!(
        "first replace   {:>8.2?}  ({:.0} rows/s)",
        first,
        rows as f64 / first.as_secs_f64()
    );
    println!(
        "second replace  {:>8.2?}  (new generation, flip, old one deleted)",
        second
    );
    println!("daily read      {:>8.2?}  ({} rows)", read, daily.len());
    println!("tag read        {:>8.2?}  ({} rows)", read_tags, tags.len());
    Ok(())
}
