//! The handler over the core's local ports (a directory as bucket, in-memory topics and state,
//! SQLite as the store, a JSON-lines outbox as the alerts topic) and a canned billing source,
//! driven the way Cloud Scheduler and Pub/Sub push drive the Cloud Run service.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use base64::Engine;
use costkit_core::breakdown::DayRange;
use costkit_core::flow::ingest::CostSource;
use costkit_core::local::{DirBlobStore, MemoryQueue, MemoryState, OutboxPublisher};
use costkit_core::ports::{BlobStore, PortError};
use costkit_core::store::{CostStore, Filter};
use costkit_gcp_handler::{router, App, Config, Wiring};
use costkit_http::ApiKeyHash;
use costkit_shell::consume::Ports;
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// The project on the emulators (bqemulator serves this one; the others take any).
pub const EMULATOR_PROJECT: &str = "billing-proj";

/// An emulator's variable; the tests fail (never skip) without it.
pub fn emulator_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: start the emulators with `scripts/gcp-emulators.sh start` and `eval \"$(scripts/gcp-emulators.sh env)\"` (scripts/test.sh does this)"
        ),
    }
}

/// The emulator project on all four emulators the environment names.
pub fn emulator_gcp(retry: costkit_gcp::RetryPolicy) -> costkit_gcp::Gcp {
    use costkit_gcp::{Endpoint, Gcp, Service};
    let gcp = Gcp::new(EMULATOR_PROJECT, retry, None).expect("gcp");
    [
        Service::Firestore,
        Service::PubSub,
        Service::Storage,
        Service::BigQuery,
    ]
    .into_iter()
    .fold(gcp, |g, s| {
        let v = emulator_var(s.emulator_var());
        g.with_endpoint(
            s,
            Endpoint::emulator(s.emulator_var(), &v).expect("endpoint"),
        )
    })
}

/// The billing account of the canned rows.
pub const ACCOUNT: &str = "01A2B3-C4D5E6-F7A8B9";
/// The report API key the tests present.
pub const API_KEY: &str = "report-key-for-tests";
/// A 40 USD March budget on Google Cloud spend, alerting at 50 % and 80 %.
pub const BUDGETS: &str = "version: 1\nbudgets:\n  - name: gcp-march\n    period: monthly\n    amount:\n      fixed: 40\n    currency: USD\n    basis: billed\n    scope:\n      providers: [Google Cloud]\n    thresholds:\n      - percent: 50\n      - percent: 80\n";
/// One monitor over the total.
pub const MONITORS: &str = "version: 1\nmonitors:\n  - name: total\n    currency: USD\n";

/// Rows of the standard billing export for March 1–14 2026 ([`billing_rows`]).
pub fn march_rows() -> Vec<String> {
    let march = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).expect("date");
    billing_rows(march, false)
}

/// Rows of the standard billing export of the month starting `first`, in the shape `bq extract`
/// writes (money as strings, exact): Compute Engine 2.75 an hour less a 0.25 sustained-use
/// credit, 14 times (days 1–14 at 10:00, or, `same_day`, hours 10–23 of the 1st), and Cloud
/// Storage 2.4000000001 on the 1st: 37.4000000001 USD billed, 93.5 % of the 40 USD budget.
pub fn billing_rows(first: chrono::NaiveDate, same_day: bool) -> Vec<String> {
    let month = first.format("%Y-%m").to_string();
    let row = |day: u32, hour: u32, service: &str, sku: &str, cost: &str, credits: Value| {
        let start = format!("{month}-{day:02} {hour:02}:00:00 UTC");
        let end = format!("{month}-{day:02} {hour:02}:59:59 UTC");
        json!({
            "billing_account_id": ACCOUNT,
            "service": {"id": if service == "Compute Engine" {"6F81-5844-456A"} else {"95FF-2EF5-5EA1"}, "description": service},
            "sku": {"id": "BB77-5FDA-69D9", "description": sku},
            "usage_start_time": start,
            "usage_end_time": end,
            "project": {"id": "web-prod-4821", "number": "482193746501", "name": "Web Production", "labels": []},
            "labels": [{"key": "env", "value": "prod"}],
            "system_labels": [],
            "location": {"location": "us-central1", "country": "US", "region": "us-central1", "zone": null},
            "export_time": format!("{month}-{day:02} 23:59:59 UTC"),
            "cost": cost,
            "currency": "USD",
            "currency_conversion_rate": "1.0",
            "usage": {"amount": "3600", "unit": "seconds", "amount_in_pricing_units": "1", "pricing_unit": "hour"},
            "credits": credits,
            "invoice": {"month": first.format("%Y%m").to_string()},
            "cost_type": "regular",
            "cost_at_list": cost,
        })
        .to_string()
    };
    let mut rows: Vec<String> = (1..=14)
        .map(|i| {
            let (day, hour) = if same_day { (1, 9 + i) } else { (i, 10) };
            row(
                day,
                hour,
                "Compute Engine",
                "N2 Instance Core running in Americas",
                "2.75",
                json!([{"name": "Sustained Usage Discount", "amount": "-0.25", "full_name": null, "id": "", "type": "SUSTAINED_USAGE_DISCOUNT"}]),
            )
        })
        .collect();
    rows.push(row(
        1,
        9,
        "Cloud Storage",
        "Standard Storage US Multi-region",
        "2.4000000001",
        json!([]),
    ));
    rows
}

