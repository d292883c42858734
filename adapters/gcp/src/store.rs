//! The Firestore store: costkit's [`CostStore`](costkit_core::store::CostStore) port on a few collections under one root
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
//! The algorithm is the one every generational store shares
//! ([`costkit_core::store::generational`]); this module gives it Firestore's primitives. A
//! replace takes a load id from the counter, registers it in each slice pointer's `gens`
//! (`appendMissingElements`), writes the rows of each slice into the new generation's chunk
//! documents (upserts, ≤ 500 writes and ≤ 9 MiB per commit), then **flips** the pointers (each
//! under the `updateTime` read just before) and creates the load record **in one commit** (up to
//! 499 slices; more use several commits, the record with the last), then deletes older
//! generations. The pointer carries the chunk counts, so readers fetch exactly the chunk
//! documents of each slice's current generation with `batchGet`, inside a read-only transaction:
//! every read of a call sees one snapshot, so a slice is its old rows or its new rows, never a
//! mix, even while a cleanup deletes the old ones.

use std::future::Future;

use costkit_core::aggregate::{DailyRow, Slice, TagRow};
use costkit_core::store::generational::{
    self, keys, ChunkLimit, Committed, Flip, FlipOutcome, GenerationalBackend, GenerationalError,
    GenerationalStore, Limits, LoadRecord, NewGeneration, PointerView, ReadMode, SlicePointer,
};
use costkit_core::store::{Filter, LoadMeta};
use costkit_core::text::Text;
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

/// Firestore's limits: JSON chunks in a string field, up to 499 pointers per flip commit (one
/// write is the load record), each conditional on the `updateTime` read just before (so the
/// pointers are read before the first attempt), snapshot reads in read-only transactions.
const LIMITS: Limits = Limits {
    chunk: ChunkLimit::Utf8Bytes(CHUNK_BYTES),
    flips_per_commit: FLIPS_PER_COMMIT,
    flip_attempts: FLIP_ATTEMPTS,
    read_before_flip: true,
    reads: ReadMode::Snapshot,
};

fn slice_id(s: &Slice) -> String {
    keys::pointer_key(s, '!', enc)
}

fn gen_id(s: &Slice, gen: i64) -> String {
    format!("{}!{gen:020}", keys::generation_key(s, '!', enc))
}

fn daily_chunk_id(i: usize) -> String {
    format!("d{i:06}")
}

fn tag_chunk_id(key_index: usize, i: usize) -> String {
    format!("t{key_index:04}-{i:06}")
}

/// A slice pointer as stored (the shared algorithm's view of it is [`PointerView`]).
#[derive(Clone, Debug)]
pub struct Pointer {
    base: SlicePointer,
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
            base: SlicePointer {
                slice: Slice {
                    provider: Text::from(d.str("provider")?),
                    billing_account_id: Text::from(d.str("billing_account_id")?),
                    billing_period: d.str("billing_period")?.to_string(),
                },
                gen: d.opt_int("gen")?,
                gens: d.int_array("gens")?,
            },
            daily_chunks: count("daily_chunks")?,
            tag_chunks,
            update_time: d.update_time()?.to_string(),
        })
    }
}

impl PointerView for Pointer {
    fn base(&self) -> &SlicePointer {
        &self.base
    }
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
/// The [`CostStore`](costkit_core::store::CostStore) port is synchronous and the HTTP client async: the trait methods run the
/// async implementation with `Handle::block_on` on the runtime handle given at construction. Call
/// them from a thread that is **not** a runtime worker (`tokio::task::spawn_blocking`). Async
/// code can call the `*_async` methods of
/// [`AsyncCostStore`](costkit_core::store::generational::AsyncCostStore) directly instead.
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

