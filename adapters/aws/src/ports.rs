//! The core's ports on AWS: S3 as [`BlobStore`], SQS as [`Queue`], an SNS topic as [`Queue`]
//! (fan-out of `data_updated`) and [`Publisher`] (findings), DynamoDB as [`StateStore`], and Cost
//! Explorer as the ingest flow's [`CostSource`].
//!
//! The ports are synchronous like the flows; each implementation runs its SDK call with
//! `Handle::block_on` on the runtime handle it was built with, exactly like [`crate::DynamoStore`].
//! Call them from a thread that is not a runtime worker (`tokio::task::spawn_blocking`).

use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use costkit_core::breakdown::DayRange;
use costkit_core::flow::ingest::CostSource;
use costkit_core::ports::{
    BlobStore, PortError, Publication, Publisher, Queue, StateStore, Version,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;

use crate::clients::AwsClients;
use crate::cost_explorer::{CeQuery, CostExplorer, SecondGrouping};
use crate::error::AwsError;
use crate::{messaging, s3};

/// AWS error codes that mean "no such object/item".
fn not_found(e: &AwsError) -> bool {
    matches!(e.code(), Some("NoSuchKey" | "NotFound" | "NoSuchBucket"))
}

fn port_err(what: &str, e: AwsError) -> PortError {
    if not_found(&e) {
        PortError::NotFound(what.to_string())
    } else {
        PortError::backend(what, e)
    }
}

/// FIFO deduplication ids are at most 128 characters from a restricted set: a hex digest of the
/// port's id fits any id.
fn fifo_dedup_id(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One S3 bucket as the core's object store.
#[derive(Clone, Debug)]
pub struct S3Blobs {
    client: aws_sdk_s3::Client,
    bucket: String,
    handle: Handle,
}

impl S3Blobs {
    /// The bucket `bucket`, its calls run on `handle`.
    pub fn new(clients: &AwsClients, bucket: &str, handle: Handle) -> S3Blobs {
        S3Blobs {
            client: clients.s3().clone(),
            bucket: bucket.to_string(),
            handle,
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl BlobStore for S3Blobs {
    fn put_bytes(&self, key: &str, body: &[u8], content_type: &str) -> Result<(), PortError> {
        self.handle
            .block_on(s3::put_bytes(
                &self.client,
                &self.bucket,
                key,
                body.to_vec(),
                content_type,
            ))
            .map_err(|e| port_err(&self.url(key), e))
    }

    fn put_file(&self, key: &str, path: &Path, content_type: &str) -> Result<(), PortError> {
        self.handle
            .block_on(s3::upload_file(
                &self.client,
                &self.bucket,
                key,
                path,
                content_type,
                s3::PART_SIZE,
            ))
            .map_err(|e| port_err(&self.url(key), e))
    }

    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, PortError> {
        self.handle
            .block_on(s3::get_bytes(&self.client, &self.bucket, key))
            .map_err(|e| port_err(&self.url(key), e))
    }

    fn download(&self, key: &str, dest: &Path) -> Result<u64, PortError> {
        let url = self.url(key);
        self.handle.block_on(async {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| port_err(&url, AwsError::api("S3", "GetObject", e)))?;
            let expected = out.content_length.and_then(|l| u64::try_from(l).ok());
            let mut body = out.body;
            let mut file = tokio::fs::File::create(dest)
                .await
                .map_err(|e| PortError::backend(dest.display().to_string(), e))?;
            let mut written = 0u64;
            while let Some(chunk) = body
                .try_next()
                .await
                .map_err(|e| PortError::backend(&url, format!("download interrupted: {e}")))?
            {
                file.write_all(&chunk)
                    .await
                    .map_err(|e| PortError::backend(dest.display().to_string(), e))?;
                written += chunk.len() as u64;
            }
            file.flush()
                .await
                .map_err(|e| PortError::backend(dest.display().to_string(), e))?;
            if let Some(n) = expected.filter(|n| *n != written) {
                return Err(PortError::backend(
                    &url,
                    format!("download truncated: {written} of {n} bytes"),
                ));
            }
            Ok(written)
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, PortError> {
        let what = self.url(prefix);
        self.handle.block_on(async {
            let mut keys = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client
                    .list_objects_v2()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .set_continuation_token(token.take())
                    .send()
                    .await
                    .map_err(|e| port_err(&what, AwsError::api("S3", "ListObjectsV2", e)))?;
                keys.extend(
                    out.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_string)),
                );
                match out.next_continuation_token {
                    Some(t) if out.is_truncated == Some(true) => token = Some(t),
                    _ => break,
                }
            }
            keys.sort();
            Ok(keys)
        })
    }
}

/// An SQS queue as the core's [`Queue`]. On a FIFO queue (URL ending in `.fifo`) the port's
/// dedup id becomes the deduplication id (hashed to fit) and the message group is `costkit`.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    handle: Handle,
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(clients: &AwsClients, url: &str, handle: Handle) -> SqsQueue {
        SqsQueue {
            client: clients.sqs().clone(),
            url: url.to_string(),
            handle,
        }
    }
}

impl Queue for SqsQueue {
    fn send(&self, body: &str, dedup_id: &str) -> Result<(), PortError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body);
        if self.url.ends_with(".fifo") {
            req = req
                .message_group_id("costkit")
                .message_deduplication_id(fifo_dedup_id(dedup_id));
        }
        self.handle
            .block_on(req.send())
            .map_err(|e| PortError::backend(&self.url, AwsError::api("SQS", "SendMessage", e)))?;
        Ok(())
    }
}

/// An SNS topic: a [`Queue`] for fan-out (`data_updated` to the budget and anomaly queues, whose
/// subscriptions use raw delivery, so they receive the body as sent) and the [`Publisher`] of
/// findings (attributes become String message attributes for subscription filters).
#[derive(Clone, Debug)]
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    arn: String,
    handle: Handle,
}

