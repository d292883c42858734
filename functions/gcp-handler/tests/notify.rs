//! Notification routing on the Google Cloud emulators (`scripts/gcp-emulators.sh`): the routing
//! file in the Cloud Storage bucket, receipts and digests in Firestore, the findings topic
//! pushing to the service's `/pubsub/notify`, secrets in a JSON variable (what Cloud Run fills
//! from Secret Manager), a signed webhook on a local receiver. The finding arrives once although
//! Pub/Sub delivers it twice; a receiver that is down ends on the notification dead-letter topic;
//! the digest schedule sends the day's digest once.

mod common;

use chrono::{Duration, Utc};
use common::{emulator_config, envelope, eventually, push_subscription, quick_gcp, serve};
use costkit_core::flow::messages::{Finding, FindingKind, Message, Severity};
use costkit_core::money::Currency;
use costkit_core::notify::webhook;
use costkit_gcp::pubsub::{Subscription, Topic};
use costkit_gcp_handler::{ensure_resources, App, Wiring};
use costkit_shell::testkit::WebhookSink;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_routed_finding_reaches_its_webhook_once_when_pubsub_delivers_it_twice() {
    let gcp = quick_gcp();
    let id = format!("{:08x}", fastrand::u32(..));
    let config = emulator_config("notify", &id);
    ensure_resources(&config, &gcp).await.expect("resources");
    let wiring = Wiring::gcp(&config, &gcp, tokio::runtime::Handle::current()).expect("wiring");

    // The receiver, and the secret variable Cloud Run fills from Secret Manager.
    let sink = WebhookSink::default();
    let hooks = sink.serve().await.expect("sink");
    let var = format!("COSTKIT_TEST_NOTIFY_{}", id.to_uppercase());
    std::env::set_var(
        &var,
        json!({"hook_url": format!("{hooks}/hook"), "hook_key": "whsec-gcp"}).to_string(),
    );
    let routes = format!(
        "version: 1\nchannels:\n  - name: hook\n    type: webhook\n    url: {{secret: {var}, key: hook_url}}\n    signing_secret: {{secret: {var}, key: hook_key}}\n  - name: down\n    type: webhook\n    url: {hooks}/fail\n    signing_secret: {{secret: {var}, key: hook_key}}\n  - name: daily\n    type: webhook\n    url: {hooks}/digest\n    signing_secret: {{secret: {var}, key: hook_key}}\nroutes:\n  - channel: hook\n    kinds: [budget_alert]\n  - channel: down\n  - channel: daily\n    mode: daily\nretry: {{max_attempts: 2, base_ms: 1, max_delay_ms: 5}}\n"
    );
    let blobs = wiring.ports.blobs.clone();
    tokio::task::spawn_blocking(move || {
        blobs.put_bytes("config/notify.yaml", routes.as_bytes(), "application/yaml")
    })
    .await
    .expect("join")
    .expect("routing file");

    let findings = wiring.ports.findings.clone();
    let base = serve(App::new(config.clone(), wiring).expect("app")).await;
    push_subscription(
        &gcp,
        &config.findings_topic,
        &format!("notify-push-{id}"),
        &format!("{base}/pubsub/notify"),
    )
    .await;
    let dead_sub = Subscription::new(&gcp, &format!("notify-dead-{id}"));
    dead_sub
        .create_pull(&Topic::new(&gcp, &config.notify_dead_letter_topic), None)
        .await
        .expect("pull subscription");

    let finding = Message::Finding(Finding {
        id: "budget:gcp-march:2026-03:billed:actual:80%".into(),
        kind: FindingKind::BudgetAlert,
        severity: Severity::Warning,
        title: "Budget gcp-march at 93.5 %".into(),
        summary: "Spend 37.40 USD of 40.00 USD.".into(),
        scope: [("budget".to_string(), "gcp-march".to_string())].into(),
        amount: Some("37.4000000001".parse().expect("decimal")),
        currency: Some(Currency::new("USD")),
        found_at: "2026-03-15T07:00:00Z".parse().expect("time"),
        detail: json!({}),
    });
    // 1. Published to the findings topic; the emulator pushes it to the service.
    let (text, dedup) = (finding.to_json(), finding.dedup_id());
    let body = text.clone();
    tokio::task::spawn_blocking(move || findings.send(&body, &dedup))
        .await
        .expect("join")
        .expect("publish");
    let got = eventually(20, "the webhook delivery", || {
        let s = sink.clone();
        async move { Some(s.received("/hook")).filter(|r| !r.is_empty()) }
    })
    .await;
    let letter = eventually(20, "the dead letter of the channel that is down", || {
        let s = dead_sub.clone();
        async move {
            let m = s.pull(10).await.expect("pull");
            let ids: Vec<String> = m.iter().map(|m| m.ack_id.clone()).collect();
            if !ids.is_empty() {
                s.acknowledge(&ids).await.expect("ack");
            }
            m.first()
                .map(|m| serde_json::from_slice::<Value>(&m.message.bytes().expect("data")))
        }
    })
    .await
    .expect("dead letter json");
    assert_eq!(letter["channel"], "down");
    assert_eq!(letter["attempts"], 2);

    // 2. Pub/Sub delivers the same message again (its acknowledgement was lost).
    let http = reqwest::Client::new();
    let again = http
        .post(format!("{base}/pubsub/notify"))
        .json(&envelope(
            "notify",
            &text,
            "redelivered-1",
            &Utc::now().to_rfc3339(),
            &json!({}),
        ))
        .send()
        .await
        .expect("push");
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.expect("json");
    assert_eq!(
        again["result"]["deliveries"]["hook"], "duplicate",
        "{again}"
    );
    assert_eq!(
        again["result"]["deliveries"]["daily"], "duplicate",
        "{again}"
    );

    let after = sink.received("/hook");
    assert_eq!(after.len(), 1, "the webhook got the finding once");
    assert_eq!(got.len(), 1);
    let r = &after[0];
    webhook::verify(
        b"whsec-gcp",
        &r.headers["x-costkit-timestamp"],
        &r.headers["x-costkit-signature"],
        &r.body,
        Utc::now().timestamp(),
        300,
    )
    .expect("signature");
    let body: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(
        body["finding"]["id"],
        "budget:gcp-march:2026-03:billed:actual:80%"
    );
    assert_eq!(body["finding"]["amount"], "37.4000000001");
    assert_eq!(body["idempotency_key"], r.headers["idempotency-key"]);

    // 3. The digest schedule the next morning sends the day's digest once.
    let tomorrow = (Utc::now() + Duration::days(1)).date_naive();
    let run = |at: String| {
        let (http, url) = (http.clone(), format!("{base}/scheduler/notify-digest"));
        async move {
            let r = http
                .post(url)
                .header("x-cloudscheduler", "true")
                .header("x-cloudscheduler-scheduletime", at)
                .send()
                .await
                .expect("scheduler");
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.expect("json")
        }
    };
    let done = run(format!("{tomorrow}T07:00:00Z")).await;
    assert_eq!(done["digests"][0]["channel"], "daily", "{done}");
    assert_eq!(done["digests"][0]["delivery"], "sent", "{done}");
    let later = run(format!("{tomorrow}T08:00:00Z")).await;
    assert_eq!(later["digests"], json!([]), "{later}");
    let digests = sink.received("/digest");
    assert_eq!(digests.len(), 1);
    let d: Value = serde_json::from_slice(&digests[0].body).expect("json");
    assert_eq!(d["digest"]["totals"]["USD"], "37.4000000001");
}
