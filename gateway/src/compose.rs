//! The listeners' compositions: one function per listener, each one
//! `ServiceBuilder`, read from the outside in. `heatgate proxy`, `serve` and
//! `engine` build their listeners here and nowhere else.
//!
//! Every listener starts the same way ([`front`]):
//! 1. a panic anywhere behind is caught, counted (`heatgate_panics_total`),
//!    logged without its message's data, and answered 500 in the listener's
//!    own error form (Heat's JSON fault, or the AWS XML error on CFN
//!    listeners); the process keeps serving;
//! 2. every identity header a client sent is removed
//!    ([`StripIdentityLayer`]: the one list), so nothing a client claims is
//!    identity unless a layer below verified it and set it again;
//! 3. tokens, keys and signatures are marked sensitive (never printed);
//! 4. the request's body must arrive in full within `[gateway]
//!    request_body_timeout` ([`BodyDeadlineLayer`]): a client trickling bytes
//!    is cut off (408) instead of holding a connection.
//!
//! Then, per listener:
//!
//! | listener | after the front |
//! |---|---|
//! | [`rest`] (`proxy`, `serve`) | `/healthcheck`, then auth_token (or auth_password, standalone), then the inner service |
//! | [`cfn`] (`proxy --cfn-upstream`, `serve`) | ec2token; an unsigned request with `X-Auth-User` has its `X-Auth-Token` validated as Heat's auth_token would, never passed on unchecked |
//! | [`engine`] (`heatgate engine`, both listeners) | the gateway's signed identity assertion, required |
//!
//! (Request ids, request metrics and the access log are around all of this:
//! [`App`](crate::server::App) adds them to every listener, so a refusal or
//! a caught panic is counted and logged like any response.)

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use heatgate_keystone::Client;
use heatgate_middleware::auth_password::{AuthPasswordConfig, AuthPasswordLayer};
use heatgate_middleware::auth_token::{AuthTokenLayer, TokenValidator};
use heatgate_middleware::body_deadline::BodyDeadlineLayer;
use heatgate_middleware::ec2token::{Ec2Error, Ec2TokenLayer, Unsigned};
use heatgate_middleware::identity_assertion::{
    AssertionKey, VerifyAssertionLayer, ASSERTION_HEADER,
};
use heatgate_middleware::identity_headers::StripIdentityLayer;
use heatgate_middleware::refusal::heat_fault;
use http::header::{HeaderName, AUTHORIZATION};
use http::{Request, Response, StatusCode};
use tower::util::Either;
use tower::ServiceBuilder;
use tower_http::catch_panic::{CatchPanicLayer, ResponseForPanic};

use crate::config::{Config, ConfigError, Flavor};
use crate::listen::Served;
use crate::observability::{registry, Health};

/// The form of a listener's own errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorForm {
    /// Heat's JSON fault (the native API).
    Heat,
    /// The AWS XML error (the CloudFormation API).
    Aws,
}

/// Headers never to print (tokens, passwords, signatures, the gateway's
/// assertion).
static SENSITIVE_HEADERS: [HeaderName; 7] = [
    HeaderName::from_static("x-auth-token"),
    HeaderName::from_static("x-subject-token"),
    HeaderName::from_static("x-service-token"),
    HeaderName::from_static("x-storage-token"),
    HeaderName::from_static("x-auth-key"),
    ASSERTION_HEADER,
    AUTHORIZATION,
];

/// Marks the [`SENSITIVE_HEADERS`] of `request` sensitive, as tower-http's
/// `SetSensitiveRequestHeadersLayer` does, in one pass over its headers (the
/// layer looks each name up in turn, which costs more than the few headers of
/// a request).
fn mark_sensitive(mut request: Request<Body>) -> Request<Body> {
    for (name, value) in request.headers_mut().iter_mut() {
        if SENSITIVE_HEADERS.contains(name) {
            value.set_sensitive(true);
        }
    }
    request
}

/// Answers a panic: counted on the listener, logged, 500 in its error form.
#[derive(Debug, Clone, Copy)]
struct OnPanic {
    listener: &'static str,
    form: ErrorForm,
}

impl ResponseForPanic for OnPanic {
    type ResponseBody = Body;

