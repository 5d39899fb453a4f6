//! Inspecting the account: what exists, read through [`crate::aws`] and understood by the
//! naming rules — `lariat list`, `lariat graph --live` and `lariat drift`.
//!
//! The account is read into an [`Inventory`] (AWS terms), mapped into a live [`Topology`]
//! ([`live`]) and compared with the declared one ([`drift`]). Mapping and comparing are pure
//! functions; only [`Aws::inventory`] does I/O.
//!
//! Drift compares in AWS terms: both sides go through the same attribute maps the planner
//! sends ([`calls::queue_attributes`] and friends), and JSON values (redrive and filter
//! policies) compare as JSON, not as text. An attribute the files leave unset is compared with
//! the AWS default, except `MaximumMessageSize` and `SqsManagedSseEnabled`, whose defaults AWS
//! changed over the years. Tags lariat declares must be present with their values; other tags
//! are left alone (other tools may tag too). A queue's access policy is not compared as a
//! whole, since lariat only owns its statements: drift reports a declared subscription whose
//! statement (letting the topic send to the queue) is missing, nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::aws::inspect::{name_in_account, subscription_ends, InventoryRequest, Lists};
use crate::aws::{Aws, AwsError};
use crate::calls::external::ExternalCheck;
use crate::calls::{self, Attributes};
use crate::migrator::{Error, Migrator};
use crate::naming::{self, Kind, ParsedName, ResourceKind};
use crate::naming::{foreign_parts, Arns};
use crate::plan::{State, Status};
use crate::topology::{
    DeadLetter, Endpoint, Queue, QueueAttributes, RedriveAllow, Subscription,
    SubscriptionAttributes, SubscriptionKey, Tags, Topic, TopicAttributes, Topology,
};

pub use crate::aws::inspect::{
    Inventory, LiveQueue, LiveSubscription, LiveTopic, Progress, ProgressSnapshot,
    DEFAULT_CONCURRENCY,
};

/// Queue attributes compared only when the files declare them: AWS changed their defaults
/// (256 KiB → 1 MiB messages in 2025, SSE-SQS on by default since 2022), so an undeclared value
/// says nothing about drift.
const UNDECLARED_NOT_COMPARED: &[&str] = &["MaximumMessageSize", "SqsManagedSseEnabled"];

/// Which resources `lariat list` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// SNS topics.
    Topics,
    /// SQS queues.
    Queues,
    /// SNS subscriptions.
    Subscriptions,
}

/// Narrows a listing to names with these parts; custom names pass only an empty filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Instance part.
    pub instance: Option<String>,
    /// Publisher part.
    pub publisher: Option<String>,
    /// Event or command.
    pub kind: Option<Kind>,
}

impl Filter {
    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.instance.is_none() && self.publisher.is_none() && self.kind.is_none()
    }

    /// Whether a parsed name passes.
    pub fn matches(&self, naming: &ParsedName) -> bool {
        let Some(parts) = naming.parts() else {
            return self.is_empty();
        };
        self.instance.as_ref().is_none_or(|i| *i == parts.instance)
            && self
                .publisher
                .as_ref()
                .is_none_or(|p| *p == parts.publisher)
            && self.kind.is_none_or(|k| k == parts.kind)
    }
}

/// One topic or queue of `lariat list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceRow {
    /// Full name.
    pub name: String,
    /// Its parts, or custom.
    #[serde(flatten)]
    pub naming: ParsedName,
}

/// One subscription of `lariat list subscriptions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionRow {
    /// Topic name (the ARN when the topic is not of this account and region).
    pub topic: String,
    /// Endpoint: a topic or queue name of this account and region, else as AWS gives it.
    pub endpoint: String,
    /// `sqs`, `sns`, `lambda`, `https`...
    pub protocol: String,
    /// Raw message delivery (`None` while pending confirmation).
    pub raw_message_delivery: Option<bool>,
    /// Whether a filter policy is set.
    pub filter_policy: bool,
    /// Whether the endpoint has not confirmed yet.
    pub pending_confirmation: bool,
    /// Subscription ARN (`PendingConfirmation` while pending).
    pub subscription_arn: String,
    /// For a subscription lariat derives from topic-to-topic links, the topics it goes
    /// through (`via T`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// What `lariat list` shows, ordered by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Listing {
    /// Topics.
    Topics(Vec<ResourceRow>),
    /// Queues.
    Queues(Vec<ResourceRow>),
    /// Subscriptions.
    Subscriptions(Vec<SubscriptionRow>),
}

