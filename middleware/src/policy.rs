//! policy: enforce one oslo.policy rule per route, as Heat does, with the
//! caller's typed [`Identity`](crate::context::Identity) as the credentials and
//! a target built from the request.
//!
//! - REST (`PolicyLayer::rest`): target `{"project_id": <tenant in the URL>}`;
//!   a caller whose project is not the URL's tenant and who is not
//!   `context_is_admin` is refused first (Heat's tenant check), then the rule
//!   decides. Denials are Heat's JSON envelope (403).
//! - CFN (`PolicyLayer::cfn`): target `{"project_id": <resolved project>}` (the
//!   stack's project when a lookup resolved one, else the caller's): Heat passes
//!   no target here, so under its modern defaults every CFN action is refused;
//!   with the resolved project they work. Denials are AWS XML `AccessDenied`.
//!
//! Credentials: user_id, user_domain_id, project_id, project_domain_id,
//! domain_id, system_scope, roles, is_admin_project (true when Keystone did not
//! say, as Heat), and is_admin = the evaluation of `context_is_admin`.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{routing::get, Router};
//! use heatgate_middleware::policy::PolicyLayer;
//! use heatgate_policy::heat::{self, Profile};
//!
//! let enforcer = Arc::new(heat::enforcer(Profile::Modern, true));
//! let app: Router = Router::new().route(
//!     "/v1/{tenant}/stacks",
//!     get(|| async { "stacks" }).route_layer(PolicyLayer::rest(enforcer, "stacks:index")),
//! );
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::BoxFuture;
use heatgate_policy::reload::PolicyStore;
use heatgate_policy::{Credentials, EnforceError, Enforcer, Target};
use http::request::Parts;
use http::{header, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::context::{Identity, IdentityData, Scope};
use crate::refusal::heat_fault;
use crate::BoxError;

/// Where the current rules come from.
pub trait EnforcerSource: Send + Sync + 'static {
    /// The rules to use for this request.
    fn current(&self) -> Arc<Enforcer>;
}

impl EnforcerSource for Enforcer {
    fn current(&self) -> Arc<Enforcer> {
        Arc::new(self.clone())
    }
}

impl EnforcerSource for Arc<Enforcer> {
    fn current(&self) -> Arc<Enforcer> {
        self.clone()
    }
}

impl EnforcerSource for PolicyStore {
    fn current(&self) -> Arc<Enforcer> {
        PolicyStore::current(self)
    }
}

impl EnforcerSource for Arc<dyn EnforcerSource> {
    fn current(&self) -> Arc<Enforcer> {
        (**self).current()
    }
}

impl EnforcerSource for Arc<PolicyStore> {
    fn current(&self) -> Arc<Enforcer> {
        PolicyStore::current(self)
    }
}

/// Checks the policy files' mtimes every `interval` and reloads them when they
/// change; a malformed file keeps the last good rules in force and is reported
/// (logged at error level) until it is fixed.
pub fn spawn_reloader(
    store: Arc<PolicyStore>,
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let store = store.clone();
            let outcome = tokio::task::spawn_blocking(move || store.refresh()).await;
            match outcome {
                Ok(heatgate_policy::reload::ReloadOutcome::Reloaded) => {
                    tracing::info!("policy files reloaded")
                }
                Ok(heatgate_policy::reload::ReloadOutcome::Failed(e)) => {
                    tracing::error!(error = %e, "policy files are malformed; the last good rules stay in force")
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "policy reload task failed"),
            }
        }
    })
}

/// The project a lookup resolved a request to (set by stack_lookup); the CFN
/// target uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedProject(pub String);

/// Which API's denial form to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Heat's native REST API (JSON envelope).
    Rest,
    /// The CloudFormation-compatible query API (AWS XML).
    Cfn,
}

type TargetFn = Arc<dyn Fn(&Parts) -> Target + Send + Sync>;

#[derive(Clone)]
struct Shared {
    source: Arc<dyn EnforcerSource>,
    rule: Arc<str>,
    api: Api,
    target: TargetFn,
    tenant_check: bool,
    path_prefix: Arc<str>,
}

/// Enforces one rule (see the module docs).
#[derive(Clone)]
pub struct PolicyLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PolicyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyLayer")
            .field("rule", &self.shared.rule)
            .field("api", &self.shared.api)
            .finish()
    }
}

