//! The normalize step: one part of a delivery per message; the part that completes the delivery
//! loads it.
//!
//! A large export (a CUR 2.0 month is often dozens of part files) is split into parts so no single
//! invocation needs more than its memory and time limit. Each part is normalized on its own: its
//! FOCUS records go to Parquet files partitioned by billing period and its daily aggregates are
//! staged as JSON. Progress lives in the state store under `job/<job_id>`. The invocation whose
//! part completes the set claims the commit: it merges the staged aggregates of every part and
//! replaces the delivery's slices in the store in one call, so readers never see half a month.
//!
//! Every step is idempotent. A redelivered part rewrites the same objects; a part that already
//! counted is not counted again; a committed delivery is skipped; if the committing invocation
//! dies, the redelivery of the same part commits again, and replacing a slice with the same data
//! twice leaves it as it was. A delivery older than the one already loaded for a slice (an SQS
//! message delayed past a newer export) does not overwrite that slice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::messages::{DataUpdated, Message, NormalizeJob};
use super::FlowError;
use crate::aggregate::{LoadBatch, Slice, StagedBatch};
use crate::focus::FocusRecord;
use crate::input::Progress;
use crate::normalize::{plan, Dialect};
use crate::output::{open_sink, FocusSink, OutputColumns, OutputError, PendingFile};
use crate::pipeline;
use crate::ports::{update_json, BlobStore, Queue, StateStore};
use crate::store::{CostStore, LoadMeta, LoadReport};
use crate::time::period_key;

/// What a normalize step needs.
pub struct NormalizeEnv<'a> {
    /// Raw objects in, FOCUS files and staged aggregates out.
    pub blobs: &'a dyn BlobStore,
    /// Job progress and per-slice freshness.
    pub state: &'a dyn StateStore,
    /// Where aggregates are loaded.
    pub store: &'a mut dyn CostStore,
    /// Where `data_updated` goes.
    pub analysis: &'a dyn Queue,
    /// Scratch space for downloads and outputs (emptied by the caller).
    pub workdir: &'a Path,
    /// The current time (for bookkeeping).
    pub now: DateTime<Utc>,
}

/// Progress of one delivery, kept under `job/<job_id>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    /// Parts in the delivery.
    pub parts: usize,
    /// Parts normalized and staged.
    pub done: BTreeSet<usize>,
    /// The part whose invocation loads the delivery (the one that completed `done`).
    pub committer: Option<usize>,
    /// Set once the store holds the delivery.
    pub committed: bool,
}

/// What happened to a part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartOutcome {
    /// Normalized and staged; other parts are still missing.
    Staged {
        /// FOCUS records of this part.
        records: u64,
    },
    /// This part completed the delivery, which is now loaded.
    Committed(Box<LoadReport>),
    /// The delivery was loaded before: nothing to do (a redelivered message).
    AlreadyCommitted,
}

/// Key of the staged aggregates of a part.
pub fn staged_key(job_id: &str, part: usize) -> String {
    format!("staging/{job_id}/part-{part:05}.json")
}

/// Key prefix of the FOCUS files of a billing period.
pub fn focus_prefix(period: &str) -> String {
    format!("focus/billing_period={period}/")
}

/// Runs one part of `job`.
pub fn run_part(job: &NormalizeJob, env: &mut NormalizeEnv<'_>) -> Result<PartOutcome, FlowError> {
    if job.part >= job.parts.len() {
        return Err(FlowError::Invalid(format!(
            "job {}: part {} of {} parts",
            job.job_id,
            job.part,
            job.parts.len()
        )));
    }
    let state_key = format!("job/{}", job.job_id);
    let progress: JobProgress = match env.state.get(&state_key)? {
        Some((bytes, _)) => serde_json::from_slice(&bytes)
            .map_err(|e| FlowError::Invalid(format!("{state_key}: stored progress: {e}")))?,
        None => JobProgress::default(),
    };
    if progress.committed {
        return Ok(PartOutcome::AlreadyCommitted);
    }
    let mut records = 0;
    if !progress.done.contains(&job.part) {
        records = normalize_part(job, env)?;
    }
    let parts = job.parts.len();
    let part = job.part;
    let commit = update_json(env.state, &state_key, |p: &mut JobProgress| {
        p.parts = parts;
        p.done.insert(part);
        if p.done.len() == p.parts && p.committer.is_none() {
            p.committer = Some(part);
        }
        p.committer == Some(part) && !p.committed
    })?;
    if !commit {
        return Ok(PartOutcome::Staged { records });
    }
    let report = commit_job(job, env)?;
    update_json(env.state, &state_key, |p: &mut JobProgress| {
        p.committed = true;
    })?;
    Ok(PartOutcome::Committed(Box::new(report)))
}

