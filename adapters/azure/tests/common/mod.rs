//! Shared set-up of the Azurite tests: the emulator's endpoints come from the environment
//! (`scripts/azurite.sh start` then `eval "$(scripts/azurite.sh env)"`; `scripts/test.sh` does
//! both). Without them the tests fail with instructions; they never skip.
#![allow(dead_code)]

use costkit_azure::auth::{SharedKey, StorageAuth};
use costkit_azure::http::RetryPolicy;
use costkit_azure::Storage;

fn var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{name} is not set: start Azurite with `scripts/azurite.sh start` and \
             `eval \"$(scripts/azurite.sh env)\"` (scripts/test.sh does this)"
        ),
    }
}

/// The Azurite account (SharedKey with the well-known development key).
pub fn storage() -> Storage {
    Storage::new(
        StorageAuth::SharedKey(SharedKey::devstore()),
        &var("COSTKIT_AZURITE_BLOB"),
        &var("COSTKIT_AZURITE_QUEUE"),
        &var("COSTKIT_AZURITE_TABLE"),
        RetryPolicy::default(),
    )
    .expect("storage")
}

/// A fresh name (letters and digits) for a table, container or queue of one test.
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
