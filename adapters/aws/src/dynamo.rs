//! The DynamoDB store: costkit's [`CostStore`] port over one table (single-table design).
//!
//! Layout (full description and rationale in `docs/aws-dynamodb.md`); key attributes `pk`/`sk`
//! (strings), TTL attribute `expires_at`:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | load id counter | `META` | `LOAD_SEQ` |
//! | load record | `LOAD` | load id, 20 digits |
//! | slice pointer | `SLICE` | `<period>#<provider>#<account>` |
//! | daily rows, packed | `GEN#<provider>#<account>#<period>#<gen>` | `D#<chunk>` |
//! | tag rows, packed per key | same | `T#<tag key>#<chunk>` |
//! | state item (`ports::DynamoState`) | `STATE#<key>` | `STATE` |
//!
//! A replace writes each slice's rows into a fresh *generation* partition, then flips the slice
//! pointers to it in one transaction (with the load record), then deletes older generations.
//! Readers follow the pointers and re-check them after reading, so they see a slice's old rows or
//! its new rows, never a mix.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType,
    Put, PutRequest, ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
    Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use costkit_core::aggregate::{DailyKey, DailyRow, LoadBatch, Slice, Sums, TagKey, TagRow};
use costkit_core::money::{Currency, CurrencyTotals};
use costkit_core::store::{CostStore, Filter, LoadInfo, LoadMeta, LoadReport, StoreError};
use costkit_core::text::Text;
use rust_decimal::Decimal;
use tokio::runtime::Handle;

use crate::clients::AwsClients;
use crate::error::AwsError;
use crate::retry::Backoff;

type Item = HashMap<String, AttributeValue>;

const SVC: &str = "DynamoDB";
/// Items per `BatchWriteItem` request (the API's limit).
const BATCH: usize = 25;
/// `BatchWriteItem` requests in flight at once while writing one load.
const IN_FLIGHT: usize = 4;
/// Slice pointers per `TransactWriteItems` (the API allows 100 items; one is the load record).
const FLIPS_PER_TRANSACTION: usize = 99;
/// Times a read is repeated when a slice was replaced while it was being read.
const READ_ATTEMPTS: u32 = 5;
/// The TTL attribute (enable TTL on it: `DynamoStore::create_table` does).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The DynamoDB store.
///
/// The [`CostStore`] port is synchronous and the SDK is async: the trait methods run the async
/// implementation with `Handle::block_on` on the runtime handle given at construction. Call them
/// from a thread that is **not** a runtime worker (in a Lambda handler:
/// `tokio::task::spawn_blocking(move || store.replace(..))`), on a multi-thread runtime. Async
/// code can call the `*_async` methods directly instead.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    handle: Handle,
    backoff: Backoff,
}

/// A slice pointer as stored.
#[derive(Clone, Debug)]
struct Pointer {
    slice: Slice,
    /// The generation (= owning load id) readers follow; `None` while the slice's first load
    /// has not committed.
    gen: Option<i64>,
    /// Generations written and not yet deleted (the current one, in-flight ones, crashed ones).
    gens: Vec<i64>,
}

// ---------------------------------------------------------------------------------------------
// Key encoding and attribute helpers.

/// Escapes `%` and `#` so free text (tag keys, provider names) cannot forge a key separator.
fn enc(s: &str) -> String {
    s.replace('%', "%25").replace('#', "%23")
}

fn slice_sk(s: &Slice) -> String {
    format!(
        "{}#{}#{}",
        enc(&s.billing_period),
        enc(&s.provider),
        enc(&s.billing_account_id)
    )
}

fn gen_pk(s: &Slice, gen: i64) -> String {
    format!(
        "GEN#{}#{}#{}#{gen}",
        enc(&s.provider),
        enc(&s.billing_account_id),
        enc(&s.billing_period)
    )
}

