//! The contract every [`CostStore`] adapter must pass. Adapter crates call [`run_all`] from a test
//! with a fresh store; each check panics with a message naming what broke.

use rust_decimal::Decimal;

pub mod bench;
pub mod generational;

use crate::aggregate::{summarize, CostBasis, GroupBy, LoadBatch, Slice, UNTAGGED};
use crate::focus::{ChargeCategory, FocusRecord, ServiceCategory};
use crate::money::Currency;
use crate::store::{CostStore, Filter, LoadMeta};
use crate::text::Text;
use crate::time::parse_timestamp;

fn ts(s: &str) -> crate::time::Timestamp {
    parse_timestamp(s).unwrap_or_default()
}

/// A record for the contract tests.
pub fn record(
    account: &str,
    period: &str,
    day: u32,
    service: &str,
    billed: &str,
    team: Option<&str>,
) -> FocusRecord {
    let start = ts(&format!("{period}-01T00:00:00Z"));
    let end = crate::time::next_month_start(&start);
    let mut r = FocusRecord {
        provider_name: Text::from("AWS"),
        publisher_name: Text::from("AWS"),
        service_provider_name: Text::from("AWS"),
        host_provider_name: Text::from("AWS"),
        invoice_issuer_name: Text::from("AWS"),
        billing_account_id: Text::from(account),
        sub_account_id: Some(Text::from("0001")),
        billing_currency: Currency::new("USD"),
        billing_period_start: start,
        billing_period_end: end,
        charge_period_start: ts(&format!("{period}-{day:02}T00:00:00Z")),
        charge_period_end: ts(&format!("{period}-{day:02}T01:00:00Z")),
        charge_category: ChargeCategory::Usage,
        service_name: Text::from(service),
        service_category: ServiceCategory::Compute,
        ..FocusRecord::default()
    };
    let amount: Decimal = billed.parse().unwrap_or_default();
    r.billed_cost = amount;
    r.effective_cost = amount;
    r.list_cost = amount;
    r.contracted_cost = amount;
    if let Some(t) = team {
        r.tags.insert("team", t);
    }
    r
}

fn batch(records: &[FocusRecord]) -> LoadBatch {
    let mut b = LoadBatch::default();
    for r in records {
        b.add(r);
    }
    b
}

/// The load metadata of the contract's loads (file `name`).
pub fn meta(name: &str) -> LoadMeta {
    LoadMeta {
        dialect: "focus".into(),
        files: vec![name.into()],
        loaded_at: "2026-01-01T00:00:00Z".into(),
    }
}

/// Σ BilledCost of the daily rows `filter` selects.
pub fn total(store: &dyn CostStore, filter: &Filter) -> Decimal {
    store
        .daily(filter)
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum()
}

/// Loading the same data twice keeps one copy; the second load reports the slice as replaced.
pub fn reload_is_idempotent(store: &mut dyn CostStore) {
    let recs = vec![
        record("111", "2024-09", 1, "EC2", "10.10", Some("web")),
        record("111", "2024-09", 2, "EC2", "0.0000000001", None),
        record("111", "2024-09", 2, "S3", "5", Some("data")),
    ];
    let b = batch(&recs);
    let first = store.replace(&b, &meta("a.csv")).expect("first load");
    assert!(first.replaced.is_empty(), "first load replaced nothing");
    let second = store.replace(&b, &meta("a.csv")).expect("second load");
    assert_eq!(second.replaced.len(), 1, "second load replaces the slice");
    assert_eq!(
        total(store, &Filter::default()),
        "15.1000000001".parse::<Decimal>().expect("dec")
    );
}

/// A restated period replaces the old numbers; other slices are untouched.
pub fn restatement_replaces_only_its_slice(store: &mut dyn CostStore) {
    store
        .replace(
            &batch(&[record("222", "2024-08", 3, "EC2", "7", None)]),
            &meta("aug.csv"),
        )
        .expect("aug");
    store
        .replace(
            &batch(&[record("222", "2024-09", 3, "EC2", "100", None)]),
            &meta("sep.csv"),
        )
        .expect("sep");
    store
        .replace(
            &batch(&[record("222", "2024-09", 4, "EC2", "90.5", None)]),
            &meta("sep-restated.csv"),
        )
        .expect("restated");
    let sep = Filter {
        billing_period: Some("2024-09".into()),
        provider: None,
    };
    let rows: Vec<_> = store
        .daily(&sep)
        .expect("daily")
        .into_iter()
        .filter(|r| r.slice.billing_account_id == "222")
        .collect();
    assert_eq!(rows.len(), 1, "only the restated row remains");
    assert_eq!(rows[0].sums.billed, "90.5".parse::<Decimal>().expect("dec"));
    assert_eq!(rows[0].key.day.to_string(), "2024-09-04");
    let aug = Filter {
        billing_period: Some("2024-08".into()),
        provider: None,
    };
    let aug_total: Decimal = store
        .daily(&aug)
        .expect("daily")
        .iter()
        .filter(|r| r.slice.billing_account_id == "222")
        .map(|r| r.sums.billed)
        .sum();
    assert_eq!(aug_total, Decimal::from(7), "August untouched");
}

