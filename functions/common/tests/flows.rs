//! The Lambda handlers, called with real event types and real SDK clients pointed at moto: the
//! whole chain schedule → ingest (canned Cost Explorer pages) → normalize → budget check →
//! notify → an SQS inbox subscribed to the alert topic → report download, plus the faults (a
//! repeated message, a poison message that ends in the dead-letter queue, a restated day) and
//! the Data Exports manifest trigger. moto is started by `scripts/test.sh` (`scripts/moto.sh`).

use std::path::PathBuf;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::QueueAttributeName;
use costkit_aws::{AwsClients, AwsSettings, DynamoStore};
use costkit_core::flow::messages::Message;
use costkit_core::store::{CostStore, Filter};
use costkit_lambda::{anomaly, budget, ingest, normalize, notify, report, App, Config};
use rust_decimal::Decimal;
use serde_json::{json, Value};

fn moto_endpoint() -> String {
    match std::env::var("COSTKIT_MOTO_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => e.trim().trim_end_matches('/').to_string(),
        _ => panic!(
            "COSTKIT_MOTO_ENDPOINT is not set: run `scripts/moto.sh start && eval \"$(scripts/moto.sh env)\"` (or scripts/test.sh)"
        ),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:x}", std::process::id(), fastrand::u64(..))
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn event_file(name: &str) -> Value {
    let text = std::fs::read_to_string(events_dir().join(name)).expect("event file");
    serde_json::from_str(&text).expect("event JSON")
}

/// POSTs to moto's own API (canned Cost Explorer results).
fn moto_post(path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let endpoint = moto_endpoint();
    let hostport = endpoint.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&hostport).expect("connect");
    write!(s, "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

/// Everything one test's functions talk to, freshly created in moto.
struct World {
    rt: tokio::runtime::Runtime,
    app: App,
    bucket: String,
    normalize_url: String,
    budget_url: String,
    findings_url: String,
    inbox_url: String,
    store: DynamoStore,
}

fn clients() -> AwsClients {
    AwsClients::new(AwsSettings::emulator(&moto_endpoint()))
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let c = clients();
    let table = unique("costkit");
    let bucket = unique("costkit-data").to_lowercase();
    let (normalize_url, budget_url, findings_url, inbox_url, analysis, alerts) =
        rt.block_on(async {
            let store = DynamoStore::new(&c, &table, tokio::runtime::Handle::current());
            store.create_table().await.expect("table");
            c.s3()
                .create_bucket()
                .bucket(&bucket)
                .send()
                .await
                .expect("bucket");
            let q = |name: String| {
                let c = &c;
                async move {
                    c.sqs()
                        .create_queue()
                        .queue_name(name)
                        .send()
                        .await
                        .expect("queue")
                        .queue_url
                        .expect("url")
                }
            };
            let normalize = q(unique("normalize")).await;
            let budget = q(unique("budget")).await;
            let findings = q(unique("findings")).await;
            let inbox = q(unique("inbox")).await;
            let topic = |name: String| {
                let c = &c;
                async move {
                    c.sns()
                        .create_topic()
                        .name(name)
                        .send()
                        .await
                        .expect("topic")
                        .topic_arn
                        .expect("arn")
                }
            };
            let analysis = topic(unique("data-updated")).await;
            let alerts = topic(unique("alerts")).await;
            subscribe(&c, &analysis, &budget, true).await;
            subscribe(&c, &alerts, &inbox, false).await;
            (normalize, budget, findings, inbox, analysis, alerts)
        });
    let config = Config {
        table: Some(table.clone()),
        bucket: Some(bucket.clone()),
        normalize_queue_url: Some(normalize_url.clone()),
        analysis_topic_arn: Some(analysis),
        findings_queue_url: Some(findings_url.clone()),
        topic_arn: Some(alerts),
        budgets_key: "config/budgets.yaml".into(),
        monitors_key: "config/monitors.yaml".into(),
        report_files: Default::default(),
        ce_history_months: 13,
        export_prefix: "exports/".into(),
        report_auth: Some("AWS_IAM".into()),
        api_keys_secret_arn: None,
        notify_routes_key: "config/notify.yaml".into(),
        notify_dlq_url: None,
        report_base_url: None,
        signing_key_secret_arn: None,
    };
    let app = {
        let _g = rt.enter();
        App::new(config, clients())
    };
    let store = DynamoStore::new(&c, &table, rt.handle().clone());
    World {
        rt,
        app,
        bucket,
        normalize_url,
        budget_url,
        findings_url,
        inbox_url,
        store,
    }
}

async fn subscribe(c: &AwsClients, topic: &str, queue_url: &str, raw: bool) {
    let arn = c
        .sqs()
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    let mut req = c
        .sns()
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(arn);
    if raw {
        req = req.attributes("RawMessageDelivery", "true");
    }
    req.send().await.expect("subscribe");
}

/// Receives what is visible on a queue (without deleting) as the SQS event Lambda would pass.
fn receive(w: &World, url: &str) -> (SqsEvent, Vec<String>) {
    let c = clients();
    let out =
        w.rt.block_on(
            c.sqs()
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                .send(),
        )
        .expect("receive");
    let mut records = Vec::new();
    let mut handles = Vec::new();
    for m in out.messages.unwrap_or_default() {
        let count = m
            .attributes
            .as_ref()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            })
            .cloned()
            .unwrap_or_else(|| "1".into());
        records.push(json!({
            "messageId": m.message_id,
            "receiptHandle": m.receipt_handle,
            "body": m.body,
            "attributes": {"ApproximateReceiveCount": count},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "awsRegion": "us-east-1"
        }));
        handles.push(m.receipt_handle.unwrap_or_default());
    }
    let event = serde_json::from_value(json!({ "Records": records })).expect("SqsEvent");
    (event, handles)
}

