//! Reading what the account holds: every topic, queue and subscription (all pages of the list
//! APIs), with their attributes and tags fetched with bounded concurrency.
//!
//! The answers are plain data in AWS terms (names, ARNs, attribute maps); [`crate::inspect`]
//! turns them into a [`crate::topology::Topology`] and compares it with the files.

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_sqs::types::QueueAttributeName;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::{execute::is_code, Aws, AwsError};
use crate::calls::Attributes;
use crate::naming::Arns;
use crate::naming::ResourceKind;
use crate::topology::Tags;

/// Attribute and tag requests in flight at once: fast on AWS, well below its throttling limits.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// The largest page `sqs:ListQueues` returns.
const QUEUE_PAGE_SIZE: i32 = 1000;

/// Error codes meaning the resource no longer exists.
const GONE: &[&str] = &["NotFound", "NonExistentQueue", "QueueDoesNotExist"];

/// A topic as the account has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveTopic {
    /// Name (the last part of the ARN).
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Attributes from `sns:GetTopicAttributes` (empty when not asked for).
    pub attributes: Attributes,
    /// Tags from `sns:ListTagsForResource` (empty when not asked for).
    pub tags: Tags,
}

/// A queue as the account has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveQueue {
    /// Name (the last part of the URL).
    pub name: String,
    /// URL, as `sqs:ListQueues` gives it.
    pub url: String,
    /// Every attribute from `sqs:GetQueueAttributes` (empty when not asked for).
    pub attributes: Attributes,
    /// Tags from `sqs:ListQueueTags` (empty when not asked for).
    pub tags: Tags,
}

/// A subscription as the account has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveSubscription {
    /// Subscription ARN, or `PendingConfirmation`.
    pub arn: String,
    /// ARN of the topic.
    pub topic_arn: String,
    /// Protocol: `sqs`, `sns`, `lambda`, `https`...
    pub protocol: String,
    /// Endpoint: an ARN for `sqs`, `sns` and `lambda`, a URL or address otherwise.
    pub endpoint: String,
    /// Attributes from `sns:GetSubscriptionAttributes` (empty when not asked for, or when the
    /// subscription is pending confirmation).
    pub attributes: Attributes,
}

impl LiveSubscription {
    /// Whether AWS is still waiting for the endpoint to confirm.
    pub fn pending(&self) -> bool {
        self.arn == "PendingConfirmation"
    }
}

/// What an account holds, ordered by name (subscriptions by topic ARN, then endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Inventory {
    /// Topics.
    pub topics: Vec<LiveTopic>,
    /// Queues.
    pub queues: Vec<LiveQueue>,
    /// Subscriptions.
    pub subscriptions: Vec<LiveSubscription>,
}

/// Which listing a read makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lists {
    /// `sns:ListTopics`.
    pub topics: bool,
    /// `sqs:ListQueues`.
    pub queues: bool,
    /// `sns:ListSubscriptions`.
    pub subscriptions: bool,
}

impl Lists {
    /// Topics, queues and subscriptions.
    pub const ALL: Lists = Lists {
        topics: true,
        queues: true,
        subscriptions: true,
    };
}

/// What [`Aws::inventory`] reads.
pub struct InventoryRequest<'a> {
    /// Which list APIs to call.
    pub lists: Lists,
    /// Only queues whose name starts with this (`sqs:ListQueues` filters on the server).
    pub queue_name_prefix: Option<String>,
    /// Fetch attributes of the described resources.
    pub attributes: bool,
    /// Fetch tags of the described topics and queues.
    pub tags: bool,
    /// Which topics and queues (by name) to describe; a subscription is described when its
    /// topic or its endpoint is. Everything listed is returned, described or not.
    pub describe: &'a (dyn Fn(ResourceKind, &str) -> bool + Sync),
    /// Attribute and tag requests in flight at once (at least 1).
    pub concurrency: usize,
}