/// A billing source serving canned rows, newline-delimited JSON, `page_rows` rows a page, only
/// the rows of the asked day range (stands in for the BigQuery source, which needs the
/// emulator).
pub struct CannedSource {
    pub rows: Vec<String>,
    pub page_rows: usize,
    pub calls: std::sync::Mutex<Vec<DayRange>>,
}

impl CostSource for CannedSource {
    fn name(&self) -> &str {
        "gcp-canned"
    }
    fn dialect(&self) -> &str {
        "gcp-billing"
    }
    fn fetch(&self, range: &DayRange) -> Result<Vec<Vec<u8>>, PortError> {
        if let Ok(mut c) = self.calls.lock() {
            c.push(*range);
        }
        let inside: Vec<&String> = self
            .rows
            .iter()
            .filter(|r| {
                let v: Value = serde_json::from_str(r).unwrap_or(Value::Null);
                let day = v["usage_start_time"].as_str().unwrap_or("").get(..10);
                day.and_then(|d| d.parse::<chrono::NaiveDate>().ok())
                    .is_some_and(|d| d >= range.start && d <= range.end)
            })
            .collect();
        Ok(inside
            .chunks(self.page_rows.max(1))
            .map(|c| {
                c.iter()
                    .map(|r| format!("{r}\n"))
                    .collect::<String>()
                    .into_bytes()
            })
            .collect())
    }
}

/// One test's service and everything behind it.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub app: App,
    pub router: axum::Router,
    pub blobs: Arc<DirBlobStore>,
    pub normalize: Arc<MemoryQueue>,
    pub data_updated: Arc<MemoryQueue>,
    pub findings: Arc<MemoryQueue>,
    pub dead_letter: Arc<MemoryQueue>,
    pub outbox: PathBuf,
    pub source: Arc<CannedSource>,
    pub db: PathBuf,
    next_id: std::sync::atomic::AtomicU64,
}

