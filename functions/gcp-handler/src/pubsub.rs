//! The request a Pub/Sub push subscription sends (the "wrapped" payload format):
//!
//! ```json
//! {"message": {"data": "<base64>", "attributes": {"k": "v"}, "messageId": "2070443601311540",
//!              "publishTime": "2021-02-26T19:13:55.749Z"},
//!  "subscription": "projects/p/subscriptions/s", "deliveryAttempt": 1}
//! ```
//!
//! Pub/Sub also repeats `messageId`/`publishTime` as `message_id`/`publish_time`;
//! `deliveryAttempt` is present only when the subscription has a dead-letter policy. The push
//! is acknowledged by a 102, 200, 201, 202 or 204 answer; anything else is a negative
//! acknowledgement, redelivered with the subscription's retry policy.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A push request.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushEnvelope {
    /// The message.
    pub message: PushMessage,
    /// `projects/{project}/subscriptions/{subscription}`.
    #[serde(default)]
    pub subscription: String,
    /// 1 + the number of failed deliveries so far (with a dead-letter policy only).
    #[serde(default)]
    pub delivery_attempt: Option<u32>,
}

/// The message in a push request.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "RawMessage")]
pub struct PushMessage {
    /// The payload, base64 (absent when the message has attributes only).
    pub data: Option<String>,
    /// String attributes.
    pub attributes: BTreeMap<String, String>,
    /// The server-assigned id, unique within the topic (empty if the request had none).
    pub message_id: String,
    /// When the server received the publish call.
    pub publish_time: Option<DateTime<Utc>>,
}

/// Both spellings Pub/Sub writes, side by side (an alias would reject the pair as a duplicate).
#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default, rename = "messageId")]
    message_id_camel: Option<String>,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default, rename = "publishTime")]
    publish_time_camel: Option<DateTime<Utc>>,
    #[serde(default)]
    publish_time: Option<DateTime<Utc>>,
}

impl From<RawMessage> for PushMessage {
    fn from(r: RawMessage) -> Self {
        PushMessage {
            data: r.data,
            attributes: r.attributes,
            message_id: r.message_id_camel.or(r.message_id).unwrap_or_default(),
            publish_time: r.publish_time_camel.or(r.publish_time),
        }
    }
}

impl PushEnvelope {
    /// Parses a push request body. A body that is not an envelope did not come from Pub/Sub (or
    /// the subscription is not in the wrapped format): the error says what was expected.
    pub fn parse(body: &[u8]) -> Result<PushEnvelope, String> {
        serde_json::from_slice(body).map_err(|e| {
            format!(
                "not a Pub/Sub push request ({{\"message\":{{\"data\",\"messageId\",...}},\"subscription\"}}): {e}"
            )
        })
    }
}

impl PushMessage {
    /// The payload as UTF-8 text (costkit's messages are JSON).
    pub fn text(&self) -> Result<String, String> {
        let data = self.data.as_deref().unwrap_or("");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("message {}: `data` is not base64: {e}", self.message_id))?;
        String::from_utf8(bytes)
            .map_err(|_| format!("message {}: `data` is not UTF-8 text", self.message_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_the_id_and_time_are_read_and_data_is_decoded() {
        let e = PushEnvelope::parse(br#"{"message":{"attributes":{"k":"v"},"data":"eyJhIjoxfQ==","messageId":"42","message_id":"42","publishTime":"2021-02-26T19:13:55.749Z","publish_time":"2021-02-26T19:13:55.749Z"},"subscription":"projects/p/subscriptions/s"}"#).expect("envelope");
        assert_eq!(e.message.message_id, "42");
        assert_eq!(e.message.text().expect("text"), "{\"a\":1}");
        assert_eq!(e.message.attributes["k"], "v");
        assert_eq!(e.delivery_attempt, None);
        assert!(e.message.publish_time.is_some());
        let snake = PushEnvelope::parse(
            br#"{"message":{"data":"","message_id":"43"},"deliveryAttempt":3}"#,
        )
        .expect("envelope");
        assert_eq!(snake.message.message_id, "43");
        assert_eq!(snake.delivery_attempt, Some(3));
        let bad = PushEnvelope::parse(br#"{"message":{"data":"!!!","messageId":"7"}}"#)
            .expect("envelope");
        assert!(bad.message.text().is_err_and(|m| m.contains("message 7")));
        assert!(PushEnvelope::parse(b"{\"data\":\"x\"}").is_err());
    }
}
