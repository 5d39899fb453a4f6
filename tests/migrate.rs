//! `lariat migrate`, `rollback` and `status` end to end: the real binary, the emulator, and
//! the version store on SQLite (always), PostgreSQL and MariaDB (when their URLs are set).

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use common::project::{
    account, aws, declared, policy, topic_tags_and_attributes, Account, Db, Project,
};
use common::{Emulator, Kind};
use predicates::str::contains;

fn migrate_then_rollback_leaves_the_account_as_it_was(db: Db) {
    let emulator = Emulator::start();
    let project = Project::example(db);
    project.lariat(&emulator).arg("status").assert().code(2);
    project
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success()
        .stdout(contains("applied 5 migrations"));
    project.lariat(&emulator).arg("status").assert().code(0);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    assert_eq!(
        runtime.block_on(account(&aws, &project.instance)),
        declared(&project, &emulator)
    );

    project
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success()
        .stdout(contains("undone 5 migrations"));
    assert_eq!(
        runtime.block_on(account(&aws, &project.instance)),
        Account::default()
    );
    project
        .lariat(&emulator)
        .arg("status")
        .assert()
        .code(2)
        .stdout(contains("0 applied, 5 pending"));
}

#[test]
fn sqlite_migrate_then_rollback_leaves_the_account_as_it_was() {
    migrate_then_rollback_leaves_the_account_as_it_was(Db::Sqlite);
}

#[test]
fn postgres_migrate_then_rollback_leaves_the_account_as_it_was() {
    match common::postgres_url() {
        Some(url) => migrate_then_rollback_leaves_the_account_as_it_was(Db::Postgres(url)),
        None => eprintln!("skipped: LARIAT_TEST_POSTGRES_URL is not set"),
    }
}

#[test]
fn mysql_migrate_then_rollback_leaves_the_account_as_it_was() {
    match common::mysql_url() {
        Some(url) => migrate_then_rollback_leaves_the_account_as_it_was(Db::Mysql(url)),
        None => eprintln!("skipped: LARIAT_TEST_MYSQL_URL is not set"),
    }
}

#[test]
fn rollback_to_a_version_keeps_it_applied() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    project.lariat(&emulator).arg("migrate").assert().success();
    project
        .lariat(&emulator)
        .args(["rollback", "20240101000200"])
        .assert()
        .success()
        .stdout(contains("undone 2 migrations"));
    let out = project
        .lariat(&emulator)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let statuses: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> = statuses
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["applied", "applied", "applied", "pending", "pending"]
    );

    project
        .lariat(&emulator)
        .arg("rollback")
        .assert()
        .success()
        .stdout(contains("undone 20240101000200"));
}

