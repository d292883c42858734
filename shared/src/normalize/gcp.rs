//! Placeholder: being written (see docs/focus-mapping.md).

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::input::Progress;
use crate::normalize::{Job, RecordStream};

/// Opens the job's stream.
pub fn open(job: &Job, _progress: &Progress) -> Result<Box<dyn RecordStream>, NormalizeError> {
    Err(NormalizeError::file(
        job.name(),
        NormalizeErrorKind::UnknownDialect(format!("{} is not supported yet", job.dialect)),
    ))
}
