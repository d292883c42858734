//! Notifications in the core: the routing file, the renderers and the delivery flow (retries,
//! dead letter, idempotency across a crash, digests) over the local state store. The channels here
//! are scripted at the port; the same flow against real HTTP and SMTP servers is tested in
//! `adapters/notify/tests/`.

#![allow(clippy::unwrap_used)] // tests may unwrap (developers guide)

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use costkit_core::flow::messages::{Finding, FindingKind, Severity};
use costkit_core::flow::notify::{
    collect, dead_letter_key, flush_due, receipt_key, send, DeadLetter, Delivery, Pacing,
    RetryPolicy, MAX_RETRY_AFTER,
};
use costkit_core::local::{MemoryQueue, MemoryState};
use costkit_core::money::Currency;
use costkit_core::notify::routing::{
    EmailTransport, Mode, RoutingError, SecretRef, Setting, SmtpTls, Target,
};
use costkit_core::notify::{
    email, slack, teams, webhook, Cadence, Channel, ChannelKind, Content, Notice, Outgoing,
    Rendered, RoutingFile, SendError,
};
use costkit_core::ports::{PortError, StateStore, Version};
use rust_decimal::Decimal;
use serde_json::Value;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn finding(id: &str, kind: FindingKind, severity: Severity, amount: &str) -> Finding {
    let mut scope = BTreeMap::new();
    scope.insert("account".to_string(), "111122223333".to_string());
    scope.insert("budget".to_string(), "team-<platform>".to_string());
    Finding {
        id: id.to_string(),
        kind,
        severity,
        title: format!("Budget *team* <platform> at 112% ({id})"),
        summary: "Spend 1,123.45 USD of 1,000.00 USD; forecast =SUM(A1) & more".into(),
        scope,
        amount: Some(amount.parse().unwrap()),
        currency: Some(Currency::new("USD")),
        found_at: t("2026-11-27T08:15:00Z"),
        detail: serde_json::json!({"threshold": 100}),
    }
}

fn example() -> RoutingFile {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/notify.example.yaml");
    RoutingFile::load(std::path::Path::new(path)).unwrap()
}

// ---------- routing file ----------

#[test]
fn the_example_routing_file_parses() {
    let r = example();
    assert_eq!(r.channels.len(), 6);
    assert_eq!(r.routes.len(), 6);
    assert_eq!(r.retry.max_attempts, 5);
    let slack = r.channel("finops-slack").unwrap();
    assert_eq!(slack.kind(), ChannelKind::Slack);
    assert_eq!(
        slack.target,
        Target::Slack {
            url: Setting::Ref(SecretRef::Secret {
                id: "costkit/notify".into(),
                key: Some("slack_webhook_url".into())
            })
        }
    );
    match &r.channel("relay-mail").unwrap().target {
        Target::Email {
            transport:
                EmailTransport::Smtp {
                    port,
                    tls,
                    password,
                    ..
                },
            ..
        } => {
            assert_eq!(*port, 587);
            assert_eq!(*tls, SmtpTls::Starttls);
            assert_eq!(
                password,
                &Some(SecretRef::Env("COSTKIT_SMTP_PASSWORD".into()))
            );
        }
        other => panic!("unexpected target {other:?}"),
    }
}

