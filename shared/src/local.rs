//! Local implementations of the ports, for the CLI and for running the flows on one machine:
//! a directory as the object store, in-process queues and state, and a JSON-lines outbox as the
//! notification topic.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use crate::ports::{BlobStore, PortError, Publication, Publisher, Queue, StateStore, Version};

/// A directory as an object store: key `a/b/c.json` is the file `<root>/a/b/c.json`.
#[derive(Clone, Debug)]
pub struct DirBlobStore {
    root: PathBuf,
}

impl DirBlobStore {
    /// Objects live under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> DirBlobStore {
        DirBlobStore { root: root.into() }
    }

    /// The file behind `key`. Keys with `..`, absolute paths or empty segments are refused, so
    /// a key from a message can never point outside the root.
    pub fn path(&self, key: &str) -> Result<PathBuf, PortError> {
        let rel = Path::new(key);
        let ok = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !ok {
            return Err(PortError::backend(key, "not a valid object key"));
        }
        Ok(self.root.join(rel))
    }

    fn write_atomic(
        &self,
        key: &str,
        write: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> Result<(), PortError> {
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| PortError::backend(key, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".blob-")
            .tempfile_in(&dir)
            .map_err(|e| PortError::backend(key, e))?;
        write(tmp.path()).map_err(|e| PortError::backend(key, e))?;
        tmp.persist(&path)
            .map_err(|e| PortError::backend(key, e.error))?;
        Ok(())
    }
}

fn not_found_or(key: &str, e: std::io::Error) -> PortError {
    if e.kind() == std::io::ErrorKind::NotFound {
        PortError::NotFound(key.to_string())
    } else {
        PortError::backend(key, e)
    }
}

impl BlobStore for DirBlobStore {
    fn put_bytes(&self, key: &str, body: &[u8], _content_type: &str) -> Result<(), PortError> {
        self.write_atomic(key, |p| std::fs::write(p, body))
    }

    fn put_file(&self, key: &str, path: &Path, _content_type: &str) -> Result<(), PortError> {
        self.write_atomic(key, |p| std::fs::copy(path, p).map(|_| ()))
    }

    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, PortError> {
        std::fs::read(self.path(key)?).map_err(|e| not_found_or(key, e))
    }

    fn download(&self, key: &str, dest: &Path) -> Result<u64, PortError> {
        std::fs::copy(self.path(key)?, dest).map_err(|e| not_found_or(key, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(PortError::backend(dir.display().to_string(), e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| PortError::backend(dir.display().to_string(), e))?;
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(&self.root) {
                    let key = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    if key.starts_with(prefix)
                        && !key
                            .rsplit('/')
                            .next()
                            .is_some_and(|n| n.starts_with(".blob-"))
                    {
                        out.push(key);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// An in-process FIFO queue.
#[derive(Debug, Default)]
pub struct MemoryQueue {
    messages: Mutex<VecDeque<String>>,
}

impl MemoryQueue {
    /// Takes the oldest message.
    pub fn pop(&self) -> Option<String> {
        self.messages.lock().ok()?.pop_front()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.messages.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no message waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Queue for MemoryQueue {
    fn send(&self, body: &str, _dedup_id: &str) -> Result<(), PortError> {
        self.messages
            .lock()
            .map_err(|_| PortError::backend("memory queue", "lock poisoned"))?
            .push_back(body.to_string());
        Ok(())
    }
}

/// In-process state with versions.
#[derive(Debug, Default)]
pub struct MemoryState {
    items: Mutex<HashMap<String, (Vec<u8>, Version)>>,
}

impl StateStore for MemoryState {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, PortError> {
        Ok(self
            .items
            .lock()
            .map_err(|_| PortError::backend(key, "lock poisoned"))?
            .get(key)
            .cloned())
    }

    fn put(
        &self,
        key: &str,
        value: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, PortError> {
        let mut items = self
            .items
            .lock()
            .map_err(|_| PortError::backend(key, "lock poisoned"))?;
        let current = items.get(key).map(|(_, v)| *v);
        if current != expected {
            return Err(PortError::Conflict(key.to_string()));
        }
        let next = current.unwrap_or(0) + 1;
        items.insert(key.to_string(), (value.to_vec(), next));
        Ok(next)
    }
}

/// A notification topic that appends each message as one JSON line to a file: the local stand-in
/// for SNS that a person can read (`costkit-demo/outbox.jsonl`).
#[derive(Debug)]
pub struct OutboxPublisher {
    path: PathBuf,
    lock: Mutex<()>,
}

impl OutboxPublisher {
    /// Appends to `path` (created when missing).
    pub fn new(path: impl Into<PathBuf>) -> OutboxPublisher {
        OutboxPublisher {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }
}

impl Publisher for OutboxPublisher {
    fn publish(&self, m: &Publication) -> Result<(), PortError> {
        let what = self.path.display().to_string();
        let _guard = self
            .lock
            .lock()
            .map_err(|_| PortError::backend(&what, "lock poisoned"))?;
        let line = serde_json::json!({
            "subject": m.subject,
            "body": m.body,
            "attributes": m.attributes.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            "dedup_id": m.dedup_id,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| PortError::backend(&what, e))?;
        writeln!(f, "{line}").map_err(|e| PortError::backend(&what, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{put_once, update_json};

    #[test]
    fn dir_store_round_trips_and_refuses_escaping_keys() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = DirBlobStore::new(dir.path());
        b.put_bytes("raw/a/1.json", b"{}", "application/json")
            .expect("put");
        b.put_bytes("raw/b.json", b"[]", "application/json")
            .expect("put");
        assert_eq!(b.get_bytes("raw/a/1.json").expect("get"), b"{}");
        assert_eq!(
            b.list("raw/").expect("list"),
            vec!["raw/a/1.json", "raw/b.json"]
        );
        assert!(matches!(b.get_bytes("nope"), Err(PortError::NotFound(_))));
        assert!(b.put_bytes("../x", b"", "").is_err());
        assert!(b.put_bytes("/etc/x", b"", "").is_err());
    }

    #[test]
    fn state_is_conditional() {
        let s = MemoryState::default();
        assert!(put_once(&s, "k", b"1").expect("first"));
        assert!(!put_once(&s, "k", b"2").expect("second"));
        assert_eq!(s.get("k").expect("get").map(|x| x.0), Some(b"1".to_vec()));
        assert!(matches!(
            s.put("k", b"3", Some(7)),
            Err(PortError::Conflict(_))
        ));
        let n = update_json(&s, "counter", |c: &mut u32| {
            *c += 1;
            *c
        })
        .expect("update");
        assert_eq!(n, 1);
    }
}
