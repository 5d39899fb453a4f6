//! `lariat list`, `graph --live` and `drift` end to end: the real binary against a moto server,
//! after `lariat migrate` of the example project, with changes made behind lariat's back
//! through the raw AWS query API.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use common::project::{aws, declared, Db, Project};
use common::Emulator;
use lariat::topology::Endpoint;
use predicates::str::contains;
use serde_json::{json, Value};

const DEAD: &str = "test-event-queue-registration-user_created-mailer_dead.fifo";

/// The example project, migrated.
fn migrated(emulator: &Emulator) -> Project {
    let project = Project::example(Db::Sqlite);
    project
        .lariat(emulator)
        .arg("migrate")
        .assert()
        .success()
        .stdout(contains("applied 5 migrations"));
    project
}

fn json_of(project: &Project, emulator: &Emulator, args: &[&str]) -> Value {
    let out = project.lariat(emulator).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "lariat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn names(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

fn query(emulator: &Emulator, service: &str, params: &str) {
    let (status, body) = emulator.aws_query(service, params);
    assert_eq!(status, 200, "{service} {params}: {body}");
}

fn queue_url_param(emulator: &Emulator, queue: &str) -> String {
    format!("{}/123456789012/{queue}", emulator.endpoint)
        .replace(':', "%3A")
        .replace('/', "%2F")
}

#[test]
fn list_after_migrate_shows_exactly_the_declared_resources() {
    let emulator = Emulator::start();
    let project = migrated(&emulator);
    let declared = declared(&project, &emulator);

    let topics = json_of(&project, &emulator, &["list", "topics", "--json"]);
    assert_eq!(names(&topics), declared.topics);
    assert!(topics.as_array().unwrap().contains(&json!({
        "name": "test-event-fanout-registration-user_created.fifo",
        "naming": "standard",
        "instance": "test",
        "kind": "event",
        "publisher": "registration",
        "type": "user_created",
        "fifo": true
    })));

    let queues = json_of(&project, &emulator, &["list", "queues", "--json"]);
    assert_eq!(names(&queues), declared.queues);
    assert!(queues.as_array().unwrap().contains(&json!({
        "name": "test-event-queue-any-all-statistic",
        "naming": "standard",
        "instance": "test",
        "kind": "event",
        "publisher": "any",
        "type": "all",
        "dest": "statistic",
        "fifo": false
    })));

    let subs = json_of(&project, &emulator, &["list", "subscriptions", "--json"]);
    let mut keys: Vec<(String, String, String)> = subs
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let field = |k: &str| s[k].as_str().unwrap().to_owned();
            (field("topic"), field("endpoint"), field("protocol"))
        })
        .collect();
    keys.sort();
    assert_eq!(keys, declared.subscriptions);
    let filtered = subs
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["topic"] == "test-event-fanout-orders-order_created")
        .unwrap();
    assert_eq!(filtered["raw_message_delivery"], true);
    assert_eq!(filtered["filter_policy"], true);

    project
        .lariat(&emulator)
        .args(["list", "queues"])
        .assert()
        .success()
        .stdout(contains(
            "NAME                                                         INSTANCE  KIND   PUBLISHER     TYPE          DEST         FIFO\n",
        ))
        .stdout(contains("\n6 queues (0 custom)\n"));
}

#[test]
fn list_filters_by_name_parts() {
    let emulator = Emulator::start();
    let project = migrated(&emulator);
    for queue in ["staging-command-queue-billing-invoice", "legacy_jobs"] {
        query(
            &emulator,
            "sqs",
            &format!("Action=CreateQueue&QueueName={queue}"),
        );
    }
    let all = json_of(&project, &emulator, &["list", "queues", "--json"]);
    assert_eq!(all.as_array().unwrap().len(), 8);
    assert!(all
        .as_array()
        .unwrap()
        .contains(&json!({"name": "legacy_jobs", "naming": "custom", "fifo": false})));

    let test = json_of(
        &project,
        &emulator,
        &["list", "queues", "--json", "--instance", "test"],
    );
    assert_eq!(names(&test), declared(&project, &emulator).queues);
    let commands = json_of(
        &project,
        &emulator,
        &["list", "queues", "--json", "--kind", "command"],
    );
    assert_eq!(names(&commands), ["staging-command-queue-billing-invoice"]);
    let orders = json_of(
        &project,
        &emulator,
        &["list", "subscriptions", "--json", "--publisher", "orders"],
    );
    assert_eq!(orders.as_array().unwrap().len(), 1);
    project
        .lariat(&emulator)
        .args(["list", "topics", "--kind", "command"])
        .assert()
        .success()
        .stdout("no topics\n");
}

