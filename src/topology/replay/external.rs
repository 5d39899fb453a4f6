//! `[[external_topic]]` and `[[external_queue]]`: topics and queues that another service's
//! migrations create. This folder refers to them (subscribes its queues to such a topic, uses
//! such a queue as a dead-letter queue), checks that they exist before `migrate` changes
//! anything, and never creates, changes or deletes them.

use super::lifecycle::Declared;
use super::problem::{Checked, Problem};
use super::Replay;
use crate::migration::ExternalSpec;
use crate::naming::{self, ParsedName, ResourceKind};
use crate::topology::{External, Operation, Queue, Topic, Topology};

impl Replay<'_> {
    /// Declares an external topic or queue: its operation creates nothing in AWS.
    pub(super) fn external(
        &self,
        resource: ResourceKind,
        spec: &ExternalSpec,
        state: &Topology,
    ) -> Checked<Operation> {
        let (name, naming) = self.resolve(resource, spec.into())?;
        if let Some(account) = &spec.account {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Problem::new(format!(
                    "`account = \"{account}\"` is not an AWS account id"
                ))
                .help(
                    "write the 12 digits of the owner's account, e.g. `account = \"111122223333\"`",
                ));
            }
        }
        if let Some(region) = &spec.region {
            let valid = !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(
                    Problem::new(format!("`region = \"{region}\"` is not an AWS region"))
                        .help("write a region such as `eu-west-1`"),
                );
            }
        }
        let owner = spec
            .owner
            .clone()
            .or_else(|| default_owner(resource, &naming));
        let external = External {
            owner,
            account: spec.account.clone(),
            region: spec.region.clone(),
        };
        let key = match external.is_foreign() {
            true => naming::arn(
                resource,
                external.region.as_deref().unwrap_or_default(),
                external.account.as_deref().unwrap_or_default(),
                &name,
            ),
            false => name,
        };
        if state.contains(resource, &key) {
            return Err(Problem::new(format!(
                "{resource} {key} already exists at this version{}",
                self.origins.of(resource, &key)
            ))
            .help("declare an external resource once, in the first migration that needs it"));
        }
        Ok(match resource {
            ResourceKind::Topic => Topic {
                external: Some(external),
                ..Topic::new(key, naming)
            }
            .created(),
            ResourceKind::Queue => Queue {
                external: Some(external),
                ..Queue::new(key, naming)
            }
            .created(),
        })
    }
}

/// A topic belongs to its publisher, a queue to the service it delivers to.
fn default_owner(resource: ResourceKind, naming: &ParsedName) -> Option<String> {
    let ParsedName::Standard(parts) = naming else {
        return None;
    };
    match resource {
        ResourceKind::Topic if parts.publisher != naming::ANY_PUBLISHER => {
            Some(parts.publisher.clone())
        }
        ResourceKind::Topic => None,
        ResourceKind::Queue => parts.dest.clone(),
    }
}

/// The key of `name` in `resources`: `name` itself, or the ARN key of the one external
/// resource in another account or region that has this name.
pub(super) fn key_of<'t, T>(
    resources: &'t std::collections::BTreeMap<String, T>,
    name: &str,
    external: impl Fn(&T) -> Option<&External>,
) -> Option<&'t T> {
    if let Some(found) = resources.get(name) {
        return Some(found);
    }
    let mut foreign = resources.iter().filter(|(key, value)| {
        external(value).is_some_and(External::is_foreign) && key.rsplit(':').next() == Some(name)
    });
    match (foreign.next(), foreign.next()) {
        (Some((_, found)), None) => Some(found),
        _ => None,
    }
}

/// Refuses to change or delete a resource another service owns.
pub(super) fn refuse_external(
    resource: ResourceKind,
    name: &str,
    external: Option<&External>,
    verb: &str,
) -> Checked<()> {
    let Some(external) = external else {
        return Ok(());
    };
    Err(Problem::new(format!(
        "{resource} {name} is external{}: this folder never {verb}s it",
        external.owned_by()
    ))
    .help(format!(
        "{verb} it in its owner's migrations; this folder only refers to it"
    )))
}