fn load_sk(load_id: i64) -> String {
    format!("{load_id:020}")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn amount(d: Decimal) -> AttributeValue {
    // DynamoDB numbers hold 38 significant digits, more than a Decimal has: exact.
    AttributeValue::N(d.normalize().to_string())
}

fn totals_attr(t: &CurrencyTotals) -> AttributeValue {
    AttributeValue::M(
        t.normalized()
            .0
            .iter()
            .map(|(c, d)| (c.as_str().to_string(), amount(*d)))
            .collect(),
    )
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> AwsError {
    AwsError::Config(format!("DynamoDB request: {e}"))
}

/// Reads typed attributes of one item, naming the item in every error.
struct Reader<'a> {
    item: &'a Item,
}

impl<'a> Reader<'a> {
    fn new(item: &'a Item) -> Self {
        Reader { item }
    }

    fn what(&self) -> String {
        let key = |k: &str| match self.item.get(k) {
            Some(AttributeValue::S(v)) => v.clone(),
            _ => "?".into(),
        };
        format!("DynamoDB item pk={} sk={}", key("pk"), key("sk"))
    }

    fn bad(&self, field: &str, msg: &str) -> AwsError {
        AwsError::Invalid {
            what: self.what(),
            message: format!("attribute `{field}`: {msg}"),
        }
    }

    fn opt_s(&self, field: &str) -> Result<Option<&'a str>, AwsError> {
        match self.item.get(field) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(self.bad(field, "not a string")),
        }
    }

    fn s(&self, field: &str) -> Result<&'a str, AwsError> {
        self.opt_s(field)?.ok_or_else(|| self.bad(field, "missing"))
    }

    fn text(&self, field: &str) -> Result<Text, AwsError> {
        Ok(Text::from(self.s(field)?))
    }

    fn opt_n(&self, field: &str) -> Result<Option<&'a str>, AwsError> {
        match self.item.get(field) {
            None => Ok(None),
            Some(AttributeValue::N(v)) => Ok(Some(v.as_str())),
            Some(_) => Err(self.bad(field, "not a number")),
        }
    }

    fn int(&self, field: &str) -> Result<i64, AwsError> {
        let v = self
            .opt_n(field)?
            .ok_or_else(|| self.bad(field, "missing"))?;
        v.parse()
            .map_err(|_| self.bad(field, &format!("`{v}` is not an integer")))
    }

    fn opt_int(&self, field: &str) -> Result<Option<i64>, AwsError> {
        match self.opt_n(field)? {
            None => Ok(None),
            Some(_) => self.int(field).map(Some),
        }
    }

    fn int_set(&self, field: &str) -> Result<Vec<i64>, AwsError> {
        match self.item.get(field) {
            None => Ok(Vec::new()),
            Some(AttributeValue::Ns(v)) => v
                .iter()
                .map(|x| {
                    x.parse()
                        .map_err(|_| self.bad(field, &format!("`{x}` is not an integer")))
                })
                .collect(),
            Some(_) => Err(self.bad(field, "not a number set")),
        }
    }

    fn totals(&self, field: &str) -> Result<CurrencyTotals, AwsError> {
        let Some(AttributeValue::M(m)) = self.item.get(field) else {
            return Err(self.bad(field, "missing or not a map"));
        };
        let mut t = CurrencyTotals::default();
        for (cur, v) in m {
            let AttributeValue::N(v) = v else {
                return Err(self.bad(field, &format!("`{cur}` is not a number")));
            };
            let d = parse_number(v)
                .ok_or_else(|| self.bad(field, &format!("`{cur}`: `{v}` is not a decimal")))?;
            t.add(&Currency::new(cur), d);
        }
        Ok(t)
    }

    /// Rows packed by [`pack`].
    fn packed<T: serde::de::DeserializeOwned>(&self, field: &str) -> Result<Vec<T>, AwsError> {
        use std::io::Read;
        let Some(AttributeValue::B(b)) = self.item.get(field) else {
            return Err(self.bad(field, "missing or not binary"));
        };
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(b.as_ref())
            .read_to_end(&mut json)
            .map_err(|e| self.bad(field, &format!("not gzip data: {e}")))?;
        serde_json::from_slice(&json).map_err(|e| self.bad(field, &format!("packed rows: {e}")))
    }
}

