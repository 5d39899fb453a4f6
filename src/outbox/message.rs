//! One message to put in the outbox ([`OutboxMessage`]): its envelope, target, FIFO ids and
//! attributes, checked by the rules the publisher applies and turned into a row.

use std::collections::BTreeMap;

use super::{sealed, OutboxError, Target};
use crate::message::target::{fifo_ids, FifoIdError};
use crate::message::Envelope;

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
            target,
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
    pub(super) fn row(&self) -> Result<sealed::NewRow, OutboxError> {
        let target = &self.target;
        target.validate().map_err(|source| OutboxError::Name {
            target: target.clone(),
            source,
        })?;
        // For FIFO targets the deduplication id defaults to the envelope's uuid: derived
        // from the row, so a duplicate after a relay crash is dropped by AWS.
        let ids = fifo_ids(
            target,
            self.group_id.as_deref(),
            self.deduplication_id.as_deref(),
            self.envelope.uuid(),
        )
        .map_err(|e| fifo_error(target, e))?;
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
            group_id: ids.group_id,
            deduplication_id: ids.deduplication_id,
            attributes,
        })
    }
}

/// The outbox's error for FIFO ids that do not fit `target`.
fn fifo_error(target: &Target, error: FifoIdError) -> OutboxError {
    let target = target.clone();
    match error {
        FifoIdError::MissingGroupId => OutboxError::MissingGroupId { target },
        FifoIdError::NotFifo => OutboxError::NotFifo { target },
        FifoIdError::BadId { field, value } => OutboxError::BadFifoId { field, value },
    }
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
}