#[test]
fn routes_filter_by_kind_severity_and_scope() {
    let r = example();
    let names = |f: &Finding| -> Vec<(String, Mode)> {
        r.destinations(f)
            .into_iter()
            .map(|(c, m)| (c.name.clone(), m))
            .collect()
    };
    let critical = finding("a", FindingKind::BudgetAlert, Severity::Critical, "10");
    let got = names(&critical);
    assert_eq!(
        got,
        vec![
            ("alerts-topic".to_string(), Mode::Immediate),
            ("finops-slack".to_string(), Mode::Immediate),
            ("finops-teams".to_string(), Mode::Digest(Cadence::Daily)),
            ("finops-mail".to_string(), Mode::Digest(Cadence::Weekly)),
        ]
    );
    // Another account: not to Slack. Info: not to Teams.
    let mut other = finding("b", FindingKind::BudgetAlert, Severity::Info, "10");
    other.scope.insert("account".into(), "999".into());
    let got: Vec<String> = names(&other).into_iter().map(|(n, _)| n).collect();
    assert_eq!(got, vec!["alerts-topic", "finops-mail"]);
    // The relay route needs budget=team-platform exactly.
    other.scope.insert("budget".into(), "team-platform".into());
    let got: Vec<String> = names(&other).into_iter().map(|(n, _)| n).collect();
    assert_eq!(got, vec!["alerts-topic", "finops-mail", "relay-mail"]);
    // An anomaly at warning goes to the webhook.
    let anomaly = finding("c", FindingKind::Anomaly, Severity::Warning, "10");
    assert!(names(&anomaly).iter().any(|(n, _)| n == "ticketing"));
}

fn parse_err(yaml: &str) -> (usize, String) {
    match RoutingFile::parse(yaml, "notify.yaml") {
        Err(RoutingError::Invalid { line, message, .. }) => (line, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn routing_errors_name_the_field_and_line() {
    let (line, msg) = parse_err(
        "channels:\n  - name: a\n    type: sns\nroutes:\n  - channel: a\n  - channel: b\n",
    );
    assert_eq!(line, 6);
    assert!(
        msg.contains("routes[1].channel") && msg.contains("`b`"),
        "{msg}"
    );

    let (line, msg) = parse_err(
        "channels:\n  - name: s\n    type: slack\n    url: https://hooks.slack.com/services/T/B/X\nroutes: []\n",
    );
    assert_eq!(line, 2, "{msg}");
    assert!(
        msg.contains("channels[0]") && msg.contains("credential"),
        "{msg}"
    );

    let (line, msg) = parse_err(
        "channels:\n  - name: m\n    type: email\n    transport: smtp\n    from: a@example.com\n    to: [b@example.com]\n    smtp: {host: smtp.example.com, tls: none}\nroutes: []\n",
    );
    assert!(line >= 2, "{msg}");
    assert!(msg.contains("loopback"), "{msg}");

    let (line, msg) = parse_err(
        "channels:\n  - name: w\n    type: webhook\n    url: https://x.example.com/h\n    signing_secret: hunter2\nroutes: []\n",
    );
    assert_eq!(line, 5, "{msg}");
    assert!(
        msg.contains("channels[0].signing_secret") && msg.contains("not written in the file"),
        "{msg}"
    );
    assert!(
        !msg.contains("hunter2"),
        "the error must not echo the secret: {msg}"
    );

    let (line, msg) =
        parse_err("channels:\n  - name: a\n    type: sns\n    colour: red\nroutes: []\n");
    assert_eq!(line, 4, "{msg}");
    assert!(msg.contains("colour"), "{msg}");

    let (line, msg) = parse_err(
        "channels:\n  - name: a\n    type: sns\n  - name: a\n    type: sns\nroutes: []\n",
    );
    assert_eq!(line, 4);
    assert!(msg.contains("already used"), "{msg}");

    let (line, msg) = parse_err(
        "channels:\n  - name: a\n    type: sns\nroutes:\n  - channel: a\n    mode: hourly\n",
    );
    assert_eq!(line, 6, "{msg}");
    assert!(
        msg.contains("routes[0].mode") && msg.contains("hourly"),
        "{msg}"
    );

    let (_, msg) = parse_err(
        "channels:\n  - name: m\n    type: email\n    transport: ses\n    from: not an address\n    to: [b@example.com]\nroutes: []\n",
    );
    assert!(
        msg.contains("from") && msg.contains("not an address"),
        "{msg}"
    );
}

#[test]
fn the_schema_accepts_the_example_and_names_the_same_fields() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/notify.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    // Every channel field the parser accepts is in the schema, and no other.
    let props = schema["$defs"]["channel"]["properties"]
        .as_object()
        .unwrap();
    let mut fields: Vec<&str> = props.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "configuration_set",
            "from",
            "name",
            "signing_secret",
            "smtp",
            "to",
            "topic_arn",
            "transport",
            "type",
            "url"
        ]
    );
    let route: Vec<&str> = schema["$defs"]["route"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        route,
        vec!["channel", "kinds", "min_severity", "scope", "mode"]
    );
}

