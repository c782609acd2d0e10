//! Fail closed, tried as an attacker would, against a real Keystone: every
//! listener (`heatgate proxy`'s REST and CFN listeners and the split
//! engine's gateway, as processes in front of recording upstreams; the
//! compositions `heatgate serve` and `heatgate engine` put in front of the
//! engine, with a recording engine) x every auth state x every name on the
//! identity list carrying a marker value. The upstream, or the engine,
//! never sees a marker: nothing a client claims is identity.
//!
//! The marker headers are generated from the list the listeners strip
//! (`identity_headers`), and a differential test checks that list against
//! the reference's own tables (keystonemiddleware's request headers,
//! oslo.context's, Heat's context middleware's).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use heatgate::compose::{self, ErrorForm};
use heatgate::config::Config;
use heatgate::observability::Health;
use heatgate_keystone::{Client, Ec2Credential};
use heatgate_middleware::context::Identity;
use heatgate_middleware::ec2token::signature::{sign, sigv2_query, Ec2Credentials, Ordered};
use heatgate_middleware::identity_assertion::{AssertionKey, ASSERTION_HEADER};
use heatgate_middleware::identity_headers::{
    identity_headers, HEAT_IDENTITY_HEADERS, KEYSTONE_IDENTITY_HEADERS,
};
mod support;

use heatgate_tests::process::Process;
use heatgate_tests::{Keystone, Recorder};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use support::{config_file, keystone_section, proxy};
use tower::ServiceExt;

/// What every marker value contains; nothing behind a listener may.
const MARK: &str = "MARKER";

const ASSERTION_KEY: &str = "fail-closed-test-key-0123456789abcdef";

/// A marker value for every name on the identity list, shaped as the name's
/// readers expect (JSON where they parse JSON), so that a reader that took
/// one would take the marker.
fn markers() -> Vec<(HeaderName, String)> {
    identity_headers()
        .map(|name| {
            let value = match name.as_str() {
                "x-auth-ec2-creds" => {
                    format!(
                        r#"{{"ec2Credentials": {{"access": "{MARK}-ak", "signature": "{MARK}"}}}}"#
                    )
                }
                "x-auth-url" => format!("http://{MARK}.example/v3"),
                "x-service-catalog" => format!(r#"[{{"type": "{MARK}", "endpoints": []}}]"#),
                "x-identity-status" | "x-service-identity-status" => format!("Confirmed{MARK}"),
                "x-is-admin-project" => format!("True{MARK}"),
                "x-roles" | "x-role" | "x-service-roles" => format!("admin,{MARK}"),
                other => format!("{MARK}-{other}"),
            };
            (name.clone(), value)
        })
        .collect()
}

/// Fails with what leaked when a header value carries a marker.
fn assert_clean(headers: &HeaderMap, what: &str) {
    for (name, value) in headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        assert!(
            !text.contains(MARK),
            "{what}: {name}: {text} came from the client"
        );
        if name == ASSERTION_HEADER {
            // The claims of the gateway's assertion: the identity it vouches for.
            let claims = text.split('.').nth(1).unwrap_or_default();
            let claims = base64_url(claims);
            assert!(
                !claims.contains(MARK),
                "{what}: the assertion says {claims}"
            );
        }
    }
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// How a request tries to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing.
    None,
    /// A token Keystone never issued.
    Garbage,
    /// A token Keystone revoked.
    Revoked,
    /// demo's valid token.
    Valid,
    /// A SigV2 signature with demo's EC2 keypair.
    Signed,
    /// `X-Auth-User` alone (Heat's ec2token passes that on).
    AuthUser,
    /// `X-Auth-User` and a token Keystone never issued.
    AuthUserForged,
    /// `X-Auth-User` and demo's valid token.
    AuthUserValid,
}

const STATES: [State; 8] = [
    State::None,
    State::Garbage,
    State::Revoked,
    State::Valid,
    State::Signed,
    State::AuthUser,
    State::AuthUserForged,
    State::AuthUserValid,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Rest,
    Cfn,
}

/// What a listener answers for a state: the status, and whether the request
/// goes on (with demo's identity).
fn expected(api: Api, state: State) -> (u16, bool) {
    match (api, state) {
        (Api::Rest, State::Valid | State::AuthUserValid) => (200, true),
        (Api::Rest, _) => (401, false),
        (Api::Cfn, State::Signed | State::AuthUserValid) => (200, true),
        (Api::Cfn, State::AuthUser | State::AuthUserForged) => (403, false),
        // No signature and no X-Auth-User: IncompleteSignature, as Heat.
        (Api::Cfn, _) => (400, false),
    }
}

