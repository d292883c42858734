//! `costkit deps` end to end on the dependency fixture set.

use std::path::Path;
use std::process::{Command, Output};

fn costkit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run costkit")
}

fn fixtures() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/deps"
    ))
}

const ARGS: &[&str] = &[
    "deps",
    "focus.csv",
    "--inventory",
    "aws-config-snapshot.json",
    "--inventory",
    "azure-resource-graph.json",
    "--inventory",
    "gcp-assets.ndjson",
    "--inventory",
    "edges.csv",
];

#[test]
fn json_svg_and_table_agree_on_the_roll_up() {
    let out = costkit(&[ARGS, &["--format", "json"]].concat(), fixtures());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let dec = |v: &serde_json::Value| {
        rust_decimal::Decimal::from_str_exact(v.as_str().expect("exact decimal string"))
            .expect("decimal")
    };
    assert_eq!(dec(&v["totals"]["total"]["USD"]), dec(&"425.34".into()));
    assert_eq!(dec(&v["totals"]["resources"]["USD"]), dec(&"413".into()));
    let shop = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["id"] == "app=shop")
        .expect("app=shop");
    assert_eq!(dec(&shop["rolled_up"]["USD"]), dec(&"268".into()));
    let nodes = v["nodes"].as_array().expect("nodes").len();

    let dir = tempfile::tempdir().expect("dir");
    let svg = dir.path().join("deps.svg");
    let out = costkit(
        &[
            ARGS,
            &["--format", "svg", "-o", svg.to_str().expect("path")],
        ]
        .concat(),
        fixtures(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&svg).expect("svg");
    assert!(text.contains("<svg "));
    assert_eq!(text.matches("data-node=\"").count(), nodes);

    let out = costkit(ARGS, fixtures());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("total 425.34 USD"), "{table}");
}

#[test]
fn a_bad_inventory_names_the_file_and_line() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("edges.csv"), "from,to\na,b\nc,\n").expect("write");
    std::fs::copy(fixtures().join("focus.csv"), dir.path().join("focus.csv")).expect("copy");
    let out = costkit(
        &["deps", "focus.csv", "--inventory", "edges.csv"],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("edges.csv:3: column `to`: empty"), "{err}");
}

#[test]
fn root_narrows_the_graph_and_big_svgs_are_refused() {
    let out = costkit(
        &[ARGS, &["--format", "json", "--root", "i-0web1"]].concat(),
        fixtures(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut ids: Vec<&str> = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "eni-0web1",
            "i-0web1",
            "snap-0old",
            "vol-0shared",
            "vol-0web1"
        ]
    );
    let out = costkit(
        &[ARGS, &["--format", "svg", "--max-svg-nodes", "5"]].concat(),
        fixtures(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than --max-svg-nodes 5"));
    let out = costkit(&[ARGS, &["--root", "nope"]].concat(), fixtures());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--root nope: no such node"));
}
