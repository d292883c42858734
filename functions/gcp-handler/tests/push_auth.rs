//! Push authentication: with `COSTKIT_PUSH_AUDIENCE` set, every Cloud Scheduler and Pub/Sub
//! request needs a Google-signed OIDC token. Google's JWKS endpoint is played by a local server
//! holding a test RSA key (`tests/fixtures/push-auth-*`); a refused request runs nothing.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use common::*;
use costkit_core::flow::messages::{Finding, FindingKind, Message, Severity};
use costkit_gcp_handler::push_auth::PushAuthConfig;
use costkit_gcp_handler::Config;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const AUDIENCE: &str = "https://costkit-handler-4xkq2b3c7a-ew.a.run.app";
const PUSHER: &str = "costkit-push@costkit-prod.iam.gserviceaccount.com";
const KID: &str = "costkit-test-1";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// The local stand-in for `https://www.googleapis.com/oauth2/v3/certs`: the test key set with
/// Google's kind of `Cache-Control`, or 503 when `down`; counts its hits.
struct Jwks {
    hits: Arc<AtomicUsize>,
}

fn jwks(w: &World, listener: std::net::TcpListener, down: bool) -> Jwks {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let body = fixture("push-auth-jwks.json");
    let app = axum::Router::new().route(
        "/oauth2/v3/certs",
        axum::routing::get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move {
                if down {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                (
                    [
                        (header::CONTENT_TYPE, "application/json; charset=UTF-8"),
                        (
                            header::CACHE_CONTROL,
                            "public, max-age=20526, must-revalidate, no-transform",
                        ),
                    ],
                    body,
                )
                    .into_response()
            }
        }),
    );
    w.rt.spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).expect("listener");
        let _ = axum::serve(l, app).await;
    });
    Jwks { hits }
}

/// A world whose push routes require tokens for [`AUDIENCE`] (from [`PUSHER`] when
/// `service_account`), with keys from a local JWKS server.
fn guarded(service_account: bool, down: bool) -> (World, Jwks) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!(
        "http://{}/oauth2/v3/certs",
        listener.local_addr().expect("addr")
    );
    let w = world_with(Config {
        push: Some(PushAuthConfig {
            audience: AUDIENCE.into(),
            service_account: service_account.then(|| PUSHER.into()),
            jwks_url: url,
        }),
        ..Config::default()
    });
    let j = jwks(&w, listener, down);
    (w, j)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims of a Pub/Sub push token (as Google documents them).
fn claims() -> Value {
    json!({
        "aud": AUDIENCE,
        "azp": "113774264463038321964",
        "email": PUSHER,
        "email_verified": true,
        "exp": now() + 3600,
        "iat": now(),
        "iss": "https://accounts.google.com",
        "sub": "113774264463038321964"
    })
}

fn sign_with(claims: &Value, key_file: &str, kid: &str) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_pem(&fixture(key_file)).expect("key");
    jsonwebtoken::encode(&h, claims, &key).expect("token")
}

fn sign(claims: &Value) -> String {
    sign_with(claims, "push-auth-key.pem", KID)
}

fn finding() -> String {
    Message::Finding(Finding {
        id: "budget:gcp-march:2026-03:billed:actual:80%".into(),
        kind: FindingKind::BudgetAlert,
        severity: Severity::Warning,
        title: "Budget gcp-march at 93.5 %".into(),
        summary: "Spend 37.40 USD of 40.00 USD.".into(),
        scope: BTreeMap::from([("budget".to_string(), "gcp-march".to_string())]),
        amount: Some(dec("37.4000000001")),
        currency: None,
        found_at: "2026-03-15T07:00:00Z".parse().expect("time"),
        detail: json!({}),
    })
    .to_json()
}

fn notify(w: &World, token: Option<&str>) -> Answer {
    let env = envelope(
        "notify",
        &finding(),
        &w.message_id(),
        "2026-03-15T07:01:00Z",
        &json!({}),
    );
    w.push_raw("notify", &env, token)
}

