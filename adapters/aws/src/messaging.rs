//! SQS job messages, SNS notifications, Secrets Manager secrets.

use std::collections::HashMap;

use aws_sdk_sqs::types::MessageAttributeValue as SqsAttr;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::AwsError;

/// The message telling the normalize function what to read. Version 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizeJob {
    /// Message format version (1).
    pub version: u32,
    /// Provider (`aws`, `azure`, `gcp`).
    pub provider: String,
    /// Source within the provider (`ce-service-account`, `cur2`, ...).
    pub source: String,
    /// costkit dialect name (`aws-ce`, `aws-cur2`, ...); `None` lets the normalizer detect it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<String>,
    /// Bucket of the raw payload.
    pub bucket: String,
    /// Key of the raw payload.
    pub key: String,
    /// The object's ETag when the job was made: a redelivered *changed* object (a restated
    /// month) is a new job, a redelivered message is the same job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Only these bytes of the object (`[start, end)`), for split work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_range: Option<(u64, u64)>,
    /// Only these days (`[start, end)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day_range: Option<(NaiveDate, NaiveDate)>,
    /// The payer account, when the producer knows it (Cost Explorer responses do not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_account_id: Option<String>,
}

impl NormalizeJob {
    /// A version-1 job for one object.
    pub fn new(provider: &str, source: &str, bucket: &str, key: &str) -> NormalizeJob {
        NormalizeJob {
            version: 1,
            provider: provider.into(),
            source: source.into(),
            dialect: None,
            bucket: bucket.into(),
            key: key.into(),
            etag: None,
            byte_range: None,
            day_range: None,
            payer_account_id: None,
        }
    }

