//! The transactional outbox: messages written to a table inside the application's own database
//! transaction, and published later by a relay ([`relay::Relay`], `lariat outbox relay`).
//!
//! A message exists in the outbox if and only if the business change that produced it
//! committed: [`Outbox::enqueue`] takes the caller's open [`sqlx::Transaction`]. The relay
//! claims rows, publishes them in batches and deletes what AWS accepted; a crash between
//! sending and deleting can only send a message twice, never lose it, and FIFO targets get a
//! deduplication id derived from the row so AWS drops such a duplicate.
//!
//! The table ([`install_sql`], `lariat outbox install`) exists for PostgreSQL, MySQL 8 /
//! MariaDB 10.6+ and SQLite. Per-database SQL lives behind [`OutboxStore`], one file per
//! backend, chosen by URL in [`connect`]:
//!
//! - **Claims** are leases (`claimed_by`, `claimed_until`) that the owning relay renews while
//!   it works; a killed relay's rows are taken over when the lease runs out (10 s by
//!   default). On PostgreSQL and MySQL/MariaDB the claiming `SELECT` uses
//!   `FOR UPDATE SKIP LOCKED`, so relays claiming at the same moment never wait on each other;
//!   SQLite serializes writers.
//! - **Order per FIFO group**: a group's rows are claimed only through its head (its oldest
//!   row that is not dead), and only while no row of the group is claimed, so at most one
//!   batch per group is in flight. A head that is waiting for a retry blocks its group; once
//!   it is dead, the row behind it becomes the head.
//! - **Time** comes from the database server (`now()`, `UTC_TIMESTAMP(6)`, SQLite's clock),
//!   so relays on hosts with skewed clocks agree on leases and retry times.
//!
//! The parts: [`OutboxMessage`] (what to enqueue, checked like a publish), [`Outbox`]
//! (enqueueing inside a transaction), [`OutboxStore`] and [`connect`] (the table as the relay
//! sees it), the SQL every backend shares, the [`relay`], its [`PublisherSink`] and
//! [`Metrics`].
//!
//! The table name is the only identifier written into SQL text, as a checked
//! [`TableName`]; every value is a bound parameter.

mod message;
mod metrics;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
pub mod relay;
mod sink;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

use crate::db::{DbError, TableKind, TableName};
use crate::naming::NameError;

pub use crate::db::Backend;
pub use crate::message::target::MAX_FIFO_ID_LEN;
pub use crate::message::Target;

pub use message::OutboxMessage;
pub use metrics::{serve_metrics, Metrics};
pub use sink::PublisherSink;
pub use store::{
    connect, install_sql, Claim, FailedRow, OutboxStore, ResendFilter, Row, SplitKey, TargetStats,
};

/// The outbox table's default name.
pub const DEFAULT_TABLE: &str = "lariat_outbox";

/// The longest outbox table name: index names add up to 15 characters and PostgreSQL cuts
/// identifiers at 63 ([`TableKind::max_len`]).
pub const MAX_TABLE_LEN: usize = 48;

/// Rows per `INSERT` statement when enqueueing many messages.
const INSERT_CHUNK: usize = 500;

/// What can go wrong with the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// A table name that is not a plain SQL identifier of at most [`MAX_TABLE_LEN`]
    /// characters, an unsupported URL or an unreachable database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A statement against the outbox table failed.
    #[error("could not {action} (outbox table `{table}`): {source}; if the table is missing, run `lariat outbox install`")]
    Query {
        /// What was being done.
        action: &'static str,
        /// The outbox table.
        table: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// The target name breaks AWS limits, or its `.fifo` suffix disagrees with the message.
    #[error("cannot enqueue for {target}: {source}")]
    Name {
        /// The target.
        target: Target,
        /// What the naming rules say.
        #[source]
        source: NameError,
    },
    /// A message for a FIFO target without a group id.
    #[error("{target} is FIFO: give the message a group id (`OutboxMessage::group`)")]
    MissingGroupId {
        /// The target.
        target: Target,
    },
    /// A group or deduplication id for a standard target.
    #[error("{target} is not FIFO: group and deduplication ids are only for targets whose name ends in `.fifo`")]
    NotFifo {
        /// The target.
        target: Target,
    },
    /// A group or deduplication id AWS would refuse.
    #[error("{field} `{value}` must be 1 to {MAX_FIFO_ID_LEN} printable ASCII characters without spaces")]
    BadFifoId {
        /// `group id` or `deduplication id`.
        field: &'static str,
        /// The rejected id.
        value: String,
    },
    /// A row holds a value lariat cannot read.
    #[error("row {id} of outbox table `{table}` is corrupt ({detail}); fix or delete it by hand")]
    CorruptRow {
        /// The row id.
        id: i64,
        /// The outbox table.
        table: String,
        /// What is wrong.
        detail: String,
    },
}