/// A world whose settings are `config` (test defaults filled in) and whose bucket already holds
/// the budgets and monitors files.
pub fn world_with(config: Config) -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let blobs = Arc::new(DirBlobStore::new(dir.path().join("bucket")));
    for (key, text) in [
        ("config/budgets.yaml", BUDGETS),
        ("config/monitors.yaml", MONITORS),
    ] {
        blobs
            .put_bytes(key, text.as_bytes(), "application/yaml")
            .expect(key);
    }
    let db = dir.path().join("costkit.db");
    let open_db = db.clone();
    let normalize = Arc::new(MemoryQueue::default());
    let data_updated = Arc::new(MemoryQueue::default());
    let findings = Arc::new(MemoryQueue::default());
    let dead_letter = Arc::new(MemoryQueue::default());
    let outbox = dir.path().join("alerts.jsonl");
    let source = Arc::new(CannedSource {
        rows: march_rows(),
        page_rows: 8,
        calls: Default::default(),
    });
    let wiring = Wiring {
        ports: Ports {
            blobs: blobs.clone(),
            state: Arc::new(MemoryState::default()),
            store: Arc::new(move || {
                Ok(Box::new(SqliteStore::open(&open_db)?) as Box<dyn CostStore + Send>)
            }),
            analysis: data_updated.clone(),
            findings: findings.clone(),
            alerts: Arc::new(OutboxPublisher::new(&outbox)),
            notify: costkit_gcp_handler::notify_settings(&config, None),
        },
        normalize: normalize.clone(),
        dead_letter: dead_letter.clone(),
        source: Some(source.clone()),
    };
    let keys = json!({"keys": [{"id": "tests", "sha256": ApiKeyHash::of(API_KEY).to_hex()}]});
    let config = Config {
        report_auth: Some("API_KEY".into()),
        report_api_keys: Some(keys.to_string()),
        ..config
    };
    let (app, router) = rt.block_on(async {
        let app = App::new(config, wiring).expect("app");
        let router = router(app.clone()).await.expect("router");
        (app, router)
    });
    World {
        rt,
        dir,
        app,
        router,
        blobs,
        normalize,
        data_updated,
        findings,
        dead_letter,
        outbox,
        source,
        db,
        next_id: std::sync::atomic::AtomicU64::new(2070443601311540),
    }
}

/// A world with the default settings.
pub fn world() -> World {
    world_with(Config::default())
}

