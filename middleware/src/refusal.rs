//! Heat's JSON fault: the one place that writes the body Heat's `faultwrap`
//! middleware answers its native API's errors with.
//!
//! ```text
//! {"code": 403, "title": "Forbidden", "explanation": "Access was denied to this resource.",
//!  "error": {"type": "Forbidden", "traceback": null, "message": "..."}}
//! ```
//!
//! in Heat's key order, with `Content-Type: application/json`. The title and
//! explanation are webob's for the status. (The CloudFormation API's AWS XML
//! errors are [`ec2token::xml_body`](crate::ec2token::xml_body).)
//!
//! ```
//! use heatgate_middleware::refusal::heat_fault;
//! use http::StatusCode;
//!
//! let response = heat_fault(StatusCode::NOT_FOUND, "EntityNotFound", "The Stack (s) could not be found.");
//! assert_eq!(response.status(), 404);
//! assert_eq!(response.headers()["content-type"], "application/json");
//! ```

use axum::body::Body;
use http::{header, HeaderValue, Response, StatusCode};

/// webob's title and explanation for `status`.
fn title_and_explanation(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => (
            "Bad Request",
            "The server could not comply with the request since it is either malformed or otherwise incorrect.",
        ),
        StatusCode::FORBIDDEN => ("Forbidden", "Access was denied to this resource."),
        StatusCode::NOT_FOUND => ("Not Found", "The resource could not be found."),
        StatusCode::CONFLICT => (
            "Conflict",
            "There was a conflict when trying to complete your request.",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "Service Unavailable",
            "The server is currently unavailable. Please try again at a later time.",
        ),
        _ => (
            "Internal Server Error",
            "The server has either erred or is incapable of performing the requested operation.",
        ),
    }
}

/// The body of [`heat_fault`].
pub fn heat_fault_body(status: StatusCode, kind: &str, message: &str) -> String {
    let (title, explanation) = title_and_explanation(status);
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    format!(
        "{{\"code\": {}, \"title\": {}, \"explanation\": {}, \"error\": {{\"type\": {}, \"traceback\": null, \"message\": {}}}}}",
        status.as_u16(),
        text(title),
        text(explanation),
        text(kind),
        text(message),
    )
}

/// Heat's JSON fault: `status`, an error of Python type `kind`, `message`.
pub fn heat_fault(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(heat_fault_body(status, kind, message)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_heat_s_in_heat_s_order() {
        assert_eq!(
            heat_fault_body(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "You are not authorized to use stacks:index."
            ),
            r#"{"code": 403, "title": "Forbidden", "explanation": "Access was denied to this resource.", "error": {"type": "Forbidden", "traceback": null, "message": "You are not authorized to use stacks:index."}}"#
        );
        let body: serde_json::Value = serde_json::from_str(&heat_fault_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Panic",
            "a \"quoted\"\n",
        ))
        .unwrap();
        assert_eq!(body["error"]["message"], "a \"quoted\"\n");
        assert_eq!(body["title"], "Internal Server Error");
    }
}
