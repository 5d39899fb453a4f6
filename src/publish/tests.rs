//! Unit tests of the publisher: names, checks, batching, and the fake and null transports.

use std::collections::BTreeMap;

use serde_json::json;
use uuid::Uuid;

use super::check::{attributes, message_size, prepare};
use super::error::PublishError;
use super::options::target;
use super::*;
use crate::aws::AwsError;
use crate::message::{Command, Envelope, Event};
use crate::naming::{NameError, NamingDefaults, ResourceKind};

fn defaults() -> NamingDefaults {
    NamingDefaults {
        instance: "test".into(),
        publisher: "auth".into(),
    }
}

fn event(name: &str) -> Envelope {
    Event::new(name, json!({ "mail": "john.doe@example.com" }))
        .publisher("auth")
        .build()
        .expect("valid event")
}

fn command(name: &str) -> Envelope {
    Command::new(name, json!({}))
        .publisher("cyclone_lariat")
        .build()
        .expect("valid command")
}

fn name_of(envelope: &Envelope, options: &PublishOptions) -> String {
    target("test", envelope, options).expect("target").name
}

#[test]
fn standard_names_follow_the_gem() {
    let register = command("register_user");
    assert_eq!(
        name_of(&register, &PublishOptions::topic()),
        "test-command-fanout-cyclone_lariat-register_user"
    );
    let e = Event::new("register_user", json!({}))
        .publisher("cyclone_lariat")
        .build()
        .expect("valid");
    assert_eq!(
        name_of(&e, &PublishOptions::queue().dest("mailer")),
        "test-event-queue-cyclone_lariat-register_user-mailer"
    );
    assert_eq!(
        name_of(&event("note_added"), &PublishOptions::topic().fifo("g")),
        "test-event-fanout-auth-note_added.fifo"
    );
    assert_eq!(
        name_of(&event("note_added"), &PublishOptions::queue()),
        "test-event-queue-auth-note_added"
    );
    let t = target("test", &event("x"), &PublishOptions::queue().fifo("g")).expect("target");
    assert_eq!(
        (t.resource, t.fifo(), t.to_string()),
        (
            ResourceKind::Queue,
            true,
            "queue test-event-queue-auth-x.fifo".to_owned()
        )
    );
}

#[test]
fn custom_names_bypass_the_rule() {
    let t = target(
        "test",
        &event("x"),
        &PublishOptions::queue().name("custom_topic_name.fifo"),
    )
    .expect("target");
    assert_eq!(t.name, "custom_topic_name.fifo");
    assert!(t.fifo(), "a .fifo name is FIFO");
    let err = target("test", &event("x"), &PublishOptions::topic().name("a b"));
    assert!(matches!(err, Err(PublishError::Name { .. })), "{err:?}");
    let mismatch = target(
        "test",
        &event("x"),
        &PublishOptions::topic().name("plain").fifo("g"),
    );
    assert!(
        matches!(mismatch, Err(PublishError::Name { .. })),
        "{mismatch:?}"
    );
}

#[test]
fn bad_targets_are_explained() {
    let err = target("test", &event("x"), &PublishOptions::topic().dest("mailer"))
        .expect_err("dest on a topic");
    assert!(err.to_string().contains("--to-queue"), "{err}");
    let hyphen = Event::new("x", json!({}))
        .publisher("my-app")
        .build()
        .expect("the envelope allows it");
    let err = target("test", &hyphen, &PublishOptions::topic()).expect_err("hyphen");
    assert!(err.to_string().contains("publisher `my-app`"), "{err}");
    let long = event(&"a".repeat(80));
    assert!(matches!(
        target("test", &long, &PublishOptions::topic()),
        Err(PublishError::Name {
            source: NameError::TooLong { .. }
        })
    ));
}

#[test]
fn standard_attributes_are_always_set() {
    let attrs = attributes(&event("user_created"), &BTreeMap::new()).expect("valid");
    assert_eq!(
        attrs,
        BTreeMap::from([
            ("kind".to_owned(), "event".to_owned()),
            ("publisher".to_owned(), "auth".to_owned()),
            ("type".to_owned(), "event_user_created".to_owned()),
        ])
    );
    let extra = BTreeMap::from([("tenant".to_owned(), "42".to_owned())]);
    let attrs = attributes(&command("ban_user"), &extra).expect("valid");
    assert_eq!(attrs.get("tenant").map(String::as_str), Some("42"));
    assert_eq!(
        attrs.get("type").map(String::as_str),
        Some("command_ban_user")
    );
}

