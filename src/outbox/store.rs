//! The outbox table as the relay and the `outbox` commands see it: the [`OutboxStore`] trait
//! every backend implements, what it takes and returns (claims, rows, failures, filters,
//! stats), and [`connect`], which picks the backend from the URL.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

use super::{table_name, Backend, OutboxError, Target};
use crate::db::DbError;
use crate::naming::ResourceKind;

#[cfg(feature = "mysql")]
use super::mysql;
#[cfg(feature = "postgres")]
use super::postgres;
#[cfg(feature = "sqlite")]
use super::sqlite;

/// A row as the relay claimed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Row id; ascending ids are the order of each FIFO group.
    pub id: i64,
    /// Where it goes.
    pub target: Target,
    /// FIFO group id.
    pub group_id: Option<String>,
    /// FIFO deduplication id.
    pub deduplication_id: Option<String>,
    /// The envelope, as JSON text.
    pub message: String,
    /// Extra message attributes as a JSON object, if any.
    pub attributes: Option<String>,
    /// Failed sends so far.
    pub attempts: i32,
}

/// A row the relay sent without success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRow {
    /// Row id.
    pub id: i64,
    /// Failed sends including this one.
    pub attempts: i32,
    /// Whether the row is now dead: it is not retried and no longer blocks its group.
    pub dead: bool,
    /// When not dead, how long until the next try.
    pub retry_in: Duration,
    /// What went wrong (cut to 2,000 characters).
    pub error: String,
}

/// One target or group a relay serves (`--split-keys`): `NAME` or `NAME:GROUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitKey {
    /// Topic or queue name.
    pub target_name: String,
    /// Only this FIFO group of it.
    pub group_id: Option<String>,
}

impl FromStr for SplitKey {
    type Err = String;

    /// Names never contain `:`, so the first one separates name and group.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, group) = match text.split_once(':') {
            Some((name, group)) => (name, Some(group.to_owned())),
            None => (text, None),
        };
        if name.is_empty() || group.as_deref() == Some("") {
            return Err(format!(
                "split key `{text}`: use a topic or queue name, or NAME:GROUP"
            ));
        }
        Ok(Self {
            target_name: name.to_owned(),
            group_id: group,
        })
    }
}

/// What a claim asks for.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    /// The claiming relay's id (at most 64 characters).
    pub relay: &'a str,
    /// How long the claim lasts unless renewed.
    pub lease: Duration,
    /// At most this many rows of standard targets, this many FIFO group heads, and this many
    /// rows behind those heads.
    pub limit: usize,
    /// At most this many rows per FIFO group (head included).
    pub batch_size: usize,
    /// Only these targets or groups; all when empty.
    pub split_keys: &'a [SplitKey],
    /// Rows this relay sent since its last claim: deleted by the claim itself, before it
    /// claims (in the same statement where the database allows), which saves a round trip
    /// per round.
    pub done: &'a [i64],
}

/// Which dead rows `lariat outbox resend` retries; every row when all fields are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResendFilter {
    /// Only rows for this topic or queue name.
    pub target_name: Option<String>,
    /// Only rows of this FIFO group.
    pub group_id: Option<String>,
    /// Only these row ids.
    pub ids: Vec<i64>,
}

/// The state of one target's rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TargetStats {
    /// The target.
    #[serde(serialize_with = "target_kind")]
    pub kind: ResourceKind,
    /// Its name.
    pub target: String,
    /// Rows waiting to be sent (not dead), in flight or retrying included.
    pub pending: i64,
    /// Pending rows that failed at least once.
    pub retrying: i64,
    /// Pending rows claimed by a live relay right now.
    pub in_flight: i64,
    /// Dead rows.
    pub dead: i64,
    /// Age of the oldest pending row, in seconds.
    pub oldest_age_seconds: Option<f64>,
}

