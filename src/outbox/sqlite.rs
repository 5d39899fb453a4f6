//! SQLite backend of the outbox, for services whose database is a SQLite file.
//!
//! SQLite has one writer at a time, so each claim is a single `UPDATE … RETURNING` statement
//! and cannot interleave with another relay's; the database runs in WAL mode with a busy
//! timeout so that relays and the application wait for each other instead of failing. Times
//! are ISO 8601 text in UTC with milliseconds (`2024-01-01T12:00:00.000Z`), which sorts like
//! time.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::QueryBuilder;

use crate::db::connect_error;

use super::sealed::{Insert, NewRow};
use super::sql::{
    cut_error, push_id_list, push_resend_filter, push_split_filter, row_from, stats_from, RawRow,
    RawStats, ROW_COLUMNS,
};
use super::{
    query_error, Backend, Claim, FailedRow, OutboxError, OutboxStore, ResendFilter, Row,
    TargetStats,
};

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections per relay process.
const MAX_CONNECTIONS: u32 = 4;

/// The current time as stored.
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/// A time `offset` from now, as a bound `strftime` modifier.
fn later(offset: Duration) -> String {
    format!("+{:.3} seconds", offset.as_secs_f64())
}

pub(super) fn install_sql(t: &str) -> Vec<String> {
    vec![
        format!(
            r#"CREATE TABLE IF NOT EXISTS "{t}" (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    message TEXT NOT NULL,
    target_kind TEXT NOT NULL CHECK (target_kind IN ('topic', 'queue')),
    target_name TEXT NOT NULL,
    group_id TEXT,
    dedup_id TEXT,
    attributes TEXT,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    dead_at TEXT,
    claimed_by TEXT,
    claimed_until TEXT
)"#
        ),
        format!(
            r#"CREATE INDEX IF NOT EXISTS "{t}_standard" ON "{t}" (id) WHERE group_id IS NULL AND dead_at IS NULL"#
        ),
        format!(
            r#"CREATE INDEX IF NOT EXISTS "{t}_fifo" ON "{t}" (id) WHERE group_id IS NOT NULL AND dead_at IS NULL"#
        ),
        format!(
            r#"CREATE INDEX IF NOT EXISTS "{t}_groups" ON "{t}" (target_name, group_id, id) WHERE dead_at IS NULL"#
        ),
        format!(
            r#"CREATE INDEX IF NOT EXISTS "{t}_dead" ON "{t}" (dead_at) WHERE dead_at IS NOT NULL"#
        ),
        format!(
            r#"CREATE INDEX IF NOT EXISTS "{t}_claimed" ON "{t}" (claimed_by) WHERE claimed_by IS NOT NULL"#
        ),
    ]
}

#[async_trait]
impl<'c> Insert for sqlx::Transaction<'c, Sqlite> {
    async fn insert_rows(&mut self, table: &str, rows: &[NewRow]) -> Result<(), sqlx::Error> {
        let mut query = QueryBuilder::<Sqlite>::new(format!(
            r#"INSERT INTO "{table}" (uuid, message, target_kind, target_name, group_id, dedup_id,
                   attributes, created_at, next_attempt_at) "#
        ));
        query.push_values(rows, |mut values, row| {
            values
                .push_bind(row.uuid.to_string())
                .push_bind(row.message.as_str())
                .push_bind(row.target_kind)
                .push_bind(row.target_name.as_str())
                .push_bind(row.group_id.as_deref())
                .push_bind(row.deduplication_id.as_deref())
                .push_bind(row.attributes.as_deref())
                .push(NOW)
                .push(NOW);
        });
        query.build().execute(&mut **self).await?;
        Ok(())
    }
}

/// The outbox table in a SQLite database file.
pub(super) struct SqliteOutbox {
    pool: SqlitePool,
    table: String,
}

impl SqliteOutbox {
    pub(super) async fn connect(url: &str, table: &str) -> Result<Self, OutboxError> {
        let path = crate::db::sqlite_path(url);
        let options = SqliteConnectOptions::from_str(&format!("sqlite:{path}"))
            .map_err(connect_error(url))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable against a crash of the process; a power loss may undo the last relay
            // writes, which only sends their rows again (at-least-once delivery).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(connect_error(url))?;
        Ok(Self {
            pool,
            table: table.to_owned(),
        })
    }

