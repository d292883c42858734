//! Converts billing files to FOCUS 1.2 Parquet (and/or CSV) with the core library alone, for the
//! validator harness (`scripts/validate-outputs.py`) until the CLI exists.
//!
//! ```text
//! cargo run -p costkit-core --example focus_convert -- [--format parquet|csv|both] OUT_DIR INPUT...
//! ```
//!
//! Each input becomes `OUT_DIR/<input file stem>.parquet` (and/or `.csv`). The source totals and
//! the normalizer's notes are printed per input; the first error stops the run with exit code 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use costkit_core::input::Progress;
use costkit_core::normalize::plan;
use costkit_core::output::{open_sink, OutputColumns, PendingFile};
use costkit_core::FocusRecord;

fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "out".into());
    let mut s = name.as_str();
    for ext in [".gz", ".csv", ".parquet", ".json"] {
        s = s.strip_suffix(ext).unwrap_or(s);
    }
    s.to_string()
}

fn convert(input: &Path, out_dir: &Path, formats: &[&str]) -> Result<(), String> {
    let jobs = plan(&[input.to_path_buf()], None).map_err(|e| e.to_string())?;
    for job in jobs {
        let progress = Progress::default();
        // The extension columns are known once the stream is open; records are read once and
        // written to every requested format.
        let mut stream = job.open(&progress).map_err(|e| e.to_string())?;
        let columns = OutputColumns::new(stream.extension_columns());
        let mut sinks = Vec::new();
        for fmt in formats {
            let target = out_dir.join(format!("{}.{fmt}", stem(input)));
            let pending = PendingFile::create(&target).map_err(|e| e.to_string())?;
            let sink = open_sink(&pending, columns.clone()).map_err(|e| e.to_string())?;
            sinks.push((pending, sink));
        }
        let mut rows = 0u64;
        for rec in stream.by_ref() {
            let rec: FocusRecord = rec.map_err(|e| e.to_string())?;
            for (_, sink) in sinks.iter_mut() {
                sink.write(&rec).map_err(|e| e.to_string())?;
            }
            rows += 1;
        }
        for (pending, sink) in sinks {
            sink.finish().map_err(|e| e.to_string())?;
            let path = pending.commit().map_err(|e| e.to_string())?;
            println!(
                "wrote {} ({rows} rows, dialect {})",
                path.display(),
                job.dialect
            );
        }
        let totals = stream.source_totals();
        for (cur, v) in &totals.billed.0 {
            println!("  billed {cur}: {}", v.normalize());
        }
        if let Some(eff) = &totals.effective {
            for (cur, v) in &eff.0 {
                println!("  effective {cur}: {}", v.normalize());
            }
        }
        for note in stream.notes() {
            println!("  note: {note}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut formats: Vec<&str> = vec!["parquet"];
    if let Some(i) = args.iter().position(|a| a == "--format") {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        formats = match value.as_str() {
            "parquet" => vec!["parquet"],
            "csv" => vec!["csv"],
            "both" => vec!["parquet", "csv"],
            other => {
                eprintln!("error: --format takes parquet, csv or both, not `{other}`");
                return ExitCode::from(2);
            }
        };
        args.drain(i..(i + 2).min(args.len()));
    }
    if args.len() < 2 {
        eprintln!("usage: focus_convert [--format parquet|csv|both] OUT_DIR INPUT...");
        return ExitCode::from(2);
    }
    let out_dir = PathBuf::from(&args[0]);
    for input in &args[1..] {
        if let Err(e) = convert(Path::new(input), &out_dir, &formats) {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
