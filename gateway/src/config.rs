//! Configuration: TOML with heat.conf's option names, environment overrides
//! (`HEATGATE_<SECTION>__<KEY>`), and secrets from files.
//!
//! Three layers, each overriding the one before it key by key: a heat.conf
//! (`--heat-conf`, see [`crate::heat_conf`]), the TOML file (`--config`), then
//! the environment. Giving `X_file` in a later layer drops an `X` of an
//! earlier one, and the other way round. A value that does not fit is
//! reported in one line naming where it came from (`file:line` or the
//! variable) and the key; secrets are never quoted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use heatgate_keystone::{
    ClientConfig, DomainRef, Interface, PasswordAuth, ScopeRequest, Secret, UserRef,
};
use heatgate_middleware::auth_token::AuthTokenConfig;
use heatgate_middleware::ec2token::Ec2TokenConfig;
use serde::Deserialize;
use url::Url;

/// A configuration problem: reported in one line, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `[gateway]`
    pub gateway: GatewaySection,
    /// `[keystone_authtoken]`
    pub keystone_authtoken: KeystoneAuthtokenSection,
    /// `[auth_password]` (standalone flavor)
    pub auth_password: AuthPasswordSection,
    /// `[ec2authtoken]` (the CFN listener)
    pub ec2authtoken: Ec2TokenConfig,
    /// `[oslo_policy]`
    pub oslo_policy: OsloPolicySection,
    /// `[heat]`: stack domain users, deferred auth, encryption (heat.conf's `[DEFAULT]`).
    pub heat: HeatSection,
    /// `[engine]`
    pub engine: EngineSection,
}

/// `[oslo_policy]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct OsloPolicySection {
    /// A policy file overriding Heat's defaults (JSON or YAML).
    pub policy_file: Option<PathBuf>,
    /// Directories of more override files.
    pub policy_dirs: Vec<PathBuf>,
    /// Use the new (scoped, role-based) defaults only. Default true, as
    /// oslo.policy 6.0.1 (and so Heat 27 out of the box): a reader cannot
    /// create stacks. `false` brings back the deprecated rules as
    /// alternatives.
    pub enforce_new_defaults: bool,
}

impl Default for OsloPolicySection {
    fn default() -> Self {
        Self {
            policy_file: None,
            policy_dirs: Vec::new(),
            enforce_new_defaults: true,
        }
    }
}

/// `[heat]` (heat.conf's `[DEFAULT]` options of the same names).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HeatSection {
    /// The stack user domain by id.
    pub stack_user_domain_id: Option<String>,
    /// The stack user domain by name (looked up once at start).
    pub stack_user_domain_name: Option<String>,
    /// The stack domain admin's user name.
    pub stack_domain_admin: Option<String>,
    /// Its password.
    pub stack_domain_admin_password: Option<Secret>,
    /// A file holding it.
    pub stack_domain_admin_password_file: Option<PathBuf>,
    /// The role of stack users.
    pub heat_stack_user_role: String,
    /// `trusts` or `password`.
    pub deferred_auth_method: String,
    /// Roles delegated by trusts (empty: all the owner's roles).
    pub trusts_delegated_roles: Vec<String>,
    /// The key sealing secrets at rest (32 characters or more).
    pub auth_encryption_key: Option<Secret>,
    /// A file holding it.
    pub auth_encryption_key_file: Option<PathBuf>,
    /// Where instances signal wait conditions.
    pub heat_waitcondition_server_url: Option<Url>,
}

impl Default for HeatSection {
    fn default() -> Self {
        Self {
            stack_user_domain_id: None,
            stack_user_domain_name: None,
            stack_domain_admin: None,
            stack_domain_admin_password: None,
            stack_domain_admin_password_file: None,
            heat_stack_user_role: "heat_stack_user".into(),
            deferred_auth_method: "trusts".into(),
            trusts_delegated_roles: Vec::new(),
            auth_encryption_key: None,
            auth_encryption_key_file: None,
            heat_waitcondition_server_url: None,
        }
    }
}

