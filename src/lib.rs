//! # lariat
//!
//! The messaging topology of a service on AWS — SNS topics, SQS queues and the subscriptions
//! between them — as numbered, reviewable, reversible migration files, applied the way a
//! database migration tool applies a schema.
//!
//! Data flows one way: files ([`migration`]) → checked operations and the declared topology at
//! every version ([`topology`]) → a plan of what to run ([`plan`]) → the executor, the only
//! part that does I/O ([`aws`] for SNS/SQS, [`store`] for the version table).
#![warn(missing_docs)]

pub mod aws;
pub mod config;
pub mod db;
pub mod diagnostic;
pub mod duration;
pub mod executor;
pub mod generate;
pub mod graph;
pub mod import;
pub mod inbox;
pub mod inspect;
pub mod migration;
pub mod migrator;
pub mod naming;
pub mod outbox;
pub mod plan;
pub mod publish;
pub mod store;
pub mod topology;

pub use migrator::{Error, Migrator};
pub mod exit;
pub mod message;
pub mod signal;
