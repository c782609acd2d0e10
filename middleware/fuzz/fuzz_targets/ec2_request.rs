//! The EC2 request parsers: query strings and form bodies (webob's rules),
//! paths, multipart bodies, the `Authorization` header and the SigV4
//! canonicaliser, on arbitrary bytes. Nothing may panic, and a request that
//! verifies must verify with the signature `sign` computes.
//!
//! Input layout: byte 0 picks the method, the rest is split on 0xFF into
//! query, Authorization, Content-Type, X-Amz-Date, body.
#![no_main]

use heatgate_middleware::ec2token::request::{
    parse_multipart, parse_params, read_request, requote_path, Head, Reading,
};
use heatgate_middleware::ec2token::signature::{
    check_freshness, parse_isotime, prepare, sign, verify, Freshness,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut fields = rest.split(|&b| b == 0xFF);
    let query = fields.next().unwrap_or(b"");
    let authorization = fields.next().unwrap_or(b"");
    let content_type = fields.next().unwrap_or(b"");
    let amz_date = fields.next().unwrap_or(b"");
    let body = fields.next().unwrap_or(b"");

    // The pure parsers on raw bytes.
    let _ = parse_params(query);
    let _ = parse_params(body);
    let _ = parse_multipart(content_type, body);
    if let Ok(s) = std::str::from_utf8(query) {
        let _ = requote_path(s);
        let _ = parse_isotime(s);
    }

    // A whole request.
    let method = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"][usize::from(first % 6)];
    let uri = format!("/v1/?{}", String::from_utf8_lossy(query));
    let mut builder = http::Request::builder()
        .method(method)
        .header("host", "heat.example.com:8000");
    builder = match uri.parse::<http::Uri>() {
        Ok(u) => builder.uri(u),
        Err(_) => builder.uri("/v1/"),
    };
    for (name, value) in [
        ("authorization", authorization),
        ("content-type", content_type),
        ("x-amz-date", amz_date),
    ] {
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            if !value.is_empty() {
                builder = builder.header(name, v);
            }
        }
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let Ok(head) = Head::read(&parts) else { return };
    let _ = head.has_signature();
    let Ok(Reading::Signed(signed)) = read_request(&parts, &head, body) else {
        return;
    };
    let creds = signed.credentials;
    let _ = check_freshness(
        &creds,
        time::OffsetDateTime::UNIX_EPOCH,
        &Freshness::default(),
    );
    if prepare(&creds).is_err() {
        assert!(verify(&creds, b"secret").is_err());
        return;
    }
    let computed = sign(&creds, b"secret").expect("prepared");
    let mut good = creds.clone();
    good.signature = computed;
    assert_eq!(verify(&good, b"secret"), Ok(true));
    let _ = verify(&creds, b"secret");
});
