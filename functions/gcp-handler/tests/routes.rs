//! Contract tests of every route with real-shaped requests (Cloud Scheduler HTTP target, Pub/Sub
//! push envelope), over the core's local ports and SQLite: the whole flow, repeats, dead letters
//! and the answers Pub/Sub acts on.

mod common;

use common::*;
use costkit_core::flow::messages::Message;
use costkit_core::ports::BlobStore;
use costkit_gcp::pubsub::PushEnvelope;
use serde_json::json;

#[test]
fn schedule_to_report_with_local_ports() {
    let w = world();

    // 1. Cloud Scheduler → ingest: March 1–14 in two pages, one normalize job.
    let a = w.ingest("");
    assert_eq!(a.status, 200, "{}", a.text);
    let out = a.json();
    assert_eq!(out["jobs"][0]["start"], "2026-03-01");
    assert_eq!(out["jobs"][0]["end"], "2026-03-15");
    assert_eq!(out["jobs"][0]["pages"], 2);
    assert_eq!(
        w.blobs.list("raw/gcp-canned/2026-03/").expect("list").len(),
        2
    );
    assert_eq!(w.normalize.len(), 1);

    // 2. Push → normalize: the store holds the month, to the cent and beyond. The same message
    //    (same messageId) pushed again changes nothing.
    let job = w.take(&w.normalize).remove(0);
    let first = w.push("normalize", &job, "1001", "2026-03-15T06:00:05.123Z");
    assert_eq!(first.status, 200, "{}", first.text);
    assert!(first.json()["result"]["outcome"]
        .as_str()
        .unwrap_or("")
        .starts_with("Committed"));
    assert_eq!(w.billed(), dec("37.4000000001"));
    let rows = w.daily();
    assert!(rows
        .iter()
        .all(|r| r.slice.provider.as_str() == "Google Cloud"
            && r.slice.billing_account_id.as_str() == ACCOUNT
            && r.slice.billing_period == "2026-03"));
    assert_eq!(w.data_updated.len(), 1);
    let again = w.push("normalize", &job, "1001", "2026-03-15T06:00:05.123Z");
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["result"]["outcome"], "AlreadyCommitted");
    assert_eq!(w.billed(), dec("37.4000000001"), "not counted twice");
    assert_eq!(w.data_updated.len(), 1, "no second data_updated");
    assert_eq!(
        w.blobs
            .list("focus/billing_period=2026-03/")
            .expect("list")
            .len(),
        1,
        "FOCUS Parquet written once"
    );

    // 3. data_updated → both subscriptions (budget check and anomaly).
    let update = w.take(&w.data_updated).remove(0);
    let b = w.push("budget-check", &update, "2001", "2026-03-15T07:00:00Z");
    assert_eq!(b.status, 200, "{}", b.text);
    assert!(
        b.json()["result"]["findings"].as_u64().unwrap_or(0) >= 1,
        "{}",
        b.text
    );
    let n = w.findings.len();
    let b2 = w.push("budget-check", &update, "2001", "2026-03-15T07:00:00Z");
    assert_eq!(b2.status, 200);
    assert_eq!(
        b2.json()["result"]["findings"],
        0,
        "a redelivery alerts nothing new"
    );
    assert_eq!(w.findings.len(), n);
    let an = w.push("anomaly", &update, "2002", "2026-03-15T07:00:00Z");
    assert_eq!(an.status, 200, "{}", an.text);

    // 4. findings → notify → alerts topic, once even when pushed twice.
    let findings = w.take(&w.findings);
    assert!(!findings.is_empty());
    for (i, f) in findings.iter().enumerate() {
        let id = format!("300{i}");
        let s = w.push("notify", f, &id, "2026-03-15T07:01:00Z");
        assert_eq!(s.status, 200, "{}", s.text);
        assert_eq!(s.json()["result"]["deliveries"]["pubsub"], "sent");
        let d = w.push("notify", f, &id, "2026-03-15T07:01:00Z");
        assert_eq!(d.status, 200, "{}", d.text);
        assert_eq!(d.json()["result"]["deliveries"]["pubsub"], "duplicate");
    }
    let alerts = w.alerts();
    assert_eq!(alerts.len(), findings.len(), "one alert per finding");
    let all = alerts
        .iter()
        .map(|a| a["body"].as_str().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        all.contains("budget:gcp-march:2026-03:billed:actual:80%"),
        "{all}"
    );
    assert!(all.contains("37.40 USD"), "{all}");

    // 5. Report download through the shared router, with the API key.
    let r = w.get("/reports/2026-03.csv");
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains("\ntotal,,,,USD,billed,37.4000000001\n"),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains("\nbreakdown,service,Compute Engine,,USD,billed,35"),
        "{}",
        r.text
    );
    let focus = w.get("/focus/2026-03.csv");
    assert_eq!(focus.status, 200, "{}", focus.text);
    assert_eq!(w.get("/healthz").status, 200);
    let closed = w.call(
        axum::http::Request::builder()
            .uri("/reports/2026-03.csv")
            .body(axum::body::Body::empty())
            .expect("request"),
    );
    assert_eq!(closed.status, 401, "no key, no report");

    // 6. The monthly report job without a report base URL (this service has none): 400 naming
    //    the setting, nothing rendered (tests/scheduled_report.rs runs it configured).
    let s = w.scheduler(
        "/scheduler/report/monthly",
        "costkit-report-monthly",
        "2026-04-01T08:00:00Z",
        "",
        None,
    );
    assert_eq!(s.status, 400, "{}", s.text);
    assert!(s.text.contains("COSTKIT_REPORT_BASE_URL"), "{}", s.text);
    assert!(w.blobs.list("reports/").expect("list").is_empty());
    // An unknown cadence is refused.
    let s = w.scheduler(
        "/scheduler/report/daily",
        "costkit-report-daily",
        "2026-04-01T08:00:00Z",
        "",
        None,
    );
    assert_eq!(s.status, 400, "{}", s.text);
    assert!(s.text.contains("`weekly` or `monthly`"), "{}", s.text);
}

