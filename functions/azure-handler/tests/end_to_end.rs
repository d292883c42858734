//! The whole Azure flow through the custom handler, as the Functions host drives it: invocation
//! payloads of the documented shapes POSTed to the handler's router, queues and state on Azurite,
//! Cost Management and Entra ID replayed by a local server.
//!
//! timer → ingest (token, two ActualCost pages via nextLink, one AmortizedCost page) → normalize
//! queue → normalize (Table store loaded) → budget and anomaly queues → budget check (finding)
//! and anomaly → findings queue → notify (alerts queue, once) → report download over the HTTP
//! trigger, and the report timer failing clearly without its settings; plus a poison message and a throttled Cost Management, and
//! a routing file (`config/notify.yaml` in the container) sending findings to a signed webhook on
//! a local receiver once however often the queue delivers them, and a daily digest.

use std::sync::Arc;

use axum::body::Body;
use costkit_azure::auth::{SharedKey, StorageAuth, TokenKind, TokenSource, ARM_RESOURCE};
use costkit_azure::cost_management::CostManagement;
use costkit_azure::http::RetryPolicy;
use costkit_azure::queue::{ReceivedMessage, StorageQueue};
use costkit_azure::testkit::Replay;
use costkit_azure::Storage;
use costkit_azure_handler::{poison, router, App, Config};
use costkit_core::ports::BlobStore;
use costkit_core::store::{CostStore, Filter};
use rust_decimal::Decimal;
use serde_json::{json, Value};

const SCOPE: &str = "/subscriptions/00000000-0000-0000-0000-000000000001";
const SUB: &str = "00000000-0000-0000-0000-00000000000a";
const BUDGETS: &str = "version: 1\nbudgets:\n  - name: azure-march\n    period: monthly\n    amount:\n      fixed: 40\n    currency: USD\n    basis: billed\n    scope:\n      providers: [Microsoft]\n    thresholds:\n      - percent: 50\n      - percent: 80\n";
const MONITORS: &str = "version: 1\nmonitors:\n  - name: total\n    currency: USD\n";

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: start Azurite with `scripts/azurite.sh start` and `eval \"$(scripts/azurite.sh env)\"` (scripts/test.sh does this)"
        ),
    }
}

