//! What the assertion says: the request it is bound to and the identity,
//! field for field, so the engine rebuilds the same `Identity`.

use std::sync::Arc;

use heatgate_keystone::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::context::{AuthMethod, Identity, IdentityData, Scope, TrustInfo};

/// The JWS payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Claims {
    pub(super) iss: String,
    pub(super) aud: String,
    pub(super) iat: i64,
    pub(super) exp: i64,
    /// The request method.
    pub(super) htm: String,
    /// The request's path and query, as sent to the engine.
    pub(super) htu: String,
    /// The verified caller; absent for a request the gateway let through
    /// without one (delay_auth_decision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) idn: Option<IdentityClaims>,
}

/// The identity, without the token itself (the request carries it in
/// `X-Auth-Token`; the claims carry its sha256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct IdentityClaims {
    pub(super) method: MethodClaim,
    pub(super) token_sha256: String,
    pub(super) user_id: String,
    pub(super) user_name: Option<String>,
    pub(super) user_domain_id: Option<String>,
    pub(super) user_domain_name: Option<String>,
    pub(super) scope: ScopeClaim,
    pub(super) roles: Vec<String>,
    pub(super) is_admin_project: bool,
    pub(super) trust: Option<TrustClaim>,
    pub(super) expires_at: i64,
    pub(super) audit_ids: Vec<String>,
    pub(super) methods: Vec<String>,
    pub(super) application_credential_id: Option<String>,
    /// The EC2 access key of a signed request (Heat's access rules need it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ec2_access: Option<String>,
    /// sha256 of `X-Auth-Key` (standalone mode forwards the password for
    /// deferred auth); absent when none was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) auth_key_sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum MethodClaim {
    Token,
    Password,
    Ec2,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub(super) enum ScopeClaim {
    Project {
        id: String,
        name: Option<String>,
        domain_id: Option<String>,
        domain_name: Option<String>,
    },
    Domain {
        id: String,
        name: Option<String>,
    },
    System,
    Unscoped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct TrustClaim {
    pub(super) id: String,
    pub(super) trustor_user_id: Option<String>,
    pub(super) trustee_user_id: Option<String>,
    pub(super) impersonation: bool,
}

/// Hex sha256, to bind a secret without carrying it.
pub(super) fn sha256_hex(value: &[u8]) -> String {
    hex::encode(Sha256::digest(value))
}

impl IdentityClaims {
    pub(super) fn from_identity(
        identity: &Identity,
        ec2_access: Option<String>,
        auth_key: Option<&[u8]>,
    ) -> Self {
        let data: &IdentityData = identity;
        Self {
            method: match identity.method {
                AuthMethod::Password => MethodClaim::Password,
                AuthMethod::Ec2Signature => MethodClaim::Ec2,
                _ => MethodClaim::Token,
            },
            token_sha256: sha256_hex(identity.auth_token.expose().as_bytes()),
            user_id: data.user_id.clone(),
            user_name: data.user_name.clone(),
            user_domain_id: data.user_domain_id.clone(),
            user_domain_name: data.user_domain_name.clone(),
            scope: match &data.scope {
                Scope::Project {
                    id,
                    name,
                    domain_id,
                    domain_name,
                } => ScopeClaim::Project {
                    id: id.clone(),
                    name: name.clone(),
                    domain_id: domain_id.clone(),
                    domain_name: domain_name.clone(),
                },
                Scope::Domain { id, name } => ScopeClaim::Domain {
                    id: id.clone(),
                    name: name.clone(),
                },
                Scope::System => ScopeClaim::System,
                _ => ScopeClaim::Unscoped,
            },
            roles: data.roles.clone(),
            is_admin_project: data.is_admin_project,
            trust: data.trust.as_ref().map(|t| TrustClaim {
                id: t.id.expose().to_owned(),
                trustor_user_id: t.trustor_user_id.clone(),
                trustee_user_id: t.trustee_user_id.clone(),
                impersonation: t.impersonation,
            }),
            expires_at: data.expires_at.unix_timestamp(),
            audit_ids: data.audit_ids.clone(),
            methods: data.methods.clone(),
            application_credential_id: data.application_credential_id.clone(),
            ec2_access,
            auth_key_sha256: auth_key.map(sha256_hex),
        }
    }

    /// The identity again, with the token the request carried.
    pub(super) fn into_identity(self, token: Secret) -> Option<Identity> {
        let expires_at = OffsetDateTime::from_unix_timestamp(self.expires_at).ok()?;
        let data = IdentityData {
            user_id: self.user_id,
            user_name: self.user_name,
            user_domain_id: self.user_domain_id,
            user_domain_name: self.user_domain_name,
            scope: match self.scope {
                ScopeClaim::Project {
                    id,
                    name,
                    domain_id,
                    domain_name,
                } => Scope::Project {
                    id,
                    name,
                    domain_id,
                    domain_name,
                },
                ScopeClaim::Domain { id, name } => Scope::Domain { id, name },
                ScopeClaim::System => Scope::System,
                ScopeClaim::Unscoped => Scope::Unscoped,
            },
            roles: self.roles,
            is_admin_project: self.is_admin_project,
            trust: self.trust.map(|t| TrustInfo {
                id: Secret::new(t.id),
                trustor_user_id: t.trustor_user_id,
                trustee_user_id: t.trustee_user_id,
                impersonation: t.impersonation,
            }),
            expires_at,
            audit_ids: self.audit_ids,
            methods: self.methods,
            application_credential_id: self.application_credential_id,
        };
        let method = match self.method {
            MethodClaim::Token => AuthMethod::Token,
            MethodClaim::Password => AuthMethod::Password,
            MethodClaim::Ec2 => AuthMethod::Ec2Signature,
        };
        let identity = Identity::new(Arc::new(data), token, method);
        Some(match self.ec2_access {
            Some(access) => identity.with_ec2_access(access),
            None => identity,
        })
    }
}
