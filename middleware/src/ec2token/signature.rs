//! The EC2 signature algorithms exactly as Keystone computes them (its
//! `/v3/ec2tokens` runs keystoneclient's `Ec2Signer`), with no I/O.
//!
//! [`Ec2Credentials`] is the document the layer sends to Keystone; the same
//! value is verified locally by [`verify`] in the local mode, so both modes see
//! the same bytes. What Keystone does, and so what this module does:
//!
//! - dispatch on `params.SignatureVersion` ("0", "1", "2"), else SigV4 when the
//!   `Authorization` header starts with `AWS4-HMAC-SHA256`, or (only without an
//!   `Authorization` header) when `params.X-Amz-Algorithm` is `AWS4-HMAC-SHA256`;
//! - v0: `base64(HMAC-SHA1(secret, Action + Timestamp))`;
//! - v1: HMAC-SHA1 over every key and value, keys sorted case-insensitively;
//! - v2: always HMAC-SHA256 (`SignatureMethod` is forced to `HmacSHA256`, so
//!   clients signing with HmacSHA1 fail) over `VERB\nhost\npath\n` + canonical query;
//! - v4: the AWS canonical request, but the path is used as given, the canonical
//!   query is empty for POST, header values are only stripped (no whitespace
//!   folding), and `SignedHeaders` is taken in the order given;
//! - a signature that does not match is tried again with the port removed from
//!   the host (some clients sign without it);
//! - signatures are compared in constant time.
//!
//! Where Keystone would crash (a missing `Action`, an unknown version, a v4
//! request without a date or credential scope) this module answers
//! [`Malformed`], so the layer can refuse with a 400 instead of passing a 500 on.
//!
//! ```
//! use heatgate_middleware::ec2token::signature::{sign, verify, Ec2Credentials, Ordered};
//! let mut creds = Ec2Credentials {
//!     access: "ak0123456789".into(),
//!     host: "heat.example.com:8000".into(),
//!     verb: "GET".into(),
//!     path: "/v1/".into(),
//!     ..Default::default()
//! };
//! creds.params = Ordered::from_pairs([
//!     ("SignatureVersion", "2"),
//!     ("SignatureMethod", "HmacSHA256"),
//!     ("AWSAccessKeyId", "ak0123456789"),
//!     ("Timestamp", "2024-01-02T03:04:05Z"),
//! ]);
//! creds.signature = sign(&creds, b"verysecret").unwrap();
//! assert!(verify(&creds, b"verysecret").unwrap());
//! assert!(!verify(&creds, b"wrong").unwrap());
//! ```

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::ser::{Serialize, SerializeMap, Serializer};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

/// An insertion-ordered string map with unique keys (a Python `dict` of
/// strings): what Keystone receives as `params` and `headers`.
///
/// Inserting an existing key replaces its value and keeps its position, as a
/// Python dict does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ordered(Vec<(String, String)>);

impl Ordered {
    /// An empty map.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// A map from pairs (later duplicates replace earlier values).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let mut map = Self::new();
        for (k, v) in pairs {
            map.insert(k.into(), v.into());
        }
        map
    }

    /// The value of `key` (exact match).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key`, keeping its position when it exists.
    pub fn insert(&mut self, key: String, value: String) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// What Keystone's `/v3/ec2tokens` receives (`{"credentials": {...}}`), built
/// by the layer from the request exactly as Heat builds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Ec2Credentials {
    /// The access key.
    pub access: String,
    /// The signature the client sent.
    pub signature: String,
    /// The `Host` header (with its port, if any).
    pub host: String,
    /// The request method.
    pub verb: String,
    /// The request path, re-quoted as webob does.
    pub path: String,
    /// Query and form parameters, without `Signature` and `X-Amz-Signature`.
    pub params: Ordered,
    /// Request headers with Title-Case names.
    pub headers: Ordered,
    /// Hex sha256 of the raw body.
    pub body_hash: String,
}

/// The signature versions Keystone knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `SignatureVersion=0`
    V0,
    /// `SignatureVersion=1`
    V1,
    /// `SignatureVersion=2` (always HMAC-SHA256)
    V2,
    /// AWS4-HMAC-SHA256, in the `Authorization` header or the query.
    V4,
}

/// A request Keystone could not even compute a signature for (it would answer
/// 500): the layer refuses it with `IncompleteSignature`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// `SignatureVersion` is not 0, 1 or 2 and the request is not SigV4.
    #[error("unknown signature version {0:?}")]
    UnknownVersion(String),
    /// Neither `SignatureVersion` nor a SigV4 marker.
    #[error("unexpected signature format")]
    UnexpectedFormat,
    /// A parameter the version needs is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The SigV4 credential scope is not `access/date/region/service[/...]`.
    #[error("the credential scope is malformed")]
    CredentialScope,
    /// `X-Amz-Date` does not start with the credential scope's date.
    #[error("the request date does not match the credential scope")]
    DateMismatch,
}

type HmacSha1 = Hmac<Sha1>;
type HmacSha256 = Hmac<Sha256>;

const AWS4: &str = "AWS4-HMAC-SHA256";

/// Which version Keystone would use for `creds`.
pub fn version(creds: &Ec2Credentials) -> Result<Version, Malformed> {
    match creds.params.get("SignatureVersion") {
        Some("0") => return Ok(Version::V0),
        Some("1") => return Ok(Version::V1),
        Some("2") => return Ok(Version::V2),
        _ => {}
    }
    let v4 = match creds.headers.get("Authorization") {
        Some(auth) => auth.starts_with(AWS4),
        None => creds.params.get("X-Amz-Algorithm") == Some(AWS4),
    };
    if v4 {
        return Ok(Version::V4);
    }
    match creds.params.get("SignatureVersion") {
        Some(other) => Err(Malformed::UnknownVersion(other.to_owned())),
        None => Err(Malformed::UnexpectedFormat),
    }
}

