//! ec2token against a real Keystone, in both modes (`keystone` and `local`),
//! with EC2 credentials created through Keystone's API and requests signed by
//! the real clients (botocore, boto 2.49, a Heat-style pre-signed URL sent as
//! cfn-signal sends it with curl).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use base64::Engine as _;
use bytes::Bytes;
use heatgate_keystone::{Client, Ec2Credential};
use heatgate_middleware::context::{AuthMethod, Identity};
use heatgate_middleware::ec2token::signature::{sign, Ec2Credentials, Ordered};
use heatgate_middleware::ec2token::{Ec2TokenConfig, Ec2TokenLayer, Unsigned, VerifyMode};
use heatgate_tests::{ec2_oracle, logs, Keystone};
use hmac::Mac;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::{Layer, ServiceExt};

const MODES: [VerifyMode; 2] = [VerifyMode::Keystone, VerifyMode::Local];

/// What the service behind the layer saw.
#[derive(Debug, Clone)]
struct Seen {
    uri: http::Uri,
    headers: HeaderMap,
    identity: Option<Identity>,
    body: Bytes,
}

type Inbox = Arc<Mutex<Vec<Seen>>>;

fn recorder(
    inbox: Inbox,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + Sync
       + 'static {
    tower::service_fn(move |req: Request<Body>| {
        let inbox = inbox.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            inbox.lock().unwrap().push(Seen {
                uri: parts.uri,
                identity: parts.extensions.get::<Identity>().cloned(),
                headers: parts.headers,
                body,
            });
            Ok::<_, Infallible>(Response::new(Body::from("ok")))
        }
    })
}

struct Harness {
    mode: VerifyMode,
    layer: Ec2TokenLayer,
    inbox: Inbox,
    client: Client,
}

fn config(mode: VerifyMode) -> Ec2TokenConfig {
    Ec2TokenConfig {
        verify: mode,
        credential_cache_time: 2,
        negative_cache_time: 1,
        ..Default::default()
    }
}

impl Harness {
    fn new(mode: VerifyMode) -> Harness {
        Self::with(config(mode))
    }

    fn with(config: Ec2TokenConfig) -> Harness {
        logs::capture();
        let keystone = Keystone::shared();
        let client = Client::new(keystone.service_client_config()).unwrap();
        Harness {
            mode: config.verify,
            layer: Ec2TokenLayer::new(config, client.clone()).unwrap(),
            inbox: Inbox::default(),
            client,
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, String, Option<Seen>) {
        self.inbox.lock().unwrap().clear();
        let service = self.layer.layer(recorder(self.inbox.clone()));
        let response = service.oneshot(request).await.unwrap();
        let status = response.status();
        let ct = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body).into_owned();
        if status != StatusCode::OK {
            assert_eq!(ct.as_deref(), Some("application/xml"), "{body}");
            assert!(body.starts_with("<ErrorResponse><Error><Type>"), "{body}");
        }
        let seen = self.inbox.lock().unwrap().first().cloned();
        (status, body, seen)
    }

    /// A fresh EC2 credential for demo.
    async fn credential(&self) -> Ec2Credential {
        let demo = &Keystone::shared().fixtures.demo;
        self.client
            .create_ec2_credential(&demo.user_id, demo.project_id.as_deref().unwrap())
            .await
            .expect("EC2 credential")
    }
}

fn code(body: &str) -> &str {
    body.split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or("")
}

fn now_iso() -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc().format(&f).unwrap()
}

fn quote(s: &str) -> String {
    let mut out = String::new();
    heatgate_middleware::ec2token::signature::quote_unreserved(&mut out, s);
    out
}

