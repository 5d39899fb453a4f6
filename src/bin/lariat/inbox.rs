//! `lariat inbox`: create the inbox table, list what is stuck in it, and clear client errors
//! so that the service's `each_unprocessed` replays those messages.

use std::borrow::Cow;
use std::io::Write;

use anyhow::Context as _;

use clap::{Args, Subcommand};
use lariat::config::Config;
use lariat::db::DbError;
use lariat::exit;
use lariat::inbox::{self, Backend, InboxError, InboxMessage, ListFilter, DEFAULT_TABLE};
use uuid::Uuid;

use super::printable::printable;

/// Arguments of `lariat inbox`.
#[derive(Debug, Args)]
pub struct InboxArgs {
    /// The inbox table.
    #[arg(long, env = "LARIAT_INBOX_TABLE", default_value = DEFAULT_TABLE, global = true, value_name = "NAME")]
    table: String,
    #[command(subcommand)]
    command: InboxCommand,
}

#[derive(Debug, Subcommand)]
enum InboxCommand {
    /// Create the inbox table and its index in the database (--database-url) if missing.
    Install {
        /// Print the SQL instead of running it, e.g. to put it in the service's own migrations.
        #[arg(long)]
        print: bool,
    },
    /// List unprocessed messages, or messages that failed with a client error.
    List {
        /// Messages neither processed nor failed: in progress, waiting for a retry, or cleared
        /// by `lariat inbox retry`.
        #[arg(long, group = "filter")]
        unprocessed: bool,
        /// Messages whose handler returned a business error, and malformed bodies.
        #[arg(long, group = "filter")]
        client_errors: bool,
        /// Every message.
        #[arg(long, group = "filter")]
        all: bool,
        /// At most this many, oldest first.
        #[arg(long, default_value_t = 100, value_name = "N")]
        limit: usize,
        /// Machine-readable output: a JSON array of rows.
        #[arg(long)]
        json: bool,
    },
    /// Clear the client error of messages, so they count as unprocessed again.
    ///
    /// The messages were deleted from the queue, so SQS does not bring them back: the
    /// service replays them with the library's `Inbox::each_unprocessed`, running its handler
    /// on each (exactly once; a message that fails again gets its client error back).
    Retry {
        /// Uuids from `lariat inbox list --client-errors`.
        #[arg(required = true, value_name = "UUID")]
        uuids: Vec<Uuid>,
    },
}

/// Runs one `lariat inbox` command.
pub async fn run(args: InboxArgs, config: Config, out: &mut impl Write) -> anyhow::Result<i32> {
    match execute(args, config, out).await {
        Err(err) => match err.downcast_ref::<InboxError>() {
            Some(InboxError::Db(
                DbError::InvalidTableName { .. } | DbError::UnsupportedUrl { .. },
            )) => {
                eprintln!("error: {err:#}");
                Ok(exit::INVALID)
            }
            _ => Err(err),
        },
        ok => ok,
    }
}

async fn execute(args: InboxArgs, config: Config, out: &mut impl Write) -> anyhow::Result<i32> {
    // the inbox lives in the service's database, never in lariat's own version store
    let url = config
        .configured_database_url()
        .context(
            "no database url for the inbox: pass --database-url, or set LARIAT_DATABASE_URL or \
             DATABASE_URL to the service's database",
        )?
        .to_owned();
    let table = args.table;
    if let InboxCommand::Install { print: true } = args.command {
        write!(out, "{}", inbox::ddl(Backend::from_url(&url)?, &table)?)?;
        return Ok(exit::OK);
    }
    let inbox = inbox::open(&url, &table).await?;
    let code = match args.command {
        InboxCommand::Install { .. } => {
            inbox.install().await?;
            writeln!(out, "inbox table `{table}` is ready")?;
            exit::OK
        }
        InboxCommand::List {
            client_errors,
            all,
            limit,
            json,
            ..
        } => {
            let filter = match (client_errors, all) {
                (true, _) => ListFilter::ClientErrors,
                (_, true) => ListFilter::All,
                _ => ListFilter::Unprocessed,
            };
            let rows = inbox.list(filter, limit).await?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &rows)?;
                writeln!(out)?;
            } else {
                print_rows(out, &rows, filter)?;
            }
            exit::OK
        }
        InboxCommand::Retry { uuids } => {
            let mut missing = 0;
            for uuid in uuids {
                if inbox.retry(uuid).await? {
                    writeln!(out, "cleared the client error of {uuid}")?;
                } else {
                    missing += 1;
                    eprintln!("error: {uuid} is not an unprocessed message with a client error in `{table}`; see `lariat inbox list --client-errors`");
                }
            }
            if missing == 0 {
                writeln!(
                    out,
                    "replay them with the service's Inbox::each_unprocessed"
                )?;
                exit::OK
            } else {
                exit::FAILURE
            }
        }
    };
    inbox.close().await;
    Ok(code)
}

fn print_rows(
    out: &mut impl Write,
    rows: &[InboxMessage],
    filter: ListFilter,
) -> std::io::Result<()> {
    let what = match filter {
        ListFilter::Unprocessed => "unprocessed messages",
        ListFilter::ClientErrors => "messages with client errors",
        ListFilter::All => "messages",
    };
    if rows.is_empty() {
        return writeln!(out, "no {what}");
    }
    // stored text may hold escape sequences or newlines: shown escaped, never raw
    let types: Vec<Cow<'_, str>> = rows
        .iter()
        .map(|r| match r.message_type.as_str() {
            "" => Cow::Borrowed("-"),
            text => printable(text),
        })
        .collect();
    let type_width = types
        .iter()
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        out,
        "{:<36}  {:<type_width$}  {:<27}  {:<9}  ERROR",
        "UUID", "TYPE", "RECEIVED AT", "STATE"
    )?;
    for (row, message_type) in rows.iter().zip(&types) {
        let state = match (&row.processed_at, &row.client_error_message) {
            (Some(_), _) => "processed",
            (None, Some(_)) => "failed",
            (None, None) => "pending",
        };
        writeln!(
            out,
            "{:<36}  {:<type_width$}  {:<27}  {:<9}  {}",
            row.uuid,
            message_type,
            row.received_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            state,
            row.client_error_message
                .as_deref()
                .map_or(Cow::Borrowed("-"), printable)
        )?;
    }
    writeln!(out, "\n{} {what}", rows.len())
}
