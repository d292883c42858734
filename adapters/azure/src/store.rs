//! The Table storage store: costkit's [`CostStore`](costkit_core::store::CostStore) port on one table.
//!
//! Layout (rationale in `docs/azure-table-store.md`). Key characters outside `[A-Za-z0-9.-]` are
//! escaped as `_XX` (UTF-8 bytes in hex), so free text never contains a separator (`!`) or a
//! character Table keys forbid (`/ \ # ?`, control characters):
//!
//! | entity | PartitionKey | RowKey | properties |
//! |---|---|---|---|
//! | load id counter | `meta` | `seq` | `n` |
//! | load record | `meta` | `l!<load id, 20 digits>` | `load_id`, `dialect`, `files` (JSON), `loaded_at`, `records`, `billed`/`effective` (JSON: currency → decimal text) |
//! | slice pointer | `meta` | `s!<period>!<provider>!<account>` | `provider`, `billing_account_id`, `billing_period`, `gen`, `gens` (JSON), `billing_account_name` |
//! | daily rows | `g!<provider>!<account>!<period>!<gen, 20 digits>` | `d!<chunk, 6 digits>` | `rows`: JSON array of `[key, sums]`, at most 60 000 UTF-16 bytes |
//! | tag rows | same partition | `t!<tag key>!<chunk>` | `rows` |
//!
//! The algorithm is the one every generational store shares
//! ([`costkit_core::store::generational`]); this module gives it Table storage's primitives.
//! A replace writes each slice's rows into a fresh *generation* partition (upserts in entity
//! group transactions), then flips the slice pointers to it **together with the load record in
//! one transaction** (pointers and load records share the `meta` partition, so up to 99 slices
//! switch atomically), each pointer conditional on the ETag read just before, then deletes older
//! generations. Readers follow the pointers and re-check them after reading, so they see a
//! slice's old rows or its new rows, never a mix. Money is decimal text: exact.

use std::future::Future;

use costkit_core::aggregate::{DailyRow, Slice, TagRow};
use costkit_core::store::generational::{
    self, keys, ChunkLimit, ChunkParser, Committed, Flip, FlipOutcome, GenerationalBackend,
    GenerationalStore, Limits, LoadRecord, NewGeneration, PointerView, ReadMode, SlicePointer,
};
use costkit_core::store::{Filter, LoadMeta};
use costkit_core::text::Text;
use serde::Serialize;
use tokio::runtime::Handle;

use costkit_rest::RetriesExhausted;

use crate::error::AzureError;
use crate::storage::Storage;
use crate::table::{BatchOp, Entity, Table, MAX_BATCH, MAX_BATCH_BYTES};

const META: &str = "meta";
const SEQ: &str = "seq";
/// UTF-16 bytes of one `rows` property (the service's limit is 64 KiB).
const CHUNK_BYTES: usize = 60_000;
/// Slice pointers per transaction (100 operations; one is the load record).
const FLIPS_PER_TRANSACTION: usize = MAX_BATCH - 1;
/// Times a read is repeated when a slice was replaced while it was being read.
const READ_ATTEMPTS: u32 = 5;
/// Attempts of an optimistic read-modify-write before giving up.
const CAS_ATTEMPTS: u32 = 32;
/// Attempts of a pointer flip that keeps losing races to other loads.
const FLIP_ATTEMPTS: u32 = 8;

/// Table storage's limits: JSON chunks in a string property (UTF-16 on the wire), up to 99
/// pointers per entity group transaction (one operation is the load record), each replaced
/// under the ETag read just before (so the pointers are read before the first attempt), reads
/// that re-check the pointers afterwards.
const LIMITS: Limits = Limits {
    chunk: ChunkLimit::Utf16Bytes(CHUNK_BYTES),
    flips_per_commit: FLIPS_PER_TRANSACTION,
    flip_attempts: FLIP_ATTEMPTS,
    read_before_flip: true,
    reads: ReadMode::Recheck {
        attempts: READ_ATTEMPTS,
    },
};

