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
//! [`Event`] and [`Command`] build envelopes to publish; [`Envelope::from_json`] and
//! [`Envelope::from_sqs_body`] parse and validate received ones. Parsing never panics: every
//! problem becomes a [`MessageError`] that names the field at fault.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Longest excerpt of a rejected value that an error message quotes.
const EXCERPT_CHARS: usize = 64;

pub use crate::naming::Kind;

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
/// precision; fields the gem's inbox adds (`received_at`, `processed_at`, ...) are ignored
/// when parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    uuid: Uuid,
    publisher: String,
    request_id: Option<Uuid>,
    message_type: MessageType,
    parties: Option<Parties>,
    data: Value,
    sent_at: DateTime<FixedOffset>,
}

impl Envelope {
    /// Parses and validates an envelope from its JSON text (the raw body of a message).
    pub fn from_json(json: &str) -> Result<Self, MessageError> {
        let value: Value =
            serde_json::from_str(json).map_err(|source| MessageError::Json { source })?;
        Self::from_value(value)
    }

    /// Parses an SQS message body, which is either the raw envelope (raw delivery, or sent
    /// straight to a queue) or an SNS notification wrapping it:
    /// `{"Type": "Notification", "Message": "<envelope json>", ...}`.
    pub fn from_sqs_body(body: &str) -> Result<Self, MessageError> {
        let value: Value =
            serde_json::from_str(body).map_err(|source| MessageError::Json { source })?;
        let is_notification = value.get("Type").and_then(Value::as_str) == Some("Notification");
        if !is_notification {
            return Self::from_value(value);
        }
        match value.get("Message") {
            None => Err(MessageError::MissingField { field: "Message" }),
            Some(Value::String(inner)) => Self::from_json(inner),
            Some(other) => Err(wrong_type("Message", "a string", other)),
        }
    }

    /// Validates an already parsed JSON value as an envelope.
    pub fn from_value(value: Value) -> Result<Self, MessageError> {
        let Value::Object(mut map) = value else {
            return Err(MessageError::NotAnObject {
                found: json_type(&value),
            });
        };
        let uuid = parse_uuid("uuid", required_str(&map, "uuid")?)?;
        let publisher = required_str(&map, "publisher")?;
        check_publisher(publisher)?;
        let publisher = publisher.to_owned();
        let request_id = match optional(&map, "request_id") {
            None => None,
            Some(Value::String(s)) => Some(parse_uuid("request_id", s)?),
            Some(other) => return Err(wrong_type("request_id", "a string", other)),
        };
        let message_type: MessageType = required_str(&map, "type")?.parse()?;
        let version = parse_version(required(&map, "version")?)?;
        let parties = parse_parties(&map, version)?;
        let sent_at = parse_sent_at(required_str(&map, "sent_at")?)?;
        let data = map
            .remove("data")
            .ok_or(MessageError::MissingField { field: "data" })?;
        Ok(Self {
            uuid,
            publisher,
            request_id,
            message_type,
            parties,
            data,
            sent_at,
        })
    }

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

