//! The whole Google Cloud flow on the emulators (`scripts/gcp-emulators.sh`), as Google drives
//! it: the service runs on a local port with the real wiring (Firestore store and state, Cloud
//! Storage bucket, Pub/Sub topics), the billing export sits in bqemulator in the documented
//! schema, and the Pub/Sub emulator **pushes** every message to the service's routes through
//! push subscriptions, as the subscriptions of `infra/gcp` do.
//!
//! Cloud Scheduler request → ingest (BigQuery, two pages) → normalize topic → push → Firestore
//! store loaded → data-updated topic → push to budget check and to anomaly → findings topic →
//! push → notify → alerts topic (pulled here) → report download, and the report job refusing to
//! run without its settings. Then the same normalize message published again changes nothing.
//!
//! The clock: Pub/Sub's `publishTime` is the budget check's clock, so the billing rows are in
//! the current month (all on its 1st), and the scheduler request's time is that month's 15th.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, Utc};
use common::{
    billing_rows, dec, emulator_config, emulator_var, eventually, push_subscription, quick_gcp,
    serve, API_KEY, BUDGETS, EMULATOR_PROJECT, MONITORS,
};
use costkit_core::flow::ingest::CostSource;
use costkit_core::store::generational::AsyncCostStore;
use costkit_core::store::Filter;
use costkit_gcp::bigquery::{BigQuery, BillingExportSource, ExportKind, ExportQuery, TableRef};
use costkit_gcp::firestore::Firestore;
use costkit_gcp::ports::publication_from_message;
use costkit_gcp::pubsub::{Subscription, Topic};
use costkit_gcp::FirestoreStore;
use costkit_gcp_handler::{ensure_resources, App, Config, Wiring};
use costkit_http::ApiKeyHash;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// A dataset holding the standard export table (the documented schema) with `rows`.
async fn billing_table(rows: &[String]) -> TableRef {
    let base = format!(
        "{}/bigquery/v2/projects/{EMULATOR_PROJECT}",
        emulator_var("BIGQUERY_EMULATOR_HOST")
    );
    let dataset = format!("e2e_{:08x}", fastrand::u32(..));
    let table = "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9";
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../adapters/gcp/tests/fixtures/billing_export_v1_schema.json"
        ))
        .expect("schema"),
    )
    .expect("schema JSON");
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| json!({"json": serde_json::from_str::<Value>(r).expect("row")}))
        .collect();
    let calls = [
        (
            format!("{base}/datasets"),
            json!({"datasetReference": {"projectId": EMULATOR_PROJECT, "datasetId": dataset}}),
        ),
        (
            format!("{base}/datasets/{dataset}/tables"),
            json!({"tableReference": {"projectId": EMULATOR_PROJECT, "datasetId": dataset, "tableId": table},
                   "schema": schema, "timePartitioning": {"type": "DAY"}}),
        ),
        (
            format!("{base}/datasets/{dataset}/tables/{table}/insertAll"),
            json!({"rows": rows}),
        ),
    ];
    let http = reqwest::Client::new();
    for (url, body) in calls {
        let resp = http.post(&url).json(&body).send().await.expect("bigquery");
        let status = resp.status();
        let v: Value = resp.json().await.expect("json");
        assert!(
            status.is_success() && v.get("insertErrors").is_none_or(|e| e == &json!([])),
            "{url}: {status} {v}"
        );
    }
    TableRef::parse(&format!("{EMULATOR_PROJECT}.{dataset}.{table}")).expect("table")
}

/// Runs a port call (they block on the runtime) on a blocking thread.
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("join")
}

async fn billed(store: &FirestoreStore) -> Decimal {
    store
        .daily_async(&Filter::default())
        .await
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum()
}