fn unique(p: &str) -> String {
    format!("{p}{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff)
}

struct World {
    rt: tokio::runtime::Runtime,
    app: App,
    storage: Storage,
    replay: Replay,
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let storage = Storage::new(
        StorageAuth::SharedKey(SharedKey::devstore()),
        &var("COSTKIT_AZURITE_BLOB"),
        &var("COSTKIT_AZURITE_QUEUE"),
        &var("COSTKIT_AZURITE_TABLE"),
        RetryPolicy::default(),
    )
    .expect("storage");
    let replay = Replay::default();
    let base = rt.block_on(replay.serve()).expect("replay");
    let tokens = TokenSource::new(
        TokenKind::ClientCredentials {
            authority: base.clone(),
            tenant_id: "tenant-1".into(),
            client_id: "app-1".into(),
            client_secret: "s3cret".into(),
        },
        ARM_RESOURCE,
    );
    let retry = RetryPolicy {
        max_attempts: 3,
        base: std::time::Duration::from_millis(50),
        max_delay: std::time::Duration::from_millis(200),
        max_wait: std::time::Duration::from_secs(5),
    };
    let cm = CostManagement::new(
        costkit_azure::http::transport(retry).expect("transport"),
        Arc::new(tokens),
        &base,
    )
    .expect("cm");
    let id = unique("");
    let config = Config {
        table: format!("costkit{id}"),
        container: format!("costkit{id}"),
        normalize_queue: format!("normalize{id}"),
        budget_queue: format!("budget{id}"),
        anomaly_queue: format!("anomaly{id}"),
        findings_queue: format!("findings{id}"),
        alerts_queue: format!("alerts{id}"),
        cost_scope: Some(SCOPE.into()),
        report_auth: Some("PLATFORM".into()),
        ..Config::default()
    };
    let app = rt.block_on(async {
        let app = App::new(config, storage.clone(), Some(cm));
        app.ensure_resources().await.expect("resources");
        app
    });
    World {
        rt,
        app,
        storage,
        replay,
    }
}

impl World {
    /// POSTs an invocation to `/{function}` the way the host does.
    fn invoke(&self, function: &str, payload: Value) -> (u16, Value) {
        let req = axum::http::Request::builder()
            .method("POST")
            .uri(format!("/{function}"))
            .header("content-type", "application/json")
            .body(Body::from(payload.to_string()))
            .expect("request");
        let resp = self
            .rt
            .block_on(tower::ServiceExt::oneshot(router(self.app.clone()), req))
            .expect("response");
        let status = resp.status().as_u16();
        let bytes = self
            .rt
            .block_on(axum::body::to_bytes(resp.into_body(), 64 << 20))
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn receive(&self, queue: &str) -> Vec<ReceivedMessage> {
        self.rt
            .block_on(StorageQueue::new(&self.storage, queue).receive(32, 60))
            .expect("receive")
    }

    /// Delivers every message of `queue` to `function` like the host: delete on success.
    fn drain(&self, queue: &str, function: &str, utc_now: &str) -> Vec<Value> {
        let mut outputs = Vec::new();
        for m in self.receive(queue) {
            let (status, out) = self.invoke(function, queue_payload(function, &m, utc_now));
            assert_eq!(status, 200, "{function}: {out}");
            self.rt
                .block_on(StorageQueue::new(&self.storage, queue).delete(&m))
                .expect("delete");
            outputs.push(out);
        }
        outputs
    }
}

/// A queue trigger invocation: the message text in `Data`, the queue metadata and `sys`.
fn queue_payload(function: &str, m: &ReceivedMessage, utc_now: &str) -> Value {
    json!({
        "Data": {"message": m.body},
        "Metadata": {
            "DequeueCount": m.dequeue_count,
            "ExpirationTime": "2026-03-22T06:00:00+00:00",
            "Id": m.id,
            "InsertionTime": "2026-03-15T06:00:01+00:00",
            "NextVisibleTime": "2026-03-15T06:10:01+00:00",
            "PopReceipt": m.pop_receipt,
            "sys": {"MethodName": function, "UtcNow": utc_now, "RandGuid": "2b1c8a3e-6b7f-4d0e-9c55-0a7d0e6f1a11"}
        }
    })
}

/// A timer trigger invocation.
fn timer_payload(function: &str, utc_now: &str) -> Value {
    json!({
        "Data": {"timer": {
            "Schedule": {"AdjustForDST": true},
            "ScheduleStatus": {"Last": "2026-03-14T06:00:00+00:00", "Next": "2026-03-16T06:00:00+00:00", "LastUpdated": "2026-03-14T06:00:00+00:00"},
            "IsPastDue": false
        }},
        "Metadata": {"sys": {"MethodName": function, "UtcNow": utc_now, "RandGuid": "0f0e2d6c-5a43-4b7e-8d1f-3c2b1a0e9d8c"}}
    })
}

/// Query response pages as Azure sends them (the testkit's documented shape).
fn page(rows: &[String], next: Option<String>) -> String {
    costkit_azure::testkit::query_page(&format!("[{}]", rows.join(",")), next)
}

/// March 1–14 2026: Virtual Machines 2.50 a day and Storage 2.4000000001 on the 1st:
/// 37.4000000001 USD, 93.5 % of the 40 USD budget.
fn march_rows() -> Vec<String> {
    let mut rows: Vec<String> = (1..=14)
        .map(|d| format!("[2.50,202603{d:02},\"Virtual Machines\",\"{SUB}\",\"USD\"]"))
        .collect();
    rows.push(format!(
        "[2.4000000001,20260301,\"Storage\",\"{SUB}\",\"USD\"]"
    ));
    rows
}

fn replay_month(w: &World) {
    let rows = march_rows();
    w.replay.push(
        200,
        &[],
        json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "tok-e2e"}).to_string(),
    );
    // The actual cost, throttled once, then in two pages.
    w.replay.push(
        429,
        &[(
            "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
            "1",
        )],
        json!({"error": {"code": "429", "message": "Too many requests."}}).to_string(),
    );
    let next = format!("{}{SCOPE}/providers/Microsoft.CostManagement/query?api-version=2023-11-01&$skiptoken=page2", replay_base(w));
    w.replay.push(
        200,
        &[("content-type", "application/json")],
        page(&rows[..8], Some(next)),
    );
    w.replay.push(
        200,
        &[("content-type", "application/json")],
        page(&rows[8..], None),
    );
    // The amortized cost: the same (no commitments in this subscription).
    w.replay.push(
        200,
        &[("content-type", "application/json")],
        page(&rows, None),
    );
}

/// The Cost Management endpoint the app was given: the replay server itself.
fn replay_base(w: &World) -> String {
    w.app
        .cost_management
        .as_ref()
        .map(|c| c.endpoint().to_string())
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_string()
}

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

