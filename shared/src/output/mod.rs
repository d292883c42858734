//! FOCUS output files: CSV and Parquet, FOCUS column names in spec order, `x_` columns after.
//!
//! Output is written to a temporary file beside the target and renamed into place only when every
//! input has been read without error, so a failed run never leaves a partial file behind.

use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;
use thiserror::Error;

use crate::focus::{FocusColumn, FocusRecord};
use crate::text::Text;

mod csv;
mod parquet;

pub use self::csv::CsvSink;
pub use self::parquet::ParquetSink;

/// Errors while writing output.
#[derive(Debug, Error)]
pub enum OutputError {
    /// Writing failed.
    #[error("{path}: write failed: {message}")]
    Write {
        /// The output path.
        path: String,
        /// What failed.
        message: String,
    },
    /// The output name has no extension we know.
    #[error("{0}: unknown output format (use a .csv, .csv.gz or .parquet file name)")]
    UnknownFormat(String),
}

/// Output file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// FOCUS CSV (gzip-compressed when the name ends in `.gz`).
    Csv,
    /// FOCUS Parquet (snappy).
    Parquet,
}

impl OutputFormat {
    /// Picks the format from a file name.
    pub fn from_path(path: &Path) -> Result<OutputFormat, OutputError> {
        let name = path.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".parquet") {
            Ok(OutputFormat::Parquet)
        } else if name.ends_with(".csv") || name.ends_with(".csv.gz") {
            Ok(OutputFormat::Csv)
        } else {
            Err(OutputError::UnknownFormat(path.display().to_string()))
        }
    }
}

/// The columns of an output file: the 57 FOCUS 1.2 columns, then `x_` extension columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputColumns {
    /// FOCUS columns, in order.
    pub focus: Vec<FocusColumn>,
    /// Extension column names, in order.
    pub extensions: Vec<Text>,
}

impl OutputColumns {
    /// FOCUS 1.2 columns plus the given extensions (duplicates dropped, order kept).
    pub fn new(extensions: impl IntoIterator<Item = Text>) -> Self {
        let mut ext: Vec<Text> = Vec::new();
        for e in extensions {
            if !ext.contains(&e) {
                ext.push(e);
            }
        }
        OutputColumns {
            focus: FocusColumn::FOCUS_1_2.to_vec(),
            extensions: ext,
        }
    }

    /// Header names in order.
    pub fn names(&self) -> Vec<String> {
        self.focus
            .iter()
            .map(|c| c.name().to_string())
            .chain(self.extensions.iter().map(|e| e.to_string()))
            .collect()
    }
}

/// A destination for FOCUS records.
pub trait FocusSink {
    /// Writes one record.
    fn write(&mut self, record: &FocusRecord) -> Result<(), OutputError>;
    /// Flushes and closes the file; returns the rows written. The file is still at its temporary
    /// name until [`PendingFile::commit`].
    fn finish(self: Box<Self>) -> Result<u64, OutputError>;
}

/// A temporary file that becomes the target file on [`PendingFile::commit`] and disappears if
/// dropped uncommitted.
#[derive(Debug)]
pub struct PendingFile {
    tmp: NamedTempFile,
    target: PathBuf,
}

impl PendingFile {
    /// Creates the temporary file in the target's directory (so the final rename is atomic).
    pub fn create(target: &Path) -> Result<PendingFile, OutputError> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| write_err(target, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".costkit-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| write_err(target, e))?;
        Ok(PendingFile {
            tmp,
            target: target.to_path_buf(),
        })
    }

    /// A second handle to the temporary file for writing.
    pub fn writer(&self) -> Result<std::fs::File, OutputError> {
        self.tmp.reopen().map_err(|e| write_err(&self.target, e))
    }

    /// Moves the finished file into place.
    pub fn commit(self) -> Result<PathBuf, OutputError> {
        let target = self.target.clone();
        self.tmp
            .persist(&target)
            .map_err(|e| write_err(&target, e.error))?;
        Ok(target)
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }
}

pub(crate) fn write_err(path: &Path, e: impl std::fmt::Display) -> OutputError {
    OutputError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Opens a sink of the format the target's name asks for, writing into `pending`.
pub fn open_sink(
    pending: &PendingFile,
    columns: OutputColumns,
) -> Result<Box<dyn FocusSink>, OutputError> {
    let file = pending.writer()?;
    let target = pending.target();
    match OutputFormat::from_path(target)? {
        OutputFormat::Csv => {
            let gzip = target
                .to_string_lossy()
                .to_ascii_lowercase()
                .ends_with(".gz");
            Ok(Box::new(CsvSink::new(file, target, columns, gzip)?))
        }
        OutputFormat::Parquet => Ok(Box::new(ParquetSink::new(file, target, columns)?)),
    }
}

/// Writes every record to several sinks (e.g. Parquet and CSV at once).
pub struct TeeSink(pub Vec<Box<dyn FocusSink>>);

impl FocusSink for TeeSink {
    fn write(&mut self, record: &FocusRecord) -> Result<(), OutputError> {
        for s in &mut self.0 {
            s.write(record)?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        let mut rows = 0;
        for s in self.0 {
            rows = s.finish()?;
        }
        Ok(rows)
    }
}
