//! The shared algorithm over an in-memory backend that keeps the stores' contracts: versioned
//! pointers, conditional flips, chunk items per generation, and an executor that interleaves two
//! loads step by step (each backend call yields once).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use rust_decimal::Decimal;

use super::*;
use crate::aggregate::LoadBatch;
use crate::store::contract::{self, record};

#[derive(Debug, thiserror::Error)]
enum MemError {
    #[error(transparent)]
    Gen(#[from] GenerationalError),
    #[error("simulated crash after {0} chunk writes")]
    Crash(usize),
    #[error("precondition failed")]
    Conflict,
}

impl From<MemError> for StoreError {
    fn from(e: MemError) -> Self {
        StoreError::Backend(e.to_string())
    }
}

#[derive(Clone, Debug)]
struct MemPointer {
    base: SlicePointer,
    version: u64,
    name: Option<String>,
}

impl PointerView for MemPointer {
    fn base(&self) -> &SlicePointer {
        &self.base
    }
}

#[derive(Clone, Debug, Default)]
struct State {
    seq: i64,
    version: u64,
    pointers: BTreeMap<Slice, MemPointer>,
    /// (slice, gen) → chunk id → JSON rows.
    chunks: BTreeMap<(Slice, i64), BTreeMap<String, String>>,
    loads: BTreeMap<i64, LoadRecord>,
}

/// Resolves on its second poll, so two futures polled in turn interleave at every backend call.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A writer that gets in during a read.
type ReadHook = Box<dyn FnOnce(&Mem)>;

struct Mem {
    limits: Limits,
    state: RefCell<State>,
    /// Fail `write_generations` after this many chunk writes (a crash before the flip).
    crash_after: Cell<Option<usize>>,
    /// Make this many flip commits fail their preconditions.
    conflicts: Cell<u32>,
    /// Pointers per flip commit, and whether the record rode along.
    commits: RefCell<Vec<(usize, bool)>>,
    /// Called once before the next `read_daily` (a writer that gets in during a read).
    on_read: RefCell<Option<ReadHook>>,
    reads: Cell<u32>,
}

fn recheck() -> Limits {
    Limits {
        chunk: ChunkLimit::Rows(2),
        flips_per_commit: 99,
        flip_attempts: 3,
        read_before_flip: false,
        reads: ReadMode::Recheck { attempts: 5 },
    }
}

fn snapshot() -> Limits {
    Limits {
        chunk: ChunkLimit::Utf8Bytes(300),
        flips_per_commit: 99,
        flip_attempts: 8,
        read_before_flip: true,
        reads: ReadMode::Snapshot,
    }
}

impl Mem {
    fn new(limits: Limits) -> Mem {
        Mem {
            limits,
            state: RefCell::default(),
            crash_after: Cell::new(None),
            conflicts: Cell::new(0),
            commits: RefCell::default(),
            on_read: RefCell::new(None),
            reads: Cell::new(0),
        }
    }

    fn chunk_count(&self, slice: &Slice, gen: i64) -> usize {
        self.state
            .borrow()
            .chunks
            .get(&(slice.clone(), gen))
            .map_or(0, BTreeMap::len)
    }

    /// Runs `f` on the view's snapshot, or on the live state when there is none.
    fn with_state<R>(&self, view: &Option<State>, f: impl FnOnce(&State) -> R) -> R {
        match view {
            Some(snap) => f(snap),
            None => f(&self.state.borrow()),
        }
    }