#[test]
fn a_backfill_body_plans_its_months_and_a_bad_one_is_refused() {
    let w = world();
    let a = w.ingest(r#"{"start":"2026-02-01","end":"2026-03-15"}"#);
    assert_eq!(a.status, 200, "{}", a.text);
    let jobs = a.json()["jobs"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 2, "{}", a.text);
    assert_eq!(jobs[0]["start"], "2026-02-01");
    assert_eq!(
        jobs[0]["end"], "2026-03-01",
        "ranges are end-exclusive, like the request"
    );
    assert_eq!(jobs[1]["start"], "2026-03-01");
    assert_eq!(jobs[1]["end"], "2026-03-15");

    // The same schedule time plans the same job ids (a retried attempt queues the same jobs).
    let b = w.ingest(r#"{"start":"2026-02-01","end":"2026-03-15"}"#);
    assert_eq!(b.json()["jobs"], a.json()["jobs"]);

    for bad in [
        r#"{"start":"2026-03-10","end":"2026-03-01"}"#,
        r#"{"from":"2026-03-01"}"#,
        "not json",
    ] {
        let r = w.ingest(bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("ingest")));
    }
    assert_eq!(
        w.source.calls.lock().expect("calls").len(),
        4,
        "bad bodies pull nothing"
    );
}

#[test]
fn messages_that_can_never_succeed_are_dead_lettered_and_acknowledged() {
    let w = world();
    // Not a costkit message.
    let a = w.push(
        "normalize",
        "{\"type\":\"normalize\",\"job_id\":42}",
        "4001",
        "2026-03-15T06:00:00Z",
    );
    assert_eq!(a.status, 200, "acknowledged: {}", a.text);
    assert!(a.json()["deadLettered"]
        .as_str()
        .is_some_and(|m| m.contains("4001") && m.contains("costkit-dead-letter")));
    // A message of the wrong kind for the subscription: a wiring mistake.
    let wrong = json!({"type": "data_updated", "job_id": "j", "slices": [], "first_day": null, "last_day": null});
    let b = w.push("notify", &wrong.to_string(), "4002", "2026-03-15T06:00:00Z");
    assert_eq!(b.status, 200, "{}", b.text);
    // `data` that is not base64.
    let mut env = envelope("anomaly", "", "4003", "2026-03-15T06:00:00Z", &json!({}));
    env["message"]["data"] = json!("%%%not-base64%%%");
    let c = w.push_raw("anomaly", &env, None);
    assert_eq!(c.status, 200, "{}", c.text);
    let dead = w.take(&w.dead_letter);
    assert_eq!(dead.len(), 3);
    assert!(dead[0].contains("\"job_id\":42"));
    assert!(dead[1].contains("data_updated"));
    assert_eq!(dead[2], "%%%not-base64%%%");

    // Not a push envelope: refused (Pub/Sub never sends this; its dead-letter policy would
    // take it after the maximum attempts).
    let d = w.push_raw("normalize", &json!({"data": "eA=="}), None);
    assert_eq!(d.status, 400, "{}", d.text);
    // No such step.
    let e = w.push("export", "{}", "4004", "2026-03-15T06:00:00Z");
    assert_eq!(e.status, 404);
    assert!(w.dead_letter.is_empty());
}

#[test]
fn a_transient_failure_is_not_acknowledged_so_pubsub_retries_it() {
    let w = world();
    // A normalize job whose raw page is not (yet) in the bucket: the read fails, the push is
    // answered 503, nothing is loaded and nothing is dead-lettered.
    let job = Message::Normalize(costkit_core::flow::messages::NormalizeJob {
        job_id: "gcp-canned-2026-03-r1".into(),
        source: "gcp-canned".into(),
        dialect: Some("gcp-billing".into()),
        parts: vec![vec!["raw/gcp-canned/2026-03/r1/page-0000.json".into()]],
        part: 0,
        produced_at: "2026-03-15T06:00:00Z".parse().expect("time"),
    });
    let a = w.push("normalize", &job.to_json(), "5001", "2026-03-15T06:00:00Z");
    assert_eq!(a.status, 503, "{}", a.text);
    assert!(a.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("page-0000.json")));
    assert!(w.dead_letter.is_empty());
    assert!(w.daily().is_empty());

    // The page arrives; the redelivery succeeds.
    let rows = march_rows().join("\n") + "\n";
    w.blobs
        .put_bytes(
            "raw/gcp-canned/2026-03/r1/page-0000.json",
            rows.as_bytes(),
            "application/json",
        )
        .expect("page");
    let b = w.push("normalize", &job.to_json(), "5001", "2026-03-15T06:00:00Z");
    assert_eq!(b.status, 200, "{}", b.text);
    assert_eq!(w.billed(), dec("37.4000000001"));
}

