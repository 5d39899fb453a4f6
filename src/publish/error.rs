//! Why a message was not published ([`PublishError`]), and which failures a retry may cure.

use uuid::Uuid;

use super::{Target, MAX_ATTRIBUTES, RESERVED_ATTRIBUTES};
use crate::aws::AwsError;
use crate::message::target::MAX_FIFO_ID_LEN;
use crate::naming::NameError;

/// SNS or SQS error codes meaning "no such topic / queue".
const NOT_FOUND_CODES: [&str; 4] = [
    "NotFound",
    "NotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// Why a message was not published. Every variant is cloneable, so one failed batch call can
/// be reported on each of its messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The standard name cannot be built (a part breaks the naming rules or is too long).
    #[error("cannot name the topic or queue for this message: {source}")]
    Name {
        /// What the naming rules say.
        #[source]
        source: NameError,
    },
    /// `dest` was given for a topic.
    #[error("`dest` ({dest}) is part of queue names only: publish to the queue (`PublishOptions::queue`, `--to-queue`) or leave dest out")]
    DestOnTopic {
        /// The dest given.
        dest: String,
    },
    /// A FIFO target without a message group id.
    #[error(
        "{target} is FIFO: give a message group id (`PublishOptions::fifo(group)`, `--group`)"
    )]
    MissingGroupId {
        /// The target.
        target: Target,
    },
    /// A group or deduplication id for a standard target.
    #[error("{target} is not FIFO: group and deduplication ids are only for FIFO topics and queues (set `fifo`, `--fifo`, or a name ending in `.fifo`)")]
    NotFifo {
        /// The target.
        target: Target,
    },
    /// A group or deduplication id AWS would refuse.
    #[error("{field} `{value}` must be 1 to {MAX_FIFO_ID_LEN} printable ASCII characters without spaces")]
    BadFifoId {
        /// `group id` or `deduplication id`.
        field: &'static str,
        /// The rejected id.
        value: String,
    },
    /// A message attribute AWS would refuse, or one of the standard ones.
    #[error("message attribute `{name}`: {reason}")]
    BadAttribute {
        /// The attribute name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// More message attributes than AWS allows.
    #[error("a message may have at most {MAX_ATTRIBUTES} attributes, {} of them standard (type, kind, publisher); {count} were given", RESERVED_ATTRIBUTES.len())]
    TooManyAttributes {
        /// Attributes in all, standard ones included.
        count: usize,
    },
    /// The message is over the size limit; nothing was sent for it.
    #[error("message {uuid} is {size} bytes (body and attributes); at most {max} fit in one message: store the payload elsewhere and send a reference")]
    TooLarge {
        /// The message.
        uuid: Uuid,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The topic or queue does not exist.
    #[error("{target} does not exist: create it in a migration and run `lariat migrate` (check the instance, publisher, type, dest and fifo that make up its name)")]
    NotFound {
        /// The target.
        target: Target,
    },
    /// AWS rejected this entry of a batch call that otherwise succeeded.
    #[error("{target} rejected message {uuid}: {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Rejected {
        /// The target.
        target: Target,
        /// The message.
        uuid: Uuid,
        /// The AWS error code.
        code: String,
        /// What AWS said.
        message: Option<String>,
        /// True when the message itself is at fault; false when a retry may succeed.
        sender_fault: bool,
    },
    /// The call failed as a whole (after the SDK's retries).
    #[error("sending to {target} failed: {message}")]
    Request {
        /// The target.
        target: Target,
        /// The AWS error code, when there is one.
        code: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// Not sent because an earlier message of the same FIFO group failed: sending it would
    /// break the group's order.
    #[error("message {uuid} was not sent: message {failed} before it in FIFO group `{group_id}` of {target} failed, and sending it would break the group's order")]
    NotSent {
        /// The target.
        target: Target,
        /// This message.
        uuid: Uuid,
        /// The group.
        group_id: String,
        /// The earlier message that failed.
        failed: Uuid,
    },
    /// AWS answered a batch call without a result for this entry.
    #[error(
        "{target} answered without a result for message {uuid}; it may or may not have been sent"
    )]
    NoAnswer {
        /// The target.
        target: Target,
        /// The message.
        uuid: Uuid,
    },
}

impl PublishError {
    /// Whether trying the same message again later may succeed (throttling, network or
    /// server-side failures), as opposed to a message or setup that must be fixed first.
    pub fn is_transient(&self) -> bool {
        match self {
            PublishError::Rejected { sender_fault, .. } => !sender_fault,
            PublishError::Request { .. }
            | PublishError::NotSent { .. }
            | PublishError::NoAnswer { .. } => true,
            _ => false,
        }
    }

    pub(super) fn from_aws(err: AwsError, target: &Target) -> PublishError {
        let code = err.code().map(str::to_owned);
        if code
            .as_deref()
            .is_some_and(|c| NOT_FOUND_CODES.contains(&c))
        {
            return PublishError::NotFound {
                target: target.clone(),
            };
        }
        PublishError::Request {
            target: target.clone(),
            code,
            message: err.reason(),
        }
    }
}
