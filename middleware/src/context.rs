//! The typed identity that the authentication layers put into request extensions,
//! and its axum extractor.
//!
//! ```
//! use axum::{routing::get, Router};
//! use heatgate_middleware::context::Identity;
//!
//! async fn whoami(identity: Identity) -> String {
//!     format!("{} in {:?}", identity.user_id, identity.project_id())
//! }
//! let app: Router = Router::new().route("/whoami", get(whoami));
//! ```

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use heatgate_keystone::{Secret, TokenBody};
use http::request::Parts;
use time::OffsetDateTime;

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// A project.
    Project {
        /// Project id.
        id: String,
        /// Project name.
        name: Option<String>,
        /// The project's domain id.
        domain_id: Option<String>,
        /// The project's domain name.
        domain_name: Option<String>,
    },
    /// A domain.
    Domain {
        /// Domain id.
        id: String,
        /// Domain name.
        name: Option<String>,
    },
    /// The whole deployment (`system: {"all": true}`).
    System,
    /// No scope.
    Unscoped,
}

/// A trust, for trust-scoped tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustInfo {
    /// The trust id (a secret: it grants the trustee the trustor's roles).
    pub id: Secret,
    /// The trustor.
    pub trustor_user_id: Option<String>,
    /// The trustee.
    pub trustee_user_id: Option<String>,
    /// Whether the token impersonates the trustor.
    pub impersonation: bool,
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMethod {
    /// A Keystone token (auth_token).
    Token,
    /// A user name and password (auth_password, standalone mode).
    Password,
    /// An AWS-style signature (ec2token).
    Ec2Signature,
}

/// Everything a token says about its holder; shared, immutable, cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityData {
    /// User id.
    pub user_id: String,
    /// User name.
    pub user_name: Option<String>,
    /// The user's domain id.
    pub user_domain_id: Option<String>,
    /// The user's domain name.
    pub user_domain_name: Option<String>,
    /// The scope.
    pub scope: Scope,
    /// Role names on the scope, in Keystone's order.
    pub roles: Vec<String>,
    /// `is_admin_project` (true when Keystone does not say, as keystonemiddleware does).
    pub is_admin_project: bool,
    /// The trust of a trust-scoped token.
    pub trust: Option<TrustInfo>,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// Audit ids.
    pub audit_ids: Vec<String>,
    /// Authentication methods.
    pub methods: Vec<String>,
    /// The application credential used, if any.
    pub application_credential_id: Option<String>,
}

impl IdentityData {
    /// Builds the identity from a validated token body.
    pub fn from_token(body: &TokenBody) -> Self {
        let scope = if let Some(p) = &body.project {
            Scope::Project {
                id: p.id.clone(),
                name: p.name.clone(),
                domain_id: p.domain.as_ref().map(|d| d.id.clone()),
                domain_name: p.domain.as_ref().and_then(|d| d.name.clone()),
            }
        } else if let Some(d) = &body.domain {
            Scope::Domain {
                id: d.id.clone(),
                name: d.name.clone(),
            }
        } else if body.is_system_scoped() {
            Scope::System
        } else {
            Scope::Unscoped
        };
        Self {
            user_id: body.user.id.clone(),
            user_name: body.user.name.clone(),
            user_domain_id: body.user.domain.as_ref().map(|d| d.id.clone()),
            user_domain_name: body.user.domain.as_ref().and_then(|d| d.name.clone()),
            scope,
            roles: body.role_names().map(str::to_owned).collect(),
            is_admin_project: body.is_admin_project.unwrap_or(true),
            trust: body.trust.as_ref().map(|t| TrustInfo {
                id: Secret::new(t.id.clone()),
                trustor_user_id: t.trustor_user.as_ref().map(|u| u.id.clone()),
                trustee_user_id: t.trustee_user.as_ref().map(|u| u.id.clone()),
                impersonation: t.impersonation,
            }),
            expires_at: body.expires_at,
            audit_ids: body.audit_ids.clone(),
            methods: body.methods.clone(),
            application_credential_id: body.application_credential.as_ref().map(|a| a.id.clone()),
        }
    }

