//! Cost Explorer: paging against moto's canned results, the pages normalized and reconciled and
//! loaded into the DynamoDB store; throttling and its limits against a real local HTTP server
//! that answers like Cost Explorer (moto cannot throttle).

mod common;

use std::time::Duration;

use chrono::NaiveDate;
use common::{Reply, ScriptedServer};
use costkit_aws::cost_explorer::{CeQuery, CostExplorer, SecondGrouping};
use costkit_aws::retry::Backoff;
use costkit_aws::{AwsClients, AwsError, AwsSettings, DynamoStore};
use costkit_core::aggregate::LoadBatch;
use costkit_core::input::Progress;
use costkit_core::normalize::{Dialect, Job};
use costkit_core::store::{CostStore, Filter, LoadMeta};
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn metric(amount: &str) -> Value {
    json!({"Amount": amount, "Unit": "USD"})
}

fn group(service: &str, account: &str, net: &str, gross: &str, net_amortized: &str) -> Value {
    json!({
        "Keys": [service, account],
        "Metrics": {
            "UnblendedCost": metric(gross),
            "AmortizedCost": metric(gross),
            "NetUnblendedCost": metric(net),
            "NetAmortizedCost": metric(net_amortized),
            "UsageQuantity": {"Amount": "3", "Unit": "N/A"}
        }
    })
}

fn day(start: &str, end: &str, groups: Vec<Value>) -> Value {
    json!({"TimePeriod": {"Start": start, "End": end}, "Total": {}, "Groups": groups, "Estimated": false})
}

/// Three days across a month boundary, on two pages, plus a one-page region view.
fn canned() -> (Value, Value, Value) {
    let defs = json!([{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}]);
    let attrs = json!([{"Value": "111122223333", "Attributes": {"description": "payments-prod"}}]);
    let page1 = json!({
        "NextPageToken": "page-2-token",
        "GroupDefinitions": defs,
        "ResultsByTime": [
            day("2026-02-27", "2026-02-28", vec![
                group("Amazon Elastic Compute Cloud - Compute", "111122223333", "12.3456789", "13.00", "12.40"),
                group("Amazon Simple Storage Service", "111122223333", "0.0000001234", "0.0000001234", "0.0000001234"),
            ]),
            day("2026-02-28", "2026-03-01", vec![
                group("Amazon Elastic Compute Cloud - Compute", "111122223333", "11.11", "12", "11.2"),
            ]),
        ],
        "DimensionValueAttributes": attrs
    });
    let page2 = json!({
        "GroupDefinitions": defs,
        "ResultsByTime": [
            day("2026-03-01", "2026-03-02", vec![
                group("Amazon Elastic Compute Cloud - Compute", "111122223333", "10", "10.5", "10.1"),
                group("Tax", "111122223333", "2.05", "2.05", "2.05"),
            ]),
        ],
        "DimensionValueAttributes": attrs
    });
    let region = json!({
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "REGION"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
        "ResultsByTime": [
            day("2026-02-27", "2026-02-28", vec![group("us-east-1", "111122223333", "12.3456790234", "13.0000001234", "12.4000001234")]),
            day("2026-02-28", "2026-03-01", vec![group("us-east-1", "111122223333", "11.11", "12", "11.2")]),
            day("2026-03-01", "2026-03-02", vec![group("eu-west-1", "111122223333", "12.05", "12.55", "12.15")]),
        ],
        "DimensionValueAttributes": attrs
    });
    (page1, page2, region)
}

/// Σ of one metric over every group of the given responses, recomputed straight from the JSON.
fn sum_metric(pages: &[Value], name: &str) -> Decimal {
    let mut t = Decimal::ZERO;
    for p in pages {
        for r in p["ResultsByTime"].as_array().expect("results") {
            for g in r["Groups"].as_array().expect("groups") {
                let a = g["Metrics"][name]["Amount"].as_str().expect("amount");
                t += a.parse::<Decimal>().expect("decimal");
            }
        }
    }
    t
}

