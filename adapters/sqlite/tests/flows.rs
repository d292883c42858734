//! The serverless flows on local ports and a real SQLite store: split deliveries load once and
//! whole, redelivered messages change nothing, older deliveries never overwrite newer ones,
//! budgets fire once, and notifications are delivered once.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use costkit_core::budget::LinearRunRate;
use costkit_core::flow::messages::{Message, NormalizeJob};
use costkit_core::flow::normalize::{run_part, NormalizeEnv, PartOutcome};
use costkit_core::flow::notify::{deliver, Delivery};
use costkit_core::flow::{budget, FlowError};
use costkit_core::local::{DirBlobStore, MemoryQueue, MemoryState, OutboxPublisher};
use costkit_core::ports::BlobStore;
use costkit_core::store::{CostStore, Filter};
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/cli/focus12_two_months.csv")
}

/// The fixture's header and rows, with BilledCost/EffectiveCost/ListCost/ContractedCost of
/// every row multiplied by `factor` (a "restated" delivery).
fn rows(factor: &str) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(fixture()).expect("fixture");
    let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = rdr.headers().expect("headers").clone();
    let cost_cols: Vec<usize> = ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"]
        .iter()
        .map(|c| headers.iter().position(|h| h == *c).expect(c))
        .collect();
    let f: Decimal = factor.parse().expect("factor");
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.expect("row");
        let mut w = csv::Writer::from_writer(Vec::new());
        let fields: Vec<String> = rec
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if cost_cols.contains(&i) {
                    (v.parse::<Decimal>().expect("cost") * f)
                        .normalize()
                        .to_string()
                } else {
                    v.to_string()
                }
            })
            .collect();
        w.write_record(&fields).expect("write");
        out.push(String::from_utf8(w.into_inner().expect("csv")).expect("utf8"));
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&headers).expect("header");
    (
        String::from_utf8(w.into_inner().expect("csv")).expect("utf8"),
        out,
    )
}

/// Puts a delivery of two part files (rows split in half) into the object store.
fn put_delivery(blobs: &DirBlobStore, name: &str, factor: &str) -> Vec<Vec<String>> {
    let (header, rows) = rows(factor);
    let mid = rows.len() / 2;
    let mut parts = Vec::new();
    for (i, chunk) in [&rows[..mid], &rows[mid..]].iter().enumerate() {
        let key = format!("exports/{name}/part-{i}.csv");
        let body = format!("{header}{}", chunk.concat());
        blobs
            .put_bytes(&key, body.as_bytes(), "text/csv")
            .expect("put");
        parts.push(vec![key]);
    }
    parts
}

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 5, h, 0, 0)
        .single()
        .expect("time")
}

fn job(id: &str, parts: &[Vec<String>], part: usize, produced: DateTime<Utc>) -> NormalizeJob {
    NormalizeJob {
        job_id: id.to_string(),
        source: "focus-export".into(),
        dialect: None,
        parts: parts.to_vec(),
        part,
        produced_at: produced,
    }
}

fn total(store: &dyn CostStore) -> Decimal {
    store
        .daily(&Filter::default())
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum()
}

struct World {
    _dir: tempfile::TempDir,
    blobs: DirBlobStore,
    state: MemoryState,
    store: SqliteStore,
    analysis: MemoryQueue,
    work: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("tmp");
    let work = dir.path().join("work");
    World {
        blobs: DirBlobStore::new(dir.path().join("bucket")),
        state: MemoryState::default(),
        store: SqliteStore::open(&dir.path().join("s.db")).expect("store"),
        analysis: MemoryQueue::default(),
        work,
        _dir: dir,
    }
}

fn run(w: &mut World, j: &NormalizeJob) -> Result<PartOutcome, FlowError> {
    let work = w.work.join(format!("{}-{}", j.job_id, j.part));
    let mut env = NormalizeEnv {
        blobs: &w.blobs,
        state: &w.state,
        store: &mut w.store,
        analysis: &w.analysis,
        workdir: &work,
        now: t(12),
    };
    run_part(j, &mut env)
}

