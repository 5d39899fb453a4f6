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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::stream::{self, StreamExt};
use serde_json::Value;
use uuid::Uuid;

use crate::aws::publish::{Accepted, BatchOutcome, Destination, OutMessage};
use crate::aws::{Aws, AwsError};
use crate::message::target::{fifo_ids, FifoIdError, MAX_FIFO_ID_LEN};
use crate::message::{Command, Envelope, Event};
use crate::naming::{self, NameError, NameParts, NamingDefaults, ResourceKind};

pub use crate::message::Target;

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

/// The longest message attribute name AWS accepts.
const MAX_ATTRIBUTE_NAME_LEN: usize = 256;

/// The data type every attribute is sent with; counted in the message size.
const STRING_TYPE: &str = "String";

/// SNS or SQS error codes meaning "no such topic / queue".
const NOT_FOUND_CODES: [&str; 4] = [
    "NotFound",
    "NotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

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
    /// Extra string message attributes (names other than [`RESERVED_ATTRIBUTES`]).
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

/// Why a message was not published. Every variant is cloneable, so one failed batch call can
/// be reported on each of its messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The standard name cannot be built (a part breaks the naming rules or is too long).
    #[error("cannot name the topic or queue for this message: {source}")]
    Name {
        /// What the naming rules say.
        #[source]
        source: NameError,
    },
    /// `dest` was given for a topic.
    #[error("`dest` ({dest}) is part of queue names only: publish to the queue (`PublishOptions::queue`, `--to-queue`) or leave dest out")]
    DestOnTopic {
        /// The dest given.
        dest: String,
    },
    /// A FIFO target without a message group id.
    #[error(
        "{target} is FIFO: give a message group id (`PublishOptions::fifo(group)`, `--group`)"
    )]
    MissingGroupId {
        /// The target.
        target: Target,
    },
    /// A group or deduplication id for a standard target.
    #[error("{target} is not FIFO: group and deduplication ids are only for FIFO topics and queues (set `fifo`, `--fifo`, or a name ending in `.fifo`)")]
    NotFifo {
        /// The target.
        target: Target,
    },
    /// A group or deduplication id AWS would refuse.
    #[error("{field} `{value}` must be 1 to {MAX_FIFO_ID_LEN} printable ASCII characters without spaces")]
    BadFifoId {
        /// `group id` or `deduplication id`.
        field: &'static str,
        /// The rejected id.
        value: String,
    },
    /// A message attribute AWS would refuse, or one of the standard ones.
    #[error("message attribute `{name}`: {reason}")]
    BadAttribute {
        /// The attribute name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// More message attributes than AWS allows.
    #[error("a message may have at most {MAX_ATTRIBUTES} attributes, {} of them standard (type, kind, publisher); {count} were given", RESERVED_ATTRIBUTES.len())]
    TooManyAttributes {
        /// Attributes in all, standard ones included.
        count: usize,
    },
    /// The message is over the size limit; nothing was sent for it.
    #[error("message {uuid} is {size} bytes (body and attributes); at most {max} fit in one message: store the payload elsewhere and send a reference")]
    TooLarge {
        /// The message.
        uuid: Uuid,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The topic or queue does not exist.
    #[error("{target} does not exist: create it in a migration and run `lariat migrate` (check the instance, publisher, type, dest and fifo that make up its name)")]
    NotFound {
        /// The target.
        target: Target,
    },
    /// AWS rejected this entry of a batch call that otherwise succeeded.
    #[error("{target} rejected message {uuid}: {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Rejected {
        /// The target.
        target: Target,
        /// The message.
        uuid: Uuid,
        /// The AWS error code.
        code: String,
        /// What AWS said.
        message: Option<String>,
        /// True when the message itself is at fault; false when a retry may succeed.
        sender_fault: bool,
    },
    /// The call failed as a whole (after the SDK's retries).
    #[error("sending to {target} failed: {message}")]
    Request {
        /// The target.
        target: Target,
        /// The AWS error code, when there is one.
        code: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// Not sent because an earlier message of the same FIFO group failed: sending it would
    /// break the group's order.
    #[error("message {uuid} was not sent: message {failed} before it in FIFO group `{group_id}` of {target} failed, and sending it would break the group's order")]
    NotSent {
        /// The target.
        target: Target,
        /// This message.
        uuid: Uuid,
        /// The group.
        group_id: String,
        /// The earlier message that failed.
        failed: Uuid,
    },
    /// AWS answered a batch call without a result for this entry.
    #[error(
        "{target} answered without a result for message {uuid}; it may or may not have been sent"
    )]
    NoAnswer {
        /// The target.
        target: Target,
        /// The message.
        uuid: Uuid,
    },
}

