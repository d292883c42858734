//! `costkit notify check|test` end to end: the example routing file, a broken one, and a test
//! finding sent through a webhook channel to a real local HTTP server, signed.

#![allow(clippy::unwrap_used)] // tests may unwrap (developers guide)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

fn costkit(args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_costkit"));
    c.args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[test]
fn check_lists_the_example_routes() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/notify.example.yaml");
    let out = costkit(
        &["notify", "check", "--routes", example.to_str().unwrap()],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("6 channels, 6 routes, valid"), "{text}");
    assert!(
        text.contains("finops-teams <- all kinds from warning, daily digest"),
        "{text}"
    );
}

#[test]
fn check_names_the_line_of_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notify.yaml");
    std::fs::write(
        &f,
        "channels:\n  - name: a\n    type: sns\nroutes:\n  - channel: a\n    min_severity: loud\n",
    )
    .unwrap();
    let out = costkit(&["notify", "check", "--routes", f.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("notify.yaml:6") && err.contains("min_severity"),
        "{err}"
    );
}

/// Answers one HTTP request with 200 and returns its head and body.
fn one_request(listener: TcpListener) -> std::thread::JoinHandle<(String, Vec<u8>)> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0);
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let mut s = stream;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .unwrap();
        (head, body)
    })
}

#[test]
fn test_sends_a_signed_finding_through_a_webhook() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = one_request(listener);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notify.yaml");
    std::fs::write(
        &f,
        format!("channels:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:{port}/in\n    signing_secret: {{env: COSTKIT_TEST_HOOK_KEY}}\nroutes:\n  - channel: hook\n"),
    )
    .unwrap();
    let out = costkit(
        &[
            "notify",
            "test",
            "--routes",
            f.to_str().unwrap(),
            "--channel",
            "hook",
        ],
        &[("COSTKIT_TEST_HOOK_KEY", "cli-secret")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent a test finding to `hook`"));
    let (head, body) = server.join().unwrap();
    let header = |n: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(n).then(|| v.trim().to_string())
            })
            .unwrap()
    };
    costkit_core::notify::webhook::verify(
        b"cli-secret",
        &header("x-costkit-timestamp"),
        &header("x-costkit-signature"),
        &body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["finding"]["amount"], "123.45");
    // Without the secret in the environment: a clear error naming the variable.
    let out = costkit(
        &[
            "notify",
            "test",
            "--routes",
            f.to_str().unwrap(),
            "--channel",
            "hook",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("COSTKIT_TEST_HOOK_KEY is not set"));
}
