//! Sending one planned [`Call`], idempotently: create-if-absent, delete-if-present,
//! subscribe-if-absent, attributes set to the declared values.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_sns::types::Tag;
use aws_sdk_sqs::types::QueueAttributeName;

use super::inspect::LiveTopic;
use super::{Aws, AwsError};
use crate::calls::{
    self, attribute_difference, attribute_matches, Attributes, Call, TOPIC_CREATE_ONLY,
    TOPIC_DECLARABLE,
};
use crate::topology::{Endpoint, Tags};

/// How long lariat keeps retrying a queue that AWS says was deleted less than 60 s ago.
const QUEUE_RECREATE_WAIT: Duration = Duration::from_secs(75);

/// One attribute of an existing queue that differs from the declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDifference {
    /// AWS attribute name.
    pub attribute: String,
    /// What the migrations declare.
    pub declared: String,
    /// What the queue has (empty when unset).
    pub actual: String,
}

impl fmt::Display for AttributeDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: declared {}, found {}",
            self.attribute,
            self.declared,
            if self.actual.is_empty() {
                "(unset)"
            } else {
                &self.actual
            }
        )
    }
}

pub(super) fn is_code(err: &AwsError, codes: &[&str]) -> bool {
    err.code()
        .is_some_and(|c| codes.iter().any(|want| c == *want || c.ends_with(want)))
}

/// The subscriptions of each topic one run has listed, so that removing or changing several
/// subscriptions of one topic lists it once. The run's own subscribes and unsubscribes keep
/// each listing current; the applier lock keeps other lariat runs out meanwhile.
#[derive(Debug, Default)]
pub struct SubscriptionListings {
    topics: Mutex<HashMap<String, Arc<TopicListing>>>,
}

/// One topic's listing: `None` until listed (or after a change the run cannot follow), held
/// while it is read or updated.
type TopicListing = tokio::sync::Mutex<Option<Vec<Listed>>>;

/// One confirmed subscription of a listed topic.
#[derive(Debug, Clone)]
struct Listed {
    protocol: String,
    endpoint: String,
    arn: String,
}

impl SubscriptionListings {
    /// The listing of one topic.
    fn topic(&self, topic: &str) -> Arc<TopicListing> {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        topics.entry(topic.to_owned()).or_default().clone()
    }
}

impl Aws {
    /// Sends one call. Safe to repeat: a call whose effect is already there succeeds.
    pub async fn execute(&self, call: &Call) -> Result<(), AwsError> {
        self.execute_in(call, &SubscriptionListings::default())
            .await
    }

