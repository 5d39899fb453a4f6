//! Naming rules for topics and queues, compatible with the Ruby gem `cyclone_lariat`.
//!
//! - topic: `{instance}-{kind}-fanout-{publisher}-{type}` + `.fifo` when FIFO
//! - queue: `{instance}-{kind}-queue-{publisher}-{type}[-{dest}]` + `.fifo` when FIFO
//!
//! Parts are joined with `-`, so a part may not contain one: a hyphen inside a part would make
//! the name ambiguous when it is parsed back. Names that do not follow the rule are *custom*:
//! they are accepted as they are (for external or legacy resources) and never parsed as errors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod arns;

pub use arns::{foreign_parts, Arns};

/// The longest topic or queue name lariat accepts, `.fifo` suffix included.
///
/// SQS allows 80 characters including the suffix; SNS allows more, but one bound for both keeps
/// every topic name usable as a queue name and the other way round.
pub const MAX_NAME_LEN: usize = 80;

/// The suffix AWS requires on FIFO topics and queues.
pub const FIFO_SUFFIX: &str = ".fifo";

/// The publisher part meaning "receives from many publishers".
pub const ANY_PUBLISHER: &str = "any";

/// The type part meaning "receives every type".
pub const ALL_TYPES: &str = "all";

/// Whether a message (and the topic or queue carrying it) is an event — a fact that happened,
/// named `<aggregate>_<past participle>` — or a command — a request for a state change with
/// exactly one handler, named `<verb>_<aggregate>`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A statement of fact about a change that happened.
    #[default]
    Event,
    /// A request to change state, handled by exactly one consumer.
    Command,
}

impl Kind {
    /// The word used in names and message types: `event` or `command`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Command => "command",
        }
    }

    /// The prefix of a message envelope's `type` field: `event_` or `command_`.
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Event => "event_",
            Kind::Command => "command_",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl NameError {
    /// How to fix it.
    pub fn help(&self) -> &'static str {
        match self {
            NameError::BadPart { .. } => "use underscores inside parts, e.g. `user_created`",
            NameError::BadKind(_) => "use `kind = \"event\"` or `kind = \"command\"`",
            NameError::TooLong { .. } => {
                "shorten the instance, publisher, type or dest, or give the resource a custom `name`"
            }
            NameError::BadCharacters(_) => "AWS allows A-Z a-z 0-9 _ - in topic and queue names",
            NameError::FifoSuffix { .. } => "make `fifo` and the `.fifo` suffix of the name agree",
        }
    }
}

impl FromStr for Kind {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "event" => Ok(Kind::Event),
            "command" => Ok(Kind::Command),
            other => Err(NameError::BadKind(other.to_owned())),
        }
    }
}

/// Topic (SNS) or queue (SQS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    /// An SNS topic.
    Topic,
    /// An SQS queue.
    Queue,
}

impl ResourceKind {
    /// `topic` or `queue`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Topic => "topic",
            ResourceKind::Queue => "queue",
        }
    }

    /// The resource word inside a standard name: `fanout` or `queue`.
    fn infix(self) -> &'static str {
        match self {
            ResourceKind::Topic => "fanout",
            ResourceKind::Queue => "queue",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that breaks AWS limits or the naming rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// A part (instance, publisher, type, dest) is empty or has a character outside `[A-Za-z0-9_]`.
    #[error("{part} `{value}` must be 1 or more of the characters A-Z a-z 0-9 _ (no hyphen: hyphens separate the parts of a name)")]
    BadPart {
        /// Which part: `instance`, `publisher`, `type` or `dest`.
        part: &'static str,
        /// The rejected value.
        value: String,
    },
    /// The kind is not `event` or `command`.
    #[error("kind `{0}` must be `event` or `command`")]
    BadKind(String),
    /// The full name is longer than [`MAX_NAME_LEN`].
    #[error("name `{name}` is {len} characters long; AWS allows at most {MAX_NAME_LEN}")]
    TooLong {
        /// The rejected name.
        name: String,
        /// Its length in characters.
        len: usize,
    },
    /// The name is empty or has a character AWS refuses.
    #[error("name `{0}` may only contain A-Z a-z 0-9 _ - (and end in `.fifo` for FIFO resources)")]
    BadCharacters(String),
    /// The `.fifo` suffix and the FIFO flag disagree.
    #[error("name `{name}` {}", if *.fifo { "is declared FIFO, so it must end in `.fifo`" } else { "ends in `.fifo`, so it must be declared with `fifo = true`" })]
    FifoSuffix {
        /// The rejected name.
        name: String,
        /// Whether the resource was declared FIFO.
        fifo: bool,
    },
}

