//! Real Keystone instances for tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use heatgate_keystone::{ClientConfig, DomainRef, PasswordAuth, ScopeRequest, Secret, UserRef};
use serde::Deserialize;
use url::Url;

/// A fixture user (see the end of the keystone spec: what devstack creates for Heat).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// Id.
    pub user_id: String,
    /// Name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Its domain.
    #[serde(default = "default_domain")]
    pub domain_id: String,
    /// Its project, when it has a role on one.
    #[serde(default)]
    pub project_id: Option<String>,
    /// That project's name.
    #[serde(default)]
    pub project_name: Option<String>,
}

fn default_domain() -> String {
    "default".into()
}

impl User {
    /// Password credentials scoped as asked.
    pub fn auth(&self, scope: ScopeRequest) -> PasswordAuth {
        PasswordAuth {
            user: UserRef::Id(self.user_id.clone()),
            password: Secret::new(self.password.clone()),
            scope,
        }
    }

    /// Password credentials scoped to the user's project.
    pub fn project_auth(&self) -> PasswordAuth {
        let project = self
            .project_id
            .clone()
            .expect("this fixture user has a project");
        self.auth(ScopeRequest::ProjectId(project))
    }
}

/// The identities `scripts/keystone` creates (fixtures.json).
#[derive(Debug, Clone, Deserialize)]
pub struct Fixtures {
    /// The identity URL, with `/v3`.
    pub auth_url: Url,
    /// The bootstrap admin (role admin on project admin).
    pub admin: User,
    /// The stack user domain ("heat").
    pub heat_domain_id: String,
    /// The stack domain admin.
    pub heat_domain_admin: User,
    /// Project "service".
    pub service_project_id: String,
    /// The heat service user (admin and service on "service").
    pub heat: User,
    /// A normal user (member, reader on "demo").
    pub demo: User,
    /// Another normal user (member, reader on "alt_demo").
    pub alt_demo: User,
    /// A user with no role anywhere.
    pub demo_noroles: User,
    /// A user with role reader on the system.
    pub sysreader: User,
    /// A user with role admin on domain "default".
    pub domainadmin: User,
    /// Role name -> id.
    pub roles: std::collections::BTreeMap<String, String>,
}

/// A running Keystone.
#[derive(Debug)]
pub struct Keystone {
    /// The instance directory.
    pub dir: PathBuf,
    /// Its fixtures.
    pub fixtures: Fixtures,
    destroy_on_drop: bool,
}

fn script() -> PathBuf {
    crate::workspace_root().join("scripts").join("keystone")
}

