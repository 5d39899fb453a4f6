//! `lariat`: the command-line front of the lariat library. It parses arguments, builds the
//! configuration and hands each command to its module, which calls the library and prints;
//! errors and their exit codes are in `report` (codes in [`lariat::exit`]).

mod duration;
mod generate;
mod graph;
mod inbox;
mod inspect;
mod logging;
mod message;
mod migrate;
mod outbox;
mod printable;
mod publish;
mod report;
mod validate;

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use lariat::config::{Config, Overrides, CONNECT_TIMEOUTS, OPERATION_TIMEOUTS};
use lariat::exit;
use lariat::migrator::Error;

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
    Generate(generate::GenerateCommand),
    /// Print the declared topology as Graphviz DOT or Mermaid.
    ///
    /// Pipe it to Graphviz: `lariat graph | dot -Tpng -o topology.png`.
    Graph(graph::GraphArgs),
    /// List the topics, queues or subscriptions of the AWS account, names parsed into their
    /// parts by the naming rules.
    List(inspect::ListArgs),
    /// Adopt what the account already holds: write one migration declaring this instance's
    /// topics, queues and subscriptions, and record it as applied without changing anything.
    ///
    /// --publisher (flag or LARIAT_PUBLISHER, not lariat.toml) keeps only names of that
    /// publisher. Rolling the migration back deletes the adopted resources, so `rollback`
    /// refuses it without --delete-imported.
    Import(generate::ImportArgs),
    /// Compare the AWS account with the migrations at the newest applied version.
    ///
    /// Reports what is missing, unexpected (of this instance) or different. Exits 0 when the
    /// account is in sync, 2 when it drifted.
    Drift(inspect::DriftArgs),
    /// Apply pending migrations to AWS, oldest first.
    Migrate(migrate::MigrateArgs),
    /// Undo the newest migration, or every migration newer than VERSION.
    ///
    /// `rollback V` keeps V applied and undoes everything newer, newest first.
    Rollback(migrate::RollbackArgs),
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
    Status(migrate::StatusArgs),
    /// The transactional outbox: install its table, run the relay, resend dead rows, status.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
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
    logging::init(cli.verbose, level);
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
            report::print(&e)
        }
    });
    exit_code(code)
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Runs the command; `message` runs without loading the configuration.
async fn run(cli: Cli) -> anyhow::Result<i32> {
    let verbose = cli.verbose > 0;
    let names = inspect::NameFlags::of(&cli.config);
    let mut out = io::stdout().lock();
    if let Command::Message(command) = cli.command {
        return message::run(command, &mut out);
    }
    let config = cli.config.load()?;
    match cli.command {
        Command::Outbox(command) => outbox::run(command, config, &mut out).await,
        Command::Generate(command) => generate::generate(command, config, &mut out),
        Command::Inbox(args) => inbox::run(args, config, &mut out).await,
        Command::Message(_) => unreachable!("handled before the configuration is loaded"),
        Command::Publish(args) => publish::run(*args, config, &mut out).await,
        Command::Validate => validate::run(verbose, config, &mut out),
        Command::Graph(args) => graph::run(args, config, &mut out).await,
        Command::List(args) => inspect::list(args, names, config, &mut out).await,
        Command::Drift(args) => inspect::drift(args, config, &mut out).await,
        Command::Import(args) => generate::import(args, names.publisher, config, &mut out).await,
        Command::Status(args) => migrate::status(args, config, &mut out).await,
        Command::Migrate(args) => migrate::migrate(args, config, &mut out).await,
        Command::Rollback(args) => migrate::rollback(args, config, &mut out).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