/// The tenant: the path segment after `prefix` (`/v1/{tenant}/...`).
pub fn tenant_from_path<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path
        .strip_prefix(prefix.trim_end_matches('/'))?
        .strip_prefix('/')?;
    rest.split('/').next().filter(|t| !t.is_empty())
}

impl PolicyLayer {
    /// A REST rule: target `{"project_id": tenant}` and Heat's tenant check
    /// (skipped for `*:global_index`, as Heat does).
    pub fn rest(source: impl EnforcerSource, rule: impl Into<String>) -> Self {
        let rule: String = rule.into();
        let tenant_check = !rule.ends_with(":global_index");
        Self {
            shared: Arc::new(Shared {
                source: Arc::new(source),
                rule: rule.into(),
                api: Api::Rest,
                target: Arc::new(|parts: &Parts| {
                    let tenant = tenant_from_path(parts.uri.path(), "/v1").unwrap_or_default();
                    Target::new().with("project_id", percent_decode(tenant))
                }),
                tenant_check,
                path_prefix: "/v1".into(),
            }),
        }
    }

    /// A CFN rule: target `{"project_id": resolved project or the caller's}`.
    pub fn cfn(source: impl EnforcerSource, rule: impl Into<String>) -> Self {
        let rule: String = rule.into();
        Self {
            shared: Arc::new(Shared {
                source: Arc::new(source),
                rule: rule.into(),
                api: Api::Cfn,
                target: Arc::new(|parts: &Parts| {
                    let project = parts
                        .extensions
                        .get::<ResolvedProject>()
                        .map(|p| p.0.clone())
                        .or_else(|| {
                            parts
                                .extensions
                                .get::<Identity>()
                                .and_then(|i| i.project_id().map(str::to_owned))
                        });
                    match project {
                        Some(p) => Target::new().with("project_id", p),
                        None => Target::new(),
                    }
                }),
                tenant_check: false,
                path_prefix: "/v1".into(),
            }),
        }
    }

    /// Replaces the target builder.
    pub fn with_target(self, target: impl Fn(&Parts) -> Target + Send + Sync + 'static) -> Self {
        let mut shared = (*self.shared).clone();
        shared.target = Arc::new(target);
        Self {
            shared: Arc::new(shared),
        }
    }
}

impl<S> Layer<S> for PolicyLayer {
    type Service = Policy<S>;
    fn layer(&self, inner: S) -> Policy<S> {
        Policy {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service built by [`PolicyLayer`].
#[derive(Clone)]
pub struct Policy<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Policy<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("rule", &self.shared.rule)
            .field("inner", &self.inner)
            .finish()
    }
}

crate::inner_accessors!(Policy);

/// The credentials Heat hands oslo.policy for `identity`, with `is_admin`
/// evaluated by `enforcer`'s `context_is_admin`.
pub fn credentials(identity: &IdentityData, enforcer: &Enforcer) -> Credentials {
    let mut b = Credentials::builder()
        .user_id(identity.user_id.clone())
        .roles(identity.roles.iter().cloned())
        .is_admin_project(identity.is_admin_project);
    if let Some(d) = &identity.user_domain_id {
        b = b.user_domain_id(d.clone());
    }
    match &identity.scope {
        Scope::Project { id, domain_id, .. } => {
            b = b.project_id(id.clone());
            if let Some(d) = domain_id {
                b = b.project_domain_id(d.clone());
            }
        }
        Scope::Domain { id, .. } => b = b.domain_id(id.clone()),
        Scope::System => b = b.system_scope("all"),
        _ => {}
    }
    let is_admin = enforcer.is_admin(&b.clone().build());
    b.is_admin(is_admin).build()
}

/// Why the layer refused (or could not decide).
#[derive(Debug)]
#[non_exhaustive]
pub enum PolicyDenial {
    /// No verified identity reached the layer.
    Unauthenticated,
    /// The URL's tenant is not the caller's project (and not admin).
    TenantMismatch,
    /// The rule said no (or the token's scope is not allowed).
    Denied {
        /// The rule.
        rule: Arc<str>,
    },
    /// The rule could not be evaluated (remote check down, cycle, ...).
    Error(EnforceError),
}

fn heat_forbidden(kind: &str, message: &str) -> Response<Body> {
    heat_fault(StatusCode::FORBIDDEN, kind, message)
}

/// How many distinct rules [`DenialCounts`] tracks; denials of further rules
/// are counted under [`DenialCounts::OTHER_RULES`] (rules come from policy files
/// and code, but a rule name built from a request must not grow memory).
const MAX_COUNTED_RULES: usize = 1024;

/// Denials answered, by rule: every [`PolicyDenial::Denied`] turned into a
/// response ([`PolicyDenial::response`]) counts once, whether the layer or a
/// handler enforcing a rule itself (CFN actions, `stacks:global_index`)
/// refused. Process-wide: see [`denials`].
#[derive(Debug, Default)]
pub struct DenialCounts {
    by_rule: std::sync::Mutex<std::collections::HashMap<Arc<str>, u64>>,
}

impl DenialCounts {
    /// The label of the denials beyond the first 1024 distinct rules.
    pub const OTHER_RULES: &'static str = "(other)";

