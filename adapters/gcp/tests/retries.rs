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
        matches!(err, GcpError::RetriesExhausted { attempts: 8, .. }),
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
