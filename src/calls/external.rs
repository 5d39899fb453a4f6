//! External topics and queues in a plan: they make no AWS call of their own, and `migrate`
//! looks each one up before it changes anything, so that a missing one stops the run with its
//! owner's name instead of a half-applied migration.

use std::collections::BTreeMap;
use std::fmt;

use crate::naming::{foreign_parts, ResourceKind};
use crate::topology::{External, Operation, Project, ResourceKey};

use crate::plan::{Direction, Plan};

/// Whether `op` declares or forgets an external topic or queue (no AWS call either way).
pub fn is_external(op: &Operation) -> bool {
    match op {
        Operation::CreateTopic(t) | Operation::DeleteTopic(t) => t.external.is_some(),
        Operation::CreateQueue(q) | Operation::DeleteQueue(q) => q.external.is_some(),
        _ => false,
    }
}

/// An external topic or queue that `migrate` must find before it changes anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCheck {
    /// Topic or queue.
    pub resource: ResourceKind,
    /// Its key in the topology: the name, or an ARN key for another account or region.
    pub key: String,
    /// Its name.
    pub name: String,
    /// Who owns it, and where.
    pub external: External,
}

impl fmt::Display for ExternalCheck {
    /// `topic NAME (external, owned by `auth`)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (external", self.resource, self.key)?;
        if let Some(owner) = &self.external.owner {
            write!(f, ", owned by `{owner}`")?;
        }
        f.write_str(")")
    }
}

/// The external resources that the operations of an `up` plan use, each once, by key.
/// Rollback never looks at them: undoing a subscription to a topic that is gone is done.
pub fn checks(plan: &Plan, project: &Project) -> Vec<ExternalCheck> {
    let Some(last) = plan.steps.last() else {
        return Vec::new();
    };
    if plan.direction != Direction::Up {
        return Vec::new();
    }
    let topology = project.topology_at(Some(last.version));
    let mut found: BTreeMap<(String, String), ExternalCheck> = BTreeMap::new();
    for op in plan.steps.iter().flat_map(|s| &s.ops) {
        let (reads, writes) = op.resources();
        for key in reads.into_iter().chain(writes) {
            let (resource, key, external) = match key {
                ResourceKey::Topic(name) => match topology.topics.get(&name) {
                    Some(t) => (ResourceKind::Topic, name, &t.external),
                    None => continue,
                },
                ResourceKey::Queue(name) => match topology.queues.get(&name) {
                    Some(q) => (ResourceKind::Queue, name, &q.external),
                    None => continue,
                },
                ResourceKey::Subscription(_) => continue,
            };
            let Some(external) = external else { continue };
            let name = foreign_parts(&key)
                .map_or(key.as_str(), |(_, _, n)| n)
                .to_owned();
            found
                .entry((resource.to_string(), key.clone()))
                .or_insert(ExternalCheck {
                    resource,
                    key,
                    name,
                    external: external.clone(),
                });
        }
    }
    found.into_values().collect()
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::calls::{calls, plan_calls, Call};
    use crate::naming::Arns;
    use crate::naming::NamingDefaults;
    use crate::plan::{plan_migrate, plan_rollback, Checks, RollbackTarget};
    use crate::topology::{load_project, Endpoint};

    const SUBSCRIBER: &str = r#"
[[external_topic]]
publisher = "auth"
type = "user_signed_up"

[[external_topic]]
name = "billing_invoices"
owner = "billing"
account = "111122223333"

[[create_queue]]
type = "user_signed_up"
dest = "mailer"

[[subscribe]]
topic = { publisher = "auth", type = "user_signed_up" }
queue = { type = "user_signed_up", dest = "mailer" }

[[subscribe]]
topic = { name = "billing_invoices" }
queue = { type = "user_signed_up", dest = "mailer" }
"#;

    fn project() -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("20240101000000_sub.toml"), SUBSCRIBER).expect("write");
        let defaults = NamingDefaults {
            instance: "test".into(),
            publisher: "mailer".into(),
        };
        let project = load_project(dir.path(), &defaults).expect("valid");
        (dir, project)
    }

    fn arns() -> Arns {
        Arns {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
        }
    }

    #[test]
    fn external_resources_make_no_call_and_are_checked_first() {
        let (_dir, project) = project();
        let plan = plan_migrate(&project, &[], None, Checks::default()).expect("plan");
        let externals: Vec<&Operation> = plan.steps[0]
            .ops
            .iter()
            .filter(|op| is_external(op))
            .collect();
        assert_eq!(externals.len(), 2);
        for op in externals {
            assert!(calls(op, &arns()).is_empty(), "{op:?}");
        }
        let checks = checks(&plan, &project);
        let described: Vec<String> = checks.iter().map(ToString::to_string).collect();
        assert_eq!(
            described,
            [
                "topic arn:aws:sns::111122223333:billing_invoices (external, owned by `billing`)",
                "topic test-event-fanout-auth-user_signed_up (external, owned by `auth`)",
            ]
        );
        assert_eq!(checks[0].name, "billing_invoices");
    }

    #[test]
    fn a_subscription_to_another_accounts_topic_uses_its_arn() {
        let (_dir, project) = project();
        let plan = plan_migrate(&project, &[], None, Checks::default()).expect("plan");
        let all: Vec<Call> = plan_calls(&plan, &arns())
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        let billing = "arn:aws:sns:us-east-1:111122223333:billing_invoices";
        let subscribe = all
            .iter()
            .find(|c| matches!(c, Call::Subscribe { topic, .. } if topic.ends_with("billing_invoices")))
            .expect("subscribe call");
        let Call::Subscribe { topic, .. } = subscribe else {
            unreachable!()
        };
        assert_eq!(arns().topic(topic), billing);
        assert_eq!(
            arns().topic("test-event-fanout-auth-user_signed_up"),
            "arn:aws:sns:us-east-1:123456789012:test-event-fanout-auth-user_signed_up"
        );
        let regional = Arns {
            region: "eu-west-1".into(),
            account_id: "123456789012".into(),
        };
        assert_eq!(
            regional.topic("arn:aws:sns:us-east-2::t"),
            "arn:aws:sns:us-east-2:123456789012:t"
        );
    }

    /// Bug this guards against: forgetting an external topic in the same rollback step as its
    /// subscriptions counted as deleting it, which made their unsubscribes look redundant.
    #[test]
    fn rollback_unsubscribes_from_external_topics_and_touches_nothing_else() {
        let (_dir, project) = project();
        let applied = crate::store::AppliedVersion {
            version: 20240101000000,
            name: "sub".into(),
            checksum: project.migrations[0].checksum.clone(),
            state: crate::store::VersionState::Applied,
            applied_at: chrono::Utc::now(),
            duration_ms: 1,
        };
        let plan = plan_rollback(
            &project,
            &[applied],
            RollbackTarget::To(0),
            Checks::default(),
        )
        .expect("plan");
        assert!(
            checks(&plan, &project).is_empty(),
            "rollback checks nothing"
        );
        let all: Vec<Call> = plan_calls(&plan, &arns())
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        let unsubscribed: Vec<&str> = all
            .iter()
            .filter_map(|c| match c {
                Call::Unsubscribe {
                    topic,
                    endpoint: Endpoint::Queue(_),
                } => Some(topic.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(unsubscribed.len(), 2, "{all:#?}");
        assert!(
            !all.iter().any(|c| matches!(c, Call::DeleteTopic { .. })),
            "never deletes an external topic: {all:#?}"
        );
    }
}
