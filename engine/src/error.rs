//! The engine's typed error, and how each kind is answered on the REST API
//! (Heat's JSON fault) and the CFN API (AWS XML error).

use axum::body::Body;
use http::{header, HeaderValue, Response, StatusCode};

use crate::crypt::CryptError;
use crate::store::StoreError;
use heatgate_middleware::refusal::heat_fault;

/// Why an engine operation did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Something named does not exist (or is not visible to the caller).
    #[error("The {entity} ({name}) could not be found.")]
    NotFound {
        /// "Stack", "Resource", ...
        entity: &'static str,
        /// The name asked for.
        name: String,
    },
    /// Not found, in Heat's words for this case (its plain `NotFound`).
    #[error("{0}")]
    NotFoundText(String),
    /// A stack with that name exists already.
    #[error("The Stack ({0}) already exists.")]
    StackExists(String),
    /// Bad input: a template, a parameter, a body. `kind` is Heat's exception name.
    #[error("{message}")]
    BadRequest {
        /// Heat's exception class (StackValidationFailed, InvalidTemplateVersion, ...).
        kind: &'static str,
        /// The reason, with the template path when there is one.
        message: String,
    },
    /// The caller may not do this to this resource.
    #[error("You are not authorized to complete this action.")]
    Forbidden,
    /// The operation conflicts with the stack's state.
    #[error("{0}")]
    Conflict(String),
    /// Keystone could not be asked.
    #[error("keystone: {0}")]
    Keystone(#[from] heatgate_keystone::Error),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored secret could not be opened (wrong key, altered data).
    #[error(transparent)]
    Crypt(#[from] CryptError),
}

impl EngineError {
    /// A 400 with Heat's exception name.
    pub fn bad(kind: &'static str, message: impl Into<String>) -> Self {
        EngineError::BadRequest {
            kind,
            message: message.into(),
        }
    }

    /// A stack that is not there.
    pub fn no_stack(name: impl Into<String>) -> Self {
        EngineError::NotFound {
            entity: "Stack",
            name: name.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            EngineError::NotFound { .. } | EngineError::NotFoundText(_) => StatusCode::NOT_FOUND,
            EngineError::StackExists(_) | EngineError::Conflict(_) => StatusCode::CONFLICT,
            EngineError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            EngineError::Forbidden => StatusCode::FORBIDDEN,
            EngineError::Keystone(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            EngineError::Keystone(_) => StatusCode::INTERNAL_SERVER_ERROR,
            EngineError::Store(_) | EngineError::Crypt(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            EngineError::NotFound { .. } => "EntityNotFound",
            EngineError::NotFoundText(_) => "NotFound",
            EngineError::StackExists(_) => "StackExists",
            EngineError::Conflict(_) => "ActionInProgress",
            EngineError::BadRequest { kind, .. } => kind,
            EngineError::Forbidden => "Forbidden",
            EngineError::Keystone(_) => "ServiceUnavailable",
            EngineError::Store(_) | EngineError::Crypt(_) => "InternalError",
        }
    }

    /// What the client is told (internal details stay in the log).
    fn public_message(&self) -> String {
        match self {
            EngineError::Keystone(e) if e.is_unavailable() => {
                "The identity service is unavailable.".to_owned()
            }
            EngineError::Keystone(_) | EngineError::Store(_) | EngineError::Crypt(_) => {
                "The engine failed to complete the request.".to_owned()
            }
            other => other.to_string(),
        }
    }

    fn log(&self) {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "engine request failed");
        }
    }

    /// Heat's JSON fault.
    pub fn rest_response(&self) -> Response<Body> {
        self.log();
        heat_fault(self.status(), self.kind(), &self.public_message())
    }

    /// The AWS XML error Heat's CFN API maps this to (answered with its real
    /// HTTP status, not Heat 27's 200 with a traceback).
    pub fn cfn_response(&self) -> Response<Body> {
        self.log();
        let (status, code, message) = match self {
            EngineError::NotFound {
                entity: "Stack", ..
            } => (
                StatusCode::BAD_REQUEST,
                "InvalidParameterValue",
                "Stack does not exist".to_owned(),
            ),
            EngineError::NotFound { .. } | EngineError::NotFoundText(_) => (
                StatusCode::BAD_REQUEST,
                "InvalidParameterValue",
                self.to_string(),
            ),
            EngineError::StackExists(_) => (
                StatusCode::BAD_REQUEST,
                "AlreadyExistsException",
                self.to_string(),
            ),
            EngineError::BadRequest { .. } | EngineError::Conflict(_) => (
                StatusCode::BAD_REQUEST,
                "InvalidParameterValue",
                self.to_string(),
            ),
            EngineError::Forbidden => (
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "User is not authorized to perform action".to_owned(),
            ),
            EngineError::Keystone(e) if e.is_unavailable() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.".to_owned(),
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "The request processing has failed due to some unknown error.".to_owned(),
            ),
        };
        let fault = if status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let mut r = Response::new(Body::from(heatgate_middleware::ec2token::xml_body(
            fault, code, &message,
        )));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        r
    }
}

impl axum::response::IntoResponse for EngineError {
    fn into_response(self) -> axum::response::Response {
        self.rest_response()
    }
}
