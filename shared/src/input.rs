//! Opening billing files: gzip is read transparently (by magic bytes, not by name), a UTF-8 BOM is
//! dropped, and the content is sniffed as CSV, JSON or Parquet.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::error::{NormalizeError, NormalizeErrorKind};

/// What a file holds, judged from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Delimited text with a header row.
    Csv,
    /// A JSON document or newline-delimited JSON.
    Json,
    /// Apache Parquet (needs random access, so it is never gzip-wrapped).
    Parquet,
}

/// Counts raw (compressed) bytes read, for progress bars.
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn add(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A reader that counts the bytes it reads into a [`Progress`].
pub(crate) struct Counting<R> {
    inner: R,
    progress: Progress,
}

impl<R> Counting<R> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: R, progress: Progress) -> Self {
        Counting { inner, progress }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.add(n);
        Ok(n)
    }
}

/// An opened billing file, positioned after any BOM, decompressed.
pub struct Input {
    /// The path as given (used in every error message).
    pub path: PathBuf,
    /// The sniffed format.
    pub format: Format,
    /// True when the file was gzip-compressed.
    pub gzip: bool,
    /// Size on disk in bytes.
    pub size: u64,
    reader: Box<dyn BufRead + Send>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("path", &self.path)
            .field("format", &self.format)
            .finish()
    }
}

fn io_err(path: &Path, e: &io::Error) -> NormalizeError {
    NormalizeError::file(
        path.display().to_string(),
        NormalizeErrorKind::Io(e.to_string()),
    )
}

impl Input {
    /// Opens `path`, counting raw bytes into `progress`.
    pub fn open(path: &Path, progress: &Progress) -> Result<Input, NormalizeError> {
        let file = File::open(path).map_err(|e| io_err(path, &e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let counting = Counting {
            inner: file,
            progress: progress.clone(),
        };
        let mut raw = BufReader::with_capacity(256 * 1024, counting);
        let head = raw.fill_buf().map_err(|e| io_err(path, &e))?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let parquet = head.starts_with(b"PAR1");
        let mut reader: Box<dyn BufRead + Send> = if gzip {
            Box::new(BufReader::with_capacity(
                256 * 1024,
                MultiGzDecoder::new(raw),
            ))
        } else {
            Box::new(raw)
        };
        let head = reader.fill_buf().map_err(|e| io_err(path, &e))?;
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            reader.consume(3);
        }
        let head = reader.fill_buf().map_err(|e| io_err(path, &e))?;
        let first = head.iter().find(|b| !b.is_ascii_whitespace()).copied();
        let format = if parquet {
            Format::Parquet
        } else if matches!(first, Some(b'{') | Some(b'[')) {
            Format::Json
        } else {
            Format::Csv
        };
        Ok(Input {
            path: path.to_path_buf(),
            format,
            gzip,
            size,
            reader,
        })
    }

    /// The path for messages.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The decompressed content (not for Parquet: open the path with a Parquet reader instead).
    pub fn into_reader(self) -> Box<dyn BufRead + Send> {
        self.reader
    }

    /// Peeks at the first decompressed bytes without consuming them.
    pub fn peek(&mut self) -> Result<&[u8], NormalizeError> {
        let path = self.path.clone();
        self.reader.fill_buf().map_err(|e| io_err(&path, &e))
    }
}
