//! Requests signed as the AWS clients Heat serves sign them, for tests that
//! call the CFN API with an EC2 keypair.

use heatgate_middleware::ec2token::signature::{self, Ec2Credentials, Ordered};

/// A SigV2 query request (`GET http://{host}/v1/?...&Signature=...`) signed
/// with the EC2 keypair `access`/`secret`: `params` (such as
/// `("Action", "DescribeStackResource")`) plus SignatureMethod HmacSHA256,
/// SignatureVersion 2, AWSAccessKeyId and a Timestamp of now, as boto sends
/// them. `host` is what the server sees in `Host` (`127.0.0.1:8000`).
pub fn sigv2_query_url(host: &str, access: &str, secret: &str, params: &[(&str, &str)]) -> String {
    let mut p = Ordered::new();
    for (k, v) in params {
        p.insert((*k).into(), (*v).into());
    }
    p.insert("SignatureMethod".into(), "HmacSHA256".into());
    p.insert("SignatureVersion".into(), "2".into());
    p.insert("AWSAccessKeyId".into(), access.into());
    let now = time::OffsetDateTime::now_utc();
    let ts = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    p.insert("Timestamp".into(), ts);
    let creds = Ec2Credentials {
        access: access.into(),
        signature: String::new(),
        host: host.into(),
        verb: "GET".into(),
        path: "/v1/".into(),
        params: p.clone(),
        headers: Ordered::new(),
        body_hash: String::new(),
    };
    let sig = signature::sign(&creds, secret.as_bytes()).expect("a SigV2 signature");
    let mut q: Vec<String> = p
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    q.push(format!("Signature={}", encode(&sig)));
    format!("http://{host}/v1/?{}", q.join("&"))
}

/// Percent-encodes a query value (a space is `%20`, not `+`).
fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
