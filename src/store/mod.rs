//! The version store: the SQL table that records which migrations are applied.
//!
//! One small trait, [`VersionStore`], with one implementation per database in its own file
//! (SQLite, PostgreSQL, MySQL/MariaDB), chosen by URL in [`connect`]. Besides the rows, a
//! store owns the applier lock that keeps two `lariat migrate`/`rollback` runs apart. Every
//! lock is tied to a connection or an open file, so the server or the OS releases it when the
//! process dies; a killed run never leaves a stale lock behind.
//!
//! The table name is the only identifier ever written into SQL text, and only as a checked
//! [`TableName`]; every value is a bound parameter. URLs, redaction and the errors the store
//! shares with the outbox and the inbox are in [`crate::db`].

mod mysql;
mod postgres;
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::{self, Backend, DbError, TableKind, TableName};

/// How long a lock attempt sleeps between two polls.
const LOCK_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Upper bound on connections per store; the applier needs one at a time.
const MAX_POOL_CONNECTIONS: u32 = 2;

/// The columns of lariat's version table, in order.
const COLUMNS: [&str; 6] = [
    "version",
    "name",
    "checksum",
    "state",
    "applied_at",
    "duration_ms",
];

/// Where a migration stands in the version table.
///
/// Stored as the text `applying`, `applied` or `rolling_back`, so a row left behind by an
/// interrupted run says which direction to finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionState {
    /// `up` started and has not finished.
    Applying,
    /// `up` finished.
    Applied,
    /// `down` started and has not finished.
    RollingBack,
}

impl VersionState {
    /// The text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applying => "applying",
            Self::Applied => "applied",
            Self::RollingBack => "rolling_back",
        }
    }
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VersionState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "applying" => Ok(Self::Applying),
            "applied" => Ok(Self::Applied),
            "rolling_back" => Ok(Self::RollingBack),
            other => Err(StoreError::UnknownState {
                value: other.to_owned(),
            }),
        }
    }
}

/// One row of the version table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedVersion {
    /// Migration version, the number at the start of the file name.
    pub version: i64,
    /// Migration name, the rest of the file name.
    pub name: String,
    /// Hex SHA-256 of the migration file when it was applied.
    pub checksum: String,
    /// Whether the migration is applied or was interrupted midway.
    pub state: VersionState,
    /// When the row was first written, then when `up` finished (microsecond precision).
    pub applied_at: DateTime<Utc>,
    /// How long `up` took, in milliseconds; 0 until it has finished.
    pub duration_ms: i64,
}

/// What can go wrong with the version store.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A bad table name, an unsupported URL or an unreachable database.
    #[error(transparent)]
    Db(#[from] DbError),

    /// The database URL could not be understood.
    #[error("invalid database url `{url}`: {reason}", url = db::redact_url(.url))]
    InvalidUrl {
        /// The URL, with any password already replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The directory for a SQLite database file could not be created.
    #[error("could not create directory `{}` for the sqlite database", .path.display())]
    CreateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A statement against the version table failed.
    #[error("could not {action} (version table `{table}`): {source}")]
    Query {
        /// What was being done, e.g. `record version 3`.
        action: String,
        /// The version table.
        table: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },

    /// Another applier holds the lock and did not release it in time.
    #[error(
        "timed out after {:.1}s waiting for the migration lock: another `lariat migrate` or \
         `lariat rollback` is running against this database; retry when it has finished, or \
         raise --lock-timeout",
        .waited.as_secs_f64()
    )]
    LockTimeout {
        /// How long lariat waited.
        waited: Duration,
    },

    /// The SQLite lock file could not be opened or locked.
    #[error("could not lock `{}`: check that the directory is writable", .path.display())]
    LockFile {
        /// The lock file, `<database file>.lock`.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A state text that is not one of `applying`, `applied`, `rolling_back`.
    #[error("unknown migration state `{value}`: expected applying, applied or rolling_back")]
    UnknownState {
        /// The text found.
        value: String,
    },

    /// A row in the version table holds a value lariat cannot read.
    #[error(
        "row for version {version} in version table `{table}` is corrupt ({detail}); fix or \
         delete the row by hand"
    )]
    CorruptRow {
        /// The version of the row.
        version: i64,
        /// The version table.
        table: String,
        /// What is wrong.
        detail: String,
    },

    /// A table of that name exists but lariat did not create it (its columns differ), e.g. the
    /// Ruby gem's `lariat_versions` with its single `version` column.
    #[error(
        "version table `{table}` was not created by lariat: it has the columns ({found}), \
         lariat's has ({expected}); it may belong to another tool, such as the Ruby gem's table \
         of the same name. Nothing was written to it: give lariat a table of its own with \
         --versions-table NAME (or `versions_table` in lariat.toml, or LARIAT_VERSIONS_TABLE)",
        found = .columns.join(", "),
        expected = COLUMNS.join(", ")
    )]
    ForeignTable {
        /// The version table.
        table: String,
        /// The columns it has.
        columns: Vec<String>,
    },

    /// [`VersionStore::mark_applied`] was called for a version that has no row.
    #[error(
        "version {version} has no row in version table `{table}`: it must be marked applying first"
    )]
    VersionNotFound {
        /// The version.
        version: i64,
        /// The version table.
        table: String,
    },
}

