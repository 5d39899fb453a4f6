//! Sending messages: SNS `Publish` / `PublishBatch` and SQS `SendMessage` / `SendMessageBatch`.
//!
//! These are the raw calls under [`crate::publish::Publisher`]: they take a body that is
//! already serialized, string message attributes and the FIFO ids, and report what AWS said.
//! A batch call that succeeds can still reject some of its entries (AWS answers 200 with a
//! `Failed` list); those come back per entry in [`BatchOutcome::failed`], never as an `Err`.

use std::collections::BTreeMap;

use super::{Aws, AwsError};

/// AWS's data type for string message attributes (filter policies match on these); its
/// length counts in the message size.
pub(crate) const STRING: &str = "String";

/// Where a message goes: a topic by ARN or a queue by URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// An SNS topic, by ARN.
    Topic(&'a str),
    /// An SQS queue, by URL.
    Queue(&'a str),
}

impl Destination<'_> {
    /// The ARN or URL.
    pub fn address(&self) -> &str {
        match self {
            Destination::Topic(arn) => arn,
            Destination::Queue(url) => url,
        }
    }
}

/// One message as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutMessage {
    /// The batch entry id (unique within one batch call: 1–80 of `[A-Za-z0-9_-]`); ignored by
    /// single sends.
    pub id: String,
    /// The message body.
    pub body: String,
    /// String message attributes.
    pub attributes: BTreeMap<String, String>,
    /// FIFO message group id.
    pub group_id: Option<String>,
    /// FIFO deduplication id.
    pub deduplication_id: Option<String>,
}

/// A message AWS accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The batch entry id it was sent with (empty for single sends).
    pub id: String,
    /// The id AWS gave the message.
    pub message_id: String,
    /// The sequence number AWS gave it, on FIFO topics and queues.
    pub sequence_number: Option<String>,
}

/// A batch entry AWS rejected inside an otherwise successful call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// The batch entry id.
    pub id: String,
    /// The AWS error code, e.g. `InvalidParameterValue`.
    pub code: String,
    /// What AWS said, when it said anything.
    pub message: Option<String>,
    /// True when the entry itself is at fault (retrying it unchanged fails again).
    pub sender_fault: bool,
}

/// The answer to one batch call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Entries AWS accepted.
    pub successful: Vec<Accepted>,
    /// Entries AWS rejected.
    pub failed: Vec<EntryFailure>,
}

impl Aws {
    /// Sends one message (`sns:Publish` or `sqs:SendMessage`).
    pub async fn send_message(
        &self,
        to: Destination<'_>,
        message: &OutMessage,
    ) -> Result<Accepted, AwsError> {
        match to {
            Destination::Topic(arn) => self.sns_publish(arn, message).await,
            Destination::Queue(url) => self.sqs_send(url, message).await,
        }
    }

    /// Sends up to 10 messages in one call (`sns:PublishBatch` or `sqs:SendMessageBatch`).
    ///
    /// `Err` means the whole call failed; entries rejected one by one are in
    /// [`BatchOutcome::failed`].
    pub async fn send_message_batch(
        &self,
        to: Destination<'_>,
        messages: &[OutMessage],
    ) -> Result<BatchOutcome, AwsError> {
        match to {
            Destination::Topic(arn) => self.sns_publish_batch(arn, messages).await,
            Destination::Queue(url) => self.sqs_send_batch(url, messages).await,
        }
    }

    async fn sns_publish(&self, arn: &str, message: &OutMessage) -> Result<Accepted, AwsError> {
        let answer = self
            .sns
            .publish()
            .topic_arn(arn)
            .message(&message.body)
            .set_message_attributes(Some(sns_attributes(&message.attributes)?))
            .set_message_group_id(message.group_id.clone())
            .set_message_deduplication_id(message.deduplication_id.clone())
            .send()
            .await
            .map_err(|e| self.error("sns:Publish", arn, e))?;
        Ok(Accepted {
            id: message.id.clone(),
            message_id: answer.message_id().unwrap_or_default().to_owned(),
            sequence_number: answer.sequence_number().map(str::to_owned),
        })
    }

