//! The DynamoDB store passes the same store contract as SQLite, against moto, plus the
//! properties the serverless pipeline relies on: a re-delivered load leaves one copy and no
//! garbage, a restated day replaces the old numbers, amounts come back exact, and a load that
//! crashed half-way is invisible and cleaned up.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use costkit_aws::ports::DynamoState;
use costkit_aws::DynamoStore;
use costkit_core::aggregate::{LoadBatch, Slice};
use costkit_core::ports::{put_once, update_json, PortError, StateStore};
use costkit_core::store::contract::{self, record};
use costkit_core::store::generational::AsyncCostStore;
use costkit_core::store::{CostStore, Filter, LoadMeta};
use costkit_core::text::Text;
use rust_decimal::Decimal;

fn fresh_store(rt: &tokio::runtime::Runtime) -> DynamoStore {
    let clients = common::moto_clients();
    let store = DynamoStore::new(&clients, &common::unique("costkit"), rt.handle().clone());
    rt.block_on(store.create_table()).expect("create table");
    store
}

fn batch(records: &[costkit_core::FocusRecord]) -> LoadBatch {
    let mut b = LoadBatch::default();
    for r in records {
        b.add(r);
    }
    b
}

fn meta(file: &str) -> LoadMeta {
    LoadMeta {
        dialect: "aws-ce".into(),
        files: vec![file.into()],
        loaded_at: "2026-03-01T00:00:00Z".into(),
    }
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

#[test]
fn dynamodb_store_passes_the_contract() {
    let rt = common::runtime();
    contract::run_all(&mut || Box::new(fresh_store(&rt)) as Box<dyn CostStore>);
}

#[test]
fn the_same_load_delivered_twice_leaves_one_copy_and_no_old_generation() {
    let rt = common::runtime();
    let mut store = fresh_store(&rt);
    let b = batch(&[
        record("777", "2026-02", 1, "EC2", "10.25", Some("web")),
        record("777", "2026-02", 2, "S3", "0.0000000001", None),
    ]);
    let first = store.replace(&b, &meta("msg-1")).expect("first delivery");
    let second = store.replace(&b, &meta("msg-1")).expect("second delivery");
    assert!(first.replaced.is_empty());
    assert_eq!(second.replaced.len(), 1);
    let rows = store.daily(&Filter::default()).expect("daily");
    assert_eq!(rows.len(), 2, "one copy of each row: {rows:?}");
    let total: Decimal = rows.iter().map(|r| r.sums.billed).sum();
    assert_eq!(total, dec("10.2500000001"));
    let slice = Slice {
        provider: Text::from("AWS"),
        billing_account_id: Text::from("777"),
        billing_period: "2026-02".into(),
    };
    let gens = rt.block_on(store.generations(&slice)).expect("gens");
    assert_eq!(
        gens,
        vec![second.load_id],
        "the first generation was deleted"
    );
    let old = rt
        .block_on(store.generation_size(&slice, first.load_id))
        .expect("size");
    assert_eq!(old, 0, "no items of the first generation are left");
    let new = rt
        .block_on(store.generation_size(&slice, second.load_id))
        .expect("size");
    assert_eq!(
        new, 2,
        "one packed item of daily rows, one of the tag's rows"
    );
}

#[test]
fn many_rows_pack_into_few_items_and_read_back_exactly() {
    let rt = common::runtime();
    let mut store = fresh_store(&rt);
    // 2,500 daily rows (25 days x 100 services) and as many rows of one tag key: three packed items
    // each, every amount back to the last digit.
    let mut records = Vec::new();
    let mut want = Decimal::ZERO;
    for day in 1..=25u32 {
        for svc in 0..100u32 {
            let amount = format!("{day}.{svc:02}00000001");
            want += dec(&amount);
            records.push(record(
                "555",
                "2026-01",
                day,
                &format!("svc-{svc:03}"),
                &amount,
                Some("web"),
            ));
        }
    }
    let report = store.replace(&batch(&records), &meta("big")).expect("load");
    let slice = Slice {
        provider: Text::from("AWS"),
        billing_account_id: Text::from("555"),
        billing_period: "2026-01".into(),
    };
    let items = rt
        .block_on(store.generation_size(&slice, report.load_id))
        .expect("size");
    assert_eq!(
        items,
        3 + 1,
        "2,500 daily rows in 3 items, 25 tag rows in 1"
    );
    let rows = store.daily(&Filter::default()).expect("daily");
    assert_eq!(rows.len(), 2500);
    assert_eq!(rows.iter().map(|r| r.sums.billed).sum::<Decimal>(), want);
    let tags = store.daily_tags("team", &Filter::default()).expect("tags");
    assert_eq!(tags.len(), 25, "one row per day for team=web");
    assert_eq!(tags.iter().map(|r| r.sums.billed).sum::<Decimal>(), want);
    assert_eq!(store.tag_keys(&Filter::default()).expect("keys"), ["team"]);
}

#[test]
fn a_restated_day_replaces_the_old_numbers() {
    let rt = common::runtime();
    let mut store = fresh_store(&rt);
    // Cost Explorer's month-to-date: day 3 was estimated at 100, then restated to 90.5; day 4
    // arrived with the restatement.
    store
        .replace(
            &batch(&[
                record("888", "2026-03", 2, "EC2", "50", None),
                record("888", "2026-03", 3, "EC2", "100", None),
            ]),
            &meta("fetch-1"),
        )
        .expect("first fetch");
    store
        .replace(
            &batch(&[
                record("888", "2026-03", 2, "EC2", "50", None),
                record("888", "2026-03", 3, "EC2", "90.5", None),
                record("888", "2026-03", 4, "EC2", "7", None),
            ]),
            &meta("fetch-2"),
        )
        .expect("re-fetch");
    let rows = store.daily(&Filter::default()).expect("daily");
    let by_day: Vec<(String, Decimal)> = rows
        .iter()
        .map(|r| (r.key.day.to_string(), r.sums.billed))
        .collect();
    assert_eq!(
        by_day,
        vec![
            ("2026-03-02".to_string(), dec("50")),
            ("2026-03-03".to_string(), dec("90.5")),
            ("2026-03-04".to_string(), dec("7")),
        ]
    );
}

#[test]
fn several_tag_keys_over_several_days_keep_every_tag_row() {
    let rt = common::runtime();
    let mut store = fresh_store(&rt);
    // Two tag keys on each of three days: each key's rows are packed as one group of chunks.
    let mut recs = Vec::new();
    for day in 1..=3 {
        let mut r = record("999", "2026-02", day, "EC2", "2.5", Some("web"));
        r.tags.insert("env", "prod");
        recs.push(r);
    }
    store.replace(&batch(&recs), &meta("tags")).expect("load");
    let f = Filter::default();
    for key in ["team", "env"] {
        let rows = store.daily_tags(key, &f).expect("tags");
        assert_eq!(rows.len(), 3, "{key}: one row a day");
        assert_eq!(
            rows.iter().map(|r| r.sums.billed).sum::<Decimal>(),
            dec("7.5"),
            "{key}"
        );
    }
    assert_eq!(
        store.tag_keys(&f).expect("keys"),
        vec!["env".to_string(), "team".to_string()]
    );
}

#[test]
fn amounts_come_back_exact_at_full_decimal_precision() {
    let rt = common::runtime();
    let mut store = fresh_store(&rt);
    let amounts = [
        "12345678901234567.12345678901",
        "-0.000000000000000000000000001",
        "0.1",
        "0.2",
    ];
    let recs: Vec<_> = amounts
        .iter()
        .enumerate()
        .map(|(i, a)| record("999", "2026-01", i as u32 + 1, "EC2", a, None))
        .collect();
    for (r, a) in recs.iter().zip(amounts) {
        assert_eq!(r.billed_cost, dec(a), "fixture parses exactly");
    }
    store.replace(&batch(&recs), &meta("x")).expect("load");
    let rows = store.daily(&Filter::default()).expect("daily");
    let got: Vec<Decimal> = rows.iter().map(|r| r.sums.billed).collect();
    let want: Vec<Decimal> = amounts.iter().map(|a| dec(a)).collect();
    assert_eq!(got, want);
    let loads = store.loads().expect("loads");
    let expected_total: Decimal = want.iter().sum();
    assert_eq!(loads[0].billed.get("USD"), expected_total);
}

#[test]
fn filters_select_period_and_provider() {
    let rt = common::runtime();
    let mut store = fresh_store(&rt);
    let mut azure = record("az-1", "2026-01", 5, "VM", "3", None);
    azure.provider_name = Text::from("Microsoft");
    store
        .replace(
            &batch(&[
                record("111", "2026-01", 5, "EC2", "1", None),
                record("111", "2026-02", 5, "EC2", "2", None),
                azure,
            ]),
            &meta("multi"),
        )
        .expect("load");
    let jan = Filter {
        billing_period: Some("2026-01".into()),
        provider: None,
    };
    assert_eq!(store.daily(&jan).expect("daily").len(), 2);
    let jan_aws = Filter {
        billing_period: Some("2026-01".into()),
        provider: Some("AWS".into()),
    };
    let rows = store.daily(&jan_aws).expect("daily");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].sums.billed, dec("1"));
    let loads = store.loads().expect("loads");
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].slices.len(), 3, "one load, three slices");
}

