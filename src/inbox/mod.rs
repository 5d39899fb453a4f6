//! The inbox: exactly-once processing of received messages on top of SQS's at-least-once
//! delivery, with the client-error / retry distinction of the Ruby gem cyclone_lariat.
//!
//! Every message a [`Consumer`] receives is stored by uuid in the inbox table (default
//! `lariat_inbox`) before the service's [`Handler`] runs, in the open database transaction the
//! handler gets and that marks the message processed: the row, the handler's own writes and
//! the mark commit together (one commit per message), or not at all; after an error the row is
//! stored on its own. What happens next depends on the handler's answer:
//!
//! | handler returns                      | inbox row                         | SQS message          |
//! |--------------------------------------|-----------------------------------|----------------------|
//! | `Ok(())`                             | `processed_at` set (same commit)  | deleted              |
//! | [`HandlerError::Client`]             | client error message and details  | deleted, no retry    |
//! | [`HandlerError::Retry`] or a panic   | stays unprocessed                 | redelivered by SQS   |
//! | (body is not a valid envelope)       | stored as a client error          | deleted              |
//!
//! A redelivered message whose row is already processed (or holds a client error) is deleted
//! without calling the handler; a redelivered message whose earlier attempt failed with a
//! retryable error is handled again, and its row is marked processed when that succeeds.
//! Two copies of one message handled at the same moment are serialized by a row lock
//! (`SELECT ... FOR UPDATE`; on SQLite the write lock of `BEGIN IMMEDIATE`), so only one runs
//! the handler.
//!
//! Replay: [`Inbox::each_unprocessed`] runs a handler on every stored message that is neither
//! processed nor failed with a client error, and [`Inbox::each_with_client_errors`] on those
//! that failed with one (after a fix, say). [`Inbox::retry`] (and `lariat inbox retry UUID`)
//! clears a client error, so the message counts as unprocessed again and the next
//! `each_unprocessed` replays it.
//!
//! The table, on PostgreSQL (see [`ddl`] for every backend):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "lariat_inbox" (
//!     uuid UUID PRIMARY KEY,             -- the envelope's uuid (derived from the body if malformed)
//!     type TEXT NOT NULL,                -- event_... / command_... ('' if malformed)
//!     version SMALLINT NOT NULL,         -- 1 or 2 (0 if malformed)
//!     publisher TEXT NOT NULL,
//!     request_id UUID,
//!     data JSONB NOT NULL,               -- the envelope's data (null if malformed)
//!     message TEXT NOT NULL,             -- the envelope as it arrived (the raw body if malformed)
//!     queue TEXT NOT NULL,               -- the queue it came from
//!     client_error_message TEXT,
//!     client_error_details JSONB,
//!     sent_at TIMESTAMPTZ,
//!     received_at TIMESTAMPTZ NOT NULL,
//!     processed_at TIMESTAMPTZ
//! );
//! CREATE INDEX IF NOT EXISTS "lariat_inbox_pending" ON "lariat_inbox" (received_at, uuid)
//!     WHERE processed_at IS NULL;
//! ```
//!
//! The table name is the only identifier written into SQL text, after validation; every value
//! is a bound parameter.
//!
//! ```no_run
//! use lariat::inbox::{Consumer, HandlerError, Inbox, Incoming};
//! use sqlx::{PgConnection, Postgres};
//!
//! struct Welcome;
//!
//! #[async_trait::async_trait]
//! impl lariat::inbox::Handler<Postgres> for Welcome {
//!     async fn handle(&self, msg: &Incoming, tx: &mut PgConnection) -> Result<(), HandlerError> {
//!         let Some(email) = msg.data()["email"].as_str() else {
//!             return Err(HandlerError::client("no email in the message"));
//!         };
//!         sqlx::query("INSERT INTO welcome_mails (email) VALUES ($1)")
//!             .bind(email)
//!             .execute(&mut *tx)
//!             .await?; // a database error is retried
//!         Ok(())
//!     }
//! }
//!
//! # async fn demo(aws: lariat::aws::Aws, pool: sqlx::PgPool) -> Result<(), lariat::inbox::InboxError> {
//! let inbox = Inbox::new(pool, "lariat_inbox")?;
//! inbox.install().await?;
//! let queue = "production-event-queue-registration-user_created-mailer";
//! // until Ctrl-C or SIGTERM; handlers in progress finish first
//! Consumer::new(aws, inbox, queue, Welcome).run(lariat::signal::shutdown()).await?;
//! # Ok(()) }
//! ```

mod consumer;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
mod source;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;
use std::ops::Deref;
use std::panic::AssertUnwindSafe;

use chrono::{DateTime, SubsecRound, Utc};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::{Pool, Transaction};
use uuid::Uuid;