impl SnsTopic {
    /// The topic `arn`.
    pub fn new(clients: &AwsClients, arn: &str, handle: Handle) -> SnsTopic {
        SnsTopic {
            client: clients.sns().clone(),
            arn: arn.to_string(),
            handle,
        }
    }

    fn publish_raw(
        &self,
        subject: Option<&str>,
        body: &str,
        attributes: &[(String, String)],
        dedup_id: &str,
    ) -> Result<(), PortError> {
        let attrs: Vec<(&str, &str)> = attributes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let fifo = self
            .arn
            .ends_with(".fifo")
            .then(|| ("costkit", fifo_dedup_id(dedup_id)));
        self.handle
            .block_on(messaging::publish(
                &self.client,
                &self.arn,
                subject,
                body,
                &attrs,
                fifo.as_ref().map(|(g, d)| (*g, d.as_str())),
            ))
            .map(|_| ())
            .map_err(|e| PortError::backend(&self.arn, e))
    }
}

impl Queue for SnsTopic {
    fn send(&self, body: &str, dedup_id: &str) -> Result<(), PortError> {
        self.publish_raw(None, body, &[], dedup_id)
    }
}

impl Publisher for SnsTopic {
    fn publish(&self, message: &Publication) -> Result<(), PortError> {
        self.publish_raw(
            Some(&message.subject),
            &message.body,
            &message.attributes,
            &message.dedup_id,
        )
    }
}

/// Small state documents in the costkit DynamoDB table: item `pk = STATE#<key>`, `sk = STATE`,
/// the document in `value` (binary) and its `version` (number), written with a condition on the
/// version read (`attribute_not_exists(pk)` for a new item).
#[derive(Clone, Debug)]
pub struct DynamoState {
    client: aws_sdk_dynamodb::Client,
    table: String,
    handle: Handle,
}

const STATE_SK: &str = "STATE";

impl DynamoState {
    /// State items in `table`.
    pub fn new(clients: &AwsClients, table: &str, handle: Handle) -> DynamoState {
        DynamoState {
            client: clients.dynamodb().clone(),
            table: table.to_string(),
            handle,
        }
    }

    fn pk(key: &str) -> AttributeValue {
        AttributeValue::S(format!("STATE#{key}"))
    }
}

impl StateStore for DynamoState {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, Version)>, PortError> {
        let what = format!("state item {key}");
        let out = self
            .handle
            .block_on(
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", Self::pk(key))
                    .key("sk", AttributeValue::S(STATE_SK.into()))
                    .consistent_read(true)
                    .send(),
            )
            .map_err(|e| PortError::backend(&what, AwsError::api("DynamoDB", "GetItem", e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let value = match item.get("value") {
            Some(AttributeValue::B(b)) => b.clone().into_inner(),
            _ => return Err(PortError::backend(&what, "attribute `value` is not binary")),
        };
        let version = match item.get("version") {
            Some(AttributeValue::N(n)) => n
                .parse::<Version>()
                .map_err(|e| PortError::backend(&what, format!("attribute `version`: {e}")))?,
            _ => return Err(PortError::backend(&what, "attribute `version` is missing")),
        };
        Ok(Some((value, version)))
    }

    fn put(
        &self,
        key: &str,
        value: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, PortError> {
        let what = format!("state item {key}");
        let next = expected.map_or(1, |v| v + 1);
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", Self::pk(key))
            .item("sk", AttributeValue::S(STATE_SK.into()))
            .item("value", AttributeValue::B(value.to_vec().into()))
            .item("version", AttributeValue::N(next.to_string()));
        req = match expected {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(v) => req
                .condition_expression("#v = :expected")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        match self.handle.block_on(req.send()) {
            Ok(_) => Ok(next),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Err(PortError::Conflict(what))
            }
            Err(e) => Err(PortError::backend(
                &what,
                AwsError::api("DynamoDB", "PutItem", e),
            )),
        }
    }
}

/// Cost Explorer as the ingest flow's cost source: the daily service × linked-account view
/// (paging followed and throttling retried by [`CostExplorer`]), one raw response body per page.
#[derive(Clone, Debug)]
pub struct CeSource {
    ce: CostExplorer,
    today: NaiveDate,
    handle: Handle,
}

impl CeSource {
    /// A source answering for `today` (ranges are clamped to what Cost Explorer keeps then).
    pub fn new(ce: CostExplorer, today: NaiveDate, handle: Handle) -> CeSource {
        CeSource { ce, today, handle }
    }
}

impl CostSource for CeSource {
    fn name(&self) -> &str {
        "aws-ce"
    }

    fn dialect(&self) -> &str {
        "aws-ce"
    }

    fn fetch(&self, range: &DayRange) -> Result<Vec<Vec<u8>>, PortError> {
        let [by_service, _] = CeQuery::daily_pair(range.start, range.end, &SecondGrouping::Region);
        self.handle
            .block_on(self.ce.fetch(&by_service, self.today))
            .map(|p| p.pages)
            .map_err(|e| {
                PortError::backend(format!("Cost Explorer {}..{}", range.start, range.end), e)
            })
    }
}