/// A Heat-style pre-signed SigV2 URL (what Heat's signal responder builds):
/// the signature covers the lower-cased host and the unquoted path.
fn presigned_v2(
    cred: &Ec2Credential,
    method: &str,
    host: &str,
    unquoted_path: &str,
    timestamp: &str,
    sha1: bool,
) -> String {
    let mut creds = Ec2Credentials {
        access: cred.access.clone(),
        host: host.to_lowercase(),
        verb: method.into(),
        path: unquoted_path.into(),
        params: Ordered::from_pairs([
            (
                "SignatureMethod",
                if sha1 { "HmacSHA1" } else { "HmacSHA256" },
            ),
            ("SignatureVersion", "2"),
            ("AWSAccessKeyId", cred.access.as_str()),
            ("Timestamp", timestamp),
        ]),
        ..Default::default()
    };
    let signature = if sha1 {
        // What a client signing with HmacSHA1 sends (Keystone always checks SHA-256).
        let mut pairs: Vec<(&str, &str)> = creds.params.iter().collect();
        pairs.sort();
        let qs: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
            .collect();
        let sts = format!(
            "{method}\n{}\n{unquoted_path}\n{}",
            creds.host,
            qs.join("&")
        );
        let mut mac =
            hmac::Hmac::<sha1::Sha1>::new_from_slice(cred.secret.expose().as_bytes()).unwrap();
        mac.update(sts.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    } else {
        sign(&creds, cred.secret.expose().as_bytes()).unwrap()
    };
    creds.params.insert("Signature".into(), signature);
    let query: Vec<String> = creds
        .params
        .iter()
        .map(|(k, v)| format!("{}={}", quote(k), quote(v)))
        .collect();
    let quoted_path = unquoted_path.replace(':', "%3A");
    format!("{quoted_path}?{}", query.join("&"))
}

fn waitcondition_path() -> String {
    let project = Keystone::shared().fixtures.demo.project_id.clone().unwrap();
    format!("/v1/waitcondition/arn:openstack:heat::{project}:stacks/mystack/s-id/resources/wch")
}

fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(body.into()).unwrap()
}

