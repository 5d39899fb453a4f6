//! MySQL and MariaDB backend (one driver for both; `mariadb://` URLs are read as `mysql://`).
//!
//! The applier lock is a named user lock (`GET_LOCK`) taken on a dedicated connection outside
//! the pool and held until `RELEASE_LOCK`: the server releases it when that session ends,
//! including when the process is killed. Lock names are server-wide, so the name includes the
//! database and the table. `applied_at` is a `DATETIME(6)` in UTC.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Mutex;

use crate::db::now_micros;

use super::{
    applied_version, check_columns, query_error, stable_hash, AppliedVersion, LockWait, StoreError,
    VersionState, VersionStore, MAX_POOL_CONNECTIONS,
};

/// The longest lock name MySQL and MariaDB accept.
const MAX_LOCK_NAME_CHARS: usize = 64;

/// A version table in a MySQL or MariaDB database.
pub(super) struct MySqlStore {
    pool: MySqlPool,
    options: MySqlConnectOptions,
    table: String,
    /// Server-wide name of the applier lock.
    lock_name: String,
    /// The dedicated connection that holds the named lock, while this store holds it.
    lock_conn: Mutex<Option<MySqlConnection>>,
}

impl MySqlStore {
    /// Connects to the database that `url` (`mysql://` or `mariadb://`) names.
    pub(super) async fn connect(url: &str, table: &str) -> Result<Self, StoreError> {
        let options = MySqlConnectOptions::from_str(&crate::db::mysql_url(url))
            .map_err(|err| StoreError::invalid_url(url, err.to_string()))?;
        // Open one connection first: a pool would hide the cause behind a timeout.
        let mut conn = options
            .connect()
            .await
            .map_err(|err| StoreError::connect(url, err))?;
        let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
            .fetch_one(&mut conn)
            .await
            .map_err(|err| StoreError::connect(url, err))?;
        let Some(database) = database else {
            return Err(StoreError::invalid_url(
                url,
                "no database selected: add one to the path, e.g. mysql://user@host/mydb",
            ));
        };
        conn.close()
            .await
            .map_err(|err| StoreError::connect(url, err))?;
        let pool = MySqlPoolOptions::new()
            .max_connections(MAX_POOL_CONNECTIONS)
            .connect_lazy_with(options.clone());
        Ok(Self {
            pool,
            options,
            table: table.to_owned(),
            lock_name: lock_name(&database, table),
            lock_conn: Mutex::new(None),
        })
    }
}

impl MySqlStore {
    /// The records table, created if missing.
    async fn records_table(&self) -> Result<String, StoreError> {
        let table = super::records_table(&self.table)?;
        let sql = format!(
            r#"CREATE TABLE IF NOT EXISTS `{table}` (version BIGINT NOT NULL, resource VARCHAR(512) NOT NULL, record MEDIUMTEXT NOT NULL, PRIMARY KEY (version, resource)) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4"#
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
            "SELECT CAST(column_name AS CHAR) FROM information_schema.columns
             WHERE table_schema = DATABASE() AND table_name = ?",
        )
        .bind(&self.table)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error(&self.table, "read the table's columns"))
    }
}

/// The server-wide lock name for `table` in `database`, at most 64 characters.
///
/// Readable when it fits, otherwise a fixed hash of both names.
fn lock_name(database: &str, table: &str) -> String {
    let readable = format!("lariat.{database}.{table}");
    if readable.chars().count() <= MAX_LOCK_NAME_CHARS {
        return readable;
    }
    let digest = stable_hash(&[database, table]);
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("lariat.{}", &hex[..MAX_LOCK_NAME_CHARS - "lariat.".len()])
}

#[async_trait]
impl VersionStore for MySqlStore {
    async fn ensure_table(&self) -> Result<(), StoreError> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS `{}` (
                version BIGINT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                checksum VARCHAR(64) NOT NULL,
                state VARCHAR(16) NOT NULL CHECK (state IN ('applying', 'applied', 'rolling_back')),
                applied_at DATETIME(6) NOT NULL,
                duration_ms BIGINT NOT NULL DEFAULT 0
            ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
            self.table
        );
        sqlx::query(&sql)
            .execute(&self.pool)
            .await
            .map_err(query_error(&self.table, "create the table"))?;
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
            // A zero server-side timeout: waiting happens here, so it honours sub-second
            // timeouts and never parks a server thread.
            let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
                .bind(&self.lock_name)
                .fetch_one(&mut conn)
                .await
                .map_err(fail())?;
            if locked == Some(1) {
                *held = Some(conn);
                tracing::debug!(name = %self.lock_name, "took the migration lock");
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
        let released = sqlx::query_scalar::<_, Option<i64>>("SELECT RELEASE_LOCK(?)")
            .bind(&self.lock_name)
            .fetch_one(&mut conn)
            .await;
        // Ending the session releases the lock even if the explicit release failed.
        let _ = conn.close().await;
        released.map_err(query_error(&self.table, "release the migration lock"))?;
        Ok(())
    }

    async fn table_exists(&self) -> Result<bool, StoreError> {
        let (found,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM information_schema.tables
             WHERE table_schema = DATABASE() AND table_name = ?",
        )
        .bind(&self.table)
        .fetch_one(&self.pool)
        .await
        .map_err(query_error(&self.table, "look for the table"))?;
        if found == 0 {
            return Ok(false);
        }
        check_columns(&self.table, self.columns().await?)?;
        Ok(true)
    }

    async fn list(&self) -> Result<Vec<AppliedVersion>, StoreError> {
        let sql = format!(
            "SELECT version, name, checksum, state, applied_at, duration_ms
             FROM `{}` ORDER BY version",
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
        // The update values are bound again: `VALUES()` is deprecated in MySQL and the
        // row-alias syntax does not exist in MariaDB.
        let sql = format!(
            "INSERT INTO `{}` (version, name, checksum, state, applied_at, duration_ms)
             VALUES (?, ?, ?, ?, ?, 0)
             ON DUPLICATE KEY UPDATE name = ?, checksum = ?, state = ?",
            self.table
        );
        sqlx::query(&sql)
            .bind(version)
            .bind(name)
            .bind(checksum)
            .bind(state.as_str())
            .bind(now_micros().naive_utc())
            .bind(name)
            .bind(checksum)
            .bind(state.as_str())
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
            "UPDATE `{}` SET state = ?, applied_at = ?, duration_ms = ? WHERE version = ?",
            self.table
        );
        // sqlx asks for found rows, so a row already in this state still counts.
        let result = sqlx::query(&sql)
            .bind(VersionState::Applied.as_str())
            .bind(now_micros().naive_utc())
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
        let sql = format!("DELETE FROM `{}` WHERE version = ?", self.table);
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
            r#"INSERT INTO `{table}` (version, resource, record) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE record = VALUES(record)"#
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
        let sql = format!(r#"SELECT resource, record FROM `{table}` WHERE version = ?"#);
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
        let sql = format!(r#"DELETE FROM `{table}` WHERE version = ?"#);
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
    fn lock_names_fit_the_server_limit() {
        assert_eq!(
            lock_name("test", "lariat_versions"),
            "lariat.test.lariat_versions"
        );
        let long = lock_name(&"d".repeat(64), &"t".repeat(63));
        assert_eq!(long.chars().count(), MAX_LOCK_NAME_CHARS);
        assert!(long.starts_with("lariat."));
        assert_eq!(long, lock_name(&"d".repeat(64), &"t".repeat(63)));
        assert_ne!(long, lock_name(&"d".repeat(64), &"u".repeat(63)));
    }
}
