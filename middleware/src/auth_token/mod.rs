//! auth_token: Keystone token validation, with the exact contract of
//! keystonemiddleware 13's `auth_token` middleware.
//!
//! For every request the layer
//! 1. removes every header a caller could use to claim an identity
//!    ([`is_spoofable`], `OpenStack-System-Scope` included);
//! 2. validates `X-Service-Token` (if sent), then `X-Auth-Token` (or
//!    `X-Storage-Token`) with Keystone, through a bounded cache keyed by the
//!    sha256 of the token; concurrent requests with the same uncached token share
//!    one Keystone call;
//! 3. refuses (as an invalid token) the token of a restricted application
//!    credential unless its access rules allow this request
//!    ([`AccessRules`]: `service_type`, method and path glob; a confirmed
//!    service token exempts, as in keystonemiddleware). Keystone is told the
//!    layer enforces them (`OpenStack-Identity-Access-Rules`) only when
//!    `service_type` is set; without it Keystone refuses such tokens itself;
//! 4. answers 401 (keystonemiddleware's body and `WWW-Authenticate`) when the
//!    token is not valid, 503 when Keystone cannot be asked (never admitting the
//!    request, never blaming the caller), or passes the request on with
//!    `X-Identity-Status`, `X-Roles`, `X-User-Id`, `X-Project-Id`, ... and a
//!    typed [`Identity`](crate::context::Identity) in its extensions.
//!
//! With `delay_auth_decision`, requests without a valid token pass with
//! `X-Identity-Status: Invalid` and no identity.
//!
//! A token a thread keeps seeing (a busy client's) becomes hot on that
//! thread: its requests are decided in the layer's `call`, with the headers
//! prebuilt, and go straight to the inner service; the answers are the same.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use heatgate_keystone::{Client, ClientConfig};
//! use heatgate_middleware::auth_token::{AuthTokenConfig, AuthTokenLayer};
//! use heatgate_middleware::context::Identity;
//!
//! # fn demo(client_config: ClientConfig) -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(client_config)?;
//! let layer = AuthTokenLayer::new(AuthTokenConfig::default(), client)?;
//! let app: Router = Router::new()
//!     .route("/v1/whoami", get(|id: Identity| async move { id.user_id.clone() }))
//!     .layer(layer);
//! # Ok(()) }
//! ```

mod access_rules;
mod config;
mod headers;
mod hot;
pub mod jws;
pub mod response;
pub(crate) mod service;
mod validator;

#[cfg(test)]
mod tests;

pub use access_rules::{AccessRuleRefusal, AccessRules};
pub use config::AuthTokenConfig;
pub use headers::{
    is_spoofable, strip_spoofable, v2_catalog_json, IdentityHeaders, AUTH_TOKEN, IDENTITY_STATUS,
    SERVICE_CATALOG, SERVICE_IDENTITY_STATUS, SERVICE_TOKEN, STORAGE_TOKEN,
};
pub use service::{AuthToken, AuthTokenError, AuthTokenLayer, ResponseFuture};
pub use validator::{
    TokenRejection, TokenValidator, ValidToken, ValidatorStats, INVALID_TOKEN_CACHE_TIME,
};