/// Pulls everything waiting on `sub` (acknowledging it) into `into`.
async fn pull_into(sub: &Subscription, into: &mut Vec<costkit_core::ports::Publication>) {
    let got = sub.pull(100).await.expect("pull");
    if got.is_empty() {
        return;
    }
    for m in &got {
        let data = m.message.bytes().expect("data");
        into.push(publication_from_message(&data, &m.message.attributes).expect("publication"));
    }
    let ids: Vec<String> = got.iter().map(|m| m.ack_id.clone()).collect();
    sub.acknowledge(&ids).await.expect("ack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schedule_to_report_on_the_emulators() {
    let gcp = quick_gcp();
    let id = format!("{:08x}", fastrand::u32(..));
    let today = Utc::now().date_naive();
    let first = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).expect("first");
    let period = first.format("%Y-%m").to_string();
    let keys = json!({"keys": [{"id": "e2e", "sha256": ApiKeyHash::of(API_KEY).to_hex()}]});
    let config = Config {
        report_auth: Some("API_KEY".into()),
        report_api_keys: Some(keys.to_string()),
        ..emulator_config("e2e", &id)
    };
    ensure_resources(&config, &gcp).await.expect("resources");
    let handle = tokio::runtime::Handle::current();
    let mut wiring = Wiring::gcp(&config, &gcp, handle.clone()).expect("wiring");
    let blobs = wiring.ports.blobs.clone();
    for (key, text) in [
        ("config/budgets.yaml", BUDGETS),
        ("config/monitors.yaml", MONITORS),
    ] {
        let b = blobs.clone();
        off_runtime(move || b.put_bytes(key, text.as_bytes(), "application/yaml"))
            .await
            .expect(key);
    }
    // The billing export in bqemulator; two pages of eight rows.
    let table = billing_table(&billing_rows(first, true)).await;
    let source = BillingExportSource::new(
        BigQuery::new(gcp.clone()).with_page_size(8),
        ExportQuery {
            table,
            kind: ExportKind::Standard,
            partition_lookback_days: None,
        },
        handle.clone(),
    );
    assert_eq!(source.name(), "gcp-bq-standard");
    wiring.source = Some(Arc::new(source));
    // The service on a local port.
    let base = serve(App::new(config.clone(), wiring).expect("app")).await;

    // Push subscriptions like infra/gcp's; pull subscriptions to watch the alerts, the dead
    // letters and the normalize topic.
    for (topic, step) in [
        (&config.normalize_topic, "normalize"),
        (&config.data_updated_topic, "budget-check"),
        (&config.data_updated_topic, "anomaly"),
        (&config.findings_topic, "notify"),
    ] {
        push_subscription(
            &gcp,
            topic,
            &format!("{step}-push-{id}"),
            &format!("{base}/pubsub/{step}"),
        )
        .await;
    }
    let pull = |topic: &str, name: &str| {
        let (t, s) = (Topic::new(&gcp, topic), Subscription::new(&gcp, name));
        async move {
            s.create_pull(&t, None).await.expect("pull subscription");
            s
        }
    };
    let alerts_sub = pull(&config.alerts_topic, &format!("alerts-{id}")).await;
    let dead_sub = pull(&config.dead_letter_topic, &format!("dead-{id}")).await;
    let jobs_sub = pull(&config.normalize_topic, &format!("jobs-{id}")).await;

    // 1. Cloud Scheduler → ingest.
    let http = reqwest::Client::new();
    let schedule_time = format!("{period}-15T06:00:00Z");
    let resp = http
        .post(format!("{base}/scheduler/ingest"))
        .header("user-agent", "Google-Cloud-Scheduler")
        .header("x-cloudscheduler", "true")
        .header(
            "x-cloudscheduler-jobname",
            format!("projects/{EMULATOR_PROJECT}/locations/europe-west1/jobs/costkit-ingest-daily"),
        )
        .header("x-cloudscheduler-scheduletime", &schedule_time)
        .send()
        .await
        .expect("ingest");
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.expect("json");
    let jobs = out["jobs"].as_array().cloned().unwrap_or_default();
    let this_month = jobs
        .iter()
        .find(|j| j["start"] == first.to_string().as_str())
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(this_month["pages"], 2, "15 rows at 8 a page: {out}");

    // 2. The emulator pushes the job; the Firestore store holds the month, exactly.
    let db = Firestore::with_database(&gcp, &config.firestore_database);
    let store = FirestoreStore::with_db(db, &config.firestore_root, handle.clone()).expect("store");
    let total = eventually(60, "the month in the store", || {
        let s = store.clone();
        async move {
            let b = billed(&s).await;
            (b == dec("37.4000000001")).then_some(b)
        }
    })
    .await;
    assert_eq!(total, dec("37.4000000001"));
    let rows = store.daily_async(&Filter::default()).await.expect("daily");
    assert!(rows
        .iter()
        .all(|r| r.slice.provider.as_str() == "Google Cloud"
            && r.slice.billing_account_id.as_str() == common::ACCOUNT
            && r.slice.billing_period == period));
    let (b, prefix) = (blobs.clone(), format!("focus/billing_period={period}/"));
    let focus = off_runtime(move || b.list(&prefix)).await.expect("list");
    assert_eq!(focus.len(), 1, "FOCUS Parquet written: {focus:?}");

    // 3–4. data_updated → budget check and anomaly → findings → notify → the alerts topic.
    let mut alerts = Vec::new();
    let wanted = format!("budget:gcp-march:{period}:billed:actual:80%");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !alerts
        .iter()
        .any(|a: &costkit_core::ports::Publication| a.body.contains(&wanted))
    {
        assert!(Instant::now() < deadline, "timed out waiting for {wanted}");
        pull_into(&alerts_sub, &mut alerts).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = alerts
        .iter()
        .map(|a| a.body.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("37.40 USD"), "{all}");
    assert!(alerts.iter().all(|a| a
        .attributes
        .iter()
        .any(|(k, v)| k == "kind" && (v == "budget_alert" || v == "anomaly"))));

    // 5. The report download through the same service.
    let csv = http
        .get(format!("{base}/reports/{period}.csv"))
        .header("x-api-key", API_KEY)
        .send()
        .await
        .expect("report");
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.expect("csv");
    assert!(
        csv.contains("\ntotal,,,,USD,billed,37.4000000001\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\nbreakdown,service,Compute Engine,,USD,billed,35"),
        "{csv}"
    );
    let unauthorized = http
        .get(format!("{base}/reports/{period}.csv"))
        .send()
        .await
        .expect("report");
    assert_eq!(unauthorized.status(), 401);

    // 6. The monthly report job: this service has no report base URL, so it answers 400 naming
    //    the setting and renders nothing (tests/scheduled_report.rs runs it configured).
    let resp = http
        .post(format!("{base}/scheduler/report/monthly"))
        .header("x-cloudscheduler-scheduletime", &schedule_time)
        .send()
        .await
        .expect("scheduled report");
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.expect("text");
    assert!(text.contains("COSTKIT_REPORT_BASE_URL"), "{text}");
    let b = blobs.clone();
    let stored = off_runtime(move || b.list("reports/")).await.expect("list");
    assert!(stored.is_empty(), "{stored:?}");

    // 7. The normalize message published again (a redelivery): nothing changes, no new alert.
    let job = eventually(10, "the job on the watching subscription", || {
        let s = &jobs_sub;
        async move { s.pull(10).await.ok().and_then(|mut m| m.pop()) }
    })
    .await;
    Topic::new(&gcp, &config.normalize_topic)
        .publish(&[costkit_gcp::pubsub::Outgoing {
            data: job.message.bytes().expect("data"),
            attributes: job.message.attributes.clone(),
        }])
        .await
        .expect("republish");
    let before = alerts.len();
    // The redelivered job reaches the watching subscription too: proof it went out.
    eventually(30, "the republished job", || {
        let s = &jobs_sub;
        async move { s.pull(10).await.ok().filter(|m| !m.is_empty()) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    pull_into(&alerts_sub, &mut alerts).await;
    assert_eq!(alerts.len(), before, "no alert sent twice");
    assert_eq!(
        billed(&store).await,
        dec("37.4000000001"),
        "not counted twice"
    );
    let dead = dead_sub.pull(10).await.expect("dead letters");
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
}
