//! heatgate-benches: what the benchmarks of the auth_token layer measure, in one
//! place, so the criterion bench (`benches/auth_token.rs`), the `authbench` load
//! target (`src/bin/authbench.rs`) and the side-by-side script
//! (`auth_token_side_by_side.sh`) build the same service.
//!
//! - [`ok_router`]: the trivial service behind the layer: 200 `ok` on every path
//!   and method;
//! - [`KeystoneArgs`]: the service user the layer validates tokens with, from
//!   flags or the usual `OS_*` environment variables (so a password stays out of
//!   the process list);
//! - [`app`]: the router, with or without the auth_token layer in front.
//!
//! See `benches/README.md` for how to run the benchmarks and the targets.
//!
//! ```
//! use heatgate_benches::ok_router;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let response = tower::ServiceExt::oneshot(
//!     ok_router(),
//!     http::Request::get("/any/path").body(axum::body::Body::empty()).unwrap(),
//! )
//! .await
//! .unwrap();
//! assert_eq!(response.status(), 200);
//! # });
//! ```
#![deny(unsafe_code)]

pub mod serve;

use std::path::PathBuf;

use axum::Router;
use heatgate_keystone::{
    Client, ClientConfig, DomainRef, PasswordAuth, ScopeRequest, Secret, UserRef,
};
use heatgate_middleware::auth_token::{AuthTokenConfig, AuthTokenLayer};
use url::Url;

/// The trivial service every benchmark puts behind the layer: 200 `ok`.
pub fn ok_router() -> Router {
    Router::new().fallback(|| async { "ok" })
}

/// The Keystone service user the auth_token layer validates tokens with.
///
/// Every flag has the environment variable of the OpenStack clients as a
/// fallback (`OS_AUTH_URL`, `OS_USERNAME`, ...).
#[derive(Debug, Clone, clap::Args)]
pub struct KeystoneArgs {
    /// The identity URL (with or without `/v3`).
    #[arg(long, env = "OS_AUTH_URL")]
    pub auth_url: Option<Url>,
    /// The service user's name.
    #[arg(long, env = "OS_USERNAME", default_value = "heat")]
    pub username: String,
    /// The service user's password (prefer the environment or --password-file).
    #[arg(long, env = "OS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// A file holding the service user's password.
    #[arg(long, env = "OS_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// The service user's project.
    #[arg(long, env = "OS_PROJECT_NAME", default_value = "service")]
    pub project_name: String,
    /// The service user's domain id.
    #[arg(long, env = "OS_USER_DOMAIN_ID", default_value = "default")]
    pub user_domain_id: String,
    /// The project's domain id.
    #[arg(long, env = "OS_PROJECT_DOMAIN_ID", default_value = "default")]
    pub project_domain_id: String,
    /// Sent in `WWW-Authenticate` with every 401 (default: the identity URL).
    #[arg(long)]
    pub www_authenticate_uri: Option<String>,
}

impl KeystoneArgs {
    /// The Keystone client configuration acting as the service user.
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let auth_url = self
            .auth_url
            .clone()
            .ok_or("--auth-url (or OS_AUTH_URL) is required with --layer")?;
        let password = match (&self.password, &self.password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("--password-file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            (None, None) => {
                return Err("--password, --password-file or OS_PASSWORD is required".into())
            }
        };
        let mut config = ClientConfig::new(auth_url);
        config.service_auth = Some(PasswordAuth {
            user: UserRef::Name {
                name: self.username.clone(),
                domain: DomainRef::Id(self.user_domain_id.clone()),
            },
            password: Secret::new(password),
            scope: ScopeRequest::ProjectName {
                name: self.project_name.clone(),
                domain: DomainRef::Id(self.project_domain_id.clone()),
            },
        });
        Ok(config)
    }

    /// The auth_token layer with keystonemiddleware's defaults (in-process
    /// cache, 300 s, catalog included), as Heat runs it.
    pub fn layer(&self) -> Result<AuthTokenLayer, String> {
        let client = Client::new(self.client_config()?).map_err(|e| e.to_string())?;
        let config = AuthTokenConfig {
            www_authenticate_uri: self.www_authenticate_uri.clone(),
            ..AuthTokenConfig::default()
        };
        AuthTokenLayer::new(config, client).map_err(|e| e.to_string())
    }
}

/// [`ok_router`], behind `layer` when given.
pub fn app(layer: Option<AuthTokenLayer>) -> Router {
    match layer {
        Some(layer) => ok_router().layer(layer),
        None => ok_router(),
    }
}