    /// When the message was sent, with the sender's UTC offset.
    pub fn sent_at(&self) -> DateTime<FixedOffset> {
        self.sent_at
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
    sent_at: String,
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
            sent_at: self.sent_at.to_rfc3339_opts(SecondsFormat::Millis, false),
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
            sent_at: self.sent_at,
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

/// A field that is absent or `null` counts as absent.
fn optional<'a>(map: &'a Map<String, Value>, field: &'static str) -> Option<&'a Value> {
    map.get(field).filter(|v| !v.is_null())
}

fn required<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a Value, MessageError> {
    map.get(field).ok_or(MessageError::MissingField { field })
}

fn required_str<'a>(
    map: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, MessageError> {
    match required(map, field)? {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(field, "a string", other)),
    }
}

fn wrong_type(field: &'static str, expected: &'static str, found: &Value) -> MessageError {
    MessageError::WrongType {
        field,
        expected,
        found: json_type(found),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Quotes at most [`EXCERPT_CHARS`] characters of a rejected value.
fn excerpt(s: &str) -> String {
    match s.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}...", &s[..end]),
        None => s.to_owned(),
    }
}

/// Accepts only the hyphenated form the gem checks for (8-4-4-4-12 hex digits).
fn parse_uuid(field: &'static str, s: &str) -> Result<Uuid, MessageError> {
    let invalid = || MessageError::InvalidField {
        field,
        reason: format!(
            "`{}` is not a uuid like f2ce3813-0905-4d81-a60e-f289f2431f50",
            excerpt(s)
        ),
    };
    if s.len() != 36 {
        return Err(invalid());
    }
    Uuid::try_parse(s).map_err(|_| invalid())
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

fn parse_version(value: &Value) -> Result<u8, MessageError> {
    let Value::Number(number) = value else {
        return Err(wrong_type("version", "an integer", value));
    };
    match (number.as_u64(), number.as_i64()) {
        (Some(1), _) => Ok(1),
        (Some(2), _) => Ok(2),
        (Some(_), _) | (None, Some(_)) => Err(MessageError::UnsupportedVersion {
            found: number.to_string(),
        }),
        (None, None) => Err(MessageError::WrongType {
            field: "version",
            expected: "an integer",
            found: "a floating-point number",
        }),
    }
}

/// Subject and object must match the version: both in version 2, neither in version 1.
fn parse_parties(map: &Map<String, Value>, version: u8) -> Result<Option<Parties>, MessageError> {
    if version == 1 {
        for field in ["subject", "object"] {
            if optional(map, field).is_some() {
                return Err(MessageError::NotInVersion1 { field });
            }
        }
        return Ok(None);
    }
    let subject = parse_entity(map, "subject", "subject.type", "subject.uuid")?;
    let object = parse_entity(map, "object", "object.type", "object.uuid")?;
    Ok(Some(Parties { subject, object }))
}

fn parse_entity(
    map: &Map<String, Value>,
    field: &'static str,
    type_field: &'static str,
    uuid_field: &'static str,
) -> Result<EntityRef, MessageError> {
    let entity = match required(map, field)? {
        Value::Object(entity) => entity,
        other => return Err(wrong_type(field, "an object", other)),
    };
    let entity_type = match entity.get("type") {
        None => return Err(MessageError::MissingField { field: type_field }),
        Some(Value::String(s)) => s,
        Some(other) => return Err(wrong_type(type_field, "a string", other)),
    };
    check_entity_type(type_field, entity_type)?;
    let uuid = match entity.get("uuid") {
        None => return Err(MessageError::MissingField { field: uuid_field }),
        Some(Value::String(s)) => parse_uuid(uuid_field, s)?,
        Some(other) => return Err(wrong_type(uuid_field, "a string", other)),
    };
    Ok(EntityRef::new(entity_type.as_str(), uuid))
}

fn parse_sent_at(s: &str) -> Result<DateTime<FixedOffset>, MessageError> {
    DateTime::parse_from_rfc3339(s).map_err(|e| MessageError::InvalidField {
        field: "sent_at",
        reason: format!(
            "`{}` is not an ISO 8601 time with offset like 2022-11-09T11:42:18.203+01:00 ({e})",
            excerpt(s)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// "Scheme: version 1" from the gem's README, comments included.
    const README_V1: &str = r#"// Scheme: version 1
{
  "uuid": "f2ce3813-0905-4d81-a60e-f289f2431f50", // Uniq message identificator
  "publisher": "sample_app", // Publisher application name
  "request_id": "51285005-8a06-4181-b5fd-bf29f3b1a45a", // Optional: X-Request-Id
  "type": "event_note_created", // Type of Event or Command
  "version": 1, // Version of data structure
  "data": {
    "id": 12,
    "text": "Sample of published data",
    "attributes": ["one", "two", "three"]
  },
  "sent_at": "2022-11-09T11:42:18.203+01:00" // Time when message was sended in ISO8601 Standard
}"#;

    /// "Scheme: version 2" from the gem's README, comments included.
    const README_V2: &str = r#"// Scheme: version 2
{
  "uuid": "f2ce3813-0905-4d81-a60e-f289f2431f50", // Uniq message identificator
  "publisher": "sample_app", // Publisher application name
  "request_id": "51285005-8a06-4181-b5fd-bf29f3b1a45a", // Optional: X-Request-Id
  "type": "event_note_created", // Type of Event or Command
  "version": 2, // Version of data structure
  "subject": {
    "type": "user", // Subject type
    "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" // Subject uuid
  },
  "object": {
    "type": "note", // Object type
    "uuid": "f46e74db-3335-4c5e-b476-c2a87660a942" // Object uuid
  },
  "data": {
    "id": 12,
    "text": "Sample of published data",
    "attributes": ["one", "two", "three"]
  },
  "sent_at": "2022-11-09T11:42:18.203+01:00" // Time when message was sended in ISO8601 Standard
}"#;

    /// The body the README says `publish_command('register_user', ...)` generates.
    const README_REGISTER_USER: &str = r#"{
  "uuid": "f2ce3813-0905-4d81-a60e-f289f2431f50",
  "publisher": "auth",
  "type": "command_register_user",
  "version": 1,
  "data": {
    "first_name": "John",
    "last_name": "Doe",
    "mail": "john.doe@example.com"
  },
  "sent_at": "2022-11-09T11:42:18.203+01:00" // The time the message was sent. ISO8601 standard.
}"#;

    /// Removes `//` comments (outside strings) so README examples become JSON.
    fn strip_comments(text: &str) -> String {
        text.lines()
            .map(|line| {
                let mut in_string = false;
                let mut escaped = false;
                let bytes = line.as_bytes();
                for (i, &b) in bytes.iter().enumerate() {
                    match b {
                        _ if escaped => escaped = false,
                        b'\\' if in_string => escaped = true,
                        b'"' => in_string = !in_string,
                        b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                            return line[..i].trim_end();
                        }
                        _ => {}
                    }
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn uuid(s: &str) -> Uuid {
        Uuid::parse_str(s).expect("test uuid")
    }

    fn time(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).expect("test time")
    }

    fn parse(text: &str) -> Envelope {
        Envelope::from_json(&strip_comments(text)).expect("valid envelope")
    }

    fn as_value(json: &str) -> Value {
        serde_json::from_str(json).expect("valid json")
    }

    fn readme_data() -> Value {
        json!({ "id": 12, "text": "Sample of published data", "attributes": ["one", "two", "three"] })
    }

    /// The README v1 body with one top-level field replaced (or removed with `None`).
    fn v1_with(field: &str, value: Option<Value>) -> String {
        with_field(README_V1, field, value)
    }

    fn v2_with(field: &str, value: Option<Value>) -> String {
        with_field(README_V2, field, value)
    }

    fn with_field(text: &str, field: &str, value: Option<Value>) -> String {
        let mut body = as_value(&strip_comments(text));
        let map = body.as_object_mut().expect("object");
        match value {
            Some(v) => map.insert(field.to_owned(), v),
            None => map.remove(field),
        };
        body.to_string()
    }

    fn rejected(json: &str) -> MessageError {
        match Envelope::from_json(json) {
            Ok(envelope) => panic!("accepted {json}: {envelope:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn golden_readme_v1() {
        let envelope = parse(README_V1);
        assert_eq!(
            envelope.uuid(),
            uuid("f2ce3813-0905-4d81-a60e-f289f2431f50")
        );
        assert_eq!(envelope.publisher(), "sample_app");
        assert_eq!(
            envelope.request_id(),
            Some(uuid("51285005-8a06-4181-b5fd-bf29f3b1a45a"))
        );
        assert_eq!(envelope.message_type().to_string(), "event_note_created");
        assert_eq!(envelope.kind(), Kind::Event);
        assert_eq!(envelope.name(), "note_created");
        assert!(envelope.is_event());
        assert!(!envelope.is_command());
        assert_eq!(envelope.version(), 1);
        assert_eq!(envelope.subject(), None);
        assert_eq!(envelope.object(), None);
        assert_eq!(envelope.data(), &readme_data());
        assert_eq!(envelope.sent_at(), time("2022-11-09T11:42:18.203+01:00"));
        assert_eq!(envelope.sent_at().offset().local_minus_utc(), 3600);

        assert_eq!(
            as_value(&envelope.to_json()),
            as_value(&strip_comments(README_V1))
        );
    }

    #[test]
    fn golden_readme_v2() {
        let envelope = parse(README_V2);
        assert_eq!(
            envelope.uuid(),
            uuid("f2ce3813-0905-4d81-a60e-f289f2431f50")
        );
        assert_eq!(envelope.publisher(), "sample_app");
        assert_eq!(
            envelope.request_id(),
            Some(uuid("51285005-8a06-4181-b5fd-bf29f3b1a45a"))
        );
        assert_eq!(envelope.kind(), Kind::Event);
        assert_eq!(envelope.name(), "note_created");
        assert_eq!(envelope.version(), 2);
        assert_eq!(
            envelope.subject(),
            Some(&EntityRef::new(
                "user",
                uuid("a27c29e2-bbd3-490a-8f1b-caa4f8d902ef")
            ))
        );
        assert_eq!(
            envelope.object(),
            Some(&EntityRef::new(
                "note",
                uuid("f46e74db-3335-4c5e-b476-c2a87660a942")
            ))
        );
        assert_eq!(envelope.data(), &readme_data());
        assert_eq!(envelope.sent_at(), time("2022-11-09T11:42:18.203+01:00"));

        assert_eq!(
            as_value(&envelope.to_json()),
            as_value(&strip_comments(README_V2))
        );
    }

    #[test]
    fn golden_readme_publish_command_register_user() {
        let built = Command::new(
            "register_user",
            json!({ "first_name": "John", "last_name": "Doe", "mail": "john.doe@example.com" }),
        )
        .publisher("auth")
        .uuid(uuid("f2ce3813-0905-4d81-a60e-f289f2431f50"))
        .sent_at(time("2022-11-09T11:42:18.203+01:00"))
        .build()
        .expect("valid command");

        let parsed = parse(README_REGISTER_USER);
        assert_eq!(parsed, built);
        assert_eq!(parsed.kind(), Kind::Command);
        assert_eq!(parsed.name(), "register_user");
        assert_eq!(parsed.publisher(), "auth");
        assert_eq!(parsed.request_id(), None);
        assert_eq!(parsed.version(), 1);

        // Byte for byte: field order as in the README, no `request_id`, millisecond time.
        let expected: String = strip_comments(README_REGISTER_USER)
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("")
            .replace("\": ", "\":")
            .replace(", ", ",");
        assert_eq!(built.to_json(), expected);
    }

    #[test]
    fn v2_field_order_matches_the_readme() {
        let json = parse(README_V2).to_json();
        let positions: Vec<usize> = [
            "\"uuid\"",
            "\"publisher\"",
            "\"request_id\"",
            "\"type\":\"event_",
            "\"version\"",
            "\"subject\"",
            "\"object\"",
            "\"data\"",
            "\"sent_at\"",
        ]
        .iter()
        .map(|key| {
            json.find(key)
                .unwrap_or_else(|| panic!("{key} missing in {json}"))
        })
        .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
    }

    #[test]
    fn round_trip_v1() {
        let envelope = Event::new(
            "user_created",
            json!({ "mail": "a@b.c", "n": [1, 2.5, null] }),
        )
        .publisher("auth")
        .request_id(Uuid::new_v4())
        .build()
        .expect("valid event");
        assert_eq!(envelope.version(), 1);
        assert_eq!(envelope.uuid().get_version_num(), 4);
        let back = Envelope::from_json(&envelope.to_json()).expect("round trip");
        assert_eq!(back, envelope);
        assert_eq!(back.to_json(), envelope.to_json());
    }

    #[test]
    fn round_trip_v2_via_serde() {
        let (subject, object) = (Uuid::new_v4(), Uuid::new_v4());
        let envelope = Event::new("sign_up", json!({ "first_name": "John" }))
            .publisher("auth")
            .subject("user", subject)
            .object("user", object)
            .build()
            .expect("valid event");
        assert_eq!(envelope.version(), 2);
        assert_eq!(envelope.subject(), Some(&EntityRef::new("user", subject)));
        assert_eq!(envelope.object(), Some(&EntityRef::new("user", object)));
        let text = serde_json::to_string(&envelope).expect("serialize");
        let back: Envelope = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, envelope);
        assert_eq!(as_value(&text)["version"], json!(2));
    }

    #[test]
    fn sent_at_is_written_with_milliseconds_and_offset() {
        let at = time("2024-02-29T23:59:59.123456+05:30");
        let envelope = Event::new("x", json!(null))
            .publisher("p")
            .sent_at(at)
            .build()
            .expect("valid");
        assert_eq!(
            as_value(&envelope.to_json())["sent_at"],
            json!("2024-02-29T23:59:59.123+05:30")
        );

        let whole = Event::new("x", json!(null))
            .publisher("p")
            .sent_at(time("2024-01-01T00:00:00Z"))
            .build()
            .expect("valid");
        assert_eq!(
            as_value(&whole.to_json())["sent_at"],
            json!("2024-01-01T00:00:00.000+00:00")
        );
    }

    #[test]
    fn accepts_utc_z_and_ignores_inbox_fields() {
        let mut body = as_value(&v1_with("sent_at", Some(json!("2022-11-09T10:42:18.203Z"))));
        body["received_at"] = json!("2022-11-09T10:42:19.000Z");
        body["client_error"] = json!(null);
        let envelope = Envelope::from_json(&body.to_string()).expect("valid");
        assert_eq!(envelope.sent_at(), time("2022-11-09T11:42:18.203+01:00"));
    }

    #[test]
    fn null_request_id_counts_as_absent() {
        let envelope =
            Envelope::from_json(&v1_with("request_id", Some(json!(null)))).expect("valid");
        assert_eq!(envelope.request_id(), None);
        assert!(!envelope.to_json().contains("request_id"));
    }

    #[test]
    fn any_json_value_is_accepted_as_data() {
        for data in [
            json!(null),
            json!(1),
            json!("s"),
            json!([1, {"a": []}]),
            json!({}),
        ] {
            let envelope =
                Envelope::from_json(&v1_with("data", Some(data.clone()))).expect("valid");
            assert_eq!(envelope.data(), &data);
        }
    }

    #[test]
    fn from_sqs_body_accepts_raw_delivery() {
        let envelope = Envelope::from_sqs_body(&strip_comments(README_V2)).expect("valid");
        assert_eq!(envelope, parse(README_V2));
    }

    #[test]
    fn from_sqs_body_unwraps_sns_notification() {
        let inner = parse(README_V1).to_json();
        let body = json!({
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:prod-event-fanout-sample_app-note_created",
            "Message": inner,
            "Timestamp": "2022-11-09T10:42:18.300Z",
            "SignatureVersion": "1",
        })
        .to_string();
        assert_eq!(
            Envelope::from_sqs_body(&body).expect("valid"),
            parse(README_V1)
        );
    }

    #[test]
    fn from_sqs_body_reports_problems_in_the_wrapper_and_inside_it() {
        let no_message = json!({ "Type": "Notification" }).to_string();
        assert!(matches!(
            Envelope::from_sqs_body(&no_message),
            Err(MessageError::MissingField { field: "Message" })
        ));
        let object_message = json!({ "Type": "Notification", "Message": {} }).to_string();
        assert!(matches!(
            Envelope::from_sqs_body(&object_message),
            Err(MessageError::WrongType {
                field: "Message",
                expected: "a string",
                found: "an object"
            })
        ));
        let bad_inner =
            json!({ "Type": "Notification", "Message": v1_with("uuid", None) }).to_string();
        assert!(matches!(
            Envelope::from_sqs_body(&bad_inner),
            Err(MessageError::MissingField { field: "uuid" })
        ));
        let not_json_inner = json!({ "Type": "Notification", "Message": "hello" }).to_string();
        assert!(matches!(
            Envelope::from_sqs_body(&not_json_inner),
            Err(MessageError::Json { .. })
        ));
    }

    #[test]
    fn rejects_text_that_is_not_a_json_object() {
        assert!(matches!(rejected("not json"), MessageError::Json { .. }));
        assert!(matches!(rejected(""), MessageError::Json { .. }));
        assert!(matches!(
            rejected("[1]"),
            MessageError::NotAnObject { found: "an array" }
        ));
        assert!(matches!(
            rejected("\"s\""),
            MessageError::NotAnObject { found: "a string" }
        ));
    }

    #[test]
    fn rejects_missing_required_fields() {
        for field in ["uuid", "publisher", "type", "version", "data", "sent_at"] {
            let err = rejected(&v1_with(field, None));
            assert!(
                matches!(err, MessageError::MissingField { field: f } if f == field),
                "{field}: {err:?}"
            );
            assert_eq!(err.field(), Some(field));
            assert_eq!(err.to_string(), format!("missing required field `{field}`"));
        }
    }

    #[test]
    fn rejects_fields_of_the_wrong_type() {
        let cases = [
            ("uuid", json!(12), "a string", "a number"),
            ("publisher", json!(null), "a string", "null"),
            ("request_id", json!(5), "a string", "a number"),
            ("type", json!(["event_x"]), "a string", "an array"),
            ("version", json!("1"), "an integer", "a string"),
            (
                "version",
                json!(1.5),
                "an integer",
                "a floating-point number",
            ),
            (
                "version",
                json!(1e300),
                "an integer",
                "a floating-point number",
            ),
            ("sent_at", json!(1_668_000_000), "a string", "a number"),
        ];
        for (field, value, expected, found) in cases {
            let err = rejected(&v1_with(field, Some(value.clone())));
            assert!(
                matches!(err, MessageError::WrongType { field: f, expected: e, found: g }
                    if f == field && e == expected && g == found),
                "{field} = {value}: {err:?}"
            );
        }
    }

    #[test]
    fn rejects_bad_uuids() {
        for bad in [
            "",
            "not-a-uuid",
            "f2ce38130905-4d81-a60e-f289f2431f50x",
            "f2ce38130905 4d81a60ef289f2431f50",
        ] {
            let err = rejected(&v1_with("uuid", Some(json!(bad))));
            assert!(
                matches!(err, MessageError::InvalidField { field: "uuid", .. }),
                "{bad}: {err:?}"
            );
        }
        // Other forms the uuid crate knows are not what the gem writes or accepts.
        let simple = rejected(&v1_with(
            "uuid",
            Some(json!("f2ce381309054d81a60ef289f2431f50")),
        ));
        assert!(matches!(
            simple,
            MessageError::InvalidField { field: "uuid", .. }
        ));
        let err = rejected(&v1_with("request_id", Some(json!("X-123"))));
        assert!(matches!(
            err,
            MessageError::InvalidField {
                field: "request_id",
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "field `request_id` is invalid: `X-123` is not a uuid like f2ce3813-0905-4d81-a60e-f289f2431f50"
        );
    }

    #[test]
    fn rejects_bad_types() {
        let cases = [
            "note_created",
            "Event_note_created",
            "event",
            "event_",
            "command_",
            "event_note-created",
            "command_register user",
            "event_caf\u{e9}",
            "",
        ];
        for bad in cases {
            let err = rejected(&v1_with("type", Some(json!(bad))));
            assert!(
                matches!(err, MessageError::InvalidType { .. }),
                "{bad}: {err:?}"
            );
            assert_eq!(err.field(), Some("type"));
        }
        assert_eq!(
            rejected(&v1_with("type", Some(json!("note_created")))).to_string(),
            "field `type` has invalid value `note_created`: it must start with `event_` or `command_`"
        );
        let upper = Envelope::from_json(&v1_with("type", Some(json!("command_RegisterUser2"))))
            .expect("valid");
        assert_eq!(
            (upper.kind(), upper.name()),
            (Kind::Command, "RegisterUser2")
        );
    }

    #[test]
    fn rejects_unsupported_versions() {
        for (version, shown) in [
            (json!(0), "0"),
            (json!(3), "3"),
            (json!(-1), "-1"),
            (json!(u64::MAX), "18446744073709551615"),
        ] {
            let err = rejected(&v1_with("version", Some(version)));
            assert!(
                matches!(&err, MessageError::UnsupportedVersion { found } if found == shown),
                "{err:?}"
            );
        }
        assert_eq!(
            rejected(&v1_with("version", Some(json!(3)))).to_string(),
            "field `version` is 3, but only versions 1 and 2 are supported"
        );
    }

    #[test]
    fn version_1_must_not_have_subject_or_object() {
        let subject = json!({ "type": "user", "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" });
        for field in ["subject", "object"] {
            let err = rejected(&v1_with(field, Some(subject.clone())));
            assert!(
                matches!(err, MessageError::NotInVersion1 { field: f } if f == field),
                "{err:?}"
            );
        }
    }

    #[test]
    fn version_2_needs_subject_and_object() {
        for field in ["subject", "object"] {
            let err = rejected(&v2_with(field, None));
            assert!(
                matches!(err, MessageError::MissingField { field: f } if f == field),
                "{err:?}"
            );
            let err = rejected(&v2_with(field, Some(json!("user"))));
            assert!(
                matches!(err, MessageError::WrongType { field: f, .. } if f == field),
                "{err:?}"
            );
        }
        let cases = [
            (
                json!({ "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" }),
                "subject.type",
            ),
            (json!({ "type": "user" }), "subject.uuid"),
            (
                json!({ "type": "", "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" }),
                "subject.type",
            ),
            (
                json!({ "type": 1, "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" }),
                "subject.type",
            ),
            (json!({ "type": "user", "uuid": "42" }), "subject.uuid"),
            (json!({ "type": "user", "uuid": 42 }), "subject.uuid"),
        ];
        for (subject, field) in cases {
            let err = rejected(&v2_with("subject", Some(subject.clone())));
            assert_eq!(err.field(), Some(field), "{subject}: {err:?}");
        }
    }

    #[test]
    fn rejects_bad_sent_at() {
        for bad in [
            "",
            "yesterday",
            "2022-11-09",
            "2022-11-09T11:42:18.203",
            "2022-13-09T11:42:18+01:00",
        ] {
            let err = rejected(&v1_with("sent_at", Some(json!(bad))));
            assert!(
                matches!(
                    err,
                    MessageError::InvalidField {
                        field: "sent_at",
                        ..
                    }
                ),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn rejects_empty_publisher() {
        let err = rejected(&v1_with("publisher", Some(json!(""))));
        assert!(matches!(
            err,
            MessageError::InvalidField {
                field: "publisher",
                ..
            }
        ));
    }

    #[test]
    fn builders_make_distinct_kinds() {
        let event = Event::new("user_created", json!({}))
            .publisher("auth")
            .build()
            .expect("valid");
        let command = Command::new("create_user", json!({}))
            .publisher("auth")
            .build()
            .expect("valid");
        assert_eq!(event.message_type().to_string(), "event_user_created");
        assert_eq!(command.message_type().to_string(), "command_create_user");
        assert!(event.is_event() && command.is_command());
        let via_try_from =
            Envelope::try_from(Event::new("a", json!(1)).publisher("p")).expect("valid");
        assert_eq!(via_try_from.name(), "a");
    }

    #[test]
    fn builders_validate() {
        let no_publisher = Event::new("user_created", json!({})).build();
        assert!(matches!(
            no_publisher,
            Err(MessageError::MissingField { field: "publisher" })
        ));
        let empty_publisher = Event::new("user_created", json!({})).publisher("").build();
        assert!(matches!(
            empty_publisher,
            Err(MessageError::InvalidField {
                field: "publisher",
                ..
            })
        ));
        for bad in ["", "user-created", "user created", "\u{fc}ber"] {
            let err = Command::new(bad, json!({})).publisher("p").build();
            assert!(
                matches!(err, Err(MessageError::InvalidName { .. })),
                "{bad}: {err:?}"
            );
        }
        let hyphen = Event::new("user-created", json!({})).publisher("p").build();
        assert!(hyphen.is_err_and(|e| e.to_string().contains("use `_`")));
        let only_subject = Event::new("x", json!({}))
            .publisher("p")
            .subject("user", Uuid::new_v4())
            .build();
        assert!(matches!(
            only_subject,
            Err(MessageError::MissingField { field: "object" })
        ));
        let only_object = Event::new("x", json!({}))
            .publisher("p")
            .object("user", Uuid::new_v4())
            .build();
        assert!(matches!(
            only_object,
            Err(MessageError::MissingField { field: "subject" })
        ));
        let empty_type = Event::new("x", json!({}))
            .publisher("p")
            .subject("user", Uuid::new_v4())
            .object("", Uuid::new_v4())
            .build();
        assert!(matches!(
            empty_type,
            Err(MessageError::InvalidField {
                field: "object.type",
                ..
            })
        ));
    }

    #[test]
    fn message_type_parses_and_prints() {
        let t: MessageType = "command_register_user".parse().expect("valid");
        assert_eq!((t.kind(), t.name()), (Kind::Command, "register_user"));
        assert_eq!(
            t,
            MessageType::new(Kind::Command, "register_user").expect("valid")
        );
        assert_eq!(t.to_string(), "command_register_user");
        assert_eq!(Kind::Event.to_string(), "event");
        assert_eq!(Kind::Command.prefix(), "command_");
        // The first `_` after the kind ends the prefix; the rest is the name.
        let t: MessageType = "event_command_x".parse().expect("valid");
        assert_eq!((t.kind(), t.name()), (Kind::Event, "command_x"));
    }

    #[test]
    fn long_rejected_values_are_shortened_in_errors() {
        let long = format!("event_{}", "\u{e9}".repeat(10_000));
        let err = rejected(&v1_with("type", Some(json!(long))));
        assert!(err.to_string().len() < 300, "{err}");
    }

    #[test]
    fn never_panics_on_truncated_json() {
        for text in [README_V1, README_V2, README_REGISTER_USER] {
            let full = strip_comments(text);
            for (end, _) in full.char_indices() {
                let prefix = &full[..end];
                assert!(
                    Envelope::from_json(prefix).is_err(),
                    "accepted truncated {prefix}"
                );
                assert!(
                    Envelope::from_sqs_body(prefix).is_err(),
                    "accepted truncated {prefix}"
                );
            }
        }
    }

    #[test]
    fn never_panics_on_any_value_in_any_field() {
        let values = [
            json!(null),
            json!(true),
            json!(0),
            json!(-1),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1.0),
            json!(-0.0),
            json!(f64::MAX),
            json!(""),
            json!("\u{0}"),
            json!("\u{1F980}"),
            json!([]),
            json!({}),
            json!({ "type": null, "uuid": null }),
        ];
        let fields = [
            "uuid",
            "publisher",
            "request_id",
            "type",
            "version",
            "subject",
            "object",
            "data",
            "sent_at",
            "Type",
            "Message",
        ];
        for base in [README_V1, README_V2] {
            for field in fields {
                for value in &values {
                    let body = with_field(base, field, Some(value.clone()));
                    let _ = Envelope::from_json(&body);
                    let _ = Envelope::from_sqs_body(&body);
                }
            }
        }
        for raw in [
            "{\"version\": 1e400}",
            "{\"version\": 123456789012345678901234567890}",
            "{\"version\": -123456789012345678901234567890}",
            "{\"uuid\": \"\\ud800\"}",
            "{\"Type\": \"Notification\", \"Message\": \"{\\\"Type\\\": \\\"Notification\\\"}\"}",
        ] {
            assert!(Envelope::from_json(raw).is_err(), "{raw}");
            assert!(Envelope::from_sqs_body(raw).is_err(), "{raw}");
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(rejected(&deep), MessageError::Json { .. }));
        let deep_data = format!(
            "{{\"data\": {}1{}}}",
            "{\"a\":".repeat(100_000),
            "}".repeat(100_000)
        );
        assert!(matches!(rejected(&deep_data), MessageError::Json { .. }));
    }

    #[test]
    fn never_panics_on_binary_garbage() {
        // xorshift: deterministic, no extra dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = strip_comments(README_V2).into_bytes();
        for round in 0..2_000 {
            let len = (next() % 512) as usize;
            let bytes: Vec<u8> = if round % 2 == 0 {
                (0..len).map(|_| next() as u8).collect()
            } else {
                // Mutate a valid body so the parser gets deep before failing.
                let mut b = valid.clone();
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                b
            };
            let text = String::from_utf8_lossy(&bytes);
            let _ = Envelope::from_json(&text);
            let _ = Envelope::from_sqs_body(&text);
        }
    }
}