/// botocore signs; the request is replayed through the layer as received.
fn botocore(
    cred: &Ec2Credential,
    method: &str,
    url: &str,
    body: &str,
    presign: bool,
) -> Request<Body> {
    let headers = if method == "POST" {
        json!({"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    } else {
        json!({})
    };
    let case = json!({
        "kind": "botocore", "access": cred.access, "secret": cred.secret.expose(),
        "method": method, "url": url, "headers": headers, "body": body,
        "region": "RegionOne", "service": "cloudformation", "presign": presign, "expires": 300
    });
    let r = ec2_oracle::run(&[case.to_string()]).remove(0);
    assert!(r.get("error").is_none(), "botocore: {r}");
    replay(method, r["url"].as_str().unwrap(), &r["headers"], body)
}

fn replay(method: &str, url: &str, headers: &Value, body: &str) -> Request<Body> {
    let parsed = url::Url::parse(url).unwrap();
    let mut target = parsed.path().to_string();
    if let Some(q) = parsed.query() {
        target = format!("{target}?{q}");
    }
    let host = match parsed.port() {
        Some(p) => format!("{}:{p}", parsed.host_str().unwrap()),
        None => parsed.host_str().unwrap().to_string(),
    };
    let mut b = Request::builder()
        .method(method)
        .uri(target)
        .header("host", host);
    for pair in headers.as_array().unwrap() {
        b = b.header(pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn assert_demo(seen: &Seen, cred: &Ec2Credential) {
    let demo = &Keystone::shared().fixtures.demo;
    let project = demo.project_id.as_deref().unwrap();
    let h = &seen.headers;
    assert_eq!(h["x-tenant-id"], project);
    assert_eq!(h["x-tenant-name"], demo.project_name.as_deref().unwrap());
    assert!(
        h["x-roles"]
            .to_str()
            .unwrap()
            .split(',')
            .any(|r| r == "member"),
        "{:?}",
        h["x-roles"]
    );
    assert!(!h["x-auth-token"].is_empty());
    assert_eq!(h["x-auth-url"], Keystone::shared().auth_url().as_str());
    let creds: Value = serde_json::from_slice(h["x-auth-ec2-creds"].as_bytes()).unwrap();
    assert_eq!(creds["ec2Credentials"]["access"], cred.access.as_str());
    let identity = seen.identity.as_ref().expect("typed identity");
    assert_eq!(identity.method, AuthMethod::Ec2Signature);
    assert_eq!(identity.user_id, demo.user_id);
    assert_eq!(identity.project_id(), Some(project));
    assert_eq!(
        identity.auth_token.expose(),
        h["x-auth-token"].to_str().unwrap()
    );
}

#[tokio::test]
async fn botocore_sigv4_header_get_and_post() {
    for mode in MODES {
        let h = Harness::new(mode);
        let cred = h.credential().await;
        let req = botocore(
            &cred,
            "GET",
            "http://heat.example.com:8000/v1/?Action=ListStacks&Version=2010-05-15",
            "",
            false,
        );
        let (status, body, seen) = h.send(req).await;
        assert_eq!(status, 200, "{mode:?}: {body}");
        assert_demo(&seen.unwrap(), &cred);

        let form =
            "Action=DescribeStackResource&StackName=s&LogicalResourceId=r&Version=2010-05-15";
        let req = botocore(
            &cred,
            "POST",
            "http://heat.example.com:8000/v1/",
            form,
            false,
        );
        let (status, body, seen) = h.send(req).await;
        assert_eq!(status, 200, "{mode:?}: {body}");
        let seen = seen.unwrap();
        assert_eq!(seen.body, form, "the form body reaches the service intact");
        assert_demo(&seen, &cred);
    }
}

#[tokio::test]
async fn botocore_presigned_sigv4() {
    for mode in MODES {
        let h = Harness::new(mode);
        let cred = h.credential().await;
        let req = botocore(
            &cred,
            "GET",
            "http://127.0.0.1:8000/v1/?Action=ListStacks",
            "",
            true,
        );
        let (status, body, seen) = h.send(req).await;
        assert_eq!(status, 200, "{mode:?}: {body}");
        let seen = seen.unwrap();
        assert!(seen.uri.query().unwrap().contains("X-Amz-Signature="));
        assert_demo(&seen, &cred);
    }
}

#[tokio::test]
async fn boto2_cfn_get_metadata_with_ip_host() {
    for mode in MODES {
        let h = Harness::new(mode);
        let cred = h.credential().await;
        let case = json!({"kind": "boto2", "access": cred.access, "secret": cred.secret.expose(),
                          "host": "192.168.1.5", "port": 8000, "stack": "mystack", "resource": "WebServer"});
        let r = ec2_oracle::run(&[case.to_string()]).remove(0);
        assert!(r.get("error").is_none(), "{r}");
        let req = replay("GET", r["url"].as_str().unwrap(), &r["headers"], "");
        assert_eq!(req.headers()["host"], "192.168.1.5:8000");
        let (status, body, seen) = h.send(req).await;
        assert_eq!(status, 200, "{mode:?}: {body}");
        assert_demo(&seen.unwrap(), &cred);
    }
}

/// Serves the layer on loopback (for real HTTP clients).
async fn serve(h: &Harness) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let inbox = h.inbox.clone();
    let app = axum::Router::new()
        .fallback_service(recorder(inbox))
        .layer(h.layer.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// cfn-signal: `curl -X PUT -H 'Content-Type:' --data-binary JSON <pre-signed v2 URL>`.
#[tokio::test]
async fn cfn_signal_presigned_v2_put_with_curl() {
    for mode in MODES {
        let h = Harness::new(mode);
        let cred = h.credential().await;
        let addr = serve(&h).await;
        let host = addr.to_string();
        let target = presigned_v2(
            &cred,
            "PUT",
            &host,
            &waitcondition_path(),
            &now_iso(),
            false,
        );
        let data = r#"{"Status": "SUCCESS", "Reason": "Configuration Complete", "UniqueId": "1", "Data": "Application has completed configuration."}"#;
        let curl = |target: String| {
            let data = data.to_string();
            tokio::task::spawn_blocking(move || {
                std::process::Command::new("curl")
                    .args([
                        "-s",
                        "-o",
                        "/dev/stderr",
                        "-w",
                        "%{http_code}",
                        "-X",
                        "PUT",
                        "-H",
                        "Content-Type:",
                        "--data-binary",
                        &data,
                    ])
                    .arg(format!("http://{host}{target}", host = addr))
                    .output()
                    .expect("curl")
            })
        };
        let out = curl(target.clone()).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "200",
            "{mode:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen = h.inbox.lock().unwrap().last().cloned().unwrap();
        assert_eq!(seen.body, data, "the JSON body reaches the service");
        assert_demo(&seen, &cred);

        // HmacSHA1: refused, as Keystone refuses it.
        let sha1 = presigned_v2(
            &cred,
            "PUT",
            &addr.to_string(),
            &waitcondition_path(),
            &now_iso(),
            true,
        );
        let out = curl(sha1).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "403", "{mode:?}");
    }
}

#[tokio::test]
async fn host_with_and_without_port() {
    for mode in MODES {
        let h = Harness::new(mode);
        let cred = h.credential().await;
        let path = waitcondition_path();
        let quoted = path.replace(':', "%3A");
        // Signed with the port, sent with it.
        let target = presigned_v2(
            &cred,
            "PUT",
            "heat.example.com:8000",
            &path,
            &now_iso(),
            false,
        );
        let (status, body, _) = h
            .send(request(
                "PUT",
                &target,
                &[("host", "heat.example.com:8000")],
                "{}",
            ))
            .await;
        assert_eq!(status, 200, "{mode:?}: {body}");
        // Signed without the port, sent with it: Keystone retries without the port.
        let target = presigned_v2(&cred, "PUT", "heat.example.com", &path, &now_iso(), false);
        let (status, body, _) = h
            .send(request(
                "PUT",
                &target,
                &[("host", "heat.example.com:8000")],
                "{}",
            ))
            .await;
        assert_eq!(status, 200, "{mode:?}: {body}");
        // Signed with a port, sent without one.
        let target = presigned_v2(
            &cred,
            "PUT",
            "heat.example.com:8000",
            &path,
            &now_iso(),
            false,
        );
        let (status, body, _) = h
            .send(request(
                "PUT",
                &target,
                &[("host", "heat.example.com")],
                "{}",
            ))
            .await;
        assert_eq!(status, 403, "{mode:?}: {body}");
        assert!(target.starts_with(&quoted));
    }
}

#[tokio::test]
async fn refusals() {
    for mode in MODES {
        let h = Harness::new(mode);
        let cred = h.credential().await;
        let path = waitcondition_path();
        let host = [("host", "heat.example.com:8000")];

        // Wrong secret.
        let mut wrong = cred.clone();
        wrong.secret = heatgate_keystone::Secret::new("not-the-secret");
        let target = presigned_v2(
            &wrong,
            "PUT",
            "heat.example.com:8000",
            &path,
            &now_iso(),
            false,
        );
        let (status, body, seen) = h.send(request("PUT", &target, &host, "{}")).await;
        assert_eq!(status, 403, "{mode:?}");
        assert!(seen.is_none());
        let expected: &[&str] = match mode {
            VerifyMode::Local => &["SignatureDoesNotMatch"],
            _ => &["SignatureDoesNotMatch", "AccessDenied"],
        };
        assert!(expected.contains(&code(&body)), "{mode:?}: {body}");

        // Unknown access key.
        let mut unknown = cred.clone();
        unknown.access = "0123456789abcdef0123456789abcdef".into();
        let target = presigned_v2(
            &unknown,
            "PUT",
            "heat.example.com:8000",
            &path,
            &now_iso(),
            false,
        );
        let (status, body, _) = h.send(request("PUT", &target, &host, "{}")).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
            "{mode:?}"
        );

        // Expired time stamp (older than 15 minutes) and one far in the future.
        for offset in [-20i64, 20] {
            let t = time::OffsetDateTime::now_utc() + time::Duration::minutes(offset);
            let f =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
            let target = presigned_v2(
                &cred,
                "PUT",
                "heat.example.com:8000",
                &path,
                &t.format(&f).unwrap(),
                false,
            );
            let (status, body, _) = h.send(request("PUT", &target, &host, "{}")).await;
            assert_eq!(
                (status, code(&body)),
                (StatusCode::FORBIDDEN, "AccessDenied"),
                "{mode:?} {offset}"
            );
        }

        // A tampered parameter.
        let target = presigned_v2(
            &cred,
            "PUT",
            "heat.example.com:8000",
            &path,
            &now_iso(),
            false,
        );
        let tampered = target.replace("SignatureVersion=2", "SignatureVersion=2&Extra=1");
        let (status, _, _) = h.send(request("PUT", &tampered, &host, "{}")).await;
        assert_eq!(status, 403, "{mode:?}");
        let tampered = target.replace("/wch?", "/other?");
        let (status, _, _) = h.send(request("PUT", &tampered, &host, "{}")).await;
        assert_eq!(status, 403, "{mode:?}");

        // A tampered SigV4 body.
        let form =
            "Action=DescribeStackResource&StackName=s&LogicalResourceId=r&Version=2010-05-15";
        let req = botocore(
            &cred,
            "POST",
            "http://heat.example.com:8000/v1/",
            form,
            false,
        );
        let (parts, _) = req.into_parts();
        let req = Request::from_parts(
            parts,
            Body::from(form.replace("StackName=s", "StackName=t")),
        );
        let (status, _, _) = h.send(req).await;
        assert_eq!(status, 403, "{mode:?}");
    }
}

#[tokio::test]
async fn deleted_credential_stops_working() {
    for mode in MODES {
        let h = Harness::new(mode);
        let cred = h.credential().await;
        let demo = &Keystone::shared().fixtures.demo;
        let send = || async {
            let target = presigned_v2(
                &cred,
                "PUT",
                "heat.example.com:8000",
                &waitcondition_path(),
                &now_iso(),
                false,
            );
            h.send(request(
                "PUT",
                &target,
                &[("host", "heat.example.com:8000")],
                "{}",
            ))
            .await
        };
        assert_eq!(send().await.0, 200, "{mode:?}");
        assert!(h
            .client
            .delete_ec2_credential(&demo.user_id, &cred.access)
            .await
            .unwrap());
        let (status, body, _) = send().await;
        match mode {
            VerifyMode::Keystone => {
                assert_eq!(
                    (status, code(&body)),
                    (StatusCode::FORBIDDEN, "InvalidClientTokenId")
                );
            }
            _ => {
                // Within credential_cache_time (2 s) the cached credential still works.
                assert_eq!(status, 200, "{body}");
                tokio::time::sleep(Duration::from_millis(2500)).await;
                let (status, body, _) = send().await;
                assert_eq!(
                    (status, code(&body)),
                    (StatusCode::FORBIDDEN, "InvalidClientTokenId"),
                    "{body}"
                );
            }
        }
    }
}

#[tokio::test]
async fn local_mode_reuses_credential_and_token() {
    let h = Harness::with(Ec2TokenConfig {
        verify: VerifyMode::Local,
        ..Default::default()
    });
    let cred = h.credential().await;
    let mut tokens = Vec::new();
    for _ in 0..5 {
        let target = presigned_v2(
            &cred,
            "PUT",
            "heat.example.com:8000",
            &waitcondition_path(),
            &now_iso(),
            false,
        );
        let (status, body, seen) = h
            .send(request(
                "PUT",
                &target,
                &[("host", "heat.example.com:8000")],
                "{}",
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        tokens.push(seen.unwrap().headers["x-auth-token"].clone());
    }
    let stats = h.layer.local_stats().unwrap();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(stats.credential_fetches.load(Relaxed), 1);
    assert_eq!(stats.token_requests.load(Relaxed), 1);
    assert_eq!(stats.local_hits.load(Relaxed), 4);
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "one token reused");
    // The token is a real one: Keystone validates it.
    let validation = h
        .client
        .validate(tokens[0].to_str().unwrap(), Default::default())
        .await
        .unwrap();
    assert!(matches!(
        validation,
        heatgate_keystone::Validation::Valid(_)
    ));
    // A wrong signature is refused locally, with no Keystone call.
    let mut wrong = cred.clone();
    wrong.secret = heatgate_keystone::Secret::new("nope");
    let target = presigned_v2(
        &wrong,
        "PUT",
        "heat.example.com:8000",
        &waitcondition_path(),
        &now_iso(),
        false,
    );
    let (status, _, _) = h
        .send(request(
            "PUT",
            &target,
            &[("host", "heat.example.com:8000")],
            "{}",
        ))
        .await;
    assert_eq!(status, 403);
    assert_eq!(stats.token_requests.load(Relaxed), 1);
}

#[tokio::test]
async fn missing_signature_key_and_pass_through() {
    for mode in MODES {
        let h = Harness::new(mode);
        let (status, body, _) = h
            .send(request(
                "GET",
                "/v1/?Action=ListStacks",
                &[("host", "h")],
                "",
            ))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "IncompleteSignature")
        );
        let (status, body, _) = h
            .send(request("GET", "/v1/?Signature=abc", &[("host", "h")], ""))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "MissingAuthenticationToken")
        );
        // X-Auth-User without a signature: refused by default, as if it had
        // none (nothing behind the layer is assumed to check a token).
        let unsigned = || {
            request(
                "POST",
                "/v1/?Action=ListStacks",
                &[
                    ("host", "h"),
                    ("x-auth-user", "demo"),
                    ("x-auth-key", "pw"),
                    ("x-roles", "admin"),
                ],
                "a=1",
            )
        };
        let (status, body, seen) = h.send(unsigned()).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "IncompleteSignature")
        );
        assert!(seen.is_none());
        // Passed on (Heat's ec2token, for an auth_token layer behind), body
        // intact and identity headers removed.
        let mut h = h;
        h.layer = h.layer.clone().unsigned(Unsigned::PassOn);
        let (status, _, seen) = h.send(unsigned()).await;
        assert_eq!(status, 200);
        let seen = seen.unwrap();
        assert_eq!(seen.body, "a=1");
        assert!(seen.identity.is_none());
        assert_eq!(seen.headers["x-auth-user"], "demo");
        assert!(seen.headers.get("x-roles").is_none());
        let _ = h.mode;
    }
}