/// Lists topics, queues or subscriptions of the account that pass `filter`.
pub async fn list(
    aws: &Aws,
    what: What,
    filter: &Filter,
    progress: &Progress,
) -> Result<Listing, AwsError> {
    let lists = Lists {
        topics: what == What::Topics,
        queues: what == What::Queues,
        subscriptions: what == What::Subscriptions,
    };
    let describe = |kind: ResourceKind, name: &str| filter.matches(&naming::parse(kind, name));
    let request = InventoryRequest {
        lists,
        queue_name_prefix: filter.instance.as_ref().map(|i| format!("{i}-")),
        // only subscriptions need a describing call, for raw delivery and the filter policy
        attributes: what == What::Subscriptions,
        tags: false,
        describe: &describe,
        concurrency: DEFAULT_CONCURRENCY,
    };
    let inventory = aws.inventory(&request, progress).await?;
    Ok(listing(&inventory, what, filter, aws.arns()))
}

/// The rows of `lariat list` from an inventory.
pub fn listing(inventory: &Inventory, what: What, filter: &Filter, arns: &Arns) -> Listing {
    let rows = |kind: ResourceKind, names: Vec<&str>| -> Vec<ResourceRow> {
        let mut rows: Vec<ResourceRow> = names
            .into_iter()
            .map(|name| ResourceRow {
                name: name.to_owned(),
                naming: naming::parse(kind, name),
            })
            .filter(|row| filter.matches(&row.naming))
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        rows
    };
    match what {
        What::Topics => Listing::Topics(rows(
            ResourceKind::Topic,
            inventory.topics.iter().map(|t| t.name.as_str()).collect(),
        )),
        What::Queues => Listing::Queues(rows(
            ResourceKind::Queue,
            inventory.queues.iter().map(|q| q.name.as_str()).collect(),
        )),
        What::Subscriptions => {
            let mut rows: Vec<SubscriptionRow> = inventory
                .subscriptions
                .iter()
                .filter_map(|s| subscription_row(s, filter, arns))
                .collect();
            rows.sort_by(|a, b| {
                (&a.topic, &a.endpoint, &a.protocol).cmp(&(&b.topic, &b.endpoint, &b.protocol))
            });
            Listing::Subscriptions(rows)
        }
    }
}

/// A subscription passes the filter when its topic or its endpoint does.
fn subscription_row(
    sub: &LiveSubscription,
    filter: &Filter,
    arns: &Arns,
) -> Option<SubscriptionRow> {
    let (topic, endpoint) = subscription_ends(arns, sub);
    let passes = filter.is_empty()
        || topic
            .as_deref()
            .is_some_and(|t| filter.matches(&naming::parse(ResourceKind::Topic, t)))
        || endpoint
            .as_ref()
            .is_some_and(|(kind, name)| filter.matches(&naming::parse(*kind, name)));
    if !passes {
        return None;
    }
    Some(SubscriptionRow {
        topic: topic.unwrap_or_else(|| sub.topic_arn.clone()),
        endpoint: endpoint
            .map(|(_, name)| name)
            .unwrap_or_else(|| sub.endpoint.clone()),
        protocol: sub.protocol.clone(),
        raw_message_delivery: (!sub.pending())
            .then(|| {
                sub.attributes
                    .get("RawMessageDelivery")
                    .map(|v| v == "true")
            })
            .map(|raw| raw.unwrap_or(false)),
        filter_policy: sub
            .attributes
            .get("FilterPolicy")
            .is_some_and(|p| !p.trim().is_empty()),
        pending_confirmation: sub.pending(),
        subscription_arn: sub.arn.clone(),
        via: None,
    })
}

