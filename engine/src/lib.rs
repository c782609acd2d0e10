//! heatgate-engine: the minimal Heat engine behind the gateway.
//!
//! - [`engine`]: stacks and resources, stack domain users created in Keystone
//!   as the stack domain admin ([`stack_users`]), signals, deferred auth with
//!   trusts or passwords, and the dual-path lookups;
//! - [`lifecycle`]: what runs after the API answered (create in dependency
//!   order, wait conditions, rollback, delete, CHECK);
//! - [`template`]: the HOT and CFN subset (parse, validate, order, evaluate);
//! - [`store`]: sqlx on SQLite (WAL, migrations), secrets sealed by [`crypt`];
//! - [`presign`]: ARNs and pre-signed SigV2 URLs for instances;
//! - [`api`]: Heat's REST API and the CFN query API as axum routers, with the
//!   policy checks and the stack lookup composed in (authentication goes in
//!   front of them).
#![deny(unsafe_code)]

pub mod api;
pub mod config;
pub mod crypt;
pub mod engine;
pub mod error;
pub mod lifecycle;
pub mod presign;
mod pyjson;
pub mod stack_users;
pub mod store;
pub mod template;

pub use config::{DeferredAuth, EngineConfig};
pub use engine::{Caller, CreateRequest, Engine};
pub use error::EngineError;

/// The README's examples, compiled (and run unless marked `no_run`) by
/// `cargo test --doc`, so the README cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
