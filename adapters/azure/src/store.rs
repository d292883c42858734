//! The Table storage store: costkit's [`CostStore`] port on one table.
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
//! A replace writes each slice's rows into a fresh *generation* partition (upserts in entity
//! group transactions), then flips the slice pointers to it **together with the load record in
//! one transaction** (pointers and load records share the `meta` partition, so up to 99 slices
//! switch atomically), each pointer conditional on the ETag read just before, then deletes older
//! generations. Readers follow the pointers and re-check them after reading, so they see a
//! slice's old rows or its new rows, never a mix. Money is decimal text: exact.

use std::collections::{BTreeMap, BTreeSet};

use costkit_core::aggregate::{
    DailyKey, DailyRow, LoadBatch, Slice, SliceData, Sums, TagKey, TagRow,
};
use costkit_core::money::CurrencyTotals;
use costkit_core::store::{CostStore, Filter, LoadInfo, LoadMeta, LoadReport, StoreError};
use costkit_core::text::Text;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::runtime::Handle;

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

/// Escapes free text for a key: `[A-Za-z0-9.-]` stay, every other byte becomes `_XX`.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    out
}

fn slice_rk(s: &Slice) -> String {
    format!(
        "s!{}!{}!{}",
        enc(&s.billing_period),
        enc(&s.provider),
        enc(&s.billing_account_id)
    )
}

fn gen_pk(s: &Slice, gen: i64) -> String {
    format!(
        "g!{}!{}!{}!{gen:020}",
        enc(&s.provider),
        enc(&s.billing_account_id),
        enc(&s.billing_period)
    )
}

fn load_rk(id: i64) -> String {
    format!("l!{id:020}")
}

fn utf16_bytes(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

/// A slice pointer as stored.
#[derive(Clone, Debug)]
struct Pointer {
    slice: Slice,
    gen: Option<i64>,
    gens: Vec<i64>,
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
            slice: Slice {
                provider: Text::from(e.require("provider")?),
                billing_account_id: Text::from(e.require("billing_account_id")?),
                billing_period: e.require("billing_period")?.to_string(),
            },
            gen,
            gens,
            name: e.get("billing_account_name").map(str::to_string),
            etag: e.etag.clone(),
        })
    }

    fn entity(&self) -> Entity {
        let mut e = Entity::new(META, slice_rk(&self.slice));
        e.set("provider", self.slice.provider.as_str())
            .set("billing_account_id", self.slice.billing_account_id.as_str())
            .set("billing_period", self.slice.billing_period.clone())
            .set(
                "gens",
                serde_json::to_string(&self.gens).unwrap_or_default(),
            );
        if let Some(g) = self.gen {
            e.set("gen", g.to_string());
        }
        if let Some(n) = &self.name {
            e.set("billing_account_name", n.clone());
        }
        e
    }
}

/// Packs serialized rows into `rows` properties of at most [`CHUNK_BYTES`].
fn chunks<T: Serialize>(what: &str, rows: &[T]) -> Result<Vec<String>, AzureError> {
    let mut out = Vec::new();
    let mut cur = String::from("[");
    let mut cur_bytes = 2; // "[" and the closing "]"
    for r in rows {
        let json = serde_json::to_string(r).map_err(|e| AzureError::invalid(what, e))?;
        let b = utf16_bytes(&json) + 2;
        if b + 2 > CHUNK_BYTES {
            return Err(AzureError::invalid(
                what,
                format!("one aggregate row is {b} bytes, more than a Table property holds"),
            ));
        }
        if cur_bytes + b > CHUNK_BYTES {
            cur.push(']');
            out.push(std::mem::replace(&mut cur, String::from("[")));
            cur_bytes = 2;
        }
        if cur.len() > 1 {
            cur.push(',');
        }
        cur.push_str(&json);
        cur_bytes += b;
    }
    if cur.len() > 1 {
        cur.push(']');
        out.push(cur);
    }
    Ok(out)
}

fn parse_rows<T: DeserializeOwned>(e: &Entity) -> Result<Vec<T>, AzureError> {
    serde_json::from_str(e.require("rows")?)
        .map_err(|x| AzureError::invalid(e.what(), format!("property `rows`: {x}")))
}

