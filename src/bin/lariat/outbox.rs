//! `lariat outbox …`: create the outbox table, run the relay, resend dead rows, show status.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use lariat::config::Config;
use lariat::exit;
use lariat::naming::NamingDefaults;
use lariat::outbox::relay::{Relay, RelayOptions, MAX_BATCH_SIZE, MIN_LEASE};
use lariat::outbox::{self, Backend, ResendFilter, SplitKey, TargetStats, DEFAULT_TABLE};
use lariat::publish::Publisher;

use super::duration::{self, between, DAY, HOUR, MINUTE, SECOND};
use super::logging::LogLevel;
use super::printable::printable;

/// The transactional outbox: the table, its relay, and its dead rows.
///
/// The outbox lives in the application's database: pass --database-url (or set
/// LARIAT_DATABASE_URL or DATABASE_URL).
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Create the outbox table and its indexes (idempotent), or print the SQL.
    Install {
        /// Print the SQL instead of running it.
        #[arg(long)]
        print: bool,
        /// With --print and no database url: the database to print the SQL for.
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        #[command(flatten)]
        table: TableArg,
    },
    /// Publish outbox rows, delete what was accepted, retry the rest; runs until SIGINT or
    /// SIGTERM, then finishes the batches in flight, releases its claims and exits 0.
    ///
    /// Several relays may run at once against one table.
    Relay(RelayArgs),
    /// Make dead rows pending again (all, or those matching every filter given).
    Resend {
        /// Only rows for this topic or queue name.
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
        /// Only rows of this FIFO group.
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Only these row ids (repeat or separate by commas).
        #[arg(long = "id", value_name = "ID", value_delimiter = ',')]
        ids: Vec<i64>,
        #[command(flatten)]
        table: TableArg,
    },
    /// Rows per target: pending, retrying, in flight, dead, and the age of the oldest.
    ///
    /// Exits 2 when there are dead rows.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        table: TableArg,
    },
}

/// The outbox table name.
#[derive(Debug, Args)]
pub struct TableArg {
    /// The outbox table.
    #[arg(long = "table", env = "LARIAT_OUTBOX_TABLE", default_value = DEFAULT_TABLE, value_name = "NAME")]
    name: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendArg {
    /// PostgreSQL.
    Postgres,
    /// MySQL 8 or MariaDB 10.6+.
    Mysql,
    /// SQLite.
    Sqlite,
}

/// Options of `lariat outbox relay`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    #[command(flatten)]
    table: TableArg,
    /// Log level: error, warn, info, debug or trace (LARIAT_LOG takes a full filter).
    #[arg(long, value_enum, default_value_t = LogLevel::Info, value_name = "LEVEL")]
    log_level: LogLevel,
    /// Serve only these targets or FIFO groups: NAME or NAME:GROUP, comma-separated
    /// [default: all].
    #[arg(long, value_delimiter = ',', value_name = "KEYS")]
    split_keys: Vec<SplitKey>,
    /// Messages per batch call.
    #[arg(long, default_value_t = MAX_BATCH_SIZE as u8, value_parser = clap::value_parser!(u8).range(1..=10))]
    batch_size: u8,
    /// Batch calls in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Longest pause when nothing is due (PostgreSQL wakes at once on new rows); 10ms to 1h.
    #[arg(long, default_value = "500ms", value_parser = between(10 * duration::MILLISECOND, HOUR), value_name = "DURATION")]
    sleep_on_empty: Duration,
    /// Failed sends after which a row is dead.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: u32,
    /// Wait before the first retry; doubles on each further failure (10ms to 1h).
    #[arg(long, default_value = "1s", value_parser = between(10 * duration::MILLISECOND, HOUR), value_name = "DURATION")]
    backoff: Duration,
    /// Longest wait between retries (10ms to 1d).
    #[arg(long, default_value = "5m", value_parser = between(10 * duration::MILLISECOND, DAY), value_name = "DURATION")]
    max_backoff: Duration,
    /// How long a claim lasts without renewal: a killed relay's rows are taken over after it
    /// (1s to 1h; it is renewed every third of it).
    #[arg(long, default_value = "10s", value_parser = between(MIN_LEASE, HOUR), value_name = "DURATION")]
    lease: Duration,
    /// Delete rows that have been dead for longer than this, 1m to 3650d [default: keep them].
    #[arg(long, value_parser = between(MINUTE, 3650 * DAY), value_name = "DURATION")]
    cleanup_dead_after: Option<Duration>,
    /// Serve Prometheus metrics on this address, e.g. 127.0.0.1:9187 (GET /metrics).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// How often the backlog is measured and logged (1s to 1d).
    #[arg(long, default_value = "10s", value_parser = between(SECOND, DAY), value_name = "DURATION")]
    report_every: Duration,
    /// This relay's id in the table [default: HOST-PID-RANDOM].
    #[arg(long, value_name = "ID")]
    relay_id: Option<String>,
}

impl OutboxCommand {
    /// The log level the relay asks for; other commands keep the default.
    pub fn log_level(&self) -> Option<LogLevel> {
        match self {
            OutboxCommand::Relay(args) => Some(args.log_level),
            _ => None,
        }
    }
}

fn database_url(config: &Config) -> anyhow::Result<&str> {
    config.configured_database_url().context(
        "no database url for the outbox: pass --database-url, or set LARIAT_DATABASE_URL or \
         DATABASE_URL to the application's database",
    )
}

