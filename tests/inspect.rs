//! `lariat list`, `graph --live` and `drift` end to end: the real binary against the emulator,
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

const DEAD: &str = "event-queue-registration-user_created-mailer_dead.fifo";

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
    format!("{}/{}/{queue}", emulator.endpoint, emulator.account_id())
        .replace(':', "%3A")
        .replace('/', "%2F")
}

#[test]
fn list_after_migrate_shows_exactly_the_declared_resources() {
    let emulator = Emulator::start();
    let project = migrated(&emulator);
    let declared = declared(&project, &emulator);

    let i = project.instance.as_str();
    // only this project's instance: the tests of a run share one LocalStack
    let list = |what: &str| {
        json_of(
            &project,
            &emulator,
            &["list", what, "--json", "--instance", i],
        )
    };
    let topics = list("topics");
    assert_eq!(names(&topics), declared.topics);
    assert!(topics.as_array().unwrap().contains(&json!({
        "name": project.name("event-fanout-registration-user_created.fifo"),
        "naming": "standard",
        "instance": i,
        "kind": "event",
        "publisher": "registration",
        "type": "user_created",
        "fifo": true
    })));

    let queues = list("queues");
    assert_eq!(names(&queues), declared.queues);
    assert!(queues.as_array().unwrap().contains(&json!({
        "name": project.name("event-queue-any-all-statistic"),
        "naming": "standard",
        "instance": i,
        "kind": "event",
        "publisher": "any",
        "type": "all",
        "dest": "statistic",
        "fifo": false
    })));

    let subs = list("subscriptions");
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
        .find(|s| s["topic"] == project.name("event-fanout-orders-order_created"))
        .unwrap();
    assert_eq!(filtered["raw_message_delivery"], true);
    assert_eq!(filtered["filter_policy"], true);

    project
        .lariat(&emulator)
        .args(["list", "queues", "--instance", i])
        .assert()
        .success()
        .stdout(contains(
            "NAME                                                              INSTANCE   KIND   PUBLISHER     TYPE          DEST         FIFO\n",
        ))
        .stdout(contains("\n6 queues (0 custom)\n"));
}

#[test]
fn list_filters_by_name_parts() {
    let emulator = Emulator::start();
    let project = migrated(&emulator);
    // names of this test's own: the tests of a run share one LocalStack
    let staging = common::unique("staging");
    let invoice = format!("{staging}-command-queue-billing-invoice");
    let legacy = common::unique("legacy_jobs_");
    for queue in [&invoice, &legacy] {
        query(
            &emulator,
            "sqs",
            &format!("Action=CreateQueue&QueueName={queue}"),
        );
    }
    let all = names(&json_of(&project, &emulator, &["list", "queues", "--json"]));
    let declared = declared(&project, &emulator).queues;
    for queue in declared.iter().chain([&invoice, &legacy]) {
        assert!(all.contains(queue), "{queue} not in {all:?}");
    }
    assert!(json_of(&project, &emulator, &["list", "queues", "--json"])
        .as_array()
        .unwrap()
        .contains(&json!({"name": legacy, "naming": "custom", "fifo": false})));

    let mine = json_of(
        &project,
        &emulator,
        &["list", "queues", "--json", "--instance", &project.instance],
    );
    assert_eq!(names(&mine), declared);
    let commands = json_of(
        &project,
        &emulator,
        &[
            "list",
            "queues",
            "--json",
            "--kind",
            "command",
            "--instance",
            &staging,
        ],
    );
    assert_eq!(names(&commands), [invoice]);
    let orders = json_of(
        &project,
        &emulator,
        &[
            "list",
            "subscriptions",
            "--json",
            "--publisher",
            "orders",
            "--instance",
            &project.instance,
        ],
    );
    assert_eq!(orders.as_array().unwrap().len(), 1);
    project
        .lariat(&emulator)
        .args([
            "list",
            "topics",
            "--kind",
            "command",
            "--instance",
            &project.instance,
        ])
        .assert()
        .success()
        .stdout("no topics\n");
}