#[test]
fn drift_reports_a_stray_queue_and_a_changed_attribute() {
    let emulator = Emulator::start();
    let project = migrated(&emulator);
    project
        .lariat(&emulator)
        .arg("drift")
        .assert()
        .code(0)
        .stdout("in sync: the account matches applied version 20240103000000 (instance test)\n");

    // behind lariat's back: a queue of this instance, a queue of nobody's, and a timeout
    query(
        &emulator,
        "sqs",
        "Action=CreateQueue&QueueName=test-event-queue-ops-stray",
    );
    query(
        &emulator,
        "sqs",
        "Action=CreateQueue&QueueName=someone_elses",
    );
    query(
        &emulator,
        "sqs",
        &format!(
            "Action=SetQueueAttributes&QueueUrl={}&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=90",
            queue_url_param(&emulator, DEAD)
        ),
    );

    let out = project
        .lariat(&emulator)
        .args(["drift", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report,
        json!({
            "version": 20240103000000_i64,
            "instance": "test",
            "in_sync": false,
            "missing": [],
            "unexpected": [{"resource": "queue", "name": "test-event-queue-ops-stray"}],
            "differing": [{
                "resource": "queue",
                "name": DEAD,
                "differences": [{
                    "attribute": "VisibilityTimeout",
                    "expected": "30",
                    "declared": false,
                    "live": "90"
                }]
            }]
        })
    );
    project
        .lariat(&emulator)
        .arg("drift")
        .assert()
        .code(2)
        .stdout(contains("  + queue test-event-queue-ops-stray\n"))
        .stdout(contains(format!(
            "  ~ queue {DEAD}\n      VisibilityTimeout: expected 30 (AWS default), found 90\n"
        )))
        .stdout(contains("1 unexpected, 0 missing, 1 differing"));

    // a subscription removed by hand is missing
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let aws = aws(&emulator).await;
        let endpoint = Endpoint::Queue("test-event-queue-any-all-statistic".into());
        let arn = aws
            .find_subscription("test-event-fanout-orders-order_created", &endpoint)
            .await
            .unwrap()
            .unwrap();
        aws.sns
            .unsubscribe()
            .subscription_arn(arn)
            .send()
            .await
            .unwrap();
    });
    let report = project
        .lariat(&emulator)
        .args(["drift", "--json"])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let report: Value = serde_json::from_slice(&report).unwrap();
    assert_eq!(
        report["missing"],
        json!([{
            "resource": "subscription",
            "name": {
                "topic": "test-event-fanout-orders-order_created",
                "endpoint": {"protocol": "sqs", "name": "test-event-queue-any-all-statistic"}
            }
        }])
    );
}

#[test]
fn graph_live_equals_graph_of_the_files() {
    let emulator = Emulator::start();
    let project = migrated(&emulator);
    // resources of another instance are not drawn
    query(
        &emulator,
        "sns",
        "Action=CreateTopic&Name=staging-event-fanout-registration-user_created",
    );
    for format in ["dot", "mermaid"] {
        let files = project
            .lariat(&emulator)
            .args(["graph", "--format", format])
            .output()
            .unwrap();
        let live = project
            .lariat(&emulator)
            .args(["graph", "--live", "--format", format])
            .output()
            .unwrap();
        assert!(
            live.status.success(),
            "{}",
            String::from_utf8_lossy(&live.stderr)
        );
        assert_eq!(
            String::from_utf8(live.stdout).unwrap(),
            String::from_utf8(files.stdout).unwrap(),
            "{format}"
        );
    }
}

#[test]
fn listing_reads_every_page() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    // ListTopics and ListSubscriptions answer 100 a page, ListQueues 1000
    let (topics, queues) = (130, 1010);
    std::thread::scope(|s| {
        for part in 0..4 {
            let emulator = &emulator;
            s.spawn(move || {
                for i in (part..queues).step_by(4) {
                    query(emulator, "sqs", &format!("Action=CreateQueue&QueueName=q{i:04}"));
                }
                for i in (part..topics).step_by(4) {
                    query(emulator, "sns", &format!("Action=CreateTopic&Name=t{i:04}"));
                    query(
                        emulator,
                        "sns",
                        &format!(
                            "Action=Subscribe&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3At{i:04}\
                             &Protocol=sqs&Endpoint=arn%3Aaws%3Asqs%3Aus-east-1%3A123456789012%3Aq{i:04}"
                        ),
                    );
                }
            });
        }
    });
    let listed = json_of(&project, &emulator, &["list", "queues", "--json"]);
    assert_eq!(names(&listed).len(), queues);
    assert_eq!(names(&listed)[queues - 1], format!("q{:04}", queues - 1));
    let listed = json_of(&project, &emulator, &["list", "topics", "--json"]);
    assert_eq!(names(&listed).len(), topics);
    let listed = json_of(&project, &emulator, &["list", "subscriptions", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), topics);
    assert_eq!(listed[7]["endpoint"], "q0007");
}
