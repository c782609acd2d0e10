//! Client configuration, with keystonemiddleware's option names.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::Secret;

/// Which catalog interface to use for the identity endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    /// `public`
    Public,
    /// `internal` (keystonemiddleware's default)
    #[default]
    Internal,
    /// `admin`
    Admin,
}

impl Interface {
    /// The catalog name of the interface.
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }
}

/// A domain named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainRef {
    /// By id.
    Id(String),
    /// By name.
    Name(String),
}

impl DomainRef {
    /// The `default` domain by id.
    pub fn default_domain() -> Self {
        DomainRef::Id("default".into())
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            DomainRef::Id(id) => serde_json::json!({ "id": id }),
            DomainRef::Name(name) => serde_json::json!({ "name": name }),
        }
    }
}

/// What a password authentication asks to be scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRequest {
    /// No scope.
    Unscoped,
    /// A project by name in a domain.
    ProjectName {
        /// Project name.
        name: String,
        /// Its domain.
        domain: DomainRef,
    },
    /// A project by id.
    ProjectId(String),
    /// A domain.
    Domain(DomainRef),
    /// The whole system.
    System,
    /// A trust (the user must be the trustee).
    Trust(Secret),
}

impl ScopeRequest {
    pub(crate) fn to_json(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        match self {
            ScopeRequest::Unscoped => None,
            ScopeRequest::ProjectName { name, domain } => {
                Some(json!({"project": {"name": name, "domain": domain.to_json()}}))
            }
            ScopeRequest::ProjectId(id) => Some(json!({"project": {"id": id}})),
            ScopeRequest::Domain(d) => Some(json!({"domain": d.to_json()})),
            ScopeRequest::System => Some(json!({"system": {"all": true}})),
            ScopeRequest::Trust(id) => Some(json!({"OS-TRUST:trust": {"id": id.expose()}})),
        }
    }
}

/// A user's password credentials and the scope wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordAuth {
    /// A user named by name (with `user_domain`) or by id.
    pub user: UserRef,
    /// The password.
    pub password: Secret,
    /// The scope.
    pub scope: ScopeRequest,
}

/// A user named by id, or by name within a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// By id.
    Id(String),
    /// By name in a domain.
    Name {
        /// The user name.
        name: String,
        /// Its domain.
        domain: DomainRef,
    },
}

impl PasswordAuth {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let user = match &self.user {
            UserRef::Id(id) => json!({"id": id, "password": self.password.expose()}),
            UserRef::Name { name, domain } => {
                json!({"name": name, "domain": domain.to_json(), "password": self.password.expose()})
            }
        };
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": user}}});
        if let Some(scope) = self.scope.to_json() {
            auth["scope"] = scope;
        }
        json!({ "auth": auth })
    }
}

/// How the client reaches Keystone and who it is.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where password authentication is sent (`auth_url`), with or without `/v3`.
    pub auth_url: Url,
    /// The service user's credentials (needed for validation and ec2tokens).
    pub service_auth: Option<PasswordAuth>,
    /// Take the identity endpoint for validation from the catalog with this interface;
    /// `None` uses `auth_url` directly.
    pub interface: Option<Interface>,
    /// Region for catalog lookups.
    pub region_name: Option<String>,
    /// Bound on each whole call to Keystone (connect, send, and read the answer).
    pub http_connect_timeout: Duration,
    /// Retries on connection errors (never on an answer).
    pub http_request_max_retries: u32,
    /// Calls this client makes to Keystone at once; more wait for one to end,
    /// at most `http_connect_timeout`, then fail as [`Error::Busy`](crate::Error::Busy)
    /// (Keystone unavailable: a 503, never a 401). `0`: no bound.
    pub max_concurrent_calls: usize,
    /// CA bundle (PEM) to trust for https.
    pub cafile: Option<PathBuf>,
    /// Skip TLS verification (tests only).
    pub insecure: bool,
}

impl ClientConfig {
    /// A configuration with defaults for `auth_url`.
    ///
    /// ```
    /// let c = heatgate_keystone::ClientConfig::new("http://127.0.0.1:5000/v3".parse().unwrap());
    /// assert_eq!(c.http_request_max_retries, 3);
    /// ```
    pub fn new(auth_url: Url) -> Self {
        Self {
            auth_url,
            service_auth: None,
            interface: None,
            region_name: None,
            http_connect_timeout: Duration::from_secs(10),
            http_request_max_retries: 3,
            max_concurrent_calls: 16,
            cafile: None,
            insecure: false,
        }
    }
}

/// Joins `path` (relative to `/v3/`) onto an identity URL given with or without `/v3`.
///
/// ```
/// use heatgate_keystone::config::v3_url;
/// let u = v3_url(&"http://k:5000/v3".parse().unwrap(), "auth/tokens");
/// assert_eq!(u.as_str(), "http://k:5000/v3/auth/tokens");
/// let u = v3_url(&"http://k/identity/".parse().unwrap(), "auth/tokens");
/// assert_eq!(u.as_str(), "http://k/identity/v3/auth/tokens");
/// ```
pub fn v3_url(base: &Url, path: &str) -> Url {
    let mut base = base.clone();
    let trimmed = base.path().trim_end_matches('/').to_owned();
    let root = trimmed.strip_suffix("/v3").unwrap_or(&trimmed).to_owned();
    base.set_path(&format!("{root}/v3/{}", path.trim_start_matches('/')));
    base.set_query(None);
    base
}