fn query_error(table: &str, action: &'static str) -> impl FnOnce(sqlx::Error) -> OutboxError {
    let table = table.to_owned();
    move |source| OutboxError::Query {
        action,
        table,
        source,
    }
}

/// Checks that `name` can be the outbox table's name: `^[A-Za-z_][A-Za-z0-9_]*$`, at most
/// [`MAX_TABLE_LEN`] characters.
fn table_name(name: &str) -> Result<String, OutboxError> {
    Ok(TableName::new(TableKind::Outbox, name)?.into())
}

/// The outbox table of the application's database, for enqueueing inside transactions.
///
/// ```no_run
/// use lariat::outbox::{Outbox, OutboxMessage};
/// # async fn demo(pool: sqlx::PgPool, event: lariat::message::Envelope) -> Result<(), Box<dyn std::error::Error>> {
/// let outbox = Outbox::new("lariat_outbox")?;
/// let mut tx = pool.begin().await?;
/// sqlx::query("UPDATE users SET mail = $1 WHERE id = $2")
///     .bind("john.doe@example.com")
///     .bind(42_i64)
///     .execute(&mut *tx)
///     .await?;
/// outbox
///     .enqueue(&mut tx, &OutboxMessage::to_topic(event, "production-event-fanout-auth-user_changed"))
///     .await?;
/// tx.commit().await?; // the message exists if and only if this commit succeeds
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    table: String,
}

impl Outbox {
    /// The outbox in table `table`: `^[A-Za-z_][A-Za-z0-9_]*$`, at most [`MAX_TABLE_LEN`]
    /// characters.
    pub fn new(table: &str) -> Result<Self, OutboxError> {
        Ok(Self {
            table: table_name(table)?,
        })
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Adds one message to the outbox inside the caller's transaction.
    pub async fn enqueue<T: OutboxTransaction>(
        &self,
        tx: &mut T,
        message: &OutboxMessage,
    ) -> Result<(), OutboxError> {
        self.enqueue_many(tx, std::slice::from_ref(message)).await
    }

    /// Adds many messages inside the caller's transaction, in order (their ids ascend, which
    /// is the order of each FIFO group). Nothing is written when one of them is invalid.
    pub async fn enqueue_many<T: OutboxTransaction>(
        &self,
        tx: &mut T,
        messages: &[OutboxMessage],
    ) -> Result<(), OutboxError> {
        let rows = messages
            .iter()
            .map(OutboxMessage::row)
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in rows.chunks(INSERT_CHUNK) {
            tx.insert_rows(&self.table, chunk)
                .await
                .map_err(query_error(&self.table, "enqueue messages"))?;
        }
        Ok(())
    }
}

/// The row-writing part of [`OutboxTransaction`], out of reach of other crates.
mod sealed {
    use async_trait::async_trait;
    use uuid::Uuid;

    /// The values of one new outbox row.
    pub struct NewRow {
        pub uuid: Uuid,
        pub message: String,
        pub target_kind: &'static str,
        pub target_name: String,
        pub group_id: Option<String>,
        pub deduplication_id: Option<String>,
        pub attributes: Option<String>,
    }

    #[async_trait]
    pub trait Insert: Send {
        async fn insert_rows(&mut self, table: &str, rows: &[NewRow]) -> Result<(), sqlx::Error>;
    }
}

/// An open sqlx transaction that [`Outbox::enqueue`] can write to:
/// `sqlx::Transaction<'_, Postgres>`, `sqlx::Transaction<'_, MySql>` or
/// `sqlx::Transaction<'_, Sqlite>`.
pub trait OutboxTransaction: sealed::Insert {}

impl<T: sealed::Insert> OutboxTransaction for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!(Outbox::new("lariat_outbox").is_ok());
        assert_eq!(TableKind::Outbox.max_len(), MAX_TABLE_LEN);
        assert!(Outbox::new(&"a".repeat(MAX_TABLE_LEN)).is_ok());
        for bad in ["", "1x", "a-b", "x;drop", &"a".repeat(MAX_TABLE_LEN + 1)] {
            assert!(Outbox::new(bad).is_err(), "{bad}");
            assert!(install_sql(Backend::Postgres, bad).is_err(), "{bad}");
        }
    }
}