#[test]
fn schedule_to_report_on_azurite() {
    let w = world();
    let blobs = w.app.blobs();
    blobs
        .put_bytes(
            "config/budgets.yaml",
            BUDGETS.as_bytes(),
            "application/yaml",
        )
        .expect("budgets");
    blobs
        .put_bytes(
            "config/monitors.yaml",
            MONITORS.as_bytes(),
            "application/yaml",
        )
        .expect("monitors");
    replay_month(&w);

    // 1. Timer → ingest: one month (March 1–14), one raw document, one normalize job.
    let (status, out) = w.invoke("ingest", timer_payload("ingest", "2026-03-15T06:00:00Z"));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["Outputs"], json!({}));
    assert_eq!(out["ReturnValue"]["jobs"][0]["start"], "2026-03-01");
    assert_eq!(out["ReturnValue"]["jobs"][0]["end"], "2026-03-15");
    let seen = w.replay.seen();
    assert_eq!(
        seen.len(),
        5,
        "token, 429, two actual pages, one amortized page"
    );
    assert!(seen[3].path_and_query.ends_with("$skiptoken=page2"));
    let raw = blobs.list("raw/azure-cm/2026-03/").expect("list");
    assert_eq!(raw.len(), 1, "{raw:?}");

    // 2. Normalize queue → normalize: the Table store holds the month, to the cent and beyond.
    let outs = w.drain(
        &w.app.config.normalize_queue,
        "normalize",
        "2026-03-15T06:01:00Z",
    );
    assert_eq!(outs.len(), 1);
    assert!(
        outs[0]["ReturnValue"]["outcome"]
            .as_str()
            .unwrap_or("")
            .starts_with("Committed"),
        "{}",
        outs[0]
    );
    let store = w.app.store();
    let rows =
        w.rt.block_on(async {
            let s = store.clone();
            tokio::task::spawn_blocking(move || s.daily(&Filter::default()))
                .await
                .expect("join")
        })
        .expect("daily");
    assert_eq!(
        rows.iter().map(|r| r.sums.billed).sum::<Decimal>(),
        dec("37.4000000001")
    );
    assert_eq!(
        rows.iter().map(|r| r.sums.effective).sum::<Decimal>(),
        dec("37.4000000001")
    );
    assert!(rows.iter().all(|r| r.slice.provider.as_str() == "Microsoft"
        && r.slice.billing_account_id.as_str() == "00000000-0000-0000-0000-000000000001"
        && r.slice.billing_period == "2026-03"));
    assert!(
        blobs
            .list("focus/billing_period=2026-03/")
            .expect("list")
            .len()
            == 1,
        "FOCUS Parquet written"
    );

    // 3. data_updated reached both analysis queues.
    let budget_outs = w.drain(
        &w.app.config.budget_queue,
        "budget-check",
        "2026-03-15T07:00:00Z",
    );
    assert_eq!(budget_outs.len(), 1);
    assert!(
        budget_outs[0]["ReturnValue"]["findings"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "{}",
        budget_outs[0]
    );
    let anomaly_outs = w.drain(
        &w.app.config.anomaly_queue,
        "anomaly",
        "2026-03-15T07:00:00Z",
    );
    assert_eq!(
        anomaly_outs.len(),
        1,
        "the anomaly function ran on the same update"
    );

    // 4. Findings → notify → alerts queue, once even when the finding is delivered twice.
    let findings = w.receive(&w.app.config.findings_queue);
    assert!(!findings.is_empty());
    let n = findings.len();
    for m in &findings {
        let (status, out) = w.invoke("notify", queue_payload("notify", m, "2026-03-15T07:01:00Z"));
        assert_eq!(status, 200, "{out}");
        assert_eq!(out["ReturnValue"]["deliveries"]["queue"], "sent");
        let (status, again) =
            w.invoke("notify", queue_payload("notify", m, "2026-03-15T07:02:00Z"));
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["ReturnValue"]["deliveries"]["queue"], "duplicate");
    }
    let alerts = w.receive(&w.app.config.alerts_queue);
    assert_eq!(alerts.len(), n, "one alert per finding");
    let bodies: Vec<Value> = alerts
        .iter()
        .map(|a| serde_json::from_str(&a.body).expect("alert json"))
        .collect();
    let all = bodies
        .iter()
        .map(|b| b["body"].as_str().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        all.contains("budget:azure-march:2026-03:billed:actual:80%"),
        "{all}"
    );
    assert!(all.contains("37.40 USD"), "{all}");
    assert!(
        bodies
            .iter()
            .all(|b| b["attributes"]["kind"] == "budget_alert"
                || b["attributes"]["kind"] == "anomaly")
    );

    // 5. The report download over the HTTP trigger (request not forwarded: the invocation
    //    carries it), through the shared report router.
    let (status, out) = w.invoke("report", json!({
        "Data": {"req": {
            "Url": "https://costkit-func.azurewebsites.net/api/reports/2026-03.csv",
            "Method": "GET",
            "Query": {},
            "Headers": {"Accept": ["text/csv"], "Accept-Encoding": ["gzip, br"], "Host": ["costkit-func.azurewebsites.net"]},
            "Params": {"file": "2026-03.csv"},
            "Identities": [],
            "Body": null
        }},
        "Metadata": {"file": "2026-03.csv", "sys": {"MethodName": "report", "UtcNow": "2026-03-15T08:00:00Z", "RandGuid": "5d2c"}}
    }));
    assert_eq!(status, 200, "{out}");
    let res = &out["Outputs"]["res"];
    assert_eq!(res["statusCode"], 200, "{res}");
    let csv = res["body"].as_str().expect("body");
    assert!(
        csv.contains("\ntotal,,,,USD,billed,37.4000000001\n"),
        "{csv}"
    );
    assert!(
        csv.contains("\nbreakdown,service,Virtual Machines,,USD,billed,35"),
        "{csv}"
    );

    // 6. The monthly report timer without a report base URL (this app has none): it fails naming
    //    the setting, before anything is rendered or sent (tests/scheduled_report.rs runs it
    //    configured).
    let (status, out) = w.invoke(
        "report-monthly",
        timer_payload("report-monthly", "2026-04-01T08:00:00Z"),
    );
    assert_eq!(status, 500, "{out}");
    assert!(
        out["Logs"][0]
            .as_str()
            .unwrap_or("")
            .contains("COSTKIT_REPORT_BASE_URL"),
        "{out}"
    );
    assert!(blobs.list("reports/").expect("list").is_empty());
}

