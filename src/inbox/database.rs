//! [`InboxDatabase`]: the inbox's SQL behind one sealed trait, implemented once per backend
//! (`sqlite.rs`, `postgres.rs`, `mysql.rs`), and the table's DDL.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Pool, Transaction};
use uuid::Uuid;

#[cfg(feature = "mysql")]
use super::mysql;
#[cfg(feature = "postgres")]
use super::postgres;
#[cfg(feature = "sqlite")]
use super::sqlite;
use super::{Backend, InboxError, InboxMessage, ListFilter, RowState};
use crate::db::{DbError, TableKind, TableName};

/// A database the inbox runs on: implemented for [`sqlx::Sqlite`], [`sqlx::Postgres`] and
/// [`sqlx::MySql`] (MySQL and MariaDB), one file per backend. Sealed.
///
/// The methods are the inbox's SQL, used by [`Inbox`](super::Inbox) and [`Consumer`](super::Consumer); services do not call
/// them.
#[async_trait::async_trait]
pub trait InboxDatabase: sqlx::Database + private::Sealed {
    /// The backend, for messages and DDL.
    const BACKEND: Backend;

    /// Runs the DDL of [`ddl`].
    async fn install(pool: &Pool<Self>, table: &str) -> Result<(), sqlx::Error>;

    /// Opens a pool on `url` (already known to be of this backend).
    async fn connect(url: &str) -> Result<Pool<Self>, sqlx::Error>;

    /// Inserts `row` unless a row with its uuid exists.
    async fn insert(
        conn: &mut Self::Connection,
        table: &str,
        row: &InboxMessage,
    ) -> Result<(), sqlx::Error>;

    /// Inserts `row` already marked processed (`processed_at` now), for a transaction that
    /// commits only if the handler succeeds, unless a row with its uuid exists; returns
    /// whether it did. After `false` a row with the uuid is there, to lock and handle as
    /// stored. The default inserts the row unprocessed and returns `false`: MySQL's driver
    /// reports found rather than changed rows, so its count cannot tell an insert from a
    /// duplicate, and catching the duplicate-key error instead makes two concurrent copies
    /// deadlock on their shared locks.
    async fn insert_processed(
        conn: &mut Self::Connection,
        table: &str,
        row: &InboxMessage,
    ) -> Result<bool, sqlx::Error> {
        Self::insert(conn, table, row).await?;
        Ok(false)
    }

    /// Inserts each of `rows` already marked processed, as [`InboxDatabase::insert_processed`]
    /// does one; returns, per row, whether it was inserted. A uuid repeated in `rows` is
    /// inserted once, for its first row. The default inserts them one by one.
    async fn insert_processed_all(
        conn: &mut Self::Connection,
        table: &str,
        rows: &[&InboxMessage],
    ) -> Result<Vec<bool>, sqlx::Error> {
        let mut inserted = Vec::with_capacity(rows.len());
        for row in rows {
            inserted.push(Self::insert_processed(conn, table, row).await?);
        }
        Ok(inserted)
    }

    /// Begins the transaction a message is handled in (on SQLite, `BEGIN IMMEDIATE`).
    async fn begin(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error>;

    /// Locks the row of `uuid` until the transaction ends and reads its state; `None` when
    /// there is no such row.
    async fn lock(
        conn: &mut Self::Connection,
        table: &str,
        uuid: Uuid,
    ) -> Result<Option<RowState>, sqlx::Error>;

    /// Sets `processed_at` to now.
    async fn mark_processed(
        conn: &mut Self::Connection,
        table: &str,
        uuid: Uuid,
    ) -> Result<(), sqlx::Error>;

    /// Stores a client error on an unprocessed row.
    async fn set_client_error(
        pool: &Pool<Self>,
        table: &str,
        uuid: Uuid,
        message: &str,
        details: Option<&Value>,
    ) -> Result<(), sqlx::Error>;

    /// Clears the client error of an unprocessed row; true when there was one.
    async fn clear_client_error(
        pool: &Pool<Self>,
        table: &str,
        uuid: Uuid,
    ) -> Result<bool, sqlx::Error>;

    /// Rows matching `filter`, oldest received first, after the `(received_at, uuid)` cursor.
    async fn list(
        pool: &Pool<Self>,
        table: &str,
        filter: ListFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, InboxError>;
}

mod private {
    pub trait Sealed {}
    #[cfg(feature = "sqlite")]
    impl Sealed for sqlx::Sqlite {}
    #[cfg(feature = "postgres")]
    impl Sealed for sqlx::Postgres {}
    #[cfg(feature = "mysql")]
    impl Sealed for sqlx::MySql {}
}

/// The `CREATE TABLE` and `CREATE INDEX` statements of the inbox table on `backend`, each
/// ending with `;`, idempotent (`IF NOT EXISTS`).
pub fn ddl(backend: Backend, table: &str) -> Result<String, InboxError> {
    let table = table_name(table)?;
    let table = table.as_str();
    let statements = match backend {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => sqlite::ddl(table),
        #[cfg(feature = "postgres")]
        Backend::Postgres => postgres::ddl(table),
        #[cfg(feature = "mysql")]
        Backend::MySql => mysql::ddl(table),
        #[allow(unreachable_patterns)]
        backend => return Err(DbError::NotBuilt { backend }.into()),
    };
    Ok(statements
        .iter()
        .map(|s| format!("{s};\n"))
        .collect::<String>())
}

/// Checks that `name` can be the inbox table: `^[A-Za-z_][A-Za-z0-9_]*$`, at most
/// [`MAX_TABLE_CHARS`](super::MAX_TABLE_CHARS) characters. It is the only identifier written into SQL text.
pub(super) fn table_name(name: &str) -> Result<String, InboxError> {
    Ok(TableName::new(TableKind::Inbox, name)?.into())
}
