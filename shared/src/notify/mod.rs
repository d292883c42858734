//! Notifications: one pure renderer per channel, the routing file, and the [`Channel`] port the
//! delivery flow ([`crate::flow::notify`]) sends through.
//!
//! A [`Notice`] (one finding, or a [`Digest`] of several, plus an optional signed report link) is
//! rendered per channel kind:
//!
//! * [`sns`]: subject, text and message attributes for subscription filter policies;
//! * [`email`]: subject, HTML body with a text alternative and a CSV attachment, and the MIME
//!   message SMTP and SES send ([`email::to_mime`]);
//! * [`slack`]: an incoming-webhook message in Block Kit;
//! * [`teams`]: a Workflows webhook message carrying an Adaptive Card;
//! * [`webhook`]: generic JSON, HMAC-SHA256 signed over `timestamp + "." + body`.
//!
//! Renderers never see secrets; channels (adapters) hold them in [`Secret`], whose `Debug` and
//! `Display` print nothing of the value. Every piece of user text (titles, summaries, scope values
//! come from budget names, tags and account names) is escaped for the target format.

pub mod email;
pub mod routing;
pub mod slack;
pub mod sns;
pub mod teams;
mod text;
pub mod webhook;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::flow::messages::{Finding, Severity};
use crate::money::Currency;
use crate::ports::Publication;

pub use routing::{Cadence, ChannelKind, RoutingFile};

/// A digest: the findings routed to one channel during one period, sent as one message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// Daily or weekly.
    pub cadence: Cadence,
    /// First day of the period (UTC).
    pub start: NaiveDate,
    /// Last day of the period (UTC, inclusive).
    pub end: NaiveDate,
    /// The findings kept for the message (the first [`Digest::MAX_KEPT`], in arrival order).
    pub findings: Vec<Finding>,
    /// Findings collected but not kept in the message (counted in `count` and `totals`).
    pub more: u64,
    /// Number of findings collected in the period.
    pub count: u64,
    /// Money at stake over every collected finding, per currency (never added across currencies).
    pub totals: BTreeMap<Currency, Decimal>,
    /// Short hashes of every collected finding id, so a redelivered finding is not counted twice
    /// even when it is past the kept ones.
    #[serde(default)]
    pub seen: std::collections::BTreeSet<String>,
}

impl Digest {
    /// Findings kept per digest: bounds the state item (a DynamoDB item is at most 400 KB) and the
    /// message (Slack allows 50 blocks); `count` and `totals` still cover every finding.
    pub const MAX_KEPT: usize = 100;

    /// An empty digest for the period starting `start`.
    pub fn new(cadence: Cadence, start: NaiveDate) -> Digest {
        Digest {
            cadence,
            start,
            end: cadence.period_end(start),
            findings: Vec::new(),
            more: 0,
            count: 0,
            totals: BTreeMap::new(),
            seen: Default::default(),
        }
    }

    /// The id of this digest: `digest-daily-2026-11-27`, `digest-weekly-2026-11-23`.
    pub fn id(&self) -> String {
        format!("digest-{}-{}", self.cadence.as_str(), self.start)
    }

    /// Adds a finding unless one with the same id is already in (a redelivered message). Its
    /// `detail` is not kept: digests show the summary, and the state item stays small.
    pub fn add(&mut self, f: &Finding) -> bool {
        // 16 hex digits (64 bits) per id keeps thousands of findings well inside one state item.
        let short = &hex::encode(Sha256::digest(f.id.as_bytes()))[..16];
        if !self.seen.insert(short.to_string()) {
            return false;
        }
        self.count += 1;
        if let (Some(a), Some(c)) = (f.amount, &f.currency) {
            *self.totals.entry(c.clone()).or_default() += a;
        }
        if self.findings.len() < Digest::MAX_KEPT {
            let mut kept = f.clone();
            kept.detail = serde_json::Value::Null;
            self.findings.push(kept);
        } else {
            self.more += 1;
        }
        true
    }

    /// The highest severity among the kept findings.
    pub fn max_severity(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Info)
    }

    /// `daily digest 2026-11-27` or `weekly digest 2026-11-23 – 2026-11-29`.
    pub fn label(&self) -> String {
        if self.start == self.end {
            format!("{} digest {}", self.cadence.as_str(), self.start)
        } else {
            format!(
                "{} digest {} – {}",
                self.cadence.as_str(),
                self.start,
                self.end
            )
        }
    }
}

/// A scheduled report sent to the routed channels: email carries the whole HTML report and the
/// CSV report as attachment, the other channels a summary (the totals) and the signed link.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportNotice {
    /// Receipts and idempotency keys are made from it: `report-weekly-2026-11-23`.
    pub id: String,
    /// One line: `costkit weekly report 2026-11 (month to date, through 2026-11-22)`.
    pub title: String,
    /// Billed spend per currency (never added across currencies).
    pub totals: BTreeMap<Currency, Decimal>,
    /// The self-contained HTML report (the email body).
    pub html: String,
    /// File name of the CSV report.
    pub csv_name: String,
    /// The CSV report.
    pub csv: Vec<u8>,
}

