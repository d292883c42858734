//! `costkit leaderboard` end to end with the documented example files.

use std::path::Path;
use std::process::{Command, Output};

fn costkit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run costkit")
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn the_documented_example_ranks_the_teams() {
    let out = costkit(
        &[
            "leaderboard",
            "--teams",
            "docs/teams.example.yaml",
            "--actions",
            "docs/actions.example.yaml",
            "tests/fixtures/leaderboard/focus.csv",
            "--format",
            "json",
        ],
        root(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let s = &v["section"];
    assert_eq!(s["as_of"], "2024-10-31");
    assert_eq!(s["standings"][0]["team"], "web");
    assert_eq!(s["standings"][0]["points"], 190);
    assert_eq!(s["standings"][1]["team"], "data");
    assert_eq!(s["standings"][1]["points"], 35);
    // vol-0web: 300 → 60 a month while the rest fell to 5/6: 250 expected, 190 saved.
    assert_eq!(s["actions"][0]["expected_monthly"], "250.00");
    assert_eq!(s["actions"][0]["verified_monthly_savings"], "190.00");
    assert_eq!(s["actions"][1]["verified_monthly_savings"], "35.45");
}

#[test]
fn an_unknown_team_names_the_line_and_field() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("actions.yaml"),
        "actions:\n  - id: a\n    resource: vol-1\n    done: 2024-10-01\n    team: mobile\n",
    )
    .expect("write");
    let teams = root().join("docs/teams.example.yaml");
    let focus = root().join("tests/fixtures/leaderboard/focus.csv");
    let out = costkit(
        &[
            "leaderboard",
            "--teams",
            teams.to_str().expect("path"),
            "--actions",
            "actions.yaml",
            focus.to_str().expect("path"),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("actions.yaml:5: actions[0].team: `mobile` is not a team"),
        "{err}"
    );
}
