//! Topic-to-topic links made real. `[[subscribe]] topic = U, target_topic = T` means
//! "everything published to U reaches T's subscribers". AWS has no topic-to-topic protocol, so
//! lariat subscribes every queue of T to U directly: a *derived* subscription U → Q for each
//! declared T → Q, transitively through chains U → T → T2 → Q.
//!
//! Derived subscriptions are a pure function of the declared topology ([`derive()`]); replay
//! computes them at every version, and the difference between two versions becomes the
//! operations that subscribe, change or unsubscribe them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::migration::FilterPolicyScope;
use crate::topology::{Endpoint, Subscription, SubscriptionAttributes, SubscriptionKey, Topology};

/// A subscription lariat makes because of topic-to-topic links: topic U → queue Q, standing in
/// for U → `via`… → Q.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Derived {
    /// The subscription as AWS holds it: the upstream topic U to the queue, with the queue
    /// subscription's raw delivery and dead-letter queue and the combined filter policy.
    #[serde(flatten)]
    pub subscription: Subscription,
    /// The topics between U and the queue, in order: the first is U's link target, the last
    /// the topic the queue is declared on.
    pub via: Vec<String>,
}

impl Derived {
    /// `via T` or `via T -> T2`, for listings.
    pub fn via_text(&self) -> String {
        format!("via {}", self.via.join(" -> "))
    }

    /// The declared subscription it copies: the last topic of `via` to the queue.
    pub fn source(&self) -> SubscriptionKey {
        SubscriptionKey {
            topic: self.via.last().cloned().unwrap_or_default(),
            endpoint: self.subscription.key.endpoint.clone(),
        }
    }
}

/// Why the declared links cannot be made real.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeriveError {
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
    /// The declared subscriptions involved, to point at the line that declares one of them.
    pub subscriptions: Vec<SubscriptionKey>,
}

/// Every derived subscription of `topology`, by key (topic U → queue Q).
///
/// Errors: links that form a cycle; a queue that would be subscribed to U twice (directly and
/// through a link, or through two links with different attributes); filter policies that
/// cannot be combined.
pub fn derive(topology: &Topology) -> Result<BTreeMap<SubscriptionKey, Derived>, DeriveError> {
    let mut links: BTreeMap<&str, Vec<&Subscription>> = BTreeMap::new();
    let mut queues: BTreeMap<&str, Vec<&Subscription>> = BTreeMap::new();
    for sub in topology.subscriptions.values() {
        let by = match sub.key.endpoint {
            Endpoint::Topic(_) => &mut links,
            Endpoint::Queue(_) => &mut queues,
        };
        by.entry(sub.key.topic.as_str()).or_default().push(sub);
    }
    let mut out: BTreeMap<SubscriptionKey, Derived> = BTreeMap::new();
    for upstream in links.keys() {
        let mut walk = Walk {
            links: &links,
            queues: &queues,
            upstream,
            path: vec![upstream],
            found: Vec::new(),
        };
        walk.from(upstream, &SubscriptionAttributes::default())?;
        for derived in walk.found {
            add(topology, &mut out, derived)?;
        }
    }
    Ok(out)
}

/// Depth-first search from one upstream topic along its links.
struct Walk<'a> {
    links: &'a BTreeMap<&'a str, Vec<&'a Subscription>>,
    queues: &'a BTreeMap<&'a str, Vec<&'a Subscription>>,
    upstream: &'a str,
    path: Vec<&'a str>,
    found: Vec<Derived>,
}

