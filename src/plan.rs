//! Planning: which migrations to apply or undo, given the files and the version table, and the
//! AWS calls each operation turns into. Pure functions; the executor does the I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::naming::{self, ParsedName, ResourceKind};
use crate::store::{AppliedVersion, VersionState};
use crate::topology::{
    Endpoint, Operation, Project, Queue, RedriveAllow, Subscription, Tags, Topic,
};

/// Where a migration file stands against the version table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Applied, and the file is unchanged.
    Applied,
    /// Not applied yet.
    Pending,
    /// A `migrate` stopped midway through it; `migrate` finishes it.
    Interrupted,
    /// A `rollback` stopped midway through it; `rollback` finishes it, and so does `migrate`
    /// before applying it again.
    InterruptedRollback,
    /// Applied, but the file changed since.
    Modified,
    /// Applied, but the file is gone.
    Missing,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Applied => "applied",
            State::Pending => "pending",
            State::Interrupted => "interrupted",
            State::InterruptedRollback => "interrupted rollback",
            State::Modified => "modified",
            State::Missing => "missing",
        })
    }
}

/// One line of `lariat status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// Version.
    pub version: i64,
    /// Name (from the file, or from the table when the file is missing).
    pub name: String,
    /// The file, when it exists.
    pub path: Option<PathBuf>,
    /// Where it stands.
    pub state: State,
    /// When it was applied, RFC 3339.
    pub applied_at: Option<String>,
}

/// Every file and every applied row, merged and ordered by version.
pub fn status(project: &Project, applied: &[AppliedVersion]) -> Vec<Status> {
    let rows: BTreeMap<i64, &AppliedVersion> = applied.iter().map(|r| (r.version, r)).collect();
    let mut out: Vec<Status> = project
        .migrations
        .iter()
        .map(|m| {
            let row = rows.get(&m.version);
            let state = match row {
                None => State::Pending,
                Some(r) if r.state == VersionState::Applying => State::Interrupted,
                Some(r) if r.state == VersionState::RollingBack => State::InterruptedRollback,
                Some(r) if r.checksum != m.checksum => State::Modified,
                Some(_) => State::Applied,
            };
            Status {
                version: m.version,
                name: m.name.clone(),
                path: Some(m.path.clone()),
                state,
                applied_at: row
                    .filter(|r| r.state == VersionState::Applied)
                    .map(|r| r.applied_at.to_rfc3339()),
            }
        })
        .collect();
    for row in applied {
        if project.get(row.version).is_none() {
            out.push(Status {
                version: row.version,
                name: row.name.clone(),
                path: None,
                state: State::Missing,
                applied_at: Some(row.applied_at.to_rfc3339()),
            });
        }
    }
    out.sort_by_key(|s| s.version);
    out
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// An applied file was edited afterwards.
    #[error("migration {version} ({path}) was edited after it was applied (its checksum differs)\n  restore the file from version control and put the change in a new migration (`lariat generate migration NAME`); or, if the edit changes nothing in AWS, pass --allow-modified")]
    Modified {
        /// Version.
        version: i64,
        /// The file.
        path: String,
    },
    /// An applied migration's file is gone.
    #[error("migration {version} ({name}) is applied but its file is missing from the migrations folder\n  restore the file from version control; or pass --allow-missing to go on without it")]
    Missing {
        /// Version.
        version: i64,
        /// Name from the version table.
        name: String,
    },
    /// A pending file is older than an applied one.
    #[error("migration {version} ({name}) is pending but older than the applied migration {newest}\n  the files replay in version order, so give it a newer timestamp: rename it to {suggestion}")]
    OutOfOrder {
        /// Version of the pending file.
        version: i64,
        /// Its name.
        name: String,
        /// The newest applied version.
        newest: i64,
        /// A file name that fixes it.
        suggestion: String,
    },
    /// The requested target version is not a migration.
    #[error("there is no migration with version {0}\n  run `lariat status` to see the versions")]
    UnknownVersion(i64),
    /// A migration to undo has no file to derive its `down` from.
    #[error("cannot roll back migration {version} ({name}): its file is missing, so its `down` is unknown\n  restore the file from version control")]
    CannotUndoMissing {
        /// Version.
        version: i64,
        /// Name.
        name: String,
    },
    /// `rollback VERSION` would keep a migration that a rollback which stopped midway was
    /// undoing: it is neither applied nor undone.
    #[error("migration {version} ({name}) was being rolled back when a rollback stopped, and `rollback {target}` would keep it\n  finish that rollback first with `lariat rollback` (it undoes every migration down to {version}), or re-apply with `lariat migrate`; then run `lariat rollback {target}`")]
    InterruptedBelowTarget {
        /// The interrupted version.
        version: i64,
        /// Its name.
        name: String,
        /// The requested target.
        target: i64,
    },
    /// Rolling back would undo a migration `lariat import` wrote.
    #[error("migration {version} ({name}) was written by `lariat import`: rolling it back deletes the resources it adopted, which existed before lariat\n  pass --delete-imported if that is what you want")]
    Imported {
        /// Version.
        version: i64,
        /// Name.
        name: String,
    },
}