    fn response_for_panic(&mut self, panic: Box<dyn Any + Send + 'static>) -> Response<Body> {
        registry().listener(self.listener).panicked();
        // A literal message is code, never request data; a formatted one may
        // carry what the request sent (a token, a password), so it is not
        // logged.
        let message = panic
            .downcast_ref::<&'static str>()
            .copied()
            .unwrap_or("(a formatted message, not logged)");
        tracing::error!(
            listener = self.listener,
            message,
            "a request panicked; answered 500"
        );
        match self.form {
            ErrorForm::Heat => heat_fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "The request could not be completed.",
            ),
            ErrorForm::Aws => Ec2Error::Internal.response(),
        }
    }
}

/// Steps 1 to 4 of every listener (see the module docs), in front of `inner`.
pub fn front<S: Served + Sync>(
    listener: &'static str,
    form: ErrorForm,
    body_timeout: Duration,
    inner: S,
) -> impl Served + Sync {
    ServiceBuilder::new()
        .map_response(|response: Response<_>| response.map(Body::new))
        .layer(CatchPanicLayer::custom(OnPanic { listener, form }))
        .layer(StripIdentityLayer::new())
        .map_request(mark_sensitive)
        .layer(BodyDeadlineLayer::new(body_timeout))
        .service(inner)
}

/// A Keystone client with the service user's credentials (`what` names the
/// listener's need, in the error when they are missing).
fn service_client(config: &Config, what: &str) -> Result<Client, ConfigError> {
    let client = Client::new(config.keystone_authtoken.client_config()?)
        .map_err(|e| ConfigError(e.to_string()))?;
    if client.config().service_auth.is_none() {
        return Err(ConfigError(format!(
            "[keystone_authtoken] username, password and project_name are required to {what}"
        )));
    }
    Ok(client)
}

/// The REST listener's authentication for `[gateway] flavor`; its Keystone
/// client and token cache counters are exported in the process's metrics.
fn rest_auth(config: &Config) -> Result<Either<AuthTokenLayer, AuthPasswordLayer>, ConfigError> {
    let section = &config.keystone_authtoken;
    Ok(match config.gateway.flavor {
        Flavor::Keystone => {
            let client = service_client(config, "validate tokens")?;
            let layer = AuthTokenLayer::new(section.layer_config(), client)
                .map_err(|e| ConfigError(format!("[keystone_authtoken] {e}")))?;
            registry().keystone_client("auth_token", layer.validator().client());
            registry().auth_token(layer.validator());
            Either::Left(layer)
        }
        Flavor::Standalone => {
            let client =
                Client::new(section.client_config()?).map_err(|e| ConfigError(e.to_string()))?;
            let mut layer_config = AuthPasswordConfig::new(section.auth_url()?);
            if !config.auth_password.allowed_auth_uris.is_empty() {
                layer_config.allowed_auth_uris = config.auth_password.allowed_auth_uris.clone();
            }
            if let Some(secs) = config.auth_password.cache_time {
                layer_config.cache_time = Duration::from_secs(secs);
            }
            registry().keystone_client("auth_password", &client);
            Either::Right(AuthPasswordLayer::new(layer_config, client))
        }
    })
}

/// The REST listener: the [`front`], `/healthcheck` (unauthenticated), then
/// auth_token (or auth_password) in front of `inner`.
pub fn rest<S: Served + Sync>(
    config: &Config,
    health: &Arc<Health>,
    inner: S,
) -> Result<impl Served + Sync, ConfigError> {
    let authenticated = ServiceBuilder::new()
        .layer(rest_auth(config)?)
        .service(inner);
    Ok(front(
        "rest",
        ErrorForm::Heat,
        config.gateway.request_body_timeout(),
        health.front_of(authenticated),
    ))
}

