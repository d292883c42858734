//! User rules: a YAML file of rules (a selector, a filter of and/or/not conditions, actions),
//! checked against `docs/rules.schema.json`'s rules with errors that name the line and the field,
//! compiled into an [`Engine`] that evaluates all of them in one pass over the records.
//!
//! * [`config`]: the file, its types and its validation.
//! * [`engine`]: compilation, the streaming pass and the evaluation.
//!
//! Every match becomes a [`crate::flow::messages::Finding`] of kind `rule` with the dollars at
//! stake; [`deliver`] hands findings to their channels through the notify flow, or only reports
//! what it would send in dry-run mode. The CLI and the functions call the same code.

pub mod config;
pub mod engine;

pub use config::{Rule, RulesError, RulesFile};
pub use engine::{Engine, RuleMatch};

use chrono::{DateTime, Utc};

use crate::flow::notify::{self, Delivery};
use crate::flow::FlowError;
use crate::ports::{Publisher, StateStore};

/// What happened to one (finding, channel) pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The finding id.
    pub finding: String,
    /// The channel.
    pub channel: String,
    /// `None` in dry-run mode (nothing was sent), else what the notify flow did.
    pub delivery: Option<Delivery>,
}

/// Delivers each match's finding to each of its channels, once (see [`notify::deliver`]); with
/// `dry_run`, sends nothing and reports what would be sent.
pub fn deliver(
    matches: &[RuleMatch],
    now: DateTime<Utc>,
    dry_run: bool,
    publisher: &dyn Publisher,
    state: &dyn StateStore,
) -> Result<Vec<Outcome>, FlowError> {
    let mut out = Vec::new();
    for m in matches {
        let f = m.finding(now);
        for channel in &m.channels {
            let delivery = if dry_run {
                None
            } else {
                Some(notify::deliver(&f, channel, publisher, state)?)
            };
            out.push(Outcome {
                finding: f.id.clone(),
                channel: channel.clone(),
                delivery,
            });
        }
    }
    Ok(out)
}
