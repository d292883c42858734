//! The billing-export source against bqemulator (scripts/gcp-emulators.sh; `BIGQUERY_EMULATOR_HOST`)
//! loaded with rows in the real export schema, and against a replay server for the failure paths
//! (`errors[]` in a 200, 429 then success, `jobComplete=false` then complete).
//!
//! The emulator tests create their own dataset through the REST API, with the documented table
//! schemas in `tests/fixtures/`, and load the repository's hand-made export rows
//! (`tests/fixtures/gcp/*.ndjson`) with `tabledata.insertAll`. The pages the source returns are
//! normalized by the core and must give the very records the export file itself gives, with the
//! exact totals the fixtures document.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use costkit_core::breakdown::DayRange;
use costkit_core::flow::ingest::CostSource;
use costkit_core::input::Progress;
use costkit_core::normalize::{plan, Dialect};
use costkit_core::FocusRecord;
use costkit_gcp::bigquery::{BigQuery, BillingExportSource, ExportKind, ExportQuery, TableRef};
use costkit_gcp::{Endpoint, Gcp, Service};
use costkit_rest::testkit::Replay;
use costkit_rest::RetryPolicy;
use rust_decimal::Decimal;
use serde_json::{json, Value};

const PROJECT: &str = "billing-proj";

fn emulator() -> String {
    std::env::var("BIGQUERY_EMULATOR_HOST").expect(
        "BIGQUERY_EMULATOR_HOST is unset: start the emulators with scripts/gcp-emulators.sh start",
    )
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect(s)
}

fn month(start: &str, end: &str) -> DayRange {
    DayRange {
        start: d(start),
        end: d(end),
    }
}

/// A client of the BigQuery at `base` (the emulator or a replay server), with quick retries.
fn client(base: &str) -> BigQuery {
    let retry = RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_wait: Duration::from_secs(5),
    };
    let gcp = Gcp::new(PROJECT, retry, None).expect("gcp").with_endpoint(
        Service::BigQuery,
        Endpoint::emulator("BIGQUERY_EMULATOR_HOST", base).expect("endpoint"),
    );
    BigQuery::new(gcp)
}

fn ndjson_rows(rel: &str) -> Vec<Value> {
    std::fs::read_to_string(repo_file(rel))
        .expect("fixture")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("row"))
        .collect()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let resp = client.post(&url).json(&body).send().await.expect("request");
    let status = resp.status();
    let v: Value = resp.json().await.expect("json");
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

/// A fresh dataset with one export table of `schema_file`, holding `rows`.
async fn load_table(schema_file: &str, table: &str, rows: &[Value]) -> TableRef {
    let base = format!("{}/bigquery/v2/projects/{PROJECT}", emulator());
    let client = reqwest::Client::new();
    let dataset = format!("billing_{:08x}", fastrand::u32(..));
    post(
        &client,
        format!("{base}/datasets"),
        json!({"datasetReference": {"projectId": PROJECT, "datasetId": dataset}}),
    )
    .await;
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file(schema_file)).expect("schema"))
            .expect("schema json");
    post(
        &client,
        format!("{base}/datasets/{dataset}/tables"),
        json!({
            "tableReference": {"projectId": PROJECT, "datasetId": dataset, "tableId": table},
            "schema": schema,
            // The export tables are day-partitioned by load time.
            "timePartitioning": {"type": "DAY"},
        }),
    )
    .await;
    let insert: Vec<Value> = rows.iter().map(|r| json!({"json": r})).collect();
    let r = post(
        &client,
        format!("{base}/datasets/{dataset}/tables/{table}/insertAll"),
        json!({"rows": insert}),
    )
    .await;
    assert_eq!(r["insertErrors"], json!([]), "{r}");
    TableRef::parse(&format!("{PROJECT}.{dataset}.{table}")).expect("table ref")
}

/// Normalizes pages the way the normalize step does (each page a file of the part).
fn normalize_pages(pages: &[Vec<u8>], dialect: &str, ext: &str) -> (Vec<FocusRecord>, u64) {
    let dir = tempfile::tempdir().expect("tmp");
    let paths: Vec<PathBuf> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let path = dir.path().join(format!("page-{i:04}.{ext}"));
            std::fs::write(&path, p).expect("write page");
            path
        })
        .collect();
    let forced = Dialect::from_name(dialect).expect("dialect");
    let mut records = Vec::new();
    let mut rows = 0;
    for job in plan(&paths, Some(forced)).expect("plan") {
        let mut stream = job.open(&Progress::default()).expect("open");
        for r in stream.by_ref() {
            records.push(r.expect("record"));
        }
        rows += stream.source_totals().rows;
    }
    (records, rows)
}

