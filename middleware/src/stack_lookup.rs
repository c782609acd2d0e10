//! stack_lookup: the dual-path stack resolution of Heat's REST API.
//!
//! A stack is reachable under two tenants: the owner's project and the stack
//! domain project that holds the users whose credentials go into instances.
//! For `/v1/{tenant}/stacks/{name}/{id}[/...]` the layer loads the stack by id
//! and admits the caller when its project is the stack's owner project or its
//! stack domain project (or the caller is an admin), and the name matches;
//! otherwise 404, exactly as Heat's `stack_get` + `_get_stack` answer. For the
//! lookup forms `/v1/{tenant}/stacks/{name}` and
//! `/v1/{tenant}/stacks/{name}/{resources|events|template|...}` (the name may be
//! a stack id or an ARN) it answers 302 to the OWNER's path, as Heat does: a
//! stack user following it then meets the policy layer's tenant check (403).
//!
//! The resolved stack goes into the request's extensions as [`ResolvedStack`]
//! (and its owner project as [`ResolvedProject`]) for the handler.
//!
//! The layer runs after authentication and the policy layer (Heat checks the
//! URL tenant against the token before the engine looks anything up, so a
//! stack user of another stack with that stack's project in the URL gets 403,
//! and with its own project 404).
//!
//! ```
//! use std::sync::Arc;
//! use heatgate_middleware::stack_lookup::{StackDirectory, StackLookupLayer, StackRecord, LookupError};
//! use futures_util::future::BoxFuture;
//!
//! struct One(StackRecord);
//! impl StackDirectory for One {
//!     fn by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<StackRecord>, LookupError>> {
//!         Box::pin(async move { Ok((self.0.id == id).then(|| self.0.clone())) })
//!     }
//!     fn by_name<'a>(&'a self, name: &'a str, project: &'a str)
//!         -> BoxFuture<'a, Result<Option<StackRecord>, LookupError>> {
//!         let r = &self.0;
//!         let visible = r.tenant == project || r.stack_user_project_id.as_deref() == Some(project);
//!         Box::pin(async move { Ok((r.name == name && visible).then(|| r.clone())) })
//!     }
//! }
//! let layer = StackLookupLayer::new(Arc::new(One(StackRecord {
//!     id: "5f1b...".into(), name: "web".into(), tenant: "p1".into(), stack_user_project_id: None,
//!     found: None,
//! })));
//! # let _ = layer;
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::BoxFuture;
use http::{header, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::context::Identity;
use crate::policy::ResolvedProject;
use crate::refusal::heat_fault;

/// What the layer needs to know about a stack.
#[derive(Clone)]
pub struct StackRecord {
    /// Stack id.
    pub id: String,
    /// Stack name.
    pub name: String,
    /// The owner's project.
    pub tenant: String,
    /// The stack domain project, if the stack has one.
    pub stack_user_project_id: Option<String>,
    /// Whatever else the directory read with it, handed on to the handler in
    /// [`ResolvedStack`] so it need not read the stack again (the layer
    /// never looks inside; compared and printed by the fields above only).
    pub found: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

impl StackRecord {
    /// What the directory attached, if it is a `T`.
    pub fn found<T: std::any::Any + Send + Sync>(&self) -> Option<&T> {
        self.found.as_deref().and_then(|f| f.downcast_ref())
    }
}

impl PartialEq for StackRecord {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.id,
            &self.name,
            &self.tenant,
            &self.stack_user_project_id,
        ) == (
            &other.id,
            &other.name,
            &other.tenant,
            &other.stack_user_project_id,
        )
    }
}

impl Eq for StackRecord {}

impl std::fmt::Debug for StackRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackRecord")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("stack_user_project_id", &self.stack_user_project_id)
            .finish_non_exhaustive()
    }
}

/// Which of the two projects the caller reached the stack through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The owner's project.
    Owner,
    /// The stack domain project (a stack user, usually inside an instance).
    StackDomain,
    /// Neither: an admin.
    Admin,
}

