//! Google Cloud Billing budget notifications (programmatic notifications on Pub/Sub) turned into
//! costkit [`Finding`]s, so the notify step routes a Google budget alert like one of its own.
//!
//! Cloud Billing publishes a JSON message to the budget's topic several times a day, whether or not
//! a threshold was crossed:
//!
//! ```json
//! {"budgetDisplayName": "prod", "alertThresholdExceeded": 0.9, "costAmount": 1234.56,
//!  "costIntervalStart": "2024-09-01T07:00:00Z", "budgetAmount": 1300.0,
//!  "budgetAmountType": "SPECIFIED_AMOUNT", "currencyCode": "USD"}
//! ```
//!
//! with the message attributes `billingAccountId`, `budgetId` and `schemaVersion` (`1.0`).
//! `alertThresholdExceeded` (actual spend) or `forecastThresholdExceeded` (forecasted spend) is
//! present only once a threshold of that kind has been crossed in the interval; a message with
//! neither is a status update and yields no finding. Google repeats the highest crossed threshold
//! in every later message of the interval, so the finding id is built from budget, interval,
//! kind and threshold: the notify step's receipts then deliver each crossing once.
//!
//! Amounts are read from the JSON text itself ([`RawValue`]), never through a double.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::flow::messages::{Finding, FindingKind, Severity};
use crate::money::{parse_decimal, Currency};

/// The schema versions this parser knows (Google has published only `1.0`).
pub const KNOWN_SCHEMA_VERSIONS: &[&str] = &["1.0"];

/// A notification that cannot be read. Permanent: the same bytes will never parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BudgetNotificationError {
    /// The data is not the documented JSON object.
    #[error("budget notification: {0}")]
    Malformed(String),
    /// A field is missing or has the wrong form.
    #[error("budget notification: field `{field}`: {msg}")]
    Field {
        /// The field (`costAmount`, `attributes.budgetId`...).
        field: String,
        /// What is wrong.
        msg: String,
    },
}

fn field_err(field: &str, msg: impl Into<String>) -> BudgetNotificationError {
    BudgetNotificationError::Field {
        field: field.to_string(),
        msg: msg.into(),
    }
}

/// Which spend crossed the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdKind {
    /// Actual spend (`alertThresholdExceeded`).
    Actual,
    /// Forecasted spend (`forecastThresholdExceeded`).
    Forecasted,
}

impl ThresholdKind {
    /// `actual` or `forecasted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ThresholdKind::Actual => "actual",
            ThresholdKind::Forecasted => "forecasted",
        }
    }
}

/// One budget notification, exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetNotification {
    /// `budgetDisplayName`.
    pub budget_name: String,
    /// Attribute `budgetId`.
    pub budget_id: String,
    /// Attribute `billingAccountId`.
    pub billing_account_id: String,
    /// Attribute `schemaVersion`.
    pub schema_version: String,
    /// `costAmount`: spend of the interval so far.
    pub cost_amount: Decimal,
    /// `budgetAmount`.
    pub budget_amount: Decimal,
    /// `budgetAmountType` (`SPECIFIED_AMOUNT`, `LAST_PERIODS_AMOUNT`).
    pub budget_amount_type: Option<String>,
    /// `currencyCode`.
    pub currency: Currency,
    /// `costIntervalStart`: the start of the budget period (Pacific midnight, in UTC).
    pub cost_interval_start: DateTime<Utc>,
    /// The crossed threshold as a fraction of the budget (`0.9` = 90%), and of which spend;
    /// `None` on a status update.
    pub threshold: Option<(ThresholdKind, Decimal)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    budget_display_name: Option<String>,
    alert_threshold_exceeded: Option<Box<RawValue>>,
    forecast_threshold_exceeded: Option<Box<RawValue>>,
    cost_amount: Option<Box<RawValue>>,
    cost_interval_start: Option<String>,
    budget_amount: Option<Box<RawValue>>,
    budget_amount_type: Option<String>,
    currency_code: Option<String>,
}

/// A JSON number (or a numeric string) as an exact decimal; `null` is `None`.
fn number(
    field: &str,
    v: &Option<Box<RawValue>>,
) -> Result<Option<Decimal>, BudgetNotificationError> {
    let Some(raw) = v else { return Ok(None) };
    let text = raw.get().trim();
    if text == "null" {
        return Ok(None);
    }
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    parse_decimal(text)
        .map(Some)
        .ok_or_else(|| field_err(field, format!("`{text}` is not a number")))
}

fn required<T>(field: &str, v: Option<T>) -> Result<T, BudgetNotificationError> {
    v.ok_or_else(|| field_err(field, "is missing"))
}

fn attribute<'a>(
    attributes: &'a BTreeMap<String, String>,
    name: &str,
) -> Result<&'a str, BudgetNotificationError> {
    attributes
        .get(name)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| field_err(&format!("attributes.{name}"), "is missing"))
}

