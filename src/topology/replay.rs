//! Replaying the migrations folder: every file is checked against the topology that the files
//! before it declare, and turned into operations, `up` and `down`.
//!
//! All problems of a run are collected as [`Diagnostics`] with file, line and a fix, so that
//! nothing is sent to AWS from a folder that does not validate.
//!
//! This file runs the replay: file by file, table by table, in dependency order. The checks of
//! each table live beside it: [`topic`], [`queue`], [`subscription`] (and [`external`],
//! [`legacy`]), sharing [`lifecycle`]'s create, change and delete, [`names`]' resolving of
//! references, [`values`]' attribute and tag rules and [`problem`]'s messages.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::{line_of, Diagnostic, Diagnostics};
use crate::migration::{self, MigrationFile, QueueSpec, RawMigration};
use crate::naming::{NamingDefaults, ResourceKind};
use crate::topology::{Operation, Topology};

use names::Origins;
use problem::{Checked, Problem};

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

/// The operations of one file so far, and the line where each resource first appeared.
#[derive(Default)]
struct Collected {
    ops: Vec<Operation>,
    touched: HashMap<String, usize>,
}

/// One file's replay: where its problems go, and what the files before it declared.
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
                    self.origins
                        .record(ResourceKind::Topic, &t.name, &self.file.path, line)
                }
                Operation::CreateQueue(q) => {
                    self.origins
                        .record(ResourceKind::Queue, &q.name, &self.file.path, line)
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

#[cfg(test)]
mod tests;

mod derived;
mod external;
mod legacy;
mod lifecycle;
mod names;
mod problem;
mod queue;
mod subscription;
mod topic;
mod values;
