//! The declared topology: topics, queues and subscriptions as the migration files say they are
//! at one version, and the operations that move it from one version to the next.
//!
//! The folder of migrations replays into a [`Topology`] at every version ([`load_project`]), so the
//! inverse of every operation is known: the `down` of a delete recreates the resource with its
//! declared attributes, the `down` of a change restores the previous values.

mod derive;
mod legacy;
mod replay;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::migration::{DeduplicationScope, FifoThroughputLimit, FilterPolicyScope};
use crate::naming::{ParsedName, ResourceKind};

pub use derive::{combine, derive, merge_filter_policies, DeriveError, Derived};
pub use legacy::{
    Legacy, LegacyKey, LegacyRecord, RecordedSubscription, QUEUE_ATTRIBUTES,
    SUBSCRIPTION_ATTRIBUTES, TOPIC_ATTRIBUTES,
};
pub use replay::{load_project, Migration, Project};

/// User tags on a topic or queue, key to value.
pub type Tags = BTreeMap<String, String>;

/// An SNS topic as declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topic {
    /// Full name, `.fifo` suffix included.
    pub name: String,
    /// What the name says about itself (standard parts, or custom).
    pub naming: ParsedName,
    /// Declared attributes; `None` means the AWS default.
    pub attributes: TopicAttributes,
    /// User tags (lariat adds its own when it creates the topic).
    pub tags: Tags,
    /// Set when another service owns the topic: checked, never created, changed or deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
}

impl Topic {
    /// Whether this is a FIFO topic.
    pub fn fifo(&self) -> bool {
        self.naming.fifo()
    }
}

/// The owner of a topic or queue that this folder refers to but another service's migrations
/// create: `[[external_topic]]`, `[[external_queue]]`.
///
/// A resource in another account or region is keyed in the topology by its ARN, with the
/// parts it does not set left empty (`arn:aws:sns::111122223333:name`); [`crate::naming::Arns`]
/// fills them in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct External {
    /// The service whose migrations create it, when known.
    pub owner: Option<String>,
    /// Its account, when not this one.
    pub account: Option<String>,
    /// Its region, when not this one.
    pub region: Option<String>,
}

impl External {
    /// Whether it lives in another account or region (so its key is an ARN).
    pub fn is_foreign(&self) -> bool {
        self.account.is_some() || self.region.is_some()
    }

    /// `, owned by `auth``, or nothing when the owner is unknown.
    pub fn owned_by(&self) -> String {
        match &self.owner {
            Some(owner) => format!("; it belongs to `{owner}`, whose migrations create it"),
            None => "; another service's migrations create it".to_owned(),
        }
    }
}

/// Attributes of a topic that a migration can set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TopicAttributes {
    /// FIFO only: deduplicate by a hash of the body when no deduplication id is given.
    pub content_based_deduplication: Option<bool>,
    /// Display name (used by SMS subscriptions).
    pub display_name: Option<String>,
    /// KMS key id or alias for server-side encryption.
    pub kms_master_key_id: Option<String>,
}

/// An SQS queue as declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queue {
    /// Full name, `.fifo` suffix included.
    pub name: String,
    /// What the name says about itself (standard parts, or custom).
    pub naming: ParsedName,
    /// Declared attributes; `None` means the AWS default.
    pub attributes: QueueAttributes,
    /// User tags (lariat adds its own when it creates the queue).
    pub tags: Tags,
    /// Set when another service owns the queue: checked, never created, changed or deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
}

impl Queue {
    /// Whether this is a FIFO queue.
    pub fn fifo(&self) -> bool {
        self.naming.fifo()
    }
}

/// Where a queue sends messages it failed to process `max_receive_count` times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Name of the dead-letter queue.
    pub queue: String,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
}

/// Which source queues may use a queue as their dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum RedriveAllow {
    /// Any queue may.
    AllowAll,
    /// No queue may.
    DenyAll,
    /// Only the named queues may.
    ByQueue(Vec<String>),
}

