//! auth_token + policy composed in an axum router, with real Keystone tokens and
//! Heat's modern defaults: what a team adding heatgate to its service gets.

use std::sync::Arc;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use heatgate_keystone::{Client, DomainRef, ScopeRequest};
use heatgate_middleware::auth_token::{AuthTokenConfig, AuthTokenLayer};
use heatgate_middleware::context::Identity;
use heatgate_middleware::policy::PolicyLayer;
use heatgate_policy::heat::{self, Profile};
use heatgate_tests::Keystone;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn app(keystone: &Keystone) -> Router {
    let enforcer = Arc::new(heat::enforcer(Profile::Modern, true));
    let auth = AuthTokenLayer::new(
        AuthTokenConfig::default(),
        Client::new(keystone.service_client_config()).unwrap(),
    )
    .unwrap();
    Router::new()
        .route(
            "/v1/{tenant}/stacks",
            get(|id: Identity| async move { format!("stacks of {}", id.project_id().unwrap_or("?")) })
                .post(|| async { "created" })
                .route_layer(PolicyLayer::rest(enforcer.clone(), "stacks:index")),
        )
        .route(
            "/v1/{tenant}/services",
            get(|| async { "services" }).route_layer(PolicyLayer::rest(enforcer.clone(), "service:index")),
        )
        .layer(auth)
}

async fn get_status(app: &Router, path: &str, token: &str) -> (StatusCode, String) {
    let r = app
        .clone()
        .oneshot(
            Request::get(path)
                .header("x-auth-token", token)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = r.status();
    (
        status,
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn members_readers_strangers_and_admins() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    let app = app(keystone);
    let demo_project = f.demo.project_id.clone().unwrap();
    let demo = keystone.token(&f.demo.project_auth()).await;
    let alt = keystone.token(&f.alt_demo.project_auth()).await;
    let admin = keystone
        .token(&f.admin.auth(ScopeRequest::ProjectName {
            name: "admin".into(),
            domain: DomainRef::default_domain(),
        }))
        .await;

    let (s, body) = get_status(&app, &format!("/v1/{demo_project}/stacks"), demo.expose()).await;
    assert_eq!(
        (s, body),
        (StatusCode::OK, format!("stacks of {demo_project}"))
    );

    // Another project's user: Heat's tenant check refuses first.
    let (s, body) = get_status(&app, &format!("/v1/{demo_project}/stacks"), alt.expose()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains(r#""type": "HTTPForbidden""#), "{body}");

    // service:index is for admins of the URL's project only.
    let (s, body) = get_status(&app, &format!("/v1/{demo_project}/services"), demo.expose()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        body.contains("You are not authorized to use service:index."),
        "{body}"
    );
    let admin_project = f.admin.project_id.clone().unwrap();
    let (s, _) = get_status(
        &app,
        &format!("/v1/{admin_project}/services"),
        admin.expose(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // No token: auth_token answers before policy.
    let r = app
        .clone()
        .oneshot(
            Request::get(format!("/v1/{demo_project}/stacks"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