#[test]
fn a_google_signed_token_for_the_audience_is_accepted() {
    let (w, keys) = guarded(false, false);
    let a = notify(&w, Some(&sign(&claims())));
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["result"]["deliveries"]["pubsub"], "sent");
    assert_eq!(w.alerts().len(), 1);
    // Cloud Scheduler's token (issuer without the scheme) on the scheduler route.
    let mut c = claims();
    c["iss"] = json!("accounts.google.com");
    let s = w.scheduler(
        "/scheduler/ingest",
        "costkit-ingest-daily",
        "2026-03-15T06:00:00Z",
        "",
        Some(&sign(&c)),
    );
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(w.normalize.len(), 1);
    // The key set was fetched once and cached.
    let again = notify(&w, Some(&sign(&claims())));
    assert_eq!(again.status, 200);
    assert_eq!(keys.hits.load(Ordering::SeqCst), 1);
    // The report routes are not push routes: their own authentication applies.
    assert_eq!(w.get("/healthz").status, 200);
}

#[test]
fn bad_tokens_are_refused_and_nothing_runs() {
    let (w, _keys) = guarded(false, false);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims();
        f(&mut c);
        sign(&c)
    };
    // (case, token, what the refusal says)
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "missing"),
        ("not a JWT", Some("not-a-jwt".into()), "header"),
        (
            "wrong audience",
            Some(with(&|c| {
                c["aud"] = json!("https://someone-else.a.run.app")
            })),
            "audience",
        ),
        (
            "expired",
            Some(with(&|c| {
                c["exp"] = json!(now() - 600);
                c["iat"] = json!(now() - 4200);
            })),
            "expired",
        ),
        (
            "wrong issuer",
            Some(with(&|c| c["iss"] = json!("https://evil.example.com"))),
            "issuer",
        ),
        (
            "no exp",
            Some(with(&|c| {
                c.as_object_mut().map(|o| o.remove("exp"));
            })),
            "exp",
        ),
        (
            "bad signature",
            Some(sign_with(&claims(), "push-auth-other-key.pem", KID)),
            "signature",
        ),
        (
            "unknown key id",
            Some(sign_with(&claims(), "push-auth-key.pem", "rotated-away")),
            "unknown key id",
        ),
    ];
    for (what, token, says) in &cases {
        let a = notify(&w, token.as_deref());
        assert_eq!(a.status, 401, "{what}: {}", a.text);
        assert!(a.text.contains(says), "{what}: {}", a.text);
        assert!(a.headers.contains_key("www-authenticate"), "{what}");
        let s = w.scheduler(
            "/scheduler/ingest",
            "costkit-ingest-daily",
            "2026-03-15T06:00:00Z",
            "",
            token.as_deref(),
        );
        assert_eq!(s.status, 401, "{what}: {}", s.text);
    }
    // A token with an HMAC algorithm (the public key used as a secret) is refused as such.
    let hs = jsonwebtoken::encode(
        &Header {
            kid: Some(KID.into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(),
        &EncodingKey::from_secret(b"public"),
    )
    .expect("hs256");
    let a = notify(&w, Some(&hs));
    assert_eq!(a.status, 401);
    assert!(a.text.contains("RS256"), "{}", a.text);
    assert!(w.alerts().is_empty(), "no message processed");
    assert!(w.normalize.is_empty(), "no ingest ran");
    assert!(w.source.calls.lock().expect("calls").is_empty());
    assert!(w.dead_letter.is_empty());
}

#[test]
fn the_configured_service_account_must_have_signed() {
    let (w, _keys) = guarded(true, false);
    let mut other = claims();
    other["email"] = json!("intruder@another-project.iam.gserviceaccount.com");
    let a = notify(&w, Some(&sign(&other)));
    assert_eq!(a.status, 401, "{}", a.text);
    assert!(a.text.contains("intruder@"), "{}", a.text);
    let mut unverified = claims();
    unverified["email_verified"] = json!(false);
    assert_eq!(notify(&w, Some(&sign(&unverified))).status, 401);
    assert!(w.alerts().is_empty());
    let ok = notify(&w, Some(&sign(&claims())));
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(w.alerts().len(), 1);
}

#[test]
fn keys_unavailable_is_a_retryable_refusal() {
    let (w, keys) = guarded(false, true);
    let a = notify(&w, Some(&sign(&claims())));
    assert_eq!(a.status, 503, "{}", a.text);
    assert!(a.text.contains("signing keys"), "{}", a.text);
    assert!(keys.hits.load(Ordering::SeqCst) >= 1);
    assert!(w.alerts().is_empty(), "not processed");
}