/// Attributes of a queue that a migration can set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueAttributes {
    /// Seconds a received message stays hidden (0–43200).
    pub visibility_timeout: Option<u32>,
    /// Seconds a message is kept (60–1209600).
    pub message_retention_period: Option<u32>,
    /// Largest message in bytes (1024–1048576).
    pub maximum_message_size: Option<u32>,
    /// Seconds every message is delayed (0–900).
    pub delay_seconds: Option<u32>,
    /// Long-polling wait of ReceiveMessage in seconds (0–20).
    pub receive_message_wait_time: Option<u32>,
    /// Dead-letter queue and max receive count (redrive policy).
    pub dead_letter: Option<DeadLetter>,
    /// Redrive-allow policy, for queues used as dead-letter queues.
    pub redrive_allow: Option<RedriveAllow>,
    /// FIFO only: deduplicate by a hash of the body.
    pub content_based_deduplication: Option<bool>,
    /// FIFO only: `messageGroup` or `queue`.
    pub deduplication_scope: Option<DeduplicationScope>,
    /// FIFO only: `perQueue` or `perMessageGroupId`.
    pub fifo_throughput_limit: Option<FifoThroughputLimit>,
    /// KMS key id or alias for server-side encryption.
    pub kms_master_key_id: Option<String>,
    /// Seconds SQS reuses a data key (60–86400), with KMS.
    pub kms_data_key_reuse_period: Option<u32>,
    /// SQS-managed server-side encryption (SSE-SQS).
    pub sqs_managed_sse: Option<bool>,
}

/// What a subscription delivers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "protocol", content = "name", rename_all = "lowercase")]
pub enum Endpoint {
    /// An SQS queue (protocol `sqs`).
    #[serde(rename = "sqs")]
    Queue(String),
    /// Another SNS topic: a link, made real by derived subscriptions of the target topic's
    /// queues ([`Derived`]); AWS holds no subscription for it.
    #[serde(rename = "sns")]
    Topic(String),
}

impl Endpoint {
    /// The endpoint's resource name.
    pub fn name(&self) -> &str {
        match self {
            Endpoint::Queue(name) | Endpoint::Topic(name) => name,
        }
    }

    /// Whether the endpoint is a queue or a topic.
    pub fn resource(&self) -> ResourceKind {
        match self {
            Endpoint::Queue(_) => ResourceKind::Queue,
            Endpoint::Topic(_) => ResourceKind::Topic,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.resource(), self.name())
    }
}

/// Identifies a subscription: one topic, one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SubscriptionKey {
    /// Source topic name.
    pub topic: String,
    /// Where it delivers.
    pub endpoint: Endpoint,
}

impl fmt::Display for SubscriptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "topic {} -> {}", self.topic, self.endpoint)
    }
}

/// A subscription as declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// Which topic delivers to which endpoint.
    #[serde(flatten)]
    pub key: SubscriptionKey,
    /// Declared attributes; `None` means the AWS default.
    pub attributes: SubscriptionAttributes,
}

/// Attributes of a subscription that a migration can set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubscriptionAttributes {
    /// Deliver the message body as published, without the SNS JSON envelope.
    pub raw_message_delivery: Option<bool>,
    /// Filter policy, as JSON.
    pub filter_policy: Option<serde_json::Value>,
    /// `MessageAttributes` (default) or `MessageBody`.
    pub filter_policy_scope: Option<FilterPolicyScope>,
    /// Queue for messages SNS could not deliver (subscription redrive policy).
    pub dead_letter_queue: Option<String>,
}

/// Topics, queues and subscriptions at one version, ordered by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
    /// Queues by name.
    pub queues: BTreeMap<String, Queue>,
    /// Subscriptions by topic and endpoint, as declared (topic-to-topic links included).
    pub subscriptions: BTreeMap<SubscriptionKey, Subscription>,
    /// The subscriptions lariat derives from topic-to-topic links (see [`derive()`]), by key.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub derived: BTreeMap<SubscriptionKey, Derived>,
}

impl Topology {
    /// Whether the topic or queue of this name (or key) is another service's.
    pub fn is_external(&self, resource: ResourceKind, name: &str) -> bool {
        match resource {
            ResourceKind::Topic => self.topics.get(name).is_some_and(|t| t.external.is_some()),
            ResourceKind::Queue => self.queues.get(name).is_some_and(|q| q.external.is_some()),
        }
    }

    /// Whether a topic or queue of this name exists.
    pub fn contains(&self, resource: ResourceKind, name: &str) -> bool {
        match resource {
            ResourceKind::Topic => self.topics.contains_key(name),
            ResourceKind::Queue => self.queues.contains_key(name),
        }
    }