/// Marks the subscriptions of a listing that `declared` derives from topic-to-topic links.
pub fn mark_via(listing: &mut Listing, declared: &Topology) {
    let Listing::Subscriptions(rows) = listing else {
        return;
    };
    for row in rows.iter_mut().filter(|r| r.protocol == "sqs") {
        let key = SubscriptionKey {
            topic: row.topic.clone(),
            endpoint: Endpoint::Queue(row.endpoint.clone()),
        };
        row.via = declared.derived.get(&key).map(|d| d.via_text());
    }
}

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
            deduplication_scope: text(a, "DeduplicationScope"),
            fifo_throughput_limit: text(a, "FifoThroughputLimit"),
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
        filter_policy_scope: text(a, "FilterPolicyScope"),
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

fn flag(a: &Attributes, key: &str) -> Option<bool> {
    a.get(key).and_then(|v| v.parse().ok())
}

fn number(a: &Attributes, key: &str) -> Option<u32> {
    a.get(key).and_then(|v| v.parse().ok())
}

fn json(a: &Attributes, key: &str) -> Option<serde_json::Value> {
    a.get(key).and_then(|v| serde_json::from_str(v).ok())
}

/// Only the resources in `scope`, and the subscriptions between them: the live counterpart of
/// a project's declared topology, for `lariat graph --live`.
pub fn restrict(topology: &Topology, scope: &Scope) -> Topology {
    Topology {
        topics: topology
            .topics
            .iter()
            .filter(|(name, _)| scope.contains(ResourceKind::Topic, name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        queues: topology
            .queues
            .iter()
            .filter(|(name, _)| scope.contains(ResourceKind::Queue, name))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        subscriptions: topology
            .subscriptions
            .iter()
            .filter(|(key, _)| {
                scope.contains(ResourceKind::Topic, &key.topic)
                    && scope.contains(key.endpoint.resource(), key.endpoint.name())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        derived: topology
            .derived
            .iter()
            .filter(|(key, _)| {
                scope.contains(ResourceKind::Topic, &key.topic)
                    && scope.contains(key.endpoint.resource(), key.endpoint.name())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// Recognises the declared topic-to-topic links in the account, for `lariat graph --live`: a
/// link whose topics exist and whose derived subscriptions all exist is drawn as the link, its
/// subscriptions moved to `live.derived`. A link only partly there is not drawn; what exists
/// of it stays plain subscriptions.
pub fn mark_derived(live: &mut Topology, declared: &Topology) {
    let links = declared
        .subscriptions
        .iter()
        .filter(|(k, _)| matches!(k.endpoint, Endpoint::Topic(_)));
    for (key, link) in links {
        let target = key.endpoint.name();
        if !live.topics.contains_key(&key.topic) || !live.topics.contains_key(target) {
            continue;
        }
        let derived: Vec<_> = declared
            .derived
            .values()
            .filter(|d| d.subscription.key.topic == key.topic)
            .filter(|d| d.via.first().map(String::as_str) == Some(target))
            .collect();
        let present = |d: &&crate::topology::Derived| {
            live.subscriptions.contains_key(&d.subscription.key)
                || live.derived.contains_key(&d.subscription.key)
        };
        if !derived.iter().all(present) {
            continue;
        }
        for d in derived {
            if let Some(sub) = live.subscriptions.remove(&d.subscription.key) {
                let mut marked = d.clone();
                marked.subscription = sub;
                live.derived.insert(d.subscription.key.clone(), marked);
            }
        }
        live.subscriptions.insert(key.clone(), link.clone());
    }
}

/// A topic, queue or subscription named in a drift report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "resource", content = "name", rename_all = "lowercase")]
pub enum ResourceRef {
    /// A topic.
    Topic(String),
    /// A queue.
    Queue(String),
    /// A subscription.
    Subscription(SubscriptionKey),
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceRef::Topic(name) => write!(f, "topic {name}"),
            ResourceRef::Queue(name) => write!(f, "queue {name}"),
            ResourceRef::Subscription(key) => write!(f, "subscription {key}"),
        }
    }
}

/// One attribute (or tag) whose live value is not the expected one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// AWS attribute name, `tag KEY`, or `Policy` for a missing subscription statement.
    pub attribute: String,
    /// The value the files lead to expect (`None`: no value).
    pub expected: Option<String>,
    /// Whether `expected` is declared in the files (otherwise it is the AWS default).
    pub declared: bool,
    /// What the account has (`None`: no value).
    pub live: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}{}, found {}",
            self.attribute,
            self.expected.as_deref().unwrap_or("(none)"),
            if self.declared { "" } else { " (AWS default)" },
            self.live.as_deref().unwrap_or("(none)")
        )
    }
}

/// A resource present on both sides whose attributes differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Differing {
    /// Which resource.
    #[serde(flatten)]
    pub resource: ResourceRef,
    /// What differs, by attribute name.
    pub differences: Vec<Difference>,
}

/// How the account differs from the declared topology.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Declared but absent from the account.
    pub missing: Vec<ResourceRef>,
    /// In the account, of the instance (or touching it, for subscriptions), but not declared.
    pub unexpected: Vec<ResourceRef>,
    /// On both sides, with differences.
    pub differing: Vec<Differing>,
    /// External topics and queues (another service's) that the files use but the account
    /// does not hold. Only their existence is compared. Left out of JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_external: Vec<ResourceRef>,
}

