//! Inspecting the account: what exists, read through [`crate::aws`] and understood by the
//! naming rules — `lariat list`, `lariat graph --live` and `lariat drift`.
//!
//! The account is read into an [`Inventory`] (AWS terms), mapped into a live
//! [`Topology`](crate::topology::Topology) ([`live()`]) and compared with the declared one
//! ([`drift()`]). Mapping and comparing are pure functions; only
//! [`Aws::inventory`](crate::aws::Aws::inventory) does I/O.
//!
//! Drift compares in AWS terms: both sides go through the same attribute maps the planner
//! sends ([`crate::calls::queue_attributes`] and friends), and JSON values (redrive and filter
//! policies) compare as JSON, not as text. An attribute the files leave unset is compared with
//! the AWS default, except `MaximumMessageSize` and `SqsManagedSseEnabled`, whose defaults AWS
//! changed over the years. Tags lariat declares must be present with their values; other tags
//! are left alone (other tools may tag too). A queue's access policy is not compared as a
//! whole, since lariat only owns its statements: drift reports a declared subscription whose
//! statement (letting the topic send to the queue) is missing, nothing else.

//!
//! One file a job: `live` reads the account, `list` lists it, `drift` compares it with the
//! files and `report` holds what that finds, `graph` draws the live side.

mod drift;
mod graph;
mod list;
mod live;
mod report;

pub use crate::aws::inspect::{
    Inventory, LiveQueue, LiveSubscription, LiveTopic, Progress, ProgressSnapshot,
    DEFAULT_CONCURRENCY,
};
pub use drift::{compared_version, drift, drift_of};
pub use graph::{live_graph, mark_derived, restrict};
pub use list::{list, listing, mark_via, Filter, Listing, ResourceRow, SubscriptionRow, What};
pub use live::{live, read_live, Live, Scope};
pub use report::{Difference, Differing, Drift, DriftReport, Resource};

#[cfg(test)]
mod tests;
