use std::fs;

use super::*;
use crate::naming::ParsedName;
use crate::topology::DeadLetter;

fn defaults() -> NamingDefaults {
    NamingDefaults {
        instance: "test".into(),
        publisher: "auth".into(),
    }
}

/// Writes `files` (name, text) into a temporary migrations folder and loads it.
fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Project, Diagnostics>) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        fs::write(dir.path().join(name), text).expect("write migration");
    }
    let project = load_project(dir.path(), &defaults());
    (dir, project)
}

fn errors(files: &[(&str, &str)]) -> Vec<Diagnostic> {
    match load(files).1 {
        Ok(_) => panic!("expected validation errors"),
        Err(d) => d.0.into_iter().filter(Diagnostic::is_error).collect(),
    }
}

fn single_error(files: &[(&str, &str)]) -> Diagnostic {
    let errs = errors(files);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    errs.into_iter().next().expect("one error")
}

const BASE: &str = r#"
[[create_topic]]
type = "user_created"
fifo = true

[[create_queue]]
type = "user_created"
dest = "mailer_dead"
fifo = true

[[create_queue]]
type = "user_created"
dest = "mailer"
fifo = true
visibility_timeout = 60
dead_letter_queue = { type = "user_created", dest = "mailer_dead", fifo = true }
max_receive_count = 5

[[subscribe]]
topic = { type = "user_created", fifo = true }
queue = { type = "user_created", dest = "mailer", fifo = true }
raw_message_delivery = true
filter_policy = { source = ["web"] }
"#;

#[test]
fn a_migration_resolves_in_dependency_order() {
    let (_dir, project) = load(&[("20240101000000_base.toml", BASE)]);
    let project = project.expect("valid");
    let m = &project.migrations[0];
    let ops: Vec<String> = m.up.iter().map(Operation::describe).collect();
    assert_eq!(
        ops,
        [
            "create topic test-event-fanout-auth-user_created.fifo",
            "create queue test-event-queue-auth-user_created-mailer_dead.fifo",
            "create queue test-event-queue-auth-user_created-mailer.fifo",
            "subscribe topic test-event-fanout-auth-user_created.fifo -> queue test-event-queue-auth-user_created-mailer.fifo",
        ]
    );
    let down: Vec<String> = m.down.iter().map(Operation::describe).collect();
    assert_eq!(down[0], ops[3].replace("subscribe", "unsubscribe"));
    assert_eq!(
        down[3],
        "delete topic test-event-fanout-auth-user_created.fifo"
    );
    let topo = project.topology_at(None);
    let queue = &topo.queues["test-event-queue-auth-user_created-mailer.fifo"];
    assert_eq!(queue.attributes.visibility_timeout, Some(60));
    assert_eq!(
        queue.attributes.dead_letter,
        Some(DeadLetter {
            queue: "test-event-queue-auth-user_created-mailer_dead.fifo".into(),
            max_receive_count: 5
        })
    );
    let sub = topo
        .subscriptions
        .values()
        .next()
        .expect("one subscription");
    assert_eq!(
        sub.attributes.filter_policy,
        Some(serde_json::json!({"source": ["web"]}))
    );
}

#[test]
fn down_of_a_delete_recreates_with_the_declared_attributes() {
    let second = r#"
[[unsubscribe]]
topic = { type = "user_created", fifo = true }
queue = { type = "user_created", dest = "mailer", fifo = true }

[[delete_queue]]
type = "user_created"
dest = "mailer"
fifo = true
"#;
    let (_dir, project) = load(&[
        ("20240101000000_base.toml", BASE),
        ("20240102000000_drop.toml", second),
    ]);
    let project = project.expect("valid");
    let m = &project.migrations[1];
    let Operation::CreateQueue(q) = &m.down[0] else {
        panic!("down starts by recreating the queue: {:?}", m.down)
    };
    assert_eq!(q.attributes.visibility_timeout, Some(60));
    let Operation::Subscribe(s) = &m.down[1] else {
        panic!("then resubscribes")
    };
    assert_eq!(s.attributes.raw_message_delivery, Some(true));
    assert_eq!(project.topology_at(Some(20240101000000)).queues.len(), 2);
    assert_eq!(project.topology_at(None).queues.len(), 1);
}

