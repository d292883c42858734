//! The generational store algorithm shared by the DynamoDB, Azure Table and Firestore stores.
//!
//! A key-value store with small atomic commits cannot replace a slice's rows in one transaction,
//! so each replace writes the slice's rows into a fresh *generation* (named by the load id) and
//! then flips the slice's *pointer* to it, together with the load record, in one atomic commit.
//! Readers follow the pointers. The steps, in order:
//!
//! 1. take a load id ([`GenerationalBackend::next_load_id`]);
//! 2. register it in each slice pointer's set of live generations *before* any row is written,
//!    so a crash mid-write leaves a trace the next replace of the slice cleans up;
//! 3. write each slice's rows, packed into chunks ([`pack_generation`]);
//! 4. flip the pointers to the new generation, at most [`Limits::flips_per_commit`] per commit,
//!    the load record with the last commit (a listed load is a complete one). A pointer a
//!    *newer* load already owns is left to it; a lost race re-reads and retries;
//! 5. delete the generations older than the one the pointer now follows (and this load's own
//!    when a newer load won the slice), then unregister them.
//!
//! Readers see a slice's old rows or its new rows, never a mix: either the pointers are read
//! again after the rows and the read repeated when one moved ([`ReadMode::Recheck`]), or every
//! read of a call happens in one snapshot ([`ReadMode::Snapshot`]).
//!
//! The backends provide only the atomic primitives and their item layouts
//! ([`GenerationalBackend`]); implementing [`GenerationalStore`] (a `block_on`) on top makes the
//! type a [`CostStore`]. The module is plain code over `async fn`s: no runtime of its own.

use std::collections::BTreeMap;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::aggregate::{DailyKey, DailyRow, LoadBatch, Slice, SliceData, Sums, TagKey, TagRow};
use crate::money::CurrencyTotals;
use crate::store::{CostStore, Filter, LoadInfo, LoadMeta, LoadReport, StoreError};
use crate::text::Text;

pub mod keys;

/// Failures the algorithm itself detects (the backends turn them into their own error type).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GenerationalError {
    /// Stored or to-be-stored data is not what the algorithm expects.
    #[error("{what}: {message}")]
    Invalid {
        /// The slice, generation or chunk concerned.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// Slices kept being replaced while a [`ReadMode::Recheck`] read was running.
    #[error("slices kept being replaced while they were read ({attempts} attempts)")]
    ReadContention {
        /// Attempts made.
        attempts: u32,
    },
}

impl GenerationalError {
    fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        GenerationalError::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}

/// How [`pack_rows`] bounds one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkLimit {
    /// At most this many rows (the backend compresses, so the byte size is bounded per row).
    Rows(usize),
    /// At most this many bytes of UTF-8 JSON text.
    Utf8Bytes(usize),
    /// At most this many bytes of the JSON text encoded as UTF-16 (Azure Table properties).
    Utf16Bytes(usize),
}

impl ChunkLimit {
    fn measure(&self, s: &str) -> usize {
        match self {
            ChunkLimit::Rows(_) => 0,
            ChunkLimit::Utf8Bytes(_) => s.len(),
            ChunkLimit::Utf16Bytes(_) => s.encode_utf16().count() * 2,
        }
    }
}

/// How readers get a consistent view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// Read the pointers, the rows, then the pointers again; repeat (up to `attempts` times) when
    /// a pointer moved, since its old generation may have been half deleted meanwhile.
    Recheck {
        /// Attempts before [`GenerationalError::ReadContention`].
        attempts: u32,
    },
    /// Every read of a call sees one snapshot ([`GenerationalBackend::begin_read`] opens it).
    Snapshot,
}

