//! `costkit serve` end to end: the binary starts on 127.0.0.1, answers /healthz, serves a report
//! to a key made with `costkit key hash` and to a link made with `costkit key sign`, and refuses
//! requests without a key.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "ck_cli_test_5d1f0b7c2e9a4b88";
const SIGNING: &str = "cli-test-signing-key-0123456789abcdef";

fn costkit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_costkit"));
    c.env_remove("COSTKIT_STORE")
        .env_remove("COSTKIT_API_KEY_HASHES")
        .env_remove("COSTKIT_SIGNING_KEY");
    c
}

fn fixture(rel: &str) -> String {
    let p: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
    p.display().to_string()
}

/// Kills the server when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `costkit serve --port 0` and returns it with the port it printed.
fn serve(dir: &Path, hashes: &str) -> (Running, u16) {
    let mut child = costkit()
        .args(["serve", "--store", "costkit.db", "--port", "0"])
        .current_dir(dir)
        .env("COSTKIT_API_KEY_HASHES", hashes)
        .env("COSTKIT_SIGNING_KEY", SIGNING)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn costkit serve");
    let stderr = child.stderr.take().expect("stderr");
    let running = Running(child);
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            let port: u16 = rest
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            // Keep draining stderr so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return (running, port);
        }
        seen.push(line);
    }
    panic!("costkit serve did not report a port; stderr: {seen:?}");
}

/// One HTTP/1.1 GET over a plain socket: (status line, head, body).
fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> (String, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let (head, body) = resp.split_once("\r\n\r\n").expect("head and body");
    let status = head.lines().next().unwrap_or("").to_string();
    (status, head.to_string(), body.to_string())
}

fn run_with_stdin(args: &[&str], input: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut c = costkit();
    c.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let o = child.wait_with_output().expect("wait");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).trim().to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[test]
fn key_hash_prints_the_sha256_of_stdin() {
    // The FIPS 180-2 test vector; the trailing newline of `echo` is not part of the key.
    let (ok, out, _) = run_with_stdin(&["key", "hash"], "abc\n", &[]);
    assert!(ok);
    assert_eq!(
        out,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let (ok, _, err) = run_with_stdin(&["key", "hash"], "\n", &[]);
    assert!(!ok);
    assert!(err.contains("no key on standard input"), "{err}");
}

#[test]
fn serve_answers_healthz_and_reports_with_a_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = costkit()
        .args([
            "load",
            "--store",
            "costkit.db",
            &fixture("tests/fixtures/cli/focus12_two_months.csv"),
        ])
        .current_dir(dir.path())
        .output()
        .expect("load");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let (ok, hash, _) = run_with_stdin(&["key", "hash"], KEY, &[]);
    assert!(ok);
    let (_server, port) = serve(dir.path(), &hash);

    let (status, _, body) = get(port, "/healthz", &[]);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    let (status, head, _) = get(port, "/reports/2024-09.json", &[]);
    assert_eq!(status, "HTTP/1.1 401 Unauthorized");
    assert!(head
        .to_ascii_lowercase()
        .contains("www-authenticate: bearer"));

    let (status, head, body) = get(port, "/reports/2024-09.csv", &[("x-api-key", KEY)]);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-disposition: attachment; filename=\"costkit-report-2024-09.csv\""));
    // 15 + 12.25 + 0.40 in September.
    assert!(body.contains("total,,,,USD,billed,27.65\n"), "{body}");

    let (ok, link, err) = run_with_stdin(
        &["key", "sign", "/reports/2024-08.json", "--expires-in", "1h"],
        "",
        &[("COSTKIT_SIGNING_KEY", SIGNING)],
    );
    assert!(ok, "{err}");
    let (status, _, body) = get(port, &link, &[]);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"label\": \"2024-08\""), "{body}");
    let tampered = link.replace("2024-08", "2024-09");
    let (status, _, _) = get(port, &tampered, &[]);
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
}

#[test]
fn serve_refuses_a_missing_store_and_bad_hashes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = costkit()
        .args(["serve", "--store", "missing.db", "--port", "0"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no store here"));
    let o = costkit()
        .args(["serve", "--api-key-hash", "abc", "--port", "0"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("64 hex digits"));
}
