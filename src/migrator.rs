//! The library's front door for migrations: load and validate the folder, then `status`,
//! `migrate` and `rollback` against AWS and the version store, holding the applier lock.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt as _;

use crate::aws::{Aws, AwsError};
use crate::calls::external::{self, ExternalCheck};
use crate::calls::Call;
use crate::config::{Config, ConfigError};
use crate::diagnostic::Diagnostics;
use crate::executor::{self, ApplyError, ApplyOptions, Progress, Report};
use crate::naming::Arns;
use crate::naming::ResourceKind;
use crate::plan::{self, Checks, Direction, Plan, PlanError, RollbackTarget, Status};
use crate::store::AppliedVersion;
use crate::store::{self, StoreError, VersionStore};
use crate::topology::{load_project, Project};
use crate::topology::{LegacyRecord, Operation};

/// Anything that stops a lariat command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is incomplete or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The migration files do not validate.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The files and the version table disagree.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The version store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// AWS failed before anything was applied.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// A run stopped midway.
    #[error(transparent)]
    Apply(Box<ApplyError>),
    /// `lariat import` cannot go on.
    #[error("{0}")]
    Import(String),
    /// A legacy record could not be written or read.
    #[error("{0}")]
    Record(String),
    /// External topics or queues the pending migrations use do not exist; nothing was changed.
    #[error("{}", missing_external(.0))]
    MissingExternal(Vec<ExternalCheck>),
}

fn missing_external(missing: &[ExternalCheck]) -> String {
    let lines: Vec<String> = missing
        .iter()
        .map(|check| {
            let owner = match (&check.external.owner, check.resource) {
                (Some(owner), ResourceKind::Topic) => {
                    format!("it belongs to publisher `{owner}`, whose migrations create it")
                }
                (Some(owner), ResourceKind::Queue) => {
                    format!("it belongs to `{owner}`, whose migrations create it")
                }
                (None, _) => "another service's migrations create it".to_owned(),
            };
            format!("{} {} does not exist; {owner}", check.resource, check.key)
        })
        .collect();
    format!(
        "{}\n  nothing was changed: apply the owner's migrations first, or fix the \
         [[external_topic]] / [[external_queue]] that names it (name, account, region)",
        lines.join("\n")
    )
}

impl From<ApplyError> for Error {
    fn from(e: ApplyError) -> Self {
        Error::Apply(Box::new(e))
    }
}

/// Gives each legacy operation of `plan` its record. Going up, the resource is recorded from
/// AWS just before the run (a version left `applying` by an interrupted run keeps the record
/// it made before deleting anything); going down, the record is read back.
async fn legacy_records(
    mut plan: Plan,
    applied: &[AppliedVersion],
    aws: &Aws,
    store: &dyn VersionStore,
) -> Result<Plan, Error> {
    for step in &mut plan.steps {
        let has_legacy = step
            .ops
            .iter()
            .any(|op| matches!(op, Operation::DeleteLegacy(_) | Operation::RestoreLegacy(_)));
        if !has_legacy {
            continue;
        }
        let stored = store.records(step.version).await?;
        let interrupted = applied.iter().any(|r| r.version == step.version);
        for op in &mut step.ops {
            match op {
                Operation::DeleteLegacy(legacy) => {
                    let key = legacy.key.to_string();
                    legacy.record = match stored.get(&key).filter(|_| interrupted) {
                        Some(json) => Some(parse_record(step.version, &key, json)?),
                        None => {
                            let record = aws.record_legacy(&legacy.key).await?;
                            if let Some(record) = &record {
                                let json = serde_json::to_string(record).map_err(|e| {
                                    Error::Record(format!("cannot write the record of {key}: {e}"))
                                })?;
                                store.save_record(step.version, &key, &json).await?;
                            }
                            record
                        }
                    };
                }
                Operation::RestoreLegacy(legacy) => {
                    let key = legacy.key.to_string();
                    legacy.record = match stored.get(&key) {
                        Some(json) => Some(parse_record(step.version, &key, json)?),
                        None => None,
                    };
                }
                _ => {}
            }
        }
    }
    Ok(plan)
}

