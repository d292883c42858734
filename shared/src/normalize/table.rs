//! A tabular export, CSV (plain or gzip) or Parquet, read row by row through one interface, so a
//! dialect's mapping is written once for both encodings.

use std::path::Path;

use rust_decimal::Decimal;

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::input::{Format, Input, Progress};
use crate::normalize::csv_input::{Cells, CsvInput, Row};
use crate::normalize::parquet_input::{ParquetRow, ParquetRows};
use crate::time::Timestamp;

/// An open CSV or Parquet file.
pub enum Table {
    /// CSV with a header row.
    Csv(CsvInput),
    /// Parquet.
    Parquet(ParquetRows),
}

/// One row of a [`Table`].
pub enum TableRow<'a> {
    /// A CSV row.
    Csv(Row<'a>),
    /// A Parquet row.
    Parquet(ParquetRow<'a>),
}

impl Table {
    /// Opens `path` as CSV or Parquet (sniffed from the content). A JSON file is refused with
    /// `not_json`, which says what this dialect expects instead.
    pub fn open(path: &Path, progress: &Progress, not_json: &str) -> Result<Table, NormalizeError> {
        let input = Input::open(path, progress)?;
        match input.format {
            Format::Parquet => Ok(Table::Parquet(ParquetRows::open(path)?)),
            Format::Csv => Ok(Table::Csv(CsvInput::new(input)?)),
            Format::Json => Err(NormalizeError::file(
                input.name(),
                NormalizeErrorKind::UnknownDialect(not_json.to_string()),
            )),
        }
    }

    /// Column names.
    pub fn headers(&self) -> &[String] {
        match self {
            Table::Csv(c) => c.headers(),
            Table::Parquet(p) => p.headers(),
        }
    }

    /// The next row; `None` at the end.
    pub fn next_row(&mut self) -> Option<Result<TableRow<'_>, NormalizeError>> {
        match self {
            Table::Csv(c) => c.next_row().map(|r| r.map(TableRow::Csv)),
            Table::Parquet(p) => p.next_row().map(|r| r.map(TableRow::Parquet)),
        }
    }
}

impl Cells for TableRow<'_> {
    fn cell(&self, idx: Option<usize>) -> &str {
        match self {
            TableRow::Csv(r) => Cells::cell(r, idx),
            TableRow::Parquet(r) => r.cell(idx),
        }
    }

    fn decimal(&self, idx: Option<usize>) -> Result<Option<Decimal>, NormalizeError> {
        match self {
            TableRow::Csv(r) => Cells::decimal(r, idx),
            TableRow::Parquet(r) => r.decimal(idx),
        }
    }

    fn timestamp(&self, idx: Option<usize>) -> Result<Option<Timestamp>, NormalizeError> {
        match self {
            TableRow::Csv(r) => Cells::timestamp(r, idx),
            TableRow::Parquet(r) => r.timestamp(idx),
        }
    }

    fn error(&self, idx: usize, msg: String) -> NormalizeError {
        match self {
            TableRow::Csv(r) => Cells::error(r, idx, msg),
            TableRow::Parquet(r) => r.error(idx, msg),
        }
    }
}
