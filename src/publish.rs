//! Publishing events and commands to the topic or queue that the naming rules give.
//!
//! A [`Publisher`] holds the AWS clients (or, in fake mode, a record of what was sent) and the
//! configured instance and default publisher. For each [`Envelope`] it works out the target:
//!
//! - to a topic (the default): `{instance}-{kind}-fanout-{publisher}-{type}[.fifo]`
//! - to a queue ([`PublishOptions::queue`]): `{instance}-{kind}-queue-{publisher}-{type}[-{dest}][.fifo]`
//! - or a custom name ([`PublishOptions::name`]) as it is, FIFO when it ends in `.fifo`
//!
//! where `kind`, `type` (the name without `event_`/`command_`) and `publisher` come from the
//! envelope, and `dest` and `fifo` from the options. ARNs and queue URLs are built from the
//! region and account (no `CreateTopic` or `GetQueueUrl` call) and cached per name.
//!
//! Every message carries three string message attributes, so that subscription filter
//! policies can select on them without parsing the body:
//!
//! | attribute   | value                                   |
//! |-------------|-----------------------------------------|
//! | `type`      | the envelope type, e.g. `event_user_created` |
//! | `kind`      | `event` or `command`                    |
//! | `publisher` | the envelope's publisher                |
//!
//! plus any given in [`PublishOptions::attributes`] (at most 10 in all, AWS's limit).
//!
//! FIFO targets need a message group id; the deduplication id defaults to the envelope's uuid,
//! so a message published twice (a retry) is delivered once within AWS's 5-minute window.
//!
//! [`Publisher::fake`] records messages instead of sending them, after the same checks, for
//! applications' own tests; read them back with [`Publisher::sent`]. [`Publisher::null`]
//! checks and drops them, keeping nothing: what lariat itself costs, without a network
//! (benchmarks, load tests of a relay).
//!
//! The parts: the options and the target they give ([`PublishOptions`], [`target`]), the
//! checks that build the wire message ([`attributes`], [`message_size`]), the errors
//! ([`PublishError`]), sending in batch calls per target ([`chunk_ranges`]), and the fake and
//! null transports ([`SentMessage`]).
//!
//! ```no_run
//! use lariat::aws::Aws;
//! use lariat::config::AwsSettings;
//! use lariat::naming::NamingDefaults;
//! use lariat::publish::{PublishOptions, Publisher};
//! use serde_json::json;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let aws = Aws::connect(&AwsSettings::default()).await?;
//! let publisher = Publisher::new(aws, NamingDefaults {
//!     instance: "production".into(),
//!     publisher: "auth".into(),
//! });
//! let event = publisher.event("user_created", json!({ "mail": "john.doe@example.com" })).build()?;
//! // production-event-fanout-auth-user_created
//! let sent = publisher.publish(&event, &PublishOptions::topic()).await?;
//! println!("{} {}", sent.uuid, sent.message_id);
//! # Ok(()) }
//! ```

mod batch;
mod check;
mod error;
mod fake;
mod options;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use uuid::Uuid;

use crate::aws::Aws;
use crate::message::{Command, Envelope, Event};
use crate::naming::{NamingDefaults, ResourceKind};

pub use crate::message::Target;
pub use batch::chunk_ranges;
pub(crate) use batch::Stored;
pub use check::{attributes, message_size};
pub use error::PublishError;
pub use fake::SentMessage;
pub use options::{target, PublishOptions};

use batch::{destination, published, Entry};
use check::prepare;
use fake::{drop_message, record};

/// The most messages AWS takes in one `PublishBatch` / `SendMessageBatch` call.
pub const MAX_BATCH_ENTRIES: usize = 10;

/// AWS's default limit on one message, body and attributes together: 256 KiB. It also
/// bounds the sum of all messages in one batch call.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The most message attributes AWS allows on one message.
pub const MAX_ATTRIBUTES: usize = 10;

/// Batch calls to one standard (non-FIFO) target in flight at once, by default.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

/// The attributes every message gets; [`PublishOptions::attributes`] may not set them.
pub const RESERVED_ATTRIBUTES: [&str; 3] = ["type", "kind", "publisher"];

/// A message AWS accepted (or fake mode recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The envelope's uuid.
    pub uuid: Uuid,
    /// The id AWS gave the message (`fake-N` in fake mode).
    pub message_id: String,
    /// The sequence number, on FIFO targets (AWS only; moto leaves it out for topics).
    pub sequence_number: Option<String>,
    /// Where it went.
    pub target: Target,
}

/// Sends messages over AWS, records them in fake mode, or counts and drops them.
enum Transport {
    Aws(Aws),
    Fake(Mutex<Vec<SentMessage>>),
    Null(AtomicU64),
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Aws(_) => f.write_str("Aws"),
            Transport::Fake(_) => f.write_str("Fake"),
            Transport::Null(_) => f.write_str("Null"),
        }
    }
}

