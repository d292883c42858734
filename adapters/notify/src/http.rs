//! Slack, Teams and generic webhook channels: one JSON POST per attempt.

use std::time::Duration;

use costkit_core::notify::{webhook, Channel, ChannelKind, Outgoing, Rendered, Secret, SendError};
use tokio::runtime::Handle;

/// A JSON-over-HTTP channel. Slack answers `200 ok`, Teams Workflows `202 Accepted`; any 2xx is
/// success. 408/425/429/5xx and network errors are retryable; other statuses (400 bad payload,
/// 403/404 revoked webhook, 410 archived channel) are not. A `Retry-After` header on a 429 or
/// 503 (seconds or an HTTP date; Slack sends it when rate limiting) is passed on with the error,
/// so the notify flow waits what the receiver asked instead of its own backoff.
#[derive(Clone, Debug)]
pub struct HttpChannel {
    name: String,
    kind: ChannelKind,
    url: Secret,
    signing_secret: Option<Secret>,
    client: reqwest::Client,
    handle: Handle,
}

impl HttpChannel {
    /// A channel named `name` of `kind` (Slack, Teams or Webhook) posting to `url`; a webhook signs
    /// with `signing_secret`. Calls block on `handle` (call `send` from a blocking thread).
    pub fn new(
        name: &str,
        kind: ChannelKind,
        url: Secret,
        signing_secret: Option<Secret>,
        timeout: Duration,
        handle: Handle,
    ) -> Result<HttpChannel, SendError> {
        if !matches!(
            kind,
            ChannelKind::Slack | ChannelKind::Teams | ChannelKind::Webhook
        ) {
            return Err(SendError::permanent(format!(
                "channel `{name}`: {} is not an HTTP channel",
                kind.as_str()
            )));
        }
        if kind == ChannelKind::Webhook && signing_secret.is_none() {
            return Err(SendError::permanent(format!(
                "channel `{name}`: a webhook needs a signing secret"
            )));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            // A webhook URL must not be able to bounce the payload elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("costkit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::permanent(format!("channel `{name}`: HTTP client: {e}")))?;
        Ok(HttpChannel {
            name: name.to_string(),
            kind,
            url,
            signing_secret,
            client,
            handle,
        })
    }
}

impl Channel for HttpChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ChannelKind {
        self.kind
    }

    fn send(&self, message: &Outgoing) -> Result<(), SendError> {
        let Rendered::Json(post) = &message.rendered else {
            return Err(SendError::permanent(format!(
                "channel `{}` sends JSON, not this message",
                self.name
            )));
        };
        let mut req = self
            .client
            .post(self.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(webhook::IDEMPOTENCY_HEADER, &message.idempotency_key)
            .body(post.body.clone());
        if let Some(secret) = &self.signing_secret {
            // Signed per attempt: the timestamp is the attempt's, so receivers can refuse replays.
            let now = chrono::Utc::now().timestamp();
            for (k, v) in webhook::headers(
                secret.expose().as_bytes(),
                now,
                &post.body,
                &message.idempotency_key,
            ) {
                if k != webhook::IDEMPOTENCY_HEADER {
                    req = req.header(k, v);
                }
            }
        }
        let name = &self.name;
        self.handle.block_on(async move {
            let resp = req.send().await.map_err(|e| {
                // Without the URL: Slack and Teams URLs are credentials.
                SendError::retryable(format!("channel `{name}`: {}", e.without_url()))
            })?;
            let status = resp.status().as_u16();
            if resp.status().is_success() {
                return Ok(());
            }
            // Parsed by the same code as the cloud adapters' REST calls.
            let wait = matches!(status, 429 | 503)
                .then(|| costkit_rest::retry_after(resp.headers()))
                .flatten();
            let body: String = resp
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            let message = format!("channel `{name}`: HTTP {status}: {}", body.trim());
            Err(if SendError::status_is_retryable(status) {
                SendError::retryable(message).with_retry_after(wait)
            } else {
                SendError::permanent(message)
            })
        })
    }
}
