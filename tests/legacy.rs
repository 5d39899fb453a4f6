//! Deleting what this folder never created (`legacy = true`): `migrate` records the resource's
//! attributes, tags and subscriptions beside the version row, and `rollback` rebuilds it from
//! that record. The real binary on the emulator, the version store on every database.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_sqs::types::QueueAttributeName;
use common::project::{account_all, aws, topic_tags_and_attributes, Db, Project};
use common::Emulator;
use lariat::aws::Aws;

/// Custom names of the test's own (emulators without a reset share their state).
struct Names {
    topic: String,
    queue: String,
    other: String,
}

impl Names {
    fn new() -> Names {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..10];
        Names {
            topic: format!("legacy_signups_{id}"),
            queue: format!("legacy_jobs_{id}"),
            other: format!("legacy_audit_{id}"),
        }
    }
}

/// Made by hand, the way an older tool would: a topic, two queues, two subscriptions with
/// attributes, tags everywhere.
async fn legacy_fleet(aws: &Aws, n: &Names) {
    let topic_arn = aws
        .sns
        .create_topic()
        .name(&n.topic)
        .attributes("DisplayName", "Signups")
        .tags(
            aws_sdk_sns::types::Tag::builder()
                .key("team")
                .value("growth")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    for queue in [&n.queue, &n.other] {
        aws.sqs
            .create_queue()
            .queue_name(queue)
            .attributes(QueueAttributeName::VisibilityTimeout, "45")
            .attributes(QueueAttributeName::MessageRetentionPeriod, "86400")
            .tags("owner", "ruby")
            .send()
            .await
            .unwrap();
        aws.sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(aws.arns().queue(queue))
            .attributes("RawMessageDelivery", "true")
            .attributes("FilterPolicy", r#"{"source":["web"]}"#)
            .send()
            .await
            .unwrap();
    }
}

/// What the account says about the legacy resources, for before/after comparisons.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    queue_attributes: BTreeMap<String, String>,
    queue_tags: BTreeMap<String, String>,
    topic_tags: BTreeMap<String, String>,
    display_name: Option<String>,
    /// (topic, endpoint queue, raw, filter)
    subscriptions: Vec<(String, String, String, String)>,
}

async fn snapshot(aws: &Aws, n: &Names) -> Snapshot {
    let url = aws.queue_url(&n.queue);
    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .attribute_names(QueueAttributeName::MessageRetentionPeriod)
        .send()
        .await
        .unwrap();
    let queue_attributes = attrs
        .attributes()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
        .collect();
    let queue_tags = aws
        .sqs
        .list_queue_tags()
        .queue_url(&url)
        .send()
        .await
        .unwrap()
        .tags()
        .map(|t| t.clone().into_iter().collect())
        .unwrap_or_default();
    let topic_arn = aws.arns().topic(&n.topic);
    let (topic_tags, topic_attributes) = topic_tags_and_attributes(aws, &n.topic).await;
    let display_name = topic_attributes.get("DisplayName").cloned();
    let mut subscriptions = Vec::new();
    let listed = aws
        .sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic_arn)
        .send()
        .await
        .unwrap();
    for s in listed.subscriptions() {
        let a = aws
            .sns
            .get_subscription_attributes()
            .subscription_arn(s.subscription_arn().unwrap())
            .send()
            .await
            .unwrap();
        let a = a.attributes().unwrap();
        subscriptions.push((
            n.topic.clone(),
            s.endpoint().unwrap().rsplit(':').next().unwrap().to_owned(),
            a.get("RawMessageDelivery").cloned().unwrap_or_default(),
            a.get("FilterPolicy").cloned().unwrap_or_default(),
        ));
    }
    subscriptions.sort();
    Snapshot {
        queue_attributes,
        queue_tags,
        topic_tags,
        display_name,
        subscriptions,
    }
}

fn deleting_legacy_resources_is_undone_from_their_record(db: Db) {
    let emulator = Emulator::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    let n = Names::new();
    runtime.block_on(legacy_fleet(&aws, &n));
    let before = runtime.block_on(snapshot(&aws, &n));
    assert_eq!(before.subscriptions.len(), 2, "{before:?}");

    let project = Project::new(db);
    project.write(
        "20240101000000_drop_legacy.toml",
        &format!(
            r#"
[[unsubscribe]]                 # the audit queue stays, without its subscription
topic = {{ name = "{topic}" }}
queue = {{ name = "{other}" }}
legacy = true

[[delete_queue]]
name = "{queue}"
legacy = true

[[delete_topic]]
name = "{topic}"
legacy = true
"#,
            topic = n.topic,
            queue = n.queue,
            other = n.other,
        ),
    );
    project.lariat(&emulator).arg("migrate").assert().success();
    let after = runtime.block_on(account_all(&aws));
    assert!(!after.topics.contains(&n.topic), "{after:?}");
    assert!(!after.queues.contains(&n.queue), "{after:?}");
    assert!(after.queues.contains(&n.other), "{after:?}");
    assert!(
        !after.subscriptions.iter().any(|s| s.0 == n.topic),
        "{after:?}"
    );

    project
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    assert_eq!(runtime.block_on(snapshot(&aws, &n)), before);

    // a second round trip works the same: the records were consumed by the rollback
    project.lariat(&emulator).arg("migrate").assert().success();
    project
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    assert_eq!(runtime.block_on(snapshot(&aws, &n)), before);
}

#[test]
fn sqlite_deleting_legacy_resources_is_undone_from_their_record() {
    deleting_legacy_resources_is_undone_from_their_record(Db::Sqlite);
}

#[test]
fn postgres_deleting_legacy_resources_is_undone_from_their_record() {
    match common::postgres_url() {
        Some(url) => deleting_legacy_resources_is_undone_from_their_record(Db::Postgres(url)),
        None => eprintln!("skipped: LARIAT_TEST_POSTGRES_URL is not set"),
    }
}

#[test]
fn mysql_deleting_legacy_resources_is_undone_from_their_record() {
    match common::mysql_url() {
        Some(url) => deleting_legacy_resources_is_undone_from_their_record(Db::Mysql(url)),
        None => eprintln!("skipped: LARIAT_TEST_MYSQL_URL is not set"),
    }
}