/// Publishes envelopes to topics and queues. Cheap to clone; clones share the clients, the
/// address cache and (in fake mode) the record of sent messages.
#[derive(Debug, Clone)]
pub struct Publisher {
    transport: Arc<Transport>,
    defaults: Arc<NamingDefaults>,
    addresses: Arc<Mutex<AddressCache>>,
    max_message_bytes: usize,
    max_in_flight: usize,
}

/// Topic ARNs and queue URLs by resource and name.
type AddressCache = HashMap<(ResourceKind, String), Arc<str>>;

impl Publisher {
    /// A publisher that sends through `aws`; `defaults` give the instance of every standard
    /// name and the publisher of [`Publisher::event`] and [`Publisher::command`].
    pub fn new(aws: Aws, defaults: NamingDefaults) -> Self {
        Self::with_transport(Transport::Aws(aws), defaults)
    }

    fn with_transport(transport: Transport, defaults: NamingDefaults) -> Self {
        Self {
            transport: Arc::new(transport),
            defaults: Arc::new(defaults),
            addresses: Arc::default(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }

    /// Sets the size limit of one message and of one batch call (default 256 KiB). Raise it
    /// only for queues whose `MaximumMessageSize` is larger; SNS takes at most 256 KiB.
    #[must_use]
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Sets how many batch calls to one standard target may be in flight at once (default
    /// 4). Messages to a FIFO target are always sent one call after the other, in order.
    #[must_use]
    pub fn max_in_flight(mut self, calls: usize) -> Self {
        self.max_in_flight = calls.max(1);
        self
    }

    /// The instance and default publisher.
    pub fn defaults(&self) -> &NamingDefaults {
        &self.defaults
    }

    /// Whether this publisher records or drops instead of sending.
    pub fn is_fake(&self) -> bool {
        !matches!(*self.transport, Transport::Aws(_))
    }

    /// Starts an event from the default publisher.
    pub fn event(&self, name: impl Into<String>, data: Value) -> Event {
        Event::new(name, data).publisher(self.defaults.publisher.clone())
    }

    /// Starts a command from the default publisher.
    pub fn command(&self, name: impl Into<String>, data: Value) -> Command {
        Command::new(name, data).publisher(self.defaults.publisher.clone())
    }

    /// The topic or queue `envelope` goes to with `options`.
    pub fn target(
        &self,
        envelope: &Envelope,
        options: &PublishOptions,
    ) -> Result<Target, PublishError> {
        target(&self.defaults.instance, envelope, options)
    }

    /// Publishes one message with one `sns:Publish` or `sqs:SendMessage` call.
    pub async fn publish(
        &self,
        envelope: &Envelope,
        options: &PublishOptions,
    ) -> Result<Published, PublishError> {
        let target = self.target(envelope, options)?;
        let out = prepare(envelope, options, &target, self.max_message_bytes)?;
        match &*self.transport {
            Transport::Fake(log) => {
                let entry = Entry {
                    index: 0,
                    uuid: envelope.uuid(),
                    out,
                    envelope: Some(envelope.clone()),
                };
                record(log, &target, entry)
            }
            Transport::Null(count) => Ok(drop_message(count, &target, envelope.uuid())),
            Transport::Aws(aws) => {
                let address = self.address(aws, &target);
                let accepted = aws
                    .send_message(destination(&target, &address), &out)
                    .await
                    .map_err(|e| PublishError::from_aws(e, &target))?;
                Ok(published(envelope.uuid(), accepted, &target))
            }
        }
    }

    /// Publishes many messages with the same options; see [`Publisher::publish_many`].
    pub async fn publish_batch(
        &self,
        envelopes: &[Envelope],
        options: &PublishOptions,
    ) -> Vec<Result<Published, PublishError>> {
        let items: Vec<(&Envelope, &PublishOptions)> =
            envelopes.iter().map(|e| (e, options)).collect();
        self.publish_many(&items).await
    }

    /// Publishes many messages, each with its own options, in batch calls of up to 10
    /// messages and 256 KiB per target. Returns one result per message, in input order.
    ///
    /// A message that fails a check (size, FIFO ids, attributes, name) gets its error and the
    /// others are still sent. Messages to one FIFO target are sent in input order, one call
    /// after the other; once a message of a FIFO group fails, the later messages of that group
    /// are not sent ([`PublishError::NotSent`]), so the group's order holds.
    pub async fn publish_many(
        &self,
        messages: &[(&Envelope, &PublishOptions)],
    ) -> Vec<Result<Published, PublishError>> {
        let records = matches!(*self.transport, Transport::Fake(_));
        let prepared = messages.iter().map(|(envelope, options)| {
            let target = self.target(envelope, options)?;
            let out = prepare(envelope, options, &target, self.max_message_bytes)?;
            let kept = records.then(|| (*envelope).clone());
            Ok((target, envelope.uuid(), out, kept))
        });
        self.send_prepared(prepared.collect()).await
    }
}
