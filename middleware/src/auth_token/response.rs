//! The responses auth_token answers with, byte for byte as keystonemiddleware.

use axum::body::Body;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

/// keystonemiddleware's 401 body.
pub const UNAUTHORIZED_BODY: &str = r#"{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}"#;

/// `application/json; charset=UTF-8`
pub const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json; charset=UTF-8");

/// A 401 with the reference body and, when known, `WWW-Authenticate: Keystone uri="..."`.
pub fn unauthorized(www_authenticate: Option<&HeaderValue>) -> Response<Body> {
    let mut response = Response::new(Body::from(UNAUTHORIZED_BODY));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, JSON_UTF8);
    if let Some(v) = www_authenticate {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, v.clone());
    }
    response
}

/// The 503 answered when Keystone cannot be asked (webob's
/// `HTTPServiceUnavailable`, negotiated on the request's `Accept`).
pub fn keystone_unavailable(request_headers: &HeaderMap) -> Response<Body> {
    crate::webob::error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "The server is currently unavailable. Please try again at a later time.",
        "The Keystone service is temporarily unavailable.",
        request_headers,
    )
}

/// The `WWW-Authenticate` value for `uri` (double quotes, as keystonemiddleware).
///
/// ```
/// let v = heatgate_middleware::auth_token::response::www_authenticate("http://k:5000").unwrap();
/// assert_eq!(v, "Keystone uri=\"http://k:5000\"");
/// ```
pub fn www_authenticate(uri: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("Keystone uri=\"{uri}\"")).ok()
}
