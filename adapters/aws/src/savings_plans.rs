//! Cost Explorer `GetSavingsPlansPurchaseRecommendation`: AWS's own Savings Plans purchase
//! recommendation, mapped to [`ProviderRecommendation`]s so the CLI can show it next to costkit's
//! hour-by-hour simulation.
//!
//! AWS generates these recommendations about once a day from the payer's (or a linked account's)
//! usage over the lookback period; the request only picks one of the precomputed sets (plan type,
//! term, payment option, lookback). The response's amounts are decimal strings and are parsed
//! exactly; its percentages (utilization, savings) become fractions. Details are paged
//! (`NextPageToken`); the summary repeats on every page and is taken from the first. Throttling
//! and transient failures are retried like the other Cost Explorer calls ([`Backoff`]).

use aws_sdk_costexplorer::types::{
    LookbackPeriodInDays, PaymentOption, SavingsPlansPurchaseRecommendationDetail,
    SavingsPlansPurchaseRecommendationSummary, SupportedSavingsPlansType, TermInYears,
};
use costkit_core::money::{parse_decimal, Currency};
use costkit_core::optimize::simulate::Payment;
use costkit_core::optimize::ProviderRecommendation;
use rust_decimal::Decimal;

use crate::cost_explorer::CostExplorer;
use crate::error::AwsError;

const SVC: &str = "Cost Explorer";
const OP: &str = "GetSavingsPlansPurchaseRecommendation";
/// Paging that goes on past this is broken (a repeating token): stop rather than spend.
const MAX_PAGES: usize = 1_000;
/// `source` of every recommendation this module makes.
pub const SOURCE: &str = "aws-cost-explorer";

/// The Savings Plans type a recommendation is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpType {
    /// Compute Savings Plans: EC2 of any family and region, Fargate, Lambda.
    Compute,
    /// EC2 Instance Savings Plans: one instance family in one region.
    Ec2Instance,
}

impl SpType {
    /// The API's name (`COMPUTE_SP`, `EC2_INSTANCE_SP`).
    pub fn as_api(self) -> &'static str {
        match self {
            SpType::Compute => "COMPUTE_SP",
            SpType::Ec2Instance => "EC2_INSTANCE_SP",
        }
    }

    /// Parses `compute` / `ec2-instance` or the API's names.
    pub fn parse(s: &str) -> Option<SpType> {
        match s.trim().to_ascii_lowercase().as_str() {
            "compute" | "compute_sp" | "compute-sp" => Some(SpType::Compute),
            "ec2-instance" | "ec2_instance" | "ec2_instance_sp" | "ec2-instance-sp" => {
                Some(SpType::Ec2Instance)
            }
            _ => None,
        }
    }
}

/// Which of AWS's precomputed recommendation sets to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpQuery {
    /// Plan type.
    pub sp_type: SpType,
    /// Term: 1 or 3 years.
    pub term_years: u32,
    /// Payment option.
    pub payment: Payment,
    /// Lookback: 7, 30 or 60 days.
    pub lookback_days: u32,
}

impl SpQuery {
    /// Checks the values the API accepts (term 1 or 3, lookback 7, 30 or 60).
    pub fn new(
        sp_type: SpType,
        term_years: u32,
        payment: Payment,
        lookback_days: u32,
    ) -> Result<SpQuery, AwsError> {
        if !matches!(term_years, 1 | 3) {
            return Err(AwsError::Config(format!(
                "Savings Plans term {term_years}: AWS recommends for 1 or 3 years"
            )));
        }
        if !matches!(lookback_days, 7 | 30 | 60) {
            return Err(AwsError::Config(format!(
                "lookback {lookback_days} days: AWS recommends from 7, 30 or 60 days"
            )));
        }
        Ok(SpQuery {
            sp_type,
            term_years,
            payment,
            lookback_days,
        })
    }

    fn term(&self) -> TermInYears {
        if self.term_years == 3 {
            TermInYears::ThreeYears
        } else {
            TermInYears::OneYear
        }
    }