/// Everything of a signature computation but the secret (and, for v2, the host).
#[derive(Debug, Clone)]
pub struct Prepared {
    kind: PreparedKind,
}

#[derive(Debug, Clone)]
enum PreparedKind {
    V0(String),
    V1(Vec<(String, String)>),
    V2 {
        verb: String,
        path: String,
        canonical_qs: String,
    },
    V4 {
        string_to_sign: String,
        date: String,
        region: String,
        service: String,
    },
}

impl Prepared {
    /// The version.
    pub fn version(&self) -> Version {
        match self.kind {
            PreparedKind::V0(_) => Version::V0,
            PreparedKind::V1(_) => Version::V1,
            PreparedKind::V2 { .. } => Version::V2,
            PreparedKind::V4 { .. } => Version::V4,
        }
    }

    /// The SigV4 string to sign, or the v2 one for `host` (for tests and logs).
    pub fn string_to_sign(&self, host: &str) -> Option<String> {
        match &self.kind {
            PreparedKind::V2 {
                verb,
                path,
                canonical_qs,
            } => Some(format!("{verb}\n{host}\n{path}\n{canonical_qs}")),
            PreparedKind::V4 { string_to_sign, .. } => Some(string_to_sign.clone()),
            _ => None,
        }
    }

    /// The signature with `secret` for `host`.
    pub fn sign(&self, secret: &[u8], host: &str) -> String {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        match &self.kind {
            PreparedKind::V0(message) => {
                let mut mac = HmacSha1::new_from_slice(secret).expect("any key length");
                mac.update(message.as_bytes());
                b64(&mac.finalize().into_bytes())
            }
            PreparedKind::V1(pairs) => {
                let mut mac = HmacSha1::new_from_slice(secret).expect("any key length");
                for (k, v) in pairs {
                    mac.update(k.as_bytes());
                    mac.update(v.as_bytes());
                }
                b64(&mac.finalize().into_bytes())
            }
            PreparedKind::V2 {
                verb,
                path,
                canonical_qs,
            } => {
                let mut mac = HmacSha256::new_from_slice(secret).expect("any key length");
                for part in [verb.as_str(), host, path.as_str()] {
                    mac.update(part.as_bytes());
                    mac.update(b"\n");
                }
                mac.update(canonical_qs.as_bytes());
                b64(&mac.finalize().into_bytes())
            }
            PreparedKind::V4 {
                string_to_sign,
                date,
                region,
                service,
            } => {
                let key = signing_key(secret, date, region, service);
                hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()))
            }
        }
    }
}

/// The SigV4 signing key: HMAC chain from `"AWS4" + secret` over date, region,
/// service and `aws4_request`.
pub fn signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k = Vec::with_capacity(4 + secret.len());
    k.extend_from_slice(b"AWS4");
    k.extend_from_slice(secret);
    let k_date = hmac_sha256(&k, date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Prepares the computation Keystone would make for `creds`.
pub fn prepare(creds: &Ec2Credentials) -> Result<Prepared, Malformed> {
    let params = &creds.params;
    let kind = match version(creds)? {
        Version::V0 => {
            let action = params.get("Action").ok_or(Malformed::Missing("Action"))?;
            let timestamp = params
                .get("Timestamp")
                .ok_or(Malformed::Missing("Timestamp"))?;
            PreparedKind::V0(format!("{action}{timestamp}"))
        }
        Version::V1 => {
            // Python's sorted(key=str.lower) is stable: ties keep dict order.
            let mut pairs: Vec<(String, String, String)> = params
                .iter()
                .map(|(k, v)| (k.to_lowercase(), k.to_owned(), v.to_owned()))
                .collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            PreparedKind::V1(pairs.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Version::V2 => {
            let mut forced = params.clone();
            forced.insert("SignatureMethod".into(), "HmacSHA256".into());
            PreparedKind::V2 {
                verb: creds.verb.clone(),
                path: creds.path.clone(),
                canonical_qs: canonical_qs(&forced),
            }
        }
        Version::V4 => prepare_v4(creds)?,
    };
    Ok(Prepared { kind })
}

/// A SigV4 field: from the `Authorization` header (`Name=` up to the next
/// comma) when there is one, else the `X-Amz-Name` parameter.
fn auth_param<'a>(creds: &'a Ec2Credentials, name: &str) -> Option<&'a str> {
    match creds.headers.get("Authorization") {
        Some(auth) => {
            // Python's auth.partition(name + '=')[2].split(',')[0]
            let mut rest = "";
            let mut from = 0;
            while let Some(at) = auth[from..].find(name) {
                let end = from + at + name.len();
                if auth[end..].starts_with('=') {
                    rest = &auth[end + 1..];
                    break;
                }
                from = from + at + 1;
            }
            Some(rest.split(',').next().unwrap_or(""))
        }
        None => match name {
            "Credential" => creds.params.get("X-Amz-Credential"),
            "SignedHeaders" => creds.params.get("X-Amz-SignedHeaders"),
            _ => None,
        },
    }
}

fn prepare_v4(creds: &Ec2Credentials) -> Result<PreparedKind, Malformed> {
    let signed_headers =
        auth_param(creds, "SignedHeaders").ok_or(Malformed::Missing("X-Amz-SignedHeaders"))?;
    let credential =
        auth_param(creds, "Credential").ok_or(Malformed::Missing("X-Amz-Credential"))?;
    // Python: split('/'), scope = '/'.join(parts[1:]), date, region, service = parts[1:4].
    let scope = credential
        .split_once('/')
        .map(|(_, scope)| scope)
        .ok_or(Malformed::CredentialScope)?;
    let mut parts = scope.split('/');
    let (Some(date), Some(region), Some(service)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed::CredentialScope);
    };
    let request_date = creds
        .headers
        .get("X-Amz-Date")
        .or_else(|| creds.params.get("X-Amz-Date"))
        .ok_or(Malformed::Missing("X-Amz-Date"))?;
    if !request_date.starts_with(date) {
        return Err(Malformed::DateMismatch);
    }

    let canonical_request = canonical_request_v4(creds, signed_headers);
    let mut digest = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(canonical_request.as_bytes()), &mut digest)
        .expect("64 hex digits");
    let mut string_to_sign =
        String::with_capacity(AWS4.len() + request_date.len() + scope.len() + 67);
    for part in [AWS4, request_date, scope] {
        string_to_sign.push_str(part);
        string_to_sign.push('\n');
    }
    string_to_sign.push_str(std::str::from_utf8(&digest).expect("hex"));
    Ok(PreparedKind::V4 {
        string_to_sign,
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

/// The SigV4 canonical request as Keystone builds it.
pub fn canonical_request_v4(creds: &Ec2Credentials, signed_headers: &str) -> String {
    let verb = py_upper(&creds.verb);
    let mut out = String::with_capacity(
        256 + creds.path.len() + signed_headers.len() + creds.body_hash.len(),
    );
    out.push_str(&verb);
    out.push('\n');
    out.push_str(&creds.path);
    out.push('\n');
    if verb != "POST" {
        out.push_str(&canonical_qs(&creds.params));
    }
    out.push('\n');
    // keystoneclient strips the port for Boto 2.0-2.9.2, which signed without it.
    let strip_port = header_lower(&creds.headers, "user-agent").is_some_and(old_boto);
    let mut first = true;
    for name in signed_headers.split(';') {
        let Some(value) = header_lower(&creds.headers, name) else {
            continue;
        };
        if !first {
            out.push('\n');
        }
        first = false;
        let value = if name == "host" && strip_port {
            value.split(':').next().unwrap_or("")
        } else {
            value
        };
        out.push_str(name);
        out.push(':');
        out.push_str(value);
    }
    out.push_str("\n\n");
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(&creds.body_hash);
    out
}

/// The stripped value of the header whose lower-cased, stripped name is `name`
/// (the last one wins, as in keystoneclient's dict of lower-cased headers).
fn header_lower<'a>(headers: &'a Ordered, name: &str) -> Option<&'a str> {
    let mut found = None;
    for (k, v) in headers.iter() {
        let matches = if k.is_ascii() {
            py_strip(k).eq_ignore_ascii_case(name)
        } else {
            py_strip(&k.to_lowercase()) == name
        };
        if matches {
            found = Some(py_strip(v));
        }
    }
    found
}

