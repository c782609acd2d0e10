//! The engine's HTTP APIs: Heat's native REST API ([`rest`]) and the
//! CloudFormation-compatible query API ([`cfn`]), each with its policy checks
//! and the dual-path stack lookup composed in.
//!
//! Authentication is NOT part of these routers: put `auth_token` (or
//! `auth_password`) in front of [`rest::router`] and `ec2token` in front of
//! [`cfn::router`], as `heatgate serve` does.

use std::sync::Arc;

use heatgate_middleware::context::Identity;
use heatgate_middleware::policy::{credentials, EnforcerSource};
use heatgate_policy::PyValue;
use http::HeaderMap;

use crate::engine::{Caller, Engine};

pub mod cfn;
pub mod rest;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The engine.
    pub engine: Engine,
    /// The policy rules in force.
    pub policy: Arc<dyn EnforcerSource>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").finish_non_exhaustive()
    }
}

impl ApiState {
    /// The engine's view of a verified caller (admin per `context_is_admin`).
    pub fn caller(&self, identity: &Identity, headers: &HeaderMap) -> Caller {
        let enforcer = self.policy.current();
        let creds = credentials(identity, &enforcer);
        let mut caller = Caller::from_identity(identity);
        caller.is_admin = matches!(creds.get("is_admin"), Some(PyValue::Bool(true)));
        if let Some(k) = headers.get("x-auth-key").and_then(|v| v.to_str().ok()) {
            caller.password = Some(heatgate_keystone::Secret::new(k));
        }
        // Only from a signature ec2token verified, never from a header.
        caller.ec2_access = identity.ec2_access().map(str::to_owned);
        caller
    }
}

/// The scheme and host the client used (`X-Forwarded-*` first), for links.
pub fn origin(headers: &HeaderMap) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.split(',').next().unwrap_or(h).trim().to_owned())
            .filter(|h| !h.is_empty())
    };
    let host = first("x-forwarded-host")
        .or_else(|| first("host"))
        .unwrap_or_else(|| "localhost".into());
    let scheme = first("x-forwarded-proto").unwrap_or_else(|| "http".into());
    format!("{scheme}://{host}")
}
