//! SigV4 (and SigV2) verification as the ec2token layer does it in local mode:
//! prepare Keystone's canonical request from the credentials document, derive
//! the key and compare in constant time. Target: < 5 microseconds for SigV4.
//!
//! Side by side against a real Keystone (`heatgate_tests::Keystone::shared()`),
//! with one pre-signed SigV2 request (a cfn-signal PUT) sent again and again:
//! - `ec2_side_by_side/keystone_ec2tokens`: Keystone's own `/v3/ec2tokens`
//!   round trip (what Heat's middleware pays on every request);
//! - `ec2_side_by_side/layer_keystone_mode`: the whole layer in keystone mode;
//! - `ec2_side_by_side/layer_local_mode`: the whole layer in local mode (warm).
//!
//! Run: `cargo bench -p heatgate-benches --bench ec2`.

use criterion::{black_box, criterion_main, Criterion};
use heatgate_middleware::ec2token::request::{read_request, Head, Reading};
use heatgate_middleware::ec2token::signature::{
    prepare, sign, verify, verify_cached, Ec2Credentials, Ordered, SigningKeyCache,
};

const SECRET: &[u8] = b"verysecret";

fn sigv4_post() -> Ec2Credentials {
    let mut c = Ec2Credentials {
        access: "ak0123456789".into(),
        host: "heat.example.com:8000".into(),
        verb: "POST".into(),
        path: "/v1/".into(),
        params: Ordered::from_pairs([
            ("Action", "DescribeStackResource"),
            ("StackName", "s"),
            ("LogicalResourceId", "r"),
            ("Version", "2010-05-15"),
        ]),
        headers: Ordered::from_pairs([
            ("Host", "heat.example.com:8000"),
            ("X-Amz-Date", "20240102T030405Z"),
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("User-Agent", "Boto/2.49.0 Python/3.11"),
            ("Content-Length", "79"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=ak0123456789/20240102/heat/cloudformation/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=x"),
        ]),
        body_hash: "51b56a9a8bec2982d80829c6d5f2ce7cf8ca078257e84de84e488d2f769e1897".into(),
        ..Default::default()
    };
    c.signature = sign(&c, SECRET).unwrap();
    c
}

fn sigv4_get() -> Ec2Credentials {
    let mut c = sigv4_post();
    c.verb = "GET".into();
    c.params.insert("ContentType".into(), "JSON".into());
    c.body_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into();
    c.signature = sign(&c, SECRET).unwrap();
    c
}

fn sigv2_put() -> Ec2Credentials {
    let mut c = Ec2Credentials {
        access: "ak0123456789".into(),
        host: "heat.example.com:8000".into(),
        verb: "PUT".into(),
        path: "/v1/waitcondition/arn:openstack:heat::p123:stacks/mystack/s-id/resources/wch".into(),
        params: Ordered::from_pairs([
            ("SignatureMethod", "HmacSHA256"),
            ("SignatureVersion", "2"),
            ("AWSAccessKeyId", "ak0123456789"),
            ("Timestamp", "2024-01-02T03:04:05Z"),
        ]),
        ..Default::default()
    };
    c.signature = sign(&c, SECRET).unwrap();
    c
}

/// The benches.
fn bench(c: &mut Criterion) {
    let post = sigv4_post();
    let get = sigv4_get();
    let v2 = sigv2_put();
    assert!(
        verify(&post, SECRET).unwrap()
            && verify(&get, SECRET).unwrap()
            && verify(&v2, SECRET).unwrap()
    );
    c.bench_function("ec2/verify_sigv4_post", |b| {
        b.iter(|| verify(black_box(&post), black_box(SECRET)).unwrap())
    });
    c.bench_function("ec2/verify_sigv4_get_query", |b| {
        b.iter(|| verify(black_box(&get), black_box(SECRET)).unwrap())
    });
    // Where the time goes.
    c.bench_function("ec2/prepare_sigv4_get", |b| {
        b.iter(|| prepare(black_box(&get)).unwrap())
    });
    c.bench_function("ec2/signing_key", |b| {
        b.iter(|| {
            heatgate_middleware::ec2token::signature::signing_key(
                black_box(SECRET),
                "20240102",
                "heat",
                "cloudformation",
            )
        })
    });
    // What the local mode does: the signing key is derived once per scope.
    let keys = SigningKeyCache::default();
    c.bench_function("ec2/verify_sigv4_post_cached_key", |b| {
        b.iter(|| {
            let prepared = prepare(black_box(&post)).unwrap();
            assert!(verify_cached(&prepared, &post, SECRET, &keys))
        })
    });
    c.bench_function("ec2/verify_sigv2_put", |b| {
        b.iter(|| verify(black_box(&v2), black_box(SECRET)).unwrap())
    });

    // The whole local path without I/O: parse the HTTP request, build the
    // credentials document, verify.
    let request = http::Request::builder()
        .method("GET")
        .uri("/v1/?Action=DescribeStackResource&ContentType=JSON&LogicalResourceId=r&StackName=s&Version=2010-05-15")
        .header("host", "heat.example.com:8000")
        .header("x-amz-date", "20240102T030405Z")
        .header("user-agent", "Boto/2.49.0 Python/3.11")
        .header("authorization", get.headers.get("Authorization").unwrap().replace("Signature=x", &format!("Signature={}", get.signature)))
        .body(())
        .unwrap();
    let (parts, ()) = request.into_parts();
    c.bench_function("ec2/parse_and_verify_sigv4_get", |b| {
        b.iter(|| {
            let head = Head::read(black_box(&parts)).unwrap();
            let Reading::Signed(s) = read_request(&parts, &head, b"").unwrap() else {
                unreachable!()
            };
            verify(&s.credentials, SECRET).unwrap()
        })
    });
}

/// A cfn-signal request pre-signed (SigV2) with `cred`, and its credentials document.
fn signal(cred: &heatgate_keystone::Ec2Credential) -> (http::Request<()>, Ec2Credentials) {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    let now = time::OffsetDateTime::now_utc().format(&f).unwrap();
    let mut creds = Ec2Credentials {
        access: cred.access.clone(),
        host: "heat.example.com:8000".into(),
        verb: "PUT".into(),
        path: "/v1/signal/arn:openstack:heat::p:stacks/s/i/resources/r".into(),
        params: Ordered::from_pairs([
            ("SignatureMethod", "HmacSHA256"),
            ("SignatureVersion", "2"),
            ("AWSAccessKeyId", cred.access.as_str()),
            ("Timestamp", now.as_str()),
        ]),
        headers: Ordered::from_pairs([("Host", "heat.example.com:8000")]),
        body_hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into(),
        ..Default::default()
    };
    creds.signature = sign(&creds, cred.secret.expose().as_bytes()).unwrap();
    let mut query = String::new();
    for (k, v) in creds
        .params
        .iter()
        .chain([("Signature", creds.signature.as_str())])
    {
        if !query.is_empty() {
            query.push('&');
        }
        heatgate_middleware::ec2token::signature::quote_unreserved(&mut query, k);
        query.push('=');
        heatgate_middleware::ec2token::signature::quote_unreserved(&mut query, v);
    }
    let request = http::Request::builder()
        .method("PUT")
        .uri(format!("{}?{query}", creds.path.replace(':', "%3A")))
        .header("host", "heat.example.com:8000")
        .body(())
        .unwrap();
    (request, creds)
}

fn side_by_side(c: &mut Criterion) {
    use heatgate_middleware::ec2token::{Ec2TokenConfig, Ec2TokenLayer, VerifyMode};
    use std::time::Duration;
    use tower::{Layer, ServiceExt};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let keystone = heatgate_tests::Keystone::shared();
    let client = heatgate_keystone::Client::new(keystone.service_client_config()).unwrap();
    let demo = &keystone.fixtures.demo;
    let cred = rt
        .block_on(client.create_ec2_credential(&demo.user_id, demo.project_id.as_deref().unwrap()))
        .expect("an EC2 credential");
    let (request, creds) = signal(&cred);
    let request = move || {
        let mut r = http::Request::new(axum::body::Body::empty());
        *r.method_mut() = request.method().clone();
        *r.uri_mut() = request.uri().clone();
        *r.headers_mut() = request.headers().clone();
        r
    };
    let ok = tower::service_fn(|_req: http::Request<axum::body::Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(axum::body::Body::empty()))
    });
    let layer = |verify| {
        Ec2TokenLayer::new(
            Ec2TokenConfig {
                verify,
                ..Default::default()
            },
            client.clone(),
        )
        .unwrap()
    };
    let keystone_mode = layer(VerifyMode::Keystone).layer(ok);
    let local_layer = layer(VerifyMode::Local);
    let local_mode = local_layer.layer(ok);
    for service in [&keystone_mode, &local_mode] {
        let status = rt
            .block_on(service.clone().oneshot(request()))
            .unwrap()
            .status();
        assert_eq!(status, 200, "the signed request is accepted");
    }

    let mut group = c.benchmark_group("ec2_side_by_side");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("keystone_ec2tokens", |b| {
        b.to_async(&rt).iter(|| async {
            let outcome = client.ec2_tokens(&creds).await.unwrap();
            assert!(matches!(
                outcome,
                heatgate_keystone::Ec2Outcome::Accepted(_)
            ));
        })
    });
    group.bench_function("layer_keystone_mode", |b| {
        b.to_async(&rt).iter(|| async {
            let r = keystone_mode.clone().oneshot(request()).await.unwrap();
            assert_eq!(r.status(), 200);
        })
    });
    group
        .sample_size(100)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("layer_local_mode", |b| {
        b.to_async(&rt).iter(|| async {
            let r = local_mode.clone().oneshot(request()).await.unwrap();
            debug_assert_eq!(r.status(), 200);
        })
    });
    group.finish();
    let stats = local_layer.local_stats().unwrap();
    assert_eq!(
        stats
            .token_requests
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "the local mode asked Keystone once"
    );
    let _ = rt.block_on(client.delete_ec2_credential(&demo.user_id, &cred.access));
}

/// Every bench of this file (what `criterion_group!` would write, documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    side_by_side(&mut c);
}
criterion_main!(benches);