/// The configured parts of every standard name: instance, and the default publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamingDefaults {
    /// Deployment instance (`production`, `staging`, `test`...).
    pub instance: String,
    /// The publisher used when a declaration names none.
    pub publisher: String,
}

/// The parts of a standard name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NameParts {
    /// Deployment instance: `production`, `staging`, `test`...
    pub instance: String,
    /// Event or command.
    pub kind: Kind,
    /// The publishing service, or `any`.
    pub publisher: String,
    /// The message type, or `all`.
    #[serde(rename = "type")]
    pub message_type: String,
    /// The consuming service (queues only), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    /// Whether the resource is FIFO.
    pub fifo: bool,
}

impl NameParts {
    /// Checks every part against the naming rules (no hyphens, no empty parts).
    pub fn validate(&self) -> Result<(), NameError> {
        check_part("instance", &self.instance)?;
        check_part("publisher", &self.publisher)?;
        check_part("type", &self.message_type)?;
        if let Some(dest) = &self.dest {
            check_part("dest", dest)?;
        }
        Ok(())
    }

    /// The full name for a topic or a queue, validated against AWS limits.
    ///
    /// A topic never carries `dest`; callers reject it before asking for a topic name.
    pub fn name(&self, resource: ResourceKind) -> Result<String, NameError> {
        self.validate()?;
        let mut name = format!(
            "{}-{}-{}-{}-{}",
            self.instance,
            self.kind,
            resource.infix(),
            self.publisher,
            self.message_type
        );
        if let (ResourceKind::Queue, Some(dest)) = (resource, &self.dest) {
            name.push('-');
            name.push_str(dest);
        }
        if self.fifo {
            name.push_str(FIFO_SUFFIX);
        }
        validate_name(&name, self.fifo)?;
        Ok(name)
    }
}

/// What a name says about itself once parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "naming", rename_all = "lowercase")]
pub enum ParsedName {
    /// The name follows the naming rule.
    Standard(NameParts),
    /// The name does not follow the rule; only FIFO can be told from it.
    Custom {
        /// Whether the name ends in `.fifo`.
        fifo: bool,
    },
}

impl ParsedName {
    /// Whether the name ends in `.fifo`.
    pub fn fifo(&self) -> bool {
        match self {
            ParsedName::Standard(parts) => parts.fifo,
            ParsedName::Custom { fifo } => *fifo,
        }
    }

    /// The parts, when the name is standard.
    pub fn parts(&self) -> Option<&NameParts> {
        match self {
            ParsedName::Standard(parts) => Some(parts),
            ParsedName::Custom { .. } => None,
        }
    }
}

/// Parses a topic or queue name back into its parts; names that do not fit are custom.
pub fn parse(resource: ResourceKind, name: &str) -> ParsedName {
    let (base, fifo) = match name.strip_suffix(FIFO_SUFFIX) {
        Some(base) => (base, true),
        None => (name, false),
    };
    let custom = ParsedName::Custom { fifo };
    let pieces: Vec<&str> = base.split('-').collect();
    let expected = match resource {
        ResourceKind::Topic => 5..=5,
        ResourceKind::Queue => 5..=6,
    };
    if !expected.contains(&pieces.len()) || pieces[2] != resource.infix() {
        return custom;
    }
    let Ok(kind) = pieces[1].parse::<Kind>() else {
        return custom;
    };
    let parts = NameParts {
        instance: pieces[0].to_owned(),
        kind,
        publisher: pieces[3].to_owned(),
        message_type: pieces[4].to_owned(),
        dest: pieces.get(5).map(|dest| (*dest).to_owned()),
        fifo,
    };
    match parts.validate() {
        Ok(()) => ParsedName::Standard(parts),
        Err(_) => custom,
    }
}

