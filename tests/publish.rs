//! The publisher and `lariat publish` against the emulator, on the topology that
//! `lariat migrate` creates from `tests/fixtures/publish`: messages arrive in the subscribed
//! queues and parse back equal, FIFO order holds within a group, and one bad entry of a batch
//! is reported without stopping the others.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sqs::config::Credentials;
use common::Emulator;
use lariat::aws::Aws;
use lariat::message::{Command as CommandMessage, Envelope, Event};
use lariat::naming::NamingDefaults;
use lariat::publish::{PublishError, PublishOptions, Publisher};
use serde_json::json;
use uuid::Uuid;

/// A fresh emulator with the fixture topology applied by the real `lariat migrate`.
struct Setup {
    emulator: Emulator,
    /// The instance name, unique to the test (the tests of a run share one LocalStack).
    instance: String,
    _dir: tempfile::TempDir,
    database_url: String,
}

impl Setup {
    fn new() -> Setup {
        let emulator = Emulator::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("v.db").display());
        let setup = Setup {
            emulator,
            instance: common::unique("t"),
            _dir: dir,
            database_url,
        };
        setup.lariat().arg("migrate").assert().success();
        setup
    }

    /// The `lariat` binary, configured for the fixture and this emulator.
    fn lariat(&self) -> Command {
        let mut cmd = Command::cargo_bin("lariat").expect("lariat binary");
        let migrations =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/publish/lariat/migrate");
        cmd.env_clear()
            .envs(self.emulator.aws_env())
            .args([
                "--instance",
                &self.instance,
                "--publisher",
                "auth",
                "--account-id",
                self.emulator.account_id(),
            ])
            .arg("--dir")
            .arg(migrations)
            .args(["--database-url", &self.database_url]);
        cmd
    }

    async fn aws(&self) -> Aws {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.emulator.endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .load()
            .await;
        Aws::from_sdk_config(&config, self.emulator.account_id()).expect("region is set")
    }

    /// `{instance}-{rest}`: the standard name of a resource of the fixture.
    fn name(&self, rest: &str) -> String {
        format!("{}-{rest}", self.instance)
    }

    async fn publisher(&self) -> Publisher {
        Publisher::new(
            self.aws().await,
            NamingDefaults {
                instance: self.instance.clone(),
                publisher: "auth".into(),
            },
        )
    }
}

/// A received message: body and string attributes.
struct Received {
    body: String,
    attributes: Vec<(String, String)>,
}

/// Receives (and deletes) messages until `count` arrived, or fails after 10 s.
async fn receive(aws: &Aws, queue: &str, count: usize) -> Vec<Received> {
    let url = aws.queue_url(queue);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut received = Vec::new();
    while received.len() < count {
        assert!(
            Instant::now() < deadline,
            "{queue}: {} of {count} messages arrived",
            received.len()
        );
        let answer = aws
            .sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        for m in answer.messages() {
            let mut attributes: Vec<(String, String)> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned()))
                .collect();
            attributes.sort();
            received.push(Received {
                body: m.body().unwrap_or_default().to_owned(),
                attributes,
            });
            aws.sqs
                .delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
    received
}

/// Nothing more is waiting in the queue.
async fn assert_empty(aws: &Aws, queue: &str) {
    let answer = aws
        .sqs
        .receive_message()
        .queue_url(aws.queue_url(queue))
        .max_number_of_messages(10)
        .send()
        .await
        .expect("receive");
    assert!(answer.messages().is_empty(), "{queue} has more messages");
}

