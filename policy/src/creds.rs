//! Who is asking ([`Credentials`]) and what they ask about ([`Target`]).
//!
//! ```
//! use heatgate_policy::{Credentials, Target};
//!
//! let creds = Credentials::builder()
//!     .user_id("u1")
//!     .project_id("p1")
//!     .roles(["Member", "reader"])
//!     .build();
//! assert_eq!(creds.get("project_id").map(|v| v.to_string()), Some("p1".into()));
//! assert!(creds.has_role("member"));
//!
//! let target = Target::new().with("project_id", "p1");
//! assert_eq!(target.get("project_id").map(|v| v.to_string()), Some("p1".into()));
//! ```

use crate::py::{PyError, PyValue};

/// The token scope oslo.policy derives from the credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// `creds["system"]` is truthy.
    System,
    /// `creds["domain_id"]` is truthy.
    Domain,
    /// Anything else.
    Project,
}

impl TokenScope {
    /// The name used in `scope_types`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::System => "system",
            TokenScope::Domain => "domain",
            TokenScope::Project => "project",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Roles {
    Absent,
    Lower(Vec<Box<str>>),
    Error(PyError),
}

/// The credentials dict oslo.policy evaluates rules against.
///
/// Keys keep their insertion order (it shows when a dict is printed). Build one
/// with [`Credentials::builder`] (the keys `oslo.context` and Heat provide) or
/// from any JSON object with [`Credentials::from_json`].
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    values: Vec<(Box<str>, PyValue)>,
    roles: Roles,
    scope: TokenScope,
}

impl Credentials {
    /// Starts the standard credential set (oslo.context's `to_policy_values`).
    pub fn builder() -> CredentialsBuilder {
        CredentialsBuilder::default()
    }

    /// Credentials from a JSON object, as `enforce` sees a dict: when
    /// `system_scope` is truthy, `system` is set to it (oslo.policy does this
    /// on every enforce).
    pub fn from_json(text: &str) -> Result<Credentials, serde_json::Error> {
        let v = PyValue::from_json(text)?;
        Ok(Credentials::from_value(v))
    }

    /// Credentials from a parsed value (non-objects give empty credentials).
    pub fn from_value(v: PyValue) -> Credentials {
        let mut values = match v {
            PyValue::Dict(d) => d,
            _ => Vec::new(),
        };
        let sys = lookup(&values, "system_scope")
            .filter(|v| v.truthy())
            .cloned();
        if let Some(sys) = sys {
            match values.iter_mut().find(|(k, _)| &**k == "system") {
                Some(slot) => slot.1 = sys,
                None => values.push(("system".into(), sys)),
            }
        }
        Credentials::from_pairs_raw(values)
    }

    /// Credentials exactly as given, without the `system_scope` -> `system`
    /// mapping (the way `oslopolicy-checker` calls a rule).
    pub fn from_pairs_raw(values: Vec<(Box<str>, PyValue)>) -> Credentials {
        let roles = match lookup(&values, "roles") {
            None => Roles::Absent,
            Some(v) => lower_roles(v),
        };
        let scope = if lookup(&values, "system").is_some_and(PyValue::truthy) {
            TokenScope::System
        } else if lookup(&values, "domain_id").is_some_and(PyValue::truthy) {
            TokenScope::Domain
        } else {
            TokenScope::Project
        };
        Credentials {
            values,
            roles,
            scope,
        }
    }

    /// The value of a top-level key.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        lookup(&self.values, key)
    }

    /// All keys and values, in order.
    pub fn pairs(&self) -> &[(Box<str>, PyValue)] {
        &self.values
    }

    /// The whole dict as one value.
    pub fn to_value(&self) -> PyValue {
        PyValue::Dict(self.values.clone())
    }

    /// The token scope (`system`, `domain` or `project`).
    pub fn scope(&self) -> TokenScope {
        self.scope
    }

    /// Whether a role matches case-insensitively (as `role:` checks do).
    pub fn has_role(&self, role: &str) -> bool {
        matches!(self.role_matches(role), Ok(true))
    }

    /// `role.lower() in [r.lower() for r in creds["roles"]]`, with oslo's errors.
    pub(crate) fn role_matches(&self, role: &str) -> Result<bool, PyError> {
        match &self.roles {
            Roles::Absent => Ok(false),
            Roles::Error(e) => Err(e.clone()),
            Roles::Lower(list) => {
                if role.is_ascii() {
                    Ok(list
                        .iter()
                        .any(|r| r.len() == role.len() && r.eq_ignore_ascii_case(role)))
                } else {
                    let l = py_lower(role);
                    Ok(list.iter().any(|r| **r == *l))
                }
            }
        }
    }

    /// Matches a role that is already lower-cased.
    pub(crate) fn role_matches_lower(&self, lower: &str) -> Result<bool, PyError> {
        match &self.roles {
            Roles::Absent => Ok(false),
            Roles::Error(e) => Err(e.clone()),
            Roles::Lower(list) => Ok(list.iter().any(|r| **r == *lower)),
        }
    }

    /// Serialises the credentials as a JSON object (key order kept).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&PyValue::Dict(self.values.clone())).unwrap_or_else(|_| "{}".into())
    }
}

