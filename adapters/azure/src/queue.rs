//! Storage queues over REST. Message text is base64 (what the Functions queue trigger expects by
//! default, and safe for any JSON); the service limits it to 64 KiB, so a body may be up to
//! 48 KiB.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reqwest::Method;

use crate::auth::Service;
use crate::error::AzureError;
use crate::http::{api_error, Call};
use crate::storage::Storage;

const SVC: &str = "Queue";
/// Largest message text the service takes (after base64).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// A received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Message id.
    pub id: String,
    /// Pop receipt (needed to delete it).
    pub pop_receipt: String,
    /// Times it has been received, this time included.
    pub dequeue_count: u32,
    /// The body, decoded from base64.
    pub body: String,
}

/// One storage queue.
#[derive(Clone, Debug)]
pub struct StorageQueue {
    storage: Storage,
    name: String,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl StorageQueue {
    /// The queue `name` (lower-case letters, digits, dashes).
    pub fn new(storage: &Storage, name: &str) -> StorageQueue {
        StorageQueue {
            storage: storage.clone(),
            name: name.to_string(),
        }
    }

    /// The queue name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn call(&self, operation: &'static str) -> Call<'_> {
        Call {
            service: SVC,
            operation,
            what: &self.name,
        }
    }

    /// Creates the queue; an existing one is left as it is (tests and local set-ups).
    pub async fn create(&self) -> Result<(), AzureError> {
        let url = self.storage.url(Service::Queue, [self.name.as_str()]);
        let call = self.call("CreateQueue");
        let resp = self
            .storage
            .send(&call, Service::Queue, Method::PUT, &url, &[], None)
            .await?;
        if resp.status().is_success() || resp.status().as_u16() == 409 {
            Ok(())
        } else {
            Err(api_error(&call, resp).await)
        }
    }

    /// Sends one message (body base64-encoded).
    pub async fn send(&self, body: &str) -> Result<(), AzureError> {
        let text = B64.encode(body.as_bytes());
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(AzureError::invalid(
                &self.name,
                format!(
                    "message of {} bytes is larger than a queue message holds ({MAX_MESSAGE_BYTES} after base64)",
                    body.len()
                ),
            ));
        }
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessage><MessageText>{}</MessageText></QueueMessage>",
            xml_escape(&text)
        );
        let url = self
            .storage
            .url(Service::Queue, [self.name.as_str(), "messages"]);
        self.storage
            .send_ok(
                &self.call("PutMessage"),
                Service::Queue,
                Method::POST,
                &url,
                &[("content-type", "application/xml".into())],
                Some(xml.as_bytes()),
            )
            .await?;
        Ok(())
    }

    /// Receives up to `max` (1–32) messages, invisible to others for `visibility_secs`.
    pub async fn receive(
        &self,
        max: u32,
        visibility_secs: u32,
    ) -> Result<Vec<ReceivedMessage>, AzureError> {
        let mut url = self
            .storage
            .url(Service::Queue, [self.name.as_str(), "messages"]);
        url.query_pairs_mut()
            .append_pair("numofmessages", &max.clamp(1, 32).to_string())
            .append_pair("visibilitytimeout", &visibility_secs.max(1).to_string());
        let resp = self
            .storage
            .send_ok(
                &self.call("GetMessages"),
                Service::Queue,
                Method::GET,
                &url,
                &[],
                None,
            )
            .await?;
        let text = resp
            .text()
            .await
            .map_err(|e| AzureError::invalid(&self.name, format!("response: {e}")))?;
        parse_messages(&self.name, &text)
    }

    /// Deletes a received message.
    pub async fn delete(&self, m: &ReceivedMessage) -> Result<(), AzureError> {
        let mut url = self.storage.url(
            Service::Queue,
            [self.name.as_str(), "messages", m.id.as_str()],
        );
        url.query_pairs_mut()
            .append_pair("popreceipt", &m.pop_receipt);
        self.storage
            .send_ok(
                &self.call("DeleteMessage"),
                Service::Queue,
                Method::DELETE,
                &url,
                &[],
                None,
            )
            .await?;
        Ok(())
    }
}

fn parse_messages(queue: &str, xml: &str) -> Result<Vec<ReceivedMessage>, AzureError> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| AzureError::invalid(queue, format!("messages response is not XML: {e}")))?;
    let mut out = Vec::new();
    for m in doc.descendants().filter(|n| n.has_tag_name("QueueMessage")) {
        let field = |name: &str| {
            m.children()
                .find(|c| c.has_tag_name(name))
                .and_then(|c| c.text())
                .unwrap_or("")
                .to_string()
        };
        let id = field("MessageId");
        let raw = field("MessageText");
        let bytes = B64.decode(raw.trim()).map_err(|e| {
            AzureError::invalid(
                format!("{queue} message {id}"),
                format!("text is not base64: {e}"),
            )
        })?;
        let body = String::from_utf8(bytes).map_err(|e| {
            AzureError::invalid(
                format!("{queue} message {id}"),
                format!("text is not UTF-8: {e}"),
            )
        })?;
        out.push(ReceivedMessage {
            pop_receipt: field("PopReceipt"),
            dequeue_count: field("DequeueCount").parse().unwrap_or(0),
            id,
            body,
        });
    }
    Ok(out)
}
