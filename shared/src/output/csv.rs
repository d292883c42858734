//! FOCUS CSV writer.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::parquet::is_decimal;
use super::{write_err, FocusSink, OutputColumns, OutputError};
use crate::focus::FocusRecord;

enum Out {
    Plain(BufWriter<File>),
    // Boxed: the encoder's state is large and would bloat the plain variant too.
    Gzip(Box<GzEncoder<BufWriter<File>>>),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Plain(w) => w.write(buf),
            Out::Gzip(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Plain(w) => w.flush(),
            Out::Gzip(w) => w.flush(),
        }
    }
}

impl Out {
    fn finish(self) -> std::io::Result<()> {
        let mut buf = match self {
            Out::Plain(w) => w,
            Out::Gzip(w) => w.finish()?,
        };
        buf.flush()?;
        buf.get_ref().sync_all()
    }
}

/// Writes FOCUS CSV; nulls are empty cells.
pub struct CsvSink {
    writer: csv::Writer<Out>,
    columns: OutputColumns,
    path: PathBuf,
    rows: u64,
    row: Vec<String>,
}

impl CsvSink {
    /// Starts a CSV file and writes the header.
    pub fn new(file: File, path: &Path, columns: OutputColumns, gzip: bool) -> Result<CsvSink, OutputError> {
        let buf = BufWriter::with_capacity(256 * 1024, file);
        let out = if gzip { Out::Gzip(Box::new(GzEncoder::new(buf, Compression::default()))) } else { Out::Plain(buf) };
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(columns.names()).map_err(|e| write_err(path, e))?;
        Ok(CsvSink { writer, columns, path: path.to_path_buf(), rows: 0, row: Vec::new() })
    }
}

impl FocusSink for CsvSink {
    fn write(&mut self, r: &FocusRecord) -> Result<(), OutputError> {
        self.row.clear();
        for c in &self.columns.focus {
            let mut v = r.cell(*c).unwrap_or_default();
            // CSV carries no types: the FOCUS validator (polars) infers a column whose values are
            // all whole numbers ("8760") as an integer and fails its Decimal type rule, so metrics
            // always carry a decimal point. "8760.0" is the same number in FOCUS Numeric Format.
            if is_decimal(*c) && !v.is_empty() && !v.contains(['.', 'e', 'E']) {
                v.push_str(".0");
            }
            self.row.push(v);
        }
        for e in &self.columns.extensions {
            self.row.push(r.extension(e).unwrap_or_default().to_string());
        }
        self.writer.write_record(&self.row).map_err(|e| write_err(&self.path, e))?;
        self.rows += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        let path = self.path.clone();
        let inner = self.writer.into_inner().map_err(|e| write_err(&path, e.error()))?;
        inner.finish().map_err(|e| write_err(&path, e))?;
        Ok(self.rows)
    }
}