fn target_kind<S: serde::Serializer>(kind: &ResourceKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// The statements that create the outbox table and its indexes; each is idempotent.
pub fn install_sql(backend: Backend, table: &str) -> Result<Vec<String>, OutboxError> {
    let table = table_name(table)?;
    let table = table.as_str();
    Ok(match backend {
        #[cfg(feature = "postgres")]
        Backend::Postgres => postgres::install_sql(table),
        #[cfg(feature = "mysql")]
        Backend::MySql => mysql::install_sql(table),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => sqlite::install_sql(table),
        #[allow(unreachable_patterns)]
        backend => return Err(DbError::NotBuilt { backend }.into()),
    })
}

/// The outbox table as the relay and the `outbox` commands see it; one implementation per
/// database. Every method is safe to call from several processes at once.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// The table name.
    fn table(&self) -> &str;

    /// The database.
    fn backend(&self) -> Backend;

    /// Creates the table and its indexes if missing ([`install_sql`]).
    async fn install(&self) -> Result<(), OutboxError>;

    /// Deletes `claim.done`, then claims due rows for `claim.relay` and returns them: rows of
    /// standard targets in id order, and FIFO groups through their heads (see the module
    /// documentation). When it fails, nothing was deleted.
    async fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Row>, OutboxError>;

    /// Deletes rows that were sent.
    async fn complete(&self, ids: &[i64]) -> Result<(), OutboxError>;

    /// Records failed sends and releases those rows; rows another relay has taken over in
    /// the meantime are left alone.
    async fn fail(&self, relay: &str, rows: &[FailedRow]) -> Result<(), OutboxError>;

    /// Extends the lease of `ids` that `relay` still holds; returns how many it holds.
    async fn renew(&self, relay: &str, ids: &[i64], lease: Duration) -> Result<u64, OutboxError>;

    /// Releases every row `relay` holds (at shutdown); returns how many.
    async fn release(&self, relay: &str) -> Result<u64, OutboxError>;

    /// Counts per target.
    async fn stats(&self) -> Result<Vec<TargetStats>, OutboxError>;

    /// Makes dead rows pending again, with their attempts reset; returns how many. They
    /// move behind the rows now in the table (new ids), so they cannot overtake them in a
    /// FIFO group. Takes row locks, so two resends never duplicate a row.
    async fn resend(&self, filter: &ResendFilter) -> Result<u64, OutboxError>;

    /// Deletes rows that have been dead for longer than `older_than`; returns how many.
    async fn purge_dead(&self, older_than: Duration) -> Result<u64, OutboxError>;

    /// Waits up to `max` for new rows: returns early on PostgreSQL when a transaction that
    /// inserted rows commits (LISTEN/NOTIFY); elsewhere sleeps. Returns whether it was woken.
    async fn wait_for_rows(&self, max: Duration) -> bool;

    /// Whether [`OutboxStore::wait_for_rows`] is woken by inserts.
    fn notifies(&self) -> bool;

    /// Closes the connections.
    async fn close(&self);
}

/// Opens the outbox table `table` in the database `url` names (`sqlite:<path>`,
/// `postgres://…`, `mysql://…`, `mariadb://…`). Connects eagerly, so a wrong URL fails here;
/// does not create the table ([`OutboxStore::install`]).
pub async fn connect(url: &str, table: &str) -> Result<Box<dyn OutboxStore>, OutboxError> {
    let table = table_name(table)?;
    let table = table.as_str();
    Ok(match Backend::from_url(url)? {
        #[cfg(feature = "postgres")]
        Backend::Postgres => Box::new(postgres::PgOutbox::connect(url, table).await?),
        #[cfg(feature = "mysql")]
        Backend::MySql => Box::new(mysql::MySqlOutbox::connect(url, table).await?),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Box::new(sqlite::SqliteOutbox::connect(url, table).await?),
        #[allow(unreachable_patterns)]
        backend => return Err(DbError::NotBuilt { backend }.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keys() {
        let key: SplitKey = "q.fifo:tenant:7".parse().expect("valid");
        assert_eq!(key.target_name, "q.fifo");
        assert_eq!(key.group_id.as_deref(), Some("tenant:7"));
        let key: SplitKey = "topic".parse().expect("valid");
        assert_eq!(key.group_id, None);
        assert!("".parse::<SplitKey>().is_err());
        assert!("q:".parse::<SplitKey>().is_err());
    }
}
