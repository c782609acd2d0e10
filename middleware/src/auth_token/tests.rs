//! Layer behaviour without Keystone: readiness, refusals that need no call, and
//! an unreachable Keystone. (Against a real Keystone: the workspace's tests/.)

use std::time::Duration;

use axum::body::Body;
use heatgate_keystone::{
    Client, ClientConfig, DomainRef, PasswordAuth, ScopeRequest, Secret, UserRef,
};
use http::{Request, Response, StatusCode};
use tower::{Layer, ServiceExt};
use tower_test::mock;

use super::{AuthTokenConfig, AuthTokenLayer};

fn layer_to_nowhere() -> AuthTokenLayer {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}/v3").parse().unwrap());
    config.http_request_max_retries = 0;
    config.http_connect_timeout = Duration::from_secs(2);
    config.service_auth = Some(PasswordAuth {
        user: UserRef::Name {
            name: "heat".into(),
            domain: DomainRef::default_domain(),
        },
        password: Secret::new("pw"),
        scope: ScopeRequest::ProjectName {
            name: "service".into(),
            domain: DomainRef::default_domain(),
        },
    });
    AuthTokenLayer::new(AuthTokenConfig::default(), Client::new(config).unwrap()).unwrap()
}

#[tokio::test]
async fn readiness_is_the_inner_service_readiness() {
    let (mut service, mut handle) =
        mock::spawn_layer::<Request<Body>, Response<Body>, _>(layer_to_nowhere());
    handle.allow(0);
    assert!(service.poll_ready().is_pending());
    handle.allow(1);
    assert!(matches!(
        service.poll_ready(),
        std::task::Poll::Ready(Ok(()))
    ));
}

#[tokio::test]
async fn no_token_is_refused_without_calling_the_service_or_keystone() {
    let layer = layer_to_nowhere();
    let (mut service, mut handle) =
        mock::spawn_layer::<Request<Body>, Response<Body>, _>(layer.clone());
    handle.allow(1);
    let response = service
        .call(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        handle.poll_request().is_pending(),
        "nothing reached the service"
    );
    assert_eq!(
        layer
            .validator()
            .client()
            .stats()
            .calls
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn delay_auth_decision_forwards_marked_invalid() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(ClientConfig::new(
        format!("http://127.0.0.1:{port}/v3").parse().unwrap(),
    ))
    .unwrap();
    let config = AuthTokenConfig {
        delay_auth_decision: true,
        ..Default::default()
    };
    let (mut service, mut handle) = mock::spawn_layer::<Request<Body>, Response<Body>, _>(
        AuthTokenLayer::new(config, client).unwrap(),
    );
    handle.allow(1);
    assert!(matches!(
        service.poll_ready(),
        std::task::Poll::Ready(Ok(()))
    ));
    let call = tokio::spawn(
        service.call(
            Request::get("/x")
                .header("x-roles", "admin")
                .body(Body::empty())
                .unwrap(),
        ),
    );
    let (request, send) = handle.next_request().await.unwrap();
    assert_eq!(request.headers()["x-identity-status"], "Invalid");
    assert!(!request.headers().contains_key("x-roles"));
    send.send_response(Response::new(Body::empty()));
    assert_eq!(call.await.unwrap().unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn unreachable_keystone_is_503_never_admitted() {
    let svc = layer_to_nowhere().layer(tower::service_fn(|_: Request<Body>| async {
        panic!("admitted while Keystone was unreachable");
        #[allow(unreachable_code)]
        Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
    }));
    let response = svc
        .oneshot(
            Request::get("/")
                .header("x-auth-token", "gAAAAABtoken")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}
