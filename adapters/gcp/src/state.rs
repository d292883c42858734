//! Firestore as the core's [`StateStore`]: one document per item, conditional writes on the
//! document's `updateTime`.
//!
//! The item `key` is the document `<collection>/<enc(key)>` with fields `key` (the key as given,
//! for people browsing the console) and `value` (bytes). Its [`Version`] is the document's
//! `updateTime` in nanoseconds since the epoch. `put(key, value, None)` is a write with the
//! precondition `exists: false` (`ALREADY_EXISTS` → [`PortError::Conflict`]);
//! `put(key, value, Some(v))` one with `updateTime: v` (`FAILED_PRECONDITION`, or `NOT_FOUND`
//! when the item vanished → [`PortError::Conflict`]). Firestore checks the precondition and
//! writes atomically, so no read is needed to write.

use costkit_core::ports::{PortError, StateStore, Version};
use serde_json::Map;
use tokio::runtime::Handle;

use crate::client::Gcp;
use crate::error::GcpError;
use crate::firestore::{enc, nanos_to_time, time_to_nanos, value, write, Firestore, Precondition};

/// Largest value: a document holds 1 MiB, names and the key included.
pub const MAX_VALUE_BYTES: usize = 1_000_000;

/// State items in one Firestore collection.
#[derive(Clone, Debug)]
pub struct FirestoreState {
    db: Firestore,
    collection: String,
    handle: Handle,
}

impl FirestoreState {
    /// Items in the collection `collection` (letters, digits, `-`, `_`) of the project's
    /// `(default)` database; calls run on `handle`.
    pub fn new(gcp: &Gcp, collection: &str, handle: Handle) -> Result<FirestoreState, GcpError> {
        FirestoreState::with_db(Firestore::new(gcp), collection, handle)
    }

    /// Items in the collection `collection` of `db` (a named database:
    /// [`Firestore::with_database`]).
    pub fn with_db(
        db: Firestore,
        collection: &str,
        handle: Handle,
    ) -> Result<FirestoreState, GcpError> {
        if collection.is_empty()
            || collection.starts_with("__")
            || !collection
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(GcpError::Config(format!(
                "Firestore collection `{collection}`: use letters, digits, `-` and `_`"
            )));
        }
        Ok(FirestoreState {
            db,
            collection: collection.to_string(),
            handle,
        })
    }

    fn path(&self, key: &str) -> String {
        format!("{}/{}", self.collection, enc(key))
    }

    /// [`StateStore::get`], async.
    pub async fn get_async(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, GcpError> {
        let Some(d) = self.db.get(&self.path(key)).await? else {
            return Ok(None);
        };
        let version = time_to_nanos(&d.name, d.update_time()?)?;
        Ok(Some((d.bytes("value")?, version)))
    }

    /// [`StateStore::put`], async.
    pub async fn put_async(
        &self,
        key: &str,
        value: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, GcpError> {
        let path = self.path(key);
        if value.len() > MAX_VALUE_BYTES {
            return Err(GcpError::invalid(
                &path,
                format!(
                    "a state item of {} bytes is larger than a Firestore document holds ({MAX_VALUE_BYTES})",
                    value.len()
                ),
            ));
        }
        let pre = match expected {
            None => Precondition::Exists(false),
            Some(v) => Precondition::UpdateTime(nanos_to_time(v)),
        };
        let mut f = Map::new();
        f.insert("key".into(), value::string(key));
        f.insert("value".into(), value::bytes(value));
        let name = self.db.name(&path);
        let res = self
            .db
            .commit(&path, &[write::update(&name, f, None, &pre)])
            .await?;
        let t = res
            .first()
            .and_then(|r| r.update_time.as_deref())
            .ok_or_else(|| GcpError::invalid(&path, "the commit returned no updateTime"))?;
        time_to_nanos(&path, t)
    }
}

impl StateStore for FirestoreState {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, PortError> {
        self.handle
            .block_on(self.get_async(key))
            .map_err(|e| e.into_port(key))
    }

    fn put(
        &self,
        key: &str,
        value: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, PortError> {
        self.handle
            .block_on(self.put_async(key, value, expected))
            .map_err(|e| {
                // An item expected at a version but gone was changed concurrently (deleted).
                if expected.is_some() && e.is_not_found() {
                    PortError::Conflict(key.to_string())
                } else {
                    e.into_port(key)
                }
            })
    }
}