#[test]
fn a_split_delivery_loads_once_and_whole() {
    let mut w = world();
    let parts = put_delivery(&w.blobs, "run1", "1");
    let p0 = job("d1", &parts, 0, t(1));
    let p1 = job("d1", &parts, 1, t(1));

    assert!(matches!(
        run(&mut w, &p0).expect("p0"),
        PartOutcome::Staged { .. }
    ));
    assert_eq!(
        total(&w.store),
        Decimal::ZERO,
        "nothing loaded before the last part"
    );
    // SQS delivers part 0 twice: still staged, not counted twice.
    assert!(matches!(
        run(&mut w, &p0).expect("p0 again"),
        PartOutcome::Staged { .. }
    ));
    match run(&mut w, &p1).expect("p1") {
        PartOutcome::Committed(r) => assert_eq!(r.slices.len(), 2, "{r:?}"),
        other => panic!("expected a commit, got {other:?}"),
    }
    assert_eq!(total(&w.store), "1052.15".parse::<Decimal>().expect("dec"));
    assert!(matches!(
        run(&mut w, &p1).expect("p1 again"),
        PartOutcome::AlreadyCommitted
    ));
    assert!(matches!(
        run(&mut w, &p0).expect("p0 late"),
        PartOutcome::AlreadyCommitted
    ));
    assert_eq!(total(&w.store), "1052.15".parse::<Decimal>().expect("dec"));

    // Exactly one data-updated message, naming both months.
    let msg = w.analysis.pop().expect("data updated");
    assert!(w.analysis.is_empty());
    match Message::from_json(&msg).expect("message") {
        Message::DataUpdated(d) => {
            assert_eq!(d.job_id, "d1");
            assert_eq!(
                d.first_day.map(|d| d.to_string()).as_deref(),
                Some("2024-08-01")
            );
            assert_eq!(
                d.last_day.map(|d| d.to_string()).as_deref(),
                Some("2024-09-03")
            );
        }
        other => panic!("{other:?}"),
    }
    // FOCUS Parquet files, partitioned by billing period, one per part and period.
    let files = w.blobs.list("focus/").expect("list");
    assert!(
        files
            .iter()
            .any(|k| k.starts_with("focus/billing_period=2024-08/d1-part-")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|k| k.starts_with("focus/billing_period=2024-09/d1-part-")),
        "{files:?}"
    );
}

#[test]
fn a_restated_delivery_replaces_and_an_older_one_never_overwrites() {
    let mut w = world();
    let first = put_delivery(&w.blobs, "first", "1");
    let restated = put_delivery(&w.blobs, "restated", "2");
    for p in 0..2 {
        run(&mut w, &job("first", &first, p, t(1))).expect("first");
    }
    for p in 0..2 {
        run(&mut w, &job("restated", &restated, p, t(2))).expect("restated");
    }
    assert_eq!(
        total(&w.store),
        "2104.30".parse::<Decimal>().expect("dec"),
        "replaced, not added"
    );
    // A delayed message of an even older delivery arrives last: the newer numbers stay.
    let old = put_delivery(&w.blobs, "old", "3");
    for p in 0..2 {
        run(&mut w, &job("old", &old, p, t(0))).expect("old");
    }
    assert_eq!(total(&w.store), "2104.30".parse::<Decimal>().expect("dec"));
}

#[test]
fn bad_data_fails_permanently_with_its_location_and_loads_nothing() {
    let mut w = world();
    let (header, rows) = rows("1");
    let bad = rows[0].replacen("10", "ten", 1);
    w.blobs
        .put_bytes(
            "exports/bad/part-0.csv",
            format!("{header}{bad}").as_bytes(),
            "text/csv",
        )
        .expect("put");
    let parts = vec![vec!["exports/bad/part-0.csv".to_string()]];
    let e = run(&mut w, &job("bad", &parts, 0, t(1))).expect_err("bad cost");
    assert!(e.is_permanent(), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("part-0.csv:2"), "names file and line: {msg}");
    assert_eq!(total(&w.store), Decimal::ZERO);
    assert!(w.analysis.is_empty());
    let missing = vec![vec!["exports/none.csv".to_string()]];
    let e = run(&mut w, &job("missing", &missing, 0, t(1))).expect_err("missing object");
    assert!(!e.is_permanent(), "a missing object may appear later: {e}");
}

