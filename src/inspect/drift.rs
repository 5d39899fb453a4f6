//! Comparing the declared topology with the account, in AWS terms: attributes through the
//! maps the planner sends, lariat's tags, and the queue policy statements subscriptions need.

use std::collections::{BTreeMap, BTreeSet};

use crate::calls::external::ExternalCheck;
use crate::calls::{self, Attributes};
use crate::migrator::{Error, Migrator};
use crate::naming::{foreign_parts, Arns, ParsedName, ResourceKind};
use crate::plan::{State, Status};
use crate::topology::{Endpoint, External, Queue, SubscriptionKey, Tags, Topic, Topology};

use super::{
    read_live, Difference, Differing, Drift, DriftReport, Live, Progress, Resource, Scope,
};

/// Queue attributes compared only when the files declare them: AWS changed their defaults
/// (256 KiB → 1 MiB messages in 2025, SSE-SQS on by default since 2022), so an undeclared value
/// says nothing about drift.
const UNDECLARED_NOT_COMPARED: &[&str] = &["MaximumMessageSize", "SqsManagedSseEnabled"];

/// Compares the declared topology with the account. `unexpected` holds only resources of
/// `scope`'s instance (a subscription counts when its topic or its endpoint is in scope).
pub fn drift(declared: &Topology, live: &Live, arns: &Arns, scope: &Scope) -> Drift {
    let mut drift = Drift::default();
    let actual = &live.topology;
    let adopted = |kind: ResourceKind, name: &str| scope.adopted.contains(&(kind, name.to_owned()));
    let topics = Side {
        kind: ResourceKind::Topic,
        external: |t: &Topic| t.external.as_ref(),
        differences: &|name: &str, d: &Topic, l: &Topic| {
            let mut differences = compare(
                &calls::topic_attributes(d, false),
                &calls::topic_attributes(l, false),
                calls::topic_default,
            );
            let adopted = adopted(ResourceKind::Topic, name);
            differences.extend(compare_tags(&d.naming, &d.tags, &l.tags, adopted));
            differences
        },
    };
    topics.compare(&mut drift, &declared.topics, &actual.topics);
    let queues = Side {
        kind: ResourceKind::Queue,
        external: |q: &Queue| q.external.as_ref(),
        differences: &|name: &str, d: &Queue, l: &Queue| {
            let mut differences = compare(
                &calls::queue_attributes(d, arns, false),
                &calls::queue_attributes(l, arns, false),
                calls::queue_default,
            );
            let adopted = adopted(ResourceKind::Queue, name);
            differences.extend(compare_tags(&d.naming, &d.tags, &l.tags, adopted));
            differences.extend(missing_statements(declared, live, arns, name, scope));
            differences
        },
    };
    queues.compare(&mut drift, &declared.queues, &actual.queues);
    let expected = declared.on_aws();
    for (key, (d, _)) in &expected {
        if foreign_parts(&key.topic).is_some() {
            // a subscription to another account's or region's topic is listed there, not here
            continue;
        }
        let resource = Resource::Subscription((*key).clone());
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
    let unexpected_subscriptions = actual
        .subscriptions
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .filter(|k| {
            scope.contains(ResourceKind::Topic, &k.topic)
                || scope.contains(k.endpoint.resource(), k.endpoint.name())
        })
        .map(|k| Resource::Subscription(k.clone()));
    drift.unexpected = unexpected(ResourceKind::Topic, &declared.topics, &actual.topics, scope)
        .chain(unexpected(
            ResourceKind::Queue,
            &declared.queues,
            &actual.queues,
            scope,
        ))
        .chain(unexpected_subscriptions)
        .collect();
    drift
}

/// How [`drift`] compares the topics (or the queues) of both sides.
struct Side<'f, T> {
    kind: ResourceKind,
    external: fn(&T) -> Option<&External>,
    /// What differs between the declared and the live one of this name.
    differences: &'f dyn Fn(&str, &T, &T) -> Vec<Difference>,
}

impl<T> Side<'_, T> {
    /// Each declared one is missing, differing, or (another service's) missing external.
    fn compare(
        &self,
        drift: &mut Drift,
        declared: &BTreeMap<String, T>,
        actual: &BTreeMap<String, T>,
    ) {
        for (name, d) in declared {
            let resource = Resource::of(self.kind, name.clone());
            if let Some(external) = (self.external)(d) {
                // another account's or region's is looked up by `drift_of`
                if !external.is_foreign() && !actual.contains_key(name) {
                    drift.missing_external.push(resource);
                }
                continue;
            }
            match actual.get(name) {
                None => drift.missing.push(resource),
                Some(l) => push_differing(drift, resource, (self.differences)(name, d, l)),
            }
        }
    }
}

/// The topics (or queues) of the instance in the account that the files do not declare.
fn unexpected<'a, T>(
    kind: ResourceKind,
    declared: &'a BTreeMap<String, T>,
    actual: &'a BTreeMap<String, T>,
    scope: &'a Scope,
) -> impl Iterator<Item = Resource> + 'a {
    actual
        .keys()
        .filter(|n| !declared.contains_key(*n))
        .filter(move |n| scope.of_instance(kind, n))
        .map(move |n| Resource::of(kind, n.clone()))
}

fn push_differing(drift: &mut Drift, resource: Resource, differences: Vec<Difference>) {
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
            drift
                .missing_external
                .push(Resource::of(check.resource, check.key));
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
