//! Observability of the listeners: request ids, logs, Prometheus metrics and
//! the health check.
//!
//! - every listener is wrapped by [`observe`]: oslo's `x-openstack-request-id`
//!   and a tracing span per request (outermost), then the request metrics and
//!   one log line per answered request;
//! - [`logging`]: `[gateway] log_format` (`text` or `json`), filtered by `RUST_LOG`;
//! - [`metrics`]: the process's metrics in Prometheus' text format, served on
//!   `[gateway] metrics_listen`;
//! - [`health`]: `/healthcheck` as oslo.middleware's, answered without
//!   authentication on the REST listener and on the metrics listener.

pub mod health;
pub mod logging;
pub mod metrics;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use heatgate_middleware::request_id::{SetRequestId, SetRequestIdLayer};

pub use health::{Health, HealthFront};
pub use metrics::{registry, HttpMetrics, Registry};

/// The label requests are counted under when they reached no route.
pub const UNMATCHED: &str = "unmatched";

/// The route a request reached, as a metric label: an axum route template
/// (never the path itself, which carries ids) or a fixed name. Set on the
/// response by [`label_routes`] (or by a service itself); a response without
/// one counts under its listener's unlabelled name (see
/// [`HttpMetricsLayer::unlabelled_as`](metrics::HttpMetricsLayer::unlabelled_as)).
#[derive(Debug, Clone)]
pub enum Route {
    /// An axum route template (`/v1/{tenant}/stacks`).
    Template(MatchedPath),
    /// A fixed name.
    Fixed(&'static str),
}

impl Route {
    /// The label.
    pub fn as_str(&self) -> &str {
        match self {
            Route::Template(path) => path.as_str(),
            Route::Fixed(name) => name,
        }
    }
}

/// Wraps `app` (one listener) with the request id layer (outermost) and the
/// request metrics and access log of `listener`.
pub fn observe(app: Router, listener: &'static str) -> Router {
    Router::new().fallback_service(observed(app, listener))
}

/// [`observe`] as a plain service around any service (a router: around the
/// whole of it, not through `Router::layer`, which wraps each route and the
/// fallback in a boxed service of its own, cloned with everything inside it
/// for every request).
pub fn observed<S>(app: S, listener: &'static str) -> SetRequestId<HttpMetrics<S>> {
    observed_as(app, listener, UNMATCHED)
}

/// [`observed`], counting a response without a [`Route`] label under
/// `unlabelled` (see [`HttpMetricsLayer::unlabelled_as`](metrics::HttpMetricsLayer::unlabelled_as)).
pub fn observed_as<S>(
    app: S,
    listener: &'static str,
    unlabelled: &'static str,
) -> SetRequestId<HttpMetrics<S>> {
    tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::new())
        .layer(
            metrics::HttpMetricsLayer::new(registry().listener(listener)).unlabelled_as(unlabelled),
        )
        .service(app)
}

/// The metrics listener's service: `/metrics` and `/healthcheck`.
pub fn metrics_app(health: &std::sync::Arc<Health>) -> Router {
    health.in_front_of(label_routes(
        Router::new().route("/metrics", axum::routing::get(metrics::exposition)),
    ))
}

async fn label_matched(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(path) = matched {
        if response.extensions().get::<Route>().is_none() {
            response.extensions_mut().insert(Route::Template(path));
        }
    }
    response
}

/// Labels the responses of `router`'s routes with their templates. Layers
/// added to `router` before this one (authentication) are inside it, so
/// their refusals are labelled too.
pub fn label_routes(router: Router) -> Router {
    if router.has_routes() {
        router.route_layer(axum::middleware::from_fn(label_matched))
    } else {
        router
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use heatgate_middleware::request_id::{RequestId, X_OPENSTACK_REQUEST_ID};
    use http::StatusCode;
    use tower::ServiceExt;

    use super::*;

    async fn route_of(app: Router, path: &str) -> (StatusCode, Option<String>, String) {
        let r = observe(app, "test")
            .oneshot(http::Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let id = r.headers()[X_OPENSTACK_REQUEST_ID]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(RequestId::parse(&id).is_some(), "{id}");
        (
            r.status(),
            r.extensions().get::<Route>().map(|l| l.as_str().to_owned()),
            id,
        )
    }

    #[tokio::test]
    async fn responses_carry_route_templates_never_paths() {
        let app = Router::new().route("/v1/{tenant}/stacks", get(|| async { "ok" }));
        // A refusal added before the labels (as authentication is) is labelled.
        let app = app.layer(axum::middleware::from_fn(
            |request: Request, next: Next| async move {
                if request.uri().path().contains("deny") {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                next.run(request).await
            },
        ));
        let app = label_routes(app);
        let (s, route, _) = route_of(app.clone(), "/v1/p1/stacks").await;
        assert_eq!(
            (s, route.as_deref()),
            (StatusCode::OK, Some("/v1/{tenant}/stacks"))
        );
        let (s, route, _) = route_of(app.clone(), "/v1/deny/stacks").await;
        assert_eq!(
            (s, route.as_deref()),
            (StatusCode::UNAUTHORIZED, Some("/v1/{tenant}/stacks"))
        );
        let (s, route, _) = route_of(app, "/v1/p1/nothing").await;
        assert_eq!((s, route), (StatusCode::NOT_FOUND, None));

        // A proxy's listener counts its unlabelled responses as `upstream`.
        let proxied = observed_as(
            Router::new().fallback(|| async { "forwarded" }),
            "proxied",
            "upstream",
        );
        let r = proxied
            .oneshot(
                http::Request::get("/anything/42")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let text = registry().render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("heatgate_http_requests_total{")
                    && l.contains(r#"listener="proxied""#)
                    && l.contains(r#"route="upstream""#)
                    && l.ends_with(" 1")),
            "{text}"
        );
    }
}
