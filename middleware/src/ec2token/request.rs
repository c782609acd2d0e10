//! Turning an HTTP request into the [`Ec2Credentials`] Keystone receives, the
//! way Heat's middleware (webob) sees the request. Pure: no I/O.
//!
//! - parameters: the query string, then a form body (only for POST without a
//!   Content-Type, or a Content-Type of `application/x-www-form-urlencoded` or
//!   `multipart/form-data` on POST, PUT, PATCH or DELETE, as webob decides);
//!   `&` and `;` separate pairs, `+` is a space, values must be UTF-8;
//! - a parameter name given twice is refused (Heat takes the last value while a
//!   service behind may take the first: the signature would not cover what is used);
//! - the path is percent-decoded, then re-quoted keeping `/~!$&'()*+,;=:@`;
//! - headers get Python's Title-Case names (`X-Amz-Date`, `Content-Type`),
//!   `_` becomes `-`, repeated headers are joined with `,`.

use http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use super::signature::{Ec2Credentials, Ordered};

/// Why a request cannot be read as an EC2-signed request (the caller's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A parameter name or value is not UTF-8 after percent-decoding.
    #[error("a parameter is not valid UTF-8")]
    NotUtf8,
    /// The path is not UTF-8 after percent-decoding.
    #[error("the path is not valid UTF-8")]
    PathNotUtf8,
    /// A parameter name appears more than once.
    #[error("parameter {0:?} is given more than once")]
    Duplicate(String),
    /// The multipart body cannot be parsed, or carries a file.
    #[error("the multipart body is malformed")]
    Multipart,
    /// Headers that must appear once appear more than once (Host, Authorization).
    #[error("header {0} is repeated")]
    RepeatedHeader(&'static str),
    /// No Host header and no authority in the URI.
    #[error("the request has no host")]
    NoHost,
}

/// How a request's body is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// Not parameters.
    None,
    /// `application/x-www-form-urlencoded` (or a POST without Content-Type).
    UrlEncoded,
    /// `multipart/form-data`.
    Multipart,
}

/// Whether webob would parse the body as a form, and which kind.
pub fn form_kind(method: &Method, headers: &HeaderMap) -> FormKind {
    if !matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    ) {
        return FormKind::None;
    }
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or(b"")
        .trim_ascii();
    if essence.is_empty() {
        if *method == Method::POST {
            FormKind::UrlEncoded
        } else {
            FormKind::None
        }
    } else if essence.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        FormKind::UrlEncoded
    } else if essence.eq_ignore_ascii_case(b"multipart/form-data") {
        FormKind::Multipart
    } else {
        FormKind::None
    }
}

/// webob's `unquote`: `%` followed by two characters that Python's
/// `int(x, 16)` accepts becomes that byte; anything else stays.
fn unquote(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut parts = input.split(|&b| b == b'%');
    out.extend_from_slice(parts.next().unwrap_or(b""));
    for item in parts {
        let head = &item[..item.len().min(2)];
        match py_int16(head) {
            Some(byte) => {
                out.push(byte);
                out.extend_from_slice(&item[head.len()..]);
            }
            None => {
                out.push(b'%');
                out.extend_from_slice(item);
            }
        }
    }
    out
}

/// `bytes([int(s, 16)])` for up to two bytes: Python strips ASCII whitespace
/// and accepts a sign; the value must fit a byte.
fn py_int16(s: &[u8]) -> Option<u8> {
    let s = s.trim_ascii();
    let (negative, digits) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let value = u8::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
    if negative && value != 0 {
        return None;
    }
    Some(value)
}