/// The stack a request resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedStack {
    /// The stack.
    pub stack: StackRecord,
    /// How the caller reached it.
    pub via: Via,
    /// The path after `/stacks/{name}/{id}` (empty, or starting with `/`).
    pub rest: String,
}

/// The directory could not be asked (database down).
#[derive(Debug, thiserror::Error)]
#[error("stack lookup failed: {0}")]
pub struct LookupError(pub String);

/// Where stacks are found (the engine implements this).
pub trait StackDirectory: Send + Sync + 'static {
    /// A live stack by id.
    fn by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<StackRecord>, LookupError>>;
    /// A live stack by name, owned by `project` or with `project` as its stack
    /// domain project.
    fn by_name<'a>(
        &'a self,
        name: &'a str,
        project: &'a str,
    ) -> BoxFuture<'a, Result<Option<StackRecord>, LookupError>>;
}

type AdminCheck = Arc<dyn Fn(&Identity) -> bool + Send + Sync>;

/// Resolves `{tenant}/stacks/{name}/{id}` (see the module docs).
#[derive(Clone)]
pub struct StackLookupLayer {
    directory: Arc<dyn StackDirectory>,
    is_admin: AdminCheck,
}

impl std::fmt::Debug for StackLookupLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackLookupLayer").finish_non_exhaustive()
    }
}

impl StackLookupLayer {
    /// A layer over `directory`; admins are callers with the `admin` role
    /// (Heat's `context_is_admin`).
    pub fn new(directory: Arc<dyn StackDirectory>) -> Self {
        Self {
            directory,
            is_admin: Arc::new(|i: &Identity| i.has_role("admin")),
        }
    }

    /// Replaces the admin check (for instance with the policy's `context_is_admin`).
    pub fn with_admin_check(
        mut self,
        check: impl Fn(&Identity) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.is_admin = Arc::new(check);
        self
    }
}

impl<S> Layer<S> for StackLookupLayer {
    type Service = StackLookup<S>;
    fn layer(&self, inner: S) -> StackLookup<S> {
        StackLookup {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`StackLookupLayer`].
#[derive(Clone)]
pub struct StackLookup<S> {
    inner: S,
    layer: StackLookupLayer,
}

impl<S> std::fmt::Debug for StackLookup<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackLookup").finish_non_exhaustive()
    }
}

/// The sub-collections Heat's lookup route accepts after a bare name.
const LOOKUP_PATHS: &[&str] = &[
    "resources",
    "events",
    "template",
    "actions",
    "environment",
    "files",
    "outputs",
];

/// A parsed stack path.
#[derive(Debug, PartialEq, Eq)]
enum StackPath {
    /// `/v1/{tenant}/stacks/{name}/{id}{rest}`
    Identified {
        name: String,
        id: String,
        rest: String,
    },
    /// `/v1/{tenant}/stacks/{name_or_id_or_arn}{rest}` (302)
    Lookup { key: String, rest: String },
    /// Not a single-stack path.
    Other,
}

fn decode(s: &str) -> String {
    urlencoding::decode(s)
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| s.to_owned())
}

fn parse(path: &str) -> StackPath {
    let mut segs = path.trim_start_matches('/').splitn(5, '/');
    let (Some("v1"), Some(_tenant), Some("stacks"), Some(first)) =
        (segs.next(), segs.next(), segs.next(), segs.next())
    else {
        return StackPath::Other;
    };
    if first.is_empty() || first == "detail" || first == "preview" || first == "adopt" {
        return StackPath::Other;
    }
    let tail = segs.next().unwrap_or("");
    let (second, rest) = match tail.split_once('/') {
        Some((a, b)) => (a, format!("/{b}")),
        None => (tail, String::new()),
    };
    if second.is_empty() {
        return StackPath::Lookup {
            key: decode(first),
            rest: String::new(),
        };
    }
    if LOOKUP_PATHS.contains(&second) {
        return StackPath::Lookup {
            key: decode(first),
            rest: format!("/{second}{rest}"),
        };
    }
    StackPath::Identified {
        name: decode(first),
        id: decode(second),
        rest,
    }
}

