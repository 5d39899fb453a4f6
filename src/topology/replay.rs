//! Replaying the migrations folder: every file is checked against the topology that the files
//! before it declare, and turned into operations, `up` and `down`.
//!
//! All problems of a run are collected as [`Diagnostics`] with file, line and a fix, so that
//! nothing is sent to AWS from a folder that does not validate.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::diagnostic::{line_of, Diagnostic, Diagnostics};
use crate::migration::{
    self, MigrationFile, QueueSpec, RawMigration, RedriveAllowSpec, ResourceRef, SubscriptionSpec,
    TopicSpec,
};
use crate::naming::{self, Kind, NameParts, NamingDefaults, ParsedName, ResourceKind, ALL_TYPES};
use crate::topology::{
    DeadLetter, Endpoint, Operation, Queue, QueueAttributes, RedriveAllow, Subscription,
    SubscriptionAttributes, SubscriptionKey, Topic, TopicAttributes, Topology,
};

/// One migration, checked and resolved into operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Version from the file name.
    pub version: i64,
    /// Name from the file name.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Hex SHA-256 of the file.
    pub checksum: String,
    /// The file's `description`.
    pub description: Option<String>,
    /// Operations applied by `migrate`, in order.
    pub up: Vec<Operation>,
    /// Operations applied by `rollback`, in order: the explicit `down`, or the inverse of `up`.
    pub down: Vec<Operation>,
    /// Written by `lariat import`: its resources existed before lariat declared them.
    pub imported: bool,
}

/// Every migration of a folder, in version order, with the warnings validation found.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// Migrations ordered by version.
    pub migrations: Vec<Migration>,
    /// Warnings (the folder has no errors, or it would not have loaded).
    pub warnings: Diagnostics,
}

impl Project {
    /// The declared topology after `version` (every migration up to and including it), or after
    /// the newest migration when `version` is `None`.
    pub fn topology_at(&self, version: Option<i64>) -> Topology {
        let mut topology = Topology::default();
        for m in &self.migrations {
            if version.is_some_and(|v| m.version > v) {
                break;
            }
            for op in &m.up {
                topology.apply(op);
            }
        }
        topology
    }

    /// The migration with this version.
    pub fn get(&self, version: i64) -> Option<&Migration> {
        self.migrations.iter().find(|m| m.version == version)
    }
}

/// Reads, checks and resolves every migration in `dir`.
///
/// Returns every error of the folder at once; warnings come back in [`Project::warnings`].
pub fn load_project(dir: &Path, defaults: &NamingDefaults) -> Result<Project, Diagnostics> {
    let (files, mut diagnostics) = migration::discover(dir);
    let mut state = Topology::default();
    let mut origins = Origins::default();
    let mut migrations = Vec::with_capacity(files.len());
    for file in &files {
        let raw = match migration::parse(file) {
            Ok(raw) => raw,
            Err(d) => {
                diagnostics.push(d);
                continue;
            }
        };
        let mut replay = Replay {
            defaults,
            file,
            diagnostics: &mut diagnostics,
            origins: &mut origins,
        };
        if let Some(m) = replay.migration(&raw, &mut state) {
            migrations.push(m);
        }
    }
    if diagnostics.error_count() > 0 {
        return Err(diagnostics);
    }
    Ok(Project {
        migrations,
        warnings: diagnostics,
    })
}

/// Where each resource was last created, for messages such as "already created in FILE:LINE".
#[derive(Default)]
struct Origins(HashMap<String, String>);

impl Origins {
    fn key(resource: &str, name: &str) -> String {
        format!("{resource} {name}")
    }

    fn record(&mut self, resource: &str, name: &str, file: &Path, line: usize) {
        self.0.insert(
            Self::key(resource, name),
            format!("{}:{line}", file.display()),
        );
    }

    fn of(&self, resource: &str, name: &str) -> String {
        self.0
            .get(&Self::key(resource, name))
            .map(|at| format!(" (declared at {at})"))
            .unwrap_or_default()
    }
}

/// The operations of one file so far, and the line where each resource first appeared.
#[derive(Default)]
struct Collected {
    ops: Vec<Operation>,
    touched: HashMap<String, usize>,
}

/// An error message and its fix, before it gets a file and line.
struct Problem {
    message: String,
    help: Option<String>,
}

impl Problem {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            help: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

type Checked<T> = Result<T, Problem>;

/// The identity fields shared by every reference to a topic or queue.
struct Identity<'a> {
    name: Option<&'a str>,
    kind: Option<Kind>,
    publisher: Option<&'a str>,
    message_type: Option<&'a str>,
    dest: Option<&'a str>,
    fifo: Option<bool>,
}

