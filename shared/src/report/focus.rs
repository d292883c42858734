//! The period's FOCUS slice as one download: every FOCUS Parquet object under
//! `focus/billing_period=YYYY-MM/` of the [`BlobStore`] (written by the normalize flow, see
//! [`crate::flow::normalize::focus_prefix`]), read back and written as one FOCUS CSV or Parquet
//! file. The same code serves `costkit serve` over a [`crate::local::DirBlobStore`] and the report
//! function over S3: only the port differs.
//!
//! The parts are read with the FOCUS reader and go through the pipeline's reconciliation (the
//! written totals must equal the parts' own), so a slice is never silently truncated.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::ReportPeriod;
use crate::flow::focus::{job_of, OwnerFilter};
use crate::flow::normalize::focus_prefix;
use crate::input::Progress;
use crate::normalize::{plan, Dialect};
use crate::output::{open_sink, OutputColumns, OutputError, OutputFormat, PendingFile};
use crate::pipeline::{self, PipelineError};
use crate::ports::{BlobStore, PortError, StateStore};

/// Why a slice could not be written.
#[derive(Debug, Error)]
pub enum FocusSliceError {
    /// The blob store failed.
    #[error(transparent)]
    Port(#[from] PortError),
    /// A part could not be read or reconciled.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// A part is not a FOCUS file.
    #[error(transparent)]
    Normalize(#[from] crate::error::NormalizeError),
    /// The output could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// Slice owners could not be read from the state store.
    #[error("reading slice owners: {0}")]
    State(String),
}

/// The object keys of a period's FOCUS parts, sorted.
pub fn focus_parts(blobs: &dyn BlobStore, period: &ReportPeriod) -> Result<Vec<String>, PortError> {
    let mut keys: Vec<String> = blobs
        .list(&focus_prefix(&period.label))?
        .into_iter()
        .filter(|k| k.ends_with(".parquet"))
        .collect();
    keys.sort();
    Ok(keys)
}

/// Writes the FOCUS slice of `period` to `dir/<stem>.<csv|parquet>` (downloading the parts into
/// `dir` first). `None` when the period has no FOCUS parts.
///
/// With the flows' `state`, only the records of each slice's current delivery are written: a
/// month is delivered again every day, and the prefix keeps the superseded files
/// ([`crate::flow::focus`]). Without it (a local directory of FOCUS files) every part is written.
pub fn write_focus_slice(
    blobs: &dyn BlobStore,
    state: Option<&dyn StateStore>,
    period: &ReportPeriod,
    format: OutputFormat,
    dir: &Path,
) -> Result<Option<PathBuf>, FocusSliceError> {
    let keys = focus_parts(blobs, period)?;
    if keys.is_empty() {
        return Ok(None);
    }
    let mut paths = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let p = dir.join(format!("part-{i:05}.parquet"));
        blobs.download(k, &p)?;
        paths.push(p);
    }
    if let Some(state) = state {
        return write_current(state, &keys, &paths, period, format, dir).map(Some);
    }
    let jobs = plan(&paths, Some(Dialect::Focus))?;
    let ext = match format {
        OutputFormat::Csv => "csv",
        OutputFormat::Parquet => "parquet",
    };
    let target = dir.join(format!("costkit-focus-{}.{ext}", period.label));
    let columns = OutputColumns::new(pipeline::extension_columns(&jobs)?);
    let pending = PendingFile::create(&target)?;
    let mut sink = open_sink(&pending, columns)?;
    pipeline::run(
        &jobs,
        &Progress::default(),
        Some(sink.as_mut()),
        None,
        &mut || {},
    )?;
    sink.finish()?;
    Ok(Some(pending.commit()?))
}

/// [`write_focus_slice`] keeping each slice's current delivery only.
fn write_current(
    state: &dyn StateStore,
    keys: &[String],
    paths: &[PathBuf],
    period: &ReportPeriod,
    format: OutputFormat,
    dir: &Path,
) -> Result<PathBuf, FocusSliceError> {
    let ext = match format {
        OutputFormat::Csv => "csv",
        OutputFormat::Parquet => "parquet",
    };
    let target = dir.join(format!("costkit-focus-{}.{ext}", period.label));
    // One plan per file: re-deliveries of a month may be byte-identical, which a plan over all
    // files refuses (rightly: it would count them twice); here the owner filter decides.
    let mut plans = Vec::with_capacity(paths.len());
    for path in paths {
        plans.push(plan(std::slice::from_ref(path), Some(Dialect::Focus))?);
    }
    let all: Vec<_> = plans.iter().flatten().cloned().collect();
    let columns = OutputColumns::new(pipeline::extension_columns(&all)?);
    let pending = PendingFile::create(&target)?;
    let mut sink = open_sink(&pending, columns)?;
    {
        let mut filter = OwnerFilter::new(state, sink.as_mut());
        for (key, one) in keys.iter().zip(&plans) {
            let Some(job) = job_of(key) else { continue };
            filter.job = job.to_string();
            let run = pipeline::run(
                one,
                &Progress::default(),
                Some(&mut filter),
                None,
                &mut || {},
            );
            if let Some(e) = filter.take_error() {
                return Err(FocusSliceError::State(e.to_string()));
            }
            run?;
        }
    }
    sink.finish()?;
    Ok(pending.commit()?)
}

/// The report's [`FocusSource`](super::FocusSource) over a [`BlobStore`] laid out like the bucket
/// (`focus/billing_period=YYYY-MM/*.parquet`): the functions' bucket, or a local directory through
/// [`crate::local::DirBlobStore`].
///
/// With the flows' `state`, only each slice's current delivery is read
/// ([`crate::flow::focus::read_current`]); without it (a local directory holding one delivery
/// per period) every part is read, and byte-identical parts are refused rather than counted twice.
/// Parts are downloaded into a temporary directory and removed after reading.
#[derive(Clone)]
pub struct BlobFocusSource {
    blobs: std::sync::Arc<dyn BlobStore>,
    state: Option<std::sync::Arc<dyn StateStore>>,
}

impl std::fmt::Debug for BlobFocusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobFocusSource")
            .field("owner_filter", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

impl BlobFocusSource {
    /// Reads `blobs`, keeping current deliveries only when `state` is given.
    pub fn new(
        blobs: std::sync::Arc<dyn BlobStore>,
        state: Option<std::sync::Arc<dyn StateStore>>,
    ) -> BlobFocusSource {
        BlobFocusSource { blobs, state }
    }
}

/// Counts the records passed on.
struct Counting<'a> {
    inner: &'a mut dyn crate::output::FocusSink,
    records: u64,
}

impl crate::output::FocusSink for Counting<'_> {
    fn write(&mut self, r: &crate::focus::FocusRecord) -> Result<(), OutputError> {
        self.records += 1;
        self.inner.write(r)
    }
    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        Ok(self.records)
    }
}

