//! A CSV reader that knows its file name and line numbers, so every cell error can name both.

use std::collections::HashMap;
use std::io::Read;

use csv::{Reader, ReaderBuilder, StringRecord};
use rust_decimal::Decimal;

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::input::Input;
use crate::money::parse_decimal;
use crate::text::Text;
use crate::time::{parse_timestamp, Timestamp};

/// A CSV file with a header row, read one record at a time.
pub struct CsvInput {
    file: String,
    reader: Reader<Box<dyn Read + Send>>,
    headers: Vec<String>,
    index: HashMap<String, usize>,
    record: StringRecord,
    null_literal: bool,
    ts_memo: TimestampMemo,
}

/// The last timestamp parsed per column: billing periods repeat on every row and charge periods in
/// long runs, so most timestamp cells are the text the previous row had.
type TimestampMemo = std::cell::RefCell<Vec<(usize, String, Timestamp)>>;

impl CsvInput {
    /// Reads the header. An empty file is an error; a header-only file is not (it yields no rows).
    pub fn new(input: Input) -> Result<Self, NormalizeError> {
        let file = input.name();
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .buffer_capacity(256 * 1024)
            .from_reader(Box::new(input.into_reader()) as Box<dyn Read + Send>);
        let raw = reader
            .byte_headers()
            .map_err(|e| csv_error(&file, &e))?
            .clone();
        if raw.is_empty() || (raw.len() == 1 && raw.get(0).is_some_and(|f| f.is_empty())) {
            return Err(NormalizeError::file(file, NormalizeErrorKind::Empty));
        }
        let mut headers = Vec::with_capacity(raw.len());
        for (i, h) in raw.iter().enumerate() {
            let h = std::str::from_utf8(h).map_err(|_| {
                NormalizeError::cell(
                    &file,
                    1,
                    format!("#{}", i + 1),
                    NormalizeErrorKind::InvalidValue("header is not valid UTF-8".into()),
                )
            })?;
            headers.push(h.trim().trim_start_matches('\u{feff}').to_string());
        }
        let mut index = HashMap::with_capacity(headers.len());
        for (i, h) in headers.iter().enumerate() {
            index.entry(h.clone()).or_insert(i);
        }
        Ok(CsvInput {
            file,
            reader,
            headers,
            index,
            record: StringRecord::new(),
            ts_memo: Default::default(),
            null_literal: false,
        })
    }

    /// Treat cells that say exactly `NULL` as empty (FOCUS-Sample-Data writes nulls that way).
    pub fn with_null_literal(mut self, on: bool) -> Self {
        self.null_literal = on;
        self
    }

    /// The file name for messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Header names, trimmed, BOM removed.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// Index of a column, if present (exact name).
    pub fn col(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// Index of the first of several alternative names that is present.
    pub fn col_any(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.col(n))
    }

    /// Index of a column the dialect cannot work without.
    pub fn require(&self, name: &str) -> Result<usize, NormalizeError> {
        self.col(name)
            .ok_or_else(|| NormalizeError::missing_column(&self.file, name))
    }

    /// Like [`CsvInput::require`] with alternative names; the error names the first.
    pub fn require_any(&self, names: &[&str]) -> Result<usize, NormalizeError> {
        self.col_any(names)
            .ok_or_else(|| NormalizeError::missing_column(&self.file, names[0]))
    }

    /// Reads the next row; `None` at the end of the file.
    pub fn next_row(&mut self) -> Option<Result<Row<'_>, NormalizeError>> {
        // StringRecord validates UTF-8 once per row; cells are then borrowed as &str for free.
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record.position().map(|p| p.line()).unwrap_or(0);
                Some(Ok(Row {
                    record: &self.record,
                    file: &self.file,
                    headers: &self.headers,
                    line,
                    null_literal: self.null_literal,
                    ts_memo: &self.ts_memo,
                }))
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                let kind = NormalizeErrorKind::InvalidValue(
                    "cell is not valid UTF-8 (is the file in another encoding?)".into(),
                );
                let (line, field) = match e.kind() {
                    csv::ErrorKind::Utf8 { pos, err } => {
                        (pos.as_ref().map(|p| p.line()), Some(err.field()))
                    }
                    _ => (None, None),
                };
                let line = line.unwrap_or_else(|| self.reader.position().line());
                Some(Err(match field {
                    Some(i) => {
                        let column = self
                            .headers
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| format!("#{}", i + 1));
                        NormalizeError::cell(&self.file, line, column, kind)
                    }
                    None => NormalizeError::line(&self.file, line, kind),
                }))
            }
            Err(e) => {
                let mut err = csv_error(&self.file, &e);
                // Read errors (a truncated gzip stream) carry no position: the reader's own position
                // is the start of the row it could not finish.
                if err.line.is_none() {
                    err.line = Some(self.reader.position().line());
                }
                Some(Err(err))
            }
        }
    }
}

fn csv_error(file: &str, e: &csv::Error) -> NormalizeError {
    let line = e.position().map(|p| p.line());
    let kind = match e.kind() {
        csv::ErrorKind::Io(io) => NormalizeErrorKind::Io(io.to_string()),
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => NormalizeErrorKind::RowShape(format!(
            "row has {len} fields but the header has {expected_len} (wrong delimiter or a truncated row?)"
        )),
        csv::ErrorKind::Utf8 { .. } => NormalizeErrorKind::InvalidValue("text is not valid UTF-8".into()),
        _ => NormalizeErrorKind::Malformed(e.to_string()),
    };
    NormalizeError {
        file: file.to_string(),
        line,
        column: None,
        kind,
    }
}