/// The credentials the states use.
struct Creds {
    project: String,
    valid: String,
    revoked: String,
    keypair: Ec2Credential,
}

impl Creds {
    async fn new(keystone: &Keystone) -> Creds {
        let demo = &keystone.fixtures.demo;
        let valid = keystone.token(&demo.project_auth()).await;
        let revoked = keystone.token(&demo.project_auth()).await;
        keystone.revoke(&revoked).await;
        let client = Client::new(keystone.service_client_config()).unwrap();
        let keypair = client
            .create_ec2_credential(&demo.user_id, demo.project_id.as_deref().unwrap())
            .await
            .expect("an EC2 keypair for demo");
        Creds {
            project: demo.project_id.clone().unwrap(),
            valid: valid.expose().to_owned(),
            revoked: revoked.expose().to_owned(),
            keypair,
        }
    }
}

/// One request, before it is sent: method, path and query, headers (`Host`
/// first: what the signature covers).
#[derive(Debug, Clone)]
struct Sent {
    path: String,
    headers: Vec<(HeaderName, String)>,
}

fn now_iso() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc().format(&f).unwrap()
}

/// The request for `state` to a listener of `api` at `host`, with `extra`
/// headers (markers) added last.
fn request(
    api: Api,
    state: State,
    host: &str,
    creds: &Creds,
    extra: &[(HeaderName, String)],
) -> Sent {
    let path = match api {
        Api::Rest => format!("/v1/{}/stacks", creds.project),
        Api::Cfn => "/v1/?Action=ListStacks&Version=2010-05-15".to_owned(),
    };
    let mut sent = Sent {
        path,
        headers: vec![(http::header::HOST, host.to_owned())],
    };
    let token = |t: &str| (HeaderName::from_static("x-auth-token"), t.to_owned());
    let user = (HeaderName::from_static("x-auth-user"), "demo".to_owned());
    match state {
        State::None => {}
        State::Garbage => sent
            .headers
            .push(token("gAAAAABgarbage-token-never-issued")),
        State::Revoked => sent.headers.push(token(&creds.revoked)),
        State::Valid => sent.headers.push(token(&creds.valid)),
        State::Signed => {
            let query = sigv2_query(
                "GET",
                host,
                "/v1/",
                &creds.keypair.access,
                creds.keypair.secret.expose().as_bytes(),
                &[("Action", "ListStacks"), ("Version", "2010-05-15")],
                Some(&now_iso()),
            )
            .unwrap();
            sent.path = match api {
                Api::Cfn => format!("/v1/?{query}"),
                Api::Rest => format!("{}?{query}", sent.path),
            };
        }
        State::AuthUser => sent.headers.push(user),
        State::AuthUserForged => {
            sent.headers.push(user);
            sent.headers.push(token("forged"));
        }
        State::AuthUserValid => {
            sent.headers.push(user);
            sent.headers.push(token(&creds.valid));
        }
    }
    sent.headers.extend(extra.iter().cloned());
    sent
}

/// What the listener answered.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn send_http(addr: std::net::SocketAddr, sent: &Sent) -> Answer {
    let mut b = reqwest::Client::new().get(format!("http://{addr}{}", sent.path));
    for (name, value) in &sent.headers {
        if name != http::header::HOST {
            b = b.header(name.clone(), value);
        }
    }
    let r = b.send().await.expect("the listener answers");
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Answer {
        status,
        content_type,
        body: r.text().await.unwrap_or_default(),
    }
}

fn in_process(sent: &Sent) -> Request<Body> {
    let mut b = Request::get(sent.path.as_str());
    for (name, value) in &sent.headers {
        b = b.header(name.clone(), HeaderValue::from_str(value).unwrap());
    }
    b.body(Body::empty()).unwrap()
}