/// Downloads, normalizes and stages one part; returns its record count.
fn normalize_part(job: &NormalizeJob, env: &mut NormalizeEnv<'_>) -> Result<u64, FlowError> {
    let dir = env.workdir.join(format!("part-{:05}", job.part));
    std::fs::create_dir_all(&dir).map_err(|e| FlowError::Io(dir.display().to_string(), e))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for (i, key) in job.parts[job.part].iter().enumerate() {
        // Keep the original file name (its extension tells gzip and Parquet apart) but prefix
        // the index so two parts named alike cannot collide.
        let name = key.rsplit('/').next().unwrap_or("object");
        let dest = dir.join(format!("{i:04}-{name}"));
        env.blobs.download(key, &dest)?;
        files.push(dest);
    }
    let forced = match &job.dialect {
        Some(name) => Some(Dialect::from_name(name).ok_or_else(|| {
            FlowError::Invalid(format!("job {}: unknown dialect `{name}`", job.job_id))
        })?),
        None => None,
    };
    let jobs = plan(&files, forced)?;
    let columns = OutputColumns::new(pipeline::extension_columns(&jobs)?);
    let mut sink = PartitionedSink::new(dir.join("focus"), columns);
    let mut batch = LoadBatch::default();
    pipeline::run(
        &jobs,
        &Progress::default(),
        Some(&mut sink),
        Some(&mut batch),
        &mut || {},
    )?;
    for (period, path) in sink.close()? {
        let key = format!(
            "{}{}-part-{:05}.parquet",
            focus_prefix(&period),
            job.job_id,
            job.part
        );
        env.blobs
            .put_file(&key, &path, "application/vnd.apache.parquet")?;
    }
    let staged = serde_json::to_vec(&batch.to_staged())
        .map_err(|e| FlowError::Invalid(format!("staging job {}: {e}", job.job_id)))?;
    env.blobs.put_bytes(
        &staged_key(&job.job_id, job.part),
        &staged,
        "application/json",
    )?;
    Ok(batch.records)
}

/// Freshness of one slice, kept under `slice/<provider>|<account>|<period>`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SliceFreshness {
    produced_at: Option<DateTime<Utc>>,
    job_id: String,
}

fn slice_key(s: &Slice) -> String {
    slice_state_key(&s.provider, &s.billing_account_id, &s.billing_period)
}

fn slice_state_key(provider: &str, account: &str, period: &str) -> String {
    format!("slice/{provider}|{account}|{period}")
}

/// The job whose delivery of a slice is loaded (the owner of its FOCUS records), if any.
pub fn slice_owner(
    state: &dyn StateStore,
    provider: &str,
    account: &str,
    period: &str,
) -> Result<Option<String>, FlowError> {
    let key = slice_state_key(provider, account, period);
    match state.get(&key)? {
        Some((bytes, _)) => {
            let f: SliceFreshness = serde_json::from_slice(&bytes)
                .map_err(|e| FlowError::Invalid(format!("{key}: stored freshness: {e}")))?;
            Ok(Some(f.job_id).filter(|j| !j.is_empty()))
        }
        None => Ok(None),
    }
}

