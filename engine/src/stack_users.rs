//! Stack domain users: the per-stack project in the stack user domain, its
//! users (role `heat_stack_user`) and their EC2 keypairs, created and deleted
//! in Keystone as the stack domain admin, as Heat's heat_keystoneclient does.

use heatgate_keystone::{
    Client, ClientConfig, DomainRef, NewUser, PasswordAuth, ScopeRequest, Secret, UserRef,
};
use tokio::sync::OnceCell;

use crate::config::EngineConfig;
use crate::error::EngineError;

/// Keystone's limit on project names.
pub const PROJECT_NAME_MAX: usize = 64;

/// `"<owner_project>-<stack_id>"` cut to Keystone's 64 characters (as Heat 27
/// names them).
pub fn project_name(owner_project: &str, stack_id: &str) -> String {
    let full = format!("{owner_project}-{stack_id}");
    full.chars().take(PROJECT_NAME_MAX).collect()
}

/// A random secret: 32 hex characters from the OS's randomness.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).expect("the OS gives randomness");
    hex::encode(buf)
}

/// A new stack user and what it was given.
#[derive(Debug, Clone)]
pub struct StackUser {
    /// Keystone user id.
    pub user_id: String,
    /// Its name.
    pub name: String,
    /// Its password.
    pub password: Secret,
}

/// An EC2 keypair.
#[derive(Debug, Clone)]
pub struct Keypair {
    /// Access key (not secret).
    pub access: String,
    /// Secret key.
    pub secret: Secret,
}

/// The stack domain admin's view of Keystone.
#[derive(Debug)]
pub struct StackDomain {
    client: Client,
    domain_id: String,
    role: String,
    role_id: OnceCell<String>,
}

impl StackDomain {
    /// A client acting as `stack_domain_admin`, scoped to the stack user domain.
    pub fn new(config: &EngineConfig) -> Result<Self, EngineError> {
        let mut client_config: ClientConfig = config.service.clone();
        client_config.interface = None;
        client_config.service_auth = Some(PasswordAuth {
            user: UserRef::Name {
                name: config.stack_domain_admin.clone(),
                domain: DomainRef::Id(config.stack_user_domain_id.clone()),
            },
            password: config.stack_domain_admin_password.clone(),
            scope: ScopeRequest::Domain(DomainRef::Id(config.stack_user_domain_id.clone())),
        });
        Ok(Self {
            client: Client::new(client_config)?,
            domain_id: config.stack_user_domain_id.clone(),
            role: config.heat_stack_user_role.clone(),
            role_id: OnceCell::new(),
        })
    }

    /// The stack user domain.
    pub fn domain_id(&self) -> &str {
        &self.domain_id
    }

    /// The Keystone client (as the domain admin).
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn role_id(&self) -> Result<&str, EngineError> {
        self.role_id
            .get_or_try_init(|| async {
                self.client.role_id(&self.role).await?.ok_or_else(|| {
                    EngineError::bad(
                        "StackValidationFailed",
                        format!("The role {} does not exist in Keystone.", self.role),
                    )
                })
            })
            .await
            .map(String::as_str)
    }

    /// Creates the stack's project in the stack user domain.
    pub async fn create_project(
        &self,
        owner_project: &str,
        stack_id: &str,
    ) -> Result<String, EngineError> {
        let project = self
            .client
            .create_project(
                &project_name(owner_project, stack_id),
                &self.domain_id,
                &format!("Heat stack user project of stack {stack_id}"),
            )
            .await?;
        Ok(project.id)
    }

    /// Creates a user in `project` with the stack user role and a random password.
    pub async fn create_user(&self, name: &str, project: &str) -> Result<StackUser, EngineError> {
        let role_id = self.role_id().await?.to_owned();
        let password = Secret::new(random_hex(16));
        let user = self
            .client
            .create_user(NewUser {
                name: name.to_owned(),
                domain_id: self.domain_id.clone(),
                password: password.clone(),
                default_project_id: Some(project.to_owned()),
                description: "Heat stack user".to_owned(),
            })
            .await?;
        if let Err(e) = self
            .client
            .grant_project_role(project, &user.id, &role_id)
            .await
        {
            let _ = self.client.delete_user(&user.id).await;
            return Err(e.into());
        }
        Ok(StackUser {
            user_id: user.id,
            name: user.name,
            password,
        })
    }

    /// Creates an EC2 keypair for `user_id` on `project` (uuid4-hex access key,
    /// random secret, as Heat makes them).
    pub async fn create_keypair(
        &self,
        user_id: &str,
        project: &str,
    ) -> Result<Keypair, EngineError> {
        let access = uuid::Uuid::new_v4().simple().to_string();
        let secret = Secret::new(random_hex(20));
        self.client
            .create_ec2_keypair(user_id, project, &access, &secret)
            .await?;
        Ok(Keypair { access, secret })
    }

    /// A token of a stack user scoped to the stack project.
    pub async fn user_token(
        &self,
        user_id: &str,
        password: &Secret,
        project: &str,
    ) -> Result<Secret, EngineError> {
        let auth = PasswordAuth {
            user: UserRef::Id(user_id.to_owned()),
            password: password.clone(),
            scope: ScopeRequest::ProjectId(project.to_owned()),
        };
        Ok(self.client.authenticate(&auth).await?.token)
    }

    /// Deletes a keypair (absent is fine).
    pub async fn delete_keypair(&self, access: &str) -> Result<(), EngineError> {
        self.client.delete_ec2_keypair(access).await?;
        Ok(())
    }

    /// Deletes a user (absent is fine).
    pub async fn delete_user(&self, user_id: &str) -> Result<(), EngineError> {
        self.client.delete_user(user_id).await?;
        Ok(())
    }

    /// Deletes the project (absent is fine).
    pub async fn delete_project(&self, project: &str) -> Result<(), EngineError> {
        self.client.delete_project(project).await?;
        Ok(())
    }

    /// Whether a user still exists (for CHECK).
    pub async fn user_exists(&self, user_id: &str) -> Result<bool, EngineError> {
        let answer = self
            .client
            .service_call(
                http::Method::GET,
                &format!("users/{}", urlencoding::encode(user_id)),
                "",
                None,
                "user lookup",
                |b| b,
            )
            .await?;
        match answer.status.as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            s => Err(heatgate_keystone::Error::ServerError {
                status: s,
                what: "user lookup",
            }
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_cut_to_64_characters() {
        let owner = "0123456789abcdef0123456789abcdef";
        let stack = "8f0c3c9e-6d36-4a1c-9b2e-1f5a3c7d9e11";
        let name = project_name(owner, stack);
        assert_eq!(name.len(), 64);
        assert!(name.starts_with("0123456789abcdef0123456789abcdef-8f0c3c9e-"));
        assert_eq!(project_name("p", "s"), "p-s");
    }
}