/// An answer: status, headers, body text.
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Answer {
    /// The body as JSON (`null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

impl World {
    /// Sends one request to the service.
    pub fn call(&self, req: axum::http::Request<Body>) -> Answer {
        let resp = self
            .rt
            .block_on(tower::ServiceExt::oneshot(self.router.clone(), req))
            .expect("response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = self
            .rt
            .block_on(axum::body::to_bytes(resp.into_body(), 64 << 20))
            .expect("body");
        Answer {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A Cloud Scheduler HTTP-target request as the scheduler sends it.
    pub fn scheduler(
        &self,
        path: &str,
        job: &str,
        schedule_time: &str,
        body: &str,
        token: Option<&str>,
    ) -> Answer {
        let mut b = axum::http::Request::builder()
            .method("POST")
            .uri(path)
            .header("user-agent", "Google-Cloud-Scheduler")
            .header("x-cloudscheduler", "true")
            .header(
                "x-cloudscheduler-jobname",
                format!("projects/costkit-prod/locations/europe-west1/jobs/{job}"),
            )
            .header("x-cloudscheduler-scheduletime", schedule_time);
        if !body.is_empty() {
            b = b.header("content-type", "application/octet-stream");
        }
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.call(b.body(Body::from(body.to_string())).expect("request"))
    }

    /// The ingest job's request at 2026-03-15 06:00 UTC with `body`.
    pub fn ingest(&self, body: &str) -> Answer {
        self.scheduler(
            "/scheduler/ingest",
            "costkit-ingest-daily",
            "2026-03-15T06:00:00Z",
            body,
            None,
        )
    }

    /// A fresh Pub/Sub message id.
    pub fn message_id(&self) -> String {
        self.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string()
    }

    /// A push request of `data` to `/pubsub/{step}` as a push subscription sends it.
    pub fn push_raw(&self, step: &str, envelope: &Value, token: Option<&str>) -> Answer {
        let mut b = axum::http::Request::builder()
            .method("POST")
            .uri(format!("/pubsub/{step}"))
            .header("content-type", "application/json")
            .header(
                "user-agent",
                "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
            )
            .header("from", "noreply@google.com");
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.call(b.body(Body::from(envelope.to_string())).expect("request"))
    }

    /// A push of message text `data` (id `message_id`, published at `publish_time`).
    pub fn push(&self, step: &str, data: &str, message_id: &str, publish_time: &str) -> Answer {
        self.push_raw(
            step,
            &envelope(step, data, message_id, publish_time, &json!({})),
            None,
        )
    }

    /// Delivers every message waiting on `queue` to `step` (each with a new message id), as
    /// Pub/Sub does; returns the answers' bodies, asserting each was acknowledged.
    pub fn drain(&self, queue: &MemoryQueue, step: &str, publish_time: &str) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(m) = queue.pop() {
            let a = self.push(step, &m, &self.message_id(), publish_time);
            assert_eq!(a.status, 200, "{step}: {}", a.text);
            out.push(a.json());
        }
        out
    }

    /// Every message waiting on `queue`, removed.
    pub fn take(&self, queue: &MemoryQueue) -> Vec<String> {
        std::iter::from_fn(|| queue.pop()).collect()
    }

    /// The store's daily rows.
    pub fn daily(&self) -> Vec<costkit_core::aggregate::DailyRow> {
        let store = SqliteStore::open(&self.db).expect("store");
        store.daily(&Filter::default()).expect("daily")
    }

    /// Σ billed of the store.
    pub fn billed(&self) -> Decimal {
        self.daily().iter().map(|r| r.sums.billed).sum()
    }

    /// The alerts published so far (outbox lines).
    pub fn alerts(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.outbox)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("outbox line"))
            .collect()
    }

    /// GET with the report API key.
    pub fn get(&self, path: &str) -> Answer {
        self.call(
            axum::http::Request::builder()
                .uri(path)
                .header("x-api-key", API_KEY)
                .body(Body::empty())
                .expect("request"),
        )
    }
}

/// The push envelope Pub/Sub sends for a message (both spellings of id and time, as documented).
pub fn envelope(
    step: &str,
    data: &str,
    message_id: &str,
    publish_time: &str,
    attributes: &Value,
) -> Value {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    json!({
        "message": {
            "attributes": attributes,
            "data": b64,
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": publish_time,
            "publish_time": publish_time,
        },
        "subscription": format!("projects/costkit-prod/subscriptions/costkit-{step}-push"),
    })
}

pub fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

/// A push subscription of `topic` delivering to `endpoint` (the emulator's REST API).
pub async fn push_subscription(gcp: &costkit_gcp::Gcp, topic: &str, name: &str, endpoint: &str) {
    let url = format!(
        "http://{}/v1/projects/{EMULATOR_PROJECT}/subscriptions/{name}",
        emulator_var("PUBSUB_EMULATOR_HOST")
    );
    let body = json!({
        "topic": costkit_gcp::pubsub::Topic::new(gcp, topic).name(),
        "pushConfig": {"pushEndpoint": endpoint},
        "ackDeadlineSeconds": 60,
    });
    let resp = reqwest::Client::new()
        .put(&url)
        .json(&body)
        .send()
        .await
        .expect("subscription");
    assert!(
        resp.status().is_success(),
        "{url}: {}",
        resp.text().await.unwrap_or_default()
    );
}

/// Waits until `check` gives a value (the pushes run in the background), at most `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The project on all four emulators, with quick retries.
pub fn quick_gcp() -> costkit_gcp::Gcp {
    emulator_gcp(costkit_gcp::RetryPolicy {
        max_attempts: 4,
        base: std::time::Duration::from_millis(20),
        max_delay: std::time::Duration::from_millis(200),
        max_wait: std::time::Duration::from_secs(5),
    })
}

/// Settings naming a bucket, a store root and topics of this test run alone (`what` and `id` in
/// every name), on the named database `infra/gcp` creates (`costkit`).
pub fn emulator_config(what: &str, id: &str) -> Config {
    Config {
        bucket: Some(format!("costkit-{what}-{id}")),
        firestore_database: "costkit".into(),
        firestore_root: format!("costkit_{what}_{id}"),
        normalize_topic: format!("normalize-{id}"),
        data_updated_topic: format!("data-updated-{id}"),
        findings_topic: format!("findings-{id}"),
        alerts_topic: format!("alerts-{id}"),
        dead_letter_topic: format!("dead-letter-{id}"),
        notify_dead_letter_topic: format!("notify-dead-letter-{id}"),
        ..Config::default()
    }
}

/// Serves `app` (the service's router) on a free loopback port; returns its base URL.
pub async fn serve(app: App) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let service = router(app).await.expect("router");
    tokio::spawn(async move { axum::serve(listener, service).await });
    base
}
