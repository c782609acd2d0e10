use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use heatgate_keystone::Secret;
use http::{Request, Response, StatusCode};
use time::OffsetDateTime;
use tower::{service_fn, Layer, ServiceExt};

use super::sign::assertion_for;
use super::*;
use crate::context::{AuthMethod, Identity, IdentityData, Scope, TrustInfo};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-shared";

fn key() -> AssertionKey {
    AssertionKey::new(KEY).unwrap()
}

fn identity(method: AuthMethod) -> Identity {
    let data = IdentityData {
        user_id: "u1".into(),
        user_name: Some("demo".into()),
        user_domain_id: Some("default".into()),
        user_domain_name: Some("Default".into()),
        scope: Scope::Project {
            id: "p1".into(),
            name: Some("demo".into()),
            domain_id: Some("default".into()),
            domain_name: Some("Default".into()),
        },
        roles: vec!["member".into(), "reader".into()],
        is_admin_project: false,
        trust: Some(TrustInfo {
            id: Secret::new("t1"),
            trustor_user_id: Some("u0".into()),
            trustee_user_id: Some("u1".into()),
            impersonation: true,
        }),
        expires_at: OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap(),
        audit_ids: vec!["a1".into()],
        methods: vec!["password".into()],
        application_credential_id: None,
    };
    Identity::new(Arc::new(data), Secret::new("the-token"), method)
}

/// What the engine's handler saw: the identity and the headers it got.
#[derive(Debug, Clone, Default)]
struct Seen {
    identity: Option<Identity>,
    ec2: Option<String>,
    auth_key: Option<String>,
}

async fn engine_sees(request: Request<Body>) -> (StatusCode, Seen) {
    let (tx, rx) = std::sync::mpsc::channel();
    let handler = service_fn(move |r: Request<Body>| {
        let tx = tx.clone();
        async move {
            let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
            let _ = tx.send(Seen {
                identity: r.extensions().get::<Identity>().cloned(),
                ec2: header("x-auth-ec2-creds"),
                auth_key: header("x-auth-key"),
            });
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        }
    });
    let response = VerifyAssertionLayer::new(key())
        .layer(handler)
        .oneshot(request)
        .await
        .unwrap();
    (response.status(), rx.try_recv().unwrap_or_default())
}

/// The request as the gateway forwards it: through SignAssertion.
async fn forwarded(request: Request<Body>) -> Request<Body> {
    let capture =
        service_fn(|r: Request<Body>| async move { Ok::<_, std::convert::Infallible>(r) });
    SignAssertionLayer::new(key())
        .layer(capture)
        .oneshot(request)
        .await
        .unwrap()
}

fn with_identity(uri: &str, identity: Identity) -> Request<Body> {
    let mut r = Request::get(uri)
        .header("x-auth-token", identity.auth_token.expose())
        .body(Body::empty())
        .unwrap();
    r.extensions_mut().insert(identity);
    r
}

#[tokio::test]
async fn the_engine_gets_the_same_identity_back() {
    let sent = identity(AuthMethod::Token);
    let request = forwarded(with_identity("/v1/p1/stacks?limit=2", sent.clone())).await;
    let (status, seen) = engine_sees(request).await;
    assert_eq!(status, StatusCode::OK);
    let got = seen.identity.expect("identity in the extensions");
    assert_eq!(**got.data(), **sent.data());
    assert_eq!(got.auth_token.expose(), "the-token");
    assert_eq!(got.method, AuthMethod::Token);
}

#[tokio::test]
async fn no_assertion_is_refused_even_with_identity_headers() {
    let request = Request::get("/v1/p1/stacks")
        .header("x-user-id", "admin")
        .header("x-roles", "admin")
        .header("x-auth-token", "the-token")
        .body(Body::empty())
        .unwrap();
    let (status, seen) = engine_sees(request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(seen.identity.is_none());
}

#[tokio::test]
async fn a_refusal_says_why_in_json() {
    let response = VerifyAssertionLayer::new(key())
        .layer(service_fn(|_r: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        }))
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], 401);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no identity assertion"));
}

