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

/// A provider's own commitment recommendation (e.g. from AWS Cost Explorer
/// `GetSavingsPlansPurchaseRecommendation`), as an adapter would hand it over for display next to
/// costkit's simulation. No adapter fills it yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderRecommendation {
    /// Where it came from (`aws-cost-explorer`).
    pub source: String,
    /// The commitment type, as in [`commitments::CommitmentType::as_str`].
    pub commitment: String,
    /// Recommended hourly commitment.
    pub hourly_commitment: Decimal,
    /// The provider's estimated monthly savings.
    pub estimated_monthly_savings: Decimal,
    /// The provider's estimated utilization (0..1), when given.
    pub estimated_utilization: Option<Decimal>,
    /// Currency.
    pub currency: Currency,
}
