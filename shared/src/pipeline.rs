//! The normalize pipeline every shell runs: read each job's stream, write FOCUS records to a sink,
//! fold them into a [`LoadBatch`], and check that the FOCUS totals reconcile with the source's own.
//!
//! A mismatch is an error, not a warning: it means money was dropped or double-counted.

use thiserror::Error;

use crate::aggregate::LoadBatch;
use crate::error::NormalizeError;
use crate::focus::FocusRecord;
use crate::input::Progress;
use crate::money::CurrencyTotals;
use crate::normalize::{aws_cur, Dialect, Job, RecordStream, SourceTotals};
use crate::output::{FocusSink, OutputError};
use crate::text::Text;

/// Why a run failed.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// An input could not be read or mapped.
    #[error(transparent)]
    Normalize(#[from] NormalizeError),
    /// The output could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// FOCUS totals differ from the source's own totals.
    #[error("{file}: totals do not reconcile ({measure}): source {source_total:?} vs FOCUS {focus_total:?}")]
    Unreconciled {
        /// The job's files.
        file: String,
        /// `billed` or `effective`.
        measure: &'static str,
        /// What the source says.
        source_total: CurrencyTotals,
        /// What the FOCUS records add up to.
        focus_total: CurrencyTotals,
    },
}

/// What one job produced.
#[derive(Clone, Debug)]
pub struct JobOutcome {
    /// The job's files.
    pub name: String,
    /// Its dialect.
    pub dialect: Dialect,
    /// FOCUS records produced.
    pub records: u64,
    /// The source's own totals.
    pub source: SourceTotals,
    /// Σ BilledCost of the records, per currency.
    pub billed: CurrencyTotals,
    /// Σ EffectiveCost of the records, per currency.
    pub effective: CurrencyTotals,
    /// The dialect's notes for the user.
    pub notes: Vec<String>,
    /// Byte ranges read on separate threads whose results were used (1 for a sequential read).
    pub ranges: usize,
}

