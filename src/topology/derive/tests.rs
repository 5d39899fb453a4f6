use serde_json::json;

use super::*;
use crate::naming::{self, ResourceKind};
use crate::topology::{Queue, Topic};

fn topic(name: &str) -> Topic {
    Topic {
        name: name.into(),
        naming: naming::parse(ResourceKind::Topic, name),
        attributes: Default::default(),
        tags: Default::default(),
        external: None,
    }
}

fn queue(name: &str) -> Queue {
    Queue {
        name: name.into(),
        naming: naming::parse(ResourceKind::Queue, name),
        attributes: Default::default(),
        tags: Default::default(),
        external: None,
    }
}

/// A topology of `links` (topic → topic) and `subs` (topic → queue); every name exists.
fn topology(links: &[(&str, &str)], subs: &[(&str, &str)]) -> Topology {
    let mut t = Topology::default();
    for (from, to) in links {
        t.topics.insert((*from).into(), topic(from));
        t.topics.insert((*to).into(), topic(to));
        link(&mut t, from, to, SubscriptionAttributes::default());
    }
    for (from, to) in subs {
        t.topics.insert((*from).into(), topic(from));
        t.queues.insert((*to).into(), queue(to));
        subscribe(&mut t, from, to, SubscriptionAttributes::default());
    }
    t
}

fn link(t: &mut Topology, from: &str, to: &str, attributes: SubscriptionAttributes) {
    let key = SubscriptionKey {
        topic: from.into(),
        endpoint: Endpoint::Topic(to.into()),
    };
    t.subscriptions
        .insert(key.clone(), Subscription { key, attributes });
}

fn subscribe(t: &mut Topology, from: &str, to: &str, attributes: SubscriptionAttributes) {
    let key = SubscriptionKey {
        topic: from.into(),
        endpoint: Endpoint::Queue(to.into()),
    };
    t.subscriptions
        .insert(key.clone(), Subscription { key, attributes });
}

fn filtered(policy: serde_json::Value) -> SubscriptionAttributes {
    SubscriptionAttributes {
        filter_policy: Some(policy),
        ..Default::default()
    }
}

/// `topic -> queue (via a, b)` per derived subscription, in order.
fn pairs(derived: &BTreeMap<SubscriptionKey, Derived>) -> Vec<String> {
    derived
        .values()
        .map(|d| {
            format!(
                "{} -> {} ({})",
                d.subscription.key.topic,
                d.subscription.key.endpoint.name(),
                d.via_text()
            )
        })
        .collect()
}

#[test]
fn each_queue_of_the_target_is_subscribed_to_the_upstream_topic() {
    let t = topology(
        &[("client", "user"), ("manager", "user")],
        &[("user", "mailer"), ("user", "stat")],
    );
    assert_eq!(
        pairs(&derive(&t).unwrap()),
        [
            "client -> mailer (via user)",
            "client -> stat (via user)",
            "manager -> mailer (via user)",
            "manager -> stat (via user)",
        ]
    );
}

#[test]
fn no_links_derive_nothing() {
    let t = topology(&[], &[("user", "mailer")]);
    assert!(derive(&t).unwrap().is_empty());
}

#[test]
fn chains_resolve_transitively() {
    let t = topology(&[("a", "b"), ("b", "c")], &[("b", "qb"), ("c", "qc")]);
    assert_eq!(
        pairs(&derive(&t).unwrap()),
        ["a -> qb (via b)", "a -> qc (via b -> c)", "b -> qc (via c)",]
    );
}

#[test]
fn a_cycle_is_an_error_naming_it() {
    let t = topology(&[("a", "b"), ("b", "c"), ("c", "a")], &[("c", "q")]);
    let e = derive(&t).unwrap_err();
    assert_eq!(
        e.message,
        "topic-to-topic links form a cycle: a -> b -> c -> a"
    );
    assert_eq!(e.subscriptions.len(), 3);
    assert!(e.help.contains("remove one"), "{}", e.help);
}

#[test]
fn a_two_topic_cycle_is_an_error() {
    let t = topology(&[("a", "b"), ("b", "a")], &[]);
    let e = derive(&t).unwrap_err();
    assert_eq!(e.message, "topic-to-topic links form a cycle: a -> b -> a");
}

#[test]
fn raw_delivery_and_dead_letter_queue_come_from_the_queue_subscription() {
    let mut t = topology(&[("client", "user")], &[]);
    t.queues.insert("mailer".into(), queue("mailer"));
    t.queues.insert("dead".into(), queue("dead"));
    let attributes = SubscriptionAttributes {
        raw_message_delivery: Some(true),
        dead_letter_queue: Some("dead".into()),
        ..Default::default()
    };
    subscribe(&mut t, "user", "mailer", attributes.clone());
    let derived = derive(&t).unwrap();
    let d = derived.values().next().unwrap();
    assert_eq!(d.subscription.attributes, attributes);
    assert_eq!(d.source().topic, "user");
}

