//! PostgreSQL backend of the inbox: native `UUID`, `JSONB` and `TIMESTAMPTZ` columns, and a
//! row lock (`SELECT ... FOR UPDATE`) that serializes two copies of one message.

use std::collections::HashSet;
use std::str::FromStr as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{ConnectOptions as _, Connection as _};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::db::now_micros;

use super::{Backend, InboxDatabase, InboxError, InboxMessage, ListFilter, RowState};

/// The columns an insert binds, per row.
const INSERT_COLUMNS: usize = 13;

/// Connections of a pool opened by URL (the CLI, tests); services pass their own pool.
const POOL_CONNECTIONS: u32 = 10;

/// The statements that create the table and its index.
pub(super) fn ddl(table: &str) -> Vec<String> {
    vec![
        format!(
            r#"CREATE TABLE IF NOT EXISTS "{table}" (
    uuid UUID PRIMARY KEY,
    type TEXT NOT NULL,
    version SMALLINT NOT NULL,
    publisher TEXT NOT NULL,
    request_id UUID,
    data JSONB NOT NULL,
    message TEXT NOT NULL,
    queue TEXT NOT NULL,
    client_error_message TEXT,
    client_error_details JSONB,
    sent_at TIMESTAMPTZ,
    received_at TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ
)"#
        ),
        format!(
            r#"CREATE INDEX IF NOT EXISTS "{table}_pending" ON "{table}" (received_at, uuid)
    WHERE processed_at IS NULL"#
        ),
    ]
}

type Row = (
    Uuid,
    String,
    i16,
    String,
    Option<Uuid>,
    Json<Value>,
    String,
    String,
    Option<String>,
    Option<Json<Value>>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// Inserts each of `rows` unless a row with its uuid exists, marked processed if asked, in one
/// statement; returns, per row, whether it was inserted (a repeated uuid: its first row).
async fn insert_rows(
    conn: &mut PgConnection,
    table: &str,
    rows: &[&InboxMessage],
    processed: bool,
) -> Result<Vec<bool>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // In uuid order: two transactions inserting copies of the same messages then wait on each
    // other's rows in one order and cannot deadlock.
    let mut sorted: Vec<&InboxMessage> = rows.to_vec();
    sorted.sort_by_key(|row| row.uuid);
    let values = (0..sorted.len())
        .map(|i| {
            let params: Vec<String> = (1..=INSERT_COLUMNS)
                .map(|c| format!("${}", i * INSERT_COLUMNS + c))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        r#"INSERT INTO "{table}" (uuid, type, version, publisher, request_id, data, message,
               queue, client_error_message, client_error_details, sent_at, received_at,
               processed_at)
           VALUES {values}
           ON CONFLICT (uuid) DO NOTHING
           RETURNING uuid"#
    );
    let processed_at = processed.then(now_micros);
    let mut query = sqlx::query_scalar::<_, Uuid>(&sql);
    for row in &sorted {
        query = query
            .bind(row.uuid)
            .bind(&row.message_type)
            .bind(row.version)
            .bind(&row.publisher)
            .bind(row.request_id)
            .bind(Json(&row.data))
            .bind(&row.message)
            .bind(&row.queue)
            .bind(&row.client_error_message)
            .bind(row.client_error_details.as_ref().map(Json))
            .bind(row.sent_at)
            .bind(row.received_at)
            .bind(processed_at);
    }
    let mut new: HashSet<Uuid> = query.fetch_all(conn).await?.into_iter().collect();
    Ok(rows.iter().map(|row| new.remove(&row.uuid)).collect())
}

#[async_trait]
impl InboxDatabase for Postgres {
    const BACKEND: Backend = Backend::Postgres;

    async fn install(pool: &PgPool, table: &str) -> Result<(), sqlx::Error> {
        for statement in ddl(table) {
            sqlx::query(&statement).execute(pool).await?;
        }
        Ok(())
    }

