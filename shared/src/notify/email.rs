//! The email rendering: subject, HTML body with a plain-text alternative, and the finding(s) as a
//! CSV attachment; [`to_mime`] builds the RFC 5322 message that SMTP and SES (raw) both send.
//!
//! The `Message-ID` is derived from the idempotency key, so every attempt and a resend after a
//! crash carry the same one (and the same `X-Costkit-Idempotency-Key` header): mail systems and
//! receiving scripts can drop the repeat.

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use thiserror::Error;

use super::{money, text, when, Content, Notice};
use crate::flow::messages::Finding;

/// A rendered email, before addressing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailContent {
    /// Subject line (one line, at most 150 characters).
    pub subject: String,
    /// HTML body (self-contained, no external resources).
    pub html: String,
    /// Plain-text alternative.
    pub text: String,
    /// CSV attachment file name.
    pub attachment_name: String,
    /// CSV attachment bytes (UTF-8, exact amounts).
    pub attachment: Vec<u8>,
}

/// An address or message that cannot be built.
#[derive(Debug, Error)]
pub enum EmailError {
    /// An address does not parse.
    #[error("email address `{address}`: {message}")]
    Address {
        /// The address given.
        address: String,
        /// Why not.
        message: String,
    },
    /// The message could not be built.
    #[error("email message: {0}")]
    Build(String),
}

/// Parses one mailbox (`name <a@b>` or `a@b`); the routing file checks its addresses with it.
pub fn mailbox(address: &str) -> Result<Mailbox, EmailError> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| EmailError::Address {
            address: address.to_string(),
            message: e.to_string(),
        })
}

/// The MIME message and its envelope.
#[derive(Clone, Debug)]
pub struct Mime {
    /// Envelope sender (bare address).
    pub from: String,
    /// Envelope recipients (bare addresses).
    pub to: Vec<String>,
    /// The whole message, CRLF line ends.
    pub bytes: Vec<u8>,
}

/// `X-Costkit-Idempotency-Key`.
#[derive(Clone)]
struct IdempotencyHeader(String);

impl Header for IdempotencyHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Costkit-Idempotency-Key")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(IdempotencyHeader(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Builds the MIME message: `multipart/mixed` of `multipart/alternative` (text, HTML) and the CSV.
pub fn to_mime(
    content: &EmailContent,
    from: &str,
    to: &[String],
    idempotency_key: &str,
    date: DateTime<Utc>,
) -> Result<Mime, EmailError> {
    let from_box = mailbox(from)?;
    let mut b = lettre::Message::builder()
        .from(from_box.clone())
        .subject(content.subject.clone())
        .date(date.into())
        .message_id(Some(format!("<{idempotency_key}@costkit.invalid>")))
        .header(IdempotencyHeader(idempotency_key.to_string()));
    let mut rcpt = Vec::new();
    for t in to {
        let m = mailbox(t)?;
        rcpt.push(m.email.to_string());
        b = b.to(m);
    }
    if rcpt.is_empty() {
        return Err(EmailError::Build("no recipient".into()));
    }
    let csv = ContentType::parse("text/csv; charset=utf-8")
        .map_err(|e| EmailError::Build(e.to_string()))?;
    let message = b
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(
                    content.text.clone(),
                    content.html.clone(),
                ))
                .singlepart(
                    Attachment::new(content.attachment_name.clone())
                        .body(content.attachment.clone(), csv),
                ),
        )
        .map_err(|e| EmailError::Build(e.to_string()))?;
    Ok(Mime {
        from: from_box.email.to_string(),
        to: rcpt,
        bytes: message.formatted(),
    })
}

