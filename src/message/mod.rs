//! Message envelopes: the JSON body of every event and command lariat publishes or consumes.
//!
//! The format is the one of the Ruby gem cyclone_lariat, so lariat and Ruby services can talk
//! to each other. Version 1:
//!
//! ```json
//! {
//!   "uuid": "f2ce3813-0905-4d81-a60e-f289f2431f50",
//!   "publisher": "sample_app",
//!   "request_id": "51285005-8a06-4181-b5fd-bf29f3b1a45a",
//!   "type": "event_note_created",
//!   "version": 1,
//!   "data": { "id": 12 },
//!   "sent_at": "2022-11-09T11:42:18.203+01:00"
//! }
//! ```
//!
//! Version 2 adds `"subject": { "type": ..., "uuid": ... }` and `"object"` of the same shape
//! between `version` and `data`. `request_id` is optional and omitted when absent.
//!
//! [`Event`] and [`Command`] build envelopes to publish, by the publisher's strict rules.
//! [`Envelope::from_json`] and [`Envelope::from_sqs_body`] read received ones leniently,
//! accepting what the gem's message classes accept (see [`read`] for the rules, and
//! [`Rules::Strict`] to check a body against the publisher's rules instead). Reading never
//! panics: every problem becomes a [`MessageError`] that names the field at fault.
//!
//! Where a message goes, the topic or queue of the publisher, the outbox and the inbox, is a
//! [`Target`] ([`target`]).

pub mod read;
pub mod target;
mod time;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest excerpt of a rejected value that an error message quotes.
const EXCERPT_CHARS: usize = 64;

pub use crate::naming::Kind;
pub use read::{Received, Refusal, Rules};
pub use target::Target;

/// The envelope's `type`: a [`Kind`] plus a name, written `event_<name>` or `command_<name>`.
///
/// The name is non-empty and made of ASCII letters, digits and `_`. Hyphens are rejected
/// because topic and queue names join their parts with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageType {
    kind: Kind,
    name: String,
}

impl MessageType {
    /// Makes a type from a kind and a name without prefix, e.g. `(Kind::Event, "user_created")`.
    pub fn new(kind: Kind, name: impl Into<String>) -> Result<Self, MessageError> {
        let name = name.into();
        match check_name(&name) {
            Ok(()) => Ok(Self { kind, name }),
            Err(reason) => Err(MessageError::InvalidName {
                name: excerpt(&name),
                reason,
            }),
        }
    }

    /// Whether this is an event or a command.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The name without the `event_` / `command_` prefix.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.prefix(), self.name)
    }
}

impl FromStr for MessageType {
    type Err = MessageError;

    /// Parses `event_<name>` or `command_<name>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| MessageError::InvalidType {
            value: excerpt(s),
            reason,
        };
        let (kind, name) = [Kind::Event, Kind::Command]
            .into_iter()
            .find_map(|kind| s.strip_prefix(kind.prefix()).map(|name| (kind, name)))
            .ok_or_else(|| invalid("it must start with `event_` or `command_`"))?;
        check_name(name).map_err(invalid)?;
        Ok(Self {
            kind,
            name: name.to_owned(),
        })
    }
}

impl Serialize for MessageType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a message name; the error is a reason to put in a [`MessageError`].
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name after the prefix is empty");
    }
    if name.contains('-') {
        return Err(
            "the name contains `-`, which would make topic and queue names ambiguous; use `_`",
        );
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("the name may contain only ASCII letters, digits and `_`");
    }
    Ok(())
}

/// A reference to a domain entity: the `subject` or `object` of a version 2 message.
///
/// The subject is who acted, the object what was acted on; "user #1 bans user #42" has
/// subject `user`/1 and object `user`/42.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct EntityRef {
    /// The entity's type, e.g. `user` or `note`; never empty in a valid envelope.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The entity's identifier.
    pub uuid: Uuid,
}

impl EntityRef {
    /// Makes a reference from an entity type and uuid.
    pub fn new(entity_type: impl Into<String>, uuid: Uuid) -> Self {
        Self {
            entity_type: entity_type.into(),
            uuid,
        }
    }
}

