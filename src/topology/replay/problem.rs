//! What replay reports: a problem with its fix, before it gets a file and line, and the
//! messages that several checks share.

use std::fmt;

use crate::naming::{self, ResourceKind};

/// An error message and its fix, before it gets a file and line.
pub(super) struct Problem {
    pub(super) message: String,
    pub(super) help: Option<String>,
}

impl Problem {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: None,
        }
    }

    pub(super) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The same problem, said of the key `key` of a table (`dead_letter_queue: ...`).
    pub(super) fn of_key(self, key: &str) -> Self {
        Self {
            message: format!("{key}: {}", self.message),
            help: self.help,
        }
    }
}

pub(super) type Checked<T> = Result<T, Problem>;

/// Which operation a spec came from, for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Create,
    Change,
    Delete,
}

/// What a table creates, changes or deletes, for messages and table names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Noun {
    Topic,
    Queue,
    Subscription,
}

impl fmt::Display for Noun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Noun::Topic => "topic",
            Noun::Queue => "queue",
            Noun::Subscription => "subscription",
        })
    }
}

impl From<ResourceKind> for Noun {
    fn from(kind: ResourceKind) -> Self {
        match kind {
            ResourceKind::Topic => Noun::Topic,
            ResourceKind::Queue => Noun::Queue,
        }
    }
}

impl Verb {
    /// The table a migration writes for this verb and noun: `create_topic`, `subscribe`...
    pub(super) fn table(self, noun: Noun) -> String {
        match (self, noun) {
            (Verb::Create, Noun::Subscription) => "subscribe".to_owned(),
            (Verb::Delete, Noun::Subscription) => "unsubscribe".to_owned(),
            (Verb::Create, _) => format!("create_{noun}"),
            (Verb::Change, _) => format!("change_{noun}"),
            (Verb::Delete, _) => format!("delete_{noun}"),
        }
    }
}

/// A delete names only what to remove.
pub(super) fn reject_attributes(noun: Noun, keys: &[&str]) -> Checked<()> {
    if keys.is_empty() {
        return Ok(());
    }
    Err(Problem::new(format!(
        "[[{}]] takes only which {noun} to remove, not {}",
        Verb::Delete.table(noun),
        keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    ))
    .help("remove those keys; `rollback` recreates the resource with the attributes the earlier migrations declare"))
}

/// `unset` is for changes only.
pub(super) fn reject_unset(unset: &[String], verb: Verb, noun: Noun) -> Checked<()> {
    if unset.is_empty() {
        return Ok(());
    }
    Err(Problem::new(format!(
        "`unset` belongs in [[{}]], not [[{}]]",
        Verb::Change.table(noun),
        verb.table(noun)
    ))
    .help("leave the attribute out to get the AWS default"))
}

pub(super) fn name_problem(e: naming::NameError) -> Problem {
    Problem::new(e.to_string()).help(e.help())
}

pub(super) fn unknown_unset(key: &str, allowed: &[&str]) -> Problem {
    Problem::new(format!(
        "`unset` names `{key}`, which is not an attribute that can be unset"
    ))
    .help(format!("one of: {}", allowed.join(", ")))
}

pub(super) fn nothing_changes(noun: Noun, name: &str) -> Problem {
    Problem::new(format!("this change leaves {noun} {name} as it is"))
        .help("set at least one attribute to a new value (or `unset` one), or remove the table")
}

pub(super) fn fifo_only(key: &str, resource: ResourceKind, name: &str) -> Problem {
    Problem::new(format!("`{key}` applies to FIFO {resource}s only, and {resource} {name} is standard"))
        .help(format!("add `fifo = true` to the {resource} (which changes its name to end in .fifo) or remove `{key}`"))
}

pub(super) fn fifo_mismatch(a: &str, a_fifo: bool, b: &str) -> Problem {
    let (fa, fb) = if a_fifo {
        ("FIFO", "standard")
    } else {
        ("standard", "FIFO")
    };
    Problem::new(format!("{a} is {fa} but {b} is {fb}"))
        .help("FIFO topics deliver to FIFO queues and standard to standard; declare both with the same `fifo`")
}
