//! The gateway -> engine trust: a short-lived signed assertion of the verified
//! identity, so an engine running as its own process never trusts bare
//! `X-*` headers from the network.
//!
//! The gateway puts [`SignAssertionLayer`] after its authentication layer
//! (auth_token, auth_password or ec2token): every forwarded request gets an
//! `X-Heatgate-Assertion` header, a JWS (HS256, key shared with the engine)
//! that carries the caller's [`Identity`](crate::context::Identity) (or says
//! the request is anonymous), is bound to the request's method, path and
//! query and to the sha256 of the token it forwards, and expires after 30 s.
//! The engine puts [`VerifyAssertionLayer`] in front of its routers: a request
//! without a valid assertion is answered 401 and never reaches a handler; a
//! valid one gets its `Identity` back in the request extensions, exactly as
//! the authentication layer had put it on the gateway side.
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use heatgate_middleware::identity_assertion::{AssertionKey, VerifyAssertionLayer};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let key = AssertionKey::new(b"a key shared by gateway and engine, 32+ bytes").unwrap();
//! let engine = Router::new()
//!     .route("/v1/p/stacks", get(|| async { "stacks" }))
//!     .layer(VerifyAssertionLayer::new(key));
//! // Straight from the network, with identity headers and no assertion: refused.
//! let spoofed = Request::get("/v1/p/stacks")
//!     .header("x-user-id", "admin")
//!     .header("x-roles", "admin")
//!     .body(Body::empty())
//!     .unwrap();
//! let response = engine.oneshot(spoofed).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```

mod claims;
mod sign;
mod verify;

use std::fmt;

use http::HeaderName;
use jsonwebtoken::{DecodingKey, EncodingKey};

pub use sign::{SignAssertion, SignAssertionLayer};
pub use verify::{AssertionError, VerifyAssertion, VerifyAssertionLayer};

/// The header that carries the assertion.
pub const ASSERTION_HEADER: HeaderName = HeaderName::from_static("x-heatgate-assertion");

/// The shortest key accepted (HS256 wants at least the hash's length).
pub const MIN_KEY_LEN: usize = 32;

/// The assertion's issuer (`iss`).
const ISSUER: &str = "heatgate-gateway";
/// The assertion's audience (`aud`).
const AUDIENCE: &str = "heatgate-engine";

/// The key shared by the gateway (signing) and the engine (verifying).
#[derive(Clone)]
pub struct AssertionKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// A key that is too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the assertion key must be at least {MIN_KEY_LEN} bytes long")]
pub struct KeyTooShort;

impl AssertionKey {
    /// A key from shared secret bytes (at least [`MIN_KEY_LEN`]).
    pub fn new(secret: &[u8]) -> Result<Self, KeyTooShort> {
        if secret.len() < MIN_KEY_LEN {
            return Err(KeyTooShort);
        }
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }
}

impl fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AssertionKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests;
