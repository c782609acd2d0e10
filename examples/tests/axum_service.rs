//! The example service's router against a real Keystone: no token, a member of
//! the demo project, a token without the role the policy needs.

use heatgate_examples::{router, POLICY};
use heatgate_keystone::{Client, PasswordAuth, ScopeRequest, Secret, UserRef};
use heatgate_policy::{Enforcer, RuleSet};
use heatgate_tests::Keystone;
use http::Method;
use serde_json::json;

/// keystonemiddleware 13's 401 body, byte for byte.
const UNAUTHORIZED_BODY: &str = r#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#;

/// Serves the example's router (inline policy) on a free loopback port.
async fn serve(keystone: &Keystone) -> String {
    let client = Client::new(keystone.service_client_config()).unwrap();
    let rules = RuleSet::new().with_file_text("inline", POLICY).unwrap();
    let app = router(client, std::sync::Arc::new(Enforcer::new(rules))).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// GET `url` with `token` (if any): status, WWW-Authenticate, body.
async fn get(url: &str, token: Option<&Secret>) -> (u16, Option<String>, String) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("X-Auth-Token", token.expose());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let www = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, www, response.text().await.unwrap())
}

/// A user of its own with only `reader` on the demo project (the fixtures'
/// project members all have `member`): its token, and the user id to delete.
async fn reader_only(keystone: &Keystone) -> (Secret, String) {
    let f = &keystone.fixtures;
    let project = f.demo.project_id.clone().unwrap();
    let password = format!("pw-{}", std::process::id());
    let (status, user) = keystone
        .admin_json(
            Method::POST,
            "users",
            Some(json!({"user": {
                "name": format!("example-reader-{}", std::process::id()),
                "domain_id": "default", "password": password, "enabled": true}})),
        )
        .await;
    assert_eq!(status, 201, "user creation refused: {user}");
    let user_id = user["user"]["id"].as_str().unwrap().to_owned();
    let grant = format!(
        "projects/{project}/users/{user_id}/roles/{}",
        f.roles["reader"]
    );
    let (status, _) = keystone.admin_json(Method::PUT, &grant, None).await;
    assert_eq!(status, 204, "role grant refused");
    let auth = PasswordAuth {
        user: UserRef::Id(user_id.clone()),
        password: Secret::new(password),
        scope: ScopeRequest::ProjectId(project),
    };
    (keystone.token(&auth).await, user_id)
}

#[tokio::test]
async fn example_router_answers_401_200_and_403() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    let base = serve(keystone).await;
    let demo_project = f.demo.project_id.clone().unwrap();
    let whoami = format!("{base}/v1/{demo_project}/whoami");

    // No token: keystonemiddleware's 401, pointing at Keystone.
    let (status, www, body) = get(&whoami, None).await;
    assert_eq!(status, 401);
    assert_eq!(body, UNAUTHORIZED_BODY);
    let www = www.expect("a 401 carries WWW-Authenticate");
    assert!(www.starts_with("Keystone uri=\""), "{www}");

    // A garbage token: 401 as well.
    let (status, _, body) = get(&whoami, Some(&Secret::new("not-a-token"))).await;
    assert_eq!((status, body.as_str()), (401, UNAUTHORIZED_BODY));

    // A member of the demo project: its own user id, from the extractor.
    let demo = keystone.token(&f.demo.project_auth()).await;
    let (status, _, body) = get(&whoami, Some(&demo)).await;
    assert_eq!((status, body.as_str()), (200, f.demo.user_id.as_str()));

    // The same token on another project's path: Heat's tenant check refuses.
    let alt_project = f.alt_demo.project_id.clone().unwrap();
    let (status, _, body) = get(&format!("{base}/v1/{alt_project}/whoami"), Some(&demo)).await;
    assert_eq!(status, 403, "{body}");

    // A token of the demo project without `member`: the rule refuses.
    let (reader, reader_id) = reader_only(keystone).await;
    let answer = get(&whoami, Some(&reader)).await;
    let (deleted, _) = keystone
        .admin_json(Method::DELETE, &format!("users/{reader_id}"), None)
        .await;
    let (status, _, body) = answer;
    assert_eq!(status, 403, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["error"]["message"],
        "You are not authorized to use example:whoami."
    );
    assert_eq!(deleted, 204, "the reader-only user could not be deleted");
}