// ---------- renderers ----------

fn notice(f: &Finding) -> Notice<'_> {
    Notice {
        content: Content::Finding(f),
        link: Some("https://costkit.example.com/reports/2026-11.html?exp=1&sig=ab"),
    }
}

#[test]
fn email_escapes_user_text_and_attaches_exact_amounts() {
    let f = finding(
        "budget:team:2026-11:100",
        FindingKind::BudgetAlert,
        Severity::Critical,
        "1123.456789",
    );
    let e = email::render(&notice(&f));
    assert!(e.subject.starts_with("[costkit] Budget *team* <platform>"));
    assert!(
        !e.html.contains("<platform>"),
        "user text must be escaped in HTML"
    );
    assert!(e.html.contains("&lt;platform&gt;"));
    assert!(e.html.contains("1123.46 USD"), "shown rounded to cents");
    assert!(e
        .html
        .contains("href=\"https://costkit.example.com/reports/2026-11.html?exp=1&amp;sig=ab\""));
    assert!(e
        .text
        .contains("Report: https://costkit.example.com/reports/2026-11.html?exp=1&sig=ab"));
    assert_eq!(e.attachment_name, "costkit-budget_team_2026-11_100.csv");
    let mut r = csv::Reader::from_reader(e.attachment.as_slice());
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    assert_eq!(
        &rows[0][col("amount")],
        "1123.456789",
        "exact amount in the CSV"
    );
    assert_eq!(&rows[0][col("currency")], "USD");
    assert_eq!(
        &rows[0][col("scope")],
        "account=111122223333, budget=team-<platform>"
    );
}

#[test]
fn mime_message_carries_the_idempotency_key() {
    let f = finding("f1", FindingKind::Anomaly, Severity::Warning, "5");
    let e = email::render(&notice(&f));
    let m = email::to_mime(
        &e,
        "costkit <costkit@example.com>",
        &["finops@example.com".to_string()],
        "abc123",
        t("2026-11-27T08:15:00Z"),
    )
    .unwrap();
    let text = String::from_utf8_lossy(&m.bytes);
    assert!(
        text.contains("Message-ID: <abc123@costkit.invalid>"),
        "{text}"
    );
    assert!(text.contains("X-Costkit-Idempotency-Key: abc123"));
    assert!(text.contains("multipart/mixed") && text.contains("multipart/alternative"));
    assert!(text.contains("text/csv"));
    assert_eq!(m.from, "costkit@example.com");
    assert_eq!(m.to, vec!["finops@example.com"]);
    assert!(email::to_mime(&e, "x@example.com", &[], "k", Utc::now()).is_err());
    assert!(email::to_mime(
        &e,
        "x@example.com",
        &["bad address".into()],
        "k",
        Utc::now()
    )
    .is_err());
}

