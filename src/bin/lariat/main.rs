//! `lariat`: the command-line front of the lariat library. It parses arguments, builds the
//! configuration, calls the library and prints; exit codes are in [`lariat::exit`].

mod duration;
mod inbox;
mod inspect;
mod message;
mod outbox;
mod printable;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use lariat::aws::RequestCounts;
use lariat::config::{Config, Overrides, CONNECT_TIMEOUTS, OPERATION_TIMEOUTS};
use lariat::db::DbError;
use lariat::executor::{ApplyOptions, Progress, DEFAULT_CONCURRENCY};
use lariat::generate::GenerateError;
use lariat::migrator::{Error, RunOptions};
use lariat::plan::{Checks, Direction, RollbackTarget, State};
use lariat::store::StoreError;
use lariat::{exit, graph, Migrator};

mod publish;

/// Manage SNS topics, SQS queues and subscriptions as numbered, reversible migrations.
///
/// Every setting comes from lariat.toml in the current directory, overridden by LARIAT_*
/// environment variables, overridden by flags.
#[derive(Debug, Parser)]
#[command(name = "lariat", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    /// More log output on stderr (-v info, with the full SDK form of failed AWS calls; -vv
    /// debug); LARIAT_LOG (or RUST_LOG) takes a tracing filter.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
#[command(next_help_heading = "Configuration (every command)")]
struct ConfigArgs {
    /// Config file [default: ./lariat.toml when present].
    #[arg(long, env = "LARIAT_CONFIG", global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Deployment instance, the first part of every name (e.g. production, staging, test).
    #[arg(long, env = "LARIAT_INSTANCE", global = true)]
    instance: Option<String>,
    /// Default publisher of declared topics and queues.
    #[arg(long, env = "LARIAT_PUBLISHER", global = true)]
    publisher: Option<String>,
    /// Migrations folder [default: lariat/migrate].
    #[arg(long, env = "LARIAT_MIGRATIONS", global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Version store: sqlite://FILE, postgres://..., mysql://... (also DATABASE_URL)
    /// [default: sqlite file .lariat/INSTANCE.versions.db].
    #[arg(
        long,
        env = "LARIAT_DATABASE_URL",
        global = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
    /// Name of the version table [default: lariat_versions].
    #[arg(
        long,
        env = "LARIAT_VERSIONS_TABLE",
        global = true,
        value_name = "NAME"
    )]
    versions_table: Option<String>,
    /// AWS region [default: from the AWS configuration chain, e.g. AWS_REGION].
    #[arg(long, env = "LARIAT_AWS_REGION", global = true)]
    region: Option<String>,
    /// AWS account id for building ARNs [default: asked once from STS].
    #[arg(long, env = "LARIAT_AWS_ACCOUNT_ID", global = true, value_name = "ID")]
    account_id: Option<String>,
    /// Endpoint override for a local emulator (also AWS_ENDPOINT_URL).
    #[arg(long, env = "LARIAT_ENDPOINT_URL", global = true, value_name = "URL")]
    endpoint_url: Option<String>,
    /// AWS profile from ~/.aws/config.
    #[arg(long, env = "LARIAT_AWS_PROFILE", global = true)]
    profile: Option<String>,
    /// How long opening a connection to AWS may take (100ms to 5m) [default: 3s].
    #[arg(long, env = "LARIAT_AWS_CONNECT_TIMEOUT", global = true, value_name = "DURATION",
          value_parser = in_range(CONNECT_TIMEOUTS))]
    connect_timeout: Option<Duration>,
    /// How long one attempt of an AWS call may wait for its answer (100ms to 1h); a call gives
    /// up after 3 times this, retries included [default: 20s].
    #[arg(long, env = "LARIAT_AWS_OPERATION_TIMEOUT", global = true, value_name = "DURATION",
          value_parser = in_range(OPERATION_TIMEOUTS))]
    operation_timeout: Option<Duration>,
}

/// A clap value parser for a duration within `range`.
fn in_range(
    range: std::ops::RangeInclusive<Duration>,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    duration::between(*range.start(), *range.end())
}

