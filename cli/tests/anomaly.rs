//! `costkit anomaly detect`: the machine CSV contract, run through the real binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn costkit(args: &[&str], cwd: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_costkit"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run costkit");
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

/// 120 days of weekday-heavy spend with a deterministic wiggle, a spike on day 80 and a gap.
fn daily_csv(days: usize) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2024, 3, 4).expect("date");
    let mut s = String::from("date,value\n");
    for t in 0..days {
        if t == 50 {
            continue; // a missing day
        }
        let weekday = if t % 7 >= 5 { 0.6 } else { 1.0 };
        let wiggle = 1.0 + 0.04 * ((t * 7919 % 13) as f64 / 6.0 - 1.0);
        let mut v = 1000.0 * weekday * wiggle;
        if t == 80 {
            v *= 3.0;
        }
        let d = start + chrono::Duration::days(t as i64);
        s.push_str(&format!("{d},{v:.2}\n"));
    }
    s
}

fn rows(out: &Output) -> Vec<(String, String, f64)> {
    let text = String::from_utf8(out.stdout.clone()).expect("utf8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("date,is_anomaly,score"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 3, "{l}");
            let score: f64 = f[2].parse().expect("score");
            assert!((0.0..=1.0).contains(&score), "{l}");
            assert!(f[1] == "0" || f[1] == "1", "{l}");
            (f[0].to_string(), f[1].to_string(), score)
        })
        .collect()
}

#[test]
fn one_row_per_input_row_dates_echoed_spike_flagged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = daily_csv(120);
    std::fs::write(dir.path().join("s.csv"), &csv).expect("write");
    let o = costkit(&["anomaly", "detect", "--input", "s.csv"], dir.path(), None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = rows(&o);
    let input_dates: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().expect("date"))
        .collect();
    assert_eq!(r.len(), input_dates.len());
    assert!(r.iter().zip(&input_dates).all(|(a, b)| a.0 == *b));
    let flagged: Vec<&str> = r
        .iter()
        .filter(|x| x.1 == "1")
        .map(|x| x.0.as_str())
        .collect();
    assert_eq!(
        flagged,
        vec!["2024-05-23"],
        "the spike (day 80) and nothing else"
    );
    let spike = r.iter().find(|x| x.0 == "2024-05-23").expect("row");
    assert!(spike.2 > 0.9999);

    // Standard input gives the same answer.
    let o2 = costkit(
        &["anomaly", "detect", "--input", "-"],
        dir.path(),
        Some(&csv),
    );
    assert!(o2.status.success());
    assert_eq!(o.stdout, o2.stdout);
}

#[test]
fn appending_rows_never_changes_earlier_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let full = daily_csv(120);
    let o = costkit(
        &["anomaly", "detect", "--input", "-"],
        dir.path(),
        Some(&full),
    );
    let all = rows(&o);
    for keep in [40, 81, 100] {
        let prefix: String = full
            .lines()
            .take(keep + 1)
            .map(|l| format!("{l}\n"))
            .collect();
        let o = costkit(
            &["anomaly", "detect", "--input", "-"],
            dir.path(),
            Some(&prefix),
        );
        assert!(o.status.success());
        assert_eq!(rows(&o), all[..keep].to_vec(), "prefix of {keep} rows");
    }
}

#[test]
fn hourly_input_keeps_its_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = String::from("date,value\n");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
        .expect("date")
        .and_hms_opt(0, 0, 0)
        .expect("time");
    for h in 0..24 * 21 {
        let v = 50.0 + 30.0 * (((h % 24) as f64) / 24.0 * std::f64::consts::TAU).sin();
        let v = if h == 24 * 18 + 5 { v * 5.0 } else { v };
        let t = start + chrono::Duration::hours(h);
        csv.push_str(&format!("{},{v:.3}\n", t.format("%Y-%m-%d %H:%M:%S")));
    }
    let o = costkit(
        &["anomaly", "detect", "--input", "-"],
        dir.path(),
        Some(&csv),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = rows(&o);
    assert_eq!(r.len(), 24 * 21);
    assert_eq!(r[0].0, "2024-01-01 00:00:00");
    let flagged: Vec<&str> = r
        .iter()
        .filter(|x| x.1 == "1")
        .map(|x| x.0.as_str())
        .collect();
    assert_eq!(flagged, vec!["2024-01-19 05:00:00"]);
}

#[test]
fn bad_input_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("bad.csv"),
        "date,value\n2024-01-01,1\n2024-01-02,twelve\n",
    )
    .expect("write");
    let o = costkit(
        &["anomaly", "detect", "--input", "bad.csv"],
        dir.path(),
        None,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.csv:3: value: `twelve` is not a number"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "nothing written on error");
    let o = costkit(
        &["anomaly", "detect", "--input", "missing.csv"],
        dir.path(),
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.csv"));
}