impl BudgetNotification {
    /// Parses the message data (already base64-decoded from the push envelope) and attributes.
    pub fn parse(
        data: &[u8],
        attributes: &BTreeMap<String, String>,
    ) -> Result<BudgetNotification, BudgetNotificationError> {
        let schema_version = attributes
            .get("schemaVersion")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "1.0".to_string());
        if !KNOWN_SCHEMA_VERSIONS.contains(&schema_version.as_str()) {
            return Err(field_err(
                "attributes.schemaVersion",
                format!(
                    "`{schema_version}` is not a schema version costkit knows ({})",
                    KNOWN_SCHEMA_VERSIONS.join(", ")
                ),
            ));
        }
        let wire: Wire = serde_json::from_slice(data).map_err(|e| {
            BudgetNotificationError::Malformed(format!(
                "the data is not the documented JSON object: {e}"
            ))
        })?;
        let actual = number("alertThresholdExceeded", &wire.alert_threshold_exceeded)?;
        let forecast = number(
            "forecastThresholdExceeded",
            &wire.forecast_threshold_exceeded,
        )?;
        // Both at once does not happen (one message per crossing); actual spend is the stronger
        // statement, so it wins.
        let threshold = match (actual, forecast) {
            (Some(t), _) => Some((ThresholdKind::Actual, t)),
            (None, Some(t)) => Some((ThresholdKind::Forecasted, t)),
            (None, None) => None,
        };
        if let Some((kind, t)) = threshold {
            if t <= Decimal::ZERO {
                let field = match kind {
                    ThresholdKind::Actual => "alertThresholdExceeded",
                    ThresholdKind::Forecasted => "forecastThresholdExceeded",
                };
                return Err(field_err(field, format!("{t} is not a positive fraction")));
            }
        }
        let start_text = required("costIntervalStart", wire.cost_interval_start)?;
        let cost_interval_start = DateTime::parse_from_rfc3339(start_text.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                field_err(
                    "costIntervalStart",
                    format!("`{start_text}` is not an RFC 3339 timestamp"),
                )
            })?;
        let currency = required("currencyCode", wire.currency_code)?;
        if currency.trim().is_empty() {
            return Err(field_err("currencyCode", "is empty"));
        }
        Ok(BudgetNotification {
            budget_name: required("budgetDisplayName", wire.budget_display_name)?,
            budget_id: attribute(attributes, "budgetId")?.to_string(),
            billing_account_id: attribute(attributes, "billingAccountId")?.to_string(),
            schema_version,
            cost_amount: required("costAmount", number("costAmount", &wire.cost_amount)?)?,
            budget_amount: required("budgetAmount", number("budgetAmount", &wire.budget_amount)?)?,
            budget_amount_type: wire.budget_amount_type,
            currency: Currency::new(&currency),
            cost_interval_start,
            threshold,
        })
    }

    /// The finding to notify, or `None` for a status update (no threshold crossed).
    pub fn finding(&self, now: DateTime<Utc>) -> Option<Finding> {
        let (kind, fraction) = self.threshold?;
        let percent = (fraction * Decimal::ONE_HUNDRED).normalize();
        // Money in the text to the cent; the finding's `amount` and `detail` stay exact.
        let cents = |d: Decimal| format!("{:.2}", d.round_dp(2));
        let level = cents(self.budget_amount * fraction);
        let severity = match kind {
            ThresholdKind::Actual if fraction >= Decimal::ONE => Severity::Critical,
            _ => Severity::Warning,
        };
        let interval = self
            .cost_interval_start
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let mut scope = BTreeMap::new();
        scope.insert("budget".to_string(), self.budget_name.clone());
        scope.insert("provider".to_string(), "Google Cloud".to_string());
        scope.insert("account".to_string(), self.billing_account_id.clone());
        scope.insert("period".to_string(), interval.clone());
        scope.insert("basis".to_string(), "billed".to_string());
        let cur = &self.currency;
        let title = format!(
            "Google Cloud budget {}: {} spend {} {} crossed {}%",
            self.budget_name,
            kind.as_str(),
            cents(self.cost_amount),
            cur,
            percent
        );
        let what = match kind {
            ThresholdKind::Actual => "Actual spend",
            ThresholdKind::Forecasted => {
                "Spend (forecast threshold crossed; the figure is spend so far)"
            }
        };
        let summary = format!(
            "{what} of budget {} on billing account {} since {interval} is {} {cur} against a budget of {} {cur} ({}% = {level} {cur}).",
            self.budget_name,
            self.billing_account_id,
            cents(self.cost_amount),
            cents(self.budget_amount),
            percent,
        );
        Some(Finding {
            id: format!(
                "gcp-budget:{}:{}:{}:{}:{percent}%",
                self.billing_account_id,
                self.budget_id,
                interval,
                kind.as_str()
            ),
            kind: FindingKind::BudgetAlert,
            severity,
            title,
            summary,
            scope,
            amount: Some(self.cost_amount),
            currency: Some(self.currency.clone()),
            found_at: now,
            detail: serde_json::json!({
                "source": "gcp-budget-notification",
                "budget_id": self.budget_id,
                "budget_name": self.budget_name,
                "billing_account_id": self.billing_account_id,
                "schema_version": self.schema_version,
                "cost_amount": self.cost_amount.to_string(),
                "budget_amount": self.budget_amount.to_string(),
                "budget_amount_type": self.budget_amount_type,
                "cost_interval_start": interval,
                "threshold_kind": kind.as_str(),
                "threshold": fraction.normalize().to_string(),
            }),
        })
    }
}
