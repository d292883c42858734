//! Hand-run benchmark of the Firestore store on Google's Firestore emulator (numbers go in
//! docs/gcp-firestore-store.md): one replace of a slice of `days x services` daily rows with
//! tags, a second replace of the same data (the generation swap), and full reads. The workload
//! and the measurements are `costkit_core::store::contract::bench`, shared with the Table
//! store's benchmark.
//!
//! ```sh
//! scripts/gcp-emulators.sh start && eval "$(scripts/gcp-emulators.sh env)"
//! cargo run --release -p costkit-gcp --example firestore_bench -- 28 1000
//! ```

use costkit_core::aggregate::Slice;
use costkit_core::store::contract::bench;
use costkit_core::store::generational::GenerationalStore;
use costkit_gcp::{Endpoint, FirestoreStore, Gcp, RetryPolicy, Service};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (days, services) = bench::args();
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
    let size = |s: &FirestoreStore, slice: &Slice, gen| s.block_on(s.generation_size(slice, gen));
    println!("{}", bench::run(&mut store, &size, days, services)?);
    Ok(())
}
