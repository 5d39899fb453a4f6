//! AWS requests per declared thing (issue 16): on a fresh account `migrate` sends one request
//! per topic, queue and subscription, each queue getting its whole access policy in its
//! `CreateQueue`; `rollback --all` sends no policy rewrite for a queue it deletes. Counted by
//! lariat itself (`-v` prints the requests of the run by action), so it runs on either
//! emulator; policies are read back.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_sqs::types::QueueAttributeName;
use common::project::{account, aws, declared, policy, Account, Db, Project};
use common::Emulator;
use lariat::aws::Aws;
use lariat::plan::Checks;
use lariat::store::VersionState;
use lariat::Migrator;

/// Runs `lariat -v ARGS` and returns the requests it reports, by action.
fn requests(project: &Project, emulator: &Emulator, args: &[&str]) -> BTreeMap<String, u64> {
    requests_of(project.lariat(emulator), args)
}

/// [`requests`] of a prepared command.
fn requests_of(mut lariat: assert_cmd::Command, args: &[&str]) -> BTreeMap<String, u64> {
    let out = lariat.arg("-v").args(args).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let line = stderr
        .lines()
        .find_map(|l| l.split_once("AWS requests: ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no request counts in the output of {args:?}:\n{stderr}"));
    let counts: BTreeMap<String, u64> = line
        .split(", ")
        .map(|item| {
            let (action, n) = item.trim().rsplit_once(' ').unwrap();
            (action.to_owned(), n.parse().unwrap())
        })
        .collect();
    let total: u64 = counts.values().sum();
    assert!(
        stdout.contains(&format!("({total} AWS requests)")),
        "the summary gives the total: {stdout}"
    );
    counts
}

fn count(counts: &BTreeMap<String, u64>, action: &str) -> usize {
    counts.get(action).copied().unwrap_or(0) as usize
}

/// The topics each queue's policy lets send to it (by name), read back from AWS.
async fn allowed_topics(aws: &Aws, queue: &str) -> BTreeSet<String> {
    let Some(doc) = policy(aws, queue).await else {
        return BTreeSet::new();
    };
    let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
    let topics: Vec<String> = statements
        .iter()
        .filter(|s| {
            s["Sid"]
                .as_str()
                .is_some_and(|id| id.starts_with("topic-subscription-"))
        })
        .map(|s| {
            let arn = s["Condition"]["ArnEquals"]["aws:SourceArn"]
                .as_str()
                .unwrap();
            arn.rsplit(':').next().unwrap().to_owned()
        })
        .collect();
    let unique: BTreeSet<String> = topics.iter().cloned().collect();
    assert_eq!(unique.len(), topics.len(), "one statement per topic: {doc}");
    unique
}

/// What each queue's policy should allow: the topics subscribed to it (derived included).
fn expected_policies(want: &Account) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = want
        .queues
        .iter()
        .map(|q| (q.clone(), BTreeSet::new()))
        .collect();
    for (topic, endpoint, protocol) in &want.subscriptions {
        if protocol == "sqs" {
            out.entry(endpoint.clone())
                .or_default()
                .insert(topic.clone());
        }
    }
    out
}

async fn policies(aws: &Aws, want: &Account) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for queue in &want.queues {
        out.insert(queue.clone(), allowed_topics(aws, queue).await);
    }
    out
}

#[test]
fn migrate_sends_one_request_per_topic_queue_and_subscription() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    let want = declared(&project, &emulator);
    assert!(want.subscriptions.len() > want.topics.len(), "{want:?}");

    let up = requests(&project, &emulator, &["migrate"]);
    let (topics, queues, subscriptions) = (
        want.topics.len(),
        want.queues.len(),
        want.subscriptions.len(),
    );
    assert_eq!(count(&up, "sns:CreateTopic"), topics, "{up:?}");
    assert_eq!(count(&up, "sqs:CreateQueue"), queues, "{up:?}");
    assert_eq!(count(&up, "sns:Subscribe"), subscriptions, "{up:?}");
    let sts = count(&up, "sts:GetCallerIdentity");
    let total: usize = up.values().map(|n| *n as usize).sum();
    assert_eq!(
        total - sts,
        topics + queues + subscriptions,
        "nothing but one request per topic, queue and subscription: {up:?}"
    );
    assert_eq!(runtime.block_on(account(&aws, &project.instance)), want);
    // the policies came with the queues: each allows exactly the topics subscribed to it,
    // derived subscriptions (fanout-to-fanout) included
    let expected = expected_policies(&want);
    assert!(
        expected.values().any(|topics| topics.len() >= 3),
        "{expected:?}"
    );
    assert_eq!(runtime.block_on(policies(&aws, &want)), expected);

    // nothing to do: no request beyond the version table
    project
        .lariat(&emulator)
        .arg("migrate")
        .assert()
        .success()
        .stdout(predicates::str::contains("everything is up to date"));

    let down = requests(&project, &emulator, &["rollback", "--all", "--yes"]);
    assert_eq!(count(&down, "sqs:GetQueueAttributes"), 0, "{down:?}");
    assert_eq!(count(&down, "sqs:SetQueueAttributes"), 0, "{down:?}");
    assert_eq!(count(&down, "sqs:DeleteQueue"), queues, "{down:?}");
    assert_eq!(count(&down, "sns:DeleteTopic"), topics, "{down:?}");
    assert_eq!(count(&down, "sns:Unsubscribe"), subscriptions, "{down:?}");
    // each topic's subscriptions are listed once, however many of them go
    assert!(
        count(&down, "sns:ListSubscriptionsByTopic") <= topics,
        "{down:?}"
    );
    assert_eq!(
        runtime.block_on(account(&aws, &project.instance)),
        Account::default()
    );
}