#[test]
fn pages_from_moto_are_followed_normalized_reconciled_and_stored() {
    let endpoint = common::moto_endpoint();
    let (page1, page2, region) = canned();
    // moto hands queued results out in order, one per distinct request body: the first page
    // request, the second (it carries the token), then the region query.
    let (status, body) = common::post_json(
        &endpoint,
        "/moto-api/static/ce/cost-and-usage-results",
        &json!({"results": [page1, page2, region]}).to_string(),
    );
    assert_eq!(status, 201, "queue canned results: {body}");

    let rt = common::runtime();
    let clients = AwsClients::new(AwsSettings::emulator(&endpoint));
    let ce = CostExplorer::new(&clients);
    let [by_service, by_region] =
        CeQuery::daily_pair(d("2026-02-27"), d("2026-03-02"), &SecondGrouping::Region);
    let today = d("2026-03-15");
    let service_pages = rt.block_on(ce.fetch(&by_service, today)).expect("fetch");
    let region_pages = rt
        .block_on(ce.fetch(&by_region, today))
        .expect("fetch region");
    assert_eq!(service_pages.pages.len(), 2, "followed NextPageToken");
    assert_eq!(region_pages.pages.len(), 1);
    let got: Vec<Value> = service_pages
        .pages
        .iter()
        .map(|p| serde_json::from_slice(p).expect("page is JSON"))
        .collect();
    assert_eq!(got[0]["NextPageToken"], "page-2-token");
    assert_eq!(
        got[1]["ResultsByTime"][0]["TimePeriod"]["Start"],
        "2026-03-01"
    );

    // Normalize the stored form (one JSON array of pages) exactly as the ingest will.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("service-account.json");
    std::fs::write(&path, service_pages.to_json_array()).expect("write");
    let job = Job {
        dialect: Dialect::AwsCostExplorer,
        inputs: vec![path],
        amortized: vec![],
    };
    let mut batch = LoadBatch::default();
    let outcomes = costkit_core::pipeline::run(
        &[job],
        &Progress::default(),
        None,
        Some(&mut batch),
        &mut || {},
    )
    .expect("normalizes and reconciles");
    let billed = sum_metric(&got, "NetUnblendedCost");
    let effective = sum_metric(&got, "NetAmortizedCost");
    assert_eq!(billed, "35.5056790234".parse::<Decimal>().expect("dec"));
    assert_eq!(outcomes[0].billed.get("USD"), billed);
    assert_eq!(outcomes[0].effective.get("USD"), effective);
    assert_eq!(outcomes[0].records, 5);
    assert_eq!(batch.slices.len(), 2, "February and March slices");

    let mut store = DynamoStore::new(&clients, &common::unique("ce"), rt.handle().clone());
    rt.block_on(store.create_table()).expect("table");
    let meta = LoadMeta {
        dialect: "aws-ce".into(),
        files: vec!["raw/aws/ce-service-account/2026-03-15/pages.json".into()],
        loaded_at: "2026-03-15T06:00:00Z".into(),
    };
    store.replace(&batch, &meta).expect("load");
    let stored: Decimal = store
        .daily(&Filter::default())
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum();
    assert_eq!(stored, billed, "every cent of the pages is in the store");
    let march = Filter {
        billing_period: Some("2026-03".into()),
        provider: None,
    };
    let march_total: Decimal = store
        .daily(&march)
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum();
    assert_eq!(march_total, "12.05".parse::<Decimal>().expect("dec"));

    // The region view normalizes and reconciles too (same money, another grouping).
    let rpath = dir.path().join("region-account.json");
    std::fs::write(&rpath, region_pages.to_json_array()).expect("write");
    let rjob = Job {
        dialect: Dialect::AwsCostExplorer,
        inputs: vec![rpath],
        amortized: vec![],
    };
    let routcome =
        costkit_core::pipeline::run(&[rjob], &Progress::default(), None, None, &mut || {})
            .expect("region view reconciles");
    assert_eq!(routcome[0].billed.get("USD"), billed);
}

