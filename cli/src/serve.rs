//! `costkit serve`: the HTTP API (reports, FOCUS slices, dashboard) on 127.0.0.1 over the local store, and
//! `costkit key ...`: API key hashes and signed links for it.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use costkit_core::store::StoreError;
use costkit_http::{sign_path, ApiConfig, ApiKeyHash, Auth, OpenPerRequest, SigningKey};
use costkit_sqlite::SqliteStore;

/// Environment variable holding the signed-link key (never a flag: flags show in `ps`).
pub const SIGNING_KEY_ENV: &str = "COSTKIT_SIGNING_KEY";

/// Shortest signing key accepted, in bytes.
const MIN_SIGNING_KEY: usize = 32;

/// `costkit serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The SQLite store file.
    #[arg(long, env = "COSTKIT_STORE", default_value = "costkit.db")]
    store: PathBuf,

    /// Port on 127.0.0.1 (0 picks a free one). The server never listens on other interfaces.
    #[arg(long, default_value_t = 8080)]
    port: u16,

    /// SHA-256 hashes (hex) of the accepted API keys, from `costkit key hash`. Repeat the flag or
    /// separate with commas. Without any, every route but /healthz answers 401.
    #[arg(
        long = "api-key-hash",
        value_name = "HEX",
        env = "COSTKIT_API_KEY_HASHES",
        value_delimiter = ',',
        value_parser = parse_hash
    )]
    api_key_hashes: Vec<ApiKeyHash>,

    #[command(flatten)]
    settings: crate::report::ReportSettings,
}

/// `costkit key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Read an API key from standard input and print its SHA-256 hash (hex), the form
    /// `costkit serve --api-key-hash` and COSTKIT_API_KEY_HASHES take.
    Hash,
    /// Print a signed link to a path (e.g. /reports/2024-09.csv), valid for a while, made with the
    /// key in COSTKIT_SIGNING_KEY.
    Sign(SignArgs),
}

/// `costkit key sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The path and query to sign, e.g. `/reports/2024-09.csv` or `/reports/2024-09.json?provider=AWS`.
    path: String,

    /// How long the link works: N followed by s, m, h or d (`7d`, `12h`).
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    expires_in: i64,

    /// Prefix the link with this base URL (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    base_url: Option<String>,
}

fn parse_hash(s: &str) -> Result<ApiKeyHash, String> {
    s.parse::<ApiKeyHash>().map_err(|e| e.to_string())
}

fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}`: use a number followed by s, m, h or d, e.g. 7d");
    let s = s.trim();
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    if n <= 0 {
        return Err(bad());
    }
    n.checked_mul(secs).ok_or_else(bad)
}

fn signing_key_from_env() -> Result<Option<SigningKey>> {
    match std::env::var(SIGNING_KEY_ENV) {
        Ok(k) if k.len() >= MIN_SIGNING_KEY => Ok(Some(SigningKey::new(k.into_bytes()))),
        Ok(k) if k.is_empty() => Ok(None),
        Ok(_) => bail!(
            "{SIGNING_KEY_ENV} must be at least {MIN_SIGNING_KEY} characters (e.g. `openssl rand -hex 32`)"
        ),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => bail!("{SIGNING_KEY_ENV}: {e}"),
    }
}

/// Runs `costkit serve` until Ctrl-C.
pub fn run(args: ServeArgs) -> Result<()> {
    // Fail now, not on the first request, when the store is missing.
    crate::commands::open_store(&args.store)?;
    let (options, engines) = args.settings.load()?;
    let mut auth = Auth::api_keys(args.api_key_hashes.iter().copied());
    if let Some(k) = signing_key_from_env()? {
        auth = auth.with_signing_key(k);
    }
    if auth.is_closed() {
        eprintln!(
            "warning: no API key configured (--api-key-hash or COSTKIT_API_KEY_HASHES): every route but /healthz answers 401"
        );
    }
    let mut config = ApiConfig::new(auth);
    config.report = options;
    config.engines = engines;
    if let Some(dir) = &args.settings.focus_dir {
        // `settings.load` checked it is a directory.
        config.blobs = Some(Arc::new(costkit_core::local::DirBlobStore::new(dir)));
    }
    let path = args.store.clone();
    let store = Arc::new(OpenPerRequest::new(
        move || -> Result<SqliteStore, StoreError> { SqliteStore::open(&path) },
    ));
    let app = costkit_http::router(store, config);

    // One thread runs the sockets; reports are built on tokio's blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "costkit serve: listening on http://{addr} (store {})",
            args.store.display()
        );
        costkit_http::serve(listener, app, async {
            // If Ctrl-C cannot be watched the server runs until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
        .context("serving")?;
        eprintln!("costkit serve: stopped");
        Ok(())
    })
}

/// Runs a `costkit key` subcommand.
pub fn key(cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::Hash => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading the key from standard input")?;
            let key = input.trim();
            if key.is_empty() {
                bail!("no key on standard input (try: printf %s \"$KEY\" | costkit key hash)");
            }
            println!("{}", ApiKeyHash::of(key).to_hex());
            Ok(())
        }
        KeyCommand::Sign(a) => {
            let Some(k) = signing_key_from_env()? else {
                bail!("set {SIGNING_KEY_ENV} to the server's signing key");
            };
            if !a.path.starts_with('/') {
                bail!(
                    "`{}`: the path starts with / (e.g. /reports/2024-09.csv)",
                    a.path
                );
            }
            let expires = chrono::Utc::now().timestamp() + a.expires_in;
            let link = sign_path(&k, &a.path, expires);
            match a.base_url {
                Some(b) => println!("{}{link}", b.trim_end_matches('/')),
                None => println!("{link}"),
            }
            Ok(())
        }
    }
}
