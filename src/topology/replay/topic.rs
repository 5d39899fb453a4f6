//! `[[create_topic]]`, `[[change_topic]]` and `[[delete_topic]]`: a topic's attributes and
//! tags, and what a delete must find unused.

use super::lifecycle::{declared_alike, set_keys, Declared, Table};
use super::problem::{fifo_only, unknown_unset, Checked, Problem};
use super::values::{check_tags, overlay_tags, set};
use super::Replay;
use crate::migration::TopicSpec;
use crate::naming::{ParsedName, ResourceKind};
use crate::topology::{External, Operation, Topic, TopicAttributes, Topology};

impl Declared for Topic {
    const KIND: ResourceKind = ResourceKind::Topic;
    const PARTS: &'static str = "type, publisher, kind and fifo";

    declared_alike!(
        topics,
        TopicAttributes,
        CreateTopic,
        ChangeTopic,
        DeleteTopic
    );

    fn check_unused(&self, state: &Topology) -> Checked<()> {
        let subs = state.subscriptions_of(ResourceKind::Topic, &self.name);
        match subs.first() {
            None => Ok(()),
            Some(sub) => Err(Problem::new(format!(
                "topic {} still has {} subscription(s), e.g. {sub}",
                self.name,
                subs.len()
            ))
            .help("add an [[unsubscribe]] for each in this or an earlier migration")),
        }
    }
}

fn table(spec: &TopicSpec) -> Table<'_, '_> {
    Table {
        id: spec.into(),
        legacy: spec.legacy,
        unset: &spec.unset,
    }
}

impl Replay<'_> {
    pub(super) fn create_topic(&self, spec: &TopicSpec, state: &Topology) -> Checked<Operation> {
        self.create(table(spec), state, |topic| overlay_topic(topic, spec))
    }

    pub(super) fn change_topic(&self, spec: &TopicSpec, state: &Topology) -> Checked<Operation> {
        self.change(table(spec), state, |topic| overlay_topic(topic, spec))
    }

    pub(super) fn delete_topic(&self, spec: &TopicSpec, state: &Topology) -> Checked<Operation> {
        self.delete::<Topic>(table(spec), &attribute_keys(spec), state)
    }
}

/// Applies a topic spec's attributes to `topic` (a new one, or the existing one to change).
fn overlay_topic(mut topic: Topic, spec: &TopicSpec) -> Checked<Topic> {
    let a = &mut topic.attributes;
    set(
        &mut a.content_based_deduplication,
        spec.content_based_deduplication,
    );
    set(&mut a.display_name, spec.display_name.clone());
    set(&mut a.kms_master_key_id, spec.kms_master_key_id.clone());
    overlay_tags(&mut topic.tags, spec.tags.as_ref());
    for key in &spec.unset {
        if let Some(tag) = key.strip_prefix("tags.") {
            topic.tags.remove(tag);
            continue;
        }
        match key.as_str() {
            "content_based_deduplication" => a.content_based_deduplication = None,
            "display_name" => a.display_name = None,
            "kms_master_key_id" => a.kms_master_key_id = None,
            other => {
                return Err(unknown_unset(
                    other,
                    &[
                        "content_based_deduplication",
                        "display_name",
                        "kms_master_key_id",
                        "tags.KEY",
                    ],
                ))
            }
        }
    }
    if topic.attributes.content_based_deduplication.is_some() && !topic.fifo() {
        return Err(fifo_only(
            "content_based_deduplication",
            ResourceKind::Topic,
            &topic.name,
        ));
    }
    check_tags(&topic.tags)?;
    Ok(topic)
}

/// The attribute keys a topic table sets, which a delete refuses.
fn attribute_keys(spec: &TopicSpec) -> Vec<&'static str> {
    set_keys([
        (
            "content_based_deduplication",
            spec.content_based_deduplication.is_some(),
        ),
        ("display_name", spec.display_name.is_some()),
        ("kms_master_key_id", spec.kms_master_key_id.is_some()),
        ("tags", spec.tags.is_some()),
        ("unset", !spec.unset.is_empty()),
    ])
}
