//! SQLite backend of the inbox. Uuids, JSON and times (RFC 3339, microseconds, UTC) are
//! `TEXT`. SQLite has no row locks: a message is handled in a `BEGIN IMMEDIATE` transaction,
//! which takes the database's write lock up front, so handlers of one database run one at a
//! time and two copies of one message can never both pass the check.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

use crate::db::now_micros;

use super::row::{parse_json, parse_uuid};
use super::{Backend, InboxDatabase, InboxError, InboxMessage, ListFilter, RowState};

/// How long a statement waits for another connection's write lock: handlers hold it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections of a pool opened by URL; writes are serialized anyway.
const POOL_CONNECTIONS: u32 = 4;

/// The statements that create the table and its index.
pub(super) fn ddl(table: &str) -> Vec<String> {
    vec![
        format!(
            r#"CREATE TABLE IF NOT EXISTS "{table}" (
    uuid TEXT PRIMARY KEY NOT NULL,
    type TEXT NOT NULL,
    version INTEGER NOT NULL,
    publisher TEXT NOT NULL,
    request_id TEXT,
    data TEXT NOT NULL,
    message TEXT NOT NULL,
    queue TEXT NOT NULL,
    client_error_message TEXT,
    client_error_details TEXT,
    sent_at TEXT,
    received_at TEXT NOT NULL,
    processed_at TEXT
)"#
        ),
        format!(
            r#"CREATE INDEX IF NOT EXISTS "{table}_pending" ON "{table}" (received_at, uuid)
    WHERE processed_at IS NULL"#
        ),
    ]
}

fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(
    table: &str,
    uuid: Uuid,
    column: &str,
    text: &str,
) -> Result<DateTime<Utc>, InboxError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| InboxError::CorruptRow {
            uuid: uuid.to_string(),
            table: table.to_owned(),
            detail: format!("{column} `{text}` is not RFC 3339: {err}"),
        })
}