impl Drift {
    /// Whether the account matches the files.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.differing.is_empty()
            && self.missing_external.is_empty()
    }
}

/// Compares the declared topology with the account. `unexpected` holds only resources of
/// `scope`'s instance (a subscription counts when its topic or its endpoint is in scope).
pub fn drift(declared: &Topology, live: &Live, arns: &Arns, scope: &Scope) -> Drift {
    let mut drift = Drift::default();
    let actual = &live.topology;
    for (name, d) in &declared.topics {
        let resource = ResourceRef::Topic(name.clone());
        if let Some(external) = &d.external {
            // another account's or region's is looked up by `drift_of`
            if !external.is_foreign() && !actual.topics.contains_key(name) {
                drift.missing_external.push(resource);
            }
            continue;
        }
        match actual.topics.get(name) {
            None => drift.missing.push(resource),
            Some(l) => {
                let mut differences = compare(
                    &calls::topic_attributes(d, false),
                    &calls::topic_attributes(l, false),
                    calls::topic_default,
                );
                let adopted = scope.adopted.contains(&(ResourceKind::Topic, name.clone()));
                differences.extend(compare_tags(&d.naming, &d.tags, &l.tags, adopted));
                push_differing(&mut drift, resource, differences);
            }
        }
    }
    for (name, d) in &declared.queues {
        let resource = ResourceRef::Queue(name.clone());
        if let Some(external) = &d.external {
            if !external.is_foreign() && !actual.queues.contains_key(name) {
                drift.missing_external.push(resource);
            }
            continue;
        }
        match actual.queues.get(name) {
            None => drift.missing.push(resource),
            Some(l) => {
                let mut differences = compare(
                    &calls::queue_attributes(d, arns, false),
                    &calls::queue_attributes(l, arns, false),
                    calls::queue_default,
                );
                let adopted = scope.adopted.contains(&(ResourceKind::Queue, name.clone()));
                differences.extend(compare_tags(&d.naming, &d.tags, &l.tags, adopted));
                differences.extend(missing_statements(declared, live, arns, name, scope));
                push_differing(&mut drift, resource, differences);
            }
        }
    }
    let expected = declared.on_aws();
    for (key, (d, _)) in &expected {
        if foreign_parts(&key.topic).is_some() {
            // a subscription to another account's or region's topic is listed there, not here
            continue;
        }
        let resource = ResourceRef::Subscription((*key).clone());
        match actual.subscriptions.get(*key) {
            None => drift.missing.push(resource),
            Some(l) => {
                let differences = compare(
                    &calls::subscription_attributes(d, arns),
                    &calls::subscription_attributes(l, arns),
                    calls::subscription_default,
                );
                push_differing(&mut drift, resource, differences);
            }
        }
    }
    let unexpected_topics = actual
        .topics
        .keys()
        .filter(|n| !declared.topics.contains_key(*n))
        .filter(|n| scope.of_instance(ResourceKind::Topic, n))
        .map(|n| ResourceRef::Topic(n.clone()));
    let unexpected_queues = actual
        .queues
        .keys()
        .filter(|n| !declared.queues.contains_key(*n))
        .filter(|n| scope.of_instance(ResourceKind::Queue, n))
        .map(|n| ResourceRef::Queue(n.clone()));
    let unexpected_subscriptions = actual
        .subscriptions
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .filter(|k| {
            scope.contains(ResourceKind::Topic, &k.topic)
                || scope.contains(k.endpoint.resource(), k.endpoint.name())
        })
        .map(|k| ResourceRef::Subscription(k.clone()));
    drift.unexpected = unexpected_topics
        .chain(unexpected_queues)
        .chain(unexpected_subscriptions)
        .collect();
    drift
}

