//! `legacy = true` in `[[delete_topic]]`, `[[delete_queue]]` and `[[unsubscribe]]`: removing
//! what this folder never created (the Ruby gem's `delete custom_queue(...)`). The files do not
//! know its state, so the operation carries none yet: `migrate` records it.

use super::names::Identity;
use super::problem::{Checked, Problem};
use super::subscription::topic_of;
use super::{external, Replay};
use crate::migration::SubscriptionSpec;
use crate::naming::ResourceKind;
use crate::topology::{Endpoint, Legacy, LegacyKey, Operation, SubscriptionKey, Topology};

impl Replay<'_> {
    /// Deletes a topic or queue the migrations before this one do not declare.
    pub(super) fn delete_legacy(
        &self,
        resource: ResourceKind,
        id: Identity<'_>,
        state: &Topology,
    ) -> Checked<Operation> {
        let (name, _) = self.resolve(resource, id)?;
        if state.contains(resource, &name) {
            return Err(declared(&format!(
                "{resource} {name}{}",
                self.origins.of(resource, &name)
            )));
        }
        let key = match resource {
            ResourceKind::Topic => LegacyKey::Topic(name),
            ResourceKind::Queue => LegacyKey::Queue(name),
        };
        Ok(Operation::DeleteLegacy(Legacy { key, record: None }))
    }

    /// Removes a subscription the migrations before this one do not declare; its topic and
    /// endpoint may be declared or not.
    pub(super) fn unsubscribe_legacy(
        &self,
        spec: &SubscriptionSpec,
        state: &Topology,
    ) -> Checked<Operation> {
        let topic = self.any_name(ResourceKind::Topic, topic_of(spec)?.into(), state)?;
        let endpoint = match (&spec.queue, &spec.target_topic) {
            (Some(q), None) => {
                Endpoint::Queue(self.any_name(ResourceKind::Queue, q.into(), state)?)
            }
            (None, Some(t)) => {
                Endpoint::Topic(self.any_name(ResourceKind::Topic, t.into(), state)?)
            }
            _ => {
                return Err(Problem::new(
                    "a subscription needs exactly one of `queue` and `target_topic`",
                )
                .help("name the queue (or topic) the legacy subscription delivers to"))
            }
        };
        let key = SubscriptionKey { topic, endpoint };
        if state.subscriptions.contains_key(&key) {
            return Err(declared(&key.to_string()));
        }
        Ok(Operation::DeleteLegacy(Legacy {
            key: LegacyKey::Subscription(key),
            record: None,
        }))
    }

    /// The key of a topic or queue: the declared one when there is one (an external resource
    /// of another account included), else the name the reference gives.
    fn any_name(
        &self,
        resource: ResourceKind,
        id: Identity<'_>,
        state: &Topology,
    ) -> Checked<String> {
        let (name, _) = self.resolve(resource, id)?;
        let declared = match resource {
            ResourceKind::Topic => {
                external::key_of(&state.topics, &name, |t| t.external.as_ref()).map(|t| &t.name)
            }
            ResourceKind::Queue => {
                external::key_of(&state.queues, &name, |q| q.external.as_ref()).map(|q| &q.name)
            }
        };
        Ok(declared.cloned().unwrap_or(name))
    }
}

fn declared(what: &str) -> Problem {
    Problem::new(format!(
        "{what} is declared by these migrations, so it is not legacy"
    ))
    .help("remove `legacy = true`: lariat deletes it, and rollback recreates it from the files")
}