/// Escapes free text for a key: `[A-Za-z0-9.-]` stay, every other byte becomes `_XX`.
pub use costkit_core::store::generational::keys::escape as enc;

/// Reverses [`enc`].
pub use costkit_core::store::generational::keys::unescape as dec;

fn slice_rk(s: &Slice) -> String {
    format!("s!{}", keys::pointer_key(s, '!', enc))
}

fn gen_pk(s: &Slice, gen: i64) -> String {
    format!("g!{}!{gen:020}", keys::generation_key(s, '!', enc))
}

fn load_rk(id: i64) -> String {
    format!("l!{id:020}")
}

/// A slice pointer as stored (the shared algorithm's view of it is [`PointerView`]).
#[derive(Clone, Debug)]
pub struct Pointer {
    base: SlicePointer,
    name: Option<String>,
    etag: Option<String>,
}

impl Pointer {
    fn parse(e: &Entity) -> Result<Pointer, AzureError> {
        let gens: Vec<i64> = serde_json::from_str(e.require("gens")?)
            .map_err(|x| AzureError::invalid(e.what(), format!("property `gens`: {x}")))?;
        let gen = match e.get("gen") {
            None | Some("") => None,
            Some(g) => Some(g.parse::<i64>().map_err(|_| {
                AzureError::invalid(e.what(), format!("property `gen`: `{g}` is not an integer"))
            })?),
        };
        Ok(Pointer {
            base: SlicePointer {
                slice: Slice {
                    provider: Text::from(e.require("provider")?),
                    billing_account_id: Text::from(e.require("billing_account_id")?),
                    billing_period: e.require("billing_period")?.to_string(),
                },
                gen,
                gens,
            },
            name: e.get("billing_account_name").map(str::to_string),
            etag: e.etag.clone(),
        })
    }

    fn entity(&self) -> Entity {
        let mut e = Entity::new(META, slice_rk(&self.base.slice));
        e.set("provider", self.base.slice.provider.as_str())
            .set(
                "billing_account_id",
                self.base.slice.billing_account_id.as_str(),
            )
            .set("billing_period", self.base.slice.billing_period.clone())
            .set(
                "gens",
                serde_json::to_string(&self.base.gens).unwrap_or_default(),
            );
        if let Some(g) = self.base.gen {
            e.set("gen", g.to_string());
        }
        if let Some(n) = &self.name {
            e.set("billing_account_name", n.clone());
        }
        e
    }
}

impl PointerView for Pointer {
    fn base(&self) -> &SlicePointer {
        &self.base
    }
}