    fn load_record(&self, r: &LoadRecord) -> Value {
        let f = fields(vec![
            ("load_id", value::int(r.load_id)),
            ("dialect", value::string(r.meta.dialect.clone())),
            ("files", value::string(json(&r.meta.files))),
            ("loaded_at", value::string(r.meta.loaded_at.clone())),
            (
                "records",
                value::int(i64::try_from(r.records).unwrap_or(i64::MAX)),
            ),
            ("billed", value::string(json(&r.billed))),
            ("effective", value::string(json(&r.effective))),
        ]);
        write::update(
            &self.load_name(r.load_id),
            f,
            None,
            &Precondition::Exists(false),
        )
    }

    /// Reads the chunk documents `pick` names for each committed pointer, in the snapshot `tx`,
    /// parsed by `parse` (a missing chunk of a current generation is an error: the snapshot
    /// cannot lose one).
    async fn read_chunks<T>(
        &self,
        tx: &Option<String>,
        committed: &[Committed<'_, Pointer>],
        pick: impl Fn(&Pointer) -> Vec<String>,
        parse: impl Fn(&Slice, &str, &[u8]) -> Result<Vec<T>, GenerationalError>,
    ) -> Result<Vec<T>, GcpError> {
        let mut names = Vec::new();
        let mut owner = Vec::new();
        for (ci, c) in committed.iter().enumerate() {
            let path = self.chunks_path(c.slice(), c.gen);
            for id in pick(c.pointer) {
                names.push(self.db.name(&format!("{path}/{id}")));
                owner.push(ci);
            }
        }
        let docs = self
            .db
            .batch_get(&names, CHUNK_BYTES + 4096, tx.as_deref())
            .await?;
        let mut out = Vec::new();
        for ((name, ci), d) in names.iter().zip(owner).zip(docs) {
            let d = d.ok_or_else(|| {
                GcpError::invalid(name, "a chunk of the slice's current generation is missing")
            })?;
            let what = format!("{} field `rows`", d.name);
            out.extend(parse(
                committed[ci].slice(),
                &what,
                d.str("rows")?.as_bytes(),
            )?);
        }
        Ok(out)
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

impl GenerationalBackend for FirestoreStore {
    type Error = GcpError;
    type Pointer = Pointer;
    /// The read-only transaction of a read.
    type View = Option<String>;

    fn limits(&self) -> Limits {
        LIMITS
    }

    /// One atomic `increment` (no read, no contention loop).
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

    /// Reads the pointers (what each followed), then adds `load_id` to their `gens`
    /// (`appendMissingElements`, creating them) in as few commits as the limits allow.
    async fn register(
        &self,
        load_id: i64,
        slices: &[&Slice],
    ) -> Result<Vec<Option<i64>>, GcpError> {
        let before = self
            .pointers_by_name(slices)
            .await?
            .into_iter()
            .map(|p| p.and_then(|p| p.base.gen))
            .collect();
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
        self.db.commit_all("slice pointers", writes).await?;
        Ok(before)
    }

    /// Chunk documents `d<chunk>` and `t<tag index>-<chunk>` (fields `rows`, `n`), upserted.
    async fn write_generations(
        &self,
        load_id: i64,
        generations: &[NewGeneration<'_>],
    ) -> Result<(), GcpError> {
        for g in generations {
            let path = self.chunks_path(g.slice, load_id);
            let daily = g
                .packed
                .daily
                .iter()
                .enumerate()
                .map(|(i, c)| (daily_chunk_id(i), c));
            let tags = g
                .packed
                .tags
                .iter()
                .enumerate()
                .flat_map(|(ki, (_, chunks))| {
                    chunks
                        .iter()
                        .enumerate()
                        .map(move |(i, c)| (tag_chunk_id(ki, i), c))
                });
            let writes = daily
                .chain(tags)
                .map(|(id, c)| {
                    let f = fields(vec![
                        ("rows", value::string(c.json.clone())),
                        ("n", value::int(i64::try_from(c.rows).unwrap_or(i64::MAX))),
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
        }
        Ok(())
    }

    async fn read_pointers(&self, slices: &[&Slice]) -> Result<Vec<Option<Pointer>>, GcpError> {
        self.pointers_by_name(slices).await
    }

    async fn load_exists(&self, load_id: i64) -> Result<bool, GcpError> {
        Ok(self
            .db
            .batch_get(&[self.load_name(load_id)], POINTER_BYTES, None)
            .await?
            .first()
            .is_some_and(Option::is_some))
    }

    /// One commit: each pointer's `gen`, chunk counts and account name under the `updateTime`
    /// read, and the load record (must not exist).
    async fn flip(
        &self,
        load_id: i64,
        flips: &[Flip<'_, Pointer>],
        record: Option<&LoadRecord>,
    ) -> Result<FlipOutcome<GcpError>, GcpError> {
        let mut writes = Vec::with_capacity(flips.len() + 1);
        for fl in flips {
            let packed = &fl.generation.packed;
            let mut f = fields(vec![
                ("gen", value::int(load_id)),
                (
                    "daily_chunks",
                    value::int(i64::try_from(packed.daily.len()).unwrap_or(i64::MAX)),
                ),
                ("tag_chunks", value::string(json(&packed.tag_chunks()))),
            ]);
            if let Some(n) = fl.account_name() {
                f.insert("billing_account_name".into(), value::string(n.as_str()));
            }
            let pre = match fl.pointer {
                Some(p) => Precondition::UpdateTime(p.update_time.clone()),
                None => Precondition::Exists(true),
            };
            // In the mask but absent from `f`: a name the new data lacks is removed.
            writes.push(write::update(
                &self.pointer_name(fl.slice),
                f,
                Some(&["gen", "daily_chunks", "tag_chunks", "billing_account_name"]),
                &pre,
            ));
        }
        if let Some(r) = record {
            writes.push(self.load_record(r));
        }
        match self.db.commit("slice pointer flip", &writes).await {
            Ok(_) => Ok(FlipOutcome::Committed),
            Err(e) if e.is_conflict() || e.is_not_found() => Ok(FlipOutcome::Conflict(e)),
            Err(e) => Err(e),
        }
    }

    async fn delete_generation(&self, slice: &Slice, gen: i64) -> Result<(), GcpError> {
        let path = self.chunks_path(slice, gen);
        let docs = self.db.list(&path, Some(&[])).await?;
        let deletes = docs
            .iter()
            .map(|d| write::delete(&d.name, &Precondition::None))
            .collect();
        self.db.commit_all(&path, deletes).await
    }

    async fn unregister(&self, slice: &Slice, gen: i64) -> Result<(), GcpError> {
        let w = write::transform(
            &self.pointer_name(slice),
            vec![write::remove_all("gens", &[gen])],
        );
        self.db.commit("slice pointer", &[w]).await?;
        Ok(())
    }

    async fn begin_read(&self) -> Result<Option<String>, GcpError> {
        Ok(Some(self.db.begin_read_only().await?))
    }

    async fn pointers(
        &self,
        filter: &Filter,
        tx: &Option<String>,
    ) -> Result<Vec<Pointer>, GcpError> {
        FirestoreStore::pointers(self, filter, tx.as_deref()).await
    }

    async fn load_records(&self, tx: &Option<String>) -> Result<Vec<LoadRecord>, GcpError> {
        let records = self
            .db
            .query_eq(&self.store_path(), "loads", &[], tx.as_deref())
            .await?;
        let mut out = Vec::with_capacity(records.len());
        for d in &records {
            let from_json = |field: &str| -> Result<Value, GcpError> {
                serde_json::from_str(d.str(field)?)
                    .map_err(|x| GcpError::invalid(&d.name, format!("field `{field}`: {x}")))
            };
            let typed = |field: &str| -> Result<_, GcpError> {
                serde_json::from_value(from_json(field)?)
                    .map_err(|x| GcpError::invalid(&d.name, format!("field `{field}`: {x}")))
            };
            out.push(LoadRecord {
                load_id: d.int("load_id")?,
                meta: LoadMeta {
                    dialect: d.str("dialect")?.to_string(),
                    files: serde_json::from_value(from_json("files")?)
                        .map_err(|x| GcpError::invalid(&d.name, format!("field `files`: {x}")))?,
                    loaded_at: d.str("loaded_at")?.to_string(),
                },
                records: u64::try_from(d.int("records")?)
                    .map_err(|_| GcpError::invalid(&d.name, "field `records` is negative"))?,
                billed: typed("billed")?,
                effective: typed("effective")?,
            });
        }
        Ok(out)
    }

    /// The daily chunks the pointers count, by exact name (`batchGet`).
    async fn read_daily(
        &self,
        tx: &Option<String>,
        committed: &[Committed<'_, Pointer>],
    ) -> Result<Vec<DailyRow>, GcpError> {
        self.read_chunks(
            tx,
            committed,
            |p| (0..p.daily_chunks).map(daily_chunk_id).collect(),
            generational::daily_rows,
        )
        .await
    }

    async fn read_tags(
        &self,
        tx: &Option<String>,
        committed: &[Committed<'_, Pointer>],
        key: &str,
    ) -> Result<Vec<TagRow>, GcpError> {
        self.read_chunks(
            tx,
            committed,
            |p| {
                p.tag_chunks
                    .iter()
                    .enumerate()
                    .filter(|(_, (k, _))| k == key)
                    .flat_map(|(ki, (_, n))| (0..*n).map(move |i| tag_chunk_id(ki, i)))
                    .collect()
            },
            generational::tag_rows,
        )
        .await
    }

    /// The pointers list them: no row is read.
    async fn read_tag_keys(
        &self,
        _tx: &Option<String>,
        committed: &[Committed<'_, Pointer>],
    ) -> Result<Vec<String>, GcpError> {
        Ok(committed
            .iter()
            .flat_map(|c| c.pointer.tag_chunks.iter().map(|(k, _)| k.clone()))
            .collect())
    }
}

impl GenerationalStore for FirestoreStore {
    /// `Handle::block_on` on the runtime handle given at construction: call the
    /// [`CostStore`](costkit_core::store::CostStore) methods from a thread that is **not** a
    /// runtime worker (`tokio::task::spawn_blocking`).
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use costkit_core::store::generational::pack_rows;

    #[test]
    fn stored_keys_keep_their_layout() {
        let s = costkit_core::store::contract::odd_slice();
        assert_eq!(slice_id(&s), "2024-09!A_23W_25S_20_2F_C3_A9!12_2134_5Fx");
        assert_eq!(
            gen_id(&s, 42),
            "A_23W_25S_20_2F_C3_A9!12_2134_5Fx!2024-09!00000000000000000042"
        );
    }

    #[test]
    fn rows_are_packed_below_the_field_limit() {
        let rows: Vec<(String, String)> = (0..40_000)
            .map(|i| (format!("service-{i}"), "é".repeat(20)))
            .collect();
        let c = pack_rows(LIMITS.chunk, "t", &rows).expect("chunks");
        assert!(c.len() > 1);
        let mut back = Vec::new();
        for chunk in &c {
            assert!(chunk.json.len() <= CHUNK_BYTES, "{}", chunk.json.len());
            let part = serde_json::from_str::<Vec<(String, String)>>(&chunk.json).expect("json");
            assert_eq!(part.len(), chunk.rows);
            back.extend(part);
        }
        assert_eq!(back, rows);
        assert!(pack_rows(LIMITS.chunk, "t", &["x".repeat(CHUNK_BYTES)]).is_err());
        assert!(pack_rows::<String>(LIMITS.chunk, "t", &[])
            .expect("empty")
            .is_empty());
    }
}