/// What to roll back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackTarget {
    /// The newest applied migration; after a rollback that stopped midway, every migration
    /// down to the oldest one it was undoing (finishing it).
    Last,
    /// Every migration newer than this version (which stays applied).
    To(i64),
    /// Every recorded migration, version `0` included (`rollback --all`).
    All,
}

/// Options that relax the safety checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checks {
    /// Go on although an applied file changed.
    pub allow_modified: bool,
    /// Go on although an applied file is gone.
    pub allow_missing: bool,
    /// Roll back a migration that `lariat import` wrote, deleting what it adopted.
    pub delete_imported: bool,
}

/// One migration to apply or undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// Checksum recorded with it.
    pub checksum: String,
    /// Operations, in order.
    pub ops: Vec<Operation>,
}

/// Up (migrate) or down (rollback).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Apply.
    Up,
    /// Undo.
    Down,
}

/// Migrations to run, in the order their versions are recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Up or down.
    pub direction: Direction,
    /// Steps: ascending versions up, descending down.
    pub steps: Vec<Step>,
}

fn check_applied(
    project: &Project,
    applied: &[AppliedVersion],
    checks: Checks,
) -> Result<(), PlanError> {
    for s in status(project, applied) {
        match s.state {
            State::Modified if !checks.allow_modified => {
                return Err(PlanError::Modified {
                    version: s.version,
                    path: s.path.map(|p| p.display().to_string()).unwrap_or_default(),
                })
            }
            State::Missing if !checks.allow_missing => {
                return Err(PlanError::Missing {
                    version: s.version,
                    name: s.name,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// The oldest version that a rollback which stopped midway left `rolling_back`.
fn oldest_rolling_back(applied: &[AppliedVersion]) -> Option<&AppliedVersion> {
    applied
        .iter()
        .filter(|r| r.state == VersionState::RollingBack)
        .min_by_key(|r| r.version)
}

/// The rows that finishing an interrupted rollback undoes: every recorded row from the newest
/// down to the oldest `rolling_back` one, whatever its state. A rollback that stopped midway
/// may have started a migration before a newer one was done (their operations touch other
/// resources), so rows in between can still be `applied`; their undo comes first, as in the
/// rollback that stopped. Empty when no rollback was interrupted.
fn interrupted_rollback(applied: &[AppliedVersion]) -> Vec<&AppliedVersion> {
    match oldest_rolling_back(applied) {
        Some(oldest) => applied
            .iter()
            .filter(|r| r.version >= oldest.version)
            .collect(),
        None => Vec::new(),
    }
}

/// The rows as they will be once the interrupted rollback is finished.
fn after_finishing(applied: &[AppliedVersion]) -> Vec<AppliedVersion> {
    match oldest_rolling_back(applied) {
        Some(oldest) => applied
            .iter()
            .filter(|r| r.version < oldest.version)
            .cloned()
            .collect(),
        None => applied.to_vec(),
    }
}

/// The undo that `migrate` runs before applying anything when a rollback stopped midway (rows
/// left `rolling_back`): the same plan as `rollback` without a version, which finishes it.
///
/// An interrupted rollback cannot be reversed in place: each version's `up` assumes the state
/// its predecessor left, and a partly undone newer version has not restored it yet (its
/// `change_subscription` needs a subscription that only the newer version's undo recreates).
/// Finishing the undo newest first, then applying oldest first, runs every operation from the
/// state it was written for. `None` when no rollback was interrupted.
pub fn plan_finish_rollback(
    project: &Project,
    applied: &[AppliedVersion],
    checks: Checks,
) -> Result<Option<Plan>, PlanError> {
    if oldest_rolling_back(applied).is_none() {
        return Ok(None);
    }
    plan_rollback(project, applied, RollbackTarget::Last, checks).map(Some)
}

/// Pending and interrupted migrations up to `target` (inclusive), oldest first.
///
/// When a rollback stopped midway, the plan is the one to run after [`plan_finish_rollback`]:
/// the versions it undoes are pending again.
pub fn plan_migrate(
    project: &Project,
    applied: &[AppliedVersion],
    target: Option<i64>,
    checks: Checks,
) -> Result<Plan, PlanError> {
    check_applied(project, applied, checks)?;
    if let Some(t) = target {
        if project.get(t).is_none() {
            return Err(PlanError::UnknownVersion(t));
        }
    }
    let applied = after_finishing(applied);
    let done: BTreeSet<i64> = applied
        .iter()
        .filter(|r| r.state == VersionState::Applied)
        .map(|r| r.version)
        .collect();
    let newest = done.iter().next_back().copied();
    let mut steps = Vec::new();
    for m in &project.migrations {
        if target.is_some_and(|t| m.version > t) || done.contains(&m.version) {
            continue;
        }
        if let Some(newest) = newest.filter(|&n| n > m.version) {
            let started = applied.iter().any(|r| r.version == m.version);
            if !started {
                return Err(PlanError::OutOfOrder {
                    version: m.version,
                    name: m.name.clone(),
                    newest,
                    suggestion: format!(
                        "{}_{}.toml",
                        crate::migration::next_version(newest),
                        m.name
                    ),
                });
            }
        }
        steps.push(Step {
            version: m.version,
            name: m.name.clone(),
            checksum: m.checksum.clone(),
            ops: m.up.clone(),
        });
    }
    Ok(Plan {
        direction: Direction::Up,
        steps,
    })
}

/// Applied (or partly applied) migrations newer than the target, newest first.
///
/// After a rollback that stopped midway, [`RollbackTarget::Last`] finishes it: it undoes every
/// recorded version down to the oldest one left `rolling_back`. [`RollbackTarget::To`] refuses
/// a target that would keep such a version.
pub fn plan_rollback(
    project: &Project,
    applied: &[AppliedVersion],
    target: RollbackTarget,
    checks: Checks,
) -> Result<Plan, PlanError> {
    check_applied(project, applied, checks)?;
    let mut rows: Vec<&AppliedVersion> = match target {
        RollbackTarget::Last => {
            let interrupted = interrupted_rollback(applied);
            if interrupted.is_empty() {
                applied
                    .iter()
                    .max_by_key(|r| r.version)
                    .into_iter()
                    .collect()
            } else {
                interrupted
            }
        }
        RollbackTarget::To(t) => {
            if t != 0 && project.get(t).is_none() && !applied.iter().any(|r| r.version == t) {
                return Err(PlanError::UnknownVersion(t));
            }
            if let Some(kept) = oldest_rolling_back(applied).filter(|r| r.version <= t) {
                return Err(PlanError::InterruptedBelowTarget {
                    version: kept.version,
                    name: kept.name.clone(),
                    target: t,
                });
            }
            applied.iter().filter(|r| r.version > t).collect()
        }
        RollbackTarget::All => applied.iter().collect(),
    };
    rows.sort_by_key(|r| std::cmp::Reverse(r.version));
    let steps = rows
        .into_iter()
        .map(|row| {
            let m = project
                .get(row.version)
                .ok_or_else(|| PlanError::CannotUndoMissing {
                    version: row.version,
                    name: row.name.clone(),
                })?;
            if m.imported && !checks.delete_imported {
                return Err(PlanError::Imported {
                    version: m.version,
                    name: m.name.clone(),
                });
            }
            Ok(Step {
                version: m.version,
                name: m.name.clone(),
                checksum: row.checksum.clone(),
                ops: m.down.clone(),
            })
        })
        .collect::<Result<Vec<_>, PlanError>>()?;
    Ok(Plan {
        direction: Direction::Down,
        steps,
    })
}

/// What the calls of an operation need to name resources: region and account for ARNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arns {
    /// AWS region.
    pub region: String,
    /// AWS account id.
    pub account_id: String,
}

impl Arns {
    /// Topic ARN of a topic name, or of the ARN key of an external topic in another account
    /// or region (its empty region or account filled in).
    pub fn topic(&self, name: &str) -> String {
        self.arn(ResourceKind::Topic, name)
    }

    /// Queue ARN of a queue name, or of the ARN key of an external queue.
    pub fn queue(&self, name: &str) -> String {
        self.arn(ResourceKind::Queue, name)
    }

    fn arn(&self, resource: ResourceKind, name: &str) -> String {
        match external::foreign_parts(name) {
            Some((region, account, name)) => naming::arn(
                resource,
                if region.is_empty() {
                    &self.region
                } else {
                    region
                },
                if account.is_empty() {
                    &self.account_id
                } else {
                    account
                },
                name,
            ),
            None => naming::arn(resource, &self.region, &self.account_id, name),
        }
    }

    /// ARN of a subscription's endpoint.
    pub fn endpoint(&self, endpoint: &Endpoint) -> String {
        match endpoint {
            Endpoint::Queue(name) => self.queue(name),
            Endpoint::Topic(name) => self.topic(name),
        }
    }
}

/// AWS attribute name to value.
pub type Attributes = BTreeMap<String, String>;

/// One AWS request (or, for queue policies, one read-modify-write), as the executor sends it
/// and `--dry-run` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "call")]
pub enum Call {
    /// `sns:CreateTopic` (returns the existing topic when it exists).
    CreateTopic {
        /// Name.
        name: String,
        /// Attributes.
        attributes: Attributes,
        /// Tags.
        tags: Tags,
    },
    /// `sns:DeleteTopic` (no error when absent).
    DeleteTopic {
        /// Name.
        name: String,
    },
    /// `sns:SetTopicAttributes`, one per attribute (the API takes one at a time).
    SetTopicAttribute {
        /// Topic.
        topic: String,
        /// Attribute.
        key: String,
        /// Value.
        value: String,
    },
    /// `sns:TagResource`.
    TagTopic {
        /// Topic.
        topic: String,
        /// Tags to set.
        tags: Tags,
    },
    /// `sns:UntagResource`.
    UntagTopic {
        /// Topic.
        topic: String,
        /// Keys to remove.
        keys: Vec<String>,
    },
    /// `sqs:CreateQueue`; an existing queue with other attributes is an error naming them,
    /// except differences that a later operation of the same run sets anyway (`tolerated`).
    CreateQueue {
        /// Name.
        name: String,
        /// Attributes.
        attributes: Attributes,
        /// Tags.
        tags: Tags,
        /// Attribute sets the queue takes later in the same run.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tolerated: Vec<Attributes>,
        /// Topics the queue's access policy lets send to it from the start: the topics
        /// subscribed to it later in the same run, given in CreateQueue's `Policy` attribute
        /// instead of one [`Call::AllowTopic`] each. A queue that exists already gets the
        /// missing statements (one read, and one write only when something is missing).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        allow_topics: Vec<String>,
    },
    /// `sqs:DeleteQueue` (no error when absent).
    DeleteQueue {
        /// Name.
        name: String,
    },
    /// `sqs:SetQueueAttributes`.
    SetQueueAttributes {
        /// Queue.
        queue: String,
        /// Attributes.
        attributes: Attributes,
    },
    /// `sqs:TagQueue`.
    TagQueue {
        /// Queue.
        queue: String,
        /// Tags to set.
        tags: Tags,
    },
    /// `sqs:UntagQueue`.
    UntagQueue {
        /// Queue.
        queue: String,
        /// Keys to remove.
        keys: Vec<String>,
    },
    /// `sqs:GetQueueAttributes` + `sqs:SetQueueAttributes` of `Policy`: add the statement that
    /// lets the topic send to the queue (skipped when present).
    AllowTopic {
        /// Queue.
        queue: String,
        /// Topic.
        topic: String,
    },
    /// The reverse of [`Call::AllowTopic`].
    RevokeTopic {
        /// Queue.
        queue: String,
        /// Topic.
        topic: String,
    },
    /// `sns:Subscribe` (returns the existing subscription when it exists).
    Subscribe {
        /// Topic.
        topic: String,
        /// Endpoint.
        endpoint: Endpoint,
        /// Attributes.
        attributes: Attributes,
    },
    /// `sns:ListSubscriptionsByTopic` + `sns:Unsubscribe` (no error when absent).
    Unsubscribe {
        /// Topic.
        topic: String,
        /// Endpoint.
        endpoint: Endpoint,
    },
    /// `sns:ListSubscriptionsByTopic` + `sns:SetSubscriptionAttributes`.
    SetSubscriptionAttribute {
        /// Topic.
        topic: String,
        /// Endpoint.
        endpoint: Endpoint,
        /// Attribute.
        key: String,
        /// Value.
        value: String,
    },
}

impl fmt::Display for Call {
    /// One line per call, `service:Action name key=value...`, for `--dry-run`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn kv(map: &BTreeMap<String, String>) -> String {
            map.iter().map(|(k, v)| format!(" {k}={v}")).collect()
        }
        match self {
            Call::CreateTopic { name, attributes, tags } => {
                write!(f, "sns:CreateTopic {name}{}", kv(attributes))?;
                if !tags.is_empty() {
                    write!(f, " Tags:{}", kv(tags))?;
                }
                Ok(())
            }
            Call::DeleteTopic { name } => write!(f, "sns:DeleteTopic {name}"),
            Call::SetTopicAttribute { topic, key, value } => {
                write!(f, "sns:SetTopicAttributes {topic} {key}={value}")
            }
            Call::TagTopic { topic, tags } => write!(f, "sns:TagResource {topic}{}", kv(tags)),
            Call::UntagTopic { topic, keys } => write!(f, "sns:UntagResource {topic} {}", keys.join(",")),
            Call::CreateQueue { name, attributes, tags, allow_topics, .. } => {
                write!(f, "sqs:CreateQueue {name}{}", kv(attributes))?;
                if !allow_topics.is_empty() {
                    let topics: Vec<String> = allow_topics.iter().map(|t| format!("sns:{t}")).collect();
                    write!(f, " Policy=(allow {} to SendMessage)", topics.join(", "))?;
                }
                if !tags.is_empty() {
                    write!(f, " Tags:{}", kv(tags))?;
                }
                Ok(())
            }
            Call::DeleteQueue { name } => write!(f, "sqs:DeleteQueue {name}"),
            Call::SetQueueAttributes { queue, attributes } => {
                write!(f, "sqs:SetQueueAttributes {queue}{}", kv(attributes))
            }
            Call::TagQueue { queue, tags } => write!(f, "sqs:TagQueue {queue}{}", kv(tags)),
            Call::UntagQueue { queue, keys } => write!(f, "sqs:UntagQueue {queue} {}", keys.join(",")),
            Call::AllowTopic { queue, topic } => write!(
                f,
                "sqs:GetQueueAttributes {queue} Policy; sqs:SetQueueAttributes {queue} Policy (+ allow sns:{topic} to SendMessage)"
            ),
            Call::RevokeTopic { queue, topic } => write!(
                f,
                "sqs:GetQueueAttributes {queue} Policy; sqs:SetQueueAttributes {queue} Policy (- allow sns:{topic})"
            ),
            Call::Subscribe { topic, endpoint, attributes } => write!(
                f,
                "sns:Subscribe {topic} -> {} {}{}",
                protocol(endpoint),
                endpoint.name(),
                kv(attributes)
            ),
            Call::Unsubscribe { topic, endpoint } => write!(
                f,
                "sns:ListSubscriptionsByTopic {topic}; sns:Unsubscribe {topic} -> {} {}",
                protocol(endpoint),
                endpoint.name()
            ),
            Call::SetSubscriptionAttribute { topic, endpoint, key, value } => write!(
                f,
                "sns:ListSubscriptionsByTopic {topic}; sns:SetSubscriptionAttributes {topic} -> {} {key}={value}",
                endpoint.name()
            ),
        }
    }
}

/// The SNS protocol of an endpoint.
pub fn protocol(endpoint: &Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Queue(_) => "sqs",
        Endpoint::Topic(_) => "sns",
    }
}

/// The AWS calls of one operation, in order.
pub fn calls(op: &Operation, arns: &Arns) -> Vec<Call> {
    if external::is_external(op) {
        // checked before the run (`external::checks`), never created or deleted
        return Vec::new();
    }
    match op {
        Operation::CreateTopic(t) => vec![Call::CreateTopic {
            name: t.name.clone(),
            attributes: topic_attributes(t, true),
            tags: resource_tags(&t.naming, &t.tags),
        }],
        Operation::DeleteTopic(t) => vec![Call::DeleteTopic {
            name: t.name.clone(),
        }],
        Operation::ChangeTopic { before, after } => {
            let mut out: Vec<Call> = changed(
                &topic_attributes(before, false),
                &topic_attributes(after, false),
                topic_default,
            )
            .into_iter()
            .map(|(key, value)| Call::SetTopicAttribute {
                topic: after.name.clone(),
                key,
                value,
            })
            .collect();
            let (set, unset) = tag_changes(&before.tags, &after.tags);
            if !set.is_empty() {
                out.push(Call::TagTopic {
                    topic: after.name.clone(),
                    tags: set,
                });
            }
            if !unset.is_empty() {
                out.push(Call::UntagTopic {
                    topic: after.name.clone(),
                    keys: unset,
                });
            }
            out
        }
        Operation::CreateQueue(q) => vec![Call::CreateQueue {
            name: q.name.clone(),
            attributes: queue_attributes(q, arns, true),
            tags: resource_tags(&q.naming, &q.tags),
            tolerated: Vec::new(),
            allow_topics: Vec::new(),
        }],
        Operation::DeleteQueue(q) => vec![Call::DeleteQueue {
            name: q.name.clone(),
        }],
        Operation::ChangeQueue { before, after } => {
            let mut out = Vec::new();
            let attributes = changed(
                &queue_attributes(before, arns, false),
                &queue_attributes(after, arns, false),
                queue_default,
            );
            if !attributes.is_empty() {
                out.push(Call::SetQueueAttributes {
                    queue: after.name.clone(),
                    attributes,
                });
            }
            let (set, unset) = tag_changes(&before.tags, &after.tags);
            if !set.is_empty() {
                out.push(Call::TagQueue {
                    queue: after.name.clone(),
                    tags: set,
                });
            }
            if !unset.is_empty() {
                out.push(Call::UntagQueue {
                    queue: after.name.clone(),
                    keys: unset,
                });
            }
            out
        }
        // a topic-to-topic link has no AWS counterpart: its derived subscriptions make it real
        Operation::Subscribe(s)
        | Operation::Unsubscribe(s)
        | Operation::ChangeSubscription { after: s, .. }
            if matches!(s.key.endpoint, Endpoint::Topic(_)) =>
        {
            Vec::new()
        }
        Operation::Subscribe(s) => subscribe_calls(s, arns),
        Operation::SubscribeDerived(d) => subscribe_calls(&d.subscription, arns),
        Operation::Unsubscribe(s) => unsubscribe_calls(s),
        Operation::UnsubscribeDerived(d) => unsubscribe_calls(&d.subscription),
        Operation::ChangeSubscription { before, after } => {
            change_subscription_calls(before, after, arns)
        }
        Operation::ChangeDerived { before, after } => {
            change_subscription_calls(&before.subscription, &after.subscription, arns)
        }
        Operation::DeleteLegacy(l) => legacy::delete_calls(l),
        Operation::RestoreLegacy(l) => legacy::restore_calls(l),
    }
}

fn subscribe_calls(s: &Subscription, arns: &Arns) -> Vec<Call> {
    let mut out = Vec::new();
    if let Endpoint::Queue(queue) = &s.key.endpoint {
        out.push(Call::AllowTopic {
            queue: queue.clone(),
            topic: s.key.topic.clone(),
        });
    }
    out.push(Call::Subscribe {
        topic: s.key.topic.clone(),
        endpoint: s.key.endpoint.clone(),
        attributes: subscription_attributes(s, arns),
    });
    out
}

fn unsubscribe_calls(s: &Subscription) -> Vec<Call> {
    let mut out = vec![Call::Unsubscribe {
        topic: s.key.topic.clone(),
        endpoint: s.key.endpoint.clone(),
    }];
    if let Endpoint::Queue(queue) = &s.key.endpoint {
        out.push(Call::RevokeTopic {
            queue: queue.clone(),
            topic: s.key.topic.clone(),
        });
    }
    out
}

fn change_subscription_calls(
    before: &Subscription,
    after: &Subscription,
    arns: &Arns,
) -> Vec<Call> {
    changed(
        &subscription_attributes(before, arns),
        &subscription_attributes(after, arns),
        subscription_default,
    )
    .into_iter()
    .map(|(key, value)| Call::SetSubscriptionAttribute {
        topic: after.key.topic.clone(),
        endpoint: after.key.endpoint.clone(),
        key,
        value,
    })
    .collect()
}

/// The calls of a whole plan, steps by operations by calls. Two rewrites make it one request
/// per topic, queue and subscription on a fresh account:
///
/// - a queue created in the plan gets its access policy in `CreateQueue`: every topic the
///   plan subscribes to it afterwards (derived subscriptions included), up to the first call
///   that changes its attributes or policy otherwise;
/// - a policy statement is not revoked from a queue that the plan deletes afterwards.
///
/// A queue created in the plan also tolerates the attributes that later steps of the same plan
/// give it (a re-run after a crash may find the queue already changed).
pub fn plan_calls(plan: &Plan, arns: &Arns) -> Vec<Vec<Vec<Call>>> {
    let mut later: BTreeMap<String, Vec<Attributes>> = BTreeMap::new();
    for step in &plan.steps {
        for op in &step.ops {
            if let Operation::ChangeQueue { after, .. } = op {
                later
                    .entry(after.name.clone())
                    .or_default()
                    .push(queue_attributes(after, arns, true));
            }
        }
    }
    let mut out: Vec<Vec<Vec<Call>>> = plan
        .steps
        .iter()
        .map(|step| {
            step.ops
                .iter()
                .map(|op| {
                    let mut calls = calls(op, arns);
                    for call in &mut calls {
                        if let Call::CreateQueue {
                            name, tolerated, ..
                        } = call
                        {
                            *tolerated = later.get(name.as_str()).cloned().unwrap_or_default();
                        }
                    }
                    calls
                })
                .collect()
        })
        .collect();
    fold_policies(&mut out);
    drop_doomed_revokes(&mut out);
    out
}

/// Where one call sits in [`plan_calls`]' output: step, operation, call.
type CallIndex = (usize, usize, usize);

fn call_indices(calls: &[Vec<Vec<Call>>]) -> Vec<CallIndex> {
    let mut out = Vec::new();
    for (s, step) in calls.iter().enumerate() {
        for (o, op) in step.iter().enumerate() {
            out.extend((0..op.len()).map(|c| (s, o, c)));
        }
    }
    out
}

/// Moves each [`Call::AllowTopic`] into the [`Call::CreateQueue`] of its queue earlier in the
/// plan, as long as nothing in between touches the queue's attributes or policy: a
/// `SetQueueAttributes` (moto's erases the policy), a revoke, a delete or another create.
///
/// Crash-safe: a re-run that finds the queue created (the step not recorded) sends the same
/// `CreateQueue`, which AWS answers with the queue when nothing differs, and which converges
/// the policy when something does; a re-run after the step was recorded plans the later
/// subscriptions' `AllowTopic` calls again, and finds their statements already there.
fn fold_policies(calls: &mut [Vec<Vec<Call>>]) {
    let mut open: BTreeMap<String, CallIndex> = BTreeMap::new();
    let mut folded: Vec<(CallIndex, CallIndex)> = Vec::new();
    for at in call_indices(calls) {
        let (s, o, c) = at;
        match &calls[s][o][c] {
            Call::CreateQueue { name, .. } => {
                open.insert(name.clone(), at);
            }
            Call::AllowTopic { queue, .. } => {
                if let Some(&create) = open.get(queue) {
                    folded.push((at, create));
                }
            }
            Call::RevokeTopic { queue, .. }
            | Call::SetQueueAttributes { queue, .. }
            | Call::DeleteQueue { name: queue } => {
                open.remove(queue);
            }
            _ => {}
        }
    }
    // back to front, so that removing a call leaves the indices still to visit valid
    for ((s, o, c), (cs, co, cc)) in folded.into_iter().rev() {
        let Call::AllowTopic { topic, .. } = calls[s][o].remove(c) else {
            continue;
        };
        if let Call::CreateQueue { allow_topics, .. } = &mut calls[cs][co][cc] {
            if !allow_topics.contains(&topic) {
                allow_topics.insert(0, topic);
            }
        }
    }
}

/// Drops each [`Call::RevokeTopic`] whose queue the plan deletes afterwards (without creating
/// it again in between): deleting the queue deletes its policy.
///
/// A run that stops between the two leaves the statement on the queue, naming a topic that no
/// subscription of it uses any more, until the same command is run again and deletes the
/// queue; a `migrate` instead finds the statement it would add already there.
fn drop_doomed_revokes(calls: &mut [Vec<Vec<Call>>]) {
    let mut doomed: BTreeSet<String> = BTreeSet::new();
    for (s, o, c) in call_indices(calls).into_iter().rev() {
        match &calls[s][o][c] {
            Call::DeleteQueue { name } => {
                doomed.insert(name.clone());
            }
            Call::CreateQueue { name, .. } => {
                doomed.remove(name);
            }
            Call::RevokeTopic { queue, .. } if doomed.contains(queue) => {
                calls[s][o].remove(c);
            }
            _ => {}
        }
    }
}

/// Every tag key lariat may put on what it creates ([`resource_tags`]); a user tag with one of
/// these keys is overwritten.
pub const LARIAT_TAGS: [&str; 8] = [
    "managed_by",
    "standard",
    "instance",
    "kind",
    "publisher",
    "type",
    "fifo",
    "dest",
];

/// The tags lariat puts on what it creates, as the Ruby gem does, plus `managed_by`.
pub fn resource_tags(naming: &ParsedName, user: &Tags) -> Tags {
    let mut tags = user.clone();
    tags.insert("managed_by".into(), "lariat".into());
    tags.insert("fifo".into(), naming.fifo().to_string());
    match naming {
        ParsedName::Standard(p) => {
            tags.insert("standard".into(), "true".into());
            tags.insert("instance".into(), p.instance.clone());
            tags.insert("kind".into(), p.kind.to_string());
            tags.insert("publisher".into(), p.publisher.clone());
            tags.insert("type".into(), p.message_type.clone());
            if let Some(dest) = &p.dest {
                tags.insert("dest".into(), dest.clone());
            }
        }
        ParsedName::Custom { .. } => {
            tags.insert("standard".into(), "false".into());
        }
    }
    tags
}

/// Topic attributes as AWS names them; `create` adds the ones only CreateTopic takes.
pub fn topic_attributes(topic: &Topic, create: bool) -> Attributes {
    let a = &topic.attributes;
    let mut out = Attributes::new();
    if create && topic.fifo() {
        out.insert("FifoTopic".into(), "true".into());
    }
    put(
        &mut out,
        "ContentBasedDeduplication",
        a.content_based_deduplication,
    );
    put(&mut out, "DisplayName", a.display_name.as_ref());
    put(&mut out, "KmsMasterKeyId", a.kms_master_key_id.as_ref());
    out
}

/// Queue attributes as AWS names them; `create` adds the ones only CreateQueue takes.
pub fn queue_attributes(queue: &Queue, arns: &Arns, create: bool) -> Attributes {
    let a = &queue.attributes;
    let mut out = Attributes::new();
    if create && queue.fifo() {
        out.insert("FifoQueue".into(), "true".into());
    }
    put(&mut out, "VisibilityTimeout", a.visibility_timeout);
    put(
        &mut out,
        "MessageRetentionPeriod",
        a.message_retention_period,
    );
    put(&mut out, "MaximumMessageSize", a.maximum_message_size);
    put(&mut out, "DelaySeconds", a.delay_seconds);
    put(
        &mut out,
        "ReceiveMessageWaitTimeSeconds",
        a.receive_message_wait_time,
    );
    if let Some(d) = &a.dead_letter {
        let policy = serde_json::json!({
            "deadLetterTargetArn": arns.queue(&d.queue),
            "maxReceiveCount": d.max_receive_count,
        });
        out.insert("RedrivePolicy".into(), policy.to_string());
    }
    if let Some(allow) = &a.redrive_allow {
        let policy = match allow {
            RedriveAllow::AllowAll => serde_json::json!({"redrivePermission": "allowAll"}),
            RedriveAllow::DenyAll => serde_json::json!({"redrivePermission": "denyAll"}),
            RedriveAllow::ByQueue(queues) => serde_json::json!({
                "redrivePermission": "byQueue",
                "sourceQueueArns": queues.iter().map(|q| arns.queue(q)).collect::<Vec<_>>(),
            }),
        };
        out.insert("RedriveAllowPolicy".into(), policy.to_string());
    }
    put(
        &mut out,
        "ContentBasedDeduplication",
        a.content_based_deduplication,
    );
    put(
        &mut out,
        "DeduplicationScope",
        a.deduplication_scope.as_ref(),
    );
    put(
        &mut out,
        "FifoThroughputLimit",
        a.fifo_throughput_limit.as_ref(),
    );
    put(&mut out, "KmsMasterKeyId", a.kms_master_key_id.as_ref());
    put(
        &mut out,
        "KmsDataKeyReusePeriodSeconds",
        a.kms_data_key_reuse_period,
    );
    put(&mut out, "SqsManagedSseEnabled", a.sqs_managed_sse);
    out
}

/// Subscription attributes as AWS names them.
pub fn subscription_attributes(sub: &Subscription, arns: &Arns) -> Attributes {
    let a = &sub.attributes;
    let mut out = Attributes::new();
    put(&mut out, "RawMessageDelivery", a.raw_message_delivery);
    if let Some(policy) = &a.filter_policy {
        out.insert("FilterPolicy".into(), policy.to_string());
    }
    put(
        &mut out,
        "FilterPolicyScope",
        a.filter_policy_scope.as_ref(),
    );
    if let Some(dlq) = &a.dead_letter_queue {
        let policy = serde_json::json!({ "deadLetterTargetArn": arns.queue(dlq) });
        out.insert("RedrivePolicy".into(), policy.to_string());
    }
    out
}

fn put(out: &mut Attributes, key: &str, value: Option<impl ToString>) {
    if let Some(v) = value {
        out.insert(key.to_owned(), v.to_string());
    }
}

/// The value that returns a queue attribute to what AWS gives a new queue.
pub fn queue_default(key: &str) -> String {
    match key {
        "VisibilityTimeout" => "30",
        "MessageRetentionPeriod" => "345600",
        "MaximumMessageSize" => "262144",
        "DelaySeconds" | "ReceiveMessageWaitTimeSeconds" => "0",
        "RedriveAllowPolicy" => r#"{"redrivePermission":"allowAll"}"#,
        "ContentBasedDeduplication" | "SqsManagedSseEnabled" => "false",
        "DeduplicationScope" => "queue",
        "FifoThroughputLimit" => "perQueue",
        "KmsDataKeyReusePeriodSeconds" => "300",
        _ => "",
    }
    .to_owned()
}

/// The value that returns a topic attribute to what AWS gives a new topic.
pub fn topic_default(key: &str) -> String {
    match key {
        "ContentBasedDeduplication" => "false",
        _ => "",
    }
    .to_owned()
}

/// The value that returns a subscription attribute to what AWS gives a new subscription.
pub fn subscription_default(key: &str) -> String {
    match key {
        "RawMessageDelivery" => "false",
        "FilterPolicyScope" => "MessageAttributes",
        "FilterPolicy" => "{}",
        _ => "",
    }
    .to_owned()
}

/// Attributes whose value differs between `before` and `after`; removed ones get the default.
fn changed(before: &Attributes, after: &Attributes, default: fn(&str) -> String) -> Attributes {
    let mut out = Attributes::new();
    for (key, value) in after {
        if before.get(key) != Some(value) {
            out.insert(key.clone(), value.clone());
        }
    }
    for key in before.keys() {
        if !after.contains_key(key) {
            out.insert(key.clone(), default(key));
        }
    }
    out
}

fn tag_changes(before: &Tags, after: &Tags) -> (Tags, Vec<String>) {
    let set = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let unset = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    (set, unset)
}

/// The key of the queue-policy statement that lets `topic_arn` send to a queue; the AWS
/// console names its statements the same way.
pub fn policy_statement_id(topic_arn: &str) -> String {
    format!("topic-subscription-{topic_arn}")
}

/// Whether an attribute's `actual` value (`None` when AWS has none) is the `declared` one.
/// JSON values (`*Policy` attributes) compare as JSON: AWS may reorder keys or change number
/// formatting.
pub fn attribute_matches(key: &str, declared: &str, actual: Option<&str>) -> bool {
    let Some(actual) = actual else {
        return declared.is_empty();
    };
    if declared == actual {
        return true;
    }
    if key.ends_with("Policy") {
        let parse = |s: &str| {
            serde_json::from_str::<serde_json::Value>(s)
                .ok()
                .map(normalize_json)
        };
        return parse(declared).is_some() && parse(declared) == parse(actual);
    }
    false
}

/// Numbers written as strings (`"maxReceiveCount":"5"`) compare equal to numbers.
fn normalize_json(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => match s.parse::<i64>() {
            Ok(n) => n.into(),
            Err(_) => serde_json::Value::String(s),
        },
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (k, normalize_json(v)))
            .collect(),
        serde_json::Value::Array(list) => list.into_iter().map(normalize_json).collect(),
        other => other,
    }
}