    /// `UPDATE … SET claimed_by, claimed_until WHERE id IN (` — the caller closes it.
    fn claim_update<'a>(&self, claim: &Claim<'a>) -> QueryBuilder<'a, Sqlite> {
        let mut query = QueryBuilder::new(format!(r#"UPDATE "{}" SET claimed_by = "#, self.table));
        query.push_bind(claim.relay);
        query.push(", claimed_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ");
        query.push_bind(later(claim.lease));
        query.push(") WHERE id IN (");
        query
    }

    async fn fetch_rows(
        &self,
        mut query: QueryBuilder<'_, Sqlite>,
    ) -> Result<Vec<Row>, OutboxError> {
        query.push(format!(") RETURNING {ROW_COLUMNS}"));
        let raw: Vec<RawRow> = query
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(&self.table, "claim rows"))?;
        raw.into_iter().map(|r| row_from(&self.table, r)).collect()
    }

    fn claimable(a: &str) -> String {
        format!(
            " AND {a}dead_at IS NULL AND {a}next_attempt_at <= {NOW} \
             AND ({a}claimed_until IS NULL OR {a}claimed_until < {NOW})"
        )
    }
}

#[async_trait]
impl OutboxStore for SqliteOutbox {
    fn table(&self) -> &str {
        &self.table
    }

    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn install(&self) -> Result<(), OutboxError> {
        let fail = || query_error(&self.table, "create the outbox table");
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(fail())?;
        for statement in install_sql(&self.table) {
            sqlx::query(&statement)
                .execute(&mut *tx)
                .await
                .map_err(fail())?;
        }
        tx.commit().await.map_err(fail())?;
        Ok(())
    }