/// `re.match(r'Boto/2\.[0-9]\.[0-2]', ua)`
fn old_boto(ua: &str) -> bool {
    let b = ua.as_bytes();
    b.len() >= 10
        && b.starts_with(b"Boto/2.")
        && b[7].is_ascii_digit()
        && b[8] == b'.'
        && (b'0'..=b'2').contains(&b[9])
}

/// Keys in code-point order, `quote(key, safe='')` + `=` + `quote(value,
/// safe='-_~')`, joined by `&`.
pub fn canonical_qs(params: &Ordered) -> String {
    let mut pairs: Vec<(&str, &str)> = params.iter().collect();
    // UTF-8 byte order is code-point order.
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        quote_unreserved(&mut out, k);
        out.push('=');
        quote_unreserved(&mut out, v);
    }
    out
}

/// Percent-encodes every byte of `s` but `A-Z a-z 0-9 - _ . ~` (uppercase hex).
pub fn quote_unreserved(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if unreserved(b) {
            continue;
        }
        if start < i {
            // Only unreserved ASCII bytes since the last escape: char boundaries.
            out.push_str(&s[start..i]);
        }
        out.push('%');
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Python's `str.strip()` (whitespace as `str.isspace` defines it).
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// Python's `str.isspace` for one character.
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn py_upper(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.bytes().any(|b| b.is_ascii_lowercase()) && s.is_ascii() {
        std::borrow::Cow::Borrowed(s)
    } else if s.is_ascii() {
        std::borrow::Cow::Owned(s.to_ascii_uppercase())
    } else {
        std::borrow::Cow::Owned(s.to_uppercase())
    }
}

/// The host Keystone retries with: `urlsplit('//' + host).hostname`
/// (no user info, no port, no IPv6 brackets, lower case), when `host` has a
/// colon and the split would not fail.
pub fn host_without_port(host: &str) -> Option<String> {
    if !host.contains(':') {
        return None;
    }
    // urlsplit cuts the netloc at the first '/', '?' or '#'.
    let netloc = host.split(['/', '?', '#']).next().unwrap_or("");
    if netloc.contains('[') != netloc.contains(']') {
        return None;
    }
    let hostinfo = netloc.rsplit('@').next().unwrap_or("");
    let name = if let Some(rest) = hostinfo.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        hostinfo.split(':').next().unwrap_or("")
    };
    if name.is_empty() {
        return None;
    }
    Some(name.to_lowercase())
}

/// Computes the signature Keystone would compute for `creds` with `secret`
/// (for the host as given).
pub fn sign(creds: &Ec2Credentials, secret: &[u8]) -> Result<String, Malformed> {
    Ok(prepare(creds)?.sign(secret, &creds.host))
}

