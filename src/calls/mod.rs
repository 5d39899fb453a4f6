//! The AWS call vocabulary: the requests each operation of a plan turns into, the attributes
//! and tags lariat declares on what it creates, and queue-policy editing. Pure functions; the
//! executor ([`crate::aws`]) sends the calls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::naming::Arns;
use crate::plan::Plan;
use crate::topology::{Endpoint, Operation, Subscription, Tags};

mod attributes;
pub mod external;
pub mod legacy;
mod policy;

pub use attributes::{
    attribute_difference, attribute_matches, queue_attributes, queue_default, resource_tags,
    subscription_attributes, subscription_default, topic_attributes, topic_default, Attributes,
    LARIAT_TAGS, TOPIC_CREATE_ONLY, TOPIC_DECLARABLE,
};
use attributes::{changed, tag_changes};
pub use policy::{policy_statement_id, policy_with_topic, policy_without_topic};

/// One AWS request (or, for queue policies, one read-modify-write), as the executor sends it
/// and `--dry-run` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "call")]
pub enum Call {
    /// `sns:CreateTopic` (returns the existing topic when it exists).
    CreateTopic {
        /// Name.
        name: String,
        /// Attributes.
        attributes: Attributes,
        /// Tags.
        tags: Tags,
    },
    /// `sns:DeleteTopic` (no error when absent).
    DeleteTopic {
        /// Name.
        name: String,
    },
    /// `sns:SetTopicAttributes`, one per attribute (the API takes one at a time).
    SetTopicAttribute {
        /// Topic.
        topic: String,
        /// Attribute.
        key: String,
        /// Value.
        value: String,
    },
    /// `sns:TagResource`.
    TagTopic {
        /// Topic.
        topic: String,
        /// Tags to set.
        tags: Tags,
    },
    /// `sns:UntagResource`.
    UntagTopic {
        /// Topic.
        topic: String,
        /// Keys to remove.
        keys: Vec<String>,
    },
    /// `sqs:CreateQueue`; an existing queue with other attributes is an error naming them,
    /// except differences that a later operation of the same run sets anyway (`tolerated`).
    CreateQueue {
        /// Name.
        name: String,
        /// Attributes.
        attributes: Attributes,
        /// Tags.
        tags: Tags,
        /// Attribute sets the queue takes later in the same run.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tolerated: Vec<Attributes>,
        /// Topics the queue's access policy lets send to it from the start: the topics
        /// subscribed to it later in the same run, given in CreateQueue's `Policy` attribute
        /// instead of one [`Call::AllowTopic`] each. A queue that exists already gets the
        /// missing statements (one read, and one write only when something is missing).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        allow_topics: Vec<String>,
    },
    /// `sqs:DeleteQueue` (no error when absent).
    DeleteQueue {
        /// Name.
        name: String,
    },
    /// `sqs:SetQueueAttributes`.
    SetQueueAttributes {
        /// Queue.
        queue: String,
        /// Attributes.
        attributes: Attributes,
    },
    /// `sqs:TagQueue`.
    TagQueue {
        /// Queue.
        queue: String,
        /// Tags to set.
        tags: Tags,
    },
    /// `sqs:UntagQueue`.
    UntagQueue {
        /// Queue.
        queue: String,
        /// Keys to remove.
        keys: Vec<String>,
    },
    /// `sqs:GetQueueAttributes` + `sqs:SetQueueAttributes` of `Policy`: add the statement that
    /// lets the topic send to the queue (skipped when present).
    AllowTopic {
        /// Queue.
        queue: String,
        /// Topic.
        topic: String,
    },
    /// The reverse of [`Call::AllowTopic`].
    RevokeTopic {
        /// Queue.
        queue: String,
        /// Topic.
        topic: String,
    },
    /// `sns:Subscribe` (returns the existing subscription when it exists).
    Subscribe {
        /// Topic.
        topic: String,
        /// Endpoint.
        endpoint: Endpoint,
        /// Attributes.
        attributes: Attributes,
    },
    /// `sns:ListSubscriptionsByTopic` + `sns:Unsubscribe` (no error when absent).
    Unsubscribe {
        /// Topic.
        topic: String,
        /// Endpoint.
        endpoint: Endpoint,
    },
    /// `sns:ListSubscriptionsByTopic` + `sns:SetSubscriptionAttributes`.
    SetSubscriptionAttribute {
        /// Topic.
        topic: String,
        /// Endpoint.
        endpoint: Endpoint,
        /// Attribute.
        key: String,
        /// Value.
        value: String,
    },
}

