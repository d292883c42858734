//! The weekly/monthly report jobs of the Cloud Run service on the Google Cloud emulators
//! (`scripts/gcp-emulators.sh`): the Firestore store loaded from the repository's FOCUS fixture,
//! the routing file in the Cloud Storage bucket sending the report to a real SMTP server
//! (aiosmtpd, `scripts/notify-sinks.sh`) and a signed webhook on a local receiver, receipts in
//! Firestore. The service runs on a loopback port with `COSTKIT_REPORT_BASE_URL` pointing at it.
//! Cloud Scheduler's monthly request stores the HTML and CSV reports in the bucket and sends each
//! channel the report once with a link signed by `COSTKIT_REPORT_SIGNING_KEY`; the link opens on
//! the same service (200, and the store's total through the JSON report), unsigned, forged or
//! expired it does not; the retried request sends nothing; without the signing key the weekly job
//! answers 400 naming the setting.
//!
//! Needs the emulators and the SMTP sink; fails, never skips, without them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (developers guide)

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{emulator_config, quick_gcp};
use costkit_core::notify::webhook;
use costkit_gcp_handler::{api_config, ensure_resources, router_with, App, Config, Wiring};
use costkit_http::SigningKey;
use costkit_shell::testkit::{
    load_repo_file, maildir_messages, smtp_sink, usd_billed, WebhookSink,
};
use mail_parser::MimeHeaders;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// AWS, August and September 2024.
const FIXTURE: &str = "tests/fixtures/cli/focus12_two_months.csv";
const SIGNING: &str = "gcp-report-signing-key-0123456789abcdef";

fn at(t: &str) -> DateTime<Utc> {
    t.parse().unwrap()
}

/// Runs a port call (they block on the runtime) on a blocking thread.
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// The service on a loopback port, configured for scheduled reports (`signing_key`) with the
/// report API's clock at `clock`; returns its base URL, the app and September's USD billed total
/// read back from the Firestore store.
async fn service(
    id: &str,
    signing_key: Option<&str>,
    clock: &'static str,
) -> (String, App, Decimal) {
    let gcp = quick_gcp();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = Config {
        // No API key and no platform auth: only signed links open reports.
        report_auth: None,
        report_base_url: Some(base.clone()),
        signing_key: Ok(signing_key.map(|k| SigningKey::new(k.as_bytes().to_vec()))),
        ..emulator_config("sched", id)
    };
    ensure_resources(&config, &gcp).await.unwrap();
    let wiring = Wiring::gcp(&config, &gcp, tokio::runtime::Handle::current()).unwrap();
    let open = wiring.ports.store.clone();
    let total = off_runtime(move || {
        let mut store = open().unwrap();
        load_repo_file(&mut *store, FIXTURE);
        usd_billed(&*store, "2024-09")
    })
    .await;
    let app = App::new(config, wiring).unwrap();
    let mut api = api_config(&app).await.unwrap();
    api.clock = Arc::new(move || at(clock));
    let router = router_with(app.clone(), api);
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, app, total)
}

