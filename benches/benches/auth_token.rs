//! Criterion benches of the auth_token layer, in-process (tower `oneshot`),
//! against a real Keystone (`heatgate_tests::Keystone::shared()`: the instance
//! named by `HEATGATE_TEST_KEYSTONE`, or one started through `scripts/keystone`).
//!
//! - `auth_token/cached_token_200`: a request with a warm (cached) demo token
//!   through the layer to a `service_fn` answering 200. Target: < 5 µs.
//! - `auth_token/no_token_401`: a request without a token, refused by the layer
//!   (no cache lookup, no Keystone call).
//! - `auth_token/without_layer_200`: the same request straight to the inner
//!   service: what the layer's figures include that is not the layer.
//! - `strip_spoofable/*`: removing the identity headers a caller could spoof,
//!   from typical request headers (none to remove) and from a spoofed request.
//!
//! Requests are built outside the timed part (`iter_batched`); dropping the
//! response is inside it. After the runs, the bench checks that no request
//! reached Keystone (the cached path stayed cached).
//!
//! ```text
//! cargo bench -p heatgate-benches --bench auth_token
//! ```

use std::convert::Infallible;
use std::sync::atomic::Ordering;

use axum::body::Body;
use criterion::{criterion_main, BatchSize, Criterion};
use heatgate_keystone::Client;
use heatgate_middleware::auth_token::{strip_spoofable, AuthTokenConfig, AuthTokenLayer};
use heatgate_tests::Keystone;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service, ServiceExt};

/// The headers python-heatclient sends with a stack list, plus `token`.
fn request(token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/v1/8d2b5c7e0a4f4a7e9b6c1d2e3f405162/stacks?limit=20")
        .header("host", "127.0.0.1:8004")
        .header("user-agent", "python-heatclient")
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .header("accept-encoding", "gzip, deflate")
        .header("connection", "keep-alive");
    if let Some(token) = token {
        builder = builder.header("x-auth-token", token);
    }
    builder.body(Body::empty()).expect("a valid request")
}

/// The inner service: 200 with an empty body.
fn ok_service(
) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send> + Clone
{
    tower::service_fn(|_request: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn auth_token(c: &mut Criterion) {
    let rt = runtime();
    let keystone = Keystone::shared();
    let token = rt.block_on(keystone.token(&keystone.fixtures.demo.project_auth()));
    let token = token.expose().to_owned();
    let client = Client::new(keystone.service_client_config()).expect("a Keystone client");
    let layer = AuthTokenLayer::new(AuthTokenConfig::default(), client).expect("the layer");
    let service = layer.layer(ok_service());

    // Warm the cache: the one and only Keystone validation of this bench.
    let warm = rt
        .block_on(service.clone().oneshot(request(Some(&token))))
        .expect("infallible");
    assert_eq!(
        warm.status(),
        StatusCode::OK,
        "the demo token must be valid"
    );
    let stats = layer.validator().stats();
    let misses = stats.misses.load(Ordering::Relaxed);
    assert_eq!(misses, 1, "one validation to warm the cache");

    let mut group = c.benchmark_group("auth_token");
    group.bench_function("cached_token_200", |b| {
        b.to_async(&rt).iter_batched(
            || request(Some(&token)),
            |req| {
                let service = service.clone();
                async move {
                    let response = service.oneshot(req).await.expect("infallible");
                    debug_assert_eq!(response.status(), StatusCode::OK);
                    response
                }
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("no_token_401", |b| {
        b.to_async(&rt).iter_batched(
            || request(None),
            |req| {
                let service = service.clone();
                async move {
                    let response = service.oneshot(req).await.expect("infallible");
                    debug_assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                    response
                }
            },
            BatchSize::SmallInput,
        );
    });
    let bare = ok_service();
    group.bench_function("without_layer_200", |b| {
        b.to_async(&rt).iter_batched(
            || request(Some(&token)),
            |req| bare.clone().oneshot(req),
            BatchSize::SmallInput,
        );
    });
    group.finish();

    // The checks that make the figures mean what they say.
    let cached = rt
        .block_on(service.clone().oneshot(request(Some(&token))))
        .expect("infallible");
    assert_eq!(cached.status(), StatusCode::OK);
    let refused = rt
        .block_on(service.clone().oneshot(request(None)))
        .expect("infallible");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        stats.misses.load(Ordering::Relaxed),
        misses,
        "a benched request reached Keystone: the cached path was not cached"
    );
}

fn strip(c: &mut Criterion) {
    let typical = request(Some("gAAAAABtoken")).headers().clone();
    let mut spoofed = typical.clone();
    for (name, value) in [
        ("x-roles", "admin"),
        ("x-user-id", "someone-else"),
        ("x-project-id", "another-project"),
        ("x-identity-status", "Confirmed"),
        ("x-is-admin-project", "True"),
        ("openstack-system-scope", "all"),
    ] {
        spoofed.append(name, HeaderValue::from_static(value));
    }
    let mut group = c.benchmark_group("strip_spoofable");
    for (name, headers) in [("typical_headers", &typical), ("spoofed_headers", &spoofed)] {
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || headers.clone(),
                |h: &mut HeaderMap| strip_spoofable(h),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
    let mut check = spoofed.clone();
    strip_spoofable(&mut check);
    assert_eq!(
        check, typical,
        "strip_spoofable must remove exactly the spoofed headers"
    );
}

/// Every bench of this file (what `criterion_group!` would write, documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    auth_token(&mut c);
    strip(&mut c);
}

criterion_main!(benches);