/// Subject and object together: a version 2 message has both, a version 1 message neither.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Parties {
    subject: EntityRef,
    object: EntityRef,
}

/// A validated message envelope, version 1 or 2.
///
/// Build one with [`Event`] or [`Command`], or parse one with [`Envelope::from_json`] or
/// [`Envelope::from_sqs_body`]. The version follows from the content: 2 when the message
/// has a subject and an object, 1 otherwise.
///
/// Serializing writes the fields in the gem's order and `sent_at` with millisecond
/// precision, then any top-level fields lariat does not know ([`Envelope::extra`]), which
/// reading keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    uuid: Uuid,
    publisher: String,
    request_id: Option<Uuid>,
    message_type: MessageType,
    parties: Option<Parties>,
    data: Value,
    sent_at: Option<DateTime<FixedOffset>>,
    extra: Map<String, Value>,
}

impl Envelope {
    /// Serializes the envelope to compact JSON, fields in the gem's order.
    pub fn to_json(&self) -> String {
        // Only string-keyed maps and plain values are written, which cannot fail.
        serde_json::to_string(self).expect("an envelope always serializes to json")
    }

    /// The message's unique id.
    pub fn uuid(&self) -> Uuid {
        self.uuid
    }

    /// The name of the application that published the message.
    pub fn publisher(&self) -> &str {
        &self.publisher
    }

    /// The X-Request-Id of the request that caused the message, if any.
    pub fn request_id(&self) -> Option<Uuid> {
        self.request_id
    }

    /// The message type, `event_<name>` or `command_<name>`.
    pub fn message_type(&self) -> &MessageType {
        &self.message_type
    }

    /// Whether the message is an event or a command.
    pub fn kind(&self) -> Kind {
        self.message_type.kind
    }

    /// The type without its `event_` / `command_` prefix.
    pub fn name(&self) -> &str {
        &self.message_type.name
    }

    /// Whether the message is an event.
    pub fn is_event(&self) -> bool {
        self.kind() == Kind::Event
    }

    /// Whether the message is a command.
    pub fn is_command(&self) -> bool {
        self.kind() == Kind::Command
    }

    /// The schema version: 2 when the message has a subject and an object, 1 otherwise.
    pub fn version(&self) -> u8 {
        if self.parties.is_some() {
            2
        } else {
            1
        }
    }

    /// Who acted (version 2 only).
    pub fn subject(&self) -> Option<&EntityRef> {
        self.parties.as_ref().map(|p| &p.subject)
    }

    /// What was acted on (version 2 only).
    pub fn object(&self) -> Option<&EntityRef> {
        self.parties.as_ref().map(|p| &p.object)
    }

    /// The payload, any JSON value.
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// When the message was sent, with the sender's UTC offset (`+00:00` when the body gave
    /// none). Always set on a built envelope; `None` when a received body had no `sent_at`.
    pub fn sent_at(&self) -> Option<DateTime<FixedOffset>> {
        self.sent_at
    }

    /// Top-level fields of a received body that lariat does not interpret (a `trace_id`, the
    /// `received_at` of a gem inbox row, a `request_id` that is not a uuid), kept as they were
    /// and written back by [`Envelope::to_json`]. Empty on a built envelope.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }
}

/// The wire form, borrowed; field order here is the order in the JSON.
#[derive(Serialize)]
struct Wire<'a> {
    uuid: &'a Uuid,
    publisher: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a Uuid>,
    #[serde(rename = "type")]
    message_type: &'a MessageType,
    version: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a EntityRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    object: Option<&'a EntityRef>,
    data: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<String>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl Serialize for Envelope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            uuid: &self.uuid,
            publisher: &self.publisher,
            request_id: self.request_id.as_ref(),
            message_type: &self.message_type,
            version: self.version(),
            subject: self.subject(),
            object: self.object(),
            data: &self.data,
            sent_at: self
                .sent_at
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, false)),
            extra: &self.extra,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// The fields a builder collects before [`Event::build`] / [`Command::build`] validates them.
