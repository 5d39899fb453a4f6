//! What a service plugs into the inbox: its [`Handler`], the [`Incoming`] message it gets, and
//! the [`HandlerError`] it answers with (a client error or a retry).

use std::fmt;
use std::ops::Deref;

use futures::future::BoxFuture;
use serde_json::Value;

use super::InboxDatabase;
use crate::message::Envelope;

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
