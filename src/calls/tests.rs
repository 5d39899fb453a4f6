use std::fs;

use super::*;
use crate::naming::{self, NamingDefaults, ResourceKind};
use crate::plan::tests::{project, row, V1, V2};
use crate::plan::{plan_migrate, plan_rollback, Checks, RollbackTarget};
use crate::store::VersionState;
use crate::topology::{load_project, Project};

fn arns() -> Arns {
    Arns {
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
    }
}

#[test]
fn calls_for_a_migration() {
    let (_dir, p) = project();
    let plan = plan_migrate(&p, &[], None, Checks::default()).expect("plan");
    let lines: Vec<String> = plan_calls(&plan, &arns())[0]
        .iter()
        .flatten()
        .map(ToString::to_string)
        .collect();
    // one request per topic, queue and subscription: the policy comes with the queue
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(lines[0].starts_with("sns:CreateTopic test-event-fanout-auth-user_created Tags: fifo=false instance=test kind=event managed_by=lariat publisher=auth standard=true type=user_created"), "{}", lines[0]);
    assert!(lines[2].contains(r#"RedrivePolicy={"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:test-event-queue-auth-user_created-dead","maxReceiveCount":4}"#), "{}", lines[2]);
    assert!(
        lines[2].contains(" Policy=(allow sns:test-event-fanout-auth-user_created to SendMessage)"),
        "{}",
        lines[2]
    );
    assert!(!lines[1].contains("Policy="), "{}", lines[1]);
    assert_eq!(lines[3], "sns:Subscribe test-event-fanout-auth-user_created -> sqs test-event-queue-auth-user_created-mailer RawMessageDelivery=true");
}

/// A second topic subscribed to the mailer queue of V1.
const V3: &str = r#"
[[create_topic]]
type = "user_deleted"

[[subscribe]]
topic = { type = "user_deleted" }
queue = { type = "user_created", dest = "mailer" }
"#;

/// V1, then `versions` (file name, text) after it.
fn project_with(versions: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("20240101000000_v1.toml"), V1).expect("write");
    for (name, text) in versions {
        fs::write(dir.path().join(name), text).expect("write");
    }
    let defaults = NamingDefaults {
        instance: "test".into(),
        publisher: "auth".into(),
    };
    let project = load_project(dir.path(), &defaults).expect("valid project");
    (dir, project)
}

/// Every call of a plan, as `--dry-run` prints it.
fn call_lines(plan: &Plan) -> Vec<String> {
    plan_calls(plan, &arns())
        .iter()
        .flatten()
        .flatten()
        .map(ToString::to_string)
        .collect()
}

fn policy_calls(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.contains("GetQueueAttributes") || l.contains("SetQueueAttributes"))
        .collect()
}

#[test]
fn a_queue_created_in_the_plan_gets_every_later_topic_in_its_create_call() {
    let (_dir, p) = project_with(&[("20240103000000_v3.toml", V3)]);
    let plan = plan_migrate(&p, &[], None, Checks::default()).expect("plan");
    let calls = plan_calls(&plan, &arns());
    let Call::CreateQueue { allow_topics, .. } = &calls[0][2][0] else {
        panic!("create queue: {calls:#?}")
    };
    assert_eq!(
        allow_topics,
        &[
            "test-event-fanout-auth-user_created",
            "test-event-fanout-auth-user_deleted"
        ]
    );
    let lines = call_lines(&plan);
    assert!(policy_calls(&lines).is_empty(), "{lines:#?}");
    assert_eq!(
        lines.len(),
        6,
        "one call per topic, queue and subscription: {lines:#?}"
    );
}

#[test]
fn a_queue_created_before_the_plan_gets_its_statement_read_then_written() {
    let (_dir, p) = project_with(&[("20240103000000_v3.toml", V3)]);
    let applied = [row(&p, 20240101000000, VersionState::Applied)];
    let plan = plan_migrate(&p, &applied, None, Checks::default()).expect("plan");
    let lines = call_lines(&plan);
    assert_eq!(policy_calls(&lines).len(), 1, "{lines:#?}");
    assert!(lines[1].contains("(+ allow sns:test-event-fanout-auth-user_deleted"));
}

