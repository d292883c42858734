//! The routing file (`notify.yaml`): channels (type, target, secret references) and routes
//! (which finding kinds, severities and scopes go to which channel, immediately or in a daily or
//! weekly digest), plus the retry policy.
//!
//! Like the budgets file it is read straight into validating types, so every error names the
//! field path and line (`notify.yaml:9: channels[1].url: ...`). Secrets are never written in the
//! file: a secret field is `{env: VAR}` or `{secret: <Secrets Manager id>, key: <JSON field>}`;
//! the shell resolves them ([`SecretRef`]). The JSON Schema is `docs/notify.schema.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::flow::messages::{Finding, FindingKind, Severity};
use crate::yaml::{checked, key_line, OneOrMany, ViaMap};

/// An invalid or unreadable routing file.
pub type RoutingError = crate::yaml::ConfigError;

/// The channel families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// An SNS topic (email/SMS/SQS subscriptions with filter policies).
    Sns,
    /// Email through SES v2 or SMTP.
    Email,
    /// Slack incoming webhook.
    Slack,
    /// Microsoft Teams Workflows webhook.
    Teams,
    /// Generic signed webhook.
    Webhook,
}

impl ChannelKind {
    /// `sns`, `email`, `slack`, `teams`, `webhook`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Sns => "sns",
            ChannelKind::Email => "email",
            ChannelKind::Slack => "slack",
            ChannelKind::Teams => "teams",
            ChannelKind::Webhook => "webhook",
        }
    }

    fn parse(s: &str) -> Result<ChannelKind, String> {
        Ok(match s {
            "sns" => ChannelKind::Sns,
            "email" => ChannelKind::Email,
            "slack" => ChannelKind::Slack,
            "teams" => ChannelKind::Teams,
            "webhook" => ChannelKind::Webhook,
            _ => {
                return Err(format!(
                    "unknown channel type `{s}` (expected sns, email, slack, teams or webhook)"
                ))
            }
        })
    }
}

/// How often a digest is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// One message per UTC day.
    Daily,
    /// One message per ISO week (Monday to Sunday, UTC).
    Weekly,
}

impl Cadence {
    /// `daily` / `weekly`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cadence::Daily => "daily",
            Cadence::Weekly => "weekly",
        }
    }

    /// First day of the period containing `t`.
    pub fn period_start(self, t: DateTime<Utc>) -> NaiveDate {
        let d = t.date_naive();
        match self {
            Cadence::Daily => d,
            Cadence::Weekly => d - Days::new(u64::from(d.weekday().num_days_from_monday())),
        }
    }

    /// Last day (inclusive) of the period starting `start`.
    pub fn period_end(self, start: NaiveDate) -> NaiveDate {
        match self {
            Cadence::Daily => start,
            Cadence::Weekly => start + Days::new(6),
        }
    }
}

/// When a route delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// As the finding arrives.
    Immediate,
    /// In the channel's digest for the period.
    Digest(Cadence),
}

/// Where a secret comes from; resolved by the shell, never stored in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A Secrets Manager secret (id or ARN), optionally one field of its JSON value.
    Secret {
        /// Secret id or ARN.
        id: String,
        /// Field of a JSON secret.
        key: Option<String>,
    },
}

/// A setting given in the file or by reference (a webhook URL may be either; Slack and Teams
/// URLs embed their credential, so they should be references).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Written in the file.
    Literal(String),
    /// Resolved at run time.
    Ref(SecretRef),
}

/// SMTP connection security.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required; port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only allowed to a loopback host (tests, a local relay).
    None,
}

/// How emails leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailTransport {
    /// Amazon SES v2 (raw MIME), with the function's IAM role.
    Ses {
        /// SES configuration set (event publishing, suppression), if any.
        configuration_set: Option<String>,
    },
    /// An SMTP server.
    Smtp {
        /// Host name.
        host: String,
        /// Port.
        port: u16,
        /// Security.
        tls: SmtpTls,
        /// User name, when the server wants authentication.
        username: Option<Setting>,
        /// Password.
        password: Option<SecretRef>,
    },
}

