//! Each service owns its part: a publisher's folder creates its topic, a subscriber's folder
//! (its own version table) refers to it as external and subscribes its own queue. The real
//! binary on the emulator; the version stores on SQLite.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use common::project::{account, aws, Db, Project};
use common::Emulator;
use predicates::str::contains;

/// An instance of the test's own: emulators without a reset share their state.
struct Fleet {
    instance: String,
    topic: String,
    queue: String,
}

impl Fleet {
    fn new() -> Fleet {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let instance = format!("own{}", &id[..10]);
        Fleet {
            topic: format!("{instance}-event-fanout-auth-user_signed_up"),
            queue: format!("{instance}-event-queue-mailer-user_signed_up-mailer"),
            instance,
        }
    }
}

fn configure(project: &Project, instance: &str, publisher: &str) {
    std::fs::write(
        project.dir.path().join("lariat.toml"),
        format!(
            "instance = \"{instance}\"\npublisher = \"{publisher}\"\n[aws]\nregion = \"us-east-1\"\n"
        ),
    )
    .unwrap();
}

/// The auth service: it publishes `user_signed_up`.
fn publisher(fleet: &Fleet) -> Project {
    let project = Project::new(Db::Sqlite);
    configure(&project, &fleet.instance, "auth");
    project.write(
        "20240101000000_user_signed_up_topic.toml",
        "[[create_topic]]\ntype = \"user_signed_up\"\n",
    );
    project
}

/// The mailer service: its queue, subscribed to auth's topic. Its version table lives in the
/// same database as the publisher's, under its own name.
fn subscriber(fleet: &Fleet, publisher: &Project) -> Project {
    let mut project = Project::new(Db::Sqlite);
    project.database_url = publisher.database_url.clone();
    configure(&project, &fleet.instance, "mailer");
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

/// The fleet's topics, queues and number of subscriptions in the account.
fn names(emulator: &Emulator, fleet: &Fleet) -> (Vec<String>, Vec<String>, usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(emulator));
    let account = runtime.block_on(account(&aws, &fleet.instance));
    let ours = |name: &String| name.starts_with(&format!("{}-", fleet.instance));
    (
        account.topics.into_iter().filter(ours).collect(),
        account.queues.into_iter().filter(ours).collect(),
        account
            .subscriptions
            .iter()
            .filter(|s| ours(&s.0) && ours(&s.1))
            .count(),
    )
}

/// Publishes to the topic and reads the subscriber's queue.
fn delivered(emulator: &Emulator, fleet: &Fleet) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let aws = aws(emulator).await;
        aws.sns
            .publish()
            .topic_arn(aws.arns().topic(&fleet.topic))
            .message("{\"hello\":\"mailer\"}")
            .send()
            .await
            .unwrap();
        let received = aws
            .sqs
            .receive_message()
            .queue_url(aws.queue_url(&fleet.queue))
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
    let fleet = Fleet::new();
    let publisher = publisher(&fleet);
    let subscriber = subscriber(&fleet, &publisher);
    subscriber
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .code(4)
        .stderr(contains(format!(
            "topic {} does not exist; it belongs to publisher `auth`, whose migrations create it",
            fleet.topic
        )))
        .stderr(contains("nothing was changed"));
    assert_eq!(
        names(&emulator, &fleet),
        (vec![], vec![], 0),
        "no AWS write"
    );
    subscriber
        .lariat(&emulator)
        .args(["migrate", "--dry-run"])
        .assert()
        .success()
        .stdout(contains(format!(
            "exists? topic {} (external, owned by `auth`)",
            fleet.topic
        )));
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
    assert_eq!(delivered(&emulator, &fleet), ["{\"hello\":\"mailer\"}"]);
}

#[test]
fn publisher_and_subscriber_roll_back_in_either_order_without_touching_each_other() {
    let emulator = Emulator::start();
    let fleet = Fleet::new();
    let publisher = publisher(&fleet);
    let subscriber = subscriber(&fleet, &publisher);

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
        names(&emulator, &fleet),
        (vec![fleet.topic.clone()], vec![fleet.queue.clone()], 1)
    );
    subscriber.lariat(&emulator).arg("drift").assert().code(0);
    subscriber
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    assert_eq!(
        names(&emulator, &fleet),
        (vec![fleet.topic.clone()], vec![], 0),
        "the publisher's topic stays"
    );
    publisher.lariat(&emulator).arg("status").assert().code(0);
    publisher.lariat(&emulator).arg("drift").assert().code(0);
    publisher
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    assert_eq!(names(&emulator, &fleet), (vec![], vec![], 0));

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
        .stdout(contains(format!("  - topic {}", fleet.topic)));
    subscriber
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
    let (topics, queues, _) = names(&emulator, &fleet);
    assert_eq!((topics, queues), (vec![], vec![]));
}

#[test]
fn graph_draws_the_external_topic_apart() {
    let emulator = Emulator::start();
    let fleet = Fleet::new();
    let subscriber = subscriber(&fleet, &publisher(&fleet));
    let out = subscriber.lariat(&emulator).arg("graph").assert().success();
    let dot = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let line = dot
        .lines()
        .find(|l| l.contains(&format!("\"topic:{}\" [", fleet.topic)))
        .unwrap_or_else(|| panic!("no topic node: {dot}"));
    assert!(
        line.starts_with("  \"topic:"),
        "outside every cluster: {dot}"
    );
    assert!(line.contains("style=dashed"), "{line}");
    assert!(line.contains("[external: auth]"), "{line}");
    let edge = format!("\"topic:{}\" -> \"queue:{}\"", fleet.topic, fleet.queue);
    assert!(dot.contains(&edge), "{dot}");
}