/// Parses a query string or url-encoded body as webob does.
///
/// ```
/// use heatgate_middleware::ec2token::request::parse_params;
/// let p = parse_params(b"a=1&b=x+y;c&d=%41%zz").unwrap();
/// assert_eq!(p, vec![("a".into(), "1".into()), ("b".into(), "x y".into()),
///                    ("c".into(), "".into()), ("d".into(), "A%zz".into())]);
/// ```
pub fn parse_params(input: &[u8]) -> Result<Vec<(String, String)>, InputError> {
    let mut out = Vec::new();
    for pair in input
        .split(|&b| b == b'&')
        .flat_map(|s| s.split(|&b| b == b';'))
    {
        if pair.is_empty() {
            continue;
        }
        let pair: Vec<u8> = pair
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (&pair[..], &b""[..]),
        };
        let name = String::from_utf8(unquote(name)).map_err(|_| InputError::NotUtf8)?;
        let value = String::from_utf8(unquote(value)).map_err(|_| InputError::NotUtf8)?;
        out.push((name, value));
    }
    Ok(out)
}

/// The text fields of a `multipart/form-data` body; a file part is refused
/// (Heat cannot send it to Keystone either).
pub fn parse_multipart(
    content_type: &[u8],
    body: &[u8],
) -> Result<Vec<(String, String)>, InputError> {
    let ct = std::str::from_utf8(content_type).map_err(|_| InputError::Multipart)?;
    let boundary = ct
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or(InputError::Multipart)?;
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut out = Vec::new();
    let mut rest = body;
    // Preamble up to the first delimiter.
    let start = find(rest, d).ok_or(InputError::Multipart)?;
    rest = &rest[start + d.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Ok(out);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(InputError::Multipart)?;
        let end = find(rest, d).ok_or(InputError::Multipart)?;
        let part = rest[..end]
            .strip_suffix(b"\r\n")
            .ok_or(InputError::Multipart)?;
        rest = &rest[end + d.len()..];
        let split = find(part, b"\r\n\r\n").ok_or(InputError::Multipart)?;
        let head = std::str::from_utf8(&part[..split]).map_err(|_| InputError::Multipart)?;
        let content = &part[split + 4..];
        let mut name = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                return Err(InputError::Multipart);
            };
            if !k.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for param in v.split(';').skip(1) {
                let Some((pk, pv)) = param.split_once('=') else {
                    continue;
                };
                match pk.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(pv.trim().trim_matches('"').to_owned()),
                    "filename" => return Err(InputError::Multipart),
                    _ => {}
                }
            }
        }
        let name = name.ok_or(InputError::Multipart)?;
        let value = String::from_utf8(content.to_vec()).map_err(|_| InputError::NotUtf8)?;
        out.push((name, value));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Collects parameters, refusing repeated names.
pub fn unique_params(
    lists: impl IntoIterator<Item = Vec<(String, String)>>,
) -> Result<Ordered, InputError> {
    let mut map = Ordered::new();
    for list in lists {
        for (k, v) in list {
            if map.contains(&k) {
                return Err(InputError::Duplicate(k));
            }
            map.insert(k, v);
        }
    }
    Ok(map)
}

/// webob's `req.path`: the percent-decoded path (as the WSGI server decodes it),
/// which must be UTF-8, re-quoted keeping `/~!$&'()*+,;=:@`.
///
/// ```
/// use heatgate_middleware::ec2token::request::requote_path;
/// assert_eq!(requote_path("/v1/arn%3Aa%3Ab/x%20y%2Fz").unwrap(), "/v1/arn:a:b/x%20y/z");
/// ```
pub fn requote_path(raw: &str) -> Result<String, InputError> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3);
            if let Some(v) = hex
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                decoded.push(v);
                i += 3;
                continue;
            }
        }
        decoded.push(bytes[i]);
        i += 1;
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(InputError::PathNotUtf8);
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(decoded.len());
    for b in decoded {
        if b.is_ascii_alphanumeric() || b"_.-~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    Ok(out)
}

/// Python's `str.title()` of a header name after `_` -> `-` (what webob's
/// `EnvironHeaders` yields).
///
/// ```
/// use heatgate_middleware::ec2token::request::title_case;
/// assert_eq!(title_case("x-amz-content-sha256"), "X-Amz-Content-Sha256");
/// assert_eq!(title_case("x_a1b"), "X-A1B");
/// ```
pub fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut previous_cased = false;
    for c in name.chars() {
        let c = if c == '_' { '-' } else { c };
        if c.is_ascii_alphabetic() {
            out.push(if previous_cased {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            });
            previous_cased = true;
        } else {
            out.push(c);
            previous_cased = false;
        }
    }
    out
}

