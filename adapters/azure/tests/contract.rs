//! The store contract (the same suite as SQLite and DynamoDB) on Azure Table storage, against
//! Azurite, plus the Table-specific cases: generations cleaned up, large slices chunked and
//! batched, exact money, concurrent loads.

mod common;

use costkit_azure::TableStore;
use costkit_core::aggregate::LoadBatch;
use costkit_core::store::contract;
use costkit_core::store::generational::AsyncCostStore;
use costkit_core::store::{CostStore, Filter, LoadMeta};
use rust_decimal::Decimal;

fn store(rt: &tokio::runtime::Runtime) -> TableStore {
    let s = TableStore::new(
        &common::storage(),
        &common::unique("costkit"),
        rt.handle().clone(),
    );
    rt.block_on(s.create_table()).expect("create table");
    s
}

fn meta(name: &str) -> LoadMeta {
    LoadMeta {
        dialect: "focus".into(),
        files: vec![name.into()],
        loaded_at: "2026-01-01T00:00:00Z".into(),
    }
}

#[test]
fn table_store_passes_the_store_contract() {
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
    let second = s.replace(&b, &meta("a")).expect("second");
    let slice = b.slices.keys().next().expect("slice").clone();
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
        "the first generation's entities are deleted"
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
fn a_large_slice_is_chunked_batched_and_exact() {
    let rt = common::runtime();
    let mut s = store(&rt);
    let mut b = LoadBatch::default();
    let mut expected = Decimal::ZERO;
    // 28 days x 400 services: 11 200 daily rows, several transactions of chunked entities.
    for day in 1..=28u32 {
        for svc in 0..400 {
            let cost = format!("{}.{:010}", svc, day * 7919 + svc);
            expected += cost.parse::<Decimal>().expect("dec");
            let team = if svc % 3 == 0 { Some("web") } else { None };
            b.add(&contract::record(
                "888",
                "2024-02",
                day,
                &format!("service/{svc}#ü"),
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
    let entities = rt
        .block_on(s.generation_size(&slice, r.load_id))
        .expect("size");
    assert!(
        entities > 10,
        "rows are chunked into several entities: {entities}"
    );
    let rows = s.daily(&Filter::default()).expect("daily");
    assert_eq!(rows.len(), 28 * 400 + 2);
    assert_eq!(
        rows.iter().map(|r| r.sums.billed).sum::<Decimal>(),
        expected
    );
    assert!(rows
        .iter()
        .any(|r| r.sums.billed == tiny.billed_cost && r.key.service_name.as_str() == "Odd"));
    assert_eq!(
        s.tag_keys(&Filter::default()).expect("keys"),
        vec!["team".to_string()]
    );
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
}