#[test]
fn bad_attributes_are_refused() {
    let e = event("x");
    for (name, value) in [
        ("type", "x"),
        ("", "x"),
        ("a b", "x"),
        (".a", "x"),
        ("a..b", "x"),
        ("AWS.x", "x"),
        ("amazon.y", "x"),
        ("ok", ""),
    ] {
        let extra = BTreeMap::from([(name.to_owned(), value.to_owned())]);
        let err = attributes(&e, &extra).expect_err(name);
        assert!(
            matches!(err, PublishError::BadAttribute { .. }),
            "{name}: {err:?}"
        );
    }
    let many: BTreeMap<String, String> =
        (0..8).map(|i| (format!("a{i}"), "v".to_owned())).collect();
    assert!(matches!(
        attributes(&e, &many),
        Err(PublishError::TooManyAttributes { count: 11 })
    ));
    let seven: BTreeMap<String, String> =
        (0..7).map(|i| (format!("a{i}"), "v".to_owned())).collect();
    assert_eq!(attributes(&e, &seven).expect("ten in all").len(), 10);
}

#[test]
fn fifo_ids() {
    let e = event("x");
    let fifo = target("test", &e, &PublishOptions::topic().fifo("g")).expect("target");
    let out = prepare(
        &e,
        &PublishOptions::topic().fifo("g"),
        &fifo,
        DEFAULT_MAX_MESSAGE_BYTES,
    )
    .expect("valid");
    assert_eq!(out.group_id.as_deref(), Some("g"));
    let uuid = e.uuid().to_string();
    assert_eq!(out.deduplication_id.as_deref(), Some(uuid.as_str()));
    let options = PublishOptions::topic().fifo("g").deduplication_id("d1");
    let out = prepare(&e, &options, &fifo, DEFAULT_MAX_MESSAGE_BYTES).expect("valid");
    assert_eq!(out.deduplication_id.as_deref(), Some("d1"));

    let mut no_group = PublishOptions::topic();
    no_group.fifo = true;
    let err = prepare(&e, &no_group, &fifo, DEFAULT_MAX_MESSAGE_BYTES).expect_err("no group");
    assert!(err.to_string().contains("--group"), "{err}");

    let standard = target("test", &e, &PublishOptions::topic()).expect("target");
    let mut grouped = PublishOptions::topic();
    grouped.group_id = Some("g".into());
    assert!(matches!(
        prepare(&e, &grouped, &standard, DEFAULT_MAX_MESSAGE_BYTES),
        Err(PublishError::NotFifo { .. })
    ));
    for bad in ["", "has space", &"x".repeat(129), "caf\u{e9}"] {
        let options = PublishOptions::topic().fifo(bad);
        assert!(
            matches!(
                prepare(&e, &options, &fifo, DEFAULT_MAX_MESSAGE_BYTES),
                Err(PublishError::BadFifoId {
                    field: "group id",
                    ..
                })
            ),
            "{bad}"
        );
    }
}

