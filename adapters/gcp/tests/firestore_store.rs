//! The store contract (the same suite as SQLite, DynamoDB and Table storage) on Firestore,
//! against Google's Firestore emulator, plus the Firestore-specific cases: generations cleaned
//! up, large slices chunked and committed in parts, exact money, concurrent loads.

mod common;

use costkit_core::aggregate::LoadBatch;
use costkit_core::store::contract;
use costkit_core::store::generational::AsyncCostStore;
use costkit_core::store::{CostStore, Filter, LoadMeta};
use costkit_gcp::{FirestoreStore, Service};
use rust_decimal::Decimal;

fn store(rt: &tokio::runtime::Runtime) -> FirestoreStore {
    FirestoreStore::new(
        &common::gcp(&[Service::Firestore]),
        &common::unique("costkit"),
        rt.handle().clone(),
    )
    .expect("store")
}

fn meta(name: &str) -> LoadMeta {
    LoadMeta {
        dialect: "focus".into(),
        files: vec![name.into()],
        loaded_at: "2026-01-01T00:00:00Z".into(),
    }
}

#[test]
fn firestore_store_passes_the_store_contract() {
    let rt = common::runtime();
    contract::run_all(&mut || Box::new(store(&rt)) as Box<dyn CostStore>);
}

#[test]
fn the_same_load_twice_leaves_one_copy_and_no_old_generation() {
    let rt = common::runtime();
    let mut s = store(&rt);
    let mut b = LoadBatch::default();
    b.add(&contract::record(
        "777",
        "2024-03",
        1,
        "VM",
        "1.5",
        Some("a"),
    ));
    let first = s.replace(&b, &meta("a")).expect("first");
    assert!(
        rt.block_on(s.generation_size(b.slices.keys().next().expect("slice"), first.load_id))
            .expect("size")
            > 0
    );
    let second = s.replace(&b, &meta("a")).expect("second");
    let slice = b.slices.keys().next().expect("slice").clone();
    assert_eq!(second.replaced, vec![slice.clone()]);
    let gens = rt.block_on(s.generations(&slice)).expect("gens");
    assert_eq!(
        gens,
        vec![second.load_id],
        "only the current generation is left"
    );
    assert_eq!(
        rt.block_on(s.generation_size(&slice, first.load_id))
            .expect("size"),
        0,
        "the first generation's documents are deleted"
    );
    let total: Decimal = s
        .daily(&Filter::default())
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum();
    assert_eq!(total, "1.5".parse::<Decimal>().expect("dec"));
}

#[test]
fn a_large_slice_is_chunked_committed_in_parts_and_exact() {
    let rt = common::runtime();
    let mut s = store(&rt);
    let mut b = LoadBatch::default();
    let mut expected = Decimal::ZERO;
    // 28 days x 1 000 services: 28 000 daily rows, several 768 KiB chunk documents.
    for day in 1..=28u32 {
        for svc in 0..1000 {
            let cost = format!("{}.{:010}", svc, day * 7919 + svc);
            expected += cost.parse::<Decimal>().expect("dec");
            let team = if svc % 3 == 0 { Some("web") } else { None };
            b.add(&contract::record(
                "888",
                "2024-02",
                day,
                &format!("service/{svc}#ü \"quoted\""),
                &cost,
                team,
            ));
        }
    }
    let tiny = contract::record(
        "888",
        "2024-02",
        1,
        "Odd",
        "-0.000000000000000000000000001",
        None,
    );
    expected += tiny.billed_cost;
    b.add(&tiny);
    let big = contract::record(
        "888",
        "2024-02",
        2,
        "Big",
        "12345678901234567.12345678901",
        None,
    );
    expected += big.billed_cost;
    b.add(&big);
    let r = s.replace(&b, &meta("big")).expect("load");
    let slice = b.slices.keys().next().expect("slice").clone();
    let docs = rt
        .block_on(s.generation_size(&slice, r.load_id))
        .expect("size");
    assert!(docs > 3, "rows are chunked into several documents: {docs}");
    let rows = s.daily(&Filter::default()).expect("daily");
    assert_eq!(rows.len(), 28 * 1000 + 2);
    assert_eq!(
        rows.iter().map(|r| r.sums.billed).sum::<Decimal>(),
        expected
    );
    assert!(rows
        .iter()
        .any(|r| r.sums.billed == tiny.billed_cost && r.key.service_name.as_str() == "Odd"));
    assert!(rows.iter().any(|r| r.sums.billed == big.billed_cost));
    assert_eq!(
        s.tag_keys(&Filter::default()).expect("keys"),
        vec!["team".to_string()]
    );
    let tagged: Decimal = s
        .daily_tags("team", &Filter::default())
        .expect("tags")
        .iter()
        .map(|t| t.sums.billed)
        .sum();
    let expected_tagged: Decimal = rows
        .iter()
        .filter(|r| {
            r.key
                .service_name
                .as_str()
                .strip_prefix("service/")
                .and_then(|x| x.split('#').next())
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n % 3 == 0)
        })
        .map(|r| r.sums.billed)
        .sum();
    assert_eq!(tagged, expected_tagged);
}

#[test]
fn concurrent_loads_of_one_slice_leave_exactly_one() {
    let rt = common::runtime();
    let s = store(&rt);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let mut s = s.clone();
            std::thread::spawn(move || {
                let mut b = LoadBatch::default();
                b.add(&contract::record(
                    "999",
                    "2024-01",
                    1,
                    "VM",
                    &format!("{}", 10 + i),
                    None,
                ));
                s.replace(&b, &meta(&format!("load-{i}"))).expect("load")
            })
        })
        .collect();
    let reports: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let newest = reports.iter().map(|r| r.load_id).max().expect("loads");
    let rows = s.daily(&Filter::default()).expect("daily");
    assert_eq!(rows.len(), 1, "one slice, one row: {rows:?}");
    let loads = s.loads().expect("loads");
    assert_eq!(loads.len(), 4);
    let owner: Vec<_> = loads.iter().filter(|l| !l.slices.is_empty()).collect();
    assert_eq!(owner.len(), 1);
    assert_eq!(owner[0].load_id, newest, "the newest load owns the slice");
    assert_eq!(rows[0].sums.billed, owner[0].billed.get("USD"));
    let slice = rows[0].slice.clone();
    assert_eq!(
        rt.block_on(s.generations(&slice)).expect("gens"),
        vec![newest],
        "every other generation is cleaned up"
    );
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
    let total: Decimal = s
        .daily(&Filter::default())
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum();
    assert_eq!(
        total,
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
