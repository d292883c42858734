//! The SNS rendering: a subject (email subscriptions show it; at most 100 characters), a plain
//! text body, and String message attributes that subscription filter policies match on (`kind`,
//! `severity`, `currency`, every scope key such as `provider`, `account`, `budget`).

use super::{money, text, when, Content, Notice};
use crate::ports::Publication;

/// The topic message for a notice.
pub fn render(notice: &Notice<'_>, idempotency_key: &str) -> Publication {
    let mut attributes = vec![(
        "severity".to_string(),
        notice.content.severity().as_str().to_string(),
    )];
    match notice.content {
        Content::Finding(f) => {
            attributes.insert(0, ("kind".to_string(), f.kind.as_str().to_string()));
            for (k, v) in &f.scope {
                attributes.push((k.clone(), v.clone()));
            }
            if let Some(c) = &f.currency {
                attributes.push(("currency".to_string(), c.to_string()));
            }
        }
        Content::Digest(d) => {
            attributes.insert(0, ("kind".to_string(), "digest".to_string()));
            attributes.push(("cadence".to_string(), d.cadence.as_str().to_string()));
        }
        Content::Report(_) => {
            attributes.insert(0, ("kind".to_string(), "report".to_string()));
        }
    }
    // SNS rejects empty attribute values.
    attributes.retain(|(_, v)| !v.is_empty());
    let subject = text::line(&format!("[costkit] {}", notice.content.headline()), 100);
    let mut body = match notice.content {
        Content::Finding(f) => format!(
            "{}\n\n{}\n\nfinding id: {}\nfound at: {}\n",
            f.title,
            f.summary,
            f.id,
            f.found_at.to_rfc3339()
        ),
        Content::Digest(d) => {
            let mut b = format!("{}\n\n", notice.content.headline());
            for (c, t) in &d.totals {
                b.push_str(&format!("at stake: {}\n", money(*t, Some(c))));
            }
            b.push('\n');
            for f in &d.findings {
                b.push_str(&format!(
                    "- [{}] {} ({})\n  {}\n",
                    f.severity.as_str(),
                    f.title,
                    when(&f.found_at),
                    f.summary
                ));
            }
            if d.more > 0 {
                b.push_str(&format!("- and {} more\n", d.more));
            }
            b
        }
        Content::Report(r) => report_text(r),
    };
    if let Some(link) = notice.link {
        body.push_str(&format!("\nreport: {link}\n"));
    }
    Publication {
        subject,
        body,
        attributes,
        dedup_id: match notice.content {
            // Existing subscribers and FIFO topics deduplicate on the finding id, as before.
            Content::Finding(f) => f.id.clone(),
            Content::Digest(_) | Content::Report(_) => idempotency_key.to_string(),
        },
    }
}

/// The report's headline and billed totals, one currency a line.
pub(crate) fn report_text(r: &super::ReportNotice) -> String {
    let mut b = format!("{}\n\n", r.title);
    for (c, t) in &r.totals {
        b.push_str(&format!("billed: {}\n", money(*t, Some(c))));
    }
    b
}