/// `[engine]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EngineSection {
    /// The SQLite file (default `<data_dir>/engine.db`).
    pub database: Option<PathBuf>,
    /// Where the engine keeps its files (default `./.heatgate`).
    pub data_dir: Option<PathBuf>,
    /// `heatgate engine`'s REST listener (default 127.0.0.1:8014); the
    /// gateway's `heatgate proxy --upstream` points here.
    pub listen: Option<SocketAddr>,
    /// `heatgate engine`'s CFN listener (default 127.0.0.1:8010); the
    /// gateway's `--cfn-upstream` points here.
    pub cfn_listen: Option<SocketAddr>,
    /// The key shared by gateway and engine to sign and verify the identity
    /// assertion (at least 32 bytes). Required by `heatgate engine`; when set,
    /// `heatgate proxy` signs every request it forwards.
    pub assertion_key: Option<Secret>,
    /// `assertion_key` read from a file (kept out of process lists).
    pub assertion_key_file: Option<PathBuf>,
}

/// How callers authenticate on the REST listener.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Keystone tokens (auth_token), Heat's default pipeline.
    #[default]
    Keystone,
    /// User name and password (auth_password), Heat's standalone pipeline.
    Standalone,
}

/// How log lines are written (on stderr; `RUST_LOG` filters them either way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event (tracing-subscriber's fmt).
    #[default]
    Text,
    /// One JSON object per line, with the request's span fields (request id).
    Json,
}

/// `[gateway]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct GatewaySection {
    /// REST listener (default 127.0.0.1:8004, like heat-api).
    pub listen: SocketAddr,
    /// CFN listener (default 127.0.0.1:8000, like heat-api-cfn; see
    /// [`cfn_listen`](Self::cfn_listen)). `heatgate proxy` opens it only in
    /// front of a CFN upstream, and refuses to start when it is set without
    /// one.
    pub cfn_listen: Option<SocketAddr>,
    /// `embedded` or the URL of the service behind the gateway.
    pub upstream: Option<String>,
    /// The URL of the CFN-style service behind the CFN listener (proxy mode).
    pub cfn_upstream: Option<String>,
    /// Prometheus listener: `/metrics` and `/healthcheck` (unset: none).
    pub metrics_listen: Option<SocketAddr>,
    /// `text` (default) or `json` log lines.
    pub log_format: LogFormat,
    /// Runtime worker threads (default: one per core); 1 runs every task on
    /// the thread that started the server (a current-thread scheduler).
    pub worker_threads: Option<usize>,
    /// REST base URL that clients reach.
    pub public_url: Option<String>,
    /// CFN base URL that clients reach.
    pub cfn_public_url: Option<String>,
    /// Authentication flavor of the REST listener.
    pub flavor: Flavor,
    /// Seconds to wait for the upstream's response headers (default 60).
    pub upstream_timeout: u64,
    /// Seconds to let in-flight requests finish after SIGTERM (default 30).
    pub shutdown_grace: u64,
    /// PEM certificate chain of the REST and CFN listeners (the server's
    /// certificate first). With `key_file`, those listeners speak HTTPS only;
    /// the metrics listener stays plain HTTP. Both or neither.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1). A secret: it
    /// must not be readable by group or others (chmod 600).
    pub key_file: Option<PathBuf>,
    /// PEM CA certificates that https upstreams (`heatgate proxy`) are
    /// verified against (unset: the webpki roots).
    pub upstream_cafile: Option<PathBuf>,
    /// Connections each listener serves at once (default 10000); beyond it new
    /// connections wait in the accept backlog until one closes.
    pub max_connections: usize,
    /// Seconds a request's whole body may take to arrive, counted from its
    /// head (default 60), on every listener: a slower body is cut off and
    /// answered 408, so a client trickling bytes cannot hold a connection.
    pub request_body_timeout: u64,
    /// Largest request body `heatgate proxy` forwards, in bytes (unset: no
    /// limit; bodies stream to the upstream, which applies its own). A larger
    /// `Content-Length` is answered 413 before anything is forwarded; a
    /// chunked body is cut off at the limit and answered 413.
    pub max_request_body_size: Option<u64>,
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8004)),
            cfn_listen: None,
            upstream: None,
            cfn_upstream: None,
            metrics_listen: None,
            log_format: LogFormat::Text,
            worker_threads: None,
            public_url: None,
            cfn_public_url: None,
            flavor: Flavor::Keystone,
            upstream_timeout: 60,
            shutdown_grace: 30,
            cert_file: None,
            key_file: None,
            upstream_cafile: None,
            max_connections: 10_000,
            max_request_body_size: None,
            request_body_timeout: 60,
        }
    }
}