fn push_differing(drift: &mut Drift, resource: ResourceRef, differences: Vec<Difference>) {
    if !differences.is_empty() {
        drift.differing.push(Differing {
            resource,
            differences,
        });
    }
}

/// Attribute by attribute, each side falling back to the AWS default where it has no value.
fn compare(
    declared: &Attributes,
    live: &Attributes,
    default: fn(&str) -> String,
) -> Vec<Difference> {
    let keys: BTreeSet<&String> = declared.keys().chain(live.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let declared_value = declared.get(key);
            if declared_value.is_none() && UNDECLARED_NOT_COMPARED.contains(&key.as_str()) {
                return None;
            }
            let expected =
                calls::attribute_difference(key, declared_value, live.get(key), default)?;
            Some(Difference {
                attribute: key.clone(),
                expected: Some(expected).filter(|v| !v.is_empty()),
                declared: declared_value.is_some(),
                live: live.get(key).cloned(),
            })
        })
        .collect()
}

/// Every tag lariat puts on the resource must be there with its value (only the declared
/// ones on a resource lariat adopted instead of creating); other tags may exist.
fn compare_tags(
    naming: &ParsedName,
    declared: &Tags,
    live: &Tags,
    adopted: bool,
) -> Vec<Difference> {
    let expected = match adopted {
        true => declared.clone(),
        false => calls::resource_tags(naming, declared),
    };
    expected
        .into_iter()
        .filter(|(key, value)| live.get(key) != Some(value))
        .map(|(key, value)| Difference {
            live: live.get(&key).cloned(),
            attribute: format!("tag {key}"),
            expected: Some(value),
            declared: true,
        })
        .collect()
}

/// For each declared subscription of topic → `queue`, the statement letting the topic send
/// to the queue must be in the queue's policy (without it AWS drops deliveries silently).
fn missing_statements(
    declared: &Topology,
    live: &Live,
    arns: &Arns,
    queue: &str,
    scope: &Scope,
) -> Vec<Difference> {
    let policy = live.queue_policies.get(queue).map(String::as_str);
    let queue_arn = arns.queue(queue);
    declared
        .on_aws()
        .into_keys()
        .filter(|k| k.endpoint == Endpoint::Queue(queue.to_owned()))
        .filter(|k| !scope.adopted_subscriptions.contains(*k))
        .filter_map(|k| {
            let live_value =
                match calls::policy_with_topic(policy, &queue_arn, &arns.topic(&k.topic)) {
                    Ok(None) => return None,
                    Ok(Some(_)) => policy.map(|_| "no statement for this topic".to_owned()),
                    Err(e) => Some(format!("not a JSON policy ({e})")),
                };
            Some(Difference {
                attribute: "Policy".into(),
                expected: Some(format!(
                    "a statement letting topic {} send messages",
                    k.topic
                )),
                declared: true,
                live: live_value,
            })
        })
        .collect()
}

/// The version drift compares against: the newest applied migration (an applied file that
/// was edited since counts too, as the files are all there is to compare with).
pub fn compared_version(statuses: &[Status]) -> Option<i64> {
    statuses
        .iter()
        .filter(|s| matches!(s.state, State::Applied | State::Modified))
        .map(|s| s.version)
        .max()
}