    async fn connect(url: &str) -> Result<PgPool, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?;
        // One connection first, as the other commands do: a pool would retry an unreachable
        // server until its acquire timeout (30 s) and then hide the cause.
        options.connect().await?.close().await?;
        Ok(PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .connect_lazy_with(options))
    }

    async fn insert(
        conn: &mut PgConnection,
        table: &str,
        row: &InboxMessage,
    ) -> Result<(), sqlx::Error> {
        insert_rows(conn, table, &[row], false).await.map(drop)
    }

    async fn insert_processed(
        conn: &mut PgConnection,
        table: &str,
        row: &InboxMessage,
    ) -> Result<bool, sqlx::Error> {
        let inserted = insert_rows(conn, table, &[row], true).await?;
        Ok(inserted.first() == Some(&true))
    }

    async fn insert_processed_all(
        conn: &mut PgConnection,
        table: &str,
        rows: &[&InboxMessage],
    ) -> Result<Vec<bool>, sqlx::Error> {
        insert_rows(conn, table, rows, true).await
    }

    async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin().await
    }

    async fn lock(
        conn: &mut PgConnection,
        table: &str,
        uuid: Uuid,
    ) -> Result<Option<RowState>, sqlx::Error> {
        let sql = format!(
            r#"SELECT processed_at IS NOT NULL, client_error_message IS NOT NULL
               FROM "{table}" WHERE uuid = $1 FOR UPDATE"#
        );
        let row: Option<(bool, bool)> =
            sqlx::query_as(&sql).bind(uuid).fetch_optional(conn).await?;
        Ok(row.map(|(processed, client_error)| RowState::of(processed, client_error)))
    }

    async fn mark_processed(
        conn: &mut PgConnection,
        table: &str,
        uuid: Uuid,
    ) -> Result<(), sqlx::Error> {
        let sql = format!(r#"UPDATE "{table}" SET processed_at = $1 WHERE uuid = $2"#);
        sqlx::query(&sql)
            .bind(now_micros())
            .bind(uuid)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn set_client_error(
        pool: &PgPool,
        table: &str,
        uuid: Uuid,
        message: &str,
        details: Option<&Value>,
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            r#"UPDATE "{table}" SET client_error_message = $1, client_error_details = $2
               WHERE uuid = $3 AND processed_at IS NULL"#
        );
        sqlx::query(&sql)
            .bind(message)
            .bind(details.map(Json))
            .bind(uuid)
            .execute(pool)
            .await?;
        Ok(())
    }

    async fn clear_client_error(
        pool: &PgPool,
        table: &str,
        uuid: Uuid,
    ) -> Result<bool, sqlx::Error> {
        let sql = format!(
            r#"UPDATE "{table}" SET client_error_message = NULL, client_error_details = NULL
               WHERE uuid = $1 AND processed_at IS NULL AND client_error_message IS NOT NULL"#
        );
        let result = sqlx::query(&sql).bind(uuid).execute(pool).await?;
        Ok(result.rows_affected() == 1)
    }

    async fn list(
        pool: &PgPool,
        table: &str,
        filter: ListFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, InboxError> {
        let cursor = if after.is_some() {
            "AND (received_at, uuid) > ($1, $2)"
        } else {
            "AND $1::timestamptz IS NULL AND $2::uuid IS NULL"
        };
        let sql = format!(
            r#"SELECT uuid, type, version, publisher, request_id, data, message, queue,
                   client_error_message, client_error_details, sent_at, received_at, processed_at
               FROM "{table}" WHERE {} {cursor}
               ORDER BY received_at, uuid LIMIT $3"#,
            filter.condition()
        );
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(after.map(|(at, _)| at))
            .bind(after.map(|(_, uuid)| uuid))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(|source| InboxError::Query {
                action: "list the inbox".into(),
                table: table.to_owned(),
                source,
            })?;
        Ok(rows
            .into_iter()
            .map(|r| InboxMessage {
                uuid: r.0,
                message_type: r.1,
                version: r.2,
                publisher: r.3,
                request_id: r.4,
                data: r.5 .0,
                message: r.6,
                queue: r.7,
                client_error_message: r.8,
                client_error_details: r.9.map(|j| j.0),
                sent_at: r.10,
                received_at: r.11,
                processed_at: r.12,
            })
            .collect())
    }
}
