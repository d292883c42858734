//! Reading back the FOCUS records the normalize step wrote to the blob store.
//!
//! `focus/billing_period=YYYY-MM/` holds one Parquet file per (job, part, period). A month is
//! re-delivered many times (every daily ingest restates it), so the prefix holds superseded files
//! next to current ones: reading them all would count a month's money once per delivery. The
//! owner of each slice (provider, billing account, period) is the job recorded under
//! `slice/<provider>|<account>|<period>` when that job was loaded; a record is current only when
//! it comes from a file of its slice's owner.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::normalize::{focus_prefix, slice_owner};
use super::FlowError;
use crate::focus::FocusRecord;
use crate::input::Progress;
use crate::normalize::{plan, Dialect};
use crate::output::{FocusSink, OutputError};
use crate::pipeline;
use crate::ports::{BlobStore, StateStore};
use crate::time::period_key;

/// What a read found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FocusRead {
    /// Files read (their job owns at least one slice of the period).
    pub files: Vec<String>,
    /// Files skipped: superseded deliveries.
    pub skipped: usize,
    /// Current records passed on.
    pub records: u64,
    /// Records of superseded deliveries left out.
    pub superseded: u64,
}

/// The job id of a FOCUS object key `focus/billing_period=P/<job>-part-NNNNN.parquet`.
pub fn job_of(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?;
    let stem = name.strip_suffix(".parquet")?;
    let (job, part) = stem.rsplit_once("-part-")?;
    part.bytes().all(|b| b.is_ascii_digit()).then_some(job)
}

/// A sink filter that passes on the records of the current owner of their slice only: set
/// [`OwnerFilter::job`] to the job that wrote the file being read.
pub struct OwnerFilter<'a> {
    state: &'a dyn StateStore,
    /// The job that wrote the records now passing through.
    pub job: String,
    owners: HashMap<(String, String, String), Option<String>>,
    inner: &'a mut dyn FocusSink,
    /// Records passed on.
    pub kept: u64,
    /// Records of superseded deliveries dropped.
    pub dropped: u64,
    error: Option<FlowError>,
}

impl<'a> OwnerFilter<'a> {
    /// A filter in front of `inner`, reading slice owners from `state`.
    pub fn new(state: &'a dyn StateStore, inner: &'a mut dyn FocusSink) -> OwnerFilter<'a> {
        OwnerFilter {
            state,
            job: String::new(),
            owners: HashMap::new(),
            inner,
            kept: 0,
            dropped: 0,
            error: None,
        }
    }

    /// A state error met while filtering (the sink interface can only report a write error).
    pub fn take_error(&mut self) -> Option<FlowError> {
        self.error.take()
    }
}

impl FocusSink for OwnerFilter<'_> {
    fn write(&mut self, r: &FocusRecord) -> Result<(), OutputError> {
        let key = (
            r.provider_name.to_string(),
            r.billing_account_id.to_string(),
            period_key(&r.billing_period_start),
        );
        if !self.owners.contains_key(&key) {
            match slice_owner(self.state, &key.0, &key.1, &key.2) {
                Ok(o) => {
                    self.owners.insert(key.clone(), o);
                }
                Err(e) => {
                    let message = e.to_string();
                    self.error = Some(e);
                    return Err(OutputError::Write {
                        path: "state".into(),
                        message,
                    });
                }
            }
        }
        if self.owners.get(&key).and_then(|o| o.as_deref()) == Some(self.job.as_str()) {
            self.kept += 1;
            self.inner.write(r)
        } else {
            self.dropped += 1;
            Ok(())
        }
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        Ok(self.kept)
    }
}

/// Streams the current FOCUS records of billing `periods` into `sink`. When `owners` (the jobs
/// that own at least one slice of those periods, from [`period_owners`]) is given, files of other
/// jobs are not even downloaded. Files go to `workdir` one at a time and are removed after reading.
pub fn read_current(
    blobs: &dyn BlobStore,
    state: &dyn StateStore,
    periods: &[String],
    owners: Option<&BTreeSet<String>>,
    workdir: &Path,
    sink: &mut dyn FocusSink,
) -> Result<FocusRead, FlowError> {
    let mut out = FocusRead::default();
    std::fs::create_dir_all(workdir)
        .map_err(|e| FlowError::Io(workdir.display().to_string(), e))?;
    let mut filter = OwnerFilter::new(state, sink);
    for period in periods {
        let mut keys = blobs.list(&focus_prefix(period))?;
        keys.sort();
        for key in keys {
            let Some(job) = job_of(&key) else {
                continue;
            };
            if owners.is_some_and(|o| !o.contains(job)) {
                out.skipped += 1;
                continue;
            }
            let dest = workdir.join("focus-read.parquet");
            blobs.download(&key, &dest)?;
            let jobs = plan(std::slice::from_ref(&dest), Some(Dialect::Focus))?;
            filter.job = job.to_string();
            let run = pipeline::run(
                &jobs,
                &Progress::default(),
                Some(&mut filter),
                None,
                &mut || {},
            );
            let _ = std::fs::remove_file(&dest);
            if let Some(e) = filter.take_error() {
                return Err(e);
            }
            run.map_err(|e| FlowError::Invalid(format!("{key}: {e}")))?;
            out.files.push(key);
        }
    }
    out.records = filter.kept;
    out.superseded = filter.dropped;
    Ok(out)
}

/// The jobs that currently own the given slices `(provider, billing account, period)`.
pub fn period_owners<'a>(
    state: &dyn StateStore,
    slices: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Result<BTreeSet<String>, FlowError> {
    let mut out = BTreeSet::new();
    for (provider, account, period) in slices {
        if let Some(job) = slice_owner(state, provider, account, period)? {
            out.insert(job);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::job_of;

    #[test]
    fn job_ids_come_from_the_object_name() {
        assert_eq!(
            job_of("focus/billing_period=2024-09/cur-2024-09-abc-part-00003.parquet"),
            Some("cur-2024-09-abc")
        );
        assert_eq!(job_of("focus/billing_period=2024-09/notes.txt"), None);
        assert_eq!(
            job_of("focus/billing_period=2024-09/x-part-0a.parquet"),
            None
        );
    }
}
