//! Core messages through the SQS queue port, SNS → SQS delivery with message attributes (and a filter policy on them), and
//! Secrets Manager, against moto.

mod common;

use std::collections::HashMap;

use costkit_aws::messaging;
use costkit_aws::ports::SqsQueue;
use costkit_core::flow::messages::{Message, NormalizeJob};
use costkit_core::ports::Queue;
use serde_json::Value;

async fn queue(clients: &costkit_aws::AwsClients, name: &str, fifo: bool) -> (String, String) {
    let sqs = clients.sqs();
    let mut req = sqs.create_queue().queue_name(name);
    if fifo {
        req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let url = req
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("arn");
    (url, arn)
}

fn normalize_msg(part: usize) -> Message {
    Message::Normalize(NormalizeJob {
        job_id: "aws-ce-2026-03-20260315T06".into(),
        source: "aws-ce".into(),
        dialect: Some("aws-ce".into()),
        parts: vec![
            vec!["raw/aws-ce/2026-03/20260315T06/page-0000.json".into()],
            vec!["raw/aws-ce/2026-03/20260315T06/page-0001.json".into()],
        ],
        part,
        produced_at: "2026-03-15T06:00:00Z".parse().expect("time"),
    })
}

#[test]
fn core_messages_travel_through_the_sqs_queue_port_unchanged() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    let (url, _) = rt.block_on(queue(&clients, &common::unique("jobs"), false));
    let port = SqsQueue::new(&clients, &url, rt.handle().clone());
    let msg = normalize_msg(0);
    port.send(&msg.to_json(), &msg.dedup_id()).expect("send");
    rt.block_on(async {
        let got = messaging::receive(clients.sqs(), &url, 10, 1)
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        assert_eq!(Message::from_json(&got[0].body).expect("parse"), msg);
        messaging::delete(clients.sqs(), &url, &got[0].receipt_handle)
            .await
            .expect("delete");
        let again = messaging::receive(clients.sqs(), &url, 10, 0)
            .await
            .expect("receive");
        assert!(again.is_empty(), "deleted");
    });
}

#[test]
fn a_fifo_queue_drops_the_same_message_sent_twice() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    let name = format!("{}.fifo", common::unique("jobs"));
    let (url, _) = rt.block_on(queue(&clients, &name, true));
    let port = SqsQueue::new(&clients, &url, rt.handle().clone());
    let (a, b) = (normalize_msg(0), normalize_msg(1));
    for m in [&a, &a, &b] {
        port.send(&m.to_json(), &m.dedup_id()).expect("send");
    }
    let got = rt
        .block_on(messaging::receive(clients.sqs(), &url, 10, 1))
        .expect("receive");
    let parts: Vec<Message> = got
        .iter()
        .map(|m| Message::from_json(&m.body).expect("message"))
        .collect();
    assert_eq!(parts, vec![a, b]);
}

#[test]
fn sns_delivers_messages_with_attributes_and_filters_on_them() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    rt.block_on(async {
        let (all_url, all_arn) = queue(&clients, &common::unique("all"), false).await;
        let (high_url, high_arn) = queue(&clients, &common::unique("high"), false).await;
        let topic = clients
            .sns()
            .create_topic()
            .name(common::unique("alerts"))
            .send()
            .await
            .expect("topic")
            .topic_arn
            .expect("arn");
        clients
            .sns()
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(&all_arn)
            .send()
            .await
            .expect("subscribe all");
        clients
            .sns()
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(&high_arn)
            .attributes("FilterPolicy", r#"{"severity": ["high"]}"#)
            .send()
            .await
            .expect("subscribe high");
        messaging::publish(
            clients.sns(),
            &topic,
            Some("Budget 80% reached"),
            r#"{"budget":"team-web","spent":"812.40"}"#,
            &[("severity", "low"), ("kind", "budget")],
            None,
        )
        .await
        .expect("publish low");
        let high_id = messaging::publish(
            clients.sns(),
            &topic,
            Some("Anomaly: EC2 +340%"),
            r#"{"service":"EC2","impact":"1204.11"}"#,
            &[("severity", "high"), ("kind", "anomaly")],
            None,
        )
        .await
        .expect("publish high");

        let envelope = |body: &str| -> Value { serde_json::from_str(body).expect("SNS envelope") };
        let all = messaging::receive(clients.sqs(), &all_url, 10, 1)
            .await
            .expect("receive");
        assert_eq!(all.len(), 2, "the unfiltered subscription gets both");
        let high = messaging::receive(clients.sqs(), &high_url, 10, 1)
            .await
            .expect("receive");
        assert_eq!(high.len(), 1, "the filter let only severity=high through");
        let e = envelope(&high[0].body);
        assert_eq!(e["Type"], "Notification");
        assert_eq!(e["MessageId"], high_id.as_str());
        assert_eq!(e["Subject"], "Anomaly: EC2 +340%");
        assert_eq!(e["Message"], r#"{"service":"EC2","impact":"1204.11"}"#);
        let attrs: HashMap<String, String> = e["MessageAttributes"]
            .as_object()
            .expect("attributes")
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v["Value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(attrs.get("severity").map(String::as_str), Some("high"));
        assert_eq!(attrs.get("kind").map(String::as_str), Some("anomaly"));
    });
}

#[test]
fn secrets_are_read_by_name() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    rt.block_on(async {
        let name = common::unique("costkit/slack-webhook");
        clients
            .secrets()
            .create_secret()
            .name(&name)
            .secret_string("https://hooks.slack.example/T000/B000/XXXX")
            .send()
            .await
            .expect("create");
        let v = messaging::get_secret_string(clients.secrets(), &name)
            .await
            .expect("get");
        assert_eq!(v, "https://hooks.slack.example/T000/B000/XXXX");
        let err = messaging::get_secret_string(clients.secrets(), "no/such/secret")
            .await
            .expect_err("missing");
        assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err}");
    });
}
