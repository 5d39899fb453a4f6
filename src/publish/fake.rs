//! Publishing without AWS: a fake publisher records each message as it would have been sent
//! ([`SentMessage`]), for applications' own tests; a null one counts and drops it, to
//! measure lariat's own cost. Both run every check a real publisher runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

use super::batch::Entry;
use super::{PublishError, Published, Publisher, Target, Transport};
use crate::message::Envelope;
use crate::naming::NamingDefaults;

/// A message recorded by a fake publisher, exactly as it would have been sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// Where it would have gone.
    pub target: Target,
    /// The message.
    pub envelope: Envelope,
    /// The body, as JSON text.
    pub body: String,
    /// The message attributes, the standard ones included.
    pub attributes: BTreeMap<String, String>,
    /// The FIFO group id.
    pub group_id: Option<String>,
    /// The FIFO deduplication id.
    pub deduplication_id: Option<String>,
    /// The id returned to the caller: `fake-1`, `fake-2`, ...
    pub message_id: String,
}

impl Publisher {
    /// A publisher that records messages instead of sending them, for tests. It runs every
    /// check a real one does (names, FIFO ids, attributes, size) and returns ids `fake-1`,
    /// `fake-2`, ...; read the messages with [`Publisher::sent`].
    pub fn fake(defaults: NamingDefaults) -> Self {
        Self::with_transport(Transport::Fake(Mutex::new(Vec::new())), defaults)
    }

    /// A publisher that runs every check a real one does, then drops the message: no
    /// network, no record. It returns ids `null-1`, `null-2`, ...; [`Publisher::dropped`]
    /// counts them. For measuring lariat's own cost per message, and a relay's ceiling.
    pub fn null(defaults: NamingDefaults) -> Self {
        Self::with_transport(Transport::Null(AtomicU64::new(0)), defaults)
    }

    /// How many messages a [`Publisher::null`] has dropped; 0 for any other.
    pub fn dropped(&self) -> u64 {
        match &*self.transport {
            Transport::Null(count) => count.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// Every message a fake publisher recorded, oldest first; empty for a real one.
    pub fn sent(&self) -> Vec<SentMessage> {
        match &*self.transport {
            Transport::Fake(log) => log.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            Transport::Aws(_) | Transport::Null(_) => Vec::new(),
        }
    }

    /// Removes and returns what a fake publisher recorded; empty for a real one.
    pub fn take_sent(&self) -> Vec<SentMessage> {
        match &*self.transport {
            Transport::Fake(log) => {
                std::mem::take(&mut *log.lock().unwrap_or_else(PoisonError::into_inner))
            }
            Transport::Aws(_) | Transport::Null(_) => Vec::new(),
        }
    }
}

pub(super) fn record(
    log: &Mutex<Vec<SentMessage>>,
    target: &Target,
    entry: Entry,
) -> Result<Published, PublishError> {
    let out = entry.out;
    let envelope = match entry.envelope {
        Some(envelope) => envelope,
        // A stored body: the record shows it as it would be sent, and what it reads as.
        None => Envelope::from_json(&out.body).map_err(|e| PublishError::Request {
            target: target.clone(),
            code: None,
            message: format!("the stored body is not a valid envelope: {e}"),
        })?,
    };
    let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
    let message_id = format!("fake-{}", log.len() + 1);
    log.push(SentMessage {
        target: target.clone(),
        body: out.body,
        attributes: out.attributes,
        group_id: out.group_id,
        deduplication_id: out.deduplication_id,
        message_id: message_id.clone(),
        envelope,
    });
    Ok(Published {
        uuid: entry.uuid,
        message_id,
        sequence_number: None,
        target: target.clone(),
    })
}

/// Counts a message a null publisher drops.
pub(super) fn drop_message(count: &AtomicU64, target: &Target, uuid: Uuid) -> Published {
    let n = count.fetch_add(1, Ordering::Relaxed) + 1;
    Published {
        uuid,
        message_id: format!("null-{n}"),
        sequence_number: None,
        target: target.clone(),
    }
}