/// A header value as WSGI hands it over (Latin-1).
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// The request headers as Keystone receives them: Title-Case names, repeated
/// values joined with `,`, in first-seen order.
pub fn keystone_headers(headers: &HeaderMap) -> Ordered {
    let mut out = Ordered::new();
    for name in headers.keys() {
        let value = headers
            .get_all(name)
            .iter()
            .map(|v| latin1(v.as_bytes()))
            .collect::<Vec<_>>()
            .join(",");
        let key = title_case(name.as_str());
        // Two names that only differ by `_`/`-` merge like WSGI environ keys.
        out.insert(key, value);
    }
    out
}

/// The signature Heat finds: param `Signature`, else `X-Amz-Signature`, else
/// the `Authorization` header's `Signature=` up to the next comma.
pub fn find_signature(params: &Ordered, authorization: Option<&str>) -> Option<String> {
    let from_params = params
        .get("Signature")
        .filter(|s| !s.is_empty())
        .or_else(|| params.get("X-Amz-Signature"));
    match (from_params, authorization) {
        (Some(s), _) => Some(s.to_owned()),
        (None, Some(auth)) => Some(after(auth, "Signature=").to_owned()),
        (None, None) => None,
    }
    .filter(|s| !s.is_empty())
}

/// The access key Heat finds: `AWSAccessKeyId`, else `X-Amz-Credential` up to
/// the first `/`, else the `Authorization` header's `Credential=` up to `/`.
pub fn find_access(params: &Ordered, authorization: Option<&str>) -> Option<String> {
    let mut access = params.get("AWSAccessKeyId").map(str::to_owned);
    if access.is_none() {
        if let Some(cred) = params.get("X-Amz-Credential").filter(|c| !c.is_empty()) {
            access = Some(cred.split('/').next().unwrap_or("").to_owned());
        }
    }
    if access.is_none() {
        if let Some(auth) = authorization {
            access = Some(
                after(auth, "Credential=")
                    .split('/')
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
    }
    access.filter(|a| !a.is_empty())
}

/// Python's `s.partition(marker)[2].split(',')[0]`.
fn after<'a>(s: &'a str, marker: &str) -> &'a str {
    match s.find(marker) {
        Some(at) => s[at + marker.len()..].split(',').next().unwrap_or(""),
        None => "",
    }
}

/// The single value of a header that must not repeat.
pub fn single_header(
    headers: &HeaderMap,
    name: http::header::HeaderName,
    label: &'static str,
) -> Result<Option<String>, InputError> {
    let mut values = headers.get_all(&name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(InputError::RepeatedHeader(label));
    }
    Ok(first.map(|v| latin1(v.as_bytes())))
}

/// The parts of a request that decide whether and how it is signed, read
/// before the body (the query and the headers).
#[derive(Debug, Clone)]
pub struct Head {
    /// Query parameters, in order (duplicates still present).
    pub query: Vec<(String, String)>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// How the body is to be read.
    pub form: FormKind,
}

impl Head {
    /// Reads the query and the headers.
    pub fn read(parts: &http::request::Parts) -> Result<Self, InputError> {
        let query = parse_params(parts.uri.query().unwrap_or("").as_bytes())?;
        let authorization =
            single_header(&parts.headers, http::header::AUTHORIZATION, "Authorization")?;
        Ok(Self {
            query,
            authorization,
            form: form_kind(&parts.method, &parts.headers),
        })
    }

    /// Whether the query or the headers already carry a signature.
    pub fn has_signature(&self) -> bool {
        let params = Ordered::from_pairs(self.query.iter().cloned());
        find_signature(&params, self.authorization.as_deref()).is_some()
    }
}

