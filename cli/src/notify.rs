//! `costkit notify check|test`: validate a notification routing file, and send a test finding
//! through one of its channels (Slack, Teams, webhook or SMTP) to see it arrive.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use costkit_core::flow::messages::{Finding, FindingKind, Severity};
use costkit_core::flow::notify::{send, Delivery, Pacing};
use costkit_core::local::MemoryState;
use costkit_core::money::Currency;
use costkit_core::notify::routing::{EmailTransport, Mode, Target};
use costkit_core::notify::{Channel, ChannelKind, Content, Notice, RoutingFile};
use costkit_core::ports::StateStore;
use costkit_notify::{resolve, resolve_setting, HttpChannel, SmtpChannel, SmtpSettings};

/// `costkit notify ...`.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Validate a routing file (errors name the line and the field) and list its routes.
    Check(CheckArgs),
    /// Send a test finding through one channel of a routing file (secrets from the environment).
    Test(TestArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The routing file (schema: docs/notify.schema.json).
    #[arg(long, default_value = "notify.yaml")]
    routes: PathBuf,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The routing file.
    #[arg(long, default_value = "notify.yaml")]
    routes: PathBuf,
    /// The channel's name.
    #[arg(long)]
    channel: String,
    /// A report link to embed.
    #[arg(long)]
    link: Option<String>,
}

/// Runs a `notify` subcommand.
pub fn run(c: NotifyCommand) -> Result<()> {
    match c {
        NotifyCommand::Check(a) => {
            let file = RoutingFile::load(&a.routes)?;
            println!(
                "{}: {} channels, {} routes, valid",
                a.routes.display(),
                file.channels.len(),
                file.routes.len()
            );
            for r in &file.routes {
                let kinds: Vec<&str> = r.kinds.iter().map(|k| k.as_str()).collect();
                let mode = match r.mode {
                    Mode::Immediate => "immediate".to_string(),
                    Mode::Digest(c) => format!("{} digest", c.as_str()),
                };
                println!(
                    "  {} <- {} from {}{}, {mode}",
                    r.channel,
                    if kinds.is_empty() {
                        "all kinds".to_string()
                    } else {
                        kinds.join(", ")
                    },
                    r.min_severity.as_str(),
                    if r.scope.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " where {}",
                            r.scope
                                .iter()
                                .map(|(k, v)| format!(
                                    "{k} in [{}]",
                                    v.iter().cloned().collect::<Vec<_>>().join(", ")
                                ))
                                .collect::<Vec<_>>()
                                .join(" and ")
                        )
                    }
                );
            }
            Ok(())
        }
        NotifyCommand::Test(a) => test(&a),
    }
}

fn no_store(id: &str) -> Result<String, String> {
    Err(format!(
        "Secrets Manager is not available to the CLI; give `{id}` as {{env: VAR}} in a copy of the file"
    ))
}

fn test(a: &TestArgs) -> Result<()> {
    let file = RoutingFile::load(&a.routes)?;
    let Some(spec) = file.channel(&a.channel) else {
        bail!(
            "{}: no channel is named `{}` (channels: {})",
            a.routes.display(),
            a.channel,
            file.channels
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    // The HTTP client needs a runtime; the channel blocks on it from this (non-runtime) thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let timeout = Duration::from_secs(10);
    let name = spec.name.as_str();
    let channel: Box<dyn Channel> = match &spec.target {
        Target::Slack { url } | Target::Teams { url } => Box::new(HttpChannel::new(
            name,
            spec.kind(),
            resolve_setting(url, &no_store)?,
            None,
            timeout,
            rt.handle().clone(),
        )?),
        Target::Webhook { url, signing_secret } => Box::new(HttpChannel::new(
            name,
            ChannelKind::Webhook,
            resolve_setting(url, &no_store)?,
            Some(resolve(signing_secret, &no_store)?),
            timeout,
            rt.handle().clone(),
        )?),
        Target::Email {
            transport: EmailTransport::Smtp { host, port, tls, username, password },
            from,
            to,
        } => {
            let credentials = match (username, password) {
                (Some(u), Some(p)) => Some((
                    resolve_setting(u, &no_store)?.expose().to_string(),
                    resolve(p, &no_store)?,
                )),
                _ => None,
            };
            Box::new(SmtpChannel::new(
                name,
                from,
                to,
                &SmtpSettings { host: host.clone(), port: *port, tls: *tls, credentials, timeout },
            )?)
        }
        Target::Sns { .. } | Target::Email { transport: EmailTransport::Ses { .. }, .. } => bail!(
            "channel `{name}` sends through AWS (SNS/SES): test it with the notify function (docs/notifications.md)"
        ),
    };
    let now = chrono::Utc::now();
    let mut scope = std::collections::BTreeMap::new();
    scope.insert("channel".to_string(), name.to_string());
    let finding = Finding {
        id: format!("test:{name}:{}", now.format("%Y%m%dT%H%M%S%.3fZ")),
        kind: FindingKind::Rule,
        severity: Severity::Info,
        title: format!("costkit test notification for channel {name}"),
        summary: "If you can read this, the channel works. No action needed.".into(),
        scope,
        amount: Some(rust_decimal::Decimal::new(12345, 2)),
        currency: Some(Currency::new("USD")),
        found_at: now,
        detail: serde_json::Value::Null,
    };
    let notice = Notice {
        content: Content::Finding(&finding),
        link: a.link.as_deref(),
    };
    let state = MemoryState::default();
    let pacing = Pacing {
        sleep: &std::thread::sleep,
        unit: &|| 1.0,
    };
    let d = send(
        channel.as_ref(),
        &notice,
        &state,
        &file.retry,
        &pacing,
        None,
        now,
    )?;
    match d {
        Delivery::Sent => {
            println!("sent a test finding to `{name}` ({})", finding.id);
            Ok(())
        }
        _ => {
            let letter = state
                .get(&costkit_core::flow::notify::dead_letter_key(
                    name,
                    &finding.id,
                ))
                .ok()
                .flatten()
                .and_then(|(b, _)| {
                    serde_json::from_slice::<Option<costkit_core::flow::notify::DeadLetter>>(&b)
                        .ok()
                })
                .flatten();
            match letter {
                Some(l) => bail!(
                    "channel `{name}`: gave up after {} attempts: {}",
                    l.attempts,
                    l.error
                ),
                None => bail!("channel `{name}`: {}", d.as_str()),
            }
        }
    }
}