    async fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Row>, OutboxError> {
        // In process, a separate statement costs no round trip.
        self.complete(claim.done).await?;
        let t = &self.table;
        let mut standard = self.claim_update(claim);
        standard.push(format!(
            r#"SELECT id FROM "{t}" WHERE group_id IS NULL{}"#,
            Self::claimable("")
        ));
        push_split_filter(&mut standard, "", claim.split_keys);
        standard.push(" ORDER BY id LIMIT ");
        standard.push_bind(claim.limit as i64);
        let mut rows = self.fetch_rows(standard).await?;

        let mut heads = self.claim_update(claim);
        heads.push(format!(
            r#"SELECT o.id FROM "{t}" o WHERE o.group_id IS NOT NULL{}
               AND NOT EXISTS (SELECT 1 FROM "{t}" p WHERE p.target_name = o.target_name
                   AND p.group_id = o.group_id AND p.target_kind = o.target_kind
                   AND p.dead_at IS NULL AND p.id < o.id)"#,
            Self::claimable("o.")
        ));
        push_split_filter(&mut heads, "o.", claim.split_keys);
        heads.push(" ORDER BY o.id LIMIT ");
        heads.push_bind(claim.limit as i64);
        let heads = self.fetch_rows(heads).await?;
        if heads.is_empty() {
            return Ok(rows);
        }

        // Only the holder of a group's head claims the rows behind it.
        let ids: Vec<i64> = heads.iter().map(|r| r.id).collect();
        let mut followers = self.claim_update(claim);
        followers.push(format!(
            r#"SELECT id FROM (SELECT r.id, ROW_NUMBER() OVER (PARTITION BY r.target_kind,
                   r.target_name, r.group_id ORDER BY r.id) AS n
               FROM "{t}" r JOIN "{t}" h ON h.target_kind = r.target_kind
                   AND h.target_name = r.target_name AND h.group_id = r.group_id AND r.id > h.id
               WHERE r.dead_at IS NULL AND h.id IN "#
        ));
        push_id_list(&mut followers, &ids);
        followers.push(") WHERE n < ");
        followers.push_bind(claim.batch_size as i64);
        followers.push(" ORDER BY id LIMIT ");
        followers.push_bind(claim.limit as i64);
        let behind = self.fetch_rows(followers).await?;
        rows.extend(heads);
        rows.extend(behind);
        Ok(rows)
    }

    async fn complete(&self, ids: &[i64]) -> Result<(), OutboxError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut delete =
            QueryBuilder::<Sqlite>::new(format!(r#"DELETE FROM "{}" WHERE id IN "#, self.table));
        push_id_list(&mut delete, ids);
        delete
            .build()
            .execute(&self.pool)
            .await
            .map_err(query_error(&self.table, "delete sent rows"))?;
        Ok(())
    }

    async fn fail(&self, relay: &str, rows: &[FailedRow]) -> Result<(), OutboxError> {
        if rows.is_empty() {
            return Ok(());
        }
        let sql = format!(
            r#"UPDATE "{}" SET attempts = ?1, last_error = ?2, claimed_by = NULL, claimed_until = NULL,
                   dead_at = CASE WHEN ?3 THEN {NOW} ELSE NULL END,
                   next_attempt_at = CASE WHEN ?3 THEN next_attempt_at
                       ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?4) END
               WHERE id = ?5 AND claimed_by = ?6"#,
            self.table
        );
        let fail = || query_error(&self.table, "record failed sends");
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(fail())?;
        for row in rows {
            sqlx::query(&sql)
                .bind(row.attempts)
                .bind(cut_error(&row.error))
                .bind(row.dead)
                .bind(later(row.retry_in))
                .bind(row.id)
                .bind(relay)
                .execute(&mut *tx)
                .await
                .map_err(fail())?;
        }
        tx.commit().await.map_err(fail())?;
        Ok(())
    }

    async fn renew(&self, relay: &str, ids: &[i64], lease: Duration) -> Result<u64, OutboxError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut update = QueryBuilder::<Sqlite>::new(format!(
            r#"UPDATE "{}" SET claimed_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', "#,
            self.table
        ));
        update.push_bind(later(lease));
        update.push(") WHERE claimed_by = ");
        update.push_bind(relay);
        update.push(" AND id IN ");
        push_id_list(&mut update, ids);
        let done = update
            .build()
            .execute(&self.pool)
            .await
            .map_err(query_error(&self.table, "renew claims"))?;
        Ok(done.rows_affected())
    }

    async fn release(&self, relay: &str) -> Result<u64, OutboxError> {
        let sql = format!(
            r#"UPDATE "{}" SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?"#,
            self.table
        );
        let done = sqlx::query(&sql)
            .bind(relay)
            .execute(&self.pool)
            .await
            .map_err(query_error(&self.table, "release claims"))?;
        Ok(done.rows_affected())
    }

    async fn stats(&self) -> Result<Vec<TargetStats>, OutboxError> {
        let sql = format!(
            r#"SELECT target_kind, target_name,
                   COALESCE(SUM(dead_at IS NULL), 0),
                   COALESCE(SUM(dead_at IS NULL AND attempts > 0), 0),
                   COALESCE(SUM(dead_at IS NULL AND claimed_until IS NOT NULL AND claimed_until >= {NOW}), 0),
                   COALESCE(SUM(dead_at IS NOT NULL), 0),
                   (julianday('now') - julianday(MIN(CASE WHEN dead_at IS NULL THEN created_at END))) * 86400.0
               FROM "{}" GROUP BY target_kind, target_name ORDER BY target_name, target_kind"#,
            self.table
        );
        let raw: Vec<RawStats> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(&self.table, "count rows"))?;
        Ok(stats_from(raw))
    }

    async fn resend(&self, filter: &ResendFilter) -> Result<u64, OutboxError> {
        let t = &self.table;
        let fail = || query_error(&self.table, "resend dead rows");
        // IMMEDIATE: the write lock first, so no other writer slips in between.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(fail())?;
        let mut select = QueryBuilder::<Sqlite>::new(format!(
            r#"SELECT id FROM "{t}" WHERE dead_at IS NOT NULL"#
        ));
        push_resend_filter(&mut select, filter);
        select.push(" ORDER BY id");
        let ids: Vec<i64> = select
            .build_query_scalar()
            .fetch_all(&mut *tx)
            .await
            .map_err(fail())?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mut insert = QueryBuilder::<Sqlite>::new(format!(
            r#"INSERT INTO "{t}" (uuid, message, target_kind, target_name, group_id, dedup_id,
                   attributes, created_at, attempts, next_attempt_at, last_error)
               SELECT uuid, message, target_kind, target_name, group_id, dedup_id,
                   attributes, created_at, 0, {NOW}, last_error FROM "{t}" WHERE id IN "#
        ));
        push_id_list(&mut insert, &ids);
        insert.push(" ORDER BY id");
        insert.build().execute(&mut *tx).await.map_err(fail())?;
        let mut delete = QueryBuilder::<Sqlite>::new(format!(r#"DELETE FROM "{t}" WHERE id IN "#));
        push_id_list(&mut delete, &ids);
        delete.build().execute(&mut *tx).await.map_err(fail())?;
        tx.commit().await.map_err(fail())?;
        Ok(ids.len() as u64)
    }

    async fn purge_dead(&self, older_than: Duration) -> Result<u64, OutboxError> {
        let sql = format!(
            r#"DELETE FROM "{}" WHERE dead_at IS NOT NULL
               AND dead_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)"#,
            self.table
        );
        let done = sqlx::query(&sql)
            .bind(format!("-{:.3} seconds", older_than.as_secs_f64()))
            .execute(&self.pool)
            .await
            .map_err(query_error(&self.table, "delete old dead rows"))?;
        Ok(done.rows_affected())
    }

    async fn wait_for_rows(&self, max: Duration) -> bool {
        tokio::time::sleep(max).await;
        false
    }

    fn notifies(&self) -> bool {
        false
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
