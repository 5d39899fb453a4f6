//! Fanout-to-fanout on an emulator (moto, or LocalStack with `LARIAT_TEST_EMULATOR=localstack`):
//! the example's topic-to-topic links become direct subscriptions of the target topic's queues,
//! so messages published upstream arrive once in each queue, and no `sns`-protocol
//! subscription ever exists (AWS and LocalStack refuse them).

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use common::project::{account, aws, declared, Account, Db, Project};
use common::Emulator;
use predicates::prelude::*;
use predicates::str::contains;

const CLIENT: &str = "event-fanout-client_panel-client_created";
const MANAGER: &str = "event-fanout-management_panel-manager_created";
const MAILER: &str = "event-queue-any-user_created-mailer";
const STAT: &str = "event-queue-any-user_created-stat";
const AUDIT: &str = "event-queue-any-user_created-audit";

const THIRD_QUEUE: &str = r#"
description = "A third queue on the user_created topic of publisher any"

[[create_queue]]
type = "user_created"
publisher = "any"
dest = "audit"

[[subscribe]]
topic = { type = "user_created", publisher = "any" }
queue = { type = "user_created", publisher = "any", dest = "audit" }
"#;

async fn publish(aws: &lariat::aws::Aws, topic: &str, body: &str) {
    aws.sns
        .publish()
        .topic_arn(aws.arns().topic(topic))
        .message(body)
        .send()
        .await
        .unwrap();
}

/// Every body in the queue, received until it is empty (each message deleted once read).
async fn drain(aws: &lariat::aws::Aws, queue: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = aws
            .sqs
            .receive_message()
            .queue_url(aws.queue_url(queue))
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            // SNS envelope unless raw delivery: the published text is its `Message`
            let message = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["Message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| body.to_owned());
            bodies.push(message);
            aws.sqs
                .delete_message()
                .queue_url(aws.queue_url(queue))
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    bodies.sort();
    bodies
}

fn no_sns_protocol(account: &Account) {
    assert!(
        account.subscriptions.iter().all(|(_, _, p)| p == "sqs"),
        "{:#?}",
        account.subscriptions
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_messages_reach_each_queue_once_and_follow_the_topology() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    let started = std::time::Instant::now();
    project
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success()
        .stdout(contains("applied 5 migrations"));
    eprintln!("migrate of the example: {:?}", started.elapsed());
    project.lariat(&emulator).arg("drift").assert().code(0);
    let aws = aws(&emulator).await;
    let live = account(&aws, &project.instance).await;
    no_sns_protocol(&live);
    assert_eq!(live, declared(&project, &emulator));

    let name = |rest: &str| project.name(rest);
    publish(&aws, &name(CLIENT), "client-1").await;
    publish(&aws, &name(MANAGER), "manager-1").await;
    for queue in [MAILER, STAT] {
        assert_eq!(
            drain(&aws, &name(queue)).await,
            ["client-1", "manager-1"],
            "{queue}: each message exactly once"
        );
    }

    // a third queue on the target topic hears the upstream topics too
    project.write("20240104000000_third_queue.toml", THIRD_QUEUE);
    project
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success()
        .stdout(contains("applied 1 migration"));
    project.lariat(&emulator).arg("drift").assert().code(0);
    publish(&aws, &name(CLIENT), "client-2").await;
    assert_eq!(drain(&aws, &name(AUDIT)).await, ["client-2"]);
    assert_eq!(drain(&aws, &name(MAILER)).await, ["client-2"]);

    // rolling it back takes the derived subscriptions with it
    project.lariat(&emulator).arg("rollback").assert().success();
    project.lariat(&emulator).arg("drift").assert().code(0);
    let live = account(&aws, &project.instance).await;
    assert!(
        live.subscriptions
            .iter()
            .all(|(_, e, _)| !e.ends_with("audit")),
        "{:#?}",
        live.subscriptions
    );
    assert!(!live.queues.iter().any(|q| q.ends_with("audit")));
    publish(&aws, &name(CLIENT), "client-3").await;
    assert_eq!(drain(&aws, &name(STAT)).await, ["client-2", "client-3"]);

    let started = std::time::Instant::now();
    project
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success()
        .stdout(contains("undone 5 migrations"));
    eprintln!("rollback --all of the example: {:?}", started.elapsed());
    assert_eq!(account(&aws, &project.instance).await, Account::default());
}

#[test]
fn dry_run_list_and_graph_show_the_derived_subscriptions() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    let i = &project.instance;
    project
        .lariat(&emulator)
        .args(["migrate", "--dry-run", "--account-id", "123456789012"])
        .assert()
        .success()
        .stdout(contains(format!(
            "sns:Subscribe {i}-{CLIENT} -> sqs {i}-{MAILER}"
        )))
        .stdout(contains("-> sns ").not());
    project.lariat(&emulator).arg("migrate").assert().success();
    project
        .lariat(&emulator)
        .args(["list", "subscriptions"])
        .assert()
        .success()
        .stdout(contains(format!("via {i}-event-fanout-any-user_created")));
    project
        .lariat(&emulator)
        .args(["graph", "--derived"])
        .assert()
        .success()
        .stdout(contains(format!(
            "\"topic:{i}-{CLIENT}\" -> \"queue:{i}-{MAILER}\" [style=dashed"
        )));
    project
        .lariat(&emulator)
        .args(["graph", "--live", "--derived"])
        .assert()
        .success()
        .stdout(contains(format!(
            "\"topic:{i}-{CLIENT}\" -> \"queue:{i}-{MAILER}\" [style=dashed"
        )));
    project
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success();
}