/// A backend's limits and strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How rows are packed into chunk items.
    pub chunk: ChunkLimit,
    /// Slice pointers per atomic flip commit (the commit's item limit minus the load record).
    pub flips_per_commit: usize,
    /// Attempts of one flip commit that keeps losing races.
    pub flip_attempts: u32,
    /// Whether the pointers are read before the first flip attempt (backends whose flip is
    /// conditional on the version read need it; a backend whose flip is conditional on the
    /// generation number server-side reads them only after a conflict).
    pub read_before_flip: bool,
    /// How readers stay consistent.
    pub reads: ReadMode,
}

/// What every backend's slice pointer holds for the algorithm. A backend whose pointer has
/// nothing else uses it as is; others embed it next to their own fields (version, chunk
/// counts, account name). How it is stored stays each backend's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlicePointer {
    /// The slice.
    pub slice: Slice,
    /// The generation (= owning load id) readers follow; `None` while the slice's first load
    /// has not committed.
    pub gen: Option<i64>,
    /// Generations written and not yet deleted (the current one, in-flight ones, crashed ones).
    pub gens: Vec<i64>,
}

/// What the algorithm needs to know of a stored slice pointer.
pub trait PointerView {
    /// The slice and its generations.
    fn base(&self) -> &SlicePointer;
    /// The slice.
    fn slice(&self) -> &Slice {
        &self.base().slice
    }
    /// The generation readers follow (`None` until the slice's first load commits).
    fn gen(&self) -> Option<i64> {
        self.base().gen
    }
    /// Generations written and not yet deleted (current, in flight, left by crashes).
    fn gens(&self) -> &[i64] {
        &self.base().gens
    }
}

impl PointerView for SlicePointer {
    fn base(&self) -> &SlicePointer {
        self
    }
}

/// One chunk of packed rows: a JSON array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The JSON array text.
    pub json: String,
    /// Rows in it.
    pub rows: usize,
}

/// A slice's rows packed into chunks, in a deterministic order (a re-run writes the same keys).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackedGeneration {
    /// Daily rows `[key, sums]`, sorted by key.
    pub daily: Vec<Chunk>,
    /// Per-tag rows `[key, sums]` grouped by tag key (keys sorted, rows sorted in each).
    pub tags: Vec<(String, Vec<Chunk>)>,
}

impl PackedGeneration {
    /// Tag keys with their chunk counts, in order.
    pub fn tag_chunks(&self) -> Vec<(String, usize)> {
        self.tags
            .iter()
            .map(|(k, c)| (k.clone(), c.len()))
            .collect()
    }
}

/// One slice's new generation, handed to [`GenerationalBackend::write_generations`].
#[derive(Debug)]
pub struct NewGeneration<'a> {
    /// The slice.
    pub slice: &'a Slice,
    /// Its data.
    pub data: &'a SliceData,
    /// The packed rows.
    pub packed: PackedGeneration,
}

/// One pointer to flip, handed to [`GenerationalBackend::flip`].
#[derive(Debug)]
pub struct Flip<'a, P> {
    /// The slice.
    pub slice: &'a Slice,
    /// The pointer as read just before (with its version), or `None` on a first attempt of a
    /// backend that does not read before flipping ([`Limits::read_before_flip`]).
    pub pointer: Option<&'a P>,
    /// The slice's generation as written.
    pub generation: &'a NewGeneration<'a>,
}

impl<P> Flip<'_, P> {
    /// BillingAccountName the pointer takes (a name the new data lacks is removed).
    pub fn account_name(&self) -> Option<&Text> {
        self.generation.data.billing_account_name.as_ref()
    }
}

/// The outcome of a flip commit.
#[derive(Debug)]
pub enum FlipOutcome<E> {
    /// Every pointer (and the record, if any) was written.
    Committed,
    /// A precondition failed (another writer got in between); nothing was written. The error is
    /// returned when the attempts run out.
    Conflict(E),
}

/// A load record as every backend stores it (encoding is the backend's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadRecord {
    /// Load id.
    pub load_id: i64,
    /// What was loaded.
    pub meta: LoadMeta,
    /// Records folded in.
    pub records: u64,
    /// Σ BilledCost per currency (normalized).
    pub billed: CurrencyTotals,
    /// Σ EffectiveCost per currency (normalized).
    pub effective: CurrencyTotals,
}

