//! The transactional outbox: messages written to a table inside the application's own database
//! transaction, and published later by a relay ([`relay::Relay`], `lariat outbox relay`).
//!
//! A message exists in the outbox if and only if the business change that produced it
//! committed: [`Outbox::enqueue`] takes the caller's open [`sqlx::Transaction`]. The relay
//! claims rows, publishes them in batches and deletes what AWS accepted; a crash between
//! sending and deleting can only send a message twice, never lose it, and FIFO targets get a
//! deduplication id derived from the row so AWS drops such a duplicate.
//!
//! The table ([`install_sql`], `lariat outbox install`) exists for PostgreSQL, MySQL 8 /
//! MariaDB 10.6+ and SQLite. Per-database SQL lives behind [`OutboxStore`], one file per
//! backend, chosen by URL in [`connect`]:
//!
//! - **Claims** are leases (`claimed_by`, `claimed_until`) that the owning relay renews while
//!   it works; a killed relay's rows are taken over when the lease runs out (10 s by
//!   default). On PostgreSQL and MySQL/MariaDB the claiming `SELECT` uses
//!   `FOR UPDATE SKIP LOCKED`, so relays claiming at the same moment never wait on each other;
//!   SQLite serializes writers.
//! - **Order per FIFO group**: a group's rows are claimed only through its head (its oldest
//!   row that is not dead), and only while no row of the group is claimed, so at most one
//!   batch per group is in flight. A head that is waiting for a retry blocks its group; once
//!   it is dead, the row behind it becomes the head.
//! - **Time** comes from the database server (`now()`, `UTC_TIMESTAMP(6)`, SQLite's clock),
//!   so relays on hosts with skewed clocks agree on leases and retry times.
//!
//! The table name is the only identifier written into SQL text, as a checked
//! [`TableName`]; every value is a bound parameter.

mod metrics;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
pub mod relay;
mod sink;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;

use crate::db::{DbError, TableKind, TableName};
use crate::message::Envelope;
use crate::naming::{self, NameError, ResourceKind, FIFO_SUFFIX};

pub use crate::db::Backend;

pub use metrics::{serve_metrics, Metrics};
pub use sink::PublisherSink;

/// The outbox table's default name.
pub const DEFAULT_TABLE: &str = "lariat_outbox";

/// The longest outbox table name: index names add up to 15 characters and PostgreSQL cuts
/// identifiers at 63 ([`TableKind::max_len`]).
pub const MAX_TABLE_LEN: usize = 48;

/// The longest FIFO group or deduplication id AWS accepts.
pub const MAX_FIFO_ID_LEN: usize = 128;

/// Rows per `INSERT` statement when enqueueing many messages.
const INSERT_CHUNK: usize = 500;

/// The longest `last_error` text kept in a row.
const MAX_ERROR_LEN: usize = 2000;

/// What can go wrong with the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// A table name that is not a plain SQL identifier of at most [`MAX_TABLE_LEN`]
    /// characters, an unsupported URL or an unreachable database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A statement against the outbox table failed.
    #[error("could not {action} (outbox table `{table}`): {source}; if the table is missing, run `lariat outbox install`")]
    Query {
        /// What was being done.
        action: &'static str,
        /// The outbox table.
        table: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// The target name breaks AWS limits, or its `.fifo` suffix disagrees with the message.
    #[error("cannot enqueue for {target}: {source}")]
    Name {
        /// The target.
        target: Target,
        /// What the naming rules say.
        #[source]
        source: NameError,
    },
    /// A message for a FIFO target without a group id.
    #[error("{target} is FIFO: give the message a group id (`OutboxMessage::group`)")]
    MissingGroupId {
        /// The target.
        target: Target,
    },
    /// A group or deduplication id for a standard target.
    #[error("{target} is not FIFO: group and deduplication ids are only for targets whose name ends in `.fifo`")]
    NotFifo {
        /// The target.
        target: Target,
    },
    /// A group or deduplication id AWS would refuse.
    #[error("{field} `{value}` must be 1 to {MAX_FIFO_ID_LEN} printable ASCII characters without spaces")]
    BadFifoId {
        /// `group id` or `deduplication id`.
        field: &'static str,
        /// The rejected id.
        value: String,
    },
    /// A row holds a value lariat cannot read.
    #[error("row {id} of outbox table `{table}` is corrupt ({detail}); fix or delete it by hand")]
    CorruptRow {
        /// The row id.
        id: i64,
        /// The outbox table.
        table: String,
        /// What is wrong.
        detail: String,
    },
}