impl StoreError {
    fn invalid_url(url: &str, reason: impl Into<String>) -> Self {
        Self::InvalidUrl {
            url: db::redact_url(url),
            reason: reason.into(),
        }
    }

    fn connect(url: &str, source: sqlx::Error) -> Self {
        DbError::connect(url, source).into()
    }

    /// Whether the version table's name was refused.
    pub fn is_invalid_table_name(&self) -> bool {
        matches!(self, Self::Db(DbError::InvalidTableName { .. }))
    }
}

/// The table of applied migrations in one database, plus the applier lock.
///
/// Obtained from [`connect`]. All methods are safe to call from several processes at once;
/// mutating methods are meant to be called while holding [`VersionStore::lock`].
#[async_trait::async_trait]
pub trait VersionStore: Send + Sync {
    /// Creates the table if it is missing. Idempotent, and safe when two processes race.
    async fn ensure_table(&self) -> Result<(), StoreError>;

    /// Whether the table exists, for read-only commands (`status`, `--dry-run`) that must not
    /// create it.
    async fn table_exists(&self) -> Result<bool, StoreError>;

    /// Takes the exclusive applier lock, waiting up to `timeout` for another holder.
    ///
    /// Fails with [`StoreError::LockTimeout`] when the wait runs out. Calling it again while
    /// this store already holds the lock succeeds at once. The lock is released by
    /// [`VersionStore::unlock`], [`VersionStore::close`], dropping the store, or the death of
    /// the process.
    async fn lock(&self, timeout: Duration) -> Result<(), StoreError>;

    /// Releases the applier lock; does nothing when this store does not hold it.
    async fn unlock(&self) -> Result<(), StoreError>;

    /// All rows, ordered by version.
    async fn list(&self) -> Result<Vec<AppliedVersion>, StoreError>;

    /// Inserts the row for `version`, or updates its name, checksum and state if it exists.
    ///
    /// A new row gets `applied_at` = now and `duration_ms` = 0; an existing row keeps both.
    async fn mark(
        &self,
        version: i64,
        name: &str,
        checksum: &str,
        state: VersionState,
    ) -> Result<(), StoreError>;

    /// Sets the row's state to applied, `applied_at` to now and `duration_ms`.
    ///
    /// Fails with [`StoreError::VersionNotFound`] when the row does not exist.
    async fn mark_applied(&self, version: i64, duration_ms: i64) -> Result<(), StoreError>;

    /// Deletes the row for `version` (after a completed rollback); no error if it is absent.
    async fn remove(&self, version: i64) -> Result<(), StoreError>;

    /// Saves (or replaces) the record a legacy delete of `version` made of `resource`, as
    /// JSON, in the table `<version table>_records`, created on first use.
    async fn save_record(
        &self,
        version: i64,
        resource: &str,
        record: &str,
    ) -> Result<(), StoreError>;

    /// The records of `version`, resource to JSON (none when the table does not exist).
    async fn records(&self, version: i64) -> Result<BTreeMap<String, String>, StoreError>;

    /// Forgets the records of `version`, after its rollback.
    async fn remove_records(&self, version: i64) -> Result<(), StoreError>;

    /// Releases the lock if held and closes all connections.
    async fn close(&self);
}

/// The table beside the version table that holds legacy records.
fn records_table(table: &str) -> Result<String, StoreError> {
    let name = TableName::new(TableKind::Version, &format!("{table}_records"))?;
    Ok(name.into())
}

/// Checks that an existing table has exactly the columns lariat creates, so that lariat never
/// reads or writes a table of the same name that another tool owns.
fn check_columns(table: &str, found: Vec<String>) -> Result<(), StoreError> {
    let mut names: Vec<String> = found.iter().map(|c| c.to_ascii_lowercase()).collect();
    names.sort();
    let mut expected: Vec<&str> = COLUMNS.to_vec();
    expected.sort_unstable();
    if names == expected {
        return Ok(());
    }
    Err(StoreError::ForeignTable {
        table: table.to_owned(),
        columns: found,
    })
}

/// Opens the version store that `url` names, using `table` as the version table.
///
/// Accepted URLs:
/// - `sqlite:<path>` or `sqlite://<path>`: a file, created on first use with its parent
///   directories, in WAL mode with a busy timeout; the lock is `<path>.lock`.
/// - `sqlite::memory:`: an in-memory database for tests; no lock is needed.
/// - `postgres://…` or `postgresql://…`.
/// - `mysql://…` or `mariadb://…` (the same driver).
///
/// Connects eagerly, so a wrong URL or an unreachable server fails here. Does not create the
/// table; call [`VersionStore::ensure_table`].
pub async fn connect(url: &str, table: &str) -> Result<Box<dyn VersionStore>, StoreError> {
    let table = TableName::new(TableKind::Version, table)?;
    let table = table.as_str();
    Ok(match Backend::from_url(url)? {
        Backend::Sqlite => Box::new(sqlite::SqliteStore::connect(url, table).await?),
        Backend::Postgres => Box::new(postgres::PgStore::connect(url, table).await?),
        Backend::MySql => Box::new(mysql::MySqlStore::connect(url, table).await?),
    })
}