/// The CFN listener: the [`front`], then ec2token in front of `inner`. A
/// request without a signature but with `X-Auth-User` goes on to token
/// validation, as in Heat's pipeline (ec2authtoken, then authtoken): a valid
/// `X-Auth-Token` is admitted with its identity and keystonemiddleware's
/// headers, anything else gets the AWS error.
pub fn cfn<S: Served + Sync>(config: &Config, inner: S) -> Result<impl Served + Sync, ConfigError> {
    let client = service_client(config, "check EC2 signatures")?;
    registry().keystone_client("ec2token", &client);
    let section = &config.keystone_authtoken;
    let auth = section.layer_config();
    let validator = TokenValidator::from_config(client.clone(), &auth)
        .map_err(|e| ConfigError(format!("[keystone_authtoken] {e}")))?;
    let layer = Ec2TokenLayer::new(config.ec2authtoken.clone(), client)
        .map_err(|e| ConfigError(format!("[ec2authtoken] {e}")))?
        .unsigned(Unsigned::ValidateToken {
            validator,
            include_service_catalog: auth.include_service_catalog,
        })
        .service_type(auth.service_type.clone());
    let signed = ServiceBuilder::new().layer(layer).service(inner);
    Ok(front(
        "cfn",
        ErrorForm::Aws,
        config.gateway.request_body_timeout(),
        signed,
    ))
}

/// A listener of `heatgate engine` (behind a gateway): the [`front`], then
/// the gateway's signed identity assertion, required of every request.
pub fn engine<S: Served + Sync>(
    config: &Config,
    listener: &'static str,
    form: ErrorForm,
    key: &AssertionKey,
    inner: S,
) -> impl Served + Sync {
    let verified = ServiceBuilder::new()
        .layer(VerifyAssertionLayer::new(key.clone()))
        .service(inner);
    front(
        listener,
        form,
        config.gateway.request_body_timeout(),
        verified,
    )
}

/// Replaces the default panic hook, which prints a panic's message: a
/// formatted message may carry request data (a token, a password). This one
/// prints where the panic happened, and the message only when it is a literal
/// of the code.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&'static str>()
            .copied()
            .unwrap_or("(a formatted message, not printed)");
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("heatgate: panic at {location}: {message}");
    }));
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::ServiceExt;

    use super::*;

    #[test]
    fn every_value_of_a_sensitive_header_is_marked_and_only_those() {
        let request = Request::get("/")
            .header("X-Auth-Token", "a")
            .header("x-auth-token", "b")
            .header(AUTHORIZATION, "c")
            .header("x-auth-key", "d")
            .header("x-project-id", "e")
            .body(Body::empty())
            .unwrap();
        let request = mark_sensitive(request);
        for (name, value) in request.headers() {
            assert_eq!(
                value.is_sensitive(),
                name != "x-project-id",
                "{name}: {value:?}"
            );
        }
        assert_eq!(request.headers().len(), 5);
    }

    /// Panics in `call` itself (`/sync`), or in its future.
    fn panicking(
        request: Request<Body>,
    ) -> std::future::PollFn<
        impl FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Result<Response<Body>, Infallible>>,
    > {
        if request.uri().path() == "/sync" {
            panic!("a literal message");
        }
        let secret = request.headers().get("x-auth-token").cloned();
        std::future::poll_fn(move |_| panic!("formatted, with {secret:?}"))
    }

    #[tokio::test]
    async fn a_panic_is_a_500_in_the_listener_s_form_and_counted() {
        let heat = front(
            "compose-test-heat",
            ErrorForm::Heat,
            Duration::from_secs(60),
            tower::service_fn(panicking),
        );
        let aws = front(
            "compose-test-aws",
            ErrorForm::Aws,
            Duration::from_secs(60),
            tower::service_fn(panicking),
        );
        for path in ["/sync", "/formatted"] {
            let request = || {
                Request::get(path)
                    .header("x-auth-token", "secret")
                    .body(Body::empty())
                    .unwrap()
            };
            let r = heat.clone().oneshot(request()).await.unwrap();
            assert_eq!(r.status(), 500);
            assert_eq!(r.headers()["content-type"], "application/json");
            let r = aws.clone().oneshot(request()).await.unwrap();
            assert_eq!(r.status(), 500);
            assert_eq!(r.headers()["content-type"], "application/xml");
            let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            assert!(std::str::from_utf8(&body)
                .unwrap()
                .contains("<Code>InternalFailure</Code>"));
        }
        let text = registry().render();
        assert!(
            text.contains("heatgate_panics_total{listener=\"compose-test-heat\"} 2"),
            "{text}"
        );
        assert!(text.contains("heatgate_panics_total{listener=\"compose-test-aws\"} 2"));
    }
}