impl fmt::Display for Call {
    /// One line per call, `service:Action name key=value...`, for `--dry-run`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn kv(map: &BTreeMap<String, String>) -> String {
            map.iter().map(|(k, v)| format!(" {k}={v}")).collect()
        }
        match self {
            Call::CreateTopic { name, attributes, tags } => {
                write!(f, "sns:CreateTopic {name}{}", kv(attributes))?;
                if !tags.is_empty() {
                    write!(f, " Tags:{}", kv(tags))?;
                }
                Ok(())
            }
            Call::DeleteTopic { name } => write!(f, "sns:DeleteTopic {name}"),
            Call::SetTopicAttribute { topic, key, value } => {
                write!(f, "sns:SetTopicAttributes {topic} {key}={value}")
            }
            Call::TagTopic { topic, tags } => write!(f, "sns:TagResource {topic}{}", kv(tags)),
            Call::UntagTopic { topic, keys } => write!(f, "sns:UntagResource {topic} {}", keys.join(",")),
            Call::CreateQueue { name, attributes, tags, allow_topics, .. } => {
                write!(f, "sqs:CreateQueue {name}{}", kv(attributes))?;
                if !allow_topics.is_empty() {
                    let topics: Vec<String> = allow_topics.iter().map(|t| format!("sns:{t}")).collect();
                    write!(f, " Policy=(allow {} to SendMessage)", topics.join(", "))?;
                }
                if !tags.is_empty() {
                    write!(f, " Tags:{}", kv(tags))?;
                }
                Ok(())
            }
            Call::DeleteQueue { name } => write!(f, "sqs:DeleteQueue {name}"),
            Call::SetQueueAttributes { queue, attributes } => {
                write!(f, "sqs:SetQueueAttributes {queue}{}", kv(attributes))
            }
            Call::TagQueue { queue, tags } => write!(f, "sqs:TagQueue {queue}{}", kv(tags)),
            Call::UntagQueue { queue, keys } => write!(f, "sqs:UntagQueue {queue} {}", keys.join(",")),
            Call::AllowTopic { queue, topic } => write!(
                f,
                "sqs:GetQueueAttributes {queue} Policy; sqs:SetQueueAttributes {queue} Policy (+ allow sns:{topic} to SendMessage)"
            ),
            Call::RevokeTopic { queue, topic } => write!(
                f,
                "sqs:GetQueueAttributes {queue} Policy; sqs:SetQueueAttributes {queue} Policy (- allow sns:{topic})"
            ),
            Call::Subscribe { topic, endpoint, attributes } => write!(
                f,
                "sns:Subscribe {topic} -> {} {}{}",
                protocol(endpoint),
                endpoint.name(),
                kv(attributes)
            ),
            Call::Unsubscribe { topic, endpoint } => write!(
                f,
                "sns:ListSubscriptionsByTopic {topic}; sns:Unsubscribe {topic} -> {} {}",
                protocol(endpoint),
                endpoint.name()
            ),
            Call::SetSubscriptionAttribute { topic, endpoint, key, value } => write!(
                f,
                "sns:ListSubscriptionsByTopic {topic}; sns:SetSubscriptionAttributes {topic} -> {} {key}={value}",
                endpoint.name()
            ),
        }
    }
}

/// The SNS protocol of an endpoint.
pub fn protocol(endpoint: &Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Queue(_) => "sqs",
        Endpoint::Topic(_) => "sns",
    }
}

