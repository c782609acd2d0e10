//! What the serve benchmarks compare: the engine's REST router alone (policy,
//! stack lookup and handlers, a fixed identity injected in place of the
//! authentication) against the whole REST stack of `heatgate serve`
//! (auth_token, route labels and the health endpoint in front of that same
//! router). Used by the `enginebench` load target (`src/bin/enginebench.rs`)
//! and the criterion bench `benches/serve.rs`, so both build exactly what
//! `heatgate serve` builds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use heatgate::compose;
use heatgate::config::Config;
use heatgate::observability::{label_routes, Health};
use heatgate::serve::{engine_config, policy_store};
use heatgate_engine::Engine;
use heatgate_keystone::{Client, Secret, ValidateOptions, Validation};
use heatgate_middleware::context::{AuthMethod, Identity, IdentityData};
use heatgate_middleware::policy::{spawn_reloader, EnforcerSource};

/// Starts the engine of `config` (its `[engine]` database, `[heat]` and
/// `[keystone_authtoken]` options) and returns its REST router as `heatgate
/// serve` builds it: policy and the dual-path lookup composed in, no
/// authentication. `rest` and `cfn` are the public addresses the engine
/// builds its URLs from; the policy files are watched as serve does.
pub async fn engine_router(
    config: &Config,
    rest: SocketAddr,
    cfn: SocketAddr,
) -> Result<(Engine, Router), String> {
    let engine_config = engine_config(config, rest, cfn).map_err(|e| e.to_string())?;
    let policy = policy_store(config).map_err(|e| e.to_string())?;
    spawn_reloader(policy.clone(), Duration::from_secs(2));
    let engine = Engine::start(engine_config)
        .await
        .map_err(|e| format!("engine: {e}"))?;
    let source: Arc<dyn EnforcerSource> = policy;
    let router = heatgate_engine::api::rest::router(engine.clone(), source);
    Ok((engine, router))
}

/// The identity the auth_token layer would give `token`: validated once by
/// Keystone with `config`'s service user, so it is a real one.
pub async fn identity_of(config: &Config, token: &Secret) -> Result<Identity, String> {
    let client_config = config
        .keystone_authtoken
        .client_config()
        .map_err(|e| e.to_string())?;
    let client = Client::new(client_config).map_err(|e| e.to_string())?;
    let options = ValidateOptions::default();
    match client.validate(token.expose(), options).await {
        Ok(Validation::Valid(body)) => Ok(Identity::new(
            Arc::new(IdentityData::from_token(&body)),
            token.clone(),
            AuthMethod::Token,
        )),
        Ok(Validation::Invalid) => Err("Keystone does not accept the token".into()),
        Err(e) => Err(format!("token validation: {e}")),
    }
}

/// `router` with `identity` put into every request's extensions, where the
/// authentication layers put theirs: the engine alone.
pub fn with_identity(router: Router, identity: Identity) -> Router {
    router.layer(Extension(identity))
}

/// `router` behind the layers `heatgate serve` puts in front of its REST
/// listener: authentication (auth_token, or auth_password in the standalone
/// flavor), route labels and the health endpoint.
pub fn serve_stack(config: &Config, router: Router) -> Result<Router, String> {
    let health = Health::new(&config.keystone_authtoken).map_err(|e| e.to_string())?;
    let rest = compose::rest(config, &health, label_routes(router)).map_err(|e| e.to_string())?;
    Ok(Router::new().fallback_service(rest))
}