#[derive(Debug, Clone, PartialEq)]
struct Draft {
    kind: Kind,
    name: String,
    data: Value,
    publisher: Option<String>,
    request_id: Option<Uuid>,
    subject: Option<EntityRef>,
    object: Option<EntityRef>,
    uuid: Uuid,
    sent_at: DateTime<FixedOffset>,
}

impl Draft {
    fn new(kind: Kind, name: String, data: Value) -> Self {
        Self {
            kind,
            name,
            data,
            publisher: None,
            request_id: None,
            subject: None,
            object: None,
            uuid: Uuid::new_v4(),
            // Truncated so that an envelope equals itself after a JSON round trip.
            sent_at: Utc::now().trunc_subsecs(3).fixed_offset(),
        }
    }

    fn build(self) -> Result<Envelope, MessageError> {
        let message_type = MessageType::new(self.kind, self.name)?;
        let publisher = self
            .publisher
            .ok_or(MessageError::MissingField { field: "publisher" })?;
        check_publisher(&publisher)?;
        let parties = match (self.subject, self.object) {
            (None, None) => None,
            (Some(_), None) => return Err(MessageError::MissingField { field: "object" }),
            (None, Some(_)) => return Err(MessageError::MissingField { field: "subject" }),
            (Some(subject), Some(object)) => {
                check_entity_type("subject.type", &subject.entity_type)?;
                check_entity_type("object.type", &object.entity_type)?;
                Some(Parties { subject, object })
            }
        };
        Ok(Envelope {
            uuid: self.uuid,
            publisher,
            request_id: self.request_id,
            message_type,
            parties,
            data: self.data,
            sent_at: Some(self.sent_at),
            extra: Map::new(),
        })
    }
}