impl GatewaySection {
    /// `request_body_timeout`, at least a second.
    pub fn request_body_timeout(&self) -> Duration {
        Duration::from_secs(self.request_body_timeout.max(1))
    }

    /// The CFN listener's address: `cfn_listen`, else 127.0.0.1:8000.
    pub fn cfn_listen(&self) -> SocketAddr {
        self.cfn_listen
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8000)))
    }
}

/// `[keystone_authtoken]`: keystonemiddleware's options.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct KeystoneAuthtokenSection {
    /// Where to authenticate (service user, standalone users).
    pub auth_url: Option<Url>,
    /// Sent in `WWW-Authenticate` (default: `auth_url`).
    pub www_authenticate_uri: Option<String>,
    /// The service user.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<Secret>,
    /// A file holding the password (kept out of process lists and the config).
    pub password_file: Option<PathBuf>,
    /// The service user's project.
    pub project_name: Option<String>,
    /// The service user's domain by id.
    pub user_domain_id: Option<String>,
    /// The service user's domain by name.
    pub user_domain_name: Option<String>,
    /// The project's domain by id.
    pub project_domain_id: Option<String>,
    /// The project's domain by name.
    pub project_domain_name: Option<String>,
    /// Catalog interface for the identity endpoint (unset: use `auth_url` itself).
    pub interface: Option<Interface>,
    /// Region for catalog lookups.
    pub region_name: Option<String>,
    /// Seconds a validated token is cached; -1 disables.
    pub token_cache_time: i64,
    /// Seconds a token Keystone refused is refused without asking again
    /// (default 10; 0 disables).
    pub invalid_token_cache_time: u64,
    /// Pass unauthenticated requests on, marked Invalid.
    pub delay_auth_decision: bool,
    /// Set `X-Service-Catalog`.
    pub include_service_catalog: bool,
    /// Roles a service token needs.
    pub service_token_roles: Vec<String>,
    /// Whether those roles are required.
    pub service_token_roles_required: bool,
    /// Seconds bounding each whole call to Keystone.
    pub http_connect_timeout: f64,
    /// Retries on connection errors.
    pub http_request_max_retries: u32,
    /// Calls each Keystone client of the process makes at once (default 16;
    /// 0: no bound); more wait at most `http_connect_timeout`, then the
    /// request is answered 503.
    pub max_concurrent_keystone_calls: usize,
    /// Shared token cache servers (not yet supported: refused when set).
    pub memcached_servers: Vec<String>,
    /// CA bundle for https Keystone.
    pub cafile: Option<PathBuf>,
    /// Skip TLS verification.
    pub insecure: bool,
    /// Bound on cached tokens.
    pub token_cache_max_entries: u64,
    /// Keystone's JWS public keys, for the local pre-check.
    pub jws_public_key_repository: Option<PathBuf>,
    /// This service's catalog type (`orchestration`), for application
    /// credential access rules; unset: restricted application credentials are
    /// refused.
    pub service_type: Option<String>,
}

impl Default for KeystoneAuthtokenSection {
    fn default() -> Self {
        let layer = AuthTokenConfig::default();
        Self {
            auth_url: None,
            www_authenticate_uri: None,
            username: None,
            password: None,
            password_file: None,
            project_name: None,
            user_domain_id: None,
            user_domain_name: None,
            project_domain_id: None,
            project_domain_name: None,
            interface: None,
            region_name: None,
            token_cache_time: layer.token_cache_time,
            invalid_token_cache_time: layer.invalid_token_cache_time,
            delay_auth_decision: layer.delay_auth_decision,
            include_service_catalog: layer.include_service_catalog,
            service_token_roles: layer.service_token_roles,
            service_token_roles_required: layer.service_token_roles_required,
            http_connect_timeout: 10.0,
            http_request_max_retries: 3,
            max_concurrent_keystone_calls: 16,
            memcached_servers: Vec::new(),
            cafile: None,
            insecure: false,
            token_cache_max_entries: layer.token_cache_max_entries,
            jws_public_key_repository: None,
            service_type: None,
        }
    }
}

/// `[auth_password]` (Heat's section for the standalone flavor).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuthPasswordSection {
    /// Identity URLs a caller may name in `X-Auth-Url` (default: only `auth_url`).
    pub allowed_auth_uris: Vec<Url>,
    /// Seconds a successful authentication is reused (default 30; 0 disables).
    pub cache_time: Option<u64>,
}

