//! How and where to publish one message ([`PublishOptions`]), and the topic or queue that
//! gives ([`target`]): a custom name as it is, or the standard name of the naming rules.

use std::collections::BTreeMap;

use super::{PublishError, Target};
use crate::message::Envelope;
use crate::naming::{self, NameParts, ResourceKind};

/// How and where to publish one message.
///
/// Start from [`PublishOptions::topic`] or [`PublishOptions::queue`]; every field is public
/// and [`Default`] is "to the standard topic".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Topic (the default, which fans out to its subscribers) or queue (directly).
    pub via: ResourceKind,
    /// The consuming service, the last part of a queue name (queues only).
    pub dest: Option<String>,
    /// Whether the target is FIFO (adds `.fifo` to a standard name).
    pub fifo: bool,
    /// A custom topic or queue name that bypasses the naming rules.
    pub name: Option<String>,
    /// The FIFO message group id; required for FIFO targets.
    pub group_id: Option<String>,
    /// The FIFO deduplication id [default: the envelope's uuid].
    pub deduplication_id: Option<String>,
    /// Extra string message attributes (names other than [`RESERVED_ATTRIBUTES`](super::RESERVED_ATTRIBUTES)).
    pub attributes: BTreeMap<String, String>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            via: ResourceKind::Topic,
            dest: None,
            fifo: false,
            name: None,
            group_id: None,
            deduplication_id: None,
            attributes: BTreeMap::new(),
        }
    }
}

impl PublishOptions {
    /// To the topic the naming rules give.
    pub fn topic() -> Self {
        Self::default()
    }

    /// Straight to the queue the naming rules give.
    pub fn queue() -> Self {
        Self {
            via: ResourceKind::Queue,
            ..Self::default()
        }
    }

    /// Sets the queue's `dest` part.
    #[must_use]
    pub fn dest(mut self, dest: impl Into<String>) -> Self {
        self.dest = Some(dest.into());
        self
    }

    /// Makes the target FIFO, with the message group whose order is kept.
    #[must_use]
    pub fn fifo(mut self, group_id: impl Into<String>) -> Self {
        self.fifo = true;
        self.group_id = Some(group_id.into());
        self
    }

    /// Sets the FIFO deduplication id (instead of the envelope's uuid).
    #[must_use]
    pub fn deduplication_id(mut self, id: impl Into<String>) -> Self {
        self.deduplication_id = Some(id.into());
        self
    }

    /// Sends to this topic or queue name instead of the standard one.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a string message attribute.
    #[must_use]
    pub fn attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }
}

/// The target of a message: the custom name, or the standard name from the instance, the
/// envelope (kind, publisher, type) and the options (topic or queue, dest, fifo).
pub fn target(
    instance: &str,
    envelope: &Envelope,
    options: &PublishOptions,
) -> Result<Target, PublishError> {
    let resource = options.via;
    if let Some(name) = &options.name {
        return named_target(resource, name, options.fifo);
    }
    if let (ResourceKind::Topic, Some(dest)) = (resource, &options.dest) {
        return Err(PublishError::DestOnTopic { dest: dest.clone() });
    }
    let parts = NameParts {
        instance: instance.to_owned(),
        kind: envelope.kind(),
        publisher: envelope.publisher().to_owned(),
        message_type: envelope.name().to_owned(),
        dest: options.dest.clone(),
        fifo: options.fifo,
    };
    let name = parts
        .name(resource)
        .map_err(|source| PublishError::Name { source })?;
    Ok(Target { resource, name })
}

/// A custom name as a target: FIFO when it ends in `.fifo`; with `fifo` set, it must.
pub(super) fn named_target(
    resource: ResourceKind,
    name: &str,
    fifo: bool,
) -> Result<Target, PublishError> {
    let target = Target {
        resource,
        name: name.to_owned(),
    };
    naming::validate_name(name, fifo || target.fifo())
        .map_err(|source| PublishError::Name { source })?;
    Ok(target)
}
