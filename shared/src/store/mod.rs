//! The store port: where daily aggregates and load bookkeeping live. SQLite (the CLI), DynamoDB,
//! Azure Table storage and Firestore adapters implement [`CostStore`] and pass one contract suite.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::aggregate::{DailyRow, LoadBatch, Slice, TagRow};
use crate::money::CurrencyTotals;

/// Errors from a store backend.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend failed (I/O, SQL, network).
    #[error("store backend error: {0}")]
    Backend(String),
    /// Stored data could not be read back (corrupt or from an incompatible version).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// What is being loaded, for bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadMeta {
    /// Dialect name (`aws-cur`, `focus`, ...).
    pub dialect: String,
    /// Input files, as given.
    pub files: Vec<String>,
    /// When the load ran (RFC 3339).
    pub loaded_at: String,
}

/// The outcome of a load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Store-assigned id.
    pub load_id: i64,
    /// Slices written.
    pub slices: Vec<Slice>,
    /// Of those, slices that replaced earlier data.
    pub replaced: Vec<Slice>,
    /// Records folded in.
    pub records: u64,
}

/// A past load, as bookkeeping shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadInfo {
    /// Id.
    pub load_id: i64,
    /// What was loaded.
    pub meta: LoadMeta,
    /// Records.
    pub records: u64,
    /// Σ BilledCost per currency.
    pub billed: CurrencyTotals,
    /// Σ EffectiveCost per currency.
    pub effective: CurrencyTotals,
    /// Slices it currently owns (a later load of the same slice takes it over).
    pub slices: Vec<Slice>,
}

/// A filter over stored aggregates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this billing period (`YYYY-MM`).
    pub billing_period: Option<String>,
    /// Only this provider.
    pub provider: Option<String>,
}

/// The store port.
pub trait CostStore {
    /// Replaces every slice in `batch` with its new data, atomically: a reader sees the old slice or
    /// the new one, never both or a mix, and loading the same data twice leaves one copy.
    fn replace(&mut self, batch: &LoadBatch, meta: &LoadMeta) -> Result<LoadReport, StoreError>;

    /// Daily aggregate rows matching `filter`.
    fn daily(&self, filter: &Filter) -> Result<Vec<DailyRow>, StoreError>;

    /// Per-tag daily rows of one tag key matching `filter`.
    fn daily_tags(&self, tag_key: &str, filter: &Filter) -> Result<Vec<TagRow>, StoreError>;

    /// The distinct tag keys of the per-tag rows matching `filter`, sorted.
    fn tag_keys(&self, filter: &Filter) -> Result<Vec<String>, StoreError>;

    /// Load history, newest first.
    fn loads(&self) -> Result<Vec<LoadInfo>, StoreError>;
}

#[cfg(feature = "testkit")]
pub mod contract;

pub mod generational;