fn domain(id: &Option<String>, name: &Option<String>) -> DomainRef {
    match (id, name) {
        (Some(id), _) => DomainRef::Id(id.clone()),
        (None, Some(name)) => DomainRef::Name(name.clone()),
        (None, None) => DomainRef::default_domain(),
    }
}

impl KeystoneAuthtokenSection {
    /// The identity URL (required).
    pub fn auth_url(&self) -> Result<Url, ConfigError> {
        self.auth_url
            .clone()
            .ok_or_else(|| ConfigError("[keystone_authtoken] auth_url is required".into()))
    }

    /// The Keystone client configuration, with the service credentials when given.
    pub fn client_config(&self) -> Result<ClientConfig, ConfigError> {
        if !self.memcached_servers.is_empty() {
            return Err(ConfigError(
                "[keystone_authtoken] memcached_servers: a shared token cache is not supported yet; remove it".into(),
            ));
        }
        if !(self.http_connect_timeout.is_finite() && self.http_connect_timeout > 0.0) {
            return Err(ConfigError(
                "[keystone_authtoken] http_connect_timeout must be a positive number".into(),
            ));
        }
        let mut config = ClientConfig::new(self.auth_url()?);
        config.interface = self.interface;
        config.region_name = self.region_name.clone();
        config.http_connect_timeout = Duration::from_secs_f64(self.http_connect_timeout);
        config.http_request_max_retries = self.http_request_max_retries;
        config.max_concurrent_calls = self.max_concurrent_keystone_calls;
        config.cafile = self.cafile.clone();
        config.insecure = self.insecure;
        let password = match (&self.password, &self.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(path)) => Some(read_secret_file(
                path,
                "[keystone_authtoken] password_file",
            )?),
            (None, None) => None,
        };
        if let (Some(username), Some(password)) = (&self.username, password) {
            let project = self.project_name.clone().ok_or_else(|| {
                ConfigError("[keystone_authtoken] project_name is required with username".into())
            })?;
            config.service_auth = Some(PasswordAuth {
                user: UserRef::Name {
                    name: username.clone(),
                    domain: domain(&self.user_domain_id, &self.user_domain_name),
                },
                password,
                scope: ScopeRequest::ProjectName {
                    name: project,
                    domain: domain(&self.project_domain_id, &self.project_domain_name),
                },
            });
        }
        Ok(config)
    }

    /// The auth_token layer's options.
    pub fn layer_config(&self) -> AuthTokenConfig {
        AuthTokenConfig {
            www_authenticate_uri: self.www_authenticate_uri.clone(),
            delay_auth_decision: self.delay_auth_decision,
            include_service_catalog: self.include_service_catalog,
            token_cache_time: self.token_cache_time,
            invalid_token_cache_time: self.invalid_token_cache_time,
            service_token_roles: self.service_token_roles.clone(),
            service_token_roles_required: self.service_token_roles_required,
            token_cache_max_entries: self.token_cache_max_entries,
            jws_public_key_repository: self.jws_public_key_repository.clone(),
            service_type: self.service_type.clone(),
            ..AuthTokenConfig::default()
        }
    }
}

/// Reads a secret from a file, trimmed of its trailing newline; refuses a
/// file that group or others may access ([`read_private_file`]).
pub fn read_secret_file(path: &Path, what: &str) -> Result<Secret, ConfigError> {
    let bytes = read_private_file(path, what)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError(format!("{what}: {} is not UTF-8 text", path.display())))?;
    Ok(Secret::new(text.trim_end_matches(['\r', '\n'])))
}

/// Reads a file holding a secret, refusing it (as ssh does) when its mode
/// gives group or others any access. Errors name `what` and the path, never
/// the content.
pub fn read_private_file(path: &Path, what: &str) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    let cannot =
        |e: std::io::Error| ConfigError(format!("{what}: cannot read {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(cannot)?.permissions().mode();
        if let Some(reason) = too_open(mode) {
            return Err(ConfigError(format!(
                "{what}: {} {reason}; run chmod 600 on it",
                path.display()
            )));
        }
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(cannot)?;
    Ok(bytes)
}

/// Why a secret file's `mode` is too open, if it is: any group or other bit.
fn too_open(mode: u32) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        format!(
            "has permissions {:04o}, too open for a secret (group or others have access)",
            mode & 0o7777
        )
    })
}