impl PublishError {
    /// Whether trying the same message again later may succeed (throttling, network or
    /// server-side failures), as opposed to a message or setup that must be fixed first.
    pub fn is_transient(&self) -> bool {
        match self {
            PublishError::Rejected { sender_fault, .. } => !sender_fault,
            PublishError::Request { .. }
            | PublishError::NotSent { .. }
            | PublishError::NoAnswer { .. } => true,
            _ => false,
        }
    }

    fn from_aws(err: AwsError, target: &Target) -> PublishError {
        let code = err.code().map(str::to_owned);
        if code
            .as_deref()
            .is_some_and(|c| NOT_FOUND_CODES.contains(&c))
        {
            return PublishError::NotFound {
                target: target.clone(),
            };
        }
        PublishError::Request {
            target: target.clone(),
            code,
            message: err.reason(),
        }
    }
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

/// One message of a batch, ready to send, with its place in the caller's input.
struct Entry {
    index: usize,
    uuid: Uuid,
    out: OutMessage,
    /// Kept for the record of a fake publisher only.
    envelope: Option<Envelope>,
}

/// A message in its wire form already (an outbox row's stored body), with the envelope
/// fields its standard attributes come from; sent as it is, without being read again.
#[derive(Debug)]
pub(crate) struct Stored<'a> {
    /// The envelope's uuid.
    pub uuid: Uuid,
    /// The envelope as JSON text.
    pub body: &'a str,
    /// `event_…` or `command_…`.
    pub message_type: &'a str,
    /// `event` or `command`.
    pub kind: &'static str,
    /// The envelope's publisher.
    pub publisher: &'a str,
    /// Where it goes: [`PublishOptions::name`] must be set.
    pub options: &'a PublishOptions,
}

type Outcome = (usize, Result<Published, PublishError>);

/// A checked message: its target, uuid, wire form and (for a recording fake) envelope.
type Prepared = Result<(Target, Uuid, OutMessage, Option<Envelope>), PublishError>;

/// Topic ARNs and queue URLs by resource and name.
type AddressCache = HashMap<(ResourceKind, String), Arc<str>>;

impl Publisher {
    /// A publisher that sends through `aws`; `defaults` give the instance of every standard
    /// name and the publisher of [`Publisher::event`] and [`Publisher::command`].
    pub fn new(aws: Aws, defaults: NamingDefaults) -> Self {
        Self::with_transport(Transport::Aws(aws), defaults)
    }

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

    /// Publishes messages whose bodies are serialized already, as they are, like
    /// [`Publisher::publish_many`]. A fake publisher records each with the envelope it reads
    /// as.
    pub(crate) async fn publish_stored(
        &self,
        messages: &[Stored<'_>],
    ) -> Vec<Result<Published, PublishError>> {
        let prepared = messages.iter().map(|m| {
            let options = m.options;
            let name = options.name.as_deref().unwrap_or_default();
            let target = named_target(options.via, name, options.fifo)?;
            let standard = StandardAttributes {
                message_type: m.message_type,
                kind: m.kind,
                publisher: m.publisher,
            };
            let body = m.body.to_owned();
            let out = finish(
                m.uuid,
                body,
                &standard,
                options,
                &target,
                self.max_message_bytes,
            )?;
            Ok((target, m.uuid, out, None))
        });
        self.send_prepared(prepared.collect()).await
    }

    /// Sends checked messages per target, in batch calls; one result per message, in order.
    async fn send_prepared(&self, prepared: Vec<Prepared>) -> Vec<Result<Published, PublishError>> {
        let mut results: Vec<Option<Result<Published, PublishError>>> =
            (0..prepared.len()).map(|_| None).collect();
        let mut by_target: Vec<(Target, Vec<Entry>)> = Vec::new();
        for (index, prepared) in prepared.into_iter().enumerate() {
            let (target, uuid, mut out, envelope) = match prepared {
                Ok(p) => p,
                Err(e) => {
                    results[index] = Some(Err(e));
                    continue;
                }
            };
            out.id = index.to_string();
            let entry = Entry {
                index,
                uuid,
                out,
                envelope,
            };
            match by_target.iter_mut().find(|(t, _)| *t == target) {
                Some((_, entries)) => entries.push(entry),
                None => by_target.push((target, vec![entry])),
            }
        }
        let sends = by_target
            .into_iter()
            .map(|(target, entries)| self.send_to_target(target, entries));
        for (index, result) in futures::future::join_all(sends).await.into_iter().flatten() {
            results[index] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| unreachable!("every message gets a result")))
            .collect()
    }

