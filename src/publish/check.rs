//! The checks every message passes before it is sent, in every mode: message attributes
//! (the standard three and the extra ones), FIFO ids, and the size AWS counts; the result is
//! the wire message.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{PublishError, PublishOptions, Target, MAX_ATTRIBUTES, RESERVED_ATTRIBUTES};
use crate::aws::publish::{OutMessage, STRING};
use crate::message::target::{fifo_ids, FifoIdError};
use crate::message::Envelope;

/// The longest message attribute name AWS accepts.
const MAX_ATTRIBUTE_NAME_LEN: usize = 256;

/// The values of the standard attributes `type`, `kind` and `publisher`.
pub(super) struct StandardAttributes<'a> {
    pub(super) message_type: &'a str,
    pub(super) kind: &'a str,
    pub(super) publisher: &'a str,
}

/// The message attributes of an envelope: the standard ones plus the extra ones, checked.
pub fn attributes(
    envelope: &Envelope,
    extra: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, PublishError> {
    let message_type = envelope.message_type().to_string();
    let standard = StandardAttributes {
        message_type: &message_type,
        kind: envelope.kind().as_str(),
        publisher: envelope.publisher(),
    };
    attributes_of(&standard, extra)
}

pub(super) fn attributes_of(
    standard: &StandardAttributes<'_>,
    extra: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, PublishError> {
    let count = RESERVED_ATTRIBUTES.len() + extra.len();
    if count > MAX_ATTRIBUTES {
        return Err(PublishError::TooManyAttributes { count });
    }
    let mut attributes = BTreeMap::from([
        ("type".to_owned(), standard.message_type.to_owned()),
        ("kind".to_owned(), standard.kind.to_owned()),
        ("publisher".to_owned(), standard.publisher.to_owned()),
    ]);
    for (name, value) in extra {
        check_attribute(name, value)?;
        attributes.insert(name.clone(), value.clone());
    }
    Ok(attributes)
}

fn check_attribute(name: &str, value: &str) -> Result<(), PublishError> {
    let bad = |reason| {
        Err(PublishError::BadAttribute {
            name: name.to_owned(),
            reason,
        })
    };
    if RESERVED_ATTRIBUTES.contains(&name) {
        return bad("lariat sets it on every message; choose another name");
    }
    if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME_LEN {
        return bad("names are 1 to 256 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return bad("names may contain only A-Z a-z 0-9 _ - .");
    }
    if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        return bad("names may not start or end with `.` or contain `..`");
    }
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        return bad("names starting with `AWS.` or `Amazon.` are reserved by AWS");
    }
    if value.is_empty() {
        return bad("the value is empty; AWS refuses empty string attributes");
    }
    Ok(())
}

/// The publisher's error for FIFO ids that do not fit `target`.
fn fifo_error(target: &Target, error: FifoIdError) -> PublishError {
    let target = target.clone();
    match error {
        FifoIdError::MissingGroupId => PublishError::MissingGroupId { target },
        FifoIdError::NotFifo => PublishError::NotFifo { target },
        FifoIdError::BadId { field, value } => PublishError::BadFifoId { field, value },
    }
}

/// The size AWS counts against its limit: the body plus each attribute's name, data type
/// and value.
pub fn message_size(message: &OutMessage) -> usize {
    message.body.len()
        + message
            .attributes
            .iter()
            .map(|(name, value)| name.len() + STRING.len() + value.len())
            .sum::<usize>()
}

/// Builds the wire message and runs every check that does not need AWS.
pub(super) fn prepare(
    envelope: &Envelope,
    options: &PublishOptions,
    target: &Target,
    max_bytes: usize,
) -> Result<OutMessage, PublishError> {
    let message_type = envelope.message_type().to_string();
    let standard = StandardAttributes {
        message_type: &message_type,
        kind: envelope.kind().as_str(),
        publisher: envelope.publisher(),
    };
    finish(
        envelope.uuid(),
        envelope.to_json(),
        &standard,
        options,
        target,
        max_bytes,
    )
}

/// The wire message of a serialized envelope, after every check that does not need AWS.
pub(super) fn finish(
    uuid: Uuid,
    body: String,
    standard: &StandardAttributes<'_>,
    options: &PublishOptions,
    target: &Target,
    max_bytes: usize,
) -> Result<OutMessage, PublishError> {
    let ids = fifo_ids(
        target,
        options.group_id.as_deref(),
        options.deduplication_id.as_deref(),
        uuid,
    )
    .map_err(|e| fifo_error(target, e))?;
    let out = OutMessage {
        id: String::new(),
        body,
        attributes: attributes_of(standard, &options.attributes)?,
        group_id: ids.group_id,
        deduplication_id: ids.deduplication_id,
    };
    let size = message_size(&out);
    if size > max_bytes {
        return Err(PublishError::TooLarge {
            uuid,
            size,
            max: max_bytes,
        });
    }
    Ok(out)
}
