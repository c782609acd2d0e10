//! heatgate-examples: heatgate's layers dropped into an ordinary axum service.
//!
//! [`router`] is the service of `examples/axum_service.rs`: Keystone tokens
//! checked by the auth_token layer, one oslo.policy rule on the route, and the
//! caller's [`Identity`] extracted in the handler. The example's `main` and the
//! test against a real Keystone (`tests/axum_service.rs`) build the same router.
#![deny(unsafe_code)]

use axum::{routing::get, Router};
use heatgate_keystone::Client;
use heatgate_middleware::auth_token::{AuthTokenConfig, AuthTokenError, AuthTokenLayer};
use heatgate_middleware::{context::Identity, policy::EnforcerSource, policy::PolicyLayer};

/// The example's policy (oslo.policy YAML): only members may ask who they are.
pub const POLICY: &str = r#""example:whoami": "role:member""#;

/// `GET /v1/{tenant}/whoami` answers the caller's user id to a valid token of
/// project `{tenant}` that `example:whoami` allows; else 401 or 403. `policy`:
/// an `Arc<Enforcer>`, or a `PolicyStore` to reload the rules when files change.
pub fn router(keystone: Client, policy: impl EnforcerSource) -> Result<Router, AuthTokenError> {
    let whoami = get(|id: Identity| async move { id.user_id.clone() })
        .route_layer(PolicyLayer::rest(policy, "example:whoami"));
    Ok(Router::new()
        .route("/v1/{tenant}/whoami", whoami)
        .layer(AuthTokenLayer::new(AuthTokenConfig::default(), keystone)?))
}

/// This crate's README, compiled by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

/// The gateway's README examples, compiled and run by
/// `cargo test -p heatgate-examples --doc` (the gateway crate is a binary
/// first; its README is checked from here).
#[cfg(doctest)]
#[doc = include_str!("../../gateway/README.md")]
mod gateway_readme {}
