//! SES v2 as an email channel against moto: the raw MIME message the core builds is accepted,
//! stored by moto's SES backend (read back through `/moto-api/data.json`), and parses into the
//! subject, HTML and text bodies and the CSV attachment with exact amounts.

#![allow(clippy::unwrap_used)] // tests may unwrap (developers guide)

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};

use chrono::Utc;
use costkit_aws::ses::SesChannel;
use costkit_core::flow::messages::{Finding, FindingKind, Severity};
use costkit_core::flow::notify::{send, Delivery, Pacing, RetryPolicy};
use costkit_core::local::MemoryState;
use costkit_core::money::Currency;
use costkit_core::notify::{idempotency_key, Content, Notice};
use mail_parser::MimeHeaders;
use serde_json::Value;

/// moto's view of every backend (`GET /moto-api/data.json`), over HTTP/1.0 so the body is plain.
/// moto serializes every backend for this call, and another test writing to some backend at that
/// moment can make it fail (a 500 with an HTML page): tried a few times.
fn moto_data(endpoint: &str) -> Value {
    let hostport = endpoint.strip_prefix("http://").unwrap();
    let mut last = String::new();
    for _ in 0..20 {
        let mut s = std::net::TcpStream::connect(hostport).unwrap();
        write!(
            s,
            "GET /moto-api/data.json HTTP/1.0\r\nHost: {hostport}\r\n\r\n"
        )
        .unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let text = String::from_utf8_lossy(&resp);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            if let Ok(v) = serde_json::from_str(body) {
                return v;
            }
            last = head.lines().next().unwrap_or_default().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("moto's /moto-api/data.json did not answer with JSON: {last}");
}

#[test]
fn email_through_ses_v2_arrives_in_moto_with_its_attachment() {
    let endpoint = common::moto_endpoint();
    let rt = common::runtime();
    let clients = common::moto_clients();
    let domain = format!("{}.example.com", common::unique("ses").to_lowercase());
    rt.block_on(
        clients
            .ses()
            .create_email_identity()
            .email_identity(&domain)
            .send(),
    )
    .unwrap();
    let from = format!("costkit <alerts@{domain}>");
    let ch = SesChannel::new(
        &clients,
        "ses-mail",
        &from,
        &["finops@example.com".to_string()],
        None,
        rt.handle().clone(),
    );
    let id = common::unique("finding");
    let mut scope = BTreeMap::new();
    scope.insert("account".to_string(), "111122223333".to_string());
    let f = Finding {
        id: id.clone(),
        kind: FindingKind::Anomaly,
        severity: Severity::Warning,
        title: "EC2 spend 3.2x the expected level".into(),
        summary: "Actual 412.37 USD, expected 128.90 USD on 2026-11-26.".into(),
        scope,
        amount: Some("283.470000001".parse().unwrap()),
        currency: Some(Currency::new("USD")),
        found_at: Utc::now(),
        detail: Value::Null,
    };
    let state = MemoryState::default();
    let pacing = Pacing {
        sleep: &|_| {},
        unit: &|| 0.5,
    };
    let notice = Notice {
        content: Content::Finding(&f),
        link: Some("https://costkit.example.com/reports/2026-11.html?exp=1&sig=ab"),
    };
    let d = send(
        &ch,
        &notice,
        &state,
        &RetryPolicy::default(),
        &pacing,
        None,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(d, Delivery::Sent);

    let key = idempotency_key("ses-mail", &id);
    let data = moto_data(&endpoint);
    let raws: Vec<&Value> = data["ses"]["RawMessage"]
        .as_array()
        .expect("moto keeps raw messages")
        .iter()
        .filter(|m| m["raw_data"].as_str().unwrap_or("").contains(&key))
        .collect();
    assert_eq!(raws.len(), 1);
    let m = raws[0];
    assert_eq!(m["source"], format!("alerts@{domain}"));
    assert_eq!(m["destinations"], serde_json::json!(["finops@example.com"]));
    let raw = m["raw_data"].as_str().unwrap();
    let msg = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    assert_eq!(
        msg.subject().unwrap(),
        "[costkit] EC2 spend 3.2x the expected level"
    );
    assert_eq!(msg.message_id().unwrap(), format!("{key}@costkit.invalid"));
    assert!(msg.body_html(0).unwrap().contains("283.47 USD"));
    assert!(msg
        .body_text(0)
        .unwrap()
        .contains("Report: https://costkit.example.com/reports/2026-11.html?exp=1&sig=ab"));
    let att = msg.attachment(0).unwrap();
    assert!(att.attachment_name().unwrap().ends_with(".csv"));
    let mut r = csv::Reader::from_reader(att.contents());
    let h = r.headers().unwrap().clone();
    let row = r.records().next().unwrap().unwrap();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    assert_eq!(
        &row[col("amount")],
        "283.470000001",
        "exact amount in the attachment"
    );
    assert_eq!(&row[col("id")], id);
}

#[test]
fn an_unverified_sender_is_refused_and_not_retried() {
    let rt = common::runtime();
    let clients = common::moto_clients();
    let ch = SesChannel::new(
        &clients,
        "ses-unverified",
        "nobody@unverified-costkit-test.invalid",
        &["finops@example.com".to_string()],
        None,
        rt.handle().clone(),
    );
    let f = Finding {
        id: common::unique("f"),
        kind: FindingKind::Rule,
        severity: Severity::Info,
        title: "t".into(),
        summary: "s".into(),
        scope: BTreeMap::new(),
        amount: None,
        currency: None,
        found_at: Utc::now(),
        detail: Value::Null,
    };
    let state = MemoryState::default();
    let calls = std::cell::Cell::new(0);
    let sleep = |_| calls.set(calls.get() + 1);
    let pacing = Pacing {
        sleep: &sleep,
        unit: &|| 0.0,
    };
    let notice = Notice {
        content: Content::Finding(&f),
        link: None,
    };
    let d = send(
        &ch,
        &notice,
        &state,
        &RetryPolicy::default(),
        &pacing,
        None,
        Utc::now(),
    )
    .unwrap();
    assert_eq!(d, Delivery::DeadLettered);
    assert_eq!(
        calls.get(),
        0,
        "MessageRejected is permanent: no retry wait"
    );
}
