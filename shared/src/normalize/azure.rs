//! Placeholder: being written (see docs/focus-mapping.md).

use std::path::PathBuf;

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::input::Progress;
use crate::normalize::{Dialect, Job, RecordStream};

/// Opens the job's stream.
pub fn open(job: &Job, _progress: &Progress) -> Result<Box<dyn RecordStream>, NormalizeError> {
    Err(NormalizeError::file(
        job.name(),
        NormalizeErrorKind::UnknownDialect(format!("{} is not supported yet", job.dialect)),
    ))
}

/// Groups Azure actual and amortized exports into jobs.
pub fn group_jobs(actual: Vec<PathBuf>, amortized: Vec<PathBuf>) -> Vec<Job> {
    let mut jobs: Vec<Job> = actual
        .into_iter()
        .map(|p| Job {
            dialect: Dialect::AzureActual,
            inputs: vec![p],
            amortized: Vec::new(),
        })
        .collect();
    jobs.extend(amortized.into_iter().map(|p| Job {
        dialect: Dialect::AzureAmortized,
        inputs: vec![p],
        amortized: Vec::new(),
    }));
    jobs
}