/// A run killed right after its `CreateQueue` calls (the queues carry the policy for topics
/// not subscribed yet, the version still `applying`): the re-run converges, with one
/// statement per subscribed topic.
#[test]
fn a_run_stopped_between_create_queue_and_subscribe_converges() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    let want = declared(&project, &emulator);

    // what the killed run did: every create call of the plan, and the rows it had marked
    let migrator = Migrator::load(project.config(&emulator)).unwrap();
    runtime.block_on(async {
        let plan = migrator
            .plan_migrate(None, Checks::default())
            .await
            .unwrap();
        let store = migrator.store().await.unwrap();
        for (step, calls) in plan
            .steps
            .iter()
            .zip(lariat::calls::plan_calls(&plan, aws.arns()))
        {
            store
                .mark(
                    step.version,
                    &step.name,
                    &step.checksum,
                    VersionState::Applying,
                )
                .await
                .unwrap();
            for call in calls.iter().flatten() {
                if matches!(
                    call,
                    lariat::calls::Call::CreateQueue { .. }
                        | lariat::calls::Call::CreateTopic { .. }
                ) {
                    aws.execute(call).await.unwrap();
                }
            }
        }
        store.close().await;
    });
    let queues_with_policy = runtime.block_on(policies(&aws, &want));
    assert!(
        queues_with_policy.values().any(|topics| !topics.is_empty()),
        "the creates carried policies: {queues_with_policy:?}"
    );

    let rerun = requests(&project, &emulator, &["migrate"]);
    assert_eq!(runtime.block_on(account(&aws, &project.instance)), want);
    assert_eq!(
        runtime.block_on(policies(&aws, &want)),
        expected_policies(&want)
    );
    // the queues were there with the same attributes and policy: nothing to read or write
    assert_eq!(count(&rerun, "sqs:SetQueueAttributes"), 0, "{rerun:?}");
}

/// The queues exist already, one with a statement of its owner's and none with lariat's (an
/// account that has the resources, a version table that does not): `migrate` keeps the
/// foreign statement, adds the missing ones, and writes only the policies that need it.
#[test]
fn existing_queues_get_the_missing_statements_added() {
    let emulator = Emulator::start();
    let project = Project::example(Db::Sqlite);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let aws = runtime.block_on(aws(&emulator));
    let want = declared(&project, &emulator);
    project.lariat(&emulator).arg("migrate").assert().success();
    let expected = expected_policies(&want);

    // a new version table; one queue's policy replaced by its owner's own statement
    let queue = expected
        .iter()
        .find(|(_, topics)| topics.len() >= 2)
        .map(|(q, _)| q.clone())
        .unwrap();
    let foreign = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "owner-reads",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{}:root", emulator.account_id()) },
            "Action": "sqs:ReceiveMessage",
            "Resource": aws.arns().queue(&queue),
        }],
    });
    runtime
        .block_on(
            aws.sqs
                .set_queue_attributes()
                .queue_url(aws.queue_url(&queue))
                .attributes(QueueAttributeName::Policy, foreign.to_string())
                .send(),
        )
        .unwrap();
    let mut lariat = project.lariat(&emulator);
    lariat.env("LARIAT_VERSIONS_TABLE", format!("{}_again", project.table));

    let rerun = requests_of(lariat, &["migrate"]);
    assert_eq!(runtime.block_on(account(&aws, &project.instance)), want);
    assert_eq!(runtime.block_on(policies(&aws, &want)), expected);
    // one write, for the one queue whose policy lacked statements
    assert_eq!(count(&rerun, "sqs:SetQueueAttributes"), 1, "{rerun:?}");
    assert_eq!(
        count(&rerun, "sns:Subscribe"),
        want.subscriptions.len(),
        "{rerun:?}"
    );
    let text = runtime.block_on(policy(&aws, &queue)).unwrap().to_string();
    assert!(
        text.contains("owner-reads"),
        "the owner's statement stays: {text}"
    );
}