#[test]
fn a_load_that_crashed_before_its_flip_is_invisible_and_cleaned_up() {
    let rt = common::runtime();
    let mut store = fresh_store(&rt);
    let clients = common::moto_clients();
    let ddb = clients.dynamodb();
    let first = store
        .replace(
            &batch(&[record("321", "2026-02", 1, "EC2", "5", None)]),
            &meta("ok"),
        )
        .expect("load");
    // What a Lambda killed mid-load leaves: its generation registered on the slice and some of
    // its rows written, but no flip and no load record.
    let crashed = first.load_id + 100;
    let pk = format!("GEN#AWS#321#2026-02#{crashed}");
    rt.block_on(async {
        ddb.update_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S("SLICE".into()))
            .key("sk", AttributeValue::S("2026-02#AWS#321".into()))
            .update_expression("ADD gens :g")
            .expression_attribute_values(":g", AttributeValue::Ns(vec![crashed.to_string()]))
            .send()
            .await
            .expect("register");
        ddb.put_item()
            .table_name(store.table())
            .item("pk", AttributeValue::S(pk.clone()))
            .item("sk", AttributeValue::S("D#2026-02-01#0000000".into()))
            .item("day", AttributeValue::S("2026-02-01".into()))
            .item("billed", AttributeValue::N("999".into()))
            .send()
            .await
            .expect("orphan row");
    });
    let rows = store.daily(&Filter::default()).expect("daily");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].sums.billed,
        dec("5"),
        "readers never see the orphan"
    );
    assert_eq!(store.loads().expect("loads").len(), 1);
    // The orphan's id is above the next load's, so it may still be in flight: kept.
    let next = store
        .replace(
            &batch(&[record("321", "2026-02", 1, "EC2", "6", None)]),
            &meta("next"),
        )
        .expect("next load");
    let slice = Slice {
        provider: Text::from("AWS"),
        billing_account_id: Text::from("321"),
        billing_period: "2026-02".into(),
    };
    let gens = rt.block_on(store.generations(&slice)).expect("gens");
    assert!(next.load_id < crashed);
    assert_eq!(gens, vec![next.load_id, crashed]);
    assert_eq!(
        store.daily(&Filter::default()).expect("daily")[0]
            .sums
            .billed,
        dec("6")
    );
    // Once a load newer than the orphan commits, the orphan is deleted with the old generation.
    rt.block_on(
        ddb.put_item()
            .table_name(store.table())
            .item("pk", AttributeValue::S("META".into()))
            .item("sk", AttributeValue::S("LOAD_SEQ".into()))
            .item("n", AttributeValue::N(crashed.to_string()))
            .send(),
    )
    .expect("advance the load counter");
    let newest = store
        .replace(
            &batch(&[record("321", "2026-02", 1, "EC2", "7", None)]),
            &meta("newest"),
        )
        .expect("newest load");
    assert!(newest.load_id > crashed);
    let gens = rt.block_on(store.generations(&slice)).expect("gens");
    assert_eq!(gens, vec![newest.load_id]);
    for gone in [next.load_id, crashed] {
        let left = rt
            .block_on(store.generation_size(&slice, gone))
            .expect("size");
        assert_eq!(left, 0, "generation {gone} deleted");
    }
    assert_eq!(
        store.daily(&Filter::default()).expect("daily")[0]
            .sums
            .billed,
        dec("7")
    );
}