impl<'a> Walk<'a> {
    /// Follows every link out of `topic`; `filter` holds the links' combined filter so far.
    fn from(&mut self, topic: &str, filter: &SubscriptionAttributes) -> Result<(), DeriveError> {
        let all: &'a BTreeMap<&'a str, Vec<&'a Subscription>> = self.links;
        let Some(links) = all.get(topic) else {
            return Ok(());
        };
        for &link in links {
            let target: &'a str = link.key.endpoint.name();
            if self.path.contains(&target) {
                let mut cycle: Vec<&str> = self.path.clone();
                cycle.push(target);
                let start = cycle.iter().position(|t| *t == target).unwrap_or(0);
                let cycle = &cycle[start..];
                return Err(DeriveError {
                    message: format!("topic-to-topic links form a cycle: {}", cycle.join(" -> ")),
                    help: "a message would go round forever; remove one of these [[subscribe]] target_topic links".to_owned(),
                    subscriptions: cycle
                        .windows(2)
                        .map(|w| SubscriptionKey {
                            topic: w[0].to_owned(),
                            endpoint: Endpoint::Topic(w[1].to_owned()),
                        })
                        .collect(),
                });
            }
            let combined = combine(filter, &link.attributes)
                .map_err(|(message, help)| self.filter_error(&link.key, None, message, help))?;
            self.path.push(target);
            let queues: &'a BTreeMap<&'a str, Vec<&'a Subscription>> = self.queues;
            for sub in queues.get(target).into_iter().flatten() {
                self.found_queue(sub, &combined)?;
            }
            self.from(target, &combined)?;
            self.path.pop();
        }
        Ok(())
    }

    fn found_queue(
        &mut self,
        sub: &Subscription,
        filter: &SubscriptionAttributes,
    ) -> Result<(), DeriveError> {
        let attributes = combine(filter, &sub.attributes).map_err(|(message, help)| {
            self.filter_error(&sub.key, Some(&sub.key), message, help)
        })?;
        self.found.push(Derived {
            subscription: Subscription {
                key: SubscriptionKey {
                    topic: self.upstream.to_owned(),
                    endpoint: sub.key.endpoint.clone(),
                },
                attributes,
            },
            via: self.path[1..].iter().map(|t| (*t).to_owned()).collect(),
        });
        Ok(())
    }

    fn filter_error(
        &self,
        at: &SubscriptionKey,
        queue: Option<&SubscriptionKey>,
        message: String,
        help: String,
    ) -> DeriveError {
        let mut subscriptions: Vec<SubscriptionKey> = self
            .path
            .windows(2)
            .map(|w| SubscriptionKey {
                topic: w[0].to_owned(),
                endpoint: Endpoint::Topic(w[1].to_owned()),
            })
            .collect();
        subscriptions.push(at.clone());
        subscriptions.dedup();
        let target = queue.map_or_else(|| at.endpoint.to_string(), |q| q.endpoint.to_string());
        DeriveError {
            message: format!(
                "the filter policies from topic {} to {target} cannot be combined: {message}",
                self.upstream
            ),
            help,
            subscriptions,
        }
    }
}

/// Adds a found subscription, refusing a second, different one for the same topic and queue.
fn add(
    topology: &Topology,
    out: &mut BTreeMap<SubscriptionKey, Derived>,
    derived: Derived,
) -> Result<(), DeriveError> {
    let key = derived.subscription.key.clone();
    if topology.subscriptions.contains_key(&key) {
        return Err(DeriveError {
            message: format!(
                "{} is declared, and the link {} also delivers to it: messages published to topic {} would arrive twice",
                key,
                link_text(&key.topic, &derived.via),
                key.topic
            ),
            help: format!(
                "remove the direct [[subscribe]] of {} to topic {} (the link already delivers), or remove the link",
                key.endpoint, key.topic
            ),
            subscriptions: vec![key.clone(), derived.source()],
        });
    }
    match out.get(&key) {
        None => {
            out.insert(key, derived);
        }
        // two paths with the same attributes: one subscription delivers once, as meant
        Some(existing) if existing.subscription.attributes == derived.subscription.attributes => {}
        Some(existing) => {
            return Err(DeriveError {
                message: format!(
                    "{} would come from two links with different attributes: {} and {}",
                    key,
                    link_text(&key.topic, &existing.via),
                    link_text(&key.topic, &derived.via)
                ),
                help: "AWS holds one subscription per topic and queue; give both paths the same filter policy and raw delivery, or remove one link".to_owned(),
                subscriptions: vec![existing.source(), derived.source()],
            });
        }
    }
    Ok(())
}

