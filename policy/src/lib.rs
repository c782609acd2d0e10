//! heatgate-policy: the oslo.policy rule language, as OpenStack Heat enforces it.
//!
//! It gives the same answer as oslo.policy 6.0.1 (proven by differential tests
//! against the Python library) and compiles rules once so that a check is a
//! walk over a flat array that allocates nothing.
//!
//! ```
//! use heatgate_policy::heat::{self, Profile};
//! use heatgate_policy::{Credentials, Target};
//!
//! let enforcer = heat::enforcer(Profile::Modern, true);
//! let member = Credentials::builder()
//!     .user_id("u1")
//!     .project_id("p1")
//!     .roles(["member", "reader"])
//!     .build();
//! let target = Target::new().with("project_id", "p1");
//! assert!(enforcer.enforce("stacks:create", &target, &member).unwrap());
//! // Another project's stacks are out of reach.
//! let other = Target::new().with("project_id", "p2");
//! assert!(!enforcer.enforce("stacks:create", &other, &member).unwrap());
//! ```
//!
//! Modules: [`check`] (parser), [`enforcer`] (compiled evaluation),
//! [`ruleset`] (files, defaults, merging), [`reload`] (mtime-driven reload),
//! [`heat`] (Heat's built-in profiles), [`remote`] (`http:` checks behind a
//! trait), [`audit`] (check, lint, explain, who-can, diff, dump), [`py`] (the
//! bits of Python semantics oslo depends on).

pub mod audit;
pub mod check;
pub mod creds;
pub mod enforcer;
pub mod heat;
pub mod py;
pub mod reload;
pub mod remote;
pub mod ruleset;

pub use check::{parse_rule, Check, Parsed};
pub use creds::{Credentials, CredentialsBuilder, Target, TokenScope};
pub use enforcer::{Diagnostic, EnforceError, Enforcer};
pub use py::PyValue;
pub use ruleset::{DefaultRule, DeprecatedRule, LoadError, RuleDefault, RuleSet};

/// The README's examples, compiled (and run unless marked `no_run`) by
/// `cargo test --doc`, so the README cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