impl ConfigArgs {
    fn load(self) -> Result<Config, Error> {
        let overrides = Overrides {
            config: self.config,
            instance: self.instance,
            publisher: self.publisher,
            migrations: self.dir,
            database_url: self.database_url,
            versions_table: self.versions_table,
            region: self.region,
            account_id: self.account_id,
            endpoint_url: self.endpoint_url,
            profile: self.profile,
            connect_timeout: self.connect_timeout,
            operation_timeout: self.operation_timeout,
        };
        Ok(Config::load(overrides, |key| std::env::var(key).ok())?)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check every migration file; print every problem with its file, line and fix.
    ///
    /// With -v, also lists the subscriptions lariat derives from topic-to-topic links.
    Validate,
    /// Create files from templates.
    #[command(subcommand)]
    Generate(Generate),
    /// Print the declared topology as Graphviz DOT or Mermaid.
    ///
    /// Pipe it to Graphviz: `lariat graph | dot -Tpng -o topology.png`.
    Graph {
        /// The topology after this version [default: the newest].
        #[arg(long = "version", id = "at_version", value_name = "VERSION")]
        at: Option<i64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Draw what the AWS account holds (this instance, and the custom names the files
        /// declare) instead of the files, so the two can be diffed.
        #[arg(long, conflicts_with = "at_version")]
        live: bool,
        /// Also draw (dashed) the subscriptions lariat derives from topic-to-topic links.
        #[arg(long)]
        derived: bool,
    },
    /// List the topics, queues or subscriptions of the AWS account, names parsed into their
    /// parts by the naming rules.
    List(inspect::ListArgs),
    /// Adopt what the account already holds: write one migration declaring this instance's
    /// topics, queues and subscriptions, and record it as applied without changing anything.
    ///
    /// --publisher (flag or LARIAT_PUBLISHER, not lariat.toml) keeps only names of that
    /// publisher. Rolling the migration back deletes the adopted resources, so `rollback`
    /// refuses it without --delete-imported.
    Import(ImportArgs),
    /// Compare the AWS account with the migrations at the newest applied version.
    ///
    /// Reports what is missing, unexpected (of this instance) or different. Exits 0 when the
    /// account is in sync, 2 when it drifted.
    Drift(inspect::DriftArgs),
    /// Apply pending migrations to AWS, oldest first.
    Migrate {
        /// Apply up to and including this version.
        #[arg(long, value_name = "VERSION")]
        to: Option<i64>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Undo the newest migration, or every migration newer than VERSION.
    ///
    /// `rollback V` keeps V applied and undoes everything newer, newest first.
    Rollback {
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
    },
    /// The consumer inbox table: install it, list unprocessed messages and client errors,
    /// clear client errors for replay.
    Inbox(inbox::InboxArgs),
    /// Check message bodies: what the inbox reads from each, or why it sets it aside.
    #[command(subcommand)]
    Message(message::MessageCommand),
    /// Publish one event or command to its topic (or queue); print its uuid and message id.
    ///
    /// The topic is INSTANCE-KIND-fanout-PUBLISHER-TYPE[.fifo], the queue (--to-queue)
    /// INSTANCE-KIND-queue-PUBLISHER-TYPE[-DEST][.fifo]; --name sends to any other name.
    Publish(Box<publish::PublishArgs>),
    /// Show each migration as applied, pending, interrupted, modified or missing.
    ///
    /// Exits 2 when something is pending or interrupted.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The transactional outbox: install its table, run the relay, resend dead rows, status.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
}

/// Filters of `lariat import`.
#[derive(Debug, Args)]
struct ImportArgs {
    /// Only names matching this glob (`*` any characters, `?` one); it may also select names
    /// outside the naming rule or of another instance.
    #[arg(long, value_name = "GLOB")]
    name: Option<String>,
    /// Only events or only commands.
    #[arg(long, value_enum)]
    kind: Option<ImportKind>,
    /// Name of the migration file.
    #[arg(long = "as", default_value = "import", value_name = "NAME")]
    file_name: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ImportKind {
    /// Events.
    Event,
    /// Commands.
    Command,
}

#[derive(Debug, Subcommand)]
enum Generate {
    /// A new migration file: lariat/migrate/<UTC YYYYMMDDHHMMSS>_<NAME>.toml.
    Migration {
        /// snake_case name, e.g. user_created.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
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

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return exit_code(code);
        }
    };
    let level = match &cli.command {
        Command::Outbox(command) => command.log_level(),
        _ => None,
    };
    init_logging(cli.verbose, level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit_code(exit::FAILURE);
        }
    };
    let code = runtime.block_on(run(cli)).unwrap_or_else(|e| {
        // `lariat list | head`: the reader has all it wanted
        let broken_pipe = e
            .chain()
            .filter_map(|c| c.downcast_ref::<io::Error>())
            .any(|io| io.kind() == io::ErrorKind::BrokenPipe);
        if broken_pipe {
            exit::OK
        } else {
            report(&e)
        }
    });
    exit_code(code)
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Log lines on stderr: `warn` and up by default, more with `-v`/`-vv`; `LARIAT_LOG` (or
/// `RUST_LOG`) takes a tracing filter instead. `-v` also shows the SDK's full form of each
/// failed AWS call. Colour only on a terminal, see [`colour`].
fn init_logging(verbose: u8, level: Option<&str>) {
    let default = match (verbose, level) {
        (0, Some(level)) => level,
        (0, None) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    // the SDK's own warnings hold Debug dumps of its errors (a credentials provider that
    // failed, say); lariat's error names the cause, so they only show with -v
    let sdk = match verbose {
        0 => "aws_config=error,aws_smithy_runtime=error".to_owned(),
        _ => format!(
            "aws_config=warn,aws_smithy_runtime=warn,{}=debug",
            lariat::aws::DETAIL_TARGET
        ),
    };
    let filter = std::env::var("LARIAT_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| format!("{default},{sdk},sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(io::stderr)
        .with_ansi(colour(io::stderr().is_terminal(), |key| {
            std::env::var_os(key)
        }))
        .with_target(false)
        .init();
}

/// Whether to write colour escapes: on a terminal, unless `NO_COLOR` is set (not empty);
/// `CLICOLOR_FORCE` (not empty, not `0`) forces them, also into a pipe.
fn colour(terminal: bool, var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    let set = |key: &str| var(key).is_some_and(|v| !v.is_empty() && v != "0");
    if var("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        return false;
    }
    terminal || set("CLICOLOR_FORCE")
}

/// Prints an error and picks its exit code.
fn report(err: &anyhow::Error) -> i32 {
    match err.downcast_ref::<Error>() {
        Some(Error::Invalid(diagnostics)) => {
            eprintln!("{diagnostics}");
            exit::INVALID
        }
        Some(e) => {
            match e {
                // the database's own message says what is wrong (password, missing database,
                // read-only file); AWS errors are rendered by their own Display
                Error::Store(store) => eprintln!("error: {}", with_causes(store)),
                _ => eprintln!("error: {e}"),
            }
            match e {
                Error::Config(_) => exit::INVALID,
                Error::Plan(lariat::plan::PlanError::UnknownVersion(_)) => exit::USAGE,
                Error::Plan(_) => exit::REFUSED,
                Error::Store(StoreError::LockTimeout { .. }) => exit::LOCKED,
                Error::Store(
                    StoreError::ForeignTable { .. }
                    | StoreError::Db(DbError::InvalidTableName { .. }),
                ) => exit::INVALID,
                Error::MissingExternal(_) => exit::REFUSED,
                Error::Apply(e)
                    if matches!(**e, lariat::executor::ApplyError::Interrupted { .. }) =>
                {
                    exit::INTERRUPTED
                }
                _ => exit::FAILURE,
            }
        }
        None => {
            eprintln!("error: {}", with_causes(err.as_ref()));
            if invalid_table_name(err) {
                return exit::INVALID;
            }
            match err.downcast_ref::<GenerateError>() {
                Some(GenerateError::BadName(_)) => exit::USAGE,
                _ => exit::FAILURE,
            }
        }
    }
}

/// An error and its causes in one line, each cause only when the text so far does not already
/// say it (many messages include their source's).
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !cause_text.is_empty() && !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether a table name (version, outbox or inbox table) is what was refused: a configuration
/// error, exit 3, whichever command and table.
fn invalid_table_name(err: &anyhow::Error) -> bool {
    use lariat::inbox::InboxError;
    use lariat::outbox::OutboxError;
    err.chain().any(|cause| {
        let db = match (
            cause.downcast_ref::<StoreError>(),
            cause.downcast_ref::<OutboxError>(),
            cause.downcast_ref::<InboxError>(),
        ) {
            (Some(StoreError::Db(db)), _, _)
            | (_, Some(OutboxError::Db(db)), _)
            | (_, _, Some(InboxError::Db(db))) => Some(db),
            _ => cause.downcast_ref::<DbError>(),
        };
        matches!(db, Some(DbError::InvalidTableName { .. }))
    })
}

/// `N migrations, M operations: valid`; derived subscriptions are counted apart, and with
/// `verbose` listed with the links they stand for.
fn validate_summary(
    project: &lariat::topology::Project,
    verbose: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    use lariat::topology::Operation;
    let count = project.migrations.len();
    let ops = project.migrations.iter().flat_map(|m| &m.up);
    let derived = |op: &&Operation| {
        matches!(
            op,
            Operation::SubscribeDerived(_)
                | Operation::UnsubscribeDerived(_)
                | Operation::ChangeDerived { .. }
        )
    };
    let derived_ops = ops.clone().filter(derived).count();
    let operations = ops.count() - derived_ops;
    let newest = project.topology_at(None);
    if verbose {
        for d in newest.derived.values() {
            writeln!(
                out,
                "derived: {} ({}): AWS has no topic-to-topic subscription, so lariat subscribes the queue to the upstream topic directly",
                d.subscription.key,
                d.via_text()
            )?;
        }
    }
    match newest.derived.len() {
        0 => writeln!(out, "{count} migrations, {operations} operations: valid"),
        n => writeln!(
            out,
            "{count} migrations, {operations} operations, {n} derived subscriptions: valid"
        ),
    }
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    let verbose = cli.verbose;
    let names = inspect::NameFlags::of(&cli.config);
    let mut out = io::stdout().lock();
    if let Command::Message(command) = cli.command {
        return message::run(command, &mut out);
    }
    let config = cli.config.load()?;
    match cli.command {
        Command::Outbox(command) => outbox::run(command, config, &mut out).await,
        Command::Generate(Generate::Migration { name }) => {
            let path = lariat::generate::generate_migration(
                &config.migrations,
                &name,
                chrono::Utc::now(),
            )?;
            writeln!(out, "created {}", path.display())?;
            Ok(exit::OK)
        }
        Command::Inbox(args) => inbox::run(args, config, &mut out).await,
        Command::Message(_) => unreachable!("handled before the configuration is loaded"),
        Command::Publish(args) => publish::run(*args, config, &mut out).await,
        Command::Validate => {
            let migrator = Migrator::load(config)?;
            print_warnings(&migrator);
            validate_summary(&migrator.project, verbose > 0, &mut out)?;
            Ok(exit::OK)
        }
        Command::Graph {
            at,
            format,
            live,
            derived,
        } => {
            let migrator = Migrator::load(config)?;
            if let Some(v) = at {
                if migrator.project.get(v).is_none() {
                    return Err(Error::Plan(lariat::plan::PlanError::UnknownVersion(v)).into());
                }
            }
            let format = match format {
                GraphFormat::Dot => graph::Format::Dot,
                GraphFormat::Mermaid => graph::Format::Mermaid,
            };
            let mut topology = match live {
                true => inspect::live_graph(&migrator).await?,
                false => migrator.project.topology_at(at),
            };
            if !derived {
                topology.derived.clear();
            }
            write!(out, "{}", graph::render(&topology, format))?;
            Ok(exit::OK)
        }
        Command::List(args) => inspect::list(args, names, config, &mut out).await,
        Command::Drift(args) => inspect::drift(args, config, &mut out).await,
        Command::Import(args) => {
            let migrator = Migrator::load(config)?;
            let filter = lariat::import::Filter {
                publisher: names.publisher,
                name: args.name,
                kind: args.kind.map(|k| match k {
                    ImportKind::Event => lariat::naming::Kind::Event,
                    ImportKind::Command => lariat::naming::Kind::Command,
                }),
            };
            let imported = migrator
                .import(&filter, &args.file_name, chrono::Utc::now())
                .await?;
            writeln!(
                out,
                "imported {} topic(s), {} queue(s), {} subscription(s) into {}\nrecorded version {} as applied; nothing was changed in AWS",
                imported.topics,
                imported.queues,
                imported.subscriptions,
                imported.path.display(),
                imported.version
            )?;
            Ok(exit::OK)
        }
        Command::Status { json } => {
            let migrator = Migrator::load(config)?;
            let statuses = migrator.status().await?;
            if json {
                serde_json::to_writer_pretty(&mut out, &statuses)?;
                writeln!(out)?;
            } else {
                print_status(&mut out, &statuses)?;
            }
            let open = statuses.iter().any(|s| {
                matches!(
                    s.state,
                    State::Pending | State::Interrupted | State::InterruptedRollback
                )
            });
            Ok(if open { exit::DIFFERENCES } else { exit::OK })
        }
        Command::Migrate { to, run } => {
            let migrator = Migrator::load(config)?;
            print_warnings(&migrator);
            if run.dry_run {
                let checks = run.options().checks;
                if let Some(finish) = migrator.plan_finish_rollback(checks).await? {
                    writeln!(
                        out,
                        "a rollback stopped midway: its migrations are undone first, then applied"
                    )?;
                    print_dry_run(&mut out, &migrator, &finish, "undo").await?;
                    writeln!(out)?;
                }
                let plan = migrator.plan_migrate(to, checks).await?;
                return print_dry_run(&mut out, &migrator, &plan, "apply").await;
            }
            let report = migrator.migrate(to, run.options(), &progress()).await?;
            if !report.undone.is_empty() {
                summary(
                    &mut out,
                    "finished an interrupted rollback: undone",
                    report.undone.len(),
                    None,
                    "",
                )?;
            }
            summary(
                &mut out,
                "applied",
                report.versions.len(),
                Some(&report.requests),
                "everything is up to date",
            )?;
            Ok(exit::OK)
        }
        Command::Rollback {
            version,
            all,
            yes,
            run,
        } => {
            let migrator = Migrator::load(config)?;
            let target = match (version, all) {
                (Some(v), _) => RollbackTarget::To(v),
                (None, true) => RollbackTarget::All,
                (None, false) => RollbackTarget::Last,
            };
            if run.dry_run {
                let plan = migrator.plan_rollback(target, run.options().checks).await?;
                return print_dry_run(&mut out, &migrator, &plan, "undo").await;
            }
            if all && !yes && !confirm(&migrator)? {
                eprintln!("not rolled back: pass --yes to confirm undoing every migration");
                return Ok(exit::REFUSED);
            }
            let report = migrator
                .rollback(target, run.options(), &progress())
                .await?;
            summary(
                &mut out,
                "undone",
                report.versions.len(),
                Some(&report.requests),
                "nothing to roll back",
            )?;
            Ok(exit::OK)
        }
    }
}

/// The warnings of the migration files, each once, on stderr.
fn print_warnings(migrator: &Migrator) {
    for warning in migrator.project.warnings.warnings() {
        eprintln!("{warning}\n");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_unless_told() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert!(colour(true, env(&[])));
        assert!(!colour(false, env(&[])));
        assert!(!colour(true, env(&[("NO_COLOR", "1")])));
        assert!(colour(true, env(&[("NO_COLOR", "")])));
        assert!(colour(false, env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!colour(false, env(&[("CLICOLOR_FORCE", "0")])));
        assert!(!colour(
            true,
            env(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")])
        ));
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