    fn rows<T>(
        &self,
        view: &Option<State>,
        committed: &[Committed<'_, MemPointer>],
        prefix: &str,
        parse: impl Fn(&Slice, &str, &[u8]) -> Result<Vec<T>, GenerationalError>,
    ) -> Result<Vec<T>, MemError> {
        self.with_state(view, |st| {
            let mut out = Vec::new();
            for c in committed {
                // A generation deleted under a reader reads as empty, as a query of a deleted
                // partition does; the recheck catches it.
                let Some(chunks) = st.chunks.get(&(c.slice().clone(), c.gen)) else {
                    continue;
                };
                for (id, json) in chunks.range(prefix.to_string()..) {
                    if !id.starts_with(prefix) {
                        break;
                    }
                    out.extend(parse(c.slice(), id, json.as_bytes())?);
                }
            }
            Ok(out)
        })
    }
}

impl GenerationalBackend for Mem {
    type Error = MemError;
    type Pointer = MemPointer;
    type View = Option<State>;

    fn limits(&self) -> Limits {
        self.limits
    }

    async fn next_load_id(&self) -> Result<i64, MemError> {
        YieldOnce(false).await;
        let mut st = self.state.borrow_mut();
        st.seq += 1;
        Ok(st.seq)
    }

    async fn register(
        &self,
        load_id: i64,
        slices: &[&Slice],
    ) -> Result<Vec<Option<i64>>, MemError> {
        let mut out = Vec::new();
        for s in slices {
            YieldOnce(false).await;
            let mut st = self.state.borrow_mut();
            st.version += 1;
            let v = st.version;
            let p = st
                .pointers
                .entry((*s).clone())
                .or_insert_with(|| MemPointer {
                    base: SlicePointer {
                        slice: (*s).clone(),
                        gen: None,
                        gens: Vec::new(),
                    },
                    version: 0,
                    name: None,
                });
            if !p.base.gens.contains(&load_id) {
                p.base.gens.push(load_id);
            }
            p.version = v;
            out.push(p.base.gen);
        }
        Ok(out)
    }

    async fn write_generations(
        &self,
        load_id: i64,
        gens: &[NewGeneration<'_>],
    ) -> Result<(), MemError> {
        let mut written = 0;
        for g in gens {
            let mut items: Vec<(String, String)> = g
                .packed
                .daily
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("d{i:06}"), c.json.clone()))
                .collect();
            for (key, chunks) in &g.packed.tags {
                for (i, c) in chunks.iter().enumerate() {
                    items.push((format!("t!{key}!{i:06}"), c.json.clone()));
                }
            }
            for (id, json) in items {
                if self.crash_after.get() == Some(written) {
                    return Err(MemError::Crash(written));
                }
                YieldOnce(false).await;
                self.state
                    .borrow_mut()
                    .chunks
                    .entry((g.slice.clone(), load_id))
                    .or_default()
                    .insert(id, json);
                written += 1;
            }
        }
        Ok(())
    }

    async fn read_pointers(&self, slices: &[&Slice]) -> Result<Vec<Option<MemPointer>>, MemError> {
        YieldOnce(false).await;
        let st = self.state.borrow();
        Ok(slices
            .iter()
            .map(|s| st.pointers.get(*s).cloned())
            .collect())
    }

    async fn load_exists(&self, load_id: i64) -> Result<bool, MemError> {
        YieldOnce(false).await;
        Ok(self.state.borrow().loads.contains_key(&load_id))
    }