impl<'a> From<&'a ResourceRef> for Identity<'a> {
    fn from(r: &'a ResourceRef) -> Self {
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

impl<'a> From<&'a TopicSpec> for Identity<'a> {
    fn from(r: &'a TopicSpec) -> Self {
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

impl<'a> From<&'a QueueSpec> for Identity<'a> {
    fn from(r: &'a QueueSpec) -> Self {
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

/// Which operation a spec came from, for messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Create,
    Change,
    Delete,
}

impl Verb {
    fn table(self, resource: &str) -> String {
        match self {
            Verb::Create if resource == "subscription" => "subscribe".to_owned(),
            Verb::Delete if resource == "subscription" => "unsubscribe".to_owned(),
            Verb::Create => format!("create_{resource}"),
            Verb::Change => format!("change_{resource}"),
            Verb::Delete => format!("delete_{resource}"),
        }
    }
}

struct Replay<'a> {
    defaults: &'a NamingDefaults,
    file: &'a MigrationFile,
    diagnostics: &'a mut Diagnostics,
    origins: &'a mut Origins,
}

impl Replay<'_> {
    fn line<T>(&self, spanned: &toml::Spanned<T>) -> usize {
        line_of(&self.file.source, spanned.span().start)
    }

    fn report(&mut self, line: usize, problem: Problem) {
        let mut d = Diagnostic::error(&self.file.path, Some(line), problem.message);
        d.help = problem.help;
        self.diagnostics.push(d);
    }

    fn warn(&mut self, line: usize, problem: Problem) {
        let mut d = Diagnostic::warning(&self.file.path, Some(line), problem.message);
        d.help = problem.help;
        self.diagnostics.push(d);
    }

    /// Checks one file against `state`, applies its `up` to `state`, and returns it resolved.
    fn migration(&mut self, raw: &RawMigration, state: &mut Topology) -> Option<Migration> {
        let errors_before = self.diagnostics.error_count();
        // copying the whole topology per file would make a large folder quadratic: only an
        // explicit `down` needs the state before, to check that it restores it
        let before = raw.down.as_ref().map(|_| state.clone());
        let collected = self.operations(raw, state, true);
        let up = self.with_derived(collected, state, errors_before);
        let down = match (&raw.down, &before) {
            (Some(down), Some(before)) => self.explicit_down(down, state, before),
            _ => up.iter().rev().map(Operation::inverse).collect(),
        };
        if up.is_empty() && self.diagnostics.error_count() == errors_before {
            self.warn(
                1,
                Problem::new("migration has no operations")
                    .help("add a [[create_topic]], [[create_queue]], [[subscribe]]... table, or delete the file"),
            );
        }
        (self.diagnostics.error_count() == errors_before).then(|| Migration {
            version: self.file.version,
            name: self.file.name.clone(),
            path: self.file.path.clone(),
            checksum: self.file.checksum.clone(),
            description: raw.description.clone(),
            up,
            down,
            imported: raw.imported,
        })
    }

    fn explicit_down(
        &mut self,
        down: &toml::Spanned<Box<RawMigration>>,
        after_up: &Topology,
        before: &Topology,
    ) -> Vec<Operation> {
        let line = self.line(down);
        if down.get_ref().down.is_some() || down.get_ref().description.is_some() {
            self.report(
                line,
                Problem::new(
                    "`down` may only hold operations, not another `down` or a `description`",
                )
                .help("move `description` to the top of the file and remove the nested `down`"),
            );
        }
        let mut state = after_up.clone();
        let errors_before = self.diagnostics.error_count();
        let collected = self.operations(down.get_ref(), &mut state, false);
        let ops = self.with_derived(collected, &mut state, errors_before);
        if state != *before {
            self.warn(
                line,
                Problem::new("the explicit `down` does not bring the topology back to what the previous migration declares")
                    .help("a rollback would leave resources that the files no longer describe; remove `down` to let lariat derive it, or make it undo every `up` operation"),
            );
        }
        ops
    }

    /// Resolves every operation of `raw` in dependency order, applying each to `state`.
    fn operations(&mut self, raw: &RawMigration, state: &mut Topology, is_up: bool) -> Collected {
        let mut out = Collected::default();
        for (line, spec) in self.lines(&raw.external_topic) {
            let result = self.external(ResourceKind::Topic, spec, state);
            self.collect(&mut out, line, result, state, is_up);
        }
        for (line, spec) in self.lines(&raw.external_queue) {
            let result = self.external(ResourceKind::Queue, spec, state);
            self.collect(&mut out, line, result, state, is_up);
        }
        for (line, spec) in self.lines(&raw.create_topic) {
            let result = self.create_topic(spec, state);
            self.warn_lariat_tags(line, spec.tags.as_ref(), &result, is_up);
            self.collect(&mut out, line, result, state, is_up);
        }
        for (line, spec) in self.dead_letter_queues_first(&raw.create_queue) {
            let result = self.create_queue(spec, state);
            self.warn_lariat_tags(line, spec.tags.as_ref(), &result, is_up);
            self.collect(&mut out, line, result, state, is_up);
        }
        for (line, spec) in self.lines(&raw.subscribe) {
            let result = self.subscribe(spec, state);
            self.collect(&mut out, line, result, state, is_up);
        }
        for (line, spec) in self.lines(&raw.change_topic) {
            let result = self.change_topic(spec, state);
            self.warn_lariat_tags(line, spec.tags.as_ref(), &result, is_up);
            self.collect(&mut out, line, result, state, is_up);
        }
        for (line, spec) in self.lines(&raw.change_queue) {
            let result = self.change_queue(spec, state);
            self.warn_lariat_tags(line, spec.tags.as_ref(), &result, is_up);
            self.collect(&mut out, line, result, state, is_up);
        }
        for (line, spec) in self.lines(&raw.change_subscription) {
            let result = self.change_subscription(spec, state);
            self.collect(&mut out, line, result, state, is_up);
        }
        for (line, spec) in self.lines(&raw.unsubscribe) {
            let result = self.unsubscribe(spec, state);
            self.collect(&mut out, line, result, state, is_up);
        }
        // a queue goes before the dead-letter queue it uses
        let mut deletes = self.dead_letter_queues_first(&raw.delete_queue);
        deletes.reverse();
        for (line, spec) in deletes {
            let result = self.delete_queue(spec, state);
            self.collect(&mut out, line, result, state, is_up);
        }
        for (line, spec) in self.lines(&raw.delete_topic) {
            let result = self.delete_topic(spec, state);
            self.collect(&mut out, line, result, state, is_up);
        }
        out
    }

    /// Warns about user tags whose keys lariat sets itself on the resource (`managed_by`,
    /// `kind`, ...): lariat's value wins, so the user's would be dropped without a word.
    fn warn_lariat_tags(
        &mut self,
        line: usize,
        tags: Option<&BTreeMap<String, String>>,
        result: &Checked<Operation>,
        is_up: bool,
    ) {
        let naming = match result {
            Ok(Operation::CreateTopic(t) | Operation::ChangeTopic { after: t, .. }) => &t.naming,
            Ok(Operation::CreateQueue(q) | Operation::ChangeQueue { after: q, .. }) => &q.naming,
            _ => return,
        };
        let (Some(tags), true) = (tags, is_up) else {
            return;
        };
        let lariat = crate::calls::resource_tags(naming, &BTreeMap::new());
        for (key, value) in tags {
            if let Some(own) = lariat.get(key) {
                self.warn(
                    line,
                    Problem::new(format!(
                        "tag `{key}` is one lariat sets itself (to `{own}` here): your value `{}` is dropped",
                        value.escape_debug()
                    ))
                    .help(format!("rename the tag (e.g. `team_{key}`), or remove it; lariat's tags are {}", crate::calls::LARIAT_TAGS.join(", "))),
                );
            }
        }
    }

    /// Each table with the line of its header.
    fn lines<'s, T>(&self, specs: &'s [toml::Spanned<T>]) -> Vec<(usize, &'s T)> {
        specs.iter().map(|s| (self.line(s), s.get_ref())).collect()
    }

    /// Keeps a checked operation (applying it to `state`) or reports why it was refused.
    fn collect(
        &mut self,
        out: &mut Collected,
        line: usize,
        result: Checked<Operation>,
        state: &mut Topology,
        is_up: bool,
    ) {
        let op = match result {
            Ok(op) => op,
            Err(problem) => return self.report(line, problem),
        };
        let key = touched_key(&op);
        if let Some(first) = out.touched.get(&key) {
            let problem = Problem::new(format!("{key} already appears in this migration (line {first})"))
                .help("a migration may create, change or delete each resource once; split the steps into separate migrations");
            return self.report(line, problem);
        }
        if is_up {
            match &op {
                Operation::CreateTopic(t) => {
                    self.origins.record("topic", &t.name, &self.file.path, line)
                }
                Operation::CreateQueue(q) => {
                    self.origins.record("queue", &q.name, &self.file.path, line)
                }
                _ => {}
            }
        }
        out.touched.insert(key, line);
        state.apply(&op);
        out.ops.push(op);
    }

    /// Orders queue specs so that a dead-letter queue declared in the same list comes before
    /// the queues that use it. Unresolvable names keep their place; their errors come later.
    fn dead_letter_queues_first<'s>(
        &self,
        specs: &'s [toml::Spanned<QueueSpec>],
    ) -> Vec<(usize, &'s QueueSpec)> {
        let named: Vec<(usize, &QueueSpec, Option<String>, Option<String>)> = specs
            .iter()
            .map(|s| {
                let spec = s.get_ref();
                let name = self
                    .resolve(ResourceKind::Queue, spec.into())
                    .ok()
                    .map(|(n, _)| n);
                let dlq = spec
                    .dead_letter_queue
                    .as_ref()
                    .and_then(|r| self.resolve(ResourceKind::Queue, r.into()).ok())
                    .map(|(n, _)| n);
                (self.line(s), spec, name, dlq)
            })
            .collect();
        let mut placed = vec![false; named.len()];
        let mut order = Vec::with_capacity(named.len());
        while order.len() < named.len() {
            let before = order.len();
            for i in 0..named.len() {
                if placed[i] {
                    continue;
                }
                let waits = named[i].3.as_ref().is_some_and(|dlq| {
                    named
                        .iter()
                        .enumerate()
                        .any(|(j, other)| j != i && !placed[j] && other.2.as_ref() == Some(dlq))
                });
                if !waits {
                    placed[i] = true;
                    order.push((named[i].0, named[i].1));
                }
            }
            if order.len() == before {
                // a cycle of dead-letter queues: keep file order, the checks report it
                for (i, n) in named.iter().enumerate() {
                    if !placed[i] {
                        placed[i] = true;
                        order.push((n.0, n.1));
                    }
                }
            }
        }
        order
    }

    /// The full name of a referenced topic or queue.
    fn resolve(&self, resource: ResourceKind, id: Identity<'_>) -> Checked<(String, ParsedName)> {
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

    fn existing_topic<'t>(&self, id: Identity<'_>, state: &'t Topology) -> Checked<&'t Topic> {
        let (name, _) = self.resolve(ResourceKind::Topic, id)?;
        external::key_of(&state.topics, &name, |t| t.external.as_ref()).ok_or_else(|| {
            Problem::new(format!("topic {name} does not exist at this version"))
                .help("create it in this or an earlier migration with [[create_topic]], or check its type, publisher, kind and fifo")
        })
    }

    fn existing_queue<'t>(&self, id: Identity<'_>, state: &'t Topology) -> Checked<&'t Queue> {
        let (name, _) = self.resolve(ResourceKind::Queue, id)?;
        external::key_of(&state.queues, &name, |q| q.external.as_ref()).ok_or_else(|| {
            Problem::new(format!("queue {name} does not exist at this version"))
                .help("create it in this or an earlier migration with [[create_queue]], or check its type, dest, publisher, kind and fifo")
        })
    }

    fn create_topic(&self, spec: &TopicSpec, state: &Topology) -> Checked<Operation> {
        legacy::reject(spec.legacy, "create_topic")?;
        reject_unset(&spec.unset, Verb::Create, "topic")?;
        let (name, naming) = self.resolve(ResourceKind::Topic, spec.into())?;
        if state.topics.contains_key(&name) {
            return Err(Problem::new(format!(
                "topic {name} already exists{}",
                self.origins.of("topic", &name)
            ))
            .help("to change its attributes use [[change_topic]]"));
        }
        let topic = Topic {
            name,
            naming,
            attributes: TopicAttributes::default(),
            tags: Default::default(),
            external: None,
        };
        Ok(Operation::CreateTopic(overlay_topic(topic, spec)?))
    }

    fn change_topic(&self, spec: &TopicSpec, state: &Topology) -> Checked<Operation> {
        legacy::reject(spec.legacy, "change_topic")?;
        let before = self.existing_topic(spec.into(), state)?.clone();
        external::refuse_external(
            ResourceKind::Topic,
            &before.name,
            before.external.as_ref(),
            "change",
        )?;
        let after = overlay_topic(before.clone(), spec)?;
        if after == before {
            return Err(nothing_changes("topic", &before.name));
        }
        Ok(Operation::ChangeTopic { before, after })
    }

    fn delete_topic(&self, spec: &TopicSpec, state: &Topology) -> Checked<Operation> {
        reject_attributes("topic", &topic_attribute_keys(spec))?;
        if spec.legacy {
            return self.delete_legacy(ResourceKind::Topic, spec.into(), state);
        }
        let topic = self.existing_topic(spec.into(), state)?;
        external::refuse_external(
            ResourceKind::Topic,
            &topic.name,
            topic.external.as_ref(),
            "delete",
        )?;
        let subs = state.subscriptions_of(ResourceKind::Topic, &topic.name);
        if let Some(sub) = subs.first() {
            return Err(Problem::new(format!(
                "topic {} still has {} subscription(s), e.g. {sub}",
                topic.name,
                subs.len()
            ))
            .help("add an [[unsubscribe]] for each in this or an earlier migration"));
        }
        Ok(Operation::DeleteTopic(topic.clone()))
    }

    fn create_queue(&self, spec: &QueueSpec, state: &Topology) -> Checked<Operation> {
        legacy::reject(spec.legacy, "create_queue")?;
        reject_unset(&spec.unset, Verb::Create, "queue")?;
        let (name, naming) = self.resolve(ResourceKind::Queue, spec.into())?;
        if state.queues.contains_key(&name) {
            return Err(Problem::new(format!(
                "queue {name} already exists{}",
                self.origins.of("queue", &name)
            ))
            .help("to change its attributes use [[change_queue]]"));
        }
        let queue = Queue {
            name,
            naming,
            attributes: QueueAttributes::default(),
            tags: Default::default(),
            external: None,
        };
        Ok(Operation::CreateQueue(
            self.overlay_queue(queue, spec, state)?,
        ))
    }

    fn change_queue(&self, spec: &QueueSpec, state: &Topology) -> Checked<Operation> {
        legacy::reject(spec.legacy, "change_queue")?;
        let before = self.existing_queue(spec.into(), state)?.clone();
        external::refuse_external(
            ResourceKind::Queue,
            &before.name,
            before.external.as_ref(),
            "change",
        )?;
        let after = self.overlay_queue(before.clone(), spec, state)?;
        if after == before {
            return Err(nothing_changes("queue", &before.name));
        }
        Ok(Operation::ChangeQueue { before, after })
    }

    fn delete_queue(&self, spec: &QueueSpec, state: &Topology) -> Checked<Operation> {
        reject_attributes("queue", &queue_attribute_keys(spec))?;
        if spec.legacy {
            return self.delete_legacy(ResourceKind::Queue, spec.into(), state);
        }
        let queue = self.existing_queue(spec.into(), state)?;
        external::refuse_external(
            ResourceKind::Queue,
            &queue.name,
            queue.external.as_ref(),
            "delete",
        )?;
        let subs = state.subscriptions_of(ResourceKind::Queue, &queue.name);
        if let Some(sub) = subs.first() {
            return Err(
                Problem::new(format!("queue {} is still subscribed: {sub}", queue.name))
                    .help("add an [[unsubscribe]] for it in this or an earlier migration"),
            );
        }
        let users = state.dead_letter_users(&queue.name);
        if let Some(user) = users.first() {
            return Err(Problem::new(format!("queue {} is the dead-letter queue of {user}", queue.name))
                .help("delete that queue first, or move its dead_letter_queue elsewhere with [[change_queue]]"));
        }
        Ok(Operation::DeleteQueue(queue.clone()))
    }

    /// Applies a queue spec's attributes to `queue` (a new one, or the existing one to change).
    fn overlay_queue(
        &self,
        mut queue: Queue,
        spec: &QueueSpec,
        state: &Topology,
    ) -> Checked<Queue> {
        let (name, fifo) = (queue.name.clone(), queue.fifo());
        let a = &mut queue.attributes;
        set_ranged(
            &mut a.visibility_timeout,
            spec.visibility_timeout,
            "visibility_timeout",
            0,
            43_200,
        )?;
        set_ranged(
            &mut a.message_retention_period,
            spec.message_retention_period,
            "message_retention_period",
            60,
            1_209_600,
        )?;
        set_ranged(
            &mut a.maximum_message_size,
            spec.maximum_message_size,
            "maximum_message_size",
            1024,
            1_048_576,
        )?;
        set_ranged(
            &mut a.delay_seconds,
            spec.delay_seconds,
            "delay_seconds",
            0,
            900,
        )?;
        set_ranged(
            &mut a.receive_message_wait_time,
            spec.receive_message_wait_time,
            "receive_message_wait_time",
            0,
            20,
        )?;
        set_ranged(
            &mut a.kms_data_key_reuse_period,
            spec.kms_data_key_reuse_period,
            "kms_data_key_reuse_period",
            60,
            86_400,
        )?;
        set(&mut a.kms_master_key_id, spec.kms_master_key_id.clone());
        set(&mut a.sqs_managed_sse, spec.sqs_managed_sse);
        set(
            &mut a.content_based_deduplication,
            spec.content_based_deduplication,
        );
        set(
            &mut a.deduplication_scope,
            spec.deduplication_scope.map(|s| match s {
                migration::DeduplicationScope::MessageGroup => "messageGroup".to_owned(),
                migration::DeduplicationScope::Queue => "queue".to_owned(),
            }),
        );
        set(
            &mut a.fifo_throughput_limit,
            spec.fifo_throughput_limit.map(|l| match l {
                migration::FifoThroughputLimit::PerQueue => "perQueue".to_owned(),
                migration::FifoThroughputLimit::PerMessageGroupId => "perMessageGroupId".to_owned(),
            }),
        );
        if let Some(dlq_ref) = &spec.dead_letter_queue {
            let dlq = self
                .existing_queue(dlq_ref.into(), state)
                .map_err(|p| Problem {
                    message: format!("dead_letter_queue: {}", p.message),
                    help: p.help,
                })?;
            external::same_account_dead_letter(dlq)?;
            if dlq.name == name {
                return Err(Problem::new("a queue cannot be its own dead-letter queue").help("create a separate queue for failed messages and name it in `dead_letter_queue`"));
            }
            if dlq.fifo() != fifo {
                return Err(fifo_mismatch(
                    &format!("queue {name}"),
                    fifo,
                    &format!("its dead-letter queue {}", dlq.name),
                ));
            }
            let max_receive_count = spec
                .max_receive_count
                .or(a.dead_letter.as_ref().map(|d| d.max_receive_count))
                .ok_or_else(|| Problem::new("`dead_letter_queue` needs `max_receive_count`").help("add e.g. `max_receive_count = 5`: receives before a message moves to the dead-letter queue"))?;
            a.dead_letter = Some(DeadLetter {
                queue: dlq.name.clone(),
                max_receive_count,
            });
        } else if let Some(count) = spec.max_receive_count {
            match &mut a.dead_letter {
                Some(d) => d.max_receive_count = count,
                None => {
                    return Err(
                        Problem::new("`max_receive_count` without a `dead_letter_queue`").help(
                            "add `dead_letter_queue = { ... }` or remove `max_receive_count`",
                        ),
                    )
                }
            }
        }
        if let Some(d) = &a.dead_letter {
            check_range("max_receive_count", d.max_receive_count, 1, 1000)?;
        }
        a.redrive_allow = match (spec.redrive_allow_policy, &spec.redrive_allow_source_queues) {
            (None, None) => a.redrive_allow.take(),
            (Some(RedriveAllowSpec::AllowAll), None) => Some(RedriveAllow::AllowAll),
            (Some(RedriveAllowSpec::DenyAll), None) => Some(RedriveAllow::DenyAll),
            (Some(RedriveAllowSpec::ByQueue), Some(sources)) => {
                if sources.is_empty() || sources.len() > 10 {
                    return Err(Problem::new(format!("`redrive_allow_source_queues` lists {} queues; AWS allows 1 to 10", sources.len())).help("use `redrive_allow_policy = \"allowAll\"` for more source queues"));
                }
                let names = sources
                    .iter()
                    .map(|r| self.resolve(ResourceKind::Queue, r.into()).map(|(n, _)| n))
                    .collect::<Checked<Vec<_>>>()?;
                Some(RedriveAllow::ByQueue(names))
            }
            (Some(RedriveAllowSpec::ByQueue), None) => {
                return Err(Problem::new("`redrive_allow_policy = \"byQueue\"` needs `redrive_allow_source_queues`")
                    .help("list the source queues: `redrive_allow_source_queues = [{ type = \"...\", dest = \"...\" }]`"))
            }
            (_, Some(_)) => {
                return Err(Problem::new("`redrive_allow_source_queues` needs `redrive_allow_policy = \"byQueue\"`").help("add `redrive_allow_policy = \"byQueue\"`, or remove the source queues"))
            }
        };
        overlay_tags(&mut queue.tags, spec.tags.as_ref());
        apply_unset(&mut queue, &spec.unset)?;
        check_queue(&queue)?;
        Ok(queue)
    }

    fn subscription_key(
        &self,
        spec: &SubscriptionSpec,
        state: &Topology,
    ) -> Checked<SubscriptionKey> {
        let topic_ref = spec.topic.as_ref().ok_or_else(|| {
            Problem::new("a subscription needs a `topic`").help("add `topic = { type = \"...\" }`")
        })?;
        let topic = self.existing_topic(topic_ref.into(), state)?;
        let endpoint = match (&spec.queue, &spec.target_topic) {
            (Some(q), None) => {
                let queue = self.existing_queue(q.into(), state)?;
                if let Some(external) = &queue.external {
                    return Err(Problem::new(format!(
                        "queue {} is external{}: its owner subscribes it",
                        queue.name,
                        external.owned_by()
                    ))
                    .help("subscriptions live on the subscriber's side: put this [[subscribe]] in the queue owner's migrations, with the topic as an [[external_topic]] there"));
                }
                if queue.fifo() != topic.fifo() {
                    return Err(fifo_mismatch(
                        &format!("topic {}", topic.name),
                        topic.fifo(),
                        &format!("queue {}", queue.name),
                    ));
                }
                Endpoint::Queue(queue.name.clone())
            }
            (None, Some(t)) => {
                let target = self.existing_topic(t.into(), state)?;
                if let Some(external) = &target.external {
                    return Err(Problem::new(format!(
                        "target_topic {} is external{}: its owner decides what it forwards to",
                        target.name,
                        external.owned_by()
                    ))
                    .help("subscribe this service's own queues to the topic instead"));
                }
                if target.fifo() != topic.fifo() {
                    return Err(fifo_mismatch(
                        &format!("topic {}", topic.name),
                        topic.fifo(),
                        &format!("topic {}", target.name),
                    ));
                }
                if target.name == topic.name {
                    return Err(Problem::new("a topic cannot be subscribed to itself")
                        .help("name another topic in `target_topic`"));
                }
                Endpoint::Topic(target.name.clone())
            }
            _ => return Err(Problem::new(
                "a subscription needs exactly one of `queue` and `target_topic`",
            )
            .help(
                "`queue = { ... }` delivers to a queue; `target_topic = { ... }` to another topic",
            )),
        };
        Ok(SubscriptionKey {
            topic: topic.name.clone(),
            endpoint,
        })
    }

    fn subscribe(&self, spec: &SubscriptionSpec, state: &Topology) -> Checked<Operation> {
        reject_unset(&spec.unset, Verb::Create, "subscription")?;
        legacy::reject(spec.legacy, "subscribe")?;
        let key = self.subscription_key(spec, state)?;
        if state.subscriptions.contains_key(&key) {
            return Err(Problem::new(format!("{key} is already subscribed"))
                .help("to change its attributes use [[change_subscription]]"));
        }
        let sub = Subscription {
            key,
            attributes: SubscriptionAttributes::default(),
        };
        Ok(Operation::Subscribe(
            self.overlay_subscription(sub, spec, state)?,
        ))
    }

    fn change_subscription(&self, spec: &SubscriptionSpec, state: &Topology) -> Checked<Operation> {
        legacy::reject(spec.legacy, "change_subscription")?;
        let key = self.subscription_key(spec, state)?;
        let before = state
            .subscriptions
            .get(&key)
            .ok_or_else(|| {
                Problem::new(format!("{key} does not exist at this version"))
                    .help("create it with [[subscribe]]")
            })?
            .clone();
        let after = self.overlay_subscription(before.clone(), spec, state)?;
        if after == before {
            return Err(nothing_changes("subscription", &key.to_string()));
        }
        Ok(Operation::ChangeSubscription { before, after })
    }

    fn unsubscribe(&self, spec: &SubscriptionSpec, state: &Topology) -> Checked<Operation> {
        let mut attrs = Vec::new();
        if spec.raw_message_delivery.is_some() {
            attrs.push("raw_message_delivery");
        }
        if spec.filter_policy.is_some() {
            attrs.push("filter_policy");
        }
        if spec.filter_policy_scope.is_some() {
            attrs.push("filter_policy_scope");
        }
        if spec.dead_letter_queue.is_some() {
            attrs.push("dead_letter_queue");
        }
        if !spec.unset.is_empty() {
            attrs.push("unset");
        }
        reject_attributes("subscription", &attrs)?;
        if spec.legacy {
            return self.unsubscribe_legacy(spec, state);
        }
        let key = self.subscription_key(spec, state)?;
        let sub = state.subscriptions.get(&key).ok_or_else(|| {
            Problem::new(format!("{key} does not exist at this version"))
                .help("remove the [[unsubscribe]], or check the topic and queue")
        })?;
        Ok(Operation::Unsubscribe(sub.clone()))
    }

    fn overlay_subscription(
        &self,
        mut sub: Subscription,
        spec: &SubscriptionSpec,
        state: &Topology,
    ) -> Checked<Subscription> {
        let is_queue = matches!(sub.key.endpoint, Endpoint::Queue(_));
        let a = &mut sub.attributes;
        if spec.raw_message_delivery.is_some() && !is_queue {
            return Err(
                Problem::new("`raw_message_delivery` applies to queue subscriptions only")
                    .help("remove it from the topic-to-topic subscription"),
            );
        }
        set(&mut a.raw_message_delivery, spec.raw_message_delivery);
        if let Some(policy) = &spec.filter_policy {
            a.filter_policy = Some(filter_policy_json(policy)?);
        }
        set(
            &mut a.filter_policy_scope,
            spec.filter_policy_scope.map(|s| match s {
                migration::FilterPolicyScope::MessageAttributes => "MessageAttributes".to_owned(),
                migration::FilterPolicyScope::MessageBody => "MessageBody".to_owned(),
            }),
        );
        if let Some(dlq_ref) = &spec.dead_letter_queue {
            let dlq = self
                .existing_queue(dlq_ref.into(), state)
                .map_err(|p| Problem {
                    message: format!("dead_letter_queue: {}", p.message),
                    help: p.help,
                })?;
            external::same_account_dead_letter(dlq)?;
            let topic_fifo = state.topics.get(&sub.key.topic).is_some_and(Topic::fifo);
            if dlq.fifo() != topic_fifo {
                return Err(fifo_mismatch(
                    &format!("topic {}", sub.key.topic),
                    topic_fifo,
                    &format!("the subscription's dead-letter queue {}", dlq.name),
                ));
            }
            a.dead_letter_queue = Some(dlq.name.clone());
        }
        for key in &spec.unset {
            match key.as_str() {
                "raw_message_delivery" => a.raw_message_delivery = None,
                "filter_policy" => {
                    a.filter_policy = None;
                    a.filter_policy_scope = None;
                }
                "filter_policy_scope" => a.filter_policy_scope = None,
                "dead_letter_queue" => a.dead_letter_queue = None,
                other => {
                    return Err(unknown_unset(
                        other,
                        &[
                            "raw_message_delivery",
                            "filter_policy",
                            "filter_policy_scope",
                            "dead_letter_queue",
                        ],
                    ))
                }
            }
        }
        if a.filter_policy_scope.is_some() && a.filter_policy.is_none() {
            return Err(
                Problem::new("`filter_policy_scope` without a `filter_policy`")
                    .help("add a filter_policy or remove the scope"),
            );
        }
        Ok(sub)
    }
}

