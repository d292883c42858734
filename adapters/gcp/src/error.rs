//! The adapter's error type.

use costkit_core::ports::PortError;
use costkit_core::store::StoreError;
use costkit_rest::{ApiError, RestError, RetriesExhausted};
use thiserror::Error;

/// Errors from the Google Cloud adapters. Every variant names the service call and the object
/// concerned.
#[derive(Debug, Error)]
pub enum GcpError {
    /// The service answered with an error status (after the retries the policy allows).
    #[error(transparent)]
    Api(ApiError),
    /// A throttled or transient failure persisted through every allowed attempt.
    #[error(transparent)]
    RetriesExhausted(RetriesExhausted),
    /// Missing or invalid configuration (environment variables, endpoints, project id).
    #[error("Google Cloud configuration: {0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// Data read from Google Cloud is not what costkit wrote or expects.
    #[error("invalid data from {what}: {message}")]
    Invalid {
        /// Where it came from (document, object, message, response).
        what: String,
        /// What is wrong.
        message: String,
    },
}

impl GcpError {
    /// The error status the service answered with, if that is what this is.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            GcpError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of a [`GcpError::Api`].
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

    /// A conditional write lost: the document exists (`ALREADY_EXISTS`), its `updateTime`
    /// changed (`FAILED_PRECONDITION`), or an object generation precondition failed (412).
    pub fn is_conflict(&self) -> bool {
        match self.status() {
            Some(412) => true,
            Some(409) => self.code() != Some("ABORTED"),
            Some(400) => self.code() == Some("FAILED_PRECONDITION"),
            _ => false,
        }
    }

    /// Transaction contention (`ABORTED`): the whole commit is worth another attempt.
    pub fn is_aborted(&self) -> bool {
        self.code() == Some("ABORTED")
    }

    pub(crate) fn io(path: impl std::fmt::Display, e: impl std::fmt::Display) -> GcpError {
        GcpError::Io {
            path: path.to_string(),
            message: e.to_string(),
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl std::fmt::Display) -> GcpError {
        GcpError::Invalid {
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

impl From<RestError> for GcpError {
    fn from(e: RestError) -> GcpError {
        match e {
            RestError::Client(m) => GcpError::Config(format!("HTTP client: {m}")),
            RestError::RetriesExhausted(r) => GcpError::RetriesExhausted(r),
        }
    }
}

impl From<ApiError> for GcpError {
    fn from(e: ApiError) -> GcpError {
        GcpError::Api(e)
    }
}

impl From<costkit_core::store::generational::GenerationalError> for GcpError {
    fn from(e: costkit_core::store::generational::GenerationalError) -> GcpError {
        use costkit_core::store::generational::GenerationalError as G;
        match e {
            G::Invalid { what, message } => GcpError::Invalid { what, message },
            G::ReadContention { attempts } => GcpError::RetriesExhausted(RetriesExhausted {
                service: "Firestore",
                operation: "read",
                what: "slice pointers".into(),
                attempts,
                last: "slices kept being replaced while they were read".into(),
            }),
        }
    }
}

impl From<GcpError> for StoreError {
    fn from(e: GcpError) -> StoreError {
        match e {
            GcpError::Invalid { .. } => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> GcpError {
        GcpError::Api(ApiError {
            service: "Firestore",
            operation: "commit",
            what: "doc".into(),
            status,
            code: Some(code.into()),
            message: "m".into(),
        })
    }

    #[test]
    fn lost_preconditions_are_conflicts_and_contention_is_not() {
        assert!(api(409, "ALREADY_EXISTS").is_conflict());
        assert!(api(400, "FAILED_PRECONDITION").is_conflict());
        assert!(api(412, "conditionNotMet").is_conflict());
        assert!(!api(409, "ABORTED").is_conflict());
        assert!(api(409, "ABORTED").is_aborted());
        assert!(!api(400, "INVALID_ARGUMENT").is_conflict());
        assert!(matches!(
            api(409, "ALREADY_EXISTS").into_port("k"),
            PortError::Conflict(_)
        ));
        assert!(matches!(
            api(404, "NOT_FOUND").into_port("k"),
            PortError::NotFound(_)
        ));
        let text = api(409, "ABORTED").to_string();
        assert_eq!(text, "Firestore commit doc: HTTP 409 (ABORTED): m");
    }
}
