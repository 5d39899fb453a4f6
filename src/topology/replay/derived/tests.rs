use std::fs;

use crate::diagnostic::Diagnostics;
use crate::naming::NamingDefaults;
use crate::topology::{load_project, Operation, Project};

fn load(files: &[(&str, &str)]) -> Result<Project, Diagnostics> {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        fs::write(dir.path().join(name), text).expect("write migration");
    }
    let defaults = NamingDefaults {
        instance: "t".into(),
        publisher: "p".into(),
    };
    load_project(dir.path(), &defaults)
}

const TOPICS: &str = r#"
[[create_topic]]
type = "client_created"
[[create_topic]]
type = "user_created"
[[create_queue]]
type = "user_created"
dest = "mailer"
[[subscribe]]
topic = { type = "user_created" }
queue = { type = "user_created", dest = "mailer" }
raw_message_delivery = true
"#;

const LINK: &str = r#"
[[subscribe]]
topic = { type = "client_created" }
target_topic = { type = "user_created" }
"#;

const THIRD: &str = r#"
[[create_queue]]
type = "user_created"
dest = "audit"
[[subscribe]]
topic = { type = "user_created" }
queue = { type = "user_created", dest = "audit" }
"#;

fn described(ops: &[Operation]) -> Vec<String> {
    ops.iter().map(Operation::describe).collect()
}

const MAILER: &str = "topic t-event-fanout-p-client_created -> queue t-event-queue-p-user_created-mailer (via t-event-fanout-p-user_created)";
const AUDIT: &str = "topic t-event-fanout-p-client_created -> queue t-event-queue-p-user_created-audit (via t-event-fanout-p-user_created)";

#[test]
fn a_link_subscribes_the_targets_queues_and_rollback_removes_them() {
    let project = load(&[
        ("20240101000001_topics.toml", TOPICS),
        ("20240101000002_link.toml", LINK),
    ])
    .expect("valid");
    let link = &project.migrations[1];
    assert_eq!(
        described(&link.up),
        [
            "subscribe topic t-event-fanout-p-client_created -> topic t-event-fanout-p-user_created".to_owned(),
            format!("subscribe {MAILER}"),
        ]
    );
    assert_eq!(
        described(&link.down),
        [
            format!("unsubscribe {MAILER}"),
            "unsubscribe topic t-event-fanout-p-client_created -> topic t-event-fanout-p-user_created".to_owned(),
        ]
    );
    let Operation::SubscribeDerived(d) = &link.up[1] else {
        panic!("derived")
    };
    assert_eq!(d.subscription.attributes.raw_message_delivery, Some(true));
    assert_eq!(project.topology_at(None).derived.len(), 1);
    assert!(project.topology_at(Some(20240101000001)).derived.is_empty());
}

#[test]
fn a_queue_added_to_the_target_later_is_subscribed_upstream_too() {
    let project = load(&[
        ("20240101000001_topics.toml", TOPICS),
        ("20240101000002_link.toml", LINK),
        ("20240101000003_third.toml", THIRD),
    ])
    .expect("valid");
    let third = &project.migrations[2];
    assert_eq!(
        described(&third.up).last().unwrap(),
        &format!("subscribe {AUDIT}")
    );
    assert_eq!(described(&third.down)[0], format!("unsubscribe {AUDIT}"));
    assert_eq!(project.topology_at(None).derived.len(), 2);
    assert_eq!(project.topology_at(Some(20240101000002)).derived.len(), 1);
}