impl Config {
    /// Loads `path` (if any), applies `HEATGATE_<SECTION>__<KEY>` overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::load_layers(None, path, env)
    }

    /// Loads `heat_conf` (a heat.conf, if any), then `path` (TOML, if any) on
    /// top of it, then the `HEATGATE_<SECTION>__<KEY>` overrides from `env`.
    pub fn load_layers(
        heat_conf: Option<&Path>,
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut layers = Layers::default();
        if let Some(heat_conf) = heat_conf {
            let read = crate::heat_conf::read(heat_conf)?;
            for warning in &read.warnings {
                tracing::warn!("{warning}");
            }
            layers.merge(read.table, read.origins);
        }
        if let Some(path) = path {
            let (table, origins) = read_toml(path)?;
            warn_unknown(&table, &origins, &path.display().to_string());
            layers.merge(table, origins);
        }
        let (mut table, mut origins) = (toml::Table::new(), Origins::new());
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("HEATGATE_") else {
                continue;
            };
            let Some((section, option)) = rest.split_once("__") else {
                continue;
            };
            let (section, option) = (section.to_lowercase(), option.to_lowercase());
            let parsed = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(value));
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                t.insert(option.clone(), parsed);
                origins.insert((section, option), key);
            }
        }
        warn_unknown(&table, &origins, "environment");
        layers.merge(table, origins);
        layers.into_config()
    }
}

/// Where each `(section, key)` came from: `file:line`, a file, or a variable.
type Origins = BTreeMap<(String, String), String>;

/// The configuration tables merged so far, with the origin of every key.
#[derive(Debug, Default)]
struct Layers {
    table: toml::Table,
    origins: Origins,
}

impl Layers {
    /// Puts `table` over what is there, key by key.
    fn merge(&mut self, table: toml::Table, origins: Origins) {
        for (section, value) in table {
            let toml::Value::Table(keys) = value else {
                self.table.insert(section, value);
                continue;
            };
            let into = self
                .table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !into.is_table() {
                *into = toml::Value::Table(toml::Table::new());
            }
            let Some(into) = into.as_table_mut() else {
                continue;
            };
            // A secret given one way here replaces one given the other way before.
            for key in keys.keys() {
                let other = match key.strip_suffix("_file") {
                    Some(plain) => plain.to_owned(),
                    None => format!("{key}_file"),
                };
                if !keys.contains_key(&other) && into.remove(&other).is_some() {
                    self.origins.remove(&(section.clone(), other));
                }
            }
            into.extend(keys);
        }
        self.origins.extend(origins);
    }

    /// The typed configuration, or one line naming the first key that does
    /// not fit, where it came from, and why.
    fn into_config(self) -> Result<Config, ConfigError> {
        let error = match toml::Value::Table(self.table.clone()).try_into::<Config>() {
            Ok(config) => return Ok(config),
            Err(e) => e,
        };
        let fallback = self
            .origins
            .values()
            .next()
            .map(|o| o.split(':').next().unwrap_or(o).to_owned())
            .unwrap_or_else(|| "configuration".to_owned());
        for (section, value) in &self.table {
            let keys: Vec<(Option<&String>, toml::Value)> = match value {
                toml::Value::Table(t) => t
                    .iter()
                    .map(|(k, v)| {
                        let one = toml::Table::from_iter([(k.clone(), v.clone())]);
                        (Some(k), toml::Value::Table(one))
                    })
                    .collect(),
                other => vec![(None, other.clone())],
            };
            for (key, value) in keys {
                let one = toml::Table::from_iter([(section.clone(), value)]);
                let Err(e) = toml::Value::Table(one).try_into::<Config>() else {
                    continue;
                };
                let Some(key) = key else {
                    let origin = self
                        .origins
                        .iter()
                        .find(|((s, _), _)| s == section)
                        .map_or(fallback.as_str(), |(_, o)| o.as_str());
                    return Err(ConfigError(format!(
                        "{origin}: [{section}] is not a section"
                    )));
                };
                let origin = self
                    .origins
                    .get(&(section.clone(), key.clone()))
                    .map_or(fallback.as_str(), String::as_str);
                let why = if is_secret(key) {
                    "invalid value (not shown: it is a secret)".to_owned()
                } else {
                    one_line(e.message())
                };
                return Err(ConfigError(format!("{origin}: [{section}] {key}: {why}")));
            }
        }
        Err(ConfigError(format!(
            "{fallback}: {}",
            one_line(error.message())
        )))
    }
}

