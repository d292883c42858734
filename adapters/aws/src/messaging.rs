//! Low-level SQS receive/delete, SNS publish and Secrets Manager reads. The messages themselves are
//! the core's (`costkit_core::flow::messages`), sent through [`crate::ports`].

use std::collections::HashMap;

use crate::error::AwsError;

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

/// Publishes to an SNS topic (`fifo`: message group and deduplication id, for FIFO topics). `attributes` become String message attributes, which
/// subscription filter policies match on (e.g. `severity`, `kind`, `account`).
pub async fn publish(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
    subject: Option<&str>,
    message: &str,
    attributes: &[(&str, &str)],
    fifo: Option<(&str, &str)>,
) -> Result<String, AwsError> {
    let mut req = client
        .publish()
        .topic_arn(topic_arn)
        .message(message)
        .set_subject(subject.map(truncate_subject));
    if let Some((group, dedup)) = fifo {
        req = req.message_group_id(group).message_deduplication_id(dedup);
    }
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
    fn subjects_are_cut_to_the_sns_limit() {
        let s = truncate_subject(&"é".repeat(150));
        assert_eq!(s.chars().count(), 100);
        assert_eq!(truncate_subject("a\nb"), "a b");
    }
}
