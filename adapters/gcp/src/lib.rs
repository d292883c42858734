//! Google Cloud adapters for costkit over plain REST (no Google SDK): the Firestore
//! [`CostStore`](costkit_core::store::CostStore) and [`StateStore`](costkit_core::ports::StateStore),
//! Pub/Sub as the core's [`Queue`](costkit_core::ports::Queue) and
//! [`Publisher`](costkit_core::ports::Publisher), and Cloud Storage as its
//! [`BlobStore`](costkit_core::ports::BlobStore).
//!
//! One [`Gcp`] per process (a Cloud Run instance) holds the project, the HTTP transport of
//! `costkit-rest` (429/500/502/503/504 retried with backoff, `Retry-After` honoured), each
//! service's endpoint (Google's, or an emulator from the environment) and the metadata-server
//! token source.
//!
//! Ingest: [`bigquery::BillingExportSource`] reads the Cloud Billing export in BigQuery (standard
//! and detailed tables, Google's FOCUS view) as the core's cost source.

pub mod auth;
pub mod bigquery;
pub mod client;
mod error;
pub mod firestore;
pub mod gcs;
pub mod ports;
pub mod pubsub;
pub mod state;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use client::{Endpoint, Gcp, Service};
pub use costkit_rest::{ApiError, Call, RetriesExhausted, RetryPolicy, Transport};
pub use error::GcpError;
pub use store::FirestoreStore;
