//! `lariat migrate`, `rollback` and `status`: runs plans against AWS and the version table (or
//! prints them, with --dry-run), and reports where each migration stands.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use lariat::aws::RequestCounts;
use lariat::config::Config;
use lariat::executor::{ApplyOptions, Progress, DEFAULT_CONCURRENCY};
use lariat::migrator::RunOptions;
use lariat::plan::{Checks, Direction, RollbackTarget, State};
use lariat::{exit, Migrator};

use super::duration;
use super::validate::print_warnings;

/// Arguments of `lariat migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Apply up to and including this version.
    #[arg(long, value_name = "VERSION")]
    to: Option<i64>,
    #[command(flatten)]
    run: RunArgs,
}

/// Arguments of `lariat rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Undo every migration newer than this one (which stays applied).
    #[arg(value_name = "VERSION", conflicts_with = "all")]
    version: Option<i64>,
    /// Undo every applied migration.
    #[arg(long)]
    all: bool,
    /// Do not ask for confirmation of --all.
    #[arg(long, short)]
    yes: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// Arguments of `lariat status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

/// Options of `migrate` and `rollback`.
#[derive(Debug, Args)]
struct RunArgs {
    /// Print the AWS calls that would be made; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// How long to wait for another migrate/rollback to finish (0s to 24h).
    #[arg(long, default_value = "60s", value_parser = duration::between(Duration::ZERO, duration::DAY), value_name = "DURATION")]
    lock_timeout: Duration,
    /// AWS operations in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY as u16, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Go on although an applied migration file was edited.
    #[arg(long)]
    allow_modified: bool,
    /// Go on although an applied migration file is missing.
    #[arg(long)]
    allow_missing: bool,
    /// Roll back a migration that `lariat import` wrote, deleting the resources it adopted.
    #[arg(long)]
    delete_imported: bool,
}

impl RunArgs {
    fn options(&self) -> RunOptions {
        RunOptions {
            checks: Checks {
                allow_modified: self.allow_modified,
                allow_missing: self.allow_missing,
                delete_imported: self.delete_imported,
            },
            lock_timeout: self.lock_timeout,
            apply: ApplyOptions {
                concurrency: usize::from(self.concurrency),
            },
        }
    }
}

/// Runs `lariat migrate`.
pub async fn migrate(
    args: MigrateArgs,
    config: Config,
    out: &mut impl Write,
) -> anyhow::Result<i32> {
    let MigrateArgs { to, run } = args;
    let migrator = Migrator::load(config)?;
    print_warnings(&migrator);
    if run.dry_run {
        let checks = run.options().checks;
        if let Some(finish) = migrator.plan_finish_rollback(checks).await? {
            writeln!(
                out,
                "a rollback stopped midway: its migrations are undone first, then applied"
            )?;
            print_dry_run(out, &migrator, &finish, "undo").await?;
            writeln!(out)?;
        }
        let plan = migrator.plan_migrate(to, checks).await?;
        return print_dry_run(out, &migrator, &plan, "apply").await;
    }
    let report = migrator
        .migrate(to, run.options(), &progress(), lariat::signal::shutdown())
        .await?;
    if !report.undone.is_empty() {
        summary(
            out,
            "finished an interrupted rollback: undone",
            report.undone.len(),
            None,
            "",
        )?;
    }
    summary(
        out,
        "applied",
        report.versions.len(),
        Some(&report.requests),
        "everything is up to date",
    )?;
    Ok(exit::OK)
}

/// Runs `lariat rollback`; `--all` asks first unless `--yes`.
pub async fn rollback(
    args: RollbackArgs,
    config: Config,
    out: &mut impl Write,
) -> anyhow::Result<i32> {
    let RollbackArgs {
        version,
        all,
        yes,
        run,
    } = args;
    let migrator = Migrator::load(config)?;
    let target = match (version, all) {
        (Some(v), _) => RollbackTarget::To(v),
        (None, true) => RollbackTarget::All,
        (None, false) => RollbackTarget::Last,
    };
    if run.dry_run {
        let plan = migrator.plan_rollback(target, run.options().checks).await?;
        return print_dry_run(out, &migrator, &plan, "undo").await;
    }
    if all && !yes && !confirm(&migrator)? {
        eprintln!("not rolled back: pass --yes to confirm undoing every migration");
        return Ok(exit::REFUSED);
    }
    let report = migrator
        .rollback(
            target,
            run.options(),
            &progress(),
            lariat::signal::shutdown(),
        )
        .await?;
    summary(
        out,
        "undone",
        report.versions.len(),
        Some(&report.requests),
        "nothing to roll back",
    )?;
    Ok(exit::OK)
}

