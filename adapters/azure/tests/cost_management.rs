//! The Cost Management client and the Entra ID token sources against a local HTTP server that
//! answers like the services: the documented Query response shape, `nextLink` paging, 429 with
//! the `x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers, 204, errors; the OAuth2
//! client-credentials and managed-identity token endpoints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use costkit_azure::auth::{TokenKind, TokenSource, ARM_RESOURCE};
use costkit_azure::cost_management::{CmQuery, CmSource, CostManagement};
use costkit_azure::http::RetryPolicy;
use costkit_azure::testkit::Replay;
use costkit_core::breakdown::DayRange;
use costkit_core::flow::ingest::CostSource;
use costkit_core::input::Progress;
use costkit_core::normalize::{plan, Dialect};
use rust_decimal::Decimal;
use serde_json::{json, Value};

async fn serve(replay: Replay) -> String {
    replay.serve().await.expect("serve")
}

const SCOPE: &str = "/subscriptions/00000000-0000-0000-0000-000000000001";

use costkit_azure::testkit::query_page as page;

fn token_body() -> String {
    json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "tok-1"}).to_string()
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
        max_wait: Duration::from_secs(5),
    }
}

fn client(base: &str) -> CostManagement {
    let tokens = TokenSource::new(
        TokenKind::ClientCredentials {
            authority: base.to_string(),
            tenant_id: "tenant-1".into(),
            client_id: "app-1".into(),
            client_secret: "s3cret".into(),
        },
        ARM_RESOURCE,
    );
    CostManagement::new(
        costkit_azure::http::transport(policy()).expect("transport"),
        Arc::new(tokens),
        base,
    )
    .expect("client")
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

#[test]
fn a_month_is_paged_throttled_and_normalized_exactly() {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let replay = Replay::default();
    let base = rt.block_on(serve(replay.clone()));
    let next = format!(
        "{base}{SCOPE}/providers/Microsoft.CostManagement/query?api-version=2023-11-01&$skiptoken=AQAAAA%3D%3D"
    );
    replay.push(200, &[("content-type", "application/json")], token_body());
    // Actual: throttled once (two throttling dimensions; the longer wait applies), then two pages.
    replay.push(
        429,
        &[
            (
                "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
                "1",
            ),
            (
                "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
                "2",
            ),
            ("content-type", "application/json"),
        ],
        json!({"error": {"code": "429", "message": "Too many requests. Please retry."}})
            .to_string(),
    );
    replay.push(
        200,
        &[("content-type", "application/json")],
        page(
            r#"[[12.3456789012345678, 20240901, "Virtual Machines", "sub-a", "USD"]]"#,
            Some(next.clone()),
        ),
    );
    replay.push(
        200,
        &[("content-type", "application/json")],
        page(
            r#"[[0.0418432545174565, 20240902, "Storage", "sub-a", "USD"]]"#,
            None,
        ),
    );
    // Amortized: one page; then a 503 first to show plain server errors are retried too.
    replay.push(503, &[("retry-after", "0")], String::new());
    replay.push(
        200,
        &[("content-type", "application/json")],
        page(
            r#"[[10.1, 20240901, "Virtual Machines", "sub-a", "USD"], [0.0418432545174565, 20240902, "Storage", "sub-a", "USD"]]"#,
            None,
        ),
    );

    let source = CmSource::new(
        client(&base),
        SCOPE,
        CmSource::default_grouping(),
        rt.handle().clone(),
    );
    let started = Instant::now();
    let docs = source
        .fetch(&DayRange {
            start: d("2024-09-01"),
            end: d("2024-10-01"),
        })
        .expect("fetch");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the 2 s Retry-After was honoured"
    );
    assert_eq!(docs.len(), 1, "one document per month");

    let seen = replay.seen();
    assert_eq!(seen.len(), 6, "{seen:#?}");
    assert_eq!(seen[0].path_and_query, "/tenant-1/oauth2/v2.0/token");
    assert!(seen[0].body.contains("grant_type=client_credentials"));
    assert!(seen[0]
        .body
        .contains("scope=https%3A%2F%2Fmanagement.azure.com%2F.default"));
    for s in &seen[1..] {
        assert_eq!(s.method, "POST");
        assert!(s.path_and_query.starts_with(&format!(
            "{SCOPE}/providers/Microsoft.CostManagement/query?api-version=2023-11-01"
        )));
        assert!(
            s.headers
                .iter()
                .any(|(k, v)| k == "authorization" && v == "Bearer tok-1"),
            "token cached and sent"
        );
    }
    assert!(
        seen[3].path_and_query.ends_with("$skiptoken=AQAAAA%3D%3D"),
        "nextLink followed"
    );
    let body: Value = serde_json::from_str(&seen[1].body).expect("body");
    assert_eq!(body["type"], "ActualCost");
    assert_eq!(body["timeframe"], "Custom");
    assert_eq!(body["timePeriod"]["from"], "2024-09-01T00:00:00+00:00");
    assert_eq!(body["timePeriod"]["to"], "2024-09-30T23:59:59+00:00");
    assert_eq!(body["dataset"]["granularity"], "Daily");
    assert_eq!(body["dataset"]["grouping"][1]["name"], "SubscriptionId");
    assert_eq!(
        seen[3].body, seen[1].body,
        "the same body is posted to the nextLink"
    );
    let amortized: Value = serde_json::from_str(&seen[5].body).expect("body");
    assert_eq!(amortized["type"], "AmortizedCost");

    // The document goes through the core's normalizer: exact sums on both bases.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("page-0000.json");
    std::fs::write(&path, &docs[0]).expect("write");
    let jobs = plan(&[path], None).expect("plan");
    assert_eq!(jobs[0].dialect, Dialect::AzureCostQuery);
    let recs: Vec<_> = jobs[0]
        .open(&Progress::default())
        .expect("open")
        .collect::<Result<_, _>>()
        .expect("records");
    assert_eq!(recs.len(), 2);
    let billed: Decimal = recs.iter().map(|r| r.billed_cost).sum();
    let effective: Decimal = recs.iter().map(|r| r.effective_cost).sum();
    assert_eq!(
        billed,
        "12.3875221557520243".parse::<Decimal>().expect("dec")
    );
    assert_eq!(
        effective,
        "10.1418432545174565".parse::<Decimal>().expect("dec")
    );
}

