//! The router served on 127.0.0.1 over a real SQLite store loaded from fixtures, called over HTTP
//! with hyper's client: authentication, signed links, caching headers, compression, errors, and
//! totals equal to the store's.

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use costkit_core::store::{CostStore, Filter, StoreError};
use costkit_http::{router, sign_path, ApiConfig, ApiKeyHash, Auth, OpenPerRequest, SigningKey};
use costkit_sqlite::SqliteStore;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper::StatusCode;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rust_decimal::Decimal;
use serde_json::Value;

const KEY: &str = "ck_test_2f9c1e7a58b64d0e9a13";
const SIGNING: &[u8] = b"signing-key-for-tests-0123456789abcdef";

struct Server {
    addr: SocketAddr,
    store: PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start(auth: Auth, files: &[&str]) -> Server {
    start_with(ApiConfig::new(auth), files).await
}

async fn start_with(config: ApiConfig, files: &[&str]) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = common::store_file(dir.path(), files);
    let path = store.clone();
    let access = Arc::new(OpenPerRequest::new(
        move || -> Result<SqliteStore, StoreError> { SqliteStore::open(&path) },
    ));
    let app = router(access, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        costkit_http::serve(listener, app, async {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    Server {
        addr,
        store,
        _dir: dir,
        stop: Some(tx),
    }
}

fn keyed() -> Auth {
    Auth::api_keys([ApiKeyHash::of(KEY)]).with_signing_key(SigningKey::new(SIGNING.to_vec()))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Empty::new()).expect("request"))
        .await
        .expect("response");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes().to_vec();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

fn bearer() -> String {
    format!("Bearer {KEY}")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn without_credentials_everything_but_healthz_is_401() {
    let s = start(keyed(), &[common::TWO_MONTHS]).await;
    let h = get(s.addr, "/healthz", &[]).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.json()["status"], "ok");
    for path in [
        "/reports/2024-09.json",
        "/reports/2024-09.csv",
        "/reports/2024-13.json",
        "/dashboard",
        "/no/such/route",
    ] {
        let a = get(s.addr, path, &[]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(a.header("www-authenticate"), "Bearer realm=\"costkit\"");
        assert_eq!(a.header("content-type"), "application/json");
        assert!(a.json()["error"]
            .as_str()
            .expect("error")
            .contains("API key"));
    }
    let wrong = get(
        s.addr,
        "/reports/2024-09.json",
        &[("authorization", "Bearer not-the-key")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["error"], "invalid API key");
    let wrong = get(s.addr, "/reports/2024-09.json", &[("x-api-key", "nope")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn no_key_configured_means_closed() {
    let s = start(Auth::default(), &[common::TWO_MONTHS]).await;
    assert_eq!(get(s.addr, "/healthz", &[]).await.status, StatusCode::OK);
    for headers in [
        vec![],
        vec![("authorization", "Bearer anything")],
        vec![("x-api-key", "")],
    ] {
        let a = get(s.addr, "/reports/2024-09.json", &headers).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert!(a.json()["error"]
            .as_str()
            .expect("error")
            .contains("no API key is configured"));
    }
    // A signed link made with some key is not accepted when the server has none.
    let link = sign_path(
        &SigningKey::new(SIGNING.to_vec()),
        "/reports/2024-09.json",
        now() + 600,
    );
    assert_eq!(
        get(s.addr, &link, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn keyed_requests_get_the_report_with_download_headers() {
    let s = start(keyed(), &[common::TWO_MONTHS, common::MULTI]).await;
    let b = bearer();
    let a = get(s.addr, "/reports/2024-09.json", &[("authorization", &b)]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/json");
    assert_eq!(
        a.header("content-disposition"),
        "attachment; filename=\"costkit-report-2024-09.json\""
    );
    assert_eq!(a.header("vary"), "Accept-Encoding");
    assert_eq!(a.header("cache-control"), "private, no-cache");
    assert_eq!(a.header("content-encoding"), "");
    let etag = a.header("etag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34,
        "{etag}"
    );

    // JSON totals equal the store's sums.
    let doc = a.json();
    let st = SqliteStore::open(&s.store).expect("store");
    let filter = Filter {
        billing_period: Some("2024-09".into()),
        provider: None,
    };
    let totals = doc["totals"].as_array().expect("totals");
    assert_eq!(totals.len(), 1);
    let (billed, effective) = common::store_sums(&st, &filter, "USD");
    let dec = |v: &Value| -> Decimal { v.as_str().expect("string").parse().expect("decimal") };
    assert_eq!(dec(&totals[0]["billed"]), billed);
    assert_eq!(dec(&totals[0]["effective"]), effective);
    assert!(billed > Decimal::ZERO);

    // The same key as x-api-key; the CSV with its own type and name.
    let c = get(s.addr, "/reports/2024-09.csv", &[("x-api-key", KEY)]).await;
    assert_eq!(c.status, StatusCode::OK);
    assert_eq!(
        c.header("content-type"),
        "text/csv; charset=utf-8; header=present"
    );
    assert_eq!(
        c.header("content-disposition"),
        "attachment; filename=\"costkit-report-2024-09.csv\""
    );
    let text = String::from_utf8(c.body.clone()).expect("utf-8");
    assert!(text.starts_with("section,dimension,group,day,currency,metric,value\n"));
    assert!(text.contains(&format!("total,,,,USD,billed,{billed}\n")));

    // Provider scope: AWS only, named in the file name.
    let p = get(
        s.addr,
        "/reports/2024-09.json?provider=AWS",
        &[("authorization", &b)],
    )
    .await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        p.header("content-disposition"),
        "attachment; filename=\"costkit-report-2024-09-aws.json\""
    );
    let aws = common::store_sums(
        &st,
        &Filter {
            billing_period: Some("2024-09".into()),
            provider: Some("AWS".into()),
        },
        "USD",
    );
    assert_eq!(dec(&p.json()["totals"][0]["billed"]), aws.0);
    assert!(aws.0 < billed);
}

#[tokio::test]
async fn etags_give_304_and_compression_follows_accept_encoding() {
    let s = start(keyed(), &[common::TWO_MONTHS, common::MULTI]).await;
    let b = bearer();
    let plain = get(s.addr, "/reports/2024-09.csv", &[("authorization", &b)]).await;
    let etag = plain.header("etag").to_string();

    let again = get(
        s.addr,
        "/reports/2024-09.csv",
        &[("authorization", &b), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), etag);
    // Another tag: full answer.
    let other = get(
        s.addr,
        "/reports/2024-09.csv",
        &[("authorization", &b), ("if-none-match", "\"0123\"")],
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body, plain.body);

    let gz = get(
        s.addr,
        "/reports/2024-09.csv",
        &[("authorization", &b), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.header("content-encoding"), "gzip");
    assert!(gz.body.len() < plain.body.len() / 3);
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut unzipped)
        .expect("gunzip");
    assert_eq!(unzipped, plain.body);
    let gz_tag = gz.header("etag").to_string();
    assert_eq!(gz_tag, format!("{}-gzip\"", &etag[..etag.len() - 1]));
    // The gzip tag revalidates the gzip representation, not the plain one.
    let gz304 = get(
        s.addr,
        "/reports/2024-09.csv",
        &[
            ("authorization", &b),
            ("accept-encoding", "gzip"),
            ("if-none-match", &gz_tag),
        ],
    )
    .await;
    assert_eq!(gz304.status, StatusCode::NOT_MODIFIED);
    let plain_with_gz_tag = get(
        s.addr,
        "/reports/2024-09.csv",
        &[("authorization", &b), ("if-none-match", &gz_tag)],
    )
    .await;
    assert_eq!(plain_with_gz_tag.status, StatusCode::OK);

    // A browser's `gzip, deflate, br` gets gzip (brotli is not offered); `br` alone gets the
    // plain body.
    let browser = get(
        s.addr,
        "/reports/2024-09.json",
        &[
            ("authorization", &b),
            ("accept-encoding", "gzip, deflate, br"),
        ],
    )
    .await;
    assert_eq!(browser.header("content-encoding"), "gzip");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&browser.body[..])
        .read_to_end(&mut out)
        .expect("gunzip");
    let doc: Value = serde_json::from_slice(&out).expect("json");
    assert_eq!(doc["period"]["label"], "2024-09");
    let br_only = get(
        s.addr,
        "/reports/2024-09.json",
        &[("authorization", &b), ("accept-encoding", "br")],
    )
    .await;
    assert_eq!(br_only.header("content-encoding"), "");
    let doc: Value = serde_json::from_slice(&br_only.body).expect("json");
    assert_eq!(doc["period"]["label"], "2024-09");
}

#[tokio::test]
async fn signed_links_work_until_they_expire_and_cannot_be_forged() {
    let s = start(keyed(), &[common::TWO_MONTHS]).await;
    let key = SigningKey::new(SIGNING.to_vec());
    let link = sign_path(&key, "/reports/2024-09.csv", now() + 3600);
    let ok = get(s.addr, &link, &[]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&ok.body).contains("total,,,,USD,billed,27.65"));

    let expired = sign_path(&key, "/reports/2024-09.csv", now() - 60);
    let a = get(s.addr, &expired, &[]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json()["error"], "this link has expired");

    // Forged: another key, an edited path, an edited expiry, garbage.
    let foreign = sign_path(
        &SigningKey::new(b"guess".to_vec()),
        "/reports/2024-09.csv",
        now() + 3600,
    );
    let moved = link.replace("2024-09", "2024-08");
    let extended = {
        let (base, _) = link.split_once("expires=").expect("expires");
        let sig = link.split_once("sig=").expect("sig").1;
        format!("{base}expires={}&sig={sig}", now() + 999_999)
    };
    for forged in [
        foreign,
        moved,
        extended,
        "/reports/2024-09.csv?expires=1&sig=zz".to_string(),
    ] {
        let a = get(s.addr, &forged, &[]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{forged}");
    }
    // A signed link scoped to a provider cannot be widened by dropping the scope.
    let scoped = sign_path(&key, "/reports/2024-09.json?provider=AWS", now() + 3600);
    assert_eq!(get(s.addr, &scoped, &[]).await.status, StatusCode::OK);
    let widened = scoped.replace("provider=AWS&", "");
    assert_eq!(
        get(s.addr, &widened, &[]).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn errors_are_json_with_the_right_status() {
    let s = start(keyed(), &[common::TWO_MONTHS]).await;
    let b = bearer();
    let cases = [
        (
            "/reports/2024-13.json",
            StatusCode::BAD_REQUEST,
            "not a billing period",
        ),
        (
            "/reports/latest.csv",
            StatusCode::BAD_REQUEST,
            "not a billing period",
        ),
        (
            "/reports/2030-01.json",
            StatusCode::NOT_FOUND,
            "no cost data for 2030-01",
        ),
        (
            "/reports/2024-09.json?provider=Oracle",
            StatusCode::NOT_FOUND,
            "no cost data for 2024-09 (provider Oracle)",
        ),
        (
            "/reports/2024-09.json?top=5",
            StatusCode::BAD_REQUEST,
            "unknown query parameter `top`",
        ),
        (
            "/reports/2024-09.pdf",
            StatusCode::NOT_FOUND,
            "no report format",
        ),
        (
            "/focus/2024-09.parquet",
            StatusCode::NOT_FOUND,
            "no FOCUS files are configured",
        ),
        (
            "/focus/2024-09.json",
            StatusCode::NOT_FOUND,
            "no FOCUS format",
        ),
        (
            "/dashboard/data.json?x=1",
            StatusCode::BAD_REQUEST,
            "unknown query parameter `x`",
        ),
        ("/nothing", StatusCode::NOT_FOUND, "no such route"),
    ];
    for (path, status, message) in cases {
        let a = get(s.addr, path, &[("authorization", &b)]).await;
        assert_eq!(a.status, status, "{path}");
        assert_eq!(a.header("content-type"), "application/json", "{path}");
        let err = a.json()["error"].as_str().expect("error").to_string();
        assert!(err.contains(message), "{path}: {err}");
    }
}

#[tokio::test]
async fn platform_mode_lets_requests_through_only_when_chosen() {
    let s = start(Auth::platform_authenticated(), &[common::TWO_MONTHS]).await;
    let a = get(s.addr, "/reports/2024-09.json", &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["totals"][0]["billed"], "27.65");
}

/// Requests run side by side: each opens its own SQLite connection on the blocking pool.
#[tokio::test]
async fn concurrent_requests_agree() {
    let s = start(keyed(), &[common::TWO_MONTHS, common::MULTI]).await;
    let b = bearer();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let addr = s.addr;
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            get(addr, "/reports/2024-09.json", &[("authorization", &b)])
                .await
                .header("etag")
                .to_string()
        }));
    }
    let mut tags = Vec::new();
    for t in tasks {
        tags.push(t.await.expect("task"));
    }
    tags.dedup();
    assert_eq!(tags.len(), 1, "{tags:?}");
    let st = SqliteStore::open(&s.store).expect("store");
    assert!(!st.daily(&Filter::default()).expect("rows").is_empty());
}

/// One store shared by every request (how a Lambda keeps its DynamoDB client), and HEAD requests:
/// same headers as GET, no body.
#[tokio::test]
async fn a_shared_store_serves_and_head_has_no_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = common::store_file(dir.path(), &[common::TWO_MONTHS]);
    let store = SqliteStore::open(&path).expect("open");
    let app = router(
        Arc::new(costkit_http::SharedStore::new(store)),
        ApiConfig::new(keyed()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        costkit_http::serve(listener, app, std::future::pending())
            .await
            .expect("serve");
    });
    let b = bearer();
    let got = get(addr, "/reports/2024-08.json", &[("authorization", &b)]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["totals"][0]["billed"], "1024.5");

    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let link = sign_path(
        &SigningKey::new(SIGNING.to_vec()),
        "/reports/2024-08.json",
        now() + 60,
    );
    let req = hyper::Request::head(format!("http://{addr}{link}"))
        .body(Empty::new())
        .expect("request");
    let resp = client.request(req).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some(got.header("etag"))
    );
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert!(body.is_empty());
}

#[tokio::test]
async fn html_and_xlsx_reports_download_with_their_headers() {
    let s = start(keyed(), &[common::TWO_MONTHS]).await;
    let b = bearer();
    let a = get(
        s.addr,
        "/reports/2024-09.html",
        &[("authorization", &b), ("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(
        a.header("content-disposition"),
        "inline; filename=\"costkit-report-2024-09.html\""
    );
    assert_eq!(a.header("content-encoding"), "gzip");
    assert!(a.header("etag").ends_with("-gzip\""));
    assert!(a
        .header("content-security-policy")
        .starts_with("default-src 'none'"));
    let mut html = String::new();
    flate2::read::GzDecoder::new(&a.body[..])
        .read_to_string(&mut html)
        .expect("gunzip");
    assert!(html.contains("27.65"), "the total is on the page");
    assert!(html.contains("data-chart=\"daily-forecast\""));
    // The forecast engine is on by default: the section is filled, not "not configured".
    assert!(!html.contains("Forecasting is not configured."));

    let a = get(
        s.addr,
        "/reports/2024-09.xlsx",
        &[("authorization", &b), ("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.header("content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        a.header("content-disposition"),
        "attachment; filename=\"costkit-report-2024-09.xlsx\""
    );
    // Already a zip: sent as it is.
    assert_eq!(a.header("content-encoding"), "");
    assert_eq!(&a.body[..2], b"PK");
    let tag = a.header("etag").to_string();
    let again = get(
        s.addr,
        "/reports/2024-09.xlsx",
        &[("authorization", &b), ("if-none-match", &tag)],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);

    // Unauthenticated: 401; a forged link: 403.
    assert_eq!(
        get(s.addr, "/reports/2024-09.html", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    let forged = format!(
        "/reports/2024-09.xlsx?expires={}&sig={}",
        now() + 60,
        "0".repeat(64)
    );
    assert_eq!(
        get(s.addr, &forged, &[]).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_focus_slice_comes_from_the_blob_store() {
    // The normalize flow's layout: FOCUS Parquet parts under focus/billing_period=YYYY-MM/.
    let blobs_dir = tempfile::tempdir().expect("tempdir");
    let part = blobs_dir
        .path()
        .join("focus/billing_period=2024-09/job1-part-00000.parquet");
    std::fs::create_dir_all(part.parent().expect("parent")).expect("mkdir");
    let jobs = costkit_core::normalize::plan(&[common::repo_file(common::TWO_MONTHS)], None)
        .expect("plan");
    let columns = costkit_core::output::OutputColumns::new(
        costkit_core::pipeline::extension_columns(&jobs).expect("columns"),
    );
    let pending = costkit_core::output::PendingFile::create(&part).expect("pending");
    let mut sink = costkit_core::output::open_sink(&pending, columns).expect("sink");
    costkit_core::pipeline::run(
        &jobs,
        &Default::default(),
        Some(sink.as_mut()),
        None,
        &mut || {},
    )
    .expect("write");
    sink.finish().expect("finish");
    pending.commit().expect("commit");

    let mut config = ApiConfig::new(keyed());
    config.blobs = Some(Arc::new(costkit_core::local::DirBlobStore::new(
        blobs_dir.path(),
    )));
    let s = start_with(config, &[common::TWO_MONTHS]).await;
    let b = bearer();
    let a = get(s.addr, "/focus/2024-09.csv", &[("authorization", &b)]).await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    assert_eq!(
        a.header("content-type"),
        "text/csv; charset=utf-8; header=present"
    );
    assert_eq!(
        a.header("content-disposition"),
        "attachment; filename=\"costkit-focus-2024-09.csv\""
    );
    // Every record of the part (the whole fixture: both months, as normalize wrote it), with the
    // fixture's own total (Σ BilledCost of the CSV file: 1052.15).
    let mut rd = csv::Reader::from_reader(&a.body[..]);
    let idx = rd
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "BilledCost")
        .expect("BilledCost");
    let total: Decimal = rd
        .records()
        .map(|r| r.expect("row")[idx].parse::<Decimal>().expect("decimal"))
        .sum();
    assert_eq!(total.normalize().to_string(), "1052.15");

    let p = get(s.addr, "/focus/2024-09.parquet", &[("authorization", &b)]).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(p.header("content-type"), "application/vnd.apache.parquet");
    assert_eq!(&p.body[..4], b"PAR1");
    assert_eq!(
        get(s.addr, "/focus/2024-07.parquet", &[("authorization", &b)])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(s.addr, "/focus/2024-09.csv", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_dashboard_signs_its_own_data_link() {
    let s = start(keyed(), &[common::TWO_MONTHS]).await;
    let key = SigningKey::new(SIGNING.to_vec());
    let expires = now() + 600;
    let link = sign_path(&key, "/dashboard", expires);
    let a = get(s.addr, &link, &[]).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(a.header("cache-control"), "no-store");
    assert!(a
        .header("content-security-policy")
        .contains("script-src 'sha256-"));
    let html = String::from_utf8(a.body.clone()).expect("utf-8");
    let start_at = html.find("name=\"costkit-data\" content=\"").expect("meta") + 29;
    let data_link = html[start_at..]
        .split('"')
        .next()
        .expect("link")
        .replace("&amp;", "&");
    assert!(
        data_link.contains(&format!("expires={expires}")),
        "{data_link}"
    );
    let d = get(s.addr, &data_link, &[]).await;
    assert_eq!(d.status, StatusCode::OK);
    let j = d.json();
    let rows = j["rows"].as_array().expect("rows");
    let sum: Decimal = rows
        .iter()
        .map(|r| {
            r[6].as_str()
                .expect("billed")
                .parse::<Decimal>()
                .expect("dec")
        })
        .sum();
    // Every row of the store (the fixture's two months are within the dashboard's window).
    assert_eq!(sum.normalize().to_string(), "1052.15");
    // The page's link cannot be reused for another path, and the data needs credentials.
    assert_eq!(
        get(
            s.addr,
            &data_link.replace("/dashboard/data.json", "/reports/2024-09.json"),
            &[]
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(s.addr, "/dashboard/data.json", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}