    async fn send_to_target(&self, target: Target, entries: Vec<Entry>) -> Vec<Outcome> {
        let sizes: Vec<usize> = entries.iter().map(|e| message_size(&e.out)).collect();
        let ranges = chunk_ranges(&sizes, MAX_BATCH_ENTRIES, self.max_message_bytes);
        let mut entries = entries.into_iter();
        let chunks: Vec<Vec<Entry>> = ranges
            .iter()
            .map(|r| entries.by_ref().take(r.len()).collect())
            .collect();
        if !target.fifo() {
            return stream::iter(chunks)
                .map(|chunk| self.send_chunk(&target, chunk))
                .buffered(self.max_in_flight)
                .flat_map(stream::iter)
                .collect()
                .await;
        }
        let mut failed_groups: HashMap<String, Uuid> = HashMap::new();
        let mut outcomes = Vec::new();
        for chunk in chunks {
            let (blocked, to_send): (Vec<Entry>, Vec<Entry>) = chunk
                .into_iter()
                .partition(|e| group_of(e).is_some_and(|g| failed_groups.contains_key(g)));
            for entry in blocked {
                let group_id = group_of(&entry).unwrap_or_default().to_owned();
                let failed = failed_groups.get(&group_id).copied().unwrap_or_default();
                let err = PublishError::NotSent {
                    target: target.clone(),
                    uuid: entry.uuid,
                    group_id,
                    failed,
                };
                outcomes.push((entry.index, Err(err)));
            }
            let groups: HashMap<usize, (String, Uuid)> = to_send
                .iter()
                .filter_map(|e| group_of(e).map(|g| (e.index, (g.to_owned(), e.uuid))))
                .collect();
            for (index, result) in self.send_chunk(&target, to_send).await {
                if let (Err(_), Some((group, uuid))) = (&result, groups.get(&index)) {
                    failed_groups.entry(group.clone()).or_insert(*uuid);
                }
                outcomes.push((index, result));
            }
        }
        outcomes
    }

    async fn send_chunk(&self, target: &Target, chunk: Vec<Entry>) -> Vec<Outcome> {
        if chunk.is_empty() {
            return Vec::new();
        }
        let aws = match &*self.transport {
            Transport::Fake(log) => {
                return chunk
                    .into_iter()
                    .map(|e| (e.index, record(log, target, e)))
                    .collect();
            }
            Transport::Null(count) => {
                return chunk
                    .into_iter()
                    .map(|e| (e.index, Ok(drop_message(count, target, e.uuid))))
                    .collect();
            }
            Transport::Aws(aws) => aws,
        };
        let address = self.address(aws, target);
        let outs: Vec<OutMessage> = chunk.iter().map(|e| e.out.clone()).collect();
        match aws
            .send_message_batch(destination(target, &address), &outs)
            .await
        {
            Ok(outcome) => match_outcome(target, &chunk, outcome),
            Err(err) => {
                let err = PublishError::from_aws(err, target);
                chunk.iter().map(|e| (e.index, Err(err.clone()))).collect()
            }
        }
    }

