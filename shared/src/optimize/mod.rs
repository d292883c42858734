//! Optimization: commitment recommendations and idle or underused resources, from FOCUS records.
//!
//! * [`simulate`]: the exact commitment simulator (savings curve, max-savings and conservative
//!   points, utilization, coverage, break-even month).
//! * [`commitments`]: which spend a Savings Plan, Reserved Instance or CUD could cover, as hourly
//!   series per group, and the recommendations as findings.
//! * [`idle`]: rules for idle resources (unattached volumes, idle addresses, NAT gateways without
//!   traffic, old snapshots, storage of stopped instances) and rightsizing from a metrics file.
//! * [`metrics`]: the utilization metrics file.
//!
//! Everything is pure: records in, recommendations out. The CLI and the functions feed the same
//! code. Fetching the providers' own recommendations (AWS `GetSavingsPlansPurchaseRecommendation`)
//! belongs in the cloud adapters; [`ProviderRecommendation`] is the shape they hand over so both
//! can be shown side by side.

pub mod commitments;
pub mod idle;
pub mod metrics;
pub mod simulate;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::money::Currency;

/// A provider's own commitment recommendation (AWS Cost Explorer
/// `GetSavingsPlansPurchaseRecommendation`, fetched by the AWS adapter), for display next to
/// costkit's simulation. Amounts are the provider's exact decimal strings, parsed; ratios are
/// fractions (the provider's percentages divided by 100).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderRecommendation {
    /// Where it came from (`aws-cost-explorer`).
    pub source: String,
    /// The commitment type, as in [`commitments::CommitmentType::as_str`].
    pub commitment: String,
    /// The provider's plan type (`COMPUTE_SP`, `EC2_INSTANCE_SP`).
    pub plan_type: String,
    /// What it covers: `total` for the provider's summary, else the account, instance family
    /// and region of one recommended plan (`account 111122223333, m5, us-east-1`).
    pub scope: String,
    /// Term in years.
    pub term_years: u32,
    /// Payment option, as in [`simulate::Payment::as_str`].
    pub payment: String,
    /// Days of usage the provider looked at.
    pub lookback_days: u32,
    /// Recommended hourly commitment.
    pub hourly_commitment: Decimal,
    /// The provider's estimated monthly savings.
    pub estimated_monthly_savings: Decimal,
    /// The provider's estimated savings as a fraction of the on-demand cost, when given.
    pub estimated_savings_fraction: Option<Decimal>,
    /// The provider's estimated utilization (0..1), when given.
    pub estimated_utilization: Option<Decimal>,
    /// Upfront payment of the recommended plan, when given.
    pub upfront_cost: Option<Decimal>,
    /// Currency.
    pub currency: Currency,
    /// When the provider generated the recommendation (its own timestamp, as sent).
    pub generated_at: Option<String>,
}
