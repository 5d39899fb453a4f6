//! Planning: which migrations to apply or undo, given the files and the version table. Pure
//! functions; [`crate::calls`] turns a plan into AWS calls and the executor does the I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::store::{AppliedVersion, VersionState};
use crate::topology::{Operation, Project};

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

#[cfg(test)]
pub(crate) mod tests;
