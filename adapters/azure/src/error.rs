//! The adapter's error type.

use costkit_core::ports::PortError;
use costkit_core::store::StoreError;
use thiserror::Error;

/// Errors from the Azure adapters. Every variant names the service call and the object concerned.
#[derive(Debug, Error)]
pub enum AzureError {
    /// The service answered with an error status (after the retries the policy allows).
    #[error("{service} {operation} {what}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// `Table`, `Blob`, `Queue`, `Cost Management`, `Entra ID`.
        service: &'static str,
        /// The operation (`InsertEntity`, `PutBlock`, `Query`...).
        operation: &'static str,
        /// The table/entity, blob, queue or scope.
        what: String,
        /// HTTP status.
        status: u16,
        /// The service's error code (`x-ms-error-code`, OData or ARM `code`).
        code: Option<String>,
        /// The service's message.
        message: String,
    },
    /// A throttled or transient failure persisted through every allowed attempt.
    #[error("{service} {operation} {what}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Service.
        service: &'static str,
        /// Operation.
        operation: &'static str,
        /// The object concerned.
        what: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Missing or invalid configuration (environment variables, connection strings, keys).
    #[error("Azure configuration: {0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// Data read from Azure is not what costkit wrote or expects.
    #[error("invalid data from {what}: {message}")]
    Invalid {
        /// Where it came from (entity, blob, message, response).
        what: String,
        /// What is wrong.
        message: String,
    },
}

impl AzureError {
    /// The HTTP status of an [`AzureError::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            AzureError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The service's error code, when there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AzureError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// 404: the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 409 (exists) or 412 (ETag changed): a conditional write lost.
    pub fn is_conflict(&self) -> bool {
        matches!(self.status(), Some(409 | 412))
    }

    pub(crate) fn io(path: impl std::fmt::Display, e: impl std::fmt::Display) -> AzureError {
        AzureError::Io {
            path: path.to_string(),
            message: e.to_string(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl std::fmt::Display) -> AzureError {
        AzureError::Invalid {
            what: what.into(),
            message: message.to_string(),
        }
    }

    /// The port error for a failure about `what`: 404 is [`PortError::NotFound`], a lost
    /// conditional write [`PortError::Conflict`].
    pub fn into_port(self, what: &str) -> PortError {
        if self.is_not_found() {
            PortError::NotFound(what.to_string())
        } else if self.is_conflict() {
            PortError::Conflict(what.to_string())
        } else {
            PortError::backend(what, self)
        }
    }
}

impl From<costkit_rest::RestError> for AzureError {
    fn from(e: costkit_rest::RestError) -> AzureError {
        match e {
            costkit_rest::RestError::Client(m) => AzureError::Config(format!("HTTP client: {m}")),
            costkit_rest::RestError::RetriesExhausted {
                service,
                operation,
                what,
                attempts,
                last,
            } => AzureError::RetriesExhausted {
                service,
                operation,
                what,
                attempts,
                last,
            },
        }
    }
}

impl From<costkit_core::store::generational::GenerationalError> for AzureError {
    fn from(e: costkit_core::store::generational::GenerationalError) -> AzureError {
        use costkit_core::store::generational::GenerationalError as G;
        match e {
            G::Invalid { what, message } => AzureError::Invalid { what, message },
            G::ReadContention { attempts } => AzureError::RetriesExhausted {
                service: "Table",
                operation: "QueryEntities",
                what: "slice pointers".into(),
                attempts,
                last: "slices kept being replaced while they were read".into(),
            },
        }
    }
}

impl From<AzureError> for StoreError {
    fn from(e: AzureError) -> StoreError {
        match e {
            AzureError::Invalid { .. } => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}