    async fn flip(
        &self,
        load_id: i64,
        flips: &[Flip<'_, MemPointer>],
        record: Option<&LoadRecord>,
    ) -> Result<FlipOutcome<MemError>, MemError> {
        YieldOnce(false).await;
        assert!(
            flips.len() <= self.limits.flips_per_commit,
            "commit too large"
        );
        if self.conflicts.get() > 0 {
            self.conflicts.set(self.conflicts.get() - 1);
            return Ok(FlipOutcome::Conflict(MemError::Conflict));
        }
        let mut st = self.state.borrow_mut();
        for f in flips {
            let Some(cur) = st.pointers.get(f.slice) else {
                return Ok(FlipOutcome::Conflict(MemError::Conflict));
            };
            let ok = match f.pointer {
                Some(read) => read.version == cur.version,
                None => cur.base.gen.is_none_or(|g| g < load_id),
            };
            if !ok {
                return Ok(FlipOutcome::Conflict(MemError::Conflict));
            }
        }
        if record.is_some_and(|r| st.loads.contains_key(&r.load_id)) {
            return Ok(FlipOutcome::Conflict(MemError::Conflict));
        }
        st.version += 1;
        let v = st.version;
        for f in flips {
            if let Some(p) = st.pointers.get_mut(f.slice) {
                p.base.gen = Some(load_id);
                p.name = f.account_name().map(|t| t.as_str().to_string());
                p.version = v;
            }
        }
        if let Some(r) = record {
            st.loads.insert(r.load_id, r.clone());
        }
        self.commits
            .borrow_mut()
            .push((flips.len(), record.is_some()));
        Ok(FlipOutcome::Committed)
    }

    async fn delete_generation(&self, slice: &Slice, gen: i64) -> Result<(), MemError> {
        YieldOnce(false).await;
        self.state.borrow_mut().chunks.remove(&(slice.clone(), gen));
        Ok(())
    }

    async fn unregister(&self, slice: &Slice, gen: i64) -> Result<(), MemError> {
        YieldOnce(false).await;
        let mut st = self.state.borrow_mut();
        st.version += 1;
        let v = st.version;
        if let Some(p) = st.pointers.get_mut(slice) {
            p.base.gens.retain(|g| *g != gen);
            p.version = v;
        }
        Ok(())
    }

    async fn begin_read(&self) -> Result<Option<State>, MemError> {
        Ok(match self.limits.reads {
            ReadMode::Snapshot => Some(self.state.borrow().clone()),
            ReadMode::Recheck { .. } => None,
        })
    }

    async fn pointers(
        &self,
        filter: &Filter,
        view: &Option<State>,
    ) -> Result<Vec<MemPointer>, MemError> {
        YieldOnce(false).await;
        Ok(self.with_state(view, |st| {
            st.pointers
                .values()
                .filter(|p| {
                    filter
                        .billing_period
                        .as_ref()
                        .is_none_or(|b| *b == p.base.slice.billing_period)
                })
                .filter(|p| {
                    filter
                        .provider
                        .as_ref()
                        .is_none_or(|b| b == p.base.slice.provider.as_str())
                })
                .cloned()
                .collect()
        }))
    }

    async fn load_records(&self, view: &Option<State>) -> Result<Vec<LoadRecord>, MemError> {
        Ok(self.with_state(view, |st| st.loads.values().cloned().collect()))
    }

    async fn read_daily(
        &self,
        view: &Option<State>,
        committed: &[Committed<'_, MemPointer>],
    ) -> Result<Vec<DailyRow>, MemError> {
        self.reads.set(self.reads.get() + 1);
        let hook = self.on_read.borrow_mut().take();
        if let Some(h) = hook {
            h(self);
        }
        self.rows(view, committed, "d", daily_rows)
    }

    async fn read_tags(
        &self,
        view: &Option<State>,
        committed: &[Committed<'_, MemPointer>],
        key: &str,
    ) -> Result<Vec<TagRow>, MemError> {
        self.rows(view, committed, &format!("t!{key}!"), tag_rows)
    }

    async fn read_tag_keys(
        &self,
        view: &Option<State>,
        committed: &[Committed<'_, MemPointer>],
    ) -> Result<Vec<String>, MemError> {
        self.rows(view, committed, "t!", |_, id, _| {
            Ok(id
                .split('!')
                .nth(1)
                .map(str::to_string)
                .into_iter()
                .collect())
        })
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

impl GenerationalStore for Mem {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        block_on(f)
    }
}

/// Polls `a` and `b` in turn until both are done.
fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let mut cx = Context::from_waker(Waker::noop());
    let (mut ra, mut rb) = (None, None);
    while ra.is_none() || rb.is_none() {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(&mut cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(&mut cx) {
                rb = Some(v);
            }
        }
    }
    (ra.expect("a"), rb.expect("b"))
}

fn batch(account: &str, amounts: &[&str]) -> LoadBatch {
    let mut b = LoadBatch::default();
    for (i, a) in amounts.iter().enumerate() {
        let day = u32::try_from(i).expect("day") + 1;
        b.add(&record(account, "2024-09", day, "EC2", a, Some("web")));
    }
    b
}

fn meta(name: &str) -> LoadMeta {
    LoadMeta {
        dialect: "focus".into(),
        files: vec![name.into()],
        loaded_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn total(m: &Mem) -> Decimal {
    CostStore::daily(m, &Filter::default())
        .expect("daily")
        .iter()
        .map(|r| r.sums.billed)
        .sum()
}

fn only_slice(b: &LoadBatch) -> Slice {
    b.slices.keys().next().expect("slice").clone()
}

#[test]
fn contract_suite_passes_in_both_read_modes() {
    contract::run_all(&mut || Box::new(Mem::new(recheck())));
    contract::run_all(&mut || Box::new(Mem::new(snapshot())));
}

#[test]
fn crash_between_chunk_writes_and_flip_keeps_old_rows_and_next_load_cleans_up() {
    for limits in [recheck(), snapshot()] {
        let mut m = Mem::new(limits);
        let old = batch("111", &["1", "2", "3"]);
        let slice = only_slice(&old);
        let first = m.replace(&old, &meta("old.csv")).expect("first");
        m.crash_after.set(Some(1));
        let new = batch("111", &["10", "20", "30", "40", "50"]);
        let err = m.replace(&new, &meta("new.csv")).expect_err("crash");
        assert!(
            matches!(err, StoreError::Backend(ref s) if s.contains("crash")),
            "{err}"
        );
        let crashed = first.load_id + 1;
        // Readers still see the old rows only; the crashed load is not listed.
        assert_eq!(total(&m), Decimal::from(6));
        assert_eq!(m.loads().expect("loads").len(), 1);
        assert_eq!(
            block_on(generations(&m, &slice)).expect("gens"),
            vec![first.load_id, crashed]
        );
        assert_eq!(
            m.chunk_count(&slice, crashed),
            1,
            "one chunk written before the crash"
        );

        m.crash_after.set(None);
        let third = m.replace(&new, &meta("new.csv")).expect("retry");
        assert_eq!(third.replaced, vec![slice.clone()]);
        assert_eq!(total(&m), Decimal::from(150));
        assert_eq!(
            block_on(generations(&m, &slice)).expect("gens"),
            vec![third.load_id]
        );
        assert_eq!(
            m.chunk_count(&slice, crashed),
            0,
            "the crashed generation is deleted"
        );
        assert_eq!(
            m.chunk_count(&slice, first.load_id),
            0,
            "the old generation is deleted"
        );
    }
}

#[test]
fn two_concurrent_loads_of_one_slice_leave_the_newer_one() {
    for limits in [recheck(), snapshot()] {
        let m = Mem::new(limits);
        let a = batch("222", &["1", "1"]);
        let b = batch("222", &["5", "5", "5"]);
        let slice = only_slice(&a);
        let (ra, rb) = join(
            replace(&m, &a, &meta("a.csv")),
            replace(&m, &b, &meta("b.csv")),
        );
        let (ra, rb) = (ra.expect("a"), rb.expect("b"));
        let (winner, loser, want) = if ra.load_id > rb.load_id {
            (ra.load_id, rb.load_id, Decimal::from(2))
        } else {
            (rb.load_id, ra.load_id, Decimal::from(15))
        };
        assert_eq!(total(&m), want, "the newer load's rows, once");
        assert_eq!(
            block_on(generations(&m, &slice)).expect("gens"),
            vec![winner]
        );
        assert_eq!(m.chunk_count(&slice, loser), 0);
        let loads = m.loads().expect("loads");
        assert_eq!(loads.len(), 2, "both loads are recorded");
        assert_eq!(loads[0].load_id, winner);
        assert_eq!(loads[0].slices, vec![slice.clone()]);
        assert!(loads[1].slices.is_empty(), "the older load owns nothing");
    }
}

#[test]
fn an_older_load_that_flips_after_a_newer_one_leaves_the_slice_to_it() {
    for limits in [recheck(), snapshot()] {
        let m = Mem::new(limits);
        let older = batch("333", &["1"]);
        let newer = batch("333", &["7", "7"]);
        let slice = only_slice(&older);
        let older_meta = meta("older.csv");
        let mut a = std::pin::pin!(replace(&m, &older, &older_meta));
        let mut cx = Context::from_waker(Waker::noop());
        // Run the older load until its rows are written, then the newer one to the end.
        let mut done = None;
        while m.chunk_count(&slice, 1) == 0 {
            if let Poll::Ready(v) = a.as_mut().poll(&mut cx) {
                done = Some(v);
                break;
            }
        }
        assert!(done.is_none(), "the older load is still in flight");
        let rb = block_on(replace(&m, &newer, &meta("newer.csv"))).expect("newer");
        assert_eq!(rb.load_id, 2);
        let ra = block_on(a).expect("older");
        assert_eq!(ra.load_id, 1);
        assert_eq!(total(&m), Decimal::from(14));
        assert_eq!(block_on(generations(&m, &slice)).expect("gens"), vec![2]);
        assert_eq!(
            m.chunk_count(&slice, 1),
            0,
            "the superseded generation is deleted"
        );
        let loads = m.loads().expect("loads");
        assert_eq!(
            loads.iter().map(|l| l.load_id).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert!(loads[1].slices.is_empty());
    }
}

#[test]
fn flips_are_grouped_within_the_commit_limit_with_the_record_last() {
    let mut limits = recheck();
    limits.flips_per_commit = 2;
    let mut m = Mem::new(limits);
    let mut b = LoadBatch::default();
    for acct in ["1", "2", "3", "4", "5"] {
        b.add(&record(acct, "2024-09", 1, "EC2", "1", None));
    }
    let r = m.replace(&b, &meta("many.csv")).expect("load");
    assert_eq!(r.slices.len(), 5);
    assert_eq!(*m.commits.borrow(), vec![(2, false), (2, false), (1, true)]);
    assert_eq!(m.loads().expect("loads")[0].slices.len(), 5);
    assert_eq!(total(&m), Decimal::from(5));
}

#[test]
fn a_load_of_nothing_still_records_itself() {
    let mut m = Mem::new(snapshot());
    let r = m
        .replace(&LoadBatch::default(), &meta("empty.csv"))
        .expect("load");
    assert!(r.slices.is_empty());
    assert_eq!(*m.commits.borrow(), vec![(0, true)]);
    assert_eq!(m.loads().expect("loads").len(), 1);
}

#[test]
fn lost_flip_races_are_retried_then_reported() {
    for limits in [recheck(), snapshot()] {
        let mut m = Mem::new(limits);
        m.conflicts.set(limits.flip_attempts - 1);
        m.replace(&batch("444", &["3"]), &meta("a.csv"))
            .expect("retried");
        assert_eq!(total(&m), Decimal::from(3));
        m.conflicts.set(limits.flip_attempts);
        let err = m
            .replace(&batch("444", &["4"]), &meta("b.csv"))
            .expect_err("gives up");
        assert!(err.to_string().contains("precondition failed"), "{err}");
        assert_eq!(
            total(&m),
            Decimal::from(3),
            "the failed load changed nothing readers see"
        );
    }
}

#[test]
fn a_recheck_read_repeats_when_a_slice_is_replaced_meanwhile() {
    let mut m = Mem::new(recheck());
    m.replace(&batch("555", &["1"]), &meta("a.csv")).expect("a");
    let newer = batch("555", &["9", "9"]);
    *m.on_read.borrow_mut() = Some(Box::new(move |m: &Mem| {
        block_on(replace(m, &newer, &meta("b.csv"))).expect("b");
    }));
    // The first read saw generation 1 while it was being replaced (and deleted): the pointers
    // moved, so the read ran again and returns the new rows only.
    assert_eq!(total(&m), Decimal::from(18));
    assert_eq!(m.reads.get(), 2);
    // A snapshot read of the same race returns the snapshot's rows.
    let mut s = Mem::new(snapshot());
    s.replace(&batch("555", &["1"]), &meta("a.csv")).expect("a");
    let newer = batch("555", &["9", "9"]);
    *s.on_read.borrow_mut() = Some(Box::new(move |m: &Mem| {
        block_on(replace(m, &newer, &meta("b.csv"))).expect("b");
    }));
    assert_eq!(total(&s), Decimal::from(1));
    assert_eq!(s.reads.get(), 1);
    assert_eq!(total(&s), Decimal::from(18));
}

#[test]
fn tag_rows_are_chunked_per_key_whatever_the_days() {
    // Two keys on two days: each key's rows are one group of chunks (a sort by day first
    // would interleave the keys and give two groups the same chunk ids).
    let mut b = LoadBatch::default();
    for day in [1, 2] {
        let mut r = record("666", "2024-09", day, "EC2", "1", Some("web"));
        r.tags.insert("env", "prod");
        b.add(&r);
    }
    let data = b.slices.values().next().expect("slice");
    let p = pack_generation(ChunkLimit::Rows(1000), "g", data).expect("pack");
    let keys: Vec<(String, usize)> = p.tag_chunks();
    assert_eq!(keys, vec![("env".to_string(), 1), ("team".to_string(), 1)]);
    assert!(p.tags.iter().all(|(_, c)| c[0].rows == 2));
}

#[test]
fn packing_respects_each_limit_and_round_trips() {
    let rows: Vec<(String, String)> = (0..5000)
        .map(|i| (format!("service-{i}"), "é".repeat(20)))
        .collect();
    for limit in [
        ChunkLimit::Utf16Bytes(60_000),
        ChunkLimit::Utf8Bytes(60_000),
        ChunkLimit::Rows(700),
    ] {
        let c = pack_rows(limit, "t", &rows).expect("pack");
        assert!(c.len() > 1, "{limit:?}");
        let mut back = Vec::new();
        for chunk in &c {
            match limit {
                ChunkLimit::Rows(n) => assert!(chunk.rows <= n),
                ChunkLimit::Utf8Bytes(n) => assert!(chunk.json.len() <= n),
                ChunkLimit::Utf16Bytes(n) => assert!(chunk.json.encode_utf16().count() * 2 <= n),
            }
            let part: Vec<(String, String)> = serde_json::from_str(&chunk.json).expect("json");
            assert_eq!(part.len(), chunk.rows);
            back.extend(part);
        }
        assert_eq!(back, rows);
    }
    // The same bytes as one serde_json array when everything fits.
    let c = pack_rows(ChunkLimit::Rows(10), "t", &rows[..3]).expect("pack");
    assert_eq!(c[0].json, serde_json::to_string(&rows[..3]).expect("json"));
    let err = pack_rows(ChunkLimit::Utf8Bytes(100), "gen 7", &["x".repeat(100)]).expect_err("big");
    assert!(
        err.to_string().starts_with("gen 7: one aggregate row"),
        "{err}"
    );
    assert!(pack_rows::<String>(ChunkLimit::Rows(1), "t", &[])
        .expect("empty")
        .is_empty());
}

#[test]
fn corrupt_chunks_name_the_item() {
    let slice = Slice {
        provider: Text::from("AWS"),
        billing_account_id: Text::from("1"),
        billing_period: "2024-09".into(),
    };
    let err = daily_rows(&slice, "item pk=x sk=D#00000", b"[1,").expect_err("bad");
    assert!(
        err.to_string()
            .starts_with("item pk=x sk=D#00000: packed rows"),
        "{err}"
    );
}
