//! The weekly/monthly report schedule of the notify function against moto: the table loaded
//! from the repository's FOCUS fixture, the scheduled event (as EventBridge Scheduler sends it)
//! writes the HTML and CSV reports to S3 and sends one email through SES v2 (read back from
//! moto's `/moto-api/data.json`) with the HTML report as body, the CSV attached and a link
//! signed with the Secrets Manager key; the report function's router opens that link (200, the
//! store's total) and refuses it unsigned or forged; a second run sends nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (developers guide)

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use costkit_aws::{AwsClients, AwsSettings, DynamoStore};
use costkit_core::store::{CostStore, Filter};
use costkit_lambda::{notify, report, App, Config};
use costkit_shell::testkit::load_repo_file;
use mail_parser::MimeHeaders;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// AWS, August and September 2024.
const FIXTURE: &str = "tests/fixtures/cli/focus12_two_months.csv";

fn moto() -> String {
    std::env::var("COSTKIT_MOTO_ENDPOINT")
        .expect("COSTKIT_MOTO_ENDPOINT is not set: run scripts/test.sh (or scripts/moto.sh start)")
        .trim_end_matches('/')
        .to_string()
}

fn unique(p: &str) -> String {
    format!("{p}-{}-{:x}", std::process::id(), fastrand::u64(..))
}

