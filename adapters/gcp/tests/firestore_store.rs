//! The store contract (the same suite as SQLite, DynamoDB and Table storage) on Firestore,
//! against Google's Firestore emulator, plus the Firestore-specific cases: generations cleaned
//! up, large slices chunked and committed in parts, exact money, concurrent loads.

mod common;

use costkit_core::aggregate::{LoadBatch, Slice};
use costkit_core::store::contract::{self, generational as checks, meta};
use costkit_core::store::generational::{AsyncCostStore, GenerationalStore};
use costkit_core::store::{CostStore, Filter};
use costkit_gcp::{FirestoreStore, GcpError, Service};
use rust_decimal::Decimal;

fn store(rt: &tokio::runtime::Runtime) -> FirestoreStore {
    FirestoreStore::new(
        &common::gcp(&[Service::Firestore]),
        &common::unique("costkit"),
        rt.handle().clone(),
    )
    .expect("store")
}

fn documents(s: &FirestoreStore, slice: &Slice, gen: i64) -> Result<usize, GcpError> {
    s.block_on(s.generation_size(slice, gen))
}

#[test]
fn firestore_store_passes_the_store_contract() {
    let rt = common::runtime();
    contract::run_all(&mut || Box::new(store(&rt)) as Box<dyn CostStore>);
}

#[test]
fn the_same_load_twice_leaves_one_copy_and_no_old_generation() {
    let rt = common::runtime();
    checks::reload_leaves_one_generation(&mut store(&rt), &documents);
}

#[test]
fn a_large_slice_is_chunked_committed_in_parts_and_exact() {
    let rt = common::runtime();
    // 28 days x 1 000 services: 28 000 daily rows, several 768 KiB chunk documents.
    checks::large_slice_is_chunked_and_exact(&mut store(&rt), &documents, 1000, 3);
}

#[test]
fn concurrent_loads_of_one_slice_leave_exactly_one() {
    let rt = common::runtime();
    checks::concurrent_loads_leave_exactly_one(&store(&rt));
}

#[test]
fn a_bad_collection_name_is_refused() {
    let rt = common::runtime();
    let g = common::gcp(&[Service::Firestore]);
    for bad in ["", "a/b", "__x__", "sp ace"] {
        assert!(
            FirestoreStore::new(&g, bad, rt.handle().clone()).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn a_load_that_crashed_before_its_flip_is_invisible_and_cleaned_up() {
    use costkit_gcp::firestore::{value, write, Firestore, Precondition};
    let rt = common::runtime();
    let gcp = common::gcp(&[Service::Firestore]);
    let root = common::unique("costkit");
    let mut s = FirestoreStore::new(&gcp, &root, rt.handle().clone()).expect("store");
    let mut b = LoadBatch::default();
    b.add(&contract::record("321", "2024-04", 1, "VM", "2", None));
    let first = s.replace(&b, &meta("first")).expect("first");
    let slice = b.slices.keys().next().expect("slice").clone();

    // A load that took the next id, registered its generation and wrote a chunk, then died
    // before flipping (the layout of docs/gcp-firestore-store.md).
    let db = Firestore::new(&gcp);
    let crashed = first.load_id + 1;
    let counter = db.name(&format!("{root}/store"));
    let pointer = db.name(&format!("{root}/store/slices/2024-04!AWS!321"));
    let chunk = db.name(&format!(
        "{root}/store/gens/AWS!321!2024-04!{crashed:020}/chunks/d000000"
    ));
    let mut rows = serde_json::Map::new();
    rows.insert("rows".into(), value::string("[]"));
    rows.insert("n".into(), value::int(0));
    rt.block_on(db.commit(
        "simulated crash",
        &[
            write::transform(&counter, vec![write::increment("next_load", 1)]),
            write::transform(&pointer, vec![write::append_missing("gens", &[crashed])]),
            write::update(&chunk, rows, None, &Precondition::None),
        ],
    ))
    .expect("crash");
    assert_eq!(
        rt.block_on(s.generations(&slice)).expect("gens"),
        vec![first.load_id, crashed]
    );
    assert_eq!(
        contract::total(&s, &Filter::default()),
        Decimal::from(2),
        "the unflipped generation is invisible"
    );

    let third = s.replace(&b, &meta("third")).expect("third");
    assert!(third.load_id > crashed);
    assert_eq!(
        rt.block_on(s.generations(&slice)).expect("gens"),
        vec![third.load_id],
        "the crashed generation is cleaned up with the old one"
    );
    assert_eq!(
        rt.block_on(s.generation_size(&slice, crashed))
            .expect("size"),
        0
    );
    let loads = s.loads().expect("loads");
    assert_eq!(
        loads.iter().map(|l| l.load_id).collect::<Vec<_>>(),
        vec![third.load_id, first.load_id],
        "the crashed load never committed a record"
    );
}
