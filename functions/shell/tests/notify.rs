//! The notify step every shell runs, over the core's local ports (a directory as the blob store,
//! the in-memory state store and queue, a JSON-lines outbox as the alerts publisher) and a real
//! local HTTP receiver: the default route, a signed webhook delivered once however often the
//! finding arrives, a receiver that is down ending in the dead letter, a daily digest sent once
//! after its day, and the channels only AWS has refused elsewhere with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (developers guide)

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use costkit_core::flow::messages::{Finding, FindingKind, Severity};
use costkit_core::local::{DirBlobStore, MemoryQueue, MemoryState, OutboxPublisher};
use costkit_core::money::Currency;
use costkit_core::notify::webhook;
use costkit_core::ports::{BlobStore, Publisher, StateStore};
use costkit_shell::notify::{flush, notify_finding, NotifySettings, SecretLookup};
use costkit_shell::testkit::WebhookSink;
use serde_json::{json, Value};

const KEY: &str = "config/notify.yaml";

struct World {
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
    blobs: Arc<DirBlobStore>,
    state: Arc<MemoryState>,
    alerts: Arc<OutboxPublisher>,
    dead: Arc<MemoryQueue>,
    sink: WebhookSink,
    base: String,
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::default();
    let base = rt.block_on(sink.serve()).unwrap();
    World {
        blobs: Arc::new(DirBlobStore::new(dir.path().join("bucket"))),
        state: Arc::new(MemoryState::default()),
        alerts: Arc::new(OutboxPublisher::new(dir.path().join("alerts.jsonl"))),
        dead: Arc::new(MemoryQueue::default()),
        rt,
        dir,
        sink,
        base,
    }
}

/// Secrets as a map (what Secrets Manager or a JSON app setting holds).
fn secrets(values: &[(&str, Value)]) -> SecretLookup {
    let m: BTreeMap<String, String> = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |id: &str| m.get(id).cloned().ok_or_else(|| format!("no secret {id}")))
}

fn finding(kind: FindingKind, id: &str) -> Finding {
    Finding {
        id: id.into(),
        kind,
        severity: Severity::Warning,
        title: "Budget team-a at 93.5 %".into(),
        summary: "Spend 37.40 USD of 40.00 USD.".into(),
        scope: BTreeMap::from([("budget".to_string(), "team-a".to_string())]),
        amount: Some("37.4000000001".parse().unwrap()),
        currency: Some(Currency::new("USD")),
        found_at: "2026-03-15T07:00:00Z".parse().unwrap(),
        detail: json!({}),
    }
}

fn at(t: &str) -> DateTime<Utc> {
    t.parse().unwrap()
}

impl World {
    fn settings(&self, secrets: SecretLookup) -> NotifySettings {
        let mut s = NotifySettings::new(KEY, "queue", secrets);
        s.dead_letters = Some(self.dead.clone());
        s
    }

    fn notify(&self, s: &NotifySettings, f: &Finding, now: &str) -> Result<Value, String> {
        let alerts: Arc<dyn Publisher> = self.alerts.clone();
        self.rt
            .block_on(notify_finding(
                self.blobs.clone(),
                self.state.clone(),
                Some(alerts),
                s.clone(),
                f.clone(),
                at(now),
            ))
            .map_err(|e| e.to_string())
    }

    fn flush(&self, s: &NotifySettings, now: &str) -> Value {
        let alerts: Arc<dyn Publisher> = self.alerts.clone();
        self.rt
            .block_on(flush(
                self.blobs.clone(),
                self.state.clone(),
                Some(alerts),
                s.clone(),
                at(now),
            ))
            .unwrap()
    }

    fn routes(&self, yaml: &str) {
        self.blobs
            .put_bytes(KEY, yaml.as_bytes(), "application/yaml")
            .unwrap();
    }