/// Opens every job and returns the union of their `x_` columns, in first-seen order (what an output
/// file's header needs before the first record is written).
pub fn extension_columns(jobs: &[Job]) -> Result<Vec<Text>, NormalizeError> {
    let mut cols: Vec<Text> = Vec::new();
    for job in jobs {
        let stream = job.open(&Progress::default())?;
        for c in stream.extension_columns() {
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
    }
    Ok(cols)
}

/// Records handed from the reading thread to the writing thread at a time.
const CHUNK: usize = 2048;

/// How a run may use more than one core.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Byte ranges a large plain CSV file is cut into when the records are only aggregated (no
    /// output file): each range is parsed, mapped and aggregated on its own thread.
    pub parts: usize,
    /// Files smaller than this are read in one piece.
    pub min_split_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            parts: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(8),
            min_split_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Runs the jobs in order. Records go to `sink` and `batch` when given; `tick` is called every
/// chunk of records (progress bars).
///
/// Each job's stream is read on its own thread while this thread writes and aggregates, so parsing
/// and writing overlap on two cores. Memory stays bounded: at most a few chunks are in flight.
pub fn run(
    jobs: &[Job],
    progress: &Progress,
    sink: Option<&mut dyn FocusSink>,
    batch: Option<&mut LoadBatch>,
    tick: &mut dyn FnMut(),
) -> Result<Vec<JobOutcome>, PipelineError> {
    run_with(jobs, progress, sink, batch, tick, Options::default())
}

/// [`run`] with explicit [`Options`].
///
/// When records are only aggregated (no sink) and an AWS CUR input is a large plain CSV file, the
/// file is read as byte ranges on several threads, each aggregating into its own batch; batches
/// and source state are merged in file order, so the result is the one a sequential read gives,
/// and an error names the same line. Otherwise one thread reads while this one writes.
pub fn run_with(
    jobs: &[Job],
    progress: &Progress,
    mut sink: Option<&mut dyn FocusSink>,
    mut batch: Option<&mut LoadBatch>,
    tick: &mut dyn FnMut(),
    options: Options,
) -> Result<Vec<JobOutcome>, PipelineError> {
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut billed = CurrencyTotals::default();
        let mut effective = CurrencyTotals::default();
        let mut records = 0u64;
        if sink.is_none() && matches!(job.dialect, Dialect::AwsCur | Dialect::AwsCur2) {
            if let Some(b) = batch.as_deref_mut() {
                let plans = aws_cur::split_plans(job, options.parts, options.min_split_bytes)?;
                if plans.iter().any(|(_, p)| p.is_some()) {
                    // A batch of this job alone, so its totals can be checked against the source's.
                    let mut local = LoadBatch::default();
                    let (state, ranges) = split::aggregate(&plans, progress, &mut local, tick)?;
                    let mut stream = aws_cur::finish(job.dialect, state);
                    for rec in stream.by_ref() {
                        local.add(&rec?);
                    }
                    let (records, billed, effective) =
                        (local.records, local.billed.clone(), local.effective.clone());
                    b.merge(local);
                    let mut o = outcome(job, stream.as_ref(), records, billed, effective)?;
                    o.ranges = ranges;
                    outcomes.push(o);
                    tick();
                    continue;
                }
            }
        }
        let stream = job.open(progress)?;
        let (stream, failure) = std::thread::scope(|scope| -> Result<_, PipelineError> {
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<Result<Vec<FocusRecord>, NormalizeError>>(4);
            // Written chunks come back to the reader, which drops their records and reuses the
            // vector: the writing thread is the busier one, so the freeing moves off it.
            let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<FocusRecord>>();
            let reader = scope.spawn(move || {
                let mut stream = stream;
                let mut chunk = Vec::with_capacity(CHUNK);
                for rec in stream.by_ref() {
                    match rec {
                        Ok(r) => {
                            chunk.push(r);
                            if chunk.len() == CHUNK {
                                let next = match back_rx.try_recv() {
                                    Ok(mut used) => {
                                        used.clear();
                                        used
                                    }
                                    Err(_) => Vec::with_capacity(CHUNK),
                                };
                                let full = std::mem::replace(&mut chunk, next);
                                if tx.send(Ok(full)).is_err() {
                                    return stream;
                                }
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return stream;
                        }
                    }
                }
                if !chunk.is_empty() {
                    let _ = tx.send(Ok(chunk));
                }
                stream
            });
            let mut failure: Option<PipelineError> = None;
            for msg in rx.iter() {
                let chunk = match msg {
                    Ok(c) => c,
                    Err(e) => {
                        failure = Some(e.into());
                        break;
                    }
                };
                for rec in &chunk {
                    billed.add(&rec.billing_currency, rec.billed_cost);
                    effective.add(&rec.billing_currency, rec.effective_cost);
                    if let Some(s) = sink.as_deref_mut() {
                        if let Err(e) = s.write(rec) {
                            failure = Some(e.into());
                            break;
                        }
                    }
                    if let Some(b) = batch.as_deref_mut() {
                        b.add(rec);
                    }
                }
                records += chunk.len() as u64;
                if failure.is_some() {
                    break;
                }
                // The reader may be gone already; then this thread drops the chunk.
                let _ = back_tx.send(chunk);
                tick();
            }
            // Dropping the receiver stops the reader at its next send.
            drop(rx);
            let stream = reader.join().map_err(|_| {
                PipelineError::Normalize(NormalizeError::file(
                    job.name(),
                    crate::error::NormalizeErrorKind::Io("the reading thread panicked".into()),
                ))
            })?;
            Ok((stream, failure))
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        outcomes.push(outcome(job, stream.as_ref(), records, billed, effective)?);
        tick();
    }
    Ok(outcomes)
}

/// Checks a finished job's totals against the source's own and describes it.
fn outcome(
    job: &Job,
    stream: &dyn RecordStream,
    records: u64,
    billed: CurrencyTotals,
    effective: CurrencyTotals,
) -> Result<JobOutcome, PipelineError> {
    let source = stream.source_totals();
    let name = job.name();
    if source.billed.normalized() != billed.normalized() {
        return Err(PipelineError::Unreconciled {
            file: name,
            measure: "billed",
            source_total: source.billed.normalized(),
            focus_total: billed.normalized(),
        });
    }
    if let Some(src_eff) = &source.effective {
        if src_eff.normalized() != effective.normalized() {
            return Err(PipelineError::Unreconciled {
                file: name,
                measure: "effective",
                source_total: src_eff.normalized(),
                focus_total: effective.normalized(),
            });
        }
    }
    Ok(JobOutcome {
        name,
        dialect: stream.dialect(),
        records,
        notes: stream.notes(),
        source,
        billed: billed.normalized(),
        effective: effective.normalized(),
        ranges: 1,
    })
}

/// Reading one AWS CUR job as byte ranges on several threads (aggregation only).
mod split {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{PipelineError, CHUNK};
    use crate::aggregate::LoadBatch;
    use crate::error::{NormalizeError, NormalizeErrorKind};
    use crate::input::Progress;
    use crate::normalize::aws_cur::{CurPart, PartState};
    use crate::normalize::csv_input::{RangeEnd, SplitPlan};

    /// What one range produced.
    struct RangeResult {
        end: Option<RangeEnd>,
        state: PartState,
        batch: LoadBatch,
        error: Option<NormalizeError>,
    }

    /// Aggregates a part's records into `batch` until its end, its first error, or `stop`.
    fn drain(
        part: &mut CurPart,
        batch: &mut LoadBatch,
        stop: &AtomicBool,
        tick: &mut dyn FnMut(),
    ) -> Option<NormalizeError> {
        let mut n = 0;
        for rec in part.by_ref() {
            match rec {
                Ok(r) => batch.add(&r),
                Err(e) => return Some(e),
            }
            n += 1;
            if n == CHUNK {
                n = 0;
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                tick();
            }
        }
        None
    }

    fn read_range(
        plan: &SplitPlan,
        index: usize,
        progress: &Progress,
        stop: &AtomicBool,
    ) -> RangeResult {
        let mut part = match CurPart::open_range(plan, index, progress) {
            Ok(p) => p,
            Err(e) => {
                return RangeResult {
                    end: None,
                    state: PartState::default(),
                    batch: LoadBatch::default(),
                    error: Some(e),
                }
            }
        };
        let mut batch = LoadBatch::default();
        let error = drain(&mut part, &mut batch, stop, &mut || {});
        RangeResult {
            end: part.range_end(),
            state: part.into_state(),
            batch,
            error,
        }
    }

    /// Reads every input of a job in order into `batch`, splitting the planned ones, and returns
    /// the merged source state and the number of parts whose results were used.
    pub(super) fn aggregate(
        plans: &[(PathBuf, Option<SplitPlan>)],
        progress: &Progress,
        batch: &mut LoadBatch,
        tick: &mut dyn FnMut(),
    ) -> Result<(PartState, usize), PipelineError> {
        let mut state = PartState::default();
        let mut used = 0;
        for (path, plan) in plans {
            match plan {
                None => {
                    let mut part = CurPart::open_file(path, progress)?;
                    if let Some(e) = drain(&mut part, batch, &AtomicBool::new(false), tick) {
                        return Err(e.into());
                    }
                    state.merge(part.into_state());
                    used += 1;
                }
                Some(plan) => used += read_ranges(plan, progress, batch, tick, &mut state)?,
            }
        }
        Ok((state, used))
    }

    /// Reads the ranges of one file: the first on this thread, the others on their own. Starting
    /// from the first, each range that landed on a later range's start hands over to it; ranges
    /// passed over are discarded, so the merged result is that of one sequential read.
    fn read_ranges(
        plan: &SplitPlan,
        progress: &Progress,
        batch: &mut LoadBatch,
        tick: &mut dyn FnMut(),
        state: &mut PartState,
    ) -> Result<usize, PipelineError> {
        let n = plan.len();
        let stops: Vec<AtomicBool> = (0..n).map(|_| AtomicBool::new(false)).collect();
        let stop_all = || stops.iter().for_each(|s| s.store(true, Ordering::Relaxed));
        std::thread::scope(|scope| -> Result<usize, PipelineError> {
            let mut handles: Vec<_> = (1..n)
                .map(|i| {
                    let stop = &stops[i];
                    Some(scope.spawn(move || read_range(plan, i, progress, stop)))
                })
                .collect();
            let mut part = match CurPart::open_range(plan, 0, progress) {
                Ok(p) => p,
                Err(e) => {
                    stop_all();
                    return Err(e.into());
                }
            };
            if let Some(e) = drain(&mut part, batch, &stops[0], tick) {
                stop_all();
                return Err(e.into());
            }
            let mut end = part.range_end();
            state.merge(part.into_state());
            let mut current = 0;
            let mut used = 1;
            let mut delta = 0u64;
            while let Some(e) = end {
                let Some(next) = e.landed_on else { break };
                // Every range replays the same header, so they all share its line count.
                delta = e.next_line_delta(delta);
                for s in &stops[current + 1..next] {
                    s.store(true, Ordering::Relaxed);
                }
                let handle = handles.get_mut(next - 1).and_then(Option::take);
                let result = match handle.map(|h| h.join()) {
                    Some(Ok(r)) => r,
                    _ => {
                        stop_all();
                        return Err(NormalizeError::file(
                            plan.path().display().to_string(),
                            NormalizeErrorKind::Io("a reading thread panicked".into()),
                        )
                        .into());
                    }
                };
                if let Some(mut e) = result.error {
                    stop_all();
                    e.line = e.line.map(|l| l + delta);
                    return Err(e.into());
                }
                batch.merge(result.batch);
                state.merge(result.state);
                end = result.end;
                current = next;
                used += 1;
            }
            // Ranges after the last one used were passed over.
            for s in &stops[current + 1..] {
                s.store(true, Ordering::Relaxed);
            }
            Ok(used)
        })
    }
}
