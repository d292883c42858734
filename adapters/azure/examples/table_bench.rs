//! Hand-run benchmark of the Table store on Azurite (numbers go in docs/azure-table-store.md):
//! one replace of a slice of `days x services` daily rows with tags, a second replace of the same
//! data (the generation swap), and full reads. The workload and the measurements are
//! `costkit_core::store::contract::bench`, shared with the Firestore store's benchmark.
//!
//! ```sh
//! scripts/azurite.sh start && eval "$(scripts/azurite.sh env)"
//! cargo run --release -p costkit-azure --features testkit --example table_bench -- 28 1000
//! ```

use costkit_azure::auth::{SharedKey, StorageAuth};
use costkit_azure::http::RetryPolicy;
use costkit_azure::{Storage, TableStore};
use costkit_core::aggregate::Slice;
use costkit_core::store::contract::bench;
use costkit_core::store::generational::GenerationalStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (days, services) = bench::args();
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
    let size = |s: &TableStore, slice: &Slice, gen| s.block_on(s.generation_size(slice, gen));
    println!("{}", bench::run(&mut store, &size, days, services)?);
    Ok(())
}