impl LoadRecord {
    /// The record of load `load_id` of `batch`.
    pub fn new(load_id: i64, batch: &LoadBatch, meta: &LoadMeta) -> LoadRecord {
        LoadRecord {
            load_id,
            meta: meta.clone(),
            records: batch.records,
            billed: batch.billed.normalized(),
            effective: batch.effective.normalized(),
        }
    }
}

/// A committed pointer, handed to the row readers.
#[derive(Debug)]
pub struct Committed<'a, P> {
    /// The pointer.
    pub pointer: &'a P,
    /// The generation it follows.
    pub gen: i64,
}

impl<P: PointerView> Committed<'_, P> {
    /// The slice.
    pub fn slice(&self) -> &Slice {
        self.pointer.slice()
    }
}

/// The atomic primitives and item layouts of one backend. Every method is one step of the
/// algorithm above; none repeats it.
// The futures are awaited where they are made (the stores `block_on` them), never spawned, so
// no `Send` bound is needed on them.
#[allow(async_fn_in_trait)]
pub trait GenerationalBackend {
    /// The backend's error.
    type Error: From<GenerationalError> + std::error::Error;
    /// A slice pointer as read, with whatever version the backend's flip is conditional on.
    type Pointer: PointerView;
    /// A read context: a snapshot (transaction) or nothing.
    type View;

    /// Limits and strategies.
    fn limits(&self) -> Limits;

    /// Takes the next load id (atomic counter).
    async fn next_load_id(&self) -> Result<i64, Self::Error>;

    /// Adds `load_id` to the live generations of each slice's pointer (creating pointers),
    /// returning the generation each pointer followed before (`Some`: the slice is replaced).
    async fn register(
        &self,
        load_id: i64,
        slices: &[&Slice],
    ) -> Result<Vec<Option<i64>>, Self::Error>;

