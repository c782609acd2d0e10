//! The Keystone v3 administration calls Heat's engine needs: stack domain
//! projects and users, their EC2 keypairs, roles, and trusts.
//!
//! Every call but [`Client::user_call`], [`Client::create_trust`] and
//! [`Client::delete_trust_with`] is made with the client's service identity.
//! The engine uses two clients:
//!
//! - one whose `service_auth` is the stack domain admin, scoped to the stack
//!   user domain, for projects, users, role grants and EC2 keypairs;
//! - one whose `service_auth` is the heat service user (role `admin` on a
//!   project), for [`Client::delete_trust`] and [`Client::trust_token`].
//!
//! What Keystone 30's default policy (scope enforced) allows a domain-scoped
//! admin token:
//!
//! - projects, users, grants and role look-ups: yes, and in ANY domain
//!   (`admin_required` is `role:admin` whatever the target): confining the
//!   stack domain admin to its domain is the caller's job;
//! - EC2 credentials through `/v3/users/{u}/credentials/OS-EC2`: no (403, those
//!   policies are for system and project scope), hence
//!   [`Client::create_ec2_keypair`], [`Client::list_ec2_credentials`] and
//!   [`Client::delete_ec2_keypair`] use `/v3/credentials`, as Heat does;
//! - trusts: no (403, `identity:delete_trust` is for system and project scope).

use http::{HeaderValue, Method, StatusCode};

use super::ec2::{ec2_credential_id, Ec2Credential};
use super::{Answer, Authenticated, Client};
use crate::config::{v3_url, ScopeRequest};
use crate::{Error, Secret};

/// A project as Keystone returns it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Project {
    /// The id.
    pub id: String,
    /// The name (unique in its domain, at most 64 characters).
    pub name: String,
    /// The owning domain.
    pub domain_id: String,
}

/// A user as Keystone returns it (the password is never returned).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct UserRecord {
    /// The id.
    pub id: String,
    /// The name (unique in its domain).
    pub name: String,
    /// The owning domain.
    pub domain_id: String,
    /// The project a password authentication without scope is scoped to.
    #[serde(default)]
    pub default_project_id: Option<String>,
}

/// A user to create with [`Client::create_user`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The name (unique in its domain).
    pub name: String,
    /// The owning domain.
    pub domain_id: String,
    /// The password.
    pub password: Secret,
    /// The project a password authentication without scope is scoped to.
    pub default_project_id: Option<String>,
    /// A description (left out when empty).
    pub description: String,
}

/// A trust to create with [`Client::create_trust`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustRequest {
    /// The user delegating (must be the owner of the token the trust is created with).
    pub trustor_user_id: String,
    /// The user the roles are delegated to.
    pub trustee_user_id: String,
    /// The project the delegated roles are on.
    pub project_id: String,
    /// Whether trust-scoped tokens show the trustor as their user.
    pub impersonation: bool,
    /// The delegated roles, by name. Keystone refuses an empty list (403 "At least
    /// one role should be specified") and a role the trustor lacks on the project
    /// (404 "Could not find role"): to delegate all the trustor's roles, list them.
    pub role_names: Vec<String>,
    /// When the trust expires (ISO 8601), `None` for never. Keystone keeps it to
    /// the second, and answers 409 to a trust with the same trustor, trustee,
    /// project, impersonation and (set) expiry as any trust made before, deleted
    /// ones included; a trust that never expires collides with none.
    pub expires_at: Option<String>,
}

/// A trust as Keystone returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// The id: whoever holds it and the trustee's credentials acts as the trustor.
    pub id: Secret,
    /// The user delegating.
    pub trustor_user_id: String,
    /// The user the roles are delegated to.
    pub trustee_user_id: String,
    /// The project the delegated roles are on.
    pub project_id: Option<String>,
    /// Whether trust-scoped tokens show the trustor as their user.
    pub impersonation: bool,
    /// The delegated roles, by name.
    pub roles: Vec<String>,
    /// When the trust expires, as Keystone wrote it; `None` for never.
    pub expires_at: Option<String>,
}

