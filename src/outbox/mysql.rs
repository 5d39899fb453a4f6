//! MySQL 8 / MariaDB 10.6+ backend of the outbox (one driver; `mariadb://` is read as
//! `mysql://`).
//!
//! A claim is one short transaction in READ COMMITTED (no gap locks, so it never blocks the
//! application's inserts): rows are locked with `FOR UPDATE SKIP LOCKED`, so relays skip
//! each other's rows. FIFO group heads are found by a plain (non-locking) read first and then
//! locked and checked again: a locking read would also skip locked rows inside the
//! "is there an older row" subquery and could take a row behind a head that is being
//! released. Times are `DATETIME(6)` in UTC from the server's clock. The table uses the
//! server's default utf8mb4 collation: where it is case-insensitive, group ids that differ
//! only in case are ordered as one group, which is stricter, never looser.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor, QueryBuilder};

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

/// Connections per relay process: batches settling at once, the lease keeper and stats.
const MAX_CONNECTIONS: u32 = 10;

/// The server's clock, in UTC with microseconds.
const NOW: &str = "UTC_TIMESTAMP(6)";

pub(super) fn install_sql(t: &str) -> Vec<String> {
    vec![format!(
        "CREATE TABLE IF NOT EXISTS `{t}` (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    uuid CHAR(36) NOT NULL,
    message LONGTEXT NOT NULL,
    target_kind VARCHAR(5) NOT NULL CHECK (target_kind IN ('topic', 'queue')),
    target_name VARCHAR(80) NOT NULL,
    group_id VARCHAR(128) NULL,
    dedup_id VARCHAR(128) NULL,
    attributes TEXT NULL,
    created_at DATETIME(6) NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    last_error TEXT NULL,
    dead_at DATETIME(6) NULL,
    claimed_by VARCHAR(64) NULL,
    claimed_until DATETIME(6) NULL,
    KEY `{t}_due` (dead_at, group_id, id),
    KEY `{t}_groups` (target_name, group_id, dead_at, id),
    KEY `{t}_claimed` (claimed_by)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"
    )]
}

#[async_trait]
impl<'c> Insert for sqlx::Transaction<'c, MySql> {
    async fn insert_rows(&mut self, table: &str, rows: &[NewRow]) -> Result<(), sqlx::Error> {
        let mut query = QueryBuilder::<MySql>::new(format!(
            "INSERT INTO `{table}` (uuid, message, target_kind, target_name, group_id, dedup_id, \
             attributes, created_at, next_attempt_at) "
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

/// The outbox table in a MySQL or MariaDB database.
pub(super) struct MySqlOutbox {
    pool: MySqlPool,
    table: String,
}

impl MySqlOutbox {
    pub(super) async fn connect(url: &str, table: &str) -> Result<Self, OutboxError> {
        let options = MySqlConnectOptions::from_str(&crate::db::mysql_url(url))
            .map_err(connect_error(url))?;
        options
            .connect()
            .await
            .map_err(connect_error(url))?
            .close()
            .await
            .map_err(connect_error(url))?;
        let pool = MySqlPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                        .await?;
                    Ok(())
                })
            })
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            table: table.to_owned(),
        })
    }

    /// `AND due AND not claimed by a live relay`, for alias `a` (`""` or `"o."`).
    fn claimable(a: &str) -> String {
        format!(
            " AND {a}dead_at IS NULL AND {a}next_attempt_at <= {NOW} \
             AND ({a}claimed_until IS NULL OR {a}claimed_until < {NOW})"
        )
    }
}

#[async_trait]
impl OutboxStore for MySqlOutbox {
    fn table(&self) -> &str {
        &self.table
    }

    fn backend(&self) -> Backend {
        Backend::MySql
    }

    async fn install(&self) -> Result<(), OutboxError> {
        for statement in install_sql(&self.table) {
            sqlx::query(&statement)
                .execute(&self.pool)
                .await
                .map_err(query_error(&self.table, "create the outbox table"))?;
        }
        Ok(())
    }

