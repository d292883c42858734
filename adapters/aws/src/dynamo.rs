//! The DynamoDB store: costkit's [`CostStore`](costkit_core::store::CostStore) port over one table (single-table design).
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
//! The algorithm is the one every generational store shares
//! ([`costkit_core::store::generational`]); this module gives it DynamoDB's primitives.
//! A replace writes each slice's rows into a fresh *generation* partition, then flips the slice
//! pointers to it in one transaction (with the load record), then deletes older generations.
//! Readers follow the pointers and re-check them after reading, so they see a slice's old rows or
//! its new rows, never a mix.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType,
    Put, PutRequest, ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
    Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use costkit_core::aggregate::{DailyRow, Slice, TagRow};
use costkit_core::money::{Currency, CurrencyTotals};
use costkit_core::store::generational::{
    self, keys, ChunkLimit, ChunkParser, Committed, Flip, FlipOutcome, GenerationalBackend,
    GenerationalStore, Limits, LoadRecord, NewGeneration, ReadMode, SlicePointer,
};
use costkit_core::store::{Filter, LoadMeta};
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
/// Attempts of a pointer flip transaction whose conditions keep failing.
const FLIP_ATTEMPTS: u32 = 3;

/// DynamoDB's limits: rows packed [`ROWS_PER_ITEM`] to a compressed item, up to 99 pointers per
/// `TransactWriteItems` (one item is the load record), each conditional on following an older
/// generation server-side (so pointers are read only after a cancelled transaction), reads that
/// re-check the pointers afterwards.
const LIMITS: Limits = Limits {
    chunk: ChunkLimit::Rows(ROWS_PER_ITEM),
    flips_per_commit: FLIPS_PER_TRANSACTION,
    flip_attempts: FLIP_ATTEMPTS,
    read_before_flip: false,
    reads: ReadMode::Recheck {
        attempts: READ_ATTEMPTS,
    },
};

/// The TTL attribute (enable TTL on it: `DynamoStore::create_table` does).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// The DynamoDB store.
///
/// The [`CostStore`](costkit_core::store::CostStore) port is synchronous and the SDK is async: the trait methods run the async
/// implementation with `Handle::block_on` on the runtime handle given at construction. Call them
/// from a thread that is **not** a runtime worker (in a Lambda handler:
/// `tokio::task::spawn_blocking(move || store.replace(..))`), on a multi-thread runtime. Async
/// code can call the `*_async` methods of
/// [`AsyncCostStore`](costkit_core::store::generational::AsyncCostStore) directly instead.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    handle: Handle,
    backoff: Backoff,
}

/// A slice pointer as stored: nothing but what the shared algorithm reads (its flips are
/// conditional on the generation, server-side).
pub type Pointer = SlicePointer;

// ---------------------------------------------------------------------------------------------
// Key encoding and attribute helpers.

/// Escapes `%` and `#` so free text (tag keys, provider names) cannot forge a key separator.
fn enc(s: &str) -> String {
    s.replace('%', "%25").replace('#', "%23")
}

fn slice_sk(s: &Slice) -> String {
    keys::pointer_key(s, '#', enc)
}

fn gen_pk(s: &Slice, gen: i64) -> String {
    format!("GEN#{}#{gen}", keys::generation_key(s, '#', enc))
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

    /// Rows packed by [`pack`], parsed by `parse` (a [`generational::daily_rows`] or
    /// [`generational::tag_rows`]).
    fn packed<T>(
        &self,
        slice: &Slice,
        field: &str,
        parse: ChunkParser<T>,
    ) -> Result<Vec<T>, AwsError> {
        use std::io::Read;
        let Some(AttributeValue::B(b)) = self.item.get(field) else {
            return Err(self.bad(field, "missing or not binary"));
        };
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(b.as_ref())
            .read_to_end(&mut json)
            .map_err(|e| self.bad(field, &format!("not gzip data: {e}")))?;
        let what = format!("{} attribute `{field}`", self.what());
        Ok(parse(slice, &what, &json)?)
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

/// Compresses a chunk's JSON rows with gzip. DynamoDB bills a write per started KB of each item
/// and a read per 4 KB: one item per row (about 300 bytes with attribute names) paid a whole
/// write unit for each row, where packed rows cost about 30 bytes each.
fn pack(json: &str) -> Result<AttributeValue, AwsError> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.as_bytes())
        .and_then(|_| gz.finish())
        .map(|b| AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(b)))
        .map_err(|e| AwsError::Config(format!("compressing rows for DynamoDB: {e}")))
}

