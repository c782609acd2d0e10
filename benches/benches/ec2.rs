//! SigV4 (and SigV2) verification as the ec2token layer does it in local mode:
//! prepare Keystone's canonical request from the credentials document, derive
//! the key and compare in constant time. Target: < 5 microseconds for SigV4.
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

/// Every bench of this file (what `criterion_group!` would write, documented).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
}
criterion_main!(benches);