    /// Applies one operation. Operations come from [`load_project`], which checked them against the
    /// topology they apply to.
    pub fn apply(&mut self, op: &Operation) {
        match op {
            Operation::CreateTopic(topic) | Operation::ChangeTopic { after: topic, .. } => {
                self.topics.insert(topic.name.clone(), topic.clone());
            }
            Operation::DeleteTopic(topic) => {
                self.topics.remove(&topic.name);
            }
            Operation::CreateQueue(queue) | Operation::ChangeQueue { after: queue, .. } => {
                self.queues.insert(queue.name.clone(), queue.clone());
            }
            Operation::DeleteQueue(queue) => {
                self.queues.remove(&queue.name);
            }
            Operation::Subscribe(sub) | Operation::ChangeSubscription { after: sub, .. } => {
                self.subscriptions.insert(sub.key.clone(), sub.clone());
            }
            Operation::Unsubscribe(sub) => {
                self.subscriptions.remove(&sub.key);
            }
            Operation::SubscribeDerived(d) | Operation::ChangeDerived { after: d, .. } => {
                self.derived.insert(d.subscription.key.clone(), d.clone());
            }
            Operation::UnsubscribeDerived(d) => {
                self.derived.remove(&d.subscription.key);
            }
            // legacy resources are not part of the declared topology
            Operation::DeleteLegacy(_) | Operation::RestoreLegacy(_) => {}
        }
    }

    /// The subscriptions AWS holds for this topology: the declared ones to queues and the
    /// derived ones (with the topics they go through), by key.
    pub fn on_aws(&self) -> BTreeMap<&SubscriptionKey, (&Subscription, Option<&Derived>)> {
        let declared = self
            .subscriptions
            .iter()
            .filter(|(k, _)| matches!(k.endpoint, Endpoint::Queue(_)))
            .map(|(k, s)| (k, (s, None)));
        let derived = self
            .derived
            .iter()
            .map(|(k, d)| (k, (&d.subscription, Some(d))));
        declared.chain(derived).collect()
    }

    /// Queues (and subscriptions) that use `queue` as their dead-letter queue.
    pub fn dead_letter_users(&self, queue: &str) -> Vec<String> {
        let queues = self
            .queues
            .values()
            .filter(|q| {
                q.attributes
                    .dead_letter
                    .as_ref()
                    .is_some_and(|d| d.queue == queue)
            })
            .map(|q| format!("queue {}", q.name));
        let subs = self
            .subscriptions
            .values()
            .filter(|s| s.attributes.dead_letter_queue.as_deref() == Some(queue))
            .map(|s| format!("subscription {}", s.key));
        queues.chain(subs).collect()
    }

    /// Every queue that some queue or subscription sends its failures to.
    pub fn dead_letter_queues(&self) -> std::collections::BTreeSet<&str> {
        let of_queues = self
            .queues
            .values()
            .filter_map(|q| q.attributes.dead_letter.as_ref().map(|d| d.queue.as_str()));
        let of_subscriptions = self
            .subscriptions
            .values()
            .filter_map(|s| s.attributes.dead_letter_queue.as_deref());
        of_queues.chain(of_subscriptions).collect()
    }

    /// Subscriptions from or to the topic or queue `name`.
    pub fn subscriptions_of(&self, resource: ResourceKind, name: &str) -> Vec<&SubscriptionKey> {
        self.subscriptions
            .keys()
            .filter(|k| {
                (resource == ResourceKind::Topic && k.topic == name)
                    || (k.endpoint.resource() == resource && k.endpoint.name() == name)
            })
            .collect()
    }
}

