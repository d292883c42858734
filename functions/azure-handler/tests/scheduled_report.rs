//! The weekly/monthly report timers of the custom handler on Azurite, as the Functions host
//! drives them: the Table store loaded from the repository's FOCUS fixture, the routing file in
//! the container sending the report to a real SMTP server (aiosmtpd, `scripts/notify-sinks.sh`)
//! and a signed webhook on a local receiver. The monthly timer stores the HTML and CSV reports in
//! the container and sends each channel the report once with a link signed by the
//! `COSTKIT_REPORT_SIGNING_KEY`; that link opens through the `report-link` HTTP function (200, and
//! the store's total through the JSON report) and nothing unsigned, forged or expired does; a
//! second run sends nothing; without the signing key the timer fails naming the setting.
//!
//! Needs Azurite (`scripts/azurite.sh`) and the SMTP sink (`scripts/notify-sinks.sh`); fails,
//! never skips, without them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (developers guide)

use axum::body::Body;
use costkit_azure::auth::{SharedKey, StorageAuth};
use costkit_azure::http::RetryPolicy;
use costkit_azure::Storage;
use costkit_azure_handler::{router, App, Config};
use costkit_core::notify::webhook;
use costkit_core::ports::BlobStore;
use costkit_http::SigningKey;
use costkit_shell::testkit::{
    load_repo_file, maildir_messages, smtp_sink, usd_billed, WebhookSink,
};
use mail_parser::MimeHeaders;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// AWS, August and September 2024.
const FIXTURE: &str = "tests/fixtures/cli/focus12_two_months.csv";
const SIGNING: &str = "azure-report-signing-key-0123456789abcdef";
const BASE: &str = "https://costkit-func.azurewebsites.net/api/link";

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: start Azurite and the SMTP sink (`scripts/azurite.sh start`, `scripts/notify-sinks.sh start`, then `eval` their `env`; scripts/test.sh does this)"
        ),
    }
}

fn unique() -> String {
    format!("{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff)
}

struct World {
    rt: tokio::runtime::Runtime,
    app: App,
    id: String,
}

fn world(signing_key: Option<&str>) -> World {
    world_with(signing_key, |_| {})
}

/// A world whose settings `adjust` changes last.
fn world_with(signing_key: Option<&str>, adjust: impl FnOnce(&mut Config)) -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let storage = Storage::new(
        StorageAuth::SharedKey(SharedKey::devstore()),
        &var("COSTKIT_AZURITE_BLOB"),
        &var("COSTKIT_AZURITE_QUEUE"),
        &var("COSTKIT_AZURITE_TABLE"),
        RetryPolicy::default(),
    )
    .unwrap();
    let id = unique();
    let config = Config {
        table: format!("costkit{id}"),
        container: format!("costkit{id}"),
        normalize_queue: format!("normalize{id}"),
        budget_queue: format!("budget{id}"),
        anomaly_queue: format!("anomaly{id}"),
        findings_queue: format!("findings{id}"),
        alerts_queue: format!("alerts{id}"),
        exports_queue: format!("exports{id}"),
        notify_dead_letter_queue: format!("notifydl{id}"),
        // No API key: only signed links open reports.
        report_auth: None,
        report_base_url: Some(BASE.into()),
        signing_key: Ok(signing_key.map(|k| SigningKey::new(k.as_bytes().to_vec()))),
        ..Config::default()
    };
    let mut config = config;
    adjust(&mut config);
    let app = rt.block_on(async {
        let app = App::new(config, storage, None);
        app.ensure_resources().await.unwrap();
        app
    });
    World { rt, app, id }
}