/// Deletes received messages (what Lambda does after a batch without failures).
fn delete(w: &World, url: &str, handles: &[String]) {
    let c = clients();
    for h in handles {
        w.rt.block_on(
            c.sqs()
                .delete_message()
                .queue_url(url)
                .receipt_handle(h)
                .send(),
        )
        .expect("delete");
    }
}

fn total(w: &World) -> Decimal {
    w.store
        .daily(&Filter::default())
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum()
}

fn metric(amount: &str) -> Value {
    json!({"Amount": amount, "Unit": "USD"})
}

fn group(service: &str, amount: &str) -> Value {
    let m = metric(amount);
    json!({"Keys": [service, "111122223333"], "Metrics": {
        "UnblendedCost": m, "AmortizedCost": m, "NetUnblendedCost": m, "NetAmortizedCost": m,
        "UsageQuantity": {"Amount": "1", "Unit": "N/A"}}})
}

fn day(start: &str, end: &str, groups: Vec<Value>) -> Value {
    json!({"TimePeriod": {"Start": start, "End": end}, "Total": {}, "Groups": groups, "Estimated": false})
}

/// moto's canned Cost Explorer results are one queue for the whole server: the tests that use
/// them take turns.
static CE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Queues two Cost Explorer pages in moto: March 1-2 on the first, March 3 on the second.
fn canned_ce(ec2_day1: &str) {
    let defs = json!([{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}]);
    let page1 = json!({"NextPageToken": "p2", "GroupDefinitions": defs, "ResultsByTime": [
        day("2026-03-01", "2026-03-02", vec![group("Amazon Elastic Compute Cloud - Compute", ec2_day1), group("Amazon Simple Storage Service", "0.0000001234")]),
        day("2026-03-02", "2026-03-03", vec![group("Amazon Elastic Compute Cloud - Compute", "20.20")]),
    ]});
    let page2 = json!({"GroupDefinitions": defs, "ResultsByTime": [
        day("2026-03-03", "2026-03-04", vec![group("Amazon Elastic Compute Cloud - Compute", "5.05"), group("Tax", "2.05")]),
    ]});
    assert_eq!(
        moto_post(
            "/moto-api/static/ce/cost-and-usage-results",
            &json!({"results": [page1, page2]}).to_string()
        ),
        201
    );
}

fn schedule_event(time: &str) -> EventBridgeEvent<Value> {
    let mut e = event_file("schedule-daily.json");
    e["time"] = json!(time);
    serde_json::from_value(e).expect("EventBridgeEvent")
}

const BUDGETS: &str = "version: 1\nbudgets:\n  - name: aws-march\n    period: monthly\n    amount:\n      fixed: 40\n    currency: USD\n    basis: billed\n    scope:\n      providers: [AWS]\n    thresholds:\n      - percent: 50\n      - percent: 80\n";

fn run_normalize(w: &World) -> usize {
    let (event, handles) = receive(w, &w.normalize_url);
    let n = event.records.len();
    let resp = w.rt.block_on(normalize::handle(&w.app, event));
    assert!(resp.batch_item_failures.is_empty(), "normalize failed");
    delete(w, &w.normalize_url, &handles);
    n
}