fn parse_record(version: i64, key: &str, json: &str) -> Result<LegacyRecord, Error> {
    serde_json::from_str(json).map_err(|e| {
        Error::Record(format!(
            "the record of {key} for version {version} is not readable ({e}); recreate it by \
             hand, then delete its row from the records table"
        ))
    })
}

/// Options of `migrate` and `rollback`.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Safety checks to relax.
    pub checks: Checks,
    /// How long to wait for another applier to finish.
    pub lock_timeout: Duration,
    /// Concurrency.
    pub apply: ApplyOptions,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            checks: Checks::default(),
            lock_timeout: Duration::from_secs(60),
            apply: ApplyOptions::default(),
        }
    }
}

/// What `migrate --dry-run` and `rollback --dry-run` would do: per version, its calls.
pub type DryRun = Vec<(i64, String, Vec<Call>)>;

/// A validated migrations folder with its configuration.
#[derive(Debug)]
pub struct Migrator {
    /// The configuration.
    pub config: Config,
    /// Every migration, checked.
    pub project: Project,
}

impl Migrator {
    /// Reads and validates every migration; fails with all diagnostics at once.
    pub fn load(config: Config) -> Result<Migrator, Error> {
        let defaults = config.naming()?;
        let project = load_project(&config.migrations, &defaults).map_err(Error::Invalid)?;
        Ok(Migrator { config, project })
    }

    /// Connects to the version store and makes sure its table exists.
    pub async fn store(&self) -> Result<Box<dyn VersionStore>, Error> {
        let store =
            store::connect(&self.config.database_url(), &self.config.versions_table).await?;
        store.ensure_table().await?;
        Ok(store)
    }

    /// Connects to AWS.
    pub async fn aws(&self) -> Result<Aws, Error> {
        Ok(Aws::connect(&self.config.aws).await?)
    }

    /// Every file and applied version, merged.
    pub async fn status(&self) -> Result<Vec<Status>, Error> {
        Ok(plan::status(&self.project, &self.applied().await?))
    }

    /// Applies pending migrations up to `target` (all when `None`).
    ///
    /// When a rollback stopped midway, it is finished first (its versions are undone, newest
    /// first, and listed in [`Report::undone`]), then everything pending is applied. When
    /// `shutdown` completes (e.g. [`crate::signal::shutdown`]), the operations in flight
    /// finish, nothing new starts, and the run fails with [`ApplyError::Interrupted`].
    pub async fn migrate(
        &self,
        target: Option<i64>,
        options: RunOptions,
        on_progress: &(dyn Fn(Progress) + Sync),
        shutdown: impl Future<Output = ()>,
    ) -> Result<Report, Error> {
        self.run_locked(options, on_progress, shutdown, |applied| {
            let mut plans = Vec::new();
            plans.extend(plan::plan_finish_rollback(
                &self.project,
                applied,
                options.checks,
            )?);
            plans.push(plan::plan_migrate(
                &self.project,
                applied,
                target,
                options.checks,
            )?);
            Ok(plans)
        })
        .await
    }

    /// Undoes applied migrations; stops on `shutdown` as [`Migrator::migrate`] does.
    pub async fn rollback(
        &self,
        target: RollbackTarget,
        options: RunOptions,
        on_progress: &(dyn Fn(Progress) + Sync),
        shutdown: impl Future<Output = ()>,
    ) -> Result<Report, Error> {
        self.run_locked(options, on_progress, shutdown, |applied| {
            plan::plan_rollback(&self.project, applied, target, options.checks).map(|p| vec![p])
        })
        .await
    }

    /// The undo that `migrate` runs first when a rollback stopped midway, without running it.
    pub async fn plan_finish_rollback(&self, checks: Checks) -> Result<Option<Plan>, Error> {
        let applied = self.applied().await?;
        Ok(plan::plan_finish_rollback(&self.project, &applied, checks)?)
    }

    /// The migrate plan, without applying it (after [`Migrator::plan_finish_rollback`], when
    /// that one has steps).
    pub async fn plan_migrate(&self, target: Option<i64>, checks: Checks) -> Result<Plan, Error> {
        let applied = self.applied().await?;
        Ok(plan::plan_migrate(&self.project, &applied, target, checks)?)
    }