/// A channel's target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An SNS topic; the function's alert topic when absent.
    Sns {
        /// Topic ARN.
        topic_arn: Option<String>,
    },
    /// Email.
    Email {
        /// Transport.
        transport: EmailTransport,
        /// Sender.
        from: String,
        /// Recipients.
        to: Vec<String>,
    },
    /// Slack incoming webhook URL.
    Slack {
        /// Webhook URL.
        url: Setting,
    },
    /// Teams Workflows webhook URL.
    Teams {
        /// Webhook URL.
        url: Setting,
    },
    /// Generic webhook.
    Webhook {
        /// Endpoint URL.
        url: Setting,
        /// HMAC key.
        signing_secret: SecretRef,
    },
}

/// One channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Unique name (receipts are `delivery/<name>/<id>`).
    pub name: String,
    /// Where it goes.
    pub target: Target,
}

impl ChannelSpec {
    /// The renderer family.
    pub fn kind(&self) -> ChannelKind {
        match self.target {
            Target::Sns { .. } => ChannelKind::Sns,
            Target::Email { .. } => ChannelKind::Email,
            Target::Slack { .. } => ChannelKind::Slack,
            Target::Teams { .. } => ChannelKind::Teams,
            Target::Webhook { .. } => ChannelKind::Webhook,
        }
    }
}

/// One route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The channel's name.
    pub channel: String,
    /// Finding kinds (empty: all).
    pub kinds: BTreeSet<FindingKind>,
    /// Lowest severity sent.
    pub min_severity: Severity,
    /// Scope filters: every key must be in the finding's scope with one of the values.
    pub scope: BTreeMap<String, BTreeSet<String>>,
    /// Immediate or digest.
    pub mode: Mode,
}

impl Route {
    /// Whether `f` goes through this route.
    pub fn matches(&self, f: &Finding) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&f.kind))
            && f.severity >= self.min_severity
            && self
                .scope
                .iter()
                .all(|(k, vals)| f.scope.get(k).is_some_and(|v| vals.contains(v)))
    }
}