/// The resource whose repetition within one file is an error.
fn touched_key(op: &Operation) -> String {
    match op {
        Operation::CreateTopic(t)
        | Operation::DeleteTopic(t)
        | Operation::ChangeTopic { after: t, .. } => {
            format!("topic {}", t.name)
        }
        Operation::CreateQueue(q)
        | Operation::DeleteQueue(q)
        | Operation::ChangeQueue { after: q, .. } => {
            format!("queue {}", q.name)
        }
        Operation::Subscribe(s)
        | Operation::Unsubscribe(s)
        | Operation::ChangeSubscription { after: s, .. } => {
            format!("subscription {}", s.key)
        }
        Operation::SubscribeDerived(d)
        | Operation::UnsubscribeDerived(d)
        | Operation::ChangeDerived { after: d, .. } => {
            format!("subscription {}", d.subscription.key)
        }
        Operation::DeleteLegacy(l) | Operation::RestoreLegacy(l) => l.key.to_string(),
    }
}

fn overlay_topic(mut topic: Topic, spec: &TopicSpec) -> Checked<Topic> {
    let a = &mut topic.attributes;
    set(
        &mut a.content_based_deduplication,
        spec.content_based_deduplication,
    );
    set(&mut a.display_name, spec.display_name.clone());
    set(&mut a.kms_master_key_id, spec.kms_master_key_id.clone());
    overlay_tags(&mut topic.tags, spec.tags.as_ref());
    for key in &spec.unset {
        if let Some(tag) = key.strip_prefix("tags.") {
            topic.tags.remove(tag);
            continue;
        }
        match key.as_str() {
            "content_based_deduplication" => a.content_based_deduplication = None,
            "display_name" => a.display_name = None,
            "kms_master_key_id" => a.kms_master_key_id = None,
            other => {
                return Err(unknown_unset(
                    other,
                    &[
                        "content_based_deduplication",
                        "display_name",
                        "kms_master_key_id",
                        "tags.KEY",
                    ],
                ))
            }
        }
    }
    if topic.attributes.content_based_deduplication.is_some() && !topic.fifo() {
        return Err(fifo_only(
            "content_based_deduplication",
            "topic",
            &topic.name,
        ));
    }
    check_tags(&topic.tags)?;
    Ok(topic)
}