impl World {
    /// POSTs an invocation to `/{function}` the way the host does.
    fn invoke(&self, function: &str, payload: Value) -> (u16, Value) {
        let req = axum::http::Request::builder()
            .method("POST")
            .uri(format!("/{function}"))
            .header("content-type", "application/json")
            .body(Body::from(payload.to_string()))
            .unwrap();
        let resp = self
            .rt
            .block_on(tower::ServiceExt::oneshot(router(self.app.clone()), req))
            .unwrap();
        let status = resp.status().as_u16();
        let bytes = self
            .rt
            .block_on(axum::body::to_bytes(resp.into_body(), 64 << 20))
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A timer invocation of `function` at `utc_now`.
    fn timer(&self, function: &str, utc_now: &str) -> (u16, Value) {
        self.invoke(
            function,
            json!({
                "Data": {"timer": {"Schedule": {"AdjustForDST": true}, "IsPastDue": false}},
                "Metadata": {"sys": {"MethodName": function, "UtcNow": utc_now, "RandGuid": "4f1c"}}
            }),
        )
    }

    /// A GET of `url` through the HTTP function `function` at `utc_now`: (status, headers, body).
    fn get(&self, function: &str, url: &str, utc_now: &str) -> (u64, Value, String) {
        let (status, out) = self.invoke(
            function,
            json!({
                "Data": {"req": {
                    "Url": url,
                    "Method": "GET",
                    "Query": {},
                    "Headers": {"Host": ["costkit-func.azurewebsites.net"]},
                    "Params": {},
                    "Identities": [],
                    "Body": null
                }},
                "Metadata": {"sys": {"MethodName": function, "UtcNow": utc_now, "RandGuid": "9e2d"}}
            }),
        );
        assert_eq!(status, 200, "{function}: {out}");
        let res = &out["Outputs"]["res"];
        (
            res["statusCode"].as_u64().unwrap(),
            res["headers"].clone(),
            res["body"].as_str().unwrap_or("").to_string(),
        )
    }
}

/// Loads the fixture into the app's Table store; returns September's USD billed total, read
/// back from the store.
fn load(w: &World) -> Decimal {
    let mut store = w.app.store();
    load_repo_file(&mut store, FIXTURE);
    usd_billed(&store, "2024-09")
}

#[test]
fn the_monthly_timer_stores_the_report_and_sends_it_once_with_a_link_that_opens() {
    let w = world(Some(SIGNING));
    let expected = load(&w);
    assert!(expected > Decimal::ZERO);
    let (host, port, maildir) = smtp_sink();
    let sink = WebhookSink::default();
    let hooks = w.rt.block_on(sink.serve()).unwrap();
    // A channel name of this run: the idempotency key (and the Maildir search) is per channel.
    let mail = format!("finops-mail-{}", w.id);
    // What the Key Vault reference in COSTKIT_NOTIFY_SECRETS resolves to: a JSON object.
    let secrets = format!("COSTKIT_TEST_NOTIFY_{}", w.id.to_uppercase());
    std::env::set_var(
        &secrets,
        json!({"hook_key": "whsec-azure-report"}).to_string(),
    );
    let routes = format!(
        "version: 1\nchannels:\n  - name: {mail}\n    type: email\n    transport: smtp\n    from: costkit <reports@example.com>\n    to: [finops@example.com]\n    smtp:\n      host: {host}\n      port: {port}\n      tls: none\n  - name: hook\n    type: webhook\n    url: {hooks}/hook\n    signing_secret: {{secret: {secrets}, key: hook_key}}\nroutes:\n  - channel: {mail}\n  - channel: hook\n"
    );
    let blobs = w.app.blobs();
    blobs
        .put_bytes("config/notify.yaml", routes.as_bytes(), "application/yaml")
        .unwrap();

    // The monthly timer on October 1st: September's report.
    let (status, out) = w.timer("report-monthly", "2024-10-01T08:00:00Z");
    assert_eq!(status, 200, "{out}");
    let ret = &out["ReturnValue"];
    assert_eq!(
        ret["deliveries"],
        json!({mail.clone(): "sent", "hook": "sent"}),
        "{out}"
    );
    assert_eq!(ret["report"], "report-monthly-2024-09");

    // Both files are in the container.
    let html = blobs
        .get_bytes("reports/monthly/2024-09/2024-09.html")
        .unwrap();
    assert!(String::from_utf8(html).unwrap().contains("<svg"));
    let csv = blobs
        .get_bytes("reports/monthly/2024-09/2024-09.csv")
        .unwrap();
    assert!(String::from_utf8(csv).unwrap().contains("2024-09"));

    // One email at the SMTP server: the HTML report as body, the CSV attached, the signed link.
    let key = costkit_core::notify::idempotency_key(&mail, "report-monthly-2024-09");
    let got = maildir_messages(&maildir, &key);
    assert_eq!(got.len(), 1);
    let msg = mail_parser::MessageParser::default()
        .parse(&got[0][..])
        .unwrap();
    assert!(
        msg.subject().unwrap().contains("monthly report 2024-09"),
        "{:?}",
        msg.subject()
    );
    assert!(msg.body_html(0).unwrap().contains("<svg"));
    let att = msg.attachment(0).unwrap();
    assert!(att.attachment_name().unwrap().ends_with(".csv"));
    let link = msg
        .body_text(0)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Report: "))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        link.starts_with(&format!("{BASE}/reports/2024-09.html?")),
        "{link}"
    );