/// The AWS calls of one operation, in order.
pub fn calls(op: &Operation, arns: &Arns) -> Vec<Call> {
    if external::is_external(op) {
        // checked before the run (`external::checks`), never created or deleted
        return Vec::new();
    }
    match op {
        Operation::CreateTopic(t) => vec![Call::CreateTopic {
            name: t.name.clone(),
            attributes: topic_attributes(t, true),
            tags: resource_tags(&t.naming, &t.tags),
        }],
        Operation::DeleteTopic(t) => vec![Call::DeleteTopic {
            name: t.name.clone(),
        }],
        Operation::ChangeTopic { before, after } => {
            let mut out: Vec<Call> = changed(
                &topic_attributes(before, false),
                &topic_attributes(after, false),
                topic_default,
            )
            .into_iter()
            .map(|(key, value)| Call::SetTopicAttribute {
                topic: after.name.clone(),
                key,
                value,
            })
            .collect();
            let (set, unset) = tag_changes(&before.tags, &after.tags);
            if !set.is_empty() {
                out.push(Call::TagTopic {
                    topic: after.name.clone(),
                    tags: set,
                });
            }
            if !unset.is_empty() {
                out.push(Call::UntagTopic {
                    topic: after.name.clone(),
                    keys: unset,
                });
            }
            out
        }
        Operation::CreateQueue(q) => vec![Call::CreateQueue {
            name: q.name.clone(),
            attributes: queue_attributes(q, arns, true),
            tags: resource_tags(&q.naming, &q.tags),
            tolerated: Vec::new(),
            allow_topics: Vec::new(),
        }],
        Operation::DeleteQueue(q) => vec![Call::DeleteQueue {
            name: q.name.clone(),
        }],
        Operation::ChangeQueue { before, after } => {
            let mut out = Vec::new();
            let attributes = changed(
                &queue_attributes(before, arns, false),
                &queue_attributes(after, arns, false),
                queue_default,
            );
            if !attributes.is_empty() {
                out.push(Call::SetQueueAttributes {
                    queue: after.name.clone(),
                    attributes,
                });
            }
            let (set, unset) = tag_changes(&before.tags, &after.tags);
            if !set.is_empty() {
                out.push(Call::TagQueue {
                    queue: after.name.clone(),
                    tags: set,
                });
            }
            if !unset.is_empty() {
                out.push(Call::UntagQueue {
                    queue: after.name.clone(),
                    keys: unset,
                });
            }
            out
        }
        // a topic-to-topic link has no AWS counterpart: its derived subscriptions make it real
        Operation::Subscribe(s)
        | Operation::Unsubscribe(s)
        | Operation::ChangeSubscription { after: s, .. }
            if matches!(s.key.endpoint, Endpoint::Topic(_)) =>
        {
            Vec::new()
        }
        Operation::Subscribe(s) => subscribe_calls(s, arns),
        Operation::SubscribeDerived(d) => subscribe_calls(&d.subscription, arns),
        Operation::Unsubscribe(s) => unsubscribe_calls(s),
        Operation::UnsubscribeDerived(d) => unsubscribe_calls(&d.subscription),
        Operation::ChangeSubscription { before, after } => {
            change_subscription_calls(before, after, arns)
        }
        Operation::ChangeDerived { before, after } => {
            change_subscription_calls(&before.subscription, &after.subscription, arns)
        }
        Operation::DeleteLegacy(l) => legacy::delete_calls(l),
        Operation::RestoreLegacy(l) => legacy::restore_calls(l),
    }
}

fn subscribe_calls(s: &Subscription, arns: &Arns) -> Vec<Call> {
    let mut out = Vec::new();
    if let Endpoint::Queue(queue) = &s.key.endpoint {
        out.push(Call::AllowTopic {
            queue: queue.clone(),
            topic: s.key.topic.clone(),
        });
    }
    out.push(Call::Subscribe {
        topic: s.key.topic.clone(),
        endpoint: s.key.endpoint.clone(),
        attributes: subscription_attributes(s, arns),
    });
    out
}

fn unsubscribe_calls(s: &Subscription) -> Vec<Call> {
    let mut out = vec![Call::Unsubscribe {
        topic: s.key.topic.clone(),
        endpoint: s.key.endpoint.clone(),
    }];
    if let Endpoint::Queue(queue) = &s.key.endpoint {
        out.push(Call::RevokeTopic {
            queue: queue.clone(),
            topic: s.key.topic.clone(),
        });
    }
    out
}

fn change_subscription_calls(
    before: &Subscription,
    after: &Subscription,
    arns: &Arns,
) -> Vec<Call> {
    changed(
        &subscription_attributes(before, arns),
        &subscription_attributes(after, arns),
        subscription_default,
    )
    .into_iter()
    .map(|(key, value)| Call::SetSubscriptionAttribute {
        topic: after.key.topic.clone(),
        endpoint: after.key.endpoint.clone(),
        key,
        value,
    })
    .collect()
}