fn apply_unset(queue: &mut Queue, unset: &[String]) -> Checked<()> {
    let a = &mut queue.attributes;
    for key in unset {
        if let Some(tag) = key.strip_prefix("tags.") {
            queue.tags.remove(tag);
            continue;
        }
        match key.as_str() {
            "visibility_timeout" => a.visibility_timeout = None,
            "message_retention_period" => a.message_retention_period = None,
            "maximum_message_size" => a.maximum_message_size = None,
            "delay_seconds" => a.delay_seconds = None,
            "receive_message_wait_time" => a.receive_message_wait_time = None,
            "dead_letter_queue" => a.dead_letter = None,
            "redrive_allow_policy" => a.redrive_allow = None,
            "content_based_deduplication" => a.content_based_deduplication = None,
            "deduplication_scope" => a.deduplication_scope = None,
            "fifo_throughput_limit" => a.fifo_throughput_limit = None,
            "kms_master_key_id" => a.kms_master_key_id = None,
            "kms_data_key_reuse_period" => a.kms_data_key_reuse_period = None,
            "sqs_managed_sse" => a.sqs_managed_sse = None,
            other => return Err(unknown_unset(other, QUEUE_ATTRIBUTES)),
        }
    }
    Ok(())
}

const QUEUE_ATTRIBUTES: &[&str] = &[
    "visibility_timeout",
    "message_retention_period",
    "maximum_message_size",
    "delay_seconds",
    "receive_message_wait_time",
    "dead_letter_queue",
    "redrive_allow_policy",
    "content_based_deduplication",
    "deduplication_scope",
    "fifo_throughput_limit",
    "kms_master_key_id",
    "kms_data_key_reuse_period",
    "sqs_managed_sse",
    "tags.KEY",
];