/// DynamoDB may answer numbers in exponent form (`1E+2`); `Decimal::from_str` does not take it.
fn parse_number(v: &str) -> Option<Decimal> {
    Decimal::from_str(v)
        .ok()
        .or_else(|| Decimal::from_scientific(v).ok())
}

/// Rows per packed item. A daily row is about 300 bytes of JSON before compression, so an item
/// stays far below DynamoDB's 400 KB limit even if nothing compresses.
const ROWS_PER_ITEM: usize = 1000;

/// Packs rows as gzip-compressed JSON. DynamoDB bills a write per started KB of each item and a
/// read per 4 KB: one item per row (about 300 bytes with attribute names) paid a whole write unit
/// for each row, where packed rows cost about 30 bytes each.
fn pack<T: serde::Serialize>(rows: &[T]) -> Result<AttributeValue, AwsError> {
    use std::io::Write;
    let json = serde_json::to_vec(rows)
        .map_err(|e| AwsError::Config(format!("packing rows for DynamoDB: {e}")))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json)
        .and_then(|_| gz.finish())
        .map(|b| AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(b)))
        .map_err(|e| AwsError::Config(format!("compressing rows for DynamoDB: {e}")))
}

/// The items of one slice's generation, in a deterministic order (so a re-run writes the same keys):
/// daily rows packed [`ROWS_PER_ITEM`] to an item (`D#<chunk>`), then per-tag rows packed per tag
/// key (`T#<tag key>#<chunk>`, so one key's rows are one `begins_with` query).
fn generation_items(
    slice: &Slice,
    gen: i64,
    data: &costkit_core::aggregate::SliceData,
) -> Result<Vec<Item>, AwsError> {
    let pk = gen_pk(slice, gen);
    let mut out = Vec::new();
    let mut daily: Vec<(&DailyKey, &Sums)> = data.daily.iter().collect();
    daily.sort_by(|a, b| a.0.cmp(b.0));
    for (chunk, rows) in daily.chunks(ROWS_PER_ITEM).enumerate() {
        let mut item: Item = HashMap::with_capacity(4);
        item.insert("pk".into(), s(pk.clone()));
        item.insert("sk".into(), s(format!("D#{chunk:05}")));
        item.insert("rows_packed".into(), pack(rows)?);
        item.insert("n".into(), n(rows.len()));
        out.push(item);
    }
    let mut tags: Vec<(&TagKey, &Sums)> = data.tags.iter().collect();
    tags.sort_by(|a, b| a.0.cmp(b.0));
    for group in tags.chunk_by(|a, b| a.0.key == b.0.key) {
        let key = group[0].0.key.as_str();
        for (chunk, rows) in group.chunks(ROWS_PER_ITEM).enumerate() {
            let mut item: Item = HashMap::with_capacity(5);
            item.insert("pk".into(), s(pk.clone()));
            item.insert("sk".into(), s(format!("T#{}#{chunk:05}", enc(key))));
            item.insert("tag_key".into(), s(key));
            item.insert("rows_packed".into(), pack(rows)?);
            item.insert("n".into(), n(rows.len()));
            out.push(item);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// BatchWriteItem with UnprocessedItems handling.

/// Writes (puts or deletes) `requests` with `BatchWriteItem`, 25 per request and a few requests in
/// flight. Items DynamoDB leaves unprocessed (throughput exceeded on a partition) are sent again
/// after a [`Backoff`] wait; after `backoff.max_attempts` rounds the call fails naming how many
/// items are left. Whole-request throttling (`ProvisionedThroughputExceededException`) is
/// retried by the SDK's standard retry before this sees it.
pub async fn batch_write(
    client: &Client,
    table: &str,
    requests: Vec<WriteRequest>,
    backoff: &Backoff,
) -> Result<(), AwsError> {
    let mut chunks: Vec<Vec<WriteRequest>> = Vec::new();
    let mut rest = requests;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(BATCH));
        chunks.push(std::mem::replace(&mut rest, tail));
    }
    let mut set = tokio::task::JoinSet::new();
    let mut pending = chunks.into_iter();
    let mut first_error: Option<AwsError> = None;
    loop {
        while set.len() < IN_FLIGHT && first_error.is_none() {
            let Some(chunk) = pending.next() else { break };
            let client = client.clone();
            let table = table.to_string();
            let backoff = backoff.clone();
            set.spawn(async move { write_chunk(&client, &table, chunk, &backoff).await });
        }
        let Some(done) = set.join_next().await else {
            break;
        };
        let result = done.map_err(|e| AwsError::Api {
            service: SVC,
            operation: "BatchWriteItem",
            code: None,
            message: format!("writer task failed: {e}"),
        })?;
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

async fn write_chunk(
    client: &Client,
    table: &str,
    mut chunk: Vec<WriteRequest>,
    backoff: &Backoff,
) -> Result<(), AwsError> {
    let mut round = 1;
    loop {
        let out = client
            .batch_write_item()
            .request_items(table, chunk)
            .send()
            .await
            .map_err(|e| AwsError::api(SVC, "BatchWriteItem", e))?;
        let left = out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .unwrap_or_default();
        if left.is_empty() {
            return Ok(());
        }
        if round >= backoff.max_attempts.max(1) {
            return Err(AwsError::RetriesExhausted {
                service: SVC,
                operation: "BatchWriteItem",
                attempts: round,
                last: format!("{} items still unprocessed", left.len()),
            });
        }
        tracing::debug!(
            unprocessed = left.len(),
            round,
            "BatchWriteItem left items unprocessed; retrying"
        );
        backoff.sleep(round).await;
        round += 1;
        chunk = left;
    }
}

fn put_request(item: Item) -> Result<WriteRequest, AwsError> {
    Ok(WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(build_err)?,
        )
        .build())
}

fn delete_request(key: Item) -> Result<WriteRequest, AwsError> {
    Ok(WriteRequest::builder()
        .delete_request(
            DeleteRequest::builder()
                .set_key(Some(key))
                .build()
                .map_err(build_err)?,
        )
        .build())
}

// ---------------------------------------------------------------------------------------------
// The store.

impl DynamoStore {
    /// A store over `table`, running its synchronous methods on `handle`'s runtime.
    pub fn new(clients: &AwsClients, table: &str, handle: Handle) -> DynamoStore {
        DynamoStore {
            client: clients.dynamodb().clone(),
            table: table.to_string(),
            handle,
            backoff: clients.settings().backoff.clone(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand capacity, `pk`/`sk` string keys, TTL on `expires_at`) and
    /// waits until it is active. Deployments create it from the template; this is for tests and
    /// local set-ups. An existing table is left as it is.
    pub async fn create_table(&self) -> Result<(), AwsError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)
        };
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
                .map_err(build_err)
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(AwsError::api(SVC, "CreateTable", e)),
        }
        let mut active = false;
        for _ in 0..120 {
            let d = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| AwsError::api(SVC, "DescribeTable", e))?;
            active = d
                .table
                .and_then(|t| t.table_status)
                .is_some_and(|s| s == aws_sdk_dynamodb::types::TableStatus::Active);
            if active {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if !active {
            return Err(AwsError::Api {
                service: SVC,
                operation: "DescribeTable",
                code: None,
                message: format!("table `{}` did not become ACTIVE within 60 s", self.table),
            });
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(TTL_ATTRIBUTE)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(|e| AwsError::api(SVC, "UpdateTimeToLive", e))?;
        Ok(())
    }

    fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
        HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
    }

    /// Takes the next load id from the atomic counter item.
    async fn next_load_id(&self) -> Result<i64, AwsError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key("META", "LOAD_SEQ")))
            .update_expression("ADD #n :one")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| AwsError::api(SVC, "UpdateItem", e))?;
        let attrs = out.attributes.unwrap_or_default();
        Reader::new(&attrs).int("n")
    }

    /// Adds `gen` to a slice's set of live generations (creating the pointer if needed) before
    /// any of its rows are written, so a crash mid-write leaves a trace the next replace cleans
    /// up. Returns the generation readers followed before (the slice is being *replaced*).
    async fn register_generation(&self, slice: &Slice, gen: i64) -> Result<Option<i64>, AwsError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key("SLICE", slice_sk(slice))))
            .update_expression("SET #p = :p, #a = :a, #per = :per ADD #gens :g")
            .expression_attribute_names("#p", "provider")
            .expression_attribute_names("#a", "billing_account_id")
            .expression_attribute_names("#per", "billing_period")
            .expression_attribute_names("#gens", "gens")
            .expression_attribute_values(":p", s(slice.provider.as_str()))
            .expression_attribute_values(":a", s(slice.billing_account_id.as_str()))
            .expression_attribute_values(":per", s(slice.billing_period.clone()))
            .expression_attribute_values(":g", AttributeValue::Ns(vec![gen.to_string()]))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| AwsError::api(SVC, "UpdateItem", e))?;
        match out.attributes {
            Some(old) => Reader::new(&old).opt_int("gen"),
            None => Ok(None),
        }
    }

    fn flip_item(
        &self,
        slice: &Slice,
        gen: i64,
        name: Option<&Text>,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key("SLICE", slice_sk(slice))))
            .condition_expression("attribute_not_exists(#gen) OR #gen < :g")
            .expression_attribute_names("#gen", "gen")
            .expression_attribute_names("#name", "billing_account_name")
            .expression_attribute_values(":g", n(gen));
        u = match name {
            Some(nm) => u
                .update_expression("SET #gen = :g, #name = :name")
                .expression_attribute_values(":name", s(nm.as_str())),
            None => u.update_expression("SET #gen = :g REMOVE #name"),
        };
        Ok(TransactWriteItem::builder()
            .update(u.build().map_err(build_err)?)
            .build())
    }

    fn load_record(
        &self,
        load_id: i64,
        batch: &LoadBatch,
        meta: &LoadMeta,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut item: Item = Self::key("LOAD", load_sk(load_id));
        item.insert("load_id".into(), n(load_id));
        item.insert("dialect".into(), s(meta.dialect.clone()));
        item.insert(
            "files".into(),
            AttributeValue::L(meta.files.iter().map(|f| s(f.clone())).collect()),
        );
        item.insert("loaded_at".into(), s(meta.loaded_at.clone()));
        item.insert("records".into(), n(batch.records));
        item.insert("billed".into(), totals_attr(&batch.billed));
        item.insert("effective".into(), totals_attr(&batch.effective));
        Ok(TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(build_err)?,
            )
            .build())
    }

    /// Flips the pointers of the batch's slices to generation `load_id` and writes the load
    /// record, in transactions of at most 100 items (the record goes with the last one, so a
    /// listed load is a complete one). Slices a newer load took over meanwhile are left to it.
    /// Returns the slices flipped.
    async fn flip(
        &self,
        load_id: i64,
        batch: &LoadBatch,
        meta: &LoadMeta,
    ) -> Result<Vec<Slice>, AwsError> {
        let all: Vec<&Slice> = batch.slices.keys().collect();
        let mut chunks: Vec<Vec<&Slice>> = all
            .chunks(FLIPS_PER_TRANSACTION)
            .map(<[&Slice]>::to_vec)
            .collect();
        if chunks.is_empty() {
            chunks.push(Vec::new());
        }
        let count = chunks.len();
        let mut flipped = Vec::new();
        let mut superseded = 0usize;
        for (i, mut live) in chunks.into_iter().enumerate() {
            let last = i + 1 == count;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut items = Vec::with_capacity(live.len() + 1);
                for sl in &live {
                    let name = batch
                        .slices
                        .get(*sl)
                        .and_then(|d| d.billing_account_name.as_ref());
                    items.push(self.flip_item(sl, load_id, name)?);
                }
                if last {
                    items.push(self.load_record(load_id, batch, meta)?);
                }
                let sent = self
                    .client
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    // Makes the SDK's own retries of this call idempotent (10-minute window);
                    // random because a token reused with other items is an error.
                    .client_request_token(format!("{:032x}", fastrand::u128(..)))
                    .send()
                    .await;
                let e = match sent {
                    Ok(_) => {
                        flipped.extend(live.iter().map(|s| (*s).clone()));
                        break;
                    }
                    Err(e) => e,
                };
                let conflict = e
                    .as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception());
                if !conflict || attempt >= 3 {
                    return Err(AwsError::api(SVC, "TransactWriteItems", e));
                }
                // A condition failed: a slice now belongs to a newer load, or an earlier attempt
                // did commit after all. Sort the slices out and send the rest again.
                let mut still = Vec::new();
                for sl in live {
                    match self.pointer(sl).await?.and_then(|p| p.gen) {
                        Some(g) if g > load_id => superseded += 1,
                        Some(g) if g == load_id => flipped.push(sl.clone()),
                        _ => still.push(sl),
                    }
                }
                live = still;
                if last && self.load_exists(load_id).await? {
                    break;
                }
            }
        }
        if superseded > 0 {
            tracing::warn!(
                load_id,
                slices = superseded,
                "newer loads own some slices of this load; their data from this load is dropped"
            );
        }
        Ok(flipped)
    }

    async fn load_exists(&self, load_id: i64) -> Result<bool, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key("LOAD", load_sk(load_id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::api(SVC, "GetItem", e))?;
        Ok(out.item.is_some())
    }

    async fn pointer(&self, slice: &Slice) -> Result<Option<Pointer>, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key("SLICE", slice_sk(slice))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::api(SVC, "GetItem", e))?;
        out.item.as_ref().map(parse_pointer).transpose()
    }

    /// Slice pointers matching `filter` (including ones whose first load has not committed).
    async fn pointers(&self, filter: &Filter) -> Result<Vec<Pointer>, AwsError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .expression_attribute_values(":pk", s("SLICE"));
        q = match &filter.billing_period {
            Some(p) => q
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(format!("{}#", enc(p)))),
            None => q.key_condition_expression("pk = :pk"),
        };
        let items = self.query_all(q).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let p = parse_pointer(item)?;
            if filter
                .billing_period
                .as_ref()
                .is_some_and(|bp| *bp != p.slice.billing_period)
            {
                continue;
            }
            if filter
                .provider
                .as_ref()
                .is_some_and(|pr| pr != p.slice.provider.as_str())
            {
                continue;
            }
            out.push(p);
        }
        Ok(out)
    }

    async fn query_all(
        &self,
        q: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, AwsError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = q
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AwsError::api(SVC, "Query", e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    async fn generation(
        &self,
        slice: &Slice,
        gen: i64,
        prefix: &str,
    ) -> Result<Vec<Item>, AwsError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .expression_attribute_values(":pk", s(gen_pk(slice, gen)));
        // DynamoDB refuses an empty `begins_with` operand.
        let q = if prefix.is_empty() {
            q.key_condition_expression("pk = :pk")
        } else {
            q.key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", s(prefix))
        };
        self.query_all(q).await
    }

    /// Reads the rows under `prefix` of every committed slice matching `filter`, re-reading when a
    /// slice was replaced meanwhile (its old generation may be half deleted).
    async fn read_consistent<T>(
        &self,
        filter: &Filter,
        prefix: &str,
        parse: impl Fn(&Slice, &Item) -> Result<Vec<T>, AwsError>,
    ) -> Result<Vec<T>, AwsError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let before = self.pointers(filter).await?;
            let mut rows = Vec::new();
            let mut seen: BTreeMap<Slice, i64> = BTreeMap::new();
            for p in &before {
                let Some(gen) = p.gen else { continue };
                for item in self.generation(&p.slice, gen, prefix).await? {
                    rows.extend(parse(&p.slice, &item)?);
                }
                seen.insert(p.slice.clone(), gen);
            }
            let after = self.pointers(filter).await?;
            let unchanged = after
                .iter()
                .filter_map(|p| p.gen.map(|g| (&p.slice, g)))
                .all(|(sl, g)| seen.get(sl) == Some(&g))
                && after.iter().filter(|p| p.gen.is_some()).count() == seen.len();
            if unchanged {
                return Ok(rows);
            }
            if attempt >= READ_ATTEMPTS {
                return Err(AwsError::RetriesExhausted {
                    service: SVC,
                    operation: "Query",
                    attempts: attempt,
                    last: "slices kept being replaced while they were read".into(),
                });
            }
            tracing::debug!(
                attempt,
                "a slice was replaced during the read; reading again"
            );
        }
    }

    /// Deletes generations of `slice` older than `current` (and `current` itself when `drop_current`),
    /// then removes them from the pointer's set. Newer generations belong to loads in flight.
    async fn cleanup(
        &self,
        slice: &Slice,
        current: i64,
        drop_current: bool,
    ) -> Result<(), AwsError> {
        let Some(p) = self.pointer(slice).await? else {
            return Ok(());
        };
        let doomed: Vec<i64> = p
            .gens
            .iter()
            .copied()
            .filter(|g| *g < current || (drop_current && *g == current))
            .filter(|g| Some(*g) != p.gen)
            .collect();
        for gen in doomed {
            let q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk")
                .projection_expression("pk, sk")
                .expression_attribute_values(":pk", s(gen_pk(slice, gen)));
            let keys = self.query_all(q).await?;
            let deletes = keys
                .into_iter()
                .map(delete_request)
                .collect::<Result<Vec<_>, _>>()?;
            batch_write(&self.client, &self.table, deletes, &self.backoff).await?;
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::key("SLICE", slice_sk(slice))))
                .update_expression("DELETE #gens :g")
                .expression_attribute_names("#gens", "gens")
                .expression_attribute_values(":g", AttributeValue::Ns(vec![gen.to_string()]))
                .send()
                .await
                .map_err(|e| AwsError::api(SVC, "UpdateItem", e))?;
        }
        Ok(())
    }

    /// [`CostStore::replace`], async.
    pub async fn replace_async(
        &self,
        batch: &LoadBatch,
        meta: &LoadMeta,
    ) -> Result<LoadReport, AwsError> {
        let load_id = self.next_load_id().await?;
        let mut replaced = Vec::new();
        let mut writes = Vec::new();
        for (slice, data) in &batch.slices {
            if self.register_generation(slice, load_id).await?.is_some() {
                replaced.push(slice.clone());
            }
            for item in generation_items(slice, load_id, data)? {
                writes.push(put_request(item)?);
            }
        }
        batch_write(&self.client, &self.table, writes, &self.backoff).await?;
        let flipped = self.flip(load_id, batch, meta).await?;
        for slice in batch.slices.keys() {
            let ours = flipped.contains(slice);
            // The data is committed; a failed cleanup only leaves garbage the next replace of the
            // slice removes, so it is logged, not returned.
            if let Err(e) = self.cleanup(slice, load_id, !ours).await {
                tracing::warn!(error = %e, slice = ?slice, "cleanup of old generations failed");
            }
        }
        Ok(LoadReport {
            load_id,
            slices: batch.slices.keys().cloned().collect(),
            replaced,
            records: batch.records,
        })
    }

    /// [`CostStore::daily`], async.
    pub async fn daily_async(&self, filter: &Filter) -> Result<Vec<DailyRow>, AwsError> {
        let mut rows = self
            .read_consistent(filter, "D#", |slice, item| {
                let rows: Vec<(DailyKey, Sums)> = Reader::new(item).packed("rows_packed")?;
                Ok(rows
                    .into_iter()
                    .map(|(key, sums)| DailyRow {
                        slice: slice.clone(),
                        key,
                        sums,
                    })
                    .collect())
            })
            .await?;
        rows.sort_by_key(|a| a.key.day);
        Ok(rows)
    }

    /// [`CostStore::daily_tags`], async.
    pub async fn daily_tags_async(
        &self,
        tag_key: &str,
        filter: &Filter,
    ) -> Result<Vec<TagRow>, AwsError> {
        let prefix = format!("T#{}#", enc(tag_key));
        let mut rows = self
            .read_consistent(filter, &prefix, |slice, item| {
                let rows: Vec<(TagKey, Sums)> = Reader::new(item).packed("rows_packed")?;
                Ok(rows
                    .into_iter()
                    .map(|(key, sums)| TagRow {
                        slice: slice.clone(),
                        key,
                        sums,
                    })
                    .collect())
            })
            .await?;
        rows.sort_by_key(|a| a.key.day);
        Ok(rows)
    }

    /// [`CostStore::tag_keys`], async. Reads the tag rows of the matching slices' current
    /// generations (a query per slice, no scan of the table).
    pub async fn tag_keys_async(&self, filter: &Filter) -> Result<Vec<String>, AwsError> {
        let keys = self
            .read_consistent(filter, "T#", |_slice, item| {
                let r = Reader::new(item);
                Ok(vec![r.s("tag_key")?.to_string()])
            })
            .await?;
        let set: std::collections::BTreeSet<String> = keys.into_iter().collect();
        Ok(set.into_iter().collect())
    }

    /// [`CostStore::loads`], async.
    pub async fn loads_async(&self) -> Result<Vec<LoadInfo>, AwsError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s("LOAD"))
            .scan_index_forward(false);
        let items = self.query_all(q).await?;
        let mut owned: BTreeMap<i64, Vec<Slice>> = BTreeMap::new();
        for p in self.pointers(&Filter::default()).await? {
            if let Some(g) = p.gen {
                owned.entry(g).or_default().push(p.slice);
            }
        }
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let r = Reader::new(item);
            let load_id = r.int("load_id")?;
            let files = match item.get("files") {
                Some(AttributeValue::L(l)) => l
                    .iter()
                    .map(|v| match v {
                        AttributeValue::S(f) => Ok(f.clone()),
                        _ => Err(r.bad("files", "an entry is not a string")),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                _ => return Err(r.bad("files", "missing or not a list")),
            };
            let mut slices = owned.remove(&load_id).unwrap_or_default();
            slices.sort();
            out.push(LoadInfo {
                load_id,
                meta: LoadMeta {
                    dialect: r.s("dialect")?.to_string(),
                    files,
                    loaded_at: r.s("loaded_at")?.to_string(),
                },
                records: u64::try_from(r.int("records")?)
                    .map_err(|_| r.bad("records", "negative"))?,
                billed: r.totals("billed")?,
                effective: r.totals("effective")?,
                slices,
            });
        }
        Ok(out)
    }

    /// Live generations of a slice, ascending (the current one plus any in flight or left by a crash), for
    /// diagnostics and tests.
    pub async fn generations(&self, slice: &Slice) -> Result<Vec<i64>, AwsError> {
        let mut gens = self
            .pointer(slice)
            .await?
            .map(|p| p.gens)
            .unwrap_or_default();
        gens.sort_unstable();
        Ok(gens)
    }

    /// Number of row items stored under generation `gen` of `slice` (diagnostics and tests).
    pub async fn generation_size(&self, slice: &Slice, gen: i64) -> Result<usize, AwsError> {
        Ok(self.generation(slice, gen, "").await?.len())
    }
}

