//! Email over SMTP with `lettre`'s blocking transport: STARTTLS (default), implicit TLS, or plain
//! to a loopback host (tests, a local relay), over rustls.

use std::time::Duration;

use costkit_core::notify::email::to_mime;
use costkit_core::notify::routing::SmtpTls;
use costkit_core::notify::{Channel, ChannelKind, Outgoing, Rendered, Secret, SendError};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, SmtpTransport, Transport};

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Security.
    pub tls: SmtpTls,
    /// User name and password, when the server wants them.
    pub credentials: Option<(String, Secret)>,
    /// Timeout of one connection's commands.
    pub timeout: Duration,
}

/// An email channel over SMTP.
pub struct SmtpChannel {
    name: String,
    from: String,
    to: Vec<String>,
    transport: SmtpTransport,
}

impl std::fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("name", &self.name)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl SmtpChannel {
    /// A channel named `name` sending from `from` to `to` through the server in `settings`.
    pub fn new(
        name: &str,
        from: &str,
        to: &[String],
        settings: &SmtpSettings,
    ) -> Result<SmtpChannel, SendError> {
        let err = |e: &dyn std::fmt::Display| {
            SendError::permanent(format!("channel `{name}`: SMTP {}: {e}", settings.host))
        };
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => {
                Tls::Required(TlsParameters::new(settings.host.clone()).map_err(|e| err(&e))?)
            }
            SmtpTls::Tls => {
                Tls::Wrapper(TlsParameters::new(settings.host.clone()).map_err(|e| err(&e))?)
            }
        };
        let mut b = SmtpTransport::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some((user, pass)) = &settings.credentials {
            b = b.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        Ok(SmtpChannel {
            name: name.to_string(),
            from: from.to_string(),
            to: to.to_vec(),
            transport: b.build(),
        })
    }
}

impl Channel for SmtpChannel {
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
        let addr = |a: &str| {
            a.parse::<Address>()
                .map_err(|e| SendError::permanent(format!("channel `{}`: `{a}`: {e}", self.name)))
        };
        let to = mime
            .to
            .iter()
            .map(|a| addr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(addr(&mime.from)?), to)
            .map_err(|e| SendError::permanent(format!("channel `{}`: {e}", self.name)))?;
        self.transport
            .send_raw(&envelope, &mime.bytes)
            .map(|_| ())
            .map_err(|e| {
                let text = format!("channel `{}`: SMTP: {e}", self.name);
                // 5xx replies (unknown mailbox, refused sender) will not change on retry; 4xx
                // replies, timeouts and connection failures may.
                if e.is_permanent() {
                    SendError::permanent(text)
                } else {
                    SendError::retryable(text)
                }
            })
    }
}