/// Retries of one delivery: exponential backoff with full jitter, then the dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Cap of the first wait; doubles after every failed attempt.
    pub base: Duration,
    /// Upper bound of any wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, waits capped at 1, 2, 4, 8 s: at most 15 s, well inside the notify function's
    /// timeout.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Cap of the wait after failed attempt `attempt` (1-based): `min(max_delay, base·2^(attempt-1))`.
    pub fn cap(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The wait after failed attempt `attempt` for a uniform random `unit` in `[0, 1]` (full
    /// jitter: anywhere between zero and the cap, so concurrent retries spread out).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        self.cap(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// A parsed, validated routing file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingFile {
    /// Channels, in file order.
    pub channels: Vec<ChannelSpec>,
    /// Routes, in file order.
    pub routes: Vec<Route>,
    /// Retry policy for every channel.
    pub retry: RetryPolicy,
}

impl RoutingFile {
    /// What applies without a routing file: every finding to the alert topic, immediately, on a
    /// channel named `sns` (the receipts the notify function always wrote).
    pub fn default_sns() -> RoutingFile {
        RoutingFile {
            channels: vec![ChannelSpec {
                name: "sns".into(),
                target: Target::Sns { topic_arn: None },
            }],
            routes: vec![Route {
                channel: "sns".into(),
                kinds: BTreeSet::new(),
                min_severity: Severity::Info,
                scope: BTreeMap::new(),
                mode: Mode::Immediate,
            }],
            retry: RetryPolicy::default(),
        }
    }

    /// Reads and validates a routing file.
    pub fn load(path: &Path) -> Result<RoutingFile, RoutingError> {
        let (text, file) = crate::yaml::read(path)?;
        RoutingFile::parse(&text, &file)
    }

    /// Parses and validates routing YAML; `file` names the source in errors.
    pub fn parse(text: &str, file: &str) -> Result<RoutingFile, RoutingError> {
        let raw: RawFile = crate::yaml::parse(text, file)?;
        let invalid = |line: Option<usize>, message: String| {
            RoutingError::invalid(file, line.unwrap_or(0), message)
        };
        let mut names = BTreeSet::new();
        for (i, c) in raw.channels.iter().enumerate() {
            if !names.insert(c.name.as_str()) {
                return Err(invalid(
                    key_line(text, "name", &c.name),
                    format!(
                        "channels[{i}].name: `{}` is already used by an earlier channel",
                        c.name
                    ),
                ));
            }
        }
        for (i, r) in raw.routes.iter().enumerate() {
            if !names.contains(r.channel.as_str()) {
                return Err(invalid(
                    key_line(text, "channel", &r.channel),
                    format!(
                        "routes[{i}].channel: no channel is named `{}` (channels: {})",
                        r.channel,
                        names.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        Ok(RoutingFile {
            channels: raw.channels,
            routes: raw.routes,
            retry: raw.retry.unwrap_or_default(),
        })
    }

    /// The channel named `name`.
    pub fn channel(&self, name: &str) -> Option<&ChannelSpec> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// Where `f` goes: per channel, the first route (in file order) that matches it.
    pub fn destinations(&self, f: &Finding) -> Vec<(&ChannelSpec, Mode)> {
        let mut out: Vec<(&ChannelSpec, Mode)> = Vec::new();
        for r in self.routes.iter().filter(|r| r.matches(f)) {
            if out.iter().any(|(c, _)| c.name == r.channel) {
                continue;
            }
            if let Some(c) = self.channel(&r.channel) {
                out.push((c, r.mode));
            }
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, deserialize_with = "crate::yaml::version")]
    #[allow(dead_code)]
    version: u32,
    channels: Vec<ChannelSpec>,
    routes: Vec<Route>,
    #[serde(default)]
    retry: Option<RetryPolicy>,
}

fn name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a channel name (1 to 64 of A-Z a-z 0-9 - _ .; it becomes part of state keys)"
        ))
    }
}

// ---- channels ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    #[serde(deserialize_with = "channel_name")]
    name: String,
    #[serde(rename = "type", deserialize_with = "channel_kind")]
    kind: ChannelKind,
    #[serde(default)]
    topic_arn: Option<String>,
    #[serde(default)]
    url: Option<Setting>,
    #[serde(default)]
    signing_secret: Option<SecretRef>,
    #[serde(default)]
    transport: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<Vec<String>>,
    #[serde(default)]
    configuration_set: Option<String>,
    #[serde(default)]
    smtp: Option<RawSmtp>,
}

fn channel_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, name)
}

fn channel_kind<'de, D: Deserializer<'de>>(d: D) -> Result<ChannelKind, D::Error> {
    checked(d, ChannelKind::parse)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    tls: Option<String>,
    #[serde(default)]
    username: Option<Setting>,
    #[serde(default)]
    password: Option<SecretRef>,
}

impl<'de> Deserialize<'de> for ChannelSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawChannel, ChannelSpec>::new())
    }
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1" | "[::1]")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn http_url(s: &Setting, kind: ChannelKind) -> Result<(), String> {
    if let Setting::Literal(u) = s {
        let local_http = u
            .strip_prefix("http://")
            .map(|rest| rest.split(['/', ':']).next().unwrap_or(""))
            .is_some_and(is_loopback);
        if !(u.starts_with("https://") || local_http) {
            return Err(format!(
                "url: `{u}` must be an https:// URL (plain http only to a loopback host)"
            ));
        }
        if matches!(kind, ChannelKind::Slack | ChannelKind::Teams) && !local_http {
            return Err(format!(
                "url: a {} webhook URL contains its credential: give it as {{env: VAR}} or {{secret: ID}}, not in the file",
                if kind == ChannelKind::Slack { "Slack" } else { "Teams" }
            ));
        }
    }
    Ok(())
}

