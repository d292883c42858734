//! The channels against real servers: Slack, Teams and webhook payloads POSTed to a local HTTP
//! receiver (an axum server in this process), emails to a real SMTP server (aiosmtpd, started by
//! `scripts/notify-sinks.sh`, which stores every message in a Maildir). Deliveries go through
//! the core's notify flow, so retries, dead letters and idempotency keys are the real ones.
//!
//! Needs `COSTKIT_SMTP_ENDPOINT`, `COSTKIT_SMTP_MAILDIR` and `COSTKIT_ADAPTIVE_CARD_SCHEMA`
//! (`eval "$(scripts/notify-sinks.sh env)"`); fails, never skips, without them.

#![allow(clippy::unwrap_used)] // tests may unwrap (developers guide)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Router;
use chrono::{DateTime, Utc};
use costkit_core::flow::messages::{Finding, FindingKind, Severity};
use costkit_core::flow::notify::{
    dead_letter_key, receipt_key, send, DeadLetter, Delivery, Pacing, RetryPolicy,
};
use costkit_core::local::MemoryState;
use costkit_core::money::Currency;
use costkit_core::notify::routing::SmtpTls;
use costkit_core::notify::{
    idempotency_key, slack, webhook, Channel, ChannelKind, Content, Notice, Secret,
};
use costkit_core::ports::{PortError, StateStore, Version};
use costkit_notify::{HttpChannel, SmtpChannel, SmtpSettings};
use hmac::{KeyInit, Mac};
use mail_parser::MimeHeaders;
use serde_json::Value;

#[derive(Clone, Debug)]
struct Request {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    accepted: bool,
    /// When it arrived.
    at: std::time::Instant,
}

