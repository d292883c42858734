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
