//! The core's ports on Google Cloud: Pub/Sub topics as [`Queue`] (one topic per pipeline step;
//! a topic with several subscriptions is the fan-out) and as the [`Publisher`] of findings, and
//! a Cloud Storage bucket as [`BlobStore`] ([`GcsBlobs`]). Firestore state items are
//! [`crate::state::FirestoreState`].
//!
//! The ports are synchronous like the flows; each implementation runs its async call with
//! `Handle::block_on` on the runtime handle it was built with, like [`crate::FirestoreStore`].
//! Call them from a thread that is not a runtime worker (`tokio::task::spawn_blocking`).

use std::collections::BTreeMap;

use costkit_core::ports::{PortError, Publication, Publisher, Queue};
use tokio::runtime::Handle;

use crate::client::Gcp;
use crate::error::GcpError;
pub use crate::gcs::GcsBlobs;
use crate::pubsub::{Outgoing, Topic};

/// The attribute carrying a message's dedup id (Pub/Sub delivers at least once; consumers
/// recognise repeats by it or by the ids inside the message).
pub const DEDUP_ATTRIBUTE: &str = "dedup_id";
/// The attribute carrying a publication's subject.
pub const SUBJECT_ATTRIBUTE: &str = "subject";

/// A Pub/Sub topic as the core's [`Queue`]: the body is the message data (UTF-8), the dedup id
/// the [`DEDUP_ATTRIBUTE`] attribute. No ordering key: the steps do not depend on order.
#[derive(Clone, Debug)]
pub struct PubSubQueue {
    topic: Topic,
    handle: Handle,
}

impl PubSubQueue {
    /// The topic `id` of the project; calls run on `handle`.
    pub fn new(gcp: &Gcp, topic: &str, handle: Handle) -> PubSubQueue {
        PubSubQueue {
            topic: Topic::new(gcp, topic),
            handle,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }
}

impl Queue for PubSubQueue {
    fn send(&self, body: &str, dedup_id: &str) -> Result<(), PortError> {
        let mut attributes = BTreeMap::new();
        if !dedup_id.is_empty() {
            attributes.insert(DEDUP_ATTRIBUTE.to_string(), dedup_id.to_string());
        }
        let m = Outgoing {
            data: body.as_bytes().to_vec(),
            attributes,
        };
        self.handle
            .block_on(self.topic.publish(std::slice::from_ref(&m)))
            .map(|_| ())
            .map_err(|e| e.into_port(self.topic.name()))
    }
}

/// Findings published on a Pub/Sub topic: the body is the data, the publication's attributes
/// (`kind`, `severity`, `provider`...) are message attributes for subscription filters
/// (`attributes.severity = "high"`), plus [`SUBJECT_ATTRIBUTE`] (cut to 1024 bytes) and
/// [`DEDUP_ATTRIBUTE`], which win over attributes of the same name.
/// [`publication_from_message`] reads it back.
#[derive(Clone, Debug)]
pub struct PubSubPublisher {
    topic: Topic,
    handle: Handle,
}

impl PubSubPublisher {
    /// Publishes to the topic `id` of the project.
    pub fn new(gcp: &Gcp, topic: &str, handle: Handle) -> PubSubPublisher {
        PubSubPublisher {
            topic: Topic::new(gcp, topic),
            handle,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &Topic {
        &self.topic
    }
}

/// The Pub/Sub message of a publication (see [`PubSubPublisher`]).
pub fn publication_message(m: &Publication) -> Outgoing {
    let mut attributes: BTreeMap<String, String> = m.attributes.iter().cloned().collect();
    attributes.insert(
        SUBJECT_ATTRIBUTE.to_string(),
        cut(&m.subject, crate::pubsub::MAX_VALUE_BYTES).to_string(),
    );
    attributes.insert(DEDUP_ATTRIBUTE.to_string(), m.dedup_id.clone());
    Outgoing {
        data: m.body.as_bytes().to_vec(),
        attributes,
    }
}

/// A publication from a received message's data and attributes (a push envelope's `message`),
/// the inverse of [`publication_message`]: the subject and dedup id come out of the attributes,
/// the other attributes come back sorted by name (they are a map on the wire).
pub fn publication_from_message(
    data: &[u8],
    attributes: &BTreeMap<String, String>,
) -> Result<Publication, GcpError> {
    let body = String::from_utf8(data.to_vec())
        .map_err(|e| GcpError::invalid("Pub/Sub publication", format!("data is not UTF-8: {e}")))?;
    let mut attrs = attributes.clone();
    let subject = attrs.remove(SUBJECT_ATTRIBUTE).unwrap_or_default();
    let dedup_id = attrs.remove(DEDUP_ATTRIBUTE).unwrap_or_default();
    Ok(Publication {
        subject,
        body,
        attributes: attrs.into_iter().collect(),
        dedup_id,
    })
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Publisher for PubSubPublisher {
    fn publish(&self, message: &Publication) -> Result<(), PortError> {
        let m = publication_message(message);
        self.handle
            .block_on(self.topic.publish(std::slice::from_ref(&m)))
            .map(|_| ())
            .map_err(|e| e.into_port(self.topic.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publication_round_trips_through_a_message() {
        let p = Publication {
            subject: "Budget 80% reached".into(),
            body: "{\"finding\":1}".into(),
            attributes: vec![
                ("kind".into(), "budget".into()),
                ("severity".into(), "high".into()),
            ],
            dedup_id: "f-1".into(),
        };
        let m = publication_message(&p);
        assert_eq!(
            m.attributes.get("severity").map(String::as_str),
            Some("high")
        );
        assert_eq!(
            m.attributes.get("subject").map(String::as_str),
            Some("Budget 80% reached")
        );
        let back = publication_from_message(&m.data, &m.attributes).expect("back");
        assert_eq!(back, p);
    }

    #[test]
    fn long_subjects_are_cut_on_a_character_boundary() {
        let s = "é".repeat(600);
        let c = cut(&s, 1024);
        assert_eq!(c.len(), 1024);
        let c = cut(&s, 1023);
        assert_eq!(c.len(), 1022);
        assert_eq!(cut("short", 1024), "short");
    }
}