async fn open(config: &Config, table: &TableArg) -> anyhow::Result<Box<dyn outbox::OutboxStore>> {
    Ok(outbox::connect(database_url(config)?, &table.name).await?)
}

/// Runs one `lariat outbox` command.
pub async fn run(
    command: OutboxCommand,
    config: Config,
    out: &mut impl Write,
) -> anyhow::Result<i32> {
    match command {
        OutboxCommand::Install {
            print,
            backend,
            table,
        } => {
            if print {
                let backend = match (backend, config.configured_database_url()) {
                    (Some(BackendArg::Postgres), _) => Backend::Postgres,
                    (Some(BackendArg::Mysql), _) => Backend::MySql,
                    (Some(BackendArg::Sqlite), _) => Backend::Sqlite,
                    (None, Some(url)) => Backend::from_url(url)?,
                    (None, None) => anyhow::bail!(
                        "which database? pass --backend postgres|mysql|sqlite or --database-url"
                    ),
                };
                for statement in outbox::install_sql(backend, &table.name)? {
                    writeln!(out, "{statement};\n")?;
                }
                return Ok(exit::OK);
            }
            let store = open(&config, &table).await?;
            store.install().await?;
            writeln!(
                out,
                "outbox table `{}` is installed in {}",
                table.name,
                lariat::db::redact_url(database_url(&config)?)
            )?;
            store.close().await;
            Ok(exit::OK)
        }
        OutboxCommand::Status { json, table } => {
            let store = open(&config, &table).await?;
            let stats = store.stats().await?;
            store.close().await;
            if json {
                serde_json::to_writer_pretty(&mut *out, &stats)?;
                writeln!(out)?;
            } else {
                print_status(out, &stats)?;
            }
            let dead = stats.iter().any(|s| s.dead > 0);
            Ok(if dead { exit::DIFFERENCES } else { exit::OK })
        }
        OutboxCommand::Resend {
            target,
            group,
            ids,
            table,
        } => {
            let store = open(&config, &table).await?;
            let filter = ResendFilter {
                target_name: target,
                group_id: group,
                ids,
            };
            let count = store.resend(&filter).await?;
            store.close().await;
            writeln!(out, "{count} dead row(s) are pending again")?;
            Ok(exit::OK)
        }
        OutboxCommand::Relay(args) => relay(args, config).await,
    }
}

async fn relay(args: RelayArgs, config: Config) -> anyhow::Result<i32> {
    let store: Arc<dyn outbox::OutboxStore> = Arc::from(open(&config, &args.table).await?);
    let aws = lariat::aws::Aws::connect(&config.aws).await?;
    // Rows carry full target names, so the naming defaults are never used to build one.
    let defaults = config.naming().unwrap_or_else(|_| NamingDefaults {
        instance: "outbox".into(),
        publisher: "outbox".into(),
    });
    let sink = Arc::new(outbox::PublisherSink::new(Publisher::new(aws, defaults)));
    let mut options = RelayOptions {
        batch_size: usize::from(args.batch_size),
        concurrency: usize::from(args.concurrency),
        lease: args.lease,
        max_attempts: args.max_attempts,
        backoff: args.backoff,
        max_backoff: args.max_backoff,
        sleep_on_empty: args.sleep_on_empty,
        split_keys: args.split_keys,
        cleanup_dead_after: args.cleanup_dead_after,
        report_every: args.report_every,
        ..RelayOptions::default()
    };
    if let Some(id) = args.relay_id {
        options.relay_id = id;
    }
    let relay = Relay::new(store.clone(), sink, options);
    let server = match args.metrics_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot serve metrics on {addr}: is the port in use?"))?;
            tracing::info!(%addr, "serving metrics on /metrics");
            Some(tokio::spawn(outbox::serve_metrics(
                listener,
                relay.metrics(),
            )))
        }
        None => None,
    };
    let report = relay.run(lariat::signal::shutdown()).await;
    if let Some(server) = server {
        server.abort();
    }
    store.close().await;
    report?;
    Ok(exit::OK)
}

fn print_status(out: &mut impl Write, stats: &[TargetStats]) -> std::io::Result<()> {
    if stats.is_empty() {
        return writeln!(out, "the outbox is empty");
    }
    let width = stats
        .iter()
        .map(|s| printable(&s.target).chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        out,
        "{:<5}  {:<width$}  {:>8}  {:>8}  {:>9}  {:>6}  OLDEST",
        "KIND", "TARGET", "PENDING", "RETRYING", "IN FLIGHT", "DEAD"
    )?;
    for s in stats {
        let oldest = s
            .oldest_age_seconds
            .map_or_else(|| "-".to_owned(), |a| format!("{a:.1}s"));
        writeln!(
            out,
            "{:<5}  {:<width$}  {:>8}  {:>8}  {:>9}  {:>6}  {oldest}",
            s.kind.as_str(),
            printable(&s.target),
            s.pending,
            s.retrying,
            s.in_flight,
            s.dead
        )?;
    }
    let pending: i64 = stats.iter().map(|s| s.pending).sum();
    let dead: i64 = stats.iter().map(|s| s.dead).sum();
    writeln!(out, "\n{pending} pending, {dead} dead")?;
    if dead > 0 {
        writeln!(
            out,
            "dead rows are kept until `lariat outbox resend` or --cleanup-dead-after"
        )?;
    }
    Ok(())
}