    /// Counts one denial by `rule`.
    pub fn record(&self, rule: &Arc<str>) {
        let mut by_rule = self.by_rule.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = by_rule.get_mut(rule) {
            *n += 1;
        } else if by_rule.len() < MAX_COUNTED_RULES {
            by_rule.insert(rule.clone(), 1);
        } else {
            *by_rule.entry(Self::OTHER_RULES.into()).or_default() += 1;
        }
    }

    /// The denials so far, by rule name (sorted).
    pub fn snapshot(&self) -> Vec<(Arc<str>, u64)> {
        let by_rule = self.by_rule.lock().unwrap_or_else(|p| p.into_inner());
        let mut counts: Vec<_> = by_rule.iter().map(|(r, n)| (r.clone(), *n)).collect();
        counts.sort_unstable();
        counts
    }
}

/// The process's policy denials by rule (for metrics).
pub fn denials() -> &'static DenialCounts {
    static DENIALS: std::sync::OnceLock<DenialCounts> = std::sync::OnceLock::new();
    DENIALS.get_or_init(DenialCounts::default)
}

impl PolicyDenial {
    /// The response for `api`. A rule's denial is counted in [`denials`] here,
    /// once per response.
    pub fn response(&self, api: Api) -> Response<Body> {
        if let PolicyDenial::Denied { rule } = self {
            denials().record(rule);
        }
        match (self, api) {
            (PolicyDenial::Unauthenticated, _) => crate::auth_token::response::unauthorized(None),
            (PolicyDenial::Error(e), _) => {
                tracing::error!(error = %e, "policy check failed");
                heat_fault(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    e.python_class(),
                    "The policy check could not be evaluated.",
                )
            }
            (PolicyDenial::TenantMismatch, Api::Rest) => {
                heat_forbidden("HTTPForbidden", "Access was denied to this resource.")
            }
            (PolicyDenial::Denied { rule }, Api::Rest) => heat_forbidden(
                "Forbidden",
                &format!("You are not authorized to use {rule}."),
            ),
            (PolicyDenial::TenantMismatch | PolicyDenial::Denied { .. }, Api::Cfn) => {
                let action = match self {
                    PolicyDenial::Denied { rule } => {
                        rule.split_once(':').map_or(&**rule, |(_, a)| a).to_owned()
                    }
                    _ => String::new(),
                };
                let body = crate::ec2token::xml_body(
                    "Sender",
                    "AccessDenied",
                    &format!("User is not authorized to perform action:Action {action} not allowed for user"),
                );
                let mut r = Response::new(Body::from(body));
                *r.status_mut() = StatusCode::FORBIDDEN;
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/xml"),
                );
                r
            }
        }
    }
}

