//! DynamoDB throughput faults, against a real local HTTP server answering like DynamoDB (moto
//! never throttles): whole-request throttling is retried by the SDK's standard retry, items
//! left in `UnprocessedItems` are sent again with backoff, and the retries are bounded.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use common::{Reply, ScriptedServer};
use costkit_aws::dynamo::batch_write;
use costkit_aws::retry::Backoff;
use costkit_aws::{AwsClients, AwsError, AwsSettings};
use serde_json::Value;

fn ddb(status: u16, body: &str) -> Reply {
    Reply {
        status,
        content_type: "application/x-amz-json-1.0",
        body: body.to_string(),
    }
}

const THROUGHPUT: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;

fn puts(n: usize) -> Vec<WriteRequest> {
    (0..n)
        .map(|i| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .item("pk", AttributeValue::S("GEN#x".into()))
                        .item("sk", AttributeValue::S(format!("D#{i:03}")))
                        .build()
                        .expect("put"),
                )
                .build()
        })
        .collect()
}

fn unprocessed(sks: &[&str]) -> String {
    let items: Vec<Value> = sks
        .iter()
        .map(|sk| serde_json::json!({"PutRequest": {"Item": {"pk": {"S": "GEN#x"}, "sk": {"S": sk}}}}))
        .collect();
    serde_json::json!({"UnprocessedItems": {"t": items}}).to_string()
}

fn fast() -> Backoff {
    Backoff {
        max_attempts: 4,
        base: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

fn sent_sks(body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).expect("request JSON");
    v["RequestItems"]["t"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            r["PutRequest"]["Item"]["sk"]["S"]
                .as_str()
                .expect("sk")
                .to_string()
        })
        .collect()
}

#[test]
fn throttled_requests_and_unprocessed_items_are_retried() {
    let server = ScriptedServer::start(vec![
        ddb(400, THROUGHPUT),
        ddb(200, &unprocessed(&["D#001", "D#002"])),
        ddb(200, &unprocessed(&["D#002"])),
        ddb(200, r#"{"UnprocessedItems":{}}"#),
    ]);
    let clients = AwsClients::new(AwsSettings::emulator(&server.endpoint));
    let rt = common::runtime();
    rt.block_on(batch_write(clients.dynamodb(), "t", puts(3), &fast()))
        .expect("all items written in the end");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4);
    assert!(reqs
        .iter()
        .all(|r| r.target.as_deref() == Some("DynamoDB_20120810.BatchWriteItem")));
    assert_eq!(sent_sks(&reqs[0].body), ["D#000", "D#001", "D#002"]);
    assert_eq!(
        reqs[1].body, reqs[0].body,
        "the SDK resent the throttled request"
    );
    assert_eq!(
        sent_sks(&reqs[2].body),
        ["D#001", "D#002"],
        "only what was left"
    );
    assert_eq!(sent_sks(&reqs[3].body), ["D#002"]);
}

#[test]
fn items_that_stay_unprocessed_fail_after_the_allowed_rounds() {
    let server = ScriptedServer::start(vec![ddb(200, &unprocessed(&["D#000"]))]);
    let clients = AwsClients::new(AwsSettings::emulator(&server.endpoint));
    let rt = common::runtime();
    let err = rt
        .block_on(batch_write(clients.dynamodb(), "t", puts(1), &fast()))
        .expect_err("gives up");
    assert_eq!(server.requests().len(), 4);
    match err {
        AwsError::RetriesExhausted { attempts, last, .. } => {
            assert_eq!(attempts, 4);
            assert!(last.contains("1 items still unprocessed"), "{last}");
        }
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
}

#[test]
fn requests_are_split_into_batches_of_25() {
    let server = ScriptedServer::start(vec![ddb(200, r#"{"UnprocessedItems":{}}"#)]);
    let clients = AwsClients::new(AwsSettings::emulator(&server.endpoint));
    let rt = common::runtime();
    rt.block_on(batch_write(clients.dynamodb(), "t", puts(60), &fast()))
        .expect("written");
    let mut sizes: Vec<usize> = server
        .requests()
        .iter()
        .map(|r| sent_sks(&r.body).len())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [10, 25, 25]);
    let mut all: Vec<String> = server
        .requests()
        .iter()
        .flat_map(|r| sent_sks(&r.body))
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 60, "every item sent exactly once");
}