/// Parses `arn:openstack:heat::{tenant}:stacks/{name}/{id}[/...]` into
/// (tenant, name, id, rest).
pub fn parse_arn(arn: &str) -> Option<(String, String, String, String)> {
    let rest = arn.strip_prefix("arn:openstack:heat::")?;
    let (tenant, path) = rest.split_once(':')?;
    let path = path.strip_prefix("stacks/")?;
    let mut parts = path.splitn(3, '/');
    let name = parts.next().filter(|s| !s.is_empty())?;
    let id = parts.next().filter(|s| !s.is_empty())?;
    let tail = parts.next().map(|t| format!("/{t}")).unwrap_or_default();
    Some((decode(tenant), decode(name), decode(id), tail))
}

fn looks_like_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Heat's JSON fault for a stack that is not found (404).
pub fn not_found(name: &str) -> Response<Body> {
    heat_fault(
        StatusCode::NOT_FOUND,
        "EntityNotFound",
        &format!("The Stack ({name}) could not be found."),
    )
}

fn unavailable(e: &LookupError) -> Response<Body> {
    tracing::error!(error = %e, "stack lookup failed");
    heat_fault(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        "The stack store is unavailable.",
    )
}

/// The scheme and host the client used (for redirects that point back at
/// whoever the client reached: this gateway, or a proxy in front of it).
fn origin<B>(req: &Request<B>) -> String {
    let headers = req.headers();
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|h| h.to_str().ok())
        .map(|h| h.split(',').next().unwrap_or(h).trim().to_owned())
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_owned());
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .map(|p| p.split(',').next().unwrap_or(p).trim().to_owned())
        .or_else(|| req.uri().scheme_str().map(str::to_owned))
        .unwrap_or_else(|| "http".to_owned());
    format!("{scheme}://{host}")
}

/// The owner's path of a stack: `/v1/{tenant}/stacks/{name}/{id}`, each part
/// quoted as Heat's identifier does.
pub fn owner_path(stack: &StackRecord) -> String {
    format!(
        "/v1/{}/stacks/{}/{}",
        urlencoding::encode(&stack.tenant),
        urlencoding::encode(&stack.name),
        urlencoding::encode(&stack.id)
    )
}

enum Decision {
    Pass(ResolvedStack),
    Redirect(String),
    NotFound(String),
    Unavailable(LookupError),
}

impl StackLookupLayer {
    async fn decide(&self, path: StackPath, caller: Option<Identity>) -> Option<Decision> {
        let caller = caller?;
        let project = caller.project_id().unwrap_or_default().to_owned();
        let admin = (self.is_admin)(&caller);
        let visible = |s: &StackRecord| {
            if s.tenant == project {
                Some(Via::Owner)
            } else if s.stack_user_project_id.as_deref() == Some(project.as_str()) {
                Some(Via::StackDomain)
            } else if admin {
                Some(Via::Admin)
            } else {
                None
            }
        };
        match path {
            StackPath::Other => None,
            StackPath::Identified { name, id, rest } => {
                let found = match self.directory.by_id(&id).await {
                    Ok(f) => f,
                    Err(e) => return Some(Decision::Unavailable(e)),
                };
                let Some(stack) = found else {
                    return Some(Decision::NotFound(name));
                };
                match visible(&stack) {
                    Some(via) if stack.name == name => {
                        Some(Decision::Pass(ResolvedStack { stack, via, rest }))
                    }
                    _ => Some(Decision::NotFound(name)),
                }
            }
            StackPath::Lookup { key, rest } => {
                let (found, shown) = if let Some((_, name, id, tail)) = parse_arn(&key) {
                    let found = self
                        .directory
                        .by_id(&id)
                        .await
                        .map(|s| s.filter(|s| s.name == name && visible(s).is_some()));
                    let rest = if tail.is_empty() {
                        rest
                    } else {
                        format!("{tail}{rest}")
                    };
                    (found.map(|f| f.map(|s| (s, rest))), name)
                } else if looks_like_uuid(&key) {
                    let found = self
                        .directory
                        .by_id(&key)
                        .await
                        .map(|s| s.filter(|s| visible(s).is_some()));
                    (found.map(|f| f.map(|s| (s, rest))), key.clone())
                } else {
                    let found = self.directory.by_name(&key, &project).await;
                    (found.map(|f| f.map(|s| (s, rest))), key.clone())
                };
                match found {
                    Err(e) => Some(Decision::Unavailable(e)),
                    Ok(None) => Some(Decision::NotFound(shown)),
                    Ok(Some((stack, rest))) => {
                        Some(Decision::Redirect(format!("{}{rest}", owner_path(&stack))))
                    }
                }
            }
        }
    }
}