#[test]
fn budgets_fire_once_and_notifications_deliver_once() {
    let mut w = world();
    let parts = put_delivery(&w.blobs, "run1", "1");
    for p in 0..2 {
        run(&mut w, &job("d1", &parts, p, t(1))).expect("load");
    }
    let budgets = "version: 1\nbudgets:\n  - name: aws-sept\n    period: monthly\n    amount:\n      fixed: 30\n    currency: USD\n    basis: billed\n    scope:\n      providers: [AWS]\n    thresholds:\n      - percent: 50\n      - percent: 80\n";
    w.blobs
        .put_bytes("config/budgets.yaml", budgets.as_bytes(), "text/yaml")
        .expect("put");
    let findings = MemoryQueue::default();
    let now = Utc
        .with_ymd_and_hms(2024, 9, 4, 8, 0, 0)
        .single()
        .expect("now");
    let run1 = budget::check(
        &w.store,
        &w.blobs,
        &w.state,
        &findings,
        "config/budgets.yaml",
        &LinearRunRate,
        now,
    )
    .expect("check");
    // September so far: 27.25 + 0.40 = 27.65 of 30 → 80% crossed (50% recorded with it).
    assert_eq!(
        run1.statuses[0].actual,
        "27.65".parse::<Decimal>().expect("dec")
    );
    assert_eq!(run1.findings.len(), 1, "{:?}", run1.findings);
    assert_eq!(
        run1.findings[0].id,
        "budget:aws-sept:2024-09:billed:actual:80%"
    );
    let run2 = budget::check(
        &w.store,
        &w.blobs,
        &w.state,
        &findings,
        "config/budgets.yaml",
        &LinearRunRate,
        now,
    )
    .expect("check again");
    assert!(run2.findings.is_empty(), "same day, nothing new");
    assert_eq!(findings.len(), 1);

    let outbox = w._dir.path().join("outbox.jsonl");
    let publisher = OutboxPublisher::new(&outbox);
    let body = findings.pop().expect("finding");
    let Message::Finding(f) = Message::from_json(&body).expect("msg") else {
        panic!("not a finding: {body}");
    };
    assert_eq!(
        deliver(&f, "sns", &publisher, &w.state).expect("send"),
        Delivery::Sent
    );
    assert_eq!(
        deliver(&f, "sns", &publisher, &w.state).expect("again"),
        Delivery::Duplicate
    );
    let lines = std::fs::read_to_string(&outbox).expect("outbox");
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(lines.contains("\"kind\":\"budget_alert\""), "{lines}");
    assert!(lines.contains("27.65 USD"), "{lines}");

    let bad =
        "version: 1\nbudgets:\n  - name: x\n    period: monthly\n    amount:\n      fixed: -5\n";
    w.blobs
        .put_bytes("config/bad.yaml", bad.as_bytes(), "text/yaml")
        .expect("put");
    let e = budget::check(
        &w.store,
        &w.blobs,
        &w.state,
        &findings,
        "config/bad.yaml",
        &LinearRunRate,
        now,
    )
    .expect_err("bad budgets");
    assert!(e.is_permanent());
    assert!(e.to_string().contains("config/bad.yaml:"), "{e}");
}

/// 75 days of steady EC2 spend on three instances; on day 60 (2024-03-01) instance `i-b` costs
/// $600 more than usual, as a FOCUS 1.2 file.
fn spike_focus_csv() -> String {
    let mut s = String::from(
        "BilledCost,BillingAccountId,BillingCurrency,BillingPeriodEnd,BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,ContractedCost,EffectiveCost,InvoiceIssuerName,ListCost,PricingCategory,PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,ResourceId,ServiceCategory,ServiceName,SkuMeter,SubAccountId\n",
    );
    let d0 = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    for t in 0..75i64 {
        let day = d0 + chrono::Duration::days(t);
        let month = day.format("%Y-%m-01").to_string();
        let month_end = chrono::NaiveDate::parse_from_str(&month, "%Y-%m-%d")
            .expect("month")
            .checked_add_months(chrono::Months::new(1))
            .expect("next");
        let noise = [0.0, 4.5, -3.25, 2.0, -1.5, 3.75, -2.5][t as usize % 7];
        let next = day + chrono::Duration::days(1);
        for (resource, usage, base) in [
            ("i-a", "BoxUsage:m5.large", 150.0),
            ("i-b", "BoxUsage:m5.large", 100.0),
            ("i-c", "BoxUsage:t3.micro", 50.0),
        ] {
            let mut cost = base + noise / 3.0;
            if t == 60 && resource == "i-b" {
                cost += 600.0;
            }
            s.push_str(&format!(
                "{cost:.2},999,USD,{month_end}T00:00:00Z,{month}T00:00:00Z,Usage,,vm,Usage-Based,{next}T00:00:00Z,{day}T00:00:00Z,{cost:.2},{cost:.2},AWS,{cost:.2},Standard,1,Hours,AWS,AWS,us-east-1,{resource},Compute,Amazon Elastic Compute Cloud,{usage},111\n"
            ));
        }
    }
    s
}

