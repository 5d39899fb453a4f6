//! SQLite backend: the embedded default, a file next to the project and no server.
//!
//! The database runs in WAL mode with a busy timeout, so readers never block the applier and
//! short write conflicts wait instead of failing. The applier lock is an exclusive OS file
//! lock on `<database file>.lock`: the OS drops it when the file is closed or the process
//! dies. `applied_at` is stored as RFC 3339 text.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Mutex;

use crate::db::now_micros;

use super::{
    applied_version, check_columns, query_error, AppliedVersion, LockWait, StoreError,
    VersionState, VersionStore, MAX_POOL_CONNECTIONS,
};

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A version table in a SQLite database.
pub(super) struct SqliteStore {
    pool: SqlitePool,
    table: String,
    /// `<database file>.lock`; `None` for an in-memory database, which no other process sees.
    lock_path: Option<PathBuf>,
    /// The open, locked lock file while this store holds the lock.
    lock_file: Mutex<Option<File>>,
}

impl SqliteStore {
    /// Opens (and if needed creates) the database that `url` names.
    pub(super) async fn connect(url: &str, table: &str) -> Result<Self, StoreError> {
        let (path, in_memory) = parse_url(url)?;
        let mut options = SqliteConnectOptions::from_str(&format!("sqlite:{path}"))
            .map_err(|err| StoreError::invalid_url(url, err.to_string()))?
            .busy_timeout(BUSY_TIMEOUT);
        let mut pool = SqlitePoolOptions::new();
        let mut lock_path = None;
        if in_memory {
            // Each in-memory database lives as long as one of its connections: keep exactly one.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let file = options.get_filename().to_path_buf();
            create_parent_dir(&file)?;
            lock_path = Some(lock_path_for(&file));
            pool = pool.max_connections(MAX_POOL_CONNECTIONS);
        }
        // Open one connection first: a pool would hide the cause behind a timeout.
        let conn = connect_when_free(&options)
            .await
            .map_err(|err| StoreError::connect(url, err))?;
        conn.close()
            .await
            .map_err(|err| StoreError::connect(url, err))?;
        let pool = pool
            .connect_with(options)
            .await
            .map_err(|err| StoreError::connect(url, err))?;
        Ok(Self {
            pool,
            table: table.to_owned(),
            lock_path,
            lock_file: Mutex::new(None),
        })
    }
}

/// Opens one connection, retrying while another process holds the database busy.
///
/// Switching a new database file to WAL needs a lock that SQLite does not wait for with the busy
/// timeout: two appliers started together on a fresh file would see one fail with "database is
/// locked". Retry that for as long as the busy timeout allows; every other error returns at once.
async fn connect_when_free(
    options: &SqliteConnectOptions,
) -> Result<sqlx::SqliteConnection, sqlx::Error> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match options.connect().await {
            Err(err) if is_busy(&err) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// True for SQLITE_BUSY and its extended codes (the low byte of the code is 5).
fn is_busy(err: &sqlx::Error) -> bool {
    let Some(code) = err.as_database_error().and_then(|e| e.code()) else {
        return false;
    };
    code.parse::<i32>().is_ok_and(|code| code & 0xff == 5)
}

/// Splits a `sqlite:` URL into the path part sqlx understands and whether it is in memory.
fn parse_url(url: &str) -> Result<(&str, bool), StoreError> {
    let rest = crate::db::sqlite_path(url);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = database == ":memory:" || params.split('&').any(|param| param == "mode=memory");
    if database.is_empty() && !in_memory {
        return Err(StoreError::invalid_url(
            url,
            "no database file: use e.g. sqlite:lariat.db or sqlite::memory:",
        ));
    }
    Ok((rest, in_memory))
}

fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

fn lock_path_for(file: &Path) -> PathBuf {
    let mut name = OsString::from(file.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

/// Opens (creating if needed) the lock file.
fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    // Never truncated nor deleted: removing a lock file under a waiting process breaks mutual
    // exclusion.
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| StoreError::LockFile {
            path: path.to_path_buf(),
            source,
        })
}

impl SqliteStore {
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
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
            .bind(&self.table)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(&self.table, "read the table's columns"))
    }
}

fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[async_trait]
impl VersionStore for SqliteStore {
    async fn ensure_table(&self) -> Result<(), StoreError> {
        let sql = format!(
            r#"CREATE TABLE IF NOT EXISTS "{}" (
                version BIGINT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('applying', 'applied', 'rolling_back')),
                applied_at TEXT NOT NULL,
                duration_ms BIGINT NOT NULL DEFAULT 0
            )"#,
            self.table
        );
        sqlx::query(&sql)
            .execute(&self.pool)
            .await
            .map_err(query_error(&self.table, "create the table"))?;
        check_columns(&self.table, self.columns().await?)
    }

    async fn table_exists(&self) -> Result<bool, StoreError> {
        let found: Option<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?")
                .bind(&self.table)
                .fetch_optional(&self.pool)
                .await
                .map_err(query_error(&self.table, "look for the table"))?;
        if found.is_none() {
            return Ok(false);
        }
        check_columns(&self.table, self.columns().await?)?;
        Ok(true)
    }

    async fn lock(&self, timeout: Duration) -> Result<(), StoreError> {
        let Some(path) = &self.lock_path else {
            return Ok(());
        };
        let mut held = self.lock_file.lock().await;
        if held.is_some() {
            return Ok(());
        }
        let file = open_lock_file(path)?;
        let wait = LockWait::new(timeout);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => wait.next().await?,
                Err(TryLockError::Error(source)) => {
                    return Err(StoreError::LockFile {
                        path: path.clone(),
                        source,
                    })
                }
            }
        }
        *held = Some(file);
        tracing::debug!(path = %path.display(), "took the migration lock");
        Ok(())
    }

    async fn unlock(&self) -> Result<(), StoreError> {
        let Some(file) = self.lock_file.lock().await.take() else {
            return Ok(());
        };
        // Closing the file releases the lock even if the explicit unlock fails.
        let result = file.unlock();
        drop(file);
        result.map_err(|source| StoreError::LockFile {
            path: self.lock_path.clone().unwrap_or_default(),
            source,
        })
    }

    async fn list(&self) -> Result<Vec<AppliedVersion>, StoreError> {
        let sql = format!(
            r#"SELECT version, name, checksum, state, applied_at, duration_ms
               FROM "{}" ORDER BY version"#,
            self.table
        );
        let rows: Vec<(i64, String, String, String, String, i64)> = sqlx::query_as(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error(&self.table, "read the applied versions"))?;
        rows.into_iter()
            .map(
                |(version, name, checksum, state, applied_at, duration_ms)| {
                    // SQLite keeps the time as RFC 3339 text
                    let applied_at = DateTime::parse_from_rfc3339(&applied_at)
                        .map_err(|err| StoreError::CorruptRow {
                            version,
                            table: self.table.clone(),
                            detail: format!("applied_at `{applied_at}` is not RFC 3339: {err}"),
                        })?
                        .with_timezone(&Utc);
                    let row = (version, name, checksum, state, applied_at, duration_ms);
                    applied_version(&self.table, row)
                },
            )
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
               VALUES (?, ?, ?, ?, ?, 0)
               ON CONFLICT (version) DO UPDATE SET
                   name = excluded.name, checksum = excluded.checksum, state = excluded.state"#,
            self.table
        );
        sqlx::query(&sql)
            .bind(version)
            .bind(name)
            .bind(checksum)
            .bind(state.as_str())
            .bind(format_time(now_micros()))
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
            r#"UPDATE "{}" SET state = ?, applied_at = ?, duration_ms = ? WHERE version = ?"#,
            self.table
        );
        let result = sqlx::query(&sql)
            .bind(VersionState::Applied.as_str())
            .bind(format_time(now_micros()))
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
        let sql = format!(r#"DELETE FROM "{}" WHERE version = ?"#, self.table);
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
            r#"INSERT INTO "{table}" (version, resource, record) VALUES (?, ?, ?) ON CONFLICT (version, resource) DO UPDATE SET record = excluded.record"#
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
        let sql = format!(r#"SELECT resource, record FROM "{table}" WHERE version = ?"#);
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
        let sql = format!(r#"DELETE FROM "{table}" WHERE version = ?"#);
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
    fn url_forms() {
        let parsed = |url| parse_url(url).ok();
        assert_eq!(parsed("sqlite:lariat.db"), Some(("lariat.db", false)));
        assert_eq!(parsed("sqlite://./a/b.db"), Some(("./a/b.db", false)));
        assert_eq!(parsed("sqlite:///tmp/x.db"), Some(("/tmp/x.db", false)));
        assert_eq!(parsed("sqlite::memory:"), Some((":memory:", true)));
        assert_eq!(parsed("sqlite://:memory:"), Some((":memory:", true)));
        assert_eq!(
            parsed("sqlite://?mode=memory"),
            Some(("?mode=memory", true))
        );
        assert_eq!(parsed("sqlite:"), None);
        assert_eq!(parsed("sqlite://"), None);
    }

    #[test]
    fn lock_file_sits_next_to_the_database() {
        assert_eq!(
            lock_path_for(Path::new("/var/db/lariat.db")),
            PathBuf::from("/var/db/lariat.db.lock")
        );
    }
}