impl<S, ReqBody> Service<Request<ReqBody>> for StackLookup<S>
where
    S: Service<Request<ReqBody>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let mut inner = crate::take_ready(&mut self.inner);
        let layer = self.layer.clone();
        Box::pin(async move {
            let path = parse(request.uri().path());
            let caller = request.extensions().get::<Identity>().cloned();
            match layer.decide(path, caller).await {
                None => inner.call(request).await,
                Some(Decision::Pass(resolved)) => {
                    request
                        .extensions_mut()
                        .insert(ResolvedProject(resolved.stack.tenant.clone()));
                    request.extensions_mut().insert(resolved);
                    inner.call(request).await
                }
                Some(Decision::NotFound(name)) => Ok(not_found(&name)),
                Some(Decision::Unavailable(e)) => Ok(unavailable(&e)),
                Some(Decision::Redirect(path)) => {
                    let query = request
                        .uri()
                        .query()
                        .map(|q| format!("?{q}"))
                        .unwrap_or_default();
                    let location = format!("{}{path}{query}", origin(&request));
                    let mut r = Response::new(Body::from(format!(
                        "302 Found\n\nThe resource was found at {location}; you should be redirected automatically.\n\n"
                    )));
                    *r.status_mut() = StatusCode::FOUND;
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        r.headers_mut().insert(header::LOCATION, v);
                    }
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=UTF-8"),
                    );
                    Ok(r)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_like_heats_routes() {
        assert_eq!(parse("/v1/p/stacks"), StackPath::Other);
        assert_eq!(parse("/v1/p/stacks/detail"), StackPath::Other);
        assert_eq!(
            parse("/v1/p/stacks/web"),
            StackPath::Lookup {
                key: "web".into(),
                rest: String::new()
            }
        );
        assert_eq!(
            parse("/v1/p/stacks/web/resources"),
            StackPath::Lookup {
                key: "web".into(),
                rest: "/resources".into()
            }
        );
        assert_eq!(
            parse("/v1/p/stacks/web/events/x"),
            StackPath::Lookup {
                key: "web".into(),
                rest: "/events/x".into()
            }
        );
        assert_eq!(
            parse("/v1/p/stacks/web/abc/resources/r%2Fx/metadata"),
            StackPath::Identified {
                name: "web".into(),
                id: "abc".into(),
                rest: "/resources/r%2Fx/metadata".into()
            }
        );
    }

    #[test]
    fn arns_are_parsed_with_their_tail() {
        assert_eq!(
            parse_arn("arn:openstack:heat::p1:stacks/web/abc/resources/h"),
            Some((
                "p1".into(),
                "web".into(),
                "abc".into(),
                "/resources/h".into()
            ))
        );
        assert_eq!(
            parse_arn("arn:openstack:heat::p1:stacks/web/abc"),
            Some(("p1".into(), "web".into(), "abc".into(), String::new()))
        );
        assert_eq!(parse_arn("arn:openstack:heat::p1:stacks/web"), None);
        assert_eq!(parse_arn("arn:aws:heat::p1:stacks/web/abc"), None);
    }

    #[test]
    fn the_owner_path_quotes_each_part() {
        let s = StackRecord {
            id: "i d".into(),
            name: "n".into(),
            tenant: "t".into(),
            stack_user_project_id: None,
            found: None,
        };
        assert_eq!(owner_path(&s), "/v1/t/stacks/n/i%20d");
    }
}
