//! A CSV reader that knows its file name and line numbers, so every cell error can name both.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use csv::{Reader, ReaderBuilder, StringRecord};
use rust_decimal::Decimal;

use crate::error::{NormalizeError, NormalizeErrorKind};
use crate::input::{Input, Progress};
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
    range: Option<RangeState>,
}

/// The last timestamp parsed per column: billing periods repeat on every row and charge periods in
/// long runs, so most timestamp cells are the text the previous row had.
type TimestampMemo = std::cell::RefCell<Vec<(usize, String, Timestamp)>>;

impl CsvInput {
    /// Reads the header. An empty file is an error; a header-only file is not (it yields no rows).
    pub fn new(input: Input) -> Result<Self, NormalizeError> {
        let file = input.name();
        let reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .buffer_capacity(256 * 1024)
            .from_reader(Box::new(input.into_reader()) as Box<dyn Read + Send>);
        Self::from_reader(file, reader)
    }

    fn from_reader(
        file: String,
        mut reader: Reader<Box<dyn Read + Send>>,
    ) -> Result<Self, NormalizeError> {
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
            range: None,
        })
    }

    /// Opens range `index` of a [`SplitPlan`]: the header is replayed from memory, then the file is
    /// read from the range's start. The reader stops where it lands exactly on a later split point
    /// (see [`RangeEnd`]); line numbers in its rows and errors are relative to its own stream until
    /// [`RangeEnd::line_delta`] is added.
    pub fn open_range(
        plan: &SplitPlan,
        index: usize,
        progress: &Progress,
    ) -> Result<Self, NormalizeError> {
        let file = plan.path.display().to_string();
        let io =
            |e: std::io::Error| NormalizeError::file(&file, NormalizeErrorKind::Io(e.to_string()));
        let start = plan.starts.get(index).copied().ok_or_else(|| {
            NormalizeError::file(&file, NormalizeErrorKind::Io("no such byte range".into()))
        })?;
        let mut f = std::fs::File::open(&plan.path).map_err(io)?;
        f.seek(SeekFrom::Start(start)).map_err(io)?;
        let body = crate::input::Counting::new(f, progress.clone());
        let stream = std::io::Cursor::new(Arc::clone(&plan.header)).chain(body);
        let reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .buffer_capacity(256 * 1024)
            .from_reader(Box::new(stream) as Box<dyn Read + Send>);
        let mut input = Self::from_reader(file, reader)?;
        input.range = Some(RangeState {
            index,
            start,
            header_len: plan.header.len() as u64,
            header_line: input.reader.position().line(),
            targets: plan.starts[index + 1..].to_vec(),
            next: 0,
            end: None,
        });
        Ok(input)
    }

    /// Where a range reader stopped; `None` for a reader of a whole file or before the range's end.
    pub fn range_end(&self) -> Option<RangeEnd> {
        self.range.as_ref().and_then(|r| r.end)
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
        if let Some(r) = self.range.as_mut() {
            // The reader's position is always the end of the last record (or of the header): a
            // split point equal to it is a record boundary of the sequential parse.
            let pos = self.reader.position();
            if r.at_split(pos.byte(), pos.line()) {
                return None;
            }
        }
        // StringRecord validates UTF-8 once per row; cells are then borrowed as &str for free.
        match self.reader.read_record(&mut self.record) {
            Ok(false) => {
                if let Some(r) = self.range.as_mut() {
                    if r.end.is_none() {
                        r.end = Some(RangeEnd {
                            landed_on: None,
                            line: self.reader.position().line(),
                            header_line: r.header_line,
                        });
                    }
                }
                None
            }
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

/// How a large plain CSV file is cut into byte ranges that separate threads parse.
///
/// Each range after the first starts right after a line break near an equal share of the file. A
/// line break inside a quoted field is not a record boundary, so a cut is only trusted once the
/// reader of the range before it ends a record exactly there (it "lands" on it; see
/// [`RangeEnd`]). When it does not, that reader simply reads on, and the ranges it passed over are
/// discarded: the result is always that of one sequential read.
#[derive(Clone, Debug)]
pub struct SplitPlan {
    path: PathBuf,
    /// The header record's bytes (after any BOM), replayed before every range.
    header: Arc<[u8]>,
    /// Absolute byte offset where each range starts; the first is the end of the header.
    starts: Vec<u64>,
}

impl SplitPlan {
    /// Plans `parts` ranges for `path` when it is a plain (not compressed) CSV file of at least
    /// `min_bytes` bytes; `None` when it should be read in one piece.
    pub fn new(
        path: &Path,
        parts: usize,
        min_bytes: u64,
    ) -> Result<Option<SplitPlan>, NormalizeError> {
        if parts < 2 {
            return Ok(None);
        }
        let input = Input::open(path, &Progress::default())?;
        if input.gzip || input.format != crate::input::Format::Csv || input.size < min_bytes.max(1)
        {
            return Ok(None);
        }
        let size = input.size;
        let file = input.name();
        let io =
            |e: std::io::Error| NormalizeError::file(&file, NormalizeErrorKind::Io(e.to_string()));
        let mut f = std::fs::File::open(path).map_err(io)?;
        let mut head = [0u8; 3];
        let bom = match f.read_exact(&mut head) {
            Ok(()) if head == [0xEF, 0xBB, 0xBF] => 3,
            _ => 0,
        };
        let csv = CsvInput::new(input)?;
        let header_len = csv.reader.position().byte();
        let header_end = bom + header_len;
        if header_end >= size {
            return Ok(None);
        }
        let mut header = vec![0u8; header_len as usize];
        f.seek(SeekFrom::Start(bom)).map_err(io)?;
        f.read_exact(&mut header).map_err(io)?;
        let mut starts = vec![header_end];
        let body = size - header_end;
        for i in 1..parts as u64 {
            let guess = header_end + body * i / parts as u64;
            if let Some(s) = boundary_after(&mut f, guess, size).map_err(io)? {
                if s > *starts.last().unwrap_or(&0) && s < size {
                    starts.push(s);
                }
            }
        }
        if starts.len() < 2 {
            return Ok(None);
        }
        Ok(Some(SplitPlan {
            path: path.to_path_buf(),
            header: Arc::from(header),
            starts,
        }))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of ranges.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Always false: a plan has at least two ranges.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

/// The first candidate record start after byte `from`: just past the next `\n`, or on that `\n`
/// when it ends a `\r\n` pair (the CSV reader ends a CRLF record after its `\r`, and a range
/// must start where a record ends). `None` when no line break is found within 1 MiB.
fn boundary_after(f: &mut std::fs::File, from: u64, size: u64) -> std::io::Result<Option<u64>> {
    let at = from.saturating_sub(1);
    f.seek(SeekFrom::Start(at))?;
    let mut buf = vec![0u8; (size - at).min(1 << 20) as usize];
    f.read_exact(&mut buf)?;
    // Index 0 is the byte before `from`, only looked at for a `\r`.
    Ok(buf.iter().skip(1).position(|&b| b == b'\n').map(|j| {
        let j = j + 1;
        if buf[j - 1] == b'\r' {
            at + j as u64
        } else {
            at + j as u64 + 1
        }
    }))
}

/// Where a range reader stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeEnd {
    /// The range whose start it landed on (an index into the plan), or `None` when it read to the
    /// end of the file.
    pub landed_on: Option<usize>,
    /// Its stream's line count there (relative to its own stream: header replay included).
    line: u64,
    /// Its stream's line count where the range's own bytes began.
    header_line: u64,
}

impl RangeEnd {
    /// Given the delta that turns this reader's line numbers into the file's, the delta for the
    /// reader of the range it landed on.
    pub fn next_line_delta(&self, delta: u64) -> u64 {
        (self.line + delta).saturating_sub(self.header_line)
    }
}

#[derive(Debug)]
struct RangeState {
    /// This range's index in its plan.
    index: usize,
    start: u64,
    header_len: u64,
    header_line: u64,
    /// Starts of the later ranges, absolute.
    targets: Vec<u64>,
    /// The next target not yet passed.
    next: usize,
    end: Option<RangeEnd>,
}

impl RangeState {
    /// True when the reader, at stream offset `byte` and line `line`, stands on a later range's
    /// start; remembers where.
    fn at_split(&mut self, byte: u64, line: u64) -> bool {
        if self.end.is_some() {
            return true;
        }
        let abs = byte + self.start - self.header_len;
        while let Some(&t) = self.targets.get(self.next) {
            if abs < t {
                return false;
            }
            if abs == t {
                self.end = Some(RangeEnd {
                    landed_on: Some(self.index + 1 + self.next),
                    line,
                    header_line: self.header_line,
                });
                return true;
            }
            // A record straddles this cut: the range it starts is not a record boundary.
            self.next += 1;
        }
        false
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