/// Python's `str.lower()`.
pub(crate) fn py_lower(s: &str) -> String {
    s.to_lowercase()
}

fn lower_roles(v: &PyValue) -> Roles {
    let items: Vec<PyValue> = match v {
        PyValue::List(l) => l.clone(),
        PyValue::Str(s) => s
            .chars()
            .map(|c| PyValue::Str(c.to_string().into()))
            .collect(),
        PyValue::Dict(d) => d.iter().map(|(k, _)| PyValue::Str(k.clone())).collect(),
        other => {
            return Roles::Error(PyError::type_error(format!(
                "'{}' object is not iterable",
                other.type_name()
            )));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        match i {
            PyValue::Str(s) => out.push(py_lower(&s).into_boxed_str()),
            other => {
                return Roles::Error(PyError::new(
                    crate::py::PyErrorKind::AttributeError,
                    format!("'{}' object has no attribute 'lower'", other.type_name()),
                ))
            }
        }
    }
    Roles::Lower(out)
}

fn lookup<'a>(values: &'a [(Box<str>, PyValue)], key: &str) -> Option<&'a PyValue> {
    values
        .iter()
        .rev()
        .find(|(k, _)| &**k == key)
        .map(|(_, v)| v)
}

/// Builds the credentials oslo.context and Heat hand to oslo.policy.
///
/// Unset identifiers are present as `None`, as in `to_policy_values()`;
/// `is_admin_project` defaults to true (Heat's behaviour when the
/// `X-Is-Admin-Project` header is absent).
#[derive(Debug, Clone)]
pub struct CredentialsBuilder {
    user_id: Option<String>,
    user_domain_id: Option<String>,
    system_scope: Option<String>,
    domain_id: Option<String>,
    project_id: Option<String>,
    project_domain_id: Option<String>,
    roles: Vec<String>,
    is_admin_project: bool,
    service_roles: Vec<String>,
    is_admin: Option<bool>,
    extra: Vec<(Box<str>, PyValue)>,
}

impl Default for CredentialsBuilder {
    fn default() -> Self {
        CredentialsBuilder {
            user_id: None,
            user_domain_id: None,
            system_scope: None,
            domain_id: None,
            project_id: None,
            project_domain_id: None,
            roles: Vec::new(),
            is_admin_project: true,
            service_roles: Vec::new(),
            is_admin: None,
            extra: Vec::new(),
        }
    }
}

macro_rules! opt_setter {
    ($($name:ident),*) => {$(
        #[doc = concat!("Sets `", stringify!($name), "`.")]
        pub fn $name(mut self, v: impl Into<String>) -> Self {
            self.$name = Some(v.into());
            self
        }
    )*};
}

impl CredentialsBuilder {
    opt_setter!(
        user_id,
        user_domain_id,
        system_scope,
        domain_id,
        project_id,
        project_domain_id
    );

    /// Sets the role names.
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the service token's role names.
    pub fn service_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.service_roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `is_admin_project` (default true).
    pub fn is_admin_project(mut self, v: bool) -> Self {
        self.is_admin_project = v;
        self
    }

    /// Sets Heat's `is_admin` (normally the result of `context_is_admin`).
    pub fn is_admin(mut self, v: bool) -> Self {
        self.is_admin = Some(v);
        self
    }

    /// Adds any other key (replacing a standard one of the same name).
    pub fn extra(mut self, key: impl Into<String>, value: PyValue) -> Self {
        self.extra.push((key.into().into_boxed_str(), value));
        self
    }

    /// Adds a key from a JSON value.
    pub fn extra_json(self, key: impl Into<String>, value: &serde_json::Value) -> Self {
        self.extra(key, PyValue::from_json_value(value))
    }

