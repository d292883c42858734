//! A Table storage client over REST (JSON, OData v3): create, get, insert, replace/upsert,
//! delete, queries with continuation, and entity group transactions (`$batch`).
//!
//! Every property costkit writes is a string (money as exact decimal text), so no OData type
//! annotations are needed and nothing passes through a double.

use reqwest::{Method, Url};
use serde_json::{Map, Value};

use crate::auth::Service;
use costkit_rest::ApiError;

use crate::error::AzureError;
use crate::http::{api_error, Call};
use crate::storage::Storage;

const SVC: &str = "Table";
/// Entities per entity group transaction (the service's limit).
pub const MAX_BATCH: usize = 100;
/// Payload of one transaction: the service allows 4 MiB; stay below with room for the framing.
pub const MAX_BATCH_BYTES: usize = 3 * 1024 * 1024;
/// Bytes of one string property as the service counts them (UTF-16): 64 KiB.
pub const MAX_PROPERTY_BYTES: usize = 64 * 1024;

const JSON: &str = "application/json";
const ACCEPT: &str = "application/json;odata=minimalmetadata";

/// One entity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entity {
    /// PartitionKey.
    pub partition_key: String,
    /// RowKey.
    pub row_key: String,
    /// Other properties (costkit writes strings only).
    pub props: Map<String, Value>,
    /// The ETag the service returned, for conditional writes.
    pub etag: Option<String>,
}

impl Entity {
    /// An entity with no properties yet.
    pub fn new(pk: impl Into<String>, rk: impl Into<String>) -> Entity {
        Entity {
            partition_key: pk.into(),
            row_key: rk.into(),
            ..Entity::default()
        }
    }

    /// Sets a string property.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Entity {
        self.props
            .insert(name.to_string(), Value::String(value.into()));
        self
    }

    /// A string property.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.props.get(name).and_then(Value::as_str)
    }

    /// A string property that must be there; the error names the entity and property.
    pub fn require(&self, name: &str) -> Result<&str, AzureError> {
        self.get(name).ok_or_else(|| {
            AzureError::invalid(
                self.what(),
                format!("property `{name}` is missing or not a string"),
            )
        })
    }

    /// `PartitionKey/RowKey`, for messages.
    pub fn what(&self) -> String {
        format!(
            "entity PartitionKey={} RowKey={}",
            self.partition_key, self.row_key
        )
    }

    fn body(&self) -> Vec<u8> {
        let mut m = self.props.clone();
        m.insert(
            "PartitionKey".into(),
            Value::String(self.partition_key.clone()),
        );
        m.insert("RowKey".into(), Value::String(self.row_key.clone()));
        serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
    }

    fn from_json(v: Value, etag: Option<String>) -> Result<Entity, AzureError> {
        let Value::Object(mut m) = v else {
            return Err(AzureError::invalid(
                "Table response",
                "an entity is not a JSON object",
            ));
        };
        let take = |m: &mut Map<String, Value>, k: &str| match m.remove(k) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(AzureError::invalid(
                "Table response",
                format!("entity without `{k}`"),
            )),
        };
        let partition_key = take(&mut m, "PartitionKey")?;
        let row_key = take(&mut m, "RowKey")?;
        let etag = etag.or_else(|| match m.get("odata.etag") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        });
        m.retain(|k, _| !k.starts_with("odata.") && !k.contains("@odata.") && k != "Timestamp");
        Ok(Entity {
            partition_key,
            row_key,
            props: m,
            etag,
        })
    }
}

/// One operation of an entity group transaction.
#[derive(Clone, Debug)]
pub enum BatchOp {
    /// Insert; fails the transaction when the entity exists.
    Insert(Entity),
    /// Insert or replace (no condition).
    Upsert(Entity),
    /// Replace if the entity still has this ETag.
    Replace(Entity, String),
    /// Delete if the entity has this ETag (`*`: any).
    Delete {
        /// RowKey (the transaction's PartitionKey is shared).
        row_key: String,
        /// ETag or `*`.
        etag: String,
    },
}

/// Quotes a key for an entity address: single quotes doubled.
fn quote(s: &str) -> String {
    s.replace('\'', "''")
}

/// An OData string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", quote(s))
}

/// A query string with `%20` for spaces (form encoding's `+` is not read as a space by every
/// storage front end).
fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                form_urlencoded::byte_serialize(s.as_bytes())
                    .collect::<String>()
                    .replace('+', "%20")
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// One table of a storage account.
#[derive(Clone, Debug)]
pub struct Table {
    storage: Storage,
    name: String,
}