#[test]
fn unsubscribing_the_queue_or_the_link_removes_the_derived_subscription_first() {
    let unsubscribe_queue = r#"
[[unsubscribe]]
topic = { type = "user_created" }
queue = { type = "user_created", dest = "mailer" }
[[delete_queue]]
type = "user_created"
dest = "mailer"
"#;
    let project = load(&[
        ("20240101000001_topics.toml", TOPICS),
        ("20240101000002_link.toml", LINK),
        ("20240101000003_drop.toml", unsubscribe_queue),
    ])
    .expect("valid");
    let ops = described(&project.migrations[2].up);
    assert_eq!(ops[0], format!("unsubscribe {MAILER}"));
    assert_eq!(
        ops.last().unwrap(),
        "delete queue t-event-queue-p-user_created-mailer"
    );
    assert!(project.topology_at(None).derived.is_empty());

    let unlink = LINK.replace("[[subscribe]]", "[[unsubscribe]]");
    let project = load(&[
        ("20240101000001_topics.toml", TOPICS),
        ("20240101000002_link.toml", LINK),
        ("20240101000003_unlink.toml", &unlink),
    ])
    .expect("valid");
    assert_eq!(
        described(&project.migrations[2].up)[0],
        format!("unsubscribe {MAILER}")
    );
    // rolling the unlink back restores the derived subscription
    assert_eq!(
        described(&project.migrations[2].down).last().unwrap(),
        &format!("subscribe {MAILER}")
    );
}

#[test]
fn changing_the_queue_subscription_changes_the_derived_one() {
    let change = r#"
[[change_subscription]]
topic = { type = "user_created" }
queue = { type = "user_created", dest = "mailer" }
filter_policy = { source = ["web"] }
"#;
    let project = load(&[
        ("20240101000001_topics.toml", TOPICS),
        ("20240101000002_link.toml", LINK),
        ("20240101000003_change.toml", change),
    ])
    .expect("valid");
    let up = &project.migrations[2].up;
    let Some(Operation::ChangeDerived { after, .. }) = up.last() else {
        panic!("{up:#?}")
    };
    assert!(after.subscription.attributes.filter_policy.is_some());
}

#[test]
fn a_cycle_is_reported_at_the_link_that_closes_it() {
    let back = r#"
[[subscribe]]
topic = { type = "user_created" }
target_topic = { type = "client_created" }
"#;
    let errors = load(&[
        ("20240101000001_topics.toml", TOPICS),
        ("20240101000002_link.toml", LINK),
        ("20240101000003_back.toml", back),
    ])
    .expect_err("a cycle");
    let error = errors.0.iter().find(|d| d.is_error()).expect("an error");
    assert!(error.message.contains("form a cycle"), "{error}");
    assert!(error.path.ends_with("20240101000003_back.toml"), "{error}");
    assert_eq!(error.line, Some(2));
}

#[test]
fn an_explicit_down_gets_the_derived_operations_too() {
    let with_down = format!("{LINK}\n[[down.unsubscribe]]\ntopic = {{ type = \"client_created\" }}\ntarget_topic = {{ type = \"user_created\" }}\n");
    let project = load(&[
        ("20240101000001_topics.toml", TOPICS),
        ("20240101000002_link.toml", &with_down),
    ])
    .expect("valid");
    assert_eq!(
        project.warnings.warnings().count(),
        0,
        "{:?}",
        project.warnings
    );
    assert_eq!(
        described(&project.migrations[1].down)[0],
        format!("unsubscribe {MAILER}")
    );
}

#[test]
fn a_link_makes_no_sns_call_and_its_derived_subscription_allows_the_upstream_topic() {
    use crate::calls::calls;
    use crate::naming::Arns;
    let project = load(&[
        ("20240101000001_topics.toml", TOPICS),
        ("20240101000002_link.toml", LINK),
    ])
    .expect("valid");
    let arns = Arns {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
    };
    let text: Vec<String> = project.migrations[1]
        .up
        .iter()
        .flat_map(|op| calls(op, &arns))
        .map(|c| c.to_string())
        .collect();
    assert_eq!(text.len(), 2, "{text:#?}");
    assert!(
        text[0].contains("allow sns:t-event-fanout-p-client_created"),
        "{}",
        text[0]
    );
    assert_eq!(
        text[1],
        "sns:Subscribe t-event-fanout-p-client_created -> sqs t-event-queue-p-user_created-mailer RawMessageDelivery=true"
    );
}
