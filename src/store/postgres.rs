//! PostgreSQL backend.
//!
//! The applier lock is a session-level advisory lock (`pg_try_advisory_lock`) taken on a
//! dedicated connection outside the pool and held until unlock: the server releases it when
//! that session ends, including when the process is killed. The key is derived from the table
//! name with a fixed hash, so every lariat process computes the same key; advisory locks are
//! scoped to the current database.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Mutex;

use crate::db::now_micros;

use super::{
    applied_version, check_columns, query_error, stable_hash, AppliedVersion, LockWait, StoreError,
    VersionState, VersionStore, MAX_POOL_CONNECTIONS,
};

/// A version table in a PostgreSQL database.
pub(super) struct PgStore {
    pool: PgPool,
    options: PgConnectOptions,
    table: String,
    /// Advisory lock key of the applier lock.
    lock_key: i64,
    /// Advisory lock key that serializes concurrent `CREATE TABLE`s.
    create_key: i64,
    /// The dedicated connection that holds the advisory lock, while this store holds it.
    lock_conn: Mutex<Option<PgConnection>>,
}

impl PgStore {
    /// Connects to the database that `url` names.
    pub(super) async fn connect(url: &str, table: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|err| StoreError::invalid_url(url, err.to_string()))?;
        // Open one connection first: a pool would hide the cause behind a timeout.
        options
            .connect()
            .await
            .map_err(|err| StoreError::connect(url, err))?
            .close()
            .await
            .map_err(|err| StoreError::connect(url, err))?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_POOL_CONNECTIONS)
            .connect_lazy_with(options.clone());
        Ok(Self {
            pool,
            options,
            table: table.to_owned(),
            lock_key: lock_key(&["lariat migration lock", table]),
            create_key: lock_key(&["lariat create table", table]),
            lock_conn: Mutex::new(None),
        })
    }
}

impl PgStore {
    /// The records table, created if missing.
    async fn records_table(&self) -> Result<String, StoreError> {
        let table = super::records_table(&self.table)?;
        let sql = format!(
            r#"CREATE TABLE IF NOT EXISTS "{table}" (version BIGINT NOT NULL, resource TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (version, resource))"#
        );
        sqlx::query(&sql)
            .execute(&self.pool)
            .await
            .map_err(query_error(&table, "create the table"))?;
        Ok(table)
    }

    /// The table's column names (none when it does not exist).
    async fn columns(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&self.table)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(&self.table, "read the table's columns"))
    }
}