use crate::aws::AwsError;
use crate::db::{self, now_micros, DbError, TableKind, TableName};
use crate::message::{Envelope, MessageError, Refusal};

pub use crate::db::Backend;

pub use consumer::{
    Consumer, ConsumerOptions, ConsumerReport, Failure, FailureKind, MessageReport, Outcome,
};
pub use source::{MemoryQueue, Source};

/// The inbox table unless configured otherwise.
pub const DEFAULT_TABLE: &str = "lariat_inbox";

/// The longest inbox table name: index names add a suffix and must stay within 64 characters
/// ([`TableKind::max_len`]).
pub const MAX_TABLE_CHARS: usize = 48;

/// How many rows a replay reads at a time.
const REPLAY_PAGE: usize = 100;

/// What can go wrong in the inbox, outside the handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError {
    /// A table name that is not a plain SQL identifier of at most [`MAX_TABLE_CHARS`]
    /// characters, an unsupported URL or an unreachable database.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The URL names a different database than the inbox was typed for.
    #[error("database url `{url}` is not a {expected} url: an `Inbox<{expected}>` needs one")]
    WrongBackend {
        /// The URL, password replaced by `***`.
        url: String,
        /// The backend the inbox was typed for.
        expected: &'static str,
    },
    /// A statement against the inbox table failed.
    #[error("could not {action} (inbox table `{table}`): {source}; if the table is missing, run `lariat inbox install`")]
    Query {
        /// What was being done.
        action: String,
        /// The inbox table.
        table: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// A row holds a value lariat cannot read.
    #[error("row {uuid} of inbox table `{table}` is corrupt ({detail}); fix or delete it by hand")]
    CorruptRow {
        /// The row's uuid column, as text.
        uuid: String,
        /// The inbox table.
        table: String,
        /// What is wrong.
        detail: String,
    },
    /// A message's row vanished between storing and handling it (deleted by hand?).
    #[error("message {uuid} has no row in inbox table `{table}`; it will be stored again when redelivered")]
    RowMissing {
        /// The message uuid.
        uuid: Uuid,
        /// The inbox table.
        table: String,
    },
    /// An SQS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// Why a handler did not finish a message: a business (client) error, or anything else.
///
/// Any error type that implements `std::error::Error` converts into [`HandlerError::Retry`],
/// so `?` leaves the message for redelivery; return [`HandlerError::client`] for a business
/// error that no retry can fix. (Like `anyhow::Error`, this type does not implement
/// `std::error::Error` itself, which is what makes that conversion possible.)
#[non_exhaustive]
pub enum HandlerError {
    /// The message is wrong for the business (like an HTTP 4xx): stored with its message and
    /// details, deleted from the queue, never retried. Listed by
    /// `lariat inbox list --client-errors`.
    Client {
        /// What is wrong, for a developer.
        message: String,
        /// Structured details, stored as JSON.
        details: Option<Value>,
    },
    /// A transient failure (like an HTTP 5xx): the message stays on the queue and SQS hands it
    /// out again after its visibility timeout (then to the dead-letter queue, if the queue has
    /// one). The row stays unprocessed until a later attempt succeeds.
    Retry(Box<dyn std::error::Error + Send + Sync>),
}

impl HandlerError {
    /// A business error without details.
    pub fn client(message: impl Into<String>) -> Self {
        Self::Client {
            message: message.into(),
            details: None,
        }
    }

    /// A business error with structured details.
    pub fn client_with_details(message: impl Into<String>, details: Value) -> Self {
        Self::Client {
            message: message.into(),
            details: Some(details),
        }
    }

    /// A transient error: anything that converts into a boxed error, text included.
    pub fn retry(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Retry(error.into())
    }

    /// Whether this is a business error.
    pub fn is_client(&self) -> bool {
        matches!(self, Self::Client { .. })
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::Retry(Box::new(error))
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Client { message, .. } => write!(f, "client error: {message}"),
            Self::Retry(error) => {
                write!(f, "{error}")?;
                let mut source = error.source();
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Client { message, details } => f
                .debug_struct("Client")
                .field("message", message)
                .field("details", details)
                .finish(),
            Self::Retry(error) => f.debug_tuple("Retry").field(error).finish(),
        }
    }
}

/// A message handed to a [`Handler`]: the envelope, plus where it came from.
///
/// Derefs to the [`Envelope`], so `msg.data()` and `msg.uuid()` work directly.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The validated envelope.
    pub envelope: Envelope,
    /// The queue the message came from.
    pub queue: String,
    /// The SQS message id; `None` when replayed from the inbox table.
    pub message_id: Option<String>,
    /// The FIFO message group, on FIFO queues.
    pub group_id: Option<String>,
    /// How many times SQS has handed this message out (1 the first time); 0 when replayed.
    pub receive_count: u32,
}