#[derive(Clone, Default)]
struct Receiver {
    log: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn requests(&self, path: &str) -> Vec<Request> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

/// `/flaky/*` fails its first three requests with 503, `/down/*` always answers 503, `/gone/*`
/// 404, `/teams/*` 202 (as Teams Workflows does), `/throttled/*` answers its first request 429
/// with `Retry-After: 1` and `/throttled-date/*` 429 with `Retry-After` an HTTP date 2 s ahead
/// (as Slack's rate limiter does), anything else `200 ok` (as Slack does).
async fn receive(
    State(r): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, &'static str) {
    let path = uri.path().to_string();
    let mut log = r.log.lock().unwrap();
    let before = log.iter().filter(|x| x.path == path).count();
    let mut answer = HeaderMap::new();
    let status = if path.starts_with("/throttled/") && before == 0 {
        answer.insert("retry-after", "1".parse().unwrap());
        StatusCode::TOO_MANY_REQUESTS
    } else if path.starts_with("/throttled-date/") && before == 0 {
        let at = Utc::now() + chrono::Duration::seconds(2);
        let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        answer.insert("retry-after", date.parse().unwrap());
        StatusCode::TOO_MANY_REQUESTS
    } else if path.starts_with("/flaky/") && before < 3 || path.starts_with("/down/") {
        StatusCode::SERVICE_UNAVAILABLE
    } else if path.starts_with("/gone/") {
        StatusCode::NOT_FOUND
    } else if path.starts_with("/teams/") {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    log.push(Request {
        path,
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
        accepted: status.is_success(),
        at: std::time::Instant::now(),
    });
    (
        status,
        answer,
        if status.is_success() { "ok" } else { "no" },
    )
}

struct Server {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    receiver: Receiver,
}

fn server() -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let receiver = Receiver::default();
    let app = Router::new().fallback(receive).with_state(receiver.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    Server { rt, addr, receiver }
}

impl Server {
    fn channel(&self, kind: ChannelKind, path: &str, secret: Option<&str>) -> HttpChannel {
        HttpChannel::new(
            &format!("{}-test", kind.as_str()),
            kind,
            Secret::new(format!("http://{}{path}", self.addr)),
            secret.map(Secret::new),
            Duration::from_secs(5),
            self.rt.handle().clone(),
        )
        .unwrap()
    }
}

fn finding(id: &str) -> Finding {
    let mut scope = BTreeMap::new();
    scope.insert("account".to_string(), "111122223333".to_string());
    scope.insert("budget".to_string(), "team <platform> & co".to_string());
    Finding {
        id: id.to_string(),
        kind: FindingKind::BudgetAlert,
        severity: Severity::Critical,
        title: format!("Budget team-platform crossed 100% ({id})"),
        summary: "Spend 1123.456789 USD of 1000 USD; =cmd|' /C calc'!A0".into(),
        scope,
        amount: Some("1123.456789".parse().unwrap()),
        currency: Some(Currency::new("USD")),
        found_at: DateTime::parse_from_rfc3339("2026-11-27T08:15:00Z")
            .unwrap()
            .with_timezone(&Utc),
        detail: serde_json::json!({}),
    }
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn pacing() -> Pacing<'static> {
    Pacing {
        sleep: &std::thread::sleep,
        unit: &fastrand_unit,
    }
}

fn fastrand_unit() -> f64 {
    // Any value in [0, 1] is a valid jitter draw; the wall clock's nanoseconds are random enough.
    f64::from(Utc::now().timestamp_subsec_nanos() % 1000) / 1000.0
}

const LINK: &str = "https://costkit.example.com/reports/2026-11.html?exp=1800000000&sig=abc";

fn notice(f: &Finding) -> Notice<'_> {
    Notice {
        content: Content::Finding(f),
        link: Some(LINK),
    }
}

#[test]
fn slack_message_arrives_as_rendered() {
    let s = server();
    let ch = s.channel(ChannelKind::Slack, "/slack/T0/B0/x", None);
    let state = MemoryState::default();
    let f = finding("slack-1");
    let d = send(
        &ch,
        &notice(&f),
        &state,
        &fast(),
        &pacing(),
        None,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(d, Delivery::Sent);
    let got = s.receiver.requests("/slack/T0/B0/x");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body, slack::message(&notice(&f)));
    assert_eq!(body["blocks"][0]["type"], "header");
    assert_eq!(
        got[0].headers["idempotency-key"],
        idempotency_key("slack-test", "slack-1")
    );
}

#[test]
fn teams_card_arrives_and_matches_the_adaptive_card_schema() {
    let path = std::env::var("COSTKIT_ADAPTIVE_CARD_SCHEMA").expect(
        "COSTKIT_ADAPTIVE_CARD_SCHEMA is not set: run `eval \"$(scripts/notify-sinks.sh env)\"` (or scripts/test.sh)",
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let s = server();
    let ch = s.channel(ChannelKind::Teams, "/teams/workflow", None);
    let state = MemoryState::default();
    let f = finding("teams-1");
    assert_eq!(
        send(
            &ch,
            &notice(&f),
            &state,
            &fast(),
            &pacing(),
            None,
            Utc::now()
        )
        .unwrap(),
        Delivery::Sent,
        "202 Accepted is success"
    );
    let got = s.receiver.requests("/teams/workflow");
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "message");
    let att = &body["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &att["content"];
    let errors: Vec<String> = validator
        .iter_errors(card)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "card does not match the schema: {errors:#?}"
    );
    // A digest card validates too.
    let mut d = costkit_core::notify::Digest::new(
        costkit_core::notify::Cadence::Weekly,
        f.found_at.date_naive(),
    );
    for i in 0..40 {
        d.add(&finding(&format!("w{i}")));
    }
    let digest = costkit_core::notify::teams::card(&Notice {
        content: Content::Digest(&d),
        link: Some(LINK),
    });
    let errors: Vec<String> = validator
        .iter_errors(&digest)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The schema really is checked: a wrong element type is refused.
    let mut broken = card.clone();
    broken["body"][0]["type"] = Value::from("TextBlok");
    assert!(!validator.is_valid(&broken));
}

#[test]
fn webhook_signature_verifies() {
    let s = server();
    let ch = s.channel(ChannelKind::Webhook, "/hook/a", Some("whsec_test_key"));
    let state = MemoryState::default();
    let f = finding("hook-1");
    let before = Utc::now().timestamp();
    send(
        &ch,
        &notice(&f),
        &state,
        &fast(),
        &pacing(),
        None,
        Utc::now(),
    )
    .unwrap();
    let got = s.receiver.requests("/hook/a");
    assert_eq!(got.len(), 1);
    let r = &got[0];
    let ts = &r.headers["x-costkit-timestamp"];
    let sig = &r.headers["x-costkit-signature"];
    assert!((ts.parse::<i64>().unwrap() - before).abs() <= 5);
    // Recomputed here from the definition, independently of the core's code.
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"whsec_test_key").unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&r.body);
    assert_eq!(
        *sig,
        format!("v1={}", hex::encode(mac.finalize().into_bytes()))
    );
    webhook::verify(
        b"whsec_test_key",
        ts,
        sig,
        &r.body,
        Utc::now().timestamp(),
        300,
    )
    .unwrap();
    assert!(webhook::verify(b"wrong", ts, sig, &r.body, Utc::now().timestamp(), 300).is_err());
    // The Python verifier the docs give accepts it, and refuses a tampered body.
    let python = |secret: &str, body: &[u8]| -> bool {
        use std::io::Write;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/webhook_verify.py");
        let mut child = std::process::Command::new("python3")
            .args([script, secret, ts, sig])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("python3 (the docs' verifier)");
        child.stdin.take().unwrap().write_all(body).unwrap();
        child.wait().unwrap().success()
    };
    assert!(python("whsec_test_key", &r.body));
    assert!(!python("whsec_test_key", b"{}"));
    assert!(!python("other", &r.body));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["finding"]["amount"], "1123.456789");
    assert_eq!(body["link"], LINK);
    assert_eq!(body["idempotency_key"], r.headers["idempotency-key"]);
}

