//! The gateway side: sign what the authentication layer verified.

use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request};
use jsonwebtoken::{Algorithm, Header};
use time::OffsetDateTime;
use tower::{Layer, Service};

use super::claims::{Claims, IdentityClaims};
use super::{AssertionKey, ASSERTION_HEADER, AUDIENCE, ISSUER};
use crate::context::Identity;

/// How long an assertion is good for: long enough for any clock skew on a
/// link between two processes, short enough that a copy is soon worthless.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(30);

/// Adds `X-Heatgate-Assertion` to every request; put it after (inside) the
/// authentication layer.
#[derive(Debug, Clone)]
pub struct SignAssertionLayer {
    key: AssertionKey,
    lifetime: Duration,
}

impl SignAssertionLayer {
    /// Signs with `key`, assertions valid for 30 s.
    pub fn new(key: AssertionKey) -> Self {
        Self {
            key,
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// Sets how long assertions stay valid.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
}

impl<S> Layer<S> for SignAssertionLayer {
    type Service = SignAssertion<S>;
    fn layer(&self, inner: S) -> SignAssertion<S> {
        SignAssertion {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`SignAssertionLayer`].
#[derive(Debug, Clone)]
pub struct SignAssertion<S> {
    inner: S,
    layer: SignAssertionLayer,
}

crate::inner_accessors!(SignAssertion);

/// The assertion for `request` as it is about to be forwarded.
pub(super) fn assertion_for<B>(
    request: &Request<B>,
    key: &AssertionKey,
    lifetime: Duration,
    now: OffsetDateTime,
) -> Result<String, jsonwebtoken::errors::Error> {
    let idn = request.extensions().get::<Identity>().map(|identity| {
        let ec2 = identity.ec2_access().map(str::to_owned);
        let auth_key = request
            .headers()
            .get("x-auth-key")
            .map(HeaderValue::as_bytes);
        IdentityClaims::from_identity(identity, ec2, auth_key)
    });
    let iat = now.unix_timestamp();
    let claims = Claims {
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        iat,
        exp: iat + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2),
        htm: request.method().as_str().to_owned(),
        htu: request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned(),
        idn,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key.encoding)
}

impl<S, B> Service<Request<B>> for SignAssertion<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        // Whatever came from the network is not ours.
        request.headers_mut().remove(ASSERTION_HEADER);
        let signed = assertion_for(
            &request,
            &self.layer.key,
            self.layer.lifetime,
            OffsetDateTime::now_utc(),
        );
        match signed.map(HeaderValue::try_from) {
            Ok(Ok(mut value)) => {
                value.set_sensitive(true);
                request.headers_mut().insert(ASSERTION_HEADER, value);
            }
            // Cannot happen with HS256 and serializable claims; without the
            // header the engine refuses the request (fails closed).
            _ => tracing::error!("could not sign the identity assertion"),
        }
        self.inner.call(request)
    }
}