#[test]
fn size_counts_body_and_attributes() {
    let e = event("x");
    let t = target("test", &e, &PublishOptions::topic()).expect("target");
    let out = prepare(&e, &PublishOptions::topic(), &t, DEFAULT_MAX_MESSAGE_BYTES).expect("valid");
    let attrs: usize = out
        .attributes
        .iter()
        .map(|(k, v)| k.len() + 6 + v.len())
        .sum();
    assert_eq!(message_size(&out), e.to_json().len() + attrs);
    let err = prepare(&e, &PublishOptions::topic(), &t, message_size(&out) - 1)
        .expect_err("one byte over");
    assert!(
        matches!(err, PublishError::TooLarge { size, max, .. } if size == max + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("send a reference"), "{err}");
}

#[test]
fn chunks_by_count_and_bytes() {
    let r = |sizes: &[usize], n, b| chunk_ranges(sizes, n, b);
    assert!(r(&[], 10, 100).is_empty());
    assert_eq!(r(&[1; 25], 10, 1000), vec![0..10, 10..20, 20..25]);
    assert_eq!(r(&[1; 10], 10, 1000), vec![0..10]);
    assert_eq!(r(&[40, 40, 40, 40], 10, 100), vec![0..2, 2..4]);
    assert_eq!(r(&[100, 1, 100], 10, 100), vec![0..1, 1..2, 2..3]);
    assert_eq!(r(&[150, 1], 10, 100), vec![0..1, 1..2]);
    assert_eq!(r(&[1, 2, 3], 0, 100), vec![0..1, 1..2, 2..3]);
    // Every index is covered exactly once, in order.
    let sizes: Vec<usize> = (0..1000).map(|i| (i * 37) % 90 + 1).collect();
    let ranges = r(&sizes, 10, 256);
    let flat: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
    assert_eq!(flat, (0..1000).collect::<Vec<_>>());
    for range in ranges {
        assert!(range.len() <= 10);
        let total: usize = sizes[range.clone()].iter().sum();
        assert!(total <= 256 || range.len() == 1);
    }
}

#[tokio::test]
async fn fake_mode_records_what_would_be_sent() {
    let publisher = Publisher::fake(defaults());
    assert!(publisher.is_fake());
    let e = publisher
        .event("user_created", json!({ "id": 1 }))
        .build()
        .expect("valid");
    let sent = publisher
        .publish(&e, &PublishOptions::topic().attribute("tenant", "7"))
        .await
        .expect("recorded");
    assert_eq!(sent.message_id, "fake-1");
    assert_eq!(sent.target.name, "test-event-fanout-auth-user_created");
    let c = publisher
        .command("send_welcome", json!({}))
        .build()
        .expect("valid");
    let results = publisher
        .publish_batch(
            &[c.clone(), c.clone()],
            &PublishOptions::queue().dest("mailer").fifo("u1"),
        )
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let log = publisher.sent();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].envelope, e);
    assert_eq!(log[0].body, e.to_json());
    assert_eq!(
        log[0].attributes.get("tenant").map(String::as_str),
        Some("7")
    );
    assert_eq!(
        log[1].target.name,
        "test-command-queue-auth-send_welcome-mailer.fifo"
    );
    assert_eq!(log[2].group_id.as_deref(), Some("u1"));
    assert_eq!(log[2].message_id, "fake-3");
    assert_eq!(
        publisher.clone().take_sent().len(),
        3,
        "clones share the log"
    );
    assert!(publisher.sent().is_empty());
}

#[tokio::test]
async fn fake_mode_checks_like_the_real_one() {
    let publisher = Publisher::fake(defaults()).max_message_bytes(1024);
    let small = event("x");
    let big = Event::new("x", json!({ "blob": "a".repeat(2000) }))
        .publisher("auth")
        .build()
        .expect("valid");
    let results = publisher
        .publish_batch(
            &[small.clone(), big.clone(), small],
            &PublishOptions::topic(),
        )
        .await;
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(&results[1], Err(PublishError::TooLarge { uuid, .. }) if *uuid == big.uuid()),
        "{results:?}"
    );
    assert_eq!(publisher.sent().len(), 2);
    let err = publisher
        .publish(&big, &PublishOptions::topic())
        .await
        .expect_err("too large");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn batch_results_keep_input_order_across_targets() {
    let publisher = Publisher::fake(defaults());
    let a = event("a");
    let b = event("b");
    let topic = PublishOptions::topic();
    let queue = PublishOptions::queue();
    let items: Vec<(&Envelope, &PublishOptions)> = (0..25)
        .map(|i| {
            if i % 3 == 0 {
                (&a, &topic)
            } else {
                (&b, &queue)
            }
        })
        .collect();
    let results = publisher.publish_many(&items).await;
    assert_eq!(results.len(), 25);
    for (i, r) in results.iter().enumerate() {
        let p = r.as_ref().expect("sent");
        let expected = if i % 3 == 0 { a.uuid() } else { b.uuid() };
        assert_eq!(p.uuid, expected);
    }
}

#[test]
fn transient_errors() {
    let t = Target::topic("t");
    let rejected = |sender_fault| PublishError::Rejected {
        target: t.clone(),
        uuid: Uuid::nil(),
        code: "InternalError".into(),
        message: None,
        sender_fault,
    };
    assert!(rejected(false).is_transient());
    assert!(!rejected(true).is_transient());
    assert!(!PublishError::NotFound { target: t.clone() }.is_transient());
    let nf = PublishError::from_aws(
        AwsError::failed(
            "sns:Publish",
            "arn",
            Some("NotFound"),
            "Topic does not exist",
        ),
        &t,
    );
    assert!(nf.to_string().contains("run `lariat migrate`"), "{nf}");
}
