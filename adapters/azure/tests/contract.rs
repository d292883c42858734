//! The store contract (the same suite as SQLite and DynamoDB) on Azure Table storage, against
//! Azurite, plus the Table-specific cases: generations cleaned up, large slices chunked and
//! batched, exact money, concurrent loads.

mod common;

use costkit_azure::TableStore;
use costkit_core::aggregate::Slice;
use costkit_core::store::contract::{self, generational as checks};
use costkit_core::store::generational::GenerationalStore;
use costkit_core::store::CostStore;

fn store(rt: &tokio::runtime::Runtime) -> TableStore {
    let s = TableStore::new(
        &common::storage(),
        &common::unique("costkit"),
        rt.handle().clone(),
    );
    rt.block_on(s.create_table()).expect("create table");
    s
}

fn entities(s: &TableStore, slice: &Slice, gen: i64) -> Result<usize, costkit_azure::AzureError> {
    s.block_on(s.generation_size(slice, gen))
}

#[test]
fn table_store_passes_the_store_contract() {
    let rt = common::runtime();
    contract::run_all(&mut || Box::new(store(&rt)) as Box<dyn CostStore>);
}

#[test]
fn the_same_load_twice_leaves_one_copy_and_no_old_generation() {
    let rt = common::runtime();
    checks::reload_leaves_one_generation(&mut store(&rt), &entities);
}

#[test]
fn a_large_slice_is_chunked_batched_and_exact() {
    let rt = common::runtime();
    // 28 days x 400 services: 11 200 daily rows, several transactions of chunked entities.
    checks::large_slice_is_chunked_and_exact(&mut store(&rt), &entities, 400, 10);
}

#[test]
fn concurrent_loads_of_one_slice_leave_exactly_one() {
    let rt = common::runtime();
    checks::concurrent_loads_leave_exactly_one(&store(&rt));
}