async fn answer_of(response: Response<Body>) -> Answer {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Answer {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Checks a refusal's form: Heat's (keystonemiddleware's) JSON on REST, the
/// AWS XML error on CFN.
fn assert_refusal_form(api: Api, answer: &Answer, what: &str) {
    match api {
        Api::Rest => assert!(
            answer.content_type.starts_with("application/json"),
            "{what}: {} {}",
            answer.content_type,
            answer.body
        ),
        Api::Cfn => {
            assert_eq!(
                answer.content_type, "application/xml",
                "{what}: {}",
                answer.body
            );
            assert!(
                answer.body.starts_with("<ErrorResponse>"),
                "{what}: {}",
                answer.body
            );
        }
    }
}

/// Checks that every identity-like header a layer set for the request
/// behind is on the list the listeners strip: a layer that starts setting a
/// new one (a new token field) fails here until the list has it.
fn assert_set_only_listed(headers: &HeaderMap, what: &str) {
    const NOT_IDENTITY: [&str; 9] = [
        "x-auth-token",
        "x-auth-user",
        "x-auth-key",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-openstack-request-id",
        "x-amz-date",
        "x-heatgate-assertion",
    ];
    for name in headers.keys() {
        let name = name.as_str();
        if !(name.starts_with("x-") || name.starts_with("openstack-")) {
            continue;
        }
        assert!(
            identity_headers().any(|h| h == name) || NOT_IDENTITY.contains(&name),
            "{what}: {name} reached the upstream and is not on the identity list"
        );
    }
}

/// Checks that a forwarded request carries demo's verified identity.
fn assert_demo(api: Api, state: State, headers: &HeaderMap, creds: &Creds, what: &str) {
    let demo = &Keystone::shared().fixtures.demo;
    let get = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    match (api, state) {
        (Api::Cfn, State::Signed) => {
            assert_eq!(get("x-tenant-id"), creds.project, "{what}");
            assert!(
                get("x-auth-ec2-creds").contains(&creds.keypair.access),
                "{what}"
            );
        }
        _ => {
            assert_eq!(get("x-identity-status"), "Confirmed", "{what}");
            assert_eq!(get("x-user-id"), demo.user_id, "{what}");
            assert_eq!(get("x-project-id"), creds.project, "{what}");
        }
    }
}

/// The marker sets a state is tried with: all names at once, and each name
/// alone where the request would be admitted (one name must not hide another).
fn marker_sets(api: Api, state: State) -> Vec<Vec<(HeaderName, String)>> {
    let all = markers();
    // The same names spelt with `_` for `-`, which a WSGI server behind reads
    // as the same headers (`X_Roles` is `HTTP_X_ROLES`).
    let underscored = all
        .iter()
        .map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_str().replace('-', "_").as_bytes()).unwrap();
            (name, value.clone())
        })
        .collect();
    let mut sets = vec![all.clone(), underscored];
    if expected(api, state).1 {
        sets.extend(all.into_iter().map(|m| vec![m]));
    }
    sets
}

/// Runs every state and marker set against a proxy process, checking the
/// answers and everything its recorders saw. Returns the requests that went
/// on (for the engine side of a split).
async fn proxy_matrix(
    what: &str,
    process: &Process,
    rest: &Recorder,
    cfn: &Recorder,
    creds: &Creds,
) {
    for (api, addr, recorder) in [
        (Api::Rest, process.addrs[0], rest),
        (Api::Cfn, process.addrs[1], cfn),
    ] {
        for state in STATES {
            let (status, forwarded) = expected(api, state);
            for set in marker_sets(api, state) {
                let before = recorder.requests().len();
                let sent = request(api, state, &addr.to_string(), creds, &set);
                let answer = send_http(addr, &sent).await;
                let case = format!("{what} {api:?} {state:?} with {} marker(s)", set.len());
                assert_eq!(
                    answer.status,
                    status,
                    "{case}: {}; log: {}",
                    answer.body,
                    process.log()
                );
                let seen = recorder.requests();
                if forwarded {
                    assert_eq!(seen.len(), before + 1, "{case}: forwarded once");
                    let last = seen.last().unwrap();
                    assert_clean(&last.headers, &case);
                    assert_set_only_listed(&last.headers, &case);
                    assert_demo(api, state, &last.headers, creds, &case);
                } else {
                    assert_eq!(seen.len(), before, "{case}: nothing may reach the upstream");
                    assert_refusal_form(api, &answer, &case);
                }
            }
        }
    }
}

#[tokio::test]
async fn proxy_listeners_pass_on_no_client_identity_in_any_auth_state() {
    let keystone = Keystone::shared();
    let creds = Creds::new(keystone).await;
    let (rest, cfn) = (Recorder::start().await, Recorder::start().await);
    let gw = proxy("proxy", &rest, &cfn, &keystone_section(keystone, ""));
    proxy_matrix("proxy", &gw, &rest, &cfn, &creds).await;
}

/// The recording engine: what the service behind a composition saw, with the
/// typed identity the layers put in.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    identity: Option<Identity>,
}

type Inbox = Arc<Mutex<Vec<Seen>>>;

