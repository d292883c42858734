//! The Firestore store: costkit's [`CostStore`] port on a few collections under one root
//! collection (rationale, costs and limits in `docs/gcp-firestore-store.md`).
//!
//! | document | path (under the root collection `R`) | fields |
//! |---|---|---|
//! | load id counter | `R/store` | `next_load` (integer, `increment` transform) |
//! | load record | `R/store/loads/<load id, 20 digits>` | `load_id`, `dialect`, `files` (JSON), `loaded_at`, `records`, `billed`/`effective` (JSON: currency → decimal text) |
//! | slice pointer | `R/store/slices/<period>!<provider>!<account>` | `provider`, `billing_account_id`, `billing_period`, `gens` (array), `gen`, `daily_chunks`, `tag_chunks` (JSON `[[key, chunks]…]`), `billing_account_name` |
//! | packed daily rows | `R/store/gens/<provider>!<account>!<period>!<gen>/chunks/d<chunk>` | `rows` (JSON array of `[key, sums]`, ≤ 768 KiB), `n` |
//! | packed tag rows | `…/chunks/t<tag index>-<chunk>` | `rows`, `n` |
//!
//! Key text is escaped with [`enc`] (`[A-Za-z0-9.-]` kept, other bytes `_XX`).
//!
//! A replace takes a load id from the counter, registers it in each slice pointer's `gens`
//! (`appendMissingElements`), writes the rows of each slice into the new generation's chunk
//! documents (upserts, ≤ 500 writes and ≤ 9 MiB per commit), then **flips** the pointers (each
//! under the `updateTime` read just before) and creates the load record **in one commit** (up to
//! 499 slices; more use several commits, the record with the last), then deletes older
//! generations. The pointer carries the chunk counts, so readers fetch exactly the chunk
//! documents of each slice's current generation with `batchGet`, inside a read-only transaction:
//! every read of a call sees one snapshot, so a slice is its old rows or its new rows, never a
//! mix, even while a cleanup deletes the old ones.

use std::collections::{BTreeMap, BTreeSet};

use costkit_core::aggregate::{
    DailyKey, DailyRow, LoadBatch, Slice, SliceData, Sums, TagKey, TagRow,
};
use costkit_core::money::CurrencyTotals;
use costkit_core::store::{CostStore, Filter, LoadInfo, LoadMeta, LoadReport, StoreError};
use costkit_core::text::Text;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::runtime::Handle;

use crate::client::Gcp;
use crate::error::GcpError;
pub use crate::firestore::enc;
use crate::firestore::{value, write, Document, Firestore, Precondition, MAX_WRITES};

/// Bytes of one packed `rows` field (a document holds 1 MiB; a field 1 MiB - 89 bytes).
pub const CHUNK_BYTES: usize = 768 << 10;
/// Upper bound of a pointer or load record document (for `batchGet` sizing): a few names.
const POINTER_BYTES: usize = 16 << 10;
/// Slice pointers per flip commit (one write is the load record).
const FLIPS_PER_COMMIT: usize = MAX_WRITES - 1;
/// Attempts of a flip that keeps losing races to other loads.
const FLIP_ATTEMPTS: u32 = 8;

fn slice_id(s: &Slice) -> String {
    format!(
        "{}!{}!{}",
        enc(&s.billing_period),
        enc(&s.provider),
        enc(&s.billing_account_id)
    )
}

fn gen_id(s: &Slice, gen: i64) -> String {
    format!(
        "{}!{}!{}!{gen:020}",
        enc(&s.provider),
        enc(&s.billing_account_id),
        enc(&s.billing_period)
    )
}

fn daily_chunk_id(i: usize) -> String {
    format!("d{i:06}")
}

fn tag_chunk_id(key_index: usize, i: usize) -> String {
    format!("t{key_index:04}-{i:06}")
}

/// A slice pointer as stored.
#[derive(Clone, Debug)]
struct Pointer {
    slice: Slice,
    gen: Option<i64>,
    gens: Vec<i64>,
    daily_chunks: usize,
    /// Tag keys of the current generation, sorted, with their chunk counts.
    tag_chunks: Vec<(String, usize)>,
    update_time: String,
}