/// The items of one slice's generation, in a deterministic order (so a re-run writes the same
/// keys): daily rows packed [`ROWS_PER_ITEM`] to an item (`D#<chunk>`), then per-tag rows packed
/// per tag key (`T#<tag key>#<chunk>`, so one key's rows are one `begins_with` query).
fn generation_items(gen: i64, g: &NewGeneration<'_>) -> Result<Vec<Item>, AwsError> {
    let pk = gen_pk(g.slice, gen);
    let mut out = Vec::new();
    for (chunk, c) in g.packed.daily.iter().enumerate() {
        let mut item: Item = HashMap::with_capacity(4);
        item.insert("pk".into(), s(pk.clone()));
        item.insert("sk".into(), s(format!("D#{chunk:05}")));
        item.insert("rows_packed".into(), pack(&c.json)?);
        item.insert("n".into(), n(c.rows));
        out.push(item);
    }
    for (key, chunks) in &g.packed.tags {
        for (chunk, c) in chunks.iter().enumerate() {
            let mut item: Item = HashMap::with_capacity(5);
            item.insert("pk".into(), s(pk.clone()));
            item.insert("sk".into(), s(format!("T#{}#{chunk:05}", enc(key))));
            item.insert("tag_key".into(), s(key.as_str()));
            item.insert("rows_packed".into(), pack(&c.json)?);
            item.insert("n".into(), n(c.rows));
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
    async fn take_load_id(&self) -> Result<i64, AwsError> {
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

    fn load_record(&self, r: &LoadRecord) -> Result<TransactWriteItem, AwsError> {
        let mut item: Item = Self::key("LOAD", load_sk(r.load_id));
        item.insert("load_id".into(), n(r.load_id));
        item.insert("dialect".into(), s(r.meta.dialect.clone()));
        item.insert(
            "files".into(),
            AttributeValue::L(r.meta.files.iter().map(|f| s(f.clone())).collect()),
        );
        item.insert("loaded_at".into(), s(r.meta.loaded_at.clone()));
        item.insert("records".into(), n(r.records));
        item.insert("billed".into(), totals_attr(&r.billed));
        item.insert("effective".into(), totals_attr(&r.effective));
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

    /// The items under `prefix` of each committed generation, parsed by `parse`. A generation
    /// deleted meanwhile reads as empty; the shared algorithm's re-check of the pointers
    /// catches it.
    async fn read_items<T>(
        &self,
        committed: &[Committed<'_, Pointer>],
        prefix: &str,
        parse: impl Fn(&Slice, &Item) -> Result<Vec<T>, AwsError>,
    ) -> Result<Vec<T>, AwsError> {
        let mut out = Vec::new();
        for c in committed {
            for item in self.generation(c.slice(), c.gen, prefix).await? {
                out.extend(parse(c.slice(), &item)?);
            }
        }
        Ok(out)
    }

    /// Number of row items stored under generation `gen` of `slice` (diagnostics and tests).
    pub async fn generation_size(&self, slice: &Slice, gen: i64) -> Result<usize, AwsError> {
        Ok(self.generation(slice, gen, "").await?.len())
    }
}

impl GenerationalBackend for DynamoStore {
    type Error = AwsError;
    type Pointer = Pointer;
    type View = ();

    fn limits(&self) -> Limits {
        LIMITS
    }

    async fn next_load_id(&self) -> Result<i64, AwsError> {
        self.take_load_id().await
    }

    /// `ADD` to each pointer's `gens` set (creating it), returning what it followed.
    async fn register(
        &self,
        load_id: i64,
        slices: &[&Slice],
    ) -> Result<Vec<Option<i64>>, AwsError> {
        let mut before = Vec::with_capacity(slices.len());
        for slice in slices {
            before.push(self.register_generation(slice, load_id).await?);
        }
        Ok(before)
    }

    /// Every generation's items in one [`batch_write`] (25 per request, a few in flight).
    async fn write_generations(
        &self,
        load_id: i64,
        generations: &[NewGeneration<'_>],
    ) -> Result<(), AwsError> {
        let mut writes = Vec::new();
        for g in generations {
            for item in generation_items(load_id, g)? {
                writes.push(put_request(item)?);
            }
        }
        batch_write(&self.client, &self.table, writes, &self.backoff).await
    }

    async fn read_pointers(&self, slices: &[&Slice]) -> Result<Vec<Option<Pointer>>, AwsError> {
        let mut out = Vec::with_capacity(slices.len());
        for slice in slices {
            out.push(self.pointer(slice).await?);
        }
        Ok(out)
    }

    async fn load_exists(&self, load_id: i64) -> Result<bool, AwsError> {
        DynamoStore::load_exists(self, load_id).await
    }

    /// One `TransactWriteItems`: each pointer conditional on following an older generation
    /// (`attribute_not_exists(gen) OR gen < :g`), the record on not existing.
    async fn flip(
        &self,
        load_id: i64,
        flips: &[Flip<'_, Pointer>],
        record: Option<&LoadRecord>,
    ) -> Result<FlipOutcome<AwsError>, AwsError> {
        let mut items = Vec::with_capacity(flips.len() + 1);
        for f in flips {
            items.push(self.flip_item(f.slice, load_id, f.account_name())?);
        }
        if let Some(r) = record {
            items.push(self.load_record(r)?);
        }
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            // Makes the SDK's own retries of this call idempotent (10-minute window); random
            // because a token reused with other items is an error.
            .client_request_token(format!("{:032x}", fastrand::u128(..)))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(FlipOutcome::Committed),
            // A condition failed: a slice now belongs to a newer load, or an earlier attempt
            // did commit after all; the shared algorithm reads the pointers and sorts it out.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                Ok(FlipOutcome::Conflict(AwsError::api(
                    SVC,
                    "TransactWriteItems",
                    e,
                )))
            }
            Err(e) => Err(AwsError::api(SVC, "TransactWriteItems", e)),
        }
    }

    async fn delete_generation(&self, slice: &Slice, gen: i64) -> Result<(), AwsError> {
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
        batch_write(&self.client, &self.table, deletes, &self.backoff).await
    }

    async fn unregister(&self, slice: &Slice, gen: i64) -> Result<(), AwsError> {
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
        Ok(())
    }

    async fn begin_read(&self) -> Result<(), AwsError> {
        Ok(())
    }

    async fn pointers(&self, filter: &Filter, _view: &()) -> Result<Vec<Pointer>, AwsError> {
        DynamoStore::pointers(self, filter).await
    }

    async fn load_records(&self, _view: &()) -> Result<Vec<LoadRecord>, AwsError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s("LOAD"))
            .scan_index_forward(false);
        let items = self.query_all(q).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let r = Reader::new(item);
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
            out.push(LoadRecord {
                load_id: r.int("load_id")?,
                meta: LoadMeta {
                    dialect: r.s("dialect")?.to_string(),
                    files,
                    loaded_at: r.s("loaded_at")?.to_string(),
                },
                records: u64::try_from(r.int("records")?)
                    .map_err(|_| r.bad("records", "negative"))?,
                billed: r.totals("billed")?,
                effective: r.totals("effective")?,
            });
        }
        Ok(out)
    }

    async fn read_daily(
        &self,
        _view: &(),
        committed: &[Committed<'_, Pointer>],
    ) -> Result<Vec<DailyRow>, AwsError> {
        self.read_items(committed, "D#", |slice, item| {
            Reader::new(item).packed(slice, "rows_packed", generational::daily_rows)
        })
        .await
    }

    async fn read_tags(
        &self,
        _view: &(),
        committed: &[Committed<'_, Pointer>],
        key: &str,
    ) -> Result<Vec<TagRow>, AwsError> {
        let prefix = format!("T#{}#", enc(key));
        self.read_items(committed, &prefix, |slice, item| {
            Reader::new(item).packed(slice, "rows_packed", generational::tag_rows)
        })
        .await
    }

    async fn read_tag_keys(
        &self,
        _view: &(),
        committed: &[Committed<'_, Pointer>],
    ) -> Result<Vec<String>, AwsError> {
        self.read_items(committed, "T#", |_slice, item| {
            Ok(vec![Reader::new(item).s("tag_key")?.to_string()])
        })
        .await
    }
}

impl GenerationalStore for DynamoStore {
    /// `Handle::block_on` on the runtime handle given at construction: call the
    /// [`CostStore`](costkit_core::store::CostStore) methods from a thread that is **not** a
    /// runtime worker (in a Lambda handler: `tokio::task::spawn_blocking`), on a multi-thread
    /// runtime.
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_keys_keep_their_layout() {
        let s = costkit_core::store::contract::odd_slice();
        assert_eq!(slice_sk(&s), "2024-09#A%23W%25S /é#12!34_x");
        assert_eq!(gen_pk(&s, 42), "GEN#A%23W%25S /é#12!34_x#2024-09#42");
    }
}