fn query() -> CmQuery {
    CmQuery {
        scope: SCOPE.into(),
        kind: "ActualCost".into(),
        from: d("2024-09-01"),
        to: d("2024-10-01"),
        grouping: CmSource::default_grouping(),
    }
}

#[test]
fn waits_longer_than_allowed_errors_and_bad_links_fail_clearly() {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let replay = Replay::default();
    let base = rt.block_on(serve(replay.clone()));
    let cm = client(&base);
    replay.push(200, &[], token_body());

    // Asked to wait 120 s (policy allows 5): fail at once, saying so.
    replay.push(
        429,
        &[(
            "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
            "120",
        )],
        String::new(),
    );
    let e = rt
        .block_on(cm.query(&query()))
        .expect_err("too long a wait");
    assert!(e.to_string().contains("asks to wait 120 s"), "{e}");

    // 403 names the scope and the service's code.
    replay.push(
        403,
        &[("content-type", "application/json")],
        json!({"error": {"code": "AuthorizationFailed", "message": "The client does not have authorization to perform action 'Microsoft.CostManagement/query/action'."}}).to_string(),
    );
    let e = rt.block_on(cm.query(&query())).expect_err("forbidden");
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 403") && msg.contains("AuthorizationFailed") && msg.contains(SCOPE),
        "{msg}"
    );

    // A nextLink to another host is not followed with the token.
    replay.push(
        200,
        &[],
        page("[]", Some("https://evil.example/steal".into())),
    );
    let e = rt.block_on(cm.query(&query())).expect_err("foreign link");
    assert!(e.to_string().contains("another host"), "{e}");

    // A repeating nextLink is an error, not a loop.
    let link = format!("{base}{SCOPE}/providers/Microsoft.CostManagement/query?api-version=2023-11-01&$skiptoken=x");
    replay.push(200, &[], page("[]", Some(link.clone())));
    replay.push(200, &[], page("[]", Some(link)));
    let e = rt.block_on(cm.query(&query())).expect_err("loop");
    assert!(e.to_string().contains("repeats"), "{e}");

    // Persistent 503: bounded attempts.
    for _ in 0..4 {
        replay.push(503, &[], "busy".into());
    }
    let e = rt.block_on(cm.query(&query())).expect_err("503");
    assert!(e.to_string().contains("gave up after 4 attempts"), "{e}");

    // 204: no data, one empty page.
    replay.push(204, &[], String::new());
    let pages = rt.block_on(cm.query(&query())).expect("204");
    assert_eq!(pages.len(), 1);
    let v: Value = serde_json::from_str(pages[0].get()).expect("json");
    assert_eq!(v["properties"]["rows"], json!([]));
}

#[test]
fn managed_identity_tokens_come_from_the_identity_endpoint_and_are_cached() {
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let replay = Replay::default();
    let base = rt.block_on(serve(replay.clone()));
    let expires = chrono::Utc::now().timestamp() + 3600;
    replay.push(
        200,
        &[],
        json!({"access_token": "mi-tok", "expires_on": expires.to_string(), "resource": "https://storage.azure.com", "token_type": "Bearer"}).to_string(),
    );
    let t = TokenSource::new(
        TokenKind::ManagedIdentity {
            endpoint: format!("{base}/msi/token"),
            header: "hdr-secret".into(),
            client_id: Some("uami-1".into()),
        },
        "https://storage.azure.com",
    );
    let http = reqwest::Client::new();
    assert_eq!(rt.block_on(t.token(&http)).expect("token"), "mi-tok");
    assert_eq!(rt.block_on(t.token(&http)).expect("cached"), "mi-tok");
    let seen = replay.seen();
    assert_eq!(seen.len(), 1, "the second call used the cache");
    assert_eq!(seen[0].method, "GET");
    assert!(seen[0]
        .path_and_query
        .contains("resource=https%3A%2F%2Fstorage.azure.com"));
    assert!(seen[0].path_and_query.contains("api-version=2019-08-01"));
    assert!(seen[0].path_and_query.contains("client_id=uami-1"));
    assert!(seen[0]
        .headers
        .iter()
        .any(|(k, v)| k == "x-identity-header" && v == "hdr-secret"));

    // An expired token is fetched again; an error names the endpoint's status.
    replay.push(400, &[], json!({"error": "invalid_request"}).to_string());
    let t2 = TokenSource::new(
        TokenKind::ManagedIdentity {
            endpoint: format!("{base}/msi/token"),
            header: "hdr-secret".into(),
            client_id: None,
        },
        "https://storage.azure.com",
    );
    let e = rt.block_on(t2.token(&http)).expect_err("refused");
    assert!(e.to_string().contains("HTTP 400"), "{e}");
}
