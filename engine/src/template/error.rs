//! The error of every template operation: Heat's exception type, where in the
//! template, and Heat's message text.

use std::fmt;

/// Which Heat exception an error corresponds to (all of them are HTTP 400 in
/// Heat's API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `RequestLimitExceeded`: the template is bigger than
    /// [`MAX_TEMPLATE_SIZE`](super::MAX_TEMPLATE_SIZE).
    RequestLimitExceeded,
    /// The text is not a template (Heat raises a `ValueError`, which its API
    /// answers as a bad request "Template not in valid format: ...").
    TemplateFormat,
    /// `InvalidTemplateVersion`: no, an ambiguous or an unknown version, or a
    /// function removed from this HOT version.
    InvalidTemplateVersion,
    /// `InvalidTemplateSection`: an unknown top-level section.
    InvalidTemplateSection,
    /// `InvalidSchemaError`: a parameter declaration is malformed.
    InvalidSchema,
    /// `StackValidationFailed`: everything else the validation finds.
    StackValidationFailed,
    /// `UserParameterMissing`: a parameter without a value.
    UserParameterMissing,
    /// `UnknownUserParameter`: a value for a parameter the template lacks.
    UnknownUserParameter,
    /// `InvalidTemplateReference`: a reference to a resource that does not
    /// exist.
    InvalidTemplateReference,
    /// `InvalidTemplateAttribute`: an attribute the resource type lacks.
    InvalidTemplateAttribute,
    /// `CircularDependencyException`.
    CircularDependency,
    /// Valid for Heat but outside this engine's template subset.
    Unsupported,
}

impl ErrorKind {
    /// The name of Heat's exception class, for the `"type"` of an API error.
    pub fn heat_type(self) -> &'static str {
        match self {
            Self::RequestLimitExceeded => "RequestLimitExceeded",
            Self::TemplateFormat => "HTTPBadRequest",
            Self::InvalidTemplateVersion => "InvalidTemplateVersion",
            Self::InvalidTemplateSection => "InvalidTemplateSection",
            Self::InvalidSchema => "InvalidSchemaError",
            Self::StackValidationFailed | Self::Unsupported => "StackValidationFailed",
            Self::UserParameterMissing => "UserParameterMissing",
            Self::UnknownUserParameter => "UnknownUserParameter",
            Self::InvalidTemplateReference => "InvalidTemplateReference",
            Self::InvalidTemplateAttribute => "InvalidTemplateAttribute",
            Self::CircularDependency => "CircularDependencyException",
        }
    }
}

/// A template error: where (`path`, e.g. `resources.wait.properties.count`
/// for HOT or `Resources.Wait.Properties.Count` for CFN, empty for the whole
/// template) and what (`message`, Heat's text).
///
/// `Display` gives `"<path>: <message>"` (just the message when the path is
/// empty); [`TemplateError::heat_message`] gives the exact text Heat's API
/// would answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Heat's exception type.
    pub kind: ErrorKind,
    /// Where in the template, dotted, list items as `[i]`.
    pub path: String,
    /// Heat's message, without the path.
    pub message: String,
    /// Heat's error prefix ("Property error", "Output validation error").
    heat_error: &'static str,
    /// Whether Heat's own message carries the path.
    heat_path: bool,
}

impl TemplateError {
    /// An error of `kind` at `path`. Heat shows the path for
    /// `StackValidationFailed` errors; see [`Self::without_heat_path`].
    pub(crate) fn new(
        kind: ErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            path: path.into(),
            message: message.into(),
            heat_error: "",
            heat_path: matches!(
                kind,
                ErrorKind::StackValidationFailed | ErrorKind::Unsupported
            ),
        }
    }

    /// A `StackValidationFailed` error.
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::StackValidationFailed, path, message)
    }

    /// A `StackValidationFailed` error with Heat's "Property error" prefix.
    pub(crate) fn property(path: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::invalid(path, message);
        e.heat_error = "Property error";
        e
    }

    /// The same error, with Heat's error prefix (e.g. "Output validation error").
    pub(crate) fn with_heat_error(mut self, error: &'static str) -> Self {
        self.heat_error = error;
        self
    }

    /// The same error, for which Heat's message does not name the place.
    pub(crate) fn without_heat_path(mut self) -> Self {
        self.heat_path = false;
        self
    }

    /// The same error at another path (keeping the rest).
    pub(crate) fn at(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// The text Heat would answer for this error, e.g. `Property error:
    /// resources.wait.properties: Property handle not assigned` or `Request
    /// limit exceeded: Template size (...)`.
    pub fn heat_message(&self) -> String {
        let mut out = String::new();
        match self.kind {
            ErrorKind::RequestLimitExceeded => out.push_str("Request limit exceeded: "),
            ErrorKind::TemplateFormat => out.push_str("Template not in valid format: "),
            ErrorKind::InvalidTemplateVersion => out.push_str("The template version is invalid: "),
            _ => {}
        }
        if !self.heat_error.is_empty() {
            out.push_str(self.heat_error);
            out.push_str(": ");
        }
        if self.heat_path && !self.path.is_empty() {
            out.push_str(&self.path);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for TemplateError {}

/// `path` + `.key` (or just `key` at the root).
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `path` + `[i]`.
pub(crate) fn join_index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_heat_message() {
        let e =
            TemplateError::property("resources.wait.properties", "Property handle not assigned");
        assert_eq!(
            e.to_string(),
            "resources.wait.properties: Property handle not assigned"
        );
        assert_eq!(
            e.heat_message(),
            "Property error: resources.wait.properties: Property handle not assigned"
        );
        assert_eq!(e.kind.heat_type(), "StackValidationFailed");

        let e = TemplateError::new(
            ErrorKind::TemplateFormat,
            "",
            "Template format version not found.",
        );
        assert_eq!(e.to_string(), "Template format version not found.");
        assert_eq!(
            e.heat_message(),
            "Template not in valid format: Template format version not found."
        );

        let e = TemplateError::new(
            ErrorKind::InvalidTemplateVersion,
            "heat_template_version",
            "Template version was not provided",
        );
        assert_eq!(
            e.heat_message(),
            "The template version is invalid: Template version was not provided"
        );

        let e = TemplateError::invalid("resources.x", "boom").without_heat_path();
        assert_eq!(e.to_string(), "resources.x: boom");
        assert_eq!(e.heat_message(), "boom");
        assert_eq!(join("", "a"), "a");
        assert_eq!(join_index(&join("a", "b"), 2), "a.b[2]");
    }
}