#[tokio::test]
async fn spoofed_downstream_headers_are_replaced() {
    for mode in MODES {
        let h = Harness::new(mode);
        let cred = h.credential().await;
        let target = presigned_v2(
            &cred,
            "PUT",
            "heat.example.com:8000",
            &waitcondition_path(),
            &now_iso(),
            false,
        );
        let (status, _, seen) = h
            .send(request(
                "PUT",
                &target,
                &[
                    ("host", "heat.example.com:8000"),
                    ("x-tenant-id", "evil"),
                    ("x-roles", "admin"),
                    ("x-auth-token", "forged"),
                    ("x-auth-ec2-creds", "forged"),
                ],
                "{}",
            ))
            .await;
        assert_eq!(status, 200);
        let seen = seen.unwrap();
        assert_eq!(seen.headers.get_all("x-tenant-id").iter().count(), 1);
        assert_eq!(seen.headers.get_all("x-roles").iter().count(), 1);
        assert_ne!(seen.headers["x-auth-token"], "forged");
        assert_demo(&seen, &cred);
    }
}

#[tokio::test]
async fn bad_input_is_a_4xx_never_a_500() {
    for mode in MODES {
        let h = Harness::new(mode);
        let cred = h.credential().await;
        let host = [("host", "heat.example.com:8000")];
        let cases: Vec<(Request<Body>, u16, &str)> = vec![
            (request("GET", "/v1/?Action=ListStacks", &[("host", "h"), ("authorization", "AWS4-HMAC-SHA256 Credential=AK, Signature=x")], ""), 400, "IncompleteSignature"),
            (request("GET", "/v1/", &[("host", "h"), ("authorization", "AWS4-HMAC-SHA256 Credential=AK/2024/r, SignedHeaders=host, Signature=x")], ""), 400, "IncompleteSignature"),
            (request("GET", "/v1/", &[("host", "h"), ("authorization", "AWS4-HMAC-SHA256 Credential=AK/20240102/r/s/aws4_request, SignedHeaders=host, Signature=x"), ("x-amz-date", "20240103T000000Z")], ""), 400, "IncompleteSignature"),
            (request("GET", "/v1/", &[("host", "h"), ("authorization", "Signature=x, Credential=AK/")], ""), 400, "IncompleteSignature"),
            (request("GET", "/v1/?SignatureVersion=0&Signature=x&AWSAccessKeyId=AK", &[("host", "h")], ""), 400, "IncompleteSignature"),
            (request("GET", "/v1/?SignatureVersion=9&Signature=x&AWSAccessKeyId=AK", &[("host", "h")], ""), 400, "IncompleteSignature"),
            (request("GET", "/v1/?a=1&a=2&Signature=x&AWSAccessKeyId=AK&SignatureVersion=2", &[("host", "h")], ""), 400, "InvalidQueryParameter"),
            (request("GET", "/v1/?Action=%FF%FE&Signature=x&AWSAccessKeyId=AK&SignatureVersion=2", &[("host", "h")], ""), 400, "InvalidQueryParameter"),
            (request("GET", "/v1/%FF?Signature=x&AWSAccessKeyId=AK&SignatureVersion=2", &[("host", "h")], ""), 400, "InvalidQueryParameter"),
            (request("GET", "/v1/?Signature=x&AWSAccessKeyId=AK&SignatureVersion=2", &[("host", "h"), ("host", "i")], ""), 400, "IncompleteSignature"),
            (request("POST", "/v1/", &host, vec![b'a'; 2 << 20]), 400, "RequestLimitExceeded"),
            (request("POST", "/v1/?Signature=x&AWSAccessKeyId=AK&SignatureVersion=2", &host, Body::from_stream(futures_util::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 64 << 10])))))), 400, "RequestLimitExceeded"),
            (request("POST", "/v1/", &[("host", "h"), ("content-type", "multipart/form-data; boundary=x")], "garbage"), 400, "InvalidQueryParameter"),
        ];
        for (i, (req, want_status, want_code)) in cases.into_iter().enumerate() {
            let (status, body, seen) = h.send(req).await;
            assert_eq!(
                (status.as_u16(), code(&body)),
                (want_status, want_code),
                "{mode:?} case {i}: {body}"
            );
            assert!(seen.is_none());
        }
        // A validly signed 1 MB body: over the limit (Heat's and Keystone's 112 KiB).
        let big = format!("Action=X&Data={}", "a".repeat(1_000_000));
        let req = botocore(
            &cred,
            "POST",
            "http://heat.example.com:8000/v1/",
            &big,
            false,
        );
        let (status, body, _) = h.send(req).await;
        assert_eq!(
            (status.as_u16(), code(&body)),
            (400, "RequestLimitExceeded"),
            "{mode:?}"
        );
        // A body within the limit is hashed, signed and passed on like any other.
        let data = format!("{{\"Data\": \"{}\"}}", "a".repeat(90_000));
        let req = botocore(
            &cred,
            "PUT",
            "http://heat.example.com:8000/v1/signal/x",
            &data,
            false,
        );
        let (status, body, seen) = h.send(req).await;
        assert_eq!(status, 200, "{mode:?}: {body}");
        assert_eq!(seen.unwrap().body, data);
    }
}