#[derive(serde::Deserialize)]
struct ProjectEnvelope {
    project: Project,
}

#[derive(serde::Deserialize)]
struct ProjectsEnvelope {
    projects: Vec<Project>,
}

#[derive(serde::Deserialize)]
struct UserEnvelope {
    user: UserRecord,
}

#[derive(serde::Deserialize)]
struct UsersEnvelope {
    users: Vec<UserRecord>,
}

#[derive(serde::Deserialize)]
struct RolesEnvelope {
    roles: Vec<RawRole>,
}

#[derive(serde::Deserialize)]
struct RawRole {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(serde::Deserialize)]
struct TrustEnvelope {
    trust: RawTrust,
}

#[derive(serde::Deserialize)]
struct RawTrust {
    id: Secret,
    trustor_user_id: String,
    trustee_user_id: String,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    impersonation: bool,
    #[serde(default)]
    roles: Vec<RawRole>,
    #[serde(default)]
    expires_at: Option<String>,
}

#[derive(serde::Deserialize)]
struct CredentialsEnvelope {
    credentials: Vec<RawCredential>,
}

#[derive(serde::Deserialize)]
struct RawCredential {
    #[serde(rename = "type")]
    kind: String,
    user_id: String,
    #[serde(default)]
    project_id: Option<String>,
    blob: serde_json::Value,
}

#[derive(serde::Deserialize)]
struct Blob {
    access: String,
    secret: Secret,
    #[serde(default)]
    trust_id: Option<Secret>,
}

impl RawCredential {
    /// The EC2 keypair in the blob (a JSON string, or an object from old Keystones).
    fn into_ec2(self) -> Option<Ec2Credential> {
        if !self.kind.eq_ignore_ascii_case("ec2") {
            return None;
        }
        let blob: Blob = match self.blob {
            serde_json::Value::String(s) => serde_json::from_str(&s).ok()?,
            other => serde_json::from_value(other).ok()?,
        };
        Some(Ec2Credential {
            access: blob.access,
            secret: blob.secret,
            user_id: self.user_id,
            project_id: self.project_id.unwrap_or_default(),
            trust_id: blob.trust_id,
        })
    }
}

/// `id` as one path segment: every byte but the unreserved ones percent-encoded;
/// `None` for what no Keystone id can be ("", ".", ".."), which a URL would
/// otherwise read as a move between path segments.
fn segment(id: &str) -> Option<String> {
    if id.is_empty() || id == "." || id == ".." {
        return None;
    }
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(out)
}

/// A query string from name/value pairs.
fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Keystone's message, unless it quotes `secret` (some 404s name the id asked for).
fn message_without(answer: &Answer, secret: &Secret) -> Option<String> {
    answer
        .error_message()
        .filter(|m| secret.is_empty() || !m.contains(secret.expose()))
}

/// The error for an answer the call does not expect: 5xx is Keystone's fault,
/// anything else is [`Error::Rejected`] with Keystone's message.
fn refused(answer: &Answer, what: &'static str, message: Option<String>) -> Error {
    let status = answer.status.as_u16();
    if status >= 500 {
        Error::ServerError { status, what }
    } else {
        Error::Rejected {
            status,
            what,
            message,
        }
    }
}

fn unexpected(answer: &Answer, what: &'static str) -> Error {
    refused(answer, what, answer.error_message())
}

impl Client {
    /// Creates a project (`POST /v3/projects`).
    ///
    /// Keystone refuses a name longer than 64 characters (400) and a name already
    /// used in the domain (409).
    pub async fn create_project(
        &self,
        name: &str,
        domain_id: &str,
        description: &str,
    ) -> Result<Project, Error> {
        const WHAT: &str = "project creation";
        let body = serde_json::json!({
            "project": {"name": name, "domain_id": domain_id, "description": description}
        });
        let answer = self
            .service_call(Method::POST, "projects", "", Some(&body), WHAT, |b| b)
            .await?;
        match answer.status.as_u16() {
            200 | 201 => Ok(answer.json::<ProjectEnvelope>(WHAT)?.project),
            _ => Err(unexpected(&answer, WHAT)),
        }
    }

