//! Reading the account: every topic, queue and subscription, described where the project
//! cares about them, and mapped into a live [`Topology`] with AWS's attribute maps read back
//! into lariat's terms.

use std::collections::{BTreeMap, BTreeSet};

use crate::aws::inspect::{name_in_account, subscription_ends, InventoryRequest, Lists};
use crate::aws::{Aws, AwsError};
use crate::calls::Attributes;
use crate::migration::{DeduplicationScope, FifoThroughputLimit, FilterPolicyScope};
use crate::naming::{self, Arns, ResourceKind};
use crate::topology::{
    DeadLetter, Endpoint, Queue, QueueAttributes, RedriveAllow, Subscription,
    SubscriptionAttributes, SubscriptionKey, Topic, TopicAttributes, Topology,
};

use super::{Inventory, LiveQueue, LiveTopic, Progress, DEFAULT_CONCURRENCY};

/// The resources a project cares about: every name of its instance, and every name it
/// declares (custom names included). Without an instance, everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The configured instance.
    pub instance: Option<String>,
    /// Declared topics and queues.
    pub declared: BTreeSet<(ResourceKind, String)>,
    /// Declared topics and queues that `lariat import` adopted: only their user tags are
    /// compared, since lariat did not tag them.
    pub adopted: BTreeSet<(ResourceKind, String)>,
    /// Declared subscriptions that `lariat import` adopted: the queue policy that lets their
    /// topic send was written by someone else (the Ruby gem allows a wildcard of topics), so
    /// lariat's own statement is not required.
    pub adopted_subscriptions: BTreeSet<SubscriptionKey>,
}

impl Scope {
    /// The instance plus everything `declared` holds.
    pub fn new(instance: Option<String>, declared: &Topology) -> Scope {
        let topics = declared
            .topics
            .keys()
            .map(|n| (ResourceKind::Topic, n.clone()));
        let queues = declared
            .queues
            .keys()
            .map(|n| (ResourceKind::Queue, n.clone()));
        Scope {
            instance,
            declared: topics.chain(queues).collect(),
            adopted: BTreeSet::new(),
            adopted_subscriptions: BTreeSet::new(),
        }
    }

    /// Whether the name has the configured instance as its first part (true without one).
    pub fn of_instance(&self, resource: ResourceKind, name: &str) -> bool {
        let Some(instance) = &self.instance else {
            return true;
        };
        naming::parse(resource, name)
            .parts()
            .is_some_and(|p| p.instance == *instance)
    }

    /// Whether the project cares about this topic or queue.
    pub fn contains(&self, resource: ResourceKind, name: &str) -> bool {
        self.declared.contains(&(resource, name.to_owned())) || self.of_instance(resource, name)
    }
}

/// The account as a topology, plus what a topology does not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    /// Topics, queues and the `sqs`/`sns` subscriptions between resources of this account and
    /// region. Resources that were not described have default attributes and no tags.
    pub topology: Topology,
    /// Queue name → its access policy (JSON text), for queues that have one.
    pub queue_policies: BTreeMap<String, String>,
}

/// Reads every topic, queue and subscription, describing (attributes, and tags when asked)
/// those in `scope`.
pub async fn read_live(
    aws: &Aws,
    scope: &Scope,
    tags: bool,
    progress: &Progress,
) -> Result<Live, AwsError> {
    let describe = |kind: ResourceKind, name: &str| scope.contains(kind, name);
    let request = InventoryRequest {
        lists: Lists::ALL,
        queue_name_prefix: None,
        attributes: true,
        tags,
        describe: &describe,
        concurrency: DEFAULT_CONCURRENCY,
    };
    let inventory = aws.inventory(&request, progress).await?;
    Ok(live(&inventory, aws.arns()))
}

/// Maps an inventory into lariat's terms: names parsed, attributes read back from AWS's maps.
pub fn live(inventory: &Inventory, arns: &Arns) -> Live {
    let mut live = Live::default();
    for t in &inventory.topics {
        live.topology.topics.insert(t.name.clone(), live_topic(t));
    }
    for q in &inventory.queues {
        live.topology
            .queues
            .insert(q.name.clone(), live_queue(q, arns));
        if let Some(policy) = q.attributes.get("Policy").filter(|p| !p.trim().is_empty()) {
            live.queue_policies.insert(q.name.clone(), policy.clone());
        }
    }
    for s in &inventory.subscriptions {
        let (Some(topic), Some((kind, name))) = subscription_ends(arns, s) else {
            continue;
        };
        let endpoint = match kind {
            ResourceKind::Queue => Endpoint::Queue(name),
            ResourceKind::Topic => Endpoint::Topic(name),
        };
        let key = SubscriptionKey { topic, endpoint };
        let attributes = live_subscription_attributes(&s.attributes, arns);
        live.topology
            .subscriptions
            .insert(key.clone(), Subscription { key, attributes });
    }
    live
}

