//! Amazon SES v2 as the core's email [`Channel`]: the core's MIME message (HTML, text
//! alternative, CSV attachment, `Message-ID` from the idempotency key) sent as raw content, so
//! SES and SMTP deliver byte-for-byte the same message.

use aws_sdk_sesv2::error::ProvideErrorMetadata;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{EmailContent, RawMessage};
use costkit_core::notify::email::to_mime;
use costkit_core::notify::{Channel, ChannelKind, Outgoing, Rendered, SendError};
use tokio::runtime::Handle;

use crate::clients::AwsClients;
use crate::retry::is_throttling_code;

/// An email channel through SES v2 (`ses:SendEmail` / `ses:SendRawEmail` on the identity).
#[derive(Clone, Debug)]
pub struct SesChannel {
    name: String,
    from: String,
    to: Vec<String>,
    configuration_set: Option<String>,
    client: aws_sdk_sesv2::Client,
    handle: Handle,
}

impl SesChannel {
    /// A channel named `name` sending from `from` (a verified identity) to `to`.
    pub fn new(
        clients: &AwsClients,
        name: &str,
        from: &str,
        to: &[String],
        configuration_set: Option<String>,
        handle: Handle,
    ) -> SesChannel {
        SesChannel {
            name: name.to_string(),
            from: from.to_string(),
            to: to.to_vec(),
            configuration_set,
            client: clients.ses().clone(),
            handle,
        }
    }
}

impl Channel for SesChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let Rendered::Email(content) = &message.rendered else {
            return Err(SendError::permanent(format!(
                "channel `{}` sends email, not this message",
                self.name
            )));
        };
        let mime = to_mime(
            content,
            &self.from,
            &self.to,
            &message.idempotency_key,
            chrono::Utc::now(),
        )
        .map_err(|e| SendError::permanent(format!("channel `{}`: {e}", self.name)))?;
        let raw = RawMessage::builder()
            .data(Blob::new(mime.bytes))
            .build()
            .map_err(|e| SendError::permanent(format!("channel `{}`: {e}", self.name)))?;
        let req = self
            .client
            .send_email()
            .from_email_address(&mime.from)
            // No `Destination`: for raw content SES takes the recipients from the message's own
            // To header, which `to_mime` wrote from the same list.
            .content(EmailContent::builder().raw(raw).build())
            .set_configuration_set_name(self.configuration_set.clone());
        match self.handle.block_on(req.send()) {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = format!(
                    "channel `{}`: SES SendEmail: {}",
                    self.name,
                    aws_sdk_sesv2::error::DisplayErrorContext(&e)
                );
                // The SDK's standard retry already retried throttling, 5xx and network errors; what
                // is left is retryable only when it is one of those (the flow waits longer).
                let retryable = match e.as_service_error() {
                    Some(se) => se.code().is_some_and(is_throttling_code),
                    None => true,
                };
                Err(SendError {
                    retryable,
                    message: text,
                    retry_after: None,
                })
            }
        }
    }
}