    fn alerts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("alerts.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[test]
fn without_a_routing_file_every_finding_goes_to_the_alerts_publisher_once() {
    let w = world();
    let s = w.settings(secrets(&[]));
    let f = finding(
        FindingKind::BudgetAlert,
        "budget:team-a:2026-03:billed:actual:80%",
    );
    let first = w.notify(&s, &f, "2026-03-15T07:01:00Z").unwrap();
    assert_eq!(first, json!({"deliveries": {"queue": "sent"}}));
    let again = w.notify(&s, &f, "2026-03-15T07:02:00Z").unwrap();
    assert_eq!(again, json!({"deliveries": {"queue": "duplicate"}}));
    let alerts = w.alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains("37.40 USD"), "{}", alerts[0]);
    assert!(w
        .state
        .get("delivery/queue/budget:team-a:2026-03:billed:actual:80%")
        .unwrap()
        .is_some());
}

#[test]
fn a_webhook_gets_a_finding_once_signed_and_a_receiver_that_is_down_ends_in_the_dead_letter() {
    let w = world();
    let s = w.settings(secrets(&[(
        "NOTIFY",
        json!({"hook_key": "whsec-1", "down_url": format!("{}/fail", w.base)}),
    )]));
    w.routes(&format!(
        "version: 1\nchannels:\n  - name: hook\n    type: webhook\n    url: {}/hook\n    signing_secret: {{secret: NOTIFY, key: hook_key}}\n  - name: down\n    type: webhook\n    url: {{secret: NOTIFY, key: down_url}}\n    signing_secret: {{secret: NOTIFY, key: hook_key}}\nroutes:\n  - channel: hook\n    kinds: [anomaly]\n  - channel: down\nretry: {{max_attempts: 2, base_ms: 1, max_delay_ms: 5}}\n",
        w.base
    ));
    let f = finding(FindingKind::Anomaly, "anomaly:total:2026-03-14");
    let first = w.notify(&s, &f, "2026-03-15T07:01:00Z").unwrap();
    assert_eq!(
        first,
        json!({"deliveries": {"hook": "sent", "down": "dead-lettered"}})
    );
    let again = w.notify(&s, &f, "2026-03-15T07:05:00Z").unwrap();
    assert_eq!(again["deliveries"]["hook"], "duplicate");

    let got = w.sink.received("/hook");
    assert_eq!(got.len(), 1, "delivered once");
    let r = &got[0];
    webhook::verify(
        b"whsec-1",
        &r.headers["x-costkit-timestamp"],
        &r.headers["x-costkit-signature"],
        &r.body,
        Utc::now().timestamp(),
        300,
    )
    .expect("the signature verifies");
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["finding"]["id"], "anomaly:total:2026-03-14");
    assert_eq!(body["finding"]["amount"], "37.4000000001");
    assert_eq!(body["idempotency_key"], r.headers["idempotency-key"]);
    assert!(w.alerts().is_empty(), "no route to the alerts publisher");

    // The receiver that is down got both attempts, every time it was tried, then the dead letter.
    assert_eq!(w.sink.received("/fail").len(), 4);
    let letter: Value = serde_json::from_str(&w.dead.pop().expect("dead letter")).unwrap();
    assert_eq!(letter["channel"], "down");
    assert_eq!(letter["attempts"], 2);
    assert!(
        !letter["error"].as_str().unwrap().contains("/fail"),
        "no URL in errors"
    );
    assert!(w
        .state
        .get("deadletter/down/anomaly:total:2026-03-14")
        .unwrap()
        .is_some());
}

#[test]
fn a_daily_digest_is_sent_once_after_its_day() {
    let w = world();
    let s = w.settings(secrets(&[("K", json!({"k": "whsec-2"}))]));
    w.routes(&format!(
        "version: 1\nchannels:\n  - name: daily\n    type: webhook\n    url: {}/digest\n    signing_secret: {{secret: K, key: k}}\nroutes:\n  - channel: daily\n    mode: daily\n",
        w.base
    ));
    for id in ["anomaly:a", "anomaly:b", "anomaly:a"] {
        w.notify(
            &s,
            &finding(FindingKind::Anomaly, id),
            "2026-03-15T07:00:00Z",
        )
        .unwrap();
    }
    // Within the grace hour after midnight nothing is sent.
    assert_eq!(w.flush(&s, "2026-03-16T00:30:00Z"), json!({"digests": []}));
    let done = w.flush(&s, "2026-03-16T01:30:00Z");
    assert_eq!(done["digests"][0]["findings"], 2, "{done}");
    assert_eq!(done["digests"][0]["delivery"], "sent", "{done}");
    assert_eq!(w.flush(&s, "2026-03-17T07:00:00Z"), json!({"digests": []}));
    let got = w.sink.received("/digest");
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "digest");
    assert_eq!(body["digest"]["totals"]["USD"], "74.8000000002");
}

#[test]
fn channels_only_aws_has_are_refused_elsewhere_naming_file_and_channel() {
    let w = world();
    let s = w.settings(secrets(&[]));
    let f = finding(FindingKind::Anomaly, "anomaly:x");
    w.routes("version: 1\nchannels:\n  - name: mail\n    type: email\n    transport: ses\n    from: costkit@example.com\n    to: [finops@example.com]\nroutes:\n  - channel: mail\n");
    let e = w.notify(&s, &f, "2026-03-15T07:00:00Z").unwrap_err();
    assert!(
        e.contains("config/notify.yaml: channel `mail`") && e.contains("only available on AWS"),
        "{e}"
    );
    w.routes("version: 1\nchannels:\n  - name: t\n    type: sns\n    topic_arn: arn:aws:sns:eu-west-1:111122223333:x\nroutes:\n  - channel: t\n");
    let e = w.notify(&s, &f, "2026-03-15T07:00:00Z").unwrap_err();
    assert!(e.contains("channel `t`") && e.contains("SNS topic"), "{e}");
    // A missing secret names the reference, never a value.
    w.routes(&format!("version: 1\nchannels:\n  - name: h\n    type: webhook\n    url: {}/hook\n    signing_secret: {{secret: NOPE, key: k}}\nroutes:\n  - channel: h\n", w.base));
    let e = w.notify(&s, &f, "2026-03-15T07:00:00Z").unwrap_err();
    assert!(e.contains("channel `h`") && e.contains("NOPE"), "{e}");
    assert!(w.sink.received("/hook").is_empty());
    assert!(w.alerts().is_empty());
}