/// A signed SigV2 query string, as boto and Heat's signal responder build
/// them: `params` in their order, then `SignatureMethod=HmacSHA256`,
/// `SignatureVersion=2`, `AWSAccessKeyId`, `Timestamp` (when given) and
/// `Signature`, each value percent-encoded (RFC 3986 unreserved characters
/// kept). Signed over `verb`, `host` (as the server will see it in `Host`)
/// and `path` as the verifier rebuilds it (unquoted).
///
/// ```
/// use heatgate_middleware::ec2token::signature::sigv2_query;
/// let q = sigv2_query("GET", "127.0.0.1:8000", "/v1/", "ak", b"sk",
///     &[("Action", "ListStacks")], Some("2024-01-02T03:04:05Z")).unwrap();
/// assert!(q.starts_with("Action=ListStacks&SignatureMethod=HmacSHA256&SignatureVersion=2&\
///     AWSAccessKeyId=ak&Timestamp=2024-01-02T03%3A04%3A05Z&Signature="));
/// ```
pub fn sigv2_query(
    verb: &str,
    host: &str,
    path: &str,
    access: &str,
    secret: &[u8],
    params: &[(&str, &str)],
    timestamp: Option<&str>,
) -> Result<String, Malformed> {
    let mut signed = Ordered::new();
    for (k, v) in params {
        signed.insert((*k).into(), (*v).into());
    }
    signed.insert("SignatureMethod".into(), "HmacSHA256".into());
    signed.insert("SignatureVersion".into(), "2".into());
    signed.insert("AWSAccessKeyId".into(), access.into());
    if let Some(t) = timestamp {
        signed.insert("Timestamp".into(), t.into());
    }
    let creds = Ec2Credentials {
        access: access.into(),
        signature: String::new(),
        host: host.into(),
        verb: verb.into(),
        path: path.into(),
        params: signed,
        headers: Ordered::new(),
        body_hash: String::new(),
    };
    let signature = sign(&creds, secret)?;
    let mut query = String::new();
    for (k, v) in creds.params.iter() {
        query.push_str(k);
        query.push('=');
        query.push_str(&urlencoding::encode(v));
        query.push('&');
    }
    query.push_str("Signature=");
    query.push_str(&urlencoding::encode(&signature));
    Ok(query)
}

/// Whether `creds.signature` is what Keystone would accept for `secret`: the
/// host as given, then without its port; compared in constant time.
pub fn verify(creds: &Ec2Credentials, secret: &[u8]) -> Result<bool, Malformed> {
    let prepared = prepare(creds)?;
    Ok(verify_prepared(&prepared, creds, secret))
}

/// [`verify`] with a computation already prepared.
pub fn verify_prepared(prepared: &Prepared, creds: &Ec2Credentials, secret: &[u8]) -> bool {
    if creds.signature.is_empty() {
        return false;
    }
    let provided = creds.signature.as_bytes();
    let first = prepared.sign(secret, &creds.host);
    if bool::from(first.as_bytes().ct_eq(provided)) {
        return true;
    }
    match host_without_port(&creds.host) {
        // Only v2 signs the host itself; the retry changes nothing for the others.
        Some(host) if prepared.version() == Version::V2 => {
            let second = prepared.sign(secret, &host);
            bool::from(second.as_bytes().ct_eq(provided))
        }
        _ => false,
    }
}

/// The last SigV4 signing key derived for one secret: the key only changes
/// with the credential scope's date, region and service, so the local mode
/// derives it about once a day instead of on every request.
#[derive(Debug, Default)]
pub struct SigningKeyCache(std::sync::Mutex<Option<(String, [u8; 32])>>);

impl SigningKeyCache {
    fn key(&self, secret: &[u8], date: &str, region: &str, service: &str) -> [u8; 32] {
        let same = |scope: &str| {
            let mut parts = scope.splitn(3, '\n');
            parts.next() == Some(date)
                && parts.next() == Some(region)
                && parts.next() == Some(service)
        };
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((scope, key)) = guard.as_ref() {
            if same(scope) {
                return *key;
            }
        }
        let key = signing_key(secret, date, region, service);
        *guard = Some((format!("{date}\n{region}\n{service}"), key));
        key
    }
}

/// [`verify_prepared`], taking the SigV4 signing key from `cache`.
pub fn verify_cached(
    prepared: &Prepared,
    creds: &Ec2Credentials,
    secret: &[u8],
    cache: &SigningKeyCache,
) -> bool {
    match &prepared.kind {
        PreparedKind::V4 {
            string_to_sign,
            date,
            region,
            service,
        } if !creds.signature.is_empty() => {
            let key = cache.key(secret, date, region, service);
            let mut hex_sig = [0u8; 64];
            let mac = hmac_sha256(&key, string_to_sign.as_bytes());
            hex::encode_to_slice(mac, &mut hex_sig).expect("64 hex digits");
            bool::from(hex_sig.ct_eq(creds.signature.as_bytes()))
        }
        _ => verify_prepared(prepared, creds, secret),
    }
}

/// Why a request's time stamps refuse it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Stale {
    /// The time stamp is older than the allowed age (Keystone's `auth_ttl`).
    #[error("the request time stamp is too old")]
    TooOld,
    /// The time stamp is further in the future than the allowed clock skew.
    #[error("the request time stamp is in the future")]
    InFuture,
    /// `Expires` or `X-Amz-Date` + `X-Amz-Expires` has passed.
    #[error("the signed request has expired")]
    Expired,
    /// A time stamp or expiry cannot be read (Keystone refuses those too).
    #[error("the request time stamp is invalid")]
    Invalid,
}

/// The time rules (Keystone's `[credential] auth_ttl` and this project's checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Time stamps older than this are refused (Keystone: 15 minutes).
    pub max_age: Duration,
    /// Time stamps further ahead than this are refused.
    pub max_skew: Duration,
    /// The longest `X-Amz-Expires` accepted (AWS: 7 days).
    pub max_expires: Duration,
}

impl Default for Freshness {
    fn default() -> Self {
        Self {
            max_age: Duration::minutes(15),
            max_skew: Duration::minutes(15),
            max_expires: Duration::days(7),
        }
    }
}

