//! Reading received envelopes: strict when writing, lenient when reading.
//!
//! lariat writes envelopes exactly as the Ruby gem does ([`Rules::Strict`] checks a body
//! against those rules). It reads what the gem's message classes read ([`Rules::Lenient`],
//! the default of [`Envelope::from_json`], [`Envelope::from_sqs_body`] and the inbox), so a
//! message a Ruby service would process is never set aside:
//!
//! | field        | lenient reading accepts                                   | normalised to                     |
//! |--------------|-----------------------------------------------------------|-----------------------------------|
//! | `uuid`       | a uuid in any form (`F2CE...`, no hyphens, `{...}`)       | the uuid                          |
//! | `version`    | `1`, `2`, `"1"`, `"2"`, `2.0`                             | 1 or 2                            |
//! | `type`       | `event_` or `command_` and any non-empty rest             | kind + name (`user-created` kept) |
//! | `sent_at`    | ISO-like times `Time.parse` reads, absent or `null`       | the time; no offset means UTC     |
//! | `data`       | any JSON value, or absent                                 | absent becomes `{}`               |
//! | `request_id` | a uuid in any form; another string or number              | the uuid; else kept in `extra`    |
//! | other keys   | anything                                                  | kept in [`Envelope::extra`]       |
//!
//! Refused either way, with every reason: a body that is not a JSON object, no `uuid` (or
//! one that is not a uuid: the inbox keys rows by it), no `publisher`, a `type` without the
//! `event_`/`command_` prefix, a version other than 1 or 2, a version 1 body with `subject` or
//! `object`, a version 2 body without both. The strict rules additionally refuse every
//! normalisation above: the publisher writes a hyphenated lower-case uuid, an integer version,
//! a name of ASCII letters, digits and `_`, `sent_at` with an offset, and `data`.

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    check_entity_type, check_publisher, excerpt, time, EntityRef, Envelope, MessageError,
    MessageType, Parties,
};
use crate::naming::Kind;

/// The top-level fields lariat interprets; every other one is kept in [`Envelope::extra`].
const KNOWN_FIELDS: [&str; 9] = [
    "uuid",
    "publisher",
    "request_id",
    "type",
    "version",
    "subject",
    "object",
    "data",
    "sent_at",
];

/// Which rules a body is read by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rules {
    /// What the Ruby gem's message classes accept; what receiving uses.
    #[default]
    Lenient,
    /// What lariat's publisher writes: the check for "would lariat have sent this?".
    Strict,
}

/// Every reason a body was refused, in field order; never empty.
#[derive(Debug)]
pub struct Refusal {
    /// The reasons.
    pub errors: Vec<MessageError>,
}

impl Refusal {
    fn one(error: MessageError) -> Self {
        Self {
            errors: vec![error],
        }
    }

    /// The first reason, for callers that report one.
    pub fn into_first(self) -> MessageError {
        self.errors
            .into_iter()
            .next()
            .unwrap_or(MessageError::MissingField { field: "uuid" })
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// A body that was read: the envelope, and its JSON text exactly as the publisher sent it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope as read.
    pub envelope: Envelope,
    /// The envelope's text as published: the SQS body itself, or the `Message` of the SNS
    /// notification that wrapped it, byte for byte.
    pub text: String,
    /// Whether the body was an SNS notification wrapping the envelope.
    pub sns_wrapped: bool,
}

/// Reads an SQS message body, which is either the raw envelope (raw delivery, or sent
/// straight to a queue) or an SNS notification wrapping it:
/// `{"Type": "Notification", "Message": "<envelope json>", ...}`.
pub fn read_sqs_body(body: &str, rules: Rules) -> Result<Received, Refusal> {
    let value = parse_json(body)?;
    let is_notification = value.get("Type").and_then(Value::as_str) == Some("Notification");
    if !is_notification {
        let envelope = read_value(value, rules)?;
        return Ok(Received {
            envelope,
            text: body.to_owned(),
            sns_wrapped: false,
        });
    }
    let inner = match value.get("Message") {
        None => {
            return Err(Refusal::one(MessageError::MissingField {
                field: "Message",
            }))
        }
        Some(Value::String(inner)) => inner,
        Some(other) => return Err(Refusal::one(wrong_type("Message", "a string", other))),
    };
    let envelope = read_value(parse_json(inner)?, rules)?;
    Ok(Received {
        envelope,
        text: inner.clone(),
        sns_wrapped: true,
    })
}

/// Reads the JSON text of an envelope (no SNS wrapper).
pub fn read_json(json: &str, rules: Rules) -> Result<Envelope, Refusal> {
    read_value(parse_json(json)?, rules)
}

/// Reads an already parsed JSON value as an envelope, collecting every reason to refuse it.
pub fn read_value(value: Value, rules: Rules) -> Result<Envelope, Refusal> {
    let Value::Object(mut map) = value else {
        return Err(Refusal::one(MessageError::NotAnObject {
            found: json_type(&value),
        }));
    };
    let mut errors = Vec::new();
    let uuid = ok_or_push(&mut errors, read_uuid(&map, rules));
    let publisher = ok_or_push(&mut errors, read_publisher(&map));
    let request_id = ok_or_push(&mut errors, read_request_id(&map, rules));
    let message_type = ok_or_push(&mut errors, read_type(&map, rules));
    let version = ok_or_push(&mut errors, read_version(&map, rules));
    let parties = match version {
        Some(version) => ok_or_push(&mut errors, read_parties(&map, version, rules)),
        None => None,
    };
    let data = ok_or_push(&mut errors, read_data(&mut map, rules));
    let sent_at = ok_or_push(&mut errors, read_sent_at(&map, rules));
    let (
        Some(uuid),
        Some(publisher),
        Some((request_id, raw_request_id)),
        Some(message_type),
        Some(parties),
        Some(data),
        Some(sent_at),
    ) = (
        uuid,
        publisher,
        request_id,
        message_type,
        parties,
        data,
        sent_at,
    )
    else {
        return Err(Refusal { errors });
    };
    map.retain(|key, _| !KNOWN_FIELDS.contains(&key.as_str()));
    if let Some(raw) = raw_request_id {
        map.insert("request_id".to_owned(), raw);
    }
    Ok(Envelope {
        uuid,
        publisher,
        request_id,
        message_type,
        parties,
        data,
        sent_at,
        extra: map,
    })
}

impl Envelope {
    /// Reads an envelope from its JSON text (the raw body of a message), leniently: see
    /// [`read`](crate::message::read) for what is accepted. Fails with the first problem.
    pub fn from_json(json: &str) -> Result<Self, MessageError> {
        read_json(json, Rules::Lenient).map_err(Refusal::into_first)
    }

