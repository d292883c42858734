//! `Gcp::from_env`: the only test of this binary, because it sets process-wide variables.

use costkit_gcp::{Gcp, RetryPolicy, Service};

#[tokio::test]
async fn the_environment_names_the_project_and_the_emulators() {
    for s in [
        Service::Firestore,
        Service::PubSub,
        Service::Storage,
        Service::BigQuery,
    ] {
        std::env::remove_var(s.emulator_var());
    }
    std::env::remove_var("GOOGLE_CLOUD_PROJECT");
    std::env::set_var("COSTKIT_GCP_PROJECT", "finops-prod");
    std::env::set_var("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080");
    std::env::set_var("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443/");
    let g = Gcp::from_env(RetryPolicy::default()).await.expect("gcp");
    assert_eq!(g.project(), "finops-prod");
    let fs = g.endpoint(Service::Firestore);
    assert!(fs.emulator);
    assert_eq!(fs.base.as_str(), "http://127.0.0.1:8080/");
    assert_eq!(
        g.url(Service::Storage, "/storage/v1/b")
            .expect("url")
            .as_str(),
        "http://127.0.0.1:4443/storage/v1/b"
    );
    let ps = g.endpoint(Service::PubSub);
    assert!(!ps.emulator, "not named: Google's endpoint");
    assert_eq!(ps.base.as_str(), "https://pubsub.googleapis.com/");

    // No project anywhere and every service emulated: a clear error, no metadata-server call.
    std::env::remove_var("COSTKIT_GCP_PROJECT");
    for s in [
        Service::Firestore,
        Service::PubSub,
        Service::Storage,
        Service::BigQuery,
    ] {
        std::env::set_var(s.emulator_var(), "127.0.0.1:1");
    }
    let err = Gcp::from_env(RetryPolicy::default())
        .await
        .expect_err("no project")
        .to_string();
    assert!(err.contains("COSTKIT_GCP_PROJECT"), "{err}");
    std::env::set_var("GOOGLE_CLOUD_PROJECT", "from-google-var");
    let g = Gcp::from_env(RetryPolicy::default()).await.expect("gcp");
    assert_eq!(g.project(), "from-google-var");
}
