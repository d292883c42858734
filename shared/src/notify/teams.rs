//! The Microsoft Teams rendering: a message for a Teams Workflows ("Post to a channel when a
//! webhook request is received") webhook, carrying one Adaptive Card 1.4 in `attachments`
//! (`contentType: application/vnd.microsoft.card.adaptive`). Text blocks are Markdown in Adaptive
//! Cards, so user text is escaped; facts (`FactSet`) hold severity, amount and scope.

use serde_json::{json, Value};

use super::{money, text, when, Content, JsonPost, Notice};
use crate::flow::messages::Severity;

/// Adaptive Card schema version used; Teams supports up to 1.5 on desktop and 1.4 everywhere.
pub const CARD_VERSION: &str = "1.4";

/// Findings listed in a digest card.
const DIGEST_LISTED: usize = 30;

/// The Workflows webhook message for a notice.
pub fn render(notice: &Notice<'_>) -> JsonPost {
    JsonPost {
        body: serde_json::to_vec(&message(notice)).unwrap_or_default(),
    }
}

/// The whole message (`type: message` with the card attachment).
pub fn message(notice: &Notice<'_>) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card(notice)
        }]
    })
}

/// The Adaptive Card alone.
pub fn card(notice: &Notice<'_>) -> Value {
    let c = &notice.content;
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": text::card(&text::line(&c.headline(), 300)),
        "size": "Large",
        "weight": "Bolder",
        "wrap": true,
        "color": color(c.severity())
    })];
    match c {
        Content::Report(r) => {
            let facts: Vec<_> = r
                .totals
                .iter()
                .map(|(cur, t)| fact("Billed", &money(*t, Some(cur))))
                .collect();
            if !facts.is_empty() {
                body.push(json!({"type": "FactSet", "facts": facts}));
            }
        }
        Content::Finding(f) => {
            body.push(json!({"type": "TextBlock", "text": text::card(&f.summary), "wrap": true}));
            let mut facts = vec![
                fact("Severity", f.severity.as_str()),
                fact("Kind", f.kind.as_str()),
            ];
            if let Some(a) = f.amount {
                facts.push(fact("Amount", &money(a, f.currency.as_ref())));
            }
            for (k, v) in &f.scope {
                facts.push(fact(k, v));
            }
            facts.push(fact("Found", &when(&f.found_at)));
            body.push(json!({"type": "FactSet", "facts": facts}));
            body.push(json!({
                "type": "TextBlock",
                "text": text::card(&format!("finding {}", f.id)),
                "isSubtle": true,
                "size": "Small",
                "wrap": true
            }));
        }
        Content::Digest(d) => {
            let mut facts = vec![fact("Findings", &d.count.to_string())];
            for (cur, t) in &d.totals {
                facts.push(fact("At stake", &money(*t, Some(cur))));
            }
            body.push(json!({"type": "FactSet", "facts": facts}));
            for f in d.findings.iter().take(DIGEST_LISTED) {
                let amount = f
                    .amount
                    .map(|a| format!(" · {}", money(a, f.currency.as_ref())))
                    .unwrap_or_default();
                body.push(json!({
                    "type": "Container",
                    "separator": true,
                    "items": [
                        {"type": "TextBlock", "text": text::card(&format!("{}{}", f.title, amount)), "weight": "Bolder", "wrap": true, "color": color(f.severity)},
                        {"type": "TextBlock", "text": text::card(&f.summary), "wrap": true}
                    ]
                }));
            }
            let unlisted = d.findings.len().saturating_sub(DIGEST_LISTED) as u64 + d.more;
            if unlisted > 0 {
                body.push(json!({"type": "TextBlock", "text": format!("… and {unlisted} more in the report"), "isSubtle": true, "wrap": true}));
            }
        }
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body
    });
    if let Some(link) = notice.link {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Open report", "url": link}]);
    }
    card
}

fn fact(title: &str, value: &str) -> Value {
    json!({"title": text::card(title), "value": text::card(value)})
}

fn color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "Attention",
        Severity::Warning => "Warning",
        Severity::Info => "Default",
    }
}
