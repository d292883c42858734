//! Metadata-server tokens against the replay server: the request Google documents, caching, and
//! the token on requests to Google but not to emulators.

use std::sync::Arc;

use costkit_gcp::auth::MetadataServer;
use costkit_gcp::testkit::Replay;
use costkit_gcp::{Call, Endpoint, Gcp, RetryPolicy, Service};
use reqwest::{Method, Request};

const TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

fn token_body(token: &str, expires_in: u64) -> String {
    serde_json::json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})
        .to_string()
}

#[tokio::test]
async fn tokens_come_from_the_metadata_server_and_are_cached() {
    let meta = Replay::default();
    meta.push(
        200,
        &[("metadata-flavor", "Google")],
        token_body("ya29.first", 3599),
    );
    let base = meta.serve().await.expect("serve");
    let server = MetadataServer::new(&base).expect("server");
    let t = costkit_gcp::Transport::new(RetryPolicy::default()).expect("transport");
    assert_eq!(server.token(&t).await.expect("token"), "ya29.first");
    assert_eq!(server.token(&t).await.expect("cached"), "ya29.first");
    let seen = meta.seen();
    assert_eq!(seen.len(), 1, "the second call used the cache");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path_and_query, TOKEN_PATH);
    assert!(seen[0]
        .headers
        .iter()
        .any(|(k, v)| k == "metadata-flavor" && v == "Google"));
}

#[tokio::test]
async fn a_token_about_to_expire_is_replaced() {
    let meta = Replay::default();
    meta.push(200, &[], token_body("ya29.short", 60));
    meta.push(200, &[], token_body("ya29.fresh", 3599));
    let base = meta.serve().await.expect("serve");
    let server = MetadataServer::new(&base).expect("server");
    let t = costkit_gcp::Transport::new(RetryPolicy::default()).expect("transport");
    assert_eq!(server.token(&t).await.expect("token"), "ya29.short");
    assert_eq!(server.token(&t).await.expect("token"), "ya29.fresh");
    assert_eq!(meta.seen().len(), 2);
}

#[tokio::test]
async fn a_metadata_error_names_the_server() {
    let meta = Replay::default();
    meta.push(404, &[], "Not Found".into());
    let base = meta.serve().await.expect("serve");
    let server = MetadataServer::new(&base).expect("server");
    let t = costkit_gcp::Transport::new(RetryPolicy::default()).expect("transport");
    let err = server.token(&t).await.expect_err("fails").to_string();
    assert!(
        err.starts_with("metadata server token") && err.contains("HTTP 404"),
        "{err}"
    );
}

#[tokio::test]
async fn google_gets_the_bearer_token_and_emulators_do_not() {
    let meta = Replay::default();
    meta.push(200, &[], token_body("ya29.abc", 3599));
    let meta_base = meta.serve().await.expect("serve");
    let api = Replay::default();
    api.push(200, &[], "{}".into());
    api.push(200, &[], "{}".into());
    let api_base = api.serve().await.expect("serve");
    let server = Arc::new(MetadataServer::new(&meta_base).expect("server"));
    let google = Endpoint {
        base: reqwest::Url::parse(&api_base).expect("url"),
        emulator: false,
    };
    let gcp = Gcp::new("proj", RetryPolicy::default(), Some(server))
        .expect("gcp")
        .with_endpoint(Service::PubSub, google)
        .with_endpoint(
            Service::Firestore,
            Endpoint::emulator("FIRESTORE_EMULATOR_HOST", &api_base).expect("endpoint"),
        );
    let call = Call {
        service: "test",
        operation: "get",
        what: "x",
    };
    for s in [Service::PubSub, Service::Firestore] {
        let url = gcp.url(s, "/v1/x").expect("url");
        let _: serde_json::Value = gcp
            .send_json(&call, s, || Ok(Request::new(Method::GET, url.clone())))
            .await
            .expect("ok");
    }
    let seen = api.seen();
    let auth = |i: usize| {
        seen[i]
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(auth(0).as_deref(), Some("Bearer ya29.abc"));
    assert_eq!(auth(1), None, "no token to the emulator");
}