/// What a message is about.
#[derive(Clone, Copy, Debug)]
pub enum Content<'a> {
    /// One finding, sent as it happens.
    Finding(&'a Finding),
    /// A period's findings.
    Digest(&'a Digest),
    /// A scheduled report.
    Report(&'a ReportNotice),
}

impl Content<'_> {
    /// The id receipts and idempotency keys are made from: the finding id or the digest id.
    pub fn id(&self) -> String {
        match self {
            Content::Finding(f) => f.id.clone(),
            Content::Digest(d) => d.id(),
            Content::Report(r) => r.id.clone(),
        }
    }

    /// The findings shown.
    pub fn findings(&self) -> &[Finding] {
        match self {
            Content::Finding(f) => std::slice::from_ref(*f),
            Content::Digest(d) => &d.findings,
            Content::Report(_) => &[],
        }
    }

    /// The most severe finding's severity.
    pub fn severity(&self) -> Severity {
        match self {
            Content::Finding(f) => f.severity,
            Content::Digest(d) => d.max_severity(),
            Content::Report(_) => Severity::Info,
        }
    }

    /// One line: the finding's title, or the digest's label and count.
    pub fn headline(&self) -> String {
        match self {
            Content::Finding(f) => f.title.clone(),
            Content::Digest(d) => format!(
                "costkit {}: {} finding{}",
                d.label(),
                d.count,
                if d.count == 1 { "" } else { "s" }
            ),
            Content::Report(r) => r.title.clone(),
        }
    }
}

/// A notice to render: the content and, when the shell has one, a signed report link (see
/// `docs/reports.md`; the link carries its own expiry and signature and is shown as given).
#[derive(Clone, Copy, Debug)]
pub struct Notice<'a> {
    /// What it is about.
    pub content: Content<'a>,
    /// A link to the report, embedded as a button or link.
    pub link: Option<&'a str>,
}

/// An HTTP POST with a JSON body, exactly as it will be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPost {
    /// The body bytes (signatures are computed over these exact bytes).
    pub body: Vec<u8>,
}

/// A rendered message, by channel family.
#[derive(Clone, Debug, PartialEq)]
pub enum Rendered {
    /// A topic message (SNS).
    Topic(Publication),
    /// An email (SMTP or SES).
    Email(email::EmailContent),
    /// A JSON POST (Slack, Teams, webhook).
    Json(JsonPost),
}

/// Renders `notice` for a channel of `kind`.
pub fn render(kind: ChannelKind, notice: &Notice<'_>, idempotency_key: &str) -> Rendered {
    match kind {
        ChannelKind::Sns => Rendered::Topic(sns::render(notice, idempotency_key)),
        ChannelKind::Email => Rendered::Email(email::render(notice)),
        ChannelKind::Slack => Rendered::Json(slack::render(notice)),
        ChannelKind::Teams => Rendered::Json(teams::render(notice)),
        ChannelKind::Webhook => Rendered::Json(webhook::render(notice, idempotency_key)),
    }
}

/// The idempotency key of a (content, channel) pair: a hex SHA-256 of both, so it fits any header
/// and every attempt (and a resend after a crash) carries the same one.
pub fn idempotency_key(channel: &str, content_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"costkit-notify\0");
    h.update(channel.as_bytes());
    h.update(b"\0");
    h.update(content_id.as_bytes());
    hex::encode(h.finalize())
}

/// A message on its way to a channel: the rendering and the key every attempt carries.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// What to send.
    pub rendered: Rendered,
    /// Idempotency key of the (content, channel) pair.
    pub idempotency_key: String,
    /// 1-based attempt number.
    pub attempt: u32,
}

/// A failed send.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// Worth trying again (network error, timeout, 429, 5xx); false for a rejected message
    /// (400, 403, 404, a refused address).
    pub retryable: bool,
    /// What failed. Never contains a secret (webhook URLs are not included).
    pub message: String,
    /// How long the receiver asked to wait before the next attempt (`Retry-After` on a 429 or
    /// 503); the notify flow waits that long (capped) instead of its own backoff.
    pub retry_after: Option<std::time::Duration>,
}

