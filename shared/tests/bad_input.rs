//! Bad input through the library's front door (`plan` + `Job::open` + iterating): every failure
//! names the file, the line and the column where it applies, and no record follows an error.
//!
//! Broken files are made in the test from the real FOCUS sample (so they stay realistic), except the
//! non-cost exports, which live in `tests/fixtures/bad/`.

use std::io::Write;
use std::path::{Path, PathBuf};

use costkit_core::input::Progress;
use costkit_core::normalize::{plan, Dialect};
use costkit_core::{FocusRecord, NormalizeError, NormalizeErrorKind};
use flate2::write::GzEncoder;
use flate2::Compression;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

const FOCUS_SAMPLE: &str =
    "samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv";

/// A valid FOCUS file: the header and the first 900 rows of the FOCUS sample (its rows 926 and
/// later include null ContractedCost cells, which the FOCUS reader rightly refuses).
fn sample_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    for line in sample_lines() {
        out.extend(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The valid file's lines (the sample has no quoted line breaks: one row per line).
fn sample_lines() -> Vec<String> {
    let text = std::fs::read_to_string(repo(FOCUS_SAMPLE)).expect("read FOCUS sample");
    let lines: Vec<String> = text.lines().take(901).map(str::to_string).collect();
    assert_eq!(lines.len(), 901);
    lines
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// Where a run stopped.
#[derive(Debug)]
enum Failure {
    /// `plan` (sniffing and detection) refused the file.
    Plan(NormalizeError),
    /// `Job::open` refused it (header checks).
    Open(NormalizeError),
    /// Iterating failed after `records` good records; nothing came after the error.
    Row {
        records: usize,
        error: NormalizeError,
    },
    /// No error at all.
    None(Vec<FocusRecord>),
}

fn run(path: &Path, forced: Option<Dialect>) -> Failure {
    let jobs = match plan(&[path.to_path_buf()], forced) {
        Ok(j) => j,
        Err(e) => return Failure::Plan(e),
    };
    assert_eq!(jobs.len(), 1);
    let mut stream = match jobs[0].open(&Progress::default()) {
        Ok(s) => s,
        Err(e) => return Failure::Open(e),
    };
    let mut records = Vec::new();
    let mut error: Option<NormalizeError> = None;
    for item in stream.by_ref() {
        match item {
            Ok(r) => {
                assert!(
                    error.is_none(),
                    "a record was yielded after the error {error:?}"
                );
                records.push(r);
            }
            Err(e) => {
                assert!(error.is_none(), "a second error after {error:?}: {e:?}");
                error = Some(e);
            }
        }
    }
    // The stream stays finished.
    assert!(stream.next().is_none());
    match error {
        Some(error) => Failure::Row {
            records: records.len(),
            error,
        },
        None => Failure::None(records),
    }
}

fn name(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn truncated_gzip_is_an_io_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&sample_bytes()).expect("gzip");
    let gz = enc.finish().expect("gzip");
    let path = write(&dir, "focus-sample.csv.gz", &gz[..gz.len() * 2 / 3]);
    match run(&path, None) {
        Failure::Row { records, error } => {
            assert!(
                records > 0 && records < 900,
                "{records} records before the cut"
            );
            assert_eq!(error.file, name(&path));
            assert!(matches!(error.kind, NormalizeErrorKind::Io(_)), "{error}");
            // The cut is after the last complete row read.
            assert_eq!(error.line, Some(records as u64 + 2), "{error}");
            assert_eq!(error.column, None);
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn a_gzip_cut_anywhere_is_an_io_error_never_a_silent_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&sample_bytes()).expect("gzip");
    let gz = enc.finish().expect("gzip");
    // The whole stream reads cleanly, so every error below comes from the cut.
    let whole = write(&dir, "whole.csv.gz", &gz);
    match run(&whole, None) {
        Failure::None(records) => assert_eq!(records.len(), 900),
        other => panic!("the uncut file must read cleanly: {other:?}"),
    }
    // Inside the header, early in the data, and in the 8-byte CRC/size trailer after all the data.
    for cut in [12, 400, gz.len() - 8, gz.len() - 3] {
        let path = write(&dir, &format!("cut-{cut}.csv.gz"), &gz[..cut]);
        let error = match run(&path, None) {
            Failure::Plan(e) | Failure::Open(e) => e,
            Failure::Row { error, .. } => error,
            Failure::None(records) => {
                panic!("cut at {cut}: {} records and no error", records.len())
            }
        };
        assert_eq!(error.file, name(&path), "cut at {cut}");
        assert!(
            matches!(error.kind, NormalizeErrorKind::Io(_)),
            "cut at {cut}: {error}"
        );
    }
}

#[test]
fn truncated_gzip_of_a_cost_explorer_response_is_an_io_error_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = std::fs::read(repo(
        "tests/fixtures/aws-ce/service-account-3days-2pages.json",
    ))
    .expect("fixture");
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&raw).expect("gzip");
    let gz = enc.finish().expect("gzip");
    let path = write(&dir, "ce.json.gz", &gz[..gz.len() - 12]);
    match run(&path, None) {
        Failure::Row { error, .. } | Failure::Open(error) | Failure::Plan(error) => {
            assert_eq!(error.file, name(&path));
            assert!(matches!(error.kind, NormalizeErrorKind::Io(_)), "{error}");
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn a_semicolon_separated_copy_is_refused_with_a_delimiter_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut reader = csv::Reader::from_path(repo(FOCUS_SAMPLE)).expect("sample");
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    writer
        .write_record(reader.headers().expect("header"))
        .expect("write");
    for rec in reader.records() {
        writer.write_record(&rec.expect("row")).expect("write");
    }
    let path = write(
        &dir,
        "focus-semicolon.csv",
        &writer.into_inner().expect("flush"),
    );
    match run(&path, None) {
        Failure::Plan(e) => {
            assert_eq!(e.file, name(&path));
            assert_eq!(e.line, Some(1));
            assert_eq!(e.column, None);
            assert!(
                matches!(e.kind, NormalizeErrorKind::UnknownDialect(ref m) if m.contains("semicolon")),
                "{e}"
            );
        }
        other => panic!("expected a detection error, got {other:?}"),
    }
}

/// The sample without one column.
fn without_column(column: &str) -> Vec<u8> {
    let mut reader = csv::Reader::from_path(repo(FOCUS_SAMPLE)).expect("sample");
    let headers = reader.headers().expect("header").clone();
    let drop = headers
        .iter()
        .position(|h| h == column)
        .expect("column present");
    let keep = |r: &csv::StringRecord| -> Vec<String> {
        r.iter()
            .enumerate()
            .filter(|(i, _)| *i != drop)
            .map(|(_, v)| v.to_string())
            .collect()
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(keep(&headers)).expect("write");
    for rec in reader.records() {
        writer
            .write_record(keep(&rec.expect("row")))
            .expect("write");
    }
    writer.into_inner().expect("flush")
}

#[test]
fn a_focus_file_without_billed_cost_names_the_missing_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "focus-no-billedcost.csv",
        &without_column("BilledCost"),
    );
    for forced in [None, Some(Dialect::Focus)] {
        match run(&path, forced) {
            Failure::Open(e) => {
                assert_eq!(e.file, name(&path));
                assert_eq!(e.line, Some(1));
                assert_eq!(e.column.as_deref(), Some("BilledCost"));
                assert_eq!(e.kind, NormalizeErrorKind::MissingColumn);
            }
            other => panic!("forced {forced:?}: expected a missing column, got {other:?}"),
        }
    }
}

/// The sample with line `line` (1-based; 1 is the header) replaced by `f(line)`.
fn with_line(line: usize, f: impl Fn(&str) -> Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, l) in sample_lines().iter().enumerate() {
        if i + 1 == line {
            out.extend(f(l));
        } else {
            out.extend(l.as_bytes());
        }
        out.push(b'\n');
    }
    out
}

#[test]
fn a_non_numeric_billed_cost_names_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    // BilledCost is the second column and unquoted in this sample.
    let bytes = with_line(11, |l| {
        let (first, rest) = l.split_once(',').expect("fields");
        let (_, rest) = rest.split_once(',').expect("fields");
        format!("{first},\"12,50 USD\",{rest}").into_bytes()
    });
    let path = write(&dir, "focus-bad-cost.csv", &bytes);
    match run(&path, None) {
        Failure::Row { records, error } => {
            assert_eq!(records, 9, "rows 2..=10 before the bad one");
            assert_eq!(error.file, name(&path));
            assert_eq!(error.line, Some(11));
            assert_eq!(error.column.as_deref(), Some("BilledCost"));
            assert_eq!(
                error.kind,
                NormalizeErrorKind::InvalidValue("`12,50 USD` is not a number".into())
            );
        }
        other => panic!("expected a cell error, got {other:?}"),
    }
}