/// Defines a builder for one [`Kind`]; `Event` and `Command` differ only in the prefix.
macro_rules! message_builder {
    ($(#[$doc:meta])* $builder:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        #[must_use = "a message builder does nothing until `build` is called"]
        pub struct $builder(Draft);

        impl $builder {
            /// Starts a message with its name (without prefix) and payload. The uuid is a
            /// fresh v4 and `sent_at` is now in UTC, both replaceable.
            pub fn new(name: impl Into<String>, data: Value) -> Self {
                Self(Draft::new($kind, name.into(), data))
            }

            /// Sets the publishing application's name (required).
            pub fn publisher(mut self, publisher: impl Into<String>) -> Self {
                self.0.publisher = Some(publisher.into());
                self
            }

            /// Sets the X-Request-Id of the request that caused the message.
            pub fn request_id(mut self, request_id: Uuid) -> Self {
                self.0.request_id = Some(request_id);
                self
            }

            /// Sets who acted. With [`object`](Self::object) this makes a version 2 message.
            pub fn subject(mut self, entity_type: impl Into<String>, uuid: Uuid) -> Self {
                self.0.subject = Some(EntityRef::new(entity_type, uuid));
                self
            }

            /// Sets what was acted on. With [`subject`](Self::subject) this makes a version 2
            /// message.
            pub fn object(mut self, entity_type: impl Into<String>, uuid: Uuid) -> Self {
                self.0.object = Some(EntityRef::new(entity_type, uuid));
                self
            }

            /// Replaces the generated uuid, e.g. to republish a stored message unchanged.
            pub fn uuid(mut self, uuid: Uuid) -> Self {
                self.0.uuid = uuid;
                self
            }

            /// Replaces the send time; it is written with millisecond precision.
            pub fn sent_at(mut self, sent_at: DateTime<FixedOffset>) -> Self {
                self.0.sent_at = sent_at;
                self
            }

            /// Validates the message: the name, a non-empty publisher, and subject and object
            /// either both set (version 2) or both unset (version 1).
            pub fn build(self) -> Result<Envelope, MessageError> {
                self.0.build()
            }
        }

        impl TryFrom<$builder> for Envelope {
            type Error = MessageError;

            fn try_from(builder: $builder) -> Result<Self, Self::Error> {
                builder.build()
            }
        }
    };
}

message_builder!(
    /// Builds an event envelope (`type` = `event_<name>`).
    ///
    /// ```
    /// use lariat::message::Event;
    /// use serde_json::json;
    ///
    /// let envelope = Event::new("note_created", json!({ "id": 12 }))
    ///     .publisher("sample_app")
    ///     .build()?;
    /// assert_eq!(envelope.message_type().to_string(), "event_note_created");
    /// assert_eq!(envelope.version(), 1);
    /// # Ok::<(), lariat::message::MessageError>(())
    /// ```
    Event,
    Kind::Event
);

message_builder!(
    /// Builds a command envelope (`type` = `command_<name>`).
    ///
    /// ```
    /// use lariat::message::Command;
    /// use serde_json::json;
    /// use uuid::Uuid;
    ///
    /// let user = Uuid::new_v4();
    /// let envelope = Command::new("ban_user", json!({}))
    ///     .publisher("admin")
    ///     .subject("user", Uuid::new_v4())
    ///     .object("user", user)
    ///     .build()?;
    /// assert!(envelope.is_command());
    /// assert_eq!(envelope.version(), 2);
    /// # Ok::<(), lariat::message::MessageError>(())
    /// ```
    Command,
    Kind::Command
);

/// Why a message could not be built or parsed. Field names are the JSON keys, with a dot
/// for nested ones (`subject.uuid`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The text is not JSON.
    #[error("message body is not valid json")]
    Json {
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON is not an object.
    #[error("message body must be a json object, found {found}")]
    NotAnObject {
        /// The JSON type found instead.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("missing required field `{field}`")]
    MissingField {
        /// The absent field.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}, found {found}")]
    WrongType {
        /// The field at fault.
        field: &'static str,
        /// What the field must be, e.g. "a string".
        expected: &'static str,
        /// The JSON type found instead.
        found: &'static str,
    },
    /// A field has the right type but a value that does not fit.
    #[error("field `{field}` is invalid: {reason}")]
    InvalidField {
        /// The field at fault.
        field: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// The `type` field is not `event_<name>` or `command_<name>`.
    #[error("field `type` has invalid value `{value}`: {reason}")]
    InvalidType {
        /// The rejected value, shortened when long.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A name given to a builder or [`MessageType::new`] is not allowed.
    #[error("invalid message name `{name}`: {reason}")]
    InvalidName {
        /// The rejected name, shortened when long.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The `version` field is an integer other than 1 or 2.
    #[error("field `version` is {found}, but only versions 1 and 2 are supported")]
    UnsupportedVersion {
        /// The version found, as written.
        found: String,
    },
    /// A version 1 message carries a field that only version 2 allows.
    #[error("field `{field}` is not allowed in a version 1 message; send version 2 with both `subject` and `object`")]
    NotInVersion1 {
        /// The version 2 field found.
        field: &'static str,
    },
}

impl MessageError {
    /// The JSON field the error is about, when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            MessageError::MissingField { field }
            | MessageError::WrongType { field, .. }
            | MessageError::InvalidField { field, .. }
            | MessageError::NotInVersion1 { field } => Some(field),
            MessageError::InvalidType { .. } => Some("type"),
            MessageError::UnsupportedVersion { .. } => Some("version"),
            MessageError::Json { .. }
            | MessageError::NotAnObject { .. }
            | MessageError::InvalidName { .. } => None,
        }
    }
}

/// Quotes at most [`EXCERPT_CHARS`] characters of a rejected value.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_owned(),
    }
}

fn check_publisher(publisher: &str) -> Result<(), MessageError> {
    if publisher.is_empty() {
        return Err(MessageError::InvalidField {
            field: "publisher",
            reason: "the publisher name is empty".to_owned(),
        });
    }
    Ok(())
}

fn check_entity_type(field: &'static str, entity_type: &str) -> Result<(), MessageError> {
    if entity_type.is_empty() {
        return Err(MessageError::InvalidField {
            field,
            reason: "the entity type is empty".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