fn run_script(args: &[&str]) -> Result<String, String> {
    let out = Command::new(script())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run scripts/keystone: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/keystone {} failed ({}):\n{}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn read_fixtures(dir: &Path) -> Result<Fixtures, String> {
    let path = dir.join("fixtures.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Keystone {
    /// The Keystone shared by the tests of this process: `HEATGATE_TEST_KEYSTONE`
    /// or an instance started (once) through the scripts.
    ///
    /// Panics with the reason when none can be had: tests fail, never skip.
    pub fn shared() -> &'static Keystone {
        static SHARED: OnceLock<Keystone> = OnceLock::new();
        SHARED.get_or_init(|| {
            let dir = match std::env::var_os("HEATGATE_TEST_KEYSTONE") {
                Some(dir) => PathBuf::from(dir),
                None => {
                    let out = run_script(&["start", "dev-shared"])
                        .unwrap_or_else(|e| panic!("no Keystone for the tests: {e}"));
                    PathBuf::from(out.lines().last().unwrap_or_default())
                }
            };
            let fixtures =
                read_fixtures(&dir).unwrap_or_else(|e| panic!("no Keystone fixtures: {e}"));
            Keystone {
                dir,
                fixtures,
                destroy_on_drop: false,
            }
        })
    }

    /// A Keystone of this test's own (to stop, restart, or configure), removed
    /// when dropped and stopped if the test process dies.
    ///
    /// `options` are passed to `scripts/keystone start` (e.g. `--provider jws`,
    /// `--set token.expiration=5`).
    pub fn private(name: &str, options: &[&str]) -> Keystone {
        let name = format!("{name}-{}", std::process::id());
        let pid = std::process::id().to_string();
        let mut args = vec!["start", name.as_str(), "--owner-pid", pid.as_str()];
        args.extend_from_slice(options);
        let out = run_script(&args).unwrap_or_else(|e| panic!("no private Keystone {name}: {e}"));
        let dir = PathBuf::from(out.lines().last().unwrap_or_default());
        let fixtures = read_fixtures(&dir).unwrap_or_else(|e| panic!("no Keystone fixtures: {e}"));
        Keystone {
            dir,
            fixtures,
            destroy_on_drop: true,
        }
    }

    /// The identity URL, with `/v3`.
    pub fn auth_url(&self) -> Url {
        self.fixtures.auth_url.clone()
    }

    /// Stops the instance (its data stays; [`Keystone::start`] brings it back on the same port).
    pub fn stop(&self) {
        run_script(&["stop", &self.dir.to_string_lossy()]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts the instance again.
    pub fn start(&self) {
        let pid = std::process::id().to_string();
        run_script(&["start", &self.dir.to_string_lossy(), "--owner-pid", &pid])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// How many requests whose log line contains `needle` Keystone has served.
    pub fn served(&self, needle: &str) -> usize {
        std::fs::read_to_string(self.dir.join("uwsgi.log"))
            .map(|log| log.lines().filter(|l| l.contains(needle)).count())
            .unwrap_or(0)
    }

    /// A client configuration acting as the heat service user.
    pub fn service_client_config(&self) -> ClientConfig {
        let heat = &self.fixtures.heat;
        let mut config = ClientConfig::new(self.auth_url());
        config.http_connect_timeout = Duration::from_secs(20);
        config.service_auth = Some(PasswordAuth {
            user: UserRef::Name {
                name: heat.username.clone(),
                domain: DomainRef::default_domain(),
            },
            password: Secret::new(heat.password.clone()),
            scope: ScopeRequest::ProjectName {
                name: "service".into(),
                domain: DomainRef::default_domain(),
            },
        });
        config
    }

    /// A token for `auth` (panics if Keystone refuses).
    pub async fn token(&self, auth: &PasswordAuth) -> Secret {
        let client =
            heatgate_keystone::Client::new(ClientConfig::new(self.auth_url())).expect("client");
        client
            .authenticate(auth)
            .await
            .unwrap_or_else(|e| panic!("cannot get a token: {e}"))
            .token
    }

    /// An admin token (project admin).
    pub async fn admin_token(&self) -> Secret {
        let admin = &self.fixtures.admin;
        self.token(&admin.auth(ScopeRequest::ProjectName {
            name: admin.project_name.clone().unwrap_or_else(|| "admin".into()),
            domain: DomainRef::default_domain(),
        }))
        .await
    }

    /// Revokes `token` (DELETE /v3/auth/tokens with an admin token).
    pub async fn revoke(&self, token: &Secret) {
        let admin = self.admin_token().await;
        let url = heatgate_keystone::config::v3_url(&self.auth_url(), "auth/tokens");
        let r = reqwest::Client::new()
            .delete(url)
            .header("X-Auth-Token", admin.expose())
            .header("X-Subject-Token", token.expose())
            .send()
            .await
            .expect("revoke");
        assert_eq!(r.status().as_u16(), 204, "revocation refused");
    }

    /// Sends an admin request to `{auth_url}/{path}` and returns the JSON answer.
    pub async fn admin_json(
        &self,
        method: http::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let admin = self.admin_token().await;
        let url = heatgate_keystone::config::v3_url(&self.auth_url(), path);
        let mut b = reqwest::Client::new()
            .request(method, url)
            .header("X-Auth-Token", admin.expose());
        if let Some(body) = body {
            b = b.json(&body);
        }
        let r = b.send().await.expect("keystone admin call");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }
}

impl Drop for Keystone {
    fn drop(&mut self) {
        if self.destroy_on_drop {
            let _ = run_script(&["destroy", &self.dir.to_string_lossy()]);
        }
    }
}