fn query_error(table: &str, action: &'static str) -> impl FnOnce(sqlx::Error) -> OutboxError {
    let table = table.to_owned();
    move |source| OutboxError::Query {
        action,
        table,
        source,
    }
}

/// The topic or queue a message goes to, by its full name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// Topic or queue.
    pub resource: ResourceKind,
    /// The full name, `.fifo` suffix included.
    pub name: String,
}

impl Target {
    /// An SNS topic.
    pub fn topic(name: impl Into<String>) -> Self {
        Self {
            resource: ResourceKind::Topic,
            name: name.into(),
        }
    }

    /// An SQS queue.
    pub fn queue(name: impl Into<String>) -> Self {
        Self {
            resource: ResourceKind::Queue,
            name: name.into(),
        }
    }

    /// Whether the target is FIFO (its name ends in `.fifo`).
    pub fn fifo(&self) -> bool {
        self.name.ends_with(FIFO_SUFFIX)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.resource, self.name)
    }
}

fn parse_resource(table: &str, id: i64, text: &str) -> Result<ResourceKind, OutboxError> {
    match text {
        "topic" => Ok(ResourceKind::Topic),
        "queue" => Ok(ResourceKind::Queue),
        other => Err(OutboxError::CorruptRow {
            id,
            table: table.to_owned(),
            detail: format!("unknown target kind `{other}`"),
        }),
    }
}

/// One message to put in the outbox: the envelope, where it goes, and its FIFO ids.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    envelope: Envelope,
    target: Target,
    group_id: Option<String>,
    deduplication_id: Option<String>,
    attributes: BTreeMap<String, String>,
}

impl OutboxMessage {
    /// A message for `target`.
    pub fn new(envelope: Envelope, target: Target) -> Self {
        Self {
            envelope,
            target,
            group_id: None,
            deduplication_id: None,
            attributes: BTreeMap::new(),
        }
    }

    /// A message for where `options` send `envelope` (the same rules as
    /// [`Publisher::publish`](crate::publish::Publisher::publish), with `instance` from the
    /// configuration), with the group id, deduplication id and attributes of `options`.
    pub fn with_options(
        envelope: Envelope,
        options: &crate::publish::PublishOptions,
        instance: &str,
    ) -> Result<Self, crate::publish::PublishError> {
        let target = crate::publish::target(instance, &envelope, options)?;
        crate::publish::attributes(&envelope, &options.attributes)?;
        Ok(Self {
            target: Target {
                resource: target.resource,
                name: target.name,
            },
            group_id: options.group_id.clone(),
            deduplication_id: options.deduplication_id.clone(),
            attributes: options.attributes.clone(),
            envelope,
        })
    }

    /// A message for the SNS topic `name` (full name, `.fifo` included).
    pub fn to_topic(envelope: Envelope, name: impl Into<String>) -> Self {
        Self::new(envelope, Target::topic(name))
    }

    /// A message for the SQS queue `name` (full name, `.fifo` included).
    pub fn to_queue(envelope: Envelope, name: impl Into<String>) -> Self {
        Self::new(envelope, Target::queue(name))
    }

    /// Sets the FIFO message group id (required for FIFO targets).
    #[must_use]
    pub fn group(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    /// Sets the FIFO deduplication id [default: the envelope's uuid].
    #[must_use]
    pub fn deduplication_id(mut self, id: impl Into<String>) -> Self {
        self.deduplication_id = Some(id.into());
        self
    }

    /// Adds a string message attribute, besides the standard `type`, `kind` and `publisher`.
    #[must_use]
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }

    /// The envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Checks the message and turns it into the values of one row.
    fn row(&self) -> Result<sealed::NewRow, OutboxError> {
        let target = &self.target;
        let fifo = target.fifo();
        naming::validate_name(&target.name, fifo).map_err(|source| OutboxError::Name {
            target: target.clone(),
            source,
        })?;
        if !fifo && (self.group_id.is_some() || self.deduplication_id.is_some()) {
            return Err(OutboxError::NotFifo {
                target: target.clone(),
            });
        }
        let group_id = match (&self.group_id, fifo) {
            (Some(id), _) => Some(check_fifo_id("group id", id)?),
            (None, true) => {
                return Err(OutboxError::MissingGroupId {
                    target: target.clone(),
                })
            }
            (None, false) => None,
        };
        // Derived from the row, so a duplicate after a relay crash is dropped by AWS.
        let deduplication_id = match (&self.deduplication_id, fifo) {
            (Some(id), _) => Some(check_fifo_id("deduplication id", id)?),
            (None, true) => Some(self.envelope.uuid().to_string()),
            (None, false) => None,
        };
        let attributes = if self.attributes.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&self.attributes).unwrap_or_default())
        };
        Ok(sealed::NewRow {
            uuid: self.envelope.uuid(),
            message: self.envelope.to_json(),
            target_kind: target.resource.as_str(),
            target_name: target.name.clone(),
            group_id,
            deduplication_id,
            attributes,
        })
    }
}