#[test]
fn a_csv_that_is_no_billing_export_is_an_unknown_dialect() {
    let path = repo("tests/fixtures/bad/not-billing-inventory.csv");
    match run(&path, None) {
        Failure::Plan(e) => {
            assert_eq!(e.file, name(&path));
            assert_eq!(e.line, Some(1));
            assert_eq!(e.column, None);
            assert!(
                matches!(e.kind, NormalizeErrorKind::UnknownDialect(ref m) if m.contains("hostname")),
                "{e}"
            );
        }
        other => panic!("expected a detection error, got {other:?}"),
    }
}

#[test]
fn json_that_is_no_billing_export_is_an_unknown_dialect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "settings.json", br#"{"theme": "dark", "retries": 3}"#);
    match run(&path, None) {
        Failure::Plan(e) => {
            assert_eq!(e.file, name(&path));
            assert_eq!(e.line, None);
            assert!(
                matches!(e.kind, NormalizeErrorKind::UnknownDialect(_)),
                "{e}"
            );
        }
        other => panic!("expected a detection error, got {other:?}"),
    }
}

#[test]
fn an_empty_file_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "empty.csv", b"");
    for forced in [None, Some(Dialect::Focus)] {
        match run(&path, forced) {
            Failure::Plan(e) => {
                assert_eq!(e.file, name(&path));
                assert_eq!(e.line, None);
                assert_eq!(e.column, None);
                assert_eq!(e.kind, NormalizeErrorKind::Empty);
            }
            other => panic!("forced {forced:?}: expected Empty, got {other:?}"),
        }
    }
}

