//! The messages the flows pass through queues, as JSON.
//!
//! Every message is safe to deliver more than once: each carries the id its consumer uses to
//! recognise a repeat (`job_id` + `part`, `finding.id`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::aggregate::Slice;
use crate::money::Currency;

/// Any message on a costkit queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// Normalize one part of a delivery and, when it is the last part, load the whole delivery.
    Normalize(NormalizeJob),
    /// A load changed the store: budgets and anomalies should look again.
    DataUpdated(DataUpdated),
    /// Something to tell people about.
    Finding(Finding),
}

impl Message {
    /// JSON text of the message.
    pub fn to_json(&self) -> String {
        // Serializing these plain data types cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a message body; the error says what is wrong for the dead-letter log.
    pub fn from_json(body: &str) -> Result<Message, String> {
        serde_json::from_str(body).map_err(|e| format!("not a costkit message: {e}"))
    }

    /// The id a queue can deduplicate on.
    pub fn dedup_id(&self) -> String {
        match self {
            Message::Normalize(j) => format!("{}#{}", j.job_id, j.part),
            Message::DataUpdated(d) => format!("updated:{}", d.job_id),
            Message::Finding(f) => f.id.clone(),
        }
    }
}

/// One delivery of billing data (all part files of one export run, or one Cost Explorer window)
/// and the part of it this message processes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizeJob {
    /// Stable id of the delivery: the same delivery always gets the same id.
    pub job_id: String,
    /// Where the data came from (`aws-ce`, `aws-cur2`, `aws-focus`...), for bookkeeping.
    pub source: String,
    /// Forced dialect name (`aws-ce`...); detected from the header when absent.
    pub dialect: Option<String>,
    /// The delivery's object keys, one group per part. A group is read as one normalize run
    /// (an Azure actual export and its amortized twin go together).
    pub parts: Vec<Vec<String>>,
    /// The part this message processes (index into `parts`).
    pub part: usize,
    /// When the provider produced the data; a delivery older than the one already loaded for the
    /// same source is not loaded over it.
    pub produced_at: DateTime<Utc>,
}

/// A load finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataUpdated {
    /// The delivery that was loaded.
    pub job_id: String,
    /// Slices replaced.
    pub slices: Vec<Slice>,
    /// First and last day with data in the delivery.
    pub first_day: Option<NaiveDate>,
    /// Last day with data.
    pub last_day: Option<NaiveDate>,
}

/// What kind of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A budget threshold was crossed.
    BudgetAlert,
    /// Spend deviates from its expected level.
    Anomaly,
    /// A saving is available.
    Recommendation,
    /// A user rule matched.
    Rule,
}

impl FindingKind {
    /// Snake-case name, as in JSON and message attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::BudgetAlert => "budget_alert",
            FindingKind::Anomaly => "anomaly",
            FindingKind::Recommendation => "recommendation",
            FindingKind::Rule => "rule",
        }
    }
}

/// How urgent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Look at it soon.
    Warning,
    /// Act now.
    Critical,
}

impl Severity {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Something worth telling people, produced once and delivered at least once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Deterministic id: the same finding always gets the same id, so consumers drop repeats.
    pub id: String,
    /// Kind.
    pub kind: FindingKind,
    /// Severity.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// A few sentences with the numbers.
    pub summary: String,
    /// Where it applies (`budget`, `provider`, `service`, `account`...).
    pub scope: BTreeMap<String, String>,
    /// The money at stake, exact.
    pub amount: Option<Decimal>,
    /// Its currency.
    pub currency: Option<Currency>,
    /// When it was found.
    pub found_at: DateTime<Utc>,
    /// Kind-specific details.
    pub detail: serde_json::Value,
}
