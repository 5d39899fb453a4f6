//! Where a message goes: a topic or queue by its full name, FIFO when the name ends in
//! `.fifo`, and the FIFO ids AWS requires of a message to it.
//!
//! The publisher, the outbox, its relay and the inbox all speak of targets with this one
//! type, and check FIFO ids with one function (`fifo_ids`), so a message the outbox accepts is one the
//! publisher accepts too.

use std::fmt;

use uuid::Uuid;

use crate::naming::{self, NameError, ResourceKind, FIFO_SUFFIX};

/// The longest FIFO group or deduplication id AWS accepts.
pub const MAX_FIFO_ID_LEN: usize = 128;

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
        is_fifo(&self.name)
    }

    /// Checks the name against AWS limits.
    pub fn validate(&self) -> Result<(), NameError> {
        naming::validate_name(&self.name, self.fifo())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.resource, self.name)
    }
}

/// Whether a topic or queue of this name is FIFO: AWS requires FIFO names to end in `.fifo`
/// and no other name may.
pub fn is_fifo(name: &str) -> bool {
    name.ends_with(FIFO_SUFFIX)
}

/// The FIFO ids a message is sent with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FifoIds {
    /// The message group id; set exactly when the target is FIFO.
    pub group_id: Option<String>,
    /// The deduplication id; set exactly when the target is FIFO.
    pub deduplication_id: Option<String>,
}

/// Why a message's FIFO ids do not fit its target; each caller maps it to its own error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FifoIdError {
    /// A FIFO target without a message group id.
    MissingGroupId,
    /// A group or deduplication id for a standard target.
    NotFifo,
    /// A group or deduplication id AWS would refuse.
    BadId {
        /// `group id` or `deduplication id`.
        field: &'static str,
        /// The rejected id, cut to a little more than AWS allows.
        value: String,
    },
}

/// The FIFO ids of a message with `uuid` to `target`: a FIFO target needs a group id and
/// gets `uuid` as deduplication id unless one is given, so a retry is delivered once; a
/// standard target takes neither. Each id must be 1 to [`MAX_FIFO_ID_LEN`] printable ASCII
/// characters without spaces.
pub(crate) fn fifo_ids(
    target: &Target,
    group_id: Option<&str>,
    deduplication_id: Option<&str>,
    uuid: Uuid,
) -> Result<FifoIds, FifoIdError> {
    if !target.fifo() {
        if group_id.is_some() || deduplication_id.is_some() {
            return Err(FifoIdError::NotFifo);
        }
        return Ok(FifoIds::default());
    }
    let group_id = group_id.ok_or(FifoIdError::MissingGroupId)?;
    check_fifo_id("group id", group_id)?;
    let deduplication_id = match deduplication_id {
        Some(id) => id.to_owned(),
        None => uuid.to_string(),
    };
    check_fifo_id("deduplication id", &deduplication_id)?;
    Ok(FifoIds {
        group_id: Some(group_id.to_owned()),
        deduplication_id: Some(deduplication_id),
    })
}

fn check_fifo_id(field: &'static str, value: &str) -> Result<(), FifoIdError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_FIFO_ID_LEN
        && value.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        return Ok(());
    }
    Err(FifoIdError::BadId {
        field,
        value: value.chars().take(MAX_FIFO_ID_LEN + 8).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_comes_from_the_name() {
        assert!(Target::queue("q.fifo").fifo());
        assert!(!Target::topic("t").fifo());
        assert_eq!(Target::topic("t").to_string(), "topic t");
        assert!(Target::queue("bad name").validate().is_err());
        assert!(Target::queue("q.fifo").validate().is_ok());
    }

    #[test]
    fn fifo_ids_fit_the_target() {
        let uuid = Uuid::nil();
        let fifo = Target::queue("q.fifo");
        let ids = fifo_ids(&fifo, Some("g"), None, uuid).expect("valid");
        assert_eq!(ids.group_id.as_deref(), Some("g"));
        assert_eq!(ids.deduplication_id, Some(uuid.to_string()));
        let ids = fifo_ids(&fifo, Some("g"), Some("d"), uuid).expect("valid");
        assert_eq!(ids.deduplication_id.as_deref(), Some("d"));
        assert_eq!(
            fifo_ids(&fifo, None, Some("d"), uuid),
            Err(FifoIdError::MissingGroupId)
        );
        for bad in ["", "has space", &"x".repeat(129), "caf\u{e9}"] {
            assert!(
                matches!(
                    fifo_ids(&fifo, Some(bad), None, uuid),
                    Err(FifoIdError::BadId {
                        field: "group id",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            fifo_ids(&fifo, Some("g"), Some(""), uuid),
            Err(FifoIdError::BadId {
                field: "deduplication id",
                ..
            })
        ));
        let standard = Target::topic("t");
        assert_eq!(
            fifo_ids(&standard, None, None, uuid),
            Ok(FifoIds::default())
        );
        assert_eq!(
            fifo_ids(&standard, None, Some("d"), uuid),
            Err(FifoIdError::NotFifo)
        );
    }
}
