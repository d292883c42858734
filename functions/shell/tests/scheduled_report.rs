//! The scheduled weekly/monthly report every shell runs, over a real SQLite store loaded from the
//! repository's FOCUS fixture, a directory as the blob store and real local HTTP servers: the
//! report API (the shared router, closed but for signed links) and a receiver standing in for
//! Slack and a webhook. The report files land in the blob store, each routed channel gets the
//! report once with a link that the router accepts, the totals equal the store's, a second run
//! sends nothing, and a missing base URL or signing key fails naming the setting.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap (developers guide)

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use costkit_core::local::{DirBlobStore, MemoryState};
use costkit_core::notify::webhook;
use costkit_core::ports::BlobStore;
use costkit_core::report::EngineConfig;
use costkit_http::{ApiConfig, Auth, SharedStore, SigningKey};
use costkit_shell::notify::{NotifySettings, SecretLookup};
use costkit_shell::report::{scheduled_report_run, ReportCadence, ScheduledReportEnv};
use costkit_shell::testkit::{load_repo_file, usd_billed, WebhookSink};
use costkit_sqlite::SqliteStore;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "config/notify.yaml";
const SIGNING: &str = "0123456789abcdef0123456789abcdef";
/// AWS, August and September 2024.
const FIXTURE: &str = "tests/fixtures/cli/focus12_two_months.csv";

fn store(dir: &Path) -> SqliteStore {
    let mut s = SqliteStore::open(&dir.join("costkit.db")).unwrap();
    load_repo_file(&mut s, FIXTURE);
    s
}

/// A plain HTTP/1.1 GET over a local port: (status, headers and body as text).
async fn get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    (status, text)
}

fn at(t: &str) -> DateTime<Utc> {
    t.parse().unwrap()
}

struct World {
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    sqlite: Arc<SharedStore<SqliteStore>>,
    blobs: Arc<DirBlobStore>,
    state: Arc<MemoryState>,
    sink: WebhookSink,
    receiver: String,
    api: String,
    totals: Decimal,
}

fn world() -> World {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let totals = usd_billed(&s, "2024-09");
    assert!(totals > Decimal::ZERO);
    let sqlite = Arc::new(SharedStore::new(s));
    let sink = WebhookSink::default();
    let receiver = rt.block_on(sink.serve()).unwrap();
    // The report API as deployed with links: no API key, so only signed links pass.
    let auth = Auth::api_keys([]).with_signing_key(SigningKey::new(SIGNING.as_bytes().to_vec()));
    let mut config = ApiConfig::new(auth);
    // The API's clock on the day after the monthly run, so the 7-day link is still valid.
    config.clock = Arc::new(|| at("2024-10-02T12:00:00Z"));
    let app = costkit_http::router(sqlite.clone(), config);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let api = format!("http://{}/", listener.local_addr().unwrap());
    rt.spawn(costkit_http::serve(listener, app, std::future::pending()));
    World {
        blobs: Arc::new(DirBlobStore::new(dir.path().join("bucket"))),
        state: Arc::new(MemoryState::default()),
        rt,
        _dir: dir,
        sqlite,
        sink,
        receiver,
        api,
        totals,
    }
}

impl World {
    fn settings(&self, base: Option<&str>, signing: bool) -> NotifySettings {
        let mut m = BTreeMap::new();
        m.insert("SIGNING".to_string(), SIGNING.to_string());
        m.insert("HOOK".to_string(), "whsec-2".to_string());
        let lookup: SecretLookup =
            Arc::new(move |id: &str| m.get(id).cloned().ok_or_else(|| format!("no secret {id}")));
        let mut s = NotifySettings::new(KEY, "queue", lookup);
        s.report_base_url = base.map(str::to_string);
        if signing {
            s.signing_key_secret =
                Some(("COSTKIT_SIGNING_KEY_SECRET_ARN".into(), "SIGNING".into()));
        }
        s
    }

    fn run(&self, s: NotifySettings, cadence: ReportCadence, now: &str) -> Result<Value, String> {
        let env = ScheduledReportEnv {
            store: self.sqlite.clone(),
            blobs: self.blobs.clone(),
            state: self.state.clone(),
            alerts: None,
            settings: s,
            engines: EngineConfig::default(),
        };
        self.rt
            .block_on(scheduled_report_run(env, cadence, at(now)))
            .map_err(|e| e.to_string())
    }
}

