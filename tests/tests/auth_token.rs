//! auth_token against a real Keystone: every answer the contract names.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use heatgate_keystone::{Client, ClientConfig, DomainRef, ScopeRequest, Secret};
use heatgate_middleware::auth_token::{AuthTokenConfig, AuthTokenLayer};
use heatgate_middleware::context::{AuthStatus, Identity, Scope, ServiceIdentity};
use heatgate_tests::faults::{self, Garble};
use heatgate_tests::{logs, Keystone};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, ServiceExt};

const UNAUTHORIZED_BODY: &str = r#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#;

/// What the service behind the layer saw.
#[derive(Debug, Clone, Default)]
struct Seen {
    headers: HeaderMap,
    identity: Option<Identity>,
    service: Option<ServiceIdentity>,
    status: Option<AuthStatus>,
}

type Inbox = Arc<std::sync::Mutex<Option<Seen>>>;

fn inner(
    inbox: Inbox,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    tower::service_fn(move |req: Request<Body>| {
        let inbox = inbox.clone();
        async move {
            let status = req
                .headers()
                .get("x-test-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.parse().ok());
            *inbox.lock().unwrap() = Some(Seen {
                headers: req.headers().clone(),
                identity: req.extensions().get::<Identity>().cloned(),
                service: req.extensions().get::<ServiceIdentity>().cloned(),
                status: req.extensions().get::<AuthStatus>().copied(),
            });
            let mut r = Response::new(Body::from("ok"));
            if let Some(s) = status {
                *r.status_mut() = StatusCode::from_u16(s).unwrap();
            }
            Ok::<_, Infallible>(r)
        }
    })
}

struct Harness {
    layer: AuthTokenLayer,
    inbox: Inbox,
}

impl Harness {
    fn new(keystone: &Keystone, config: AuthTokenConfig) -> Harness {
        Self::with_client(keystone.service_client_config(), config)
    }

    fn with_client(client: ClientConfig, config: AuthTokenConfig) -> Harness {
        logs::capture();
        let client = Client::new(client).unwrap();
        Harness {
            layer: AuthTokenLayer::new(config, client).unwrap(),
            inbox: Inbox::default(),
        }
    }

    async fn send(&self, request: Request<Body>) -> (Response<Body>, Option<Seen>) {
        *self.inbox.lock().unwrap() = None;
        let svc = self.layer.layer(inner(self.inbox.clone()));
        let response = svc.oneshot(request).await.unwrap();
        let seen = self.inbox.lock().unwrap().take();
        (response, seen)
    }

    async fn with_token(&self, token: &str) -> (Response<Body>, Option<Seen>) {
        self.send(
            Request::get("/v1/x")
                .header("x-auth-token", token)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }
}

async fn body_text(r: Response<Body>) -> String {
    String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

fn sorted_roles(seen: &Seen) -> Vec<String> {
    let mut roles: Vec<String> = header(seen, "x-roles")
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    roles.sort();
    roles
}

fn header<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).map(|v| v.to_str().unwrap())
}

async fn demo_token(keystone: &Keystone) -> Secret {
    keystone.token(&keystone.fixtures.demo.project_auth()).await
}

async fn assert_unauthorized(r: Response<Body>, keystone: &Keystone) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=UTF-8"
    );
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        format!("Keystone uri=\"{}\"", keystone.auth_url())
    );
    assert_eq!(body_text(r).await, UNAUTHORIZED_BODY);
}