fn check_fifo_id(field: &'static str, value: &str) -> Result<String, OutboxError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_FIFO_ID_LEN
        && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(OutboxError::BadFifoId {
            field,
            value: value.chars().take(MAX_FIFO_ID_LEN + 8).collect(),
        })
    }
}

/// Checks that `name` can be the outbox table's name: `^[A-Za-z_][A-Za-z0-9_]*$`, at most
/// [`MAX_TABLE_LEN`] characters.
fn table_name(name: &str) -> Result<String, OutboxError> {
    Ok(TableName::new(TableKind::Outbox, name)?.into())
}

/// The outbox table of the application's database, for enqueueing inside transactions.
///
/// ```no_run
/// use lariat::outbox::{Outbox, OutboxMessage};
/// # async fn demo(pool: sqlx::PgPool, event: lariat::message::Envelope) -> Result<(), Box<dyn std::error::Error>> {
/// let outbox = Outbox::new("lariat_outbox")?;
/// let mut tx = pool.begin().await?;
/// sqlx::query("UPDATE users SET mail = $1 WHERE id = $2")
///     .bind("john.doe@example.com")
///     .bind(42_i64)
///     .execute(&mut *tx)
///     .await?;
/// outbox
///     .enqueue(&mut tx, &OutboxMessage::to_topic(event, "production-event-fanout-auth-user_changed"))
///     .await?;
/// tx.commit().await?; // the message exists if and only if this commit succeeds
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    table: String,
}

impl Outbox {
    /// The outbox in table `table`: `^[A-Za-z_][A-Za-z0-9_]*$`, at most [`MAX_TABLE_LEN`]
    /// characters.
    pub fn new(table: &str) -> Result<Self, OutboxError> {
        Ok(Self {
            table: table_name(table)?,
        })
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Adds one message to the outbox inside the caller's transaction.
    pub async fn enqueue<T: OutboxTransaction>(
        &self,
        tx: &mut T,
        message: &OutboxMessage,
    ) -> Result<(), OutboxError> {
        self.enqueue_many(tx, std::slice::from_ref(message)).await
    }

    /// Adds many messages inside the caller's transaction, in order (their ids ascend, which
    /// is the order of each FIFO group). Nothing is written when one of them is invalid.
    pub async fn enqueue_many<T: OutboxTransaction>(
        &self,
        tx: &mut T,
        messages: &[OutboxMessage],
    ) -> Result<(), OutboxError> {
        let rows = messages
            .iter()
            .map(OutboxMessage::row)
            .collect::<Result<Vec<_>, _>>()?;
        for chunk in rows.chunks(INSERT_CHUNK) {
            tx.insert_rows(&self.table, chunk)
                .await
                .map_err(query_error(&self.table, "enqueue messages"))?;
        }
        Ok(())
    }
}

/// The row-writing part of [`OutboxTransaction`], out of reach of other crates.
mod sealed {
    use async_trait::async_trait;
    use uuid::Uuid;

    /// The values of one new outbox row.
    pub struct NewRow {
        pub uuid: Uuid,
        pub message: String,
        pub target_kind: &'static str,
        pub target_name: String,
        pub group_id: Option<String>,
        pub deduplication_id: Option<String>,
        pub attributes: Option<String>,
    }

    #[async_trait]
    pub trait Insert: Send {
        async fn insert_rows(&mut self, table: &str, rows: &[NewRow]) -> Result<(), sqlx::Error>;
    }
}

/// An open sqlx transaction that [`Outbox::enqueue`] can write to:
/// `sqlx::Transaction<'_, Postgres>`, `sqlx::Transaction<'_, MySql>` or
/// `sqlx::Transaction<'_, Sqlite>`.
pub trait OutboxTransaction: sealed::Insert {}

impl<T: sealed::Insert> OutboxTransaction for T {}

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

/// Cuts an error text to what a row keeps.
fn cut_error(text: &str) -> String {
    if text.len() <= MAX_ERROR_LEN {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Appends `AND (target_name = ? OR (target_name = ? AND group_id = ?) …)` for split keys.
fn push_split_filter<'a, DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<'a, DB>,
    alias: &str,
    keys: &'a [SplitKey],
) where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if keys.is_empty() {
        return;
    }
    query.push(" AND (");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            query.push(" OR ");
        }
        query.push(format!("({alias}target_name = "));
        query.push_bind(key.target_name.clone());
        if let Some(group) = &key.group_id {
            query.push(format!(" AND {alias}group_id = "));
            query.push_bind(group.clone());
        }
        query.push(")");
    }
    query.push(")");
}

