//! The core's ports on Azure Storage: a Blob container as [`BlobStore`], Storage queues as
//! [`Queue`] (one, or a fan-out to several for `data_updated`), Table storage as
//! [`StateStore`], and an alerts queue as the [`Publisher`] of findings.
//!
//! The ports are synchronous like the flows; each implementation runs its async call with
//! `Handle::block_on` on the runtime handle it was built with, exactly like [`crate::TableStore`].
//! Call them from a thread that is not a runtime worker (`tokio::task::spawn_blocking`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use costkit_core::ports::{
    BlobStore, PortError, Publication, Publisher, Queue, StateStore, Version,
};
use tokio::runtime::Handle;

use crate::blob::{Container, BLOCK_SIZE};
use crate::error::AzureError;
use crate::queue::StorageQueue;
use crate::storage::Storage;
use crate::store::enc;
use crate::table::{Entity, Table};

/// A Blob container as the core's object store.
#[derive(Clone, Debug)]
pub struct AzBlobs {
    container: Container,
    handle: Handle,
}

impl AzBlobs {
    /// The container `name`; calls run on `handle`.
    pub fn new(storage: &Storage, name: &str, handle: Handle) -> AzBlobs {
        AzBlobs {
            container: Container::new(storage, name),
            handle,
        }
    }

    /// The container.
    pub fn container(&self) -> &Container {
        &self.container
    }
}

impl BlobStore for AzBlobs {
    fn put_bytes(&self, key: &str, body: &[u8], content_type: &str) -> Result<(), PortError> {
        self.handle
            .block_on(self.container.put(key, body, content_type))
            .map_err(|e| e.into_port(&self.container.what(key)))
    }

    fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), PortError> {
        self.handle
            .block_on(self.container.put_file(key, path, content_type, BLOCK_SIZE))
            .map(|_| ())
            .map_err(|e| e.into_port(&self.container.what(key)))
    }

    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, PortError> {
        self.handle
            .block_on(self.container.get(key))
            .map_err(|e| e.into_port(&self.container.what(key)))
    }

    fn download(&self, key: &str, dest: &Path) -> Result<u64, PortError> {
        self.handle
            .block_on(self.container.download(key, dest))
            .map_err(|e| e.into_port(&self.container.what(key)))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        self.handle
            .block_on(self.container.list(prefix))
            .map_err(|e| e.into_port(&self.container.what(prefix)))
    }
}

/// A Storage queue as the core's [`Queue`]. Storage queues do not deduplicate: the dedup id is
/// not sent; consumers recognise repeats by the ids inside the message (`job_id` + `part`,
/// finding id).
#[derive(Clone, Debug)]
pub struct AzQueue {
    queue: StorageQueue,
    handle: Handle,
}

impl AzQueue {
    /// The queue `name`.
    pub fn new(storage: &Storage, name: &str, handle: Handle) -> AzQueue {
        AzQueue {
            queue: StorageQueue::new(storage, name),
            handle,
        }
    }

    /// The queue.
    pub fn queue(&self) -> &StorageQueue {
        &self.queue
    }
}

impl Queue for AzQueue {
    fn send(&self, body: &str, _dedup_id: &str) -> Result<(), PortError> {
        self.handle
            .block_on(self.queue.send(body))
            .map_err(|e| e.into_port(self.queue.name()))
    }
}

/// One message to several queues (`data_updated` to the budget and anomaly queues: what an SNS
/// topic does on AWS). Sent in order; a failure stops and is returned, and the retry sends to
/// every queue again (the consumers' evaluations are idempotent).
#[derive(Clone, Debug)]
pub struct FanOut {
    queues: Vec<AzQueue>,
}

impl FanOut {
    /// Fan-out to `queues`.
    pub fn new(queues: Vec<AzQueue>) -> FanOut {
        FanOut { queues }
    }
}

impl Queue for FanOut {
    fn send(&self, body: &str, dedup_id: &str) -> Result<(), PortError> {
        for q in &self.queues {
            q.send(body, dedup_id)?;
        }
        Ok(())
    }
}

/// Findings published as JSON messages on an alerts queue (`{"subject", "body", "attributes",
/// "dedup_id"}`), from which a Logic App, an Event Grid subscription or costkit's own notify
/// channels deliver them.
#[derive(Clone, Debug)]
pub struct QueuePublisher {
    queue: AzQueue,
}

impl QueuePublisher {
    /// Publishes to the queue `name`.
    pub fn new(storage: &Storage, name: &str, handle: Handle) -> QueuePublisher {
        QueuePublisher {
            queue: AzQueue::new(storage, name, handle),
        }
    }
}

impl Publisher for QueuePublisher {
    fn publish(&self, m: &Publication) -> Result<(), PortError> {
        let attributes: serde_json::Map<String, serde_json::Value> = m
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let body = serde_json::json!({
            "subject": m.subject,
            "body": m.body,
            "attributes": attributes,
            "dedup_id": m.dedup_id,
        });
        self.queue.send(&body.to_string(), &m.dedup_id)
    }
}

