//! auth_token with Keystone's JWS token provider.

use std::convert::Infallible;

use axum::body::Body;
use heatgate_keystone::Client;
use heatgate_middleware::auth_token::{AuthTokenConfig, AuthTokenLayer};
use heatgate_tests::Keystone;
use http::{Request, Response, StatusCode};
use tower::{Layer, ServiceExt};

async fn send(layer: &AuthTokenLayer, token: &str) -> StatusCode {
    let svc = layer.layer(tower::service_fn(|_r: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    }));
    svc.oneshot(
        Request::get("/")
            .header("x-auth-token", token)
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap()
    .status()
}

#[tokio::test]
async fn jws_tokens_validate_and_forgeries_never_reach_keystone() {
    let keystone = Keystone::private("jws", &["--provider", "jws"]);
    let token = keystone.token(&keystone.fixtures.demo.project_auth()).await;
    assert_eq!(token.expose().split('.').count(), 3, "a JWS token");

    // Without the keys: Keystone decides.
    let plain = AuthTokenLayer::new(
        AuthTokenConfig::default(),
        Client::new(keystone.service_client_config()).unwrap(),
    )
    .unwrap();
    assert_eq!(send(&plain, token.expose()).await, StatusCode::OK);

    // With the public keys: forgeries are refused locally.
    let config = AuthTokenConfig {
        jws_public_key_repository: Some(keystone.dir.join("jws").join("public")),
        ..Default::default()
    };
    let layer = AuthTokenLayer::new(
        config,
        Client::new(keystone.service_client_config()).unwrap(),
    )
    .unwrap();
    assert_eq!(send(&layer, token.expose()).await, StatusCode::OK);
    let (signed, signature) = token.expose().rsplit_once('.').unwrap();
    let mut bad_sig = signature.as_bytes().to_vec();
    bad_sig[5] = if bad_sig[5] == b'A' { b'B' } else { b'A' };
    let forged = format!("{signed}.{}", String::from_utf8(bad_sig).unwrap());
    let (header, rest) = token.expose().split_once('.').unwrap();
    let _ = header;
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{rest}");
    let before = layer
        .validator()
        .client()
        .stats()
        .validations
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(send(&layer, &forged).await, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&layer, &unsigned).await, StatusCode::UNAUTHORIZED);
    let after = layer
        .validator()
        .client()
        .stats()
        .validations
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after, before, "forgeries were sent to Keystone");
    assert_eq!(
        layer
            .validator()
            .stats()
            .refused_locally
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );

    // Revocation still lives in Keystone: a well-signed revoked token is refused by Keystone.
    let second = keystone.token(&keystone.fixtures.demo.project_auth()).await;
    keystone.revoke(&second).await;
    assert_eq!(
        send(&layer, second.expose()).await,
        StatusCode::UNAUTHORIZED
    );
}