/// What the layer extracted from a signed request.
#[derive(Debug, Clone)]
pub struct Signed {
    /// What Keystone receives (or the local verifier checks).
    pub credentials: Ec2Credentials,
}

/// The outcome of reading a request (with its body).
#[derive(Debug, Clone)]
pub enum Reading {
    /// No signature (`IncompleteSignature`, or pass-through with `X-Auth-User`).
    NoSignature,
    /// A signature but no access key (`MissingAuthenticationToken`, or pass-through).
    NoAccessKey,
    /// A signed request.
    Signed(Box<Signed>),
}

/// Builds the Keystone credentials from the request parts and its whole body.
pub fn read_request(
    parts: &http::request::Parts,
    head: &Head,
    body: &[u8],
) -> Result<Reading, InputError> {
    let form = match head.form {
        FormKind::None => Vec::new(),
        FormKind::UrlEncoded => parse_params(body)?,
        FormKind::Multipart => {
            let ct = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.as_bytes())
                .unwrap_or(b"");
            parse_multipart(ct, body)?
        }
    };
    let mut params = unique_params([head.query.clone(), form])?;
    let authorization = head.authorization.as_deref();
    let Some(signature) = find_signature(&params, authorization) else {
        return Ok(Reading::NoSignature);
    };
    let Some(access) = find_access(&params, authorization) else {
        return Ok(Reading::NoAccessKey);
    };
    let host = match single_header(&parts.headers, http::header::HOST, "Host")? {
        Some(h) => h,
        None => parts
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or(InputError::NoHost)?,
    };
    let path = requote_path(parts.uri.path())?;
    params.remove("Signature");
    // Beyond Heat: the presigned SigV4 signature is not part of what was signed.
    params.remove("X-Amz-Signature");
    let credentials = Ec2Credentials {
        access,
        signature,
        host,
        verb: parts.method.as_str().to_owned(),
        path,
        params,
        headers: keystone_headers(&parts.headers),
        body_hash: hex::encode(Sha256::digest(body)),
    };
    Ok(Reading::Signed(Box::new(Signed { credentials })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn webob_unquote_quirks() {
        assert_eq!(unquote(b"%41%4"), b"A\x04");
        assert_eq!(unquote(b"%"), b"%");
        assert_eq!(unquote(b"% f"), b"\x0f");
        assert_eq!(unquote(b"%+f"), b"\x0f");
        assert_eq!(unquote(b"%-1"), b"%-1");
        assert_eq!(unquote(b"%zz"), b"%zz");
        assert_eq!(unquote(b"%%41"), b"%A");
    }

    #[test]
    fn non_utf8_is_refused() {
        assert_eq!(parse_params(b"a=%ff"), Err(InputError::NotUtf8));
        assert_eq!(parse_params(b"a=\xff"), Err(InputError::NotUtf8));
        assert_eq!(requote_path("/a%ff"), Err(InputError::PathNotUtf8));
    }

    #[test]
    fn form_kinds_follow_webob() {
        let h = |ct: Option<&str>| {
            let mut m = HeaderMap::new();
            if let Some(ct) = ct {
                m.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            }
            m
        };
        assert_eq!(form_kind(&Method::POST, &h(None)), FormKind::UrlEncoded);
        assert_eq!(form_kind(&Method::PUT, &h(None)), FormKind::None);
        assert_eq!(form_kind(&Method::PUT, &h(Some(""))), FormKind::None);
        assert_eq!(
            form_kind(
                &Method::PUT,
                &h(Some("application/x-www-form-urlencoded; charset=utf-8"))
            ),
            FormKind::UrlEncoded
        );
        assert_eq!(form_kind(&Method::GET, &h(None)), FormKind::None);
        assert_eq!(
            form_kind(&Method::POST, &h(Some("application/json"))),
            FormKind::None
        );
        assert_eq!(
            form_kind(&Method::POST, &h(Some("multipart/form-data; boundary=x"))),
            FormKind::Multipart
        );
    }

    #[test]
    fn multipart_text_fields() {
        let body = b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--xx\r\nContent-Disposition: form-data; name=b\r\n\r\ntwo\r\nlines\r\n--xx--\r\n";
        let fields = parse_multipart(b"multipart/form-data; boundary=xx", body).unwrap();
        assert_eq!(
            fields,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two\r\nlines".into())
            ]
        );
        let file = b"--xx\r\nContent-Disposition: form-data; name=\"a\"; filename=\"f\"\r\n\r\n1\r\n--xx--";
        assert_eq!(
            parse_multipart(b"multipart/form-data; boundary=xx", file),
            Err(InputError::Multipart)
        );
        assert_eq!(
            parse_multipart(b"multipart/form-data", body),
            Err(InputError::Multipart)
        );
        assert_eq!(
            parse_multipart(b"multipart/form-data; boundary=xx", b"garbage"),
            Err(InputError::Multipart)
        );
    }

    #[test]
    fn signature_and_access_in_heat_order() {
        let p = Ordered::from_pairs([("Signature", ""), ("X-Amz-Signature", "s4")]);
        assert_eq!(find_signature(&p, None).as_deref(), Some("s4"));
        let auth = "AWS4-HMAC-SHA256 Credential=AK/20240102/r/s/aws4_request, SignedHeaders=host, Signature=abc";
        assert_eq!(
            find_signature(&Ordered::new(), Some(auth)).as_deref(),
            Some("abc")
        );
        assert_eq!(
            find_access(&Ordered::new(), Some(auth)).as_deref(),
            Some("AK")
        );
        assert_eq!(find_signature(&Ordered::new(), Some("Basic x")), None);
        let p = Ordered::from_pairs([("X-Amz-Credential", "AK2/2024/r/s/aws4_request")]);
        assert_eq!(find_access(&p, Some(auth)).as_deref(), Some("AK2"));
        let p = Ordered::from_pairs([("AWSAccessKeyId", "")]);
        assert_eq!(
            find_access(&p, Some(auth)),
            None,
            "an empty key id wins, as in Heat"
        );
    }

    #[test]
    fn credentials_from_a_request() {
        let p = parts(
            "POST",
            "/v1/arn%3Ax?SignatureVersion=2&AWSAccessKeyId=AK",
            &[
                ("host", "h:8000"),
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-amz-date", "d"),
                ("x-multi", "1"),
                ("x-multi", "2"),
            ],
        );
        let head = Head::read(&p).unwrap();
        assert!(!head.has_signature());
        let Reading::Signed(s) = read_request(&p, &head, b"Signature=abc&Action=X").unwrap() else {
            panic!("signed")
        };
        let c = s.credentials;
        assert_eq!(c.access, "AK");
        assert_eq!(c.signature, "abc");
        assert_eq!(c.host, "h:8000");
        assert_eq!(c.path, "/v1/arn:x");
        assert!(!c.params.contains("Signature"));
        assert_eq!(c.params.get("Action"), Some("X"));
        assert_eq!(c.headers.get("X-Amz-Date"), Some("d"));
        assert_eq!(c.headers.get("X-Multi"), Some("1,2"));
        assert_eq!(
            c.headers.get("Content-Type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            read_request(&p, &head, b"Signature=abc&SignatureVersion=1").unwrap_err(),
            InputError::Duplicate("SignatureVersion".into())
        );
        let p = parts("GET", "/?a=1&a=2", &[("host", "h")]);
        let head = Head::read(&p).unwrap();
        assert!(matches!(
            read_request(&p, &head, b""),
            Err(InputError::Duplicate(_))
        ));
        let p = parts("GET", "/?a=1", &[("host", "h")]);
        let head = Head::read(&p).unwrap();
        assert!(matches!(
            read_request(&p, &head, b"").unwrap(),
            Reading::NoSignature
        ));
        let p = parts("GET", "/?Signature=x", &[("host", "h")]);
        let head = Head::read(&p).unwrap();
        assert!(head.has_signature());
        assert!(matches!(
            read_request(&p, &head, b"").unwrap(),
            Reading::NoAccessKey
        ));
    }
}
