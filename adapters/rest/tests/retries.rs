//! The transport's retry paths against the replay server.

use std::time::{Duration, Instant};

use costkit_rest::testkit::Replay;
use costkit_rest::{Call, RestError, RetryPolicy, Transport};

fn fast(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_wait: Duration::from_secs(2),
    }
}

const CALL: Call<'static> = Call {
    service: "Test",
    operation: "Get",
    what: "thing",
};

async fn get(t: &Transport, url: &str) -> Result<reqwest::Response, RestError> {
    let client = t.client.clone();
    t.send(&CALL, || {
        let r = client
            .get(url)
            .build()
            .map_err(|e| RestError::Client(e.to_string()));
        async move { r }
    })
    .await
}

#[tokio::test]
async fn transient_statuses_are_retried_until_success() {
    let replay = Replay::default();
    for s in [429, 500, 502, 503, 504] {
        replay.push(s, &[], format!("busy {s}"));
    }
    replay.push(200, &[], "done".into());
    let base = replay.serve().await.expect("serve");
    let t = Transport::new(fast(6)).expect("transport");
    let resp = get(&t, &format!("{base}/x")).await.expect("success");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.text().await.expect("body"), "done");
    assert_eq!(replay.seen().len(), 6);
}

#[tokio::test]
async fn a_client_error_is_returned_at_once() {
    let replay = Replay::default();
    replay.push(409, &[], "conflict".into());
    let base = replay.serve().await.expect("serve");
    let t = Transport::new(fast(6)).expect("transport");
    let resp = get(&t, &format!("{base}/x")).await.expect("a response");
    assert_eq!(resp.status().as_u16(), 409);
    assert_eq!(replay.seen().len(), 1);
}

#[tokio::test]
async fn giving_up_names_the_call_and_the_last_failure() {
    let replay = Replay::default();
    for _ in 0..3 {
        replay.push(503, &[], "still busy".into());
    }
    let base = replay.serve().await.expect("serve");
    let t = Transport::new(fast(3)).expect("transport");
    let err = get(&t, &format!("{base}/x")).await.expect_err("gives up");
    let text = err.to_string();
    assert!(
        text.contains("Test Get thing: gave up after 3 attempts") && text.contains("still busy"),
        "{text}"
    );
    assert_eq!(replay.seen().len(), 3);
}

#[tokio::test]
async fn retry_after_is_honoured_and_too_long_a_wait_fails_at_once() {
    let replay = Replay::default();
    replay.push(429, &[("retry-after", "1")], String::new());
    replay.push(200, &[], "ok".into());
    let base = replay.serve().await.expect("serve");
    let t = Transport::new(fast(3)).expect("transport");
    let started = Instant::now();
    get(&t, &format!("{base}/x")).await.expect("success");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as asked"
    );

    replay.push(429, &[("retry-after", "3600")], String::new());
    let err = get(&t, &format!("{base}/x")).await.expect_err("too long");
    assert!(err.to_string().contains("asks to wait 3600 s"), "{err}");
}

#[tokio::test]
async fn the_cloud_hook_sets_the_wait() {
    fn wait_ms(h: &reqwest::header::HeaderMap) -> Option<Duration> {
        let v = h.get("x-wait-ms")?.to_str().ok()?.parse().ok()?;
        Some(Duration::from_millis(v))
    }
    let replay = Replay::default();
    replay.push(503, &[("x-wait-ms", "400")], String::new());
    replay.push(200, &[], "ok".into());
    let base = replay.serve().await.expect("serve");
    let t = Transport::new(fast(3))
        .expect("transport")
        .with_wait_headers(wait_ms);
    let started = Instant::now();
    get(&t, &format!("{base}/x")).await.expect("success");
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn network_errors_are_retried() {
    // A port nobody listens on: every attempt is a connection error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let t = Transport::new(fast(2)).expect("transport");
    let err = get(&t, &format!("http://{addr}/x"))
        .await
        .expect_err("fails");
    assert!(
        err.to_string().contains("gave up after 2 attempts"),
        "{err}"
    );
}