/// Renders the email for a notice.
pub fn render(notice: &Notice<'_>) -> EmailContent {
    let c = &notice.content;
    if let Content::Report(r) = c {
        return render_report(r, notice.link);
    }
    let subject = text::line(&format!("[costkit] {}", c.headline()), 150);
    let mut html = String::from("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>");
    html.push_str(&text::html(&c.headline()));
    html.push_str(
        "</title></head><body style=\"font-family:Arial,Helvetica,sans-serif;color:#222\">",
    );
    html.push_str(&format!(
        "<h2 style=\"margin:0 0 12px\">{}</h2>",
        text::html(&c.headline())
    ));
    let mut plain = format!("{}\n\n", c.headline());
    if let Content::Digest(d) = c {
        for (cur, t) in &d.totals {
            html.push_str(&format!(
                "<p><strong>At stake:</strong> {}</p>",
                text::html(&money(*t, Some(cur)))
            ));
            plain.push_str(&format!("At stake: {}\n", money(*t, Some(cur))));
        }
    }
    html.push_str(
        "<table style=\"border-collapse:collapse\" cellpadding=\"6\"><tr style=\"background:#eee\">\
         <th align=\"left\">Severity</th><th align=\"left\">Finding</th><th align=\"right\">Amount</th>\
         <th align=\"left\">Scope</th><th align=\"left\">Found</th></tr>",
    );
    for f in c.findings() {
        let amount = f
            .amount
            .map(|a| money(a, f.currency.as_ref()))
            .unwrap_or_default();
        let scope = scope_text(f);
        html.push_str(&format!(
            "<tr style=\"border-top:1px solid #ddd\"><td>{}</td><td><strong>{}</strong><br>{}</td>\
             <td align=\"right\">{}</td><td>{}</td><td>{}</td></tr>",
            f.severity.as_str(),
            text::html(&f.title),
            text::html(&f.summary),
            text::html(&amount),
            text::html(&scope),
            when(&f.found_at),
        ));
        plain.push_str(&format!(
            "[{}] {}\n{}\n{}{}found {}\n\n",
            f.severity.as_str(),
            f.title,
            f.summary,
            if amount.is_empty() {
                String::new()
            } else {
                format!("amount: {amount}\n")
            },
            if scope.is_empty() {
                String::new()
            } else {
                format!("scope: {scope}\n")
            },
            when(&f.found_at)
        ));
    }
    html.push_str("</table>");
    if let Content::Digest(d) = c {
        if d.more > 0 {
            html.push_str(&format!("<p>… and {} more (in the report).</p>", d.more));
            plain.push_str(&format!("... and {} more (in the report).\n", d.more));
        }
    }
    if let Some(link) = notice.link {
        html.push_str(&format!(
            "<p><a href=\"{}\">Open the report</a> (the link expires).</p>",
            text::html(link)
        ));
        plain.push_str(&format!("Report: {link}\n(the link expires)\n"));
    }
    html.push_str("<p style=\"color:#777;font-size:12px\">Sent by costkit. The attached CSV has the exact amounts.</p></body></html>");
    plain.push_str("Sent by costkit. The attached CSV has the exact amounts.\n");
    EmailContent {
        subject,
        html,
        text: plain,
        attachment_name: format!("{}.csv", file_stem(&c.id())),
        attachment: findings_csv(c.findings()),
    }
}

/// A scheduled report: the report's own HTML as the body (the link on top, before the report's
/// markup), a plain-text summary and the CSV report attached.
fn render_report(r: &super::ReportNotice, link: Option<&str>) -> EmailContent {
    let mut plain = super::sns::report_text(r);
    let mut banner = String::new();
    if let Some(link) = link {
        banner = format!(
            "<p style=\"font-family:Arial,Helvetica,sans-serif\"><a href=\"{}\">Open the report online</a> (the link expires).</p>",
            text::html(link)
        );
        plain.push_str(&format!("\nReport: {link}\n(the link expires)\n"));
    }
    plain.push_str("\nThe HTML report is the body of this email; the CSV report is attached.\n");
    // The banner goes right after `<body ...>` so the report stays one valid document.
    let html = match r
        .html
        .find("<body")
        .and_then(|i| r.html[i..].find('>').map(|j| i + j + 1))
    {
        Some(at) => format!("{}{banner}{}", &r.html[..at], &r.html[at..]),
        None => format!("{banner}{}", r.html),
    };
    EmailContent {
        subject: text::line(&format!("[costkit] {}", r.title), 150),
        html,
        text: plain,
        attachment_name: r.csv_name.clone(),
        attachment: r.csv.clone(),
    }
}

/// `provider=aws, account=123`.
fn scope_text(f: &Finding) -> String {
    f.scope
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A file name from an id: only `[A-Za-z0-9._-]`, at most 80 characters.
fn file_stem(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("costkit-{s}")
}

/// The CSV attachment: one row per finding, exact amounts, user text guarded against formulas.
pub fn findings_csv(findings: &[Finding]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "id", "kind", "severity", "title", "summary", "amount", "currency", "scope", "found_at",
    ];
    // Writing to a Vec cannot fail; an error would only drop the attachment's rows, never money.
    let _ = w.write_record(header);
    for f in findings {
        let _ = w.write_record([
            text::csv_cell(&f.id),
            f.kind.as_str().to_string(),
            f.severity.as_str().to_string(),
            text::csv_cell(&f.title),
            text::csv_cell(&f.summary),
            f.amount.map(|a| a.to_string()).unwrap_or_default(),
            f.currency
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            text::csv_cell(&scope_text(f)),
            f.found_at.to_rfc3339(),
        ]);
    }
    w.into_inner().unwrap_or_default()
}
