//! `lariat import` adopts a fleet that the Ruby gem (or a person) made: one migration file,
//! recorded as applied without an AWS write, in sync right away; another service then builds
//! on it with its own folder and version table.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_sqs::types::QueueAttributeName;
use common::project::{account_all, aws, Account, Db, Project};
use common::{Emulator, Kind};
use lariat::aws::Aws;
use predicates::str::contains;

/// The names of the test's fleet, in an instance of its own (emulators without a reset share
/// their state between tests).
struct Names {
    instance: String,
    fifo_topic: String,
    topic: String,
    queue: String,
    dead: String,
    audit: String,
}

impl Names {
    fn new() -> Names {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let i = format!("imp{}", &id[..10]);
        Names {
            fifo_topic: format!("{i}-event-fanout-auth-user_created.fifo"),
            topic: format!("{i}-event-fanout-auth-user_signed_up"),
            queue: format!("{i}-event-queue-auth-user_signed_up-mailer"),
            dead: format!("{i}-event-queue-auth-user_signed_up-mailer_dead"),
            audit: format!("{i}-event-queue-audit-user_signed_up-audit"),
            instance: i,
        }
    }

    /// What the account holds of this instance.
    fn ours(&self, account: Account) -> Account {
        let prefix = format!("{}-", self.instance);
        let ours = |name: &String| name.starts_with(&prefix);
        Account {
            topics: account.topics.into_iter().filter(ours).collect(),
            queues: account.queues.into_iter().filter(ours).collect(),
            subscriptions: account
                .subscriptions
                .into_iter()
                .filter(|s| ours(&s.0) || ours(&s.1))
                .collect(),
        }
    }
}

/// The tags the Ruby gem puts on what it creates (no `managed_by`).
fn gem_tags(
    instance: &str,
    message_type: &str,
    dest: Option<&str>,
    fifo: bool,
) -> Vec<(String, String)> {
    let mut tags = vec![
        ("standard".to_owned(), "true".to_owned()),
        ("instance".to_owned(), instance.to_owned()),
        ("kind".to_owned(), "event".to_owned()),
        ("publisher".to_owned(), "auth".to_owned()),
        ("type".to_owned(), message_type.to_owned()),
        ("fifo".to_owned(), fifo.to_string()),
    ];
    if let Some(dest) = dest {
        tags.push(("dest".to_owned(), dest.to_owned()));
    }
    tags
}

/// A small fleet made with the SDK in the gem's style: its names and tags, a FIFO topic, a
/// queue with a dead-letter queue, a filtered subscription.
async fn gem_fleet(aws: &Aws, n: &Names) {
    for (name, message_type, fifo) in [
        (&n.fifo_topic, "user_created", true),
        (&n.topic, "user_signed_up", false),
    ] {
        let mut create = aws.sns.create_topic().name(name);
        if fifo {
            create = create
                .attributes("FifoTopic", "true")
                .attributes("ContentBasedDeduplication", "true");
        }
        for (k, v) in gem_tags(&n.instance, message_type, None, fifo) {
            create = create.tags(
                aws_sdk_sns::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .unwrap(),
            );
        }
        create.send().await.unwrap();
    }
    for (name, dest, redrive) in [(&n.dead, "mailer_dead", false), (&n.queue, "mailer", true)] {
        let mut create = aws
            .sqs
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::VisibilityTimeout, "60");
        if redrive {
            let policy = format!(
                r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"5"}}"#,
                aws.arns().queue(&n.dead)
            );
            create = create.attributes(QueueAttributeName::RedrivePolicy, policy);
        }
        for (k, v) in gem_tags(&n.instance, "user_signed_up", Some(dest), false) {
            create = create.tags(k, v);
        }
        // the gem's queue policy: any topic of the instance may send
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "AWS": "*" },
                "Action": "SQS:*",
                "Resource": aws.arns().queue(name),
                "Condition": { "ArnLike": { "aws:SourceArn": aws.arns().topic(&format!("{}-*-fanout-*", n.instance)) } }
            }]
        });
        create = create.attributes(QueueAttributeName::Policy, policy.to_string());
        create.send().await.unwrap();
    }
    aws.sns
        .subscribe()
        .topic_arn(aws.arns().topic(&n.topic))
        .protocol("sqs")
        .endpoint(aws.arns().queue(&n.queue))
        .attributes("FilterPolicy", r#"{"source":["web"]}"#)
        .send()
        .await
        .unwrap();
}

