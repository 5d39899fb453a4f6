//! Name bookkeeping: a reference to a topic or queue (a custom `name`, or the parts of a
//! standard name) resolved into its full name, and where each resource was declared.

use std::collections::HashMap;
use std::path::Path;

use super::problem::{name_problem, Checked, Problem};
use super::Replay;
use crate::migration::{ExternalSpec, QueueSpec, ResourceRef, TopicSpec};
use crate::naming::{self, Kind, NameParts, ParsedName, ResourceKind, ALL_TYPES};

/// The identity fields shared by every reference to a topic or queue.
pub(super) struct Identity<'a> {
    name: Option<&'a str>,
    kind: Option<Kind>,
    publisher: Option<&'a str>,
    message_type: Option<&'a str>,
    dest: Option<&'a str>,
    fifo: Option<bool>,
}

/// Every table that names a topic or queue has the same identity fields.
macro_rules! identity_of {
    ($($spec:ty),*) => {$(
        impl<'a> From<&'a $spec> for Identity<'a> {
            fn from(r: &'a $spec) -> Self {
                Identity {
                    name: r.name.as_deref(),
                    kind: r.kind,
                    publisher: r.publisher.as_deref(),
                    message_type: r.message_type.as_deref(),
                    dest: r.dest.as_deref(),
                    fifo: r.fifo,
                }
            }
        }
    )*};
}

identity_of!(ResourceRef, TopicSpec, QueueSpec, ExternalSpec);

/// Where each topic and queue was last created, for messages such as "already created in
/// FILE:LINE".
#[derive(Default)]
pub(super) struct Origins(HashMap<(ResourceKind, String), String>);

impl Origins {
    pub(super) fn record(&mut self, resource: ResourceKind, name: &str, file: &Path, line: usize) {
        self.0.insert(
            (resource, name.to_owned()),
            format!("{}:{line}", file.display()),
        );
    }

    /// ` (declared at FILE:LINE)`, or nothing when this run has not seen it declared.
    pub(super) fn of(&self, resource: ResourceKind, name: &str) -> String {
        self.0
            .get(&(resource, name.to_owned()))
            .map(|at| format!(" (declared at {at})"))
            .unwrap_or_default()
    }
}

impl Replay<'_> {
    /// The full name of a referenced topic or queue.
    pub(super) fn resolve(
        &self,
        resource: ResourceKind,
        id: Identity<'_>,
    ) -> Checked<(String, ParsedName)> {
        if let Some(name) = id.name {
            let extra: Vec<&str> = [
                ("kind", id.kind.is_some()),
                ("publisher", id.publisher.is_some()),
                ("type", id.message_type.is_some()),
                ("dest", id.dest.is_some()),
            ]
            .iter()
            .filter(|(_, set)| *set)
            .map(|(key, _)| *key)
            .collect();
            if !extra.is_empty() {
                return Err(Problem::new(format!(
                    "custom name `{name}` cannot be combined with {}",
                    extra
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .help("use either `name` (a custom name) or the parts of a standard name"));
            }
            let fifo = id.fifo.unwrap_or(name.ends_with(naming::FIFO_SUFFIX));
            naming::validate_name(name, fifo).map_err(name_problem)?;
            return Ok((name.to_owned(), naming::parse(resource, name)));
        }
        let message_type = match (resource, id.message_type) {
            (_, Some(t)) => t,
            (ResourceKind::Queue, None) => ALL_TYPES,
            (ResourceKind::Topic, None) => {
                return Err(Problem::new(
                    "a topic needs a `type` (the message type) or a custom `name`",
                )
                .help("add e.g. `type = \"user_created\"`"))
            }
        };
        if resource == ResourceKind::Topic && id.dest.is_some() {
            return Err(Problem::new(
                "topics have no `dest`; `dest` names the consuming service of a queue",
            )
            .help("remove `dest` from the topic"));
        }
        let parts = NameParts {
            instance: self.defaults.instance.clone(),
            kind: id.kind.unwrap_or_default(),
            publisher: id.publisher.unwrap_or(&self.defaults.publisher).to_owned(),
            message_type: message_type.to_owned(),
            dest: id.dest.map(str::to_owned),
            fifo: id.fifo.unwrap_or(false),
        };
        let name = parts.name(resource).map_err(name_problem)?;
        Ok((name, ParsedName::Standard(parts)))
    }
}
