//! Ports the flows run against, besides the [`crate::store::CostStore`]: object storage, queues, a
//! notification topic and a small state store with optimistic concurrency.
//!
//! Each cloud implements them once (S3/SQS/SNS/DynamoDB, Blob/Queue/Table storage,
//! Cloud Storage/Pub/Sub/Firestore) and the CLI has local implementations
//! ([`crate::local`]). The traits are synchronous like the store port: the core has no async
//! runtime, and the serverless shells call flows from a blocking thread
//! (`tokio::task::spawn_blocking`) while the adapters bridge to their async SDKs.

use std::path::Path;

use thiserror::Error;

/// A failure of a port backend.
#[derive(Debug, Error)]
pub enum PortError {
    /// The object or item does not exist.
    #[error("{0}: not found")]
    NotFound(String),
    /// A conditional write lost: the item changed (or exists) since it was read.
    #[error("{0}: changed concurrently (conditional write failed)")]
    Conflict(String),
    /// The backend failed; `what` names the object, queue or item.
    #[error("{what}: {message}")]
    Backend {
        /// The object, queue, topic or item concerned.
        what: String,
        /// The backend's message.
        message: String,
    },
}

impl PortError {
    /// A backend error about `what`.
    pub fn backend(what: impl Into<String>, message: impl std::fmt::Display) -> PortError {
        PortError::Backend {
            what: what.into(),
            message: message.to_string(),
        }
    }

    /// The port error for a backend failure about `what`, as the backend classifies it: a
    /// missing object is [`PortError::NotFound`], a lost conditional write
    /// [`PortError::Conflict`], anything else [`PortError::Backend`] with the failure's text.
    pub fn classify(
        what: &str,
        not_found: bool,
        conflict: bool,
        failure: impl std::fmt::Display,
    ) -> PortError {
        if not_found {
            PortError::NotFound(what.to_string())
        } else if conflict {
            PortError::Conflict(what.to_string())
        } else {
            PortError::backend(what, failure)
        }
    }
}

/// Object storage for raw provider payloads, staged aggregates, FOCUS files and config files.
pub trait BlobStore: Send + Sync {
    /// Writes a small object.
    fn put_bytes(&self, key: &str, body: &[u8], content_type: &str) -> Result<(), PortError>;

    /// Uploads a local file (multipart where the backend needs it).
    fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), PortError>;

    /// Reads a small object whole. [`PortError::NotFound`] when it does not exist.
    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, PortError>;

    /// Streams an object into a local file; returns its size.
    fn download(&self, key: &str, dest: &Path) -> Result<u64, PortError>;

    /// Keys under `prefix`, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, PortError>;
}

/// A message queue (one per destination).
pub trait Queue: Send + Sync {
    /// Sends one message body. `dedup_id` identifies the message for queues that deduplicate.
    fn send(&self, body: &str, dedup_id: &str) -> Result<(), PortError>;
}

/// A message to a notification topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publication {
    /// Short subject (email subject line).
    pub subject: String,
    /// The message text.
    pub body: String,
    /// String attributes for subscription filters (`kind`, `severity`, `provider`...).
    pub attributes: Vec<(String, String)>,
    /// Identifies the message for deduplication.
    pub dedup_id: String,
}

/// A notification topic (SNS, Event Grid, Pub/Sub).
pub trait Publisher: Send + Sync {
    /// Publishes one message.
    fn publish(&self, message: &Publication) -> Result<(), PortError>;
}

impl<T: Publisher + ?Sized> Publisher for &T {
    fn publish(&self, message: &Publication) -> Result<(), PortError> {
        (**self).publish(message)
    }
}

/// Version of a state item, for conditional writes.
pub type Version = u64;

/// Small documents (alert state, job progress, delivery receipts) with conditional writes.
pub trait StateStore: Send + Sync {
    /// The item and its version, if it exists.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, PortError>;

    /// Writes `value` if the item is still at `expected` (`None`: only if it does not exist yet)
    /// and returns the new version; [`PortError::Conflict`] otherwise.
    fn put(&self, key: &str, value: &[u8], expected: Option<Version>)
        -> Result<Version, PortError>;
}

/// Writes `value` under `key` only if nothing is there yet: `Ok(true)` when this call wrote it,
/// `Ok(false)` when it already existed. The building block of "exactly once" side effects.
pub fn put_once(store: &dyn StateStore, key: &str, value: &[u8]) -> Result<bool, PortError> {
    match store.put(key, value, None) {
        Ok(_) => Ok(true),
        Err(PortError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads, changes and writes a JSON state item, retrying when another writer got in between.
pub fn update_json<T, R>(
    store: &dyn StateStore,
    key: &str,
    mut change: impl FnMut(&mut T) -> R,
) -> Result<R, PortError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Default,
{
    // Contention is between a handful of concurrent invocations at most.
    for _ in 0..16 {
        let (mut value, version) = match store.get(key)? {
            Some((bytes, v)) => (
                serde_json::from_slice::<T>(&bytes).map_err(|e| {
                    PortError::backend(key, format!("stored state is invalid: {e}"))
                })?,
                Some(v),
            ),
            None => (T::default(), None),
        };
        let out = change(&mut value);
        let bytes = serde_json::to_vec(&value).map_err(|e| PortError::backend(key, e))?;
        match store.put(key, &bytes, version) {
            Ok(_) => return Ok(out),
            Err(PortError::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(PortError::Conflict(key.to_string()))
}

#[cfg(test)]
mod classify_tests {
    use super::PortError;

    #[test]
    fn not_found_wins_then_conflict_then_the_failure_text() {
        assert!(matches!(
            PortError::classify("k", true, true, "x"),
            PortError::NotFound(w) if w == "k"
        ));
        assert!(matches!(
            PortError::classify("k", false, true, "x"),
            PortError::Conflict(w) if w == "k"
        ));
        assert_eq!(
            PortError::classify("k", false, false, "HTTP 500: boom").to_string(),
            "k: HTTP 500: boom"
        );
    }
}
