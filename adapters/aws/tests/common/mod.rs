//! Shared test helpers: the moto endpoint, a runtime, unique names, and a scripted HTTP server
//! (a real local endpoint the real SDK talks to) for faults moto cannot produce.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use costkit_aws::{AwsClients, AwsSettings};

/// The moto server the tests run against. Fails (never skips) when it is not configured: these
/// tests are the AWS adapter's proof, and a silent skip would hide that nothing was tested.
pub fn moto_endpoint() -> String {
    match std::env::var("COSTKIT_MOTO_ENDPOINT") {
        Ok(e) if !e.trim().is_empty() => e.trim().trim_end_matches('/').to_string(),
        _ => panic!(
            "COSTKIT_MOTO_ENDPOINT is not set: these tests need a moto server. Run \
             `scripts/moto.sh start && eval \"$(scripts/moto.sh env)\"` (or scripts/test.sh, which does it)"
        ),
    }
}

/// A multi-thread runtime (the store's synchronous methods block on its handle from the test
/// thread, which is not one of its workers).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Clients pointed at moto.
pub fn moto_clients() -> AwsClients {
    AwsClients::new(AwsSettings::emulator(&moto_endpoint()))
}

/// A name no other test (or earlier run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos:x}-{:x}",
        std::process::id(),
        fastrand::u32(..)
    )
}

/// POSTs JSON to the emulator's own API (moto's `/moto-api/...`), returning status and body.
pub fn post_json(endpoint: &str, path: &str, body: &str) -> (u16, String) {
    let hostport = endpoint
        .strip_prefix("http://")
        .expect("http endpoint")
        .trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).expect("connect to moto");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// One canned HTTP response.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// A request the scripted server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub target: Option<String>,
    pub body: String,
}

/// A real HTTP/1.1 server on loopback that answers each request with the next scripted reply
/// (the last one repeats) and records what it was sent.
pub struct ScriptedServer {
    pub endpoint: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl ScriptedServer {
    pub fn start(replies: Vec<Reply>) -> ScriptedServer {
        assert!(!replies.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let mut n = 0usize;
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let reply = replies[n.min(replies.len() - 1)].clone();
                n += 1;
                if let Some(req) = read_request(&conn) {
                    log.lock().expect("log").push(req);
                }
                let mut conn = conn;
                let _ = write!(
                    conn,
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nx-amzn-RequestId: test-{n}\r\nConnection: close\r\n\r\n{}",
                    reply.status,
                    reply.content_type,
                    reply.body.len(),
                    reply.body
                );
                let _ = conn.flush();
            }
        });
        ScriptedServer { endpoint, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

fn read_request(conn: &TcpStream) -> Option<Seen> {
    let mut r = BufReader::new(conn);
    let mut len = 0usize;
    let mut target = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                len = v.trim().parse().ok()?;
            } else if k == "x-amz-target" {
                target = Some(v.trim().to_string());
            }
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    Some(Seen {
        target,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