fn file_records(rel: &str) -> Vec<FocusRecord> {
    let path = repo_file(rel);
    let mut out = Vec::new();
    for job in plan(&[path], Some(Dialect::GcpBilling)).expect("plan") {
        for r in job.open(&Progress::default()).expect("open") {
            out.push(r.expect("record"));
        }
    }
    out
}

fn billed(records: &[FocusRecord]) -> BTreeMap<String, Decimal> {
    let mut t = BTreeMap::new();
    for r in records {
        *t.entry(r.billing_currency.to_string())
            .or_insert(Decimal::ZERO) += r.billed_cost;
    }
    t.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

/// Σ cost + Σ credits.amount per currency, straight from the rows.
fn raw_billed(rows: &[Value]) -> BTreeMap<String, Decimal> {
    let num = |v: &Value| -> Decimal {
        let s = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        s.parse()
            .or_else(|_| Decimal::from_scientific(&s))
            .expect("number")
    };
    let mut t = BTreeMap::new();
    for r in rows {
        let mut a = num(&r["cost"]);
        for c in r["credits"].as_array().into_iter().flatten() {
            a += num(&c["amount"]);
        }
        *t.entry(r["currency"].as_str().expect("currency").to_string())
            .or_insert(Decimal::ZERO) += a;
    }
    t.into_iter().map(|(k, v)| (k, v.normalize())).collect()
}

/// Order-independent comparison (paging does not promise the export's row order).
fn sorted(mut v: Vec<FocusRecord>) -> Vec<FocusRecord> {
    v.sort_by_key(|r| format!("{r:?}"));
    v
}

/// A copy of `row` on another invoice month, with an amount that would show in any total.
fn on_invoice(row: &Value, month: &str) -> Value {
    let mut r = row.clone();
    r["invoice"]["month"] = json!(month);
    r["cost"] = json!(1000);
    r["credits"] = json!([]);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_export_month_through_bigquery_gives_the_exports_own_records() {
    let rows = ndjson_rows("../../tests/fixtures/gcp/standard.ndjson");
    assert_eq!(rows.len(), 13);
    let mut loaded = rows.clone();
    // Rows of the invoices before and after: not September's, whatever their usage time.
    loaded.push(on_invoice(&rows[0], "202408"));
    loaded.push(on_invoice(&rows[1], "202410"));
    let table = load_table(
        "tests/fixtures/billing_export_v1_schema.json",
        "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9",
        &loaded,
    )
    .await;

    let bq = client(&emulator()).with_page_size(4);
    let query = ExportQuery {
        table: table.clone(),
        kind: ExportKind::Standard,
        partition_lookback_days: None,
    };
    let source =
        BillingExportSource::new(bq.clone(), query.clone(), tokio::runtime::Handle::current());
    assert_eq!(source.name(), "gcp-bq-standard");
    assert_eq!(source.dialect(), "gcp-billing");
    let september = month("2024-09-01", "2024-10-01");
    let pages = source.pages(&september).await.expect("pages");
    assert_eq!(pages.len(), 4, "13 rows at 4 per page");

    let (records, source_rows) =
        tokio::task::block_in_place(|| normalize_pages(&pages, source.dialect(), "json"));
    assert_eq!(
        source_rows, 13,
        "every September row, nothing of August or October"
    );
    // The documented billed measure of the fixture (tests/fixtures/gcp/README.md).
    let expected: BTreeMap<String, Decimal> =
        [("USD".to_string(), "8.294454".parse().expect("dec"))].into();
    assert_eq!(billed(&records), expected);
    assert_eq!(
        raw_billed(&rows),
        expected,
        "Σ cost + Σ credits of the rows loaded"
    );
    // Promotion credits become their own records; everything else maps row for row.
    let direct = file_records("../../tests/fixtures/gcp/standard.ndjson");
    assert_eq!(records.len(), direct.len());
    assert_eq!(
        sorted(records),
        sorted(direct),
        "BigQuery round trip changes nothing"
    );

    // Partition pruning: the same rows (the emulator's partitions are the load day, today).
    let pruned = BillingExportSource::new(
        bq,
        ExportQuery {
            partition_lookback_days: Some(1),
            ..query
        },
        tokio::runtime::Handle::current(),
    );
    assert_eq!(pruned.pages(&september).await.expect("pruned pages"), pages);

    // A month without rows has no pages (and no error).
    let empty = source
        .pages(&month("2024-07-01", "2024-08-01"))
        .await
        .expect("empty month");
    assert!(empty.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detailed_export_in_euro_through_the_cost_source_trait() {
    let rows = ndjson_rows("../../tests/fixtures/gcp/detailed.ndjson");
    assert_eq!(rows.len(), 11);
    let table = load_table(
        "tests/fixtures/billing_export_resource_v1_schema.json",
        "gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9",
        &rows,
    )
    .await;
    let bq = client(&emulator()).with_page_size(3);
    let source = BillingExportSource::new(
        bq,
        ExportQuery {
            table,
            kind: ExportKind::Detailed,
            partition_lookback_days: Some(3),
        },
        tokio::runtime::Handle::current(),
    );
    // The ingest flow calls the blocking trait method from a blocking thread.
    let pages =
        tokio::task::spawn_blocking(move || source.fetch(&month("2024-11-01", "2024-11-20")))
            .await
            .expect("join")
            .expect("fetch");
    assert_eq!(pages.len(), 4, "11 rows at 3 per page");
    let (records, source_rows) =
        tokio::task::block_in_place(|| normalize_pages(&pages, "gcp-billing", "json"));
    assert_eq!(source_rows, 11);
    let expected: BTreeMap<String, Decimal> =
        [("EUR".to_string(), "28.75594552382".parse().expect("dec"))].into();
    assert_eq!(billed(&records), expected);
    assert_eq!(raw_billed(&rows), expected);
    let direct = file_records("../../tests/fixtures/gcp/detailed.ndjson");
    assert_eq!(sorted(records), sorted(direct));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_errors_reported_in_a_200_fail_the_fetch_naming_the_query() {
    // The emulator answers a bad query with HTTP 200 and errors[] (as BigQuery does for some).
    let bq = client(&emulator());
    let missing = TableRef::parse(&format!(
        "{PROJECT}.no_such_dataset.gcp_billing_export_v1_X"
    ))
    .expect("table");
    let source = BillingExportSource::new(
        bq,
        ExportQuery {
            table: missing,
            kind: ExportKind::Standard,
            partition_lookback_days: None,
        },
        tokio::runtime::Handle::current(),
    );
    let e = source
        .pages(&month("2024-09-01", "2024-10-01"))
        .await
        .expect_err("no such table");
    let msg = e.to_string();
    assert!(
        msg.contains("standard export billing-proj.no_such_dataset.gcp_billing_export_v1_X for invoice month 202409"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Replay server: the documented response shapes, one failure path each.

fn schema() -> Value {
    json!({"fields": [
        {"name": "billing_account_id", "type": "STRING", "mode": "NULLABLE"},
        {"name": "cost", "type": "FLOAT", "mode": "NULLABLE"},
        {"name": "currency", "type": "STRING", "mode": "NULLABLE"},
        {"name": "usage_start_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
        {"name": "usage_end_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
        {"name": "invoice", "type": "RECORD", "mode": "NULLABLE",
         "fields": [{"name": "month", "type": "STRING", "mode": "NULLABLE"}]},
        {"name": "credits", "type": "RECORD", "mode": "REPEATED",
         "fields": [{"name": "amount", "type": "FLOAT", "mode": "NULLABLE"},
                    {"name": "type", "type": "STRING", "mode": "NULLABLE"}]}
    ]})
}

fn row(cost: &str, credit: Option<&str>) -> Value {
    let credits: Vec<Value> = credit
        .map(|a| json!({"v": {"f": [{"v": a}, {"v": "PROMOTION"}]}}))
        .into_iter()
        .collect();
    json!({"f": [
        {"v": "01A2B3-C4D5E6-F7A8B9"}, {"v": cost}, {"v": "USD"},
        {"v": "1726308000000000"}, {"v": "1726311600000000"},
        {"v": {"f": [{"v": "202409"}]}}, {"v": credits}
    ]})
}

fn replay_source(base: &str) -> BillingExportSource {
    let bq = client(base)
        .with_page_size(2)
        .with_location(Some("EU".into()));
    BillingExportSource::new(
        bq,
        ExportQuery {
            table: TableRef::parse("billing-proj.billing.gcp_billing_export_v1_X").expect("t"),
            kind: ExportKind::Standard,
            partition_lookback_days: None,
        },
        tokio::runtime::Handle::current(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_errors_in_a_200_are_a_failure() {
    let replay = Replay::default();
    replay.push(
        200,
        &[("content-type", "application/json")],
        json!({
            "kind": "bigquery#queryResponse",
            "jobReference": {"projectId": PROJECT, "jobId": "job_1", "location": "EU"},
            "jobComplete": true,
            "errors": [{"reason": "accessDenied", "location": "billing-proj:billing",
                        "message": "Access Denied: Table billing-proj:billing.gcp_billing_export_v1_X"}]
        })
        .to_string(),
    );
    let base = replay.serve().await.expect("serve");
    let e = replay_source(&base)
        .pages(&month("2024-09-01", "2024-10-01"))
        .await
        .expect_err("errors[] must fail");
    assert_eq!(
        e.to_string(),
        "BigQuery standard export billing-proj.billing.gcp_billing_export_v1_X for invoice month 202409: \
         the query failed: accessDenied at billing-proj:billing: Access Denied: Table billing-proj:billing.gcp_billing_export_v1_X"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_429_then_an_unfinished_job_then_two_pages() {
    let replay = Replay::default();
    replay.push(
        429,
        &[("retry-after", "0"), ("content-type", "application/json")],
        json!({"error": {"code": 429, "message": "Exceeded rate limits", "status": "RESOURCE_EXHAUSTED"}})
            .to_string(),
    );
    // jobs.query: accepted, still running.
    replay.push(
        200,
        &[],
        json!({"kind": "bigquery#queryResponse",
               "jobReference": {"projectId": PROJECT, "jobId": "job_2", "location": "EU"},
               "jobComplete": false})
        .to_string(),
    );
    // getQueryResults: still running, then done with the first page.
    replay.push(
        200,
        &[],
        json!({"kind": "bigquery#getQueryResultsResponse",
               "jobReference": {"projectId": PROJECT, "jobId": "job_2", "location": "EU"},
               "jobComplete": false})
        .to_string(),
    );
    replay.push(
        200,
        &[],
        json!({"kind": "bigquery#getQueryResultsResponse",
               "jobReference": {"projectId": PROJECT, "jobId": "job_2", "location": "EU"},
               "jobComplete": true, "schema": schema(), "totalRows": "3",
               "rows": [row("0.1", None), row("2.25", Some("-0.35"))],
               "pageToken": "BFH2K"})
        .to_string(),
    );
    replay.push(
        200,
        &[],
        json!({"kind": "bigquery#getQueryResultsResponse",
               "jobReference": {"projectId": PROJECT, "jobId": "job_2", "location": "EU"},
               "jobComplete": true, "schema": schema(), "totalRows": "3",
               "rows": [row("1e-06", None)]})
        .to_string(),
    );
    let base = replay.serve().await.expect("serve");
    let pages = replay_source(&base)
        .pages(&month("2024-09-01", "2024-10-01"))
        .await
        .expect("pages");
    assert_eq!(pages.len(), 2);
    let first: Vec<Value> = std::str::from_utf8(&pages[0])
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("row"))
        .collect();
    assert_eq!(
        first[1],
        json!({"billing_account_id": "01A2B3-C4D5E6-F7A8B9", "cost": "2.25", "currency": "USD",
               "usage_start_time": "2024-09-14T10:00:00Z", "usage_end_time": "2024-09-14T11:00:00Z",
               "invoice": {"month": "202409"},
               "credits": [{"amount": "-0.35", "type": "PROMOTION"}]})
    );
    let (records, rows) =
        tokio::task::block_in_place(|| normalize_pages(&pages, "gcp-billing", "json"));
    assert_eq!(rows, 3);
    // 0.1 + (2.25 - 0.35) + 0.000001, the promotion as its own Credit record.
    assert_eq!(records.len(), 4);
    assert_eq!(
        billed(&records),
        [("USD".to_string(), "2.000001".parse().expect("dec"))].into()
    );

    let seen = replay.seen();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[1].method, "POST", "the 429 is retried");
    let body0: Value = serde_json::from_str(&seen[0].body).expect("body");
    let body1: Value = serde_json::from_str(&seen[1].body).expect("body");
    assert_eq!(
        body0["requestId"], body1["requestId"],
        "one requestId: no second job"
    );
    assert_eq!(body0["location"], "EU");
    assert_eq!(body0["formatOptions"]["useInt64Timestamp"], true);
    assert_eq!(
        body0["queryParameters"][0]["parameterValue"]["arrayValues"][0]["value"],
        "202409"
    );
    assert!(seen[0]
        .path_and_query
        .starts_with("/bigquery/v2/projects/billing-proj/queries"));
    assert!(seen[2]
        .path_and_query
        .starts_with("/bigquery/v2/projects/billing-proj/queries/job_2?"));
    assert!(
        seen[2].path_and_query.contains("timeoutMs="),
        "{}",
        seen[2].path_and_query
    );
    assert!(seen[2].path_and_query.contains("location=EU"));
    assert!(!seen[3].path_and_query.contains("pageToken"));
    assert!(
        seen[4].path_and_query.contains("pageToken=BFH2K"),
        "{}",
        seen[4].path_and_query
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rows_that_do_not_add_up_to_total_rows_fail() {
    let replay = Replay::default();
    replay.push(
        200,
        &[],
        json!({"kind": "bigquery#queryResponse",
               "jobReference": {"projectId": PROJECT, "jobId": "job_3"},
               "jobComplete": true, "schema": schema(), "totalRows": "5",
               "rows": [row("1", None)]})
        .to_string(),
    );
    let base = replay.serve().await.expect("serve");
    let e = replay_source(&base)
        .pages(&month("2024-09-01", "2024-10-01"))
        .await
        .expect_err("rows missing");
    assert!(
        e.to_string().contains("totalRows is 5 but 1 rows arrived"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_an_error_status_names_the_query_and_the_service_message() {
    let replay = Replay::default();
    replay.push(
        404,
        &[],
        json!({"error": {"code": 404, "message": "Not found: Dataset billing-proj:billing",
                         "errors": [{"reason": "notFound", "message": "Not found: Dataset billing-proj:billing"}],
                         "status": "NOT_FOUND"}})
        .to_string(),
    );
    let base = replay.serve().await.expect("serve");
    let e = replay_source(&base)
        .pages(&month("2024-09-01", "2024-10-01"))
        .await
        .expect_err("404");
    let msg = e.to_string();
    assert_eq!(
        msg,
        "BigQuery jobs.query standard export billing-proj.billing.gcp_billing_export_v1_X \
         for invoice month 202409: HTTP 404 (NOT_FOUND): Not found: Dataset billing-proj:billing"
    );
}

#[test]
fn the_kinds_feed_the_right_dialects() {
    assert_eq!(ExportKind::Standard.dialect(), "gcp-billing");
    assert_eq!(ExportKind::Detailed.dialect(), "gcp-billing");
    assert_eq!(ExportKind::Focus.dialect(), "focus");
    assert!(Dialect::from_name(ExportKind::Focus.dialect()).is_some());
    assert!(Dialect::from_name(ExportKind::Standard.dialect()).is_some());
    assert_eq!(
        ExportKind::from_table_name("gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"),
        Some(ExportKind::Detailed)
    );
    assert_eq!(
        ExportKind::from_table_name("gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9"),
        Some(ExportKind::Standard)
    );
}

// ---------------------------------------------------------------------------------------------
// Google's FOCUS view: FOCUS-named columns, read back into the core's FOCUS dialect.

/// The standard fixture as FOCUS CSV, written by the core itself: (header, rows).
fn fixture_as_focus_csv() -> (Vec<String>, Vec<Vec<String>>) {
    use costkit_core::output::{open_sink, OutputColumns, PendingFile};
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("focus.csv");
    let jobs = plan(
        &[repo_file("../../tests/fixtures/gcp/standard.ndjson")],
        Some(Dialect::GcpBilling),
    )
    .expect("plan");
    let mut stream = jobs[0].open(&Progress::default()).expect("open");
    let pending = PendingFile::create(&target).expect("pending");
    let mut sink =
        open_sink(&pending, OutputColumns::new(stream.extension_columns())).expect("sink");
    for r in stream.by_ref() {
        sink.write(&r.expect("record")).expect("write");
    }
    sink.finish().expect("finish");
    let path = pending.commit().expect("commit");
    let mut reader = csv::Reader::from_path(path).expect("csv");
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("row").iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// The FOCUS view's column types as Google exports them: costs NUMERIC, periods TIMESTAMP,
/// Tags a repeated key/value record, the rest STRING (enough for a round trip).
fn focus_field(name: &str) -> Value {
    match name {
        "BilledCost" | "EffectiveCost" | "ListCost" | "ContractedCost" => {
            json!({"name": name, "type": "NUMERIC", "mode": "NULLABLE"})
        }
        n if n.ends_with("PeriodStart") || n.ends_with("PeriodEnd") => {
            json!({"name": name, "type": "TIMESTAMP", "mode": "NULLABLE"})
        }
        "Tags" => json!({"name": "Tags", "type": "RECORD", "mode": "REPEATED", "fields": [
            {"name": "key", "type": "STRING", "mode": "NULLABLE"},
            {"name": "value", "type": "STRING", "mode": "NULLABLE"}]}),
        _ => json!({"name": name, "type": "STRING", "mode": "NULLABLE"}),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn focus_view_rows_come_back_as_focus_csv_for_the_focus_dialect() {
    let (header, rows) = tokio::task::block_in_place(fixture_as_focus_csv);
    // The view holds two invoice months; the source must pick September's whole billing period.
    let base = format!("{}/bigquery/v2/projects/{PROJECT}", emulator());
    let client = reqwest::Client::new();
    let dataset = format!("focus_{:08x}", fastrand::u32(..));
    post(
        &client,
        format!("{base}/datasets"),
        json!({"datasetReference": {"projectId": PROJECT, "datasetId": dataset}}),
    )
    .await;
    let table = "gcp_billing_export_focus_01A2B3_C4D5E6_F7A8B9";
    let fields: Vec<Value> = header.iter().map(|h| focus_field(h)).collect();
    post(
        &client,
        format!("{base}/datasets/{dataset}/tables"),
        json!({"tableReference": {"projectId": PROJECT, "datasetId": dataset, "tableId": table},
               "schema": {"fields": fields}}),
    )
    .await;
    let to_json = |row: &[String]| -> Value {
        let mut obj = serde_json::Map::new();
        for (h, cell) in header.iter().zip(row) {
            if cell.is_empty() {
                continue;
            }
            let v = if h == "Tags" {
                let tags: serde_json::Map<String, Value> =
                    serde_json::from_str(cell).expect("Tags object");
                Value::Array(
                    tags.into_iter()
                        .map(|(k, v)| {
                            let v = match v {
                                Value::String(s) => s,
                                other => other.to_string(),
                            };
                            json!({"key": k, "value": v})
                        })
                        .collect(),
                )
            } else {
                Value::String(cell.clone())
            };
            obj.insert(h.clone(), v);
        }
        Value::Object(obj)
    };
    let mut insert: Vec<Value> = rows.iter().map(|r| json!({"json": to_json(r)})).collect();
    // An October-invoice copy of the first record: outside the range.
    let mut october = to_json(&rows[0]);
    october["BillingPeriodStart"] = json!("2024-10-01T07:00:00Z");
    october["BillingPeriodEnd"] = json!("2024-11-01T07:00:00Z");
    october["BilledCost"] = json!("1000");
    insert.push(json!({"json": october}));
    let r = post(
        &client,
        format!("{base}/datasets/{dataset}/tables/{table}/insertAll"),
        json!({"rows": insert}),
    )
    .await;
    assert_eq!(r["insertErrors"], json!([]), "{r}");

    let source = BillingExportSource::new(
        client_of_emulator().with_page_size(5),
        ExportQuery {
            table: TableRef::parse(&format!("{PROJECT}.{dataset}.{table}")).expect("t"),
            kind: ExportKind::Focus,
            partition_lookback_days: None,
        },
        tokio::runtime::Handle::current(),
    );
    assert_eq!(source.dialect(), "focus");
    let pages = source
        .pages(&month("2024-09-01", "2024-10-01"))
        .await
        .expect("pages");
    assert_eq!(pages.len(), rows.len().div_ceil(5));
    let (records, source_rows) =
        tokio::task::block_in_place(|| normalize_pages(&pages, "focus", "csv"));
    assert_eq!(source_rows as usize, rows.len(), "September only");
    let expected: BTreeMap<String, Decimal> =
        [("USD".to_string(), "8.294454".parse().expect("dec"))].into();
    assert_eq!(
        billed(&records),
        expected,
        "the GCP fixture's billed measure, exactly"
    );
    let direct = file_records("../../tests/fixtures/gcp/standard.ndjson");
    let costs = |rs: &[FocusRecord]| {
        let mut v: Vec<(String, Decimal, Decimal)> = rs
            .iter()
            .map(|r| {
                (
                    format!("{:?}", r.charge_category),
                    r.billed_cost.normalize(),
                    r.effective_cost.normalize(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(costs(&records), costs(&direct));
}

fn client_of_emulator() -> BigQuery {
    client(&emulator())
}