    /// The topic ARN or queue URL, built once per name.
    fn address(&self, aws: &Aws, target: &Target) -> Arc<str> {
        let mut cache = self
            .addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .entry((target.resource, target.name.clone()))
            .or_insert_with(|| {
                match target.resource {
                    ResourceKind::Topic => aws.arns().topic(&target.name),
                    ResourceKind::Queue => aws.queue_url(&target.name),
                }
                .into()
            })
            .clone()
    }
}

fn group_of(entry: &Entry) -> Option<&str> {
    entry.out.group_id.as_deref()
}

fn destination<'a>(target: &Target, address: &'a str) -> Destination<'a> {
    match target.resource {
        ResourceKind::Topic => Destination::Topic(address),
        ResourceKind::Queue => Destination::Queue(address),
    }
}

fn published(uuid: Uuid, accepted: Accepted, target: &Target) -> Published {
    Published {
        uuid,
        message_id: accepted.message_id,
        sequence_number: accepted.sequence_number,
        target: target.clone(),
    }
}

/// Pairs a batch answer with the entries sent, by entry id.
fn match_outcome(target: &Target, chunk: &[Entry], outcome: BatchOutcome) -> Vec<Outcome> {
    let mut accepted: HashMap<String, Accepted> = outcome
        .successful
        .into_iter()
        .map(|a| (a.id.clone(), a))
        .collect();
    let mut failed: HashMap<String, _> = outcome
        .failed
        .into_iter()
        .map(|f| (f.id.clone(), f))
        .collect();
    chunk
        .iter()
        .map(|e| {
            let result = if let Some(a) = accepted.remove(&e.out.id) {
                Ok(published(e.uuid, a, target))
            } else if let Some(f) = failed.remove(&e.out.id) {
                Err(PublishError::Rejected {
                    target: target.clone(),
                    uuid: e.uuid,
                    code: f.code,
                    message: f.message,
                    sender_fault: f.sender_fault,
                })
            } else {
                Err(PublishError::NoAnswer {
                    target: target.clone(),
                    uuid: e.uuid,
                })
            };
            (e.index, result)
        })
        .collect()
}

