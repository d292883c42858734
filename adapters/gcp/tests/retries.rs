//! Retry paths of the Google Cloud calls against the replay server: transient statuses on every
//! service, Firestore's `ABORTED` commits, and errors that must not be retried.

use std::time::Duration;

use costkit_gcp::firestore::{value, write, Firestore, Precondition};
use costkit_gcp::testkit::Replay;
use costkit_gcp::{Endpoint, Gcp, GcpError, RetryPolicy, Service};
use serde_json::Map;

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_wait: Duration::from_secs(2),
    }
}

async fn firestore(replay: &Replay) -> Firestore {
    let base = replay.serve().await.expect("serve");
    let gcp = Gcp::new("p", fast(), None).expect("gcp").with_endpoint(
        Service::Firestore,
        Endpoint::emulator("FIRESTORE_EMULATOR_HOST", &base).expect("endpoint"),
    );
    Firestore::new(&gcp)
}

fn one_write(db: &Firestore) -> Vec<serde_json::Value> {
    let mut f = Map::new();
    f.insert("a".into(), value::int(1));
    vec![write::update(&db.name("c/d"), f, None, &Precondition::None)]
}

const OK: &str = r#"{"writeResults":[{"updateTime":"2026-11-27T13:53:49.444607Z"}],"commitTime":"2026-11-27T13:53:49.444607Z"}"#;

fn aborted() -> String {
    r#"{"error":{"code":409,"message":"Too much contention on these documents. Please try again.","status":"ABORTED"}}"#.into()
}

#[tokio::test]
async fn an_aborted_commit_is_sent_again() {
    let replay = Replay::default();
    replay.push(409, &[], aborted());
    replay.push(409, &[], aborted());
    replay.push(200, &[], OK.into());
    let db = firestore(&replay).await;
    let r = db.commit("c/d", &one_write(&db)).await.expect("commit");
    assert_eq!(
        r[0].update_time.as_deref(),
        Some("2026-11-27T13:53:49.444607Z")
    );
    let seen = replay.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.method == "POST"
        && s.path_and_query == "/v1/projects/p/databases/(default)/documents:commit"
        && s.body == seen[0].body));
}

#[tokio::test]
async fn a_commit_that_keeps_aborting_gives_up_naming_it() {
    let replay = Replay::default();
    for _ in 0..8 {
        replay.push(409, &[], aborted());
    }
    let db = firestore(&replay).await;
    let err = db
        .commit("c/d", &one_write(&db))
        .await
        .expect_err("gives up");
    assert!(
        matches!(err, GcpError::RetriesExhausted(ref r) if r.attempts == 8),
        "{err}"
    );
    assert!(err.to_string().contains("ABORTED"), "{err}");
}

#[tokio::test]
async fn transient_statuses_are_retried_and_retry_after_honoured() {
    let replay = Replay::default();
    replay.push(
        429,
        &[("retry-after", "0")],
        r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#.into(),
    );
    replay.push(
        503,
        &[],
        r#"{"error":{"code":503,"status":"UNAVAILABLE"}}"#.into(),
    );
    replay.push(500, &[], "internal".into());
    replay.push(200, &[], OK.into());
    let db = firestore(&replay).await;
    db.commit("c/d", &one_write(&db)).await.expect("commit");
    assert_eq!(replay.seen().len(), 4);
}

