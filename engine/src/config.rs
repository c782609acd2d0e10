//! The engine's settings (heat.conf's `[DEFAULT]` stack user options,
//! deferred auth and `auth_encryption_key`), already validated.

use std::path::PathBuf;

use heatgate_keystone::{ClientConfig, Secret};
use url::Url;

/// How deferred operations authenticate (`deferred_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeferredAuth {
    /// A trust from the owner to the heat service user (the default).
    Trusts,
    /// The owner's password, stored encrypted.
    Password,
}

impl DeferredAuth {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeferredAuth::Trusts => "trusts",
            DeferredAuth::Password => "password",
        }
    }
}

/// Everything the engine needs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The SQLite file.
    pub database: PathBuf,
    /// The heat service user's Keystone client settings (trustee of trusts).
    pub service: ClientConfig,
    /// The stack user domain.
    pub stack_user_domain_id: String,
    /// The stack domain admin's user name (in the stack user domain).
    pub stack_domain_admin: String,
    /// Its password.
    pub stack_domain_admin_password: Secret,
    /// The role given to stack users (`heat_stack_user_role`).
    pub heat_stack_user_role: String,
    /// `deferred_auth_method`.
    pub deferred_auth_method: DeferredAuth,
    /// `trusts_delegated_roles` (empty: all the trustor's roles on the project).
    pub trusts_delegated_roles: Vec<String>,
    /// `auth_encryption_key`.
    pub auth_encryption_key: Secret,
    /// Earlier keys still accepted for decryption (rotation).
    pub retired_encryption_keys: Vec<Secret>,
    /// The REST API base clients reach (`http://host:8004/v1`).
    pub public_url: Url,
    /// The CFN API base (`http://host:8000/v1`).
    pub cfn_public_url: Url,
    /// `heat_waitcondition_server_url` (default `<cfn_public_url>/waitcondition`).
    pub heat_waitcondition_server_url: Option<Url>,
}

impl EngineConfig {
    /// Where wait condition handles are signalled (PUT).
    pub fn waitcondition_url(&self) -> String {
        match &self.heat_waitcondition_server_url {
            Some(u) => u.as_str().trim_end_matches('/').to_owned(),
            None => format!(
                "{}/waitcondition",
                self.cfn_public_url.as_str().trim_end_matches('/')
            ),
        }
    }

    /// Where signal responders are signalled (POST): the wait condition URL
    /// with `/waitcondition` replaced by `/signal`, as Heat derives it.
    pub fn signal_url(&self) -> String {
        let w = self.waitcondition_url();
        match w.strip_suffix("/waitcondition") {
            Some(root) => format!("{root}/signal"),
            None => format!(
                "{}/signal",
                self.cfn_public_url.as_str().trim_end_matches('/')
            ),
        }
    }
}
