//! [`InboxError`]: what can go wrong in the inbox outside the service's handler.

use uuid::Uuid;

use crate::aws::AwsError;
use crate::db::DbError;

/// What can go wrong in the inbox, outside the handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxError {
    /// A table name that is not a plain SQL identifier of at most [`MAX_TABLE_CHARS`](super::MAX_TABLE_CHARS)
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