fn ce_json(status: u16, body: &str) -> Reply {
    Reply {
        status,
        content_type: "application/x-amz-json-1.1",
        body: body.to_string(),
    }
}

const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
const LIMIT: &str =
    r#"{"__type":"LimitExceededException","message":"You have exceeded the rate limit"}"#;

fn ok_page() -> String {
    json!({
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}],
        "ResultsByTime": [day("2026-03-01", "2026-03-02", vec![group("AWS Lambda", "111122223333", "0.42", "0.42", "0.42")])],
        "DimensionValueAttributes": []
    })
    .to_string()
}

fn explorer(endpoint: &str, attempts: u32) -> CostExplorer {
    let clients = AwsClients::new(AwsSettings::emulator(endpoint));
    CostExplorer::new(&clients).with_backoff(Backoff {
        max_attempts: attempts,
        base: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    })
}

fn one_day_query() -> CeQuery {
    CeQuery::daily_pair(d("2026-03-01"), d("2026-03-02"), &SecondGrouping::Region)[0].clone()
}

#[test]
fn throttling_is_retried_with_backoff_until_it_succeeds() {
    let server = ScriptedServer::start(vec![
        ce_json(400, THROTTLED),
        ce_json(400, LIMIT),
        ce_json(200, &ok_page()),
    ]);
    let rt = common::runtime();
    let started = std::time::Instant::now();
    let pages = rt
        .block_on(explorer(&server.endpoint, 5).fetch(&one_day_query(), d("2026-03-15")))
        .expect("succeeds on the third attempt");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "two throttled attempts, then the answer");
    assert!(reqs
        .iter()
        .all(|r| r.target.as_deref() == Some("AWSInsightsIndexService.GetCostAndUsage")));
    assert!(
        reqs.windows(2).all(|w| w[0].body == w[1].body),
        "every attempt repeats the same request"
    );
    let sent: Value = serde_json::from_str(&reqs[0].body).expect("request JSON");
    assert_eq!(sent["Granularity"], "DAILY");
    assert_eq!(sent["TimePeriod"]["Start"], "2026-03-01");
    assert_eq!(sent["Metrics"].as_array().map(Vec::len), Some(5));
    assert_eq!(pages.pages.len(), 1);
    let page: Value = serde_json::from_slice(&pages.pages[0]).expect("JSON");
    assert_eq!(
        page["ResultsByTime"][0]["Groups"][0]["Metrics"]["NetUnblendedCost"]["Amount"],
        "0.42"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn persistent_throttling_fails_clearly_after_the_allowed_attempts() {
    let server = ScriptedServer::start(vec![ce_json(400, THROTTLED)]);
    let rt = common::runtime();
    let err = rt
        .block_on(explorer(&server.endpoint, 4).fetch(&one_day_query(), d("2026-03-15")))
        .expect_err("gives up");
    assert_eq!(server.requests().len(), 4, "bounded attempts");
    match &err {
        AwsError::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(*attempts, 4);
            assert!(last.contains("ThrottlingException"), "{last}");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
    assert!(
        err.to_string().contains("gave up after 4 attempts"),
        "{err}"
    );
}

#[test]
fn a_validation_error_is_not_retried() {
    let server = ScriptedServer::start(vec![ce_json(
        400,
        r#"{"__type":"ValidationException","message":"Start date is too old"}"#,
    )]);
    let rt = common::runtime();
    let err = rt
        .block_on(explorer(&server.endpoint, 5).fetch(&one_day_query(), d("2026-03-15")))
        .expect_err("fails");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(err.code(), Some("ValidationException"));
    assert!(err.to_string().contains("Start date is too old"), "{err}");
}
