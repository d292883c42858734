//! The adapter's error type.

use costkit_core::ports::PortError;
use costkit_core::store::StoreError;
use costkit_rest::{ApiError, RestError, RetriesExhausted};
use thiserror::Error;

/// Errors from the Azure adapters. Every variant names the service call and the object concerned.
#[derive(Debug, Error)]
pub enum AzureError {
    /// The service answered with an error status (after the retries the policy allows).
    #[error(transparent)]
    Api(ApiError),
    /// A throttled or transient failure persisted through every allowed attempt.
    #[error(transparent)]
    RetriesExhausted(RetriesExhausted),
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
    /// The error status the service answered with, if that is what this is.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            AzureError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of an [`AzureError::Api`].
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// The service's error code, when there is one.
    pub fn code(&self) -> Option<&str> {
        self.api().and_then(|e| e.code.as_deref())
    }

    /// 404: the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.api().is_some_and(ApiError::is_not_found)
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
        PortError::classify(what, self.is_not_found(), self.is_conflict(), self)
    }
}

impl From<RestError> for AzureError {
    fn from(e: RestError) -> AzureError {
        match e {
            RestError::Client(m) => AzureError::Config(format!("HTTP client: {m}")),
            RestError::RetriesExhausted(r) => AzureError::RetriesExhausted(r),
        }
    }
}

impl From<ApiError> for AzureError {
    fn from(e: ApiError) -> AzureError {
        AzureError::Api(e)
    }
}

impl From<costkit_core::store::generational::GenerationalError> for AzureError {
    fn from(e: costkit_core::store::generational::GenerationalError) -> AzureError {
        use costkit_core::store::generational::GenerationalError as G;
        match e {
            G::Invalid { what, message } => AzureError::Invalid { what, message },
            G::ReadContention { attempts } => AzureError::RetriesExhausted(RetriesExhausted {
                service: "Table",
                operation: "QueryEntities",
                what: "slice pointers".into(),
                attempts,
                last: "slices kept being replaced while they were read".into(),
            }),
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