    /// Deletes a project (`DELETE /v3/projects/{id}`); `Ok(false)` when it did not
    /// exist. Keystone also deletes its role assignments.
    pub async fn delete_project(&self, id: &str) -> Result<bool, Error> {
        self.delete_service("project deletion", "projects", id)
            .await
    }

    /// The projects of a domain (`GET /v3/projects?domain_id=`).
    pub async fn list_projects(&self, domain_id: &str) -> Result<Vec<Project>, Error> {
        const WHAT: &str = "project list";
        let answer = self
            .service_call(
                Method::GET,
                "projects",
                &query(&[("domain_id", domain_id)]),
                None,
                WHAT,
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 => Ok(answer.json::<ProjectsEnvelope>(WHAT)?.projects),
            _ => Err(unexpected(&answer, WHAT)),
        }
    }

    /// Creates a user (`POST /v3/users`), enabled.
    pub async fn create_user(&self, user: NewUser) -> Result<UserRecord, Error> {
        const WHAT: &str = "user creation";
        let mut record = serde_json::json!({
            "name": user.name,
            "domain_id": user.domain_id,
            "password": user.password.expose(),
            "enabled": true,
        });
        if let Some(project) = &user.default_project_id {
            record["default_project_id"] = project.as_str().into();
        }
        if !user.description.is_empty() {
            record["description"] = user.description.as_str().into();
        }
        let body = serde_json::json!({ "user": record });
        let answer = self
            .service_call(Method::POST, "users", "", Some(&body), WHAT, |b| b)
            .await?;
        match answer.status.as_u16() {
            200 | 201 => Ok(answer.json::<UserEnvelope>(WHAT)?.user),
            _ => Err(refused(
                &answer,
                WHAT,
                message_without(&answer, &user.password),
            )),
        }
    }

    /// Deletes a user (`DELETE /v3/users/{id}`); `Ok(false)` when it did not exist.
    /// Keystone also deletes the user's credentials and role assignments.
    pub async fn delete_user(&self, id: &str) -> Result<bool, Error> {
        self.delete_service("user deletion", "users", id).await
    }

    /// The users of a domain (`GET /v3/users?domain_id=`).
    pub async fn list_users(&self, domain_id: &str) -> Result<Vec<UserRecord>, Error> {
        const WHAT: &str = "user list";
        let answer = self
            .service_call(
                Method::GET,
                "users",
                &query(&[("domain_id", domain_id)]),
                None,
                WHAT,
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 => Ok(answer.json::<UsersEnvelope>(WHAT)?.users),
            _ => Err(unexpected(&answer, WHAT)),
        }
    }

    /// The id of the global role `name` (`GET /v3/roles?name=`); `Ok(None)` when
    /// there is none.
    pub async fn role_id(&self, name: &str) -> Result<Option<String>, Error> {
        const WHAT: &str = "role look-up";
        let answer = self
            .service_call(
                Method::GET,
                "roles",
                &query(&[("name", name)]),
                None,
                WHAT,
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 => Ok(answer
                .json::<RolesEnvelope>(WHAT)?
                .roles
                .into_iter()
                .find(|r| r.name.as_deref() == Some(name))
                .map(|r| r.id)),
            _ => Err(unexpected(&answer, WHAT)),
        }
    }

