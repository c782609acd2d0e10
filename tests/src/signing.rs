//! Requests signed as the AWS clients Heat serves sign them, for tests that
//! call the CFN API with an EC2 keypair.

use heatgate_middleware::ec2token::signature;

/// A SigV2 query request (`GET http://{host}/v1/?...&Signature=...`) signed
/// with the EC2 keypair `access`/`secret`: `params` (such as
/// `("Action", "DescribeStackResource")`) plus SignatureMethod HmacSHA256,
/// SignatureVersion 2, AWSAccessKeyId and a Timestamp of now, as boto sends
/// them. `host` is what the server sees in `Host` (`127.0.0.1:8000`).
pub fn sigv2_query_url(host: &str, access: &str, secret: &str, params: &[(&str, &str)]) -> String {
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
    let query = signature::sigv2_query(
        "GET",
        host,
        "/v1/",
        access,
        secret.as_bytes(),
        params,
        Some(&ts),
    )
    .expect("a SigV2 signature");
    format!("http://{host}/v1/?{query}")
}