#[test]
fn the_link_filter_and_the_queue_filter_combine_by_and() {
    let mut t = topology(&[], &[]);
    for name in ["client", "user"] {
        t.topics.insert(name.into(), topic(name));
    }
    t.queues.insert("mailer".into(), queue("mailer"));
    link(
        &mut t,
        "client",
        "user",
        filtered(json!({"source": ["web", "app"], "plan": ["pro"]})),
    );
    subscribe(
        &mut t,
        "user",
        "mailer",
        filtered(json!({"source": ["app", "cli"], "lang": ["de"]})),
    );
    let derived = derive(&t).unwrap();
    let a = &derived.values().next().unwrap().subscription.attributes;
    assert_eq!(
        a.filter_policy,
        Some(json!({"source": ["app"], "plan": ["pro"], "lang": ["de"]}))
    );
}

#[test]
fn a_filter_only_on_the_link_applies_to_every_queue() {
    let mut t = topology(&[], &[("user", "mailer")]);
    t.topics.insert("client".into(), topic("client"));
    let mut scoped = filtered(json!({"source": ["web"]}));
    scoped.filter_policy_scope = Some(FilterPolicyScope::MessageBody);
    link(&mut t, "client", "user", scoped.clone());
    let derived = derive(&t).unwrap();
    let a = &derived.values().next().unwrap().subscription.attributes;
    assert_eq!(a.filter_policy, scoped.filter_policy);
    assert_eq!(a.filter_policy_scope, Some(FilterPolicyScope::MessageBody));
}

#[test]
fn filters_that_cannot_be_combined_are_an_error_with_a_fix() {
    let mut t = topology(&[], &[]);
    for name in ["client", "user"] {
        t.topics.insert(name.into(), topic(name));
    }
    t.queues.insert("mailer".into(), queue("mailer"));
    link(
        &mut t,
        "client",
        "user",
        filtered(json!({"amount": [{"numeric": [">", 1]}]})),
    );
    subscribe(&mut t, "user", "mailer", filtered(json!({"amount": ["5"]})));
    let e = derive(&t).unwrap_err();
    assert!(
        e.message.starts_with("the filter policies from topic client to queue mailer cannot be combined: both filter on `amount`"),
        "{}",
        e.message
    );
    assert!(
        e.help.contains("one of the two subscriptions"),
        "{}",
        e.help
    );
}

#[test]
fn string_lists_without_a_common_value_are_an_error() {
    let e = merge_filter_policies(&json!({"k": ["a"]}), &json!({"k": ["b"]})).unwrap_err();
    assert!(e.0.contains("no value passes both"), "{}", e.0);
}

#[test]
fn identical_conditions_merge_whatever_they_are() {
    let cond = json!({"amount": [{"numeric": [">", 1]}]});
    assert_eq!(merge_filter_policies(&cond, &cond).unwrap(), cond);
}

#[test]
fn different_filter_scopes_are_an_error() {
    let mut body = filtered(json!({"a": ["x"]}));
    body.filter_policy_scope = Some(FilterPolicyScope::MessageBody);
    let e = combine(&body, &filtered(json!({"b": ["y"]}))).unwrap_err();
    assert!(
        e.0.contains("MessageBody") && e.0.contains("MessageAttributes"),
        "{}",
        e.0
    );
}

#[test]
fn a_queue_declared_on_the_upstream_topic_too_is_an_error() {
    let mut t = topology(&[("client", "user")], &[("user", "mailer")]);
    subscribe(
        &mut t,
        "client",
        "mailer",
        SubscriptionAttributes::default(),
    );
    let e = derive(&t).unwrap_err();
    assert!(e.message.contains("would arrive twice"), "{}", e.message);
    assert!(
        e.help.contains("remove the direct [[subscribe]]"),
        "{}",
        e.help
    );
}

#[test]
fn two_paths_with_the_same_attributes_give_one_subscription() {
    let t = topology(
        &[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
        &[("d", "q")],
    );
    let derived = derive(&t).unwrap();
    let from_a: Vec<_> = derived.keys().filter(|k| k.topic == "a").collect();
    assert_eq!(from_a.len(), 1);
}

#[test]
fn two_paths_with_different_filters_are_an_error() {
    let mut t = topology(&[("a", "c"), ("b", "d")], &[("c", "q")]);
    link(&mut t, "a", "b", filtered(json!({"k": ["x"]})));
    subscribe(&mut t, "d", "q", SubscriptionAttributes::default());
    let e = derive(&t).unwrap_err();
    assert!(
        e.message.contains("two links with different attributes"),
        "{}",
        e.message
    );
}
