//! What `lariat drift` reports: the resources missing, unexpected or differing, attribute by
//! attribute, and the version the comparison was made against.

use std::fmt;

use serde::Serialize;

use crate::naming::ResourceKind;
use crate::topology::SubscriptionKey;

/// A topic, queue or subscription named in a drift report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "resource", content = "name", rename_all = "lowercase")]
pub enum Resource {
    /// A topic.
    Topic(String),
    /// A queue.
    Queue(String),
    /// A subscription.
    Subscription(SubscriptionKey),
}

impl Resource {
    /// The topic or queue of this name (or key).
    pub fn of(kind: ResourceKind, name: String) -> Resource {
        match kind {
            ResourceKind::Topic => Resource::Topic(name),
            ResourceKind::Queue => Resource::Queue(name),
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Topic(name) => write!(f, "topic {name}"),
            Resource::Queue(name) => write!(f, "queue {name}"),
            Resource::Subscription(key) => write!(f, "subscription {key}"),
        }
    }
}

/// One attribute (or tag) whose live value is not the expected one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// AWS attribute name, `tag KEY`, or `Policy` for a missing subscription statement.
    pub attribute: String,
    /// The value the files lead to expect (`None`: no value).
    pub expected: Option<String>,
    /// Whether `expected` is declared in the files (otherwise it is the AWS default).
    pub declared: bool,
    /// What the account has (`None`: no value).
    pub live: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}{}, found {}",
            self.attribute,
            self.expected.as_deref().unwrap_or("(none)"),
            if self.declared { "" } else { " (AWS default)" },
            self.live.as_deref().unwrap_or("(none)")
        )
    }
}

/// A resource present on both sides whose attributes differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Differing {
    /// Which resource.
    #[serde(flatten)]
    pub resource: Resource,
    /// What differs, by attribute name.
    pub differences: Vec<Difference>,
}

/// How the account differs from the declared topology.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Declared but absent from the account.
    pub missing: Vec<Resource>,
    /// In the account, of the instance (or touching it, for subscriptions), but not declared.
    pub unexpected: Vec<Resource>,
    /// On both sides, with differences.
    pub differing: Vec<Differing>,
    /// External topics and queues (another service's) that the files use but the account
    /// does not hold. Only their existence is compared. Left out of JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_external: Vec<Resource>,
}

impl Drift {
    /// Whether the account matches the files.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.differing.is_empty()
            && self.missing_external.is_empty()
    }
}

/// `lariat drift`: the comparison and the version it was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    /// The newest applied version, or `None` when nothing is applied (the declared topology is
    /// then empty).
    pub version: Option<i64>,
    /// The instance whose resources count as unexpected.
    pub instance: Option<String>,
    /// Whether the account matches.
    pub in_sync: bool,
    /// What differs.
    #[serde(flatten)]
    pub drift: Drift,
}