#[test]
fn without_a_billing_source_ingest_fails_and_says_what_to_set() {
    let mut w = world();
    w.app.wiring.source = None;
    let router =
        w.rt.block_on(costkit_gcp_handler::router(w.app.clone()))
            .expect("router");
    w.router = router;
    let a = w.ingest("");
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(a.text.contains("COSTKIT_BILLING_TABLE"), "{}", a.text);
    assert!(w.normalize.is_empty());
}

fn sample(name: &str) -> serde_json::Value {
    let path = format!("{}/../../events/gcp/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample")).expect("sample JSON")
}

/// Replays a Cloud Scheduler sample (`events/gcp/scheduler-*.json`) on the router.
fn replay_scheduler(w: &World, name: &str) -> Answer {
    let s = sample(name);
    let mut b = axum::http::Request::builder()
        .method(s["method"].as_str().expect("method"))
        .uri(s["path"].as_str().expect("path"));
    for (k, v) in s["headers"].as_object().expect("headers") {
        b = b.header(k.as_str(), v.as_str().expect("header value"));
    }
    let body = s["body"].as_str().expect("body").to_string();
    w.call(b.body(axum::body::Body::from(body)).expect("request"))
}

#[test]
fn the_sample_requests_are_what_the_routes_accept() {
    // Configured for scheduled reports (the link's base URL and signing key).
    let w = world_with(costkit_gcp_handler::Config {
        report_base_url: Some("https://costkit-123456789012.europe-west1.run.app".into()),
        signing_key: Ok(Some(costkit_http::SigningKey::new(vec![7u8; 32]))),
        ..costkit_gcp_handler::Config::default()
    });
    let daily = replay_scheduler(&w, "scheduler-ingest-daily.json");
    assert_eq!(daily.status, 200, "{}", daily.text);
    assert_eq!(daily.json()["jobs"].as_array().map(Vec::len), Some(1));
    let backfill = replay_scheduler(&w, "scheduler-ingest-backfill.json");
    assert_eq!(backfill.status, 200, "{}", backfill.text);
    let jobs = backfill.json()["jobs"].clone();
    assert_eq!(jobs[0]["start"], "2026-01-01");
    assert_eq!(jobs[1]["end"], "2026-03-01");
    w.take(&w.normalize).iter().take(1).for_each(|m| {
        assert_eq!(
            w.push("normalize", m, "1", "2026-03-15T06:00:05Z").status,
            200
        );
    });
    for (sample, cadence, id) in [
        (
            "scheduler-report-monthly.json",
            "monthly",
            "report-monthly-2026-03",
        ),
        (
            "scheduler-report-weekly.json",
            "weekly",
            "report-weekly-2026-03-30",
        ),
    ] {
        let report = replay_scheduler(&w, sample);
        assert_eq!(report.status, 200, "{sample}: {}", report.text);
        let out = report.json();
        assert_eq!(out["report"], id, "{sample}: {out}");
        assert_eq!(out["period"], "2026-03", "on April 1st: March");
        // No routing file: the alerts topic got it.
        assert_eq!(out["deliveries"], json!({"pubsub": "sent"}), "{out}");
        let html = out["html"].as_str().expect("html key");
        assert!(html.starts_with(&format!("reports/{cadence}/")), "{html}");
        assert!(w.blobs.get_bytes(html).is_ok(), "{html}");
    }
    let decode = |name: &str| {
        let env = sample(name);
        let parsed: PushEnvelope = serde_json::from_value(env.clone()).expect("envelope");
        assert!(!parsed.message.message_id.is_empty(), "{name}");
        assert!(!parsed.message.publish_time.is_empty(), "{name}");
        let data = parsed.message.bytes().expect("data");
        (env, String::from_utf8(data).expect("text"))
    };
    let (_, job) = decode("pubsub-normalize.json");
    assert!(matches!(
        Message::from_json(&job),
        Ok(Message::Normalize(_))
    ));
    let (env, update) = decode("pubsub-data-updated.json");
    assert!(matches!(
        Message::from_json(&update),
        Ok(Message::DataUpdated(_))
    ));
    let a = w.push_raw("budget-check", &env, None);
    assert_eq!(a.status, 200, "{}", a.text);
    let (env, finding) = decode("pubsub-finding.json");
    assert!(matches!(
        Message::from_json(&finding),
        Ok(Message::Finding(_))
    ));
    let n = w.push_raw("notify", &env, None);
    assert_eq!(
        n.json()["result"]["deliveries"]["pubsub"],
        "sent",
        "{}",
        n.text
    );
    let (env, _) = decode("pubsub-budget-notification.json");
    let b = w.push_raw("budget-notification", &env, None);
    assert_eq!(b.status, 200, "{}", b.text);
    assert!(b.json()["result"]["finding"].is_string(), "{}", b.text);
}