#[test]
fn a_receiver_failing_three_times_gets_exactly_one_delivery() {
    let s = server();
    let ch = s.channel(ChannelKind::Webhook, "/flaky/1", Some("k"));
    let state = MemoryState::default();
    let f = finding("flaky-1");
    let d = send(
        &ch,
        &notice(&f),
        &state,
        &fast(),
        &pacing(),
        None,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(d, Delivery::Sent);
    let got = s.receiver.requests("/flaky/1");
    assert_eq!(got.len(), 4, "three 503s, then the accepted one");
    assert_eq!(got.iter().filter(|r| r.accepted).count(), 1);
    let keys: std::collections::BTreeSet<&String> =
        got.iter().map(|r| &r.headers["idempotency-key"]).collect();
    assert_eq!(keys.len(), 1, "every attempt carries the same key");
    // Redelivery of the same finding: dropped by the receipt, nothing sent.
    assert_eq!(
        send(
            &ch,
            &notice(&f),
            &state,
            &fast(),
            &pacing(),
            None,
            Utc::now()
        )
        .unwrap(),
        Delivery::Duplicate
    );
    assert_eq!(s.receiver.requests("/flaky/1").len(), 4);
}

/// Slack, Teams and a webhook each answer 429 once with `Retry-After`: the flow waits what was
/// asked (1 s, or until the HTTP date) instead of its millisecond backoff, the throttled request
/// counts as an attempt, and the message is delivered exactly once.
#[test]
fn a_throttled_receiver_is_retried_after_the_wait_it_asked_for() {
    let s = server();
    for (kind, path, secret) in [
        (ChannelKind::Slack, "/throttled/slack", None),
        (ChannelKind::Teams, "/throttled/teams", None),
        (ChannelKind::Webhook, "/throttled/hook", Some("k")),
        (ChannelKind::Webhook, "/throttled-date/hook", Some("k")),
    ] {
        let ch = s.channel(kind, path, secret);
        let state = MemoryState::default();
        let f = finding(&format!("throttled-{}", path.replace('/', "-")));
        let waits = Mutex::new(Vec::new());
        let sleep = |d: Duration| {
            waits.lock().unwrap().push(d);
            std::thread::sleep(d);
        };
        let pacing = Pacing {
            sleep: &sleep,
            unit: &fastrand_unit,
        };
        let d = send(&ch, &notice(&f), &state, &fast(), &pacing, None, Utc::now()).unwrap();
        assert_eq!(d, Delivery::Sent, "{path}");
        let got = s.receiver.requests(path);
        assert_eq!(got.len(), 2, "{path}: the 429, then the accepted one");
        assert_eq!(got.iter().filter(|r| r.accepted).count(), 1, "{path}");
        assert!(!got[0].accepted);
        assert_eq!(
            got[0].headers["idempotency-key"], got[1].headers["idempotency-key"],
            "{path}"
        );
        let waits = waits.lock().unwrap().clone();
        assert_eq!(waits.len(), 1, "{path}: one wait, between the two attempts");
        let gap = got[1].at - got[0].at;
        if path.starts_with("/throttled-date/") {
            // An HTTP date has whole seconds: 1 to 2 s from the moment it was read.
            assert!(
                waits[0] >= Duration::from_secs(1) && waits[0] <= Duration::from_secs(2),
                "{path}: {waits:?}"
            );
        } else {
            assert_eq!(waits[0], Duration::from_secs(1), "{path}");
        }
        // The wait really happened (the policy's own backoff is at most 20 ms).
        assert!(gap >= waits[0], "{path}: {gap:?} < {:?}", waits[0]);
    }
}

#[test]
fn a_receiver_that_always_fails_ends_in_the_dead_letter() {
    let s = server();
    let ch = s.channel(ChannelKind::Slack, "/down/1", None);
    let state = MemoryState::default();
    let dlq = costkit_core::local::MemoryQueue::default();
    let f = finding("down-1");
    let d = send(
        &ch,
        &notice(&f),
        &state,
        &fast(),
        &pacing(),
        Some(&dlq),
        Utc::now(),
    )
    .unwrap();
    assert_eq!(d, Delivery::DeadLettered);
    assert_eq!(s.receiver.requests("/down/1").len(), 5);
    let (bytes, _) = state
        .get(&dead_letter_key("slack-test", "down-1"))
        .unwrap()
        .unwrap();
    let letter: Option<DeadLetter> = serde_json::from_slice(&bytes).unwrap();
    let letter = letter.unwrap();
    assert_eq!(letter.attempts, 5);
    assert!(letter.error.contains("HTTP 503"), "{}", letter.error);
    assert!(
        !letter.error.contains("/down/1"),
        "no URL in errors: {}",
        letter.error
    );
    assert!(state
        .get(&receipt_key("slack-test", "down-1"))
        .unwrap()
        .is_none());
    assert_eq!(dlq.len(), 1);
    // A revoked webhook (404) is not retried.
    let gone = s.channel(ChannelKind::Slack, "/gone/1", None);
    let d = send(
        &gone,
        &notice(&f),
        &state,
        &fast(),
        &pacing(),
        None,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(d, Delivery::DeadLettered);
    assert_eq!(s.receiver.requests("/gone/1").len(), 1);
}

/// The first receipt write fails: the invocation "dies" between the send and the bookkeeping.
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
    let s = server();
    let ch = s.channel(ChannelKind::Webhook, "/hook/crash", Some("k"));
    let state = CrashOnReceipt {
        inner: MemoryState::default(),
        crashed: Mutex::new(false),
    };
    let f = finding("crash-1");
    assert!(send(
        &ch,
        &notice(&f),
        &state,
        &fast(),
        &pacing(),
        None,
        Utc::now()
    )
    .is_err());
    assert_eq!(
        send(
            &ch,
            &notice(&f),
            &state,
            &fast(),
            &pacing(),
            None,
            Utc::now()
        )
        .unwrap(),
        Delivery::Sent
    );
    let got = s.receiver.requests("/hook/crash");
    assert_eq!(got.len(), 2, "sent twice");
    assert_eq!(
        got[0].headers["idempotency-key"],
        got[1].headers["idempotency-key"]
    );
    // A receiver keeping the keys it has seen processes the finding once.
    let b0: Value = serde_json::from_slice(&got[0].body).unwrap();
    let b1: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(b0, b1, "same payload");
}

#[test]
fn http_errors_never_show_the_webhook_url() {
    // A closed port: connection refused, retryable, and the token in the URL stays out.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ch = HttpChannel::new(
        "slack-closed",
        ChannelKind::Slack,
        Secret::new(format!(
            "http://127.0.0.1:{port}/services/T000/B000/SECRETTOKEN"
        )),
        None,
        Duration::from_secs(2),
        rt.handle().clone(),
    )
    .unwrap();
    let f = finding("closed-1");
    let out = costkit_core::notify::Outgoing {
        rendered: costkit_core::notify::render(ChannelKind::Slack, &notice(&f), "k"),
        idempotency_key: "k".into(),
        attempt: 1,
    };
    let e = ch.send(&out).unwrap_err();
    assert!(e.retryable);
    assert!(!e.message.contains("SECRETTOKEN"), "{}", e.message);
    assert!(!format!("{ch:?}").contains("SECRETTOKEN"));
}

