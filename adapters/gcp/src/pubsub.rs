//! Pub/Sub over REST v1: publishing to a topic (`projects/{p}/topics/{t}:publish`, data base64,
//! string attributes), plus creating topics and pull subscriptions, pulling and acknowledging
//! (local set-ups and tests; deployments create them with the IaC and consume by push).
//!
//! Limits checked before sending, with the topic and attribute named: at most 100 attributes,
//! keys of 1 to 256 bytes not starting with `goog`, values of at most 1024 bytes, and a message
//! of at most 10 MB (data and attributes).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use costkit_rest::Call;
use reqwest::{Method, Request};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::client::{json_request, Gcp, Service};
use crate::error::GcpError;

/// Attributes per message.
pub const MAX_ATTRIBUTES: usize = 100;
/// Bytes of an attribute key.
pub const MAX_KEY_BYTES: usize = 256;
/// Bytes of an attribute value.
pub const MAX_VALUE_BYTES: usize = 1024;
/// Bytes of a message (data and attributes).
pub const MAX_MESSAGE_BYTES: usize = 10_000_000;

/// A message to publish.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outgoing {
    /// The payload.
    pub data: Vec<u8>,
    /// String attributes (for subscription filters and consumers).
    pub attributes: BTreeMap<String, String>,
}

/// Checks a message against Pub/Sub's limits; `topic` names it in errors.
pub fn check(topic: &str, m: &Outgoing) -> Result<(), GcpError> {
    let bad = |msg: String| GcpError::invalid(format!("message to {topic}"), msg);
    if m.attributes.len() > MAX_ATTRIBUTES {
        return Err(bad(format!(
            "{} attributes (Pub/Sub allows {MAX_ATTRIBUTES})",
            m.attributes.len()
        )));
    }
    let mut size = m.data.len();
    for (k, v) in &m.attributes {
        if k.is_empty() || k.len() > MAX_KEY_BYTES {
            return Err(bad(format!(
                "attribute key `{k}` must be 1 to {MAX_KEY_BYTES} bytes"
            )));
        }
        if k.starts_with("goog") {
            return Err(bad(format!(
                "attribute key `{k}`: keys starting with `goog` are reserved"
            )));
        }
        if v.len() > MAX_VALUE_BYTES {
            return Err(bad(format!(
                "attribute `{k}` is {} bytes (Pub/Sub allows {MAX_VALUE_BYTES})",
                v.len()
            )));
        }
        size += k.len() + v.len();
    }
    if m.data.is_empty() && m.attributes.is_empty() {
        return Err(bad("a message needs data or attributes".into()));
    }
    if size > MAX_MESSAGE_BYTES {
        return Err(bad(format!(
            "{size} bytes (Pub/Sub allows {MAX_MESSAGE_BYTES})"
        )));
    }
    Ok(())
}

/// A received message (pull, or the `message` of a push envelope).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PubsubMessage {
    /// The payload, base64.
    #[serde(default)]
    pub data: String,
    /// Attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Server-assigned id.
    #[serde(rename = "messageId", default)]
    pub message_id: String,
    /// When it was published (RFC 3339).
    #[serde(rename = "publishTime", default)]
    pub publish_time: String,
}

impl PubsubMessage {
    /// The decoded payload.
    pub fn bytes(&self) -> Result<Vec<u8>, GcpError> {
        B64.decode(&self.data).map_err(|e| {
            GcpError::invalid(
                format!("Pub/Sub message {}", self.message_id),
                format!("data is not base64: {e}"),
            )
        })
    }
}

/// The body of a push subscription's request: `{"message": {...}, "subscription": "..."}`
/// (`deliveryAttempt` when the subscription has a dead-letter policy).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PushEnvelope {
    /// The message.
    pub message: PubsubMessage,
    /// `projects/{p}/subscriptions/{s}`.
    #[serde(default)]
    pub subscription: String,
    /// Delivery attempts so far (dead-letter policies only).
    #[serde(rename = "deliveryAttempt", default)]
    pub delivery_attempt: Option<u32>,
}

/// A pulled message with its acknowledgement id.
#[derive(Clone, Debug, Deserialize)]
pub struct ReceivedMessage {
    /// Pass to [`Subscription::acknowledge`].
    #[serde(rename = "ackId")]
    pub ack_id: String,
    /// The message.
    pub message: PubsubMessage,
}