fn parse_pointer(item: &Item) -> Result<Pointer, AwsError> {
    let r = Reader::new(item);
    Ok(Pointer {
        slice: Slice {
            provider: r.text("provider")?,
            billing_account_id: r.text("billing_account_id")?,
            billing_period: r.s("billing_period")?.to_string(),
        },
        gen: r.opt_int("gen")?,
        gens: r.int_set("gens")?,
    })
}

impl CostStore for DynamoStore {
    fn replace(&mut self, batch: &LoadBatch, meta: &LoadMeta) -> Result<LoadReport, StoreError> {
        Ok(self.handle.block_on(self.replace_async(batch, meta))?)
    }

    fn daily(&self, filter: &Filter) -> Result<Vec<DailyRow>, StoreError> {
        Ok(self.handle.block_on(self.daily_async(filter))?)
    }

    fn daily_tags(&self, tag_key: &str, filter: &Filter) -> Result<Vec<TagRow>, StoreError> {
        Ok(self
            .handle
            .block_on(self.daily_tags_async(tag_key, filter))?)
    }

    fn tag_keys(&self, filter: &Filter) -> Result<Vec<String>, StoreError> {
        Ok(self.handle.block_on(self.tag_keys_async(filter))?)
    }

    fn loads(&self) -> Result<Vec<LoadInfo>, StoreError> {
        Ok(self.handle.block_on(self.loads_async())?)
    }
}