fn link_text(upstream: &str, via: &[String]) -> String {
    let mut parts = vec![upstream];
    parts.extend(via.iter().map(String::as_str));
    parts.join(" -> ")
}

type Refusal = (String, String);

/// The attributes of a subscription reached through a link with `upstream`'s filter: raw
/// delivery and dead-letter queue of `downstream`, the filter policies combined by AND.
pub fn combine(
    upstream: &SubscriptionAttributes,
    downstream: &SubscriptionAttributes,
) -> Result<SubscriptionAttributes, Refusal> {
    let (filter_policy, filter_policy_scope) = match (
        &upstream.filter_policy,
        &downstream.filter_policy,
    ) {
        (None, _) => (
            downstream.filter_policy.clone(),
            downstream.filter_policy_scope.clone(),
        ),
        (Some(_), None) => (
            upstream.filter_policy.clone(),
            upstream.filter_policy_scope.clone(),
        ),
        (Some(up), Some(down)) => {
            let scope = |s: &Option<FilterPolicyScope>| {
                s.clone().unwrap_or(FilterPolicyScope::MessageAttributes)
            };
            if scope(&upstream.filter_policy_scope) != scope(&downstream.filter_policy_scope) {
                return Err((
                    format!(
                        "one filters on {} and the other on {}",
                        scope(&upstream.filter_policy_scope),
                        scope(&downstream.filter_policy_scope)
                    ),
                    "give both filter policies the same `filter_policy_scope`, or subscribe the queue to the topic directly with one policy".to_owned(),
                ));
            }
            (
                Some(merge_filter_policies(up, down)?),
                downstream
                    .filter_policy_scope
                    .clone()
                    .or_else(|| upstream.filter_policy_scope.clone()),
            )
        }
    };
    Ok(SubscriptionAttributes {
        raw_message_delivery: downstream.raw_message_delivery,
        filter_policy,
        filter_policy_scope,
        dead_letter_queue: downstream.dead_letter_queue.clone(),
    })
}

/// Both filter policies at once: the keys of both; a key in both keeps the values both
/// accept, which lariat can compute for lists of plain strings (or identical values) only.
pub fn merge_filter_policies(
    a: &serde_json::Value,
    b: &serde_json::Value,
) -> Result<serde_json::Value, Refusal> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return Err((
            "a filter policy is not a JSON object".to_owned(),
            "write each filter_policy as a table".to_owned(),
        ));
    };
    let mut out = a.clone();
    for (key, value) in b {
        let Some(mine) = a.get(key) else {
            out.insert(key.clone(), value.clone());
            continue;
        };
        if mine == value {
            continue;
        }
        let (Some(left), Some(right)) = (plain_strings(mine), plain_strings(value)) else {
            return Err((
                format!("both filter on `{key}`, not with lists of plain strings ({mine} and {value})"),
                format!("keep the condition on `{key}` on one of the two subscriptions only, or subscribe the queue to the topic directly"),
            ));
        };
        let right: BTreeSet<&str> = right.into_iter().collect();
        let both: Vec<serde_json::Value> = left
            .into_iter()
            .filter(|v| right.contains(v))
            .map(|v| serde_json::Value::String(v.to_owned()))
            .collect();
        if both.is_empty() {
            return Err((
                format!("both filter on `{key}` and no value passes both ({mine} and {value}), so no message would arrive"),
                format!("let both policies accept a common value of `{key}`, or remove the link"),
            ));
        }
        out.insert(key.clone(), serde_json::Value::Array(both));
    }
    Ok(serde_json::Value::Object(out))
}

/// The values of a list of plain strings (`["a", "b"]`), else `None`.
fn plain_strings(value: &serde_json::Value) -> Option<Vec<&str>> {
    value.as_array()?.iter().map(|v| v.as_str()).collect()
}

#[cfg(test)]
mod tests;
