//! Legacy resources: topics, queues and subscriptions that this folder never created but
//! deletes (`legacy = true` in `[[delete_topic]]`, `[[delete_queue]]`, `[[unsubscribe]]`).
//!
//! The files cannot say what such a resource looked like, so `migrate` records its attributes,
//! tags and subscriptions just before deleting it (beside the version row), and `rollback`
//! rebuilds it from that record.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Endpoint, SubscriptionKey, Tags};

/// Which legacy resource an operation deletes or restores.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "resource", content = "name", rename_all = "lowercase")]
pub enum LegacyKey {
    /// A topic by name.
    Topic(String),
    /// A queue by name.
    Queue(String),
    /// A subscription.
    Subscription(SubscriptionKey),
}

impl fmt::Display for LegacyKey {
    /// `topic NAME`, `queue NAME`, `subscription topic T -> queue Q`: also the record's key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyKey::Topic(name) => write!(f, "topic {name}"),
            LegacyKey::Queue(name) => write!(f, "queue {name}"),
            LegacyKey::Subscription(key) => write!(f, "subscription {key}"),
        }
    }
}

/// A legacy resource's state as `migrate` found it just before deleting it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyRecord {
    /// AWS attributes that can be given again at creation (or, for a subscription, set).
    pub attributes: BTreeMap<String, String>,
    /// Its tags.
    pub tags: Tags,
    /// Subscriptions from the topic, or to the queue, with their attributes.
    pub subscriptions: Vec<RecordedSubscription>,
}

/// One subscription of a recorded topic or queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedSubscription {
    /// The topic: a name in this account and region, or an ARN key.
    pub topic: String,
    /// Where it delivers.
    pub endpoint: Endpoint,
    /// Its settable attributes.
    pub attributes: BTreeMap<String, String>,
}

/// A legacy delete or restore, with the record once `migrate` or `rollback` has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Legacy {
    /// What it deletes or restores.
    pub key: LegacyKey,
    /// What was found when it was deleted; `None` before the run has it, or when nothing
    /// was there to delete (and so nothing is restored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<LegacyRecord>,
}

/// Queue attributes that `sqs:CreateQueue` takes, so that a recreated queue matches.
pub const QUEUE_ATTRIBUTES: &[&str] = &[
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
];

/// Topic attributes that `sns:CreateTopic` takes.
pub const TOPIC_ATTRIBUTES: &[&str] = &[
    "ContentBasedDeduplication",
    "DeliveryPolicy",
    "DisplayName",
    "FifoTopic",
    "KmsMasterKeyId",
    "Policy",
    "SignatureVersion",
    "TracingConfig",
];

/// Subscription attributes that `sns:Subscribe` takes.
pub const SUBSCRIPTION_ATTRIBUTES: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
];