fn recording_engine(
    inbox: Inbox,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
       + Send
       + Sync
       + 'static {
    tower::service_fn(move |request: Request<Body>| {
        let inbox = inbox.clone();
        async move {
            inbox.lock().unwrap().push(Seen {
                headers: request.headers().clone(),
                identity: request.extensions().get::<Identity>().cloned(),
            });
            Ok(Response::new(Body::from("engine")))
        }
    })
}

fn assert_identity_clean(seen: &Seen, what: &str) {
    assert_clean(&seen.headers, what);
    let identity = seen.identity.as_ref().expect("an identity");
    let text = format!("{identity:?} {:?}", identity.ec2_access());
    assert!(!text.contains(MARK), "{what}: {text}");
    assert_eq!(
        identity.user_id,
        Keystone::shared().fixtures.demo.user_id,
        "{what}"
    );
}

#[tokio::test]
async fn serve_and_engine_compositions_pass_on_no_client_identity() {
    let keystone = Keystone::shared();
    let creds = Creds::new(keystone).await;
    let file = config_file("compose", &keystone_section(keystone, ""));
    let config = Config::load(Some(&file), []).unwrap();
    let health = Health::new(&config.keystone_authtoken).unwrap();
    let key = AssertionKey::new(ASSERTION_KEY.as_bytes()).unwrap();

    // heatgate serve: compose::rest and compose::cfn in front of the engine.
    let inbox: Inbox = Arc::default();
    let serve_rest = compose::rest(&config, &health, recording_engine(inbox.clone())).unwrap();
    let serve_cfn = compose::cfn(&config, recording_engine(inbox.clone())).unwrap();
    // heatgate engine: compose::engine behind a gateway that signs (the
    // proxy's upstream service with an assertion key), with every marker
    // added again on the way, as a client reaching the engine directly would.
    let engine_inbox: Inbox = Arc::default();
    let engine = |listener, form| {
        compose::engine(
            &config,
            listener,
            form,
            &key,
            recording_engine(engine_inbox.clone()),
        )
    };
    let (engine_rest, engine_cfn) = (
        engine("rest", ErrorForm::Heat),
        engine("cfn", ErrorForm::Aws),
    );
    let relay = |engine: _| {
        tower::service_fn(move |mut request: Request<Body>| {
            for (name, value) in markers() {
                request
                    .headers_mut()
                    .append(name, HeaderValue::from_str(&value).unwrap());
            }
            ServiceExt::oneshot(Clone::clone(&engine), request)
        })
    };
    let sign = heatgate_middleware::identity_assertion::SignAssertionLayer::new(key.clone());
    let split_rest = compose::rest(
        &config,
        &health,
        tower::Layer::layer(&sign, relay(engine_rest)),
    )
    .unwrap();
    let split_cfn = compose::cfn(&config, tower::Layer::layer(&sign, relay(engine_cfn))).unwrap();

    for (what, api, inbox) in [
        ("serve", Api::Rest, &inbox),
        ("serve", Api::Cfn, &inbox),
        ("split", Api::Rest, &engine_inbox),
        ("split", Api::Cfn, &engine_inbox),
    ] {
        for state in STATES {
            let (status, forwarded) = expected(api, state);
            for set in marker_sets(api, state) {
                let before = inbox.lock().unwrap().len();
                let sent = request(api, state, "127.0.0.1:8000", &creds, &set);
                let response = match (what, api) {
                    ("serve", Api::Rest) => serve_rest.clone().oneshot(in_process(&sent)).await,
                    ("serve", Api::Cfn) => serve_cfn.clone().oneshot(in_process(&sent)).await,
                    ("split", Api::Rest) => split_rest.clone().oneshot(in_process(&sent)).await,
                    _ => split_cfn.clone().oneshot(in_process(&sent)).await,
                }
                .unwrap();
                let answer = answer_of(response).await;
                let case = format!("{what} {api:?} {state:?} with {} marker(s)", set.len());
                assert_eq!(answer.status, status, "{case}: {}", answer.body);
                let seen = inbox.lock().unwrap().clone();
                if forwarded {
                    assert_eq!(seen.len(), before + 1, "{case}: reached the engine once");
                    let last = seen.last().unwrap();
                    assert_identity_clean(last, &case);
                    if state == State::Signed {
                        let identity = last.identity.as_ref().unwrap();
                        assert_eq!(
                            identity.ec2_access(),
                            Some(creds.keypair.access.as_str()),
                            "{case}"
                        );
                    }
                } else {
                    assert_eq!(seen.len(), before, "{case}: nothing may reach the engine");
                    assert_refusal_form(api, &answer, &case);
                }
            }
        }
    }

    // Straight to the engine, without the gateway: every request is refused,
    // whatever identity it claims.
    for (engine, api) in [
        (engine("rest", ErrorForm::Heat), Api::Rest),
        (engine("cfn", ErrorForm::Aws), Api::Cfn),
    ] {
        for state in STATES {
            let before = engine_inbox.lock().unwrap().len();
            let sent = request(api, state, "127.0.0.1:8000", &creds, &markers());
            let answer = answer_of(engine.clone().oneshot(in_process(&sent)).await.unwrap()).await;
            assert_eq!(
                answer.status, 401,
                "engine {api:?} {state:?}: {}",
                answer.body
            );
            assert_eq!(engine_inbox.lock().unwrap().len(), before);
        }
    }
}

