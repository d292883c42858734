//! Azure adapters for costkit over plain REST: the Table storage
//! [`CostStore`](costkit_core::store::CostStore) ([`TableStore`]), the core's ports on Blob,
//! Storage queues and Table storage ([`ports`]), and the Cost Management sources.
//!
//! One [`Storage`] per process (a Functions cold start) holds the HTTP client, the account's
//! endpoints and how requests are authorized: SharedKey (Azurite, connection strings) or Entra
//! ID bearer tokens (managed identity, client credentials). Every call goes through the retry
//! policy in [`http`] (429/503 with `Retry-After` honoured).

pub mod auth;
pub mod blob;
pub mod cost_management;
mod error;
pub mod exports;
pub mod http;
pub mod ports;
pub mod queue;
pub mod storage;
pub mod store;
pub mod table;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use costkit_rest::{ApiError, RetriesExhausted};
pub use error::AzureError;
pub use storage::Storage;
pub use store::TableStore;