fn live_topic(t: &LiveTopic) -> Topic {
    let a = &t.attributes;
    Topic {
        name: t.name.clone(),
        naming: naming::parse(ResourceKind::Topic, &t.name),
        attributes: TopicAttributes {
            content_based_deduplication: flag(a, "ContentBasedDeduplication"),
            display_name: text(a, "DisplayName"),
            kms_master_key_id: text(a, "KmsMasterKeyId"),
        },
        tags: t.tags.clone(),
        external: None,
    }
}

fn live_queue(q: &LiveQueue, arns: &Arns) -> Queue {
    let a = &q.attributes;
    Queue {
        name: q.name.clone(),
        naming: naming::parse(ResourceKind::Queue, &q.name),
        attributes: QueueAttributes {
            visibility_timeout: number(a, "VisibilityTimeout"),
            message_retention_period: number(a, "MessageRetentionPeriod"),
            maximum_message_size: number(a, "MaximumMessageSize"),
            delay_seconds: number(a, "DelaySeconds"),
            receive_message_wait_time: number(a, "ReceiveMessageWaitTimeSeconds"),
            dead_letter: json(a, "RedrivePolicy").and_then(|p| dead_letter(&p, arns)),
            redrive_allow: json(a, "RedriveAllowPolicy").and_then(|p| redrive_allow(&p, arns)),
            content_based_deduplication: flag(a, "ContentBasedDeduplication"),
            deduplication_scope: word(a, "DeduplicationScope", DeduplicationScope::from_aws),
            fifo_throughput_limit: word(a, "FifoThroughputLimit", FifoThroughputLimit::from_aws),
            kms_master_key_id: text(a, "KmsMasterKeyId"),
            kms_data_key_reuse_period: number(a, "KmsDataKeyReusePeriodSeconds"),
            sqs_managed_sse: flag(a, "SqsManagedSseEnabled"),
        },
        tags: q.tags.clone(),
        external: None,
    }
}

fn live_subscription_attributes(a: &Attributes, arns: &Arns) -> SubscriptionAttributes {
    SubscriptionAttributes {
        raw_message_delivery: flag(a, "RawMessageDelivery"),
        // a filter AWS accepted is JSON; keep the text if it ever is not, so it still differs
        filter_policy: text(a, "FilterPolicy")
            .map(|p| serde_json::from_str(&p).unwrap_or(serde_json::Value::String(p))),
        filter_policy_scope: word(a, "FilterPolicyScope", FilterPolicyScope::from_aws),
        dead_letter_queue: json(a, "RedrivePolicy").and_then(|p| {
            p.get("deadLetterTargetArn")?
                .as_str()
                .map(|arn| queue_name(arn, arns))
        }),
    }
}

/// A queue's name from its ARN; an ARN of another account or region stays whole, so that it
/// compares unequal to every declared queue.
fn queue_name(arn: &str, arns: &Arns) -> String {
    name_in_account(arns, ResourceKind::Queue, arn).unwrap_or_else(|| arn.to_owned())
}

fn dead_letter(policy: &serde_json::Value, arns: &Arns) -> Option<DeadLetter> {
    let arn = policy.get("deadLetterTargetArn")?.as_str()?;
    let count = policy.get("maxReceiveCount")?;
    let max_receive_count = match count {
        serde_json::Value::String(s) => s.parse().ok()?,
        other => u32::try_from(other.as_u64()?).ok()?,
    };
    Some(DeadLetter {
        queue: queue_name(arn, arns),
        max_receive_count,
    })
}

fn redrive_allow(policy: &serde_json::Value, arns: &Arns) -> Option<RedriveAllow> {
    match policy.get("redrivePermission")?.as_str()? {
        "allowAll" => Some(RedriveAllow::AllowAll),
        "denyAll" => Some(RedriveAllow::DenyAll),
        "byQueue" => Some(RedriveAllow::ByQueue(
            policy
                .get("sourceQueueArns")?
                .as_array()?
                .iter()
                .filter_map(|v| v.as_str())
                .map(|arn| queue_name(arn, arns))
                .collect(),
        )),
        _ => None,
    }
}

fn text(a: &Attributes, key: &str) -> Option<String> {
    a.get(key).filter(|v| !v.is_empty()).cloned()
}

/// A value AWS spells as a word; one lariat does not know is kept as `Other`, so that drift
/// reports it.
fn word<T>(a: &Attributes, key: &str, read: fn(&str) -> T) -> Option<T> {
    text(a, key).map(|v| read(&v))
}

fn flag(a: &Attributes, key: &str) -> Option<bool> {
    a.get(key).and_then(|v| v.parse().ok())
}

fn number(a: &Attributes, key: &str) -> Option<u32> {
    a.get(key).and_then(|v| v.parse().ok())
}

fn json(a: &Attributes, key: &str) -> Option<serde_json::Value> {
    a.get(key).and_then(|v| serde_json::from_str(v).ok())
}