    /// [`Aws::execute`], reusing (and keeping up to date) the subscriptions that the calls
    /// before it, sharing `listings`, listed.
    pub async fn execute_in(
        &self,
        call: &Call,
        listings: &SubscriptionListings,
    ) -> Result<(), AwsError> {
        match call {
            Call::CreateTopic {
                name,
                attributes,
                tags,
            } => self.create_topic(name, attributes, tags).await,
            Call::DeleteTopic { name } => self.delete_topic(name).await,
            Call::SetTopicAttribute { topic, key, value } => {
                self.set_topic_attribute(topic, key, value).await
            }
            Call::TagTopic { topic, tags } => self.tag_topic(topic, tags).await,
            Call::UntagTopic { topic, keys } => {
                self.sns
                    .untag_resource()
                    .resource_arn(self.arns.topic(topic))
                    .set_tag_keys(Some(keys.clone()))
                    .send()
                    .await
                    .map_err(|e| self.error("sns:UntagResource", topic, e))?;
                Ok(())
            }
            Call::CreateQueue {
                name,
                attributes,
                tags,
                tolerated,
                allow_topics,
            } => {
                self.create_queue(name, attributes, tags, tolerated, allow_topics)
                    .await
            }
            Call::DeleteQueue { name } => self.delete_queue(name).await,
            Call::SetQueueAttributes { queue, attributes } => {
                self.set_queue_attributes(queue, attributes).await
            }
            Call::TagQueue { queue, tags } => {
                self.sqs
                    .tag_queue()
                    .queue_url(self.queue_url(queue))
                    .set_tags(Some(tags.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(|e| self.error("sqs:TagQueue", queue, e))?;
                Ok(())
            }
            Call::UntagQueue { queue, keys } => {
                self.sqs
                    .untag_queue()
                    .queue_url(self.queue_url(queue))
                    .set_tag_keys(Some(keys.clone()))
                    .send()
                    .await
                    .map_err(|e| self.error("sqs:UntagQueue", queue, e))?;
                Ok(())
            }
            Call::AllowTopic { queue, topic } => self.update_policy(queue, topic, true).await,
            Call::RevokeTopic { queue, topic } => self.update_policy(queue, topic, false).await,
            Call::Subscribe {
                topic,
                endpoint,
                attributes,
            } => self.subscribe(topic, endpoint, attributes, listings).await,
            Call::Unsubscribe { topic, endpoint } => {
                if let Some(arn) = self.listed_subscription(listings, topic, endpoint).await? {
                    self.sns_for(topic)
                        .unsubscribe()
                        .subscription_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| self.error("sns:Unsubscribe", arn.as_str(), e))?;
                    if let Some(listing) = listings.topic(topic).lock().await.as_mut() {
                        listing.retain(|l| l.arn != arn);
                    }
                }
                Ok(())
            }
            Call::SetSubscriptionAttribute {
                topic,
                endpoint,
                key,
                value,
            } => {
                let resource = format!("{topic} -> {}", endpoint.name());
                let arn = self.listed_subscription(listings, topic, endpoint).await?.ok_or_else(|| AwsError::failed(
                    "sns:SetSubscriptionAttributes",
                    resource.clone(),
                    Some("NotFound"),
                    "the subscription does not exist; run `lariat drift` to compare the account with the files",
                ))?;
                self.sns_for(topic)
                    .set_subscription_attributes()
                    .subscription_arn(arn)
                    .attribute_name(key)
                    .attribute_value(value)
                    .send()
                    .await
                    .map_err(|e| self.error("sns:SetSubscriptionAttributes", resource, e))?;
                Ok(())
            }
        }
    }

    async fn create_topic(
        &self,
        name: &str,
        attributes: &Attributes,
        tags: &Tags,
    ) -> Result<(), AwsError> {
        let result = self
            .sns
            .create_topic()
            .name(name)
            .set_attributes(Some(attributes.clone().into_iter().collect()))
            .set_tags(Some(sns_tags(name, tags)?))
            .send()
            .await
            .map_err(|e| self.error("sns:CreateTopic", name, e));
        match result {
            Ok(_) => Ok(()),
            // AWS (and LocalStack) refuse to create a topic again with other attributes or
            // tags; moto accepts it silently. Converge the existing topic instead.
            Err(e)
                if is_code(&e, &["InvalidParameter"])
                    && e.to_string().contains("already exists") =>
            {
                self.converge_topic(name, attributes, tags).await
            }
            Err(e) => Err(e),
        }
    }

    /// A topic of this name exists with other attributes or tags: a re-run after a crash, or
    /// a topic another tool (the Ruby gem) made and tagged. Reads its attributes and tags,
    /// sets the declared attributes (undeclared ones back to the AWS default) and tags (other
    /// tags stay); an attribute AWS cannot change after creation is an error naming it.
    async fn converge_topic(
        &self,
        name: &str,
        declared: &Attributes,
        tags: &Tags,
    ) -> Result<(), AwsError> {
        let topic = LiveTopic {
            name: name.to_owned(),
            arn: self.arns.topic(name),
            attributes: Attributes::new(),
            tags: Tags::new(),
        };
        let (actual, actual_tags) =
            tokio::try_join!(self.topic_attributes(&topic), self.topic_tags(&topic))?;
        let (settable, fixed): (Vec<_>, Vec<_>) = topic_differences(declared, &actual)
            .into_iter()
            .partition(|d| !TOPIC_CREATE_ONLY.contains(&d.attribute.as_str()));
        if !fixed.is_empty() {
            return Err(AwsError::TopicDiffers {
                topic: name.to_owned(),
                differences: fixed,
            });
        }
        for difference in &settable {
            self.set_topic_attribute(name, &difference.attribute, &difference.declared)
                .await?;
        }
        let missing: Tags = tags
            .iter()
            .filter(|(key, value)| actual_tags.get(*key) != Some(*value))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if !missing.is_empty() {
            self.tag_topic(name, &missing).await?;
        }
        tracing::info!(
            topic = name,
            attributes_set = settable.len(),
            tags_set = missing.len(),
            "the topic already existed with other attributes or tags; set the declared ones"
        );
        Ok(())
    }

    async fn set_topic_attribute(
        &self,
        topic: &str,
        key: &str,
        value: &str,
    ) -> Result<(), AwsError> {
        self.sns
            .set_topic_attributes()
            .topic_arn(self.arns.topic(topic))
            .attribute_name(key)
            .attribute_value(value)
            .send()
            .await
            .map_err(|e| self.error("sns:SetTopicAttributes", topic, e))?;
        Ok(())
    }

    async fn tag_topic(&self, topic: &str, tags: &Tags) -> Result<(), AwsError> {
        self.sns
            .tag_resource()
            .resource_arn(self.arns.topic(topic))
            .set_tags(Some(sns_tags(topic, tags)?))
            .send()
            .await
            .map_err(|e| self.error("sns:TagResource", topic, e))?;
        Ok(())
    }

    async fn delete_topic(&self, name: &str) -> Result<(), AwsError> {
        let result = self
            .sns
            .delete_topic()
            .topic_arn(self.arns.topic(name))
            .send()
            .await;
        match result.map_err(|e| self.error("sns:DeleteTopic", name, e)) {
            Err(e) if !is_code(&e, &["NotFound"]) => Err(e),
            _ => Ok(()),
        }
    }

    async fn create_queue(
        &self,
        name: &str,
        attributes: &Attributes,
        tags: &Tags,
        tolerated: &[Attributes],
        allow_topics: &[String],
    ) -> Result<(), AwsError> {
        let mut attributes = attributes.clone();
        if !allow_topics.is_empty() {
            let policy = self.policy_allowing(name, attributes.get("Policy"), allow_topics)?;
            if let Some(policy) = policy {
                attributes.insert("Policy".into(), policy);
            }
        }
        let deadline = tokio::time::Instant::now() + QUEUE_RECREATE_WAIT;
        loop {
            let result = self
                .sqs
                .create_queue()
                .queue_name(name)
                .set_attributes(Some(sqs_attributes(&attributes)))
                .set_tags(Some(tags.clone().into_iter().collect()))
                .send()
                .await
                .map_err(|e| self.error("sqs:CreateQueue", name, e));
            match result {
                Ok(_) => return Ok(()),
                Err(e)
                    if is_code(&e, &["QueueDeletedRecently"])
                        && tokio::time::Instant::now() < deadline =>
                {
                    tracing::info!(
                        queue = name,
                        "AWS asks to wait 60 s before re-creating a deleted queue; retrying"
                    );
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Err(e) if is_code(&e, &["QueueAlreadyExists", "QueueNameExists"]) => {
                    return self
                        .check_existing_queue(name, &attributes, tolerated, allow_topics)
                        .await
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `policy` (none: an empty one) with a statement letting each of `topics` send to
    /// `queue`; `None` when it has them all already.
    fn policy_allowing(
        &self,
        queue: &str,
        policy: Option<&String>,
        topics: &[String],
    ) -> Result<Option<String>, AwsError> {
        let queue_arn = self.arns.queue(queue);
        let mut current = policy.cloned();
        let mut changed = false;
        for topic in topics {
            let updated =
                calls::policy_with_topic(current.as_deref(), &queue_arn, &self.arns.topic(topic))
                    .map_err(|e| AwsError::BadPolicy {
                    queue: queue.to_owned(),
                    message: e.to_string(),
                })?;
            if let Some(updated) = updated {
                current = Some(updated);
                changed = true;
            }
        }
        Ok(current.filter(|_| changed))
    }

    /// A queue of this name exists with other attributes: fine when every difference is a value
    /// a later step of this run sets (a re-run after a crash), an error naming them otherwise.
    /// Its policy is not compared but converged: the statements for `allow_topics` that it
    /// lacks are added to what it has (one write, only when one is missing).
    async fn check_existing_queue(
        &self,
        name: &str,
        declared: &Attributes,
        tolerated: &[Attributes],
        allow_topics: &[String],
    ) -> Result<(), AwsError> {
        let actual = self.queue_attributes(name, QueueAttributeName::All).await?;
        let differences: Vec<AttributeDifference> = declared
            .iter()
            .filter(|(key, _)| key.as_str() != "Policy" || allow_topics.is_empty())
            .filter(|(key, value)| {
                !attribute_matches(key, value, actual.get(*key).map(String::as_str))
            })
            .filter(|(key, _)| {
                let found = actual.get(*key).map(String::as_str);
                !tolerated.iter().any(|later| {
                    later
                        .get(*key)
                        .is_some_and(|v| attribute_matches(key, v, found))
                })
            })
            .map(|(key, value)| AttributeDifference {
                attribute: key.clone(),
                declared: value.clone(),
                actual: actual.get(key).cloned().unwrap_or_default(),
            })
            .collect();
        if !differences.is_empty() {
            return Err(AwsError::QueueDiffers {
                queue: name.to_owned(),
                differences,
            });
        }
        if allow_topics.is_empty() {
            return Ok(());
        }
        match self.policy_allowing(name, actual.get("Policy"), allow_topics)? {
            Some(policy) => {
                self.set_queue_attributes(name, &[("Policy".to_owned(), policy)].into())
                    .await
            }
            None => Ok(()),
        }
    }

    async fn queue_attributes(
        &self,
        name: &str,
        which: QueueAttributeName,
    ) -> Result<HashMap<String, String>, AwsError> {
        self.queue_attributes_at(&self.queue_url(name), name, which)
            .await
    }

    /// `sqs:GetQueueAttributes` of the queue at `url` (named `name` in errors).
    pub(super) async fn queue_attributes_at(
        &self,
        url: &str,
        name: &str,
        which: QueueAttributeName,
    ) -> Result<HashMap<String, String>, AwsError> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(which)
            .send()
            .await
            .map_err(|e| self.error("sqs:GetQueueAttributes", name, e))?;
        Ok(out
            .attributes()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn set_queue_attributes(
        &self,
        name: &str,
        attributes: &Attributes,
    ) -> Result<(), AwsError> {
        self.sqs
            .set_queue_attributes()
            .queue_url(self.queue_url(name))
            .set_attributes(Some(sqs_attributes(attributes)))
            .send()
            .await
            .map_err(|e| self.error("sqs:SetQueueAttributes", name, e))?;
        Ok(())
    }

    async fn delete_queue(&self, name: &str) -> Result<(), AwsError> {
        let result = self
            .sqs
            .delete_queue()
            .queue_url(self.queue_url(name))
            .send()
            .await;
        match result.map_err(|e| self.error("sqs:DeleteQueue", name, e)) {
            Err(e) if !is_code(&e, &["NonExistentQueue", "QueueDoesNotExist"]) => Err(e),
            _ => Ok(()),
        }
    }

    /// Adds (`allow`) or removes the statement letting `topic` send to `queue`; one read, and
    /// one write only when the policy changes.
    async fn update_policy(&self, queue: &str, topic: &str, allow: bool) -> Result<(), AwsError> {
        let current = match self
            .queue_attributes(queue, QueueAttributeName::Policy)
            .await
        {
            Ok(attrs) => attrs.get("Policy").cloned(),
            // revoking on a queue that is gone has nothing left to do
            Err(e) if !allow && is_code(&e, &["NonExistentQueue", "QueueDoesNotExist"]) => {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        let (queue_arn, topic_arn) = (self.arns.queue(queue), self.arns.topic(topic));
        let updated = if allow {
            calls::policy_with_topic(current.as_deref(), &queue_arn, &topic_arn)
        } else {
            calls::policy_without_topic(current.as_deref(), &queue_arn, &topic_arn)
        }
        .map_err(|e| AwsError::BadPolicy {
            queue: queue.to_owned(),
            message: e.to_string(),
        })?;
        let Some(policy) = updated else { return Ok(()) };
        self.set_queue_attributes(queue, &[("Policy".to_owned(), policy)].into())
            .await
    }

    async fn subscribe(
        &self,
        topic: &str,
        endpoint: &Endpoint,
        attributes: &Attributes,
        listings: &SubscriptionListings,
    ) -> Result<(), AwsError> {
        let resource = format!("{topic} -> {}", endpoint.name());
        let result = self
            .sns_for(topic)
            .subscribe()
            .topic_arn(self.arns.topic(topic))
            .protocol(calls::protocol(endpoint))
            .endpoint(self.arns.endpoint(endpoint))
            .set_attributes(Some(attributes.clone().into_iter().collect()))
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| self.error("sns:Subscribe", resource, e));
        match result {
            Ok(out) => {
                let entry = listings.topic(topic);
                let mut listing = entry.lock().await;
                let confirmed = out.subscription_arn().filter(|arn| arn.starts_with("arn:"));
                match (listing.as_mut(), confirmed) {
                    (None, _) => {}
                    (Some(listed), Some(arn)) => {
                        let protocol = calls::protocol(endpoint);
                        let endpoint = self.arns.endpoint(endpoint);
                        listed.retain(|l| {
                            l.arn != arn && !(l.endpoint == endpoint && l.protocol == protocol)
                        });
                        listed.push(Listed {
                            protocol: protocol.to_owned(),
                            endpoint,
                            arn: arn.to_owned(),
                        });
                    }
                    // an ARN lariat cannot use later: list the topic again when asked
                    (Some(_), None) => *listing = None,
                }
                Ok(())
            }
            // AWS refuses to subscribe again with other attributes; converge them instead
            Err(e)
                if is_code(&e, &["InvalidParameter"])
                    && e.to_string().contains("already exists") =>
            {
                let Some(arn) = self.listed_subscription(listings, topic, endpoint).await? else {
                    return Err(e);
                };
                for (key, value) in attributes {
                    self.sns_for(topic)
                        .set_subscription_attributes()
                        .subscription_arn(&arn)
                        .attribute_name(key)
                        .attribute_value(value)
                        .send()
                        .await
                        .map_err(|e| {
                            self.error("sns:SetSubscriptionAttributes", arn.as_str(), e)
                        })?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The ARN of the subscription from `topic` to `endpoint`, if there is one. Reads the
    /// topic's subscriptions only, never every subscription of the account.
    pub async fn find_subscription(
        &self,
        topic: &str,
        endpoint: &Endpoint,
    ) -> Result<Option<String>, AwsError> {
        self.listed_subscription(&SubscriptionListings::default(), topic, endpoint)
            .await
    }

    /// [`Aws::find_subscription`] from the topic's listing in `listings`, listing the topic
    /// (every page) the first time.
    async fn listed_subscription(
        &self,
        listings: &SubscriptionListings,
        topic: &str,
        endpoint: &Endpoint,
    ) -> Result<Option<String>, AwsError> {
        let entry = listings.topic(topic);
        let mut listing = entry.lock().await;
        let listed = match listing.as_mut() {
            Some(listed) => listed,
            None => listing.insert(self.list_subscriptions_of(topic).await?),
        };
        let endpoint_arn = self.arns.endpoint(endpoint);
        let protocol = calls::protocol(endpoint);
        Ok(listed
            .iter()
            .find(|l| l.endpoint == endpoint_arn && l.protocol == protocol)
            .map(|l| l.arn.clone()))
    }

    /// Every confirmed subscription of `topic`; none when the topic does not exist.
    async fn list_subscriptions_of(&self, topic: &str) -> Result<Vec<Listed>, AwsError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = match self
                .sns_for(topic)
                .list_subscriptions_by_topic()
                .topic_arn(self.arns.topic(topic))
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("sns:ListSubscriptionsByTopic", topic, e))
            {
                Ok(page) => page,
                Err(e) if is_code(&e, &["NotFound"]) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            out.extend(page.subscriptions().iter().filter_map(|s| {
                let arn = s
                    .subscription_arn()
                    .filter(|a| *a != "PendingConfirmation")?;
                Some(Listed {
                    protocol: s.protocol()?.to_owned(),
                    endpoint: s.endpoint()?.to_owned(),
                    arn: arn.to_owned(),
                })
            }));
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(out),
            }
        }
    }
}

/// The attributes of an existing topic (`actual`, from `sns:GetTopicAttributes`) that differ
/// from the `declared` ones of a `CreateTopic`, each side falling back to the AWS default.
fn topic_differences(declared: &Attributes, actual: &Attributes) -> Vec<AttributeDifference> {
    let default = |key: &str| match key {
        "FifoTopic" => "false".to_owned(),
        _ => calls::topic_default(key),
    };
    let undeclared = TOPIC_DECLARABLE
        .iter()
        .map(|key| (*key).to_owned())
        .filter(|key| actual.contains_key(key) && !declared.contains_key(key));
    let keys: Vec<String> = declared.keys().cloned().chain(undeclared).collect();
    keys.into_iter()
        .filter_map(|key| {
            let want = attribute_difference(&key, declared.get(&key), actual.get(&key), default)?;
            Some(AttributeDifference {
                declared: want,
                actual: actual.get(&key).cloned().unwrap_or_default(),
                attribute: key,
            })
        })
        .collect()
}

fn sqs_attributes(attributes: &Attributes) -> HashMap<QueueAttributeName, String> {
    attributes
        .iter()
        .map(|(k, v)| (QueueAttributeName::from(k.as_str()), v.clone()))
        .collect()
}

fn sns_tags(resource: &str, tags: &Tags) -> Result<Vec<Tag>, AwsError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| AwsError::failed("sns:TagResource", resource, None, e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn topic_differences_cover_declared_and_undeclared_attributes() {
        let declared = attrs(&[("FifoTopic", "true"), ("ContentBasedDeduplication", "true")]);
        let actual = attrs(&[
            ("FifoTopic", "true"),
            ("ContentBasedDeduplication", "false"),
            ("DisplayName", "made by the gem"),
            ("Owner", "000000000000"),
            ("SubscriptionsConfirmed", "0"),
        ]);
        let found: Vec<(String, String)> = topic_differences(&declared, &actual)
            .into_iter()
            .map(|d| (d.attribute, d.declared))
            .collect();
        assert_eq!(
            found,
            [
                ("ContentBasedDeduplication".to_owned(), "true".to_owned()),
                ("DisplayName".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn an_existing_topic_of_the_other_kind_differs_in_fifo_topic() {
        let found = topic_differences(&attrs(&[("FifoTopic", "true")]), &attrs(&[]));
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            "FifoTopic: declared true, found (unset)"
        );
        assert!(topic_differences(&attrs(&[]), &attrs(&[("FifoTopic", "false")])).is_empty());
        assert!(topic_differences(&attrs(&[]), &attrs(&[("DisplayName", "")])).is_empty());
    }
}
