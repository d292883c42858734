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
use crate::normalize::{Dialect, Job, SourceTotals};
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

/// Runs the jobs in order. Records go to `sink` and `batch` when given; `tick` is called every
/// chunk of records (progress bars).
///
/// Each job's stream is read on its own thread while this thread writes and aggregates, so parsing
/// and writing overlap on two cores. Memory stays bounded: at most a few chunks are in flight.
pub fn run(
    jobs: &[Job],
    progress: &Progress,
    mut sink: Option<&mut dyn FocusSink>,
    mut batch: Option<&mut LoadBatch>,
    tick: &mut dyn FnMut(),
) -> Result<Vec<JobOutcome>, PipelineError> {
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let stream = job.open(progress)?;
        let mut billed = CurrencyTotals::default();
        let mut effective = CurrencyTotals::default();
        let mut records = 0u64;
        let (stream, failure) = std::thread::scope(|scope| -> Result<_, PipelineError> {
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<Result<Vec<FocusRecord>, NormalizeError>>(4);
            let reader = scope.spawn(move || {
                let mut stream = stream;
                let mut chunk = Vec::with_capacity(CHUNK);
                for rec in stream.by_ref() {
                    match rec {
                        Ok(r) => {
                            chunk.push(r);
                            if chunk.len() == CHUNK {
                                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
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
        outcomes.push(JobOutcome {
            name,
            dialect: stream.dialect(),
            records,
            notes: stream.notes(),
            source,
            billed: billed.normalized(),
            effective: effective.normalized(),
        });
        tick();
    }
    Ok(outcomes)
}