    async fn sns_publish_batch(
        &self,
        arn: &str,
        messages: &[OutMessage],
    ) -> Result<BatchOutcome, AwsError> {
        let entries = messages
            .iter()
            .map(|m| {
                aws_sdk_sns::types::PublishBatchRequestEntry::builder()
                    .id(&m.id)
                    .message(&m.body)
                    .set_message_attributes(Some(sns_attributes(&m.attributes)?))
                    .set_message_group_id(m.group_id.clone())
                    .set_message_deduplication_id(m.deduplication_id.clone())
                    .build()
                    .map_err(|e| invalid_entry("sns:PublishBatch", arn, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let answer = self
            .sns
            .publish_batch()
            .topic_arn(arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.error("sns:PublishBatch", arn, e))?;
        Ok(BatchOutcome {
            successful: answer
                .successful()
                .iter()
                .map(|s| Accepted {
                    id: s.id().unwrap_or_default().to_owned(),
                    message_id: s.message_id().unwrap_or_default().to_owned(),
                    sequence_number: s.sequence_number().map(str::to_owned),
                })
                .collect(),
            failed: answer
                .failed()
                .iter()
                .map(|f| EntryFailure {
                    id: f.id().to_owned(),
                    code: f.code().to_owned(),
                    message: f.message().map(str::to_owned),
                    sender_fault: f.sender_fault(),
                })
                .collect(),
        })
    }

    async fn sqs_send(&self, url: &str, message: &OutMessage) -> Result<Accepted, AwsError> {
        let answer = self
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(&message.body)
            .set_message_attributes(Some(sqs_attributes(&message.attributes)?))
            .set_message_group_id(message.group_id.clone())
            .set_message_deduplication_id(message.deduplication_id.clone())
            .send()
            .await
            .map_err(|e| self.error("sqs:SendMessage", url, e))?;
        Ok(Accepted {
            id: message.id.clone(),
            message_id: answer.message_id().unwrap_or_default().to_owned(),
            sequence_number: answer.sequence_number().map(str::to_owned),
        })
    }

    async fn sqs_send_batch(
        &self,
        url: &str,
        messages: &[OutMessage],
    ) -> Result<BatchOutcome, AwsError> {
        let entries = messages
            .iter()
            .map(|m| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(&m.id)
                    .message_body(&m.body)
                    .set_message_attributes(Some(sqs_attributes(&m.attributes)?))
                    .set_message_group_id(m.group_id.clone())
                    .set_message_deduplication_id(m.deduplication_id.clone())
                    .build()
                    .map_err(|e| invalid_entry("sqs:SendMessageBatch", url, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let answer = self
            .sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.error("sqs:SendMessageBatch", url, e))?;
        Ok(BatchOutcome {
            successful: answer
                .successful()
                .iter()
                .map(|s| Accepted {
                    id: s.id().to_owned(),
                    message_id: s.message_id().to_owned(),
                    sequence_number: s.sequence_number().map(str::to_owned),
                })
                .collect(),
            failed: answer
                .failed()
                .iter()
                .map(|f| EntryFailure {
                    id: f.id().to_owned(),
                    code: f.code().to_owned(),
                    message: f.message().map(str::to_owned),
                    sender_fault: f.sender_fault(),
                })
                .collect(),
        })
    }
}

fn sns_attributes(
    attributes: &BTreeMap<String, String>,
) -> Result<std::collections::HashMap<String, aws_sdk_sns::types::MessageAttributeValue>, AwsError>
{
    attributes
        .iter()
        .map(|(name, value)| {
            aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type(STRING)
                .string_value(value)
                .build()
                .map(|v| (name.clone(), v))
                .map_err(|e| invalid_entry("sns:Publish", name, e))
        })
        .collect()
}

fn sqs_attributes(
    attributes: &BTreeMap<String, String>,
) -> Result<std::collections::HashMap<String, aws_sdk_sqs::types::MessageAttributeValue>, AwsError>
{
    attributes
        .iter()
        .map(|(name, value)| {
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type(STRING)
                .string_value(value)
                .build()
                .map(|v| (name.clone(), v))
                .map_err(|e| invalid_entry("sqs:SendMessage", name, e))
        })
        .collect()
}

/// A request the SDK refused to build (a required field missing); not expected, since every
/// required field is always set, but reported rather than unwrapped.
fn invalid_entry(action: &'static str, resource: &str, err: impl std::fmt::Display) -> AwsError {
    AwsError::failed(
        action,
        resource,
        None,
        format!("cannot build the request: {err}"),
    )
}