/// Counts of what a read has done so far, for a progress line; updated while it runs.
#[derive(Debug, Default)]
pub struct Progress {
    topics: AtomicUsize,
    queues: AtomicUsize,
    subscriptions: AtomicUsize,
    described: AtomicUsize,
    to_describe: AtomicUsize,
}

/// A copy of [`Progress`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Topics listed.
    pub topics: usize,
    /// Queues listed.
    pub queues: usize,
    /// Subscriptions listed.
    pub subscriptions: usize,
    /// Resources described.
    pub described: usize,
    /// Resources to describe (known once the listing is done).
    pub to_describe: usize,
}

impl Progress {
    /// The counts now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            topics: self.topics.load(Ordering::Relaxed),
            queues: self.queues.load(Ordering::Relaxed),
            subscriptions: self.subscriptions.load(Ordering::Relaxed),
            described: self.described.load(Ordering::Relaxed),
            to_describe: self.to_describe.load(Ordering::Relaxed),
        }
    }
}

/// What a subscription's topic and endpoint are called in this account, when they are topics
/// or queues of its region.
pub fn subscription_ends(
    arns: &Arns,
    sub: &LiveSubscription,
) -> (Option<String>, Option<(ResourceKind, String)>) {
    let topic = name_in_account(arns, ResourceKind::Topic, &sub.topic_arn);
    let endpoint = match sub.protocol.as_str() {
        "sqs" => name_in_account(arns, ResourceKind::Queue, &sub.endpoint)
            .map(|n| (ResourceKind::Queue, n)),
        "sns" => name_in_account(arns, ResourceKind::Topic, &sub.endpoint)
            .map(|n| (ResourceKind::Topic, n)),
        _ => None,
    };
    (topic, endpoint)
}

/// The name in an ARN of this account and region (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
pub fn name_in_account(arns: &Arns, resource: ResourceKind, arn: &str) -> Option<String> {
    let prefix = match resource {
        ResourceKind::Topic => arns.topic(""),
        ResourceKind::Queue => arns.queue(""),
    };
    arn.strip_prefix(&prefix)
        .filter(|name| !name.is_empty() && !name.contains(':'))
        .map(str::to_owned)
}

impl Aws {
    /// Lists what `request` asks for (the three lists concurrently, every page), then fetches
    /// attributes and tags of the described resources, `request.concurrency` at a time.
    ///
    /// A resource deleted between the listing and its description is left out.
    pub async fn inventory(
        &self,
        request: &InventoryRequest<'_>,
        progress: &Progress,
    ) -> Result<Inventory, AwsError> {
        let (topics, queues, subscriptions) = tokio::try_join!(
            async {
                match request.lists.topics {
                    true => self.list_topic_arns(progress).await,
                    false => Ok(Vec::new()),
                }
            },
            async {
                match request.lists.queues {
                    true => {
                        self.list_queue_urls(request.queue_name_prefix.as_deref(), progress)
                            .await
                    }
                    false => Ok(Vec::new()),
                }
            },
            async {
                match request.lists.subscriptions {
                    true => self.list_all_subscriptions(progress).await,
                    false => Ok(Vec::new()),
                }
            },
        )?;
        let mut work: Vec<Describe> = Vec::new();
        work.extend(topics.into_iter().map(|arn| {
            let name = last_part(&arn, ':');
            let describe = (request.describe)(ResourceKind::Topic, &name);
            Describe::Topic(
                LiveTopic {
                    name,
                    arn,
                    attributes: Attributes::new(),
                    tags: Tags::new(),
                },
                describe,
            )
        }));
        work.extend(queues.into_iter().map(|url| {
            let name = last_part(&url, '/');
            let describe = (request.describe)(ResourceKind::Queue, &name);
            Describe::Queue(
                LiveQueue {
                    name,
                    url,
                    attributes: Attributes::new(),
                    tags: Tags::new(),
                },
                describe,
            )
        }));
        work.extend(subscriptions.into_iter().map(|sub| {
            let (topic, endpoint) = subscription_ends(&self.arns, &sub);
            let describe = topic.is_some_and(|t| (request.describe)(ResourceKind::Topic, &t))
                || endpoint.is_some_and(|(kind, name)| (request.describe)(kind, &name));
            let describe = describe && !sub.pending();
            Describe::Subscription(sub, describe)
        }));
        let fetch = Fetch {
            attributes: request.attributes,
            tags: request.tags,
        };
        let to_describe = work.iter().filter(|w| w.wanted() && fetch.any()).count();
        progress.to_describe.store(to_describe, Ordering::Relaxed);
        let described: Vec<Option<Described>> = futures::stream::iter(work)
            .map(|item| self.describe(item, fetch, progress))
            .buffer_unordered(request.concurrency.max(1))
            .try_collect()
            .await?;
        let mut inventory = Inventory::default();
        for item in described.into_iter().flatten() {
            match item {
                Described::Topic(t) => inventory.topics.push(t),
                Described::Queue(q) => inventory.queues.push(q),
                Described::Subscription(s) => inventory.subscriptions.push(s),
            }
        }
        inventory.topics.sort_by(|a, b| a.name.cmp(&b.name));
        inventory.queues.sort_by(|a, b| a.name.cmp(&b.name));
        inventory.subscriptions.sort_by(|a, b| {
            (&a.topic_arn, &a.protocol, &a.endpoint, &a.arn).cmp(&(
                &b.topic_arn,
                &b.protocol,
                &b.endpoint,
                &b.arn,
            ))
        });
        Ok(inventory)
    }

