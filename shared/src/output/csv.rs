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
    scratch: String,
}

impl CsvSink {
    /// Starts a CSV file and writes the header.
    pub fn new(
        file: File,
        path: &Path,
        columns: OutputColumns,
        gzip: bool,
    ) -> Result<CsvSink, OutputError> {
        let buf = BufWriter::with_capacity(256 * 1024, file);
        let out = if gzip {
            Out::Gzip(Box::new(GzEncoder::new(buf, Compression::default())))
        } else {
            Out::Plain(buf)
        };
        let mut writer = csv::Writer::from_writer(out);
        writer
            .write_record(columns.names())
            .map_err(|e| write_err(path, e))?;
        Ok(CsvSink {
            writer,
            columns,
            path: path.to_path_buf(),
            rows: 0,
            scratch: String::new(),
        })
    }
}

impl FocusSink for CsvSink {
    fn write(&mut self, r: &FocusRecord) -> Result<(), OutputError> {
        let path = &self.path;
        for c in &self.columns.focus {
            let v = r.cell_ref(*c);
            let v = v.as_deref().unwrap_or("");
            // CSV carries no types: the FOCUS validator (polars) infers a column whose values are
            // all whole numbers ("8760") as an integer and fails its Decimal type rule, so metrics
            // always carry a decimal point. "8760.0" is the same number in FOCUS Numeric Format.
            let field = if is_decimal(*c) && !v.is_empty() && !v.contains(['.', 'e', 'E']) {
                self.scratch.clear();
                self.scratch.push_str(v);
                self.scratch.push_str(".0");
                self.scratch.as_str()
            } else {
                v
            };
            self.writer
                .write_field(field)
                .map_err(|e| write_err(path, e))?;
        }
        for e in &self.columns.extensions {
            self.writer
                .write_field(r.extension(e).unwrap_or(""))
                .map_err(|e| write_err(path, e))?;
        }
        self.writer
            .write_record(std::iter::empty::<&[u8]>())
            .map_err(|e| write_err(path, e))?;
        self.rows += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64, OutputError> {
        let path = self.path.clone();
        let inner = self
            .writer
            .into_inner()
            .map_err(|e| write_err(&path, e.error()))?;
        inner.finish().map_err(|e| write_err(&path, e))?;
        Ok(self.rows)
    }
}
