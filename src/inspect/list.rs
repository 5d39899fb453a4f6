//! `lariat list`: the topics, queues or subscriptions of the account whose names pass a
//! filter, as rows.

use serde::Serialize;

use crate::aws::inspect::{subscription_ends, InventoryRequest, Lists};
use crate::aws::{Aws, AwsError};
use crate::naming::{self, Arns, Kind, ParsedName, ResourceKind};
use crate::topology::{Endpoint, SubscriptionKey, Topology};

use super::{Inventory, LiveSubscription, Progress, DEFAULT_CONCURRENCY};

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