#[test]
fn down_of_a_change_restores_previous_values() {
    let change = r#"
[[change_queue]]
type = "user_created"
dest = "mailer"
fifo = true
visibility_timeout = 120
unset = ["dead_letter_queue"]
"#;
    let (_dir, project) = load(&[
        ("20240101000000_base.toml", BASE),
        ("20240102000000_change.toml", change),
    ]);
    let project = project.expect("valid");
    let Operation::ChangeQueue { before, after } = &project.migrations[1].down[0] else {
        panic!("a change")
    };
    assert_eq!(before.attributes.visibility_timeout, Some(120));
    assert_eq!(after.attributes.visibility_timeout, Some(60));
    assert!(before.attributes.dead_letter.is_none());
    assert!(after.attributes.dead_letter.is_some());
}

#[test]
fn subscription_to_a_missing_queue() {
    let src = "[[create_topic]]\ntype = \"a\"\n\n[[subscribe]]\ntopic = { type = \"a\" }\nqueue = { type = \"a\", dest = \"nobody\" }\n";
    let d = single_error(&[("20240101000000_x.toml", src)]);
    assert_eq!(d.line, Some(4));
    assert!(
        d.message
            .contains("queue test-event-queue-auth-a-nobody does not exist"),
        "{d}"
    );
}

#[test]
fn fifo_mismatch() {
    let src = "[[create_topic]]\ntype = \"a\"\nfifo = true\n[[create_queue]]\ntype = \"a\"\n[[subscribe]]\ntopic = { type = \"a\", fifo = true }\nqueue = { type = \"a\" }\n";
    let d = single_error(&[("20240101000000_x.toml", src)]);
    assert!(
        d.message
            .contains("is FIFO but queue test-event-queue-auth-a is standard"),
        "{d}"
    );
    assert_eq!(d.line, Some(6));
}

#[test]
fn delete_of_something_never_created() {
    let d = single_error(&[(
        "20240101000000_x.toml",
        "[[delete_topic]]\ntype = \"ghost\"\n",
    )]);
    assert!(
        d.message
            .contains("topic test-event-fanout-auth-ghost does not exist"),
        "{d}"
    );
}

#[test]
fn names_over_the_limit() {
    let long = "x".repeat(70);
    let d = single_error(&[(
        "20240101000000_x.toml",
        &format!("[[create_queue]]\ntype = \"{long}\"\n"),
    )]);
    assert!(d.message.contains("AWS allows at most 80"), "{d}");
}

#[test]
fn duplicate_versions_and_bad_file_names() {
    let errs = errors(&[
        ("20240101000000_a.toml", "[[create_topic]]\ntype = \"a\"\n"),
        ("20240101000000_b.toml", "[[create_topic]]\ntype = \"b\"\n"),
        ("2024_c.toml", "[[create_topic]]\ntype = \"c\"\n"),
    ]);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(errs
        .iter()
        .any(|d| d.message.contains("version 20240101000000 is used twice")));
    assert!(errs
        .iter()
        .any(|d| d.message.contains("not a migration file name")));
}