#[test]
fn the_monthly_report_is_stored_sent_once_per_channel_and_its_link_opens_it() {
    let w = world();
    let r = &w.receiver;
    w.blobs
        .put_bytes(
            KEY,
            format!(
                "version: 1\nchannels:\n  - name: slack\n    type: slack\n    url: {r}/slack\n  - name: hook\n    type: webhook\n    url: {r}/hook\n    signing_secret: {{secret: HOOK}}\n  - name: pager\n    type: webhook\n    url: {r}/pager\n    signing_secret: {{secret: HOOK}}\nroutes:\n  - channel: slack\n    mode: weekly\n  - channel: hook\n  - channel: pager\n    min_severity: critical\n"
            )
            .as_bytes(),
            "application/yaml",
        )
        .unwrap();
    let s = w.settings(Some(&w.api), true);
    let out = w
        .run(s.clone(), ReportCadence::Monthly, "2024-10-01T08:00:00Z")
        .unwrap();
    assert_eq!(
        out["deliveries"],
        json!({"slack": "sent", "hook": "sent"}),
        "{out}"
    );
    assert_eq!(out["report"], "report-monthly-2024-09");

    // Both files are in the blob store.
    let html = w
        .blobs
        .get_bytes("reports/monthly/2024-09/2024-09.html")
        .unwrap();
    assert!(String::from_utf8(html).unwrap().contains("<svg"));
    let csv = w
        .blobs
        .get_bytes("reports/monthly/2024-09/2024-09.csv")
        .unwrap();
    assert!(!csv.is_empty());

    // The webhook: once, signed, the store's total, and a link the report API opens.
    let hooks = w.sink.received("/hook");
    assert_eq!(hooks.len(), 1);
    let h = &hooks[0];
    webhook::verify(
        b"whsec-2",
        &h.headers["x-costkit-timestamp"],
        &h.headers["x-costkit-signature"],
        &h.body,
        Utc::now().timestamp(),
        300,
    )
    .unwrap();
    let body: Value = serde_json::from_slice(&h.body).unwrap();
    assert_eq!(body["type"], "report");
    let total: Decimal = body["report"]["totals"]["USD"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(total, w.totals);
    let link = body["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}reports/2024-09.html?", w.api)),
        "{link}"
    );
    let (status, page) = w.rt.block_on(get(link));
    assert_eq!(status, 200, "{page}");
    assert!(page
        .to_ascii_lowercase()
        .contains("content-type: text/html"));
    assert!(page.contains("2024-09"));
    // The same path unsigned or with a forged signature is refused.
    let (status, _) =
        w.rt.block_on(get(&format!("{}reports/2024-09.html", w.api)));
    assert_eq!(status, 401);
    let forged = format!("{}0", &link[..link.len() - 1]);
    let forged = if forged == link {
        format!("{}1", &link[..link.len() - 1])
    } else {
        forged
    };
    assert_eq!(w.rt.block_on(get(&forged)).0, 403);

    // Slack: a summary with the total and the link; the pager route (critical only) got nothing.
    let slack = w.sink.received("/slack");
    assert_eq!(slack.len(), 1);
    let msg = String::from_utf8(slack[0].body.clone()).unwrap();
    assert!(msg.contains("monthly report 2024-09"), "{msg}");
    assert!(msg.contains("/reports/2024-09.html?expires="), "{msg}");
    assert!(w.sink.received("/pager").is_empty());

    // A second run (a scheduler retry) sends nothing new.
    let again = w
        .run(s, ReportCadence::Monthly, "2024-10-01T09:00:00Z")
        .unwrap();
    assert_eq!(
        again["deliveries"],
        json!({"slack": "duplicate", "hook": "duplicate"})
    );
    assert_eq!(w.sink.received("/hook").len(), 1);
    assert_eq!(w.sink.received("/slack").len(), 1);
}

#[test]
fn a_scheduled_report_without_base_url_or_signing_key_fails_naming_the_setting() {
    let w = world();
    w.blobs
        .put_bytes(
            KEY,
            format!(
                "version: 1\nchannels:\n  - name: hook\n    type: webhook\n    url: {}/hook\n    signing_secret: {{secret: HOOK}}\nroutes:\n  - channel: hook\n",
                w.receiver
            )
            .as_bytes(),
            "application/yaml",
        )
        .unwrap();
    let e = w
        .run(
            w.settings(None, true),
            ReportCadence::Weekly,
            "2024-09-16T08:00:00Z",
        )
        .unwrap_err();
    assert!(e.contains("COSTKIT_REPORT_BASE_URL"), "{e}");
    let e = w
        .run(
            w.settings(Some(&w.api), false),
            ReportCadence::Weekly,
            "2024-09-16T08:00:00Z",
        )
        .unwrap_err();
    assert!(e.contains("COSTKIT_SIGNING_KEY_SECRET_ARN"), "{e}");
    // Nothing was rendered or sent.
    assert!(w
        .blobs
        .get_bytes("reports/weekly/2024-09-16/2024-09.html")
        .is_err());
}
