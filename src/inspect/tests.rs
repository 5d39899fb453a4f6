use std::path::Path;

use super::*;
use crate::calls::{self, Attributes};
use crate::migration::FifoThroughputLimit;
use crate::naming::{self, Arns, Kind, NamingDefaults, ResourceKind};
use crate::plan::{State, Status};
use crate::topology::{load_project, DeadLetter, Endpoint, SubscriptionKey, Tags, Topology};

fn arns() -> Arns {
    Arns {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
    }
}

/// The example project of the repository, at its newest version.
fn example() -> Topology {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lariat/migrate");
    let defaults = NamingDefaults {
        instance: "test".into(),
        publisher: "registration".into(),
    };
    load_project(&dir, &defaults)
        .expect("the example project validates")
        .topology_at(None)
}

fn scope(declared: &Topology) -> Scope {
    Scope::new(Some("test".into()), declared)
}

/// What AWS (here: moto 5.2.5, as observed) answers for a topology lariat applied: the
/// declared attributes plus the defaults it fills in, lariat's tags, the queue policy
/// statements, string-typed JSON numbers, and derived subscriptions in place of
/// topic-to-topic links.
fn account_of(topology: &Topology) -> Inventory {
    let arns = arns();
    let topics = topology
        .topics
        .values()
        .map(|t| {
            let mut attributes = calls::topic_attributes(t, true);
            attributes.insert("DisplayName".into(), String::new());
            attributes.insert("TopicArn".into(), arns.topic(&t.name));
            attributes.insert("Owner".into(), arns.account_id.clone());
            LiveTopic {
                name: t.name.clone(),
                arn: arns.topic(&t.name),
                attributes,
                tags: calls::resource_tags(&t.naming, &t.tags),
            }
        })
        .collect();
    let queues = topology
        .queues
        .values()
        .map(|q| {
            let mut attributes = calls::queue_attributes(q, &arns, true);
            for (key, value) in [
                ("VisibilityTimeout", "30"),
                ("MessageRetentionPeriod", "345600"),
                ("MaximumMessageSize", "1048576"),
                ("DelaySeconds", "0"),
                ("ReceiveMessageWaitTimeSeconds", "0"),
                ("SqsManagedSseEnabled", "true"),
                ("ApproximateNumberOfMessages", "0"),
            ] {
                attributes.entry(key.into()).or_insert(value.into());
            }
            attributes.remove("RedriveAllowPolicy");
            if let Some(policy) = attributes.get_mut("RedrivePolicy") {
                *policy = policy.replace(r#""maxReceiveCount":"#, r#""maxReceiveCount": "#);
            }
            let mut policy = None;
            for key in topology.on_aws().into_keys() {
                if key.endpoint == Endpoint::Queue(q.name.clone()) {
                    policy = calls::policy_with_topic(
                        policy.as_deref(),
                        &arns.queue(&q.name),
                        &arns.topic(&key.topic),
                    )
                    .expect("valid policy")
                    .or(policy);
                }
            }
            if let Some(policy) = policy {
                attributes.insert("Policy".into(), policy);
            }
            LiveQueue {
                name: q.name.clone(),
                url: format!("http://127.0.0.1:4566/123456789012/{}", q.name),
                attributes,
                tags: calls::resource_tags(&q.naming, &q.tags),
            }
        })
        .collect();
    let subscriptions = topology
        .on_aws()
        .into_values()
        .map(|(s, _)| s)
        .enumerate()
        .map(|(i, s)| {
            let mut attributes = calls::subscription_attributes(s, &arns);
            attributes
                .entry("RawMessageDelivery".into())
                .or_insert("false".into());
            if attributes.contains_key("FilterPolicy") {
                attributes
                    .entry("FilterPolicyScope".into())
                    .or_insert("MessageAttributes".into());
            }
            LiveSubscription {
                arn: format!("{}:{i}", arns.topic(&s.key.topic)),
                topic_arn: arns.topic(&s.key.topic),
                protocol: calls::protocol(&s.key.endpoint).into(),
                endpoint: arns.endpoint(&s.key.endpoint),
                attributes,
            }
        })
        .collect();
    Inventory {
        topics,
        queues,
        subscriptions,
    }
}

fn queue_mut<'a>(inventory: &'a mut Inventory, name: &str) -> &'a mut LiveQueue {
    inventory
        .queues
        .iter_mut()
        .find(|q| q.name == name)
        .expect("queue in the inventory")
}