    fn payment_option(&self) -> PaymentOption {
        match self.payment {
            Payment::NoUpfront => PaymentOption::NoUpfront,
            Payment::PartialUpfront => PaymentOption::PartialUpfront,
            Payment::AllUpfront => PaymentOption::AllUpfront,
        }
    }

    fn lookback(&self) -> LookbackPeriodInDays {
        match self.lookback_days {
            7 => LookbackPeriodInDays::SevenDays,
            60 => LookbackPeriodInDays::SixtyDays,
            _ => LookbackPeriodInDays::ThirtyDays,
        }
    }
}

/// AWS's recommendation: the summary (the total to buy, comparable with costkit's simulation)
/// and one entry per recommended plan (account, and for EC2 Instance plans family and region).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpRecommendation {
    /// The summary; `None` when AWS recommends nothing (no eligible usage).
    pub summary: Option<ProviderRecommendation>,
    /// Every recommended plan, over all pages.
    pub details: Vec<ProviderRecommendation>,
    /// AWS's id of the recommendation set.
    pub recommendation_id: Option<String>,
    /// Pages read.
    pub pages: usize,
}

/// A required decimal field, parsed exactly; errors name the field.
fn dec(field: &str, v: Option<&str>) -> Result<Decimal, String> {
    let v = v.ok_or_else(|| format!("{field}: missing"))?;
    parse_decimal(v).ok_or_else(|| format!("{field}: \"{v}\" is not a decimal number"))
}

/// An optional decimal field (absent or empty is `None`).
fn opt_dec(field: &str, v: Option<&str>) -> Result<Option<Decimal>, String> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => dec(field, Some(s)).map(Some),
    }
}

/// A percentage field as a fraction (exact: a division by 100).
fn opt_fraction(field: &str, v: Option<&str>) -> Result<Option<Decimal>, String> {
    Ok(opt_dec(field, v)?.map(|p| p / Decimal::ONE_HUNDRED))
}

fn currency(field: &str, v: Option<&str>) -> Result<Currency, String> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        Some(c) => Ok(Currency::new(c)),
        None => Err(format!("{field}: missing")),
    }
}

fn base(q: &SpQuery, generated_at: Option<&str>) -> ProviderRecommendation {
    ProviderRecommendation {
        source: SOURCE.to_string(),
        commitment: "savings-plan".to_string(),
        plan_type: q.sp_type.as_api().to_string(),
        scope: String::new(),
        term_years: q.term_years,
        payment: q.payment.as_str().to_string(),
        lookback_days: q.lookback_days,
        hourly_commitment: Decimal::ZERO,
        estimated_monthly_savings: Decimal::ZERO,
        estimated_savings_fraction: None,
        estimated_utilization: None,
        upfront_cost: None,
        currency: Currency::new("USD"),
        generated_at: generated_at.map(str::to_string),
    }
}

/// The summary as a recommendation (`None` when it recommends no commitment).
pub fn map_summary(
    q: &SpQuery,
    s: &SavingsPlansPurchaseRecommendationSummary,
    generated_at: Option<&str>,
) -> Result<Option<ProviderRecommendation>, String> {
    const F: &str = "SavingsPlansPurchaseRecommendationSummary";
    let Some(hourly) = opt_dec(
        &format!("{F}.HourlyCommitmentToPurchase"),
        s.hourly_commitment_to_purchase(),
    )?
    else {
        return Ok(None);
    };
    if hourly.is_zero() {
        return Ok(None);
    }
    Ok(Some(ProviderRecommendation {
        scope: "total".to_string(),
        hourly_commitment: hourly,
        estimated_monthly_savings: dec(
            &format!("{F}.EstimatedMonthlySavingsAmount"),
            s.estimated_monthly_savings_amount(),
        )?,
        estimated_savings_fraction: opt_fraction(
            &format!("{F}.EstimatedSavingsPercentage"),
            s.estimated_savings_percentage(),
        )?,
        currency: currency(&format!("{F}.CurrencyCode"), s.currency_code())?,
        ..base(q, generated_at)
    }))
}