    /// Reads an SQS message body, raw or wrapped in an SNS notification, leniently.
    pub fn from_sqs_body(body: &str) -> Result<Self, MessageError> {
        read_sqs_body(body, Rules::Lenient)
            .map(|received| received.envelope)
            .map_err(Refusal::into_first)
    }

    /// Reads an already parsed JSON value as an envelope, leniently.
    pub fn from_value(value: Value) -> Result<Self, MessageError> {
        read_value(value, Rules::Lenient).map_err(Refusal::into_first)
    }
}

fn ok_or_push<T>(errors: &mut Vec<MessageError>, result: Result<T, MessageError>) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}

fn parse_json(text: &str) -> Result<Value, Refusal> {
    serde_json::from_str(text).map_err(|source| Refusal::one(MessageError::Json { source }))
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

pub(super) fn wrong_type(
    field: &'static str,
    expected: &'static str,
    found: &Value,
) -> MessageError {
    MessageError::WrongType {
        field,
        expected,
        found: json_type(found),
    }
}

pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Strict: only the hyphenated form the gem writes (8-4-4-4-12 hex digits). Lenient: any form
/// a database's uuid column takes (upper case, no hyphens, braces, `urn:uuid:`).
fn parse_uuid(field: &'static str, s: &str, rules: Rules) -> Result<Uuid, MessageError> {
    let invalid = || MessageError::InvalidField {
        field,
        reason: format!(
            "`{}` is not a uuid like f2ce3813-0905-4d81-a60e-f289f2431f50",
            excerpt(s)
        ),
    };
    if rules == Rules::Strict && s.len() != 36 {
        return Err(invalid());
    }
    Uuid::try_parse(s).map_err(|_| invalid())
}

fn read_uuid(map: &Map<String, Value>, rules: Rules) -> Result<Uuid, MessageError> {
    parse_uuid("uuid", required_str(map, "uuid")?, rules)
}

fn read_publisher(map: &Map<String, Value>) -> Result<String, MessageError> {
    let publisher = required_str(map, "publisher")?;
    check_publisher(publisher)?;
    Ok(publisher.to_owned())
}

/// The request id, and the raw value to keep when it is not a uuid (lenient only: the gem
/// takes any string or integer).
fn read_request_id(
    map: &Map<String, Value>,
    rules: Rules,
) -> Result<(Option<Uuid>, Option<Value>), MessageError> {
    let value = match optional(map, "request_id") {
        None => return Ok((None, None)),
        Some(value) => value,
    };
    match (value, rules) {
        (Value::String(s), Rules::Strict) => Ok((Some(parse_uuid("request_id", s, rules)?), None)),
        (Value::String(s), Rules::Lenient) => match parse_uuid("request_id", s, rules) {
            Ok(uuid) => Ok((Some(uuid), None)),
            Err(_) => Ok((None, Some(value.clone()))),
        },
        (Value::Number(_), Rules::Lenient) => Ok((None, Some(value.clone()))),
        (Value::Bool(false), Rules::Lenient) => Ok((None, None)),
        (other, Rules::Lenient) => Err(wrong_type("request_id", "a string or a number", other)),
        (other, Rules::Strict) => Err(wrong_type("request_id", "a string", other)),
    }
}

fn read_type(map: &Map<String, Value>, rules: Rules) -> Result<MessageType, MessageError> {
    let text = required_str(map, "type")?;
    if rules == Rules::Strict {
        return text.parse();
    }
    let invalid = |reason| MessageError::InvalidType {
        value: excerpt(text),
        reason,
    };
    let (kind, name) = [Kind::Event, Kind::Command]
        .into_iter()
        .find_map(|kind| text.strip_prefix(kind.prefix()).map(|name| (kind, name)))
        .ok_or_else(|| invalid("it must start with `event_` or `command_`"))?;
    if name.is_empty() {
        return Err(invalid("the name after the prefix is empty"));
    }
    Ok(MessageType {
        kind,
        name: name.to_owned(),
    })
}

fn read_version(map: &Map<String, Value>, rules: Rules) -> Result<u8, MessageError> {
    let value = required(map, "version")?;
    let number = match (value, rules) {
        (Value::Number(number), _) => number_version(number, rules)?,
        (Value::String(s), Rules::Lenient) => string_version(s)?,
        (other, Rules::Lenient) => {
            return Err(wrong_type(
                "version",
                "an integer or a numeric string",
                other,
            ))
        }
        (other, Rules::Strict) => return Err(wrong_type("version", "an integer", other)),
    };
    match number {
        1 => Ok(1),
        2 => Ok(2),
        other => Err(MessageError::UnsupportedVersion {
            found: other.to_string(),
        }),
    }
}

fn number_version(number: &serde_json::Number, rules: Rules) -> Result<i128, MessageError> {
    if let Some(n) = number.as_i64() {
        return Ok(i128::from(n));
    }
    if let Some(n) = number.as_u64() {
        return Ok(i128::from(n));
    }
    let not_integer = MessageError::WrongType {
        field: "version",
        expected: "an integer",
        found: "a floating-point number",
    };
    // Ruby's Integer(2.0) is 2; a fraction is refused rather than cut off.
    match number.as_f64() {
        Some(f) if rules == Rules::Lenient && f.fract() == 0.0 && f.abs() < 1e15 => Ok(f as i128),
        _ => Err(not_integer),
    }
}

/// Ruby's `Integer("2")`: decimal digits with an optional sign, surrounding spaces allowed.
fn string_version(s: &str) -> Result<i128, MessageError> {
    let trimmed = s.trim();
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    let parsed =
        if !digits.is_empty() && digits.len() <= 30 && digits.bytes().all(|b| b.is_ascii_digit()) {
            trimmed.parse::<i128>().ok()
        } else {
            None
        };
    parsed.ok_or_else(|| MessageError::InvalidField {
        field: "version",
        reason: format!("`{}` is not an integer", excerpt(s)),
    })
}

/// Subject and object must match the version: both in version 2, neither in version 1.
fn read_parties(
    map: &Map<String, Value>,
    version: u8,
    rules: Rules,
) -> Result<Option<Parties>, MessageError> {
    if version == 1 {
        for field in ["subject", "object"] {
            if optional(map, field).is_some() {
                return Err(MessageError::NotInVersion1 { field });
            }
        }
        return Ok(None);
    }
    let subject = read_entity(map, "subject", "subject.type", "subject.uuid", rules)?;
    let object = read_entity(map, "object", "object.type", "object.uuid", rules)?;
    Ok(Some(Parties { subject, object }))
}

fn read_entity(
    map: &Map<String, Value>,
    field: &'static str,
    type_field: &'static str,
    uuid_field: &'static str,
    rules: Rules,
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
        Some(Value::String(s)) => parse_uuid(uuid_field, s, rules)?,
        Some(other) => return Err(wrong_type(uuid_field, "a string", other)),
    };
    Ok(EntityRef::new(entity_type.as_str(), uuid))
}