impl Table {
    /// The table `name` (3–63 letters and digits, starting with a letter).
    pub fn new(storage: &Storage, name: &str) -> Table {
        Table {
            storage: storage.clone(),
            name: name.to_string(),
        }
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn call<'a>(&self, operation: &'static str, what: &'a str) -> Call<'a> {
        Call {
            service: SVC,
            operation,
            what,
        }
    }

    fn entity_url(&self, pk: &str, rk: &str) -> Url {
        let seg = format!(
            "{}(PartitionKey='{}',RowKey='{}')",
            self.name,
            quote(pk),
            quote(rk)
        );
        self.storage.url(Service::Table, [seg.as_str()])
    }

    fn what(&self, pk: &str, rk: &str) -> String {
        format!("{}: PartitionKey={pk} RowKey={rk}", self.name)
    }

    /// Creates the table; an existing one is left as it is. Deployments create it from the
    /// infrastructure code; this is for tests and local set-ups.
    pub async fn create(&self) -> Result<(), AzureError> {
        let url = self.storage.url(Service::Table, ["Tables"]);
        let body =
            serde_json::to_vec(&serde_json::json!({ "TableName": self.name })).unwrap_or_default();
        let call = self.call("CreateTable", &self.name);
        let resp = self
            .storage
            .send(
                &call,
                Service::Table,
                Method::POST,
                &url,
                &[
                    ("content-type", JSON.into()),
                    ("accept", ACCEPT.into()),
                    ("prefer", "return-no-content".into()),
                ],
                Some(&body),
            )
            .await?;
        if resp.status().is_success() || resp.status().as_u16() == 409 {
            Ok(())
        } else {
            Err(api_error(&call, resp).await)
        }
    }

    /// The entity, or `None` when it does not exist.
    pub async fn get(&self, pk: &str, rk: &str) -> Result<Option<Entity>, AzureError> {
        let what = self.what(pk, rk);
        let call = self.call("GetEntity", &what);
        let resp = self
            .storage
            .send(
                &call,
                Service::Table,
                Method::GET,
                &self.entity_url(pk, rk),
                &[("accept", ACCEPT.into())],
                None,
            )
            .await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(api_error(&call, resp).await);
        }
        let etag = etag_of(&resp);
        let v: Value = resp
            .json()
            .await
            .map_err(|e| AzureError::invalid(&what, format!("response: {e}")))?;
        Entity::from_json(v, etag).map(Some)
    }

    /// Inserts a new entity and returns its ETag; 409 (`EntityAlreadyExists`) when it exists.
    pub async fn insert(&self, e: &Entity) -> Result<String, AzureError> {
        let what = self.what(&e.partition_key, &e.row_key);
        let call = self.call("InsertEntity", &what);
        let url = self.storage.url(Service::Table, [self.name.as_str()]);
        let resp = self
            .storage
            .send_ok(
                &call,
                Service::Table,
                Method::POST,
                &url,
                &[
                    ("content-type", JSON.into()),
                    ("accept", ACCEPT.into()),
                    ("prefer", "return-no-content".into()),
                ],
                Some(&e.body()),
            )
            .await?;
        Ok(etag_of(&resp).unwrap_or_default())
    }

    /// Replaces the entity if it still has `etag` (412 otherwise), or inserts/replaces it
    /// unconditionally when `etag` is `None`. Returns the new ETag.
    pub async fn replace(&self, e: &Entity, etag: Option<&str>) -> Result<String, AzureError> {
        let what = self.what(&e.partition_key, &e.row_key);
        let call = self.call(
            if etag.is_some() {
                "UpdateEntity"
            } else {
                "InsertOrReplaceEntity"
            },
            &what,
        );
        let mut headers = vec![
            ("content-type", JSON.to_string()),
            ("accept", ACCEPT.into()),
        ];
        if let Some(t) = etag {
            headers.push(("if-match", t.to_string()));
        }
        let resp = self
            .storage
            .send_ok(
                &call,
                Service::Table,
                Method::PUT,
                &self.entity_url(&e.partition_key, &e.row_key),
                &headers,
                Some(&e.body()),
            )
            .await?;
        Ok(etag_of(&resp).unwrap_or_default())
    }