/// Rules that span several attributes of one queue.
fn check_queue(queue: &Queue) -> Checked<()> {
    let a = &queue.attributes;
    if !queue.fifo() {
        for (key, set) in [
            (
                "content_based_deduplication",
                a.content_based_deduplication.is_some(),
            ),
            ("deduplication_scope", a.deduplication_scope.is_some()),
            ("fifo_throughput_limit", a.fifo_throughput_limit.is_some()),
        ] {
            if set {
                return Err(fifo_only(key, "queue", &queue.name));
            }
        }
    }
    if a.kms_master_key_id.is_some() && a.sqs_managed_sse == Some(true) {
        return Err(Problem::new(
            "`kms_master_key_id` and `sqs_managed_sse = true` exclude each other",
        )
        .help("choose KMS encryption or SQS-managed encryption"));
    }
    if a.kms_data_key_reuse_period.is_some() && a.kms_master_key_id.is_none() {
        return Err(Problem::new(
            "`kms_data_key_reuse_period` needs `kms_master_key_id`",
        ));
    }
    if a.fifo_throughput_limit.as_deref() == Some("perMessageGroupId")
        && a.deduplication_scope.as_deref() == Some("queue")
    {
        return Err(Problem::new("`fifo_throughput_limit = \"perMessageGroupId\"` needs `deduplication_scope = \"messageGroup\"`")
            .help("AWS's high-throughput FIFO mode deduplicates per message group"));
    }
    check_tags(&queue.tags)
}