/// Runs `lariat status`: exits 2 when something is pending or interrupted.
pub async fn status(args: StatusArgs, config: Config, out: &mut impl Write) -> anyhow::Result<i32> {
    let migrator = Migrator::load(config)?;
    let statuses = migrator.status().await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &statuses)?;
        writeln!(out)?;
    } else {
        print_status(out, &statuses)?;
    }
    let open = statuses.iter().any(|s| {
        matches!(
            s.state,
            State::Pending | State::Interrupted | State::InterruptedRollback
        )
    });
    Ok(if open { exit::DIFFERENCES } else { exit::OK })
}

/// Asks on the terminal before `rollback --all`; without a terminal the answer is no.
fn confirm(migrator: &Migrator) -> anyhow::Result<bool> {
    if !io::stdin().is_terminal() {
        return Ok(false);
    }
    let instance = migrator.config.instance.as_deref().unwrap_or("?");
    eprint!(
        "Undo every applied migration of instance `{instance}`, deleting what they created? [y/N] "
    );
    io::stderr().flush()?;
    let mut answer = String::new();
    io::stdin()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Prints each finished version; `migrate` may undo versions first (to finish a rollback that
/// stopped midway), which are printed as undone.
fn progress() -> impl Fn(Progress) + Sync {
    move |progress| {
        if let Progress::Finished {
            direction,
            version,
            name,
            operations,
            elapsed,
        } = progress
        {
            let verb = match direction {
                Direction::Up => "applied",
                Direction::Down => "undone",
            };
            println!(
                "  {verb:>8} {version} {name} ({operations} {}, {:.2}s)",
                if operations == 1 {
                    "operation"
                } else {
                    "operations"
                },
                elapsed.as_secs_f64()
            );
        }
    }
}

/// A last line of `migrate` and `rollback`: how many migrations, with how many AWS requests
/// when `requests` is given (by action under -v).
fn summary(
    out: &mut impl Write,
    verb: &str,
    count: usize,
    requests: Option<&RequestCounts>,
    nothing: &str,
) -> io::Result<()> {
    let requests = match requests {
        Some(counts) => {
            if !counts.is_empty() {
                let by_action: Vec<String> = counts
                    .iter()
                    .map(|(action, n)| format!("{action} {n}"))
                    .collect();
                tracing::info!("AWS requests: {}", by_action.join(", "));
            }
            match lariat::aws::requests::total(counts) {
                1 => " (1 AWS request)".to_owned(),
                n => format!(" ({n} AWS requests)"),
            }
        }
        None => String::new(),
    };
    match count {
        0 => writeln!(out, "{nothing}"),
        1 => writeln!(out, "{verb} 1 migration{requests}"),
        n => writeln!(out, "{verb} {n} migrations{requests}"),
    }
}

async fn print_dry_run(
    out: &mut impl Write,
    migrator: &Migrator,
    plan: &lariat::plan::Plan,
    verb: &str,
) -> anyhow::Result<i32> {
    let steps = migrator.dry_run(plan).await?;
    if steps.is_empty() {
        writeln!(out, "dry run: nothing to {verb}")?;
        return Ok(exit::OK);
    }
    writeln!(
        out,
        "dry run: would {verb} {} migration(s); nothing is changed",
        steps.len()
    )?;
    let checks = lariat::calls::external::checks(plan, &migrator.project);
    if !checks.is_empty() {
        writeln!(out, "\nchecked first, never changed:")?;
        for check in checks {
            writeln!(out, "  exists? {check}")?;
        }
    }
    for (version, name, calls) in steps {
        writeln!(out, "\n{version} {name}")?;
        for call in calls {
            writeln!(out, "  {call}")?;
        }
    }
    Ok(exit::OK)
}

fn print_status(out: &mut impl Write, statuses: &[lariat::plan::Status]) -> io::Result<()> {
    if statuses.is_empty() {
        return writeln!(out, "no migrations");
    }
    let name_width = statuses
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "{:<14}  {:<name_width$}  {:<20}  APPLIED AT",
        "VERSION", "NAME", "STATE"
    )?;
    for s in statuses {
        writeln!(
            out,
            "{:<14}  {:<name_width$}  {:<20}  {}",
            s.version,
            s.name,
            s.state.to_string(),
            s.applied_at.as_deref().unwrap_or("-")
        )?;
    }
    let count = |state: State| statuses.iter().filter(|s| s.state == state).count();
    writeln!(
        out,
        "\n{} applied, {} pending, {} interrupted, {} modified, {} missing",
        count(State::Applied),
        count(State::Pending),
        count(State::Interrupted) + count(State::InterruptedRollback),
        count(State::Modified),
        count(State::Missing)
    )
}