const MAILER: &str = "test-event-queue-registration-user_created-mailer.fifo";
const STATISTIC: &str = "test-event-queue-any-all-statistic";

#[test]
fn an_applied_topology_reads_back_as_itself() {
    let declared = example();
    let live = live(&account_of(&declared), &arns());
    assert_eq!(
        live.topology.topics.keys().collect::<Vec<_>>(),
        declared.topics.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        live.topology.subscriptions.keys().collect::<Vec<_>>(),
        declared.on_aws().into_keys().collect::<Vec<_>>(),
        "the derived subscriptions, and no topic-to-topic one"
    );
    let mailer = &live.topology.queues[MAILER];
    assert_eq!(mailer.naming, declared.queues[MAILER].naming);
    assert_eq!(mailer.attributes.visibility_timeout, Some(60));
    assert_eq!(
        mailer.attributes.dead_letter,
        Some(DeadLetter {
            queue: "test-event-queue-registration-user_created-mailer_dead.fifo".into(),
            max_receive_count: 5,
        })
    );
    let filtered = live
        .topology
        .subscriptions
        .values()
        .find(|s| s.key.topic == "test-event-fanout-orders-order_created")
        .expect("the filtered subscription");
    assert_eq!(
        filtered.attributes.filter_policy,
        Some(serde_json::json!({"amount": [{"numeric": [">=", 100]}]}))
    );
    assert_eq!(filtered.attributes.raw_message_delivery, Some(true));
    assert!(live.queue_policies.contains_key(STATISTIC));
}

/// The account holds no topic-to-topic link, only the subscriptions derived from it, which
/// the live graph recognises: it draws the link, and the derived subscriptions as derived.
#[test]
fn the_live_graph_equals_the_declared_graph() {
    let declared = example();
    let live = live(&account_of(&declared), &arns());
    let mut drawn = restrict(&live.topology, &scope(&declared));
    mark_derived(&mut drawn, &declared);
    assert_eq!(drawn.derived.len(), 4);
    for format in [crate::graph::Format::Dot, crate::graph::Format::Mermaid] {
        assert_eq!(
            crate::graph::render(&drawn, format),
            crate::graph::render(&declared, format)
        );
    }
}

#[test]
fn a_link_missing_a_derived_subscription_is_not_drawn() {
    let declared = example();
    let mut account = account_of(&declared);
    account.subscriptions.retain(|s| {
        !(s.topic_arn.ends_with("client_panel-client_created") && s.endpoint.ends_with("mailer"))
    });
    let live = live(&account, &arns());
    let mut drawn = restrict(&live.topology, &scope(&declared));
    mark_derived(&mut drawn, &declared);
    let links: Vec<_> = drawn
        .subscriptions
        .keys()
        .filter(|k| matches!(k.endpoint, Endpoint::Topic(_)))
        .map(|k| k.topic.as_str())
        .collect();
    assert_eq!(
        links,
        ["test-event-fanout-management_panel-manager_created"]
    );
    let report = drift(&declared, &live, &arns(), &scope(&declared));
    assert_eq!(report.missing.len(), 1, "{report:#?}");
}

#[test]
fn derived_subscriptions_are_expected_and_marked_in_listings() {
    let declared = example();
    let account = account_of(&declared);
    let live = live(&account, &arns());
    let report = drift(&declared, &live, &arns(), &scope(&declared));
    assert!(report.is_empty(), "{report:#?}");
    let mut listing = listing(&account, What::Subscriptions, &Filter::default(), &arns());
    mark_via(&mut listing, &declared);
    let Listing::Subscriptions(rows) = listing else {
        panic!("subscriptions")
    };
    let via: Vec<_> = rows.iter().filter_map(|r| r.via.as_deref()).collect();
    assert_eq!(via, ["via test-event-fanout-any-user_created"; 4]);
}