/// Block Kit has no published JSON Schema; the message is snapshot-tested. Set
/// `COSTKIT_UPDATE_SNAPSHOTS=1` to rewrite the snapshot after an intended change, and review the
/// diff (Slack's Block Kit Builder renders the file as is).
#[test]
fn slack_block_kit_snapshot() {
    let f = finding(
        "budget:team:2026-11:100",
        FindingKind::BudgetAlert,
        Severity::Critical,
        "1123.45",
    );
    let msg = slack::message(&notice(&f));
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/snapshots/slack-finding.json"
    );
    let pretty = serde_json::to_string_pretty(&msg).unwrap() + "\n";
    if std::env::var("COSTKIT_UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(path, &pretty).unwrap();
    }
    let expected = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        pretty, expected,
        "Block Kit message changed; see the test's doc"
    );
    // Limits and escapes that matter to Slack, checked on the message itself.
    let blocks = msg["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    assert_eq!(blocks[0]["type"], "header");
    assert!(blocks[0]["text"]["text"].as_str().unwrap().chars().count() <= 150);
    // mrkdwn text is parsed by Slack (`<!channel>`, `<url|label>`): user text there is escaped.
    // The header is plain_text, which Slack shows as is.
    fn mrkdwn(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if m.get("type") == Some(&Value::from("mrkdwn")) {
                    out.push(m["text"].as_str().unwrap().to_string());
                }
                m.values().for_each(|x| mrkdwn(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| mrkdwn(x, out)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    mrkdwn(&msg, &mut texts);
    assert!(texts.len() >= 5);
    assert!(texts.iter().all(|t| !t.contains('<')), "{texts:?}");
    assert!(!msg["text"].as_str().unwrap().contains('<'));
    assert_eq!(
        blocks.last().unwrap()["elements"][0]["url"],
        "https://costkit.example.com/reports/2026-11.html?exp=1&sig=ab"
    );
}

#[test]
fn slack_digest_stays_within_limits() {
    let mut d =
        costkit_core::notify::Digest::new(Cadence::Daily, t("2026-11-27T00:00:00Z").date_naive());
    for i in 0..150 {
        d.add(&finding(
            &format!("f{i}"),
            FindingKind::Anomaly,
            Severity::Warning,
            "1.005",
        ));
    }
    assert_eq!(d.count, 150);
    assert_eq!(d.findings.len(), costkit_core::notify::Digest::MAX_KEPT);
    assert_eq!(d.more, 50);
    assert_eq!(
        d.totals[&Currency::new("USD")],
        "150.750".parse::<Decimal>().unwrap()
    );
    let msg = slack::message(&Notice {
        content: Content::Digest(&d),
        link: None,
    });
    let blocks = msg["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50, "{} blocks", blocks.len());
    assert!(msg.to_string().contains("and 130 more"));
    assert!(msg.to_string().contains("150.75 USD"));
}

#[test]
fn teams_message_wraps_an_adaptive_card() {
    let f = finding("f1", FindingKind::BudgetAlert, Severity::Critical, "10");
    let m = teams::message(&notice(&f));
    assert_eq!(m["type"], "message");
    let a = &m["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(a["content"]["type"], "AdaptiveCard");
    assert_eq!(a["content"]["version"], teams::CARD_VERSION);
    assert_eq!(a["content"]["actions"][0]["type"], "Action.OpenUrl");
    let title = a["content"]["body"][0]["text"].as_str().unwrap();
    assert!(
        title.contains(r"\*team\*"),
        "Markdown in user text is escaped: {title}"
    );
}

#[test]
fn webhook_body_is_exact_and_signed() {
    let f = finding("f1", FindingKind::Anomaly, Severity::Warning, "0.10");
    let post = webhook::render(&notice(&f), "key-1");
    let v: Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(v["type"], "finding");
    assert_eq!(v["idempotency_key"], "key-1");
    assert_eq!(v["finding"]["amount"], "0.10", "exact amount as a string");
    let h = webhook::headers(b"s3cret", 1_800_000_000, &post.body, "key-1");
    let get = |n: &str| h.iter().find(|(k, _)| *k == n).unwrap().1.clone();
    assert_eq!(get("Idempotency-Key"), "key-1");
    webhook::verify(
        b"s3cret",
        &get(webhook::TIMESTAMP_HEADER),
        &get(webhook::SIGNATURE_HEADER),
        &post.body,
        1_800_000_010,
        300,
    )
    .unwrap();
}

// ---------- delivery flow ----------

/// A channel scripted at the port: fails its first `failures` attempts, records every attempt.
struct Scripted {
    name: String,
    failures: u32,
    retryable: bool,
    /// The `Retry-After` wait each failure carries.
    asks: Option<Duration>,
    attempts: Mutex<Vec<(u32, String)>>,
    accepted: Mutex<u32>,
}

impl Scripted {
    fn new(failures: u32, retryable: bool) -> Scripted {
        Scripted {
            name: "hook".into(),
            failures,
            retryable,
            asks: None,
            attempts: Mutex::new(Vec::new()),
            accepted: Mutex::new(0),
        }
    }
}

impl Channel for Scripted {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }
    fn send(&self, m: &Outgoing) -> Result<(), SendError> {
        assert!(matches!(m.rendered, Rendered::Json(_)));
        let mut a = self.attempts.lock().unwrap();
        a.push((m.attempt, m.idempotency_key.clone()));
        if a.len() as u32 <= self.failures {
            return Err(SendError {
                retryable: self.retryable,
                message: "HTTP 503".into(),
                retry_after: self.asks,
            });
        }
        *self.accepted.lock().unwrap() += 1;
        Ok(())
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base: Duration::from_secs(1),
        max_delay: Duration::from_secs(3),
    }
}

#[test]
fn three_failures_then_success_is_one_delivery_with_backoff() {
    let ch = Scripted::new(3, true);
    let state = MemoryState::default();
    let waits = RefCell::new(Vec::new());
    let sleep = |d: Duration| waits.borrow_mut().push(d);
    let pacing = Pacing {
        sleep: &sleep,
        unit: &|| 1.0,
    };
    let f = finding("f1", FindingKind::Anomaly, Severity::Warning, "1");
    let now = t("2026-11-27T08:15:00Z");
    let n = Notice {
        content: Content::Finding(&f),
        link: None,
    };
    assert_eq!(
        send(&ch, &n, &state, &policy(), &pacing, None, now).unwrap(),
        Delivery::Sent
    );
    assert_eq!(*ch.accepted.lock().unwrap(), 1);
    let attempts = ch.attempts.lock().unwrap().clone();
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(
        attempts.iter().all(|a| a.1 == attempts[0].1),
        "one idempotency key for every attempt"
    );
    // Full jitter at its top (unit = 1): the caps, doubling and capped at max_delay.
    assert_eq!(
        *waits.borrow(),
        vec![
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(3)
        ]
    );
    assert!(state.get(&receipt_key("hook", "f1")).unwrap().is_some());
    // Redelivered: dropped without an attempt.
    assert_eq!(
        send(&ch, &n, &state, &policy(), &pacing, None, now).unwrap(),
        Delivery::Duplicate
    );
    assert_eq!(ch.attempts.lock().unwrap().len(), 4);
}

#[test]
fn a_requested_wait_replaces_the_backoff_and_is_capped() {
    let state = MemoryState::default();
    let waits = RefCell::new(Vec::new());
    let sleep = |d: Duration| waits.borrow_mut().push(d);
    let pacing = Pacing {
        sleep: &sleep,
        unit: &|| 1.0,
    };
    let now = t("2026-11-27T08:15:00Z");
    // Throttled twice with `Retry-After: 7`: waits 7 s each time (not the 1 s, 2 s backoff).
    let mut ch = Scripted::new(2, true);
    ch.asks = Some(Duration::from_secs(7));
    let f = finding("f-ra", FindingKind::Anomaly, Severity::Warning, "1");
    let n = Notice {
        content: Content::Finding(&f),
        link: None,
    };
    assert_eq!(
        send(&ch, &n, &state, &policy(), &pacing, None, now).unwrap(),
        Delivery::Sent
    );
    assert_eq!(*waits.borrow(), vec![Duration::from_secs(7); 2]);
    assert_eq!(ch.attempts.lock().unwrap().len(), 3);
    // An hour asked for: capped, and the throttled attempts count against the policy's five.
    waits.borrow_mut().clear();
    let mut ch = Scripted::new(u32::MAX, true);
    ch.asks = Some(Duration::from_secs(3600));
    let f = finding("f-ra2", FindingKind::Anomaly, Severity::Warning, "1");
    let n = Notice {
        content: Content::Finding(&f),
        link: None,
    };
    assert_eq!(
        send(&ch, &n, &state, &policy(), &pacing, None, now).unwrap(),
        Delivery::DeadLettered
    );
    assert_eq!(ch.attempts.lock().unwrap().len(), 5);
    assert_eq!(*waits.borrow(), vec![MAX_RETRY_AFTER; 4]);
    assert_eq!(MAX_RETRY_AFTER, Duration::from_secs(60));
}

#[test]
fn jitter_spreads_waits_below_the_cap() {
    let p = policy();
    assert_eq!(p.delay(2, 0.0), Duration::ZERO);
    assert_eq!(p.delay(2, 0.5), Duration::from_secs(1));
    assert_eq!(p.delay(40, 1.0), Duration::from_secs(3));
}

#[test]
fn a_receiver_that_always_fails_ends_in_the_dead_letter() {
    let ch = Scripted::new(u32::MAX, true);
    let state = MemoryState::default();
    let dlq = MemoryQueue::default();
    let pacing = Pacing {
        sleep: &|_| {},
        unit: &|| 0.3,
    };
    let f = finding("f2", FindingKind::Anomaly, Severity::Warning, "1");
    let n = Notice {
        content: Content::Finding(&f),
        link: None,
    };
    let now = t("2026-11-27T08:15:00Z");
    assert_eq!(
        send(&ch, &n, &state, &policy(), &pacing, Some(&dlq), now).unwrap(),
        Delivery::DeadLettered
    );
    assert_eq!(ch.attempts.lock().unwrap().len(), 5);
    assert!(
        state.get(&receipt_key("hook", "f2")).unwrap().is_none(),
        "no receipt"
    );
    let (bytes, _) = state.get(&dead_letter_key("hook", "f2")).unwrap().unwrap();
    let letter: Option<DeadLetter> = serde_json::from_slice(&bytes).unwrap();
    let letter = letter.unwrap();
    assert_eq!(letter.attempts, 5);
    assert!(letter.retryable);
    assert_eq!(letter.error, "HTTP 503");
    assert_eq!(
        letter.idempotency_key,
        costkit_core::notify::idempotency_key("hook", "f2")
    );
    let queued: DeadLetter = serde_json::from_str(&dlq.pop().unwrap()).unwrap();
    assert_eq!(queued, letter);
}

#[test]
fn a_refused_message_is_dead_lettered_at_once() {
    let ch = Scripted::new(u32::MAX, false);
    let state = MemoryState::default();
    let pacing = Pacing {
        sleep: &|_| panic!("no wait for a permanent failure"),
        unit: &|| 1.0,
    };
    let f = finding("f3", FindingKind::Anomaly, Severity::Warning, "1");
    let n = Notice {
        content: Content::Finding(&f),
        link: None,
    };
    assert_eq!(
        send(&ch, &n, &state, &policy(), &pacing, None, Utc::now()).unwrap(),
        Delivery::DeadLettered
    );
    assert_eq!(ch.attempts.lock().unwrap().len(), 1);
}

/// A state store whose first receipt write fails, like an invocation dying between the send and
/// the bookkeeping.
struct CrashOnReceipt {
    inner: MemoryState,
    crashed: Mutex<bool>,
}

impl StateStore for CrashOnReceipt {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, PortError> {
        self.inner.get(key)
    }
    fn put(
        &self,
        key: &str,
        value: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, PortError> {
        let mut c = self.crashed.lock().unwrap();
        if key.starts_with("delivery/") && !*c {
            *c = true;
            return Err(PortError::backend(key, "connection reset"));
        }
        self.inner.put(key, value, expected)
    }
}

#[test]
fn a_resend_after_a_crash_carries_the_same_idempotency_key() {
    let ch = Scripted::new(0, true);
    let state = CrashOnReceipt {
        inner: MemoryState::default(),
        crashed: Mutex::new(false),
    };
    let pacing = Pacing {
        sleep: &|_| {},
        unit: &|| 1.0,
    };
    let f = finding("f4", FindingKind::BudgetAlert, Severity::Critical, "1");
    let n = Notice {
        content: Content::Finding(&f),
        link: None,
    };
    let now = Utc::now();
    assert!(
        send(&ch, &n, &state, &policy(), &pacing, None, now).is_err(),
        "the bookkeeping failed"
    );
    assert_eq!(
        send(&ch, &n, &state, &policy(), &pacing, None, now).unwrap(),
        Delivery::Sent
    );
    let a = ch.attempts.lock().unwrap().clone();
    assert_eq!(a.len(), 2, "sent twice");
    assert_eq!(
        a[0].1, a[1].1,
        "with the same idempotency key, so the receiver drops the second"
    );
    assert_eq!(
        send(&ch, &n, &state, &policy(), &pacing, None, now).unwrap(),
        Delivery::Duplicate
    );
}

#[test]
fn digests_collect_once_and_flush_after_the_period() {
    let state = MemoryState::default();
    let ch = Scripted::new(0, true);
    let pacing = Pacing {
        sleep: &|_| {},
        unit: &|| 1.0,
    };
    let day = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let f1 = finding("d1", FindingKind::Anomaly, Severity::Warning, "10.005");
    let f2 = finding("d2", FindingKind::Anomaly, Severity::Critical, "2");
    assert_eq!(
        collect(&f1, "hook", Cadence::Daily, day, &state).unwrap(),
        Delivery::Collected
    );
    assert_eq!(
        collect(&f2, "hook", Cadence::Daily, day, &state).unwrap(),
        Delivery::Collected
    );
    assert_eq!(
        collect(&f1, "hook", Cadence::Daily, day, &state).unwrap(),
        Delivery::Duplicate
    );
    let channels: [&dyn Channel; 1] = [&ch];
    let grace = Duration::from_secs(600);
    // Not yet: the day is not over (and then not past the grace).
    for now in [day, Utc.with_ymd_and_hms(2026, 11, 28, 0, 5, 0).unwrap()] {
        let done = flush_due(
            now,
            grace,
            &channels,
            None,
            &state,
            &policy(),
            &pacing,
            None,
        )
        .unwrap();
        assert!(done.is_empty());
    }
    let later = Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap();
    let done = flush_due(
        later,
        grace,
        &channels,
        Some("https://r.example.com/x"),
        &state,
        &policy(),
        &pacing,
        None,
    )
    .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].count, 2);
    assert_eq!(done[0].delivery, Delivery::Sent);
    assert_eq!(*ch.accepted.lock().unwrap(), 1);
    assert!(state
        .get(&receipt_key("hook", "digest-daily-2026-11-27"))
        .unwrap()
        .is_some());
    // Flushed once: the index is empty now.
    assert!(flush_due(
        later,
        grace,
        &channels,
        None,
        &state,
        &policy(),
        &pacing,
        None
    )
    .unwrap()
    .is_empty());
    assert_eq!(*ch.accepted.lock().unwrap(), 1);
}

#[test]
fn weekly_periods_start_on_monday() {
    let thu = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let start = Cadence::Weekly.period_start(thu);
    assert_eq!(start.to_string(), "2026-11-23");
    assert_eq!(Cadence::Weekly.period_end(start).to_string(), "2026-11-29");
}

#[test]
fn a_digest_for_a_removed_channel_is_dead_lettered() {
    let state = MemoryState::default();
    let pacing = Pacing {
        sleep: &|_| {},
        unit: &|| 1.0,
    };
    let day = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    collect(
        &finding("x", FindingKind::Rule, Severity::Info, "1"),
        "gone",
        Cadence::Daily,
        day,
        &state,
    )
    .unwrap();
    let later = Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap();
    let done = flush_due(
        later,
        Duration::ZERO,
        &[],
        None,
        &state,
        &policy(),
        &pacing,
        None,
    )
    .unwrap();
    assert_eq!(done[0].delivery, Delivery::DeadLettered);
    assert!(state
        .get(&dead_letter_key("gone", "digest-daily-2026-11-27"))
        .unwrap()
        .is_some());
}