    /// Grants `role_id` on `project_id` to `user_id`
    /// (`PUT /v3/projects/{p}/users/{u}/roles/{r}`, 204). Granting it twice is fine.
    pub async fn grant_project_role(
        &self,
        project_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), Error> {
        const WHAT: &str = "role grant";
        let (Some(p), Some(u), Some(r)) = (segment(project_id), segment(user_id), segment(role_id))
        else {
            return Err(Error::Rejected {
                status: 404,
                what: WHAT,
                message: Some("no such project, user or role".into()),
            });
        };
        let answer = self
            .service_call(
                Method::PUT,
                &format!("projects/{p}/users/{u}/roles/{r}"),
                "",
                None,
                WHAT,
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 | 201 | 204 => Ok(()),
            _ => Err(unexpected(&answer, WHAT)),
        }
    }

    /// Stores the EC2 keypair `access`/`secret` of `user_id` on `project_id`
    /// (`POST /v3/credentials`, type `ec2`), as Heat does for stack domain users:
    /// unlike `/v3/users/{u}/credentials/OS-EC2` ([`Client::create_ec2_credential`])
    /// this is allowed to a domain-scoped admin. Keystone gives the credential the
    /// id `sha256(access)` ([`ec2_credential_id`]), so `/v3/ec2tokens` finds it.
    ///
    /// The caller generates both halves (Heat: a uuid4 hex access key and a random
    /// secret); Keystone answers 409 when the access key is taken.
    pub async fn create_ec2_keypair(
        &self,
        user_id: &str,
        project_id: &str,
        access: &str,
        secret: &Secret,
    ) -> Result<Ec2Credential, Error> {
        const WHAT: &str = "ec2 keypair creation";
        let blob = serde_json::json!({"access": access, "secret": secret.expose()}).to_string();
        let body = serde_json::json!({
            "credential": {"type": "ec2", "user_id": user_id, "project_id": project_id, "blob": blob}
        });
        let answer = self
            .service_call(Method::POST, "credentials", "", Some(&body), WHAT, |b| b)
            .await?;
        match answer.status.as_u16() {
            200 | 201 => {
                #[derive(serde::Deserialize)]
                struct Envelope {
                    credential: RawCredential,
                }
                answer
                    .json::<Envelope>(WHAT)?
                    .credential
                    .into_ec2()
                    .ok_or_else(|| Error::InvalidResponse {
                        what: WHAT,
                        reason: "the credential is not an EC2 keypair".into(),
                    })
            }
            _ => Err(refused(&answer, WHAT, message_without(&answer, secret))),
        }
    }

    /// Deletes the EC2 keypair `access` (`DELETE /v3/credentials/{sha256(access)}`);
    /// `Ok(false)` when there was none.
    pub async fn delete_ec2_keypair(&self, access: &str) -> Result<bool, Error> {
        self.delete_service(
            "ec2 keypair deletion",
            "credentials",
            &ec2_credential_id(access),
        )
        .await
    }

    /// The EC2 credentials of `user_id` (`GET /v3/credentials?user_id=&type=ec2`,
    /// which a domain-scoped admin may read, unlike
    /// `/v3/users/{u}/credentials/OS-EC2`), secrets included.
    pub async fn list_ec2_credentials(&self, user_id: &str) -> Result<Vec<Ec2Credential>, Error> {
        const WHAT: &str = "ec2 credential list";
        let answer = self
            .service_call(
                Method::GET,
                "credentials",
                &query(&[("user_id", user_id), ("type", "ec2")]),
                None,
                WHAT,
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 => Ok(answer
                .json::<CredentialsEnvelope>(WHAT)?
                .credentials
                .into_iter()
                .filter(|c| c.user_id == user_id)
                .filter_map(RawCredential::into_ec2)
                .collect()),
            _ => Err(unexpected(&answer, WHAT)),
        }
    }