#[test]
fn no_drift_when_the_account_matches() {
    let declared = example();
    let live = live(&account_of(&declared), &arns());
    let drift = drift(&declared, &live, &arns(), &scope(&declared));
    assert_eq!(drift, Drift::default(), "{drift:#?}");
}

#[test]
fn policies_compare_as_json_not_text() {
    let declared = example();
    let mut account = account_of(&declared);
    let sub = account
        .subscriptions
        .iter_mut()
        .find(|s| s.attributes.contains_key("FilterPolicy"))
        .expect("a filtered subscription");
    sub.attributes.insert(
        "FilterPolicy".into(),
        "{\n  \"amount\": [ { \"numeric\": [\">=\", 100] } ]\n}".into(),
    );
    let live = live(&account, &arns());
    assert!(drift(&declared, &live, &arns(), &scope(&declared)).is_empty());
}

/// The typed attributes keep a value lariat does not know: it is drift, not dropped.
#[test]
fn an_unknown_fifo_throughput_limit_is_reported_as_read() {
    let declared = example();
    let mut account = account_of(&declared);
    queue_mut(&mut account, STATISTIC)
        .attributes
        .insert("FifoThroughputLimit".into(), "perSomethingNew".into());
    let live = live(&account, &arns());
    assert_eq!(
        live.topology.queues[STATISTIC]
            .attributes
            .fifo_throughput_limit,
        Some(FifoThroughputLimit::Other("perSomethingNew".into()))
    );
    let drift = drift(&declared, &live, &arns(), &scope(&declared));
    assert_eq!(
        drift.differing,
        vec![Differing {
            resource: Resource::Queue(STATISTIC.into()),
            differences: vec![Difference {
                attribute: "FifoThroughputLimit".into(),
                expected: Some("perQueue".into()),
                declared: false,
                live: Some("perSomethingNew".into()),
            }],
        }]
    );
}

#[test]
fn a_changed_attribute_and_a_stray_queue_are_drift() {
    let declared = example();
    let mut account = account_of(&declared);
    // declared 60
    queue_mut(&mut account, MAILER)
        .attributes
        .insert("VisibilityTimeout".into(), "90".into());
    // not declared: compared with the AWS default, 30
    queue_mut(&mut account, STATISTIC)
        .attributes
        .insert("VisibilityTimeout".into(), "45".into());
    for name in [
        "test-event-queue-stray-thing",
        "staging-event-queue-a-b",
        "legacy",
    ] {
        account.queues.push(LiveQueue {
            name: name.into(),
            url: format!("http://127.0.0.1:4566/123456789012/{name}"),
            attributes: Attributes::new(),
            tags: Tags::new(),
        });
    }
    let live = live(&account, &arns());
    let drift = drift(&declared, &live, &arns(), &scope(&declared));
    // another instance's queue and a custom name nobody declared are not this project's
    assert_eq!(
        drift.unexpected,
        vec![Resource::Queue("test-event-queue-stray-thing".into())]
    );
    assert!(drift.missing.is_empty());
    assert_eq!(
        drift.differing,
        vec![
            Differing {
                resource: Resource::Queue(STATISTIC.into()),
                differences: vec![Difference {
                    attribute: "VisibilityTimeout".into(),
                    expected: Some("30".into()),
                    declared: false,
                    live: Some("45".into()),
                }],
            },
            Differing {
                resource: Resource::Queue(MAILER.into()),
                differences: vec![Difference {
                    attribute: "VisibilityTimeout".into(),
                    expected: Some("60".into()),
                    declared: true,
                    live: Some("90".into()),
                }],
            },
        ]
    );
    assert_eq!(
        drift.differing[0].differences[0].to_string(),
        "VisibilityTimeout: expected 30 (AWS default), found 45"
    );
}