type Row = (
    String,
    String,
    i16,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

/// Inserts `row` unless a row with its uuid exists, marked processed if asked; returns
/// whether it inserted it.
async fn insert_row(
    conn: &mut SqliteConnection,
    table: &str,
    row: &InboxMessage,
    processed: bool,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        r#"INSERT INTO "{table}" (uuid, type, version, publisher, request_id, data, message,
               queue, client_error_message, client_error_details, sent_at, received_at,
               processed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (uuid) DO NOTHING"#
    );
    let result = sqlx::query(&sql)
        .bind(row.uuid.to_string())
        .bind(&row.message_type)
        .bind(row.version)
        .bind(&row.publisher)
        .bind(row.request_id.map(|u| u.to_string()))
        .bind(row.data.to_string())
        .bind(&row.message)
        .bind(&row.queue)
        .bind(&row.client_error_message)
        .bind(row.client_error_details.as_ref().map(Value::to_string))
        .bind(row.sent_at.map(format_time))
        .bind(format_time(row.received_at))
        .bind(processed.then(|| format_time(now_micros())))
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

#[async_trait]
impl InboxDatabase for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;

    async fn install(pool: &SqlitePool, table: &str) -> Result<(), sqlx::Error> {
        for statement in ddl(table) {
            sqlx::query(&statement).execute(pool).await?;
        }
        Ok(())
    }

    async fn connect(url: &str) -> Result<SqlitePool, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?.busy_timeout(BUSY_TIMEOUT);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if in_memory {
            // Each connection would get a database of its own: keep exactly one.
            return SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        SqlitePoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .connect_with(options)
            .await
    }

    async fn insert(
        conn: &mut SqliteConnection,
        table: &str,
        row: &InboxMessage,
    ) -> Result<(), sqlx::Error> {
        insert_row(conn, table, row, false).await.map(drop)
    }

    async fn insert_processed(
        conn: &mut SqliteConnection,
        table: &str,
        row: &InboxMessage,
    ) -> Result<bool, sqlx::Error> {
        insert_row(conn, table, row, true).await
    }

    async fn begin(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    async fn lock(
        conn: &mut SqliteConnection,
        table: &str,
        uuid: Uuid,
    ) -> Result<Option<RowState>, sqlx::Error> {
        // The IMMEDIATE transaction already holds the write lock.
        let sql = format!(
            r#"SELECT processed_at IS NOT NULL, client_error_message IS NOT NULL
               FROM "{table}" WHERE uuid = ?"#
        );
        let row: Option<(bool, bool)> = sqlx::query_as(&sql)
            .bind(uuid.to_string())
            .fetch_optional(conn)
            .await?;
        Ok(row.map(|(processed, client_error)| RowState::of(processed, client_error)))
    }

    async fn mark_processed(
        conn: &mut SqliteConnection,
        table: &str,
        uuid: Uuid,
    ) -> Result<(), sqlx::Error> {
        let sql = format!(r#"UPDATE "{table}" SET processed_at = ? WHERE uuid = ?"#);
        sqlx::query(&sql)
            .bind(format_time(now_micros()))
            .bind(uuid.to_string())
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn set_client_error(
        pool: &SqlitePool,
        table: &str,
        uuid: Uuid,
        message: &str,
        details: Option<&Value>,
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            r#"UPDATE "{table}" SET client_error_message = ?, client_error_details = ?
               WHERE uuid = ? AND processed_at IS NULL"#
        );
        sqlx::query(&sql)
            .bind(message)
            .bind(details.map(Value::to_string))
            .bind(uuid.to_string())
            .execute(pool)
            .await?;
        Ok(())
    }

    async fn clear_client_error(
        pool: &SqlitePool,
        table: &str,
        uuid: Uuid,
    ) -> Result<bool, sqlx::Error> {
        let sql = format!(
            r#"UPDATE "{table}" SET client_error_message = NULL, client_error_details = NULL
               WHERE uuid = ? AND processed_at IS NULL AND client_error_message IS NOT NULL"#
        );
        let result = sqlx::query(&sql)
            .bind(uuid.to_string())
            .execute(pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn list(
        pool: &SqlitePool,
        table: &str,
        filter: ListFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, InboxError> {
        let cursor = if after.is_some() {
            "AND (received_at, uuid) > (?, ?)"
        } else {
            "AND ? IS NULL AND ? IS NULL"
        };
        let sql = format!(
            r#"SELECT uuid, type, version, publisher, request_id, data, message, queue,
                   client_error_message, client_error_details, sent_at, received_at, processed_at
               FROM "{table}" WHERE {} {cursor}
               ORDER BY received_at, uuid LIMIT ?"#,
            filter.condition()
        );
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(after.map(|(at, _)| format_time(at)))
            .bind(after.map(|(_, uuid)| uuid.to_string()))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(|source| InboxError::Query {
                action: "list the inbox".into(),
                table: table.to_owned(),
                source,
            })?;
        rows.into_iter().map(|r| from_row(table, r)).collect()
    }
}

fn from_row(table: &str, r: Row) -> Result<InboxMessage, InboxError> {
    let uuid = parse_uuid(table, &r.0)?;
    let time = |column: &str, text: &str| parse_time(table, uuid, column, text);
    Ok(InboxMessage {
        uuid,
        message_type: r.1,
        version: r.2,
        publisher: r.3,
        request_id: r.4.as_deref().map(|u| parse_uuid(table, u)).transpose()?,
        data: parse_json(table, uuid, "data", &r.5)?,
        message: r.6,
        queue: r.7,
        client_error_message: r.8,
        client_error_details: r
            .9
            .as_deref()
            .map(|d| parse_json(table, uuid, "client_error_details", d))
            .transpose()?,
        sent_at: r.10.as_deref().map(|t| time("sent_at", t)).transpose()?,
        received_at: time("received_at", &r.11)?,
        processed_at: r
            .12
            .as_deref()
            .map(|t| time("processed_at", t))
            .transpose()?,
    })
}