#[test]
fn an_anomaly_is_reported_once() {
    let mut w = world();
    w.blobs
        .put_bytes(
            "exports/spike/part-0.csv",
            spike_focus_csv().as_bytes(),
            "text/csv",
        )
        .expect("put");
    let parts = vec![vec!["exports/spike/part-0.csv".to_string()]];
    run(&mut w, &job("spike", &parts, 0, t(1))).expect("load");
    // The same months delivered again (a restatement): two jobs' FOCUS files now sit under each
    // period's prefix, and root causes must count the money once.
    run(&mut w, &job("spike-again", &parts, 0, t(2))).expect("reload");
    w.blobs
        .put_bytes(
            "config/monitors.yaml",
            b"version: 1\nmonitors:\n  - name: total\n    currency: USD\n",
            "text/yaml",
        )
        .expect("put");
    let findings = MemoryQueue::default();
    // 2024-03-01 is day 60; the check runs two days later with data through day 61.
    let now = Utc
        .with_ymd_and_hms(2024, 3, 3, 6, 0, 0)
        .single()
        .expect("now");
    let first = costkit_core::flow::anomaly::check(
        &w.store,
        &w.blobs,
        &w.state,
        &findings,
        "config/monitors.yaml",
        now,
    )
    .expect("check");
    assert_eq!(first.findings.len(), 1, "{:?}", first.anomalies);
    let f = &first.findings[0];
    assert_eq!(f.id, "anomaly:total:all:2024-03-01");
    assert!(f.amount.is_some_and(|a| a > Decimal::from(500)), "{f:?}");
    // Root causes below the store's grain, read back from the current FOCUS files.
    let a = &first.anomalies[0];
    let cause = |dim: &str, value: &str| {
        a.root_causes
            .iter()
            .find(|c| c.dimension == dim && c.value == value)
            .map(|c| c.contribution)
    };
    let by_resource = cause("resource", "i-b").expect("i-b is a root cause");
    assert!(
        by_resource > Decimal::from(560) && by_resource < Decimal::from(640),
        "counted once: {:?}",
        a.root_causes
    );
    let by_usage = cause("usage_type", "BoxUsage:m5.large").expect("usage type is a root cause");
    assert!(by_usage > Decimal::from(560), "{:?}", a.root_causes);
    assert_eq!(
        a.root_causes[0].value, "i-b",
        "largest first: {:?}",
        a.root_causes
    );
    // The other instances did not move: they are not offered as causes.
    assert!(cause("resource", "i-a").is_none(), "{:?}", a.root_causes);
    assert!(f.summary.contains("resource i-b"), "{}", f.summary);
    let again = costkit_core::flow::anomaly::check(
        &w.store,
        &w.blobs,
        &w.state,
        &findings,
        "config/monitors.yaml",
        now + chrono::Duration::days(1),
    )
    .expect("check again");
    assert!(
        again.findings.is_empty(),
        "reported once: {:?}",
        again.findings
    );
    assert_eq!(findings.len(), 1);
}

/// The period's FOCUS download after a month was delivered twice: with the flows' state, only the
/// current delivery's records, so its total equals the store's; without it, both deliveries.
#[test]
fn the_focus_slice_download_counts_a_redelivered_month_once() {
    use costkit_core::output::OutputFormat;
    use costkit_core::report::{write_focus_slice, ReportPeriod};

    let mut w = world();
    w.blobs
        .put_bytes(
            "exports/spike/part-0.csv",
            spike_focus_csv().as_bytes(),
            "text/csv",
        )
        .expect("put");
    let parts = vec![vec!["exports/spike/part-0.csv".to_string()]];
    run(&mut w, &job("first", &parts, 0, t(1))).expect("load");
    run(&mut w, &job("again", &parts, 0, t(2))).expect("reload");
    let period = ReportPeriod::parse("2024-02").expect("period");
    let store_total: Decimal = w
        .store
        .daily(&Filter {
            billing_period: Some("2024-02".into()),
            provider: None,
        })
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum();
    assert!(store_total > Decimal::from(8000), "{store_total}");
    let billed = |state: Option<&dyn costkit_core::ports::StateStore>| -> Decimal {
        let dir = tempfile::tempdir().expect("dir");
        let path = write_focus_slice(&w.blobs, state, &period, OutputFormat::Csv, dir.path())
            .expect("slice")
            .expect("a FOCUS file");
        let mut r = csv::Reader::from_path(&path).expect("csv");
        let col = r
            .headers()
            .expect("header")
            .iter()
            .position(|h| h == "BilledCost")
            .expect("BilledCost column");
        r.records()
            .map(|rec| rec.expect("row")[col].parse::<Decimal>().expect("decimal"))
            .sum()
    };
    assert_eq!(billed(Some(&w.state)), store_total);
    // Without the state (a plain directory) two identical deliveries are refused, not summed.
    let dir = tempfile::tempdir().expect("dir");
    let e = write_focus_slice(&w.blobs, None, &period, OutputFormat::Csv, dir.path())
        .expect_err("duplicate deliveries");
    assert!(e.to_string().contains("twice"), "{e}");
}