/// Tag rows come back per key, and the summary's untagged line is total minus tagged.
pub fn tags_and_untagged(store: &mut dyn CostStore) {
    let recs = vec![
        record("333", "2024-07", 1, "EC2", "1.25", Some("web")),
        record("333", "2024-07", 1, "EC2", "2.50", Some("web")),
        record("333", "2024-07", 2, "RDS", "4", Some("data")),
        record("333", "2024-07", 2, "RDS", "8.01", None),
    ];
    store
        .replace(&batch(&recs), &meta("tags.csv"))
        .expect("load");
    let f = Filter {
        billing_period: Some("2024-07".into()),
        provider: Some("AWS".into()),
    };
    let daily = store.daily(&f).expect("daily");
    let tags = store.daily_tags("team", &f).expect("tags");
    assert_eq!(
        tags.iter().map(|t| t.sums.billed).sum::<Decimal>(),
        "7.75".parse::<Decimal>().expect("dec")
    );
    let lines = summarize(
        &daily,
        &tags,
        &GroupBy::Tag("team".into()),
        CostBasis::Billed,
    );
    let get = |g: &str| lines.iter().find(|l| l.group == g).map(|l| l.cost);
    assert_eq!(get("web"), Some("3.75".parse().expect("dec")));
    assert_eq!(get("data"), Some(Decimal::from(4)));
    assert_eq!(get(UNTAGGED), Some("8.01".parse().expect("dec")));
    assert!(store
        .daily_tags("no-such-key", &f)
        .expect("tags")
        .is_empty());
    assert_eq!(store.tag_keys(&f).expect("keys"), vec!["team".to_string()]);
    let other = Filter {
        billing_period: Some("1999-01".into()),
        provider: None,
    };
    assert!(store.tag_keys(&other).expect("keys").is_empty());
}

/// Bookkeeping lists loads newest first with the slices each still owns.
pub fn bookkeeping(store: &mut dyn CostStore) {
    store
        .replace(
            &batch(&[record("444", "2024-06", 1, "EC2", "1", None)]),
            &meta("one.csv"),
        )
        .expect("one");
    store
        .replace(
            &batch(&[record("444", "2024-06", 1, "EC2", "2", None)]),
            &meta("two.csv"),
        )
        .expect("two");
    let loads = store.loads().expect("loads");
    let newest = &loads[0];
    assert_eq!(newest.meta.files, vec!["two.csv".to_string()]);
    assert_eq!(newest.billed.get("USD"), Decimal::from(2));
    assert!(newest.slices.iter().any(|s| s.billing_account_id == "444"));
    let older = loads
        .iter()
        .find(|l| l.meta.files == vec!["one.csv".to_string()])
        .expect("older load listed");
    assert!(
        older.slices.iter().all(|s| s.billing_account_id != "444"),
        "the older load no longer owns the slice"
    );
}

/// Currencies are kept apart.
pub fn currencies_stay_apart(store: &mut dyn CostStore) {
    let mut eur = record("555", "2024-05", 1, "VM", "3", None);
    eur.billing_currency = Currency::new("EUR");
    let usd = record("555", "2024-05", 1, "VM", "4", None);
    store
        .replace(&batch(&[eur, usd]), &meta("cur.csv"))
        .expect("load");
    let f = Filter {
        billing_period: Some("2024-05".into()),
        provider: None,
    };
    let lines = summarize(
        &store.daily(&f).expect("daily"),
        &[],
        &GroupBy::Service,
        CostBasis::Billed,
    );
    assert_eq!(lines.len(), 2, "one line per currency: {lines:?}");
}

/// A slice whose parts need escaping in every backend's keys (`#`, `%`, `!`, `_`, `/`, space,
/// non-ASCII), for tests that pin a backend's stored key layout.
pub fn odd_slice() -> Slice {
    Slice {
        provider: Text::from("A#W%S /é"),
        billing_account_id: Text::from("12!34_x"),
        billing_period: "2024-09".into(),
    }
}

/// Runs every contract check, each on a fresh store from `make`.
pub fn run_all(make: &mut dyn FnMut() -> Box<dyn CostStore>) {
    reload_is_idempotent(make().as_mut());
    restatement_replaces_only_its_slice(make().as_mut());
    tags_and_untagged(make().as_mut());
    bookkeeping(make().as_mut());
    currencies_stay_apart(make().as_mut());
}