    /// Every topic ARN (`sns:ListTopics`, 100 a page).
    async fn list_topic_arns(&self, progress: &Progress) -> Result<Vec<String>, AwsError> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sns
                .list_topics()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("sns:ListTopics", "(all topics)", e))?;
            arns.extend(
                page.topics()
                    .iter()
                    .filter_map(|t| t.topic_arn())
                    .map(str::to_owned),
            );
            progress.topics.store(arns.len(), Ordering::Relaxed);
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(arns),
            }
        }
    }

    /// Every queue URL, optionally only under a name prefix (`sqs:ListQueues`, 1000 a page).
    async fn list_queue_urls(
        &self,
        prefix: Option<&str>,
        progress: &Progress,
    ) -> Result<Vec<String>, AwsError> {
        let mut urls = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sqs
                .list_queues()
                .set_queue_name_prefix(prefix.map(str::to_owned))
                .max_results(QUEUE_PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("sqs:ListQueues", "(all queues)", e))?;
            urls.extend(page.queue_urls().iter().cloned());
            progress.queues.store(urls.len(), Ordering::Relaxed);
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(urls),
            }
        }
    }

    /// Every subscription of the region (`sns:ListSubscriptions`, 100 a page).
    async fn list_all_subscriptions(
        &self,
        progress: &Progress,
    ) -> Result<Vec<LiveSubscription>, AwsError> {
        let mut subs = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sns
                .list_subscriptions()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("sns:ListSubscriptions", "(all subscriptions)", e))?;
            subs.extend(page.subscriptions().iter().map(|s| LiveSubscription {
                arn: s.subscription_arn().unwrap_or_default().to_owned(),
                topic_arn: s.topic_arn().unwrap_or_default().to_owned(),
                protocol: s.protocol().unwrap_or_default().to_owned(),
                endpoint: s.endpoint().unwrap_or_default().to_owned(),
                attributes: Attributes::new(),
            }));
            progress.subscriptions.store(subs.len(), Ordering::Relaxed);
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(subs),
            }
        }
    }

    /// Fetches what `fetch` asks for about one resource; `None` when it is gone.
    async fn describe(
        &self,
        item: Describe,
        fetch: Fetch,
        progress: &Progress,
    ) -> Result<Option<Described>, AwsError> {
        if !item.wanted() || !fetch.any() {
            return Ok(Some(item.into_described()));
        }
        let result = async {
            Ok::<_, AwsError>(match item {
                Describe::Topic(mut topic, _) => {
                    if fetch.attributes {
                        topic.attributes = self.topic_attributes(&topic).await?;
                    }
                    if fetch.tags {
                        topic.tags = self.topic_tags(&topic).await?;
                    }
                    Described::Topic(topic)
                }
                Describe::Queue(mut queue, _) => {
                    if fetch.attributes {
                        queue.attributes = self.all_queue_attributes(&queue).await?;
                    }
                    if fetch.tags {
                        queue.tags = self.queue_tags(&queue).await?;
                    }
                    Described::Queue(queue)
                }
                Describe::Subscription(mut sub, _) => {
                    if fetch.attributes {
                        sub.attributes = self.subscription_attributes(&sub).await?;
                    }
                    Described::Subscription(sub)
                }
            })
        }
        .await;
        progress.described.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(described) => Ok(Some(described)),
            // deleted since it was listed: it is no longer part of the account
            Err(e) if is_code(&e, GONE) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn topic_attributes(&self, topic: &LiveTopic) -> Result<Attributes, AwsError> {
        let out = self
            .sns
            .get_topic_attributes()
            .topic_arn(&topic.arn)
            .send()
            .await
            .map_err(|e| self.error("sns:GetTopicAttributes", topic.name.as_str(), e))?;
        Ok(out.attributes().map(to_attributes).unwrap_or_default())
    }

    pub(super) async fn topic_tags(&self, topic: &LiveTopic) -> Result<Tags, AwsError> {
        let out = self
            .sns
            .list_tags_for_resource()
            .resource_arn(&topic.arn)
            .send()
            .await
            .map_err(|e| self.error("sns:ListTagsForResource", topic.name.as_str(), e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    async fn all_queue_attributes(&self, queue: &LiveQueue) -> Result<Attributes, AwsError> {
        let attributes = self
            .queue_attributes_at(&queue.url, &queue.name, QueueAttributeName::All)
            .await?;
        Ok(attributes.into_iter().collect())
    }

    async fn queue_tags(&self, queue: &LiveQueue) -> Result<Tags, AwsError> {
        let out = self
            .sqs
            .list_queue_tags()
            .queue_url(&queue.url)
            .send()
            .await
            .map_err(|e| self.error("sqs:ListQueueTags", queue.name.as_str(), e))?;
        Ok(out.tags().map(to_attributes).unwrap_or_default())
    }

    async fn subscription_attributes(
        &self,
        sub: &LiveSubscription,
    ) -> Result<Attributes, AwsError> {
        let out = self
            .sns
            .get_subscription_attributes()
            .subscription_arn(&sub.arn)
            .send()
            .await
            .map_err(|e| self.error("sns:GetSubscriptionAttributes", sub.arn.as_str(), e))?;
        Ok(out.attributes().map(to_attributes).unwrap_or_default())
    }
}

/// Which describing calls to make.
#[derive(Debug, Clone, Copy)]
struct Fetch {
    attributes: bool,
    tags: bool,
}

impl Fetch {
    fn any(self) -> bool {
        self.attributes || self.tags
    }
}

/// A listed resource, and whether to describe it.
enum Describe {
    Topic(LiveTopic, bool),
    Queue(LiveQueue, bool),
    Subscription(LiveSubscription, bool),
}

enum Described {
    Topic(LiveTopic),
    Queue(LiveQueue),
    Subscription(LiveSubscription),
}

impl Describe {
    fn wanted(&self) -> bool {
        match self {
            Describe::Topic(_, wanted)
            | Describe::Queue(_, wanted)
            | Describe::Subscription(_, wanted) => *wanted,
        }
    }

    fn into_described(self) -> Described {
        match self {
            Describe::Topic(t, _) => Described::Topic(t),
            Describe::Queue(q, _) => Described::Queue(q),
            Describe::Subscription(s, _) => Described::Subscription(s),
        }
    }
}

fn to_attributes(map: &std::collections::HashMap<String, String>) -> Attributes {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The text after the last `sep` (the name in an ARN or a queue URL).
fn last_part(text: &str, sep: char) -> String {
    text.rsplit(sep).next().unwrap_or(text).to_owned()
}
