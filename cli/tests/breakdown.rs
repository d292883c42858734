//! `costkit breakdown`: movers, trend and untagged spend on a loaded two-month FOCUS file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn costkit(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .env_remove("COSTKIT_STORE")
        .output()
        .expect("run costkit")
}

fn fixture() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/cli/focus12_two_months.csv")
        .display()
        .to_string()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn loaded() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    ok(&costkit(
        &["load", &fixture(), "--store", "s.db"],
        dir.path(),
    ));
    dir
}

#[test]
fn movers_compare_like_for_like_days() {
    let dir = loaded();
    let out = ok(&costkit(
        &["breakdown", "movers", "--store", "s.db", "--format", "csv"],
        dir.path(),
    ));
    // Sep 1-3 against Aug 1-3; the $1000 on Aug 20 is outside both windows.
    assert_eq!(
        out,
        "group,currency,previous,current,change,change_pct\n\
         Amazon Elastic Compute Cloud,USD,20,27.25,7.25,36.25\n\
         Amazon Simple Storage Service,USD,4.5,0.4,-4.1,-91.11\n"
    );
    let table = ok(&costkit(
        &["breakdown", "movers", "--store", "s.db"],
        dir.path(),
    ));
    assert!(
        table.contains("2024-09-01 .. 2024-09-03 against 2024-08-01 .. 2024-08-03"),
        "{table}"
    );
    assert!(table.contains("+36.2%"), "{table}");
    let by_tag = ok(&costkit(
        &[
            "breakdown",
            "movers",
            "--store",
            "s.db",
            "--by",
            "tag:team",
            "--format",
            "csv",
        ],
        dir.path(),
    ));
    assert!(
        by_tag.contains("web,USD,10,27.25,17.25,172.5\n"),
        "{by_tag}"
    );
    assert!(
        by_tag.contains("(untagged),USD,10,0.4,-9.6,-96\n"),
        "{by_tag}"
    );
}

#[test]
fn monthly_trend_adds_up_to_the_load() {
    let dir = loaded();
    let out = ok(&costkit(
        &[
            "breakdown",
            "trend",
            "--store",
            "s.db",
            "--period",
            "month",
            "--last",
            "2",
            "--as-of",
            "2024-09-30",
            "--format",
            "csv",
        ],
        dir.path(),
    ));
    assert!(
        out.contains("Amazon Elastic Compute Cloud,USD,2024-08-01,1020\n"),
        "{out}"
    );
    assert!(
        out.contains("Amazon Elastic Compute Cloud,USD,2024-09-01,27.25\n"),
        "{out}"
    );
    let total: rust_decimal::Decimal = out
        .lines()
        .skip(1)
        .map(|l| {
            l.rsplit(',')
                .next()
                .expect("cost")
                .parse::<rust_decimal::Decimal>()
                .expect("dec")
        })
        .sum();
    assert_eq!(total, "1052.15".parse().expect("dec"));
}

#[test]
fn untagged_spend_per_key() {
    let dir = loaded();
    let out = ok(&costkit(
        &[
            "breakdown",
            "untagged",
            "--store",
            "s.db",
            "--keys",
            "team,owner",
            "--format",
            "csv",
        ],
        dir.path(),
    ));
    assert_eq!(
        out,
        "tag_key,currency,total,tagged,untagged,untagged_pct\n\
         owner,USD,1052.15,0,1052.15,100\n\
         team,USD,1052.15,1041.75,10.4,0.99\n"
    );
    let missing = costkit(&["breakdown", "untagged", "--store", "none.db"], dir.path());
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("none.db: no store here"));
}
