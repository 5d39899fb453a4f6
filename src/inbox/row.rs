//! The rows of the inbox table: [`InboxMessage`], how a received (or malformed) message
//! becomes one, which rows a listing selects, and reading columns stored as text.

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::now_micros;
use crate::message::{Envelope, MessageError, Refusal};

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

/// Which rows [`Inbox::list`](super::Inbox::list) returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFilter {
    /// Neither processed nor failed with a client error: being handled, waiting for a retry,
    /// or cleared by [`Inbox::retry`](super::Inbox::retry).
    Unprocessed,
    /// Failed with a client error (malformed bodies included), not processed since.
    ClientErrors,
    /// Every row.
    All,
}

impl ListFilter {
    /// The SQL condition, the same in every dialect.
    pub(super) fn condition(self) -> &'static str {
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
    /// The state of a row with these two columns set or not.
    pub(super) fn of(processed: bool, client_error: bool) -> Self {
        match (processed, client_error) {
            (true, _) => Self::Processed,
            (false, true) => Self::ClientError,
            (false, false) => Self::Pending,
        }
    }
}

/// Parses a uuid column read as text.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(super) fn parse_uuid(table: &str, text: &str) -> Result<Uuid, super::InboxError> {
    text.parse().map_err(|err| super::InboxError::CorruptRow {
        uuid: text.to_owned(),
        table: table.to_owned(),
        detail: format!("uuid: {err}"),
    })
}

/// Parses a JSON column read as text.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
pub(super) fn parse_json(
    table: &str,
    uuid: Uuid,
    column: &str,
    text: &str,
) -> Result<Value, super::InboxError> {
    serde_json::from_str(text).map_err(|err| super::InboxError::CorruptRow {
        uuid: uuid.to_string(),
        table: table.to_owned(),
        detail: format!("{column} is not JSON: {err}"),
    })
}