#[tokio::test]
async fn keystone_down_is_503() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    for mode in MODES {
        let keystone = Keystone::shared();
        let mut config = keystone.service_client_config();
        config.auth_url = format!("http://{addr}/v3").parse().unwrap();
        config.http_request_max_retries = 0;
        config.http_connect_timeout = Duration::from_secs(2);
        let client = Client::new(config).unwrap();
        let layer = Ec2TokenLayer::new(
            Ec2TokenConfig {
                verify: mode,
                ..Default::default()
            },
            client,
        )
        .unwrap();
        let inbox = Inbox::default();
        let cred = Harness::new(mode).credential().await;
        let target = presigned_v2(
            &cred,
            "PUT",
            "heat.example.com:8000",
            &waitcondition_path(),
            &now_iso(),
            false,
        );
        let response = layer
            .layer(recorder(inbox.clone()))
            .oneshot(request(
                "PUT",
                &target,
                &[("host", "heat.example.com:8000")],
                "{}",
            ))
            .await
            .unwrap();
        assert_eq!(response.status(), 503, "{mode:?}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            body,
            "<ErrorResponse><Error><Type>Server</Type><Code>ServiceUnavailable</Code><Message>Service temporarily unavailable</Message></Error></ErrorResponse>"
        );
        assert!(inbox.lock().unwrap().is_empty());
    }
}