impl Pointer {
    fn parse(d: &Document) -> Result<Pointer, GcpError> {
        let count = |field: &str| -> Result<usize, GcpError> {
            let n = d.opt_int(field)?.unwrap_or(0);
            usize::try_from(n)
                .map_err(|_| GcpError::invalid(&d.name, format!("field `{field}` is negative")))
        };
        let tag_chunks = match d.opt_str("tag_chunks") {
            None => Vec::new(),
            Some(t) => serde_json::from_str(t)
                .map_err(|e| GcpError::invalid(&d.name, format!("field `tag_chunks`: {e}")))?,
        };
        Ok(Pointer {
            slice: Slice {
                provider: Text::from(d.str("provider")?),
                billing_account_id: Text::from(d.str("billing_account_id")?),
                billing_period: d.str("billing_period")?.to_string(),
            },
            gen: d.opt_int("gen")?,
            gens: d.int_array("gens")?,
            daily_chunks: count("daily_chunks")?,
            tag_chunks,
            update_time: d.update_time()?.to_string(),
        })
    }
}

/// Packs serialized rows into JSON arrays of at most [`CHUNK_BYTES`].
fn chunks<T: Serialize>(what: &str, rows: &[T]) -> Result<Vec<(String, usize)>, GcpError> {
    let mut out = Vec::new();
    let mut cur = String::from("[");
    let mut n = 0usize;
    for r in rows {
        let json = serde_json::to_string(r).map_err(|e| GcpError::invalid(what, e))?;
        if json.len() + 2 > CHUNK_BYTES {
            return Err(GcpError::invalid(
                what,
                format!(
                    "one aggregate row is {} bytes, more than a Firestore field holds",
                    json.len()
                ),
            ));
        }
        if cur.len() + json.len() + 2 > CHUNK_BYTES {
            cur.push(']');
            out.push((std::mem::replace(&mut cur, String::from("[")), n));
            n = 0;
        }
        if cur.len() > 1 {
            cur.push(',');
        }
        cur.push_str(&json);
        n += 1;
    }
    if n > 0 {
        cur.push(']');
        out.push((cur, n));
    }
    Ok(out)
}

fn parse_rows<T: DeserializeOwned>(d: &Document) -> Result<Vec<T>, GcpError> {
    serde_json::from_str(d.str("rows")?)
        .map_err(|e| GcpError::invalid(&d.name, format!("field `rows`: {e}")))
}

/// One slice's generation: its chunk documents (id, rows JSON, row count), in a deterministic
/// order, and what the pointer records about them.
struct Generation {
    docs: Vec<(String, String, usize)>,
    daily_chunks: usize,
    tag_chunks: Vec<(String, usize)>,
}

fn generation(slice: &Slice, gen: i64, data: &SliceData) -> Result<Generation, GcpError> {
    let what = gen_id(slice, gen);
    let mut daily: Vec<(&DailyKey, &Sums)> = data.daily.iter().collect();
    daily.sort_by(|a, b| a.0.cmp(b.0));
    let mut docs = Vec::new();
    let d = chunks(&what, &daily)?;
    let daily_chunks = d.len();
    for (i, (rows, n)) in d.into_iter().enumerate() {
        docs.push((daily_chunk_id(i), rows, n));
    }
    let mut by_key: BTreeMap<&str, Vec<(&TagKey, &Sums)>> = BTreeMap::new();
    for (k, s) in &data.tags {
        by_key.entry(k.key.as_str()).or_default().push((k, s));
    }
    let mut tag_chunks = Vec::new();
    for (ki, (key, mut rows)) in by_key.into_iter().enumerate() {
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let c = chunks(&what, &rows)?;
        tag_chunks.push((key.to_string(), c.len()));
        for (i, (rows, n)) in c.into_iter().enumerate() {
            docs.push((tag_chunk_id(ki, i), rows, n));
        }
    }
    Ok(Generation {
        docs,
        daily_chunks,
        tag_chunks,
    })
}