/// AWS's tag rules (SNS `TagResource`, SQS `TagQueue`): keys of 1 to 128 and values of at
/// most 256 Unicode characters, made of letters, digits, white space and `_ . : / = + - @`; keys
/// starting with `aws:` (any case) are AWS's own; at most 50 tags, lariat's included.
fn check_tags(tags: &BTreeMap<String, String>) -> Checked<()> {
    if tags.len() > MAX_USER_TAGS {
        return Err(Problem::new(format!(
            "{} tags; lariat adds up to 8 of its own and AWS allows 50",
            tags.len()
        ))
        .help("remove some tags"));
    }
    for (key, value) in tags {
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > 128 {
            return Err(Problem::new(format!(
                "tag key `{}` has {key_chars} characters; AWS allows 1 to 128",
                key.escape_debug()
            ))
            .help("shorten the tag key"));
        }
        let value_chars = value.chars().count();
        if value_chars > 256 {
            return Err(Problem::new(format!(
                "the value of tag `{}` has {value_chars} characters; AWS allows at most 256",
                key.escape_debug()
            ))
            .help("shorten the tag value"));
        }
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(Problem::new(format!(
                "tag `{}`: the `aws:` prefix is reserved by AWS",
                key.escape_debug()
            ))
            .help("rename the tag key"));
        }
        for (what, text) in [("key", key), ("value", value)] {
            if let Some(bad) = text.chars().find(|&c| !is_tag_char(c)) {
                return Err(Problem::new(format!(
                    "tag {what} `{}` contains `{}`, which AWS does not allow in tags",
                    text.escape_debug(),
                    bad.escape_debug()
                ))
                .help("use letters, digits, spaces and _ . : / = + - @ only"));
            }
        }
    }
    Ok(())
}