/// A topic of the project.
#[derive(Clone, Debug)]
pub struct Topic {
    gcp: Gcp,
    id: String,
    name: String,
}

impl Topic {
    /// The topic `id` (short name; a full `projects/…/topics/…` name is accepted too).
    pub fn new(gcp: &Gcp, id: &str) -> Topic {
        let name = if id.starts_with("projects/") {
            id.to_string()
        } else {
            format!("projects/{}/topics/{id}", gcp.project())
        };
        Topic {
            gcp: gcp.clone(),
            id: name.rsplit('/').next().unwrap_or(id).to_string(),
            name,
        }
    }

    /// `projects/{p}/topics/{t}`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The short id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Creates the topic (409 `ALREADY_EXISTS` is fine).
    pub async fn create(&self) -> Result<(), GcpError> {
        let url = self
            .gcp
            .url(Service::PubSub, &format!("/v1/{}", self.name))?;
        let call = Call {
            service: "Pub/Sub",
            operation: "topics.create",
            what: &self.name,
        };
        let r = self
            .gcp
            .send_ok(&call, Service::PubSub, || {
                json_request(Method::PUT, &url, &json!({}))
            })
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(409) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Publishes `messages` (checked against the limits first) in one request; returns their ids.
    pub async fn publish(&self, messages: &[Outgoing]) -> Result<Vec<String>, GcpError> {
        #[derive(Deserialize)]
        struct Published {
            #[serde(rename = "messageIds", default)]
            message_ids: Vec<String>,
        }
        for m in messages {
            check(&self.name, m)?;
        }
        let body = json!({
            "messages": messages.iter().map(|m| {
                let mut o = json!({ "data": B64.encode(&m.data) });
                if !m.attributes.is_empty() {
                    o["attributes"] = json!(m.attributes);
                }
                o
            }).collect::<Vec<Value>>()
        });
        let url = self
            .gcp
            .url(Service::PubSub, &format!("/v1/{}:publish", self.name))?;
        let call = Call {
            service: "Pub/Sub",
            operation: "publish",
            what: &self.name,
        };
        let p: Published = self
            .gcp
            .send_json(&call, Service::PubSub, || {
                json_request(Method::POST, &url, &body)
            })
            .await?;
        if p.message_ids.len() != messages.len() {
            return Err(GcpError::invalid(
                &self.name,
                format!(
                    "published {} messages, got {} ids",
                    messages.len(),
                    p.message_ids.len()
                ),
            ));
        }
        Ok(p.message_ids)
    }
}

/// A subscription of the project.
#[derive(Clone, Debug)]
pub struct Subscription {
    gcp: Gcp,
    name: String,
}

impl Subscription {
    /// The subscription `id`.
    pub fn new(gcp: &Gcp, id: &str) -> Subscription {
        Subscription {
            gcp: gcp.clone(),
            name: format!("projects/{}/subscriptions/{id}", gcp.project()),
        }
    }