/// Merges every part's staged aggregates and replaces the delivery's slices.
fn commit_job(job: &NormalizeJob, env: &mut NormalizeEnv<'_>) -> Result<LoadReport, FlowError> {
    let mut batch = LoadBatch::default();
    for part in 0..job.parts.len() {
        let key = staged_key(&job.job_id, part);
        let bytes = env.blobs.get_bytes(&key)?;
        let staged: StagedBatch = serde_json::from_slice(&bytes)
            .map_err(|e| FlowError::Invalid(format!("{key}: {e}")))?;
        batch.absorb(&staged);
    }
    // Drop slices a newer delivery already loaded.
    let mut stale = Vec::new();
    for slice in batch.slices.keys() {
        if let Some((bytes, _)) = env.state.get(&slice_key(slice))? {
            let f: SliceFreshness = serde_json::from_slice(&bytes).unwrap_or_default();
            if f.produced_at.is_some_and(|p| p > job.produced_at) {
                tracing::warn!(
                    job = %job.job_id, newer = %f.job_id, slice = %slice_key(slice),
                    "skipping a slice: a newer delivery is already loaded"
                );
                stale.push(slice.clone());
            }
        }
    }
    for s in &stale {
        batch.slices.remove(s);
    }
    let meta = LoadMeta {
        dialect: job.dialect.clone().unwrap_or_else(|| job.source.clone()),
        files: job.parts.iter().flatten().cloned().collect(),
        loaded_at: env.now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let report = env.store.replace(&batch, &meta)?;
    for slice in batch.slices.keys() {
        let produced_at = job.produced_at;
        let job_id = job.job_id.clone();
        update_json(env.state, &slice_key(slice), |f: &mut SliceFreshness| {
            if f.produced_at.is_none_or(|p| p <= produced_at) {
                f.produced_at = Some(produced_at);
                f.job_id = job_id.clone();
            }
        })?;
    }
    let days: Vec<_> = batch
        .slices
        .values()
        .flat_map(|d| d.daily.keys().map(|k| k.day))
        .collect();
    let msg = Message::DataUpdated(DataUpdated {
        job_id: job.job_id.clone(),
        slices: report.slices.clone(),
        first_day: days.iter().min().copied(),
        last_day: days.iter().max().copied(),
    });
    env.analysis.send(&msg.to_json(), &msg.dedup_id())?;
    Ok(report)
}

/// Writes records to one Parquet file per billing period, so the files land under
/// `focus/billing_period=YYYY-MM/` where query engines prune by period.
pub struct PartitionedSink {
    dir: PathBuf,
    columns: OutputColumns,
    open: BTreeMap<String, (PendingFile, Box<dyn FocusSink>)>,
}

impl PartitionedSink {
    /// Files go into `dir`, named `<period>.parquet`.
    pub fn new(dir: PathBuf, columns: OutputColumns) -> PartitionedSink {
        PartitionedSink {
            dir,
            columns,
            open: BTreeMap::new(),
        }
    }

    /// Finishes every file; returns (period, path) pairs, oldest period first.
    pub fn close(self) -> Result<Vec<(String, PathBuf)>, OutputError> {
        let mut out = Vec::new();
        for (period, (pending, sink)) in self.open {
            sink.finish()?;
            out.push((period, pending.commit()?));
        }
        Ok(out)
    }
}

impl FocusSink for PartitionedSink {
    fn write(&mut self, record: &FocusRecord) -> Result<(), OutputError> {
        let period = period_key(&record.billing_period_start);
        if !self.open.contains_key(&period) {
            let pending = PendingFile::create(&self.dir.join(format!("{period}.parquet")))?;
            let sink = open_sink(&pending, self.columns.clone())?;
            self.open.insert(period.clone(), (pending, sink));
        }
        match self.open.get_mut(&period) {
            Some((_, sink)) => sink.write(record),
            None => Ok(()),
        }
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        let mut rows = 0;
        for (_, (pending, sink)) in self.open {
            rows += sink.finish()?;
            pending.commit()?;
        }
        Ok(rows)
    }
}