#[tokio::test(flavor = "multi_thread")]
async fn published_messages_reach_every_subscribed_queue() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    project.lariat(&emulator).arg("migrate").assert().success();
    let aws = aws(&emulator).await;
    let topic = |name: &str| aws.arns().topic(name);

    // FIFO topic: raw delivery to the mailer, the SNS envelope to statistics
    aws.sns
        .publish()
        .topic_arn(topic(
            &project.name("event-fanout-registration-user_created.fifo"),
        ))
        .message(r#"{"hello":"fifo"}"#)
        .message_group_id("user-1")
        .message_deduplication_id("user-1-created")
        .send()
        .await
        .unwrap();
    let mailer = receive(
        &aws,
        &project.name("event-queue-registration-user_created-mailer.fifo"),
    )
    .await;
    assert_eq!(
        mailer,
        [r#"{"hello":"fifo"}"#],
        "raw delivery keeps the body as published"
    );
    let stat = receive(
        &aws,
        &project.name("event-queue-registration-user_created-stat.fifo"),
    )
    .await;
    assert_eq!(stat.len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(&stat[0]).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["Message"], r#"{"hello":"fifo"}"#);

    // the statistics queue hears both publishers, orders only when the body filter matches
    for amount in [50, 150] {
        aws.sns
            .publish()
            .topic_arn(topic(&project.name("event-fanout-orders-order_created")))
            .message(format!(r#"{{"amount":{amount}}}"#))
            .send()
            .await
            .unwrap();
    }
    aws.sns
        .publish()
        .topic_arn(topic(
            &project.name("event-fanout-registration-user_created"),
        ))
        .message(r#"{"user":1}"#)
        .send()
        .await
        .unwrap();
    let mut statistic = receive(&aws, &project.name("event-queue-any-all-statistic")).await;
    statistic.sort();
    assert_eq!(statistic, [r#"{"amount":150}"#, r#"{"user":1}"#]);
}

/// The bodies in the queue, polled until a poll finds nothing new: LocalStack delivers one
/// message at a time, so a single receive may return only the first.
async fn receive(aws: &lariat::aws::Aws, queue: &str) -> Vec<String> {
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
            return bodies;
        }
        bodies.extend(
            out.messages()
                .iter()
                .filter_map(|m| m.body())
                .map(str::to_owned),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_policies_allow_each_subscribed_topic_and_go_on_unsubscribe() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    project.lariat(&emulator).arg("migrate").assert().success();
    let aws = aws(&emulator).await;
    let queue = &project.name("event-queue-any-all-statistic");
    let statistic = policy(&aws, queue).await.expect("a policy");
    let mut sources: Vec<String> = statistic["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["Principal"]["Service"], "sns.amazonaws.com");
            assert_eq!(s["Action"], "sqs:SendMessage");
            assert_eq!(s["Resource"], aws.arns().queue(queue));
            s["Condition"]["ArnEquals"]["aws:SourceArn"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        [
            aws.arns()
                .topic(&project.name("event-fanout-orders-order_created")),
            aws.arns()
                .topic(&project.name("event-fanout-registration-user_created")),
        ]
    );

    project
        .lariat(&emulator)
        .args(["rollback", "20240101000200"])
        .assert()
        .success();
    let gone = &project.name("event-queue-registration-user_created-mailer.fifo");
    project
        .lariat(&emulator)
        .args(["rollback", "20240101000100"])
        .assert()
        .success();
    assert!(
        policy(&aws, gone).await.is_none(),
        "the last statement removed removes the policy"
    );
}

#[test]
fn an_edited_applied_file_is_refused() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    project
        .lariat(&emulator)
        .args(["migrate", "--to", "20240101000100"])
        .assert()
        .success();
    let file = project
        .migrations()
        .join("20240101000000_user_created_topic.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("identity", "platform")).unwrap();
    project
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .code(4)
        .stderr(contains(
            "20240101000000_user_created_topic.toml) was edited after it was applied",
        ));
    project
        .lariat(&emulator)
        .arg("status")
        .assert()
        .stdout(contains("modified"));
}

#[test]
fn a_queue_made_by_hand_with_other_attributes_is_an_error_naming_them() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    let (status, body) = emulator.aws_query(
        "sqs",
        &format!(
            "Action=CreateQueue&QueueName={}\
             &Attribute.1.Name=FifoQueue&Attribute.1.Value=true\
             &Attribute.2.Name=VisibilityTimeout&Attribute.2.Value=10",
            project.name("event-queue-registration-user_created-mailer.fifo")
        ),
    );
    assert_eq!(status, 200, "{body}");
    project
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .code(1)
        .stderr(contains("already exists with other attributes"))
        .stderr(contains("VisibilityTimeout: declared 60, found 10"))
        .stderr(contains("completed before stopping: 20240101000000"));
    project
        .lariat(&emulator)
        .arg("status")
        .assert()
        .stdout(contains("interrupted"));
}

#[test]
fn two_migrates_started_together_apply_each_migration_once() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    let outputs = project.race(&emulator, 2, &["migrate"]);
    let applied: usize = outputs
        .iter()
        .map(|o| o.matches("   applied ").count())
        .sum();
    assert_eq!(applied, 5, "each migration applied once: {outputs:#?}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    assert_eq!(
        runtime.block_on(account(&aws, &project.instance)),
        declared(&project, &emulator)
    );
}

#[test]
fn dry_run_makes_no_aws_call_and_changes_nothing() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    // moto's log counts this test's requests; the shared LocalStack serves other tests too
    let before = (emulator.kind() == Kind::Moto).then(|| emulator.request_count());
    let i = &project.instance;
    project
        .lariat(&emulator)
        .args(["migrate", "--dry-run", "--account-id", "123456789012"])
        .assert()
        .success()
        .stdout(contains("dry run: would apply 5 migration(s)"))
        .stdout(contains(format!("sns:CreateTopic {i}-event-fanout-registration-user_created.fifo ContentBasedDeduplication=true FifoTopic=true")))
        .stdout(contains(format!("sns:Subscribe {i}-event-fanout-orders-order_created -> sqs {i}-event-queue-any-all-statistic")));
    if let Some(before) = before {
        assert_eq!(emulator.request_count(), before);
    }
    project
        .lariat(&emulator)
        .arg("status")
        .assert()
        .code(2)
        .stdout(contains("5 pending"));
}

#[test]
fn aws_requests_per_created_resource() {
    if common::skip_on_localstack("counts requests in moto's log; LocalStack is shared by the run")
    {
        return;
    }
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    let before = emulator.request_count();
    project.lariat(&emulator).arg("migrate").assert().success();
    let requests = emulator.request_count() - before;
    let declared = declared(&project, &emulator);
    let resources = declared.topics.len() + declared.queues.len();
    let subscriptions = declared.subscriptions.len();
    // one STS call for the account id, one call per topic or queue, at most three per subscription
    assert!(
        requests <= 1 + resources + 3 * subscriptions,
        "{requests} requests for {resources} topics and queues and {subscriptions} subscriptions"
    );
}

/// Runs `statements` on the project's version store and returns the first column (an
/// integer) of the last one's rows.
fn sql(project: &Project, statements: &[String]) -> Vec<i64> {
    use sqlx::Row;
    let url = project.database_url.replacen("mariadb:", "mysql:", 1);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut last = Vec::new();
        for sql in statements {
            last = if url.starts_with("postgres") {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
                rows.iter().map(|r| r.get::<i64, _>(0)).collect()
            } else if url.starts_with("mysql") {
                let pool = sqlx::MySqlPool::connect(&url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
                rows.iter().map(|r| r.get::<i64, _>(0)).collect()
            } else {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(url.trim_start_matches("sqlite://"))
                    .create_if_missing(true);
                let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
                rows.iter().map(|r| r.get::<i64, _>(0)).collect()
            };
        }
        last
    })
}

/// The Ruby gem's versions table under lariat's table name (bug: lariat failed with a raw SQL
/// error and `migrate` could write to it): every command that reads the store stops with an
/// error naming the table and `--versions-table`, exit 3, and the table is left as it was.
fn gem_versions_table_stops_every_command_untouched(db: Db) {
    let emulator = Emulator::start();
    let project = Project::example(db);
    let table = &project.table;
    sql(
        &project,
        &[
            format!("CREATE TABLE {table} (version BIGINT NOT NULL UNIQUE)"),
            format!("INSERT INTO {table} (version) VALUES (1668097991)"),
        ],
    );
    // moto's log counts this test's requests; the shared LocalStack serves other tests too
    let before = (emulator.kind() == Kind::Moto).then(|| emulator.request_count());
    for args in [
        &["status"][..],
        &["migrate"],
        &["migrate", "--dry-run", "--account-id", "123456789012"],
        &["rollback"],
        &["rollback", "--all", "--yes"],
        &["drift"],
    ] {
        let out = project.lariat(&emulator).args(args).assert().code(3);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains(&format!("`{table}` was not created by lariat")),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("--versions-table"), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("error returned from database"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(
        sql(&project, &[format!("SELECT version FROM {table}")]),
        [1668097991],
        "the gem's rows are untouched"
    );
    let requests = before.map(|before| emulator.request_count() - before);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    assert_eq!(
        runtime.block_on(account(&aws, &project.instance)),
        Account::default(),
        "{requests:?} requests"
    );
}

#[test]
fn sqlite_gem_versions_table_stops_every_command_untouched() {
    gem_versions_table_stops_every_command_untouched(Db::Sqlite);
}

#[test]
fn postgres_gem_versions_table_stops_every_command_untouched() {
    match common::postgres_url() {
        Some(url) => gem_versions_table_stops_every_command_untouched(Db::Postgres(url)),
        None => eprintln!("skipped: LARIAT_TEST_POSTGRES_URL is not set"),
    }
}

#[test]
fn mysql_gem_versions_table_stops_every_command_untouched() {
    match common::mysql_url() {
        Some(url) => gem_versions_table_stops_every_command_untouched(Db::Mysql(url)),
        None => eprintln!("skipped: LARIAT_TEST_MYSQL_URL is not set"),
    }
}

/// A topic that exists before its `create_topic` runs, with other attributes and tags: made by
/// the Ruby gem (which tags differently), or left by a run that crashed before recording its
/// version. AWS and LocalStack refuse `CreateTopic` of it ("Topic already exists with different
/// attributes/tags"), so lariat reads the topic and sets the declared attributes and tags; other
/// tags stay. moto accepts that `CreateTopic` silently and changes nothing, so on moto the topic
/// keeps what it had and `drift` names it: the convergence itself shows on LocalStack.
#[tokio::test(flavor = "multi_thread")]
async fn a_topic_made_outside_with_other_attributes_and_tags_is_taken_over() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    let topic = project.name("event-fanout-registration-user_created.fifo");
    let (status, body) = emulator.aws_query(
        "sns",
        &format!(
            "Action=CreateTopic&Name={topic}\
             &Attributes.entry.1.key=FifoTopic&Attributes.entry.1.value=true\
             &Attributes.entry.2.key=DisplayName&Attributes.entry.2.value=gem\
             &Tags.member.1.Key=team&Tags.member.1.Value=platform\
             &Tags.member.2.Key=made_by&Tags.member.2.Value=ruby"
        ),
    );
    assert_eq!(status, 200, "{body}");

    project
        .lariat(&emulator)
        .args(["migrate", "--to", "20240101000000"])
        .assert()
        .success()
        .stdout(contains("applied 20240101000000"));
    let drift = project.lariat(&emulator).arg("drift").output().unwrap();
    let stdout = String::from_utf8_lossy(&drift.stdout);
    let aws = aws(&emulator).await;
    let (tags, attributes) = topic_tags_and_attributes(&aws, &topic).await;
    match emulator.kind() {
        Kind::LocalStack => {
            assert_eq!(
                drift.status.code(),
                Some(0),
                "drift after taking over: {stdout}"
            );
            assert_eq!(tags["team"], "identity", "the declared tag is set");
            assert_eq!(tags["managed_by"], "lariat");
            assert_eq!(
                tags["made_by"], "ruby",
                "a tag lariat does not declare stays"
            );
            assert_eq!(attributes["ContentBasedDeduplication"], "true");
            assert_eq!(
                attributes
                    .get("DisplayName")
                    .map(String::as_str)
                    .unwrap_or(""),
                ""
            );
            // a re-run of the same CreateTopic now succeeds without the extra reads
            project
                .lariat(&emulator)
                .args(["rollback", "--all", "--yes"])
                .assert()
                .success();
        }
        Kind::Moto => {
            assert_eq!(
                drift.status.code(),
                Some(2),
                "moto kept the topic as it was: {stdout}"
            );
            assert!(stdout.contains("tag team"), "{stdout}");
            assert!(stdout.contains("DisplayName"), "{stdout}");
            assert_eq!(tags["team"], "platform");
        }
    }
}

/// The README's quickstart, step by step, on either emulator: `migrate`, `drift` (in sync),
/// `publish` (the message arrives in each subscribed queue), `rollback --all --yes` (nothing
/// of the instance is left: no topic, queue or subscription), `drift` (in sync again). On
/// LocalStack this needs the derived subscriptions of fanout-to-fanout (AWS has no `sns`
/// protocol) and the unsubscribe before `DeleteTopic` (LocalStack keeps a deleted topic's
/// subscriptions).
#[tokio::test(flavor = "multi_thread")]
async fn the_readme_quickstart_works_unchanged() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    project
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success()
        .stdout(contains("applied 5 migrations"));
    project.lariat(&emulator).arg("drift").assert().code(0);

    let aws = aws(&emulator).await;
    let fifo = |dest| {
        project.name(&format!(
            "event-queue-registration-user_created-{dest}.fifo"
        ))
    };
    publish_reaches(
        &project,
        &emulator,
        &aws,
        &[
            "user_created",
            "--fifo",
            "--group",
            "user-42",
            "--data",
            r#"{"id":12}"#,
        ],
        &[fifo("mailer"), fifo("stat")],
    )
    .await;
    // fanout-to-fanout: client_created reaches the mailer and statistics of user_created
    let any = |dest| project.name(&format!("event-queue-any-user_created-{dest}"));
    publish_reaches(
        &project,
        &emulator,
        &aws,
        &[
            "client_created",
            "--publisher",
            "client_panel",
            "--data",
            r#"{"client":7}"#,
        ],
        &[any("mailer"), any("stat")],
    )
    .await;

    project
        .lariat(&emulator)
        .args(["rollback", "--all", "--yes"])
        .assert()
        .success()
        .stdout(contains("undone 5 migrations"));
    assert_eq!(account(&aws, &project.instance).await, Account::default());
    project.lariat(&emulator).arg("drift").assert().code(0);
}

/// `lariat publish event ARGS` (the first of ARGS is the type), then each of `queues` receives
/// the event exactly once.
async fn publish_reaches(
    project: &Project,
    emulator: &Emulator,
    aws: &lariat::aws::Aws,
    args: &[&str],
    queues: &[String],
) {
    project
        .lariat(emulator)
        .args(["publish", "event"])
        .args(args)
        .assert()
        .success();
    for queue in queues {
        let bodies = receive(aws, queue).await;
        assert_eq!(bodies.len(), 1, "{queue}: exactly once: {bodies:?}");
        assert!(bodies[0].contains(args[0]), "{queue}: {bodies:?}");
    }
}