impl super::FocusSource for BlobFocusSource {
    fn read(
        &self,
        periods: &[String],
        sink: &mut dyn crate::output::FocusSink,
    ) -> Result<u64, crate::flow::FlowError> {
        let dir = tempfile::tempdir()
            .map_err(|e| crate::flow::FlowError::Io("temporary directory".into(), e))?;
        if let Some(state) = &self.state {
            let read = crate::flow::focus::read_current(
                &*self.blobs,
                &**state,
                periods,
                None,
                dir.path(),
                sink,
            )?;
            return Ok(read.records);
        }
        let mut paths = Vec::new();
        for label in periods {
            let period = ReportPeriod::parse(label)
                .map_err(|e| crate::flow::FlowError::Invalid(e.to_string()))?;
            for k in focus_parts(&*self.blobs, &period)? {
                let p = dir.path().join(format!("part-{:05}.parquet", paths.len()));
                self.blobs.download(&k, &p)?;
                paths.push((k, p));
            }
        }
        if paths.is_empty() {
            return Ok(0);
        }
        let files: Vec<PathBuf> = paths.iter().map(|(_, p)| p.clone()).collect();
        let jobs = plan(&files, Some(Dialect::Focus))?;
        let mut counting = Counting {
            inner: sink,
            records: 0,
        };
        pipeline::run(
            &jobs,
            &Progress::default(),
            Some(&mut counting),
            None,
            &mut || {},
        )
        .map_err(|e| {
            // Name the object, not the temporary copy.
            let mut m = e.to_string();
            for (k, p) in &paths {
                m = m.replace(&p.display().to_string(), k);
            }
            crate::flow::FlowError::Invalid(m)
        })?;
        Ok(counting.records)
    }
}
