//! Checks of the generational stores (Table storage, Firestore; docs in
//! [`crate::store::generational`]) beyond the [`CostStore`] contract: what a replace leaves
//! behind, how a large slice is chunked, and concurrent loads of one slice. Each adapter's test
//! calls them with its own store; the adapter-specific cases (crash layouts, name rules) stay in
//! the adapter's tests.
//!
//! Stored row items are counted through the store's own `generation_size` (an inherent method of
//! each backend, since the algorithm itself never needs it), passed in as a [`GenerationSize`].

use rust_decimal::Decimal;

use super::{meta, record, total};
use crate::aggregate::{LoadBatch, Slice};
use crate::store::generational::{AsyncCostStore, GenerationalBackend, GenerationalStore};
use crate::store::{CostStore, Filter};

/// The number of row items (entities, documents) generation `gen` of `slice` still has.
pub type GenerationSize<S> =
    dyn Fn(&S, &Slice, i64) -> Result<usize, <S as GenerationalBackend>::Error>;

fn size_of<S: GenerationalStore>(
    store: &S,
    size: &GenerationSize<S>,
    slice: &Slice,
    gen: i64,
) -> usize {
    size(store, slice, gen).expect("generation size")
}

fn generations_of<S: GenerationalStore>(store: &S, slice: &Slice) -> Vec<i64> {
    store
        .block_on(store.generations(slice))
        .expect("generations")
}

/// Loading the same data twice leaves one copy: the second load replaces the slice, only its
/// generation is left live, and the first generation's row items are deleted.
pub fn reload_leaves_one_generation<S>(store: &mut S, size: &GenerationSize<S>)
where
    S: GenerationalStore + CostStore,
{
    let mut b = LoadBatch::default();
    b.add(&record("777", "2024-03", 1, "VM", "1.5", Some("a")));
    let slice = b.slices.keys().next().expect("slice").clone();
    let first = store.replace(&b, &meta("a")).expect("first");
    assert!(
        size_of(store, size, &slice, first.load_id) > 0,
        "the first load wrote row items"
    );
    let second = store.replace(&b, &meta("a")).expect("second");
    assert_eq!(second.replaced, vec![slice.clone()]);
    assert_eq!(
        generations_of(store, &slice),
        vec![second.load_id],
        "only the current generation is left"
    );
    assert_eq!(
        size_of(store, size, &slice, first.load_id),
        0,
        "the first generation's row items are deleted"
    );
    assert_eq!(
        total(store, &Filter::default()),
        "1.5".parse::<Decimal>().expect("dec")
    );
}

/// One slice of 28 days x `services` services (names with `/`, `#`, non-ASCII and quotes, every
/// third service tagged), plus a tiny and a huge amount: it is stored in more than
/// `min_items` row items and reads back row for row, to the last digit, tags included.
pub fn large_slice_is_chunked_and_exact<S>(
    store: &mut S,
    size: &GenerationSize<S>,
    services: u32,
    min_items: usize,
) where
    S: GenerationalStore + CostStore,
{
    let mut b = LoadBatch::default();
    let mut expected = Decimal::ZERO;
    for day in 1..=28u32 {
        for svc in 0..services {
            let cost = format!("{}.{:010}", svc, day * 7919 + svc);
            expected += cost.parse::<Decimal>().expect("dec");
            let team = if svc % 3 == 0 { Some("web") } else { None };
            b.add(&record(
                "888",
                "2024-02",
                day,
                &format!("service/{svc}#ü \"quoted\""),
                &cost,
                team,
            ));
        }
    }
    let tiny = record(
        "888",
        "2024-02",
        1,
        "Odd",
        "-0.000000000000000000000000001",
        None,
    );
    expected += tiny.billed_cost;
    b.add(&tiny);
    let big = record(
        "888",
        "2024-02",
        2,
        "Big",
        "12345678901234567.12345678901",
        None,
    );
    expected += big.billed_cost;
    b.add(&big);
    let r = store.replace(&b, &meta("big")).expect("load");
    let slice = b.slices.keys().next().expect("slice").clone();
    let items = size_of(store, size, &slice, r.load_id);
    assert!(
        items > min_items,
        "rows are chunked into more than {min_items} items: {items}"
    );
    let rows = store.daily(&Filter::default()).expect("daily");
    assert_eq!(rows.len(), 28 * services as usize + 2);
    assert_eq!(
        rows.iter().map(|r| r.sums.billed).sum::<Decimal>(),
        expected
    );
    assert!(rows
        .iter()
        .any(|r| r.sums.billed == tiny.billed_cost && r.key.service_name.as_str() == "Odd"));
    assert!(rows.iter().any(|r| r.sums.billed == big.billed_cost));
    assert_eq!(
        store.tag_keys(&Filter::default()).expect("keys"),
        vec!["team".to_string()]
    );
    let tagged: Decimal = store
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

/// Four loads of one slice at once (clones of `store` on four threads): exactly one row is
/// left, every load is recorded, the newest owns the slice and every other generation is
/// cleaned up.
pub fn concurrent_loads_leave_exactly_one<S>(store: &S)
where
    S: GenerationalStore + CostStore + Clone + Send,
{
    let reports: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let mut s = store.clone();
                scope.spawn(move || {
                    let mut b = LoadBatch::default();
                    b.add(&record(
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
        threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect()
    });
    let newest = reports.iter().map(|r| r.load_id).max().expect("loads");
    let rows = store.daily(&Filter::default()).expect("daily");
    assert_eq!(rows.len(), 1, "one slice, one row: {rows:?}");
    let loads = store.loads().expect("loads");
    assert_eq!(loads.len(), 4);
    let owner: Vec<_> = loads.iter().filter(|l| !l.slices.is_empty()).collect();
    assert_eq!(owner.len(), 1);
    assert_eq!(owner[0].load_id, newest, "the newest load owns the slice");
    assert_eq!(rows[0].sums.billed, owner[0].billed.get("USD"));
    assert_eq!(
        generations_of(store, &rows[0].slice),
        vec![newest],
        "every other generation is cleaned up"
    );
}
