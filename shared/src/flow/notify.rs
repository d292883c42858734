//! The notify step: deliver a finding to a channel exactly once, as far as the channel can tell.
//!
//! A delivery receipt `delivery/<channel>/<finding id>` is written after the channel accepted
//! the message. A redelivered finding with a receipt is dropped. If the invocation dies between
//! the send and the receipt, the retry sends again with the same deduplication id (the finding
//! id), which FIFO topics and receivers use to drop it.

use super::messages::Finding;
use super::FlowError;
use crate::ports::{put_once, Publication, Publisher, StateStore};

/// What happened to a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Sent now.
    Sent,
    /// Sent before; dropped.
    Duplicate,
}

/// The message a finding becomes on a topic: subject, text and filterable attributes.
pub fn publication(f: &Finding) -> Publication {
    let mut attributes = vec![
        ("kind".to_string(), f.kind.as_str().to_string()),
        ("severity".to_string(), f.severity.as_str().to_string()),
    ];
    for (k, v) in &f.scope {
        attributes.push((k.clone(), v.clone()));
    }
    if let Some(c) = &f.currency {
        attributes.push(("currency".to_string(), c.to_string()));
    }
    // Email subjects are limited to 100 characters by SNS.
    let mut subject: String = format!("[costkit] {}", f.title);
    if subject.chars().count() > 100 {
        subject = subject.chars().take(99).collect::<String>() + "…";
    }
    let body = format!(
        "{}\n\n{}\n\nfinding id: {}\nfound at: {}\n",
        f.title,
        f.summary,
        f.id,
        f.found_at.to_rfc3339()
    );
    Publication {
        subject,
        body,
        attributes,
        dedup_id: f.id.clone(),
    }
}

/// Delivers `finding` to `channel` unless a receipt says it was delivered already.
pub fn deliver(
    finding: &Finding,
    channel: &str,
    publisher: &dyn Publisher,
    state: &dyn StateStore,
) -> Result<Delivery, FlowError> {
    let receipt = format!("delivery/{channel}/{}", finding.id);
    if state.get(&receipt)?.is_some() {
        return Ok(Delivery::Duplicate);
    }
    publisher.publish(&publication(finding))?;
    // A concurrent duplicate may have written the receipt meanwhile; either way it is delivered.
    put_once(state, &receipt, finding.found_at.to_rfc3339().as_bytes())?;
    Ok(Delivery::Sent)
}