/// Adds (or replaces) the statement letting `topic_arn` send to `queue_arn` in a queue policy.
/// Returns `None` when the policy already has exactly that statement.
pub fn policy_with_topic(
    policy: Option<&str>,
    queue_arn: &str,
    topic_arn: &str,
) -> Result<Option<String>, serde_json::Error> {
    let (mut doc, mut statements) = parse_policy(policy, queue_arn)?;
    let sid = policy_statement_id(topic_arn);
    let statement = serde_json::json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": { "Service": "sns.amazonaws.com" },
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } },
    });
    if statements.contains(&statement) {
        return Ok(None);
    }
    statements.retain(|s| statement_id(s) != Some(sid.as_str()));
    statements.push(statement);
    doc.insert("Statement".into(), serde_json::Value::Array(statements));
    Ok(Some(serde_json::Value::Object(doc).to_string()))
}

/// Removes the statement for `topic_arn`. Returns `None` when there is none; `Some("")` when
/// the policy is left empty (which removes it).
pub fn policy_without_topic(
    policy: Option<&str>,
    queue_arn: &str,
    topic_arn: &str,
) -> Result<Option<String>, serde_json::Error> {
    let (mut doc, mut statements) = parse_policy(policy, queue_arn)?;
    let sid = policy_statement_id(topic_arn);
    let before = statements.len();
    statements.retain(|s| statement_id(s) != Some(sid.as_str()));
    if statements.len() == before {
        return Ok(None);
    }
    if statements.is_empty() {
        return Ok(Some(String::new()));
    }
    doc.insert("Statement".into(), serde_json::Value::Array(statements));
    Ok(Some(serde_json::Value::Object(doc).to_string()))
}

type PolicyDocument = serde_json::Map<String, serde_json::Value>;

/// The policy document and its statements (a single statement object becomes a list).
fn parse_policy(
    policy: Option<&str>,
    queue_arn: &str,
) -> Result<(PolicyDocument, Vec<serde_json::Value>), serde_json::Error> {
    let mut doc: PolicyDocument = match policy.filter(|p| !p.trim().is_empty()) {
        Some(text) => serde_json::from_str(text)?,
        None => {
            let mut doc = PolicyDocument::new();
            doc.insert("Version".into(), "2012-10-17".into());
            doc.insert("Id".into(), format!("{queue_arn}/SQSDefaultPolicy").into());
            doc
        }
    };
    let statements = match doc.remove("Statement") {
        Some(serde_json::Value::Array(list)) => list,
        Some(single) => vec![single],
        None => Vec::new(),
    };
    Ok((doc, statements))
}

fn statement_id(statement: &serde_json::Value) -> Option<&str> {
    statement.get("Sid").and_then(|v| v.as_str())
}

pub mod external;
pub mod legacy;

#[cfg(test)]
mod tests;