/// A signed 64-bit advisory lock key: the first 8 bytes of a fixed hash of `parts`.
fn lock_key(parts: &[&str]) -> i64 {
    let digest = stable_hash(parts);
    let mut key = [0; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

#[async_trait]
impl VersionStore for PgStore {
    async fn ensure_table(&self) -> Result<(), StoreError> {
        let create = format!(
            r#"CREATE TABLE IF NOT EXISTS "{}" (
                version BIGINT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                checksum VARCHAR(64) NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('applying', 'applied', 'rolling_back')),
                applied_at TIMESTAMPTZ NOT NULL,
                duration_ms BIGINT NOT NULL DEFAULT 0
            )"#,
            self.table
        );
        let fail = || query_error(&self.table, "create the table");
        // Two concurrent `CREATE TABLE IF NOT EXISTS` can both pass the check and one then
        // fails on the catalog's unique index; a transaction-scoped lock serializes them.
        let mut tx = self.pool.begin().await.map_err(fail())?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(self.create_key)
            .execute(&mut *tx)
            .await
            .map_err(fail())?;
        sqlx::query(&create)
            .execute(&mut *tx)
            .await
            .map_err(fail())?;
        tx.commit().await.map_err(fail())?;
        check_columns(&self.table, self.columns().await?)
    }

    async fn lock(&self, timeout: Duration) -> Result<(), StoreError> {
        let mut held = self.lock_conn.lock().await;
        if held.is_some() {
            return Ok(());
        }
        let fail = || query_error(&self.table, "take the migration lock");
        let mut conn = self.options.connect().await.map_err(fail())?;
        let wait = LockWait::new(timeout);
        loop {
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(self.lock_key)
                .fetch_one(&mut conn)
                .await
                .map_err(fail())?;
            if locked {
                *held = Some(conn);
                tracing::debug!(key = self.lock_key, "took the migration lock");
                return Ok(());
            }
            if let Err(err) = wait.next().await {
                // Best effort: dropping the connection closes it anyway.
                let _ = conn.close().await;
                return Err(err);
            }
        }
    }

    async fn unlock(&self) -> Result<(), StoreError> {
        let Some(mut conn) = self.lock_conn.lock().await.take() else {
            return Ok(());
        };
        let unlocked = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
            .bind(self.lock_key)
            .fetch_one(&mut conn)
            .await;
        // Ending the session releases the lock even if the explicit unlock failed.
        let _ = conn.close().await;
        unlocked.map_err(query_error(&self.table, "release the migration lock"))?;
        Ok(())
    }

    async fn table_exists(&self) -> Result<bool, StoreError> {
        let (found,): (bool,) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables
                            WHERE table_schema = current_schema() AND table_name = $1)",
        )
        .bind(&self.table)
        .fetch_one(&self.pool)
        .await
        .map_err(query_error(&self.table, "look for the table"))?;
        if found {
            check_columns(&self.table, self.columns().await?)?;
        }
        Ok(found)
    }

    async fn list(&self) -> Result<Vec<AppliedVersion>, StoreError> {
        let sql = format!(
            r#"SELECT version, name, checksum, state, applied_at, duration_ms
               FROM "{}" ORDER BY version"#,
            self.table
        );
        let rows: Vec<(i64, String, String, String, DateTime<Utc>, i64)> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(&self.table, "read the applied versions"))?;
        rows.into_iter()
            .map(|row| applied_version(&self.table, row))
            .collect()
    }

    async fn mark(
        &self,
        version: i64,
        name: &str,
        checksum: &str,
        state: VersionState,
    ) -> Result<(), StoreError> {
        let sql = format!(
            r#"INSERT INTO "{}" (version, name, checksum, state, applied_at, duration_ms)
               VALUES ($1, $2, $3, $4, $5, 0)
               ON CONFLICT (version) DO UPDATE SET
                   name = EXCLUDED.name, checksum = EXCLUDED.checksum, state = EXCLUDED.state"#,
            self.table
        );
        sqlx::query(&sql)
            .bind(version)
            .bind(name)
            .bind(checksum)
            .bind(state.as_str())
            .bind(now_micros())
            .execute(&self.pool)
            .await
            .map_err(query_error(
                &self.table,
                format!("record version {version} as {state}"),
            ))?;
        Ok(())
    }

    async fn mark_applied(&self, version: i64, duration_ms: i64) -> Result<(), StoreError> {
        let sql = format!(
            r#"UPDATE "{}" SET state = $1, applied_at = $2, duration_ms = $3 WHERE version = $4"#,
            self.table
        );
        let result = sqlx::query(&sql)
            .bind(VersionState::Applied.as_str())
            .bind(now_micros())
            .bind(duration_ms)
            .bind(version)
            .execute(&self.pool)
            .await
            .map_err(query_error(
                &self.table,
                format!("record version {version} as applied"),
            ))?;
        if result.rows_affected() == 0 {
            return Err(StoreError::VersionNotFound {
                version,
                table: self.table.clone(),
            });
        }
        Ok(())
    }

    async fn remove(&self, version: i64) -> Result<(), StoreError> {
        let sql = format!(r#"DELETE FROM "{}" WHERE version = $1"#, self.table);
        sqlx::query(&sql)
            .bind(version)
            .execute(&self.pool)
            .await
            .map_err(query_error(
                &self.table,
                format!("remove version {version}"),
            ))?;
        Ok(())
    }

    async fn save_record(
        &self,
        version: i64,
        resource: &str,
        record: &str,
    ) -> Result<(), StoreError> {
        let table = self.records_table().await?;
        let sql = format!(
            r#"INSERT INTO "{table}" (version, resource, record) VALUES ($1, $2, $3) ON CONFLICT (version, resource) DO UPDATE SET record = excluded.record"#
        );
        sqlx::query(&sql)
            .bind(version)
            .bind(resource)
            .bind(record)
            .execute(&self.pool)
            .await
            .map_err(query_error(
                &table,
                format!("record {resource} for version {version}"),
            ))?;
        Ok(())
    }

    async fn records(&self, version: i64) -> Result<BTreeMap<String, String>, StoreError> {
        let table = self.records_table().await?;
        let sql = format!(r#"SELECT resource, record FROM "{table}" WHERE version = $1"#);
        let rows: Vec<(String, String)> = sqlx::query_as(&sql)
            .bind(version)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(
                &table,
                format!("read the records of version {version}"),
            ))?;
        Ok(rows.into_iter().collect())
    }

    async fn remove_records(&self, version: i64) -> Result<(), StoreError> {
        let table = self.records_table().await?;
        let sql = format!(r#"DELETE FROM "{table}" WHERE version = $1"#);
        sqlx::query(&sql)
            .bind(version)
            .execute(&self.pool)
            .await
            .map_err(query_error(
                &table,
                format!("remove the records of version {version}"),
            ))?;
        Ok(())
    }

    async fn close(&self) {
        if let Err(err) = self.unlock().await {
            tracing::warn!(error = %err, "could not release the migration lock while closing");
        }
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        let key = lock_key(&["lariat migration lock", "lariat_versions"]);
        assert_eq!(key, lock_key(&["lariat migration lock", "lariat_versions"]));
        assert_ne!(key, lock_key(&["lariat create table", "lariat_versions"]));
        assert_ne!(key, lock_key(&["lariat migration lock", "other"]));
        // Pinned: a different key would not exclude lariat processes of an older version.
        assert_eq!(key, -7_108_128_293_132_224_968);
    }
}