/// `legacy = true` belongs to deletes only.
pub(super) fn reject(legacy: bool, table: &str) -> Checked<()> {
    match legacy {
        false => Ok(()),
        true => Err(Problem::new(format!(
            "`legacy` does not apply to [[{table}]]"
        ))
        .help("`legacy = true` marks a [[delete_topic]], [[delete_queue]] or [[unsubscribe]] of something this folder never created")),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::calls::{calls, Call};
    use crate::naming::Arns;
    use crate::naming::NamingDefaults;
    use crate::topology::{load_project, LegacyKey, LegacyRecord, Operation, RecordedSubscription};
    use crate::topology::{Endpoint, Project};

    fn load(files: &[(&str, &str)]) -> Result<Project, Vec<String>> {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            fs::write(dir.path().join(name), text).expect("write");
        }
        let defaults = NamingDefaults {
            instance: "test".into(),
            publisher: "auth".into(),
        };
        load_project(dir.path(), &defaults).map_err(|d| {
            d.0.iter()
                .filter(|d| d.is_error())
                .map(|d| d.message.clone())
                .collect()
        })
    }

    const LEGACY: &str = r#"
[[unsubscribe]]
topic = { name = "old_topic" }
queue = { name = "old_queue" }
legacy = true

[[delete_queue]]
name = "old_queue"
legacy = true

[[delete_topic]]
name = "old_topic"
legacy = true
"#;

    #[test]
    fn legacy_deletes_leave_the_declared_topology_alone_and_invert_to_restores() {
        let project = load(&[("20240101000000_a.toml", LEGACY)]).expect("valid");
        let m = &project.migrations[0];
        let keys: Vec<String> =
            m.up.iter()
                .map(|op| match op {
                    Operation::DeleteLegacy(l) => l.key.to_string(),
                    other => panic!("{other:?}"),
                })
                .collect();
        assert_eq!(
            keys,
            [
                "subscription topic old_topic -> queue old_queue",
                "queue old_queue",
                "topic old_topic"
            ]
        );
        assert!(m
            .down
            .iter()
            .all(|op| matches!(op, Operation::RestoreLegacy(_))));
        assert_eq!(project.topology_at(None), Default::default());
    }

    #[test]
    fn what_the_files_declare_is_not_legacy_and_legacy_is_for_deletes_only() {
        let errs = load(&[
            (
                "20240101000000_a.toml",
                "[[create_queue]]\nname = \"jobs\"\n",
            ),
            (
                "20240102000000_b.toml",
                "[[delete_queue]]\nname = \"jobs\"\nlegacy = true\n",
            ),
        ])
        .expect_err("declared");
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("queue jobs"), "{errs:#?}");
        assert!(errs[0].contains("is declared by these migrations, so it is not legacy"));
        let errs = load(&[(
            "20240101000000_a.toml",
            "[[create_queue]]\nname = \"jobs\"\nlegacy = true\n",
        )])
        .expect_err("legacy create");
        assert!(
            errs[0].contains("`legacy` does not apply to [[create_queue]]"),
            "{errs:#?}"
        );
    }

    #[test]
    fn calls_come_from_the_record() {
        let arns = Arns {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        };
        let sub = RecordedSubscription {
            topic: "old_topic".into(),
            endpoint: Endpoint::Queue("old_queue".into()),
            attributes: [("RawMessageDelivery".to_owned(), "true".to_owned())].into(),
        };
        let legacy = crate::topology::Legacy {
            key: LegacyKey::Queue("old_queue".into()),
            record: Some(LegacyRecord {
                attributes: [("VisibilityTimeout".to_owned(), "45".to_owned())].into(),
                tags: [("owner".to_owned(), "ruby".to_owned())].into(),
                subscriptions: vec![sub],
            }),
        };
        let delete: Vec<String> = calls(&Operation::DeleteLegacy(legacy.clone()), &arns)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            delete,
            [
                "sns:ListSubscriptionsByTopic old_topic; sns:Unsubscribe old_topic -> sqs old_queue",
                "sqs:DeleteQueue old_queue"
            ]
        );
        let restore = calls(&Operation::RestoreLegacy(legacy.clone()), &arns);
        assert!(
            matches!(&restore[0], Call::CreateQueue { attributes, tags, .. }
                if attributes["VisibilityTimeout"] == "45" && tags["owner"] == "ruby"),
            "{restore:?}"
        );
        assert!(matches!(&restore[1], Call::Subscribe { attributes, .. }
            if attributes["RawMessageDelivery"] == "true"));
        let nothing = crate::topology::Legacy {
            record: None,
            ..legacy
        };
        assert!(
            calls(&Operation::RestoreLegacy(nothing), &arns).is_empty(),
            "nothing recorded, nothing restored"
        );
    }
}