    /// The scoped project id.
    pub fn project_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The scoped project name.
    pub fn project_name(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { name, .. } => name.as_deref(),
            _ => None,
        }
    }

    /// The scoped domain id (domain-scoped tokens only).
    pub fn domain_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Domain { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether the token is system-scoped.
    pub fn is_system_scoped(&self) -> bool {
        matches!(self.scope, Scope::System)
    }

    /// Whether the holder has `role` (compared case-insensitively, as oslo.policy does).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// Whether the token has expired at `now`.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }
}

/// The verified caller of a request: cached token facts plus the token itself.
///
/// Put into request extensions by the authentication layers; extract it in axum
/// handlers. Derefs to [`IdentityData`].
#[derive(Debug, Clone)]
pub struct Identity {
    data: Arc<IdentityData>,
    /// The user's token (to act on the user's behalf).
    pub auth_token: Secret,
    /// How the caller authenticated.
    pub method: AuthMethod,
    /// The EC2 access key whose signature ec2token verified (Heat's
    /// `X-Auth-EC2-Creds`): a stack user's key, for the resources its access
    /// policy lets it read. Only a layer that verified the signature sets it.
    ec2_access: Option<Arc<str>>,
}

impl Identity {
    /// Wraps cached identity data with the request's token.
    pub fn new(data: Arc<IdentityData>, auth_token: Secret, method: AuthMethod) -> Self {
        Self {
            data,
            auth_token,
            method,
            ec2_access: None,
        }
    }

    /// The identity of a request signed with the EC2 key `access`.
    pub fn with_ec2_access(mut self, access: impl Into<Arc<str>>) -> Self {
        self.ec2_access = Some(access.into());
        self
    }

    /// The EC2 access key whose signature was verified (see the field).
    pub fn ec2_access(&self) -> Option<&str> {
        self.ec2_access.as_deref()
    }

    /// The shared data.
    pub fn data(&self) -> &Arc<IdentityData> {
        &self.data
    }
}

impl Deref for Identity {
    type Target = IdentityData;
    fn deref(&self) -> &IdentityData {
        &self.data
    }
}

/// The verified service token sent alongside a user token (`X-Service-Token`).
#[derive(Debug, Clone)]
pub struct ServiceIdentity(pub Identity);

/// `X-Identity-Status` and `X-Service-Identity-Status`, as the layer decided them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthStatus {
    /// Whether the user token was confirmed.
    pub user_confirmed: bool,
    /// Whether a service token was sent, and if so whether it was confirmed.
    pub service_confirmed: Option<bool>,
}

/// The rejection of the [`Identity`] extractor: no verified identity (only
/// possible behind `delay_auth_decision`, or without an auth layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingIdentity;

impl IntoResponse for MissingIdentity {
    fn into_response(self) -> Response {
        crate::auth_token::response::unauthorized(None)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = MissingIdentity;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or(MissingIdentity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(extra: &str) -> TokenBody {
        serde_json::from_str(&format!(
            r#"{{"methods":["password"],"user":{{"id":"u","name":"n","domain":{{"id":"default","name":"Default"}}}},"expires_at":"2030-01-01T00:00:00Z","roles":[{{"id":"1","name":"Member"}}]{extra}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn scopes_are_recognised() {
        let p = IdentityData::from_token(&token(
            r#","project":{"id":"p","name":"demo","domain":{"id":"default"}}"#,
        ));
        assert_eq!(p.project_id(), Some("p"));
        assert!(p.has_role("member"));
        assert!(p.is_admin_project, "absent is_admin_project means true");
        let d = IdentityData::from_token(&token(r#","domain":{"id":"d","name":"heat"}"#));
        assert_eq!(d.domain_id(), Some("d"));
        assert_eq!(d.project_id(), None);
        let s =
            IdentityData::from_token(&token(r#","system":{"all":true},"is_admin_project":false"#));
        assert!(s.is_system_scoped());
        assert!(!s.is_admin_project);
        assert_eq!(IdentityData::from_token(&token("")).scope, Scope::Unscoped);
    }

    #[tokio::test]
    async fn extractor_rejects_without_identity() {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        let err = Identity::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        assert_eq!(err.into_response().status(), http::StatusCode::UNAUTHORIZED);
    }
}
