//! The `costkit-gcp` binary as Cloud Run runs it: settings from the environment only (`PORT`,
//! the project, the bucket and topics, the emulators' variables in place of Google's
//! endpoints), a push answered, SIGTERM ending it cleanly; and a missing setting stopping it at
//! start with the variable's name.

mod common;

use common::{emulator_gcp, emulator_var, EMULATOR_PROJECT};

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use costkit_gcp::ports::publication_from_message;
use costkit_gcp::pubsub::{Subscription, Topic};
use costkit_gcp::RetryPolicy;
use costkit_gcp_handler::Config;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// Starts the binary with `env` on top of the emulators' variables (and nothing else of ours).
fn start(env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_costkit-gcp"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for v in [
        "FIRESTORE_EMULATOR_HOST",
        "PUBSUB_EMULATOR_HOST",
        "STORAGE_EMULATOR_HOST",
        "BIGQUERY_EMULATOR_HOST",
    ] {
        cmd.env(v, emulator_var(v));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn costkit-gcp")
}

fn output(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut s);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_from_the_environment_and_stops_on_sigterm() {
    let id = format!("{:08x}", fastrand::u32(..));
    let config = Config {
        bucket: Some(format!("costkit-bin-{id}")),
        normalize_topic: format!("normalize-{id}"),
        data_updated_topic: format!("data-updated-{id}"),
        findings_topic: format!("findings-{id}"),
        alerts_topic: format!("alerts-{id}"),
        dead_letter_topic: format!("dead-letter-{id}"),
        ..Config::default()
    };
    let gcp = emulator_gcp(RetryPolicy::default());

    let port = free_port();
    let mut child = start(&[
        ("PORT", port.to_string()),
        ("GOOGLE_CLOUD_PROJECT", EMULATOR_PROJECT.into()),
        ("COSTKIT_BUCKET", config.bucket.clone().unwrap_or_default()),
        ("COSTKIT_FIRESTORE_ROOT", format!("costkit_bin_{id}")),
        ("COSTKIT_NORMALIZE_TOPIC", config.normalize_topic.clone()),
        (
            "COSTKIT_DATA_UPDATED_TOPIC",
            config.data_updated_topic.clone(),
        ),
        ("COSTKIT_FINDINGS_TOPIC", config.findings_topic.clone()),
        ("COSTKIT_ALERTS_TOPIC", config.alerts_topic.clone()),
        (
            "COSTKIT_DEAD_LETTER_TOPIC",
            config.dead_letter_topic.clone(),
        ),
        ("COSTKIT_REPORT_AUTH", "PLATFORM".into()),
        // The bucket and topics do not exist yet: the binary creates them.
        ("COSTKIT_ENSURE_RESOURCES", "true".into()),
    ]);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("costkit-gcp exited with {status}: {}", output(&mut child));
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "costkit-gcp did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let alerts = Subscription::new(&gcp, &format!("alerts-{id}"));
    alerts
        .create_pull(&Topic::new(&gcp, &config.alerts_topic), None)
        .await
        .expect("subscription (the topic exists)");

    // A finding pushed to notify is published to the alerts topic of the environment.
    let sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/gcp/pubsub-finding.json"
        ))
        .expect("sample"),
    )
    .expect("json");
    let r = http
        .post(format!("{base}/pubsub/notify"))
        .json(&sample)
        .send()
        .await
        .expect("push");
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["result"]["deliveries"]["pubsub"], "sent", "{body}");
    let got = alerts.pull(10).await.expect("pull");
    assert_eq!(got.len(), 1);
    let p = publication_from_message(
        &got[0].message.bytes().expect("data"),
        &got[0].message.attributes,
    )
    .expect("publication");
    assert!(p.body.contains("8412.37 USD"), "{}", p.body);
    // PLATFORM: Cloud Run checked the caller; the report router lets the request through (404:
    // no data for that month).
    let report = http
        .get(format!("{base}/reports/2026-03.json"))
        .send()
        .await
        .expect("report");
    assert_eq!(
        report.status(),
        404,
        "{}",
        report.text().await.unwrap_or_default()
    );

    // Cloud Run stops an instance with SIGTERM: the server drains and exits 0.
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = output(&mut child);
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("SIGTERM"), "{log}");
}

#[test]
fn a_missing_setting_stops_the_binary_at_start_naming_it() {
    let mut child = start(&[
        ("PORT", free_port().to_string()),
        ("GOOGLE_CLOUD_PROJECT", EMULATOR_PROJECT.into()),
    ]);
    let status = child.wait().expect("wait");
    let log = output(&mut child);
    assert!(!status.success());
    assert!(log.contains("COSTKIT_BUCKET is not set"), "{log}");
}
