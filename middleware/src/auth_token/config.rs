//! auth_token options, with keystonemiddleware's names and defaults.

use std::path::PathBuf;

use serde::Deserialize;

/// Options of the auth_token layer (the `[keystone_authtoken]` options that
/// concern the layer; the Keystone client has its own).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct AuthTokenConfig {
    /// Sent in `WWW-Authenticate: Keystone uri="..."` with every 401.
    pub www_authenticate_uri: Option<String>,
    /// Pass unauthenticated requests on with `X-Identity-Status: Invalid`.
    pub delay_auth_decision: bool,
    /// Fetch the catalog and set `X-Service-Catalog` (default true).
    pub include_service_catalog: bool,
    /// Seconds a validated token is cached; -1 disables the cache (default 300).
    pub token_cache_time: i64,
    /// Seconds a token Keystone refused is refused without asking again
    /// (default 10; 0 disables). Keystone being unavailable is never
    /// remembered.
    pub invalid_token_cache_time: u64,
    /// Roles that make a service token count (default `["service"]`).
    pub service_token_roles: Vec<String>,
    /// Whether a service token without one of `service_token_roles` is refused (default true).
    pub service_token_roles_required: bool,
    /// Bound on cached tokens (entries).
    pub token_cache_max_entries: u64,
    /// Tokens longer than this are refused without asking Keystone.
    pub max_token_size: usize,
    /// Directory of Keystone's JWS public keys (`*.pem`): forged or expired JWS
    /// tokens are then refused locally.
    pub jws_public_key_repository: Option<PathBuf>,
    /// This service's type in the catalog (`orchestration` for Heat), which
    /// the access rules of application credentials name. Without it, tokens
    /// of restricted application credentials are refused (keystonemiddleware's
    /// `service_type`).
    pub service_type: Option<String>,
}

impl Default for AuthTokenConfig {
    fn default() -> Self {
        Self {
            www_authenticate_uri: None,
            delay_auth_decision: false,
            include_service_catalog: true,
            token_cache_time: 300,
            invalid_token_cache_time: 10,
            service_token_roles: vec!["service".into()],
            service_token_roles_required: true,
            token_cache_max_entries: 100_000,
            max_token_size: 8 * 1024,
            jws_public_key_repository: None,
            service_type: None,
        }
    }
}
