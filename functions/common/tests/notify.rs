//! The notify function with a routing file, against moto and a local HTTP receiver: a finding
//! goes to the alert topic, to a signed webhook and into a Slack daily digest (URLs and keys from
//! Secrets Manager); the schedule sends the digest once the day is over; a report link signed
//! with the report key is embedded; a bad routing file fails the message naming file and line.

#![allow(clippy::unwrap_used)] // tests may unwrap (developers guide)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsEvent;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use chrono::Utc;
use costkit_aws::{AwsClients, AwsSettings};
use costkit_core::flow::messages::{Finding, FindingKind, Message, Severity};
use costkit_core::money::Currency;
use costkit_core::notify::webhook;
use costkit_lambda::{notify, App, Config};
use serde_json::{json, Value};

fn moto() -> String {
    std::env::var("COSTKIT_MOTO_ENDPOINT")
        .expect("COSTKIT_MOTO_ENDPOINT is not set: run scripts/test.sh (or scripts/moto.sh start)")
}

fn unique(p: &str) -> String {
    format!("{p}-{}-{:x}", std::process::id(), fastrand::u64(..))
}

type Log = Arc<Mutex<Vec<(String, BTreeMap<String, String>, Vec<u8>)>>>;

async fn record(State(log): State<Log>, uri: Uri, headers: HeaderMap, body: Bytes) -> &'static str {
    log.lock().unwrap().push((
        uri.path().to_string(),
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body.to_vec(),
    ));
    "ok"
}

