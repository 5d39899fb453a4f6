//! `lariat graph --live`: the part of the account a project cares about, with its declared
//! topic-to-topic links recognised, so that it can be drawn and diffed with `lariat graph`.

use std::collections::BTreeMap;

use crate::migrator::{Error, Migrator};
use crate::naming::ResourceKind;
use crate::topology::{Derived, Endpoint, SubscriptionKey, Topology};

use super::{read_live, Progress, Scope};

/// Only the resources in `scope`, and the subscriptions between them: the live counterpart of
/// a project's declared topology, for `lariat graph --live`.
pub fn restrict(topology: &Topology, scope: &Scope) -> Topology {
    let between = |key: &SubscriptionKey| {
        scope.contains(ResourceKind::Topic, &key.topic)
            && scope.contains(key.endpoint.resource(), key.endpoint.name())
    };
    Topology {
        topics: kept(&topology.topics, |name| {
            scope.contains(ResourceKind::Topic, name)
        }),
        queues: kept(&topology.queues, |name| {
            scope.contains(ResourceKind::Queue, name)
        }),
        subscriptions: kept(&topology.subscriptions, between),
        derived: kept(&topology.derived, between),
    }
}

/// The entries of `map` whose key passes `keep`.
fn kept<K: Ord + Clone, V: Clone>(
    map: &BTreeMap<K, V>,
    keep: impl Fn(&K) -> bool,
) -> BTreeMap<K, V> {
    map.iter()
        .filter(|(key, _)| keep(key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
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
        let present = |d: &&Derived| {
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
