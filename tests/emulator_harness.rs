//! Checks the integration-test harness itself (tests/common): the emulator starts and answers;
//! on moto it also resets and counts the AWS requests it serves.

mod common;

use common::{Emulator, Kind};

#[test]
fn emulator_answers_for_its_account() {
    let emu = Emulator::start();
    assert!(
        emu.endpoint.starts_with("http://127.0.0.1:"),
        "{}",
        emu.endpoint
    );
    let env = emu.aws_env();
    assert!(env.contains(&("AWS_ENDPOINT_URL", emu.endpoint.clone())));
    assert!(env.contains(&("AWS_REGION", "us-east-1".to_string())));

    let queue = common::unique("harness_q");
    let (status, body) = emu.aws_query("sqs", &format!("Action=CreateQueue&QueueName={queue}"));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("/{}/{queue}", emu.account_id())),
        "{body}"
    );
    let (status, body) = emu.aws_query("sqs", "Action=ListQueues");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&queue), "{body}");
    let (status, body) = emu.aws_query("sns", "Action=ListTopics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ListTopicsResponse"), "{body}");
}

#[test]
fn moto_resets_and_counts_requests() {
    if common::skip_on_localstack(
        "LocalStack's free edition has no reset, and its one server is shared by every test",
    ) {
        return;
    }
    let emu = Emulator::start();
    assert_eq!(emu.kind(), Kind::Moto);
    // Readiness polls and resets go to /moto-api and are not counted.
    assert_eq!(emu.request_count(), 0, "log:\n{}", emu.log());
    emu.aws_query("sqs", "Action=CreateQueue&QueueName=harness-q");
    let (_, body) = emu.aws_query("sqs", "Action=ListQueues");
    assert!(body.contains("harness-q"), "{body}");
    assert_eq!(emu.request_count(), 2, "log:\n{}", emu.log());

    emu.reset();
    let (status, body) = emu.aws_query("sqs", "Action=ListQueues");
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("harness-q"), "queue survived reset: {body}");
    assert_eq!(emu.request_count(), 3, "log:\n{}", emu.log());
}

#[test]
fn moto_servers_are_independent() {
    if common::skip_on_localstack("the tests of a run share one LocalStack by design") {
        return;
    }
    let a = Emulator::start();
    let b = Emulator::start();
    assert_ne!(a.endpoint, b.endpoint);
    a.aws_query("sqs", "Action=CreateQueue&QueueName=only-in-a");
    let (_, body) = b.aws_query("sqs", "Action=ListQueues");
    assert!(!body.contains("only-in-a"), "{body}");
    assert_eq!(b.request_count(), 1);
}

#[test]
fn unique_names_differ_and_are_valid_name_parts() {
    let names: std::collections::HashSet<String> = (0..1000).map(|_| common::unique("t")).collect();
    assert_eq!(names.len(), 1000);
    for name in &names {
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
    }
}

#[test]
fn database_urls_are_optional() {
    // Just exercises the helpers: CI sets both, a developer machine may set neither.
    for url in [common::postgres_url(), common::mysql_url()]
        .into_iter()
        .flatten()
    {
        assert!(url.contains("://"), "{url}");
    }
}