/// A SigV2 query with `timestamp` (and `expires`), signed with `keypair`.
fn sigv2_at(host: &str, keypair: &Ec2Credential, timestamp: &str, expires: Option<&str>) -> String {
    let mut params = vec![("Action", "ListStacks"), ("Version", "2010-05-15")];
    if let Some(e) = expires {
        params.push(("Expires", e));
    }
    let query = sigv2_query(
        "GET",
        host,
        "/v1/",
        &keypair.access,
        keypair.secret.expose().as_bytes(),
        &params,
        Some(timestamp),
    )
    .unwrap();
    format!("/v1/?{query}")
}

/// A SigV4 request at `amz_date`, signed in the `Authorization` header
/// (`presigned`: in the query, with `X-Amz-Expires`).
fn sigv4_at(host: &str, keypair: &Ec2Credential, amz_date: &str, presigned: Option<&str>) -> Sent {
    let day = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!(
        "{}/{day}/RegionOne/cloudformation/aws4_request",
        keypair.access
    );
    let mut params = vec![
        ("Action".to_owned(), "ListStacks".to_owned()),
        ("Version".to_owned(), "2010-05-15".to_owned()),
    ];
    let mut headers = vec![("Host".to_owned(), host.to_owned())];
    let authorization =
        format!("AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, Signature=");
    match presigned {
        Some(expires) => params.extend([
            ("X-Amz-Algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
            ("X-Amz-Credential".to_owned(), scope.clone()),
            ("X-Amz-Date".to_owned(), amz_date.to_owned()),
            ("X-Amz-Expires".to_owned(), expires.to_owned()),
            ("X-Amz-SignedHeaders".to_owned(), "host".to_owned()),
        ]),
        None => headers.extend([
            ("X-Amz-Date".to_owned(), amz_date.to_owned()),
            ("Authorization".to_owned(), authorization.clone()),
        ]),
    }
    let creds = Ec2Credentials {
        access: keypair.access.clone(),
        signature: String::new(),
        host: host.to_owned(),
        verb: "GET".into(),
        path: "/v1/".into(),
        params: Ordered::from_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        headers: Ordered::from_pairs(headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        // sha256 of the empty body.
        body_hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
    };
    let signature = sign(&creds, keypair.secret.expose().as_bytes()).unwrap();
    let mut query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect();
    let mut sent = Sent {
        path: String::new(),
        headers: vec![(http::header::HOST, host.to_owned())],
    };
    match presigned {
        Some(_) => query.push(format!("X-Amz-Signature={signature}")),
        None => {
            sent.headers
                .push((HeaderName::from_static("x-amz-date"), amz_date.to_owned()));
            sent.headers.push((
                http::header::AUTHORIZATION,
                format!("{authorization}{signature}"),
            ));
        }
    }
    sent.path = format!("/v1/?{}", query.join("&"));
    sent
}

fn quote(s: &str) -> String {
    let mut out = String::new();
    heatgate_middleware::ec2token::signature::quote_unreserved(&mut out, s);
    out
}

#[tokio::test]
async fn times_at_the_ends_of_the_calendar_are_refused_in_both_verify_modes() {
    let keystone = Keystone::shared();
    let creds = Creds::new(keystone).await;
    for verify in ["keystone", "local"] {
        let (rest, cfn) = (Recorder::start().await, Recorder::start().await);
        let config = format!(
            "{}\n[ec2authtoken]\nverify = \"{verify}\"\n",
            keystone_section(keystone, "")
        );
        let gw = proxy(&format!("times-{verify}"), &rest, &cfn, &config);
        let addr = gw.addrs[1];
        let host = addr.to_string();
        let mut cases: Vec<(String, Sent)> = Vec::new();
        for stamp in [
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59.999999Z",
            "9999-12-31T23:59:59-14:00",
            "0000-01-01T00:00:00Z",
            "0000-01-01T00:00:00+14:00",
        ] {
            let path = sigv2_at(&host, &creds.keypair, stamp, None);
            cases.push((
                format!("SigV2 Timestamp {stamp}"),
                Sent {
                    path,
                    headers: vec![(http::header::HOST, host.clone())],
                },
            ));
            let path = sigv2_at(&host, &creds.keypair, &now_iso(), Some(stamp));
            let expired = stamp.starts_with("0000");
            if expired {
                cases.push((
                    format!("SigV2 Expires {stamp}"),
                    Sent {
                        path,
                        headers: vec![(http::header::HOST, host.clone())],
                    },
                ));
            }
        }
        for date in ["99991231T235959Z", "00000101T000000Z"] {
            cases.push((
                format!("SigV4 header {date}"),
                sigv4_at(&host, &creds.keypair, date, None),
            ));
            for expires in ["604800", "9223372036854775807", "99999999999999999999"] {
                cases.push((
                    format!("SigV4 query {date} expires {expires}"),
                    sigv4_at(&host, &creds.keypair, date, Some(expires)),
                ));
            }
        }
        // Now, with an expiry past what any date can hold.
        let now = time::OffsetDateTime::now_utc();
        let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let today = now.format(&f).unwrap();
        cases.push((
            "SigV4 query now, X-Amz-Expires 9223372036854775807".into(),
            sigv4_at(&host, &creds.keypair, &today, Some("9223372036854775807")),
        ));
        for (what, sent) in &cases {
            let answer = send_http(addr, sent).await;
            let case = format!("{verify}: {what}");
            assert!(
                (400..500).contains(&answer.status),
                "{case}: {} {}; log: {}",
                answer.status,
                answer.body,
                gw.log()
            );
            assert_refusal_form(Api::Cfn, &answer, &case);
        }
        assert!(cfn.requests().is_empty(), "{verify}: nothing forwarded");
        // The listener still serves: a signed request of now goes through.
        let sent = request(Api::Cfn, State::Signed, &host, &creds, &[]);
        let answer = send_http(addr, &sent).await;
        assert_eq!(
            answer.status,
            200,
            "{verify}: {}; log: {}",
            answer.body,
            gw.log()
        );
        assert!(!gw.log().contains("panic"), "{}", gw.log());
    }
}

/// A Keystone of its own, with an orchestration service in its catalog (the
/// shared one's catalog stays as other tests expect it).
fn keystone_with_orchestration() -> Keystone {
    Keystone::private("access-rules", &[])
}

async fn ensure_orchestration_service(keystone: &Keystone) {
    let (status, v) = keystone
        .admin_json(http::Method::GET, "services", None)
        .await;
    assert_eq!(status, 200, "{v}");
    let services = v["services"].as_array().cloned().unwrap_or_default();
    if services.iter().any(|s| s["type"] == "orchestration") {
        return;
    }
    let (status, v) = keystone
        .admin_json(
            http::Method::POST,
            "services",
            Some(serde_json::json!({"service": {"type": "orchestration", "name": "heat"}})),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let service = v["service"]["id"].as_str().unwrap().to_owned();
    for interface in ["public", "internal"] {
        let (status, v) = keystone
            .admin_json(
                http::Method::POST,
                "endpoints",
                Some(serde_json::json!({"endpoint": {
                    "service_id": service, "interface": interface, "region_id": "RegionOne",
                    "url": "http://127.0.0.1:8004/v1/%(project_id)s"
                }})),
            )
            .await;
        assert_eq!(status, 201, "{v}");
    }
}

/// demo's application credential with `access_rules` (`None`: unrestricted),
/// and a token from it.
async fn app_cred_token(
    keystone: &Keystone,
    name: &str,
    rules: Option<serde_json::Value>,
) -> String {
    let demo = &keystone.fixtures.demo;
    let token = keystone.token(&demo.project_auth()).await;
    let url = heatgate_keystone::config::v3_url(
        &keystone.auth_url(),
        &format!("users/{}/application_credentials", demo.user_id),
    );
    let mut body = serde_json::json!({"application_credential": {"name": name}});
    if let Some(rules) = rules {
        body["application_credential"]["access_rules"] = rules;
    }
    let http = reqwest::Client::new();
    let r = http
        .post(url)
        .header("x-auth-token", token.expose())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    let (id, secret) = (
        created["application_credential"]["id"].as_str().unwrap(),
        created["application_credential"]["secret"]
            .as_str()
            .unwrap(),
    );
    let auth = serde_json::json!({"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": id, "secret": secret}
    }}});
    let url = heatgate_keystone::config::v3_url(&keystone.auth_url(), "auth/tokens");
    let r = http.post(url).json(&auth).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    r.headers()["x-subject-token"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn restricted_application_credentials_get_only_what_their_rules_allow() {
    let keystone = keystone_with_orchestration();
    ensure_orchestration_service(&keystone).await;
    let project = keystone.fixtures.demo.project_id.clone().unwrap();
    let restricted = app_cred_token(
        &keystone,
        "list-only",
        Some(serde_json::json!([
            {"service": "orchestration", "method": "GET", "path": "/v1/*/stacks"},
            {"service": "orchestration", "method": "GET", "path": "/v1/{project_id}/stacks/**"},
        ])),
    )
    .await;
    let unrestricted = app_cred_token(&keystone, "anything", None).await;

    let (rest, cfn) = (Recorder::start().await, Recorder::start().await);
    let with_type = proxy(
        "rules-orchestration",
        &rest,
        &cfn,
        &keystone_section(&keystone, "service_type = \"orchestration\""),
    );
    let (rest2, cfn2) = (Recorder::start().await, Recorder::start().await);
    let without_type = proxy(
        "rules-none",
        &rest2,
        &cfn2,
        &keystone_section(&keystone, ""),
    );

    let http = reqwest::Client::new();
    let call = |gw: &Process, method: reqwest::Method, path: String, token: &str| {
        http.request(method, gw.url(0, &path))
            .header("x-auth-token", token)
            .send()
    };
    let stacks = format!("/v1/{project}/stacks");
    let one = format!("/v1/{project}/stacks/s/1234");
    for (method, path, token, with, without) in [
        (reqwest::Method::GET, stacks.clone(), &restricted, 200, 401),
        (reqwest::Method::GET, one.clone(), &restricted, 200, 401),
        (reqwest::Method::DELETE, one.clone(), &restricted, 401, 401),
        (reqwest::Method::POST, stacks.clone(), &restricted, 401, 401),
        // `**` is any number of segments (none after the slash too), `*` and
        // `{name}` exactly one, and the whole path must match.
        (
            reqwest::Method::GET,
            format!("/v1/{project}/stacks/s"),
            &restricted,
            200,
            401,
        ),
        (
            reqwest::Method::GET,
            format!("{stacks}/"),
            &restricted,
            200,
            401,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/{project}/x/stacks"),
            &restricted,
            401,
            401,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/{project}/stacksx"),
            &restricted,
            401,
            401,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/{project}/other"),
            &restricted,
            401,
            401,
        ),
        (
            reqwest::Method::GET,
            stacks.clone(),
            &unrestricted,
            200,
            200,
        ),
        (
            reqwest::Method::DELETE,
            one.clone(),
            &unrestricted,
            200,
            200,
        ),
    ] {
        let restricted = token == &restricted;
        for (gw, want) in [(&with_type, with), (&without_type, without)] {
            // Twice: the second answer comes from the cache (and a hot
            // token's path must decide the same).
            for round in 0..3 {
                let r = call(gw, method.clone(), path.clone(), token).await.unwrap();
                assert_eq!(
                    r.status().as_u16(),
                    want,
                    "{method} {path} restricted={restricted} round {round}; log: {}",
                    gw.log()
                );
            }
        }
    }
    // On the CFN listener (an unsigned request with X-Auth-User and the
    // token): no rule covers the CFN API's paths.
    let r = http
        .get(with_type.url(1, "/v1/?Action=ListStacks&Version=2010-05-15"))
        .header("x-auth-user", "demo")
        .header("x-auth-token", &restricted)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<Code>AccessDenied</Code>"));
    assert!(cfn.requests().is_empty());
    let r = http
        .get(with_type.url(1, "/v1/?Action=ListStacks&Version=2010-05-15"))
        .header("x-auth-user", "demo")
        .header("x-auth-token", &unrestricted)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn expired_tokens_pass_on_nothing() {
    let keystone = Keystone::private("fail-closed-expiry", &["--set", "token.expiration=8"]);
    let demo = &keystone.fixtures.demo;
    let expired = keystone.token(&demo.project_auth()).await;
    let (rest, cfn) = (Recorder::start().await, Recorder::start().await);
    let gw = proxy("expiry", &rest, &cfn, &keystone_section(&keystone, ""));
    let http = reqwest::Client::new();
    // Validated (and cached) while valid, then refused once expired.
    let project = demo.project_id.clone().unwrap();
    let r = http
        .get(gw.url(0, &format!("/v1/{project}/stacks")))
        .header("x-auth-token", expired.expose())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", gw.log());
    rest.clear();
    tokio::time::sleep(Duration::from_secs(9)).await;
    for (listener, path, auth_user, want) in [
        (0, format!("/v1/{project}/stacks"), false, 401),
        (0, format!("/v1/{project}/stacks"), true, 401),
        (
            1,
            "/v1/?Action=ListStacks&Version=2010-05-15".to_owned(),
            true,
            403,
        ),
    ] {
        let mut b = http
            .get(gw.url(listener, &path))
            .header("x-auth-token", expired.expose());
        if auth_user {
            b = b.header("x-auth-user", "demo");
        }
        for (name, value) in markers() {
            b = b.header(name, value);
        }
        let r = b.send().await.unwrap();
        assert_eq!(
            r.status().as_u16(),
            want,
            "listener {listener}: {}",
            gw.log()
        );
    }
    assert!(rest.requests().is_empty());
    assert!(cfn.requests().is_empty());
}

#[test]
fn a_cfn_listen_address_without_a_cfn_upstream_is_a_configuration_error() {
    let keystone = Keystone::shared();
    let file = config_file(
        "cfn-listen",
        &format!(
            "[gateway]\ncfn_listen = \"127.0.0.1:0\"\n{}",
            keystone_section(keystone, "")
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_heatgate"))
        .args([
            "proxy",
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cfn_listen"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// Where the Python references live: keystonemiddleware in Keystone's venv,
/// oslo.context and Heat in the oracles' venv (both installed by the test
/// command).
fn python(venv: &str) -> PathBuf {
    heatgate_tests::workspace_root()
        .join(venv)
        .join("bin")
        .join("python3")
}

fn python_lines(venv: &str, script: &str) -> Vec<String> {
    let python = python(venv);
    assert!(
        python.exists(),
        "{} is missing: run scripts/keystone install and scripts/oracles install",
        python.display()
    );
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn the_identity_list_is_the_references_own() {
    // keystonemiddleware: every header its auth_token sets (and removes).
    let mut keystonemiddleware = python_lines(
        ".keystone/venv",
        r#"
from keystonemiddleware.auth_token._request import _AuthTokenRequest as R
names = set()
for prefix in (R._USER_HEADER_PREFIX, R._SERVICE_HEADER_PREFIX):
    names |= {t % prefix for t in R._HEADER_TEMPLATE}
    names.add(R._ROLES_TEMPLATE % prefix)
names |= {R._USER_STATUS_HEADER, R._SERVICE_STATUS_HEADER, R._ADMIN_PROJECT_HEADER,
          R._SYSTEM_SCOPE_HEADER, R._SERVICE_CATALOG_HEADER}
names |= set(R._DEPRECATED_HEADER_MAP)
print("\n".join(sorted(names)))
"#,
    );
    keystonemiddleware.sort();
    let mut ours: Vec<String> = KEYSTONE_IDENTITY_HEADERS
        .iter()
        .map(|h| h.as_str().to_owned())
        .collect();
    ours.sort();
    assert_eq!(ours, keystonemiddleware);

    // What oslo.context and Heat's context middleware read from a request:
    // each is identity on our list, or a credential a layer verifies.
    let credentials = [
        "x-auth-token",
        "x-storage-token",
        "x-service-token",
        "x-auth-user",
        "x-auth-key",
        "x-region-name",
    ];
    let read = python_lines(
        ".oracles/venv",
        r#"
import os, re, sysconfig
from oslo_context import context as oc
for names in oc._ENVIRON_HEADERS.values():
    for n in names:
        if n.startswith("HTTP_"):
            print(n[5:].replace("_", "-"))
# Heat is installed without its dependencies: read its source, do not import it.
source = os.path.join(sysconfig.get_paths()["purelib"], "heat", "common", "context.py")
for n in re.findall(r"headers\.get\('([^']+)'", open(source).read()):
    print(n)
"#,
    );
    assert!(read.len() > 20, "{read:?}");
    for name in &read {
        let on_list = identity_headers().any(|h| h == name.as_str());
        assert!(
            on_list || credentials.contains(&name.as_str()),
            "the references read {name} as identity, and it is not on the list"
        );
    }
    for name in HEAT_IDENTITY_HEADERS.iter() {
        assert!(
            read.iter().any(|r| r == name.as_str()),
            "{name} is read by Heat"
        );
    }
}

#[allow(dead_code)]
fn unused(_: &Path) {}