    /// Parses a message body, naming what is wrong.
    pub fn from_json(body: &str) -> Result<NormalizeJob, AwsError> {
        let job: NormalizeJob = serde_json::from_str(body).map_err(|e| AwsError::Invalid {
            what: "NormalizeJob message".into(),
            message: format!("line {} column {}: {e}", e.line(), e.column()),
        })?;
        if job.version != 1 {
            return Err(AwsError::Invalid {
                what: "NormalizeJob message".into(),
                message: format!("field `version`: {} is not supported (1 is)", job.version),
            });
        }
        Ok(job)
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        // Plain strings, numbers and dates: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A stable key for the work this job describes (hex SHA-256 of its canonical JSON, 64
    /// chars): the same job delivered twice has the same key. Used as the FIFO deduplication id
    /// and as the store's idempotency claim.
    pub fn idempotency_key(&self) -> String {
        let digest = Sha256::digest(self.to_json().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A message received from SQS.
#[derive(Clone, Debug)]
pub struct Received {
    /// SQS message id.
    pub message_id: String,
    /// Handle to delete it with.
    pub receipt_handle: String,
    /// The body.
    pub body: String,
    /// String message attributes.
    pub attributes: HashMap<String, String>,
    /// How many times it was received (1 on first delivery).
    pub receive_count: u32,
}

/// Sends a job. On a FIFO queue (URL ending in `.fifo`) the job's idempotency key is the
/// deduplication id and its source the message group, so a second send within five minutes is
/// dropped by SQS; consumers must still be idempotent (standard queues deliver at least once).
pub async fn send_job(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    job: &NormalizeJob,
) -> Result<String, AwsError> {
    let attr = |v: &str| {
        SqsAttr::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .map_err(|e| AwsError::Config(format!("SQS message attribute: {e}")))
    };
    let mut req = client
        .send_message()
        .queue_url(queue_url)
        .message_body(job.to_json())
        .message_attributes("type", attr("NormalizeJob")?)
        .message_attributes("idempotency_key", attr(&job.idempotency_key())?);
    if queue_url.ends_with(".fifo") {
        req = req
            .message_group_id(&job.source)
            .message_deduplication_id(job.idempotency_key());
    }
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::api("SQS", "SendMessage", e))?;
    Ok(out.message_id.unwrap_or_default())
}

/// Receives up to `max` (1..=10) messages, long-polling up to `wait_seconds`.
pub async fn receive(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    max: i32,
    wait_seconds: i32,
) -> Result<Vec<Received>, AwsError> {
    let out = client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max.clamp(1, 10))
        .wait_time_seconds(wait_seconds.clamp(0, 20))
        .message_attribute_names("All")
        .message_system_attribute_names(
            aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
        )
        .send()
        .await
        .map_err(|e| AwsError::api("SQS", "ReceiveMessage", e))?;
    let mut msgs = Vec::new();
    for m in out.messages.unwrap_or_default() {
        let attributes = m
            .message_attributes
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
            .collect();
        let receive_count = m
            .attributes
            .as_ref()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        msgs.push(Received {
            message_id: m.message_id.unwrap_or_default(),
            receipt_handle: m.receipt_handle.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
            attributes,
            receive_count,
        });
    }
    Ok(msgs)
}

/// Deletes a processed message.
pub async fn delete(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handle: &str,
) -> Result<(), AwsError> {
    client
        .delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .send()
        .await
        .map_err(|e| AwsError::api("SQS", "DeleteMessage", e))?;
    Ok(())
}

/// Publishes to an SNS topic. `attributes` become String message attributes, which
/// subscription filter policies match on (e.g. `severity`, `kind`, `account`).
pub async fn publish(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
    subject: Option<&str>,
    message: &str,
    attributes: &[(&str, &str)],
) -> Result<String, AwsError> {
    let mut req = client
        .publish()
        .topic_arn(topic_arn)
        .message(message)
        .set_subject(subject.map(truncate_subject));
    for (k, v) in attributes {
        let a = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(*v)
            .build()
            .map_err(|e| AwsError::Config(format!("SNS message attribute `{k}`: {e}")))?;
        req = req.message_attributes(*k, a);
    }
    let out = req
        .send()
        .await
        .map_err(|e| AwsError::api("SNS", "Publish", e))?;
    Ok(out.message_id.unwrap_or_default())
}

/// SNS subjects are at most 100 characters (on a char boundary) and single-line.
fn truncate_subject(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect()
}

/// Reads a secret's string value (a webhook URL, an API key, a JSON document).
pub async fn get_secret_string(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, AwsError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| AwsError::api("Secrets Manager", "GetSecretValue", e))?;
    out.secret_string.ok_or_else(|| AwsError::Invalid {
        what: format!("secret `{secret_id}`"),
        message: "it has no string value (binary secrets are not supported)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_and_keys_are_stable() {
        let mut job = NormalizeJob::new("aws", "ce-service-account", "b", "raw/aws/x.json");
        job.day_range =
            NaiveDate::from_ymd_opt(2026, 1, 1).zip(NaiveDate::from_ymd_opt(2026, 2, 1));
        let back = NormalizeJob::from_json(&job.to_json()).expect("parse");
        assert_eq!(back, job);
        assert_eq!(back.idempotency_key(), job.idempotency_key());
        assert_eq!(job.idempotency_key().len(), 64);
        let mut changed = job.clone();
        changed.etag = Some("\"abc\"".into());
        assert_ne!(changed.idempotency_key(), job.idempotency_key());
    }

    #[test]
    fn bad_jobs_are_refused_with_the_reason() {
        let e = NormalizeJob::from_json("{\"version\":1}").expect_err("missing fields");
        assert!(e.to_string().contains("missing field"), "{e}");
        let mut job = NormalizeJob::new("aws", "s", "b", "k");
        job.version = 2;
        let e = NormalizeJob::from_json(&job.to_json()).expect_err("version");
        assert!(e.to_string().contains("`version`"), "{e}");
    }

    #[test]
    fn subjects_are_cut_to_the_sns_limit() {
        let s = truncate_subject(&"é".repeat(150));
        assert_eq!(s.chars().count(), 100);
        assert_eq!(truncate_subject("a\nb"), "a b");
    }
}
