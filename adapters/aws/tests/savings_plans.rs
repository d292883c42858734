//! `GetSavingsPlansPurchaseRecommendation` through the real SDK client against a local HTTP
//! server (moto does not implement this call): paging, the request parameters, exact mapping,
//! throttling retried, and an error response that fails clearly.
//!
//! AWS's API reference documents this operation's response syntax but gives no example response;
//! the replies below follow that syntax field for field (names, nesting, every amount a decimal
//! string, percentages as percent strings), with amounts chosen so the details add up to the
//! summary.

mod common;

use std::time::Duration;

use common::{Reply, ScriptedServer};
use costkit_aws::cost_explorer::CostExplorer;
use costkit_aws::retry::Backoff;
use costkit_aws::savings_plans::{SpQuery, SpType};
use costkit_aws::{AwsClients, AwsError, AwsSettings};
use costkit_core::optimize::simulate::Payment;
use rust_decimal::Decimal;
use serde_json::{json, Value};

const TARGET: &str = "AWSInsightsIndexService.GetSavingsPlansPurchaseRecommendation";

fn d(s: &str) -> Decimal {
    s.parse().expect(s)
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        content_type: "application/x-amz-json-1.1",
        body: body.to_string(),
    }
}

fn detail(account: &str, hourly: &str, monthly: &str, util: &str, upfront: &str) -> Value {
    json!({
        "AccountId": account,
        "CurrencyCode": "USD",
        "CurrentAverageHourlyOnDemandSpend": "4.120833333333333",
        "CurrentMaximumHourlyOnDemandSpend": "6.35",
        "CurrentMinimumHourlyOnDemandSpend": "1.9",
        "EstimatedAverageUtilization": util,
        "EstimatedMonthlySavingsAmount": monthly,
        "EstimatedOnDemandCost": "312.4",
        "EstimatedOnDemandCostWithCurrentCommitment": "2966.85",
        "EstimatedROI": "31.70886075949367",
        "EstimatedSavingsAmount": "481.5",
        "EstimatedSavingsPercentage": "16.23",
        "EstimatedSPCost": "2172.95",
        "HourlyCommitmentToPurchase": hourly,
        "RecommendationDetailId": "0f8c3a1e-2b4d-4c6e-8f10-123456789abc",
        "SavingsPlansDetails": {"InstanceFamily": "", "OfferingId": "6c3d5a2e-0000-4000-8000-00000000abcd", "Region": ""},
        "UpfrontCost": upfront
    })
}

fn page(token: Option<&str>, details: Vec<Value>, with_summary: bool) -> String {
    let mut rec = json!({
        "AccountScope": "PAYER",
        "LookbackPeriodInDays": "THIRTY_DAYS",
        "PaymentOption": "PARTIAL_UPFRONT",
        "SavingsPlansType": "COMPUTE_SP",
        "TermInYears": "ONE_YEAR",
        "SavingsPlansPurchaseRecommendationDetails": details,
    });
    if with_summary {
        rec["SavingsPlansPurchaseRecommendationSummary"] = json!({
            "CurrencyCode": "USD",
            "CurrentOnDemandSpend": "5932.7",
            "DailyCommitmentToPurchase": "72.552",
            "EstimatedMonthlySavingsAmount": "739.9875",
            "EstimatedOnDemandCostWithCurrentCommitment": "5932.7",
            "EstimatedROI": "30.59",
            "EstimatedSavingsAmount": "739.9875",
            "EstimatedSavingsPercentage": "12.47",
            "EstimatedTotalCost": "5192.7125",
            "HourlyCommitmentToPurchase": "3.023",
            "TotalRecommendationCount": "3"
        });
    }
    let mut body = json!({
        "Metadata": {
            "RecommendationId": "5e2f8a4c-8c0b-4b8e-9d2a-0a1b2c3d4e5f",
            "GenerationTimestamp": "2026-11-26T08:12:54Z",
            "AdditionalMetadata": ""
        },
        "SavingsPlansPurchaseRecommendation": rec,
    });
    if let Some(t) = token {
        body["NextPageToken"] = json!(t);
    }
    body.to_string()
}

fn explorer(endpoint: &str, attempts: u32) -> CostExplorer {
    let clients = AwsClients::new(AwsSettings::emulator(endpoint));
    CostExplorer::new(&clients).with_backoff(Backoff {
        max_attempts: attempts,
        base: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
    })
}

fn query() -> SpQuery {
    SpQuery::new(SpType::Compute, 1, Payment::PartialUpfront, 30).expect("query")
}