    /// The rollback plan, without applying it.
    pub async fn plan_rollback(
        &self,
        target: RollbackTarget,
        checks: Checks,
    ) -> Result<Plan, Error> {
        let applied = self.applied().await?;
        Ok(plan::plan_rollback(
            &self.project,
            &applied,
            target,
            checks,
        )?)
    }

    /// The AWS calls a plan would make (asks AWS for the account id only when it is not
    /// configured).
    pub async fn dry_run(&self, plan: &Plan) -> Result<DryRun, Error> {
        let arns = match &self.config.aws.account_id {
            Some(account_id) => Arns {
                region: self
                    .config
                    .aws
                    .region
                    .clone()
                    .unwrap_or_else(|| "REGION".into()),
                account_id: account_id.clone(),
            },
            None => self.aws().await?.arns().clone(),
        };
        Ok(executor::dry_run(plan, &arns))
    }

    /// The version table's rows, read without creating the table.
    async fn applied(&self) -> Result<Vec<store::AppliedVersion>, Error> {
        let store =
            store::connect(&self.config.database_url(), &self.config.versions_table).await?;
        let applied = match store.table_exists().await {
            Ok(true) => store.list().await,
            Ok(false) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        store.close().await;
        Ok(applied?)
    }

    /// Looks up every external topic and queue the plan uses; fails, before anything is
    /// changed, when one is missing.
    async fn check_external(&self, plan: &Plan, aws: &Aws) -> Result<(), Error> {
        let checks = external::checks(plan, &self.project);
        let found =
            futures::future::try_join_all(checks.iter().map(|c| aws.external_exists(c))).await?;
        let missing: Vec<ExternalCheck> = checks
            .into_iter()
            .zip(found)
            .filter(|(_, exists)| !exists)
            .map(|(check, _)| check)
            .collect();
        match missing.is_empty() {
            true => Ok(()),
            false => Err(Error::MissingExternal(missing)),
        }
    }

    /// Plans from the version table and runs the plans in order, holding the applier lock; the
    /// lock is released on every path. The plans are made before anything runs, so that a
    /// refused plan makes no AWS call; each later plan expects the rows the earlier ones leave.
    /// One `shutdown` serves every plan: an interrupted plan ends the run.
    async fn run_locked(
        &self,
        options: RunOptions,
        on_progress: &(dyn Fn(Progress) + Sync),
        shutdown: impl Future<Output = ()>,
        make_plans: impl FnOnce(&[store::AppliedVersion]) -> Result<Vec<Plan>, PlanError>,
    ) -> Result<Report, Error> {
        let shutdown = shutdown.fuse();
        tokio::pin!(shutdown);
        let store = self.store().await?;
        store.lock(options.lock_timeout).await?;
        let result: Result<Report, Error> = async {
            let applied = store.list().await?;
            let plans = make_plans(&applied)?;
            // a refused plan (edited or missing file, unknown version) makes no AWS call
            let aws = self.aws().await?;
            let mut report = Report::default();
            let count = plans.len();
            for (i, plan) in plans.into_iter().enumerate() {
                self.check_external(&plan, &aws).await?;
                let applied = store.list().await?;
                let plan = legacy_records(plan, &applied, &aws, store.as_ref()).await?;
                let run = executor::run(
                    &plan,
                    &aws,
                    store.as_ref(),
                    options.apply,
                    on_progress,
                    shutdown.as_mut(),
                )
                .await?;
                if plan.direction == Direction::Down {
                    for version in &run.versions {
                        store.remove_records(*version).await?;
                    }
                }
                // an undo before the last plan finishes an interrupted rollback
                match i + 1 < count {
                    true => report.undone.extend(run.versions),
                    false => report.versions.extend(run.versions),
                }
            }
            report.requests = aws.requests();
            Ok(report)
        }
        .await;
        let unlocked = store.unlock().await;
        store.close().await;
        let report = result?;
        unlocked?;
        Ok(report)
    }
}
