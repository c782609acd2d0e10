//! An axum service behind Keystone tokens and an oslo.policy rule:
//!
//!     OS_AUTH_URL=http://127.0.0.1:5000/v3 OS_USERNAME=heat OS_PASSWORD=... \
//!     OS_PROJECT_NAME=service cargo run -p heatgate-examples --example axum_service
//!     curl -H "X-Auth-Token: $TOKEN" http://127.0.0.1:8080/v1/$PROJECT_ID/whoami
//!
//! `POLICY_FILE` replaces the inline policy, `LISTEN` the address.
use heatgate_examples::{router, POLICY};
use heatgate_keystone::{Client, ClientConfig, DomainRef, PasswordAuth, ScopeRequest, Secret};
use heatgate_policy::{Enforcer, RuleSet};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let (name, domain) = (var("OS_USERNAME")?, DomainRef::default_domain());
    let user = heatgate_keystone::UserRef::Name { name, domain };
    let (name, domain) = (var("OS_PROJECT_NAME")?, DomainRef::default_domain());
    let scope = ScopeRequest::ProjectName { name, domain };
    let password = Secret::new(var("OS_PASSWORD")?);
    let mut keystone = ClientConfig::new(var("OS_AUTH_URL")?.parse()?);
    keystone.service_auth = Some(PasswordAuth {
        user,
        password,
        scope,
    });
    let text = var("POLICY_FILE").map_or(Ok(POLICY.into()), std::fs::read_to_string)?;
    let policy = Enforcer::new(RuleSet::new().with_file_text("policy", &text)?);
    let app = router(Client::new(keystone)?, std::sync::Arc::new(policy))?;
    let listen = var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    Ok(axum::serve(listener, app).await?)
}
