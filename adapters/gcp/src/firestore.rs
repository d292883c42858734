//! Firestore (native mode) over REST v1: documents under
//! `projects/{project}/databases/{database}/documents/...`, the handful of calls the store and
//! the state items need, and the typed values they read and write.
//!
//! * `commit` applies up to [`MAX_WRITES`] writes atomically (all or none), each with an optional
//!   precondition (`currentDocument.exists` / `currentDocument.updateTime`) and server-side
//!   transforms (`increment`, `appendMissingElements`, `removeAllFromArray`). A commit that comes
//!   back `ABORTED` (contention) is retried as a whole with backoff: nothing of it was applied.
//! * Reads: `get`, `batchGet` (exact names, missing ones reported as such), `runQuery`
//!   (equality filters) and `list` (paged), optionally inside a read-only transaction
//!   (`beginTransaction` with `readOnly`): every read in it sees one snapshot, documents deleted
//!   meanwhile included.

use std::collections::HashMap;

use costkit_rest::{Call, RetriesExhausted};
use reqwest::{Method, Request};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::client::{Gcp, Service};
use crate::error::GcpError;

/// Writes per commit (Firestore's limit).
pub const MAX_WRITES: usize = 500;
/// Bytes of a commit request we allow: the API takes 10 MiB, the emulator 4 MiB (its gRPC
/// message limit, measured on the transcoded request), so 3 MiB of JSON fits both.
pub const MAX_COMMIT_BYTES: usize = 3 << 20;
/// Attempts of a commit that keeps coming back `ABORTED`.
const ABORTED_ATTEMPTS: u32 = 8;
/// Bytes of documents one `batchGet` may return (the emulator's 4 MiB message limit applies to
/// responses too).
const GET_BYTES: usize = 3 << 20;

/// A stored document: its full name, fields (Firestore's typed JSON) and update time.
#[derive(Clone, Debug, Deserialize)]
pub struct Document {
    /// `projects/.../documents/collection/id`.
    pub name: String,
    /// Fields as Firestore sends them (`{"stringValue": ...}`, `{"integerValue": "12"}`, ...).
    #[serde(default)]
    pub fields: Map<String, Value>,
    /// Last update (RFC 3339, microseconds): the version preconditions compare.
    #[serde(rename = "updateTime")]
    pub update_time: Option<String>,
}

impl Document {
    /// The last path segment (the document id).
    pub fn id(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or("")
    }

    fn field(&self, field: &str, kind: &str) -> Option<&Value> {
        self.fields.get(field).and_then(|v| v.get(kind))
    }

    fn missing(&self, field: &str, kind: &str) -> GcpError {
        GcpError::invalid(&self.name, format!("field `{field}` is not a {kind}"))
    }

    /// A string field, if present.
    pub fn opt_str(&self, field: &str) -> Option<&str> {
        self.field(field, "stringValue").and_then(Value::as_str)
    }

    /// A required string field.
    pub fn str(&self, field: &str) -> Result<&str, GcpError> {
        self.opt_str(field)
            .ok_or_else(|| self.missing(field, "stringValue"))
    }

    /// An integer field, if present (Firestore sends int64 as a JSON string).
    pub fn opt_int(&self, field: &str) -> Result<Option<i64>, GcpError> {
        match self.field(field, "integerValue") {
            None => Ok(None),
            Some(v) => parse_int(v)
                .map(Some)
                .ok_or_else(|| self.missing(field, "integerValue")),
        }
    }

    /// A required integer field.
    pub fn int(&self, field: &str) -> Result<i64, GcpError> {
        self.opt_int(field)?
            .ok_or_else(|| self.missing(field, "integerValue"))
    }

    /// A required bytes field (base64 on the wire).
    pub fn bytes(&self, field: &str) -> Result<Vec<u8>, GcpError> {
        use base64::Engine as _;
        let b64 = self
            .field(field, "bytesValue")
            .and_then(Value::as_str)
            .ok_or_else(|| self.missing(field, "bytesValue"))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| GcpError::invalid(&self.name, format!("field `{field}`: {e}")))
    }

    /// An array of integers (missing: empty).
    pub fn int_array(&self, field: &str) -> Result<Vec<i64>, GcpError> {
        let Some(arr) = self.field(field, "arrayValue") else {
            return Ok(Vec::new());
        };
        let values = match arr.get("values") {
            None => return Ok(Vec::new()),
            Some(v) => v
                .as_array()
                .ok_or_else(|| self.missing(field, "arrayValue"))?,
        };
        values
            .iter()
            .map(|v| {
                v.get("integerValue")
                    .and_then(parse_int)
                    .ok_or_else(|| self.missing(field, "array of integerValue"))
            })
            .collect()
    }

    /// The update time (required on stored documents).
    pub fn update_time(&self) -> Result<&str, GcpError> {
        self.update_time
            .as_deref()
            .ok_or_else(|| GcpError::invalid(&self.name, "no updateTime"))
    }
}