/// Checks a full topic or queue name against AWS limits and its FIFO flag.
pub fn validate_name(name: &str, fifo: bool) -> Result<(), NameError> {
    let (base, has_suffix) = match name.strip_suffix(FIFO_SUFFIX) {
        Some(base) => (base, true),
        None => (name, false),
    };
    if base.is_empty()
        || !base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(NameError::BadCharacters(name.to_owned()));
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            name: name.to_owned(),
            len,
        });
    }
    if has_suffix != fifo {
        return Err(NameError::FifoSuffix {
            name: name.to_owned(),
            fifo,
        });
    }
    Ok(())
}

/// Checks one part of a standard name: non-empty, `[A-Za-z0-9_]` only.
pub fn check_part(part: &'static str, value: &str) -> Result<(), NameError> {
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(NameError::BadPart {
            part,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// The ARN of a topic or queue, built by AWS rules without asking AWS.
pub fn arn(resource: ResourceKind, region: &str, account_id: &str, name: &str) -> String {
    let service = match resource {
        ResourceKind::Topic => "sns",
        ResourceKind::Queue => "sqs",
    };
    format!("arn:aws:{service}:{region}:{account_id}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(kind: Kind, publisher: &str, ty: &str, dest: Option<&str>, fifo: bool) -> NameParts {
        NameParts {
            instance: "test".into(),
            kind,
            publisher: publisher.into(),
            message_type: ty.into(),
            dest: dest.map(Into::into),
            fifo,
        }
    }

    /// Names from the Ruby gem's README, built by the same rule.
    #[test]
    fn names_match_the_ruby_gem() {
        let cases = [
            (
                ResourceKind::Topic,
                parts(
                    Kind::Command,
                    "cyclone_lariat",
                    "register_user",
                    None,
                    false,
                ),
                "test-command-fanout-cyclone_lariat-register_user",
            ),
            (
                ResourceKind::Queue,
                parts(
                    Kind::Event,
                    "cyclone_lariat",
                    "register_user",
                    Some("mailer"),
                    false,
                ),
                "test-event-queue-cyclone_lariat-register_user-mailer",
            ),
            (
                ResourceKind::Topic,
                parts(Kind::Event, "cyclone_lariat", "note_added", None, true),
                "test-event-fanout-cyclone_lariat-note_added.fifo",
            ),
            (
                ResourceKind::Queue,
                parts(
                    Kind::Event,
                    "cyclone_lariat",
                    "note_added",
                    Some("notifier"),
                    true,
                ),
                "test-event-queue-cyclone_lariat-note_added-notifier.fifo",
            ),
            (
                ResourceKind::Queue,
                parts(Kind::Event, "any", "all", Some("statistic"), false),
                "test-event-queue-any-all-statistic",
            ),
            (
                ResourceKind::Topic,
                parts(Kind::Event, "any", "user_created", None, false),
                "test-event-fanout-any-user_created",
            ),
            (
                ResourceKind::Queue,
                parts(Kind::Command, "auth", "all", None, true),
                "test-command-queue-auth-all.fifo",
            ),
            (
                ResourceKind::Queue,
                parts(Kind::Event, "auth", "user_created", None, false),
                "test-event-queue-auth-user_created",
            ),
        ];
        for (resource, parts, expected) in cases {
            assert_eq!(parts.name(resource).as_deref(), Ok(expected));
            assert_eq!(parse(resource, expected), ParsedName::Standard(parts));
        }
    }

    #[test]
    fn topics_ignore_dest() {
        let p = parts(Kind::Event, "auth", "x", Some("mailer"), false);
        assert_eq!(
            p.name(ResourceKind::Topic).as_deref(),
            Ok("test-event-fanout-auth-x")
        );
    }

    #[test]
    fn every_combination_round_trips() {
        for resource in [ResourceKind::Topic, ResourceKind::Queue] {
            for kind in [Kind::Event, Kind::Command] {
                for publisher in ["auth", ANY_PUBLISHER] {
                    for ty in ["user_created", ALL_TYPES] {
                        for dest in [None, Some("mailer")] {
                            for fifo in [false, true] {
                                let dest = dest.filter(|_| resource == ResourceKind::Queue);
                                let p = parts(kind, publisher, ty, dest, fifo);
                                let Ok(name) = p.name(resource) else {
                                    panic!("{p:?} should be valid");
                                };
                                assert_eq!(name.ends_with(".fifo"), fifo, "{name}");
                                assert_eq!(parse(resource, &name), ParsedName::Standard(p));
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn names_outside_the_rule_are_custom() {
        let cases = [
            (ResourceKind::Topic, "legacy_topic", false),
            (ResourceKind::Topic, "orders.fifo", true),
            (ResourceKind::Topic, "test-event-queue-auth-x", false),
            (ResourceKind::Queue, "test-event-fanout-auth-x", false),
            (ResourceKind::Topic, "test-event-fanout-auth-x-extra", false),
            (ResourceKind::Queue, "test-event-queue-auth-x-y-z", false),
            (ResourceKind::Queue, "test-notice-queue-auth-x", false),
            (ResourceKind::Queue, "test--queue-auth-x", false),
            (ResourceKind::Queue, "test-event-queue--x", false),
            (ResourceKind::Queue, "", false),
        ];
        for (resource, name, fifo) in cases {
            assert_eq!(parse(resource, name), ParsedName::Custom { fifo }, "{name}");
        }
    }

    #[test]
    fn hyphens_and_bad_characters_in_parts_are_rejected() {
        for bad in ["user-created", "", "ünïcode", "a b", "a.b"] {
            let p = parts(Kind::Event, "auth", bad, None, false);
            assert!(
                matches!(
                    p.name(ResourceKind::Topic),
                    Err(NameError::BadPart { part: "type", .. })
                ),
                "{bad:?}"
            );
        }
        let p = NameParts {
            instance: "prod-eu".into(),
            ..parts(Kind::Event, "auth", "x", None, false)
        };
        assert!(matches!(
            p.name(ResourceKind::Queue),
            Err(NameError::BadPart {
                part: "instance",
                ..
            })
        ));
    }

    #[test]
    fn names_over_the_limit_are_rejected() {
        let long = "a".repeat(60);
        let p = parts(Kind::Event, "auth", &long, None, false);
        let err = p.name(ResourceKind::Queue).unwrap_err();
        assert!(matches!(err, NameError::TooLong { len: 82, .. }), "{err}");
        assert!(err.to_string().contains("at most 80"));

        // exactly 80 with the suffix is fine, 81 is not
        let base = "a".repeat(75);
        assert_eq!(validate_name(&format!("{base}.fifo"), true), Ok(()));
        assert!(validate_name(&format!("{base}a.fifo"), true).is_err());
    }

    #[test]
    fn custom_names_are_checked_against_aws_limits() {
        assert_eq!(validate_name("legacy-topic_1", false), Ok(()));
        assert!(matches!(
            validate_name("bad name", false),
            Err(NameError::BadCharacters(_))
        ));
        assert!(matches!(
            validate_name(".fifo", true),
            Err(NameError::BadCharacters(_))
        ));
        assert!(matches!(
            validate_name("a.b", false),
            Err(NameError::BadCharacters(_))
        ));
        assert!(matches!(
            validate_name("orders", true),
            Err(NameError::FifoSuffix { fifo: true, .. })
        ));
        assert!(matches!(
            validate_name("orders.fifo", false),
            Err(NameError::FifoSuffix { fifo: false, .. })
        ));
    }

    #[test]
    fn arns_follow_aws_rules() {
        assert_eq!(
            arn(ResourceKind::Topic, "eu-west-1", "247602342345", "t.fifo"),
            "arn:aws:sns:eu-west-1:247602342345:t.fifo"
        );
        assert_eq!(
            arn(ResourceKind::Queue, "us-east-1", "123456789012", "q"),
            "arn:aws:sqs:us-east-1:123456789012:q"
        );
    }
}