    // The webhook: once, signed, with the store's total and the same link.
    let posts = sink.received("/hook");
    assert_eq!(posts.len(), 1);
    let h = &posts[0];
    webhook::verify(
        b"whsec-azure-report",
        &h.headers["x-costkit-timestamp"],
        &h.headers["x-costkit-signature"],
        &h.body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .unwrap();
    let body: Value = serde_json::from_slice(&h.body).unwrap();
    let total: Decimal = body["report"]["totals"]["USD"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, expected);
    assert_eq!(body["link"], link.as_str());

    // The link opens through the report-link function two days later (the host's clock)...
    let (status, headers, page) = w.get("report-link", &link, "2024-10-03T12:00:00Z");
    assert_eq!(status, 200, "{page}");
    assert!(headers["content-type"]
        .as_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.contains("<svg") && page.contains("2024-09"));
    // ...and the store's total, through the JSON report signed with the same key.
    let signed_json = costkit_http::sign_path(
        &SigningKey::new(SIGNING.as_bytes().to_vec()),
        "/reports/2024-09.json",
        chrono::DateTime::parse_from_rfc3339("2024-10-08T08:00:00Z")
            .unwrap()
            .timestamp(),
    );
    let (status, _, text) = w.get(
        "report-link",
        &format!("{BASE}{signed_json}"),
        "2024-10-03T12:00:00Z",
    );
    assert_eq!(status, 200, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    let billed: Decimal = report["totals"][0]["billed"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(billed, expected);
    // Unsigned, forged, expired: refused (the function has no function key; it serves links only).
    let unsigned = format!("{BASE}/reports/2024-09.html");
    assert_eq!(
        w.get("report-link", &unsigned, "2024-10-03T12:00:00Z").0,
        401
    );
    let last = if link.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &link[..link.len() - 1]);
    assert_eq!(w.get("report-link", &forged, "2024-10-03T12:00:00Z").0, 403);
    assert_eq!(w.get("report-link", &link, "2024-10-09T12:00:00Z").0, 403);
    // The same path under the function-key route (`/api/reports/…`) takes the signed link too.
    let keyed = link.replace("/api/link/", "/api/");
    assert_eq!(w.get("report", &keyed, "2024-10-03T12:00:00Z").0, 200);

    // The timer fires again (a retry): nothing new is sent.
    let (status, again) = w.timer("report-monthly", "2024-10-01T09:00:00Z");
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["ReturnValue"]["deliveries"],
        json!({mail.clone(): "duplicate", "hook": "duplicate"})
    );
    assert_eq!(maildir_messages(&maildir, &key).len(), 1);
    assert_eq!(sink.received("/hook").len(), 1);
}

#[test]
fn the_weekly_timer_without_a_signing_key_fails_naming_the_setting() {
    let w = world(None);
    let (status, out) = w.timer("report-weekly", "2024-09-16T08:00:00Z");
    assert_eq!(status, 500, "{out}");
    let log = out["Logs"][0].as_str().unwrap_or("");
    assert!(log.contains("COSTKIT_REPORT_SIGNING_KEY"), "{out}");
    assert!(w.app.blobs().list("reports/").unwrap().is_empty());
    // Without a key the link function refuses everything.
    let (status, _, _) = w.get(
        "report-link",
        &format!("{BASE}/reports/2024-09.html?expires=1&sig=00"),
        "2024-09-16T08:00:00Z",
    );
    assert_eq!(status, 401);
}

#[test]
fn an_unusable_signing_key_fails_the_report_timers_but_nothing_else() {
    // What the handler keeps when the setting holds a short key: the error, not the key.
    let w = world_with(Some(SIGNING), |c| {
        c.signing_key =
            costkit_shell::report::link_key("COSTKIT_REPORT_SIGNING_KEY", Some("short"));
    });
    let (status, out) = w.timer("report-monthly", "2024-10-01T08:00:00Z");
    assert_eq!(status, 500, "{out}");
    let log = out["Logs"][0].as_str().unwrap_or("");
    assert!(
        log.contains("COSTKIT_REPORT_SIGNING_KEY: the key has 5 bytes"),
        "{out}"
    );
    assert!(!log.contains("short"), "the value is never shown: {out}");
    // The digest timer (no routing file, nothing pending) still runs.
    let (status, out) = w.timer("notify-digest", "2024-10-01T08:00:00Z");
    assert_eq!(status, 200, "{out}");
}