    /// Sends `method` to `{identity}/v3/{path}` with a caller's token: no
    /// re-authentication (a 401 is returned like any answer), the same bounds
    /// and retries as every call. The identity endpoint is `auth_url`, or the
    /// catalog's when `interface` is set (which needs the service identity).
    pub async fn user_call(
        &self,
        token: &Secret,
        method: Method,
        path: &str,
        query: &str,
        json: Option<&serde_json::Value>,
        what: &'static str,
    ) -> Result<Answer, Error> {
        let Ok(mut header) = HeaderValue::from_str(token.expose()) else {
            return Err(Error::Rejected {
                status: 401,
                what,
                message: Some("the token is not a valid header value".into()),
            });
        };
        header.set_sensitive(true);
        let base = match self.inner.config.interface {
            None => self.inner.config.auth_url.clone(),
            Some(_) => self.identity_url().await?,
        };
        let mut url = v3_url(&base, path);
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        self.call(what, || {
            let b = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header("X-Auth-Token", header.clone());
            match json {
                Some(body) => b.json(body),
                None => b,
            }
        })
        .await
    }

    /// Creates a trust with the TRUSTOR's token (`POST /v3/OS-TRUST/trusts`), as
    /// Heat does: Keystone wants the token's user to be the trustor (403
    /// otherwise, even for an admin), and refuses a trust-scoped token.
    pub async fn create_trust(
        &self,
        trustor_token: &Secret,
        req: &TrustRequest,
    ) -> Result<Trust, Error> {
        const WHAT: &str = "trust creation";
        let roles: Vec<_> = req
            .role_names
            .iter()
            .map(|name| serde_json::json!({ "name": name }))
            .collect();
        let body = serde_json::json!({
            "trust": {
                "trustor_user_id": req.trustor_user_id,
                "trustee_user_id": req.trustee_user_id,
                "project_id": req.project_id,
                "impersonation": req.impersonation,
                "roles": roles,
                "expires_at": req.expires_at,
            }
        });
        let answer = self
            .user_call(
                trustor_token,
                Method::POST,
                "OS-TRUST/trusts",
                "",
                Some(&body),
                WHAT,
            )
            .await?;
        match answer.status.as_u16() {
            200 | 201 => {
                let raw = answer.json::<TrustEnvelope>(WHAT)?.trust;
                Ok(Trust {
                    id: raw.id,
                    trustor_user_id: raw.trustor_user_id,
                    trustee_user_id: raw.trustee_user_id,
                    project_id: raw.project_id,
                    impersonation: raw.impersonation,
                    roles: raw.roles.into_iter().filter_map(|r| r.name).collect(),
                    expires_at: raw.expires_at,
                })
            }
            _ => Err(refused(
                &answer,
                WHAT,
                message_without(&answer, trustor_token),
            )),
        }
    }

    /// Deletes a trust with the service token (`DELETE /v3/OS-TRUST/trusts/{id}`);
    /// `Ok(false)` when it did not exist.
    ///
    /// Keystone 30 lets an `admin` role on a PROJECT-scoped token (the heat
    /// service user's) or the trustor delete a trust; a domain-scoped token (the
    /// stack domain admin's) gets 403.
    pub async fn delete_trust(&self, id: &Secret) -> Result<bool, Error> {
        const WHAT: &str = "trust deletion";
        let Some(id_segment) = segment(id.expose()) else {
            return Ok(false);
        };
        let answer = self
            .service_call(
                Method::DELETE,
                &format!("OS-TRUST/trusts/{id_segment}"),
                "",
                None,
                WHAT,
                |b| b,
            )
            .await?;
        trust_deleted(&answer, id)
    }

    /// Deletes a trust with a caller's token (the trustor's, or an admin's
    /// project-scoped one); `Ok(false)` when it did not exist.
    pub async fn delete_trust_with(&self, token: &Secret, id: &Secret) -> Result<bool, Error> {
        const WHAT: &str = "trust deletion";
        let Some(id_segment) = segment(id.expose()) else {
            return Ok(false);
        };
        let answer = self
            .user_call(
                token,
                Method::DELETE,
                &format!("OS-TRUST/trusts/{id_segment}"),
                "",
                None,
                WHAT,
            )
            .await?;
        trust_deleted(&answer, id)
    }