const STATE_PK: &str = "state";
/// Base64 characters per value property (Table strings are at most 64 KiB of UTF-16).
const VALUE_CHUNK: usize = 30_000;
/// Value properties per entity (an entity is at most 1 MiB).
const MAX_VALUE_CHUNKS: usize = 15;

/// Small state documents in the costkit table: PartitionKey `state`, RowKey the escaped key,
/// the document base64 in `v0`, `v1`... and its `version`; writes are conditional on the ETag of
/// the entity read (an insert for a new item).
///
/// The ETag of each item read is remembered with its version, so a `put` at the version just
/// read is one conditional replace (no second read).
#[derive(Clone, Debug)]
pub struct TableState {
    table: Table,
    handle: Handle,
    etags: Arc<Mutex<HashMap<String, (Version, String)>>>,
}

impl TableState {
    /// State entities in table `table`.
    pub fn new(storage: &Storage, table: &str, handle: Handle) -> TableState {
        TableState {
            table: Table::new(storage, table),
            handle,
            etags: Arc::default(),
        }
    }

    fn remember(&self, key: &str, version: Version, etag: Option<&str>) {
        if let (Ok(mut m), Some(t)) = (self.etags.lock(), etag) {
            if !t.is_empty() {
                m.insert(key.to_string(), (version, t.to_string()));
            }
        }
    }

    fn remembered(&self, key: &str, version: Version) -> Option<String> {
        let m = self.etags.lock().ok()?;
        m.get(key)
            .filter(|(v, _)| *v == version)
            .map(|(_, t)| t.clone())
    }

    fn parse(key: &str, e: &Entity) -> Result<(Vec<u8>, Version), PortError> {
        let what = format!("state item {key}");
        let version = e
            .get("version")
            .and_then(|v| v.parse::<Version>().ok())
            .ok_or_else(|| {
                PortError::backend(&what, "property `version` is missing or not a number")
            })?;
        let n: usize = e
            .get("parts")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| PortError::backend(&what, "property `parts` is missing"))?;
        let mut text = String::new();
        for i in 0..n {
            text.push_str(
                e.get(&format!("v{i}")).ok_or_else(|| {
                    PortError::backend(&what, format!("property `v{i}` is missing"))
                })?,
            );
        }
        let value = B64
            .decode(text)
            .map_err(|x| PortError::backend(&what, format!("value is not base64: {x}")))?;
        Ok((value, version))
    }

    fn entity(key: &str, value: &[u8], version: Version) -> Result<Entity, PortError> {
        let text = B64.encode(value);
        let parts: Vec<&str> = text
            .as_bytes()
            .chunks(VALUE_CHUNK)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect();
        if parts.len() > MAX_VALUE_CHUNKS {
            return Err(PortError::backend(
                format!("state item {key}"),
                format!("{} bytes is more than a Table entity holds", value.len()),
            ));
        }
        let mut e = Entity::new(STATE_PK, enc(key));
        e.set("version", version.to_string())
            .set("parts", parts.len().to_string());
        for (i, p) in parts.iter().enumerate() {
            e.set(&format!("v{i}"), *p);
        }
        Ok(e)
    }

    async fn put_async(
        &self,
        key: &str,
        value: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, PortError> {
        let what = format!("state item {key}");
        let port = |e: AzureError| e.into_port(&what);
        match expected {
            None => {
                let e = Self::entity(key, value, 1)?;
                let etag = self.table.insert(&e).await.map_err(port)?;
                self.remember(key, 1, Some(&etag));
                Ok(1)
            }
            Some(v) => {
                if let Some(etag) = self.remembered(key, v) {
                    let e = Self::entity(key, value, v + 1)?;
                    let new = self.table.replace(&e, Some(&etag)).await.map_err(port)?;
                    self.remember(key, v + 1, Some(&new));
                    return Ok(v + 1);
                }
                let current = self
                    .table
                    .get(STATE_PK, &enc(key))
                    .await
                    .map_err(port)?
                    .ok_or_else(|| PortError::Conflict(what.clone()))?;
                let (_, version) = Self::parse(key, &current)?;
                if version != v {
                    return Err(PortError::Conflict(what));
                }
                let e = Self::entity(key, value, v + 1)?;
                let etag = current.etag.as_deref().unwrap_or("*");
                let new = self.table.replace(&e, Some(etag)).await.map_err(port)?;
                self.remember(key, v + 1, Some(&new));
                Ok(v + 1)
            }
        }
    }
}

impl StateStore for TableState {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, PortError> {
        let e = self
            .handle
            .block_on(self.table.get(STATE_PK, &enc(key)))
            .map_err(|e| e.into_port(&format!("state item {key}")))?;
        match e {
            None => Ok(None),
            Some(e) => {
                let (value, version) = Self::parse(key, &e)?;
                self.remember(key, version, e.etag.as_deref());
                Ok(Some((value, version)))
            }
        }
    }

    fn put(
        &self,
        key: &str,
        value: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, PortError> {
        self.handle.block_on(self.put_async(key, value, expected))
    }
}