/// One CSV row, with typed accessors whose errors name file, line and column.
pub struct Row<'a> {
    record: &'a StringRecord,
    file: &'a str,
    headers: &'a [String],
    line: u64,
    null_literal: bool,
    ts_memo: &'a TimestampMemo,
}

impl<'a> Row<'a> {
    /// The 1-based line number where this row starts.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The raw cell text, trimmed; `""` for an absent column (`None`) or a null.
    pub fn get(&self, idx: Option<usize>) -> &'a str {
        let Some(i) = idx else { return "" };
        // ASCII trimming: export cells are padded with spaces or tabs, never with Unicode spaces,
        // and `trim_ascii` is several times cheaper per cell.
        let s = self.record.get(i).unwrap_or("").trim_ascii();
        if self.null_literal && s == "NULL" {
            ""
        } else {
            s
        }
    }

    /// The cell as text, `None` when empty.
    pub fn text(&self, idx: Option<usize>) -> Option<Text> {
        let s = self.get(idx);
        if s.is_empty() {
            None
        } else {
            Some(Text::from(s))
        }
    }

    /// The column name of an index (for messages).
    pub fn column_name(&self, idx: usize) -> &str {
        self.headers.get(idx).map(String::as_str).unwrap_or("?")
    }

    /// An error about the cell at `idx`.
    pub fn error(&self, idx: usize, message: impl Into<String>) -> NormalizeError {
        NormalizeError::cell(
            self.file,
            self.line,
            self.column_name(idx),
            NormalizeErrorKind::InvalidValue(message.into()),
        )
    }

    /// An error about the row as a whole.
    pub fn row_error(&self, message: impl Into<String>) -> NormalizeError {
        NormalizeError::line(
            self.file,
            self.line,
            NormalizeErrorKind::InvalidValue(message.into()),
        )
    }

    /// An optional decimal: empty is `None`, anything non-numeric is an error.
    pub fn decimal(&self, idx: Option<usize>) -> Result<Option<Decimal>, NormalizeError> {
        let s = self.get(idx);
        if s.is_empty() {
            return Ok(None);
        }
        match parse_decimal(s) {
            Some(d) => Ok(Some(d)),
            None => Err(self.error(idx.unwrap_or(0), format!("`{s}` is not a number"))),
        }
    }

    /// A decimal the row must have.
    pub fn req_decimal(&self, idx: usize) -> Result<Decimal, NormalizeError> {
        self.decimal(Some(idx))?
            .ok_or_else(|| self.error(idx, "is empty but must hold a number"))
    }

    /// A decimal where empty means zero (cost columns of rows that have no such cost).
    pub fn decimal_or_zero(&self, idx: Option<usize>) -> Result<Decimal, NormalizeError> {
        Ok(self.decimal(idx)?.unwrap_or(Decimal::ZERO))
    }

    /// An optional timestamp.
    pub fn timestamp(&self, idx: Option<usize>) -> Result<Option<Timestamp>, NormalizeError> {
        let s = self.get(idx);
        if s.is_empty() {
            return Ok(None);
        }
        let i = idx.unwrap_or(usize::MAX);
        if let Some((_, _, t)) = self
            .ts_memo
            .borrow()
            .iter()
            .find(|(c, text, _)| *c == i && text == s)
        {
            return Ok(Some(*t));
        }
        match parse_timestamp(s) {
            Some(t) => {
                let mut memo = self.ts_memo.borrow_mut();
                match memo.iter_mut().find(|(c, _, _)| *c == i) {
                    Some(entry) => {
                        entry.1.clear();
                        entry.1.push_str(s);
                        entry.2 = t;
                    }
                    None => memo.push((i, s.to_string(), t)),
                }
                Ok(Some(t))
            }
            None => Err(self.error(
                idx.unwrap_or(0),
                format!("`{s}` is not a date or timestamp"),
            )),
        }
    }

    /// A timestamp the row must have.
    pub fn req_timestamp(&self, idx: usize) -> Result<Timestamp, NormalizeError> {
        self.timestamp(Some(idx))?
            .ok_or_else(|| self.error(idx, "is empty but must hold a date"))
    }

    /// A text cell the row must have.
    pub fn req_text(&self, idx: usize) -> Result<Text, NormalizeError> {
        self.text(Some(idx))
            .ok_or_else(|| self.error(idx, "is empty but is required"))
    }
}

/// Cell access shared by CSV rows and Parquet rows, so one mapping function serves both.
pub trait Cells {
    /// The cell text, trimmed; `""` when the column is absent or null.
    fn cell(&self, idx: Option<usize>) -> &str;
    /// An optional decimal (`None` when empty); non-numbers are errors naming the cell.
    fn decimal(&self, idx: Option<usize>) -> Result<Option<Decimal>, NormalizeError>;
    /// An optional timestamp; unparseable values are errors naming the cell.
    fn timestamp(&self, idx: Option<usize>) -> Result<Option<Timestamp>, NormalizeError>;
    /// An error about the cell at `idx`.
    fn error(&self, idx: usize, msg: String) -> NormalizeError;
}

impl Cells for Row<'_> {
    fn cell(&self, idx: Option<usize>) -> &str {
        self.get(idx)
    }
    fn decimal(&self, idx: Option<usize>) -> Result<Option<Decimal>, NormalizeError> {
        Row::decimal(self, idx)
    }
    fn timestamp(&self, idx: Option<usize>) -> Result<Option<Timestamp>, NormalizeError> {
        Row::timestamp(self, idx)
    }
    fn error(&self, idx: usize, msg: String) -> NormalizeError {
        Row::error(self, idx, msg)
    }
}