/// Both modes give the same answer to the same requests.
#[tokio::test]
async fn both_modes_agree() {
    let keystone_mode = Harness::new(VerifyMode::Keystone);
    let local_mode = Harness::new(VerifyMode::Local);
    let cred = keystone_mode.credential().await;
    let path = waitcondition_path();
    let mut wrong = cred.clone();
    wrong.secret = heatgate_keystone::Secret::new("x");
    let targets = vec![
        presigned_v2(
            &cred,
            "PUT",
            "heat.example.com:8000",
            &path,
            &now_iso(),
            false,
        ),
        presigned_v2(&cred, "PUT", "heat.example.com", &path, &now_iso(), false),
        presigned_v2(
            &cred,
            "PUT",
            "heat.example.com:8000",
            &path,
            &now_iso(),
            true,
        ),
        presigned_v2(
            &wrong,
            "PUT",
            "heat.example.com:8000",
            &path,
            &now_iso(),
            false,
        ),
        presigned_v2(
            &cred,
            "POST",
            "heat.example.com:8000",
            &path,
            &now_iso(),
            false,
        ),
    ];
    for target in targets {
        let a = keystone_mode
            .send(request(
                "PUT",
                &target,
                &[("host", "heat.example.com:8000")],
                "{}",
            ))
            .await
            .0;
        let b = local_mode
            .send(request(
                "PUT",
                &target,
                &[("host", "heat.example.com:8000")],
                "{}",
            ))
            .await
            .0;
        assert_eq!(a, b, "{target}");
    }
}

