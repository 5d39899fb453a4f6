//! `[[subscribe]]`, `[[change_subscription]]` and `[[unsubscribe]]`: which topic delivers to
//! which queue or topic, the subscription's attributes (filter policy, raw delivery,
//! dead-letter queue) and the rules between them.

use super::lifecycle::set_keys;
use super::problem::{
    fifo_mismatch, nothing_changes, reject_attributes, reject_unset, unknown_unset, Checked, Noun,
    Problem, Verb,
};
use super::values::set;
use super::{legacy, Replay};
use crate::migration::{ResourceRef, SubscriptionSpec};
use crate::topology::{
    Endpoint, Operation, Queue, Subscription, SubscriptionAttributes, SubscriptionKey, Topic,
    Topology,
};

impl Replay<'_> {
    /// The topic and endpoint a subscription table names, both existing at this version.
    fn subscription_key(
        &self,
        spec: &SubscriptionSpec,
        state: &Topology,
    ) -> Checked<SubscriptionKey> {
        let topic = self.existing::<Topic>(topic_of(spec)?.into(), state)?;
        let endpoint = match (&spec.queue, &spec.target_topic) {
            (Some(q), None) => {
                let queue = self.existing::<Queue>(q.into(), state)?;
                if let Some(external) = &queue.external {
                    return Err(Problem::new(format!(
                        "queue {} is external{}: its owner subscribes it",
                        queue.name,
                        external.owned_by()
                    ))
                    .help("subscriptions live on the subscriber's side: put this [[subscribe]] in the queue owner's migrations, with the topic as an [[external_topic]] there"));
                }
                if queue.fifo() != topic.fifo() {
                    return Err(fifo_mismatch(
                        &format!("topic {}", topic.name),
                        topic.fifo(),
                        &format!("queue {}", queue.name),
                    ));
                }
                Endpoint::Queue(queue.name.clone())
            }
            (None, Some(t)) => {
                let target = self.existing::<Topic>(t.into(), state)?;
                if let Some(external) = &target.external {
                    return Err(Problem::new(format!(
                        "target_topic {} is external{}: its owner decides what it forwards to",
                        target.name,
                        external.owned_by()
                    ))
                    .help("subscribe this service's own queues to the topic instead"));
                }
                if target.fifo() != topic.fifo() {
                    return Err(fifo_mismatch(
                        &format!("topic {}", topic.name),
                        topic.fifo(),
                        &format!("topic {}", target.name),
                    ));
                }
                if target.name == topic.name {
                    return Err(Problem::new("a topic cannot be subscribed to itself")
                        .help("name another topic in `target_topic`"));
                }
                Endpoint::Topic(target.name.clone())
            }
            _ => return Err(Problem::new(
                "a subscription needs exactly one of `queue` and `target_topic`",
            )
            .help(
                "`queue = { ... }` delivers to a queue; `target_topic = { ... }` to another topic",
            )),
        };
        Ok(SubscriptionKey {
            topic: topic.name.clone(),
            endpoint,
        })
    }

    pub(super) fn subscribe(
        &self,
        spec: &SubscriptionSpec,
        state: &Topology,
    ) -> Checked<Operation> {
        reject_unset(&spec.unset, Verb::Create, Noun::Subscription)?;
        legacy::reject(spec.legacy, &Verb::Create.table(Noun::Subscription))?;
        let key = self.subscription_key(spec, state)?;
        if state.subscriptions.contains_key(&key) {
            return Err(Problem::new(format!("{key} is already subscribed"))
                .help("to change its attributes use [[change_subscription]]"));
        }
        let sub = Subscription {
            key,
            attributes: SubscriptionAttributes::default(),
        };
        Ok(Operation::Subscribe(
            self.overlay_subscription(sub, spec, state)?,
        ))
    }

    pub(super) fn change_subscription(
        &self,
        spec: &SubscriptionSpec,
        state: &Topology,
    ) -> Checked<Operation> {
        legacy::reject(spec.legacy, &Verb::Change.table(Noun::Subscription))?;
        let key = self.subscription_key(spec, state)?;
        let before = state
            .subscriptions
            .get(&key)
            .ok_or_else(|| {
                Problem::new(format!("{key} does not exist at this version"))
                    .help("create it with [[subscribe]]")
            })?
            .clone();
        let after = self.overlay_subscription(before.clone(), spec, state)?;
        if after == before {
            return Err(nothing_changes(Noun::Subscription, &key.to_string()));
        }
        Ok(Operation::ChangeSubscription { before, after })
    }

    pub(super) fn unsubscribe(
        &self,
        spec: &SubscriptionSpec,
        state: &Topology,
    ) -> Checked<Operation> {
        let attributes = set_keys([
            ("raw_message_delivery", spec.raw_message_delivery.is_some()),
            ("filter_policy", spec.filter_policy.is_some()),
            ("filter_policy_scope", spec.filter_policy_scope.is_some()),
            ("dead_letter_queue", spec.dead_letter_queue.is_some()),
            ("unset", !spec.unset.is_empty()),
        ]);
        reject_attributes(Noun::Subscription, &attributes)?;
        if spec.legacy {
            return self.unsubscribe_legacy(spec, state);
        }
        let key = self.subscription_key(spec, state)?;
        let sub = state.subscriptions.get(&key).ok_or_else(|| {
            Problem::new(format!("{key} does not exist at this version"))
                .help("remove the [[unsubscribe]], or check the topic and queue")
        })?;
        Ok(Operation::Unsubscribe(sub.clone()))
    }

    fn overlay_subscription(
        &self,
        mut sub: Subscription,
        spec: &SubscriptionSpec,
        state: &Topology,
    ) -> Checked<Subscription> {
        let is_queue = matches!(sub.key.endpoint, Endpoint::Queue(_));
        let a = &mut sub.attributes;
        if spec.raw_message_delivery.is_some() && !is_queue {
            return Err(
                Problem::new("`raw_message_delivery` applies to queue subscriptions only")
                    .help("remove it from the topic-to-topic subscription"),
            );
        }
        set(&mut a.raw_message_delivery, spec.raw_message_delivery);
        if let Some(policy) = &spec.filter_policy {
            a.filter_policy = Some(filter_policy_json(policy)?);
        }
        set(&mut a.filter_policy_scope, spec.filter_policy_scope.clone());
        if let Some(dlq_ref) = &spec.dead_letter_queue {
            let dlq = self.dead_letter_queue(dlq_ref.into(), state)?;
            let topic_fifo = state.topics.get(&sub.key.topic).is_some_and(Topic::fifo);
            if dlq.fifo() != topic_fifo {
                return Err(fifo_mismatch(
                    &format!("topic {}", sub.key.topic),
                    topic_fifo,
                    &format!("the subscription's dead-letter queue {}", dlq.name),
                ));
            }
            a.dead_letter_queue = Some(dlq.name.clone());
        }
        for key in &spec.unset {
            match key.as_str() {
                "raw_message_delivery" => a.raw_message_delivery = None,
                "filter_policy" => {
                    a.filter_policy = None;
                    a.filter_policy_scope = None;
                }
                "filter_policy_scope" => a.filter_policy_scope = None,
                "dead_letter_queue" => a.dead_letter_queue = None,
                other => {
                    return Err(unknown_unset(
                        other,
                        &[
                            "raw_message_delivery",
                            "filter_policy",
                            "filter_policy_scope",
                            "dead_letter_queue",
                        ],
                    ))
                }
            }
        }
        if a.filter_policy_scope.is_some() && a.filter_policy.is_none() {
            return Err(
                Problem::new("`filter_policy_scope` without a `filter_policy`")
                    .help("add a filter_policy or remove the scope"),
            );
        }
        Ok(sub)
    }
}

/// A filter policy as JSON, from a TOML table or a JSON string.
fn filter_policy_json(value: &toml::Value) -> Checked<serde_json::Value> {
    let json = match value {
        toml::Value::String(text) => serde_json::from_str(text)
            .map_err(|e| Problem::new(format!("`filter_policy` is not valid JSON: {e}")))?,
        other => serde_json::to_value(other)
            .map_err(|e| Problem::new(format!("`filter_policy`: {e}")))?,
    };
    if !json.is_object() || json.as_object().is_some_and(|o| o.is_empty()) {
        return Err(Problem::new("`filter_policy` must be a non-empty table")
            .help("e.g. `filter_policy = { event_type = [\"order_placed\"] }`"));
    }
    Ok(json)
}

/// The `topic` a subscription table must name.
pub(super) fn topic_of(spec: &SubscriptionSpec) -> Checked<&ResourceRef> {
    spec.topic.as_ref().ok_or_else(|| {
        Problem::new("a subscription needs a `topic`").help("add `topic = { type = \"...\" }`")
    })
}
