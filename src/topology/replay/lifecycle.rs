//! The checks that creating, changing and deleting share for topics and queues: a new name
//! for a create, an existing resource this folder owns for a change or delete, a change that
//! changes something.

use std::collections::BTreeMap;

use super::names::Identity;
use super::problem::{nothing_changes, reject_attributes, reject_unset, Checked, Problem, Verb};
use super::{external, legacy, Replay};
use crate::naming::{ParsedName, ResourceKind};
use crate::topology::{External, Operation, Queue, Topology};

/// A topic or a queue, as the checks of its tables see it.
pub(super) trait Declared: Clone + PartialEq + Sized {
    /// Topic or queue.
    const KIND: ResourceKind;
    /// The name parts a reference to one sets, for "check its ..." hints.
    const PARTS: &'static str;

    /// Every one of them at this version, by name (or ARN key).
    fn all(state: &Topology) -> &BTreeMap<String, Self>;
    /// A new one with the AWS defaults and no tags.
    fn new(name: String, naming: ParsedName) -> Self;
    fn name(&self) -> &str;
    fn external(&self) -> Option<&External>;
    fn created(self) -> Operation;
    fn changed(before: Self, after: Self) -> Operation;
    fn deleted(self) -> Operation;
    /// Refuses a delete while something at this version still uses it.
    fn check_unused(&self, state: &Topology) -> Checked<()>;
}

/// The parts of [`Declared`] that topics and queues spell alike: where they are kept, how a
/// new one looks, and their operations.
macro_rules! declared_alike {
    ($all:ident, $attributes:ident, $create:ident, $change:ident, $delete:ident) => {
        fn all(state: &Topology) -> &std::collections::BTreeMap<String, Self> {
            &state.$all
        }

        fn new(name: String, naming: ParsedName) -> Self {
            Self {
                name,
                naming,
                attributes: $attributes::default(),
                tags: Default::default(),
                external: None,
            }
        }

        fn name(&self) -> &str {
            &self.name
        }

        fn external(&self) -> Option<&External> {
            self.external.as_ref()
        }

        fn created(self) -> Operation {
            Operation::$create(self)
        }

        fn changed(before: Self, after: Self) -> Operation {
            Operation::$change { before, after }
        }

        fn deleted(self) -> Operation {
            Operation::$delete(self)
        }
    };
}
pub(super) use declared_alike;

/// What a create, change or delete table says about the resource itself.
pub(super) struct Table<'s, 'a> {
    pub(super) id: Identity<'a>,
    pub(super) legacy: bool,
    pub(super) unset: &'s [String],
}

impl Replay<'_> {
    /// The topic or queue a reference names, which must exist at this version.
    pub(super) fn existing<'t, T: Declared>(
        &self,
        id: Identity<'_>,
        state: &'t Topology,
    ) -> Checked<&'t T> {
        let (name, _) = self.resolve(T::KIND, id)?;
        external::key_of(T::all(state), &name, T::external).ok_or_else(|| {
            Problem::new(format!("{} {name} does not exist at this version", T::KIND)).help(
                format!(
                    "create it in this or an earlier migration with [[{}]], or check its {}",
                    Verb::Create.table(T::KIND.into()),
                    T::PARTS
                ),
            )
        })
    }

    /// The queue a `dead_letter_queue` names: it exists, in this account and region.
    pub(super) fn dead_letter_queue<'t>(
        &self,
        id: Identity<'_>,
        state: &'t Topology,
    ) -> Checked<&'t Queue> {
        let dlq = self
            .existing::<Queue>(id, state)
            .map_err(|p| p.of_key("dead_letter_queue"))?;
        external::same_account_dead_letter(dlq)?;
        Ok(dlq)
    }

    /// `[[create_topic]]` and `[[create_queue]]`: a name not taken, with `overlay`'s
    /// attributes.
    pub(super) fn create<T: Declared>(
        &self,
        table: Table<'_, '_>,
        state: &Topology,
        overlay: impl FnOnce(T) -> Checked<T>,
    ) -> Checked<Operation> {
        let noun = T::KIND.into();
        legacy::reject(table.legacy, &Verb::Create.table(noun))?;
        reject_unset(table.unset, Verb::Create, noun)?;
        let (name, naming) = self.resolve(T::KIND, table.id)?;
        if T::all(state).contains_key(&name) {
            return Err(Problem::new(format!(
                "{} {name} already exists{}",
                T::KIND,
                self.origins.of(T::KIND, &name)
            ))
            .help(format!(
                "to change its attributes use [[{}]]",
                Verb::Change.table(noun)
            )));
        }
        Ok(overlay(T::new(name, naming))?.created())
    }

    /// `[[change_topic]]` and `[[change_queue]]`: this folder's resource, changed by
    /// `overlay`.
    pub(super) fn change<T: Declared>(
        &self,
        table: Table<'_, '_>,
        state: &Topology,
        overlay: impl FnOnce(T) -> Checked<T>,
    ) -> Checked<Operation> {
        legacy::reject(table.legacy, &Verb::Change.table(T::KIND.into()))?;
        let before = self.existing::<T>(table.id, state)?.clone();
        external::refuse_external(T::KIND, before.name(), before.external(), "change")?;
        let after = overlay(before.clone())?;
        if after == before {
            return Err(nothing_changes(T::KIND.into(), before.name()));
        }
        Ok(T::changed(before, after))
    }

    /// `[[delete_topic]]` and `[[delete_queue]]`: this folder's resource (or a legacy one),
    /// named without attributes, that nothing uses any more.
    pub(super) fn delete<T: Declared>(
        &self,
        table: Table<'_, '_>,
        attributes: &[&str],
        state: &Topology,
    ) -> Checked<Operation> {
        reject_attributes(T::KIND.into(), attributes)?;
        if table.legacy {
            return self.delete_legacy(T::KIND, table.id, state);
        }
        let found = self.existing::<T>(table.id, state)?;
        external::refuse_external(T::KIND, found.name(), found.external(), "delete")?;
        found.check_unused(state)?;
        Ok(found.clone().deleted())
    }
}

/// Keys set in a table, by name, for [`reject_attributes`].
pub(super) fn set_keys<const N: usize>(keys: [(&'static str, bool); N]) -> Vec<&'static str> {
    keys.into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
}