/// The Keystone client's EC2 calls: credentials read with the service identity,
/// and a revoked service token renewed rather than blamed on the signature.
#[tokio::test]
async fn keystone_client_ec2_calls() {
    use heatgate_keystone::Ec2Outcome;
    let keystone = Keystone::shared();
    let client = Client::new(keystone.service_client_config()).unwrap();
    let demo = &keystone.fixtures.demo;
    let cred = client
        .create_ec2_credential(&demo.user_id, demo.project_id.as_deref().unwrap())
        .await
        .unwrap();
    let read = client
        .ec2_credential(&cred.access)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(read, cred);
    assert!(client
        .ec2_credential("no-such-access-key")
        .await
        .unwrap()
        .is_none());

    let mut creds = Ec2Credentials {
        access: cred.access.clone(),
        host: "h:8000".into(),
        verb: "GET".into(),
        path: "/v1/".into(),
        params: Ordered::from_pairs([
            ("SignatureVersion", "2"),
            ("AWSAccessKeyId", cred.access.as_str()),
            ("Timestamp", now_iso().as_str()),
        ]),
        ..Default::default()
    };
    creds.signature = sign(&creds, cred.secret.expose().as_bytes()).unwrap();

    // Revoke the client's service token behind its back: the next call gets a
    // 401 that is not the signature's fault.
    let service_token = client.service_token_value().await.unwrap();
    keystone.revoke(&service_token).await;
    let outcome = client.ec2_tokens(&creds).await.unwrap();
    assert!(matches!(outcome, Ec2Outcome::Accepted(_)), "{outcome:?}");
    assert_ne!(client.service_token_value().await.unwrap(), service_token);

    // A bad signature is the signature's fault.
    let mut bad = creds.clone();
    bad.signature = "bad".into();
    let outcome = client.ec2_tokens(&bad).await.unwrap();
    assert!(
        matches!(outcome, Ec2Outcome::Rejected { status: 401, .. }),
        "{outcome:?}"
    );

    assert!(client
        .delete_ec2_credential(&demo.user_id, &cred.access)
        .await
        .unwrap());
    assert!(!client
        .delete_ec2_credential(&demo.user_id, &cred.access)
        .await
        .unwrap());
    assert!(matches!(
        client.ec2_tokens(&creds).await.unwrap(),
        Ec2Outcome::UnknownAccessKey
    ));
}