impl Deref for Incoming {
    type Target = Envelope;

    fn deref(&self) -> &Envelope {
        &self.envelope
    }
}

/// The service's code for one message, run inside the database transaction that marks the
/// message processed.
///
/// Write through `tx` (`sqlx::query(..).execute(&mut *tx)`) to make those writes part of that
/// transaction; do not commit or roll it back. Return `Ok(())` when done,
/// [`HandlerError::Client`] for a business error, anything else to have the message
/// redelivered. The handler may run more than once for one message only when an earlier run
/// did not commit (a retryable error, a crash): side effects outside the transaction, such as
/// HTTP calls, should be idempotent.
///
/// A closure works too: `|msg: &Incoming, tx: &mut PgConnection| Box::pin(async move { .. })`,
/// wrapped in [`handler_fn`] so its lifetimes are inferred.
#[async_trait::async_trait]
pub trait Handler<DB: InboxDatabase>: Send + Sync {
    /// Handles one message.
    async fn handle(&self, message: &Incoming, tx: &mut DB::Connection)
        -> Result<(), HandlerError>;
}

#[async_trait::async_trait]
impl<DB, F> Handler<DB> for F
where
    DB: InboxDatabase,
    F: for<'a> Fn(&'a Incoming, &'a mut DB::Connection) -> BoxFuture<'a, Result<(), HandlerError>>
        + Send
        + Sync,
{
    async fn handle(
        &self,
        message: &Incoming,
        tx: &mut DB::Connection,
    ) -> Result<(), HandlerError> {
        self(message, tx).await
    }
}

/// Gives a handler closure the signature [`Handler`] needs (the compiler cannot infer the
/// lifetimes of a closure returning a future without this hint).
///
/// ```
/// use lariat::inbox::{handler_fn, HandlerError, Incoming};
/// use sqlx::{Sqlite, SqliteConnection};
///
/// let handler = handler_fn::<Sqlite, _>(|msg: &Incoming, tx: &mut SqliteConnection| {
///     Box::pin(async move {
///         sqlx::query("INSERT INTO seen (uuid) VALUES (?)")
///             .bind(msg.uuid().to_string())
///             .execute(&mut *tx)
///             .await?;
///         Ok::<_, HandlerError>(())
///     })
/// });
/// ```
pub fn handler_fn<DB, F>(f: F) -> F
where
    DB: InboxDatabase,
    F: for<'a> Fn(&'a Incoming, &'a mut DB::Connection) -> BoxFuture<'a, Result<(), HandlerError>>
        + Send
        + Sync,
{
    f
}

/// One row of the inbox table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxMessage {
    /// The envelope's uuid; for a malformed body, a uuid derived from the body's SHA-256.
    pub uuid: Uuid,
    /// `event_<name>` or `command_<name>`; empty for a malformed body.
    #[serde(rename = "type")]
    pub message_type: String,
    /// Envelope version, 1 or 2; 0 for a malformed body.
    pub version: i16,
    /// The publishing application; empty for a malformed body.
    pub publisher: String,
    /// The request id of the envelope, if any.
    pub request_id: Option<Uuid>,
    /// The envelope's data; JSON null for a malformed body.
    pub data: Value,
    /// The envelope's JSON exactly as it arrived (unwrapped from SNS), or the raw SQS body
    /// when it was not a valid envelope.
    pub message: String,
    /// The queue the message came from.
    pub queue: String,
    /// The business error, when the handler returned one (or the body was malformed).
    pub client_error_message: Option<String>,
    /// Details of the business error.
    pub client_error_details: Option<Value>,
    /// When the publisher sent it.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was first received.
    pub received_at: DateTime<Utc>,
    /// When the handler's transaction committed.
    pub processed_at: Option<DateTime<Utc>>,
}

impl InboxMessage {
    /// The row of a newly received valid message. `text` is the envelope's JSON exactly as it
    /// arrived ([`crate::message::Received::text`]), stored as is so nothing is lost.
    pub fn received(envelope: &Envelope, text: &str, queue: &str) -> Self {
        Self {
            uuid: envelope.uuid(),
            message_type: envelope.message_type().to_string(),
            version: i16::from(envelope.version()),
            publisher: envelope.publisher().to_owned(),
            request_id: envelope.request_id(),
            data: envelope.data().clone(),
            message: text.to_owned(),
            queue: queue.to_owned(),
            client_error_message: None,
            client_error_details: None,
            sent_at: envelope
                .sent_at()
                .map(|at| at.with_timezone(&Utc).trunc_subsecs(6)),
            received_at: now_micros(),
            processed_at: None,
        }
    }