#[test]
fn the_same_file_twice_in_one_run_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write(&dir, "a.csv", &sample_bytes());
    let copy = write(&dir, "copy-of-a.csv", &sample_bytes());
    for inputs in [vec![a.clone(), a.clone()], vec![a.clone(), copy.clone()]] {
        let e = plan(&inputs, None).expect_err("duplicate input accepted");
        assert_eq!(e.file, name(&inputs[1]));
        assert!(
            e.to_string().contains("counted twice")
                || e.to_string().contains("count the same costs twice"),
            "{e}"
        );
    }
}

#[test]
fn a_file_of_blank_lines_is_empty_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "blank.csv", b"\n  \r\n\n");
    match run(&path, None) {
        Failure::Plan(e) => {
            assert_eq!(e.file, name(&path));
            assert_eq!(e.kind, NormalizeErrorKind::Empty);
        }
        other => panic!("expected Empty, got {other:?}"),
    }
}

#[test]
fn a_header_only_file_is_zero_records_and_no_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let header = format!("{}\n", sample_lines()[0]);
    let path = write(&dir, "focus-header-only.csv", header.as_bytes());
    match run(&path, None) {
        Failure::None(records) => assert!(records.is_empty()),
        other => panic!("expected no error, got {other:?}"),
    }
}

#[test]
fn reservation_recommendations_are_not_cost_exports() {
    for fixture in [
        "tests/fixtures/bad/aws-ri-purchase-recommendations.csv",
        "tests/fixtures/bad/azure-reservation-recommendations.csv",
    ] {
        let path = repo(fixture);
        match run(&path, None) {
            Failure::Plan(e) => {
                assert_eq!(e.file, name(&path));
                assert_eq!(e.line, Some(1));
                assert_eq!(e.column, None);
                assert!(
                    matches!(e.kind, NormalizeErrorKind::NotACostExport(ref m) if m.contains("recommendation")),
                    "{e}"
                );
            }
            other => panic!("{fixture}: expected NotACostExport, got {other:?}"),
        }
    }
}

#[test]
fn a_row_with_too_many_fields_names_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = with_line(21, |l| format!("{l},\"stray\"").into_bytes());
    let path = write(&dir, "focus-extra-field.csv", &bytes);
    match run(&path, None) {
        Failure::Row { records, error } => {
            assert_eq!(records, 19);
            assert_eq!(error.file, name(&path));
            assert_eq!(error.line, Some(21));
            assert_eq!(error.column, None);
            assert!(
                matches!(error.kind, NormalizeErrorKind::RowShape(ref m) if m.contains("45 fields") && m.contains("44")),
                "{error}"
            );
        }
        other => panic!("expected a row shape error, got {other:?}"),
    }
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Latin-1 bytes ("N\xE9", not UTF-8) at the start of the SubAccountName cell.
    let bytes = with_line(31, |l| {
        let at = l.rfind("\",").expect("quoted cells");
        let head = &l[..at];
        let tail = &l[at..];
        let name_start = head.rfind('"').expect("opening quote") + 1;
        let mut out = head.as_bytes()[..name_start].to_vec();
        out.extend(b"N\xE9");
        out.extend(&head.as_bytes()[name_start..]);
        out.extend(tail.as_bytes());
        out
    });
    let path = write(&dir, "focus-latin1.csv", &bytes);
    let columns: Vec<String> = sample_lines()[0]
        .split(',')
        .map(|h| h.trim_matches('"').to_string())
        .collect();
    assert_eq!(columns[42], "SubAccountName");
    match run(&path, None) {
        Failure::Row { records, error } => {
            assert_eq!(records, 29);
            assert_eq!(error.file, name(&path));
            assert_eq!(error.line, Some(31));
            assert_eq!(error.column.as_deref(), Some("SubAccountName"));
            assert!(
                matches!(error.kind, NormalizeErrorKind::InvalidValue(ref m) if m.contains("UTF-8")),
                "{error}"
            );
        }
        other => panic!("expected an encoding error, got {other:?}"),
    }
}
