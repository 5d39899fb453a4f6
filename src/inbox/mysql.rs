//! MySQL and MariaDB backend of the inbox (InnoDB). Uuids are `CHAR(36)`, JSON is `LONGTEXT`
//! checked with `JSON_VALID` (MariaDB's `JSON` is exactly that, and MySQL reads it the same
//! way), times are `DATETIME(6)` in UTC. Two copies of one message are serialized by a row
//! lock (`SELECT ... FOR UPDATE`).

use std::str::FromStr as _;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _};
use sqlx::{MySql, MySqlPool, Transaction};
use uuid::Uuid;

use crate::db::now_micros;

use super::row::{parse_json, parse_uuid};
use super::{Backend, InboxDatabase, InboxError, InboxMessage, ListFilter, RowState};

/// Connections of a pool opened by URL (the CLI, tests); services pass their own pool.
const POOL_CONNECTIONS: u32 = 10;

/// The statements that create the table and its index.
pub(super) fn ddl(table: &str) -> Vec<String> {
    vec![format!(
        "CREATE TABLE IF NOT EXISTS `{table}` (
    uuid CHAR(36) NOT NULL PRIMARY KEY,
    type VARCHAR(255) NOT NULL,
    version SMALLINT NOT NULL,
    publisher VARCHAR(255) NOT NULL,
    request_id CHAR(36) NULL,
    data LONGTEXT NOT NULL CHECK (JSON_VALID(data)),
    message LONGTEXT NOT NULL,
    queue VARCHAR(255) NOT NULL,
    client_error_message TEXT NULL,
    client_error_details LONGTEXT NULL CHECK (JSON_VALID(client_error_details)),
    sent_at DATETIME(6) NULL,
    received_at DATETIME(6) NOT NULL,
    processed_at DATETIME(6) NULL,
    INDEX `{table}_pending` (processed_at, received_at, uuid)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"
    )]
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
    Option<DateTime<Utc>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

#[async_trait]
impl InboxDatabase for MySql {
    const BACKEND: Backend = Backend::MySql;

    async fn install(pool: &MySqlPool, table: &str) -> Result<(), sqlx::Error> {
        for statement in ddl(table) {
            sqlx::query(&statement).execute(pool).await?;
        }
        Ok(())
    }

    async fn connect(url: &str) -> Result<MySqlPool, sqlx::Error> {
        let options = MySqlConnectOptions::from_str(&crate::db::mysql_url(url))?;
        // One connection first, as the other commands do: a pool would retry an unreachable
        // server until its acquire timeout (30 s) and then hide the cause.
        options.connect().await?.close().await?;
        Ok(MySqlPoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .connect_lazy_with(options))
    }

    async fn insert(
        conn: &mut MySqlConnection,
        table: &str,
        row: &InboxMessage,
    ) -> Result<(), sqlx::Error> {
        // Not INSERT IGNORE: that would also turn real errors into warnings.
        let sql = format!(
            "INSERT INTO `{table}` (uuid, type, version, publisher, request_id, data, message,
                 queue, client_error_message, client_error_details, sent_at, received_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON DUPLICATE KEY UPDATE uuid = uuid"
        );
        sqlx::query(&sql)
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
            .bind(row.sent_at.map(|t| t.naive_utc()))
            .bind(row.received_at.naive_utc())
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn begin(pool: &MySqlPool) -> Result<Transaction<'static, MySql>, sqlx::Error> {
        pool.begin().await
    }

    async fn lock(
        conn: &mut MySqlConnection,
        table: &str,
        uuid: Uuid,
    ) -> Result<Option<RowState>, sqlx::Error> {
        let sql = format!(
            "SELECT processed_at IS NOT NULL, client_error_message IS NOT NULL
             FROM `{table}` WHERE uuid = ? FOR UPDATE"
        );
        let row: Option<(bool, bool)> = sqlx::query_as(&sql)
            .bind(uuid.to_string())
            .fetch_optional(conn)
            .await?;
        Ok(row.map(|(processed, client_error)| RowState::of(processed, client_error)))
    }

    async fn mark_processed(
        conn: &mut MySqlConnection,
        table: &str,
        uuid: Uuid,
    ) -> Result<(), sqlx::Error> {
        let sql = format!("UPDATE `{table}` SET processed_at = ? WHERE uuid = ?");
        sqlx::query(&sql)
            .bind(now_micros().naive_utc())
            .bind(uuid.to_string())
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn set_client_error(
        pool: &MySqlPool,
        table: &str,
        uuid: Uuid,
        message: &str,
        details: Option<&Value>,
    ) -> Result<(), sqlx::Error> {
        let sql = format!(
            "UPDATE `{table}` SET client_error_message = ?, client_error_details = ?
             WHERE uuid = ? AND processed_at IS NULL"
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
        pool: &MySqlPool,
        table: &str,
        uuid: Uuid,
    ) -> Result<bool, sqlx::Error> {
        let sql = format!(
            "UPDATE `{table}` SET client_error_message = NULL, client_error_details = NULL
             WHERE uuid = ? AND processed_at IS NULL AND client_error_message IS NOT NULL"
        );
        let result = sqlx::query(&sql)
            .bind(uuid.to_string())
            .execute(pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn list(
        pool: &MySqlPool,
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
            "SELECT uuid, type, version, publisher, request_id, data, message, queue,
                 client_error_message, client_error_details, sent_at, received_at, processed_at
             FROM `{table}` WHERE {} {cursor}
             ORDER BY received_at, uuid LIMIT ?",
            filter.condition()
        );
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(after.map(|(at, _)| at.naive_utc()))
            .bind(after.map(|(_, uuid)| uuid.to_string()))
            .bind(u64::try_from(limit).unwrap_or(u64::MAX))
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
        sent_at: r.10,
        received_at: r.11,
        processed_at: r.12,
    })
}