impl SendError {
    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> SendError {
        SendError {
            retryable: true,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> SendError {
        SendError {
            retryable: false,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same failure with the wait the receiver asked for.
    pub fn with_retry_after(mut self, wait: Option<std::time::Duration>) -> SendError {
        self.retry_after = wait;
        self
    }

    /// Whether an HTTP status is worth retrying: 408, 425, 429 and 5xx.
    pub fn status_is_retryable(status: u16) -> bool {
        matches!(status, 408 | 425 | 429) || (500..=599).contains(&status)
    }
}

/// A delivery channel: SNS topic, email, Slack, Teams, webhook. Implementations hold the target
/// and its secrets; they send one attempt and say whether a failure is worth retrying.
pub trait Channel: Send + Sync {
    /// The channel's name in the routing file (receipts are `delivery/<name>/<id>`).
    fn name(&self) -> &str;
    /// Which renderer it takes.
    fn kind(&self) -> ChannelKind;
    /// Sends one attempt.
    fn send(&self, message: &Outgoing) -> Result<(), SendError>;
}

/// A [`crate::ports::Publisher`] (SNS topic, local outbox) as a channel. The publisher's SDK does
/// its own low-level retries; a failure that survives them is reported as retryable.
pub struct TopicChannel<P> {
    name: String,
    publisher: P,
}

impl<P: crate::ports::Publisher> TopicChannel<P> {
    /// The topic `publisher` under the channel name `name` (a `&dyn Publisher` works too).
    pub fn new(name: &str, publisher: P) -> TopicChannel<P> {
        TopicChannel {
            name: name.to_string(),
            publisher,
        }
    }
}

impl<P: crate::ports::Publisher> Channel for TopicChannel<P> {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sns
    }
    fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        match &message.rendered {
            Rendered::Topic(p) => self
                .publisher
                .publish(p)
                .map_err(|e| SendError::retryable(e.to_string())),
            _ => Err(SendError::permanent(format!(
                "channel `{}` is a topic and cannot send this message",
                self.name
            ))),
        }
    }
}

/// A secret value (webhook URL, SMTP password, signing key). `Debug` and `Display` print
/// `<redacted>`, so it cannot end up in a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Formats an exact amount with its currency: `1234.50 USD`. Amounts are shown rounded to cents
/// for reading (CSV attachments and webhook JSON carry the exact value).
pub(crate) fn money(amount: Decimal, currency: Option<&Currency>) -> String {
    let rounded =
        amount.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    match currency {
        Some(c) => format!("{rounded:.2} {c}"),
        None => format!("{rounded:.2}"),
    }
}

/// `2026-11-27 08:00 UTC`.
pub(crate) fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_the_email_body_with_its_csv_attached_and_a_summary_elsewhere() {
        let r = ReportNotice {
            id: "report-monthly-2026-10".into(),
            title: "costkit monthly report 2026-10".into(),
            totals: BTreeMap::from([(Currency::new("USD"), "1234.565".parse().expect("dec"))]),
            html: "<!DOCTYPE html><html><body class=\"r\"><h1>Report</h1></body></html>".into(),
            csv_name: "costkit-report-2026-10.csv".into(),
            csv: b"section,value\n".to_vec(),
        };
        let n = Notice {
            content: Content::Report(&r),
            link: Some("https://r.example/reports/2026-10.html?expires=1&sig=ab"),
        };
        let Rendered::Email(e) = render(ChannelKind::Email, &n, "k") else {
            panic!("email expected")
        };
        assert_eq!(e.subject, "[costkit] costkit monthly report 2026-10");
        assert!(
            e.html
                .starts_with("<!DOCTYPE html><html><body class=\"r\"><p"),
            "{}",
            e.html
        );
        assert!(e.html.contains("reports/2026-10.html?expires=1&amp;sig=ab"));
        assert!(e.html.ends_with("<h1>Report</h1></body></html>"));
        assert!(e.text.contains("billed: 1234.57 USD"));
        assert_eq!(e.attachment_name, "costkit-report-2026-10.csv");
        assert_eq!(e.attachment, r.csv);
        let Rendered::Json(hook) = render(ChannelKind::Webhook, &n, "k") else {
            panic!("json expected")
        };
        let v: serde_json::Value = serde_json::from_slice(&hook.body).expect("json");
        assert_eq!(v["type"], "report");
        assert_eq!(v["report"]["totals"]["USD"], "1234.565");
        assert!(
            v["report"].get("html").is_none(),
            "the HTML stays behind the link"
        );
        let Rendered::Topic(p) = render(ChannelKind::Sns, &n, "k") else {
            panic!("topic expected")
        };
        assert_eq!(p.attributes[0], ("kind".to_string(), "report".to_string()));
        assert!(p.body.contains("report: https://r.example/"));
        assert_eq!(n.content.id(), "report-monthly-2026-10");
        assert!(n.content.findings().is_empty());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("https://hooks.slack.com/services/T0/B0/XYZ");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{s}"), "<redacted>");
        assert!(s.expose().ends_with("XYZ"));
    }

    #[test]
    fn idempotency_keys_depend_on_channel_and_content() {
        let a = idempotency_key("slack", "f1");
        assert_eq!(a, idempotency_key("slack", "f1"));
        assert_ne!(a, idempotency_key("teams", "f1"));
        assert_ne!(a, idempotency_key("slack", "f2"));
        // No ambiguity from concatenation.
        assert_ne!(idempotency_key("ab", "c"), idempotency_key("a", "bc"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 425, 429, 500, 502, 503, 504] {
            assert!(SendError::status_is_retryable(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 410, 413] {
            assert!(!SendError::status_is_retryable(s), "{s}");
        }
    }

    #[test]
    fn money_rounds_half_away_from_zero() {
        let c = Currency::new("USD");
        assert_eq!(
            money("1234.505".parse().expect("decimal"), Some(&c)),
            "1234.51 USD"
        );
        assert_eq!(money("-0.005".parse().expect("decimal"), None), "-0.01");
        assert_eq!(money("7".parse().expect("decimal"), Some(&c)), "7.00 USD");
    }
}