/// AWS requires a dead-letter queue in the same account and region as what uses it.
pub(super) fn same_account_dead_letter(dlq: &Queue) -> Checked<()> {
    match &dlq.external {
        Some(external) if external.is_foreign() => Err(Problem::new(format!(
            "dead_letter_queue: queue {} is in another account or region; AWS requires a \
             dead-letter queue in the same account and region",
            dlq.name
        ))
        .help("use a queue of this account and region")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::diagnostic::Diagnostic;
    use crate::naming::NamingDefaults;
    use crate::topology::{load_project, Operation};

    const EXTERNAL: &str = r#"
[[external_topic]]
publisher = "auth"
type = "user_signed_up"

[[external_queue]]
name = "ops_dead_letters"
owner = "ops"

[[create_queue]]
type = "user_signed_up"
dest = "mailer"
dead_letter_queue = { name = "ops_dead_letters" }
max_receive_count = 3

[[subscribe]]
topic = { publisher = "auth", type = "user_signed_up" }
queue = { type = "user_signed_up", dest = "mailer" }
"#;

    /// Loads `files` and returns the error messages (empty when the folder is valid).
    fn errors(files: &[(&str, &str)]) -> Vec<String> {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            fs::write(dir.path().join(name), text).expect("write");
        }
        let defaults = NamingDefaults {
            instance: "test".into(),
            publisher: "mailer".into(),
        };
        match load_project(dir.path(), &defaults) {
            Ok(_) => Vec::new(),
            Err(d) => {
                d.0.iter()
                    .filter(|d| Diagnostic::is_error(d))
                    .map(|d| format!("{}: {}", d.message, d.help.clone().unwrap_or_default()))
                    .collect()
            }
        }
    }

    #[test]
    fn an_external_topic_and_queue_are_declared_not_created() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("20240101000000_a.toml"), EXTERNAL).expect("write");
        let defaults = NamingDefaults {
            instance: "test".into(),
            publisher: "mailer".into(),
        };
        let project = load_project(dir.path(), &defaults).expect("valid");
        let topology = project.topology_at(None);
        let topic = &topology.topics["test-event-fanout-auth-user_signed_up"];
        let owner = topic.external.as_ref().and_then(|e| e.owner.as_deref());
        assert_eq!(owner, Some("auth"), "the publisher owns its topic");
        assert!(topology.queues["ops_dead_letters"].external.is_some());
        let described: Vec<String> = project.migrations[0]
            .down
            .iter()
            .map(Operation::describe)
            .collect();
        assert!(
            described.contains(
                &"stop referring to external topic test-event-fanout-auth-user_signed_up".into()
            ),
            "{described:#?}"
        );
    }

    #[test]
    fn this_folder_never_changes_or_deletes_an_external_resource() {
        for (table, verb) in [
            ("[[delete_topic]]\npublisher = \"auth\"\ntype = \"user_signed_up\"\n", "delete"),
            (
                "[[change_topic]]\npublisher = \"auth\"\ntype = \"user_signed_up\"\ndisplay_name = \"x\"\n",
                "change",
            ),
        ] {
            let errs = errors(&[
                ("20240101000000_a.toml", EXTERNAL),
                ("20240102000000_b.toml", table),
            ]);
            assert_eq!(errs.len(), 1, "{errs:#?}");
            assert!(
                errs[0].contains(&format!(
                    "topic test-event-fanout-auth-user_signed_up is external; it belongs to `auth`, whose migrations create it: this folder never {verb}s it"
                )),
                "{errs:#?}"
            );
        }
        let errs = errors(&[
            ("20240101000000_a.toml", EXTERNAL),
            (
                "20240102000000_b.toml",
                "[[delete_queue]]\nname = \"ops_dead_letters\"\n",
            ),
        ]);
        assert!(errs[0].contains("is external"), "{errs:#?}");
    }

    #[test]
    fn an_external_queue_is_subscribed_by_its_owner() {
        let errs = errors(&[(
            "20240101000000_a.toml",
            r#"
[[create_topic]]
type = "t"

[[external_queue]]
name = "their_queue"
owner = "search"

[[subscribe]]
topic = { type = "t" }
queue = { name = "their_queue" }
"#,
        )]);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("its owner subscribes it"), "{errs:#?}");
    }

    #[test]
    fn bad_accounts_regions_and_foreign_dead_letter_queues_are_refused() {
        let errs = errors(&[(
            "20240101000000_a.toml",
            "[[external_topic]]\nname = \"t\"\naccount = \"12345\"\n\n[[external_queue]]\nname = \"q\"\nregion = \"EU West\"\n",
        )]);
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert!(errs[0].contains("is not an AWS account id"), "{errs:#?}");
        assert!(errs[1].contains("is not an AWS region"), "{errs:#?}");
        let errs = errors(&[(
            "20240101000000_a.toml",
            r#"
[[external_queue]]
name = "dead"
account = "111122223333"

[[create_queue]]
name = "work"
dead_letter_queue = { name = "dead" }
max_receive_count = 3
"#,
        )]);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("same account and region"), "{errs:#?}");
    }

    #[test]
    fn an_external_resource_is_declared_once() {
        let errs = errors(&[
            ("20240101000000_a.toml", EXTERNAL),
            (
                "20240102000000_b.toml",
                "[[create_topic]]\npublisher = \"auth\"\ntype = \"user_signed_up\"\n",
            ),
        ]);
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("already exists"), "{errs:#?}");
    }
}