/// A stable SHA-256 digest of `parts` (each followed by a NUL byte, so `["ab", "c"]` and
/// `["a", "bc"]` differ), the same in every process and on every platform.
///
/// Used for lock keys, which take what they need of it; Rust's default hasher is randomized
/// per process.
fn stable_hash(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

/// The wait of one [`VersionStore::lock`] call: polls until a deadline.
struct LockWait {
    start: tokio::time::Instant,
    timeout: Duration,
}

impl LockWait {
    fn new(timeout: Duration) -> Self {
        Self {
            start: tokio::time::Instant::now(),
            timeout,
        }
    }

    /// Sleeps before the next attempt, or fails with [`StoreError::LockTimeout`] when the
    /// time is up. Call it after a failed attempt, so there is always at least one.
    async fn next(&self) -> Result<(), StoreError> {
        let waited = self.start.elapsed();
        if waited >= self.timeout {
            return Err(StoreError::LockTimeout { waited });
        }
        tokio::time::sleep(LOCK_POLL_INTERVAL.min(self.timeout - waited)).await;
        Ok(())
    }
}

/// Turns a driver error into [`StoreError::Query`], for `map_err`.
fn query_error(table: &str, action: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let table = table.to_owned();
    let action = action.into();
    move |source| StoreError::Query {
        action,
        table,
        source,
    }
}

/// A row of the version table as the backends read it:
/// `(version, name, checksum, state, applied_at, duration_ms)`.
type Row = (i64, String, String, String, DateTime<Utc>, i64);

/// One row of the version table, its state checked.
fn applied_version(table: &str, row: Row) -> Result<AppliedVersion, StoreError> {
    let (version, name, checksum, state, applied_at, duration_ms) = row;
    Ok(AppliedVersion {
        version,
        name,
        checksum,
        state: parse_state(table, version, &state)?,
        applied_at,
        duration_ms,
    })
}

/// Reads the `state` column of one row.
fn parse_state(table: &str, version: i64, text: &str) -> Result<VersionState, StoreError> {
    text.parse().map_err(|_| StoreError::CorruptRow {
        version,
        table: table.to_owned(),
        detail: format!("unknown state `{text}`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lariats_own_columns_pass() {
        let own: Vec<String> = COLUMNS.iter().rev().map(|c| c.to_uppercase()).collect();
        assert!(check_columns("t", own).is_ok());
        let gem = vec!["version".to_owned()];
        let err = check_columns("lariat_versions", gem).expect_err("the gem's table");
        let text = err.to_string();
        assert!(text.contains("`lariat_versions`"), "{text}");
        assert!(text.contains("--versions-table"), "{text}");
        let mut extra: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        extra.push("owner".into());
        assert!(check_columns("t", extra).is_err());
    }

    #[test]
    fn state_round_trip() {
        for state in [
            VersionState::Applying,
            VersionState::Applied,
            VersionState::RollingBack,
        ] {
            assert_eq!(state.to_string().parse::<VersionState>().ok(), Some(state));
        }
        assert_eq!(VersionState::RollingBack.to_string(), "rolling_back");
        assert!(matches!(
            "done".parse::<VersionState>(),
            Err(StoreError::UnknownState { value }) if value == "done"
        ));
    }

    #[test]
    fn stable_hash_is_fixed() {
        let digest = stable_hash(&["lariat", "lariat_versions"]);
        assert_eq!(digest, stable_hash(&["lariat", "lariat_versions"]));
        assert_ne!(digest, stable_hash(&["lariat", "lariat_version"]));
        assert_ne!(stable_hash(&["ab", "c"]), stable_hash(&["a", "bc"]));
    }

    #[tokio::test]
    async fn unsupported_scheme() {
        for url in ["oracle://x", "postgres:x", "http://h", "lariat.db", ""] {
            assert!(
                matches!(
                    connect(url, "t").await,
                    Err(StoreError::Db(DbError::UnsupportedUrl { .. }))
                ),
                "{url}"
            );
        }
        assert!(matches!(
            connect("sqlite::memory:", "bad-name").await,
            Err(StoreError::Db(DbError::InvalidTableName { .. }))
        ));
    }

    #[tokio::test]
    async fn zero_timeout_tries_once() {
        let wait = LockWait::new(Duration::ZERO);
        assert!(matches!(
            wait.next().await,
            Err(StoreError::LockTimeout { .. })
        ));
    }
}