#[test]
fn changed_defaults_are_not_drift_unless_declared() {
    let declared = example();
    let mut account = account_of(&declared);
    let q = queue_mut(&mut account, STATISTIC);
    q.attributes
        .insert("MaximumMessageSize".into(), "262144".into());
    q.attributes
        .insert("SqsManagedSseEnabled".into(), "false".into());
    let live = live(&account, &arns());
    assert!(drift(&declared, &live, &arns(), &scope(&declared)).is_empty());
}

#[test]
fn missing_resources_subscriptions_and_statements_are_drift() {
    let declared = example();
    let mut account = account_of(&declared);
    account
        .topics
        .retain(|t| t.name != "test-event-fanout-orders-order_created");
    account.subscriptions.retain(|s| {
        !s.topic_arn
            .ends_with(":test-event-fanout-orders-order_created")
    });
    queue_mut(&mut account, MAILER).attributes.remove("Policy");
    let live = live(&account, &arns());
    let drift = drift(&declared, &live, &arns(), &scope(&declared));
    assert_eq!(
        drift.missing,
        vec![
            Resource::Topic("test-event-fanout-orders-order_created".into()),
            Resource::Subscription(SubscriptionKey {
                topic: "test-event-fanout-orders-order_created".into(),
                endpoint: Endpoint::Queue(STATISTIC.into()),
            }),
        ]
    );
    // the statistic queue's statement for the gone topic is still there: nothing to report
    assert_eq!(drift.differing.len(), 1, "{drift:#?}");
    assert_eq!(drift.differing[0].resource, Resource::Queue(MAILER.into()));
    assert_eq!(drift.differing[0].differences[0].attribute, "Policy");
    assert_eq!(drift.differing[0].differences[0].live, None);
}

#[test]
fn unexpected_subscriptions_touch_the_instance() {
    let declared = example();
    let mut account = account_of(&declared);
    let arns = arns();
    let extra = |topic: &str, queue: &str| LiveSubscription {
        arn: format!("{}:x", arns.topic(topic)),
        topic_arn: arns.topic(topic),
        protocol: "sqs".into(),
        endpoint: arns.queue(queue),
        attributes: Attributes::new(),
    };
    account.subscriptions.push(extra(
        "test-event-fanout-registration-user_created",
        "other-queue",
    ));
    account
        .subscriptions
        .push(extra("staging-event-fanout-a-b", "staging-event-queue-a-b"));
    account.subscriptions.push(LiveSubscription {
        protocol: "lambda".into(),
        endpoint: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
        ..extra("test-event-fanout-registration-user_created", "-")
    });
    let live = live(&account, &arns);
    let drift = drift(&declared, &live, &arns, &scope(&declared));
    assert_eq!(
        drift.unexpected,
        vec![Resource::Subscription(SubscriptionKey {
            topic: "test-event-fanout-registration-user_created".into(),
            endpoint: Endpoint::Queue("other-queue".into()),
        })]
    );
}

#[test]
fn tags_lariat_puts_must_be_there_others_may_be() {
    let declared = example();
    let mut account = account_of(&declared);
    let topic = account
        .topics
        .iter_mut()
        .find(|t| t.name == "test-event-fanout-registration-user_created.fifo")
        .expect("fifo topic");
    topic.tags.remove("team");
    topic.tags.insert("cost_center".into(), "42".into());
    let live = live(&account, &arns());
    let drift = drift(&declared, &live, &arns(), &scope(&declared));
    assert_eq!(drift.differing.len(), 1);
    assert_eq!(
        drift.differing[0].differences[0].to_string(),
        "tag team: expected identity, found (none)"
    );
}

#[test]
fn nothing_applied_means_everything_of_the_instance_is_unexpected() {
    let declared = Topology::default();
    let live = live(&account_of(&example()), &arns());
    let drift = drift(&declared, &live, &arns(), &scope(&declared));
    assert_eq!(drift.unexpected.len(), 6 + 6 + 10);
    assert!(drift.missing.is_empty() && drift.differing.is_empty());
}

