//! The SQLite store passes the store contract, in memory and on disk.

use costkit_core::store::{contract, CostStore};
use costkit_sqlite::SqliteStore;

#[test]
fn in_memory_store_passes_the_contract() {
    contract::run_all(&mut || {
        Box::new(SqliteStore::in_memory().expect("open")) as Box<dyn CostStore>
    });
}

#[test]
fn file_store_passes_the_contract_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut n = 0;
    contract::run_all(&mut || {
        n += 1;
        Box::new(SqliteStore::open(&dir.path().join(format!("s{n}.db"))).expect("open"))
            as Box<dyn CostStore>
    });
    // Data written by one process is there for the next.
    let path = dir.path().join("s1.db");
    let reopened = SqliteStore::open(&path).expect("reopen");
    assert!(!reopened.loads().expect("loads").is_empty());
    assert!(!reopened
        .daily(&Default::default())
        .expect("daily")
        .is_empty());
}
