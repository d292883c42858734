//! Parquet inputs (CUR 2.0 and FOCUS exports), read batch by batch and handed out row by row as
//! text cells, so the same mapping code serves CSV and Parquet.
//!
//! Conversions: floating-point costs (CUR 2.0 Parquet stores doubles) go through their shortest
//! round-trip text, which is the value the exporter wrote; map columns (`resource_tags`, `product`)
//! become JSON object text, exactly as CUR 2.0 CSV prints them; timestamps become UTC ISO text.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use rust_decimal::Decimal;

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::money::parse_decimal;
use crate::normalize::csv_input::Cells;
use crate::time::{parse_timestamp, Timestamp};

fn pq_err(file: &str, e: impl std::fmt::Display) -> NormalizeError {
    NormalizeError::file(
        file,
        NormalizeErrorKind::Malformed(format!("invalid Parquet: {e}")),
    )
}

/// Column names of a Parquet file's schema.
pub fn column_names(path: &Path) -> Result<Vec<String>, NormalizeError> {
    let file = path.display().to_string();
    let f = File::open(path)
        .map_err(|e| NormalizeError::file(&file, NormalizeErrorKind::Io(e.to_string())))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| pq_err(&file, e))?;
    Ok(b.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

/// Rows of a Parquet file as text cells.
pub struct ParquetRows {
    file: String,
    headers: Vec<String>,
    reader: ParquetRecordBatchReader,
    batch: Vec<Vec<Option<String>>>,
    batch_len: usize,
    pos: usize,
    row_number: u64,
}

impl ParquetRows {
    /// Opens a Parquet file for reading.
    pub fn open(path: &Path) -> Result<ParquetRows, NormalizeError> {
        let file = path.display().to_string();
        let f = File::open(path)
            .map_err(|e| NormalizeError::file(&file, NormalizeErrorKind::Io(e.to_string())))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| pq_err(&file, e))?;
        let headers = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let reader = b
            .with_batch_size(4096)
            .build()
            .map_err(|e| pq_err(&file, e))?;
        Ok(ParquetRows {
            file,
            headers,
            reader,
            batch: Vec::new(),
            batch_len: 0,
            pos: 0,
            row_number: 0,
        })
    }

    /// Column names.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The next row; `None` at the end.
    pub fn next_row(&mut self) -> Option<Result<ParquetRow<'_>, NormalizeError>> {
        while self.pos >= self.batch_len {
            match self.reader.next()? {
                Ok(b) => {
                    self.batch = match batch_to_text(&b) {
                        Ok(cols) => cols,
                        Err(m) => return Some(Err(pq_err(&self.file, m))),
                    };
                    self.batch_len = b.num_rows();
                    self.pos = 0;
                }
                Err(e) => return Some(Err(pq_err(&self.file, e))),
            }
        }
        let i = self.pos;
        self.pos += 1;
        self.row_number += 1;
        Some(Ok(ParquetRow {
            rows: self,
            index: i,
        }))
    }
}

/// One Parquet row.
pub struct ParquetRow<'a> {
    rows: &'a ParquetRows,
    index: usize,
}

impl ParquetRow<'_> {
    /// 1-based row number in the file.
    pub fn row_number(&self) -> u64 {
        self.rows.row_number
    }
}

impl Cells for ParquetRow<'_> {
    fn cell(&self, idx: Option<usize>) -> &str {
        idx.and_then(|i| self.rows.batch.get(i))
            .and_then(|c| c.get(self.index))
            .and_then(|v| v.as_deref())
            .map(str::trim)
            .unwrap_or("")
    }

    fn decimal(&self, idx: Option<usize>) -> Result<Option<Decimal>, NormalizeError> {
        let s = self.cell(idx);
        if s.is_empty() {
            return Ok(None);
        }
        parse_decimal(s)
            .map(Some)
            .ok_or_else(|| self.error(idx.unwrap_or(0), format!("`{s}` is not a number")))
    }

    fn timestamp(&self, idx: Option<usize>) -> Result<Option<Timestamp>, NormalizeError> {
        let s = self.cell(idx);
        if s.is_empty() {
            return Ok(None);
        }
        parse_timestamp(s)
            .map(Some)
            .ok_or_else(|| self.error(idx.unwrap_or(0), format!("`{s}` is not a timestamp")))
    }

    fn error(&self, idx: usize, msg: String) -> NormalizeError {
        let col = self
            .rows
            .headers
            .get(idx)
            .cloned()
            .unwrap_or_else(|| "?".into());
        NormalizeError::cell(
            &self.rows.file,
            self.rows.row_number,
            col,
            NormalizeErrorKind::InvalidValue(msg),
        )
    }
}