fn parse(received: &Received) -> Envelope {
    Envelope::from_sqs_body(&received.body).expect("a valid envelope")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_commands_arrive_parsed_back_equal() {
    let setup = Setup::new();
    let publisher = setup.publisher().await;
    let aws = setup.aws().await;

    let event = publisher
        .event(
            "user_created",
            json!({ "id": 12, "mail": "john.doe@example.com" }),
        )
        .request_id(Uuid::new_v4())
        .build()
        .expect("valid event");
    let sent = publisher
        .publish(&event, &PublishOptions::topic())
        .await
        .expect("published");
    assert_eq!(sent.uuid, event.uuid());
    assert_eq!(
        sent.target.name,
        setup.name("event-fanout-auth-user_created")
    );
    assert!(!sent.message_id.is_empty());

    let raw = receive(&aws, &setup.name("event-queue-auth-user_created-raw"), 1).await;
    assert_eq!(parse(&raw[0]), event);
    assert_eq!(
        raw[0].body,
        event.to_json(),
        "raw delivery keeps the body as sent"
    );
    assert_eq!(
        raw[0].attributes,
        vec![
            ("kind".to_owned(), "event".to_owned()),
            ("publisher".to_owned(), "auth".to_owned()),
            ("type".to_owned(), "event_user_created".to_owned()),
        ]
    );
    let wrapped = receive(
        &aws,
        &setup.name("event-queue-auth-user_created-wrapped"),
        1,
    )
    .await;
    assert!(
        wrapped[0].body.contains("\"Type\""),
        "SNS envelope expected"
    );
    assert_eq!(parse(&wrapped[0]), event);

    let user = Uuid::new_v4();
    let command = publisher
        .command("ban_user", json!({ "reason": "spam" }))
        .subject("user", Uuid::new_v4())
        .object("user", user)
        .build()
        .expect("valid command");
    publisher
        .publish(&command, &PublishOptions::topic())
        .await
        .expect("published");
    let moderation = receive(
        &aws,
        &setup.name("command-queue-auth-ban_user-moderation"),
        1,
    )
    .await;
    let back = parse(&moderation[0]);
    assert_eq!(back, command);
    assert_eq!(back.version(), 2);
    assert_eq!(back.object().map(|o| o.uuid), Some(user));

    // Straight to a queue, like the gem's `sqs.publish`.
    let welcome = publisher
        .command("welcome", json!({ "mail": "john.doe@example.com" }))
        .build()
        .expect("valid command");
    let sent = publisher
        .publish(&welcome, &PublishOptions::queue().dest("mailer"))
        .await
        .expect("sent");
    assert_eq!(
        sent.target.to_string(),
        format!("queue {}", setup.name("command-queue-auth-welcome-mailer"))
    );
    let mailer = receive(&aws, &setup.name("command-queue-auth-welcome-mailer"), 1).await;
    assert_eq!(parse(&mailer[0]), welcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_larger_than_ten_all_arrive() {
    let setup = Setup::new();
    let publisher = setup.publisher().await;
    let aws = setup.aws().await;
    let events: Vec<Envelope> = (0..23)
        .map(|i| {
            publisher
                .event("user_created", json!({ "n": i }))
                .build()
                .expect("valid")
        })
        .collect();
    let results = publisher
        .publish_batch(&events, &PublishOptions::topic())
        .await;
    assert_eq!(results.len(), 23);
    for (event, result) in events.iter().zip(&results) {
        assert_eq!(result.as_ref().expect("sent").uuid, event.uuid());
    }
    let mut got: Vec<Envelope> =
        receive(&aws, &setup.name("event-queue-auth-user_created-raw"), 23)
            .await
            .iter()
            .map(parse)
            .collect();
    let mut want = events.clone();
    got.sort_by_key(Envelope::uuid);
    want.sort_by_key(Envelope::uuid);
    assert_eq!(got, want);
    assert_empty(&aws, &setup.name("event-queue-auth-user_created-raw")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_order_is_kept_within_a_group() {
    let setup = Setup::new();
    let publisher = setup.publisher().await;
    let aws = setup.aws().await;
    let notes: Vec<Envelope> = (0..25)
        .map(|i| {
            publisher
                .event("note_added", json!({ "n": i }))
                .build()
                .expect("valid")
        })
        .collect();

    // Through the FIFO topic to its raw FIFO queue.
    let results = publisher
        .publish_batch(&notes, &PublishOptions::topic().fifo("note-42"))
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let got: Vec<Uuid> = receive(
        &aws,
        &setup.name("event-queue-auth-note_added-log.fifo"),
        25,
    )
    .await
    .iter()
    .map(|r| parse(r).uuid())
    .collect();
    let want: Vec<Uuid> = notes.iter().map(Envelope::uuid).collect();
    assert_eq!(got, want, "order within the group");

    // Straight to a FIFO queue, one message at a time and in a batch.
    let welcomes: Vec<Envelope> = (0..12)
        .map(|i| {
            publisher
                .command("welcome", json!({ "n": i }))
                .build()
                .expect("valid")
        })
        .collect();
    let options = PublishOptions::queue().dest("mailer").fifo("user-1");
    let first = publisher
        .publish(&welcomes[0], &options)
        .await
        .expect("sent");
    assert!(
        first.sequence_number.is_some(),
        "SQS FIFO gives sequence numbers"
    );
    let rest = publisher.publish_batch(&welcomes[1..], &options).await;
    assert!(rest.iter().all(Result::is_ok), "{rest:?}");
    let got: Vec<Uuid> = receive(
        &aws,
        &setup.name("command-queue-auth-welcome-mailer.fifo"),
        12,
    )
    .await
    .iter()
    .map(|r| parse(r).uuid())
    .collect();
    assert_eq!(got, welcomes.iter().map(Envelope::uuid).collect::<Vec<_>>());
}

fn oversized(publisher: &Publisher) -> Envelope {
    publisher
        .event("user_created", json!({ "blob": "x".repeat(300 * 1024) }))
        .build()
        .expect("valid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_entry_is_reported_and_the_others_are_sent() {
    let setup = Setup::new();
    let publisher = setup.publisher().await;
    let aws = setup.aws().await;
    let mut events: Vec<Envelope> = (0..5)
        .map(|i| {
            publisher
                .event("user_created", json!({ "n": i }))
                .build()
                .expect("valid")
        })
        .collect();
    events[2] = oversized(&publisher);

    let results = publisher
        .publish_batch(&events, &PublishOptions::topic())
        .await;
    for (i, result) in results.iter().enumerate() {
        if i == 2 {
            let err = result.as_ref().expect_err("too large");
            assert!(
                matches!(err, PublishError::TooLarge { uuid, max: 262_144, .. } if *uuid == events[2].uuid()),
                "{err:?}"
            );
            assert!(err.to_string().contains("262144"), "{err}");
        } else {
            assert!(result.is_ok(), "{i}: {result:?}");
        }
    }
    let got = receive(&aws, &setup.name("event-queue-auth-user_created-raw"), 4).await;
    assert!(got.iter().all(|r| parse(r).uuid() != events[2].uuid()));
    assert_empty(&aws, &setup.name("event-queue-auth-user_created-raw")).await;

    // With the local check raised, the emulator itself refuses. LocalStack does as AWS does:
    // a PublishBatch call whose messages together pass 256 KiB is refused as a whole
    // (BatchRequestTooLong), so every message of that call reports it and none arrives.
    let lenient = publisher.clone().max_message_bytes(1024 * 1024);
    let results = lenient
        .publish_batch(&events, &PublishOptions::topic())
        .await;
    if setup.emulator.kind() == common::Kind::LocalStack {
        for result in &results {
            assert!(
                matches!(result, Err(PublishError::Request { code: Some(code), .. }) if code == "BatchRequestTooLong"),
                "{result:?}"
            );
        }
        assert_empty(&aws, &setup.name("event-queue-auth-user_created-raw")).await;
        return;
    }
    // moto accepts the call and fails the entry inside a 200 answer: the `Failed` list of
    // PublishBatch is reported on that entry, the others are sent.
    match &results[2] {
        Err(PublishError::Rejected {
            uuid,
            code,
            sender_fault,
            ..
        }) => {
            assert_eq!(*uuid, events[2].uuid());
            assert_eq!(code, "InvalidParameter");
            assert!(sender_fault);
        }
        other => panic!("expected a rejected entry, got {other:?}"),
    }
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        4,
        "{results:?}"
    );
    receive(&aws, &setup.name("event-queue-auth-user_created-raw"), 4).await;
    assert_empty(&aws, &setup.name("event-queue-auth-user_created-raw")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_targets_say_to_migrate() {
    let setup = Setup::new();
    let publisher = setup.publisher().await;
    let event = publisher
        .event("nobody_listens", json!({}))
        .build()
        .expect("valid");
    let err = publisher
        .publish(&event, &PublishOptions::topic())
        .await
        .expect_err("no such topic");
    assert!(matches!(err, PublishError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("run `lariat migrate`"), "{err}");

    let results = publisher
        .publish_batch(
            &[event.clone(), event],
            &PublishOptions::queue().dest("nobody"),
        )
        .await;
    for result in results {
        assert!(
            matches!(&result, Err(PublishError::NotFound { target }) if target.name == setup.name("event-queue-auth-nobody_listens-nobody")),
            "{result:?}"
        );
    }
}

#[test]
fn cli_publish_prints_the_message_id() {
    let setup = Setup::new();
    let output = setup
        .lariat()
        .args(["publish", "event", "user_created", "--data", r#"{"id":12}"#])
        .args(["--subject", "user:40250522-21c8-4fc7-9b0b-47d9666a4430"])
        .args(["--object", "note:f46e74db-3335-4c5e-b476-c2a87660a942"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let stdout = String::from_utf8(output).expect("utf-8");
    assert!(
        stdout.starts_with(&format!(
            "published event_user_created to topic {}\n",
            setup.name("event-fanout-auth-user_created")
        )),
        "{stdout}"
    );
    let uuid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("uuid        "))
        .expect("uuid line");
    assert!(stdout.contains("\nmessage id  "), "{stdout}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let got = runtime.block_on(async {
        let aws = setup.aws().await;
        receive(&aws, &setup.name("event-queue-auth-user_created-raw"), 1).await
    });
    let envelope = parse(&got[0]);
    assert_eq!(envelope.uuid().to_string(), uuid);
    assert_eq!(envelope.version(), 2);
    assert_eq!(envelope.data(), &json!({ "id": 12 }));

    let json_out = setup
        .lariat()
        .args([
            "publish",
            "command",
            "welcome",
            "--to-queue",
            "--dest",
            "mailer",
        ])
        .args([
            "--fifo",
            "--group",
            "g1",
            "--dedup-id",
            "d1",
            "--data",
            "{}",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let value: serde_json::Value = serde_json::from_slice(&json_out).expect("json");
    assert_eq!(
        value["target"]["name"],
        setup.name("command-queue-auth-welcome-mailer.fifo")
    );
    assert!(
        value["message_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{value}"
    );

    setup
        .lariat()
        .args(["publish", "event", "user_created", "--data", "{oops"])
        .assert()
        .code(64)
        .stderr(predicates::str::contains("--data is not valid JSON"));
    setup
        .lariat()
        .args(["publish", "event", "nobody_listens", "--data", "{}"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("run `lariat migrate`"));
}

#[tokio::test]
async fn fake_mode_records_without_aws() {
    let publisher = Publisher::fake(NamingDefaults {
        instance: "test".into(),
        publisher: "auth".into(),
    });
    let event = Event::new("user_created", json!({ "id": 1 }))
        .publisher("auth")
        .build()
        .expect("valid");
    let command = CommandMessage::new("welcome", json!({}))
        .publisher("auth")
        .build()
        .expect("valid");
    publisher
        .publish(&event, &PublishOptions::topic())
        .await
        .expect("recorded");
    publisher
        .publish(&command, &PublishOptions::queue().dest("mailer"))
        .await
        .expect("recorded");
    let sent = publisher.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].envelope, event);
    assert_eq!(
        sent[1].target.name,
        "test-command-queue-auth-welcome-mailer"
    );
    assert_eq!(
        Envelope::from_sqs_body(&sent[1].body).expect("valid"),
        command
    );
}