#[tokio::test]
async fn another_key_another_path_another_token_or_expired_are_refused() {
    let good = identity(AuthMethod::Token);
    let base = with_identity("/v1/p1/stacks", good.clone());

    // Signed with another key.
    let other = AssertionKey::new(b"another key, also long enough, 32 bytes").unwrap();
    let signed = assertion_for(
        &base,
        &other,
        Duration::from_secs(30),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    let mut r = with_identity("/v1/p1/stacks", good.clone());
    r.headers_mut()
        .insert(ASSERTION_HEADER, signed.parse().unwrap());
    assert_eq!(engine_sees(r).await.0, StatusCode::UNAUTHORIZED);

    // Issued for another path (or query), or another method.
    let signed = assertion_for(
        &base,
        &key(),
        Duration::from_secs(30),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    for (method, uri) in [
        ("GET", "/v1/p2/stacks"),
        ("GET", "/v1/p1/stacks?x=1"),
        ("DELETE", "/v1/p1/stacks"),
    ] {
        let mut r = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-auth-token", "the-token")
            .header(ASSERTION_HEADER, signed.as_str())
            .body(Body::empty())
            .unwrap();
        r.extensions_mut().insert(good.clone());
        let (status, seen) = engine_sees(r).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert!(seen.identity.is_none());
    }

    // Forwarded with another token, or none.
    for token in [Some("someone-elses-token"), None] {
        let mut b = Request::get("/v1/p1/stacks").header(ASSERTION_HEADER, signed.as_str());
        if let Some(t) = token {
            b = b.header("x-auth-token", t);
        }
        assert_eq!(
            engine_sees(b.body(Body::empty()).unwrap()).await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    // Expired a minute ago.
    let old = OffsetDateTime::now_utc() - time::Duration::seconds(90);
    let signed = assertion_for(&base, &key(), Duration::from_secs(30), old).unwrap();
    let r = Request::get("/v1/p1/stacks")
        .header("x-auth-token", "the-token")
        .header(ASSERTION_HEADER, signed.as_str())
        .body(Body::empty())
        .unwrap();
    assert_eq!(engine_sees(r).await.0, StatusCode::UNAUTHORIZED);

    // Garbage and an unsigned (alg none) token.
    let unsigned = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = signed.split('.').nth(1).unwrap();
        format!(
            "{}.{payload}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#)
        )
    };
    for bad in ["garbage", "a.b.c", unsigned.as_str()] {
        let r = Request::get("/v1/p1/stacks")
            .header("x-auth-token", "the-token")
            .header(ASSERTION_HEADER, bad)
            .body(Body::empty())
            .unwrap();
        assert_eq!(engine_sees(r).await.0, StatusCode::UNAUTHORIZED, "{bad}");
    }
}

#[tokio::test]
async fn an_assertion_from_the_network_is_replaced_by_the_gateway() {
    // A client sends an assertion it made up; the gateway signs its own.
    let other = AssertionKey::new(b"another key, also long enough, 32 bytes").unwrap();
    let mut spoof = with_identity("/v1/p1/stacks", identity(AuthMethod::Token));
    let forged = assertion_for(
        &spoof,
        &other,
        Duration::from_secs(30),
        OffsetDateTime::now_utc(),
    )
    .unwrap();
    spoof
        .headers_mut()
        .insert(ASSERTION_HEADER, forged.parse().unwrap());
    let request = forwarded(spoof).await;
    assert_ne!(request.headers()[ASSERTION_HEADER], forged.as_str());
    assert!(request.headers()[ASSERTION_HEADER].is_sensitive());
    assert_eq!(engine_sees(request).await.0, StatusCode::OK);
}

#[tokio::test]
async fn anonymous_requests_pass_without_identity() {
    let request = forwarded(
        Request::get("/")
            .header("x-auth-key", "pw")
            .header("x-auth-ec2-creds", r#"{"access":"k"}"#)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let (status, seen) = engine_sees(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(seen.identity.is_none());
    assert!(seen.auth_key.is_none() && seen.ec2.is_none());
}

#[tokio::test]
async fn ec2_access_and_the_password_are_vouched_for() {
    // An EC2-signed request: the access key travels in the claims.
    let mut r = with_identity(
        "/v1/?Action=ListStacks",
        identity(AuthMethod::Ec2Signature).with_ec2_access("AKIA1"),
    );
    r.headers_mut().insert(
        "x-auth-ec2-creds",
        r#"{"ec2Credentials": {"access": "AKIA1", "signature": "s"}}"#
            .parse()
            .unwrap(),
    );
    let (status, seen) = engine_sees(forwarded(r).await).await;
    assert_eq!(status, StatusCode::OK);
    // In the typed identity, never as a header.
    assert!(seen.ec2.is_none());
    let seen_identity = seen.identity.unwrap();
    assert_eq!(seen_identity.ec2_access(), Some("AKIA1"));
    assert_eq!(seen_identity.method, AuthMethod::Ec2Signature);

    // Standalone mode: the password reaches the engine only as signed.
    let mut r = with_identity("/v1/p1/stacks", identity(AuthMethod::Password));
    r.headers_mut().insert("x-auth-key", "pw".parse().unwrap());
    let mut request = forwarded(r).await;
    let (_, seen) = engine_sees(clone_request(&request)).await;
    assert_eq!(seen.auth_key.as_deref(), Some("pw"));
    // Swapped on the way: dropped, not trusted.
    request
        .headers_mut()
        .insert("x-auth-key", "other".parse().unwrap());
    let (status, seen) = engine_sees(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(seen.auth_key.is_none());

    // A token request cannot smuggle EC2 credentials in.
    let mut r = with_identity("/v1/p1/stacks", identity(AuthMethod::Token));
    r.headers_mut()
        .insert("x-auth-ec2-creds", r#"{"access":"AKIA1"}"#.parse().unwrap());
    let request = forwarded(r).await;
    let mut tampered = clone_request(&request);
    tampered
        .headers_mut()
        .insert("x-auth-ec2-creds", r#"{"access":"AKIA2"}"#.parse().unwrap());
    let (_, seen) = engine_sees(tampered).await;
    assert!(seen.ec2.is_none());
    assert_eq!(seen.identity.unwrap().ec2_access(), None);
}

fn clone_request(r: &Request<Body>) -> Request<Body> {
    let mut c = Request::builder()
        .method(r.method())
        .uri(r.uri())
        .body(Body::empty())
        .unwrap();
    *c.headers_mut() = r.headers().clone();
    c
}

#[test]
fn short_keys_are_refused_and_keys_do_not_print() {
    assert_eq!(AssertionKey::new(b"short").unwrap_err(), KeyTooShort);
    assert_eq!(format!("{:?}", key()), "AssertionKey(<redacted>)");
}

#[tokio::test]
async fn readiness_is_the_inner_services() {
    let (mut service, mut handle) = tower_test::mock::spawn_layer::<Request<Body>, Response<Body>, _>(
        VerifyAssertionLayer::new(key()),
    );
    handle.allow(0);
    assert!(service.poll_ready().is_pending());
    handle.allow(1);
    assert!(service.poll_ready().is_ready());
}
