//! Pub/Sub on Google's emulator: the `Queue` and `Publisher` ports publish, a pull subscription
//! receives the body and attributes as sent. Subscription filters read those attributes; the
//! emulator (google-cloud-cli 528, jar 0.8.20) stores a subscription's `filter` but does not
//! apply it (checked by hand: both messages reach a filtered subscription), so the filter
//! itself cannot be exercised here.

mod common;

use costkit_core::ports::{Publication, Publisher, Queue};
use costkit_gcp::ports::{publication_from_message, PubSubPublisher, PubSubQueue};
use costkit_gcp::pubsub::{Subscription, Topic};
use costkit_gcp::Service;

fn pulled_all(
    rt: &tokio::runtime::Runtime,
    sub: &Subscription,
    want: usize,
) -> Vec<costkit_gcp::pubsub::PubsubMessage> {
    let mut out = Vec::new();
    // The emulator may hand out a fresh message a moment after the publish returns.
    for _ in 0..50 {
        let got = rt.block_on(sub.pull(10)).expect("pull");
        let ids: Vec<String> = got.iter().map(|m| m.ack_id.clone()).collect();
        rt.block_on(sub.acknowledge(&ids)).expect("ack");
        out.extend(got.into_iter().map(|m| m.message));
        if out.len() >= want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    out
}

#[test]
fn the_queue_publishes_the_body_with_its_dedup_id() {
    let rt = common::runtime();
    let gcp = common::gcp(&[Service::PubSub]);
    let topic_id = common::unique("normalize");
    let topic = Topic::new(&gcp, &topic_id);
    rt.block_on(topic.create()).expect("topic");
    rt.block_on(topic.create()).expect("creating twice is fine");
    let sub = Subscription::new(&gcp, &common::unique("sub"));
    rt.block_on(sub.create_pull(&topic, None))
        .expect("subscription");
    let q = PubSubQueue::new(&gcp, &topic_id, rt.handle().clone());
    let body = r#"{"type":"normalize","job_id":"j1","part":0,"text":"é ✓"}"#;
    q.send(body, "j1/0").expect("send");
    let got = pulled_all(&rt, &sub, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].bytes().expect("data"), body.as_bytes());
    assert_eq!(
        got[0].attributes.get("dedup_id").map(String::as_str),
        Some("j1/0")
    );
    assert!(!got[0].message_id.is_empty());
    rt.block_on(sub.delete()).expect("delete");
}

#[test]
fn findings_carry_attributes_for_subscription_filters() {
    let rt = common::runtime();
    let gcp = common::gcp(&[Service::PubSub]);
    let topic_id = common::unique("alerts");
    let topic = Topic::new(&gcp, &topic_id);
    rt.block_on(topic.create()).expect("topic");
    let all = Subscription::new(&gcp, &common::unique("all"));
    rt.block_on(all.create_pull(&topic, None)).expect("sub");
    let p = PubSubPublisher::new(&gcp, &topic_id, rt.handle().clone());
    let finding = |sev: &str, id: &str| Publication {
        subject: format!("Anomaly on BigQuery ({sev})"),
        body: format!("{{\"finding_id\":\"{id}\"}}"),
        attributes: vec![
            ("kind".into(), "anomaly".into()),
            ("severity".into(), sev.into()),
            ("provider".into(), "Google Cloud".into()),
        ],
        dedup_id: id.into(),
    };
    p.publish(&finding("low", "f-1")).expect("publish low");
    p.publish(&finding("high", "f-2")).expect("publish high");

    let mut every = pulled_all(&rt, &all, 2);
    every.sort_by(|a, b| {
        a.attributes
            .get("dedup_id")
            .cmp(&b.attributes.get("dedup_id"))
    });
    assert_eq!(every.len(), 2);
    let back = publication_from_message(&every[0].bytes().expect("data"), &every[0].attributes)
        .expect("publication");
    let mut want = finding("low", "f-1");
    // Attributes are a map on the wire: they come back sorted by name.
    want.attributes.sort();
    assert_eq!(back, want);

    // What a filter such as `attributes.severity = "high"` would read.
    assert_eq!(
        every[1].attributes.get("severity").map(String::as_str),
        Some("high")
    );
    assert_eq!(
        every[1].attributes.get("subject").map(String::as_str),
        Some("Anomaly on BigQuery (high)")
    );
    assert_eq!(
        every[1].attributes.get("kind").map(String::as_str),
        Some("anomaly")
    );
}

#[test]
fn publishing_to_a_missing_topic_names_it() {
    let rt = common::runtime();
    let gcp = common::gcp(&[Service::PubSub]);
    let q = PubSubQueue::new(&gcp, "no-such-topic", rt.handle().clone());
    let err = q.send("x", "d").expect_err("missing topic").to_string();
    assert!(
        err.contains("projects/costkit-test/topics/no-such-topic"),
        "{err}"
    );
}
