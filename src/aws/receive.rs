//! The consumer's SQS calls: long-poll receive, delete, and visibility changes.
//!
//! The inbox ([`crate::inbox`]) decides what to do with a message; this file only speaks SQS.

use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};

use super::{Aws, AwsError};
use crate::config::DEFAULT_CONNECT_TIMEOUT;

/// The longest long poll SQS allows.
pub const MAX_WAIT_TIME: Duration = Duration::from_secs(20);

/// The most messages one `ReceiveMessage` returns, and one batch call takes.
pub const MAX_BATCH: usize = 10;

/// What a consumer needs to know about its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// The queue URL.
    pub url: String,
    /// The queue's default visibility timeout.
    pub visibility_timeout: Duration,
    /// Whether the queue is FIFO.
    pub fifo: bool,
}

/// One received SQS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMessage {
    /// The id SQS gave the message.
    pub message_id: String,
    /// The handle to delete the message or change its visibility with.
    pub receipt_handle: String,
    /// The body as sent.
    pub body: String,
    /// The FIFO message group, on FIFO queues.
    pub group_id: Option<String>,
    /// How many times SQS has handed the message out, this time included.
    pub receive_count: u32,
}

impl Aws {
    /// Looks a queue up by name and reads its visibility timeout and FIFO flag.
    ///
    /// Fails when the queue does not exist, which is the error a consumer should stop on.
    pub async fn queue_info(&self, name: &str) -> Result<QueueInfo, AwsError> {
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .map_err(|e| self.error("sqs:GetQueueUrl", name, e))?
            .queue_url
            .unwrap_or_else(|| self.queue_url(name));
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .attribute_names(QueueAttributeName::FifoQueue)
            .send()
            .await
            .map_err(|e| self.error("sqs:GetQueueAttributes", name, e))?;
        let attributes = attributes.attributes();
        let get = |key: QueueAttributeName| attributes.and_then(|a| a.get(&key));
        let visibility_timeout = get(QueueAttributeName::VisibilityTimeout)
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(30), Duration::from_secs);
        let fifo = get(QueueAttributeName::FifoQueue).is_some_and(|v| v == "true")
            || name.ends_with(".fifo");
        Ok(QueueInfo {
            url,
            visibility_timeout,
            fifo,
        })
    }

    /// Receives up to `max` (at most 10) messages, waiting up to `wait` (at most 20 s) for the
    /// first one to arrive.
    pub async fn receive_messages(
        &self,
        queue_url: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<SqsMessage>, AwsError> {
        let max = max.clamp(1, MAX_BATCH);
        let wait = wait.min(MAX_WAIT_TIME);
        let request = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
        let sent = match self.target.attempt_timeout {
            // a long poll answers after up to `wait` by design: the timeouts start after it
            Some(attempt) => {
                let timeouts = super::timeouts(
                    self.target
                        .connect_timeout
                        .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
                    attempt + wait,
                );
                request
                    .customize()
                    .config_override(
                        aws_sdk_sqs::config::Builder::default().timeout_config(timeouts),
                    )
                    .send()
                    .await
            }
            None => request.send().await,
        };
        let output = sent.map_err(|e| self.error("sqs:ReceiveMessage", queue_url, e))?;
        let messages = output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let attributes = m.attributes.unwrap_or_default();
                Some(SqsMessage {
                    message_id: m.message_id.unwrap_or_default(),
                    // A message without a receipt handle could be neither deleted nor
                    // extended; SQS always sends one.
                    receipt_handle: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    group_id: attributes
                        .get(&MessageSystemAttributeName::MessageGroupId)
                        .cloned(),
                    receive_count: attributes
                        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(1),
                })
            })
            .collect();
        Ok(messages)
    }

    /// Deletes a received message from its queue, so it is not delivered again.
    pub async fn delete_message(
        &self,
        queue_url: &str,
        receipt_handle: &str,
    ) -> Result<(), AwsError> {
        self.sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| self.error("sqs:DeleteMessage", queue_url, e))?;
        Ok(())
    }

    /// Deletes received messages from their queue, ten to a `DeleteMessageBatch` call. An
    /// entry SQS refuses fails the call, after the others of its batch were deleted.
    pub async fn delete_messages(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
    ) -> Result<(), AwsError> {
        const ACTION: &str = "sqs:DeleteMessageBatch";
        for chunk in receipt_handles.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*handle)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AwsError::failed(ACTION, queue_url, None, e.to_string()))?;
            let output = self
                .sqs
                .delete_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.error(ACTION, queue_url, e))?;
            if let Some(failed) = output.failed().first() {
                return Err(AwsError::failed(
                    ACTION,
                    queue_url,
                    Some(failed.code()),
                    failed.message().unwrap_or_default(),
                ));
            }
        }
        Ok(())
    }

    /// Sets the visibility timeout of received messages (at most 10 a call), from now: to
    /// keep them hidden while they are worked on, or 0 to hand them out again at once.
    pub async fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
        timeout: Duration,
    ) -> Result<(), AwsError> {
        let seconds = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
        for chunk in receipt_handles.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(*handle)
                        .visibility_timeout(seconds)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    AwsError::failed(
                        "sqs:ChangeMessageVisibilityBatch",
                        queue_url,
                        None,
                        e.to_string(),
                    )
                })?;
            let output = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| self.error("sqs:ChangeMessageVisibilityBatch", queue_url, e))?;
            if let Some(failed) = output.failed().first() {
                return Err(AwsError::failed(
                    "sqs:ChangeMessageVisibilityBatch",
                    queue_url,
                    Some(failed.code()),
                    failed.message().unwrap_or_default(),
                ));
            }
        }
        Ok(())
    }
}