/// Appends `AND target_name = ? AND group_id = ? AND id IN (…)` for a resend filter.
fn push_resend_filter<'a, DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<'a, DB>,
    filter: &'a ResendFilter,
) where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some(name) = &filter.target_name {
        query.push(" AND target_name = ");
        query.push_bind(name.clone());
    }
    if let Some(group) = &filter.group_id {
        query.push(" AND group_id = ");
        query.push_bind(group.clone());
    }
    if !filter.ids.is_empty() {
        query.push(" AND id IN ");
        push_id_list(query, &filter.ids);
    }
}

/// Appends `(?, ?, …)`; `ids` must not be empty.
fn push_id_list<'a, DB: sqlx::Database>(query: &mut sqlx::QueryBuilder<'a, DB>, ids: &[i64])
where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query.push("(");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
}

/// The columns a claim returns, in [`Row`] order.
const ROW_COLUMNS: &str =
    "id, target_kind, target_name, group_id, dedup_id, message, attributes, attempts";

type RawRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    i32,
);

fn row_from(table: &str, raw: RawRow) -> Result<Row, OutboxError> {
    let (id, kind, name, group_id, deduplication_id, message, attributes, attempts) = raw;
    Ok(Row {
        id,
        target: Target {
            resource: parse_resource(table, id, &kind)?,
            name,
        },
        group_id,
        deduplication_id,
        message,
        attributes,
        attempts,
    })
}

type RawStats = (String, String, i64, i64, i64, i64, Option<f64>);

fn stats_from(raw: Vec<RawStats>) -> Vec<TargetStats> {
    raw.into_iter()
        .map(
            |(kind, target, pending, retrying, in_flight, dead, age)| TargetStats {
                kind: if kind == "queue" {
                    ResourceKind::Queue
                } else {
                    ResourceKind::Topic
                },
                target,
                pending,
                retrying,
                in_flight,
                dead,
                oldest_age_seconds: age.map(|a| a.max(0.0)),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Event;
    use serde_json::json;

    fn envelope() -> Envelope {
        Event::new("user_created", json!({"id": 1}))
            .publisher("auth")
            .build()
            .expect("valid envelope")
    }

    #[test]
    fn table_names() {
        assert!(Outbox::new("lariat_outbox").is_ok());
        assert_eq!(TableKind::Outbox.max_len(), MAX_TABLE_LEN);
        assert!(Outbox::new(&"a".repeat(MAX_TABLE_LEN)).is_ok());
        for bad in ["", "1x", "a-b", "x;drop", &"a".repeat(MAX_TABLE_LEN + 1)] {
            assert!(Outbox::new(bad).is_err(), "{bad}");
            assert!(install_sql(Backend::Postgres, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fifo_rows_get_a_deduplication_id_from_the_envelope() {
        let env = envelope();
        let row = OutboxMessage::to_queue(env.clone(), "q.fifo")
            .group("user-1")
            .row()
            .expect("valid");
        assert_eq!(row.deduplication_id, Some(env.uuid().to_string()));
        assert_eq!(row.group_id.as_deref(), Some("user-1"));
        let row = OutboxMessage::to_topic(env.clone(), "t.fifo")
            .group("g")
            .deduplication_id("d")
            .row()
            .expect("valid");
        assert_eq!(row.deduplication_id.as_deref(), Some("d"));
        let row = OutboxMessage::to_topic(env, "t").row().expect("valid");
        assert_eq!((row.group_id, row.deduplication_id), (None, None));
    }

    #[test]
    fn invalid_messages_are_refused_before_any_sql() {
        let env = envelope();
        let cases = [
            OutboxMessage::to_queue(env.clone(), "q.fifo"),
            OutboxMessage::to_queue(env.clone(), "q").group("g"),
            OutboxMessage::to_queue(env.clone(), "q.fifo").group("has space"),
            OutboxMessage::to_queue(env.clone(), "q.fifo").group("x".repeat(129)),
            OutboxMessage::to_queue(env.clone(), "bad name"),
            OutboxMessage::to_topic(env, "x".repeat(81)),
        ];
        for message in cases {
            assert!(message.row().is_err(), "{message:?}");
        }
    }

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

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let text = "é".repeat(MAX_ERROR_LEN);
        let cut = cut_error(&text);
        assert!(cut.len() <= MAX_ERROR_LEN + "…".len());
        assert_eq!(cut_error("short"), "short");
    }
}