#[test]
fn schedule_to_report_end_to_end() {
    let w = world();
    let ce = CE.lock().unwrap_or_else(|p| p.into_inner());
    canned_ce("10.10");
    // 1. The daily schedule on 2026-03-15: the month so far, from Cost Explorer (two pages).
    let out =
        w.rt.block_on(ingest::handle(
            &w.app,
            schedule_event("2026-03-15T06:00:00Z"),
        ))
        .expect("ingest");
    assert_eq!(out["jobs"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(out["jobs"][0]["pages"], 2, "followed NextPageToken: {out}");
    assert_eq!(out["jobs"][0]["job_id"], "aws-ce-2026-03-20260315T06");
    drop(ce);
    let pages =
        w.rt.block_on(
            clients()
                .s3()
                .list_objects_v2()
                .bucket(&w.bucket)
                .prefix("raw/aws-ce/2026-03/")
                .send(),
        )
        .expect("list");
    assert_eq!(pages.contents().len(), 2, "raw pages kept");

    // 2. Normalize: the job from the queue, delivered twice (the second changes nothing).
    let (event, handles) = receive(&w, &w.normalize_url);
    assert_eq!(event.records.len(), 1);
    let body = event.records[0].body.clone().expect("body");
    assert!(matches!(
        Message::from_json(&body),
        Ok(Message::Normalize(_))
    ));
    let twice: SqsEvent = serde_json::from_value(json!({"Records": [
        serde_json::to_value(&event.records[0]).expect("record"),
    ]}))
    .expect("event");
    let resp = w.rt.block_on(normalize::handle(&w.app, event));
    assert!(resp.batch_item_failures.is_empty());
    delete(&w, &w.normalize_url, &handles);
    let expected = dec("10.10") + dec("0.0000001234") + dec("20.20") + dec("5.05") + dec("2.05");
    assert_eq!(total(&w), expected, "to the last digit");
    let resp = w.rt.block_on(normalize::handle(&w.app, twice));
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(total(&w), expected, "a repeated message changes nothing");

    // 3. data_updated reached the budget queue once (SNS raw delivery): the budget check.
    let (updates, handles) = receive(&w, &w.budget_url);
    assert_eq!(
        updates.records.len(),
        1,
        "one data_updated for two deliveries of the job"
    );
    let body = updates.records[0].body.clone().expect("body");
    assert!(
        matches!(Message::from_json(&body), Ok(Message::DataUpdated(_))),
        "{body}"
    );
    w.rt.block_on(
        clients()
            .s3()
            .put_object()
            .bucket(&w.bucket)
            .key("config/budgets.yaml")
            .body(BUDGETS.as_bytes().to_vec().into())
            .send(),
    )
    .expect("budgets");
    let now = "2026-03-15T07:00:00Z".parse().expect("time");
    let resp = w.rt.block_on(budget::handle_sqs(&w.app, updates, now));
    assert!(resp.batch_item_failures.is_empty());
    delete(&w, &w.budget_url, &handles);
    // The same check again (a second data_updated): the threshold fired already.
    let again = w.rt.block_on(budget::check(&w.app, now)).expect("check");
    assert!(again.findings.is_empty());

    // 3b. The anomaly function reads its monitors from the bucket and the same store. Three days
    // of data are inside every series' learning period: nothing to report yet, and a broken
    // monitors file is a permanent error naming its line.
    let put = |key: &str, body: &str| {
        w.rt.block_on(
            clients()
                .s3()
                .put_object()
                .bucket(&w.bucket)
                .key(key)
                .body(body.as_bytes().to_vec().into())
                .send(),
        )
        .expect("put");
    };
    put(
        "config/monitors.yaml",
        "version: 1\nmonitors:\n  - name: total\n    currency: USD\n",
    );
    let run =
        w.rt.block_on(anomaly::check(&w.app, now))
            .expect("monitors");
    assert!(
        run.findings.is_empty() && run.anomalies.is_empty(),
        "{:?}",
        run.anomalies
    );
    put(
        "config/monitors.yaml",
        "version: 1\nmonitors:\n  - name: a\n    currency: dollars\n",
    );
    let e =
        w.rt.block_on(anomaly::check(&w.app, now))
            .expect_err("bad monitors");
    assert!(e.is_permanent(), "{e}");
    assert!(e.to_string().contains("config/monitors.yaml:4"), "{e}");

    // 4. Notify: one finding, delivered once even when its message comes twice.
    let (findings, handles) = receive(&w, &w.findings_url);
    assert_eq!(
        findings.records.len(),
        1,
        "37.40 of 40: 80% crossed, one finding"
    );
    let dup: SqsEvent = serde_json::from_value(json!({"Records": [
        serde_json::to_value(&findings.records[0]).expect("record"),
    ]}))
    .expect("event");
    let resp = w.rt.block_on(notify::handle(&w.app, findings));
    assert!(resp.batch_item_failures.is_empty());
    let resp = w.rt.block_on(notify::handle(&w.app, dup));
    assert!(resp.batch_item_failures.is_empty());
    delete(&w, &w.findings_url, &handles);
    let (inbox, _) = receive(&w, &w.inbox_url);
    assert_eq!(inbox.records.len(), 1, "delivered once");
    let envelope: Value = serde_json::from_str(inbox.records[0].body.as_deref().expect("body"))
        .expect("SNS envelope");
    assert_eq!(
        envelope["MessageAttributes"]["kind"]["Value"],
        "budget_alert"
    );
    assert_eq!(
        envelope["MessageAttributes"]["budget"]["Value"],
        "aws-march"
    );
    let text = envelope["Message"].as_str().expect("message");
    assert!(
        text.contains("budget:aws-march:2026-03:billed:actual:80%"),
        "{text}"
    );
    assert!(text.contains("37.40 USD"), "{text}");

    // 5. The report download, through the router the report function serves.
    let router = w.rt.block_on(report::router(&w.app)).expect("router");
    let req = lambda_http::http::Request::builder()
        .uri("/reports/2026-03.csv")
        .body(axum::body::Body::empty())
        .expect("request");
    let resp =
        w.rt.block_on(tower::ServiceExt::oneshot(router, req))
            .expect("response");
    assert_eq!(resp.status(), 200);
    let bytes =
        w.rt.block_on(http_body_util::BodyExt::collect(resp.into_body()))
            .expect("body")
            .to_bytes();
    let csv = String::from_utf8(bytes.to_vec()).expect("utf8");
    assert!(
        csv.contains("\ntotal,,,,USD,billed,37.4000001234\n"),
        "{csv}"
    );
    assert!(
        csv.contains(
            "\nbreakdown,service,Amazon Elastic Compute Cloud - Compute,,USD,billed,35.35\n"
        ),
        "{csv}"
    );

    // 6. The period's FOCUS slice, read from the bucket the normalize step wrote, through the
    // same router: every record of March, adding up to the report's total.
    let router = w.rt.block_on(report::router(&w.app)).expect("router");
    let req = lambda_http::http::Request::builder()
        .uri("/focus/2026-03.csv")
        .body(axum::body::Body::empty())
        .expect("request");
    let resp =
        w.rt.block_on(tower::ServiceExt::oneshot(router, req))
            .expect("response");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/csv; charset=utf-8; header=present"
    );
    let bytes =
        w.rt.block_on(http_body_util::BodyExt::collect(resp.into_body()))
            .expect("body")
            .to_bytes();
    let mut rd = csv::Reader::from_reader(&bytes[..]);
    let idx = rd
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "BilledCost")
        .expect("BilledCost column");
    let sum: Decimal = rd
        .records()
        .map(|r| r.expect("row")[idx].parse::<Decimal>().expect("decimal"))
        .sum();
    assert_eq!(sum.normalize().to_string(), "37.4000001234");
}

