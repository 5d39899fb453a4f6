//! Each service owns its part: a publisher's folder creates its topic, a subscriber's folder
//! (its own version table) refers to it as external and subscribes its own queue. The real
//! binary on the emulator; the version stores on SQLite.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use common::project::{account, aws, Db, Project};
use common::Emulator;
use predicates::str::contains;

/// The topic's and the queue's names after the instance (unique to each test, for LocalStack).
const TOPIC: &str = "event-fanout-auth-user_signed_up";
const QUEUE: &str = "event-queue-mailer-user_signed_up-mailer";

/// The auth service: it publishes `user_signed_up`.
fn publisher() -> Project {
    let project = Project::new(Db::Sqlite);
    std::fs::write(
        project.dir.path().join("lariat.toml"),
        format!(
            "instance = \"{}\"\npublisher = \"auth\"\n[aws]\nregion = \"us-east-1\"\n",
            project.instance
        ),
    )
    .unwrap();
    project.write(
        "20240101000000_user_signed_up_topic.toml",
        "[[create_topic]]\ntype = \"user_signed_up\"\n",
    );
    project
}

/// The mailer service: its queue, subscribed to auth's topic. Its version table lives in the
/// same database as the publisher's, under its own name.
fn subscriber(publisher: &Project) -> Project {
    let mut project = Project::new(Db::Sqlite);
    project.database_url = publisher.database_url.clone();
    project.instance = publisher.instance.clone();
    std::fs::write(
        project.dir.path().join("lariat.toml"),
        format!(
            "instance = \"{}\"\npublisher = \"mailer\"\n[aws]\nregion = \"us-east-1\"\n",
            project.instance
        ),
    )
    .unwrap();
    project.write(
        "20240201000000_mailer_gets_user_signed_up.toml",
        r#"
[[external_topic]]
publisher = "auth"
type = "user_signed_up"

[[create_queue]]
type = "user_signed_up"
dest = "mailer"

[[subscribe]]
topic = { publisher = "auth", type = "user_signed_up" }
queue = { type = "user_signed_up", dest = "mailer" }
raw_message_delivery = true
"#,
    );
    project
}

fn names(emulator: &Emulator, project: &Project) -> (Vec<String>, Vec<String>, usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(emulator));
    let account = runtime.block_on(account(&aws, &project.instance));
    (account.topics, account.queues, account.subscriptions.len())
}

/// Publishes to the topic and reads the subscriber's queue.
fn delivered(emulator: &Emulator, project: &Project) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let aws = aws(emulator).await;
        aws.sns
            .publish()
            .topic_arn(aws.arns().topic(&project.name(TOPIC)))
            .message("{\"hello\":\"mailer\"}")
            .send()
            .await
            .unwrap();
        let received = aws
            .sqs
            .receive_message()
            .queue_url(aws.queue_url(&project.name(QUEUE)))
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        received
            .messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect()
    })
}

#[test]
fn subscriber_before_publisher_is_refused_naming_the_owner_and_changes_nothing() {
    let emulator = Emulator::start();
    let publisher = publisher();
    let subscriber = subscriber(&publisher);
    subscriber
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .code(4)
        .stderr(contains(format!(
            "topic {} does not exist; it belongs to publisher `auth`, whose migrations create it",
            publisher.name(TOPIC)
        )))
        .stderr(contains("nothing was changed"));
    assert_eq!(
        names(&emulator, &publisher),
        (vec![], vec![], 0),
        "no AWS write"
    );
    subscriber
        .lariat(&emulator)
        .arg("status")
        .assert()
        .code(2)
        .stdout(contains("0 applied, 1 pending"));

    publisher
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success();
    subscriber
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success();
    assert_eq!(delivered(&emulator, &publisher), ["{\"hello\":\"mailer\"}"]);
}

#[test]
fn publisher_and_subscriber_roll_back_in_either_order_without_touching_each_other() {
    let emulator = Emulator::start();
    let publisher = publisher();
    let subscriber = subscriber(&publisher);

    // the subscriber goes first
    publisher
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success();
    subscriber
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success();
    assert_eq!(
        names(&emulator, &publisher),
        (vec![publisher.name(TOPIC)], vec![publisher.name(QUEUE)], 1)
    );
    subscriber.lariat(&emulator).arg("drift").assert().code(0);
    subscriber
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    assert_eq!(
        names(&emulator, &publisher),
        (vec![publisher.name(TOPIC)], vec![], 0),
        "the publisher's topic stays"
    );
    publisher.lariat(&emulator).arg("status").assert().code(0);
    publisher.lariat(&emulator).arg("drift").assert().code(0);
    publisher
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    assert_eq!(names(&emulator, &publisher), (vec![], vec![], 0));

    // the publisher goes first: the subscriber's drift names the topic as missing external,
    // and its rollback still removes only what it created
    publisher
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success();
    subscriber
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success();
    publisher
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    subscriber
        .lariat(&emulator)
        .arg("drift")
        .assert()
        .code(2)
        .stdout(contains("missing external"))
        .stdout(contains(format!("  - topic {}", publisher.name(TOPIC))));
    subscriber
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    let (topics, queues, _) = names(&emulator, &publisher);
    assert_eq!((topics, queues), (vec![], vec![]));
}

#[test]
fn graph_draws_the_external_topic_apart() {
    let emulator = Emulator::start();
    let publisher = publisher();
    let subscriber = subscriber(&publisher);
    let (topic, queue) = (publisher.name(TOPIC), publisher.name(QUEUE));
    let out = subscriber.lariat(&emulator).arg("graph").assert().success();
    let dot = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let line = dot
        .lines()
        .find(|l| l.contains(&format!("\"topic:{topic}\" [")))
        .unwrap_or_else(|| panic!("no topic node: {dot}"));
    assert!(
        line.starts_with("  \"topic:"),
        "outside every cluster: {dot}"
    );
    assert!(line.contains("style=dashed"), "{line}");
    assert!(line.contains("[external: auth]"), "{line}");
    assert!(
        dot.contains(&format!("\"topic:{topic}\" -> \"queue:{queue}\"")),
        "{dot}"
    );
}