fn batch_to_text(b: &RecordBatch) -> Result<Vec<Vec<Option<String>>>, String> {
    b.columns()
        .iter()
        .map(|c| array_to_text(c.as_ref()))
        .collect()
}

fn ts_text(v: i64, unit: &TimeUnit) -> Option<String> {
    let (secs, nanos) = match unit {
        TimeUnit::Second => (v, 0),
        TimeUnit::Millisecond => (v.div_euclid(1000), (v.rem_euclid(1000) * 1_000_000) as u32),
        TimeUnit::Microsecond => (
            v.div_euclid(1_000_000),
            (v.rem_euclid(1_000_000) * 1000) as u32,
        ),
        TimeUnit::Nanosecond => (
            v.div_euclid(1_000_000_000),
            v.rem_euclid(1_000_000_000) as u32,
        ),
    };
    chrono::DateTime::from_timestamp(secs, nanos)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
}

fn scalar_json(a: &dyn Array, i: usize) -> Result<serde_json::Value, String> {
    if a.is_null(i) {
        return Ok(serde_json::Value::Null);
    }
    let text = array_to_text_one(a, i)?;
    Ok(match a.data_type() {
        DataType::Boolean => serde_json::Value::Bool(text.as_deref() == Some("true")),
        _ => serde_json::Value::String(text.unwrap_or_default()),
    })
}

fn array_to_text_one(a: &dyn Array, i: usize) -> Result<Option<String>, String> {
    if a.is_null(i) {
        return Ok(None);
    }
    let s = match a.data_type() {
        DataType::Null => return Ok(None),
        DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => a.as_string_view().value(i).to_string(),
        DataType::Boolean => a.as_boolean().value(i).to_string(),
        DataType::Int8 => a.as_primitive::<Int8Type>().value(i).to_string(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).to_string(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).to_string(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).to_string(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).to_string(),
        DataType::Float32 => a.as_primitive::<Float32Type>().value(i).to_string(),
        DataType::Float64 => a.as_primitive::<Float64Type>().value(i).to_string(),
        DataType::Decimal128(_, scale) => {
            let v = a.as_primitive::<Decimal128Type>().value(i);
            match Decimal::try_from_i128_with_scale(v, (*scale).max(0) as u32) {
                Ok(d) => d.normalize().to_string(),
                Err(e) => return Err(format!("decimal out of range: {e}")),
            }
        }
        DataType::Date32 => {
            let days = a.as_primitive::<Date32Type>().value(i);
            chrono::DateTime::from_timestamp(i64::from(days) * 86_400, 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        }
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => a.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => a.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => a.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => a.as_primitive::<TimestampNanosecondType>().value(i),
            };
            ts_text(v, unit).unwrap_or_default()
        }
        DataType::Map(_, _) => {
            let m = a.as_map();
            let entries = m.value(i);
            let keys = entries.column(0);
            let vals = entries.column(1);
            let mut obj = serde_json::Map::new();
            for j in 0..entries.len() {
                let k = array_to_text_one(keys.as_ref(), j)?.unwrap_or_default();
                obj.insert(k, scalar_json(vals.as_ref(), j)?);
            }
            serde_json::Value::Object(obj).to_string()
        }
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let items = l.value(i);
            let mut arr = Vec::new();
            for j in 0..items.len() {
                arr.push(scalar_json(items.as_ref(), j)?);
            }
            serde_json::Value::Array(arr).to_string()
        }
        other => return Err(format!("unsupported Parquet column type {other}")),
    };
    Ok(Some(s))
}

fn array_to_text(a: &dyn Array) -> Result<Vec<Option<String>>, String> {
    (0..a.len()).map(|i| array_to_text_one(a, i)).collect()
}
