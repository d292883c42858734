//! The error every normalizer returns: it always names the file, and the line and column when the
//! problem is in one cell, so a FinOps engineer can open the export and look.

use std::fmt;

/// What went wrong while reading a billing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NormalizeErrorKind {
    /// Reading failed (including a truncated or corrupt gzip stream).
    Io(String),
    /// The file is empty: not even a header.
    Empty,
    /// The header matches no known export dialect.
    UnknownDialect(String),
    /// The file is a known export, but not a cost and usage export (e.g. reservation recommendations).
    NotACostExport(String),
    /// A column that the dialect requires is missing from the header.
    MissingColumn,
    /// A row has a different number of fields than the header (often a wrong delimiter).
    RowShape(String),
    /// A cell does not hold what its column requires.
    InvalidValue(String),
    /// The file is malformed in some other way (bad JSON, bad Parquet).
    Malformed(String),
}

/// An error naming the file and, where it applies, the line (1-based, the header is line 1) and
/// the column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizeError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line (CSV, NDJSON) or row number (Parquet, JSON arrays), when known.
    pub line: Option<u64>,
    /// Column or field name, when the problem is in one.
    pub column: Option<String>,
    /// What went wrong.
    pub kind: NormalizeErrorKind,
}

impl NormalizeError {
    /// An error about the file as a whole.
    pub fn file(file: impl Into<String>, kind: NormalizeErrorKind) -> Self {
        NormalizeError {
            file: file.into(),
            line: None,
            column: None,
            kind,
        }
    }

    /// An error about one line.
    pub fn line(file: impl Into<String>, line: u64, kind: NormalizeErrorKind) -> Self {
        NormalizeError {
            file: file.into(),
            line: Some(line),
            column: None,
            kind,
        }
    }

    /// An error about one cell.
    pub fn cell(
        file: impl Into<String>,
        line: u64,
        column: impl Into<String>,
        kind: NormalizeErrorKind,
    ) -> Self {
        NormalizeError {
            file: file.into(),
            line: Some(line),
            column: Some(column.into()),
            kind,
        }
    }

    /// A required column is missing from the header (line 1).
    pub fn missing_column(file: impl Into<String>, column: impl Into<String>) -> Self {
        NormalizeError {
            file: file.into(),
            line: Some(1),
            column: Some(column.into()),
            kind: NormalizeErrorKind::MissingColumn,
        }
    }
}

impl fmt::Display for NormalizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(col) = &self.column {
            write!(f, ": column `{col}`")?;
        }
        match &self.kind {
            NormalizeErrorKind::Io(m) => write!(f, ": read error: {m}"),
            NormalizeErrorKind::Empty => write!(f, ": the file is empty (not even a header row)"),
            NormalizeErrorKind::UnknownDialect(m) => write!(f, ": unknown export dialect: {m}"),
            NormalizeErrorKind::NotACostExport(m) => {
                write!(f, ": not a cost and usage export: {m}")
            }
            NormalizeErrorKind::MissingColumn => {
                write!(f, ": required column is missing from the header")
            }
            NormalizeErrorKind::RowShape(m) => write!(f, ": {m}"),
            NormalizeErrorKind::InvalidValue(m) => write!(f, ": {m}"),
            NormalizeErrorKind::Malformed(m) => write!(f, ": {m}"),
        }
    }
}

impl std::error::Error for NormalizeError {}
