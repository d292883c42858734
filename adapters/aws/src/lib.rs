//! AWS adapters for costkit: the DynamoDB [`CostStore`](costkit_core::store::CostStore)
//! ([`DynamoStore`]), S3 helpers for raw payloads and FOCUS Parquet ([`s3`]), SQS / SNS / Secrets
//! Manager ([`messaging`]), SES v2 email as a notification channel ([`ses`]) the Cost Explorer fetcher ([`cost_explorer`]) and AWS's Savings Plans purchase recommendation ([`savings_plans`]), and the core's ports
//! (object store, queues, topic, state, cost source) on them ([`ports`]).
//!
//! Every client is built from one [`AwsClients`], created once per process (a Lambda cold start)
//! from the environment; `COSTKIT_AWS_ENDPOINT` / `AWS_ENDPOINT_URL` point them at an emulator.
//! The table layout is written down in `docs/aws-dynamodb.md`.

pub mod clients;
pub mod cost_explorer;
pub mod dynamo;
mod error;
pub mod messaging;
pub mod ports;
pub mod retry;
pub mod s3;
pub mod savings_plans;
pub mod ses;

pub use clients::{AwsClients, AwsSettings};
pub use dynamo::DynamoStore;
pub use error::AwsError;
