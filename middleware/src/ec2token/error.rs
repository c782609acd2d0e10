//! The layer's denials and their AWS XML answers, as Heat renders its
//! `HeatAPIException`s: `application/xml`, no XML declaration,
//! `<ErrorResponse><Error><Type>..</Type><Code>..</Code><Message>..</Message></Error></ErrorResponse>`.

use axum::body::Body;
use http::{header, HeaderValue, Response, StatusCode};

/// Why the layer refused a request. [`Ec2Error::response`] is the one place
/// that turns it into a status and a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Ec2Error {
    /// No signature (400 `IncompleteSignature`).
    #[error("no signature")]
    NoSignature,
    /// A signature Keystone could not even compute (400 `IncompleteSignature`).
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// No access key (403 `MissingAuthenticationToken`).
    #[error("no access key")]
    NoAccessKey,
    /// Keystone does not know the access key (403 `InvalidClientTokenId`).
    #[error("unknown access key")]
    UnknownAccessKey,
    /// An unsigned request with `X-Auth-User` but no token (403
    /// `MissingAuthenticationToken`).
    #[error("no signature and no token")]
    NoToken,
    /// An unsigned request whose token Keystone does not confirm (403
    /// `InvalidClientTokenId`).
    #[error("invalid token")]
    InvalidToken,
    /// The signature does not match (403 `SignatureDoesNotMatch`).
    #[error("signature does not match")]
    SignatureMismatch,
    /// Any other refusal: expired time stamps, Keystone's 401/403 (403 `AccessDenied`).
    #[error("access denied: {0}")]
    AccessDenied(&'static str),
    /// Parameters that cannot be read: not UTF-8, repeated names, a bad
    /// multipart body (400 `InvalidQueryParameter`).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The body is larger than the limit (400 `RequestLimitExceeded`).
    #[error("request body too large")]
    TooLarge,
    /// The body did not arrive in full in time (408 `RequestTimeout`; see
    /// [`body_deadline`](crate::body_deadline)).
    #[error("request body too slow")]
    BodyTimeout,
    /// Keystone cannot be asked (503 `ServiceUnavailable`).
    #[error("keystone unavailable")]
    Unavailable,
    /// The layer is misconfigured (500 `InternalFailure`).
    #[error("internal failure")]
    Internal,
}

impl Ec2Error {
    /// Status, `Type`, `Code` and `Message` of the answer (Heat's texts).
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str, &'static str) {
        use Ec2Error::*;
        match self {
            NoSignature | Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "Sender",
                "IncompleteSignature",
                "The request signature does not conform to AWS standards",
            ),
            NoAccessKey | NoToken => (
                StatusCode::FORBIDDEN,
                "Sender",
                "MissingAuthenticationToken",
                "Does not contain a valid AWS Access Key or certificate",
            ),
            UnknownAccessKey => (
                StatusCode::FORBIDDEN,
                "Sender",
                "InvalidClientTokenId",
                "The certificate or AWS Key ID provided does not exist",
            ),
            InvalidToken => (
                StatusCode::FORBIDDEN,
                "Sender",
                "InvalidClientTokenId",
                "The security token included in the request is invalid",
            ),
            SignatureMismatch => (
                StatusCode::FORBIDDEN,
                "Sender",
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided",
            ),
            AccessDenied(_) => (
                StatusCode::FORBIDDEN,
                "Sender",
                "AccessDenied",
                "User is not authorized to perform action",
            ),
            InvalidQuery(_) => (
                StatusCode::BAD_REQUEST,
                "Sender",
                "InvalidQueryParameter",
                "AWS query string is malformed, does not adhere to AWS spec",
            ),
            TooLarge => (
                StatusCode::BAD_REQUEST,
                "Sender",
                "RequestLimitExceeded",
                "Payload exceeds maximum allowed size",
            ),
            BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "Sender",
                "RequestTimeout",
                "The request body was not received within the time allowed",
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Server",
                "ServiceUnavailable",
                "Service temporarily unavailable",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Server",
                "InternalFailure",
                "The request processing has failed due to an internal error",
            ),
        }
    }

    /// The AWS error code (`AccessDenied`, ...).
    pub fn code(&self) -> &'static str {
        self.parts().2
    }

    /// The XML answer.
    ///
    /// ```
    /// use heatgate_middleware::ec2token::Ec2Error;
    /// let r = Ec2Error::NoSignature.response();
    /// assert_eq!(r.status(), 400);
    /// assert_eq!(r.headers()["content-type"], "application/xml");
    /// ```
    pub fn response(&self) -> Response<Body> {
        let (status, kind, code, message) = self.parts();
        let mut response = Response::new(Body::from(xml_body(kind, code, message)));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        response
    }
}

/// The error document (escaped as lxml escapes text).
pub fn xml_body(kind: &str, code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error></ErrorResponse>",
        escape(kind),
        escape(code),
        escape(message)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_heat_s() {
        assert_eq!(
            xml_body("Sender", "AccessDenied", "User is not authorized to perform action"),
            "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform action</Message></Error></ErrorResponse>"
        );
        assert_eq!(xml_body("a", "b", "x<&>"), "<ErrorResponse><Error><Type>a</Type><Code>b</Code><Message>x&lt;&amp;&gt;</Message></Error></ErrorResponse>");
        assert_eq!(Ec2Error::Unavailable.response().status(), 503);
        assert_eq!(Ec2Error::Unavailable.parts().1, "Server");
        assert_eq!(Ec2Error::Internal.response().status(), 500);
        assert_eq!(Ec2Error::UnknownAccessKey.code(), "InvalidClientTokenId");
    }
}
