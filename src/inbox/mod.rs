//! The inbox: exactly-once processing of received messages on top of SQS's at-least-once
//! delivery, with the client-error / retry distinction of the Ruby gem cyclone_lariat.
//!
//! Every message a [`Consumer`] receives is stored by uuid in the inbox table (default
//! `lariat_inbox`) before the service's [`Handler`] runs, in the open database transaction the
//! handler gets and that marks the message processed: the row, the handler's own writes and
//! the mark commit together (by default one commit per message), or not at all; after an
//! error the row is stored on its own. What happens next depends on the handler's answer:
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
//! With [`ConsumerOptions::messages_per_transaction`] above 1, the messages of one receive
//! share one transaction and one commit; a failing handler rolls the batch back, its failure
//! is recorded, and the other messages are handled again one by one.
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
mod database;
mod error;
mod handler;
#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
mod row;
mod source;
#[cfg(feature = "sqlite")]
mod sqlite;
mod table;
#[cfg(test)]
mod tests;

pub use crate::db::Backend;

pub use consumer::{
    Consumer, ConsumerOptions, ConsumerReport, Failure, FailureKind, MessageReport, Outcome,
};
pub use database::{ddl, InboxDatabase};
pub use error::InboxError;
pub use handler::{handler_fn, Handler, HandlerError, Incoming};
pub use row::{malformed_uuid, InboxMessage, ListFilter, RowState};
pub use source::{MemoryQueue, Source};
pub use table::{open, Inbox, InboxAdmin, ReplayReport};

/// The inbox table unless configured otherwise.
pub const DEFAULT_TABLE: &str = "lariat_inbox";

/// The longest inbox table name: index names add a suffix and must stay within 64 characters
/// ([`TableKind::max_len`](crate::db::TableKind::max_len)).
pub const MAX_TABLE_CHARS: usize = 48;
