//! Recording a legacy topic, queue or subscription just before `migrate` deletes it: its
//! attributes, tags and subscriptions, enough for `rollback` to rebuild it.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;

use super::execute::is_code;
use super::inspect::name_in_account;
use super::{Aws, AwsError};
use crate::naming::ResourceKind;
use crate::topology::{
    Endpoint, LegacyKey, LegacyRecord, RecordedSubscription, SubscriptionKey, Tags,
    QUEUE_ATTRIBUTES, SUBSCRIPTION_ATTRIBUTES, TOPIC_ATTRIBUTES,
};

impl Aws {
    /// What the account holds for `key`; `None` when it does not exist (nothing to delete,
    /// nothing to restore). Reads only.
    pub async fn record_legacy(&self, key: &LegacyKey) -> Result<Option<LegacyRecord>, AwsError> {
        match key {
            LegacyKey::Queue(name) => self.record_queue(name).await,
            LegacyKey::Topic(name) => self.record_topic(name).await,
            LegacyKey::Subscription(key) => self.record_subscription(key).await,
        }
    }

    async fn record_queue(&self, name: &str) -> Result<Option<LegacyRecord>, AwsError> {
        let url = self.queue_url(name);
        let attributes = match self
            .queue_attributes_at(&url, name, QueueAttributeName::All)
            .await
        {
            Ok(attributes) => attributes,
            Err(e) if is_code(&e, &["NonExistentQueue", "QueueDoesNotExist"]) => return Ok(None),
            Err(e) => return Err(e),
        };
        let tags: Tags = self
            .sqs
            .list_queue_tags()
            .queue_url(&url)
            .send()
            .await
            .map_err(|e| self.error("sqs:ListQueueTags", name, e))?
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let queue_arn = self.arns.queue(name);
        let mut subscriptions = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sns
                .list_subscriptions()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("sns:ListSubscriptions", name, e))?;
            for s in page.subscriptions() {
                if s.protocol() != Some("sqs") || s.endpoint() != Some(queue_arn.as_str()) {
                    continue;
                }
                let (Some(arn), Some(topic_arn)) = (s.subscription_arn(), s.topic_arn()) else {
                    continue;
                };
                let topic = name_in_account(&self.arns, ResourceKind::Topic, topic_arn)
                    .unwrap_or_else(|| topic_arn.to_owned());
                subscriptions.push(RecordedSubscription {
                    attributes: self.settable_subscription_attributes(arn).await?,
                    topic,
                    endpoint: Endpoint::Queue(name.to_owned()),
                });
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(Some(LegacyRecord {
            attributes: settable(attributes.into_iter().collect(), QUEUE_ATTRIBUTES),
            tags,
            subscriptions,
        }))
    }

    async fn record_topic(&self, name: &str) -> Result<Option<LegacyRecord>, AwsError> {
        let arn = self.arns.topic(name);
        let attributes = match self
            .sns
            .get_topic_attributes()
            .topic_arn(&arn)
            .send()
            .await
            .map_err(|e| self.error("sns:GetTopicAttributes", name, e))
        {
            Ok(out) => out.attributes().cloned().unwrap_or_default(),
            Err(e) if is_code(&e, &["NotFound"]) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut attributes = settable(attributes.into_iter().collect(), TOPIC_ATTRIBUTES);
        if name.ends_with(crate::naming::FIFO_SUFFIX) {
            attributes.insert("FifoTopic".into(), "true".into());
        }
        let tags: Tags = self
            .sns
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| self.error("sns:ListTagsForResource", name, e))?
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        let mut subscriptions = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sns
                .list_subscriptions_by_topic()
                .topic_arn(&arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| self.error("sns:ListSubscriptionsByTopic", name, e))?;
            for s in page.subscriptions() {
                let Some(sub_arn) = s.subscription_arn().filter(|a| *a != "PendingConfirmation")
                else {
                    continue;
                };
                let endpoint = recreatable_endpoint(
                    &self.arns,
                    s.protocol().unwrap_or_default(),
                    s.endpoint().unwrap_or_default(),
                )
                .ok_or_else(|| {
                    AwsError::failed(
                        "record legacy topic",
                        name,
                        None,
                        format!(
                            "it has a {} subscription to {} that lariat cannot recreate on \
                             rollback; remove that subscription by hand first",
                            s.protocol().unwrap_or("?"),
                            s.endpoint().unwrap_or("?")
                        ),
                    )
                })?;
                subscriptions.push(RecordedSubscription {
                    attributes: self.settable_subscription_attributes(sub_arn).await?,
                    topic: name.to_owned(),
                    endpoint,
                });
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(Some(LegacyRecord {
            attributes,
            tags,
            subscriptions,
        }))
    }

    async fn record_subscription(
        &self,
        key: &SubscriptionKey,
    ) -> Result<Option<LegacyRecord>, AwsError> {
        let Some(arn) = self.find_subscription(&key.topic, &key.endpoint).await? else {
            return Ok(None);
        };
        Ok(Some(LegacyRecord {
            subscriptions: vec![RecordedSubscription {
                topic: key.topic.clone(),
                endpoint: key.endpoint.clone(),
                attributes: self.settable_subscription_attributes(&arn).await?,
            }],
            ..LegacyRecord::default()
        }))
    }

    /// The settable attributes of one subscription.
    async fn settable_subscription_attributes(
        &self,
        arn: &str,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        let attributes = self
            .sns
            .get_subscription_attributes()
            .subscription_arn(arn)
            .send()
            .await
            .map_err(|e| self.error("sns:GetSubscriptionAttributes", arn, e))?
            .attributes()
            .cloned()
            .unwrap_or_default();
        Ok(settable(
            attributes.into_iter().collect(),
            SUBSCRIPTION_ATTRIBUTES,
        ))
    }
}

/// Only the attributes a create call takes, and only those with a value.
fn settable(attributes: BTreeMap<String, String>, keep: &[&str]) -> BTreeMap<String, String> {
    attributes
        .into_iter()
        .filter(|(k, v)| keep.contains(&k.as_str()) && !v.is_empty())
        .collect()
}

/// An `sqs` or `sns` endpoint, by name in this account and region or by ARN elsewhere.
fn recreatable_endpoint(arns: &crate::naming::Arns, protocol: &str, arn: &str) -> Option<Endpoint> {
    let resource = match protocol {
        "sqs" => ResourceKind::Queue,
        "sns" => ResourceKind::Topic,
        _ => return None,
    };
    if !arn.starts_with("arn:aws:") {
        return None;
    }
    let key = name_in_account(arns, resource, arn).unwrap_or_else(|| arn.to_owned());
    Some(match resource {
        ResourceKind::Queue => Endpoint::Queue(key),
        ResourceKind::Topic => Endpoint::Topic(key),
    })
}