fn service(instance: &str, publisher: &str, database_url: Option<&str>) -> Project {
    let mut project = Project::new(Db::Sqlite);
    if let Some(url) = database_url {
        project.database_url = url.to_owned();
    }
    std::fs::write(
        project.dir.path().join("lariat.toml"),
        format!(
            "instance = \"{instance}\"\npublisher = \"{publisher}\"\n[aws]\nregion = \"us-east-1\"\n"
        ),
    )
    .unwrap();
    project
}

#[test]
fn import_adopts_a_gem_fleet_that_another_service_then_builds_on() {
    let emulator = Emulator::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    let n = Names::new();
    runtime.block_on(gem_fleet(&aws, &n));
    let held = || n.ours(runtime.block_on(account_all(&aws)));
    let fleet = held();

    let auth = service(&n.instance, "auth", None);
    auth.lariat(&emulator)
        .arg("import")
        .assert()
        .success()
        .stdout(contains(
            "imported 2 topic(s), 2 queue(s), 1 subscription(s)",
        ))
        .stdout(contains("nothing was changed in AWS"));
    let file = std::fs::read_dir(auth.migrations())
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("imported = true"), "{text}");
    assert!(
        text.contains("type = \"user_created\""),
        "names become parts: {text}"
    );
    assert!(!text.contains("managed_by"), "{text}");
    assert!(
        !text.contains("standard"),
        "the gem's tags are lariat's own: {text}"
    );
    assert_eq!(held(), fleet, "import writes nothing");

    auth.lariat(&emulator).arg("drift").assert().code(0);
    // moto's log counts this test's requests; the shared LocalStack serves other tests too
    let before = (emulator.kind() == Kind::Moto).then(|| emulator.request_count());
    auth.lariat(&emulator)
        .arg("migrate")
        .assert()
        .success()
        .stdout(contains("everything is up to date"));
    if let Some(before) = before {
        assert!(
            emulator.request_count() - before <= 1,
            "migrate after import reads the account id at most"
        );
    }
    auth.lariat(&emulator)
        .arg("rollback")
        .assert()
        .code(4)
        .stderr(contains("--delete-imported"));
    assert_eq!(held(), fleet);

    // another service, its own version table in the same database, builds on the topic
    let audit = service(&n.instance, "audit", Some(&auth.database_url));
    audit.write(
        "20300101000000_audit_user_signed_up.toml",
        r#"
[[external_topic]]
publisher = "auth"
type = "user_signed_up"

[[create_queue]]
type = "user_signed_up"
dest = "audit"

[[subscribe]]
topic = { publisher = "auth", type = "user_signed_up" }
queue = { type = "user_signed_up", dest = "audit" }
raw_message_delivery = true
"#,
    );
    audit.lariat(&emulator).arg("migrate").assert().success();
    let received = runtime.block_on(async {
        aws.sns
            .publish()
            .topic_arn(aws.arns().topic(&n.topic))
            .message("{\"audit\":true}")
            .send()
            .await
            .unwrap();
        aws.sqs
            .receive_message()
            .queue_url(aws.queue_url(&n.audit))
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap()
    });
    let bodies: Vec<&str> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    assert_eq!(bodies, ["{\"audit\":true}"]);
    auth.lariat(&emulator).arg("status").assert().code(0);

    audit
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    assert_eq!(held(), fleet, "the imported fleet is left as it was");
    auth.lariat(&emulator).arg("drift").assert().code(0);

    // explicitly asked, the rollback deletes the adopted fleet
    auth.lariat(&emulator)
        .args(["rollback", "--delete-imported"])
        .assert()
        .success();
    let left = held();
    assert!(left.topics.is_empty() && left.queues.is_empty(), "{left:?}");
}