#[test]
fn foreign_dead_letter_queues_differ() {
    let declared = example();
    let mut account = account_of(&declared);
    queue_mut(&mut account, MAILER).attributes.insert(
        "RedrivePolicy".into(),
        r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:999999999999:elsewhere","maxReceiveCount":5}"#
            .into(),
    );
    let live = live(&account, &arns());
    let drift = drift(&declared, &live, &arns(), &scope(&declared));
    assert_eq!(drift.differing.len(), 1);
    assert_eq!(drift.differing[0].differences[0].attribute, "RedrivePolicy");
}

#[test]
fn filters_match_parsed_parts() {
    let topic = |name: &str| naming::parse(ResourceKind::Topic, name);
    let filter = Filter {
        instance: Some("test".into()),
        publisher: None,
        kind: Some(Kind::Command),
    };
    assert!(filter.matches(&topic("test-command-fanout-a-b")));
    assert!(!filter.matches(&topic("test-event-fanout-a-b")));
    assert!(!filter.matches(&topic("prod-command-fanout-a-b")));
    assert!(!filter.matches(&topic("legacy")));
    assert!(Filter::default().matches(&topic("legacy")));
    let by_publisher = Filter {
        publisher: Some("orders".into()),
        ..Filter::default()
    };
    assert!(by_publisher.matches(&topic("x-event-fanout-orders-order_created.fifo")));
}

#[test]
fn listings_show_parsed_names_and_subscription_marks() {
    let mut account = account_of(&example());
    account.topics.push(LiveTopic {
        name: "legacy".into(),
        arn: arns().topic("legacy"),
        attributes: Attributes::new(),
        tags: Tags::new(),
    });
    account.subscriptions.push(LiveSubscription {
        arn: "PendingConfirmation".into(),
        topic_arn: arns().topic("legacy"),
        protocol: "https".into(),
        endpoint: "https://example.com/hook".into(),
        attributes: Attributes::new(),
    });
    let Listing::Topics(topics) = listing(&account, What::Topics, &Filter::default(), &arns())
    else {
        panic!("topics")
    };
    assert_eq!(topics.len(), 7);
    let json = serde_json::to_value(&topics).expect("rows serialize");
    assert_eq!(
        json[0],
        serde_json::json!({"name": "legacy", "naming": "custom", "fifo": false})
    );
    assert_eq!(
        json[1],
        serde_json::json!({
            "name": "test-event-fanout-any-user_created", "naming": "standard",
            "instance": "test", "kind": "event", "publisher": "any", "type": "user_created",
            "fifo": false
        })
    );

    let orders = Filter {
        publisher: Some("orders".into()),
        ..Filter::default()
    };
    let Listing::Subscriptions(subs) = listing(&account, What::Subscriptions, &orders, &arns())
    else {
        panic!("subscriptions")
    };
    assert_eq!(
        subs,
        vec![SubscriptionRow {
            topic: "test-event-fanout-orders-order_created".into(),
            endpoint: STATISTIC.into(),
            protocol: "sqs".into(),
            raw_message_delivery: Some(true),
            filter_policy: true,
            pending_confirmation: false,
            subscription_arn: format!(
                "{}:6",
                arns().topic("test-event-fanout-orders-order_created")
            ),
            via: None,
        }]
    );
    let Listing::Subscriptions(all) =
        listing(&account, What::Subscriptions, &Filter::default(), &arns())
    else {
        panic!("subscriptions")
    };
    let pending = all
        .iter()
        .find(|s| s.pending_confirmation)
        .expect("pending row");
    assert_eq!(pending.topic, "legacy");
    assert_eq!(pending.endpoint, "https://example.com/hook");
    assert_eq!(pending.raw_message_delivery, None);
}

#[test]
fn the_compared_version_is_the_newest_applied() {
    let status = |version: i64, state: State| Status {
        version,
        name: "m".into(),
        path: None,
        state,
        applied_at: None,
    };
    assert_eq!(compared_version(&[]), None);
    assert_eq!(
        compared_version(&[
            status(1, State::Applied),
            status(2, State::Modified),
            status(3, State::Interrupted),
            status(4, State::Pending),
        ]),
        Some(2)
    );
}
