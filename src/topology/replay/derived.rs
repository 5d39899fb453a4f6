//! Derived subscriptions in replay: after each file's operations, the subscriptions that its
//! topic-to-topic links imply are derived again, and the difference from the version before
//! becomes operations of that file (see [`crate::topology::derive()`]).

use super::{Collected, Problem, Replay};
use crate::topology::{derive, Operation, Topology};

impl Replay<'_> {
    /// The file's operations with the derived subscriptions they add, change or remove:
    /// removals first (before a queue or topic they need goes), additions and changes last
    /// (after what they need exists). Applies those to `state` too.
    pub(super) fn with_derived(
        &mut self,
        collected: Collected,
        state: &mut Topology,
        errors_before: usize,
    ) -> Vec<Operation> {
        let Collected { ops, touched } = collected;
        let changes_subscriptions = ops.iter().any(|op| {
            matches!(
                op,
                Operation::Subscribe(_)
                    | Operation::Unsubscribe(_)
                    | Operation::ChangeSubscription { .. }
            )
        });
        // the derived set only moves with subscriptions; a broken file has no state to derive from
        if !changes_subscriptions || self.diagnostics.error_count() > errors_before {
            return ops;
        }
        let derived = match derive(state) {
            Ok(derived) => derived,
            Err(e) => {
                let line = e
                    .subscriptions
                    .iter()
                    .find_map(|k| touched.get(&format!("subscription {k}")).copied())
                    .unwrap_or(1);
                self.report(line, Problem::new(e.message).help(e.help));
                return ops;
            }
        };
        let mut removed = Vec::new();
        let mut added = Vec::new();
        for (key, before) in &state.derived {
            if !derived.contains_key(key) {
                removed.push(Operation::UnsubscribeDerived(before.clone()));
            }
        }
        for (key, after) in &derived {
            match state.derived.get(key) {
                None => added.push(Operation::SubscribeDerived(after.clone())),
                Some(before) if before != after => added.push(Operation::ChangeDerived {
                    before: before.clone(),
                    after: after.clone(),
                }),
                Some(_) => {}
            }
        }
        let mut out = removed;
        out.extend(ops);
        out.extend(added);
        for op in &out {
            if is_derived(op) {
                state.apply(op);
            }
        }
        out
    }
}

fn is_derived(op: &Operation) -> bool {
    matches!(
        op,
        Operation::SubscribeDerived(_)
            | Operation::UnsubscribeDerived(_)
            | Operation::ChangeDerived { .. }
    )
}

#[cfg(test)]
mod tests;