#[test]
fn budget_notifications_become_findings_sent_once() {
    let w = world();
    // The documented push delivery (tests/fixtures/gcp/budget): a forecast crossing at 90 %.
    let path = format!(
        "{}/../../tests/fixtures/gcp/budget/push-envelope.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let a = w.push_raw("budget-notification", &env, None);
    assert_eq!(a.status, 200, "{}", a.text);
    let id = a.json()["result"]["finding"]
        .as_str()
        .expect("id")
        .to_string();
    // Google repeats the notification several times a day: the same finding id each time.
    let b = w.push_raw("budget-notification", &env, None);
    assert_eq!(b.json()["result"]["finding"], id.as_str());
    let findings = w.take(&w.findings);
    assert_eq!(findings.len(), 2);
    for (i, f) in findings.iter().enumerate() {
        let r = w.push("notify", f, &format!("70{i}"), "2024-09-20T16:01:05Z");
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let alerts = w.alerts();
    assert_eq!(alerts.len(), 1, "one crossing, one alert");
    let body = alerts[0]["body"].as_str().unwrap_or("");
    assert!(body.contains("1157.33 EUR"), "{body}");
    assert!(body.contains("1500.00 EUR"), "{body}");

    // A status update (no threshold crossed) is acknowledged and sends nothing.
    let status = json!({"budgetDisplayName": "prod-monthly", "costAmount": 12.5, "costIntervalStart": "2024-09-01T07:00:00Z", "budgetAmount": 1500.0, "budgetAmountType": "SPECIFIED_AMOUNT", "currencyCode": "EUR"});
    let attrs = env["message"]["attributes"].clone();
    let s = w.push_raw(
        "budget-notification",
        &envelope(
            "budget-notification",
            &status.to_string(),
            "801",
            "2024-09-20T17:00:00Z",
            &attrs,
        ),
        None,
    );
    assert_eq!(s.status, 200, "{}", s.text);
    assert!(s.json()["result"]["finding"].is_null());
    assert!(w.findings.is_empty());

    // A notification that cannot be read goes to the dead-letter topic, acknowledged.
    let bad = json!({"budgetDisplayName": "prod-monthly", "alertThresholdExceeded": 0.5, "costAmount": "lots", "costIntervalStart": "2024-09-01T07:00:00Z", "budgetAmount": 1500.0, "currencyCode": "EUR"});
    let d = w.push_raw(
        "budget-notification",
        &envelope(
            "budget-notification",
            &bad.to_string(),
            "802",
            "2024-09-20T17:00:00Z",
            &attrs,
        ),
        None,
    );
    assert_eq!(d.status, 200, "{}", d.text);
    assert!(
        d.json()["deadLettered"]
            .as_str()
            .is_some_and(|m| m.contains("costAmount")),
        "{}",
        d.text
    );
    assert_eq!(w.take(&w.dead_letter).len(), 1);
    assert!(w.findings.is_empty());
}
