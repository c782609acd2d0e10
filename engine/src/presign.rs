//! Heat's stack identifiers as ARNs, and the pre-signed SigV2 URLs that wait
//! condition handles and signal responders hand to instances.
//!
//! ```
//! use heatgate_engine::presign::{resource_arn, presigned_url, Presign};
//! let arn = resource_arn("p123", "mystack", "s-id", "wch");
//! assert_eq!(arn, "arn:openstack:heat::p123:stacks/mystack/s-id/resources/wch");
//! let url = presigned_url(&Presign {
//!     base: "http://heat.example.com:8000/v1/waitcondition",
//!     method: "PUT",
//!     arn: &arn,
//!     access: "ak0123456789",
//!     secret: b"verysecret",
//!     timestamp: Some("2024-01-02T03:04:05Z"),
//! }).unwrap();
//! assert!(url.ends_with("&Signature=9zmU54nt8X4wxPl1OKjXbZ79Qhf%2FkXo4HtanI2uO7ec%3D"));
//! ```

use heatgate_middleware::ec2token::request::requote_path;
use heatgate_middleware::ec2token::signature;

/// `arn:openstack:heat::{tenant}:stacks/{name}/{id}`.
pub fn stack_arn(tenant: &str, name: &str, id: &str) -> String {
    format!(
        "arn:openstack:heat::{}:stacks/{}/{}",
        quote(tenant),
        quote(name),
        quote(id)
    )
}

/// `arn:openstack:heat::{tenant}:stacks/{name}/{id}/resources/{resource}`.
pub fn resource_arn(tenant: &str, name: &str, id: &str, resource: &str) -> String {
    format!(
        "{}/resources/{}",
        stack_arn(tenant, name, id),
        quote(resource)
    )
}

/// Python's `urllib.parse.quote(s, safe='')` for one ARN part: unreserved
/// characters stay, everything else is percent-encoded (so a `/` or `:` in a
/// name cannot change the ARN's structure).
pub fn quote(s: &str) -> String {
    urlencoding::encode(s).into_owned()
}

/// Python's `urllib.parse.quote(s)` (safe `/`): how Heat puts an ARN in a URL.
pub fn quote_path(s: &str) -> String {
    s.split('/').map(quote).collect::<Vec<_>>().join("/")
}

/// What a pre-signed URL is made of.
#[derive(Debug, Clone, Copy)]
pub struct Presign<'a> {
    /// `http://host:port/v1/waitcondition` or `.../v1/signal`.
    pub base: &'a str,
    /// `PUT` (wait conditions, as cfn-signal sends) or `POST` (signals).
    pub method: &'a str,
    /// The resource ARN.
    pub arn: &'a str,
    /// The stack user's EC2 access key.
    pub access: &'a str,
    /// Its secret.
    pub secret: &'a [u8],
    /// `%Y-%m-%dT%H:%M:%SZ`, or `None` for a URL that never expires.
    pub timestamp: Option<&'a str>,
}

/// Why a URL could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot pre-sign a URL for {base}: {reason}")]
pub struct PresignError {
    base: String,
    reason: String,
}

/// The pre-signed URL: `base/quote(arn)?SignatureMethod=HmacSHA256&
/// SignatureVersion=2&AWSAccessKeyId=..[&Timestamp=..]&Signature=..`, signed
/// over the lower-case host (port kept) and the UNQUOTED path, as Heat's
/// signal_responder signs it (exactly: the path as the ec2token layer will
/// rebuild it, so names with `%`, spaces or `/` verify too).
pub fn presigned_url(p: &Presign<'_>) -> Result<String, PresignError> {
    let err = |reason: &str| PresignError {
        base: p.base.to_owned(),
        reason: reason.to_owned(),
    };
    let base = url::Url::parse(p.base).map_err(|e| err(&e.to_string()))?;
    let host = base
        .host_str()
        .ok_or_else(|| err("no host"))?
        .to_lowercase();
    let host = match base.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    };
    let base_path = base.path().trim_end_matches('/');
    // What the verifier sees: the request path decoded once and re-quoted as
    // webob does (for plain ARNs that is the unquoted path Heat signs).
    let unquoted_path = requote_path(&format!("{base_path}/{}", quote_path(p.arn)))
        .map_err(|e| err(&e.to_string()))?;
    let query = signature::sigv2_query(
        p.method,
        &host,
        &unquoted_path,
        p.access,
        p.secret,
        &[],
        p.timestamp,
    )
    .map_err(|e| err(&e.to_string()))?;
    let root = p.base.trim_end_matches('/');
    Ok(format!("{root}/{}?{query}", quote_path(p.arn)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_vector_is_reproduced_exactly() {
        let arn = resource_arn("p123", "mystack", "s-id", "wch");
        let url = presigned_url(&Presign {
            base: "http://heat.example.com:8000/v1/waitcondition",
            method: "PUT",
            arn: &arn,
            access: "ak0123456789",
            secret: b"verysecret",
            timestamp: Some("2024-01-02T03:04:05Z"),
        })
        .unwrap();
        assert_eq!(
            url,
            "http://heat.example.com:8000/v1/waitcondition/arn%3Aopenstack%3Aheat%3A%3Ap123%3Astacks/mystack/s-id/resources/wch?SignatureMethod=HmacSHA256&SignatureVersion=2&AWSAccessKeyId=ak0123456789&Timestamp=2024-01-02T03%3A04%3A05Z&Signature=9zmU54nt8X4wxPl1OKjXbZ79Qhf%2FkXo4HtanI2uO7ec%3D"
        );
    }

    #[test]
    fn url_special_names_stay_inside_their_part() {
        let arn = resource_arn("p", "s", "id", "a/b c:d");
        assert_eq!(
            arn,
            "arn:openstack:heat::p:stacks/s/id/resources/a%2Fb%20c%3Ad"
        );
        let parsed = heatgate_middleware::stack_lookup::parse_arn(&arn).unwrap();
        assert_eq!(parsed.3, "/resources/a%2Fb%20c%3Ad");
    }
}