/// moto's view of every backend, over HTTP/1.0 so the body is plain; retried because another
/// test writing to a backend at that moment can make moto answer 500.
fn moto_data() -> Value {
    let endpoint = moto();
    let hostport = endpoint.strip_prefix("http://").unwrap();
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
        if let Some((_, body)) = text.split_once("\r\n\r\n") {
            if let Ok(v) = serde_json::from_str(body) {
                return v;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("moto's /moto-api/data.json did not answer with JSON");
}

/// The raw SES messages moto holds that carry `needle` and `from` (this test's sender domain:
/// moto lives across test runs and the idempotency key is the same every run).
fn ses_messages(needle: &str, from: &str) -> Vec<String> {
    moto_data()["ses"]["RawMessage"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["raw_data"].as_str().map(str::to_string))
        .filter(|raw| raw.contains(needle) && raw.contains(from))
        .collect()
}

fn at(t: &str) -> DateTime<Utc> {
    t.parse().unwrap()
}

#[test]
fn the_monthly_schedule_stores_the_report_and_emails_it_once_with_a_working_link() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c = AwsClients::new(AwsSettings::emulator(&moto()));
    let bucket = unique("sched-report").to_lowercase();
    let table = unique("t");
    let domain = format!("{}.example.com", unique("rep").to_lowercase());
    let signing_key = "s".repeat(40);
    let signing = rt.block_on(async {
        c.s3().create_bucket().bucket(&bucket).send().await.unwrap();
        DynamoStore::new(&c, &table, tokio::runtime::Handle::current())
            .create_table()
            .await
            .unwrap();
        c.ses()
            .create_email_identity()
            .email_identity(&domain)
            .send()
            .await
            .unwrap();
        c.secrets()
            .create_secret()
            .name(unique("costkit-signing"))
            .secret_string(&signing_key)
            .send()
            .await
            .unwrap()
            .arn
            .unwrap()
    });
    let mut store = DynamoStore::new(&c, &table, rt.handle().clone());
    load_repo_file(&mut store, FIXTURE);
    let expected: Decimal = store
        .daily(&Filter {
            billing_period: Some("2024-09".into()),
            ..Filter::default()
        })
        .unwrap()
        .iter()
        .map(|r| r.sums.billed)
        .sum();
    assert!(expected > Decimal::ZERO);
    let routes = format!(
        "version: 1\nchannels:\n  - name: finops-mail\n    type: email\n    transport: ses\n    from: costkit <reports@{domain}>\n    to: [finops@example.com]\nroutes:\n  - channel: finops-mail\n"
    );
    rt.block_on(
        c.s3()
            .put_object()
            .bucket(&bucket)
            .key("config/notify.yaml")
            .body(routes.into_bytes().into())
            .send(),
    )
    .unwrap();
    let base = "https://abcdefghij.lambda-url.us-east-1.on.aws/";
    let config = Config {
        table: Some(table),
        bucket: Some(bucket.clone()),
        notify_routes_key: "config/notify.yaml".into(),
        monitors_key: "config/monitors.yaml".into(),
        report_files: Default::default(),
        report_base_url: Some(base.into()),
        signing_key_secret_arn: Some(signing),
        // No API key and no platform auth: only signed links open the report.
        report_auth: None,
        ..Config::default()
    };
    let app = {
        let _g = rt.enter();
        App::new(config, AwsClients::new(AwsSettings::emulator(&moto())))
    };

    // The monthly schedule's event, as events/schedule-report-monthly.json has it.
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/schedule-report-monthly.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(event["detail"]["report"], "monthly");
    event["time"] = json!("2024-10-01T08:00:00Z");
    let out = rt
        .block_on(notify::handle_any(&app, event.clone()))
        .unwrap();
    assert_eq!(out["deliveries"], json!({"finops-mail": "sent"}), "{out}");

    // Both reports are in the bucket.
    for (key, kind) in [
        ("reports/monthly/2024-09/2024-09.html", "<svg"),
        ("reports/monthly/2024-09/2024-09.csv", "2024-09"),
    ] {
        let obj = rt
            .block_on(c.s3().get_object().bucket(&bucket).key(key).send())
            .unwrap();
        let bytes = rt.block_on(obj.body.collect()).unwrap().into_bytes();
        assert!(String::from_utf8_lossy(&bytes).contains(kind), "{key}");
    }

    // One email: the HTML report as body, the CSV attached, the signed link.
    let key = costkit_core::notify::idempotency_key("finops-mail", "report-monthly-2024-09");
    let raws = ses_messages(&key, &domain);
    assert_eq!(raws.len(), 1);
    let msg = mail_parser::MessageParser::default()
        .parse(raws[0].as_bytes())
        .unwrap();
    assert_eq!(
        msg.subject().unwrap(),
        "[costkit] costkit monthly report 2024-09"
    );
    let html = msg.body_html(0).unwrap();
    assert!(html.contains("<svg"), "the report's charts are in the body");
    let att = msg.attachment(0).unwrap();
    assert!(att.attachment_name().unwrap().ends_with(".csv"));
    assert!(String::from_utf8_lossy(att.contents()).contains("2024-09"));
    let text = msg.body_text(0).unwrap();
    let link = text
        .lines()
        .find_map(|l| l.strip_prefix("Report: "))
        .unwrap()
        .to_string();
    let path = link
        .strip_prefix(base.trim_end_matches('/'))
        .unwrap()
        .to_string();
    assert!(path.starts_with("/reports/2024-09.html?expires="), "{path}");

    // The report function's router (its signing key from Secrets Manager) opens the link while
    // it is valid, with the store's total; unsigned or forged it refuses.
    let mut api = rt.block_on(report::api_config(&app)).unwrap();
    api.clock = Arc::new(|| at("2024-10-03T12:00:00Z"));
    let get = |p: &str| {
        let router = report::router_with(&app, api.clone()).unwrap();
        let req = lambda_http::http::Request::builder()
            .uri(p)
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = rt
            .block_on(tower::ServiceExt::oneshot(router, req))
            .unwrap();
        let status = resp.status().as_u16();
        let body = rt
            .block_on(http_body_util::BodyExt::collect(resp.into_body()))
            .unwrap()
            .to_bytes();
        (status, body)
    };
    let (status, page) = get(&path);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&page));
    assert!(String::from_utf8_lossy(&page).contains("<svg"));
    // The same signature over the JSON form does not verify (the path is signed): 403.
    let json_path = path.replace(".html?", ".json?");
    assert_eq!(get(&json_path).0, 403);
    assert_eq!(get("/reports/2024-09.html").0, 401);
    // The store's total, through a link for the JSON report signed with the same key.
    let signed_json = costkit_http::sign_path(
        &costkit_http::SigningKey::new(signing_key.as_bytes().to_vec()),
        "/reports/2024-09.json",
        at("2024-10-08T08:00:00Z").timestamp(),
    );
    let (status, body) = get(&signed_json);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let billed: Decimal = v["totals"][0]["billed"].as_str().unwrap().parse().unwrap();
    assert_eq!(billed, expected);
    // The email's CSV attachment carries the same total.
    let mut r = csv::Reader::from_reader(att.contents());
    let h = r.headers().unwrap().clone();
    let found = r.records().map(|x| x.unwrap()).any(|row| {
        row.iter()
            .any(|cell| cell.parse::<Decimal>().is_ok_and(|d| d == expected))
    });
    assert!(found, "the CSV holds the total {expected}: {h:?}");

    // The scheduler retries: nothing new is sent.
    let again = rt.block_on(notify::handle_any(&app, event)).unwrap();
    assert_eq!(again["deliveries"], json!({"finops-mail": "duplicate"}));
    assert_eq!(ses_messages(&key, &domain).len(), 1);
}

#[test]
fn a_report_schedule_without_a_base_url_fails_naming_the_setting() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let c = AwsClients::new(AwsSettings::emulator(&moto()));
    let bucket = unique("sched-report").to_lowercase();
    rt.block_on(c.s3().create_bucket().bucket(&bucket).send())
        .unwrap();
    let config = Config {
        table: Some(unique("t")),
        bucket: Some(bucket),
        // The default route's topic: built, never published to.
        topic_arn: Some("arn:aws:sns:us-east-1:123456789012:alerts".into()),
        notify_routes_key: "config/notify.yaml".into(),
        monitors_key: "config/monitors.yaml".into(),
        report_files: Default::default(),
        ..Config::default()
    };
    let app = {
        let _g = rt.enter();
        App::new(config, c)
    };
    let event = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": "123456789012", "time": "2024-09-16T08:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"report": "weekly"}});
    let e = rt.block_on(notify::handle_any(&app, event)).unwrap_err();
    assert!(e.is_permanent(), "{e}");
    assert!(e.to_string().contains("COSTKIT_REPORT_BASE_URL"), "{e}");
}