#[tokio::test]
async fn a_lost_precondition_is_not_retried_and_is_a_conflict() {
    let replay = Replay::default();
    replay.push(
        400,
        &[],
        r#"{"error":{"code":400,"message":"the stored version (2) does not match the required base version (1)","status":"FAILED_PRECONDITION"}}"#.into(),
    );
    let db = firestore(&replay).await;
    let err = db
        .commit("c/d", &one_write(&db))
        .await
        .expect_err("conflict");
    assert!(err.is_conflict(), "{err}");
    assert_eq!(replay.seen().len(), 1);
    assert!(
        err.to_string().starts_with(
            "Firestore commit c/d: HTTP 400 (FAILED_PRECONDITION): the stored version"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_commit_above_the_write_limit_is_refused_before_sending() {
    let replay = Replay::default();
    let db = firestore(&replay).await;
    let writes: Vec<_> = (0..501).flat_map(|_| one_write(&db)).collect();
    let err = db.commit("big", &writes).await.expect_err("too many");
    assert!(err.to_string().contains("501 writes"), "{err}");
    assert!(replay.seen().is_empty());
}

async fn gcp_on(replay: &Replay, service: Service) -> Gcp {
    let base = replay.serve().await.expect("serve");
    Gcp::new("p", fast(), None).expect("gcp").with_endpoint(
        service,
        Endpoint::emulator(service.emulator_var(), &base).expect("endpoint"),
    )
}

#[tokio::test]
async fn a_streamed_upload_is_sent_whole_again_after_a_503() {
    let replay = Replay::default();
    replay.push(503, &[], "backend unavailable".into());
    replay.push(502, &[], "bad gateway".into());
    replay.push(200, &[], r#"{"kind":"storage#object","name":"k"}"#.into());
    let gcp = gcp_on(&replay, Service::Storage).await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("f.csv");
    // ASCII, as the replay server records bodies as text.
    let content: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&path, &content).expect("write");
    let bucket = costkit_gcp::gcs::Bucket::new(&gcp, "b");
    let n = bucket
        .put_file("exports/f.csv", &path, "text/csv")
        .await
        .expect("upload");
    assert_eq!(n, content.len() as u64);
    let seen = replay.seen();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(
            s.path_and_query,
            "/upload/storage/v1/b/b/o?uploadType=media&name=exports%2Ff.csv"
        );
        assert_eq!(
            s.body.len(),
            content.len(),
            "every attempt sends the whole file"
        );
        assert!(s
            .headers
            .iter()
            .any(|(k, v)| k == "content-length" && v == &content.len().to_string()));
    }
    assert_eq!(
        seen[2].body.as_bytes(),
        String::from_utf8_lossy(&content).as_bytes()
    );
}

#[tokio::test]
async fn downloads_and_listings_retry_gateway_timeouts() {
    let replay = Replay::default();
    replay.push(504, &[], String::new());
    replay.push(200, &[], "hello".into());
    replay.push(429, &[("retry-after", "0")], String::new());
    replay.push(
        200,
        &[],
        r#"{"items":[{"name":"a/1"}],"nextPageToken":"t1"}"#.into(),
    );
    replay.push(200, &[], r#"{"items":[{"name":"a/0"}]}"#.into());
    let gcp = gcp_on(&replay, Service::Storage).await;
    let bucket = costkit_gcp::gcs::Bucket::new(&gcp, "b");
    assert_eq!(bucket.get("a/x").await.expect("get"), b"hello");
    assert_eq!(
        bucket.list_paged("a/", 1).await.expect("list"),
        vec!["a/0".to_string(), "a/1".to_string()]
    );
    let seen = replay.seen();
    assert_eq!(seen[0].path_and_query, "/storage/v1/b/b/o/a%2Fx?alt=media");
    assert!(
        seen[4].path_and_query.contains("pageToken=t1"),
        "{}",
        seen[4].path_and_query
    );
}

#[tokio::test]
async fn publishing_retries_throttling_and_gives_up_naming_the_topic() {
    let replay = Replay::default();
    replay.push(
        429,
        &[],
        r#"{"error":{"code":429,"message":"Request throttled","status":"RESOURCE_EXHAUSTED"}}"#
            .into(),
    );
    replay.push(200, &[], r#"{"messageIds":["1"]}"#.into());
    for _ in 0..4 {
        replay.push(
            503,
            &[],
            r#"{"error":{"code":503,"status":"UNAVAILABLE"}}"#.into(),
        );
    }
    let gcp = gcp_on(&replay, Service::PubSub).await;
    let topic = costkit_gcp::pubsub::Topic::new(&gcp, "alerts");
    let m = costkit_gcp::pubsub::Outgoing {
        data: b"x".to_vec(),
        attributes: Default::default(),
    };
    assert_eq!(
        topic
            .publish(std::slice::from_ref(&m))
            .await
            .expect("published"),
        vec!["1".to_string()]
    );
    let err = topic
        .publish(std::slice::from_ref(&m))
        .await
        .expect_err("gives up")
        .to_string();
    assert!(
        err.starts_with("Pub/Sub publish projects/p/topics/alerts: gave up after 4 attempts"),
        "{err}"
    );
    assert_eq!(replay.seen().len(), 6);
}

#[tokio::test]
async fn retried_requests_to_google_keep_one_cached_token() {
    let meta = Replay::default();
    meta.push(500, &[], "metadata hiccup".into());
    meta.push(
        200,
        &[],
        r#"{"access_token":"ya29.t","expires_in":3599,"token_type":"Bearer"}"#.into(),
    );
    let meta_base = meta.serve().await.expect("serve");
    let api = Replay::default();
    api.push(503, &[], String::new());
    api.push(200, &[], OK.into());
    let api_base = api.serve().await.expect("serve");
    let server =
        std::sync::Arc::new(costkit_gcp::auth::MetadataServer::new(&meta_base).expect("server"));
    let gcp = Gcp::new("p", fast(), Some(server))
        .expect("gcp")
        .with_endpoint(
            Service::Firestore,
            Endpoint {
                base: reqwest::Url::parse(&api_base).expect("url"),
                emulator: false,
            },
        );
    let db = Firestore::new(&gcp);
    db.commit("c/d", &one_write(&db)).await.expect("commit");
    assert_eq!(
        meta.seen().len(),
        2,
        "the metadata server's 500 was retried"
    );
    let seen = api.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer ya29.t")));
}
