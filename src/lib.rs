//! # lariat
//!
//! The messaging topology of a service on AWS — SNS topics, SQS queues and the subscriptions
//! between them — as numbered, reviewable, reversible migration files, applied the way a
//! database migration tool applies a schema.
//!
//! Data flows one way: files ([`migration`]) → checked operations and the declared topology at
//! every version ([`topology`]) → a plan of which versions to apply or undo ([`plan`]) → the
//! AWS calls of each operation ([`calls`], pure; ARNs from [`naming`]) → the executor, the only
//! part that does I/O ([`aws`] for SNS/SQS, [`store`] for the version table).
//!
//! Cargo features (all on by default): `cli`, the `lariat` binary and the migration tooling
//! (migrator, executor, generate, import, inspect); `sqlite`, `postgres`, `mysql`, the
//! databases the version store, the outbox and the inbox can use. A service that only
//! publishes, relays or consumes needs none of the CLI's crates:
//! `lariat = { default-features = false, features = ["postgres"] }`.
#![warn(missing_docs)]

pub mod aws;
pub mod calls;
pub mod config;
pub mod db;
pub mod diagnostic;
pub mod duration;
#[cfg(feature = "cli")]
pub mod executor;
#[cfg(feature = "cli")]
pub mod generate;
pub mod graph;
#[cfg(feature = "cli")]
pub mod import;
pub mod inbox;
#[cfg(feature = "cli")]
pub mod inspect;
pub mod migration;
#[cfg(feature = "cli")]
pub mod migrator;
pub mod naming;
pub mod outbox;
pub mod plan;
pub mod publish;
pub mod store;
pub mod topology;

#[cfg(feature = "cli")]
pub use migrator::{Error, Migrator};
pub mod exit;
pub mod message;
pub mod signal;
