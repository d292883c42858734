//! The Slack rendering: an incoming-webhook message in Block Kit (header, summary, fields, context,
//! a button to the report), with a plain `text` fallback for notifications and old clients.
//!
//! Slack's limits are respected: a header is at most 150 characters, a section text 3000, a field
//! 2000, at most 10 fields per section and 50 blocks per message (digests show the first 20
//! findings and count the rest).

use serde_json::{json, Value};

use super::{money, text, when, Content, JsonPost, Notice};
use crate::flow::messages::{Finding, Severity};

/// Findings listed in a digest message (each takes two blocks).
const DIGEST_LISTED: usize = 20;

/// The Block Kit message for a notice.
pub fn render(notice: &Notice<'_>) -> JsonPost {
    let value = message(notice);
    JsonPost {
        body: serde_json::to_vec(&value).unwrap_or_default(),
    }
}

/// The message as JSON (for tests and snapshots).
pub fn message(notice: &Notice<'_>) -> Value {
    let c = &notice.content;
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": text::line(&format!("{} {}", icon(c.severity()), c.headline()), 150), "emoji": true}
    })];
    match c {
        Content::Report(r) => {
            let totals: Vec<String> = r
                .totals
                .iter()
                .map(|(cur, t)| format!("*{}* billed", text::slack(&money(*t, Some(cur)))))
                .collect();
            let head = if totals.is_empty() {
                "no spend in the period".to_string()
            } else {
                totals.join(" · ")
            };
            blocks.push(
                json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&head, 3000)}}),
            );
        }
        Content::Finding(f) => {
            blocks.push(json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": cut(&text::slack(&f.summary), 3000)}
            }));
            blocks.push(json!({"type": "section", "fields": fields(f)}));
            blocks.push(json!({
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": cut(&format!("finding `{}` · found {}", text::slack(&f.id), when(&f.found_at)), 3000)}]
            }));
        }
        Content::Digest(d) => {
            let mut head = format!(
                "*{}* finding{}",
                d.count,
                if d.count == 1 { "" } else { "s" }
            );
            for (cur, t) in &d.totals {
                head.push_str(&format!(
                    " · *{}* at stake",
                    text::slack(&money(*t, Some(cur)))
                ));
            }
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": head}}));
            for f in d.findings.iter().take(DIGEST_LISTED) {
                blocks.push(json!({"type": "divider"}));
                let amount = f
                    .amount
                    .map(|a| format!(" · {}", money(a, f.currency.as_ref())))
                    .unwrap_or_default();
                blocks.push(json!({
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": cut(&format!(
                        "{} *{}*{}\n{}",
                        icon(f.severity),
                        text::slack(&f.title),
                        text::slack(&amount),
                        text::slack(&f.summary)
                    ), 3000)}
                }));
            }
            let unlisted = d.findings.len().saturating_sub(DIGEST_LISTED) as u64 + d.more;
            if unlisted > 0 {
                blocks.push(json!({
                    "type": "context",
                    "elements": [{"type": "mrkdwn", "text": format!("… and {unlisted} more in the report")}]
                }));
            }
        }
    }
    if let Some(link) = notice.link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": "Open report"},
                "url": link,
                "action_id": "costkit_open_report"
            }]
        }));
    }
    json!({
        "text": text::slack(&text::line(&c.headline(), 300)),
        "blocks": blocks
    })
}

fn fields(f: &Finding) -> Vec<Value> {
    // Severity, kind and amount are costkit's own words: shown as they are (escaping would put a
    // zero-width space into `budget_alert`). Scope keys and values are user text.
    let mut out = vec![
        own_field("Severity", f.severity.as_str()),
        own_field("Kind", f.kind.as_str()),
    ];
    if let Some(a) = f.amount {
        out.push(field("Amount", &money(a, f.currency.as_ref())));
    }
    for (k, v) in &f.scope {
        if out.len() == 10 {
            break;
        }
        out.push(field(k, v));
    }
    out
}

fn own_field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": cut(&format!("*{}*\n{}", text::slack(name), text::slack(value)), 2000)})
}

fn icon(s: Severity) -> &'static str {
    match s {
        Severity::Critical => ":red_circle:",
        Severity::Warning => ":large_orange_circle:",
        Severity::Info => ":large_blue_circle:",
    }
}

fn cut(s: &str, max: usize) -> String {
    text::line_keep_newlines(s, max)
}