/// Keys whose values are never quoted in a message.
fn is_secret(key: &str) -> bool {
    let key = key.strip_suffix("_file").unwrap_or(key);
    key.contains("password") || key.contains("secret") || key.ends_with("_key")
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// Reads a TOML configuration file with the line of each `[section] key`.
fn read_toml(path: &Path) -> Result<(toml::Table, Origins), ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{file}: cannot read: {e}")))?;
    // The message, not the error's own rendering: that quotes the line, which
    // may hold a password.
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|s| format!(":{}", line_of(&text, s.start)))
            .unwrap_or_default();
        ConfigError(format!("{file}{at}: {}", one_line(e.message())))
    })?;
    type Spans = BTreeMap<String, BTreeMap<String, toml::Spanned<toml::Value>>>;
    let mut origins = Origins::new();
    for (section, value) in &table {
        match value.as_table() {
            Some(keys) => {
                for key in keys.keys() {
                    origins.insert((section.clone(), key.clone()), file.clone());
                }
            }
            None => {
                origins.insert((section.clone(), String::new()), file.clone());
            }
        }
    }
    if let Ok(spans) = toml::from_str::<Spans>(&text) {
        for (section, keys) in spans {
            for (key, value) in keys {
                let line = line_of(&text, value.span().start);
                origins.insert((section.clone(), key), format!("{file}:{line}"));
            }
        }
    }
    Ok((table, origins))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

const KNOWN: &[(&str, &[&str])] = &[
    (
        "gateway",
        &[
            "listen",
            "cfn_listen",
            "upstream",
            "cfn_upstream",
            "metrics_listen",
            "log_format",
            "worker_threads",
            "public_url",
            "cfn_public_url",
            "flavor",
            "upstream_timeout",
            "shutdown_grace",
            "cert_file",
            "key_file",
            "upstream_cafile",
            "max_connections",
            "max_request_body_size",
            "request_body_timeout",
        ],
    ),
    (
        "keystone_authtoken",
        &[
            "auth_url",
            "www_authenticate_uri",
            "username",
            "password",
            "password_file",
            "project_name",
            "user_domain_id",
            "user_domain_name",
            "project_domain_id",
            "project_domain_name",
            "interface",
            "region_name",
            "token_cache_time",
            "invalid_token_cache_time",
            "delay_auth_decision",
            "include_service_catalog",
            "service_token_roles",
            "service_token_roles_required",
            "http_connect_timeout",
            "http_request_max_retries",
            "max_concurrent_keystone_calls",
            "memcached_servers",
            "cafile",
            "insecure",
            "token_cache_max_entries",
            "jws_public_key_repository",
            "service_type",
            "auth_type",
        ],
    ),
    ("auth_password", &["allowed_auth_uris", "cache_time"]),
    (
        "oslo_policy",
        &["policy_file", "policy_dirs", "enforce_new_defaults"],
    ),
    (
        "heat",
        &[
            "stack_user_domain_id",
            "stack_user_domain_name",
            "stack_domain_admin",
            "stack_domain_admin_password",
            "stack_domain_admin_password_file",
            "heat_stack_user_role",
            "deferred_auth_method",
            "trusts_delegated_roles",
            "auth_encryption_key",
            "auth_encryption_key_file",
            "heat_waitcondition_server_url",
        ],
    ),
    (
        "engine",
        &[
            "database",
            "data_dir",
            "listen",
            "cfn_listen",
            "assertion_key",
            "assertion_key_file",
        ],
    ),
    (
        "ec2authtoken",
        &[
            "auth_uri",
            "verify",
            "max_body_size",
            "max_age",
            "max_clock_skew",
            "credential_cache_time",
            "negative_cache_time",
            "token_cache_time",
            "token_expiry_margin",
            "cache_max_entries",
        ],
    ),
];