/// `lariat drift`: the comparison and the version it was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    /// The newest applied version, or `None` when nothing is applied (the declared topology is
    /// then empty).
    pub version: Option<i64>,
    /// The instance whose resources count as unexpected.
    pub instance: Option<String>,
    /// Whether the account matches.
    pub in_sync: bool,
    /// What differs.
    #[serde(flatten)]
    pub drift: Drift,
}

/// Compares the account with the declared topology at the newest applied version.
pub async fn drift_of(migrator: &Migrator, progress: &Progress) -> Result<DriftReport, Error> {
    let statuses = migrator.status().await?;
    let version = compared_version(&statuses);
    let declared = match version {
        Some(v) => migrator.project.topology_at(Some(v)),
        None => Topology::default(),
    };
    let aws = migrator.aws().await?;
    let instance = migrator.config.instance.clone();
    let mut scope = Scope::new(instance.clone(), &declared);
    (scope.adopted, scope.adopted_subscriptions) = adopted(&migrator.project, version);
    let live = read_live(&aws, &scope, true, progress).await?;
    let mut drift = drift(&declared, &live, aws.arns(), &scope);
    for check in foreign_external(&declared) {
        if !aws.external_exists(&check).await? {
            drift.missing_external.push(match check.resource {
                ResourceKind::Topic => ResourceRef::Topic(check.key),
                ResourceKind::Queue => ResourceRef::Queue(check.key),
            });
        }
    }
    Ok(DriftReport {
        version,
        instance,
        in_sync: drift.is_empty(),
        drift,
    })
}

/// The topics, queues and subscriptions that migrations written by `lariat import` (up to
/// `version`) declare.
fn adopted(
    project: &crate::topology::Project,
    version: Option<i64>,
) -> (BTreeSet<(ResourceKind, String)>, BTreeSet<SubscriptionKey>) {
    use crate::topology::Operation;
    let mut resources = BTreeSet::new();
    let mut subscriptions = BTreeSet::new();
    let imported = project
        .migrations
        .iter()
        .filter(|m| m.imported && version.is_some_and(|v| m.version <= v));
    for op in imported.flat_map(|m| &m.up) {
        match op {
            Operation::CreateTopic(t) => {
                resources.insert((ResourceKind::Topic, t.name.clone()));
            }
            Operation::CreateQueue(q) => {
                resources.insert((ResourceKind::Queue, q.name.clone()));
            }
            Operation::Subscribe(s) => {
                subscriptions.insert(s.key.clone());
            }
            _ => {}
        }
    }
    (resources, subscriptions)
}

/// The declared external resources of another account or region, which listing this
/// account does not show.
fn foreign_external(declared: &Topology) -> Vec<ExternalCheck> {
    let topics = declared
        .topics
        .iter()
        .filter_map(|(key, t)| Some((ResourceKind::Topic, key, t.external.as_ref()?)));
    let queues = declared
        .queues
        .iter()
        .filter_map(|(key, q)| Some((ResourceKind::Queue, key, q.external.as_ref()?)));
    topics
        .chain(queues)
        .filter(|(_, _, external)| external.is_foreign())
        .map(|(resource, key, external)| ExternalCheck {
            resource,
            key: key.clone(),
            name: key.rsplit(':').next().unwrap_or(key).to_owned(),
            external: external.clone(),
        })
        .collect()
}

/// The account's topology as `lariat graph --live` draws it: the project's instance, plus the
/// custom-named resources its files declare (at the newest version), so that it can be diffed
/// with `lariat graph`.
pub async fn live_graph(migrator: &Migrator, progress: &Progress) -> Result<Topology, Error> {
    let declared = migrator.project.topology_at(None);
    let scope = Scope::new(migrator.config.instance.clone(), &declared);
    let aws = migrator.aws().await?;
    let live = read_live(&aws, &scope, false, progress).await?;
    let mut topology = restrict(&live.topology, &scope);
    mark_derived(&mut topology, &declared);
    Ok(topology)
}

#[cfg(test)]
mod tests;