impl Shared {
    fn decide(&self, parts: &Parts) -> Result<(), PolicyDenial> {
        let identity = parts
            .extensions
            .get::<Identity>()
            .ok_or(PolicyDenial::Unauthenticated)?;
        let enforcer = self.source.current();
        let creds = credentials(identity, &enforcer);
        if self.tenant_check {
            let tenant = tenant_from_path(parts.uri.path(), &self.path_prefix).map(percent_decode);
            let is_admin = matches!(
                creds.get("is_admin"),
                Some(heatgate_policy::PyValue::Bool(true))
            );
            if tenant.as_deref() != identity.project_id() && !is_admin {
                return Err(PolicyDenial::TenantMismatch);
            }
        }
        let target = (self.target)(parts);
        match enforcer.enforce(&self.rule, &target, &creds) {
            Ok(true) => Ok(()),
            Ok(false) | Err(EnforceError::InvalidScope { .. }) => {
                tracing::info!(rule = %self.rule, user_id = %identity.user_id, "policy denied");
                Err(PolicyDenial::Denied {
                    rule: self.rule.clone(),
                })
            }
            Err(e) => Err(PolicyDenial::Error(e)),
        }
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Policy<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let mut inner = crate::take_ready(&mut self.inner);
        let (parts, body) = request.into_parts();
        let decision = self.shared.decide(&parts);
        let api = self.shared.api;
        Box::pin(async move {
            match decision {
                Ok(()) => Ok(inner
                    .call(Request::from_parts(parts, body))
                    .await?
                    .map(Body::new)),
                Err(denial) => Ok(denial.response(api)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heatgate_keystone::{Secret, TokenBody};
    use heatgate_policy::heat::{self, Profile};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn identity(project: &str, roles: &[&str]) -> Identity {
        let body: TokenBody = serde_json::from_value(serde_json::json!({
            "methods": ["password"], "user": {"id": "u1", "domain": {"id": "default"}},
            "expires_at": "2099-01-01T00:00:00Z",
            "project": {"id": project, "name": "p", "domain": {"id": "default"}},
            "roles": roles.iter().map(|r| serde_json::json!({"id": r, "name": r})).collect::<Vec<_>>(),
        }))
        .unwrap();
        Identity::new(
            Arc::new(IdentityData::from_token(&body)),
            Secret::new("t"),
            crate::context::AuthMethod::Token,
        )
    }

    async fn call(layer: PolicyLayer, path: &str, who: Option<Identity>) -> (StatusCode, String) {
        let svc = layer.layer(tower::service_fn(|_r: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::from("ok")))
        }));
        let mut req = Request::get(path).body(Body::empty()).unwrap();
        if let Some(i) = who {
            req.extensions_mut().insert(i);
        }
        let r = svc.oneshot(req).await.unwrap();
        let status = r.status();
        (
            status,
            String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap(),
        )
    }

    fn modern() -> Arc<Enforcer> {
        Arc::new(heat::enforcer(Profile::Modern, true))
    }

    #[tokio::test]
    async fn rest_rules_with_heat_responses() {
        let layer = PolicyLayer::rest(modern(), "stacks:index");
        let (s, body) = call(
            layer.clone(),
            "/v1/p1/stacks",
            Some(identity("p1", &["reader"])),
        )
        .await;
        assert_eq!((s, body.as_str()), (StatusCode::OK, "ok"));
        let (s, body) = call(
            layer.clone(),
            "/v1/p1/stacks",
            Some(identity("p1", &["heat_stack_user"])),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            body,
            r#"{"code": 403, "title": "Forbidden", "explanation": "Access was denied to this resource.", "error": {"type": "Forbidden", "traceback": null, "message": "You are not authorized to use stacks:index."}}"#
        );
        let (s, body) = call(
            layer.clone(),
            "/v1/p2/stacks",
            Some(identity("p1", &["reader", "member"])),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(body.contains(r#""type": "HTTPForbidden""#), "{body}");
        let (s, _) = call(layer, "/v1/p1/stacks", None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn admins_pass_the_tenant_check() {
        let layer = PolicyLayer::rest(modern(), "stacks:lookup");
        let (s, body) = call(
            layer.clone(),
            "/v1/p2/stacks",
            Some(identity("p1", &["admin"])),
        )
        .await;
        // context_is_admin (admin in an admin project) passes the tenant check;
        // the rule itself still decides on the URL's project.
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(body.contains(r#""type": "Forbidden""#), "{body}");
        let (s, body) = call(layer, "/v1/p2/stacks", Some(identity("p1", &["member"]))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert!(body.contains(r#""type": "HTTPForbidden""#), "{body}");
    }

    #[tokio::test]
    async fn cfn_uses_the_resolved_project_and_answers_xml() {
        let layer = PolicyLayer::cfn(modern(), "cloudformation:DescribeStackResource");
        let svc = layer.layer(tower::service_fn(|_r: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::from("ok")))
        }));
        let mut req = Request::get("/v1/?Action=DescribeStackResource")
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(identity("sdp", &["heat_stack_user"]));
        req.extensions_mut().insert(ResolvedProject("sdp".into()));
        assert_eq!(
            svc.clone().oneshot(req).await.unwrap().status(),
            StatusCode::OK
        );
        let mut req = Request::get("/v1/").body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(identity("p1", &["heat_stack_user"]));
        let (s, body) = {
            let l = PolicyLayer::cfn(modern(), "cloudformation:ListStacks");
            let r = l
                .layer(tower::service_fn(|_r: Request<Body>| async {
                    Ok::<_, std::convert::Infallible>(Response::new(Body::from("ok")))
                }))
                .oneshot(req)
                .await
                .unwrap();
            (
                r.status(),
                String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec())
                    .unwrap(),
            )
        };
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            body,
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform action:Action ListStacks not allowed for user</Message></Error></ErrorResponse>"
        );
    }

    #[tokio::test]
    async fn policy_files_reload_and_a_malformed_one_keeps_the_last_good_rules() {
        use heatgate_policy::reload::{PolicySources, PolicyStore};
        let dir =
            std::env::temp_dir().join(format!("heatgate-policy-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("policy.yaml");
        std::fs::write(&file, "\"stacks:index\": \"role:reader\"\n").unwrap();
        let sources = PolicySources {
            policy_file: Some(file.clone()),
            ..PolicySources::heat_modern()
        };
        let store = Arc::new(PolicyStore::new(sources).unwrap());
        let reloader = spawn_reloader(store.clone(), std::time::Duration::from_millis(20));
        let layer = PolicyLayer::rest(store.clone(), "stacks:index");
        let reader = || Some(identity("p1", &["reader"]));
        assert_eq!(
            call(layer.clone(), "/v1/p1/stacks", reader()).await.0,
            StatusCode::OK
        );

        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, "\"stacks:index\": \"!\"\n").unwrap();
        let mut denied = false;
        for _ in 0..100 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            if call(layer.clone(), "/v1/p1/stacks", reader()).await.0 == StatusCode::FORBIDDEN {
                denied = true;
                break;
            }
        }
        assert!(denied, "the changed file was not reloaded");

        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, "\"stacks:index\": [unbalanced\n").unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(
            call(layer, "/v1/p1/stacks", reader()).await.0,
            StatusCode::FORBIDDEN,
            "a malformed file must keep the last good rules"
        );
        reloader.abort();
    }

    #[tokio::test]
    async fn denials_are_counted_by_rule() {
        let count = |rule: &str| {
            denials()
                .snapshot()
                .into_iter()
                .find(|(r, _)| &**r == rule)
                .map_or(0, |(_, n)| n)
        };
        let rule = "stacks:index";
        let before = count(rule);
        let layer = PolicyLayer::rest(modern(), rule);
        let denied = Some(identity("p1", &["heat_stack_user"]));
        assert_eq!(
            call(layer.clone(), "/v1/p1/stacks", denied.clone()).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            call(layer.clone(), "/v1/p1/stacks", denied).await.0,
            StatusCode::FORBIDDEN
        );
        let allowed = Some(identity("p1", &["reader"]));
        assert_eq!(
            call(layer, "/v1/p1/stacks", allowed).await.0,
            StatusCode::OK
        );
        // Other tests of this process may deny the same rule concurrently.
        assert!(count(rule) >= before + 2);

        // A handler's own denial (CFN) counts the same way.
        let cfn = "cloudformation:DenialsAreCounted";
        PolicyDenial::Denied { rule: cfn.into() }.response(Api::Cfn);
        assert_eq!(count(cfn), 1);
        // The tenant check is not a rule's denial.
        PolicyDenial::TenantMismatch.response(Api::Rest);
    }

    #[test]
    fn distinct_rules_are_bounded() {
        let counts = DenialCounts::default();
        for i in 0..MAX_COUNTED_RULES + 10 {
            counts.record(&Arc::from(format!("rule:{i}")));
        }
        counts.record(&Arc::from("rule:0"));
        let snapshot = counts.snapshot();
        assert_eq!(snapshot.len(), MAX_COUNTED_RULES + 1);
        let get = |name: &str| snapshot.iter().find(|(r, _)| &**r == name).unwrap().1;
        assert_eq!(get(DenialCounts::OTHER_RULES), 10);
        assert_eq!(get("rule:0"), 2);
    }

    #[test]
    fn tenants_come_from_the_path() {
        assert_eq!(tenant_from_path("/v1/abc/stacks", "/v1"), Some("abc"));
        assert_eq!(tenant_from_path("/v1/", "/v1"), None);
        assert_eq!(percent_decode("a%3Ab"), "a:b");
        assert_eq!(percent_decode("a+b"), "a+b");
    }
}
