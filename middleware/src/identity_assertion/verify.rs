//! The engine side: admit only what a gateway signed.

use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::{ready, Either, Ready};
use heatgate_keystone::Secret;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

use super::claims::{sha256_hex, Claims};
use super::{AssertionKey, ASSERTION_HEADER, AUDIENCE, ISSUER};
use crate::identity_headers::{is_identity_header, remove_where};

/// Seconds of clock difference tolerated between gateway and engine.
const LEEWAY_SECS: u64 = 5;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssertionError {
    /// No `X-Heatgate-Assertion` header.
    #[error("the request carries no identity assertion")]
    Missing,
    /// Not a JWS signed with the shared key, or not our claims.
    #[error("the identity assertion is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the identity assertion has expired")]
    Expired,
    /// Signed for another method, path or query.
    #[error("the identity assertion was issued for another request")]
    OtherRequest,
    /// The forwarded token is not the one the gateway verified.
    #[error("the identity assertion was issued for another token")]
    OtherToken,
}

impl AssertionError {
    /// The 401 answer (JSON, in the shape of the other OpenStack faults).
    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({
            "error": {
                "code": 401,
                "title": "Unauthorized",
                "message": format!(
                    "This engine only accepts requests forwarded by a heatgate gateway: {self}."
                ),
            }
        });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// Refuses requests without a valid `X-Heatgate-Assertion` and puts the
/// asserted [`Identity`](crate::context::Identity) into the extensions.
#[derive(Debug, Clone)]
pub struct VerifyAssertionLayer {
    key: AssertionKey,
}

impl VerifyAssertionLayer {
    /// Verifies with `key` (the one the gateway signs with).
    pub fn new(key: AssertionKey) -> Self {
        Self { key }
    }
}

impl<S> Layer<S> for VerifyAssertionLayer {
    type Service = VerifyAssertion<S>;
    fn layer(&self, inner: S) -> VerifyAssertion<S> {
        VerifyAssertion {
            inner,
            validation: validation(),
            key: self.key.clone(),
        }
    }
}

fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[AUDIENCE]);
    v.set_issuer(&[ISSUER]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    v.leeway = LEEWAY_SECS;
    v
}

/// The service of [`VerifyAssertionLayer`].
#[derive(Debug, Clone)]
pub struct VerifyAssertion<S> {
    inner: S,
    validation: Validation,
    key: AssertionKey,
}

crate::inner_accessors!(VerifyAssertion);

impl<S> VerifyAssertion<S> {
    fn admit<B>(&self, request: &mut Request<B>) -> Result<(), AssertionError> {
        let headers = request.headers_mut();
        let token = headers
            .remove(ASSERTION_HEADER)
            .ok_or(AssertionError::Missing)?;
        let token = token.to_str().map_err(|_| AssertionError::Invalid)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AssertionError::Expired,
                _ => AssertionError::Invalid,
            })?
            .claims;
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        if claims.htm != request.method().as_str() || claims.htu != path {
            return Err(AssertionError::OtherRequest);
        }
        let headers = request.headers_mut();
        // Only what the assertion vouches for goes on: no identity header a
        // client could have added on the way, no password it did not bind.
        remove_where(headers, is_identity_header);
        let auth_key = headers.remove("x-auth-key");
        let Some(idn) = claims.idn else {
            return Ok(());
        };
        let forwarded = headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .ok_or(AssertionError::OtherToken)?
            .to_owned();
        if !same_hash(&idn.token_sha256, forwarded.as_bytes()) {
            return Err(AssertionError::OtherToken);
        }
        restore_bound(headers, auth_key, idn.auth_key_sha256.as_deref());
        let identity = idn
            .into_identity(Secret::new(forwarded))
            .ok_or(AssertionError::Invalid)?;
        request.extensions_mut().insert(identity);
        Ok(())
    }
}

fn same_hash(expected_hex: &str, value: &[u8]) -> bool {
    sha256_hex(value)
        .as_bytes()
        .ct_eq(expected_hex.as_bytes())
        .into()
}

/// Puts `X-Auth-Key` back only when the assertion names its hash.
fn restore_bound(headers: &mut HeaderMap, value: Option<HeaderValue>, hash: Option<&str>) {
    if let (Some(mut value), Some(hash)) = (value, hash) {
        if same_hash(hash, value.as_bytes()) {
            value.set_sensitive(true);
            headers.insert("x-auth-key", value);
        }
    }
}

impl<S, B> Service<Request<B>> for VerifyAssertion<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response<Body>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Only the assertion may put an identity here.
        request
            .extensions_mut()
            .remove::<crate::context::Identity>();
        match self.admit(&mut request) {
            Ok(()) => Either::Right(self.inner.call(request)),
            Err(e) => {
                tracing::warn!(reason = %e, method = %request.method(), path = request.uri().path(), "request refused: no valid identity assertion");
                Either::Left(ready(Ok(e.into_response())))
            }
        }
    }
}