    /// Writes the packed rows of generation `load_id` of each slice (idempotent upserts).
    async fn write_generations(
        &self,
        load_id: i64,
        generations: &[NewGeneration<'_>],
    ) -> Result<(), Self::Error>;

    /// The pointers of `slices`, in order, read consistently (latest committed state).
    async fn read_pointers(
        &self,
        slices: &[&Slice],
    ) -> Result<Vec<Option<Self::Pointer>>, Self::Error>;

    /// Whether the record of `load_id` exists (an earlier flip attempt may have committed).
    async fn load_exists(&self, load_id: i64) -> Result<bool, Self::Error>;

    /// Points `flips` at generation `load_id` and writes `record` (when given), atomically: each
    /// pointer conditional on its version read (or, without one, on following an older
    /// generation), the record on not existing yet.
    async fn flip(
        &self,
        load_id: i64,
        flips: &[Flip<'_, Self::Pointer>],
        record: Option<&LoadRecord>,
    ) -> Result<FlipOutcome<Self::Error>, Self::Error>;

    /// Deletes every row item of generation `gen` of `slice`.
    async fn delete_generation(&self, slice: &Slice, gen: i64) -> Result<(), Self::Error>;

    /// Removes `gen` from the live generations of `slice`'s pointer.
    async fn unregister(&self, slice: &Slice, gen: i64) -> Result<(), Self::Error>;

    /// Opens a read context (a snapshot for [`ReadMode::Snapshot`]).
    async fn begin_read(&self) -> Result<Self::View, Self::Error>;

    /// Pointers matching `filter` (including ones whose first load has not committed).
    async fn pointers(
        &self,
        filter: &Filter,
        view: &Self::View,
    ) -> Result<Vec<Self::Pointer>, Self::Error>;

    /// Every load record.
    async fn load_records(&self, view: &Self::View) -> Result<Vec<LoadRecord>, Self::Error>;

    /// Daily rows of the committed generations.
    async fn read_daily(
        &self,
        view: &Self::View,
        committed: &[Committed<'_, Self::Pointer>],
    ) -> Result<Vec<DailyRow>, Self::Error>;

    /// Tag rows of tag key `key` of the committed generations.
    async fn read_tags(
        &self,
        view: &Self::View,
        committed: &[Committed<'_, Self::Pointer>],
        key: &str,
    ) -> Result<Vec<TagRow>, Self::Error>;

    /// Tag keys present in the committed generations (any order, repeats allowed).
    async fn read_tag_keys(
        &self,
        view: &Self::View,
        committed: &[Committed<'_, Self::Pointer>],
    ) -> Result<Vec<String>, Self::Error>;
}

/// A backend that can run its futures to completion: it then is a [`CostStore`].
pub trait GenerationalStore: GenerationalBackend {
    /// Runs `f` to completion (an SDK backend: `Handle::block_on` on its runtime handle; call
    /// the store from a thread that is not a runtime worker).
    fn block_on<F: Future>(&self, f: F) -> F::Output;
}

impl<T> CostStore for T
where
    T: GenerationalStore,
    StoreError: From<T::Error>,
{
    fn replace(&mut self, batch: &LoadBatch, meta: &LoadMeta) -> Result<LoadReport, StoreError> {
        Ok(self.block_on(replace(self, batch, meta))?)
    }

    fn daily(&self, filter: &Filter) -> Result<Vec<DailyRow>, StoreError> {
        Ok(self.block_on(daily(self, filter))?)
    }

    fn daily_tags(&self, tag_key: &str, filter: &Filter) -> Result<Vec<TagRow>, StoreError> {
        Ok(self.block_on(daily_tags(self, tag_key, filter))?)
    }

    fn tag_keys(&self, filter: &Filter) -> Result<Vec<String>, StoreError> {
        Ok(self.block_on(tag_keys(self, filter))?)
    }

    fn loads(&self) -> Result<Vec<LoadInfo>, StoreError> {
        Ok(self.block_on(loads(self))?)
    }
}

/// The [`CostStore`] calls as `async fn`s, for async callers of any generational store (a
/// handler already on the runtime; `use` this trait to call them).
#[allow(async_fn_in_trait)]
pub trait AsyncCostStore: GenerationalBackend {
    /// [`CostStore::replace`], async.
    async fn replace_async(
        &self,
        batch: &LoadBatch,
        meta: &LoadMeta,
    ) -> Result<LoadReport, Self::Error> {
        replace(self, batch, meta).await
    }

    /// [`CostStore::daily`], async.
    async fn daily_async(&self, filter: &Filter) -> Result<Vec<DailyRow>, Self::Error> {
        daily(self, filter).await
    }

    /// [`CostStore::daily_tags`], async.
    async fn daily_tags_async(
        &self,
        tag_key: &str,
        filter: &Filter,
    ) -> Result<Vec<TagRow>, Self::Error> {
        daily_tags(self, tag_key, filter).await
    }

    /// [`CostStore::tag_keys`], async.
    async fn tag_keys_async(&self, filter: &Filter) -> Result<Vec<String>, Self::Error> {
        tag_keys(self, filter).await
    }

    /// [`CostStore::loads`], async.
    async fn loads_async(&self) -> Result<Vec<LoadInfo>, Self::Error> {
        loads(self).await
    }

    /// Live generations of `slice`, ascending: the current one plus any in flight or left by a
    /// crash (diagnostics and tests).
    async fn generations(&self, slice: &Slice) -> Result<Vec<i64>, Self::Error> {
        generations(self, slice).await
    }
}

impl<T: GenerationalBackend> AsyncCostStore for T {}

// ---------------------------------------------------------------------------------------------
// Packing.

/// Packs serialized rows into JSON arrays within `limit` (an empty input gives no chunk). `what`
/// names the generation in errors (a single row larger than the limit).
pub fn pack_rows<T: Serialize>(
    limit: ChunkLimit,
    what: &str,
    rows: &[T],
) -> Result<Vec<Chunk>, GenerationalError> {
    let (max_rows, max_bytes) = match limit {
        ChunkLimit::Rows(n) => (n.max(1), usize::MAX),
        ChunkLimit::Utf8Bytes(b) | ChunkLimit::Utf16Bytes(b) => (usize::MAX, b),
    };
    // The size of "[", "," and "]" in the limit's unit.
    let unit = limit.measure("[");
    let mut out = Vec::new();
    let mut cur = String::from("[");
    let mut cur_bytes = unit;
    let mut n = 0usize;
    for r in rows {
        let json = serde_json::to_string(r)
            .map_err(|e| GenerationalError::invalid(what, e.to_string()))?;
        let b = limit.measure(&json);
        if 2 * unit + b > max_bytes {
            return Err(GenerationalError::invalid(
                what,
                format!("one aggregate row is {b} bytes, more than a chunk holds ({max_bytes})"),
            ));
        }
        let sep = if n == 0 { 0 } else { unit };
        if n > 0 && (n >= max_rows || cur_bytes + sep + b + unit > max_bytes) {
            cur.push(']');
            out.push(Chunk {
                json: std::mem::replace(&mut cur, String::from("[")),
                rows: n,
            });
            cur_bytes = unit;
            n = 0;
        }
        if n > 0 {
            cur.push(',');
            cur_bytes += unit;
        }
        cur.push_str(&json);
        cur_bytes += b;
        n += 1;
    }
    if n > 0 {
        cur.push(']');
        out.push(Chunk { json: cur, rows: n });
    }
    Ok(out)
}

/// Packs one slice's rows: daily rows sorted by key, then tag rows grouped by tag key (keys
/// sorted, each key's rows sorted), each group chunked on its own so one key's rows are
/// contiguous chunk items.
pub fn pack_generation(
    limit: ChunkLimit,
    what: &str,
    data: &SliceData,
) -> Result<PackedGeneration, GenerationalError> {
    let mut daily: Vec<(&DailyKey, &Sums)> = data.daily.iter().collect();
    daily.sort_by(|a, b| a.0.cmp(b.0));
    let mut by_key: BTreeMap<&str, Vec<(&TagKey, &Sums)>> = BTreeMap::new();
    for (k, s) in &data.tags {
        by_key.entry(k.key.as_str()).or_default().push((k, s));
    }
    let mut tags = Vec::with_capacity(by_key.len());
    for (key, mut rows) in by_key {
        rows.sort_by(|a, b| a.0.cmp(b.0));
        tags.push((key.to_string(), pack_rows(limit, what, &rows)?));
    }
    Ok(PackedGeneration {
        daily: pack_rows(limit, what, &daily)?,
        tags,
    })
}

/// A chunk parser: [`daily_rows`] or [`tag_rows`] (slice, item name for errors, JSON).
pub type ChunkParser<T> = fn(&Slice, &str, &[u8]) -> Result<Vec<T>, GenerationalError>;

/// Parses a chunk's JSON rows (`[[key, sums], ...]`); `what` names the item in errors.
pub fn parse_chunk<K: DeserializeOwned>(
    what: &str,
    json: &[u8],
) -> Result<Vec<(K, Sums)>, GenerationalError> {
    serde_json::from_slice(json)
        .map_err(|e| GenerationalError::invalid(what, format!("packed rows: {e}")))
}

/// Daily rows of a chunk of `slice`.
pub fn daily_rows(
    slice: &Slice,
    what: &str,
    json: &[u8],
) -> Result<Vec<DailyRow>, GenerationalError> {
    Ok(parse_chunk::<DailyKey>(what, json)?
        .into_iter()
        .map(|(key, sums)| DailyRow {
            slice: slice.clone(),
            key,
            sums,
        })
        .collect())
}

/// Tag rows of a chunk of `slice`.
pub fn tag_rows(slice: &Slice, what: &str, json: &[u8]) -> Result<Vec<TagRow>, GenerationalError> {
    Ok(parse_chunk::<TagKey>(what, json)?
        .into_iter()
        .map(|(key, sums)| TagRow {
            slice: slice.clone(),
            key,
            sums,
        })
        .collect())
}

fn describe(slice: &Slice) -> String {
    format!(
        "slice {}/{}/{}",
        slice.billing_period, slice.provider, slice.billing_account_id
    )
}

// ---------------------------------------------------------------------------------------------
// The algorithm.

/// [`CostStore::replace`] over `b`.
pub async fn replace<B: GenerationalBackend + ?Sized>(
    b: &B,
    batch: &LoadBatch,
    meta: &LoadMeta,
) -> Result<LoadReport, B::Error> {
    let limits = b.limits();
    let load_id = b.next_load_id().await?;
    let slices: Vec<&Slice> = batch.slices.keys().collect();
    let before = b.register(load_id, &slices).await?;
    let replaced: Vec<Slice> = slices
        .iter()
        .zip(&before)
        .filter(|(_, g)| g.is_some())
        .map(|(s, _)| (*s).clone())
        .collect();
    let mut generations = Vec::with_capacity(slices.len());
    for (slice, data) in &batch.slices {
        let what = format!("{} generation {load_id}", describe(slice));
        generations.push(NewGeneration {
            slice,
            data,
            packed: pack_generation(limits.chunk, &what, data)?,
        });
    }
    b.write_generations(load_id, &generations).await?;
    let flipped = flip(
        b,
        &limits,
        load_id,
        &LoadRecord::new(load_id, batch, meta),
        &generations,
    )
    .await?;
    for slice in &slices {
        let ours = flipped.contains(*slice);
        // The data is committed; a failed cleanup only leaves garbage the next replace of the
        // slice removes, so it is logged, not returned.
        if let Err(e) = cleanup(b, slice, load_id, !ours).await {
            tracing::warn!(error = %e, slice = ?slice, "cleanup of old generations failed");
        }
    }
    Ok(LoadReport {
        load_id,
        slices: slices.into_iter().cloned().collect(),
        replaced,
        records: batch.records,
    })
}

/// Flips the pointers of `generations` to `load_id` and writes the record with the last commit.
/// Returns the slices flipped (the others belong to newer loads).
async fn flip<B: GenerationalBackend + ?Sized>(
    b: &B,
    limits: &Limits,
    load_id: i64,
    record: &LoadRecord,
    generations: &[NewGeneration<'_>],
) -> Result<Vec<Slice>, B::Error> {
    let mut groups: Vec<&[NewGeneration<'_>]> =
        generations.chunks(limits.flips_per_commit.max(1)).collect();
    if groups.is_empty() {
        // A load of nothing still gets its record.
        groups.push(&[]);
    }
    let count = groups.len();
    let mut flipped = Vec::new();
    let mut superseded = 0usize;
    for (i, group) in groups.into_iter().enumerate() {
        let last = i + 1 == count;
        let mut live: Vec<&NewGeneration<'_>> = group.iter().collect();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut pointers: Vec<Option<B::Pointer>> = Vec::with_capacity(live.len());
            let with_record;
            if limits.read_before_flip || attempt > 1 {
                let slices: Vec<&Slice> = live.iter().map(|g| g.slice).collect();
                let read = b.read_pointers(&slices).await?;
                let mut still = Vec::with_capacity(live.len());
                for (g, p) in live.into_iter().zip(read) {
                    let p = p.ok_or_else(|| {
                        GenerationalError::invalid(
                            describe(g.slice),
                            "the slice pointer vanished during the load",
                        )
                    })?;
                    match p.gen() {
                        Some(cur) if cur > load_id => superseded += 1,
                        Some(cur) if cur == load_id => flipped.push(g.slice.clone()),
                        _ => {
                            still.push(g);
                            pointers.push(Some(p));
                        }
                    }
                }
                live = still;
                with_record = last && !(attempt > 1 && b.load_exists(load_id).await?);
            } else {
                pointers.extend(live.iter().map(|_| None));
                with_record = last;
            }
            if live.is_empty() && !with_record {
                break;
            }
            let flips: Vec<Flip<'_, B::Pointer>> = live
                .iter()
                .zip(&pointers)
                .map(|(g, p)| Flip {
                    slice: g.slice,
                    pointer: p.as_ref(),
                    generation: g,
                })
                .collect();
            match b
                .flip(load_id, &flips, with_record.then_some(record))
                .await?
            {
                FlipOutcome::Committed => {
                    flipped.extend(live.iter().map(|g| g.slice.clone()));
                    break;
                }
                FlipOutcome::Conflict(e) if attempt >= limits.flip_attempts => return Err(e),
                FlipOutcome::Conflict(_) => {
                    tracing::debug!(load_id, attempt, "pointer flip lost a race; reading again");
                }
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

/// Deletes the generations of `slice` older than `current` (and `current` itself when
/// `drop_current`), except the one the pointer follows, then unregisters them. Newer generations
/// belong to loads in flight.
pub async fn cleanup<B: GenerationalBackend + ?Sized>(
    b: &B,
    slice: &Slice,
    current: i64,
    drop_current: bool,
) -> Result<(), B::Error> {
    let Some(p) = b
        .read_pointers(&[slice])
        .await?
        .into_iter()
        .next()
        .flatten()
    else {
        return Ok(());
    };
    let doomed: Vec<i64> = p
        .gens()
        .iter()
        .copied()
        .filter(|g| *g < current || (drop_current && *g == current))
        .filter(|g| Some(*g) != p.gen())
        .collect();
    for gen in &doomed {
        b.delete_generation(slice, *gen).await?;
        b.unregister(slice, *gen).await?;
    }
    // A newer load's cleanup may have unregistered (and deleted) this load's generation while
    // it was still being written: what was written after that is deleted here.
    if drop_current && !doomed.contains(&current) && p.gen() != Some(current) {
        b.delete_generation(slice, current).await?;
    }
    Ok(())
}

/// One kind of row a consistent read fetches.
trait Part<B: GenerationalBackend + ?Sized> {
    type Out;
    async fn read(
        &self,
        b: &B,
        view: &B::View,
        committed: &[Committed<'_, B::Pointer>],
    ) -> Result<Self::Out, B::Error>;
}

struct DailyPart;
struct TagPart<'a>(&'a str);
struct TagKeysPart;

impl<B: GenerationalBackend + ?Sized> Part<B> for DailyPart {
    type Out = Vec<DailyRow>;
    async fn read(
        &self,
        b: &B,
        view: &B::View,
        committed: &[Committed<'_, B::Pointer>],
    ) -> Result<Self::Out, B::Error> {
        b.read_daily(view, committed).await
    }
}

impl<B: GenerationalBackend + ?Sized> Part<B> for TagPart<'_> {
    type Out = Vec<TagRow>;
    async fn read(
        &self,
        b: &B,
        view: &B::View,
        committed: &[Committed<'_, B::Pointer>],
    ) -> Result<Self::Out, B::Error> {
        b.read_tags(view, committed, self.0).await
    }
}

impl<B: GenerationalBackend + ?Sized> Part<B> for TagKeysPart {
    type Out = Vec<String>;
    async fn read(
        &self,
        b: &B,
        view: &B::View,
        committed: &[Committed<'_, B::Pointer>],
    ) -> Result<Self::Out, B::Error> {
        b.read_tag_keys(view, committed).await
    }
}

fn committed<P: PointerView>(pointers: &[P]) -> Vec<Committed<'_, P>> {
    pointers
        .iter()
        .filter_map(|p| p.gen().map(|gen| Committed { pointer: p, gen }))
        .collect()
}

/// The committed (slice, generation) pairs of `pointers`.
fn committed_set<P: PointerView>(pointers: &[P]) -> BTreeMap<&Slice, i64> {
    pointers
        .iter()
        .filter_map(|p| p.gen().map(|g| (p.slice(), g)))
        .collect()
}

async fn read_consistent<B: GenerationalBackend + ?Sized, R: Part<B>>(
    b: &B,
    filter: &Filter,
    part: R,
) -> Result<R::Out, B::Error> {
    match b.limits().reads {
        ReadMode::Snapshot => {
            let view = b.begin_read().await?;
            let pointers = b.pointers(filter, &view).await?;
            part.read(b, &view, &committed(&pointers)).await
        }
        ReadMode::Recheck { attempts } => {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let view = b.begin_read().await?;
                let before = b.pointers(filter, &view).await?;
                let got = part.read(b, &view, &committed(&before)).await?;
                let after = b.pointers(filter, &view).await?;
                if committed_set(&before) == committed_set(&after) {
                    return Ok(got);
                }
                if attempt >= attempts {
                    return Err(GenerationalError::ReadContention { attempts: attempt }.into());
                }
                tracing::debug!(
                    attempt,
                    "a slice was replaced during the read; reading again"
                );
            }
        }
    }
}

/// [`CostStore::daily`] over `b`, sorted by day.
pub async fn daily<B: GenerationalBackend + ?Sized>(
    b: &B,
    filter: &Filter,
) -> Result<Vec<DailyRow>, B::Error> {
    let mut rows = read_consistent(b, filter, DailyPart).await?;
    rows.sort_by_key(|r| r.key.day);
    Ok(rows)
}

/// [`CostStore::daily_tags`] over `b`, sorted by day.
pub async fn daily_tags<B: GenerationalBackend + ?Sized>(
    b: &B,
    tag_key: &str,
    filter: &Filter,
) -> Result<Vec<TagRow>, B::Error> {
    let mut rows = read_consistent(b, filter, TagPart(tag_key)).await?;
    rows.sort_by_key(|r| r.key.day);
    Ok(rows)
}

/// [`CostStore::tag_keys`] over `b`, sorted and distinct.
pub async fn tag_keys<B: GenerationalBackend + ?Sized>(
    b: &B,
    filter: &Filter,
) -> Result<Vec<String>, B::Error> {
    let mut keys = read_consistent(b, filter, TagKeysPart).await?;
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// [`CostStore::loads`] over `b`: newest first, each with the slices it still owns.
pub async fn loads<B: GenerationalBackend + ?Sized>(b: &B) -> Result<Vec<LoadInfo>, B::Error> {
    let view = b.begin_read().await?;
    let records = b.load_records(&view).await?;
    let mut owned: BTreeMap<i64, Vec<Slice>> = BTreeMap::new();
    for p in b.pointers(&Filter::default(), &view).await? {
        if let Some(g) = p.gen() {
            owned.entry(g).or_default().push(p.slice().clone());
        }
    }
    let mut out: Vec<LoadInfo> = records
        .into_iter()
        .map(|r| {
            let mut slices = owned.remove(&r.load_id).unwrap_or_default();
            slices.sort();
            LoadInfo {
                load_id: r.load_id,
                meta: r.meta,
                records: r.records,
                billed: r.billed,
                effective: r.effective,
                slices,
            }
        })
        .collect();
    out.sort_by_key(|l| std::cmp::Reverse(l.load_id));
    Ok(out)
}

/// Live generations of `slice`, ascending (diagnostics and tests).
pub async fn generations<B: GenerationalBackend + ?Sized>(
    b: &B,
    slice: &Slice,
) -> Result<Vec<i64>, B::Error> {
    let mut gens = b
        .read_pointers(&[slice])
        .await?
        .into_iter()
        .next()
        .flatten()
        .map(|p| p.gens().to_vec())
        .unwrap_or_default();
    gens.sort_unstable();
    Ok(gens)
}

#[cfg(test)]
mod tests;