/// moto's SetQueueAttributes erases a policy it is not given: a statement planned after a
/// change of the queue stays a call of its own, after the change.
#[test]
fn a_statement_after_a_change_of_the_queue_is_not_moved_before_it() {
    let (_dir, p) = project_with(&[
        ("20240102000000_v2.toml", V2),
        ("20240103000000_v3.toml", V3),
    ]);
    let plan = plan_migrate(&p, &[], None, Checks::default()).expect("plan");
    let lines = call_lines(&plan);
    assert!(
        lines[2].contains(" Policy=(allow sns:test-event-fanout-auth-user_created to SendMessage)"),
        "{lines:#?}"
    );
    let policy = policy_calls(&lines);
    assert_eq!(policy.len(), 2, "{lines:#?}");
    assert!(
        policy[0].starts_with("sqs:SetQueueAttributes")
            && policy[0].contains("VisibilityTimeout=90")
    );
    assert!(policy[1].contains("(+ allow sns:test-event-fanout-auth-user_deleted"));
}

#[test]
fn rollback_all_revokes_no_statement_of_a_queue_it_deletes_later() {
    let (_dir, p) = project_with(&[("20240103000000_v3.toml", V3)]);
    let applied = [
        row(&p, 20240101000000, VersionState::Applied),
        row(&p, 20240103000000, VersionState::Applied),
    ];
    let all = plan_rollback(&p, &applied, RollbackTarget::To(0), Checks::default()).expect("plan");
    let lines = call_lines(&all);
    assert!(policy_calls(&lines).is_empty(), "{lines:#?}");
    // the queue stays when only V3 is undone: its statement goes
    let last = plan_rollback(&p, &applied, RollbackTarget::Last, Checks::default()).expect("plan");
    let lines = call_lines(&last);
    assert_eq!(policy_calls(&lines).len(), 1, "{lines:#?}");
    assert!(lines
        .iter()
        .any(|l| l.contains("(- allow sns:test-event-fanout-auth-user_deleted)")));
}

#[test]
fn a_created_queue_tolerates_what_later_steps_set() {
    let (_dir, p) = project();
    let plan = plan_migrate(&p, &[], None, Checks::default()).expect("plan");
    let calls = plan_calls(&plan, &arns());
    let Call::CreateQueue { tolerated, .. } = &calls[0][2][0] else {
        panic!("create queue")
    };
    assert_eq!(tolerated.len(), 1);
    assert_eq!(tolerated[0]["VisibilityTimeout"], "90");
}

#[test]
fn change_and_its_inverse() {
    let (_dir, p) = project();
    let m = p.get(20240102000000).expect("v2");
    let up: Vec<String> = calls(&m.up[0], &arns())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        up,
        [
            "sqs:SetQueueAttributes test-event-queue-auth-user_created-mailer VisibilityTimeout=90",
            "sqs:TagQueue test-event-queue-auth-user_created-mailer team=growth",
        ]
    );
    let down: Vec<String> = calls(&m.down[0], &arns())
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        down,
        [
            "sqs:SetQueueAttributes test-event-queue-auth-user_created-mailer VisibilityTimeout=60",
            "sqs:UntagQueue test-event-queue-auth-user_created-mailer team",
        ]
    );
}

#[test]
fn unset_attributes_return_to_aws_defaults() {
    let before: Attributes = [
        ("VisibilityTimeout".to_owned(), "60".to_owned()),
        ("RedrivePolicy".to_owned(), "{}".to_owned()),
    ]
    .into();
    let out = changed(&before, &Attributes::new(), queue_default);
    assert_eq!(out["VisibilityTimeout"], "30");
    assert_eq!(out["RedrivePolicy"], "");
}

#[test]
fn queue_policy_statements_merge_and_go() {
    let q = "arn:aws:sqs:us-east-1:1:q";
    let (t1, t2) = ("arn:aws:sns:us-east-1:1:t1", "arn:aws:sns:us-east-1:1:t2");
    let one = policy_with_topic(None, q, t1).unwrap().expect("changed");
    assert_eq!(
        policy_with_topic(Some(&one), q, t1).unwrap(),
        None,
        "idempotent"
    );
    let two = policy_with_topic(Some(&one), q, t2)
        .unwrap()
        .expect("changed");
    let doc: serde_json::Value = serde_json::from_str(&two).unwrap();
    assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        doc["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        t1
    );

    let back = policy_without_topic(Some(&two), q, t2)
        .unwrap()
        .expect("changed");
    assert_eq!(back, one);
    assert_eq!(policy_without_topic(Some(&back), q, t2).unwrap(), None);
    assert_eq!(
        policy_without_topic(Some(&back), q, t1).unwrap().as_deref(),
        Some("")
    );
}

