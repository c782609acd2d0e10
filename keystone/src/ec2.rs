//! EC2 tokens and EC2 credentials.
//!
//! - [`Client::ec2_tokens`]: `POST /v3/ec2tokens` with the service token (Keystone's
//!   policy `identity:ec2tokens_validate` wants an admin or service role);
//! - [`Client::ec2_credential`]: the credential behind an access key (secret,
//!   user, project, trust), read with the service identity through
//!   `GET /v3/credentials/{sha256(access)}` (the id Keystone gives EC2 credentials);
//! - [`Client::create_ec2_credential`] / [`Client::delete_ec2_credential`]
//!   (`/v3/users/{user}/credentials/OS-EC2`), for tests and the engine.
//!
//! Keystone answers 401 to `/v3/ec2tokens` both for a bad signature and for an
//! invalid service token. On a 401 the client checks its service token (at most
//! once a minute per token): still valid means the signature was refused;
//! invalid means the service token is renewed and the call sent once more.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use sha2::{Digest, Sha256};

use super::{Authenticated, Client, Validation};
use crate::config::v3_url;
use crate::token::TokenEnvelope;
use crate::{Error, Secret};

/// How long a service token confirmed after an ambiguous 401 is trusted.
const CONFIRMED_FOR: Duration = Duration::from_secs(60);

/// An EC2 credential as Keystone stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Credential {
    /// The access key (public).
    pub access: String,
    /// The secret key.
    pub secret: Secret,
    /// The owner.
    pub user_id: String,
    /// The project tokens from it are scoped to.
    pub project_id: String,
    /// The trust it was created under, if any.
    pub trust_id: Option<Secret>,
}

/// Keystone's answer to `POST /v3/ec2tokens`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Ec2Outcome {
    /// The signature is valid: a token scoped to the credential's project.
    Accepted(Box<Authenticated>),
    /// 404 "EC2 access key not found."
    UnknownAccessKey,
    /// 401/403 (bad signature, expired, disabled user or project, no role), 400,
    /// or 413 (the credentials document is larger than Keystone accepts).
    Rejected {
        /// Keystone's status.
        status: u16,
        /// Keystone's message (the real reason only with `insecure_debug`).
        message: Option<String>,
    },
}

/// The id Keystone gives the EC2 credential of `access`: hex sha256.
///
/// ```
/// assert_eq!(heatgate_keystone::ec2_credential_id("a").len(), 64);
/// ```
pub fn ec2_credential_id(access: &str) -> String {
    hex::encode(Sha256::digest(access.as_bytes()))
}

/// Service tokens recently confirmed valid (by fingerprint), shared by clients.
static CONFIRMED: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());

fn recently_confirmed(fingerprint: &str) -> bool {
    let mut guard = CONFIRMED.lock().unwrap_or_else(|p| p.into_inner());
    guard.retain(|(_, at)| at.elapsed() < CONFIRMED_FOR);
    guard.iter().any(|(f, _)| f == fingerprint)
}

fn confirm(fingerprint: String) {
    let mut guard = CONFIRMED.lock().unwrap_or_else(|p| p.into_inner());
    guard.retain(|(f, at)| at.elapsed() < CONFIRMED_FOR && *f != fingerprint);
    if guard.len() < 64 {
        guard.push((fingerprint, Instant::now()));
    }
}