    /// The row of a body that is not a valid envelope: a client error, keyed by
    /// [`malformed_uuid`] so redeliveries of the same body land on the same row. The client
    /// error lists every reason; its details name the first one's field and list them all.
    pub fn malformed(body: &str, queue: &str, refusal: &Refusal) -> Self {
        let first = refusal.errors.first();
        Self {
            uuid: malformed_uuid(body),
            message_type: String::new(),
            version: 0,
            publisher: String::new(),
            request_id: None,
            data: Value::Null,
            message: body.to_owned(),
            queue: queue.to_owned(),
            client_error_message: Some(format!("malformed message: {refusal}")),
            client_error_details: Some(json!({
                "malformed": true,
                "error": first.map(ToString::to_string),
                "field": first.and_then(MessageError::field),
                "errors": refusal
                    .errors
                    .iter()
                    .map(|e| json!({ "field": e.field(), "error": e.to_string() }))
                    .collect::<Vec<_>>(),
            })),
            sent_at: None,
            received_at: now_micros(),
            processed_at: None,
        }
    }

    /// Parses the stored message back into an envelope.
    pub fn envelope(&self) -> Result<Envelope, MessageError> {
        Envelope::from_sqs_body(&self.message)
    }

    /// Whether the handler committed this message.
    pub fn is_processed(&self) -> bool {
        self.processed_at.is_some()
    }
}

/// The uuid a malformed body is stored under: a version 8 uuid from the body's SHA-256, so the
/// same body redelivered is stored once.
pub fn malformed_uuid(body: &str) -> Uuid {
    let digest = Sha256::digest(body.as_bytes());
    let mut bytes = [0; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Which rows [`Inbox::list`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFilter {
    /// Neither processed nor failed with a client error: being handled, waiting for a retry,
    /// or cleared by [`Inbox::retry`].
    Unprocessed,
    /// Failed with a client error (malformed bodies included), not processed since.
    ClientErrors,
    /// Every row.
    All,
}

impl ListFilter {
    /// The SQL condition, the same in every dialect.
    fn condition(self) -> &'static str {
        match self {
            Self::Unprocessed => "processed_at IS NULL AND client_error_message IS NULL",
            Self::ClientErrors => "processed_at IS NULL AND client_error_message IS NOT NULL",
            Self::All => "1 = 1",
        }
    }
}

/// Where a row stands, as the consumer sees it under the row lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Stored, not processed, no client error.
    Pending,
    /// Processed.
    Processed,
    /// Failed with a client error.
    ClientError,
}

impl RowState {
    fn of(processed: bool, client_error: bool) -> Self {
        match (processed, client_error) {
            (true, _) => Self::Processed,
            (false, true) => Self::ClientError,
            (false, false) => Self::Pending,
        }
    }
}

/// A database the inbox runs on: implemented for [`sqlx::Sqlite`], [`sqlx::Postgres`] and
/// [`sqlx::MySql`] (MySQL and MariaDB), one file per backend. Sealed.
///
/// The methods are the inbox's SQL, used by [`Inbox`] and [`Consumer`]; services do not call
/// them.
#[async_trait::async_trait]
pub trait InboxDatabase: sqlx::Database + private::Sealed {
    /// The backend, for messages and DDL.
    const BACKEND: Backend;

    /// Runs the DDL of [`ddl`].
    async fn install(pool: &Pool<Self>, table: &str) -> Result<(), sqlx::Error>;

    /// Opens a pool on `url` (already known to be of this backend).
    async fn connect(url: &str) -> Result<Pool<Self>, sqlx::Error>;

    /// Inserts `row` unless a row with its uuid exists.
    async fn insert(
        conn: &mut Self::Connection,
        table: &str,
        row: &InboxMessage,
    ) -> Result<(), sqlx::Error>;

    /// Inserts `row` already marked processed (`processed_at` now), for a transaction that
    /// commits only if the handler succeeds, unless a row with its uuid exists; returns
    /// whether it did. After `false` a row with the uuid is there, to lock and handle as
    /// stored. The default inserts the row unprocessed and returns `false`: MySQL's driver
    /// reports found rather than changed rows, so its count cannot tell an insert from a
    /// duplicate, and catching the duplicate-key error instead makes two concurrent copies
    /// deadlock on their shared locks.
    async fn insert_processed(
        conn: &mut Self::Connection,
        table: &str,
        row: &InboxMessage,
    ) -> Result<bool, sqlx::Error> {
        Self::insert(conn, table, row).await?;
        Ok(false)
    }

    /// Begins the transaction a message is handled in (on SQLite, `BEGIN IMMEDIATE`).
    async fn begin(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, sqlx::Error>;

    /// Locks the row of `uuid` until the transaction ends and reads its state; `None` when
    /// there is no such row.
    async fn lock(
        conn: &mut Self::Connection,
        table: &str,
        uuid: Uuid,
    ) -> Result<Option<RowState>, sqlx::Error>;

    /// Sets `processed_at` to now.
    async fn mark_processed(
        conn: &mut Self::Connection,
        table: &str,
        uuid: Uuid,
    ) -> Result<(), sqlx::Error>;

    /// Stores a client error on an unprocessed row.
    async fn set_client_error(
        pool: &Pool<Self>,
        table: &str,
        uuid: Uuid,
        message: &str,
        details: Option<&Value>,
    ) -> Result<(), sqlx::Error>;

    /// Clears the client error of an unprocessed row; true when there was one.
    async fn clear_client_error(
        pool: &Pool<Self>,
        table: &str,
        uuid: Uuid,
    ) -> Result<bool, sqlx::Error>;

    /// Rows matching `filter`, oldest received first, after the `(received_at, uuid)` cursor.
    async fn list(
        pool: &Pool<Self>,
        table: &str,
        filter: ListFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, InboxError>;
}

mod private {
    pub trait Sealed {}
    #[cfg(feature = "sqlite")]
    impl Sealed for sqlx::Sqlite {}
    #[cfg(feature = "postgres")]
    impl Sealed for sqlx::Postgres {}
    #[cfg(feature = "mysql")]
    impl Sealed for sqlx::MySql {}
}

/// The `CREATE TABLE` and `CREATE INDEX` statements of the inbox table on `backend`, each
/// ending with `;`, idempotent (`IF NOT EXISTS`).
pub fn ddl(backend: Backend, table: &str) -> Result<String, InboxError> {
    let table = table_name(table)?;
    let table = table.as_str();
    let statements = match backend {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => sqlite::ddl(table),
        #[cfg(feature = "postgres")]
        Backend::Postgres => postgres::ddl(table),
        #[cfg(feature = "mysql")]
        Backend::MySql => mysql::ddl(table),
        #[allow(unreachable_patterns)]
        backend => return Err(DbError::NotBuilt { backend }.into()),
    };
    Ok(statements
        .iter()
        .map(|s| format!("{s};\n"))
        .collect::<String>())
}

/// Checks that `name` can be the inbox table: `^[A-Za-z_][A-Za-z0-9_]*$`, at most
/// [`MAX_TABLE_CHARS`] characters. It is the only identifier written into SQL text.
fn table_name(name: &str) -> Result<String, InboxError> {
    Ok(TableName::new(TableKind::Inbox, name)?.into())
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Handled and marked processed.
    pub processed: usize,
    /// Failed with a client error (stored).
    pub client_errors: usize,
    /// Failed with a retryable error; still unprocessed.
    pub retries: usize,
    /// Already processed by someone else by the time the replay reached them.
    pub skipped: usize,
}

/// The inbox table in one database, with its connection pool.
///
/// Cheap to clone (the pool is shared).
#[derive(Debug)]
pub struct Inbox<DB: InboxDatabase> {
    pool: Pool<DB>,
    table: String,
}

impl<DB: InboxDatabase> Clone for Inbox<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            table: self.table.clone(),
        }
    }
}