#[test]
fn a_restated_day_replaces_the_old_numbers() {
    let w = world();
    let _ce = CE.lock().unwrap_or_else(|p| p.into_inner());
    canned_ce("10.10");
    w.rt.block_on(ingest::handle(
        &w.app,
        schedule_event("2026-03-15T06:00:00Z"),
    ))
    .expect("ingest");
    assert_eq!(run_normalize(&w), 1);
    let first = total(&w);
    // The next day Cost Explorer restates March 1 (10.10 → 12.60); the run has a new id.
    canned_ce("12.60");
    w.rt.block_on(ingest::handle(
        &w.app,
        schedule_event("2026-03-16T06:00:00Z"),
    ))
    .expect("ingest");
    assert_eq!(run_normalize(&w), 1);
    assert_eq!(total(&w), first + dec("2.50"), "replaced, not added");
}

#[test]
fn a_poison_message_fails_every_time_and_lands_in_the_dead_letter_queue() {
    let w = world();
    let c = clients();
    let (url, dlq) = w.rt.block_on(async {
        let dlq = c
            .sqs()
            .create_queue()
            .queue_name(unique("normalize-dlq"))
            .send()
            .await
            .expect("dlq")
            .queue_url
            .expect("url");
        let dlq_arn = c
            .sqs()
            .get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attrs")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("arn");
        let url = c
            .sqs()
            .create_queue()
            .queue_name(unique("normalize-src"))
            .attributes(
                QueueAttributeName::RedrivePolicy,
                json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}).to_string(),
            )
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("url");
        (url, dlq)
    });
    // A FOCUS file with a cost that is not a number.
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/cli/focus12_two_months.csv");
    let text = std::fs::read_to_string(fixture).expect("fixture");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    let row = lines.next().expect("row").replacen("10", "ten", 1);
    let bad = format!("{header}\n{row}\n");
    w.rt.block_on(
        c.s3()
            .put_object()
            .bucket(&w.bucket)
            .key("exports/bad/part-0.csv")
            .body(bad.into_bytes().into())
            .send(),
    )
    .expect("put");
    let msg = json!({"type": "normalize", "job_id": "bad-1", "source": "focus-export", "dialect": null,
        "parts": [["exports/bad/part-0.csv"]], "part": 0, "produced_at": "2026-03-15T06:00:00Z"});
    let sent =
        w.rt.block_on(
            c.sqs()
                .send_message()
                .queue_url(&url)
                .message_body(msg.to_string())
                .send(),
        )
        .expect("send")
        .message_id
        .expect("id");
    for attempt in 1..=2 {
        let (event, handles) = receive(&w, &url);
        assert_eq!(event.records.len(), 1, "receive {attempt}");
        let resp = w.rt.block_on(normalize::handle(&w.app, event));
        let failed: Vec<&str> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(
            failed,
            vec![sent.as_str()],
            "reported failed on receive {attempt}"
        );
        // Lambda leaves a failed message to become visible again; here at once.
        for h in handles {
            w.rt.block_on(
                c.sqs()
                    .change_message_visibility()
                    .queue_url(&url)
                    .receipt_handle(h)
                    .visibility_timeout(0)
                    .send(),
            )
            .expect("visibility");
        }
    }
    let (event, _) = receive(&w, &url);
    assert!(event.records.is_empty(), "moved away after 2 receives");
    let (dead, _) = receive(&w, &dlq);
    assert_eq!(dead.records.len(), 1);
    assert_eq!(dead.records[0].message_id.as_deref(), Some(sent.as_str()));
    assert_eq!(total(&w), Decimal::ZERO, "nothing loaded");
}

