//! The adapter's error type.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use costkit_core::store::StoreError;
use thiserror::Error;

/// Errors from the AWS adapters.
#[derive(Debug, Error)]
pub enum AwsError {
    /// An AWS API call failed (after the retries the policy allows).
    #[error("{service} {operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// Service name (`DynamoDB`, `S3`, ...).
        service: &'static str,
        /// Operation name (`BatchWriteItem`, ...).
        operation: &'static str,
        /// The AWS error code, when the service sent one.
        code: Option<String>,
        /// The full error chain.
        message: String,
    },
    /// A throttled or otherwise transient failure persisted through every allowed attempt.
    #[error("{service} {operation}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Service name.
        service: &'static str,
        /// Operation name.
        operation: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Missing or invalid configuration (environment variables, arguments).
    #[error("AWS configuration: {0}")]
    Config(String),
    /// A local file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// Data read from AWS is not what costkit wrote or expects.
    #[error("invalid data from {what}: {message}")]
    Invalid {
        /// Where it came from (table item, object key, message id).
        what: String,
        /// What is wrong.
        message: String,
    },
}

impl AwsError {
    /// Wraps an SDK error, keeping its AWS error code and full cause chain.
    pub(crate) fn api<E>(service: &'static str, operation: &'static str, e: E) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        AwsError::Api {
            service,
            operation,
            code: e.code().map(str::to_string),
            message: DisplayErrorContext(&e).to_string(),
        }
    }

    pub(crate) fn io(path: impl std::fmt::Display, e: impl std::fmt::Display) -> AwsError {
        AwsError::Io {
            path: path.to_string(),
            message: e.to_string(),
        }
    }

    /// The AWS error code (`ThrottlingException`, ...), when there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

impl From<costkit_core::store::generational::GenerationalError> for AwsError {
    fn from(e: costkit_core::store::generational::GenerationalError) -> AwsError {
        use costkit_core::store::generational::GenerationalError as G;
        match e {
            G::Invalid { what, message } => AwsError::Invalid { what, message },
            G::ReadContention { attempts } => AwsError::RetriesExhausted {
                service: "DynamoDB",
                operation: "Query",
                attempts,
                last: "slices kept being replaced while they were read".into(),
            },
        }
    }
}

impl From<AwsError> for StoreError {
    fn from(e: AwsError) -> StoreError {
        match e {
            AwsError::Invalid { .. } => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Backend(e.to_string()),
        }
    }
}