fn record(
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
fn drop_message(count: &AtomicU64, target: &Target, uuid: Uuid) -> Published {
    let n = count.fetch_add(1, Ordering::Relaxed) + 1;
    Published {
        uuid,
        message_id: format!("null-{n}"),
        sequence_number: None,
        target: target.clone(),
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
fn named_target(resource: ResourceKind, name: &str, fifo: bool) -> Result<Target, PublishError> {
    let target = Target {
        resource,
        name: name.to_owned(),
    };
    naming::validate_name(name, fifo || target.fifo())
        .map_err(|source| PublishError::Name { source })?;
    Ok(target)
}

/// The values of the standard attributes `type`, `kind` and `publisher`.
struct StandardAttributes<'a> {
    message_type: &'a str,
    kind: &'a str,
    publisher: &'a str,
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

fn attributes_of(
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
            .map(|(name, value)| name.len() + STRING_TYPE.len() + value.len())
            .sum::<usize>()
}

/// Builds the wire message and runs every check that does not need AWS.
fn prepare(
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
fn finish(
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

/// Splits messages of the given sizes, in order, into runs of at most `max_count` messages
/// and `max_bytes` bytes (a single message over `max_bytes` gets a run of its own).
pub fn chunk_ranges(
    sizes: &[usize],
    max_count: usize,
    max_bytes: usize,
) -> Vec<std::ops::Range<usize>> {
    let max_count = max_count.max(1);
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        let full = i - start == max_count || (i > start && bytes + size > max_bytes);
        if full {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> NamingDefaults {
        NamingDefaults {
            instance: "test".into(),
            publisher: "auth".into(),
        }
    }

    fn event(name: &str) -> Envelope {
        Event::new(name, json!({ "mail": "john.doe@example.com" }))
            .publisher("auth")
            .build()
            .expect("valid event")
    }

    fn command(name: &str) -> Envelope {
        Command::new(name, json!({}))
            .publisher("cyclone_lariat")
            .build()
            .expect("valid command")
    }

    fn name_of(envelope: &Envelope, options: &PublishOptions) -> String {
        target("test", envelope, options).expect("target").name
    }

    #[test]
    fn standard_names_follow_the_gem() {
        let register = command("register_user");
        assert_eq!(
            name_of(&register, &PublishOptions::topic()),
            "test-command-fanout-cyclone_lariat-register_user"
        );
        let e = Event::new("register_user", json!({}))
            .publisher("cyclone_lariat")
            .build()
            .expect("valid");
        assert_eq!(
            name_of(&e, &PublishOptions::queue().dest("mailer")),
            "test-event-queue-cyclone_lariat-register_user-mailer"
        );
        assert_eq!(
            name_of(&event("note_added"), &PublishOptions::topic().fifo("g")),
            "test-event-fanout-auth-note_added.fifo"
        );
        assert_eq!(
            name_of(&event("note_added"), &PublishOptions::queue()),
            "test-event-queue-auth-note_added"
        );
        let t = target("test", &event("x"), &PublishOptions::queue().fifo("g")).expect("target");
        assert_eq!(
            (t.resource, t.fifo(), t.to_string()),
            (
                ResourceKind::Queue,
                true,
                "queue test-event-queue-auth-x.fifo".to_owned()
            )
        );
    }

    #[test]
    fn custom_names_bypass_the_rule() {
        let t = target(
            "test",
            &event("x"),
            &PublishOptions::queue().name("custom_topic_name.fifo"),
        )
        .expect("target");
        assert_eq!(t.name, "custom_topic_name.fifo");
        assert!(t.fifo, "a .fifo name is FIFO");
        let err = target("test", &event("x"), &PublishOptions::topic().name("a b"));
        assert!(matches!(err, Err(PublishError::Name { .. })), "{err:?}");
        let mismatch = target(
            "test",
            &event("x"),
            &PublishOptions::topic().name("plain").fifo("g"),
        );
        assert!(
            matches!(mismatch, Err(PublishError::Name { .. })),
            "{mismatch:?}"
        );
    }

    #[test]
    fn bad_targets_are_explained() {
        let err = target("test", &event("x"), &PublishOptions::topic().dest("mailer"))
            .expect_err("dest on a topic");
        assert!(err.to_string().contains("--to-queue"), "{err}");
        let hyphen = Event::new("x", json!({}))
            .publisher("my-app")
            .build()
            .expect("the envelope allows it");
        let err = target("test", &hyphen, &PublishOptions::topic()).expect_err("hyphen");
        assert!(err.to_string().contains("publisher `my-app`"), "{err}");
        let long = event(&"a".repeat(80));
        assert!(matches!(
            target("test", &long, &PublishOptions::topic()),
            Err(PublishError::Name {
                source: NameError::TooLong { .. }
            })
        ));
    }

    #[test]
    fn standard_attributes_are_always_set() {
        let attrs = attributes(&event("user_created"), &BTreeMap::new()).expect("valid");
        assert_eq!(
            attrs,
            BTreeMap::from([
                ("kind".to_owned(), "event".to_owned()),
                ("publisher".to_owned(), "auth".to_owned()),
                ("type".to_owned(), "event_user_created".to_owned()),
            ])
        );
        let extra = BTreeMap::from([("tenant".to_owned(), "42".to_owned())]);
        let attrs = attributes(&command("ban_user"), &extra).expect("valid");
        assert_eq!(attrs.get("tenant").map(String::as_str), Some("42"));
        assert_eq!(
            attrs.get("type").map(String::as_str),
            Some("command_ban_user")
        );
    }

    #[test]
    fn bad_attributes_are_refused() {
        let e = event("x");
        for (name, value) in [
            ("type", "x"),
            ("", "x"),
            ("a b", "x"),
            (".a", "x"),
            ("a..b", "x"),
            ("AWS.x", "x"),
            ("amazon.y", "x"),
            ("ok", ""),
        ] {
            let extra = BTreeMap::from([(name.to_owned(), value.to_owned())]);
            let err = attributes(&e, &extra).expect_err(name);
            assert!(
                matches!(err, PublishError::BadAttribute { .. }),
                "{name}: {err:?}"
            );
        }
        let many: BTreeMap<String, String> =
            (0..8).map(|i| (format!("a{i}"), "v".to_owned())).collect();
        assert!(matches!(
            attributes(&e, &many),
            Err(PublishError::TooManyAttributes { count: 11 })
        ));
        let seven: BTreeMap<String, String> =
            (0..7).map(|i| (format!("a{i}"), "v".to_owned())).collect();
        assert_eq!(attributes(&e, &seven).expect("ten in all").len(), 10);
    }

    #[test]
    fn fifo_ids() {
        let e = event("x");
        let fifo = target("test", &e, &PublishOptions::topic().fifo("g")).expect("target");
        let out = prepare(
            &e,
            &PublishOptions::topic().fifo("g"),
            &fifo,
            DEFAULT_MAX_MESSAGE_BYTES,
        )
        .expect("valid");
        assert_eq!(out.group_id.as_deref(), Some("g"));
        let uuid = e.uuid().to_string();
        assert_eq!(out.deduplication_id.as_deref(), Some(uuid.as_str()));
        let options = PublishOptions::topic().fifo("g").deduplication_id("d1");
        let out = prepare(&e, &options, &fifo, DEFAULT_MAX_MESSAGE_BYTES).expect("valid");
        assert_eq!(out.deduplication_id.as_deref(), Some("d1"));

        let mut no_group = PublishOptions::topic();
        no_group.fifo = true;
        let err = prepare(&e, &no_group, &fifo, DEFAULT_MAX_MESSAGE_BYTES).expect_err("no group");
        assert!(err.to_string().contains("--group"), "{err}");

        let standard = target("test", &e, &PublishOptions::topic()).expect("target");
        let mut grouped = PublishOptions::topic();
        grouped.group_id = Some("g".into());
        assert!(matches!(
            prepare(&e, &grouped, &standard, DEFAULT_MAX_MESSAGE_BYTES),
            Err(PublishError::NotFifo { .. })
        ));
        for bad in ["", "has space", &"x".repeat(129), "caf\u{e9}"] {
            let options = PublishOptions::topic().fifo(bad);
            assert!(
                matches!(
                    prepare(&e, &options, &fifo, DEFAULT_MAX_MESSAGE_BYTES),
                    Err(PublishError::BadFifoId {
                        field: "group id",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn size_counts_body_and_attributes() {
        let e = event("x");
        let t = target("test", &e, &PublishOptions::topic()).expect("target");
        let out =
            prepare(&e, &PublishOptions::topic(), &t, DEFAULT_MAX_MESSAGE_BYTES).expect("valid");
        let attrs: usize = out
            .attributes
            .iter()
            .map(|(k, v)| k.len() + 6 + v.len())
            .sum();
        assert_eq!(message_size(&out), e.to_json().len() + attrs);
        let err = prepare(&e, &PublishOptions::topic(), &t, message_size(&out) - 1)
            .expect_err("one byte over");
        assert!(
            matches!(err, PublishError::TooLarge { size, max, .. } if size == max + 1),
            "{err:?}"
        );
        assert!(err.to_string().contains("send a reference"), "{err}");
    }

    #[test]
    fn chunks_by_count_and_bytes() {
        let r = |sizes: &[usize], n, b| chunk_ranges(sizes, n, b);
        assert!(r(&[], 10, 100).is_empty());
        assert_eq!(r(&[1; 25], 10, 1000), vec![0..10, 10..20, 20..25]);
        assert_eq!(r(&[1; 10], 10, 1000), vec![0..10]);
        assert_eq!(r(&[40, 40, 40, 40], 10, 100), vec![0..2, 2..4]);
        assert_eq!(r(&[100, 1, 100], 10, 100), vec![0..1, 1..2, 2..3]);
        assert_eq!(r(&[150, 1], 10, 100), vec![0..1, 1..2]);
        assert_eq!(r(&[1, 2, 3], 0, 100), vec![0..1, 1..2, 2..3]);
        // Every index is covered exactly once, in order.
        let sizes: Vec<usize> = (0..1000).map(|i| (i * 37) % 90 + 1).collect();
        let ranges = r(&sizes, 10, 256);
        let flat: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
        assert_eq!(flat, (0..1000).collect::<Vec<_>>());
        for range in ranges {
            assert!(range.len() <= 10);
            let total: usize = sizes[range.clone()].iter().sum();
            assert!(total <= 256 || range.len() == 1);
        }
    }

    #[tokio::test]
    async fn fake_mode_records_what_would_be_sent() {
        let publisher = Publisher::fake(defaults());
        assert!(publisher.is_fake());
        let e = publisher
            .event("user_created", json!({ "id": 1 }))
            .build()
            .expect("valid");
        let sent = publisher
            .publish(&e, &PublishOptions::topic().attribute("tenant", "7"))
            .await
            .expect("recorded");
        assert_eq!(sent.message_id, "fake-1");
        assert_eq!(sent.target.name, "test-event-fanout-auth-user_created");
        let c = publisher
            .command("send_welcome", json!({}))
            .build()
            .expect("valid");
        let results = publisher
            .publish_batch(
                &[c.clone(), c.clone()],
                &PublishOptions::queue().dest("mailer").fifo("u1"),
            )
            .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let log = publisher.sent();
        assert_eq!(log.len(), 3);
        assert_eq!(log[0].envelope, e);
        assert_eq!(log[0].body, e.to_json());
        assert_eq!(
            log[0].attributes.get("tenant").map(String::as_str),
            Some("7")
        );
        assert_eq!(
            log[1].target.name,
            "test-command-queue-auth-send_welcome-mailer.fifo"
        );
        assert_eq!(log[2].group_id.as_deref(), Some("u1"));
        assert_eq!(log[2].message_id, "fake-3");
        assert_eq!(
            publisher.clone().take_sent().len(),
            3,
            "clones share the log"
        );
        assert!(publisher.sent().is_empty());
    }

    #[tokio::test]
    async fn fake_mode_checks_like_the_real_one() {
        let publisher = Publisher::fake(defaults()).max_message_bytes(1024);
        let small = event("x");
        let big = Event::new("x", json!({ "blob": "a".repeat(2000) }))
            .publisher("auth")
            .build()
            .expect("valid");
        let results = publisher
            .publish_batch(
                &[small.clone(), big.clone(), small],
                &PublishOptions::topic(),
            )
            .await;
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(
            matches!(&results[1], Err(PublishError::TooLarge { uuid, .. }) if *uuid == big.uuid()),
            "{results:?}"
        );
        assert_eq!(publisher.sent().len(), 2);
        let err = publisher
            .publish(&big, &PublishOptions::topic())
            .await
            .expect_err("too large");
        assert!(!err.is_transient());
    }

    #[tokio::test]
    async fn batch_results_keep_input_order_across_targets() {
        let publisher = Publisher::fake(defaults());
        let a = event("a");
        let b = event("b");
        let topic = PublishOptions::topic();
        let queue = PublishOptions::queue();
        let items: Vec<(&Envelope, &PublishOptions)> = (0..25)
            .map(|i| {
                if i % 3 == 0 {
                    (&a, &topic)
                } else {
                    (&b, &queue)
                }
            })
            .collect();
        let results = publisher.publish_many(&items).await;
        assert_eq!(results.len(), 25);
        for (i, r) in results.iter().enumerate() {
            let p = r.as_ref().expect("sent");
            let expected = if i % 3 == 0 { a.uuid() } else { b.uuid() };
            assert_eq!(p.uuid, expected);
        }
    }

    #[test]
    fn transient_errors() {
        let t = Target::topic("t");
        let rejected = |sender_fault| PublishError::Rejected {
            target: t.clone(),
            uuid: Uuid::nil(),
            code: "InternalError".into(),
            message: None,
            sender_fault,
        };
        assert!(rejected(false).is_transient());
        assert!(!rejected(true).is_transient());
        assert!(!PublishError::NotFound { target: t.clone() }.is_transient());
        let nf = PublishError::from_aws(
            AwsError::failed(
                "sns:Publish",
                "arn",
                Some("NotFound"),
                "Topic does not exist",
            ),
            &t,
        );
        assert!(nf.to_string().contains("run `lariat migrate`"), "{nf}");
    }
}