impl TryFrom<RawChannel> for ChannelSpec {
    type Error = String;
    fn try_from(r: RawChannel) -> Result<ChannelSpec, String> {
        let kind = r.kind;
        // Fields that belong to other channel types are mistakes (a typo'd type, a pasted block).
        let stray: Vec<&str> = [
            (
                "topic_arn",
                r.topic_arn.is_some() && kind != ChannelKind::Sns,
            ),
            (
                "url",
                r.url.is_some()
                    && !matches!(
                        kind,
                        ChannelKind::Slack | ChannelKind::Teams | ChannelKind::Webhook
                    ),
            ),
            (
                "signing_secret",
                r.signing_secret.is_some() && kind != ChannelKind::Webhook,
            ),
            (
                "transport",
                r.transport.is_some() && kind != ChannelKind::Email,
            ),
            ("from", r.from.is_some() && kind != ChannelKind::Email),
            ("to", r.to.is_some() && kind != ChannelKind::Email),
            (
                "configuration_set",
                r.configuration_set.is_some() && kind != ChannelKind::Email,
            ),
            ("smtp", r.smtp.is_some() && kind != ChannelKind::Email),
        ]
        .into_iter()
        .filter_map(|(f, bad)| bad.then_some(f))
        .collect();
        if !stray.is_empty() {
            return Err(format!(
                "channel `{}`: {} not allowed for type {}",
                r.name,
                stray.join(", "),
                kind.as_str()
            ));
        }
        let need = |f: &str| format!("channel `{}`: `{f}` is required for this type", r.name);
        let target = match kind {
            ChannelKind::Sns => Target::Sns {
                topic_arn: r.topic_arn,
            },
            ChannelKind::Slack | ChannelKind::Teams | ChannelKind::Webhook => {
                let url = r.url.ok_or_else(|| need("url"))?;
                http_url(&url, kind).map_err(|e| format!("channel `{}`: {e}", r.name))?;
                match kind {
                    ChannelKind::Slack => Target::Slack { url },
                    ChannelKind::Teams => Target::Teams { url },
                    _ => Target::Webhook {
                        url,
                        signing_secret: r.signing_secret.ok_or_else(|| need("signing_secret"))?,
                    },
                }
            }
            ChannelKind::Email => {
                let from = r.from.ok_or_else(|| need("from"))?;
                super::email::mailbox(&from)
                    .map_err(|e| format!("channel `{}`: from: {e}", r.name))?;
                let to = r.to.filter(|t| !t.is_empty()).ok_or_else(|| need("to"))?;
                for (i, t) in to.iter().enumerate() {
                    super::email::mailbox(t)
                        .map_err(|e| format!("channel `{}`: to[{i}]: {e}", r.name))?;
                }
                let transport = match r.transport.as_deref() {
                    Some("ses") => {
                        if r.smtp.is_some() {
                            return Err(format!(
                                "channel `{}`: `smtp` is for transport smtp, not ses",
                                r.name
                            ));
                        }
                        EmailTransport::Ses {
                            configuration_set: r.configuration_set,
                        }
                    }
                    Some("smtp") => {
                        let s = r.smtp.ok_or_else(|| need("smtp"))?;
                        let tls = match s.tls.as_deref().unwrap_or("starttls") {
                            "starttls" => SmtpTls::Starttls,
                            "tls" => SmtpTls::Tls,
                            "none" => SmtpTls::None,
                            other => {
                                return Err(format!(
                                "channel `{}`: smtp.tls: `{other}` is not starttls, tls or none",
                                r.name
                            ))
                            }
                        };
                        if tls == SmtpTls::None && !is_loopback(&s.host) {
                            return Err(format!(
                                "channel `{}`: smtp.tls: none is only allowed to a loopback host, not `{}` (the password and the mail would cross the network in clear)",
                                r.name, s.host
                            ));
                        }
                        if s.password.is_some() != s.username.is_some() {
                            return Err(format!(
                                "channel `{}`: smtp: username and password go together",
                                r.name
                            ));
                        }
                        let port = s.port.unwrap_or(match tls {
                            SmtpTls::Starttls => 587,
                            SmtpTls::Tls => 465,
                            SmtpTls::None => 25,
                        });
                        EmailTransport::Smtp {
                            host: s.host,
                            port,
                            tls,
                            username: s.username,
                            password: s.password,
                        }
                    }
                    Some(other) => {
                        return Err(format!(
                            "channel `{}`: transport: `{other}` is not ses or smtp",
                            r.name
                        ))
                    }
                    None => return Err(need("transport")),
                };
                Target::Email {
                    transport,
                    from,
                    to,
                }
            }
        };
        Ok(ChannelSpec {
            name: r.name,
            target,
        })
    }
}