// ---------- SMTP ----------

fn smtp_env() -> (String, u16, std::path::PathBuf) {
    let endpoint = std::env::var("COSTKIT_SMTP_ENDPOINT").expect(
        "COSTKIT_SMTP_ENDPOINT is not set: run `scripts/notify-sinks.sh start && eval \"$(scripts/notify-sinks.sh env)\"` (or scripts/test.sh)",
    );
    let maildir = std::env::var("COSTKIT_SMTP_MAILDIR").expect("COSTKIT_SMTP_MAILDIR is not set");
    let (host, port) = endpoint.rsplit_once(':').unwrap();
    (host.to_string(), port.parse().unwrap(), maildir.into())
}

/// The stored message whose `X-Costkit-Idempotency-Key` is `key` (aiosmtpd's Mailbox handler
/// writes each message to `new/`).
fn find_mail(maildir: &std::path::Path, key: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(rd) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for e in rd.flatten() {
            let bytes = std::fs::read(e.path()).unwrap();
            if String::from_utf8_lossy(&bytes)
                .contains(&format!("X-Costkit-Idempotency-Key: {key}"))
            {
                out.push(bytes);
            }
        }
    }
    out
}

#[test]
fn email_arrives_at_a_real_smtp_server_with_its_csv() {
    let (host, port, maildir) = smtp_env();
    let ch = SmtpChannel::new(
        "mail-test",
        "costkit <costkit@example.com>",
        &[
            "finops@example.com".to_string(),
            "Lead <lead@example.com>".to_string(),
        ],
        &SmtpSettings {
            host,
            port,
            tls: SmtpTls::None,
            credentials: None,
            timeout: Duration::from_secs(10),
        },
    )
    .unwrap();
    let state = MemoryState::default();
    let id = format!(
        "mail-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or(0)
    );
    let f = finding(&id);
    let d = send(
        &ch,
        &notice(&f),
        &state,
        &fast(),
        &pacing(),
        None,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(d, Delivery::Sent);
    let key = idempotency_key("mail-test", &id);
    let mut stored = Vec::new();
    for _ in 0..50 {
        stored = find_mail(&maildir, &key);
        if !stored.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(stored.len(), 1, "one message in the Maildir");
    let msg = mail_parser::MessageParser::default()
        .parse(&stored[0])
        .unwrap();
    assert_eq!(
        msg.subject().unwrap(),
        format!("[costkit] Budget team-platform crossed 100% ({id})")
    );
    assert_eq!(msg.message_id().unwrap(), format!("{key}@costkit.invalid"));
    let to: Vec<String> = msg
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address().map(str::to_string))
        .collect();
    assert_eq!(to, vec!["finops@example.com", "lead@example.com"]);
    let html = msg.body_html(0).unwrap();
    assert!(
        html.contains("team &lt;platform&gt; &amp; co"),
        "escaped scope in HTML"
    );
    assert!(html.contains("1123.46 USD"));
    assert!(
        html.contains("exp=1800000000&amp;sig=abc"),
        "the signed link"
    );
    let text = msg.body_text(0).unwrap();
    assert!(text.contains(
        "Report: https://costkit.example.com/reports/2026-11.html?exp=1800000000&sig=abc"
    ));
    assert_eq!(msg.attachment_count(), 1);
    let att = msg.attachment(0).unwrap();
    assert_eq!(att.attachment_name().unwrap(), format!("costkit-{id}.csv"));
    let mut r = csv::Reader::from_reader(att.contents());
    let h = r.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    assert_eq!(&rows[0][col("amount")], "1123.456789", "exact amount");
    assert_eq!(&rows[0][col("id")], id);
    assert!(rows[0][col("summary")].starts_with("Spend"));
    // Redelivery: the receipt drops it, no second mail.
    assert_eq!(
        send(
            &ch,
            &notice(&f),
            &state,
            &fast(),
            &pacing(),
            None,
            Utc::now()
        )
        .unwrap(),
        Delivery::Duplicate
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(find_mail(&maildir, &key).len(), 1);
}

#[test]
fn smtp_down_is_retryable_then_dead_lettered() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ch = SmtpChannel::new(
        "mail-down",
        "costkit@example.com",
        &["finops@example.com".to_string()],
        &SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            credentials: Some(("costkit".into(), Secret::new("pw-SECRET"))),
            timeout: Duration::from_secs(2),
        },
    )
    .unwrap();
    assert!(!format!("{ch:?}").contains("pw-SECRET"));
    let state = MemoryState::default();
    let f = finding("smtp-down");
    let policy = RetryPolicy {
        max_attempts: 3,
        ..fast()
    };
    let d = send(
        &ch,
        &notice(&f),
        &state,
        &policy,
        &pacing(),
        None,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(d, Delivery::DeadLettered);
    let (bytes, _) = state
        .get(&dead_letter_key("mail-down", "smtp-down"))
        .unwrap()
        .unwrap();
    let letter: Option<DeadLetter> = serde_json::from_slice(&bytes).unwrap();
    let letter = letter.unwrap();
    assert_eq!(letter.attempts, 3, "connection refused is retried");
    assert!(!letter.error.contains("pw-SECRET"));
}