/// One change to the topology; a migration is a list of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
// a folder holds hundreds of operations, not millions: boxing the changes would buy nothing
#[allow(clippy::large_enum_variant)]
pub enum Operation {
    /// Create a topic (if absent).
    CreateTopic(Topic),
    /// Delete a topic (if present).
    DeleteTopic(Topic),
    /// Create a queue (if absent).
    CreateQueue(Queue),
    /// Delete a queue (if present).
    DeleteQueue(Queue),
    /// Subscribe an endpoint to a topic (if not subscribed), and let the topic send to it.
    Subscribe(Subscription),
    /// Remove a subscription (if present), and the topic's permission on the queue.
    Unsubscribe(Subscription),
    /// Change a topic's attributes or tags.
    ChangeTopic {
        /// The topic before.
        before: Topic,
        /// The topic after.
        after: Topic,
    },
    /// Change a queue's attributes or tags.
    ChangeQueue {
        /// The queue before.
        before: Queue,
        /// The queue after.
        after: Queue,
    },
    /// Change a subscription's attributes.
    ChangeSubscription {
        /// The subscription before.
        before: Subscription,
        /// The subscription after.
        after: Subscription,
    },
    /// Subscribe a queue to a topic upstream of the one it is declared on (a topic-to-topic
    /// link made real), and let that topic send to it.
    SubscribeDerived(Derived),
    /// Remove a derived subscription, and the upstream topic's permission on the queue.
    UnsubscribeDerived(Derived),
    /// Change a derived subscription's attributes (or the links it goes through).
    ChangeDerived {
        /// The derived subscription before.
        before: Derived,
        /// The derived subscription after.
        after: Derived,
    },
    /// Record a topic, queue or subscription this folder never created, then delete it.
    DeleteLegacy(Legacy),
    /// Recreate a legacy topic, queue or subscription from its record.
    RestoreLegacy(Legacy),
}

/// A resource an operation reads or writes, for ordering operations that touch the same thing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceKey {
    /// A topic by name.
    Topic(String),
    /// A queue by name (its attributes and its access policy).
    Queue(String),
    /// A subscription.
    Subscription(SubscriptionKey),
}

impl Operation {
    /// The operation that undoes this one.
    pub fn inverse(&self) -> Operation {
        match self {
            Operation::CreateTopic(t) => Operation::DeleteTopic(t.clone()),
            Operation::DeleteTopic(t) => Operation::CreateTopic(t.clone()),
            Operation::CreateQueue(q) => Operation::DeleteQueue(q.clone()),
            Operation::DeleteQueue(q) => Operation::CreateQueue(q.clone()),
            Operation::Subscribe(s) => Operation::Unsubscribe(s.clone()),
            Operation::Unsubscribe(s) => Operation::Subscribe(s.clone()),
            Operation::ChangeTopic { before, after } => Operation::ChangeTopic {
                before: after.clone(),
                after: before.clone(),
            },
            Operation::ChangeQueue { before, after } => Operation::ChangeQueue {
                before: after.clone(),
                after: before.clone(),
            },
            Operation::ChangeSubscription { before, after } => Operation::ChangeSubscription {
                before: after.clone(),
                after: before.clone(),
            },
            Operation::DeleteLegacy(l) => Operation::RestoreLegacy(l.clone()),
            Operation::RestoreLegacy(l) => Operation::DeleteLegacy(l.clone()),
            Operation::SubscribeDerived(d) => Operation::UnsubscribeDerived(d.clone()),
            Operation::UnsubscribeDerived(d) => Operation::SubscribeDerived(d.clone()),
            Operation::ChangeDerived { before, after } => Operation::ChangeDerived {
                before: after.clone(),
                after: before.clone(),
            },
        }
    }