#[derive(serde::Deserialize)]
struct CredentialEnvelope {
    credential: RawCredential,
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
    secret: String,
    #[serde(default)]
    trust_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct OsEc2Envelope {
    credential: OsEc2,
}

#[derive(serde::Deserialize)]
struct OsEc2 {
    user_id: String,
    tenant_id: String,
    access: String,
    secret: String,
    #[serde(default)]
    trust_id: Option<String>,
}

impl From<OsEc2> for Ec2Credential {
    fn from(c: OsEc2) -> Self {
        Ec2Credential {
            access: c.access,
            secret: Secret::new(c.secret),
            user_id: c.user_id,
            project_id: c.tenant_id,
            trust_id: c.trust_id.map(Secret::new),
        }
    }
}

fn server_error(status: StatusCode, what: &'static str) -> Option<Error> {
    (status.as_u16() >= 500).then_some(Error::ServerError {
        status: status.as_u16(),
        what,
    })
}

impl Client {
    /// `POST /v3/ec2tokens` with `{"credentials": credentials}` and the service token.
    ///
    /// `Err` only when Keystone cannot answer (see [`Error::is_unavailable`]).
    pub async fn ec2_tokens<C: serde::Serialize + ?Sized>(
        &self,
        credentials: &C,
    ) -> Result<Ec2Outcome, Error> {
        const WHAT: &str = "ec2 token";
        // Serialised as given: a `serde_json::Value` would sort the keys, and
        // Keystone's SigV1 depends on the order of the parameters.
        #[derive(serde::Serialize)]
        struct Body<'a, C: ?Sized> {
            credentials: &'a C,
        }
        let body = Body { credentials };
        for retried in [false, true] {
            let service = self.service_token().await?;
            let url = v3_url(&service.identity_url, "ec2tokens");
            let answer = self
                .call(WHAT, || {
                    self.inner
                        .http
                        .post(url.clone())
                        .header("X-Auth-Token", service.token.expose())
                        .json(&body)
                })
                .await?;
            match answer.status.as_u16() {
                200 | 201 => {
                    let token = answer
                        .headers
                        .get("x-subject-token")
                        .and_then(|v| v.to_str().ok())
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| Error::InvalidResponse {
                            what: WHAT,
                            reason: "no X-Subject-Token header".into(),
                        })?;
                    let envelope: TokenEnvelope = answer.json(WHAT)?;
                    return Ok(Ec2Outcome::Accepted(Box::new(Authenticated {
                        token: Secret::new(token),
                        body: envelope.token,
                    })));
                }
                404 => return Ok(Ec2Outcome::UnknownAccessKey),
                401 if !retried => {
                    // The signature, or our service token?
                    let fingerprint = service.token.fingerprint();
                    if recently_confirmed(&fingerprint) {
                        return Ok(rejected(&answer));
                    }
                    match self
                        .validate(service.token.expose(), Default::default())
                        .await?
                    {
                        Validation::Valid(_) => {
                            confirm(fingerprint);
                            return Ok(rejected(&answer));
                        }
                        Validation::Invalid => {
                            tracing::info!(
                                "keystone refused the service token; re-authenticating once"
                            );
                            self.forget_service_token(&service);
                            continue;
                        }
                    }
                }
                400 | 401 | 403 | 413 => return Ok(rejected(&answer)),
                _ => {
                    return Err(server_error(answer.status, WHAT).unwrap_or(
                        Error::InvalidResponse {
                            what: WHAT,
                            reason: format!("unexpected status {}", answer.status),
                        },
                    ))
                }
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// The EC2 credential of `access`, read with the service identity
    /// (`GET /v3/credentials/{sha256(access)}`); `Ok(None)` when Keystone has none.
    pub async fn ec2_credential(&self, access: &str) -> Result<Option<Ec2Credential>, Error> {
        const WHAT: &str = "ec2 credential";
        let id = ec2_credential_id(access);
        let answer = self
            .service_call(
                Method::GET,
                &format!("credentials/{id}"),
                "",
                None,
                WHAT,
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 => {
                let envelope: CredentialEnvelope = answer.json(WHAT)?;
                let raw = envelope.credential;
                if raw.kind != "ec2" {
                    return Ok(None);
                }
                let blob: Blob = match raw.blob {
                    serde_json::Value::String(s) => serde_json::from_str(&s),
                    other => serde_json::from_value(other),
                }
                .map_err(|e| Error::InvalidResponse {
                    what: WHAT,
                    reason: format!("credential blob: {e}"),
                })?;
                if blob.access != access {
                    return Ok(None);
                }
                Ok(Some(Ec2Credential {
                    access: blob.access,
                    secret: Secret::new(blob.secret),
                    user_id: raw.user_id,
                    project_id: raw.project_id.unwrap_or_default(),
                    trust_id: blob.trust_id.map(Secret::new),
                }))
            }
            404 => Ok(None),
            s => Err(
                server_error(answer.status, WHAT).unwrap_or(Error::Rejected {
                    status: s,
                    what: WHAT,
                    message: answer.error_message(),
                }),
            ),
        }
    }

    /// Creates an EC2 credential for `user_id` on `project_id` with the service
    /// identity (`POST /v3/users/{user}/credentials/OS-EC2`).
    pub async fn create_ec2_credential(
        &self,
        user_id: &str,
        project_id: &str,
    ) -> Result<Ec2Credential, Error> {
        const WHAT: &str = "ec2 credential creation";
        let body = serde_json::json!({ "tenant_id": project_id });
        let answer = self
            .service_call(
                Method::POST,
                &format!("users/{user_id}/credentials/OS-EC2"),
                "",
                Some(&body),
                WHAT,
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 | 201 => Ok(answer.json::<OsEc2Envelope>(WHAT)?.credential.into()),
            s => Err(
                server_error(answer.status, WHAT).unwrap_or(Error::Rejected {
                    status: s,
                    what: WHAT,
                    message: answer.error_message(),
                }),
            ),
        }
    }

    /// Deletes the EC2 credential `access` of `user_id`; `Ok(false)` when it did
    /// not exist.
    pub async fn delete_ec2_credential(&self, user_id: &str, access: &str) -> Result<bool, Error> {
        const WHAT: &str = "ec2 credential deletion";
        let answer = self
            .service_call(
                Method::DELETE,
                &format!("users/{user_id}/credentials/OS-EC2/{access}"),
                "",
                None,
                WHAT,
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 | 204 => Ok(true),
            404 => Ok(false),
            s => Err(
                server_error(answer.status, WHAT).unwrap_or(Error::Rejected {
                    status: s,
                    what: WHAT,
                    message: answer.error_message(),
                }),
            ),
        }
    }
}

fn rejected(answer: &super::Answer) -> Ec2Outcome {
    Ec2Outcome::Rejected {
        status: answer.status.as_u16(),
        message: answer.error_message(),
    }
}