fn parse_int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Typed values for document fields.
pub mod value {
    use serde_json::{json, Value};

    /// A string.
    pub fn string(s: impl Into<String>) -> Value {
        json!({ "stringValue": s.into() })
    }

    /// A 64-bit integer (sent as a string, as the API does).
    pub fn int(n: i64) -> Value {
        json!({ "integerValue": n.to_string() })
    }

    /// Bytes (base64 on the wire).
    pub fn bytes(b: &[u8]) -> Value {
        use base64::Engine as _;
        json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(b) })
    }

    /// An array of integers.
    pub fn int_array(values: &[i64]) -> Value {
        json!({ "arrayValue": { "values": values.iter().map(|n| int(*n)).collect::<Vec<_>>() } })
    }
}

/// The condition a write needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// None: the write creates or overwrites.
    None,
    /// The document must (not) exist.
    Exists(bool),
    /// The document must still be at this update time.
    UpdateTime(String),
}

impl Precondition {
    fn apply(&self, w: &mut Map<String, Value>) {
        match self {
            Precondition::None => {}
            Precondition::Exists(e) => {
                w.insert("currentDocument".into(), json!({ "exists": e }));
            }
            Precondition::UpdateTime(t) => {
                w.insert("currentDocument".into(), json!({ "updateTime": t }));
            }
        }
    }
}

/// Builders of commit writes.
pub mod write {
    use serde_json::{json, Map, Value};

    use super::Precondition;

    /// Sets the document to `fields` (all of them: fields not given are removed), or only the
    /// fields in `mask` when given (others are kept).
    pub fn update(
        name: &str,
        fields: Map<String, Value>,
        mask: Option<&[&str]>,
        pre: &Precondition,
    ) -> Value {
        let mut w = Map::new();
        w.insert("update".into(), json!({ "name": name, "fields": fields }));
        if let Some(m) = mask {
            w.insert("updateMask".into(), json!({ "fieldPaths": m }));
        }
        pre.apply(&mut w);
        Value::Object(w)
    }

    /// Adds server-side transforms to an update write.
    pub fn with_transforms(mut w: Value, transforms: Vec<Value>) -> Value {
        if let Some(o) = w.as_object_mut() {
            o.insert("updateTransforms".into(), Value::Array(transforms));
        }
        w
    }

    /// Deletes the document.
    pub fn delete(name: &str, pre: &Precondition) -> Value {
        let mut w = Map::new();
        w.insert("delete".into(), Value::String(name.to_string()));
        pre.apply(&mut w);
        Value::Object(w)
    }

    /// A transform-only write (`increment` on a counter creates the document at need).
    pub fn transform(name: &str, transforms: Vec<Value>) -> Value {
        json!({ "transform": { "document": name, "fieldTransforms": transforms } })
    }

    /// `field += by`, atomically.
    pub fn increment(field: &str, by: i64) -> Value {
        json!({ "fieldPath": field, "increment": { "integerValue": by.to_string() } })
    }

    /// Adds `values` to an array field, each at most once.
    pub fn append_missing(field: &str, values: &[i64]) -> Value {
        json!({ "fieldPath": field, "appendMissingElements": { "values": values.iter().map(|n| super::value::int(*n)).collect::<Vec<_>>() } })
    }

    /// Removes every occurrence of `values` from an array field.
    pub fn remove_all(field: &str, values: &[i64]) -> Value {
        json!({ "fieldPath": field, "removeAllFromArray": { "values": values.iter().map(|n| super::value::int(*n)).collect::<Vec<_>>() } })
    }
}

/// The result of one write of a commit.
#[derive(Clone, Debug, Deserialize)]
pub struct WriteResult {
    /// The document's new update time (absent for a delete).
    #[serde(rename = "updateTime")]
    pub update_time: Option<String>,
    /// Values after the transforms, in order.
    #[serde(rename = "transformResults", default)]
    pub transform_results: Vec<Value>,
}