// ---- secret references ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRef {
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

impl TryFrom<RawRef> for SecretRef {
    type Error = String;
    fn try_from(r: RawRef) -> Result<SecretRef, String> {
        match (r.env, r.secret, r.key) {
            (Some(e), None, None) if !e.trim().is_empty() => Ok(SecretRef::Env(e)),
            (None, Some(s), key) if !s.trim().is_empty() => Ok(SecretRef::Secret { id: s, key }),
            _ => {
                Err("give exactly one of {env: VAR} or {secret: ID, key: FIELD (optional)}".into())
            }
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SecretRef;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("{env: VAR} or {secret: ID}")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretRef, E> {
                Err(E::custom(
                    "secrets are not written in the file: give {env: VAR} or {secret: ID}",
                ))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<SecretRef, A::Error> {
                ViaMap::<RawRef, SecretRef>::new().visit_map(map)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Setting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Setting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, {env: VAR} or {secret: ID}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Setting, E> {
                Ok(Setting::Literal(v.to_string()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Setting, A::Error> {
                ViaMap::<RawRef, SecretRef>::new()
                    .visit_map(map)
                    .map(Setting::Ref)
            }
        }
        d.deserialize_any(V)
    }
}

// ---- routes ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    channel: String,
    #[serde(default)]
    kinds: Vec<FindingKind>,
    #[serde(default)]
    min_severity: Option<Severity>,
    #[serde(default)]
    scope: BTreeMap<String, OneOrMany>,
    #[serde(default, deserialize_with = "mode")]
    mode: Option<Mode>,
}

fn mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mode>, D::Error> {
    checked(d, |s| match s {
        "immediate" => Ok(Some(Mode::Immediate)),
        "daily" => Ok(Some(Mode::Digest(Cadence::Daily))),
        "weekly" => Ok(Some(Mode::Digest(Cadence::Weekly))),
        _ => Err(format!("`{s}` is not immediate, daily or weekly")),
    })
}

impl TryFrom<RawRoute> for Route {
    type Error = String;
    fn try_from(r: RawRoute) -> Result<Route, String> {
        let scope = r
            .scope
            .into_iter()
            .map(|(k, v)| {
                let vals: BTreeSet<String> = v.0.into_iter().collect();
                if vals.is_empty() {
                    Err(format!("scope.{k}: an empty list matches nothing"))
                } else {
                    Ok((k, vals))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Route {
            channel: r.channel,
            kinds: r.kinds.into_iter().collect(),
            min_severity: r.min_severity.unwrap_or(Severity::Info),
            scope,
            mode: r.mode.unwrap_or(Mode::Immediate),
        })
    }
}

impl<'de> Deserialize<'de> for Route {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawRoute, Route>::new())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: u32,
    #[serde(default)]
    base_ms: Option<u64>,
    #[serde(default)]
    max_delay_ms: Option<u64>,
}

impl TryFrom<RawRetry> for RetryPolicy {
    type Error = String;
    fn try_from(r: RawRetry) -> Result<RetryPolicy, String> {
        let d = RetryPolicy::default();
        if !(1..=20).contains(&r.max_attempts) {
            return Err(format!(
                "max_attempts: {} is not from 1 to 20",
                r.max_attempts
            ));
        }
        Ok(RetryPolicy {
            max_attempts: r.max_attempts,
            base: r.base_ms.map_or(d.base, Duration::from_millis),
            max_delay: r.max_delay_ms.map_or(d.max_delay, Duration::from_millis),
        })
    }
}

impl<'de> Deserialize<'de> for RetryPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ViaMap::<RawRetry, RetryPolicy>::new())
    }
}