#[tokio::test]
async fn a_project_token_is_confirmed_with_every_header_and_the_identity() {
    let keystone = Keystone::shared();
    let h = Harness::new(keystone, AuthTokenConfig::default());
    let token = demo_token(keystone).await;
    let (r, seen) = h.with_token(token.expose()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = seen.expect("reached the service");
    let demo = &keystone.fixtures.demo;
    assert_eq!(header(&seen, "x-identity-status"), Some("Confirmed"));
    assert_eq!(header(&seen, "x-user-id"), Some(demo.user_id.as_str()));
    assert_eq!(header(&seen, "x-user-name"), Some("demo"));
    assert_eq!(header(&seen, "x-user-domain-id"), Some("default"));
    assert_eq!(header(&seen, "x-user-domain-name"), Some("Default"));
    assert_eq!(header(&seen, "x-project-id"), demo.project_id.as_deref());
    assert_eq!(header(&seen, "x-project-name"), Some("demo"));
    assert_eq!(header(&seen, "x-project-domain-id"), Some("default"));
    assert_eq!(header(&seen, "x-project-domain-name"), Some("Default"));
    assert_eq!(header(&seen, "x-tenant-id"), demo.project_id.as_deref());
    assert_eq!(header(&seen, "x-tenant-name"), Some("demo"));
    assert_eq!(header(&seen, "x-tenant"), Some("demo"));
    assert_eq!(header(&seen, "x-user"), Some("demo"));
    assert_eq!(header(&seen, "x-is-admin-project"), Some("True"));
    assert_eq!(header(&seen, "x-domain-id"), None);
    assert_eq!(header(&seen, "openstack-system-scope"), None);
    let mut roles: Vec<&str> = header(&seen, "x-roles").unwrap().split(',').collect();
    roles.sort();
    assert_eq!(roles, ["member", "reader"]);
    assert_eq!(header(&seen, "x-role"), header(&seen, "x-roles"));
    assert!(header(&seen, "x-service-identity-status").is_none());
    let catalog: serde_json::Value =
        serde_json::from_str(header(&seen, "x-service-catalog").unwrap()).unwrap();
    let identity_service = catalog
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "identity")
        .unwrap();
    assert!(identity_service["endpoints"][0]["publicURL"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let identity = seen.identity.expect("typed identity");
    assert_eq!(identity.user_id, demo.user_id);
    assert_eq!(identity.project_id(), demo.project_id.as_deref());
    assert!(identity.has_role("MEMBER"));
    assert_eq!(identity.auth_token.expose(), token.expose());
    assert!(identity.expires_at > time::OffsetDateTime::now_utc());
    assert!(!identity.audit_ids.is_empty());
    assert_eq!(
        seen.status,
        Some(AuthStatus {
            user_confirmed: true,
            service_confirmed: None
        })
    );
}

#[tokio::test]
async fn garbage_missing_and_empty_tokens_are_401() {
    let keystone = Keystone::shared();
    let h = Harness::new(keystone, AuthTokenConfig::default());
    for token in ["garbage", "gAAAAABnot-a-real-fernet-token", "a.b.c"] {
        let (r, seen) = h.with_token(token).await;
        assert!(seen.is_none(), "{token} reached the service");
        assert_unauthorized(r, keystone).await;
    }
    let (r, seen) = h.send(Request::get("/").body(Body::empty()).unwrap()).await;
    assert!(seen.is_none());
    assert_unauthorized(r, keystone).await;
    let (r, _) = h
        .send(
            Request::get("/")
                .header("x-auth-token", "   ")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_unauthorized(r, keystone).await;
}

#[tokio::test]
async fn x_storage_token_is_the_fallback() {
    let keystone = Keystone::shared();
    let h = Harness::new(keystone, AuthTokenConfig::default());
    let token = demo_token(keystone).await;
    let (r, seen) = h
        .send(
            Request::get("/")
                .header("x-storage-token", format!(" {} ", token.expose()))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&seen.unwrap(), "x-identity-status"),
        Some("Confirmed")
    );
}

#[tokio::test]
async fn domain_and_system_scoped_tokens() {
    let keystone = Keystone::shared();
    let h = Harness::new(keystone, AuthTokenConfig::default());
    let f = &keystone.fixtures;
    let domain_token = keystone
        .token(
            &f.domainadmin
                .auth(ScopeRequest::Domain(DomainRef::Id("default".into()))),
        )
        .await;
    let (r, seen) = h.with_token(domain_token.expose()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = seen.unwrap();
    assert_eq!(header(&seen, "x-domain-id"), Some("default"));
    assert_eq!(header(&seen, "x-domain-name"), Some("Default"));
    assert_eq!(header(&seen, "x-project-id"), None);
    assert_eq!(header(&seen, "x-tenant-id"), None);
    // Keystone expands implied roles: admin -> manager -> member -> reader.
    assert_eq!(
        sorted_roles(&seen),
        ["admin", "manager", "member", "reader"]
    );
    let identity = seen.identity.unwrap();
    assert!(matches!(&identity.scope, Scope::Domain { id, .. } if id == "default"));

    let system_token = keystone
        .token(&f.sysreader.auth(ScopeRequest::System))
        .await;
    let (r, seen) = h.with_token(system_token.expose()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = seen.unwrap();
    assert_eq!(header(&seen, "openstack-system-scope"), Some("all"));
    assert_eq!(header(&seen, "x-project-id"), None);
    assert_eq!(header(&seen, "x-domain-id"), None);
    assert_eq!(header(&seen, "x-roles"), Some("reader"));
    assert!(seen.identity.unwrap().is_system_scoped());
}

#[tokio::test]
async fn a_trust_scoped_token_carries_the_trust() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    // demo (trustor) trusts alt_demo (trustee) with its member role on demo.
    let demo_token = demo_token(keystone).await;
    let url = heatgate_keystone::config::v3_url(&keystone.auth_url(), "OS-TRUST/trusts");
    let r = reqwest::Client::new()
        .post(url)
        .header("X-Auth-Token", demo_token.expose())
        .json(&serde_json::json!({"trust": {
            "trustor_user_id": f.demo.user_id, "trustee_user_id": f.alt_demo.user_id,
            "project_id": f.demo.project_id, "impersonation": true, "roles": [{"name": "member"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let trust: serde_json::Value = r.json().await.unwrap();
    let trust_id = trust["trust"]["id"].as_str().unwrap().to_owned();
    let trust_token = keystone
        .token(
            &f.alt_demo
                .auth(ScopeRequest::Trust(Secret::new(trust_id.clone()))),
        )
        .await;

    let h = Harness::new(keystone, AuthTokenConfig::default());
    let (r, seen) = h.with_token(trust_token.expose()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = seen.unwrap();
    // Impersonation: the token speaks for the trustor.
    assert_eq!(header(&seen, "x-user-id"), Some(f.demo.user_id.as_str()));
    assert_eq!(header(&seen, "x-project-id"), f.demo.project_id.as_deref());
    assert_eq!(
        sorted_roles(&seen),
        ["member", "reader"],
        "the delegated role and what it implies"
    );
    let identity = seen.identity.unwrap();
    let trust = identity.trust.clone().expect("trust info");
    assert_eq!(trust.id.expose(), trust_id);
    assert_eq!(
        trust.trustor_user_id.as_deref(),
        Some(f.demo.user_id.as_str())
    );
    assert_eq!(
        trust.trustee_user_id.as_deref(),
        Some(f.alt_demo.user_id.as_str())
    );
    assert!(trust.impersonation);
    assert!(
        !logs::captured().contains(&trust_id),
        "a trust id was logged"
    );
}

#[tokio::test]
async fn revoked_tokens_are_refused_once_the_cache_lets_go() {
    let keystone = Keystone::shared();
    let token = demo_token(keystone).await;
    let cached = Harness::new(keystone, AuthTokenConfig::default());
    let uncached = Harness::new(
        keystone,
        AuthTokenConfig {
            token_cache_time: -1,
            ..Default::default()
        },
    );
    assert_eq!(
        cached.with_token(token.expose()).await.0.status(),
        StatusCode::OK
    );
    assert_eq!(
        uncached.with_token(token.expose()).await.0.status(),
        StatusCode::OK
    );
    keystone.revoke(&token).await;
    // Without a cache the revocation is seen at once.
    assert_unauthorized(uncached.with_token(token.expose()).await.0, keystone).await;
    // A fresh layer asks Keystone: refused.
    let fresh = Harness::new(keystone, AuthTokenConfig::default());
    assert_unauthorized(fresh.with_token(token.expose()).await.0, keystone).await;
    // The documented trade-off: a cached token works until its cache time ends.
    assert_eq!(
        cached.with_token(token.expose()).await.0.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_tokens_are_refused_even_when_cached() {
    let keystone = Keystone::private("expiry", &["--set", "token.expiration=6"]);
    let h = Harness::new(&keystone, AuthTokenConfig::default());
    let token = keystone.token(&keystone.fixtures.demo.project_auth()).await;
    let (r, seen) = h.with_token(token.expose()).await;
    assert_eq!(r.status(), StatusCode::OK, "fresh token");
    // Sent again and again, as a busy client would: hot on this thread.
    for _ in 0..3 {
        assert_eq!(
            h.with_token(token.expose()).await.0.status(),
            StatusCode::OK
        );
    }
    let expires = seen.unwrap().identity.unwrap().expires_at;
    let wait = (expires - time::OffsetDateTime::now_utc())
        .whole_milliseconds()
        .max(0) as u64
        + 1200;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_unauthorized(h.with_token(token.expose()).await.0, &keystone).await;
    let fresh = Harness::new(&keystone, AuthTokenConfig::default());
    assert_unauthorized(fresh.with_token(token.expose()).await.0, &keystone).await;
}

/// Every header the service saw, by name, values in order.
fn header_set(headers: &HeaderMap) -> std::collections::BTreeMap<String, Vec<Vec<u8>>> {
    let mut set = std::collections::BTreeMap::<String, Vec<Vec<u8>>>::new();
    for (name, value) in headers {
        set.entry(name.as_str().to_owned())
            .or_default()
            .push(value.as_bytes().to_vec());
    }
    set
}

#[tokio::test]
async fn a_token_sent_again_and_again_gets_the_same_answer_every_time() {
    let keystone = Keystone::shared();
    let h = Harness::new(keystone, AuthTokenConfig::default());
    let token = demo_token(keystone).await;
    let request = |spoof: &str| {
        Request::get("/v1/x")
            .header("host", "heat.example.org:8004")
            .header("user-agent", "python-heatclient")
            .header("accept", "application/json")
            .header("accept", "text/plain")
            .header("x-auth-token", token.expose())
            .header("x-roles", spoof)
            .header("x-project-id", spoof)
            .body(Body::empty())
            .unwrap()
    };
    let (r, first) = h.send(request("admin")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let first = first.unwrap();
    let expected = header_set(&first.headers);
    assert_eq!(first.headers.keys().next().unwrap(), "host");
    assert_eq!(
        expected["accept"],
        [b"application/json".to_vec(), b"text/plain".to_vec()]
    );
    let stats = h.layer.validator().stats();
    let hits = stats.hits.load(std::sync::atomic::Ordering::Relaxed);
    // From the second or third time on, the token is hot on this thread.
    for i in 0..10 {
        let (r, seen) = h.send(request(&format!("spoofed-{i}"))).await;
        assert_eq!(r.status(), StatusCode::OK);
        let seen = seen.unwrap();
        assert_eq!(header_set(&seen.headers), expected, "request {i}");
        assert_eq!(seen.headers.keys().next().unwrap(), "host", "Host first");
        assert_eq!(seen.status, first.status);
        let identity = seen.identity.expect("typed identity");
        assert_eq!(identity.auth_token.expose(), token.expose());
        assert!(Arc::ptr_eq(
            identity.data(),
            first.identity.as_ref().unwrap().data()
        ));
    }
    assert_eq!(
        stats.hits.load(std::sync::atomic::Ordering::Relaxed),
        hits + 10
    );
    assert_eq!(stats.misses.load(std::sync::atomic::Ordering::Relaxed), 1);
    // A 401 from the service behind gets WWW-Authenticate, hot token or not.
    let mut refused = request("x");
    refused
        .headers_mut()
        .insert("x-test-status", "401".parse().unwrap());
    let (r, _) = h.send(refused).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        format!("Keystone uri=\"{}\"", keystone.auth_url())
    );
    assert_eq!(
        stats.hits.load(std::sync::atomic::Ordering::Relaxed),
        hits + 11
    );
    // Without Host (HTTP/1.0), none is made up.
    let (_, seen) = h
        .send(
            Request::get("/v1/x")
                .header("x-auth-token", token.expose())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert!(!seen.unwrap().headers.contains_key("host"));
}

const SPOOFABLE: &[&str] = &[
    "X-Service-Catalog",
    "X-Identity-Status",
    "X-Service-Identity-Status",
    "X-Is-Admin-Project",
    "X-Role",
    "X-User",
    "X-Tenant-Id",
    "X-Tenant-Name",
    "X-Tenant",
    "X-Roles",
    "X-Service-Roles",
    "OpenStack-System-Scope",
    "X-Domain-Id",
    "X-Domain-Name",
    "X-Project-Id",
    "X-Project-Name",
    "X-Project-Domain-Id",
    "X-Project-Domain-Name",
    "X-User-Id",
    "X-User-Name",
    "X-User-Domain-Id",
    "X-User-Domain-Name",
    "X-Service-Domain-Id",
    "X-Service-Domain-Name",
    "X-Service-Project-Id",
    "X-Service-Project-Name",
    "X-Service-Project-Domain-Id",
    "X-Service-Project-Domain-Name",
    "X-Service-User-Id",
    "X-Service-User-Name",
    "X-Service-User-Domain-Id",
    "X-Service-User-Domain-Name",
];

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_service() {
    let keystone = Keystone::shared();
    let token = demo_token(keystone).await;
    let delayed = Harness::new(
        keystone,
        AuthTokenConfig {
            delay_auth_decision: true,
            ..Default::default()
        },
    );
    let strict = Harness::new(keystone, AuthTokenConfig::default());
    for name in SPOOFABLE {
        for (h, token) in [
            (&delayed, "invalid-token"),
            (&strict, token.expose()),
            (&delayed, token.expose()),
        ] {
            let request = Request::get("/")
                .header("x-auth-token", token)
                .header(*name, "spoofed")
                .header(*name, "spoofed-again")
                .body(Body::empty())
                .unwrap();
            let (r, seen) = h.send(request).await;
            assert_eq!(r.status(), StatusCode::OK);
            let seen = seen.unwrap();
            for v in seen.headers.get_all(*name) {
                assert!(
                    !v.to_str().unwrap().starts_with("spoofed"),
                    "{name} reached the service as sent"
                );
            }
        }
    }
    // With an invalid token under delay_auth_decision, only the layer's own status is there.
    let (_, seen) = delayed
        .send(
            Request::get("/")
                .header("x-roles", "admin")
                .header("openstack-system-scope", "all")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let seen = seen.unwrap();
    assert_eq!(header(&seen, "x-identity-status"), Some("Invalid"));
    assert_eq!(header(&seen, "x-roles"), None);
    assert_eq!(header(&seen, "openstack-system-scope"), None);
    assert!(seen.identity.is_none());
}

#[tokio::test]
async fn service_tokens_count_only_with_the_service_role() {
    let keystone = Keystone::shared();
    let f = &keystone.fixtures;
    let user = demo_token(keystone).await;
    let heat = keystone
        .token(&f.heat.auth(ScopeRequest::ProjectName {
            name: "service".into(),
            domain: DomainRef::default_domain(),
        }))
        .await;
    let not_a_service = keystone.token(&f.alt_demo.project_auth()).await;
    let h = Harness::new(keystone, AuthTokenConfig::default());
    let send = |service: &Secret| {
        Request::get("/")
            .header("x-auth-token", user.expose())
            .header("x-service-token", service.expose())
            .body(Body::empty())
            .unwrap()
    };
    let (r, seen) = h.send(send(&heat)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = seen.unwrap();
    assert_eq!(header(&seen, "x-identity-status"), Some("Confirmed"));
    assert_eq!(
        header(&seen, "x-service-identity-status"),
        Some("Confirmed")
    );
    assert_eq!(
        header(&seen, "x-service-user-id"),
        Some(f.heat.user_id.as_str())
    );
    assert_eq!(
        header(&seen, "x-service-project-id"),
        Some(f.service_project_id.as_str())
    );
    let mut roles: Vec<&str> = header(&seen, "x-service-roles")
        .unwrap()
        .split(',')
        .collect();
    roles.sort();
    assert!(
        roles.contains(&"service") && roles.contains(&"admin"),
        "{roles:?}"
    );
    assert_eq!(
        header(&seen, "x-user-id"),
        Some(f.demo.user_id.as_str()),
        "user headers are the user's"
    );
    assert_eq!(seen.service.unwrap().0.user_id, f.heat.user_id);
    assert_eq!(seen.status.unwrap().service_confirmed, Some(true));

    // Without the service role: refused...
    let (r, seen) = h.send(send(&not_a_service)).await;
    assert!(seen.is_none());
    assert_unauthorized(r, keystone).await;
    // ...unless not required.
    let lenient = Harness::new(
        keystone,
        AuthTokenConfig {
            service_token_roles_required: false,
            ..Default::default()
        },
    );
    let (r, seen) = lenient.send(send(&not_a_service)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&seen.unwrap(), "x-service-identity-status"),
        Some("Confirmed")
    );
    // ...or passed on marked Invalid with delay_auth_decision.
    let delayed = Harness::new(
        keystone,
        AuthTokenConfig {
            delay_auth_decision: true,
            ..Default::default()
        },
    );
    let (r, seen) = delayed.send(send(&not_a_service)).await;
    assert_eq!(r.status(), StatusCode::OK);
    let seen = seen.unwrap();
    assert_eq!(header(&seen, "x-service-identity-status"), Some("Invalid"));
    assert_eq!(header(&seen, "x-identity-status"), Some("Confirmed"));
    assert_eq!(header(&seen, "x-service-user-id"), None);
    assert!(seen.service.is_none());
    // An invalid service token with a valid user token: refused.
    let (r, _) = h.send(send(&Secret::new("bogus"))).await;
    assert_unauthorized(r, keystone).await;
}

#[tokio::test]
async fn delay_auth_decision_passes_invalid_requests_marked_invalid() {
    let keystone = Keystone::shared();
    let h = Harness::new(
        keystone,
        AuthTokenConfig {
            delay_auth_decision: true,
            ..Default::default()
        },
    );
    for request in [
        Request::get("/").body(Body::empty()).unwrap(),
        Request::get("/")
            .header("x-auth-token", "nope")
            .body(Body::empty())
            .unwrap(),
    ] {
        let (r, seen) = h.send(request).await;
        assert_eq!(r.status(), StatusCode::OK);
        let seen = seen.unwrap();
        assert_eq!(header(&seen, "x-identity-status"), Some("Invalid"));
        assert!(seen.identity.is_none());
        assert_eq!(
            seen.status,
            Some(AuthStatus {
                user_confirmed: false,
                service_confirmed: None
            })
        );
    }
    // And a 401 from the service behind gets WWW-Authenticate.
    let (r, _) = h
        .send(
            Request::get("/")
                .header("x-test-status", "401")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        format!("Keystone uri=\"{}\"", keystone.auth_url())
    );
}

#[tokio::test]
async fn bad_token_bytes_are_401_not_500() {
    let keystone = Keystone::shared();
    let h = Harness::new(keystone, AuthTokenConfig::default());
    let valid = demo_token(keystone).await;
    let long = "A".repeat(10 * 1024);
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("10 kB token", vec![long.into_bytes()]),
        // (Other control characters cannot reach a layer: hyper refuses such a
        // request with 400 while parsing it; the gateway's tests send one.)
        ("tab inside", vec![b"abc\tdef".to_vec()]),
        ("Latin-1 byte", vec![b"tok\xe9n".to_vec()]),
        ("non-UTF-8 bytes", vec![vec![0x67, 0xff, 0xfe, 0x80]]),
        (
            "conflicting repeats",
            vec![valid.expose().as_bytes().to_vec(), b"other".to_vec()],
        ),
        (
            "valid plus garbage repeat",
            vec![b"other".to_vec(), valid.expose().as_bytes().to_vec()],
        ),
    ];
    for (what, values) in cases {
        let mut request = Request::get("/").body(Body::empty()).unwrap();
        for v in values {
            match http::HeaderValue::from_bytes(&v) {
                Ok(v) => {
                    request.headers_mut().append("x-auth-token", v);
                }
                Err(_) => panic!("{what}: cannot build the header"),
            }
        }
        let (r, seen) = h.send(request).await;
        assert!(seen.is_none(), "{what} reached the service");
        assert_unauthorized(r, keystone).await;
    }
    // The same valid token twice is fine.
    let request = Request::get("/")
        .header("x-auth-token", valid.expose())
        .header("x-auth-token", valid.expose())
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.send(request).await.0.status(), StatusCode::OK);
    assert!(
        !logs::captured().contains(valid.expose()),
        "a token was logged"
    );
}

#[tokio::test]
async fn fifty_concurrent_requests_with_one_fresh_token_make_one_keystone_call() {
    let keystone = Keystone::private("coalesce", &[]);
    let h = Harness::new(&keystone, AuthTokenConfig::default());
    let token = keystone.token(&keystone.fixtures.demo.project_auth()).await;
    // Warm the service token so only validations are counted.
    let _ = h
        .layer
        .validator()
        .client()
        .service_identity()
        .await
        .unwrap();
    let before = keystone.served("GET /v3/auth/tokens");
    let svc = h.layer.layer(inner(h.inbox.clone()));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let svc = svc.clone();
        let token = token.expose().to_owned();
        tasks.push(tokio::spawn(async move {
            svc.oneshot(
                Request::get("/")
                    .header("x-auth-token", token)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
            .status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    // uwsgi writes its request log line after answering; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = keystone.served("GET /v3/auth/tokens") - before;
    assert_eq!(calls, 1, "validations that reached Keystone");
    let stats = h.layer.validator().stats();
    assert_eq!(stats.misses.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn keystone_down_is_503_and_back_up_is_200() {
    let keystone = Keystone::private("restart", &[]);
    let mut client = keystone.service_client_config();
    client.http_connect_timeout = Duration::from_secs(5);
    let h = Harness::with_client(
        client,
        AuthTokenConfig {
            token_cache_time: -1,
            ..Default::default()
        },
    );
    let token = keystone.token(&keystone.fixtures.demo.project_auth()).await;
    assert_eq!(
        h.with_token(token.expose()).await.0.status(),
        StatusCode::OK
    );
    keystone.stop();
    for accept in ["application/json", "*/*"] {
        let (r, seen) = h
            .send(
                Request::get("/")
                    .header("x-auth-token", token.expose())
                    .header("accept", accept)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(seen.is_none(), "admitted while Keystone was down");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(body_text(r)
            .await
            .contains("The Keystone service is temporarily unavailable."));
    }
    // delay_auth_decision: marked Invalid, never Confirmed.
    let mut client = keystone.service_client_config();
    client.http_request_max_retries = 0;
    let delayed = Harness::with_client(
        client,
        AuthTokenConfig {
            delay_auth_decision: true,
            ..Default::default()
        },
    );
    let (r, seen) = delayed.with_token(token.expose()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&seen.unwrap(), "x-identity-status"), Some("Invalid"));
    keystone.start();
    let (r, seen) = h.with_token(token.expose()).await;
    assert_eq!(r.status(), StatusCode::OK, "back up");
    assert_eq!(
        header(&seen.unwrap(), "x-identity-status"),
        Some("Confirmed")
    );
}

#[tokio::test]
async fn a_keystone_that_never_answers_is_503_within_the_bound() {
    let keystone = Keystone::shared();
    let hang = faults::hanging_listener().await;
    let mut client = ClientConfig::new(format!("http://{hang}/v3").parse().unwrap());
    client.service_auth = keystone.service_client_config().service_auth;
    client.http_connect_timeout = Duration::from_millis(800);
    let h = Harness::with_client(client, AuthTokenConfig::default());
    let started = Instant::now();
    let (r, seen) = h.with_token("gAAAAABsome-token").await;
    let took = started.elapsed();
    assert!(seen.is_none());
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[tokio::test]
async fn a_keystone_answering_nonsense_is_503() {
    let keystone = Keystone::shared();
    let port = keystone.auth_url().port().unwrap();
    let token = demo_token(keystone).await;
    for garble in [Garble::NotJson, Garble::Truncated, Garble::WrongShape] {
        let front = faults::garbling_keystone(([127, 0, 0, 1], port).into(), garble).await;
        let mut client = keystone.service_client_config();
        client.auth_url = format!("http://{front}/v3").parse().unwrap();
        client.http_connect_timeout = Duration::from_secs(10);
        let h = Harness::with_client(client, AuthTokenConfig::default());
        let (r, seen) = h.with_token(token.expose()).await;
        assert!(seen.is_none(), "{garble:?} admitted");
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{garble:?}");
    }
}

#[tokio::test]
async fn the_identity_endpoint_can_come_from_the_catalog() {
    let keystone = Keystone::shared();
    for interface in [
        heatgate_keystone::Interface::Public,
        heatgate_keystone::Interface::Internal,
    ] {
        let mut client = keystone.service_client_config();
        client.interface = Some(interface);
        let h = Harness::with_client(client, AuthTokenConfig::default());
        let token = demo_token(keystone).await;
        assert_eq!(
            h.with_token(token.expose()).await.0.status(),
            StatusCode::OK,
            "{interface:?}"
        );
        let url = h.layer.validator().client().identity_url().await.unwrap();
        assert_eq!(url.port(), keystone.auth_url().port());
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let keystone = Keystone::shared();
    let h = Harness::new(keystone, AuthTokenConfig::default());
    let token = demo_token(keystone).await;
    let _ = h.with_token(token.expose()).await;
    let _ = h.with_token("gAAAAABinvalid-but-secret-looking").await;
    let log = logs::captured();
    assert!(!log.contains(token.expose()));
    assert!(!log.contains("gAAAAABinvalid-but-secret-looking"));
    assert!(
        !log.contains(&keystone.fixtures.heat.password)
            || keystone.fixtures.heat.password.len() < 4
    );
}