#[derive(Deserialize)]
struct CommitResponse {
    #[serde(rename = "writeResults", default)]
    write_results: Vec<WriteResult>,
}

/// A Firestore database of a project.
#[derive(Clone, Debug)]
pub struct Firestore {
    gcp: Gcp,
    root: String,
}

impl Firestore {
    /// The `(default)` database of the project.
    pub fn new(gcp: &Gcp) -> Firestore {
        Firestore::with_database(gcp, "(default)")
    }

    /// A named database of the project.
    pub fn with_database(gcp: &Gcp, database: &str) -> Firestore {
        Firestore {
            gcp: gcp.clone(),
            root: format!("projects/{}/databases/{database}/documents", gcp.project()),
        }
    }

    /// `projects/{p}/databases/{d}/documents`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The full name of the document at `path` (`collection/id/...`).
    pub fn name(&self, path: &str) -> String {
        format!("{}/{path}", self.root)
    }

    fn url(&self, suffix: &str) -> Result<reqwest::Url, GcpError> {
        self.gcp.url(Service::Firestore, &format!("/v1/{suffix}"))
    }

    /// `POST url` with `body` on Firestore, `what` naming the object in errors.
    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        operation: &'static str,
        what: &str,
        url: &reqwest::Url,
        body: &Value,
    ) -> Result<T, GcpError> {
        let call = Call {
            service: "Firestore",
            operation,
            what,
        };
        self.gcp
            .post_json(&call, Service::Firestore, url, body)
            .await
    }

    /// The document at `path`, if it exists.
    pub async fn get(&self, path: &str) -> Result<Option<Document>, GcpError> {
        let name = self.name(path);
        let url = self.url(&name)?;
        let call = Call {
            service: "Firestore",
            operation: "get",
            what: path,
        };
        match self
            .gcp
            .send_json::<Document, _>(&call, Service::Firestore, || {
                Ok(Request::new(Method::GET, url.clone()))
            })
            .await
        {
            Ok(d) => Ok(Some(d)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The documents `names` (full names), in that order; `None` for missing ones. `max_size`
    /// bounds one document's size, so each call asks for as many as fit a response.
    pub async fn batch_get(
        &self,
        names: &[String],
        max_size: usize,
        transaction: Option<&str>,
    ) -> Result<Vec<Option<Document>>, GcpError> {
        #[derive(Deserialize)]
        struct Item {
            found: Option<Document>,
        }
        let mut found: HashMap<String, Document> = HashMap::new();
        let url = self.url(&format!("{}:batchGet", self.root))?;
        let per_call = (GET_BYTES / max_size.max(1)).clamp(1, 300);
        for group in names.chunks(per_call) {
            let mut body = json!({ "documents": group });
            if let Some(t) = transaction {
                body["transaction"] = Value::String(t.to_string());
            }
            let what = format!("{} documents from {}", group.len(), group[0]);
            let items: Vec<Item> = self.post("batchGet", &what, &url, &body).await?;
            for d in items.into_iter().filter_map(|i| i.found) {
                found.insert(d.name.clone(), d);
            }
        }
        Ok(names.iter().map(|n| found.remove(n)).collect())
    }

    /// Documents of the collection `collection` under `parent` (a document path, or "" for the
    /// root) whose fields equal the given values (all of them), in name order.
    pub async fn query_eq(
        &self,
        parent: &str,
        collection: &str,
        equal: &[(&str, Value)],
        transaction: Option<&str>,
    ) -> Result<Vec<Document>, GcpError> {
        #[derive(Deserialize)]
        struct Item {
            document: Option<Document>,
        }
        let filters: Vec<Value> = equal
            .iter()
            .map(|(f, v)| {
                json!({ "fieldFilter": { "field": { "fieldPath": f }, "op": "EQUAL", "value": v } })
            })
            .collect();
        let mut query = json!({ "from": [{ "collectionId": collection }] });
        match filters.len() {
            0 => {}
            1 => query["where"] = filters[0].clone(),
            _ => query["where"] = json!({ "compositeFilter": { "op": "AND", "filters": filters } }),
        }
        let mut body = json!({ "structuredQuery": query });
        if let Some(t) = transaction {
            body["transaction"] = Value::String(t.to_string());
        }
        let parent_name = if parent.is_empty() {
            self.root.clone()
        } else {
            self.name(parent)
        };
        let url = self.url(&format!("{parent_name}:runQuery"))?;
        let what = format!("{parent}/{collection}");
        let items: Vec<Item> = self.post("runQuery", &what, &url, &body).await?;
        Ok(items.into_iter().filter_map(|i| i.document).collect())
    }

    /// Every document of the collection at `path` (paged), in name order. With `mask`, only
    /// those fields are returned (`&[]`: names and times only; reads are billed per document
    /// all the same, but nothing large crosses the wire).
    pub async fn list(&self, path: &str, mask: Option<&[&str]>) -> Result<Vec<Document>, GcpError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            documents: Vec<Document>,
            #[serde(rename = "nextPageToken")]
            next_page_token: Option<String>,
        }
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let call = Call {
            service: "Firestore",
            operation: "list",
            what: path,
        };
        loop {
            let mut url = self.url(&self.name(path))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("pageSize", "300");
                if let Some(m) = mask {
                    // A mask naming no stored field returns names only.
                    if m.is_empty() {
                        q.append_pair("mask.fieldPaths", "costkit_no_field_");
                    }
                    for f in m {
                        q.append_pair("mask.fieldPaths", f);
                    }
                }
                if let Some(t) = &token {
                    q.append_pair("pageToken", t);
                }
            }
            let page: Page = self
                .gcp
                .send_json(&call, Service::Firestore, || {
                    Ok(Request::new(Method::GET, url.clone()))
                })
                .await?;
            out.extend(page.documents);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) if Some(&t) != token.as_ref() => token = Some(t),
                Some(t) => {
                    return Err(GcpError::invalid(
                        path,
                        format!("list returned the same page token twice (`{t}`)"),
                    ))
                }
                None => return Ok(out),
            }
        }
    }

    /// Starts a read-only transaction: reads passing its id see one snapshot.
    pub async fn begin_read_only(&self) -> Result<String, GcpError> {
        #[derive(Deserialize)]
        struct Begin {
            transaction: String,
        }
        let url = self.url(&format!("{}:beginTransaction", self.root))?;
        let body = json!({ "options": { "readOnly": {} } });
        let b: Begin = self
            .post("beginTransaction", &self.root, &url, &body)
            .await?;
        Ok(b.transaction)
    }

    /// Applies `writes` atomically (at most [`MAX_WRITES`]); `what` names them in errors. A
    /// commit that comes back `ABORTED` was not applied and is sent again (with backoff).
    pub async fn commit(&self, what: &str, writes: &[Value]) -> Result<Vec<WriteResult>, GcpError> {
        if writes.len() > MAX_WRITES {
            return Err(GcpError::invalid(
                what,
                format!(
                    "{} writes in one commit (Firestore allows {MAX_WRITES})",
                    writes.len()
                ),
            ));
        }
        let url = self.url(&format!("{}:commit", self.root))?;
        let body = json!({ "writes": writes });
        let policy = &self.gcp.transport().retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r: Result<CommitResponse, GcpError> = self.post("commit", what, &url, &body).await;
            match r {
                Ok(c) => return Ok(c.write_results),
                Err(e) if e.is_aborted() && attempt < ABORTED_ATTEMPTS => {
                    let wait = policy.backoff(attempt);
                    tracing::debug!(what, attempt, error = %e, "commit aborted (contention); retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) if e.is_aborted() => {
                    return Err(GcpError::RetriesExhausted(RetriesExhausted {
                        service: "Firestore",
                        operation: "commit",
                        what: what.to_string(),
                        attempts: attempt,
                        last: e.to_string(),
                    }))
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Commits `writes` in as many commits as the limits need (each atomic on its own), in
    /// order. `size` is each write's JSON length.
    pub async fn commit_all(&self, what: &str, writes: Vec<Value>) -> Result<(), GcpError> {
        for group in commit_groups(writes) {
            self.commit(what, &group).await?;
        }
        Ok(())
    }
}

/// Splits writes into commits of at most [`MAX_WRITES`] writes and [`MAX_COMMIT_BYTES`].
pub fn commit_groups(writes: Vec<Value>) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = Vec::new();
    let mut cur = Vec::new();
    let mut bytes = 0usize;
    for w in writes {
        let b = serde_json::to_string(&w).map_or(0, |s| s.len()) + 1;
        if !cur.is_empty() && (cur.len() >= MAX_WRITES || bytes + b > MAX_COMMIT_BYTES) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += b;
        cur.push(w);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Escapes free text for a document id: `[A-Za-z0-9.-]` stay, every other byte becomes `_XX`
/// (so ids never contain `/`, never look like `__name__`, and `!` is free as a separator).
pub fn enc(s: &str) -> String {
    let out = costkit_core::store::generational::keys::escape(s);
    if out.is_empty() || out == "." || out == ".." {
        // Ids may not be empty, `.` or `..`: escape them too (`_` never starts a plain byte).
        return s.bytes().map(|b| format!("_{b:02X}")).collect::<String>() + "_";
    }
    out
}

/// Firestore timestamps (RFC 3339, up to nanoseconds) as nanoseconds since the epoch: the
/// [`costkit_core::ports::Version`] of a document.
pub fn time_to_nanos(what: &str, t: &str) -> Result<u64, GcpError> {
    let dt = chrono::DateTime::parse_from_rfc3339(t)
        .map_err(|e| GcpError::invalid(what, format!("timestamp `{t}`: {e}")))?;
    dt.timestamp_nanos_opt()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| GcpError::invalid(what, format!("timestamp `{t}` out of range")))
}

/// Reverses [`time_to_nanos`] (nanosecond precision, so the service compares equal instants).
pub fn nanos_to_time(n: u64) -> String {
    let secs = i64::try_from(n / 1_000_000_000).unwrap_or(i64::MAX);
    let nanos = u32::try_from(n % 1_000_000_000).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, nanos)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_escape_what_firestore_forbids() {
        for s in ["a/b", "__name__", "x!y", "Ünï", "2024-09"] {
            let e = enc(s);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "{s} -> {e}"
            );
        }
        assert_eq!(enc("2024-09"), "2024-09");
        assert_eq!(enc("a/b"), "a_2Fb");
        assert_eq!(enc(".."), "_2E_2E_");
        assert_eq!(enc(""), "_");
    }

    #[test]
    fn versions_round_trip_through_timestamps() {
        let t = "2026-11-27T13:53:49.444607Z";
        let n = time_to_nanos("d", t).expect("nanos");
        assert_eq!(n % 1000, 0);
        let back = nanos_to_time(n);
        assert_eq!(back, "2026-11-27T13:53:49.444607000Z");
        assert_eq!(time_to_nanos("d", &back).expect("again"), n);
        assert!(time_to_nanos("d", "yesterday").is_err());
    }

    #[test]
    fn commits_respect_both_limits() {
        let small: Vec<Value> = (0..1201).map(|i| json!({ "i": i })).collect();
        let g = commit_groups(small);
        assert_eq!(
            g.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![500, 500, 201]
        );
        let big: Vec<Value> = (0..30)
            .map(|_| Value::String("x".repeat(1 << 20)))
            .collect();
        let g = commit_groups(big);
        assert!(g.len() >= 4, "{}", g.len());
        for c in &g {
            let bytes: usize = c.iter().map(|w| w.to_string().len()).sum();
            assert!(bytes <= MAX_COMMIT_BYTES);
        }
    }

    #[test]
    fn documents_read_typed_fields() {
        let d: Document = serde_json::from_value(json!({
            "name": "projects/p/databases/(default)/documents/c/d1",
            "fields": {
                "s": {"stringValue": "x"},
                "n": {"integerValue": "12"},
                "g": {"arrayValue": {"values": [{"integerValue": "3"}, {"integerValue": "5"}]}},
                "e": {"arrayValue": {}},
                "b": {"bytesValue": "aGk="}
            },
            "updateTime": "2026-11-27T13:53:49.444607Z"
        }))
        .expect("doc");
        assert_eq!(d.id(), "d1");
        assert_eq!(d.str("s").expect("s"), "x");
        assert_eq!(d.int("n").expect("n"), 12);
        assert_eq!(d.int_array("g").expect("g"), vec![3, 5]);
        assert_eq!(d.int_array("e").expect("e"), Vec::<i64>::new());
        assert_eq!(d.int_array("none").expect("none"), Vec::<i64>::new());
        assert_eq!(d.bytes("b").expect("b"), b"hi");
        let err = d.int("s").expect_err("not an int").to_string();
        assert!(err.contains("c/d1") && err.contains("field `s`"), "{err}");
    }
}