#[test]
fn drift_reports_a_stray_queue_and_a_changed_attribute() {
    let emulator = Emulator::start();
    let project = migrated(&emulator);
    let i = project.instance.as_str();
    let dead = project.name(DEAD);
    let stray = project.name("event-queue-ops-stray");
    project
        .lariat(&emulator)
        .arg("drift")
        .assert()
        .code(0)
        .stdout(format!(
            "in sync: the account matches applied version 20240103000000 (instance {i})\n"
        ));

    // behind lariat's back: a queue of this instance, a queue of nobody's, and a timeout
    query(
        &emulator,
        "sqs",
        &format!("Action=CreateQueue&QueueName={stray}"),
    );
    query(
        &emulator,
        "sqs",
        &format!(
            "Action=CreateQueue&QueueName={}",
            common::unique("someone_elses")
        ),
    );
    query(
        &emulator,
        "sqs",
        &format!(
            "Action=SetQueueAttributes&QueueUrl={}&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=90",
            queue_url_param(&emulator, &dead)
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
            "instance": i,
            "in_sync": false,
            "missing": [],
            "unexpected": [{"resource": "queue", "name": stray}],
            "differing": [{
                "resource": "queue",
                "name": dead,
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
        .stdout(contains(format!("  + queue {stray}\n")))
        .stdout(contains(format!(
            "  ~ queue {dead}\n      VisibilityTimeout: expected 30 (AWS default), found 90\n"
        )))
        .stdout(contains("1 unexpected, 0 missing, 1 differing"));

    // a subscription removed by hand is missing
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let aws = aws(&emulator).await;
        let endpoint = Endpoint::Queue(project.name("event-queue-any-all-statistic"));
        let arn = aws
            .find_subscription(
                &project.name("event-fanout-orders-order_created"),
                &endpoint,
            )
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
                "topic": project.name("event-fanout-orders-order_created"),
                "endpoint": {"protocol": "sqs", "name": project.name("event-queue-any-all-statistic")}
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
        &format!(
            "Action=CreateTopic&Name={}-event-fanout-registration-user_created",
            common::unique("staging")
        ),
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
    // custom names of this test's own (the tests of a run share one LocalStack)
    let p = common::unique("p");
    let account = emulator.account_id();
    std::thread::scope(|s| {
        for part in 0..4 {
            let (emulator, p) = (&emulator, &p);
            s.spawn(move || {
                for i in (part..queues).step_by(4) {
                    query(emulator, "sqs", &format!("Action=CreateQueue&QueueName={p}q{i:04}"));
                }
                for i in (part..topics).step_by(4) {
                    query(emulator, "sns", &format!("Action=CreateTopic&Name={p}t{i:04}"));
                    query(
                        emulator,
                        "sns",
                        &format!(
                            "Action=Subscribe&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A{account}%3A{p}t{i:04}\
                             &Protocol=sqs&Endpoint=arn%3Aaws%3Asqs%3Aus-east-1%3A{account}%3A{p}q{i:04}"
                        ),
                    );
                }
            });
        }
    });
    let ours = |rows: Value, field: &str| -> Vec<Value> {
        rows.as_array()
            .unwrap()
            .iter()
            .filter(|r| r[field].as_str().unwrap().starts_with(&p))
            .cloned()
            .collect()
    };
    let listed = ours(
        json_of(&project, &emulator, &["list", "queues", "--json"]),
        "name",
    );
    assert_eq!(listed.len(), queues);
    assert_eq!(listed[queues - 1]["name"], format!("{p}q{:04}", queues - 1));
    let listed = ours(
        json_of(&project, &emulator, &["list", "topics", "--json"]),
        "name",
    );
    assert_eq!(listed.len(), topics);
    let listed = ours(
        json_of(&project, &emulator, &["list", "subscriptions", "--json"]),
        "topic",
    );
    assert_eq!(listed.len(), topics);
    assert_eq!(listed[7]["endpoint"], format!("{p}q0007"));
}
