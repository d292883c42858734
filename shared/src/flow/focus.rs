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
fn job_of(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?;
    let stem = name.strip_suffix(".parquet")?;
    let (job, part) = stem.rsplit_once("-part-")?;
    part.bytes().all(|b| b.is_ascii_digit()).then_some(job)
}

/// Passes records of the current owner only.
struct Current<'a> {
    state: &'a dyn StateStore,
    job: String,
    owners: &'a mut HashMap<(String, String, String), Option<String>>,
    inner: &'a mut dyn FocusSink,
    kept: u64,
    dropped: u64,
    error: Option<FlowError>,
}

impl FocusSink for Current<'_> {
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
                    // The sink interface has no room for a state error: remember it, stop here.
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

/// Streams the current FOCUS records of billing `periods` into `sink`. `owners` are the jobs that
/// own at least one slice of those periods (from [`period_owners`]); files of other jobs are not
/// even downloaded. Files go to `workdir` one at a time and are removed after reading.
pub fn read_current(
    blobs: &dyn BlobStore,
    state: &dyn StateStore,
    periods: &[String],
    owners: &BTreeSet<String>,
    workdir: &Path,
    sink: &mut dyn FocusSink,
) -> Result<FocusRead, FlowError> {
    let mut out = FocusRead::default();
    let mut cache = HashMap::new();
    std::fs::create_dir_all(workdir)
        .map_err(|e| FlowError::Io(workdir.display().to_string(), e))?;
    for period in periods {
        let mut keys = blobs.list(&focus_prefix(period))?;
        keys.sort();
        for key in keys {
            let Some(job) = job_of(&key) else {
                continue;
            };
            if !owners.contains(job) {
                out.skipped += 1;
                continue;
            }
            let dest = workdir.join("focus-read.parquet");
            blobs.download(&key, &dest)?;
            let jobs = plan(std::slice::from_ref(&dest), Some(Dialect::Focus))?;
            let mut current = Current {
                state,
                job: job.to_string(),
                owners: &mut cache,
                inner: sink,
                kept: 0,
                dropped: 0,
                error: None,
            };
            let run = pipeline::run(
                &jobs,
                &Progress::default(),
                Some(&mut current),
                None,
                &mut || {},
            );
            let (kept, dropped, error) = (current.kept, current.dropped, current.error.take());
            let _ = std::fs::remove_file(&dest);
            if let Some(e) = error {
                return Err(e);
            }
            run.map_err(|e| FlowError::Invalid(format!("{key}: {e}")))?;
            out.records += kept;
            out.superseded += dropped;
            out.files.push(key);
        }
    }
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