    async fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Row>, OutboxError> {
        let t = &self.table;
        let fail = || query_error(&self.table, "claim rows");
        let mut tx = self.pool.begin().await.map_err(fail())?;
        if !claim.done.is_empty() {
            // In the claim's transaction: one commit for both.
            let mut delete = QueryBuilder::<MySql>::new(format!("DELETE FROM `{t}` WHERE id IN "));
            push_id_list(&mut delete, claim.done);
            delete
                .build()
                .execute(&mut *tx)
                .await
                .map_err(query_error(&self.table, "delete sent rows"))?;
        }

        // Standard rows are read whole by the locking read, so they need no second SELECT.
        let mut standard = QueryBuilder::<MySql>::new(format!(
            "SELECT {ROW_COLUMNS} FROM `{t}` WHERE group_id IS NULL{}",
            Self::claimable("")
        ));
        push_split_filter(&mut standard, "", claim.split_keys);
        standard.push(" ORDER BY id LIMIT ");
        standard.push_bind(claim.limit as i64);
        standard.push(" FOR UPDATE SKIP LOCKED");
        let standard: Vec<RawRow> = standard
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .map_err(fail())?;
        let mut ids: Vec<i64> = standard.iter().map(|r| r.0).collect();
        // FIFO rows: the heads this relay locks and the rows behind them.
        let mut fifo: Vec<i64> = Vec::new();

        let mut candidates = QueryBuilder::<MySql>::new(format!(
            "SELECT o.id FROM `{t}` o WHERE o.group_id IS NOT NULL{} \
             AND NOT EXISTS (SELECT 1 FROM `{t}` p WHERE p.target_name = o.target_name \
                 AND p.group_id = o.group_id AND p.target_kind = o.target_kind \
                 AND p.dead_at IS NULL AND p.id < o.id)",
            Self::claimable("o.")
        ));
        push_split_filter(&mut candidates, "o.", claim.split_keys);
        candidates.push(" ORDER BY o.id LIMIT ");
        candidates.push_bind(claim.limit as i64);
        let candidates: Vec<i64> = candidates
            .build_query_scalar()
            .fetch_all(&mut *tx)
            .await
            .map_err(fail())?;

        if !candidates.is_empty() {
            let mut lock = QueryBuilder::<MySql>::new(format!("SELECT id FROM `{t}` WHERE id IN "));
            push_id_list(&mut lock, &candidates);
            lock.push(Self::claimable(""));
            lock.push(" ORDER BY id FOR UPDATE SKIP LOCKED");
            let heads: Vec<i64> = lock
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await
                .map_err(fail())?;
            if !heads.is_empty() {
                // Only the holder of a group's head claims the rows behind it.
                let mut followers = QueryBuilder::<MySql>::new(format!(
                    "SELECT id FROM (SELECT r.id, ROW_NUMBER() OVER (PARTITION BY r.target_kind, \
                         r.target_name, r.group_id ORDER BY r.id) AS n \
                     FROM `{t}` r JOIN `{t}` h ON h.target_kind = r.target_kind \
                         AND h.target_name = r.target_name AND h.group_id = r.group_id \
                         AND r.id > h.id \
                     WHERE r.dead_at IS NULL AND h.id IN "
                ));
                push_id_list(&mut followers, &heads);
                followers.push(") x WHERE n < ");
                followers.push_bind(claim.batch_size as i64);
                followers.push(" ORDER BY id LIMIT ");
                followers.push_bind(claim.limit as i64);
                let behind: Vec<i64> = followers
                    .build_query_scalar()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(fail())?;
                fifo.extend(heads);
                fifo.extend(behind);
            }
        }
        ids.extend(&fifo);
        if ids.is_empty() {
            tx.commit().await.map_err(fail())?;
            return Ok(Vec::new());
        }

        let mut update = QueryBuilder::<MySql>::new(format!("UPDATE `{t}` SET claimed_by = "));
        update.push_bind(claim.relay);
        update.push(format!(", claimed_until = {NOW} + INTERVAL "));
        update.push_bind(claim.lease.as_micros() as i64);
        update.push(" MICROSECOND WHERE id IN ");
        push_id_list(&mut update, &ids);
        update.build().execute(&mut *tx).await.map_err(fail())?;

        let mut raw = standard;
        if !fifo.is_empty() {
            let mut select =
                QueryBuilder::<MySql>::new(format!("SELECT {ROW_COLUMNS} FROM `{t}` WHERE id IN "));
            push_id_list(&mut select, &fifo);
            let rows: Vec<RawRow> = select
                .build_query_as()
                .fetch_all(&mut *tx)
                .await
                .map_err(fail())?;
            raw.extend(rows);
        }
        tx.commit().await.map_err(fail())?;
        raw.into_iter().map(|r| row_from(&self.table, r)).collect()
    }

