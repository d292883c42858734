//! SQS jobs, SNS → SQS delivery with message attributes (and a filter policy on them), and
//! Secrets Manager, against moto.

mod common;

use std::collections::HashMap;

use costkit_aws::messaging::{self, NormalizeJob};
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

#[test]
fn jobs_travel_through_sqs_unchanged() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    rt.block_on(async {
        let (url, _) = queue(&clients, &common::unique("jobs"), false).await;
        let mut job = NormalizeJob::new(
            "aws",
            "ce-service-account",
            "raw-bucket",
            "raw/aws/x/2026-03-15/p.json",
        );
        job.etag = Some("\"9b2cf535f27731c974343645a3985328\"".into());
        job.payer_account_id = Some("111122223333".into());
        let id = messaging::send_job(clients.sqs(), &url, &job)
            .await
            .expect("send");
        assert!(!id.is_empty());
        let got = messaging::receive(clients.sqs(), &url, 10, 1)
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message_id, id);
        assert_eq!(NormalizeJob::from_json(&got[0].body).expect("parse"), job);
        assert_eq!(
            got[0].attributes.get("type").map(String::as_str),
            Some("NormalizeJob")
        );
        assert_eq!(
            got[0].attributes.get("idempotency_key"),
            Some(&job.idempotency_key())
        );
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
fn a_fifo_queue_drops_the_same_job_sent_twice() {
    let clients = common::moto_clients();
    let rt = common::runtime();
    rt.block_on(async {
        let (url, _) = queue(&clients, &format!("{}.fifo", common::unique("jobs")), true).await;
        let job = NormalizeJob::new("aws", "cur2", "b", "raw/aws/cur2/2026-03-15/part-1.parquet");
        let mut other = job.clone();
        other.key = "raw/aws/cur2/2026-03-15/part-2.parquet".into();
        messaging::send_job(clients.sqs(), &url, &job)
            .await
            .expect("send");
        messaging::send_job(clients.sqs(), &url, &job)
            .await
            .expect("send twice");
        messaging::send_job(clients.sqs(), &url, &other)
            .await
            .expect("send other");
        let got = messaging::receive(clients.sqs(), &url, 10, 1)
            .await
            .expect("receive");
        let keys: Vec<String> = got
            .iter()
            .map(|m| NormalizeJob::from_json(&m.body).expect("job").key)
            .collect();
        assert_eq!(keys, vec![job.key.clone(), other.key.clone()]);
    });
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
        )
        .await
        .expect("publish low");
        let high_id = messaging::publish(
            clients.sns(),
            &topic,
            Some("Anomaly: EC2 +340%"),
            r#"{"service":"EC2","impact":"1204.11"}"#,
            &[("severity", "high"), ("kind", "anomaly")],
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
