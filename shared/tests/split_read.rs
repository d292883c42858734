//! Reading a large AWS CUR CSV as byte ranges on several threads (`load` without an output file)
//! must give exactly what one sequential read gives: the same aggregates, source totals, notes
//! and Savings Plan negation folding, and an error must name the same line.

use std::io::Read;
use std::path::{Path, PathBuf};

use costkit_core::aggregate::LoadBatch;
use costkit_core::input::Progress;
use costkit_core::normalize::plan;
use costkit_core::pipeline::{run_with, JobOutcome, Options, PipelineError};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Loads `path` reading it in `parts` ranges (1 = sequentially).
type Loaded = (LoadBatch, JobOutcome);

/// Edits one data row (its index from 0, the header, the cells).
type Edit<'a> = &'a dyn Fn(usize, &[String], &mut Vec<String>);

fn load(path: &Path, parts: usize) -> Result<Loaded, PipelineError> {
    let jobs = plan(&[path.to_path_buf()], None)?;
    let mut batch = LoadBatch::default();
    let mut outcomes = run_with(
        &jobs,
        &Progress::default(),
        None,
        Some(&mut batch),
        &mut || {},
        Options {
            parts,
            min_split_bytes: 1,
        },
    )?;
    assert_eq!(outcomes.len(), 1);
    Ok((batch, outcomes.remove(0)))
}

fn assert_same(label: &str, a: &Loaded, b: &Loaded) {
    assert_eq!(a.0.slices, b.0.slices, "{label}: aggregates");
    assert_eq!(a.0.records, b.0.records, "{label}: records");
    assert_eq!(a.0.billed, b.0.billed, "{label}: billed");
    assert_eq!(a.0.effective, b.0.effective, "{label}: effective");
    assert_eq!(a.1.records, b.1.records, "{label}: outcome records");
    assert_eq!(a.1.source, b.1.source, "{label}: source totals");
    assert_eq!(a.1.billed, b.1.billed, "{label}: outcome billed");
    assert_eq!(a.1.effective, b.1.effective, "{label}: outcome effective");
    assert_eq!(a.1.notes, b.1.notes, "{label}: notes");
}

/// The 3000-row generated legacy CUR fixture, decompressed (ranges need a plain file).
fn plain_3000(dir: &Path) -> PathBuf {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(repo("tests/fixtures/aws/cur_legacy_3000.csv.gz")).expect("test setup"),
    )
    .read_to_string(&mut text)
    .expect("test setup");
    let path = dir.join("cur_3000.csv");
    std::fs::write(&path, text).expect("test setup");
    path
}

/// Rewrites a CSV through the csv crate: `edit` may change each data row (index from 0), and the
/// rows end with `terminator`.
fn rewrite(src: &Path, dst: &Path, terminator: csv::Terminator, edit: Edit<'_>) {
    let mut r = csv::Reader::from_path(src).expect("test setup");
    let headers: Vec<String> = r
        .headers()
        .expect("test setup")
        .iter()
        .map(String::from)
        .collect();
    let mut w = csv::WriterBuilder::new()
        .terminator(terminator)
        .from_path(dst)
        .expect("test setup");
    w.write_record(&headers).expect("test setup");
    for (i, rec) in r.records().enumerate() {
        let mut row: Vec<String> = rec.expect("test setup").iter().map(String::from).collect();
        edit(i, &headers, &mut row);
        w.write_record(&row).expect("test setup");
    }
    w.flush().expect("test setup");
}

fn col(headers: &[String], name: &str) -> usize {
    headers.iter().position(|h| h == name).expect("test setup")
}

#[test]
fn ranges_of_the_generated_fixture_equal_a_sequential_read() {
    let dir = tempfile::tempdir().expect("test setup");
    let path = plain_3000(dir.path());
    let seq = load(&path, 1).expect("test setup");
    assert_eq!(seq.1.ranges, 1);
    assert!(seq
        .1
        .notes
        .iter()
        .any(|n| n.contains("SavingsPlanNegation")));
    for parts in [2, 3, 4, 7] {
        let par = load(&path, parts).expect("test setup");
        assert_eq!(par.1.ranges, parts, "every cut lands on a record boundary");
        assert_same(&format!("{parts} ranges"), &seq, &par);
    }
}

/// A gzip fixture decompressed into `dir` (ranges need a plain file).
fn gunzip(rel: &str, dir: &Path) -> PathBuf {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(repo(rel)).expect("test setup"))
        .read_to_string(&mut text)
        .expect("test setup");
    let name = Path::new(rel).file_stem().expect("test setup");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("test setup");
    path
}

#[test]
fn lean_range_records_aggregate_like_full_records_for_every_cur_input() {
    // Ranges map rows to lean records (no descriptions, resources, SKUs or extensions); a
    // sequential read maps full ones. Every AWS CUR CSV the repository has, legacy and CUR 2.0,
    // with fees, negations, refunds, credits and taxes, must aggregate the same either way.
    let dir = tempfile::tempdir().expect("test setup");
    let inputs = [
        repo("samples/aws/cur-legacy/focus-converters_sample-anonymous-aws-export-dataset.csv"),
        gunzip("tests/fixtures/aws/cur2_3000.csv.gz", dir.path()),
        repo("tests/fixtures/aws/refund_credit_tax.csv"),
        repo("tests/fixtures/aws/ri_sp_fees.csv"),
        repo("tests/fixtures/aws/sp_negation.csv"),
    ];
    for path in &inputs {
        let seq = load(path, 1).expect("test setup");
        assert!(seq.0.records > 0, "{}: has records", path.display());
        for parts in [2, 3] {
            let par = load(path, parts).expect("test setup");
            assert!(par.1.ranges > 1, "{}: split", path.display());
            assert_same(&format!("{} in {parts} ranges", path.display()), &seq, &par);
        }
    }
}

