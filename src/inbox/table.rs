//! [`Inbox`], the inbox table in one database: storing each received message and running the
//! handler in the transaction that marks it processed, replays, and the operations of the
//! `lariat inbox` commands for a backend chosen at run time ([`InboxAdmin`], [`open`]).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use serde::Serialize;
use serde_json::Value;
use sqlx::{Pool, Transaction};
use uuid::Uuid;

use super::database::{ddl, table_name};
use super::{
    Backend, Handler, HandlerError, InboxDatabase, InboxError, InboxMessage, Incoming, ListFilter,
    Outcome, RowState,
};
use crate::db::{self, DbError};

/// How many rows a replay reads at a time.
const REPLAY_PAGE: usize = 100;

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
    pub(super) async fn store(&self, row: &InboxMessage) -> Result<(), InboxError> {
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
    pub(super) async fn receive<H: Handler<DB>>(
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

    /// Stores and handles `messages` (row, message) in ONE transaction, in order: their rows
    /// inserted already processed in one statement, a row stored before locked and handled as
    /// [`Inbox::handle`] does, a second copy of a uuid in the batch a duplicate, then one
    /// commit for all. A failing handler or database rolls the whole transaction back and
    /// stores nothing: the caller records a handler's failure ([`Inbox::record_failure`]) and
    /// handles the other messages one by one.
    pub(super) async fn receive_batch<H: Handler<DB>>(
        &self,
        messages: &[(&InboxMessage, &Incoming)],
        handler: &H,
    ) -> Result<Batch, InboxError> {
        let mut tx = DB::begin(&self.pool)
            .await
            .map_err(self.query_error("begin a batch's transaction"))?;
        let rows: Vec<&InboxMessage> = messages.iter().map(|(row, _)| *row).collect();
        let inserted = DB::insert_processed_all(&mut *tx, &self.table, &rows)
            .await
            .map_err(self.query_error(format!("store a batch of {} messages", rows.len())))?;
        let mut outcomes = Vec::with_capacity(messages.len());
        let mut seen = HashSet::with_capacity(messages.len());
        for (index, ((_, incoming), inserted)) in messages.iter().zip(inserted).enumerate() {
            let uuid = incoming.uuid();
            // A second copy: the first is handled in this transaction.
            if !seen.insert(uuid) || !self.to_handle(&mut *tx, uuid, inserted, false).await? {
                outcomes.push(Outcome::Duplicate);
                continue;
            }
            if let Err(error) = run_handler(handler, incoming, &mut *tx).await {
                return Ok(Batch::HandlerFailed { index, error });
            }
            if !inserted {
                self.mark_processed(&mut *tx, uuid).await?;
            }
            outcomes.push(Outcome::Processed);
        }
        tx.commit()
            .await
            .map_err(self.query_error("commit a batch's transaction"))?;
        Ok(Batch::Committed(outcomes))
    }

    /// Whether the handler is to run on message `uuid` in `conn`'s transaction: a row the
    /// transaction `inserted` is its own, no other can see or lock it; a row stored before is
    /// locked until the transaction ends, and a duplicate when processed or, unless
    /// `allow_client_error`, when it holds a client error.
    async fn to_handle(
        &self,
        conn: &mut DB::Connection,
        uuid: Uuid,
        inserted: bool,
        allow_client_error: bool,
    ) -> Result<bool, InboxError> {
        if inserted {
            return Ok(true);
        }
        let state = DB::lock(conn, &self.table, uuid)
            .await
            .map_err(self.query_error(format!("lock the row of {uuid}")))?;
        match state {
            None => Err(InboxError::RowMissing {
                uuid,
                table: self.table.clone(),
            }),
            Some(RowState::Processed) => Ok(false),
            Some(RowState::ClientError) => Ok(allow_client_error),
            Some(RowState::Pending) => Ok(true),
        }
    }

    /// Marks a row stored before processed, in `conn`'s transaction.
    async fn mark_processed(
        &self,
        conn: &mut DB::Connection,
        uuid: Uuid,
    ) -> Result<(), InboxError> {
        DB::mark_processed(conn, &self.table, uuid)
            .await
            .map_err(self.query_error(format!("mark {uuid} processed")))
    }

    /// Records a handler's failure on a received message outside any transaction: the row
    /// stored unless it is there, then a client error stored on it or, for a retryable error,
    /// the row left unprocessed for the redelivered copy and for replays.
    pub(super) async fn record_failure(
        &self,
        row: Option<&InboxMessage>,
        uuid: Uuid,
        error: HandlerError,
    ) -> Result<Outcome, InboxError> {
        if let Some(row) = row {
            self.store(row).await?;
        }
        match error {
            HandlerError::Client { message, details } => {
                self.store_client_error(uuid, &message, details.as_ref())
                    .await?;
                Ok(Outcome::ClientError { message, details })
            }
            error @ HandlerError::Retry(_) => Ok(Outcome::Retry {
                error: error.to_string(),
            }),
        }
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
        let inserted = fresh.is_some_and(|f| f.inserted);
        if !self
            .to_handle(&mut *tx, uuid, inserted, allow_client_error)
            .await?
        {
            return Ok(Outcome::Duplicate);
        }
        match run_handler(handler, incoming, &mut *tx).await {
            Ok(()) => {
                if !inserted {
                    self.mark_processed(&mut *tx, uuid).await?;
                }
                tx.commit()
                    .await
                    .map_err(self.query_error(format!("commit the transaction of {uuid}")))?;
                Ok(Outcome::Processed)
            }
            Err(error) => {
                // The handler's own writes are undone; only the error is kept.
                drop(tx);
                self.record_failure(fresh.map(|f| f.row), uuid, error).await
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

/// What became of a batch handled in one transaction ([`Inbox::receive_batch`]).
pub(super) enum Batch {
    /// Committed: each message processed, or a duplicate, in order.
    Committed(Vec<Outcome>),
    /// Rolled back, nothing stored: the handler of message `index` failed with `error`.
    HandlerFailed {
        /// The message whose handler failed.
        index: usize,
        /// How it failed.
        error: HandlerError,
    },
}

/// Runs `handler` on `incoming` in `conn`; a panic counts as a retryable error, so a
/// panicking handler does not take the consumer down.
async fn run_handler<DB: InboxDatabase, H: Handler<DB>>(
    handler: &H,
    incoming: &Incoming,
    conn: &mut DB::Connection,
) -> Result<(), HandlerError> {
    AssertUnwindSafe(handler.handle(incoming, conn))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(HandlerError::retry(panic_text(&*panic))))
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