impl<DB: InboxDatabase> Inbox<DB> {
    /// The inbox table `table` in the database of `pool` (the service's own pool, so handlers
    /// write to the same database).
    pub fn new(pool: Pool<DB>, table: &str) -> Result<Self, InboxError> {
        Ok(Self {
            pool,
            table: table_name(table)?,
        })
    }

    /// Opens a pool on `url` and uses `table` in it.
    pub async fn connect(url: &str, table: &str) -> Result<Self, InboxError> {
        table_name(table)?;
        let backend = Backend::from_url(url)?;
        if backend != DB::BACKEND {
            return Err(InboxError::WrongBackend {
                url: db::redact_url(url),
                expected: DB::BACKEND.as_str(),
            });
        }
        let pool = DB::connect(url).await.map_err(db::connect_error(url))?;
        Self::new(pool, table)
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DDL of this inbox's table.
    pub fn ddl(&self) -> String {
        // The name was validated in `new`.
        ddl(DB::BACKEND, &self.table).unwrap_or_default()
    }

    /// Creates the table and its index if they are missing.
    pub async fn install(&self) -> Result<(), InboxError> {
        DB::install(&self.pool, &self.table)
            .await
            .map_err(self.query_error("create the table"))
    }

    /// Up to `limit` rows matching `filter`, oldest received first.
    pub async fn list(
        &self,
        filter: ListFilter,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, InboxError> {
        DB::list(&self.pool, &self.table, filter, None, limit).await
    }

    /// Clears the client error of message `uuid`, so it counts as unprocessed again and the
    /// next [`Inbox::each_unprocessed`] replays it (the message was deleted from the queue, so
    /// SQS will not bring it back). False when no unprocessed row with a client error has
    /// that uuid.
    pub async fn retry(&self, uuid: Uuid) -> Result<bool, InboxError> {
        DB::clear_client_error(&self.pool, &self.table, uuid)
            .await
            .map_err(self.query_error(format!("clear the client error of {uuid}")))
    }

    /// Runs `handler` on every unprocessed message without a client error, oldest first,
    /// exactly as the consumer would: in the transaction that marks it processed, a client
    /// error stored, a retryable error leaving it unprocessed.
    ///
    /// Safe while consumers run: a message they handle meanwhile is skipped, and one the
    /// replay handles is deleted by the consumer without handling when redelivered. FIFO
    /// order is not kept across groups or retries.
    pub async fn each_unprocessed<H: Handler<DB>>(
        &self,
        handler: &H,
    ) -> Result<ReplayReport, InboxError> {
        self.replay(ListFilter::Unprocessed, handler).await
    }

    /// Runs `handler` on every message that failed with a client error and is not processed,
    /// oldest first: success marks it processed (the error text stays in the row, as
    /// history), a new client error replaces the stored one.
    pub async fn each_with_client_errors<H: Handler<DB>>(
        &self,
        handler: &H,
    ) -> Result<ReplayReport, InboxError> {
        self.replay(ListFilter::ClientErrors, handler).await
    }

    async fn replay<H: Handler<DB>>(
        &self,
        filter: ListFilter,
        handler: &H,
    ) -> Result<ReplayReport, InboxError> {
        let mut report = ReplayReport::default();
        let mut after = None;
        loop {
            let page = DB::list(&self.pool, &self.table, filter, after, REPLAY_PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(report);
            };
            after = Some((last.received_at, last.uuid));
            for row in page {
                let outcome = self.replay_row(&row, filter, handler).await?;
                match outcome {
                    Outcome::Processed => report.processed += 1,
                    Outcome::ClientError { .. } | Outcome::Malformed { .. } => {
                        report.client_errors += 1
                    }
                    Outcome::Retry { .. } => report.retries += 1,
                    Outcome::Duplicate => report.skipped += 1,
                }
                tracing::info!(uuid = %row.uuid, outcome = outcome.as_str(), "replayed inbox message");
            }
        }
    }

    async fn replay_row<H: Handler<DB>>(
        &self,
        row: &InboxMessage,
        filter: ListFilter,
        handler: &H,
    ) -> Result<Outcome, InboxError> {
        let envelope = match row.envelope() {
            Ok(envelope) => envelope,
            Err(error) => {
                let message = format!("malformed message: {error}");
                self.store_client_error(row.uuid, &message, None).await?;
                return Ok(Outcome::Malformed {
                    error: error.to_string(),
                });
            }
        };
        let incoming = Incoming {
            envelope,
            queue: row.queue.clone(),
            message_id: None,
            group_id: None,
            receive_count: 0,
        };
        let allow_client_error = filter == ListFilter::ClientErrors;
        self.handle(&incoming, handler, allow_client_error).await
    }

    /// Stores a newly received message (valid or not) unless its uuid is already there.
    async fn store(&self, row: &InboxMessage) -> Result<(), InboxError> {
        let fail = || self.query_error(format!("store message {}", row.uuid));
        let mut conn = self.pool.acquire().await.map_err(fail())?;
        DB::insert(&mut conn, &self.table, row)
            .await
            .map_err(fail())
    }

    /// Stores a newly received message and handles it in one transaction: the row, inserted
    /// already marked processed, commits with the handler's writes or not at all (one commit
    /// and no other statement of the inbox's per message). A row stored before (a redelivered
    /// copy) is locked and handled as [`Inbox::handle`] does. After a client or retryable
    /// error the row is stored on its own, with the error or unprocessed.
    async fn receive<H: Handler<DB>>(
        &self,
        row: &InboxMessage,
        incoming: &Incoming,
        handler: &H,
    ) -> Result<Outcome, InboxError> {
        let uuid = incoming.uuid();
        let mut tx = DB::begin(&self.pool)
            .await
            .map_err(self.query_error(format!("begin the transaction of {uuid}")))?;
        let inserted = DB::insert_processed(&mut *tx, &self.table, row)
            .await
            .map_err(self.query_error(format!("store message {uuid}")))?;
        let fresh = Fresh { row, inserted };
        self.handle_in(tx, incoming, handler, false, Some(fresh))
            .await
    }

    async fn store_client_error(
        &self,
        uuid: Uuid,
        message: &str,
        details: Option<&Value>,
    ) -> Result<(), InboxError> {
        DB::set_client_error(&self.pool, &self.table, uuid, message, details)
            .await
            .map_err(self.query_error(format!("store the client error of {uuid}")))
    }

    /// Runs the handler on a stored message under its row lock, and records the result.
    ///
    /// `allow_client_error`: handle a row that holds a client error instead of skipping it.
    async fn handle<H: Handler<DB>>(
        &self,
        incoming: &Incoming,
        handler: &H,
        allow_client_error: bool,
    ) -> Result<Outcome, InboxError> {
        let uuid = incoming.uuid();
        let tx = DB::begin(&self.pool)
            .await
            .map_err(self.query_error(format!("begin the transaction of {uuid}")))?;
        self.handle_in(tx, incoming, handler, allow_client_error, None)
            .await
    }

    /// Locks the message's row in `tx` and runs the handler there, as [`Inbox::handle`];
    /// `fresh` is the row `tx` tried to insert, to store again after a rollback.
    async fn handle_in<H: Handler<DB>>(
        &self,
        mut tx: Transaction<'static, DB>,
        incoming: &Incoming,
        handler: &H,
        allow_client_error: bool,
        fresh: Option<Fresh<'_>>,
    ) -> Result<Outcome, InboxError> {
        let uuid = incoming.uuid();
        // A row this transaction inserted is its own: no other can see or lock it.
        let inserted = fresh.is_some_and(|f| f.inserted);
        let state = if inserted {
            Some(RowState::Pending)
        } else {
            DB::lock(&mut *tx, &self.table, uuid)
                .await
                .map_err(self.query_error(format!("lock the row of {uuid}")))?
        };
        match state {
            None => {
                return Err(InboxError::RowMissing {
                    uuid,
                    table: self.table.clone(),
                })
            }
            Some(RowState::Processed) => return Ok(Outcome::Duplicate),
            Some(RowState::ClientError) if !allow_client_error => return Ok(Outcome::Duplicate),
            Some(RowState::Pending | RowState::ClientError) => {}
        }
        // A panicking handler must not take the consumer down: it counts as retryable.
        let result = AssertUnwindSafe(handler.handle(incoming, &mut *tx))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| Err(HandlerError::retry(panic_text(&*panic))));
        match result {
            Ok(()) => {
                if !inserted {
                    DB::mark_processed(&mut *tx, &self.table, uuid)
                        .await
                        .map_err(self.query_error(format!("mark {uuid} processed")))?;
                }
                tx.commit()
                    .await
                    .map_err(self.query_error(format!("commit the transaction of {uuid}")))?;
                Ok(Outcome::Processed)
            }
            Err(HandlerError::Client { message, details }) => {
                // The handler's own writes are undone; only the error is kept.
                drop(tx);
                if let Some(fresh) = fresh {
                    self.store(fresh.row).await?;
                }
                self.store_client_error(uuid, &message, details.as_ref())
                    .await?;
                Ok(Outcome::ClientError { message, details })
            }
            Err(error @ HandlerError::Retry(_)) => {
                drop(tx);
                if let Some(fresh) = fresh {
                    // Kept unprocessed, for the redelivered copy and for replays.
                    self.store(fresh.row).await?;
                }
                Ok(Outcome::Retry {
                    error: error.to_string(),
                })
            }
        }
    }

    fn query_error(&self, action: impl Into<String>) -> impl FnOnce(sqlx::Error) -> InboxError {
        let table = self.table.clone();
        let action = action.into();
        move |source| InboxError::Query {
            action,
            table,
            source,
        }
    }
}

/// A received message's row and whether the handling transaction inserted it.
#[derive(Clone, Copy)]
struct Fresh<'a> {
    row: &'a InboxMessage,
    inserted: bool,
}