fn fields(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// JSON text of plain data (serializing it cannot fail).
fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The Firestore store.
///
/// The [`CostStore`] port is synchronous and the HTTP client async: the trait methods run the
/// async implementation with `Handle::block_on` on the runtime handle given at construction. Call
/// them from a thread that is **not** a runtime worker (`tokio::task::spawn_blocking`).
#[derive(Clone, Debug)]
pub struct FirestoreStore {
    db: Firestore,
    root: String,
    handle: Handle,
}

impl FirestoreStore {
    /// A store under the root collection `root` (letters, digits, `-` and `_`) of the
    /// project's `(default)` database, running its synchronous methods on `handle`.
    pub fn new(gcp: &Gcp, root: &str, handle: Handle) -> Result<FirestoreStore, GcpError> {
        FirestoreStore::with_db(Firestore::new(gcp), root, handle)
    }

    /// A store under `root` in `db`.
    pub fn with_db(db: Firestore, root: &str, handle: Handle) -> Result<FirestoreStore, GcpError> {
        if root.is_empty()
            || root.starts_with("__")
            || !root
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(GcpError::Config(format!(
                "Firestore collection `{root}`: use letters, digits, `-` and `_`"
            )));
        }
        Ok(FirestoreStore {
            db,
            root: root.to_string(),
            handle,
        })
    }

    /// The database.
    pub fn firestore(&self) -> &Firestore {
        &self.db
    }

    fn store_path(&self) -> String {
        format!("{}/store", self.root)
    }

    fn pointer_name(&self, s: &Slice) -> String {
        self.db
            .name(&format!("{}/store/slices/{}", self.root, slice_id(s)))
    }

    fn load_name(&self, id: i64) -> String {
        self.db.name(&format!("{}/store/loads/{id:020}", self.root))
    }

    fn chunks_path(&self, s: &Slice, gen: i64) -> String {
        format!("{}/store/gens/{}/chunks", self.root, gen_id(s, gen))
    }

    /// Takes the next load id: one atomic `increment` (no read, no contention loop).
    async fn next_load_id(&self) -> Result<i64, GcpError> {
        let name = self.db.name(&self.store_path());
        let w = write::transform(&name, vec![write::increment("next_load", 1)]);
        let res = self.db.commit("load id counter", &[w]).await?;
        res.first()
            .and_then(|r| r.transform_results.first())
            .and_then(|v| v.get("integerValue"))
            .and_then(|v| {
                v.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| v.as_i64())
            })
            .ok_or_else(|| GcpError::invalid(&name, "the increment returned no integer"))
    }

    async fn pointers_by_name(&self, slices: &[&Slice]) -> Result<Vec<Option<Pointer>>, GcpError> {
        let names: Vec<String> = slices.iter().map(|s| self.pointer_name(s)).collect();
        self.db
            .batch_get(&names, POINTER_BYTES, None)
            .await?
            .iter()
            .map(|d| d.as_ref().map(Pointer::parse).transpose())
            .collect()
    }

    /// Slice pointers matching `filter` (including ones whose first load has not committed).
    async fn pointers(
        &self,
        filter: &Filter,
        transaction: Option<&str>,
    ) -> Result<Vec<Pointer>, GcpError> {
        let mut eq = Vec::new();
        if let Some(p) = &filter.billing_period {
            eq.push(("billing_period", value::string(p.clone())));
        }
        if let Some(p) = &filter.provider {
            eq.push(("provider", value::string(p.clone())));
        }
        self.db
            .query_eq(&self.store_path(), "slices", &eq, transaction)
            .await?
            .iter()
            .map(Pointer::parse)
            .collect()
    }

    /// Registers `load_id` in the pointers of `slices` (creating them), before any row is
    /// written, so a crash leaves a trace the next replace cleans up.
    async fn register(&self, load_id: i64, slices: &[&Slice]) -> Result<(), GcpError> {
        let writes = slices
            .iter()
            .map(|s| {
                let f = fields(vec![
                    ("provider", value::string(s.provider.as_str())),
                    (
                        "billing_account_id",
                        value::string(s.billing_account_id.as_str()),
                    ),
                    ("billing_period", value::string(s.billing_period.clone())),
                ]);
                write::with_transforms(
                    write::update(
                        &self.pointer_name(s),
                        f,
                        Some(&["provider", "billing_account_id", "billing_period"]),
                        &Precondition::None,
                    ),
                    vec![write::append_missing("gens", &[load_id])],
                )
            })
            .collect();
        self.db.commit_all("slice pointers", writes).await
    }

    fn load_record(&self, load_id: i64, batch: &LoadBatch, meta: &LoadMeta) -> Value {
        let f = fields(vec![
            ("load_id", value::int(load_id)),
            ("dialect", value::string(meta.dialect.clone())),
            ("files", value::string(json(&meta.files))),
            ("loaded_at", value::string(meta.loaded_at.clone())),
            (
                "records",
                value::int(i64::try_from(batch.records).unwrap_or(i64::MAX)),
            ),
            ("billed", value::string(json(&batch.billed.normalized()))),
            (
                "effective",
                value::string(json(&batch.effective.normalized())),
            ),
        ]);
        write::update(
            &self.load_name(load_id),
            f,
            None,
            &Precondition::Exists(false),
        )
    }

    /// Flips the batch's pointers to generation `load_id` and creates the load record, in
    /// commits of at most 500 writes (the record with the last, so a listed load is a complete
    /// one). Each pointer is updated under the `updateTime` read just before; a lost race
    /// re-reads. Slices a newer load took over are left to it. Returns the slices flipped.
    async fn flip(
        &self,
        load_id: i64,
        batch: &LoadBatch,
        meta: &LoadMeta,
        gens: &BTreeMap<&Slice, Generation>,
    ) -> Result<Vec<Slice>, GcpError> {
        let all: Vec<&Slice> = batch.slices.keys().collect();
        let mut groups: Vec<Vec<&Slice>> = all
            .chunks(FLIPS_PER_COMMIT)
            .map(<[&Slice]>::to_vec)
            .collect();
        if groups.is_empty() {
            groups.push(Vec::new());
        }
        let count = groups.len();
        let mut flipped = Vec::new();
        let mut superseded = 0usize;
        for (i, mut live) in groups.into_iter().enumerate() {
            let last = i + 1 == count;
            let mut attempt = 0;
            loop {
                attempt += 1;
                let mut writes = Vec::with_capacity(live.len() + 1);
                let mut still = Vec::with_capacity(live.len());
                for (sl, p) in live.iter().zip(self.pointers_by_name(&live).await?) {
                    let p = p.ok_or_else(|| {
                        GcpError::invalid(
                            self.pointer_name(sl),
                            "the slice pointer vanished during the load",
                        )
                    })?;
                    match p.gen {
                        Some(g) if g > load_id => superseded += 1,
                        Some(g) if g == load_id => flipped.push((*sl).clone()),
                        _ => {
                            let g = gens.get(sl).ok_or_else(|| {
                                GcpError::invalid(self.pointer_name(sl), "no generation written")
                            })?;
                            let mut f = fields(vec![
                                ("gen", value::int(load_id)),
                                (
                                    "daily_chunks",
                                    value::int(i64::try_from(g.daily_chunks).unwrap_or(i64::MAX)),
                                ),
                                ("tag_chunks", value::string(json(&g.tag_chunks))),
                            ]);
                            if let Some(n) = batch
                                .slices
                                .get(*sl)
                                .and_then(|d| d.billing_account_name.as_ref())
                            {
                                f.insert("billing_account_name".into(), value::string(n.as_str()));
                            }
                            // In the mask but absent from `f`: a name the new data lacks is removed.
                            writes.push(write::update(
                                &self.pointer_name(sl),
                                f,
                                Some(&[
                                    "gen",
                                    "daily_chunks",
                                    "tag_chunks",
                                    "billing_account_name",
                                ]),
                                &Precondition::UpdateTime(p.update_time.clone()),
                            ));
                            still.push(*sl);
                        }
                    }
                }
                live = still;
                if last
                    && !(attempt > 1
                        && self
                            .db
                            .batch_get(&[self.load_name(load_id)], POINTER_BYTES, None)
                            .await?
                            .first()
                            .is_some_and(Option::is_some))
                {
                    writes.push(self.load_record(load_id, batch, meta));
                }
                if writes.is_empty() {
                    break;
                }
                match self.db.commit("slice pointer flip", &writes).await {
                    Ok(_) => {
                        flipped.extend(live.iter().map(|s| (*s).clone()));
                        break;
                    }
                    Err(e) if (e.is_conflict() || e.is_not_found()) && attempt < FLIP_ATTEMPTS => {
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
    ) -> Result<(), GcpError> {
        let Some(Some(p)) = self.pointers_by_name(&[slice]).await?.into_iter().next() else {
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
            let path = self.chunks_path(slice, gen);
            let docs = self.db.list(&path, Some(&[])).await?;
            let deletes = docs
                .iter()
                .map(|d| write::delete(&d.name, &Precondition::None))
                .collect();
            self.db.commit_all(&path, deletes).await?;
            let w = write::transform(
                &self.pointer_name(slice),
                vec![write::remove_all("gens", &[gen])],
            );
            self.db.commit("slice pointer", &[w]).await?;
        }
        Ok(())
    }

    /// [`CostStore::replace`], async.
    pub async fn replace_async(
        &self,
        batch: &LoadBatch,
        meta: &LoadMeta,
    ) -> Result<LoadReport, GcpError> {
        let load_id = self.next_load_id().await?;
        let slices: Vec<&Slice> = batch.slices.keys().collect();
        let before = self.pointers_by_name(&slices).await?;
        let replaced: Vec<Slice> = slices
            .iter()
            .zip(&before)
            .filter(|(_, p)| p.as_ref().is_some_and(|p| p.gen.is_some()))
            .map(|(s, _)| (*s).clone())
            .collect();
        self.register(load_id, &slices).await?;
        let mut gens = BTreeMap::new();
        for (slice, data) in &batch.slices {
            let g = generation(slice, load_id, data)?;
            let path = self.chunks_path(slice, load_id);
            let writes = g
                .docs
                .iter()
                .map(|(id, rows, n)| {
                    let f = fields(vec![
                        ("rows", value::string(rows.clone())),
                        ("n", value::int(i64::try_from(*n).unwrap_or(i64::MAX))),
                    ]);
                    write::update(
                        &self.db.name(&format!("{path}/{id}")),
                        f,
                        None,
                        &Precondition::None,
                    )
                })
                .collect();
            self.db.commit_all(&path, writes).await?;
            gens.insert(slice, g);
        }
        let flipped = self.flip(load_id, batch, meta, &gens).await?;
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

    /// The chunk documents `pick` names for each committed slice matching `filter`, read in one
    /// snapshot (a read-only transaction), parsed by `parse`.
    async fn read_chunks<T>(
        &self,
        filter: &Filter,
        pick: impl Fn(&Pointer) -> Vec<String>,
        parse: impl Fn(&Slice, &Document) -> Result<Vec<T>, GcpError>,
    ) -> Result<Vec<T>, GcpError> {
        let tx = self.db.begin_read_only().await?;
        let pointers = self.pointers(filter, Some(&tx)).await?;
        let mut names = Vec::new();
        let mut owner = Vec::new();
        for (pi, p) in pointers.iter().enumerate() {
            let Some(gen) = p.gen else { continue };
            let path = self.chunks_path(&p.slice, gen);
            for id in pick(p) {
                names.push(self.db.name(&format!("{path}/{id}")));
                owner.push(pi);
            }
        }
        let docs = self
            .db
            .batch_get(&names, CHUNK_BYTES + 4096, Some(&tx))
            .await?;
        let mut out = Vec::new();
        for ((name, pi), d) in names.iter().zip(owner).zip(docs) {
            let d = d.ok_or_else(|| {
                GcpError::invalid(name, "a chunk of the slice's current generation is missing")
            })?;
            out.extend(parse(&pointers[pi].slice, &d)?);
        }
        Ok(out)
    }

    /// [`CostStore::daily`], async.
    pub async fn daily_async(&self, filter: &Filter) -> Result<Vec<DailyRow>, GcpError> {
        let mut rows = self
            .read_chunks(
                filter,
                |p| (0..p.daily_chunks).map(daily_chunk_id).collect(),
                |slice, d| {
                    Ok(parse_rows::<(DailyKey, Sums)>(d)?
                        .into_iter()
                        .map(|(key, sums)| DailyRow {
                            slice: slice.clone(),
                            key,
                            sums,
                        })
                        .collect())
                },
            )
            .await?;
        rows.sort_by_key(|a| a.key.day);
        Ok(rows)
    }

    /// [`CostStore::daily_tags`], async.
    pub async fn daily_tags_async(
        &self,
        tag_key: &str,
        filter: &Filter,
    ) -> Result<Vec<TagRow>, GcpError> {
        let mut rows = self
            .read_chunks(
                filter,
                |p| {
                    p.tag_chunks
                        .iter()
                        .enumerate()
                        .filter(|(_, (k, _))| k == tag_key)
                        .flat_map(|(ki, (_, n))| (0..*n).map(move |i| tag_chunk_id(ki, i)))
                        .collect()
                },
                |slice, d| {
                    Ok(parse_rows::<(TagKey, Sums)>(d)?
                        .into_iter()
                        .map(|(key, sums)| TagRow {
                            slice: slice.clone(),
                            key,
                            sums,
                        })
                        .collect())
                },
            )
            .await?;
        rows.sort_by_key(|a| a.key.day);
        Ok(rows)
    }

    /// [`CostStore::tag_keys`], async: the pointers list them, so no row is read.
    pub async fn tag_keys_async(&self, filter: &Filter) -> Result<Vec<String>, GcpError> {
        let keys: BTreeSet<String> = self
            .pointers(filter, None)
            .await?
            .into_iter()
            .filter(|p| p.gen.is_some())
            .flat_map(|p| p.tag_chunks.into_iter().map(|(k, _)| k))
            .collect();
        Ok(keys.into_iter().collect())
    }

    /// [`CostStore::loads`], async.
    pub async fn loads_async(&self) -> Result<Vec<LoadInfo>, GcpError> {
        let tx = self.db.begin_read_only().await?;
        let records = self
            .db
            .query_eq(&self.store_path(), "loads", &[], Some(&tx))
            .await?;
        let mut owned: BTreeMap<i64, Vec<Slice>> = BTreeMap::new();
        for p in self.pointers(&Filter::default(), Some(&tx)).await? {
            if let Some(g) = p.gen {
                owned.entry(g).or_default().push(p.slice);
            }
        }
        let mut out = Vec::with_capacity(records.len());
        for d in &records {
            let from_json = |field: &str| -> Result<Value, GcpError> {
                serde_json::from_str(d.str(field)?)
                    .map_err(|x| GcpError::invalid(&d.name, format!("field `{field}`: {x}")))
            };
            let totals = |field: &str| -> Result<CurrencyTotals, GcpError> {
                serde_json::from_value(from_json(field)?)
                    .map_err(|x| GcpError::invalid(&d.name, format!("field `{field}`: {x}")))
            };
            let load_id = d.int("load_id")?;
            let files: Vec<String> = serde_json::from_value(from_json("files")?)
                .map_err(|x| GcpError::invalid(&d.name, format!("field `files`: {x}")))?;
            let mut slices = owned.remove(&load_id).unwrap_or_default();
            slices.sort();
            out.push(LoadInfo {
                load_id,
                meta: LoadMeta {
                    dialect: d.str("dialect")?.to_string(),
                    files,
                    loaded_at: d.str("loaded_at")?.to_string(),
                },
                records: u64::try_from(d.int("records")?)
                    .map_err(|_| GcpError::invalid(&d.name, "field `records` is negative"))?,
                billed: totals("billed")?,
                effective: totals("effective")?,
                slices,
            });
        }
        out.sort_by_key(|l| std::cmp::Reverse(l.load_id));
        Ok(out)
    }

    /// Live generations of a slice, ascending (diagnostics and tests).
    pub async fn generations(&self, slice: &Slice) -> Result<Vec<i64>, GcpError> {
        let mut g = self
            .pointers_by_name(&[slice])
            .await?
            .into_iter()
            .next()
            .flatten()
            .map(|p| p.gens)
            .unwrap_or_default();
        g.sort_unstable();
        Ok(g)
    }

    /// Chunk documents stored under generation `gen` of `slice` (diagnostics and tests).
    pub async fn generation_size(&self, slice: &Slice, gen: i64) -> Result<usize, GcpError> {
        Ok(self
            .db
            .list(&self.chunks_path(slice, gen), Some(&[]))
            .await?
            .len())
    }
}

impl CostStore for FirestoreStore {
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
    fn rows_are_packed_below_the_field_limit() {
        let rows: Vec<(String, String)> = (0..40_000)
            .map(|i| (format!("service-{i}"), "é".repeat(20)))
            .collect();
        let c = chunks("t", &rows).expect("chunks");
        assert!(c.len() > 1);
        let mut back = Vec::new();
        for (s, n) in &c {
            assert!(s.len() <= CHUNK_BYTES, "{}", s.len());
            let part = serde_json::from_str::<Vec<(String, String)>>(s).expect("json");
            assert_eq!(part.len(), *n);
            back.extend(part);
        }
        assert_eq!(back, rows);
        assert!(chunks("t", &["x".repeat(CHUNK_BYTES)]).is_err());
        assert!(chunks::<String>("t", &[]).expect("empty").is_empty());
    }
}