fn sqs_event(f: &Finding) -> SqsEvent {
    serde_json::from_value(json!({"Records": [{
        "messageId": unique("m"),
        "body": Message::Finding(f.clone()).to_json(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {}
    }]}))
    .unwrap()
}

#[test]
fn findings_follow_the_routing_file_and_digests_flush_on_schedule() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c = AwsClients::new(AwsSettings::emulator(&moto()));
    // The local receiver for the webhook and Slack.
    let log: Log = Arc::default();
    let app_http = axum::Router::new().fallback(record).with_state(log.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app_http).await });

    let (bucket, table, topic, inbox, secret, signing) = rt.block_on(async {
        let bucket = unique("notify").to_lowercase();
        c.s3().create_bucket().bucket(&bucket).send().await.unwrap();
        let table = unique("t");
        costkit_aws::DynamoStore::new(&c, &table, tokio::runtime::Handle::current())
            .create_table()
            .await
            .unwrap();
        let topic = c
            .sns()
            .create_topic()
            .name(unique("alerts"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        let inbox = c
            .sqs()
            .create_queue()
            .queue_name(unique("inbox"))
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let inbox_arn = c
            .sqs()
            .get_queue_attributes()
            .queue_url(&inbox)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        c.sns()
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(inbox_arn)
            .send()
            .await
            .unwrap();
        let secret = unique("costkit-notify");
        let value = json!({
            "hook_url": format!("http://{addr}/hook"),
            "hook_key": "whsec-0123456789",
            "slack_url": format!("http://{addr}/slack/T0/B0/token"),
        });
        c.secrets()
            .create_secret()
            .name(&secret)
            .secret_string(value.to_string())
            .send()
            .await
            .unwrap();
        let signing = unique("costkit-signing");
        c.secrets()
            .create_secret()
            .name(&signing)
            .secret_string("k".repeat(32))
            .send()
            .await
            .unwrap();
        (bucket, table, topic, inbox, secret, signing)
    });
    let routes = format!(
        "version: 1\nchannels:\n  - name: alerts\n    type: sns\n  - name: hook\n    type: webhook\n    url: {{secret: {secret}, key: hook_url}}\n    signing_secret: {{secret: {secret}, key: hook_key}}\n  - name: slack\n    type: slack\n    url: {{secret: {secret}, key: slack_url}}\nroutes:\n  - channel: alerts\n  - channel: hook\n    kinds: [anomaly]\n  - channel: slack\n    min_severity: warning\n    mode: daily\nretry:\n  max_attempts: 2\n  base_ms: 10\n"
    );
    let put = |body: &str| {
        rt.block_on(
            c.s3()
                .put_object()
                .bucket(&bucket)
                .key("config/notify.yaml")
                .body(body.as_bytes().to_vec().into())
                .send(),
        )
        .unwrap();
    };
    put(&routes);
    let config = Config {
        table: Some(table),
        bucket: Some(bucket.clone()),
        topic_arn: Some(topic),
        notify_routes_key: "config/notify.yaml".into(),
        report_base_url: Some("https://reports.example.com".into()),
        signing_key_secret_arn: Some(signing),
        ..Config::default()
    };
    let app = {
        let _g = rt.enter();
        App::new(config, AwsClients::new(AwsSettings::emulator(&moto())))
    };

    let mut scope = BTreeMap::new();
    scope.insert("service".to_string(), "AmazonEC2".to_string());
    let f = Finding {
        id: unique("anomaly:ec2"),
        kind: FindingKind::Anomaly,
        severity: Severity::Warning,
        title: "EC2 spend 3.2x the expected level".into(),
        summary: "Actual 412.37 USD, expected 128.90 USD.".into(),
        scope,
        amount: Some("283.47".parse().unwrap()),
        currency: Some(Currency::new("USD")),
        found_at: Utc::now(),
        detail: Value::Null,
    };
    let resp = rt.block_on(notify::handle(&app, sqs_event(&f)));
    assert!(resp.batch_item_failures.is_empty(), "{resp:?}");
    // The same message again: every channel drops it.
    let resp = rt.block_on(notify::handle(&app, sqs_event(&f)));
    assert!(resp.batch_item_failures.is_empty());

    // Webhook: once, signed, with the report link.
    let hooks: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.0 == "/hook")
        .cloned()
        .collect();
    assert_eq!(hooks.len(), 1);
    let (_, h, body) = &hooks[0];
    webhook::verify(
        b"whsec-0123456789",
        &h["x-costkit-timestamp"],
        &h["x-costkit-signature"],
        body,
        Utc::now().timestamp(),
        300,
    )
    .unwrap();
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["finding"]["id"], f.id.as_str());
    let link = v["link"].as_str().unwrap();
    assert!(
        link.starts_with("https://reports.example.com/reports/"),
        "{link}"
    );
    assert!(
        link.contains(".html?expires=") && link.contains("&sig="),
        "{link}"
    );
    // Slack: nothing yet (daily digest).
    assert!(log
        .lock()
        .unwrap()
        .iter()
        .all(|r| !r.0.starts_with("/slack")));
    // SNS: once in the subscribed queue.
    let got = rt
        .block_on(
            c.sqs()
                .receive_message()
                .queue_url(&inbox)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send(),
        )
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(got.len(), 1);

    // The schedule the next day, after the grace: the digest goes to Slack once.
    let tomorrow = (Utc::now() + chrono::Duration::days(1))
        .date_naive()
        .and_hms_opt(6, 0, 0)
        .unwrap()
        .and_utc();
    let event = json!({"detail-type": "Scheduled Event", "source": "aws.events", "time": tomorrow.to_rfc3339(), "detail": {}});
    let out = rt
        .block_on(notify::handle_any(&app, event.clone()))
        .unwrap();
    assert_eq!(out["digests"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["digests"][0]["delivery"], "sent");
    assert_eq!(out["digests"][0]["findings"], 1);
    let slack: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.0.starts_with("/slack"))
        .cloned()
        .collect();
    assert_eq!(slack.len(), 1);
    let msg: Value = serde_json::from_slice(&slack[0].2).unwrap();
    assert!(
        msg["text"].as_str().unwrap().contains("daily digest"),
        "{msg}"
    );
    assert!(msg.to_string().contains("283.47 USD"));
    let again = rt.block_on(notify::handle_any(&app, event)).unwrap();
    assert!(again["digests"].as_array().unwrap().is_empty());

    // A broken routing file: the message fails (and is retried), naming the file and line.
    put("version: 1\nchannels:\n  - name: alerts\n    type: pager\nroutes: []\n");
    let resp = rt.block_on(notify::handle(&app, sqs_event(&f)));
    assert_eq!(resp.batch_item_failures.len(), 1);
}