    /// Finishes the credentials.
    pub fn build(self) -> Credentials {
        let s = |v: Option<String>| v.map(|s| PyValue::Str(s.into())).unwrap_or(PyValue::None);
        let list =
            |v: Vec<String>| PyValue::List(v.into_iter().map(|s| PyValue::Str(s.into())).collect());
        let mut values: Vec<(Box<str>, PyValue)> = vec![
            ("user_id".into(), s(self.user_id)),
            ("user_domain_id".into(), s(self.user_domain_id)),
            ("system_scope".into(), s(self.system_scope)),
            ("domain_id".into(), s(self.domain_id)),
            ("project_id".into(), s(self.project_id)),
            ("project_domain_id".into(), s(self.project_domain_id)),
            ("roles".into(), list(self.roles)),
            (
                "is_admin_project".into(),
                PyValue::Bool(self.is_admin_project),
            ),
            ("service_user_id".into(), PyValue::None),
            ("service_user_domain_id".into(), PyValue::None),
            ("service_project_id".into(), PyValue::None),
            ("service_project_domain_id".into(), PyValue::None),
            ("service_roles".into(), list(self.service_roles)),
        ];
        if let Some(a) = self.is_admin {
            values.push(("is_admin".into(), PyValue::Bool(a)));
        }
        for (k, v) in self.extra {
            match values.iter_mut().find(|(k2, _)| *k2 == k) {
                Some(slot) => slot.1 = v,
                None => values.push((k, v)),
            }
        }
        Credentials::from_value(PyValue::Dict(values))
    }
}

/// The target of an action: a flat dict whose keys `%(key)s` reads.
///
/// Heat's REST target is `{"project_id": <tenant in the URL>}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Target {
    values: Vec<(Box<str>, PyValue)>,
}

impl Target {
    /// An empty target.
    pub fn new() -> Target {
        Target::default()
    }

    /// Adds a string value.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Target {
        self.insert(key.into(), PyValue::Str(value.into().into()));
        self
    }

    /// Adds any value.
    pub fn with_value(mut self, key: impl Into<String>, value: PyValue) -> Target {
        self.insert(key.into(), value);
        self
    }

    fn insert(&mut self, key: String, value: PyValue) {
        match self.values.iter_mut().find(|(k, _)| **k == *key) {
            Some(slot) => slot.1 = value,
            None => self.values.push((key.into_boxed_str(), value)),
        }
    }

    /// A target from a JSON object, keys as given (not flattened).
    pub fn from_json(text: &str) -> Result<Target, serde_json::Error> {
        Ok(Target::from_value(PyValue::from_json(text)?))
    }

    /// A target from a JSON object with nested objects flattened to dotted keys
    /// (what `oslopolicy-checker --target` does).
    pub fn from_json_flattened(text: &str) -> Result<Target, serde_json::Error> {
        let v = PyValue::from_json(text)?;
        let mut out = Vec::new();
        if let PyValue::Dict(d) = v {
            flatten(&d, "", &mut out);
        }
        let mut t = Target::new();
        for (k, v) in out {
            t.insert(k, v);
        }
        Ok(t)
    }

    /// A target from a parsed value (non-objects give an empty target).
    pub fn from_value(v: PyValue) -> Target {
        match v {
            PyValue::Dict(d) => Target { values: d },
            _ => Target::new(),
        }
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        lookup(&self.values, key)
    }

    /// All keys and values, in order.
    pub fn pairs(&self) -> &[(Box<str>, PyValue)] {
        &self.values
    }
}

fn flatten(d: &[(Box<str>, PyValue)], parent: &str, out: &mut Vec<(String, PyValue)>) {
    for (k, v) in d {
        let key = if parent.is_empty() {
            k.to_string()
        } else {
            format!("{parent}.{k}")
        };
        match v {
            PyValue::Dict(inner) => flatten(inner, &key, out),
            other => out.push((key, other.clone())),
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Target {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut t = Target::new();
        for (k, v) in iter {
            t.insert(k.into(), PyValue::Str(v.into().into()));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_scope_sets_system_and_scope() {
        let c = Credentials::builder()
            .system_scope("all")
            .roles(["reader"])
            .build();
        assert_eq!(c.scope(), TokenScope::System);
        assert_eq!(c.get("system"), Some(&PyValue::Str("all".into())));
        let d = Credentials::builder().domain_id("d").build();
        assert_eq!(d.scope(), TokenScope::Domain);
        assert_eq!(Credentials::builder().build().scope(), TokenScope::Project);
    }

    #[test]
    fn roles_are_case_insensitive_and_python_errors_survive() {
        let c = Credentials::builder().roles(["ADMIN", "\u{130}x"]).build();
        assert!(c.has_role("admin"));
        assert!(c.has_role("\u{130}X"));
        let bad = Credentials::from_json(r#"{"roles": ["a", 1]}"#).unwrap();
        assert!(bad.role_matches("a").is_err());
        let s = Credentials::from_json(r#"{"roles": "admin"}"#).unwrap();
        assert!(s.has_role("a"));
        assert!(!s.has_role("admin"));
    }

    #[test]
    fn flattened_targets() {
        let t = Target::from_json_flattened(r#"{"a": {"b": "c"}, "d": 1}"#).unwrap();
        assert_eq!(t.get("a.b"), Some(&PyValue::Str("c".into())));
        assert_eq!(t.get("d"), Some(&PyValue::Int(1)));
    }
}