/// Cloud Scheduler's request for `job` (`weekly`, `monthly`) at `time`: (status, body).
async fn run_job(base: &str, job: &str, time: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/scheduler/report/{job}"))
        .header("user-agent", "Google-Cloud-Scheduler")
        .header("x-cloudscheduler", "true")
        .header(
            "x-cloudscheduler-jobname",
            format!("projects/costkit-prod/locations/europe-west1/jobs/costkit-report-{job}"),
        )
        .header("x-cloudscheduler-scheduletime", time)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn get(url: &str) -> (u16, String, String) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_monthly_job_stores_the_report_and_sends_it_once_with_a_link_that_opens() {
    let id = format!("{:08x}", fastrand::u32(..));
    // The report API's clock two days after the run: the 7-day link is valid.
    let (base, app, expected) = service(&id, Some(SIGNING), "2024-10-03T12:00:00Z").await;
    assert!(expected > Decimal::ZERO);
    let (host, port, maildir) = smtp_sink();
    let sink = WebhookSink::default();
    let hooks = sink.serve().await.unwrap();
    // What Cloud Run fills COSTKIT_NOTIFY_SECRETS with from Secret Manager: a JSON object.
    let secrets = format!("COSTKIT_TEST_NOTIFY_{}", id.to_uppercase());
    std::env::set_var(
        &secrets,
        json!({"hook_key": "whsec-gcp-report"}).to_string(),
    );
    // A channel name of this run: the idempotency key (and the Maildir search) is per channel.
    let mail = format!("finops-mail-{id}");
    let routes = format!(
        "version: 1\nchannels:\n  - name: {mail}\n    type: email\n    transport: smtp\n    from: costkit <reports@example.com>\n    to: [finops@example.com]\n    smtp:\n      host: {host}\n      port: {port}\n      tls: none\n  - name: hook\n    type: webhook\n    url: {hooks}/hook\n    signing_secret: {{secret: {secrets}, key: hook_key}}\nroutes:\n  - channel: {mail}\n  - channel: hook\n"
    );
    let blobs = app.wiring.ports.blobs.clone();
    let b = blobs.clone();
    off_runtime(move || b.put_bytes("config/notify.yaml", routes.as_bytes(), "application/yaml"))
        .await
        .unwrap();

    // Cloud Scheduler's monthly job on October 1st: September's report.
    let (status, text) = run_job(&base, "monthly", "2024-10-01T08:00:00Z").await;
    assert_eq!(status, 200, "{text}");
    let out: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        out["deliveries"],
        json!({mail.clone(): "sent", "hook": "sent"}),
        "{out}"
    );
    assert_eq!(out["report"], "report-monthly-2024-09");

    // Both files are in the bucket.
    for (key, needle) in [
        ("reports/monthly/2024-09/2024-09.html", "<svg"),
        ("reports/monthly/2024-09/2024-09.csv", "2024-09"),
    ] {
        let b = blobs.clone();
        let bytes = off_runtime(move || b.get_bytes(key)).await.unwrap();
        assert!(String::from_utf8_lossy(&bytes).contains(needle), "{key}");
    }

    // One email at the SMTP server: the HTML report as body, the CSV attached, the signed link.
    let key = costkit_core::notify::idempotency_key(&mail, "report-monthly-2024-09");
    let got = maildir_messages(&maildir, &key);
    assert_eq!(got.len(), 1);
    let msg = mail_parser::MessageParser::default()
        .parse(&got[0][..])
        .unwrap();
    assert!(msg.subject().unwrap().contains("monthly report 2024-09"));
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
        link.starts_with(&format!("{base}/reports/2024-09.html?")),
        "{link}"
    );

    // The webhook: once, signed, with the store's total and the same link.
    let posts = sink.received("/hook");
    assert_eq!(posts.len(), 1);
    let h = &posts[0];
    webhook::verify(
        b"whsec-gcp-report",
        &h.headers["x-costkit-timestamp"],
        &h.headers["x-costkit-signature"],
        &h.body,
        Utc::now().timestamp(),
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

    // The link opens on the service...
    let (status, ct, page) = get(&link).await;
    assert_eq!(status, 200, "{page}");
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(page.contains("<svg") && page.contains("2024-09"));
    // ...and the store's total, through the JSON report signed with the same key.
    let signed_json = costkit_http::sign_path(
        &SigningKey::new(SIGNING.as_bytes().to_vec()),
        "/reports/2024-09.json",
        at("2024-10-08T08:00:00Z").timestamp(),
    );
    let (status, _, text) = get(&format!("{base}{signed_json}")).await;
    assert_eq!(status, 200, "{text}");
    let report: Value = serde_json::from_str(&text).unwrap();
    let billed: Decimal = report["totals"][0]["billed"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(billed, expected);
    // Unsigned, forged, or a valid signature past its expiry: refused.
    assert_eq!(get(&format!("{base}/reports/2024-09.html")).await.0, 401);
    let last = if link.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &link[..link.len() - 1]);
    assert_eq!(get(&forged).await.0, 403);
    let expired = costkit_http::sign_path(
        &SigningKey::new(SIGNING.as_bytes().to_vec()),
        "/reports/2024-09.html",
        at("2024-10-02T08:00:00Z").timestamp(),
    );
    assert_eq!(get(&format!("{base}{expired}")).await.0, 403);

    // Cloud Scheduler retries the job (same schedule time): nothing new is sent.
    let (status, text) = run_job(&base, "monthly", "2024-10-01T08:00:00Z").await;
    assert_eq!(status, 200, "{text}");
    let again: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        again["deliveries"],
        json!({mail.clone(): "duplicate", "hook": "duplicate"})
    );
    assert_eq!(maildir_messages(&maildir, &key).len(), 1);
    assert_eq!(sink.received("/hook").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_weekly_job_without_a_signing_key_fails_naming_the_setting() {
    let id = format!("{:08x}", fastrand::u32(..));
    let (base, app, _) = service(&id, None, "2024-09-16T08:00:00Z").await;
    let (status, text) = run_job(&base, "weekly", "2024-09-16T08:00:00Z").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("COSTKIT_REPORT_SIGNING_KEY"), "{text}");
    let b = app.wiring.ports.blobs.clone();
    assert!(off_runtime(move || b.list("reports/"))
        .await
        .unwrap()
        .is_empty());
}