/// The entities of one slice's generation, in a deterministic order.
fn generation_entities(
    slice: &Slice,
    gen: i64,
    data: &SliceData,
) -> Result<Vec<Entity>, AzureError> {
    let pk = gen_pk(slice, gen);
    let mut daily: Vec<(&DailyKey, &Sums)> = data.daily.iter().collect();
    daily.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::new();
    for (i, rows) in chunks(&pk, &daily)?.into_iter().enumerate() {
        let mut e = Entity::new(&pk, format!("d!{i:06}"));
        e.set("rows", rows);
        out.push(e);
    }
    let mut by_key: BTreeMap<&str, Vec<(&TagKey, &Sums)>> = BTreeMap::new();
    for (k, s) in &data.tags {
        by_key.entry(k.key.as_str()).or_default().push((k, s));
    }
    for (key, mut rows) in by_key {
        rows.sort_by(|a, b| a.0.cmp(b.0));
        for (i, chunk) in chunks(&pk, &rows)?.into_iter().enumerate() {
            let mut e = Entity::new(&pk, format!("t!{}!{i:06}", enc(key)));
            e.set("rows", chunk);
            out.push(e);
        }
    }
    Ok(out)
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
/// The [`CostStore`] port is synchronous and the HTTP client async: the trait methods run the
/// async implementation with `Handle::block_on` on the runtime handle given at construction. Call
/// them from a thread that is **not** a runtime worker (`tokio::task::spawn_blocking`).
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
    async fn next_load_id(&self) -> Result<i64, AzureError> {
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
        Err(AzureError::RetriesExhausted {
            service: "Table",
            operation: "UpdateEntity",
            what: format!("{}: load id counter", self.table.name()),
            attempts: CAS_ATTEMPTS,
            last: "the counter kept changing".into(),
        })
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
                slice: slice.clone(),
                gen: None,
                gens: Vec::new(),
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
        Err(AzureError::RetriesExhausted {
            service: "Table",
            operation: "UpdateEntity",
            what: format!("{}: pointer {}", self.table.name(), slice_rk(slice)),
            attempts: CAS_ATTEMPTS,
            last: "the pointer kept changing".into(),
        })
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
                .is_some_and(|pr| pr != p.slice.provider.as_str())
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

    fn load_record(load_id: i64, batch: &LoadBatch, meta: &LoadMeta) -> Entity {
        let mut e = Entity::new(META, load_rk(load_id));
        e.set("load_id", load_id.to_string())
            .set("dialect", meta.dialect.clone())
            .set("files", json(&meta.files))
            .set("loaded_at", meta.loaded_at.clone())
            .set("records", batch.records.to_string())
            .set("billed", json(&batch.billed.normalized()))
            .set("effective", json(&batch.effective.normalized()));
        e
    }

    /// Flips the batch's pointers to generation `load_id` and inserts the load record, in
    /// transactions of at most 100 operations (the record goes with the last one, so a listed
    /// load is a complete one). Each pointer is replaced under the ETag read just before; a lost
    /// race re-reads. Slices a newer load took over are left to it. Returns the slices flipped.
    async fn flip(
        &self,
        load_id: i64,
        batch: &LoadBatch,
        meta: &LoadMeta,
    ) -> Result<Vec<Slice>, AzureError> {
        let all: Vec<&Slice> = batch.slices.keys().collect();
        let mut groups: Vec<Vec<&Slice>> = all
            .chunks(FLIPS_PER_TRANSACTION)
            .map(<[&Slice]>::to_vec)
            .collect();
        if groups.is_empty() {
            groups.push(Vec::new());
        }
        let count = groups.len();
        let record = Self::load_record(load_id, batch, meta);
        let mut flipped = Vec::new();
        let mut superseded = 0usize;
        for (i, mut live) in groups.into_iter().enumerate() {
            let last = i + 1 == count;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut ops = Vec::with_capacity(live.len() + 1);
                let mut still = Vec::with_capacity(live.len());
                for sl in live {
                    let p = self.pointer(sl).await?.ok_or_else(|| {
                        AzureError::invalid(
                            slice_rk(sl),
                            "the slice pointer vanished during the load",
                        )
                    })?;
                    match p.gen {
                        Some(g) if g > load_id => superseded += 1,
                        Some(g) if g == load_id => flipped.push(sl.clone()),
                        _ => {
                            let mut np = p.clone();
                            np.gen = Some(load_id);
                            np.name = batch
                                .slices
                                .get(sl)
                                .and_then(|d| d.billing_account_name.as_ref())
                                .map(|t| t.as_str().to_string());
                            let etag = p.etag.clone().unwrap_or_else(|| "*".into());
                            ops.push(BatchOp::Replace(np.entity(), etag));
                            still.push(sl);
                        }
                    }
                }
                live = still;
                if last && !(attempt > 1 && self.table.get(META, &record.row_key).await?.is_some())
                {
                    ops.push(BatchOp::Insert(record.clone()));
                }
                if ops.is_empty() {
                    break;
                }
                match self.table.batch(META, &ops).await {
                    Ok(()) => {
                        flipped.extend(live.iter().map(|s| (*s).clone()));
                        break;
                    }
                    Err(e) if e.is_conflict() && attempt < 8 => {
                        tracing::debug!(load_id, attempt, error = %e, "pointer flip lost a race; reading again");
                    }
                    Err(e) => return Err(e),
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

    /// Deletes generations of `slice` older than `current` (and `current` itself when
    /// `drop_current`), then removes them from the pointer. Newer ones belong to loads in flight.
    async fn cleanup(
        &self,
        slice: &Slice,
        current: i64,
        drop_current: bool,
    ) -> Result<(), AzureError> {
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
            self.write_all(&pk, deletes).await?;
            self.update_pointer(slice, |p| p.gens.retain(|g| *g != gen))
                .await?;
        }
        Ok(())
    }

    /// [`CostStore::replace`], async.
    pub async fn replace_async(
        &self,
        batch: &LoadBatch,
        meta: &LoadMeta,
    ) -> Result<LoadReport, AzureError> {
        let load_id = self.next_load_id().await?;
        let mut replaced = Vec::new();
        for (slice, data) in &batch.slices {
            // Registered before any row is written, so a crash mid-write leaves a trace the
            // next replace of the slice cleans up.
            let before = self
                .update_pointer(slice, |p| {
                    if !p.gens.contains(&load_id) {
                        p.gens.push(load_id);
                    }
                })
                .await?;
            if before.and_then(|p| p.gen).is_some() {
                replaced.push(slice.clone());
            }
            let pk = gen_pk(slice, load_id);
            let ops = generation_entities(slice, load_id, data)?
                .into_iter()
                .map(BatchOp::Upsert)
                .collect();
            self.write_all(&pk, ops).await?;
        }
        let flipped = self.flip(load_id, batch, meta).await?;
        for slice in batch.slices.keys() {
            let ours = flipped.contains(slice);
            // The data is committed; a failed cleanup leaves garbage the next replace of the
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

    /// Reads the entities under `prefix` of every committed slice matching `filter`, re-reading
    /// when a slice was replaced meanwhile (its old generation may be half deleted).
    async fn read_consistent<T>(
        &self,
        filter: &Filter,
        prefix: &str,
        select: Option<&str>,
        parse: impl Fn(&Slice, &Entity) -> Result<Vec<T>, AzureError>,
    ) -> Result<Vec<T>, AzureError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let before = self.pointers(filter).await?;
            let mut rows = Vec::new();
            let mut seen: BTreeMap<Slice, i64> = BTreeMap::new();
            for p in &before {
                let Some(gen) = p.gen else { continue };
                for e in self
                    .table
                    .query_prefix(&gen_pk(&p.slice, gen), prefix, select)
                    .await?
                {
                    rows.extend(parse(&p.slice, &e)?);
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
                return Err(AzureError::RetriesExhausted {
                    service: "Table",
                    operation: "QueryEntities",
                    what: self.table.name().to_string(),
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

    /// [`CostStore::daily`], async.
    pub async fn daily_async(&self, filter: &Filter) -> Result<Vec<DailyRow>, AzureError> {
        let mut rows = self
            .read_consistent(filter, "d!", None, |slice, e| {
                Ok(parse_rows::<(DailyKey, Sums)>(e)?
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
    ) -> Result<Vec<TagRow>, AzureError> {
        let prefix = format!("t!{}!", enc(tag_key));
        let mut rows = self
            .read_consistent(filter, &prefix, None, |slice, e| {
                Ok(parse_rows::<(TagKey, Sums)>(e)?
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

    /// [`CostStore::tag_keys`], async: reads only the RowKeys of the tag chunks.
    pub async fn tag_keys_async(&self, filter: &Filter) -> Result<Vec<String>, AzureError> {
        let keys = self
            .read_consistent(filter, "t!", Some("PartitionKey,RowKey"), |_slice, e| {
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
            .await?;
        let set: BTreeSet<String> = keys.into_iter().collect();
        Ok(set.into_iter().collect())
    }

    /// [`CostStore::loads`], async.
    pub async fn loads_async(&self) -> Result<Vec<LoadInfo>, AzureError> {
        let records = self.table.query_prefix(META, "l!", None).await?;
        let mut owned: BTreeMap<i64, Vec<Slice>> = BTreeMap::new();
        for p in self.pointers(&Filter::default()).await? {
            if let Some(g) = p.gen {
                owned.entry(g).or_default().push(p.slice);
            }
        }
        let mut out = Vec::with_capacity(records.len());
        for e in &records {
            let json = |field: &str| -> Result<serde_json::Value, AzureError> {
                serde_json::from_str(e.require(field)?)
                    .map_err(|x| AzureError::invalid(e.what(), format!("property `{field}`: {x}")))
            };
            let int = |field: &str| -> Result<i64, AzureError> {
                let v = e.require(field)?;
                v.parse().map_err(|_| {
                    AzureError::invalid(
                        e.what(),
                        format!("property `{field}`: `{v}` is not an integer"),
                    )
                })
            };
            let totals = |field: &str| -> Result<CurrencyTotals, AzureError> {
                serde_json::from_value(json(field)?)
                    .map_err(|x| AzureError::invalid(e.what(), format!("property `{field}`: {x}")))
            };
            let load_id = int("load_id")?;
            let files: Vec<String> = serde_json::from_value(json("files")?)
                .map_err(|x| AzureError::invalid(e.what(), format!("property `files`: {x}")))?;
            let mut slices = owned.remove(&load_id).unwrap_or_default();
            slices.sort();
            out.push(LoadInfo {
                load_id,
                meta: LoadMeta {
                    dialect: e.require("dialect")?.to_string(),
                    files,
                    loaded_at: e.require("loaded_at")?.to_string(),
                },
                records: u64::try_from(int("records")?)
                    .map_err(|_| AzureError::invalid(e.what(), "property `records` is negative"))?,
                billed: totals("billed")?,
                effective: totals("effective")?,
                slices,
            });
        }
        out.sort_by_key(|l| std::cmp::Reverse(l.load_id));
        Ok(out)
    }

    /// Live generations of a slice, ascending (diagnostics and tests).
    pub async fn generations(&self, slice: &Slice) -> Result<Vec<i64>, AzureError> {
        let mut g = self
            .pointer(slice)
            .await?
            .map(|p| p.gens)
            .unwrap_or_default();
        g.sort_unstable();
        Ok(g)
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

/// Reverses [`enc`].
pub fn dec(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_' {
            let hex = s.get(i + 1..i + 3)?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

/// JSON text of plain data (serializing it cannot fail).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl CostStore for TableStore {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_everything_a_table_key_forbids() {
        for s in [
            "a/b",
            "x#y",
            "q?",
            "back\\slash",
            "tab\t",
            "sep!",
            "Ünïcode",
            "_x",
        ] {
            let e = enc(s);
            assert!(
                e.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "{s} -> {e}"
            );
            assert_eq!(dec(&e).as_deref(), Some(s));
        }
        assert_eq!(enc("2024-09"), "2024-09");
    }

    #[test]
    fn rows_are_packed_below_the_property_limit() {
        let rows: Vec<(String, String)> = (0..5000)
            .map(|i| (format!("service-{i}"), "é".repeat(20)))
            .collect();
        let c = chunks("t", &rows).expect("chunks");
        assert!(c.len() > 1);
        let mut back = Vec::new();
        for s in &c {
            assert!(utf16_bytes(s) <= CHUNK_BYTES, "{}", utf16_bytes(s));
            back.extend(serde_json::from_str::<Vec<(String, String)>>(s).expect("json"));
        }
        assert_eq!(back, rows);
    }
}