/// One recommended plan (`index` is its position over all pages, for error messages).
pub fn map_detail(
    q: &SpQuery,
    d: &SavingsPlansPurchaseRecommendationDetail,
    index: usize,
    generated_at: Option<&str>,
) -> Result<ProviderRecommendation, String> {
    let f = format!("SavingsPlansPurchaseRecommendationDetails[{index}]");
    let mut scope = Vec::new();
    if let Some(a) = d.account_id().filter(|a| !a.is_empty()) {
        scope.push(format!("account {a}"));
    }
    if let Some(p) = d.savings_plans_details() {
        scope.extend(
            [p.instance_family(), p.region()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
    }
    Ok(ProviderRecommendation {
        scope: if scope.is_empty() {
            "plan".to_string()
        } else {
            scope.join(", ")
        },
        hourly_commitment: dec(
            &format!("{f}.HourlyCommitmentToPurchase"),
            d.hourly_commitment_to_purchase(),
        )?,
        estimated_monthly_savings: dec(
            &format!("{f}.EstimatedMonthlySavingsAmount"),
            d.estimated_monthly_savings_amount(),
        )?,
        estimated_savings_fraction: opt_fraction(
            &format!("{f}.EstimatedSavingsPercentage"),
            d.estimated_savings_percentage(),
        )?,
        estimated_utilization: opt_fraction(
            &format!("{f}.EstimatedAverageUtilization"),
            d.estimated_average_utilization(),
        )?,
        upfront_cost: opt_dec(&format!("{f}.UpfrontCost"), d.upfront_cost())?,
        currency: currency(&format!("{f}.CurrencyCode"), d.currency_code())?,
        ..base(q, generated_at)
    })
}

impl CostExplorer {
    /// Fetches AWS's Savings Plans purchase recommendation for `q`, every page.
    pub async fn savings_plans_recommendation(
        &self,
        q: &SpQuery,
    ) -> Result<SpRecommendation, AwsError> {
        let invalid = |message: String| AwsError::Invalid {
            what: format!("{SVC} {OP} response"),
            message,
        };
        let mut out = SpRecommendation {
            summary: None,
            details: Vec::new(),
            recommendation_id: None,
            pages: 0,
        };
        let mut token: Option<String> = None;
        let mut generated_at: Option<String> = None;
        loop {
            let req = self
                .client
                .get_savings_plans_purchase_recommendation()
                .savings_plans_type(SupportedSavingsPlansType::from(q.sp_type.as_api()))
                .term_in_years(q.term())
                .payment_option(q.payment_option())
                .lookback_period_in_days(q.lookback())
                .set_next_page_token(token.clone());
            let page = self.call_with_retry(OP, || req.clone().send()).await?;
            out.pages += 1;
            if out.pages == 1 {
                if let Some(m) = page.metadata() {
                    out.recommendation_id = m.recommendation_id().map(str::to_string);
                    generated_at = m.generation_timestamp().map(str::to_string);
                }
            }
            if let Some(rec) = page.savings_plans_purchase_recommendation() {
                if out.pages == 1 {
                    if let Some(s) = rec.savings_plans_purchase_recommendation_summary() {
                        out.summary =
                            map_summary(q, s, generated_at.as_deref()).map_err(invalid)?;
                    }
                }
                for d in rec.savings_plans_purchase_recommendation_details() {
                    let i = out.details.len();
                    out.details
                        .push(map_detail(q, d, i, generated_at.as_deref()).map_err(invalid)?);
                }
            }
            match page.next_page_token().filter(|t| !t.is_empty()) {
                Some(next) => {
                    if token.as_deref() == Some(next) || out.pages >= MAX_PAGES {
                        return Err(AwsError::Invalid {
                            what: format!("{SVC} {OP}"),
                            message: format!(
                                "paging does not end (page {}, token repeats or too many pages)",
                                out.pages
                            ),
                        });
                    }
                    token = Some(next.to_string());
                }
                None => break,
            }
        }
        tracing::info!(
            plan = q.sp_type.as_api(),
            pages = out.pages,
            details = out.details.len(),
            "fetched the Savings Plans purchase recommendation"
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_costexplorer::types::SavingsPlansDetails;

    fn q() -> SpQuery {
        SpQuery::new(SpType::Compute, 1, Payment::NoUpfront, 30).expect("query")
    }

    #[test]
    fn query_values_are_checked() {
        assert!(SpQuery::new(SpType::Compute, 2, Payment::NoUpfront, 30).is_err());
        let e = SpQuery::new(SpType::Compute, 1, Payment::NoUpfront, 14).expect_err("14 days");
        assert!(e.to_string().contains("7, 30 or 60"), "{e}");
        assert_eq!(SpType::parse("EC2_INSTANCE_SP"), Some(SpType::Ec2Instance));
        assert_eq!(SpType::parse("compute"), Some(SpType::Compute));
        assert_eq!(SpType::parse("sagemaker"), None);
    }

    #[test]
    fn a_detail_maps_exactly_and_percentages_become_fractions() {
        let d = SavingsPlansPurchaseRecommendationDetail::builder()
            .account_id("111122223333")
            .savings_plans_details(
                SavingsPlansDetails::builder()
                    .instance_family("m5")
                    .region("us-east-1")
                    .build(),
            )
            .hourly_commitment_to_purchase("1.237")
            .estimated_monthly_savings_amount("293.6341666666667")
            .estimated_savings_percentage("24.63")
            .estimated_average_utilization("97.59770193933574")
            .upfront_cost("0")
            .currency_code("USD")
            .build();
        let r = map_detail(&q(), &d, 0, Some("2026-11-26T08:12:54Z")).expect("maps");
        assert_eq!(r.scope, "account 111122223333, m5, us-east-1");
        assert_eq!(r.hourly_commitment.to_string(), "1.237");
        assert_eq!(r.estimated_monthly_savings.to_string(), "293.6341666666667");
        assert_eq!(
            r.estimated_utilization.map(|u| u.to_string()).as_deref(),
            Some("0.9759770193933574")
        );
        assert_eq!(
            r.estimated_savings_fraction
                .map(|u| u.to_string())
                .as_deref(),
            Some("0.2463")
        );
        assert_eq!(r.upfront_cost, Some(Decimal::ZERO));
        assert_eq!(r.generated_at.as_deref(), Some("2026-11-26T08:12:54Z"));
    }

    #[test]
    fn a_bad_amount_names_the_field() {
        let d = SavingsPlansPurchaseRecommendationDetail::builder()
            .hourly_commitment_to_purchase("1,5")
            .estimated_monthly_savings_amount("10")
            .currency_code("USD")
            .build();
        let e = map_detail(&q(), &d, 3, None).expect_err("bad");
        assert_eq!(
            e,
            "SavingsPlansPurchaseRecommendationDetails[3].HourlyCommitmentToPurchase: \"1,5\" is not a decimal number"
        );
        let d = SavingsPlansPurchaseRecommendationDetail::builder()
            .hourly_commitment_to_purchase("1.5")
            .currency_code("USD")
            .build();
        let e = map_detail(&q(), &d, 0, None).expect_err("missing");
        assert!(e.ends_with("EstimatedMonthlySavingsAmount: missing"), "{e}");
    }

    #[test]
    fn an_empty_summary_is_no_recommendation() {
        let s = SavingsPlansPurchaseRecommendationSummary::builder()
            .hourly_commitment_to_purchase("0")
            .currency_code("USD")
            .build();
        assert_eq!(map_summary(&q(), &s, None), Ok(None));
        let s = SavingsPlansPurchaseRecommendationSummary::builder().build();
        assert_eq!(map_summary(&q(), &s, None), Ok(None));
    }
}