#[test]
fn state_items_are_written_only_at_the_version_read() {
    let rt = common::runtime();
    let store = fresh_store(&rt);
    let clients = common::moto_clients();
    let state = DynamoState::new(&clients, store.table(), rt.handle().clone());
    assert_eq!(state.get("job/a").expect("get"), None);
    assert_eq!(state.put("job/a", b"one", None).expect("create"), 1);
    assert!(
        matches!(
            state.put("job/a", b"again", None),
            Err(PortError::Conflict(_))
        ),
        "an existing item is not created twice"
    );
    assert!(!put_once(&state, "job/a", b"x").expect("put_once"));
    assert_eq!(state.put("job/a", b"two", Some(1)).expect("update"), 2);
    assert!(
        matches!(
            state.put("job/a", b"stale", Some(1)),
            Err(PortError::Conflict(_))
        ),
        "a writer that read version 1 lost"
    );
    assert_eq!(state.get("job/a").expect("get"), Some((b"two".to_vec(), 2)));
    // update_json retries over the conditional put: 8 threads add one each, none is lost.
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                update_json(&state, "counter", |n: &mut u32| *n += 1).expect("update");
            });
        }
    });
    let (bytes, _) = state.get("counter").expect("get").expect("exists");
    assert_eq!(serde_json::from_slice::<u32>(&bytes).expect("json"), 8);
    // The state items live beside the store's items and do not disturb it.
    assert!(store.daily(&Filter::default()).expect("daily").is_empty());
}