#[test]
fn the_sample_events_are_what_the_functions_accept() {
    for name in [
        "sqs-normalize-job.json",
        "sqs-data-updated.json",
        "sqs-finding.json",
    ] {
        let event: SqsEvent = serde_json::from_value(event_file(name)).expect(name);
        assert!(!event.records.is_empty(), "{name}");
        for r in &event.records {
            let body = r.body.as_deref().expect("body");
            let msg = Message::from_json(body).unwrap_or_else(|e| panic!("{name}: {e}"));
            let kind_ok = match name {
                "sqs-normalize-job.json" => matches!(msg, Message::Normalize(_)),
                "sqs-data-updated.json" => matches!(msg, Message::DataUpdated(_)),
                _ => matches!(msg, Message::Finding(_)),
            };
            assert!(kind_ok, "{name}: {body}");
        }
    }
    for name in [
        "schedule-daily.json",
        "schedule-backfill.json",
        "s3-export-data-created.json",
        "s3-export-manifest-created.json",
    ] {
        let e: EventBridgeEvent<Value> = serde_json::from_value(event_file(name)).expect(name);
        assert!(e.time.is_some(), "{name}");
    }
    // The backfill's exclusive end becomes the core's inclusive end.
    let e: EventBridgeEvent<Value> =
        serde_json::from_value(event_file("schedule-backfill.json")).expect("backfill");
    let req = ingest::request(&e.detail).expect("request");
    assert_eq!(
        req.start.map(|d| d.to_string()).as_deref(),
        Some("2024-08-01")
    );
    assert_eq!(
        req.end.map(|d| d.to_string()).as_deref(),
        Some("2024-09-30")
    );
}

