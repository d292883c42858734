//! Shared set-up of the emulator tests: the endpoints come from the environment
//! (`scripts/gcp-emulators.sh start` then `eval "$(scripts/gcp-emulators.sh env)"`;
//! `scripts/test.sh` does both). Without them the tests fail with instructions; they never skip.
#![allow(dead_code)]

use costkit_gcp::{Endpoint, Gcp, RetryPolicy, Service};

/// The project the tests use (the emulators accept any).
pub const PROJECT: &str = "costkit-test";

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: start the emulators with `scripts/gcp-emulators.sh start` and \
             `eval \"$(scripts/gcp-emulators.sh env)\"` (scripts/test.sh does this)"
        ),
    }
}

/// The project on the emulators named by the environment (only the services a test uses are
/// required).
pub fn gcp(services: &[Service]) -> Gcp {
    let mut g = Gcp::new(PROJECT, RetryPolicy::default(), None).expect("gcp");
    for s in services {
        let v = var(s.emulator_var());
        g = g.with_endpoint(
            *s,
            Endpoint::emulator(s.emulator_var(), &v).expect("endpoint"),
        );
    }
    g
}

/// A fresh name (letters and digits) for a collection, topic or bucket of one test.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:016x}", fastrand::u64(..))
}

/// A multi-thread runtime; the ports `block_on` its handle from the test thread.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
