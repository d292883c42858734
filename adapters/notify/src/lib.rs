//! costkit's notification channels outside AWS: Slack, Microsoft Teams and signed webhooks over
//! HTTP ([`HttpChannel`], `reqwest` with rustls), and email over SMTP ([`SmtpChannel`], `lettre`
//! with rustls). Each implements the core's [`Channel`](costkit_core::notify::Channel) port: one
//! attempt per call, failures classified as retryable or not; the core's notify flow does the
//! retries, receipts and dead letters.
//!
//! Secrets (webhook URLs, signing keys, SMTP passwords) are held in
//! [`Secret`](costkit_core::notify::Secret) and never appear in logs or errors: HTTP errors are
//! reported without their URL.

mod http;
pub mod secrets;
mod smtp;

pub use http::HttpChannel;
pub use secrets::{resolve, resolve_setting, SecretError};
pub use smtp::{SmtpChannel, SmtpSettings};