    /// Deletes the entity if it has `etag` (`*`: any). A missing entity is 404.
    pub async fn delete(&self, pk: &str, rk: &str, etag: &str) -> Result<(), AzureError> {
        let what = self.what(pk, rk);
        let call = self.call("DeleteEntity", &what);
        self.storage
            .send_ok(
                &call,
                Service::Table,
                Method::DELETE,
                &self.entity_url(pk, rk),
                &[("accept", ACCEPT.into()), ("if-match", etag.to_string())],
                None,
            )
            .await?;
        Ok(())
    }

    /// Every entity matching the OData `filter`, following continuation tokens. `select` limits
    /// the properties returned (keys are always returned).
    pub async fn query(
        &self,
        filter: &str,
        select: Option<&str>,
    ) -> Result<Vec<Entity>, AzureError> {
        let what = format!("{} where {filter}", self.name);
        let call = self.call("QueryEntities", &what);
        let mut out = Vec::new();
        let mut next: Option<(String, Option<String>)> = None;
        let seg = format!("{}()", self.name);
        loop {
            let mut url = self.storage.url(Service::Table, [seg.as_str()]);
            let mut pairs: Vec<(&str, &str)> = vec![("$filter", filter)];
            if let Some(s) = select {
                pairs.push(("$select", s));
            }
            if let Some((pk, rk)) = &next {
                pairs.push(("NextPartitionKey", pk));
                if let Some(rk) = rk {
                    pairs.push(("NextRowKey", rk));
                }
            }
            url.set_query(Some(&query_string(&pairs)));
            let resp = self
                .storage
                .send_ok(
                    &call,
                    Service::Table,
                    Method::GET,
                    &url,
                    &[("accept", ACCEPT.into())],
                    None,
                )
                .await?;
            let header = |n: &str| {
                resp.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let npk = header("x-ms-continuation-nextpartitionkey");
            let nrk = header("x-ms-continuation-nextrowkey");
            let v: Value = resp
                .json()
                .await
                .map_err(|e| AzureError::invalid(&what, format!("response: {e}")))?;
            let Some(Value::Array(items)) = v.get("value").cloned() else {
                return Err(AzureError::invalid(&what, "response without `value`"));
            };
            for item in items {
                out.push(Entity::from_json(item, None)?);
            }
            match npk {
                Some(pk) => next = Some((pk, nrk)),
                None => return Ok(out),
            }
        }
    }

    /// Entities of partition `pk` whose RowKey starts with `prefix` (a range query on the key).
    pub async fn query_prefix(
        &self,
        pk: &str,
        prefix: &str,
        select: Option<&str>,
    ) -> Result<Vec<Entity>, AzureError> {
        let mut filter = format!("PartitionKey eq {}", literal(pk));
        if !prefix.is_empty() {
            filter.push_str(&format!(
                " and RowKey ge {} and RowKey lt {}",
                literal(prefix),
                literal(&prefix_end(prefix))
            ));
        }
        self.query(&filter, select).await
    }

    /// Runs `ops` on partition `pk` as one entity group transaction: all or nothing. At most
    /// [`MAX_BATCH`] operations. A failed operation fails the whole transaction with its status
    /// (409 exists, 412 ETag changed, 404 missing).
    pub async fn batch(&self, pk: &str, ops: &[BatchOp]) -> Result<(), AzureError> {
        if ops.is_empty() {
            return Ok(());
        }
        let what = format!(
            "{}: PartitionKey={pk} ({} operations)",
            self.name,
            ops.len()
        );
        let call = self.call("EntityGroupTransaction", &what);
        if ops.len() > MAX_BATCH {
            return Err(AzureError::Config(format!(
                "{what}: more than {MAX_BATCH} operations in one transaction"
            )));
        }
        let id = format!("{:032x}", fastrand::u128(..));
        let batch = format!("batch_{id}");
        let changeset = format!("changeset_{id}");
        let mut body = String::new();
        body.push_str(&format!(
            "--{batch}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        ));
        for op in ops {
            let (method, rk, etag, entity): (&str, &str, Option<&str>, Option<&Entity>) = match op {
                BatchOp::Insert(e) => ("POST", "", None, Some(e)),
                BatchOp::Upsert(e) => ("PUT", e.row_key.as_str(), None, Some(e)),
                BatchOp::Replace(e, t) => ("PUT", e.row_key.as_str(), Some(t.as_str()), Some(e)),
                BatchOp::Delete { row_key, etag } => {
                    ("DELETE", row_key.as_str(), Some(etag.as_str()), None)
                }
            };
            if let Some(e) = entity {
                if e.partition_key != pk {
                    return Err(AzureError::Config(format!(
                        "{what}: {} is in another partition",
                        e.what()
                    )));
                }
            }
            let url = if method == "POST" {
                self.storage.url(Service::Table, [self.name.as_str()])
            } else {
                self.entity_url(pk, rk)
            };
            body.push_str(&format!(
                "--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{method} {url} HTTP/1.1\r\nAccept: {ACCEPT}\r\nDataServiceVersion: 3.0\r\n"
            ));
            if let Some(t) = etag {
                body.push_str(&format!("If-Match: {t}\r\n"));
            }
            match entity {
                Some(e) => {
                    let json = String::from_utf8(e.body()).unwrap_or_default();
                    body.push_str(&format!(
                        "Content-Type: {JSON}\r\nPrefer: return-no-content\r\n\r\n{json}\r\n"
                    ));
                }
                None => body.push_str("\r\n"),
            }
        }
        body.push_str(&format!("--{changeset}--\r\n--{batch}--\r\n"));
        let url = self.storage.url(Service::Table, ["$batch"]);
        let resp = self
            .storage
            .send_ok(
                &call,
                Service::Table,
                Method::POST,
                &url,
                &[
                    ("content-type", format!("multipart/mixed; boundary={batch}")),
                    ("accept", ACCEPT.into()),
                    ("dataserviceversion", "3.0".into()),
                    ("maxdataserviceversion", "3.0;NetFx".into()),
                ],
                Some(body.as_bytes()),
            )
            .await?;
        let text = resp
            .text()
            .await
            .map_err(|e| AzureError::invalid(&what, format!("response: {e}")))?;
        check_batch_response(&call, &text)
    }
}

/// The first key after every key that starts with `prefix`.
pub fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(u32::from(last) + 1) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    String::from(char::MAX)
}

fn etag_of(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A transaction's answer is `202` with one sub-response per operation, or a single
/// sub-response with the status of the operation that failed (its message starts with the
/// operation's index).
fn check_batch_response(call: &Call<'_>, text: &str) -> Result<(), AzureError> {
    let mut seen = 0;
    for (i, _) in text.match_indices("HTTP/1.1 ") {
        seen += 1;
        let rest = &text[i + 9..];
        let status: u16 = rest.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
        if !(200..300).contains(&status) {
            let body = rest.split("\r\n\r\n").nth(1).unwrap_or("");
            let body = body.split("\r\n--").next().unwrap_or("").trim();
            let (code, message) = match serde_json::from_str::<Value>(body) {
                Ok(v) => {
                    let e = v.get("odata.error").unwrap_or(&v);
                    (
                        e.get("code").and_then(Value::as_str).map(str::to_string),
                        e.get("message")
                            .and_then(|m| m.get("value").or(Some(m)))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    )
                }
                Err(_) => (None, None),
            };
            return Err(AzureError::Api(ApiError::new(
                call,
                status,
                code,
                message.unwrap_or_else(|| body.chars().take(300).collect()),
            )));
        }
    }
    if seen == 0 {
        return Err(AzureError::invalid(
            call.what,
            "the transaction's response has no sub-responses",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ranges() {
        assert_eq!(prefix_end("s!2024-09!"), "s!2024-09\"");
        assert_eq!(prefix_end("d!"), "d\"");
        assert!("d!00001" < prefix_end("d!").as_str());
        assert!("e" > prefix_end("d!").as_str());
    }

    #[test]
    fn a_failed_transaction_names_status_and_code() {
        let call = Call {
            service: SVC,
            operation: "EntityGroupTransaction",
            what: "t",
        };
        let failed = "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nHTTP/1.1 412 Precondition Failed\r\nContent-Type: application/json;odata=minimalmetadata;charset=utf-8\r\n\r\n{\"odata.error\":{\"code\":\"UpdateConditionNotSatisfied\",\"message\":{\"lang\":\"en-US\",\"value\":\"1:The update condition specified in the request was not satisfied.\"}}}\r\n--changesetresponse_2--\r\n--batchresponse_1--\r\n";
        let e = check_batch_response(&call, failed).expect_err("failed");
        assert_eq!(e.status(), Some(412));
        assert_eq!(e.code(), Some("UpdateConditionNotSatisfied"));
        assert!(e.to_string().contains("1:The update condition"), "{e}");
        let ok = "--b\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n--b\r\n\r\nHTTP/1.1 201 Created\r\n\r\n--b--";
        assert!(check_batch_response(&call, ok).is_ok());
    }
}