    /// `projects/{p}/subscriptions/{s}`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates it as a pull subscription of `topic`, with an optional attribute `filter`
    /// (409 `ALREADY_EXISTS` is fine).
    pub async fn create_pull(&self, topic: &Topic, filter: Option<&str>) -> Result<(), GcpError> {
        let url = self
            .gcp
            .url(Service::PubSub, &format!("/v1/{}", self.name))?;
        let mut body = json!({ "topic": topic.name(), "ackDeadlineSeconds": 10 });
        if let Some(f) = filter {
            body["filter"] = Value::String(f.to_string());
        }
        let call = Call {
            service: "Pub/Sub",
            operation: "subscriptions.create",
            what: &self.name,
        };
        match self
            .gcp
            .send_ok(&call, Service::PubSub, || {
                json_request(Method::PUT, &url, &body)
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(409) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Pulls up to `max` messages (returns at once when none are waiting).
    pub async fn pull(&self, max: u32) -> Result<Vec<ReceivedMessage>, GcpError> {
        #[derive(Deserialize)]
        struct Pulled {
            #[serde(rename = "receivedMessages", default)]
            received: Vec<ReceivedMessage>,
        }
        let url = self
            .gcp
            .url(Service::PubSub, &format!("/v1/{}:pull", self.name))?;
        let body = json!({ "maxMessages": max, "returnImmediately": true });
        let call = Call {
            service: "Pub/Sub",
            operation: "pull",
            what: &self.name,
        };
        let p: Pulled = self
            .gcp
            .send_json(&call, Service::PubSub, || {
                json_request(Method::POST, &url, &body)
            })
            .await?;
        Ok(p.received)
    }

    /// Acknowledges pulled messages.
    pub async fn acknowledge(&self, ack_ids: &[String]) -> Result<(), GcpError> {
        if ack_ids.is_empty() {
            return Ok(());
        }
        let url = self
            .gcp
            .url(Service::PubSub, &format!("/v1/{}:acknowledge", self.name))?;
        let body = json!({ "ackIds": ack_ids });
        let call = Call {
            service: "Pub/Sub",
            operation: "acknowledge",
            what: &self.name,
        };
        self.gcp
            .send_ok(&call, Service::PubSub, || {
                json_request(Method::POST, &url, &body)
            })
            .await?;
        Ok(())
    }

    /// Deletes the subscription.
    pub async fn delete(&self) -> Result<(), GcpError> {
        let url = self
            .gcp
            .url(Service::PubSub, &format!("/v1/{}", self.name))?;
        let call = Call {
            service: "Pub/Sub",
            operation: "subscriptions.delete",
            what: &self.name,
        };
        self.gcp
            .send_ok(&call, Service::PubSub, || {
                Ok(Request::new(Method::DELETE, url.clone()))
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(attrs: &[(&str, &str)]) -> Outgoing {
        Outgoing {
            data: b"x".to_vec(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn push_envelopes_as_google_documents_them() {
        // The documented push body: both spellings of the id and time are sent.
        let body = r#"{
            "message": {
                "attributes": {"severity": "high", "dedup_id": "f-2"},
                "data": "eyJmaW5kaW5nX2lkIjoiZi0yIn0=",
                "messageId": "2070443601311540",
                "message_id": "2070443601311540",
                "publishTime": "2021-02-26T19:13:55.749Z",
                "publish_time": "2021-02-26T19:13:55.749Z"
            },
            "subscription": "projects/myproject/subscriptions/mysubscription"
        }"#;
        let e: PushEnvelope = serde_json::from_str(body).expect("envelope");
        assert_eq!(e.message.message_id, "2070443601311540");
        assert_eq!(e.message.bytes().expect("data"), br#"{"finding_id":"f-2"}"#);
        assert_eq!(
            e.message.attributes.get("severity").map(String::as_str),
            Some("high")
        );
        assert_eq!(
            e.subscription,
            "projects/myproject/subscriptions/mysubscription"
        );
        assert_eq!(e.delivery_attempt, None);
        let bad = r#"{"message": {"data": "%%%", "messageId": "1"}}"#;
        let e: PushEnvelope = serde_json::from_str(bad).expect("envelope");
        assert!(e
            .message
            .bytes()
            .expect_err("not base64")
            .to_string()
            .contains("message 1"));
    }

    #[test]
    fn limits_are_checked_with_the_topic_and_attribute_named() {
        assert!(check("t", &msg(&[("kind", "budget")])).is_ok());
        let e = check("projects/p/topics/alerts", &msg(&[("googx", "1")]))
            .expect_err("reserved")
            .to_string();
        assert!(
            e.contains("projects/p/topics/alerts") && e.contains("`googx`"),
            "{e}"
        );
        let long = "v".repeat(MAX_VALUE_BYTES + 1);
        let e = check("t", &msg(&[("subject", &long)]))
            .expect_err("long")
            .to_string();
        assert!(e.contains("attribute `subject` is 1025 bytes"), "{e}");
        assert!(check("t", &msg(&[("", "1")])).is_err());
        let many: Vec<(String, String)> = (0..101).map(|i| (format!("k{i}"), "v".into())).collect();
        let m = Outgoing {
            data: Vec::new(),
            attributes: many.into_iter().collect(),
        };
        assert!(check("t", &m).is_err());
        assert!(check("t", &Outgoing::default()).is_err());
        let big = Outgoing {
            data: vec![0; MAX_MESSAGE_BYTES + 1],
            attributes: BTreeMap::new(),
        };
        assert!(check("t", &big).is_err());
    }
}