#[test]
fn a_poison_message_goes_to_the_poison_queue_and_a_wrong_binding_fails() {
    let w = world();
    let q = w.app.config.normalize_queue.clone();
    let (status, out) = w.invoke("normalize", json!({
        "Data": {"message": "{\"type\":\"normalize\",\"job_id\":42}"},
        "Metadata": {"DequeueCount": "1", "Id": "m-1", "sys": {"MethodName": "normalize", "UtcNow": "2026-03-15T06:00:00Z", "RandGuid": "x"}}
    }));
    assert_eq!(status, 200, "handled: moved to the poison queue: {out}");
    assert!(
        out["Logs"][0].as_str().unwrap_or("").contains(&poison(&q)),
        "{out}"
    );
    let poisoned = w.receive(&poison(&q));
    assert_eq!(poisoned.len(), 1);
    assert!(poisoned[0].body.contains("\"job_id\":42"));

    // A message of the wrong kind on a queue is a wiring mistake: poison too.
    let (status, _) = w.invoke("notify", json!({
        "Data": {"message": "{\"type\":\"data_updated\",\"job_id\":\"j\",\"slices\":[],\"first_day\":null,\"last_day\":null}"},
        "Metadata": {"DequeueCount": 1, "Id": "m-2"}
    }));
    assert_eq!(status, 200);
    assert_eq!(w.receive(&poison(&w.app.config.findings_queue)).len(), 1);

    // The binding name does not match function.json: the invocation fails and says why.
    let (status, out) = w.invoke("normalize", json!({"Data": {"msg": "{}"}, "Metadata": {}}));
    assert_eq!(status, 500);
    assert!(
        out["Logs"][0]
            .as_str()
            .unwrap_or("")
            .contains("Data.message"),
        "{out}"
    );
    let (status, _) = w.invoke("no-such-function", json!({"Data": {}, "Metadata": {}}));
    assert_eq!(status, 500);
}

#[test]
fn cost_management_down_fails_the_ingest_so_the_timer_retries_nothing_half_done() {
    let w = world();
    w.replay.push(
        200,
        &[],
        json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "t"}).to_string(),
    );
    for _ in 0..3 {
        w.replay.push(503, &[], "unavailable".into());
    }
    let (status, out) = w.invoke("ingest", timer_payload("ingest", "2026-03-15T06:00:00Z"));
    assert_eq!(status, 500, "{out}");
    assert!(
        out["Logs"][0]
            .as_str()
            .unwrap_or("")
            .contains("gave up after 3 attempts"),
        "{out}"
    );
    assert!(
        w.receive(&w.app.config.normalize_queue).is_empty(),
        "no job queued"
    );
    assert!(
        w.app.blobs().list("raw/").expect("list").is_empty(),
        "no raw page kept"
    );
}