    /// A token scoped to trust `trust_id` for the client's service user (the
    /// trustee: the heat service user), with the trustor as its user when the
    /// trust impersonates. A deleted, expired or foreign trust is
    /// [`Error::Rejected`] (its message never quotes the trust id).
    pub async fn trust_token(&self, trust_id: &Secret) -> Result<Authenticated, Error> {
        let mut auth = self
            .inner
            .config
            .service_auth
            .clone()
            .ok_or_else(|| Error::Config("no service credentials are configured".into()))?;
        auth.scope = ScopeRequest::Trust(trust_id.clone());
        match self.authenticate(&auth).await {
            Err(Error::Rejected {
                status,
                what,
                message,
            }) => Err(Error::Rejected {
                status,
                what,
                message: message.filter(|m| !m.contains(trust_id.expose())),
            }),
            other => other,
        }
    }

    /// `DELETE /v3/{collection}/{id}` with the service token: 204 -> true, 404 -> false.
    async fn delete_service(
        &self,
        what: &'static str,
        collection: &str,
        id: &str,
    ) -> Result<bool, Error> {
        let Some(id) = segment(id) else {
            return Ok(false);
        };
        let answer = self
            .service_call(
                Method::DELETE,
                &format!("{collection}/{id}"),
                "",
                None,
                what,
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 | 204 => Ok(true),
            404 => Ok(false),
            _ => Err(unexpected(&answer, what)),
        }
    }
}

fn trust_deleted(answer: &Answer, id: &Secret) -> Result<bool, Error> {
    const WHAT: &str = "trust deletion";
    match answer.status {
        StatusCode::OK | StatusCode::NO_CONTENT => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        _ => Err(refused(answer, WHAT, message_without(answer, id))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_single_path_segments() {
        assert_eq!(segment("abc123").as_deref(), Some("abc123"));
        assert_eq!(segment("../users/x").as_deref(), Some("..%2Fusers%2Fx"));
        assert_eq!(segment("a b?c#d").as_deref(), Some("a%20b%3Fc%23d"));
        assert_eq!(segment(".."), None);
        assert_eq!(segment("."), None);
        assert_eq!(segment(""), None);
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            query(&[("name", "a&b=c"), ("type", "ec2")]),
            "name=a%26b%3Dc&type=ec2"
        );
    }

    #[test]
    fn ec2_blobs_as_strings_or_objects() {
        let raw: RawCredential = serde_json::from_value(serde_json::json!({
            "type": "ec2", "user_id": "u", "project_id": "p",
            "blob": "{\"access\": \"a\", \"secret\": \"s\"}"
        }))
        .unwrap();
        let c = raw.into_ec2().unwrap();
        assert_eq!((c.access.as_str(), c.secret.expose()), ("a", "s"));
        assert_eq!((c.user_id.as_str(), c.project_id.as_str()), ("u", "p"));
        let raw: RawCredential = serde_json::from_value(serde_json::json!({
            "type": "ec2", "user_id": "u",
            "blob": {"access": "a", "secret": "s", "trust_id": "t"}
        }))
        .unwrap();
        assert_eq!(raw.into_ec2().unwrap().trust_id, Some(Secret::new("t")));
        let raw: RawCredential = serde_json::from_value(serde_json::json!({
            "type": "totp", "user_id": "u", "blob": "x"
        }))
        .unwrap();
        assert!(raw.into_ec2().is_none());
    }

    #[test]
    fn a_trust_id_stays_hidden() {
        let trust = Trust {
            id: Secret::new("0123456789abcdef"),
            trustor_user_id: "a".into(),
            trustee_user_id: "b".into(),
            project_id: None,
            impersonation: true,
            roles: vec![],
            expires_at: None,
        };
        assert!(!format!("{trust:?}").contains("0123456789abcdef"));
    }
}