/// The inbox operations of the `lariat inbox` commands, for a backend chosen at run time.
#[async_trait::async_trait]
pub trait InboxAdmin: Send + Sync {
    /// The DDL of the table.
    fn ddl(&self) -> String;
    /// See [`Inbox::install`].
    async fn install(&self) -> Result<(), InboxError>;
    /// See [`Inbox::list`].
    async fn list(&self, filter: ListFilter, limit: usize)
        -> Result<Vec<InboxMessage>, InboxError>;
    /// See [`Inbox::retry`].
    async fn retry(&self, uuid: Uuid) -> Result<bool, InboxError>;
    /// Closes the pool.
    async fn close(&self);
}

#[async_trait::async_trait]
impl<DB: InboxDatabase> InboxAdmin for Inbox<DB> {
    fn ddl(&self) -> String {
        Inbox::ddl(self)
    }

    async fn install(&self) -> Result<(), InboxError> {
        Inbox::install(self).await
    }

    async fn list(
        &self,
        filter: ListFilter,
        limit: usize,
    ) -> Result<Vec<InboxMessage>, InboxError> {
        Inbox::list(self, filter, limit).await
    }

    async fn retry(&self, uuid: Uuid) -> Result<bool, InboxError> {
        Inbox::retry(self, uuid).await
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// Opens the inbox table `table` in the database `url` names, whatever its backend.
pub async fn open(url: &str, table: &str) -> Result<Box<dyn InboxAdmin>, InboxError> {
    Ok(match Backend::from_url(url)? {
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => Box::new(Inbox::<sqlx::Sqlite>::connect(url, table).await?),
        #[cfg(feature = "postgres")]
        Backend::Postgres => Box::new(Inbox::<sqlx::Postgres>::connect(url, table).await?),
        #[cfg(feature = "mysql")]
        Backend::MySql => Box::new(Inbox::<sqlx::MySql>::connect(url, table).await?),
        #[allow(unreachable_patterns)]
        backend => return Err(DbError::NotBuilt { backend }.into()),
    })
}

/// The text of a panic payload.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_owned());
    format!("the handler panicked: {text}")
}

/// Parses a uuid column read as text.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
fn parse_uuid(table: &str, text: &str) -> Result<Uuid, InboxError> {
    text.parse().map_err(|err| InboxError::CorruptRow {
        uuid: text.to_owned(),
        table: table.to_owned(),
        detail: format!("uuid: {err}"),
    })
}

/// Parses a JSON column read as text.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
fn parse_json(table: &str, uuid: Uuid, column: &str, text: &str) -> Result<Value, InboxError> {
    serde_json::from_str(text).map_err(|err| InboxError::CorruptRow {
        uuid: uuid.to_string(),
        table: table.to_owned(),
        detail: format!("{column} is not JSON: {err}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::read::{read_sqs_body, Rules};

    #[test]
    fn table_names() {
        assert_eq!(TableKind::Inbox.max_len(), MAX_TABLE_CHARS);
        assert!(table_name(&"a".repeat(MAX_TABLE_CHARS)).is_ok());
        for bad in ["", "1x", "a-b", "x;drop", &"a".repeat(MAX_TABLE_CHARS + 1)] {
            assert!(table_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_bodies_get_a_stable_uuid() {
        let a = malformed_uuid("not json");
        assert_eq!(a, malformed_uuid("not json"));
        assert_ne!(a, malformed_uuid("not json!"));
        assert_eq!(a.get_version_num(), 8);
        let err = read_sqs_body("not json", Rules::Lenient).err();
        let Some(err) = err else {
            panic!("`not json` parsed");
        };
        let row = InboxMessage::malformed("not json", "q", &err);
        assert_eq!(row.uuid, a);
        assert_eq!(row.message, "not json");
        assert!(row
            .client_error_message
            .as_deref()
            .is_some_and(|m| m.starts_with("malformed message: ")));
    }

    #[test]
    fn handler_errors_convert_and_print() {
        fn fails() -> Result<(), HandlerError> {
            let _: i32 = "x".parse()?;
            Ok(())
        }
        let err = fails().err();
        assert!(matches!(err, Some(HandlerError::Retry(_))));
        assert!(HandlerError::client("no such user").is_client());
        assert_eq!(
            HandlerError::client("no such user").to_string(),
            "client error: no such user"
        );
        assert_eq!(HandlerError::retry("later").to_string(), "later");
    }

    #[tokio::test]
    #[cfg(all(feature = "sqlite", feature = "postgres"))]
    async fn an_inbox_refuses_another_backends_url() {
        let err = Inbox::<sqlx::Postgres>::connect("sqlite::memory:", "t")
            .await
            .err();
        assert!(
            matches!(
                err,
                Some(InboxError::WrongBackend {
                    expected: "Postgres",
                    ..
                })
            ),
            "{err:?}"
        );
        let inbox = Inbox::<sqlx::Sqlite>::connect("sqlite::memory:", "t").await;
        let Ok(inbox) = inbox else {
            panic!("in-memory sqlite: {:?}", inbox.err());
        };
        assert!(inbox.install().await.is_ok());
        assert!(matches!(
            inbox.list(ListFilter::All, 10).await.as_deref(),
            Ok([])
        ));
    }

    #[test]
    #[cfg(all(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    fn ddl_names_the_table_and_refuses_bad_names() {
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
            let sql = ddl(backend, "my_inbox").unwrap_or_default();
            assert!(sql.contains("my_inbox"), "{sql}");
            assert!(sql.contains("client_error_details"), "{sql}");
            assert!(ddl(backend, "x; drop table y").is_err());
        }
    }
}