#[test]
fn savings_plan_negations_fold_across_ranges() {
    // 8 rows: covered usage and its negations end up in different ranges when cut this finely;
    // one Savings Plan cancels exactly and one leaves a 0.05 residual, as in a sequential read.
    let path = repo("tests/fixtures/aws/sp_negation.csv");
    let seq = load(&path, 1).expect("test setup");
    assert!(
        seq.1.notes.iter().any(|n| n.contains("did not cancel out")),
        "{:?}",
        seq.1.notes
    );
    for parts in 2..=8 {
        let par = load(&path, parts).expect("test setup");
        assert!(par.1.ranges > 1, "{parts}: split");
        assert_same(&format!("{parts} ranges"), &seq, &par);
    }
}

#[test]
fn quoted_line_breaks_and_crlf_still_equal_a_sequential_read() {
    let dir = tempfile::tempdir().expect("test setup");
    let plain = plain_3000(dir.path());
    // Every description spans three lines, so most cuts fall inside a quoted field: those ranges
    // are passed over and the result must not change.
    let multiline = dir.path().join("multiline.csv");
    rewrite(
        &plain,
        &multiline,
        csv::Terminator::Any(b'\n'),
        &|_, h, row| {
            let i = col(h, "lineItem/LineItemDescription");
            row[i] = format!("first\nsecond, \"quoted\"\n{}", row[i]);
        },
    );
    let seq = load(&multiline, 1).expect("test setup");
    let mut passed_over = 0;
    for parts in [2, 3, 5, 16] {
        let par = load(&multiline, parts).expect("test setup");
        passed_over += parts - par.1.ranges;
        assert_same(&format!("multiline, {parts} ranges"), &seq, &par);
    }
    assert!(passed_over > 0, "some cuts fell inside quoted fields");
    let crlf = dir.path().join("crlf.csv");
    rewrite(&plain, &crlf, csv::Terminator::CRLF, &|_, _, _| {});
    let seq = load(&crlf, 1).expect("test setup");
    for parts in [2, 3, 5] {
        let par = load(&crlf, parts).expect("test setup");
        assert_eq!(par.1.ranges, parts, "CRLF cuts land too");
        assert_same(&format!("crlf, {parts} ranges"), &seq, &par);
    }
    // A UTF-8 BOM shifts every byte offset by three.
    let bom = dir.path().join("bom.csv");
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend(std::fs::read(&plain).expect("test setup"));
    std::fs::write(&bom, bytes).expect("test setup");
    let seq_bom = load(&bom, 1).expect("test setup");
    for parts in [2, 3] {
        let par = load(&bom, parts).expect("test setup");
        assert_eq!(par.1.ranges, parts, "BOM: cuts land");
        assert_same(&format!("bom, {parts} ranges"), &seq_bom, &par);
    }
}

/// The error of a load (it must fail).
fn load_error(path: &Path, parts: usize) -> costkit_core::NormalizeError {
    match load(path, parts) {
        Err(PipelineError::Normalize(e)) => e,
        other => panic!("expected a normalize error, got {:?}", other.map(|o| o.1)),
    }
}

#[test]
fn an_error_in_a_later_range_names_the_right_line() {
    let dir = tempfile::tempdir().expect("test setup");
    let plain = plain_3000(dir.path());
    let bad_row = 2700; // data row index: line 2702 (the header is line 1)
    let corrupt = |lines_per_row: u64, name: &str, multiline: bool, term: csv::Terminator| {
        let path = dir.path().join(name);
        rewrite(&plain, &path, term, &|i, h, row| {
            if multiline {
                let d = col(h, "lineItem/LineItemDescription");
                row[d] = format!("a\n{}", row[d]);
            }
            if i == bad_row {
                row[col(h, "lineItem/UsageStartDate")] = "2024-09-31T25:00:00Z".into();
            }
        });
        (path, 2 + bad_row as u64 * lines_per_row)
    };
    for (path, line) in [
        corrupt(1, "bad.csv", false, csv::Terminator::Any(b'\n')),
        corrupt(2, "bad_multiline.csv", true, csv::Terminator::Any(b'\n')),
    ] {
        let seq = load_error(&path, 1);
        assert_eq!(seq.line, Some(line), "{seq}");
        assert_eq!(seq.column.as_deref(), Some("lineItem/UsageStartDate"));
        for parts in [2, 3, 4] {
            assert_eq!(load_error(&path, parts), seq, "{parts} ranges");
        }
    }
    // CRLF: whatever line the CSV reader reports sequentially, the ranges report the same.
    let (crlf, _) = corrupt(1, "bad_crlf.csv", false, csv::Terminator::CRLF);
    let seq = load_error(&crlf, 1);
    for parts in [2, 3, 4] {
        assert_eq!(load_error(&crlf, parts), seq, "crlf, {parts} ranges");
    }
}

#[test]
fn the_first_error_in_file_order_wins() {
    let dir = tempfile::tempdir().expect("test setup");
    let plain = plain_3000(dir.path());
    let path = dir.path().join("two_errors.csv");
    rewrite(&plain, &path, csv::Terminator::Any(b'\n'), &|i, h, row| {
        if i == 100 {
            row[col(h, "lineItem/UsageStartDate")] = "yesterday".into();
        }
        if i == 2900 {
            row[col(h, "lineItem/UsageEndDate")] = "n/a".into();
        }
    });
    let seq = load_error(&path, 1);
    assert_eq!(seq.line, Some(102));
    for parts in [2, 4] {
        assert_eq!(load_error(&path, parts), seq, "{parts} ranges");
    }
}