#[test]
fn every_error_of_a_folder_is_reported_at_once() {
    let errs = errors(&[
        (
            "20240101000000_a.toml",
            "[[create_topic]]\ntype = \"a\"\nbogus = 1\n",
        ),
        (
            "20240102000000_b.toml",
            "[[delete_queue]]\ntype = \"ghost\"\n",
        ),
        (
            "20240103000000_c.toml",
            "[[create_queue]]\ntype = \"c\"\ncontent_based_deduplication = true\n",
        ),
    ]);
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

#[test]
fn deleting_a_dead_letter_queue_in_use_is_refused() {
    let src = "[[delete_queue]]\ntype = \"user_created\"\ndest = \"mailer_dead\"\nfifo = true\n";
    let d = single_error(&[
        ("20240101000000_base.toml", BASE),
        ("20240102000000_x.toml", src),
    ]);
    assert!(
        d.message.contains("is the dead-letter queue of queue"),
        "{d}"
    );
}

#[test]
fn deleting_a_subscribed_topic_is_refused() {
    let src = "[[delete_topic]]\ntype = \"user_created\"\nfifo = true\n";
    let d = single_error(&[
        ("20240101000000_base.toml", BASE),
        ("20240102000000_x.toml", src),
    ]);
    assert!(d.message.contains("still has 1 subscription"), "{d}");
}

#[test]
fn creating_twice_names_the_first_declaration() {
    let src = "[[create_topic]]\ntype = \"user_created\"\nfifo = true\n";
    let d = single_error(&[
        ("20240101000000_base.toml", BASE),
        ("20240102000000_x.toml", src),
    ]);
    assert!(d.message.contains("already exists (declared at"), "{d}");
    assert!(d.message.contains("20240101000000_base.toml:2"), "{d}");
}

#[test]
fn one_operation_per_resource_and_file() {
    let src = "[[create_queue]]\ntype = \"a\"\n[[change_queue]]\ntype = \"a\"\ndelay_seconds = 5\n";
    let d = single_error(&[("20240101000000_x.toml", src)]);
    assert!(
        d.message
            .contains("already appears in this migration (line 1)"),
        "{d}"
    );
}

#[test]
fn topic_to_topic_no_longer_warns() {
    let src = "[[create_topic]]\ntype = \"a\"\n[[create_topic]]\ntype = \"b\"\npublisher = \"any\"\n[[subscribe]]\ntopic = { type = \"a\" }\ntarget_topic = { type = \"b\", publisher = \"any\" }\n";
    let (_dir, project) = load(&[("20240101000000_x.toml", src)]);
    let project = project.expect("valid");
    assert_eq!(project.warnings.warnings().count(), 0);
}

#[test]
fn custom_names_bypass_the_rule() {
    let src =
        "[[create_queue]]\nname = \"legacy-orders.fifo\"\n[[create_topic]]\nname = \"external\"\n";
    let (_dir, project) = load(&[("20240101000000_x.toml", src)]);
    let topo = project.expect("valid").topology_at(None);
    assert!(topo.queues["legacy-orders.fifo"].fifo());
    assert_eq!(
        topo.topics["external"].naming,
        ParsedName::Custom { fifo: false }
    );
}

#[test]
fn custom_name_with_parts_is_refused() {
    let d = single_error(&[(
        "20240101000000_x.toml",
        "[[create_queue]]\nname = \"q\"\ndest = \"x\"\n",
    )]);
    assert!(d.message.contains("cannot be combined with `dest`"), "{d}");
}

#[test]
fn explicit_down_is_used_and_checked() {
    let src = "[[create_topic]]\ntype = \"a\"\n\n[[down.delete_topic]]\ntype = \"a\"\n";
    let (_dir, project) = load(&[("20240101000000_x.toml", src)]);
    let project = project.expect("valid");
    assert_eq!(project.migrations[0].down.len(), 1);
    assert!(project.warnings.0.is_empty(), "{:?}", project.warnings);

    let incomplete = "[[create_topic]]\ntype = \"a\"\n[[create_topic]]\ntype = \"b\"\n\n[[down.delete_topic]]\ntype = \"a\"\n";
    let (_dir, project) = load(&[("20240101000000_x.toml", incomplete)]);
    let project = project.expect("valid, with a warning");
    assert!(project.warnings.0[0]
        .message
        .contains("does not bring the topology back"));
}

#[test]
fn fifo_only_attributes_on_standard_queues() {
    let d = single_error(&[(
        "20240101000000_x.toml",
        "[[create_queue]]\ntype = \"a\"\ndeduplication_scope = \"queue\"\n",
    )]);
    assert!(d.message.contains("applies to FIFO queues only"), "{d}");
}

#[test]
fn ranges_are_checked() {
    let d = single_error(&[(
        "20240101000000_x.toml",
        "[[create_queue]]\ntype = \"a\"\nvisibility_timeout = 50000\n",
    )]);
    assert!(
        d.message
            .contains("`visibility_timeout = 50000` is out of range"),
        "{d}"
    );
    assert_eq!(d.help.as_deref(), Some("AWS accepts 0 to 43200"));
}

#[test]
fn dead_letter_queue_needs_a_receive_count() {
    let src = "[[create_queue]]\ntype = \"d\"\n[[create_queue]]\ntype = \"a\"\ndead_letter_queue = { type = \"d\" }\n";
    let d = single_error(&[("20240101000000_x.toml", src)]);
    assert!(d.message.contains("needs `max_receive_count`"), "{d}");
}

#[test]
fn dead_letter_queue_declared_after_its_user_in_the_same_file() {
    let src = "[[create_queue]]\ntype = \"a\"\ndead_letter_queue = { type = \"d\" }\nmax_receive_count = 3\n[[create_queue]]\ntype = \"d\"\n";
    let (_dir, project) = load(&[("20240101000000_x.toml", src)]);
    let project = project.expect("valid");
    assert_eq!(
        project.migrations[0].up[0].describe(),
        "create queue test-event-queue-auth-d"
    );
}

#[test]
fn empty_migration_warns() {
    let (_dir, project) = load(&[("20240101000000_x.toml", "description = \"nothing yet\"\n")]);
    assert!(project.expect("valid").warnings.0[0]
        .message
        .contains("no operations"));
}