/// `t + d`, or `None` past the range of a date (year 9999).
fn later(t: OffsetDateTime, d: Duration) -> Option<OffsetDateTime> {
    t.checked_add(d)
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

/// Checks the time stamps of `creds` at `now`.
///
/// The time stamp is `params.Timestamp`, else header `X-Amz-Date`, else param
/// `X-Amz-Date` (empty values fall through, as Keystone's `or` does); none at
/// all is accepted, as Keystone does. Beyond Keystone: future time stamps,
/// `Expires` and `X-Amz-Expires` are checked too.
pub fn check_freshness(
    creds: &Ec2Credentials,
    now: OffsetDateTime,
    rules: &Freshness,
) -> Result<(), Stale> {
    let stamp = non_empty(creds.params.get("Timestamp"))
        .or_else(|| non_empty(creds.headers.get("X-Amz-Date")))
        .or_else(|| non_empty(creds.params.get("X-Amz-Date")));
    let mut signed_at = None;
    if let Some(stamp) = stamp {
        let t = parse_isotime(stamp).ok_or(Stale::Invalid)?;
        // A client's time can be any year the parser takes: every sum is
        // checked, and a limit past the end of the representable range is
        // one no time reaches (never a panic).
        if later(t, rules.max_age).is_some_and(|limit| now > limit) {
            return Err(Stale::TooOld);
        }
        if later(now, rules.max_skew).is_some_and(|limit| t > limit) {
            return Err(Stale::InFuture);
        }
        signed_at = Some(t);
    }
    if let Some(expires) = non_empty(creds.params.get("Expires")) {
        let t = parse_isotime(expires).ok_or(Stale::Invalid)?;
        if now > t {
            return Err(Stale::Expired);
        }
    }
    if let Some(seconds) = creds.params.get("X-Amz-Expires") {
        let seconds: i64 = seconds
            .parse()
            .ok()
            .filter(|s| *s >= 0)
            .ok_or(Stale::Invalid)?;
        let seconds = Duration::seconds(seconds);
        if seconds > rules.max_expires {
            return Err(Stale::Invalid);
        }
        let start = non_empty(creds.params.get("X-Amz-Date"))
            .or_else(|| non_empty(creds.headers.get("X-Amz-Date")))
            .and_then(parse_isotime)
            .or(signed_at)
            .ok_or(Stale::Invalid)?;
        if later(start, seconds).is_some_and(|end| now > end) {
            return Err(Stale::Expired);
        }
    }
    Ok(())
}

/// Parses an ISO 8601 time as the `iso8601` package that Keystone uses does:
/// basic or extended format, `T` or space, optional seconds and fraction,
/// `Z`, `±hh[:mm]` or no zone (UTC).
///
/// ```
/// use heatgate_middleware::ec2token::signature::parse_isotime;
/// let a = parse_isotime("20240102T030405Z").unwrap();
/// assert_eq!(Some(a), parse_isotime("2024-01-02T03:04:05Z"));
/// assert_eq!(Some(a), parse_isotime("2024-01-02 04:04:05.000+01:00"));
/// assert!(parse_isotime("yesterday").is_none());
/// ```
pub fn parse_isotime(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize, n: usize| -> Option<u32> {
        let part = b.get(*i..*i + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *i += n;
        Some(
            part.iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    };
    let year = digits(&mut i, 4)?;
    let mut month = 1;
    let mut day = 1;
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0u32);
    if i < b.len() && b[i] != b'T' && b[i] != b' ' {
        let sep = b[i] == b'-';
        if sep {
            i += 1;
        }
        month = digits(&mut i, 2)?;
        if i < b.len() && b[i] != b'T' && b[i] != b' ' {
            if sep {
                if b[i] != b'-' {
                    return None;
                }
                i += 1;
            }
            day = digits(&mut i, 2)?;
        }
    }
    let mut offset_seconds: i32 = 0;
    if i < b.len() && (b[i] == b'T' || b[i] == b' ') {
        i += 1;
        hour = digits(&mut i, 2)?;
        let colon = b.get(i) == Some(&b':');
        let sep = |i: &mut usize| {
            if colon && b.get(*i) == Some(&b':') {
                *i += 1;
            }
        };
        if i < b.len() && (b[i] == b':' || b[i].is_ascii_digit()) {
            sep(&mut i);
            minute = digits(&mut i, 2)?;
            if i < b.len() && (b[i] == b':' || b[i].is_ascii_digit()) {
                sep(&mut i);
                second = digits(&mut i, 2)?;
                if i < b.len() && (b[i] == b'.' || b[i] == b',') {
                    i += 1;
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    if i == start {
                        return None;
                    }
                    let frac = &s[start..i.min(start + 9)];
                    let padded = format!("{frac:0<9}");
                    nanos = padded.parse().ok()?;
                }
            }
        }
        if i < b.len() {
            match b[i] {
                b'Z' | b'z' => i += 1,
                b'+' | b'-' => {
                    let sign = if b[i] == b'-' { -1 } else { 1 };
                    i += 1;
                    let h = digits(&mut i, 2)? as i32;
                    if b.get(i) == Some(&b':') {
                        i += 1;
                    }
                    let m = if i < b.len() {
                        digits(&mut i, 2)? as i32
                    } else {
                        0
                    };
                    offset_seconds = sign * (h * 3600 + m * 60);
                }
                _ => return None,
            }
        }
    }
    if i != b.len() {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(year).ok()?, month, day as u8).ok()?;
    let time = time::Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos).ok()?;
    let offset = time::UtcOffset::from_whole_seconds(offset_seconds).ok()?;
    // In UTC, where every comparison happens: a time whose UTC date is out of
    // range (9999-12-31T23:00-02:00) is not a time at all.
    time::PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .checked_to_offset(time::UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_v2() -> Ec2Credentials {
        Ec2Credentials {
            access: "ak0123456789".into(),
            signature: "9zmU54nt8X4wxPl1OKjXbZ79Qhf/kXo4HtanI2uO7ec=".into(),
            host: "heat.example.com:8000".into(),
            verb: "PUT".into(),
            path: "/v1/waitcondition/arn:openstack:heat::p123:stacks/mystack/s-id/resources/wch"
                .into(),
            params: Ordered::from_pairs([
                ("SignatureMethod", "HmacSHA256"),
                ("SignatureVersion", "2"),
                ("AWSAccessKeyId", "ak0123456789"),
                ("Timestamp", "2024-01-02T03:04:05Z"),
            ]),
            headers: Ordered::from_pairs([("Host", "heat.example.com:8000")]),
            body_hash: hex::encode(Sha256::digest(b"")),
        }
    }

    #[test]
    fn spec_vector_v2_waitcondition() {
        let creds = spec_v2();
        let prepared = prepare(&creds).unwrap();
        assert_eq!(
            prepared.string_to_sign(&creds.host).unwrap(),
            "PUT\nheat.example.com:8000\n/v1/waitcondition/arn:openstack:heat::p123:stacks/mystack/s-id/resources/wch\nAWSAccessKeyId=ak0123456789&SignatureMethod=HmacSHA256&SignatureVersion=2&Timestamp=2024-01-02T03%3A04%3A05Z"
        );
        assert_eq!(
            sign(&creds, b"verysecret").unwrap(),
            "9zmU54nt8X4wxPl1OKjXbZ79Qhf/kXo4HtanI2uO7ec="
        );
        assert!(verify(&creds, b"verysecret").unwrap());
        assert!(!verify(&creds, b"verysecreT").unwrap());
    }

    #[test]
    fn v2_with_hmac_sha1_is_still_signed_with_sha256() {
        let mut creds = spec_v2();
        creds
            .params
            .insert("SignatureMethod".into(), "HmacSHA1".into());
        // Keystone forces HmacSHA256 into the canonical query as well.
        assert_eq!(
            sign(&creds, b"verysecret").unwrap(),
            "9zmU54nt8X4wxPl1OKjXbZ79Qhf/kXo4HtanI2uO7ec="
        );
        let mut sha1 = HmacSha1::new_from_slice(b"verysecret").unwrap();
        sha1.update(
            prepare(&creds)
                .unwrap()
                .string_to_sign(&creds.host)
                .unwrap()
                .replace("HmacSHA256", "HmacSHA1")
                .as_bytes(),
        );
        creds.signature =
            base64::engine::general_purpose::STANDARD.encode(sha1.finalize().into_bytes());
        assert!(!verify(&creds, b"verysecret").unwrap());
    }

    #[test]
    fn v2_host_without_port_is_retried() {
        let mut creds = spec_v2();
        let mut portless = creds.clone();
        portless.host = "heat.example.com".into();
        creds.signature = sign(&portless, b"verysecret").unwrap();
        assert!(verify(&creds, b"verysecret").unwrap());
        // Uppercase hosts are lowered on the retry (urlsplit's hostname).
        creds.host = "HEAT.example.com:8000".into();
        assert!(verify(&creds, b"verysecret").unwrap());
    }

    #[test]
    fn host_without_port_is_urlsplit_hostname() {
        assert_eq!(host_without_port("a.b:80").as_deref(), Some("a.b"));
        assert_eq!(host_without_port("a.b"), None);
        assert_eq!(host_without_port("[::1]:80").as_deref(), Some("::1"));
        assert_eq!(host_without_port("u:p@Host:1").as_deref(), Some("host"));
        assert_eq!(host_without_port("[::1:80"), None);
        assert_eq!(host_without_port(":80"), None);
    }

    fn spec_v4() -> Ec2Credentials {
        let body =
            "Action=DescribeStackResource&StackName=s&LogicalResourceId=r&Version=2010-05-15";
        Ec2Credentials {
            access: "ak0123456789".into(),
            signature: "358293b9002a39d7c0266ff419c0bea1ec40ba2eaa15a4977580cdddcb259b35".into(),
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
                ("Authorization", "AWS4-HMAC-SHA256 Credential=ak0123456789/20240102/heat/cloudformation/aws4_request, SignedHeaders=host;x-amz-date, Signature=358293b9002a39d7c0266ff419c0bea1ec40ba2eaa15a4977580cdddcb259b35"),
            ]),
            body_hash: hex::encode(Sha256::digest(body.as_bytes())),
        }
    }

    #[test]
    fn spec_vector_v4_post() {
        let creds = spec_v4();
        assert_eq!(
            creds.body_hash,
            "51b56a9a8bec2982d80829c6d5f2ce7cf8ca078257e84de84e488d2f769e1897"
        );
        assert_eq!(
            sign(&creds, b"verysecret").unwrap(),
            "358293b9002a39d7c0266ff419c0bea1ec40ba2eaa15a4977580cdddcb259b35"
        );
        assert!(verify(&creds, b"verysecret").unwrap());
        // POST: the canonical query is empty whatever the params.
        let mut more = creds.clone();
        more.params.insert("Extra".into(), "1".into());
        assert!(verify(&more, b"verysecret").unwrap());
        // The body is signed.
        let mut tampered = creds.clone();
        tampered.body_hash = hex::encode(Sha256::digest(b"Action=Other"));
        assert!(!verify(&tampered, b"verysecret").unwrap());
        // Uppercase hex is not the same string.
        let mut upper = creds;
        upper.signature = upper.signature.to_uppercase();
        assert!(!verify(&upper, b"verysecret").unwrap());
    }

    #[test]
    fn cached_signing_key_gives_the_same_answers() {
        let cache = SigningKeyCache::default();
        let creds = spec_v4();
        let prepared = prepare(&creds).unwrap();
        for _ in 0..2 {
            assert!(verify_cached(&prepared, &creds, b"verysecret", &cache));
        }
        let mut other = creds.clone();
        other.headers.insert(
            "Authorization".into(),
            "AWS4-HMAC-SHA256 Credential=ak0123456789/20240102/heat/other/aws4_request, SignedHeaders=host;x-amz-date, Signature=x".into(),
        );
        other.signature = sign(&other, b"verysecret").unwrap();
        let p = prepare(&other).unwrap();
        assert!(
            verify_cached(&p, &other, b"verysecret", &cache),
            "a new scope derives a new key"
        );
        assert!(verify_cached(&prepared, &creds, b"verysecret", &cache));
        let mut wrong = creds.clone();
        wrong.signature = "0".repeat(64);
        assert!(!verify_cached(&prepared, &wrong, b"verysecret", &cache));
        wrong.signature.clear();
        assert!(!verify_cached(&prepared, &wrong, b"verysecret", &cache));
    }

    #[test]
    fn v4_header_values_are_stripped_not_folded() {
        let mut creds = spec_v4();
        creds
            .headers
            .insert("Host".into(), "  heat.example.com:8000\t".into());
        assert!(verify(&creds, b"verysecret").unwrap());
        creds
            .headers
            .insert("Host".into(), "heat.example.com:8000 ".into());
        assert!(verify(&creds, b"verysecret").unwrap());
        let cr = canonical_request_v4(&creds, "host;x-amz-date");
        assert!(cr.contains("\nhost:heat.example.com:8000\nx-amz-date:20240102T030405Z\n\n"));
        creds
            .headers
            .insert("X-Amz-Date".into(), "20240102T030405Z".into());
        creds.headers.insert("X-Foo".into(), "a   b".into());
        let cr = canonical_request_v4(&creds, "x-foo;host;absent");
        assert!(cr.contains("\nx-foo:a   b\nhost:heat.example.com:8000\n\nx-foo;host;absent\n"));
    }

    #[test]
    fn malformed_requests_are_named() {
        let mut creds = spec_v4();
        creds.headers.insert(
            "Authorization".into(),
            "AWS4-HMAC-SHA256 Credential=ak/20240102/heat, SignedHeaders=host, Signature=x".into(),
        );
        assert_eq!(prepare(&creds).unwrap_err(), Malformed::CredentialScope);
        creds.headers.insert(
            "Authorization".into(),
            "AWS4-HMAC-SHA256 Credential=ak/20240103/r/s/aws4_request, SignedHeaders=host, Signature=x"
                .into(),
        );
        assert_eq!(prepare(&creds).unwrap_err(), Malformed::DateMismatch);
        creds.headers.remove("X-Amz-Date");
        assert_eq!(
            prepare(&creds).unwrap_err(),
            Malformed::Missing("X-Amz-Date")
        );
        creds
            .headers
            .insert("Authorization".into(), "Basic abc".into());
        assert_eq!(prepare(&creds).unwrap_err(), Malformed::UnexpectedFormat);
        creds.params.insert("SignatureVersion".into(), "3".into());
        assert_eq!(
            prepare(&creds).unwrap_err(),
            Malformed::UnknownVersion("3".into())
        );
        creds.params.insert("SignatureVersion".into(), "0".into());
        assert_eq!(
            prepare(&creds).unwrap_err(),
            Malformed::Missing("Timestamp")
        );
    }

    #[test]
    fn presigned_v4_needs_no_authorization_header() {
        let mut creds = spec_v4();
        creds.headers.remove("Authorization");
        creds.verb = "GET".into();
        creds.params = Ordered::from_pairs([
            ("Action", "ListStacks"),
            ("X-Amz-Algorithm", AWS4),
            (
                "X-Amz-Credential",
                "ak0123456789/20240102/heat/cloudformation/aws4_request",
            ),
            ("X-Amz-Date", "20240102T030405Z"),
            ("X-Amz-Expires", "300"),
            ("X-Amz-SignedHeaders", "host"),
        ]);
        creds.headers.remove("X-Amz-Date");
        assert_eq!(version(&creds).unwrap(), Version::V4);
        creds.signature = sign(&creds, b"verysecret").unwrap();
        assert_eq!(creds.signature.len(), 64);
        assert!(verify(&creds, b"verysecret").unwrap());
        // An Authorization header of another kind hides the query markers.
        creds.headers.insert("Authorization".into(), "x".into());
        assert_eq!(version(&creds).unwrap_err(), Malformed::UnexpectedFormat);
    }

    #[test]
    fn v0_and_v1() {
        let mut creds = spec_v2();
        creds.params = Ordered::from_pairs([
            ("SignatureVersion", "0"),
            ("Action", "ListStacks"),
            ("Timestamp", "2024-01-02T03:04:05Z"),
        ]);
        let mut mac = HmacSha1::new_from_slice(b"k").unwrap();
        mac.update(b"ListStacks2024-01-02T03:04:05Z");
        let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sign(&creds, b"k").unwrap(), want);

        creds.params = Ordered::from_pairs([("b", "2"), ("SignatureVersion", "1"), ("A", "1")]);
        let mut mac = HmacSha1::new_from_slice(b"k").unwrap();
        mac.update(b"A1b2SignatureVersion1");
        let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(sign(&creds, b"k").unwrap(), want);
    }

    #[test]
    fn canonical_query_encodes_like_python_quote() {
        let params = Ordered::from_pairs([("b", "a b/c~d-e_f.g*"), ("a/", "é"), ("B", "")]);
        assert_eq!(
            canonical_qs(&params),
            "B=&a%2F=%C3%A9&b=a%20b%2Fc~d-e_f.g%2A"
        );
    }

    #[test]
    fn freshness() {
        let rules = Freshness::default();
        let mut creds = spec_v2();
        let at = parse_isotime("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(check_freshness(&creds, at, &rules), Ok(()));
        assert_eq!(
            check_freshness(&creds, at + Duration::minutes(15), &rules),
            Ok(())
        );
        assert_eq!(
            check_freshness(
                &creds,
                at + Duration::minutes(15) + Duration::seconds(1),
                &rules
            ),
            Err(Stale::TooOld)
        );
        assert_eq!(
            check_freshness(&creds, at - Duration::minutes(16), &rules),
            Err(Stale::InFuture)
        );
        creds
            .params
            .insert("Expires".into(), "2024-01-02T03:05:00Z".into());
        assert_eq!(
            check_freshness(&creds, at + Duration::minutes(2), &rules),
            Err(Stale::Expired)
        );
        creds.params.remove("Expires");
        creds.params.insert("Timestamp".into(), "garbage".into());
        assert_eq!(check_freshness(&creds, at, &rules), Err(Stale::Invalid));
        creds.params.remove("Timestamp");
        assert_eq!(
            check_freshness(&creds, at, &rules),
            Ok(()),
            "no stamp at all"
        );

        let mut v4 = spec_v4();
        v4.params
            .insert("X-Amz-Date".into(), "20240102T030405Z".into());
        v4.params.insert("X-Amz-Expires".into(), "60".into());
        assert_eq!(
            check_freshness(&v4, at + Duration::seconds(60), &rules),
            Ok(())
        );
        assert_eq!(
            check_freshness(&v4, at + Duration::seconds(61), &rules),
            Err(Stale::Expired)
        );
        v4.params.insert("X-Amz-Expires".into(), "-1".into());
        assert_eq!(check_freshness(&v4, at, &rules), Err(Stale::Invalid));
    }

    /// Every client-sent time at the edges of what the parser reads, in
    /// every place a time is read from, against clocks at the edges too: a
    /// refusal, never a panic (year 9999 once overflowed the sums).
    #[test]
    fn extreme_times_are_refused_without_overflow() {
        let rules = Freshness {
            max_expires: Duration::MAX,
            ..Freshness::default()
        };
        let stamps = [
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59.999999999Z",
            "99991231T235959Z",
            "9999-12-31T23:59:59-14:00",
            "9999-12-31T10:00:00-23:59",
            "0000-01-01T00:00:00Z",
            "0000-01-01T00:00:00+23:59",
            "00000101T000000Z",
            "2024-01-02T03:04:05Z",
        ];
        let expires = ["0", "604800", "9223372036854775807", "99999999999999999999"];
        let clocks = [
            OffsetDateTime::now_utc(),
            parse_isotime("9999-12-31T23:59:59Z").unwrap(),
            parse_isotime("0000-01-01T00:00:00Z").unwrap(),
        ];
        for now in clocks {
            for stamp in stamps {
                for (place, key) in [
                    ("param", "Timestamp"),
                    ("param", "Expires"),
                    ("param", "X-Amz-Date"),
                    ("header", "X-Amz-Date"),
                ] {
                    let mut creds = spec_v4();
                    creds.params.remove("X-Amz-Date");
                    creds.headers.remove("X-Amz-Date");
                    match place {
                        "param" => creds.params.insert(key.into(), stamp.into()),
                        _ => creds.headers.insert(key.into(), stamp.into()),
                    };
                    let _ = check_freshness(&creds, now, &rules);
                    for seconds in expires {
                        creds.params.insert("X-Amz-Expires".into(), seconds.into());
                        let _ = check_freshness(&creds, now, &rules);
                    }
                }
            }
        }
        // Limits too large to add to a date are no limit, not a refusal of
        // everything.
        let unlimited = Freshness {
            max_age: Duration::MAX,
            max_skew: Duration::MAX,
            max_expires: Duration::MAX,
        };
        let mut creds = spec_v2();
        let at = parse_isotime("2024-01-02T03:04:05Z").unwrap();
        assert_eq!(check_freshness(&creds, at, &unlimited), Ok(()));
        creds
            .params
            .insert("Timestamp".into(), "9999-12-31T23:59:59Z".into());
        assert_eq!(check_freshness(&creds, at, &unlimited), Ok(()));
        // And the answers are refusals where they must be.
        let now = OffsetDateTime::now_utc();
        let mut creds = spec_v2();
        creds
            .params
            .insert("Timestamp".into(), "9999-12-31T23:59:59Z".into());
        assert_eq!(check_freshness(&creds, now, &rules), Err(Stale::InFuture));
        creds
            .params
            .insert("Timestamp".into(), "9999-12-31T23:59:59-14:00".into());
        assert_eq!(check_freshness(&creds, now, &rules), Err(Stale::Invalid));
        creds
            .params
            .insert("Timestamp".into(), "0000-01-01T00:00:00Z".into());
        assert_eq!(check_freshness(&creds, now, &rules), Err(Stale::TooOld));
        let mut v4 = spec_v4();
        v4.params
            .insert("X-Amz-Date".into(), "99991231T235959Z".into());
        v4.params
            .insert("X-Amz-Expires".into(), "9223372036854775807".into());
        assert!(check_freshness(&v4, now, &rules).is_err());
    }

    #[test]
    fn isotime_forms() {
        let a = parse_isotime("2024-01-02T03:04:05Z").unwrap();
        for s in [
            "20240102T030405Z",
            "2024-01-02T03:04:05",
            "2024-01-02T03:04:05.000000Z",
            "2024-01-02T05:04:05+02:00",
            "2024-01-02T01:04:05-0200",
            "20240102T030405",
        ] {
            assert_eq!(parse_isotime(s), Some(a), "{s}");
        }
        assert!(parse_isotime("2024-01-02").is_some());
        for s in [
            "",
            "2024-13-01",
            "2024-01-02T25:00",
            "2024-01-02T03:04:05Q",
            "x",
        ] {
            assert!(parse_isotime(s).is_none(), "{s}");
        }
    }
}