    /// The resources this operation only needs to exist (`reads`) and the ones it changes
    /// (`writes`). Two operations that share a key, one of them writing it, run in file order.
    pub fn resources(&self) -> (Vec<ResourceKey>, Vec<ResourceKey>) {
        let topic = |name: &str| ResourceKey::Topic(name.to_owned());
        let queue = |name: &str| ResourceKey::Queue(name.to_owned());
        match self {
            Operation::CreateTopic(t) | Operation::DeleteTopic(t) => (vec![], vec![topic(&t.name)]),
            Operation::ChangeTopic { after, .. } => (vec![], vec![topic(&after.name)]),
            Operation::CreateQueue(q) | Operation::DeleteQueue(q) => {
                (queue_reads(q), vec![queue(&q.name)])
            }
            Operation::ChangeQueue { before, after } => {
                let mut reads = queue_reads(before);
                reads.extend(queue_reads(after));
                (reads, vec![queue(&after.name)])
            }
            Operation::Subscribe(s) | Operation::Unsubscribe(s) => subscription_resources(s),
            Operation::SubscribeDerived(d) | Operation::UnsubscribeDerived(d) => {
                subscription_resources(&d.subscription)
            }
            Operation::ChangeDerived { before, after } => {
                let (mut reads, writes) = subscription_resources(&after.subscription);
                reads.extend(subscription_resources(&before.subscription).0);
                (reads, writes)
            }
            Operation::ChangeSubscription { before, after } => {
                let (mut reads, writes) = subscription_resources(after);
                reads.extend(subscription_resources(before).0);
                (reads, writes)
            }
            Operation::DeleteLegacy(l) | Operation::RestoreLegacy(l) => {
                let mut writes = vec![match &l.key {
                    LegacyKey::Topic(name) => topic(name),
                    LegacyKey::Queue(name) => queue(name),
                    LegacyKey::Subscription(key) => ResourceKey::Subscription(key.clone()),
                }];
                // recorded subscriptions are removed and restored with it: operations that
                // share one run in file order
                let subscriptions = l.record.iter().flat_map(|r| &r.subscriptions);
                writes.extend(subscriptions.map(|s| {
                    ResourceKey::Subscription(SubscriptionKey {
                        topic: s.topic.clone(),
                        endpoint: s.endpoint.clone(),
                    })
                }));
                writes.dedup();
                (vec![], writes)
            }
        }
    }

    /// A short human description: `create queue NAME`.
    pub fn describe(&self) -> String {
        match self {
            Operation::CreateTopic(t) if t.external.is_some() => {
                format!("refer to external topic {}", t.name)
            }
            Operation::DeleteTopic(t) if t.external.is_some() => {
                format!("stop referring to external topic {}", t.name)
            }
            Operation::CreateQueue(q) if q.external.is_some() => {
                format!("refer to external queue {}", q.name)
            }
            Operation::DeleteQueue(q) if q.external.is_some() => {
                format!("stop referring to external queue {}", q.name)
            }
            Operation::CreateTopic(t) => format!("create topic {}", t.name),
            Operation::DeleteTopic(t) => format!("delete topic {}", t.name),
            Operation::CreateQueue(q) => format!("create queue {}", q.name),
            Operation::DeleteQueue(q) => format!("delete queue {}", q.name),
            Operation::Subscribe(s) => format!("subscribe {}", s.key),
            Operation::Unsubscribe(s) => format!("unsubscribe {}", s.key),
            Operation::ChangeTopic { after, .. } => format!("change topic {}", after.name),
            Operation::ChangeQueue { after, .. } => format!("change queue {}", after.name),
            Operation::ChangeSubscription { after, .. } => {
                format!("change subscription {}", after.key)
            }
            Operation::SubscribeDerived(d) => {
                format!("subscribe {} ({})", d.subscription.key, d.via_text())
            }
            Operation::UnsubscribeDerived(d) => {
                format!("unsubscribe {} ({})", d.subscription.key, d.via_text())
            }
            Operation::ChangeDerived { after, .. } => {
                format!(
                    "change subscription {} ({})",
                    after.subscription.key,
                    after.via_text()
                )
            }
            Operation::DeleteLegacy(l) => format!("delete legacy {} (recorded)", l.key),
            Operation::RestoreLegacy(l) => format!("recreate legacy {} from its record", l.key),
        }
    }
}

/// Queues that must exist while `queue` refers to them (its dead-letter queue).
fn queue_reads(queue: &Queue) -> Vec<ResourceKey> {
    queue
        .attributes
        .dead_letter
        .iter()
        .map(|d| ResourceKey::Queue(d.queue.clone()))
        .collect()
}

/// A subscription reads its topic (and dead-letter queue) and writes itself and its endpoint:
/// subscribing changes the endpoint queue's access policy.
fn subscription_resources(sub: &Subscription) -> (Vec<ResourceKey>, Vec<ResourceKey>) {
    let mut reads = vec![ResourceKey::Topic(sub.key.topic.clone())];
    reads.extend(
        sub.attributes
            .dead_letter_queue
            .iter()
            .map(|q| ResourceKey::Queue(q.clone())),
    );
    let mut writes = vec![ResourceKey::Subscription(sub.key.clone())];
    match &sub.key.endpoint {
        Endpoint::Queue(name) => writes.push(ResourceKey::Queue(name.clone())),
        Endpoint::Topic(name) => reads.push(ResourceKey::Topic(name.clone())),
    }
    (reads, writes)
}