#[test]
fn a_manifest_queues_one_part_per_data_file_and_data_files_alone_are_ignored() {
    let w = world();
    let c = clients();
    let base = "exports/costkit-focus";
    let manifest = json!({
        "executionId": "9b1e6d3c-0000-4000-8000-000000000001",
        "dataFiles": [
            format!("s3://{}/{base}/data/BILLING_PERIOD=2024-09/costkit-focus-00001.snappy.parquet", w.bucket),
            format!("s3://{}/{base}/data/BILLING_PERIOD=2024-09/costkit-focus-00002.snappy.parquet", w.bucket),
        ]
    });
    let key = format!("{base}/metadata/BILLING_PERIOD=2024-09/costkit-focus-Manifest.json");
    w.rt.block_on(
        c.s3()
            .put_object()
            .bucket(&w.bucket)
            .key(&key)
            .body(manifest.to_string().into_bytes().into())
            .send(),
    )
    .expect("put");
    let mut data = event_file("s3-export-data-created.json");
    data["detail"]["bucket"]["name"] = json!(w.bucket);
    let data: EventBridgeEvent<Value> = serde_json::from_value(data).expect("event");
    let out =
        w.rt.block_on(ingest::handle(&w.app, data))
            .expect("data event");
    assert!(out.get("ignored").is_some(), "{out}");
    let mut ev = event_file("s3-export-manifest-created.json");
    ev["detail"]["bucket"]["name"] = json!(w.bucket);
    ev["detail"]["object"]["key"] = json!(key);
    let ev: EventBridgeEvent<Value> = serde_json::from_value(ev).expect("event");
    let first =
        w.rt.block_on(ingest::handle(&w.app, ev.clone()))
            .expect("manifest");
    assert_eq!(first["parts"], 2, "{first}");
    let again =
        w.rt.block_on(ingest::handle(&w.app, ev))
            .expect("manifest again");
    assert_eq!(
        again["job_id"], first["job_id"],
        "the same delivery, the same job id"
    );
    let (queued, _) = receive(&w, &w.normalize_url);
    let mut parts: Vec<usize> = queued
        .records
        .iter()
        .map(
            |r| match Message::from_json(r.body.as_deref().expect("body")) {
                Ok(Message::Normalize(j)) => {
                    assert_eq!(j.parts.len(), 2);
                    assert!(j.parts[0][0].ends_with("costkit-focus-00001.snappy.parquet"));
                    j.part
                }
                other => panic!("{other:?}"),
            },
        )
        .collect();
    parts.sort_unstable();
    assert_eq!(
        parts,
        vec![0, 0, 1, 1],
        "two parts, sent again by the repeated event"
    );
}

/// The report function's three authentication modes, with the API keys in Secrets Manager (moto):
/// a listed key is let in, a wrong or missing key gets 401, and with no mode configured every
/// request gets 401.
#[test]
fn report_auth_modes_refuse_without_a_valid_key() {
    let w = world();
    let c = clients();
    let key = "ck_live_7f3a9b";
    let hash = costkit_http::ApiKeyHash::of(key).to_hex();
    let secret_arn =
        w.rt.block_on(
            c.secrets()
                .create_secret()
                .name(unique("report-keys"))
                .secret_string(format!(
                    r#"{{"keys":[{{"id":"finops-team","sha256":"{hash}"}}]}}"#
                ))
                .send(),
        )
        .expect("secret")
        .arn
        .expect("arn");
    let status = |config: Config, api_key: Option<&str>| {
        let app = {
            let _g = w.rt.enter();
            App::new(config, clients())
        };
        let router = w.rt.block_on(report::router(&app)).expect("router");
        let mut req = lambda_http::http::Request::builder().uri("/reports/2026-03.json");
        if let Some(k) = api_key {
            req = req.header("x-api-key", k);
        }
        let req = req.body(axum::body::Body::empty()).expect("request");
        w.rt.block_on(tower::ServiceExt::oneshot(router, req))
            .expect("response")
            .status()
    };
    let mut api_key = (*w.app.config).clone();
    api_key.report_auth = Some("API_KEY".into());
    api_key.api_keys_secret_arn = Some(secret_arn);
    // Let in: the table is empty, so the answer is "no data for 2026-03", not "who are you".
    assert_eq!(status(api_key.clone(), Some(key)), 404);
    assert_eq!(status(api_key.clone(), Some("ck_live_wrong")), 401);
    assert_eq!(status(api_key, None), 401);
    let mut closed = (*w.app.config).clone();
    closed.report_auth = None;
    assert_eq!(status(closed.clone(), Some(key)), 401, "no mode: closed");
    closed.report_auth = Some("api-key".into());
    assert_eq!(status(closed, Some(key)), 401, "an unknown mode: closed");
}