#[test]
fn pages_are_followed_and_mapped_exactly() {
    let server = ScriptedServer::start(vec![
        reply(
            200,
            &page(
                Some("page-2"),
                vec![
                    detail(
                        "111122223333",
                        "1.237",
                        "293.6341666666667",
                        "97.59770193933574",
                        "5418.06",
                    ),
                    detail("444455556666", "0.986", "250.1", "99.1", "4318.68"),
                ],
                true,
            ),
        ),
        reply(
            200,
            &page(
                None,
                vec![detail(
                    "777788889999",
                    "0.800",
                    "196.2533333333333",
                    "100",
                    "3504",
                )],
                true,
            ),
        ),
    ]);
    let rt = common::runtime();
    let got = rt
        .block_on(explorer(&server.endpoint, 3).savings_plans_recommendation(&query()))
        .expect("fetch");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "two pages");
    assert!(reqs.iter().all(|r| r.target.as_deref() == Some(TARGET)));
    let first: Value = serde_json::from_str(&reqs[0].body).expect("request JSON");
    assert_eq!(first["SavingsPlansType"], "COMPUTE_SP");
    assert_eq!(first["TermInYears"], "ONE_YEAR");
    assert_eq!(first["PaymentOption"], "PARTIAL_UPFRONT");
    assert_eq!(first["LookbackPeriodInDays"], "THIRTY_DAYS");
    assert!(first.get("NextPageToken").is_none());
    let second: Value = serde_json::from_str(&reqs[1].body).expect("request JSON");
    assert_eq!(second["NextPageToken"], "page-2");
    assert_eq!(second["SavingsPlansType"], "COMPUTE_SP");

    assert_eq!(got.pages, 2);
    assert_eq!(
        got.recommendation_id.as_deref(),
        Some("5e2f8a4c-8c0b-4b8e-9d2a-0a1b2c3d4e5f")
    );
    let s = got.summary.expect("summary");
    assert_eq!(s.scope, "total");
    assert_eq!(s.hourly_commitment, d("3.023"));
    assert_eq!(s.estimated_monthly_savings, d("739.9875"));
    assert_eq!(s.estimated_savings_fraction, Some(d("0.1247")));
    assert_eq!(s.currency.as_str(), "USD");
    assert_eq!((s.term_years, s.lookback_days), (1, 30));
    assert_eq!(s.payment, "partial-upfront");
    assert_eq!(s.generated_at.as_deref(), Some("2026-11-26T08:12:54Z"));

    assert_eq!(got.details.len(), 3, "details of both pages");
    assert_eq!(got.details[0].scope, "account 111122223333");
    assert_eq!(got.details[2].scope, "account 777788889999");
    assert_eq!(
        got.details[0].estimated_utilization,
        Some(d("0.9759770193933574"))
    );
    assert_eq!(got.details[2].estimated_utilization, Some(Decimal::ONE));
    assert_eq!(got.details[1].upfront_cost, Some(d("4318.68")));
    // Exact: the plans add up to the summary to the last digit.
    let hourly: Decimal = got.details.iter().map(|r| r.hourly_commitment).sum();
    let monthly: Decimal = got
        .details
        .iter()
        .map(|r| r.estimated_monthly_savings)
        .sum();
    assert_eq!(hourly, s.hourly_commitment);
    assert_eq!(monthly, s.estimated_monthly_savings);
}

#[test]
fn throttling_is_retried_then_the_answer_is_used() {
    let server = ScriptedServer::start(vec![
        reply(
            400,
            r#"{"__type":"LimitExceededException","message":"You have exceeded the rate limit"}"#,
        ),
        reply(
            200,
            &page(
                None,
                vec![detail("111122223333", "3.023", "739.9875", "98", "0")],
                true,
            ),
        ),
    ]);
    let rt = common::runtime();
    let got = rt
        .block_on(explorer(&server.endpoint, 4).savings_plans_recommendation(&query()))
        .expect("second attempt succeeds");
    assert_eq!(server.requests().len(), 2);
    assert_eq!(got.details.len(), 1);
    assert_eq!(got.summary.map(|s| s.hourly_commitment), Some(d("3.023")));
}

#[test]
fn data_unavailable_fails_clearly_without_retrying() {
    let server = ScriptedServer::start(vec![reply(
        400,
        r#"{"__type":"DataUnavailableException","Message":"Recommendations are not available yet: Cost Explorer needs 24 hours after it is enabled"}"#,
    )]);
    let rt = common::runtime();
    let err = rt
        .block_on(explorer(&server.endpoint, 4).savings_plans_recommendation(&query()))
        .expect_err("fails");
    assert_eq!(server.requests().len(), 1, "not retried");
    assert_eq!(err.code(), Some("DataUnavailableException"));
    let text = err.to_string();
    assert!(
        text.contains("GetSavingsPlansPurchaseRecommendation"),
        "{text}"
    );
    assert!(
        text.contains("Recommendations are not available yet"),
        "{text}"
    );
}

#[test]
fn a_malformed_amount_names_the_field() {
    let server = ScriptedServer::start(vec![reply(
        200,
        &page(
            None,
            vec![detail("111122223333", "three", "739.9875", "98", "0")],
            true,
        ),
    )]);
    let rt = common::runtime();
    let err = rt
        .block_on(explorer(&server.endpoint, 2).savings_plans_recommendation(&query()))
        .expect_err("bad amount");
    assert!(matches!(err, AwsError::Invalid { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(
            "SavingsPlansPurchaseRecommendationDetails[0].HourlyCommitmentToPurchase: \"three\""
        ),
        "{text}"
    );
}
