//! heatgate-keystone: a typed async client for the parts of Keystone's Identity v3
//! API that Heat's authentication model needs.
//!
//! - the service token (password authentication, refreshed when fewer than 120 s
//!   remain, re-authenticated once when Keystone answers 401);
//! - token validation (`GET /v3/auth/tokens`, with `nocatalog` unless asked);
//! - bounded calls: `http_connect_timeout` bounds every whole call, and only
//!   connection errors are retried (`http_request_max_retries`);
//! - the identity endpoint from the configuration or the catalog (public/internal).
//!
//! Errors say whose fault they are: [`Error::is_unavailable`] is true when the
//! caller must answer 503 (Keystone down, slow, or talking nonsense).
#![deny(unsafe_code)]

mod client;
pub mod config;
mod error;
mod secret;
pub mod token;

pub use client::admin::{NewUser, Project, Trust, TrustRequest, UserRecord};
pub use client::ec2::{ec2_credential_id, Ec2Credential, Ec2Outcome};
pub use client::{Answer, Authenticated, Client, ClientStats, ValidateOptions, Validation};
pub use config::{ClientConfig, DomainRef, Interface, PasswordAuth, ScopeRequest, UserRef};
pub use error::Error;
pub use secret::{fingerprint, Secret};
pub use token::TokenBody;

/// The README's examples, compiled (and run unless marked `no_run`) by
/// `cargo test --doc`, so the README cannot drift from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