fn warn_unknown(table: &toml::Table, origins: &Origins, file: &str) {
    let origin = |section: &str, key: &str| {
        origins
            .get(&(section.to_owned(), key.to_owned()))
            .map_or(file, String::as_str)
            .to_owned()
    };
    for (section, value) in table {
        let Some((_, keys)) = KNOWN.iter().find(|(s, _)| s == section) else {
            let first = value.as_table().and_then(|t| t.keys().next());
            let origin = origin(section, first.map_or(section.as_str(), String::as_str));
            tracing::warn!("{origin}: [{section}]: unknown configuration section; ignored");
            continue;
        };
        if let toml::Value::Table(t) = value {
            for key in t.keys().filter(|k| !keys.contains(&k.as_str())) {
                let origin = origin(section, key);
                tracing::warn!(
                    "{origin}: [{section}] {key}: unknown configuration option; ignored"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_values() {
        let dir = std::env::temp_dir().join(format!("heatgate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[gateway]\nlisten = \"127.0.0.1:1\"\n[keystone_authtoken]\nauth_url = \"http://k/v3\"\n").unwrap();
        let env = vec![
            (
                "HEATGATE_GATEWAY__WORKER_THREADS".to_owned(),
                "1".to_owned(),
            ),
            (
                "HEATGATE_KEYSTONE_AUTHTOKEN__USERNAME".to_owned(),
                "heat".to_owned(),
            ),
            (
                "HEATGATE_KEYSTONE_AUTHTOKEN__DELAY_AUTH_DECISION".to_owned(),
                "true".to_owned(),
            ),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.gateway.worker_threads, Some(1));
        assert_eq!(c.gateway.listen.port(), 1);
        assert_eq!(c.keystone_authtoken.username.as_deref(), Some("heat"));
        assert!(c.keystone_authtoken.delay_auth_decision);
        assert_eq!(c.keystone_authtoken.token_cache_time, 300);
        assert_eq!(c.gateway.log_format, LogFormat::Text);
    }

    #[test]
    fn the_log_format_is_text_or_json() {
        let env = |v: &str| vec![("HEATGATE_GATEWAY__LOG_FORMAT".to_owned(), v.to_owned())];
        let c = Config::load(None, env("json")).unwrap();
        assert_eq!(c.gateway.log_format, LogFormat::Json);
        let e = Config::load(None, env("xml")).unwrap_err().to_string();
        assert!(e.contains("log_format") || e.contains("xml"), "{e}");
    }

    #[test]
    fn bad_values_name_the_file_and_key() {
        let dir = std::env::temp_dir().join(format!("heatgate-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[gateway]\nworker_threads = \"many\"\n").unwrap();
        let e = Config::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("c.toml") && e.contains("worker_threads"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn service_credentials_from_a_password_file() {
        let dir = std::env::temp_dir().join(format!("heatgate-config-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "s3cret\n").unwrap();
        set_mode(&dir.join("pw"), 0o600);
        let section = KeystoneAuthtokenSection {
            auth_url: Some("http://k/v3".parse().unwrap()),
            username: Some("heat".into()),
            password_file: Some(dir.join("pw")),
            project_name: Some("service".into()),
            ..Default::default()
        };
        let c = section.client_config().unwrap();
        assert_eq!(c.service_auth.unwrap().password.expose(), "s3cret");
    }

    fn scratch(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("heatgate-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        dir
    }

    #[test]
    fn toml_values_that_do_not_fit_name_file_line_and_key() {
        let dir = scratch(
            "line",
            &[
                (
                    "bad.toml",
                    "[gateway]\nlisten = \"127.0.0.1:1\"\n\nworker_threads = \"many\"\n",
                ),
                (
                    "syntax.toml",
                    "[keystone_authtoken]\nusername = \"heat\"\npassword = s3cret\n",
                ),
                ("secret.toml", "[keystone_authtoken]\npassword = 424242\n"),
            ],
        );
        let load = |f: &str| {
            let file = dir.join(f);
            let e = Config::load(Some(&file), Vec::new())
                .unwrap_err()
                .to_string();
            (e.replace(&file.display().to_string(), f), e)
        };
        let (e, raw) = load("bad.toml");
        assert!(
            e.starts_with("bad.toml:4: [gateway] worker_threads: ") && e.contains("many"),
            "{raw}"
        );
        assert!(!e.contains('\n'));
        let (e, raw) = load("syntax.toml");
        assert!(e.starts_with("syntax.toml:3: "), "{raw}");
        assert!(!e.contains("s3cret") && !e.contains('\n'), "{raw}");
        let (e, raw) = load("secret.toml");
        assert!(
            e.starts_with("secret.toml:2: [keystone_authtoken] password: invalid value"),
            "{raw}"
        );
        assert!(!e.contains("424242"), "{raw}");
    }

    #[test]
    fn environment_values_that_do_not_fit_name_the_variable() {
        let env = vec![(
            "HEATGATE_GATEWAY__WORKER_THREADS".to_owned(),
            "many".to_owned(),
        )];
        let e = Config::load(None, env).unwrap_err().to_string();
        assert!(
            e.starts_with("HEATGATE_GATEWAY__WORKER_THREADS: [gateway] worker_threads: "),
            "{e}"
        );
    }

    #[test]
    fn heat_conf_then_toml_then_environment() {
        let dir = scratch(
            "layers",
            &[
                (
                    "heat.conf",
                    "[DEFAULT]\nstack_domain_admin = heat_domain_admin\n\
                     [keystone_authtoken]\nauth_url = http://k/v3\nusername = a\n\
                     password = from-heat-conf\nhttp_connect_timeout = 5\ninsecure = true\n",
                ),
                (
                    "c.toml",
                    "[keystone_authtoken]\nusername = \"b\"\npassword_file = \"pw\"\n",
                ),
            ],
        );
        let env = vec![(
            "HEATGATE_KEYSTONE_AUTHTOKEN__HTTP_CONNECT_TIMEOUT".to_owned(),
            "7".to_owned(),
        )];
        let c = Config::load_layers(Some(&dir.join("heat.conf")), Some(&dir.join("c.toml")), env)
            .unwrap();
        let k = &c.keystone_authtoken;
        assert_eq!(k.auth_url.as_ref().map(Url::as_str), Some("http://k/v3"));
        assert_eq!(k.username.as_deref(), Some("b"));
        assert!(k.password.is_none(), "the TOML's password_file replaces it");
        assert_eq!(k.password_file.as_deref(), Some(Path::new("pw")));
        assert_eq!(k.http_connect_timeout, 7.0);
        assert!(k.insecure);
        assert_eq!(
            c.heat.stack_domain_admin.as_deref(),
            Some("heat_domain_admin")
        );
    }

    #[test]
    fn heat_conf_values_that_do_not_fit_name_their_line() {
        let dir = scratch(
            "hcbad",
            &[
                (
                    "iface.conf",
                    "[keystone_authtoken]\n\ninterface = sideways\n",
                ),
                (
                    "retries.conf",
                    "[keystone_authtoken]\nhttp_request_max_retries = -1\n",
                ),
                (
                    "url.conf",
                    "[DEFAULT]\nheat_waitcondition_server_url = not a url\n",
                ),
            ],
        );
        for (f, want) in [
            ("iface.conf", ":3: [keystone_authtoken] interface: "),
            (
                "retries.conf",
                ":2: [keystone_authtoken] http_request_max_retries: ",
            ),
            ("url.conf", ":2: [heat] heat_waitcondition_server_url: "),
        ] {
            let file = dir.join(f);
            let e = Config::load_layers(Some(&file), None, Vec::new())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("{}{want}", file.display())), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    fn set_mode(path: &Path, mode: u32) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = (path, mode);
    }

    #[test]
    fn secret_files_open_to_group_or_others_are_refused() {
        assert!(too_open(0o100600).is_none());
        assert!(too_open(0o100400).is_none());
        for mode in [0o100640, 0o100604, 0o100620, 0o100601, 0o100610, 0o100644] {
            let reason = too_open(mode).unwrap();
            assert!(
                reason.contains(&format!("{:04o}", mode & 0o7777)),
                "{reason}"
            );
        }
        #[cfg(unix)]
        {
            let dir =
                std::env::temp_dir().join(format!("heatgate-config-mode-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("pw");
            std::fs::write(&file, "hunter2-secret\n").unwrap();
            set_mode(&file, 0o640);
            let e = read_secret_file(&file, "[heat] auth_encryption_key_file")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("[heat] auth_encryption_key_file: "), "{e}");
            assert!(e.contains("0640") && e.contains("chmod 600"), "{e}");
            assert!(!e.contains("hunter2") && !e.contains('\n'), "{e}");
            set_mode(&file, 0o600);
            let s = read_secret_file(&file, "[heat] auth_encryption_key_file").unwrap();
            assert_eq!(s.expose(), "hunter2-secret");
        }
    }
}
