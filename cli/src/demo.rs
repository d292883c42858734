//! `costkit demo`: the whole pipeline on bundled samples of every provider, with no cloud account.
//!
//! The samples are compiled into the binary, so the demo works from any directory: they are written
//! to `<dir>/inputs/`, loaded into a fresh store `<dir>/costkit.db`, and normalized to
//! `<dir>/focus.parquet` and `<dir>/focus.csv`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use costkit_core::aggregate::{top_per_currency, CostBasis, GroupBy};
use costkit_core::store::Filter;
use costkit_sqlite::SqliteStore;

use crate::commands::{load_into, render_table, summary_lines};

macro_rules! sample {
    ($dest:literal, $src:literal) => {
        (
            $dest,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../", $src)) as &[u8],
        )
    };
}

/// (path under inputs/, content). Attribution for every file is in samples/SOURCES.md.
const SAMPLES: &[(&str, &[u8])] = &[
    // AWS: a real anonymised legacy CUR, a generated one with every line item type, CUR 2.0, and a
    // Cost Explorer response (hand-written, two pages).
    sample!(
        "aws/cur-legacy-anonymous.csv",
        "samples/aws/cur-legacy/focus-converters_sample-anonymous-aws-export-dataset.csv"
    ),
    sample!(
        "aws/cur-legacy-generated.csv.gz",
        "tests/fixtures/aws/cur_legacy_3000.csv.gz"
    ),
    sample!(
        "aws/cost-explorer-service-account.json",
        "tests/fixtures/aws-ce/service-account-3days-2pages.json"
    ),
    // Azure: an EA actual + amortized pair (joined), an anonymised EA export in CAD, an MCA export.
    sample!(
        "azure/EA_ActualCost_Small.csv",
        "samples/azure/ea-actual/finops-toolkit_EA_ActualCost_Small.csv"
    ),
    sample!(
        "azure/EA_AmortizedCost_Small.csv",
        "samples/azure/ea-amortized/finops-toolkit_EA_AmortizedCost_Small.csv"
    ),
    sample!(
        "azure/ea-export-anonymous-cad.csv",
        "samples/azure/ea-export-generic/focus-converters_sample-anonymous-ea-export-dataset.csv"
    ),
    sample!(
        "azure/mca_ActualCost.csv",
        "tests/fixtures/azure/mca_ActualCost.csv"
    ),
    // Google Cloud: hand-written BigQuery billing exports (no public sample exists).
    sample!("gcp/standard.ndjson", "tests/fixtures/gcp/standard.ndjson"),
    sample!("gcp/detailed.csv", "tests/fixtures/gcp/detailed.csv"),
    // FOCUS 1.0 multi-provider sample data (FinOps Foundation).
    sample!(
        "focus/focus-1.0-sample-1000.csv",
        "samples/focus/focus-1.0-multi-provider/FOCUS-Sample-Data_focus_sample_1000.csv"
    ),
];

fn write_samples(dir: &Path) -> Result<Vec<PathBuf>> {
    let inputs = dir.join("inputs");
    if inputs.exists() {
        std::fs::remove_dir_all(&inputs)
            .with_context(|| format!("removing the previous demo inputs {}", inputs.display()))?;
    }
    let mut paths = Vec::new();
    for (dest, bytes) in SAMPLES {
        let p = dir.join("inputs").join(dest);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        paths.push(p);
    }
    Ok(paths)
}

/// Runs the demo in `dir`.
pub fn run(dir: &Path) -> Result<()> {
    let store_path = dir.join("costkit.db");
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", store_path.display()));
        if p.exists() {
            std::fs::remove_file(&p)
                .with_context(|| format!("removing the previous demo store {}", p.display()))?;
        }
    }
    let inputs = write_samples(dir)?;
    eprintln!(
        "costkit demo: {} bundled sample files -> {}",
        inputs.len(),
        dir.display()
    );
    let mut store = SqliteStore::open(&store_path)?;
    let parquet = dir.join("focus.parquet");
    let csv = dir.join("focus.csv");
    load_into(
        &mut store,
        &inputs,
        None,
        &[parquet.as_path(), csv.as_path()],
    )?;

    let all = Filter::default();
    for (title, by) in [
        ("Spend by provider", GroupBy::Provider),
        ("Spend by charge category", GroupBy::ChargeCategory),
        ("Top services per currency", GroupBy::Service),
    ] {
        let mut lines = summary_lines(&store, &by, &all, CostBasis::Billed)?;
        if matches!(by, GroupBy::Service) {
            lines = top_per_currency(lines, 5);
        }
        println!("\n{title} (billed and effective, all billing periods):");
        println!("{}", render_table(&lines, &by, CostBasis::Billed));
    }
    println!(
        "\nFOCUS 1.2 output: {} and {}",
        parquet.display(),
        csv.display()
    );
    println!(
        "Store: {}  (try: costkit summary --store {} --by service)",
        store_path.display(),
        store_path.display()
    );
    Ok(())
}