#[test]
fn foreign_policy_statements_are_kept() {
    let q = "arn:aws:sqs:us-east-1:1:q";
    let foreign = r#"{"Version":"2012-10-17","Statement":{"Sid":"ops","Effect":"Allow","Principal":"*","Action":"sqs:ReceiveMessage"}}"#;
    let merged = policy_with_topic(Some(foreign), q, "arn:aws:sns:us-east-1:1:t")
        .unwrap()
        .expect("changed");
    let doc: serde_json::Value = serde_json::from_str(&merged).unwrap();
    assert_eq!(doc["Statement"][0]["Sid"], "ops");
    let back = policy_without_topic(Some(&merged), q, "arn:aws:sns:us-east-1:1:t")
        .unwrap()
        .expect("changed");
    let doc: serde_json::Value = serde_json::from_str(&back).unwrap();
    assert_eq!(doc["Statement"].as_array().map(Vec::len), Some(1));
}

#[test]
fn resource_tags_follow_the_ruby_gem() {
    let parsed = naming::parse(
        ResourceKind::Queue,
        "test-event-queue-auth-user_created-mailer.fifo",
    );
    let tags = resource_tags(&parsed, &Tags::new());
    let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "dest",
            "fifo",
            "instance",
            "kind",
            "managed_by",
            "publisher",
            "standard",
            "type"
        ]
    );
    assert_eq!(tags["fifo"], "true");
    let mut listed = LARIAT_TAGS.to_vec();
    listed.sort_unstable();
    assert_eq!(keys, listed, "LARIAT_TAGS names every tag lariat sets");
}

#[test]
fn policies_compare_as_json() {
    let declared = r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":5}"#;
    let actual = r#"{"maxReceiveCount":"5","deadLetterTargetArn":"arn:x"}"#;
    assert!(attribute_matches("RedrivePolicy", declared, Some(actual)));
    assert!(!attribute_matches(
        "RedrivePolicy",
        declared,
        Some(r#"{"maxReceiveCount":6,"deadLetterTargetArn":"arn:x"}"#)
    ));
    assert!(!attribute_matches("VisibilityTimeout", "30", Some("60")));
    assert!(attribute_matches("KmsMasterKeyId", "", None));
}

/// Bug: LocalStack keeps a deleted topic's subscriptions (AWS deletes them), so `rollback
/// --all` left them behind; the subscription is removed first, only the policy statement of
/// a deleted queue is skipped.
#[test]
fn a_migration_that_deletes_a_topic_and_queue_unsubscribes_first() {
    let (_dir, p) = project();
    let plan = plan_rollback(
        &p,
        &[row(&p, 20240101000000, VersionState::Applied)],
        RollbackTarget::To(0),
        Checks::default(),
    )
    .expect("plan");
    let calls: Vec<String> = plan_calls(&plan, &arns())[0]
        .iter()
        .flatten()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        calls,
        [
            "sns:ListSubscriptionsByTopic test-event-fanout-auth-user_created; sns:Unsubscribe test-event-fanout-auth-user_created -> sqs test-event-queue-auth-user_created-mailer",
            "sqs:DeleteQueue test-event-queue-auth-user_created-mailer",
            "sqs:DeleteQueue test-event-queue-auth-user_created-dead",
            "sns:DeleteTopic test-event-fanout-auth-user_created",
        ],
        "the policy statement goes with the queue"
    );
}

#[test]
fn an_unsubscribe_whose_topic_and_queue_stay_is_kept_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::write(dir.path().join("20240101000000_v1.toml"), V1).expect("write");
    fs::write(
        dir.path().join("20240102000000_unsub.toml"),
        "[[unsubscribe]]\ntopic = { type = \"user_created\" }\nqueue = { type = \"user_created\", dest = \"mailer\" }\n",
    )
    .expect("write");
    let defaults = NamingDefaults {
        instance: "test".into(),
        publisher: "auth".into(),
    };
    let p = load_project(dir.path(), &defaults).expect("valid project");
    let plan = plan_migrate(
        &p,
        &[row(&p, 20240101000000, VersionState::Applied)],
        None,
        Checks::default(),
    )
    .expect("plan");
    let calls: Vec<String> = plan_calls(&plan, &arns())[0]
        .iter()
        .flatten()
        .map(ToString::to_string)
        .collect();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(calls[0].contains("sns:Unsubscribe"));
    assert!(calls[1].contains("Policy (- allow sns:test-event-fanout-auth-user_created)"));
}