/// The most user tags a resource may have: AWS allows 50, lariat adds up to 8.
const MAX_USER_TAGS: usize = 42;

/// A character AWS accepts in tag keys and values.
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

fn overlay_tags(tags: &mut BTreeMap<String, String>, new: Option<&BTreeMap<String, String>>) {
    if let Some(new) = new {
        tags.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

fn set_ranged(
    slot: &mut Option<u32>,
    value: Option<u32>,
    key: &str,
    min: u32,
    max: u32,
) -> Checked<()> {
    if let Some(v) = value {
        check_range(key, v, min, max)?;
        *slot = Some(v);
    }
    Ok(())
}

fn check_range(key: &str, value: u32, min: u32, max: u32) -> Checked<()> {
    if value < min || value > max {
        return Err(Problem::new(format!("`{key} = {value}` is out of range"))
            .help(format!("AWS accepts {min} to {max}")));
    }
    Ok(())
}

fn filter_policy_json(value: &toml::Value) -> Checked<serde_json::Value> {
    let json = match value {
        toml::Value::String(text) => serde_json::from_str(text)
            .map_err(|e| Problem::new(format!("`filter_policy` is not valid JSON: {e}")))?,
        other => serde_json::to_value(other)
            .map_err(|e| Problem::new(format!("`filter_policy`: {e}")))?,
    };
    if !json.is_object() || json.as_object().is_some_and(|o| o.is_empty()) {
        return Err(Problem::new("`filter_policy` must be a non-empty table")
            .help("e.g. `filter_policy = { event_type = [\"order_placed\"] }`"));
    }
    Ok(json)
}

fn topic_attribute_keys(spec: &TopicSpec) -> Vec<&'static str> {
    [
        (
            "content_based_deduplication",
            spec.content_based_deduplication.is_some(),
        ),
        ("display_name", spec.display_name.is_some()),
        ("kms_master_key_id", spec.kms_master_key_id.is_some()),
        ("tags", spec.tags.is_some()),
        ("unset", !spec.unset.is_empty()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect()
}

fn queue_attribute_keys(spec: &QueueSpec) -> Vec<&'static str> {
    [
        ("visibility_timeout", spec.visibility_timeout.is_some()),
        (
            "message_retention_period",
            spec.message_retention_period.is_some(),
        ),
        ("maximum_message_size", spec.maximum_message_size.is_some()),
        ("delay_seconds", spec.delay_seconds.is_some()),
        (
            "receive_message_wait_time",
            spec.receive_message_wait_time.is_some(),
        ),
        ("dead_letter_queue", spec.dead_letter_queue.is_some()),
        ("max_receive_count", spec.max_receive_count.is_some()),
        ("redrive_allow_policy", spec.redrive_allow_policy.is_some()),
        (
            "redrive_allow_source_queues",
            spec.redrive_allow_source_queues.is_some(),
        ),
        (
            "content_based_deduplication",
            spec.content_based_deduplication.is_some(),
        ),
        ("deduplication_scope", spec.deduplication_scope.is_some()),
        (
            "fifo_throughput_limit",
            spec.fifo_throughput_limit.is_some(),
        ),
        ("kms_master_key_id", spec.kms_master_key_id.is_some()),
        (
            "kms_data_key_reuse_period",
            spec.kms_data_key_reuse_period.is_some(),
        ),
        ("sqs_managed_sse", spec.sqs_managed_sse.is_some()),
        ("tags", spec.tags.is_some()),
        ("unset", !spec.unset.is_empty()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect()
}

fn reject_attributes(resource: &str, keys: &[&str]) -> Checked<()> {
    if keys.is_empty() {
        return Ok(());
    }
    Err(Problem::new(format!(
        "[[{}]] takes only which {resource} to remove, not {}",
        Verb::Delete.table(resource),
        keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    ))
    .help("remove those keys; `rollback` recreates the resource with the attributes the earlier migrations declare"))
}

fn reject_unset(unset: &[String], verb: Verb, resource: &str) -> Checked<()> {
    if unset.is_empty() {
        return Ok(());
    }
    Err(Problem::new(format!(
        "`unset` belongs in [[{}]], not [[{}]]",
        Verb::Change.table(resource),
        verb.table(resource)
    ))
    .help("leave the attribute out to get the AWS default"))
}

fn name_problem(e: naming::NameError) -> Problem {
    Problem::new(e.to_string()).help(e.help())
}

fn unknown_unset(key: &str, allowed: &[&str]) -> Problem {
    Problem::new(format!(
        "`unset` names `{key}`, which is not an attribute that can be unset"
    ))
    .help(format!("one of: {}", allowed.join(", ")))
}

fn nothing_changes(resource: &str, name: &str) -> Problem {
    Problem::new(format!("this change leaves {resource} {name} as it is"))
        .help("set at least one attribute to a new value (or `unset` one), or remove the table")
}

fn fifo_only(key: &str, resource: &str, name: &str) -> Problem {
    Problem::new(format!("`{key}` applies to FIFO {resource}s only, and {resource} {name} is standard"))
        .help(format!("add `fifo = true` to the {resource} (which changes its name to end in .fifo) or remove `{key}`"))
}

fn fifo_mismatch(a: &str, a_fifo: bool, b: &str) -> Problem {
    let (fa, fb) = if a_fifo {
        ("FIFO", "standard")
    } else {
        ("standard", "FIFO")
    };
    Problem::new(format!("{a} is {fa} but {b} is {fb}"))
        .help("FIFO topics deliver to FIFO queues and standard to standard; declare both with the same `fifo`")
}

#[cfg(test)]
mod tests;

mod derived;
mod external;
mod legacy;
