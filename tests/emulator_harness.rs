//! Checks the integration-test harness itself (tests/common): the emulator starts, answers,
//! resets, and counts the AWS requests it serves.

mod common;

use common::Emulator;

#[test]
fn emulator_starts_resets_and_counts_requests() {
    let emu = Emulator::start();
    assert!(
        emu.endpoint.starts_with("http://127.0.0.1:"),
        "{}",
        emu.endpoint
    );
    let env = emu.aws_env();
    assert!(env.contains(&("AWS_ENDPOINT_URL", emu.endpoint.clone())));
    assert!(env.contains(&("AWS_REGION", "us-east-1".to_string())));

    // Readiness polls and resets go to /moto-api and are not counted.
    assert_eq!(emu.request_count(), 0, "log:\n{}", emu.log());

    let (status, body) = emu.aws_query("sqs", "Action=CreateQueue&QueueName=harness-q");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("/123456789012/harness-q"), "{body}");
    let (status, body) = emu.aws_query("sqs", "Action=ListQueues");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("harness-q"), "{body}");
    assert_eq!(emu.request_count(), 2, "log:\n{}", emu.log());

    emu.reset();
    let (status, body) = emu.aws_query("sqs", "Action=ListQueues");
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("harness-q"), "queue survived reset: {body}");
    let (status, body) = emu.aws_query("sns", "Action=ListTopics");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ListTopicsResponse"), "{body}");
    assert_eq!(emu.request_count(), 4, "log:\n{}", emu.log());
}

#[test]
fn emulators_are_independent() {
    let a = Emulator::start();
    let b = Emulator::start();
    assert_ne!(a.endpoint, b.endpoint);
    a.aws_query("sqs", "Action=CreateQueue&QueueName=only-in-a");
    let (_, body) = b.aws_query("sqs", "Action=ListQueues");
    assert!(!body.contains("only-in-a"), "{body}");
    assert_eq!(b.request_count(), 1);
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