/// Groups operations into transactions of at most [`MAX_BATCH`] operations and
/// [`MAX_BATCH_BYTES`] of entity text.
fn transactions(ops: Vec<BatchOp>) -> Vec<Vec<BatchOp>> {
    let mut out: Vec<Vec<BatchOp>> = Vec::new();
    let mut cur = Vec::new();
    let mut bytes = 0usize;
    for op in ops {
        let b = match &op {
            BatchOp::Insert(e) | BatchOp::Upsert(e) | BatchOp::Replace(e, _) => {
                // JSON escaping of the embedded rows can add up to a few percent; count double.
                e.props
                    .values()
                    .map(|v| v.as_str().map_or(0, str::len))
                    .sum::<usize>()
                    * 2
                    + 512
            }
            BatchOp::Delete { .. } => 512,
        };
        if !cur.is_empty() && (cur.len() >= MAX_BATCH || bytes + b > MAX_BATCH_BYTES) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += b;
        cur.push(op);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The Table storage store.
///
/// The [`CostStore`](costkit_core::store::CostStore) port is synchronous and the HTTP client async: the trait methods run the
/// async implementation with `Handle::block_on` on the runtime handle given at construction. Call
/// them from a thread that is **not** a runtime worker (`tokio::task::spawn_blocking`). Async
/// code can call the `*_async` methods of
/// [`AsyncCostStore`](costkit_core::store::generational::AsyncCostStore) directly instead.
#[derive(Clone, Debug)]
pub struct TableStore {
    table: Table,
    handle: Handle,
}

impl TableStore {
    /// A store in table `table` of `storage`, running its synchronous methods on `handle`.
    pub fn new(storage: &Storage, table: &str, handle: Handle) -> TableStore {
        TableStore {
            table: Table::new(storage, table),
            handle,
        }
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Creates the table if needed (tests and local set-ups; deployments use the IaC).
    pub async fn create_table(&self) -> Result<(), AzureError> {
        self.table.create().await
    }

    /// Takes the next load id from the counter entity (optimistic concurrency on its ETag).
    async fn take_load_id(&self) -> Result<i64, AzureError> {
        for _ in 0..CAS_ATTEMPTS {
            match self.table.get(META, SEQ).await? {
                None => {
                    let mut e = Entity::new(META, SEQ);
                    e.set("n", "1");
                    match self.table.insert(&e).await {
                        Ok(_) => return Ok(1),
                        Err(x) if x.is_conflict() => continue,
                        Err(x) => return Err(x),
                    }
                }
                Some(mut e) => {
                    let n: i64 = e.require("n")?.parse().map_err(|_| {
                        AzureError::invalid(e.what(), "property `n` is not an integer")
                    })?;
                    let etag = e.etag.clone().unwrap_or_else(|| "*".into());
                    e.set("n", (n + 1).to_string());
                    match self.table.replace(&e, Some(&etag)).await {
                        Ok(_) => return Ok(n + 1),
                        Err(x) if x.is_conflict() => continue,
                        Err(x) => return Err(x),
                    }
                }
            }
        }
        Err(AzureError::RetriesExhausted(RetriesExhausted {
            service: "Table",
            operation: "UpdateEntity",
            what: format!("{}: load id counter", self.table.name()),
            attempts: CAS_ATTEMPTS,
            last: "the counter kept changing".into(),
        }))
    }

    async fn pointer(&self, slice: &Slice) -> Result<Option<Pointer>, AzureError> {
        self.table
            .get(META, &slice_rk(slice))
            .await?
            .as_ref()
            .map(Pointer::parse)
            .transpose()
    }

    /// Changes a slice pointer with `change` under its ETag (creating it when missing), retrying
    /// when another writer got in between. Returns the pointer as it was before.
    async fn update_pointer(
        &self,
        slice: &Slice,
        mut change: impl FnMut(&mut Pointer),
    ) -> Result<Option<Pointer>, AzureError> {
        for _ in 0..CAS_ATTEMPTS {
            let before = self.pointer(slice).await?;
            let mut p = before.clone().unwrap_or_else(|| Pointer {
                base: SlicePointer {
                    slice: slice.clone(),
                    gen: None,
                    gens: Vec::new(),
                },
                name: None,
                etag: None,
            });
            change(&mut p);
            let e = p.entity();
            let r = match &before {
                None => self.table.insert(&e).await,
                Some(b) => {
                    self.table
                        .replace(&e, Some(b.etag.as_deref().unwrap_or("*")))
                        .await
                }
            };
            match r {
                Ok(_) => return Ok(before),
                Err(x) if x.is_conflict() => continue,
                Err(x) => return Err(x),
            }
        }
        Err(AzureError::RetriesExhausted(RetriesExhausted {
            service: "Table",
            operation: "UpdateEntity",
            what: format!("{}: pointer {}", self.table.name(), slice_rk(slice)),
            attempts: CAS_ATTEMPTS,
            last: "the pointer kept changing".into(),
        }))
    }

    /// Slice pointers matching `filter` (including ones whose first load has not committed).
    async fn pointers(&self, filter: &Filter) -> Result<Vec<Pointer>, AzureError> {
        let prefix = match &filter.billing_period {
            Some(p) => format!("s!{}!", enc(p)),
            None => "s!".into(),
        };
        let mut out = Vec::new();
        for e in self.table.query_prefix(META, &prefix, None).await? {
            let p = Pointer::parse(&e)?;
            if filter
                .provider
                .as_ref()
                .is_some_and(|pr| pr != p.base.slice.provider.as_str())
            {
                continue;
            }
            out.push(p);
        }
        Ok(out)
    }

    async fn write_all(&self, pk: &str, ops: Vec<BatchOp>) -> Result<(), AzureError> {
        for t in transactions(ops) {
            self.table.batch(pk, &t).await?;
        }
        Ok(())
    }

    fn load_record(r: &LoadRecord) -> Entity {
        let mut e = Entity::new(META, load_rk(r.load_id));
        e.set("load_id", r.load_id.to_string())
            .set("dialect", r.meta.dialect.clone())
            .set("files", json(&r.meta.files))
            .set("loaded_at", r.meta.loaded_at.clone())
            .set("records", r.records.to_string())
            .set("billed", json(&r.billed))
            .set("effective", json(&r.effective));
        e
    }

    /// Reads the entities under `prefix` (only the properties `select` names) of each committed
    /// generation, parsed by `parse`. A generation deleted meanwhile reads as empty; the shared
    /// algorithm's re-check of the pointers catches it.
    async fn read_chunks<T>(
        &self,
        committed: &[Committed<'_, Pointer>],
        prefix: &str,
        select: Option<&str>,
        parse: impl Fn(&Slice, &Entity) -> Result<Vec<T>, AzureError>,
    ) -> Result<Vec<T>, AzureError> {
        let mut out = Vec::new();
        for c in committed {
            for e in self
                .table
                .query_prefix(&gen_pk(c.slice(), c.gen), prefix, select)
                .await?
            {
                out.extend(parse(c.slice(), &e)?);
            }
        }
        Ok(out)
    }

    /// Entities stored under generation `gen` of `slice` (diagnostics and tests).
    pub async fn generation_size(&self, slice: &Slice, gen: i64) -> Result<usize, AzureError> {
        Ok(self
            .table
            .query_prefix(&gen_pk(slice, gen), "", Some("PartitionKey,RowKey"))
            .await?
            .len())
    }
}

/// A JSON-encoded property, parsed (errors name the entity and property).
fn json_property<T: serde::de::DeserializeOwned>(e: &Entity, field: &str) -> Result<T, AzureError> {
    serde_json::from_str(e.require(field)?)
        .map_err(|x| AzureError::invalid(e.what(), format!("property `{field}`: {x}")))
}

/// The `rows` property of a chunk entity, parsed by `parse` (errors name the entity).
fn chunk_rows<T>(slice: &Slice, e: &Entity, parse: ChunkParser<T>) -> Result<Vec<T>, AzureError> {
    let what = format!("{} property `rows`", e.what());
    Ok(parse(slice, &what, e.require("rows")?.as_bytes())?)
}

impl GenerationalBackend for TableStore {
    type Error = AzureError;
    type Pointer = Pointer;
    type View = ();

    fn limits(&self) -> Limits {
        LIMITS
    }

    async fn next_load_id(&self) -> Result<i64, AzureError> {
        self.take_load_id().await
    }

    /// Adds `load_id` to each pointer's `gens` under its ETag (creating it), one pointer at a
    /// time.
    async fn register(
        &self,
        load_id: i64,
        slices: &[&Slice],
    ) -> Result<Vec<Option<i64>>, AzureError> {
        let mut before = Vec::with_capacity(slices.len());
        for slice in slices {
            let p = self
                .update_pointer(slice, |p| {
                    if !p.base.gens.contains(&load_id) {
                        p.base.gens.push(load_id);
                    }
                })
                .await?;
            before.push(p.and_then(|p| p.base.gen));
        }
        Ok(before)
    }

    /// Entities `d!<chunk>` and `t!<tag key>!<chunk>` (property `rows`) of the generation's
    /// partition, upserted in entity group transactions.
    async fn write_generations(
        &self,
        load_id: i64,
        generations: &[NewGeneration<'_>],
    ) -> Result<(), AzureError> {
        for g in generations {
            let pk = gen_pk(g.slice, load_id);
            let mut ops = Vec::new();
            for (i, c) in g.packed.daily.iter().enumerate() {
                let mut e = Entity::new(&pk, format!("d!{i:06}"));
                e.set("rows", c.json.clone());
                ops.push(BatchOp::Upsert(e));
            }
            for (key, chunks) in &g.packed.tags {
                for (i, c) in chunks.iter().enumerate() {
                    let mut e = Entity::new(&pk, format!("t!{}!{i:06}", enc(key)));
                    e.set("rows", c.json.clone());
                    ops.push(BatchOp::Upsert(e));
                }
            }
            self.write_all(&pk, ops).await?;
        }
        Ok(())
    }

    async fn read_pointers(&self, slices: &[&Slice]) -> Result<Vec<Option<Pointer>>, AzureError> {
        let mut out = Vec::with_capacity(slices.len());
        for slice in slices {
            out.push(self.pointer(slice).await?);
        }
        Ok(out)
    }

    async fn load_exists(&self, load_id: i64) -> Result<bool, AzureError> {
        Ok(self.table.get(META, &load_rk(load_id)).await?.is_some())
    }

    /// One transaction on the `meta` partition: each pointer replaced under the ETag read, the
    /// load record inserted (must not exist).
    async fn flip(
        &self,
        load_id: i64,
        flips: &[Flip<'_, Pointer>],
        record: Option<&LoadRecord>,
    ) -> Result<FlipOutcome<AzureError>, AzureError> {
        let mut ops = Vec::with_capacity(flips.len() + 1);
        for f in flips {
            let p = f.pointer.ok_or_else(|| {
                AzureError::invalid(slice_rk(f.slice), "a pointer flip needs the pointer read")
            })?;
            let mut np = p.clone();
            np.base.gen = Some(load_id);
            np.name = f.account_name().map(|t| t.as_str().to_string());
            let etag = p.etag.clone().unwrap_or_else(|| "*".into());
            ops.push(BatchOp::Replace(np.entity(), etag));
        }
        if let Some(r) = record {
            ops.push(BatchOp::Insert(Self::load_record(r)));
        }
        match self.table.batch(META, &ops).await {
            Ok(()) => Ok(FlipOutcome::Committed),
            Err(e) if e.is_conflict() => Ok(FlipOutcome::Conflict(e)),
            Err(e) => Err(e),
        }
    }

    async fn delete_generation(&self, slice: &Slice, gen: i64) -> Result<(), AzureError> {
        let pk = gen_pk(slice, gen);
        let keys = self
            .table
            .query_prefix(&pk, "", Some("PartitionKey,RowKey"))
            .await?;
        let deletes = keys
            .into_iter()
            .map(|e| BatchOp::Delete {
                row_key: e.row_key,
                etag: "*".into(),
            })
            .collect();
        self.write_all(&pk, deletes).await
    }

    async fn unregister(&self, slice: &Slice, gen: i64) -> Result<(), AzureError> {
        self.update_pointer(slice, |p| p.base.gens.retain(|g| *g != gen))
            .await?;
        Ok(())
    }

    async fn begin_read(&self) -> Result<(), AzureError> {
        Ok(())
    }

    async fn pointers(&self, filter: &Filter, _view: &()) -> Result<Vec<Pointer>, AzureError> {
        TableStore::pointers(self, filter).await
    }

    async fn load_records(&self, _view: &()) -> Result<Vec<LoadRecord>, AzureError> {
        let records = self.table.query_prefix(META, "l!", None).await?;
        let mut out = Vec::with_capacity(records.len());
        for e in &records {
            let int = |field: &str| -> Result<i64, AzureError> {
                let v = e.require(field)?;
                v.parse().map_err(|_| {
                    AzureError::invalid(
                        e.what(),
                        format!("property `{field}`: `{v}` is not an integer"),
                    )
                })
            };
            out.push(LoadRecord {
                load_id: int("load_id")?,
                meta: LoadMeta {
                    dialect: e.require("dialect")?.to_string(),
                    files: json_property(e, "files")?,
                    loaded_at: e.require("loaded_at")?.to_string(),
                },
                records: u64::try_from(int("records")?)
                    .map_err(|_| AzureError::invalid(e.what(), "property `records` is negative"))?,
                billed: json_property(e, "billed")?,
                effective: json_property(e, "effective")?,
            });
        }
        Ok(out)
    }

    async fn read_daily(
        &self,
        _view: &(),
        committed: &[Committed<'_, Pointer>],
    ) -> Result<Vec<DailyRow>, AzureError> {
        self.read_chunks(committed, "d!", None, |slice, e| {
            chunk_rows(slice, e, generational::daily_rows)
        })
        .await
    }

    async fn read_tags(
        &self,
        _view: &(),
        committed: &[Committed<'_, Pointer>],
        key: &str,
    ) -> Result<Vec<TagRow>, AzureError> {
        let prefix = format!("t!{}!", enc(key));
        self.read_chunks(committed, &prefix, None, |slice, e| {
            chunk_rows(slice, e, generational::tag_rows)
        })
        .await
    }

    /// Only the RowKeys of the tag chunks (`t!<tag key>!<chunk>`) are read.
    async fn read_tag_keys(
        &self,
        _view: &(),
        committed: &[Committed<'_, Pointer>],
    ) -> Result<Vec<String>, AzureError> {
        self.read_chunks(committed, "t!", Some("PartitionKey,RowKey"), |_slice, e| {
            let enc_key = e
                .row_key
                .strip_prefix("t!")
                .and_then(|r| r.rsplit_once('!'))
                .map(|(k, _)| k)
                .ok_or_else(|| AzureError::invalid(e.what(), "not a tag chunk key"))?;
            Ok(vec![dec(enc_key).ok_or_else(|| {
                AzureError::invalid(e.what(), "the tag key is not escaped UTF-8")
            })?])
        })
        .await
    }
}

impl GenerationalStore for TableStore {
    /// `Handle::block_on` on the runtime handle given at construction: call the
    /// [`CostStore`](costkit_core::store::CostStore) methods from a thread that is **not** a
    /// runtime worker (`tokio::task::spawn_blocking`).
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }
}

/// JSON text of plain data (serializing it cannot fail).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use costkit_core::store::generational::pack_rows;

    #[test]
    fn stored_keys_keep_their_layout() {
        let s = costkit_core::store::contract::odd_slice();
        assert_eq!(slice_rk(&s), "s!2024-09!A_23W_25S_20_2F_C3_A9!12_2134_5Fx");
        assert_eq!(
            gen_pk(&s, 42),
            "g!A_23W_25S_20_2F_C3_A9!12_2134_5Fx!2024-09!00000000000000000042"
        );
    }

    #[test]
    fn rows_are_packed_below_the_property_limit() {
        let rows: Vec<(String, String)> = (0..5000)
            .map(|i| (format!("service-{i}"), "é".repeat(20)))
            .collect();
        let c = pack_rows(LIMITS.chunk, "t", &rows).expect("chunks");
        assert!(c.len() > 1);
        let mut back = Vec::new();
        for chunk in &c {
            let utf16_bytes = chunk.json.encode_utf16().count() * 2;
            assert!(utf16_bytes <= CHUNK_BYTES, "{utf16_bytes}");
            back.extend(serde_json::from_str::<Vec<(String, String)>>(&chunk.json).expect("json"));
        }
        assert_eq!(back, rows);
    }
}