#[test]
fn a_cost_export_manifest_queues_its_files_and_loads_them() {
    let w = world();
    let blobs = w.app.blobs();
    let dir = "exports/costkit-focus/20240501-20240531/run-1";
    let csv = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/focus/azure_focuscost_1.0r2.csv"
    ))
    .expect("fixture");
    blobs
        .put_bytes(&format!("{dir}/part_0_0001.csv"), &csv, "text/csv")
        .expect("data file");
    let manifest = json!({
        "manifestVersion": "2024-04-01",
        "byteCount": csv.len(),
        "blobCount": 1,
        "dataRowCount": 4,
        "exportConfig": {"exportName": "costkit-focus", "resourceId": "/subscriptions/s/providers/Microsoft.CostManagement/exports/costkit-focus", "dataVersion": "1.0r2", "apiVersion": "2023-07-01-preview", "type": "FocusCost", "timeFrame": "MonthToDate", "granularity": "Daily"},
        "deliveryConfig": {"partitionData": true, "dataOverwriteBehavior": "OverwritePreviousReport", "fileFormat": "Csv", "compressionMode": "None", "containerUri": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acme", "rootFolderPath": "exports"},
        "runInfo": {"executionType": "Scheduled", "submittedTime": "2024-05-05T05:05:47.8757738Z", "runId": "run-1", "startDate": "2024-05-01T00:00:00", "endDate": "2024-05-31T00:00:00"},
        "blobs": [{"blobName": format!("{dir}/part_0_0001.csv"), "byteCount": csv.len(), "dataRowCount": 4}]
    });
    blobs
        .put_bytes(
            &format!("{dir}/manifest.json"),
            manifest.to_string().as_bytes(),
            "application/json",
        )
        .expect("manifest");
    let container = w.app.config.container.clone();
    let event = |name: &str| {
        json!({
            "topic": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acme",
            "subject": format!("/blobServices/default/containers/{container}/blobs/{dir}/{name}"),
            "eventType": "Microsoft.Storage.BlobCreated",
            "id": "0b8c8d4e-001e-0042-1b2c-3d4e5f607182",
            "data": {"api": "PutBlob", "contentType": "application/json", "blobType": "BlockBlob",
                     "url": format!("https://acme.blob.core.windows.net/{container}/{dir}/{name}")},
            "dataVersion": "",
            "metadataVersion": "1",
            "eventTime": "2024-05-05T05:06:00.000Z"
        })
        .to_string()
    };
    let exports = w.app.config.exports_queue.clone();
    let send = |body: String| {
        w.rt.block_on(StorageQueue::new(&w.storage, &exports).send(&body))
            .expect("event");
    };
    // The data file's event is ignored; the manifest's starts the job (twice: the same job id).
    send(event("part_0_0001.csv"));
    send(event("manifest.json"));
    send(event("manifest.json"));
    let outs = w.drain(&exports, "export", "2024-05-05T05:07:00Z");
    assert_eq!(outs.len(), 3);
    let ignored = outs
        .iter()
        .filter(|o| o["ReturnValue"]["ignored"].is_string())
        .count();
    assert_eq!(ignored, 1, "{outs:?}");
    assert!(outs
        .iter()
        .any(|o| o["ReturnValue"]["job_id"] == "azure-export-costkit-focus-run-1"));
    let loads = w.drain(
        &w.app.config.normalize_queue,
        "normalize",
        "2024-05-05T05:08:00Z",
    );
    assert_eq!(loads.len(), 2, "one message per manifest event");
    let mut outcomes: Vec<String> = loads
        .iter()
        .map(|o| {
            o["ReturnValue"]["outcome"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    outcomes.sort();
    assert!(
        outcomes[0] == "AlreadyCommitted" && outcomes[1].starts_with("Committed"),
        "{outcomes:?}"
    );
    let store = w.app.store();
    let rows =
        w.rt.block_on(async move {
            tokio::task::spawn_blocking(move || store.daily(&Filter::default()))
                .await
                .expect("join")
        })
        .expect("daily");
    // The fixture's four rows: 2.208 + 0 + 0 + 1.8 EUR billed, loaded once.
    assert_eq!(
        rows.iter().map(|r| r.sums.billed).sum::<Decimal>(),
        dec("4.008")
    );
}

#[test]
fn a_routed_finding_reaches_its_webhook_once_even_when_delivered_twice() {
    let w = world();
    let sink = costkit_shell::testkit::WebhookSink::default();
    let base = w.rt.block_on(sink.serve()).expect("sink");
    // What a Key Vault reference in the app setting resolves to: a JSON object of secrets.
    let setting = format!("COSTKIT_TEST_NOTIFY_{}", unique("").to_uppercase());
    std::env::set_var(
        &setting,
        json!({"hook_url": format!("{base}/hook"), "hook_key": "whsec-azure"}).to_string(),
    );
    let routes = format!(
        "version: 1\nchannels:\n  - name: hook\n    type: webhook\n    url: {{secret: {setting}, key: hook_url}}\n    signing_secret: {{secret: {setting}, key: hook_key}}\n  - name: daily\n    type: webhook\n    url: {base}/digest\n    signing_secret: {{secret: {setting}, key: hook_key}}\nroutes:\n  - channel: hook\n    kinds: [budget_alert]\n  - channel: daily\n    mode: daily\n"
    );
    w.app
        .blobs()
        .put_bytes("config/notify.yaml", routes.as_bytes(), "application/yaml")
        .expect("routing file");
    let finding =
        costkit_core::flow::messages::Message::Finding(costkit_core::flow::messages::Finding {
            id: "budget:azure-march:2026-03:billed:actual:80%".into(),
            kind: costkit_core::flow::messages::FindingKind::BudgetAlert,
            severity: costkit_core::flow::messages::Severity::Warning,
            title: "Budget azure-march at 93.5 %".into(),
            summary: "Spend 37.40 USD of 40.00 USD.".into(),
            scope: [("budget".to_string(), "azure-march".to_string())].into(),
            amount: Some(dec("37.4000000001")),
            currency: Some(costkit_core::money::Currency::new("USD")),
            found_at: "2026-03-15T07:00:00Z".parse().expect("time"),
            detail: json!({}),
        });
    // The queue delivers the same message twice (the first invocation's delete was lost).
    let payload = |utc_now: &str| {
        json!({
            "Data": {"message": finding.to_json()},
            "Metadata": {"DequeueCount": 1, "Id": "m-notify-1", "sys": {"MethodName": "notify", "UtcNow": utc_now, "RandGuid": "r"}}
        })
    };
    let (status, out) = w.invoke("notify", payload("2026-03-15T07:01:00Z"));
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["ReturnValue"]["deliveries"],
        json!({"hook": "sent", "daily": "collected"})
    );
    let (status, again) = w.invoke("notify", payload("2026-03-15T07:02:00Z"));
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["ReturnValue"]["deliveries"],
        json!({"hook": "duplicate", "daily": "duplicate"})
    );
    let got = sink.received("/hook");
    assert_eq!(got.len(), 1, "the webhook got the finding once");
    costkit_core::notify::webhook::verify(
        b"whsec-azure",
        &got[0].headers["x-costkit-timestamp"],
        &got[0].headers["x-costkit-signature"],
        &got[0].body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .expect("signature");
    let body: Value = serde_json::from_slice(&got[0].body).expect("json");
    assert_eq!(
        body["finding"]["id"],
        "budget:azure-march:2026-03:billed:actual:80%"
    );
    assert_eq!(body["finding"]["amount"], "37.4000000001");
    assert_eq!(body["idempotency_key"], got[0].headers["idempotency-key"]);
    assert!(
        w.receive(&w.app.config.alerts_queue).is_empty(),
        "the routing file sends nothing to the alerts queue"
    );

    // The digest timer the next morning sends the day's digest once.
    let (status, out) = w.invoke(
        "notify-digest",
        timer_payload("notify-digest", "2026-03-16T07:00:00Z"),
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["ReturnValue"]["digests"][0]["delivery"], "sent",
        "{out}"
    );
    let (status, out) = w.invoke(
        "notify-digest",
        timer_payload("notify-digest", "2026-03-17T07:00:00Z"),
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["ReturnValue"]["digests"], json!([]));
    let digests = sink.received("/digest");
    assert_eq!(digests.len(), 1);
    let d: Value = serde_json::from_slice(&digests[0].body).expect("json");
    assert_eq!(d["digest"]["totals"]["USD"], "37.4000000001");
}