/// Takes `data` out of the map; lenient reading makes an absent one `{}`, as the gem does.
fn read_data(map: &mut Map<String, Value>, rules: Rules) -> Result<Value, MessageError> {
    match (map.remove("data"), rules) {
        (Some(data), _) => Ok(data),
        (None, Rules::Lenient) => Ok(Value::Object(Map::new())),
        (None, Rules::Strict) => Err(MessageError::MissingField { field: "data" }),
    }
}

fn read_sent_at(
    map: &Map<String, Value>,
    rules: Rules,
) -> Result<Option<DateTime<FixedOffset>>, MessageError> {
    if rules == Rules::Strict {
        let text = required_str(map, "sent_at")?;
        return DateTime::parse_from_rfc3339(text)
            .map(Some)
            .map_err(|e| MessageError::InvalidField {
                field: "sent_at",
                reason: format!(
                    "`{}` is not an ISO 8601 time with offset like 2022-11-09T11:42:18.203+01:00 ({e})",
                    excerpt(text)
                ),
            });
    }
    match optional(map, "sent_at") {
        None => Ok(None),
        Some(Value::String(text)) => match time::parse_lenient(text) {
            Some(at) => Ok(Some(at)),
            None => Err(MessageError::InvalidField {
                field: "sent_at",
                reason: format!(
                    "`{}` is not a time like 2022-11-09T11:42:18.203+01:00 or 2022-11-09 11:42:18",
                    excerpt(text)
                ),
            }),
        },
        Some(other) => Err(wrong_type("sent_at", "a string", other)),
    }
}