    async fn complete(&self, ids: &[i64]) -> Result<(), OutboxError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut delete =
            QueryBuilder::<MySql>::new(format!("DELETE FROM `{}` WHERE id IN ", self.table));
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
            "UPDATE `{}` SET attempts = ?, last_error = ?, claimed_by = NULL, claimed_until = NULL, \
                 dead_at = CASE WHEN ? THEN {NOW} ELSE NULL END, \
                 next_attempt_at = CASE WHEN ? THEN next_attempt_at \
                                        ELSE {NOW} + INTERVAL ? MICROSECOND END \
             WHERE id = ? AND claimed_by = ?",
            self.table
        );
        let fail = || query_error(&self.table, "record failed sends");
        let mut tx = self.pool.begin().await.map_err(fail())?;
        for row in rows {
            sqlx::query(&sql)
                .bind(row.attempts)
                .bind(cut_error(&row.error))
                .bind(row.dead)
                .bind(row.dead)
                .bind(row.retry_in.as_micros() as i64)
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
        let mut update = QueryBuilder::<MySql>::new(format!(
            "UPDATE `{}` SET claimed_until = {NOW} + INTERVAL ",
            self.table
        ));
        update.push_bind(lease.as_micros() as i64);
        update.push(" MICROSECOND WHERE claimed_by = ");
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
            "UPDATE `{}` SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?",
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
            "SELECT target_kind, target_name,
                 CAST(COALESCE(SUM(dead_at IS NULL), 0) AS SIGNED),
                 CAST(COALESCE(SUM(dead_at IS NULL AND attempts > 0), 0) AS SIGNED),
                 CAST(COALESCE(SUM(dead_at IS NULL AND claimed_until IS NOT NULL AND claimed_until >= {NOW}), 0) AS SIGNED),
                 CAST(COALESCE(SUM(dead_at IS NOT NULL), 0) AS SIGNED),
                 TIMESTAMPDIFF(MICROSECOND, MIN(CASE WHEN dead_at IS NULL THEN created_at END), {NOW}) / 1e6
             FROM `{}` GROUP BY target_kind, target_name ORDER BY target_name, target_kind",
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
        let mut tx = self.pool.begin().await.map_err(fail())?;
        let mut select =
            QueryBuilder::<MySql>::new(format!("SELECT id FROM `{t}` WHERE dead_at IS NOT NULL"));
        push_resend_filter(&mut select, filter);
        select.push(" ORDER BY id FOR UPDATE");
        let ids: Vec<i64> = select
            .build_query_scalar()
            .fetch_all(&mut *tx)
            .await
            .map_err(fail())?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mut insert = QueryBuilder::<MySql>::new(format!(
            "INSERT INTO `{t}` (uuid, message, target_kind, target_name, group_id, dedup_id, \
                 attributes, created_at, attempts, next_attempt_at, last_error) \
             SELECT uuid, message, target_kind, target_name, group_id, dedup_id, \
                 attributes, created_at, 0, {NOW}, last_error FROM `{t}` WHERE id IN "
        ));
        push_id_list(&mut insert, &ids);
        insert.push(" ORDER BY id");
        insert.build().execute(&mut *tx).await.map_err(fail())?;
        let mut delete = QueryBuilder::<MySql>::new(format!("DELETE FROM `{t}` WHERE id IN "));
        push_id_list(&mut delete, &ids);
        delete.build().execute(&mut *tx).await.map_err(fail())?;
        tx.commit().await.map_err(fail())?;
        Ok(ids.len() as u64)
    }

    async fn purge_dead(&self, older_than: Duration) -> Result<u64, OutboxError> {
        let sql = format!(
            "DELETE FROM `{}` WHERE dead_at IS NOT NULL AND dead_at < {NOW} - INTERVAL ? MICROSECOND",
            self.table
        );
        let done = sqlx::query(&sql)
            .bind(older_than.as_micros() as i64)
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