/// The calls of a whole plan, steps by operations by calls. Two rewrites make it one request
/// per topic, queue and subscription on a fresh account:
///
/// - a queue created in the plan gets its access policy in `CreateQueue`: every topic the
///   plan subscribes to it afterwards (derived subscriptions included), up to the first call
///   that changes its attributes or policy otherwise;
/// - a policy statement is not revoked from a queue that the plan deletes afterwards.
///
/// A queue created in the plan also tolerates the attributes that later steps of the same plan
/// give it (a re-run after a crash may find the queue already changed).
pub fn plan_calls(plan: &Plan, arns: &Arns) -> Vec<Vec<Vec<Call>>> {
    let mut later: BTreeMap<String, Vec<Attributes>> = BTreeMap::new();
    for step in &plan.steps {
        for op in &step.ops {
            if let Operation::ChangeQueue { after, .. } = op {
                later
                    .entry(after.name.clone())
                    .or_default()
                    .push(queue_attributes(after, arns, true));
            }
        }
    }
    let mut out: Vec<Vec<Vec<Call>>> = plan
        .steps
        .iter()
        .map(|step| {
            step.ops
                .iter()
                .map(|op| {
                    let mut calls = calls(op, arns);
                    for call in &mut calls {
                        if let Call::CreateQueue {
                            name, tolerated, ..
                        } = call
                        {
                            *tolerated = later.get(name.as_str()).cloned().unwrap_or_default();
                        }
                    }
                    calls
                })
                .collect()
        })
        .collect();
    fold_policies(&mut out);
    drop_doomed_revokes(&mut out);
    out
}

/// Where one call sits in [`plan_calls`]' output: step, operation, call.
type CallIndex = (usize, usize, usize);

fn call_indices(calls: &[Vec<Vec<Call>>]) -> Vec<CallIndex> {
    let mut out = Vec::new();
    for (s, step) in calls.iter().enumerate() {
        for (o, op) in step.iter().enumerate() {
            out.extend((0..op.len()).map(|c| (s, o, c)));
        }
    }
    out
}

/// Moves each [`Call::AllowTopic`] into the [`Call::CreateQueue`] of its queue earlier in the
/// plan, as long as nothing in between touches the queue's attributes or policy: a
/// `SetQueueAttributes` (moto's erases the policy), a revoke, a delete or another create.
///
/// Crash-safe: a re-run that finds the queue created (the step not recorded) sends the same
/// `CreateQueue`, which AWS answers with the queue when nothing differs, and which converges
/// the policy when something does; a re-run after the step was recorded plans the later
/// subscriptions' `AllowTopic` calls again, and finds their statements already there.
fn fold_policies(calls: &mut [Vec<Vec<Call>>]) {
    let mut open: BTreeMap<String, CallIndex> = BTreeMap::new();
    let mut folded: Vec<(CallIndex, CallIndex)> = Vec::new();
    for at in call_indices(calls) {
        let (s, o, c) = at;
        match &calls[s][o][c] {
            Call::CreateQueue { name, .. } => {
                open.insert(name.clone(), at);
            }
            Call::AllowTopic { queue, .. } => {
                if let Some(&create) = open.get(queue) {
                    folded.push((at, create));
                }
            }
            Call::RevokeTopic { queue, .. }
            | Call::SetQueueAttributes { queue, .. }
            | Call::DeleteQueue { name: queue } => {
                open.remove(queue);
            }
            _ => {}
        }
    }
    // back to front, so that removing a call leaves the indices still to visit valid
    for ((s, o, c), (cs, co, cc)) in folded.into_iter().rev() {
        let Call::AllowTopic { topic, .. } = calls[s][o].remove(c) else {
            continue;
        };
        if let Call::CreateQueue { allow_topics, .. } = &mut calls[cs][co][cc] {
            if !allow_topics.contains(&topic) {
                allow_topics.insert(0, topic);
            }
        }
    }
}

/// Drops each [`Call::RevokeTopic`] whose queue the plan deletes afterwards (without creating
/// it again in between): deleting the queue deletes its policy.
///
/// A run that stops between the two leaves the statement on the queue, naming a topic that no
/// subscription of it uses any more, until the same command is run again and deletes the
/// queue; a `migrate` instead finds the statement it would add already there.
fn drop_doomed_revokes(calls: &mut [Vec<Vec<Call>>]) {
    let mut doomed: BTreeSet<String> = BTreeSet::new();
    for (s, o, c) in call_indices(calls).into_iter().rev() {
        match &calls[s][o][c] {
            Call::DeleteQueue { name } => {
                doomed.insert(name.clone());
            }
            Call::CreateQueue { name, .. } => {
                doomed.remove(name);
            }
            Call::RevokeTopic { queue, .. } if doomed.contains(queue) => {
                calls[s][o].remove(c);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
