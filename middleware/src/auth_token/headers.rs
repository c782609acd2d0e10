//! The headers auth_token reads, strips and sets.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::context::{IdentityData, Scope};
use crate::pyjson::push_py_str;
use heatgate_keystone::token::CatalogEntry;

/// `X-Identity-Status`
pub const IDENTITY_STATUS: HeaderName = HeaderName::from_static("x-identity-status");
/// `X-Service-Identity-Status`
pub const SERVICE_IDENTITY_STATUS: HeaderName =
    HeaderName::from_static("x-service-identity-status");
/// `X-Service-Catalog`
pub const SERVICE_CATALOG: HeaderName = HeaderName::from_static("x-service-catalog");
/// `X-Auth-Token`
pub const AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
/// `X-Storage-Token`
pub const STORAGE_TOKEN: HeaderName = HeaderName::from_static("x-storage-token");
/// `X-Service-Token`
pub const SERVICE_TOKEN: HeaderName = HeaderName::from_static("x-service-token");

/// Whether a (lower-case) header name is one a caller could use to claim an
/// identity that keystonemiddleware would set: one of
/// [`KEYSTONE_IDENTITY_HEADERS`](crate::identity_headers::KEYSTONE_IDENTITY_HEADERS).
///
/// These are removed from every request before anything else, so only what the
/// layer itself sets reaches the service behind it.
///
/// ```
/// use heatgate_middleware::auth_token::is_spoofable;
/// assert!(is_spoofable("x-roles"));
/// assert!(is_spoofable("x-service-project-domain-name"));
/// assert!(is_spoofable("openstack-system-scope"));
/// assert!(!is_spoofable("x-auth-token"));
/// ```
pub fn is_spoofable(name: &str) -> bool {
    crate::identity_headers::is_keystone_identity_header(name)
}

/// Removes every spoofable header (see [`is_spoofable`]).
pub fn strip_spoofable(headers: &mut HeaderMap) {
    crate::identity_headers::remove_where(headers, is_spoofable);
}

/// Headers describing a validated token, computed once per cached token.
///
/// Kept compact, since a gateway caches tens of thousands of these: the
/// distinct values are slices of ONE allocation, and the user token's `X-*`
/// set and the service token's `X-Service-*` set are lists of (name, value)
/// indices into a static name table and those values, so the values shared by
/// both sets (and by the deprecated copies) are stored once.
///
/// ```
/// use heatgate_middleware::auth_token::IdentityHeaders;
/// use heatgate_middleware::context::IdentityData;
///
/// let body: heatgate_keystone::TokenBody = serde_json::from_str(
///     r#"{"methods": ["password"], "expires_at": "2030-01-01T00:00:00Z",
///         "user": {"id": "u1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
///         "project": {"id": "p1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
///         "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}]}"#,
/// )?;
/// let identity = IdentityData::from_token(&body);
/// let headers = IdentityHeaders::new(&identity, None);
/// let user: Vec<_> = headers.user().map(|(n, v)| (n.as_str(), v.clone())).collect();
/// assert!(user.contains(&("x-project-id", "p1".parse().unwrap())));
/// assert!(user.contains(&("x-roles", "member,reader".parse().unwrap())));
/// assert!(user.contains(&("x-tenant", "demo".parse().unwrap())));
/// let service: Vec<_> = headers.service().map(|(n, _)| n.as_str()).collect();
/// assert!(service.contains(&"x-service-roles"));
/// assert_eq!(headers.user().len(), user.len());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct IdentityHeaders {
    /// The distinct values (slices of one shared buffer, or static).
    values: Box<[HeaderValue]>,
    /// (index into `NAMES`, index into `values`): the user set first, then
    /// the service set.
    pairs: Box<[(u8, u8)]>,
    /// How many of `pairs` are the user set.
    user_len: u8,
    /// `X-Service-Catalog`, when the catalog was fetched.
    catalog: Option<HeaderValue>,
}

/// Every name an [`IdentityHeaders`] sets: `X-<attribute>` at 2i and
/// `X-Service-<attribute>` at 2i + 1 for the ten identity attributes, in the
/// order of `IdentityHeaders::new`, then the others. Static names: copied into
/// every request without touching a reference count.
static NAMES: [HeaderName; 29] = [
    HeaderName::from_static("x-domain-id"),
    HeaderName::from_static("x-service-domain-id"),
    HeaderName::from_static("x-domain-name"),
    HeaderName::from_static("x-service-domain-name"),
    HeaderName::from_static("x-project-id"),
    HeaderName::from_static("x-service-project-id"),
    HeaderName::from_static("x-project-name"),
    HeaderName::from_static("x-service-project-name"),
    HeaderName::from_static("x-project-domain-id"),
    HeaderName::from_static("x-service-project-domain-id"),
    HeaderName::from_static("x-project-domain-name"),
    HeaderName::from_static("x-service-project-domain-name"),
    HeaderName::from_static("x-user-id"),
    HeaderName::from_static("x-service-user-id"),
    HeaderName::from_static("x-user-name"),
    HeaderName::from_static("x-service-user-name"),
    HeaderName::from_static("x-user-domain-id"),
    HeaderName::from_static("x-service-user-domain-id"),
    HeaderName::from_static("x-user-domain-name"),
    HeaderName::from_static("x-service-user-domain-name"),
    HeaderName::from_static("x-roles"),
    HeaderName::from_static("x-role"),
    HeaderName::from_static("x-service-roles"),
    HeaderName::from_static("x-is-admin-project"),
    HeaderName::from_static("openstack-system-scope"),
    HeaderName::from_static("x-user"),
    HeaderName::from_static("x-tenant-id"),
    HeaderName::from_static("x-tenant-name"),
    HeaderName::from_static("x-tenant"),
];
const ROLES: u8 = 20;
const ROLE: u8 = 21;
const SERVICE_ROLES: u8 = 22;
const IS_ADMIN_PROJECT: u8 = 23;
const SYSTEM_SCOPE: u8 = 24;
const USER: u8 = 25;
const TENANT_ID: u8 = 26;
const TENANT_NAME: u8 = 27;
const TENANT: u8 = 28;

/// Collects the distinct values into one buffer while the pairs are decided.
#[derive(Default)]
struct ValuesBuilder<'a> {
    /// The values in order: text to copy, or a static value.
    texts: Vec<Result<&'a str, HeaderValue>>,
}

impl<'a> ValuesBuilder<'a> {
    /// The index of `text` (added when new), or `None` when it cannot be a
    /// header value.
    fn text(&mut self, text: &'a str) -> Option<u8> {
        if HeaderValue::from_str(text).is_err() {
            return None;
        }
        let at = match self
            .texts
            .iter()
            .position(|t| t.as_ref().ok() == Some(&text))
        {
            Some(at) => at,
            None => {
                self.texts.push(Ok(text));
                self.texts.len() - 1
            }
        };
        u8::try_from(at).ok()
    }

    fn fixed(&mut self, value: &'static str) -> Option<u8> {
        self.texts.push(Err(HeaderValue::from_static(value)));
        u8::try_from(self.texts.len() - 1).ok()
    }

    fn build(self) -> Box<[HeaderValue]> {
        let mut buf = Vec::with_capacity(
            self.texts
                .iter()
                .map(|t| t.as_ref().map_or(0, |s| s.len()))
                .sum(),
        );
        let mut ranges = Vec::with_capacity(self.texts.len());
        for t in &self.texts {
            if let Ok(s) = t {
                ranges.push(buf.len()..buf.len() + s.len());
                buf.extend_from_slice(s.as_bytes());
            } else {
                ranges.push(0..0);
            }
        }
        let buf = bytes::Bytes::from(buf);
        self.texts
            .into_iter()
            .zip(ranges)
            .map(|(t, range)| match t {
                // Checked by `text` above.
                Ok(_) => HeaderValue::from_maybe_shared(buf.slice(range))
                    .unwrap_or_else(|_| HeaderValue::from_static("")),
                Err(fixed) => fixed,
            })
            .collect()
    }
}

impl IdentityHeaders {
    /// Builds the header sets for `identity` (and `catalog`, v3 form).
    pub fn new(identity: &IdentityData, catalog: Option<&[CatalogEntry]>) -> Self {
        let (project, project_domain) = match &identity.scope {
            Scope::Project {
                id,
                name,
                domain_id,
                domain_name,
            } => (
                Some((id.as_str(), name.as_deref())),
                Some((domain_id.as_deref(), domain_name.as_deref())),
            ),
            _ => (None, None),
        };
        let domain = match &identity.scope {
            Scope::Domain { id, name } => Some((id.as_str(), name.as_deref())),
            _ => None,
        };
        let attrs: [Option<&str>; 10] = [
            domain.map(|d| d.0),
            domain.and_then(|d| d.1),
            project.map(|p| p.0),
            project.and_then(|p| p.1),
            project_domain.and_then(|d| d.0),
            project_domain.and_then(|d| d.1),
            Some(identity.user_id.as_str()),
            identity.user_name.as_deref(),
            identity.user_domain_id.as_deref(),
            identity.user_domain_name.as_deref(),
        ];
        let roles = identity.roles.join(",");
        let mut values = ValuesBuilder::default();
        let mut user: Vec<(u8, u8)> = Vec::with_capacity(19);
        let mut service: Vec<(u8, u8)> = Vec::with_capacity(11);
        for (i, v) in (0u8..).zip(attrs) {
            if let Some(v) = v.and_then(|v| values.text(v)) {
                user.push((2 * i, v));
                service.push((2 * i + 1, v));
            }
        }
        if let Some(v) = values.text(&roles) {
            user.push((ROLES, v));
            user.push((ROLE, v));
            service.push((SERVICE_ROLES, v));
        }
        let admin = values.fixed(if identity.is_admin_project {
            "True"
        } else {
            "False"
        });
        user.extend(admin.map(|v| (IS_ADMIN_PROJECT, v)));
        if identity.is_system_scoped() {
            user.extend(values.fixed("all").map(|v| (SYSTEM_SCOPE, v)));
        }
        // Deprecated copies, as keystonemiddleware still sets them.
        if let Some(v) = identity.user_name.as_deref().and_then(|v| values.text(v)) {
            user.push((USER, v));
        }
        if let Some((id, name)) = project {
            if let Some(v) = values.text(id) {
                user.push((TENANT_ID, v));
            }
            if let Some(v) = name.and_then(|v| values.text(v)) {
                user.push((TENANT_NAME, v));
                user.push((TENANT, v));
            }
        }
        let user_len = u8::try_from(user.len()).unwrap_or(u8::MAX);
        user.extend(service);
        let catalog = catalog.and_then(|c| HeaderValue::from_str(&v2_catalog_json(c)).ok());
        Self {
            values: values.build(),
            pairs: user.into_boxed_slice(),
            user_len,
            catalog,
        }
    }

    fn pairs<'a>(
        &'a self,
        pairs: &'a [(u8, u8)],
    ) -> impl ExactSizeIterator<Item = (&'static HeaderName, &'a HeaderValue)> + 'a {
        let values = &self.values;
        pairs.iter().map(move |&(name, value)| {
            (
                // Every index was made by `new` from the constants above.
                &NAMES[usize::from(name)],
                // Every index was made by `new` from this very list.
                &values[usize::from(value)],
            )
        })
    }

    /// The `X-*` headers for the token as the user token.
    pub fn user(&self) -> impl ExactSizeIterator<Item = (&'static HeaderName, &'_ HeaderValue)> {
        self.pairs(&self.pairs[..usize::from(self.user_len)])
    }

    /// The `X-Service-*` headers for the same token sent as a service token.
    pub fn service(&self) -> impl ExactSizeIterator<Item = (&'static HeaderName, &'_ HeaderValue)> {
        self.pairs(&self.pairs[usize::from(self.user_len)..])
    }

    /// `X-Service-Catalog`, when the catalog was fetched.
    pub fn catalog(&self) -> Option<&HeaderValue> {
        self.catalog.as_ref()
    }

    /// Replaces `X-Service-Catalog` (to share one copy between tokens).
    pub fn set_catalog(&mut self, catalog: Option<HeaderValue>) {
        self.catalog = catalog;
    }
}

/// A region and its `<interface>URL` entries, in first-seen order.
type RegionUrls<'a> = (Option<&'a str>, Vec<(String, &'a str)>);

/// The v3 catalog in keystonemiddleware's v2 form, serialised as Python's
/// `json.dumps` does (", " and ": " separators, non-ASCII escaped).
pub fn v2_catalog_json(catalog: &[CatalogEntry]) -> String {
    let mut out = String::from("[");
    for (i, service) in catalog.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{\"type\": ");
        push_py_str(&mut out, &service.service_type);
        if let Some(name) = &service.name {
            out.push_str(", \"name\": ");
            push_py_str(&mut out, name);
        }
        // Group endpoints by region, first-seen order, like the reference.
        let mut regions: Vec<RegionUrls<'_>> = Vec::new();
        for e in &service.endpoints {
            let region = e.region_id.as_deref().filter(|r| !r.is_empty());
            let key = format!("{}URL", e.interface.to_lowercase());
            match regions.iter_mut().find(|(r, _)| *r == region) {
                Some((_, urls)) => match urls.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => slot.1 = &e.url,
                    None => urls.push((key, &e.url)),
                },
                None => regions.push((region, vec![(key, &e.url)])),
            }
        }
        out.push_str(", \"endpoints\": [");
        for (j, (region, urls)) in regions.iter().enumerate() {
            if j > 0 {
                out.push_str(", ");
            }
            out.push('{');
            let mut first = true;
            if let Some(r) = region {
                out.push_str("\"region\": ");
                push_py_str(&mut out, r);
                first = false;
            }
            for (k, url) in urls {
                if !first {
                    out.push_str(", ");
                }
                first = false;
                push_py_str(&mut out, k);
                out.push_str(": ");
                push_py_str(&mut out, url);
            }
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_header_is_spoofable() {
        let fixed = [
            "X-Service-Catalog",
            "X-Identity-Status",
            "X-Service-Identity-Status",
            "X-Is-Admin-Project",
            "X-Role",
            "X-User",
            "X-Tenant-Id",
            "X-Tenant-Name",
            "X-Tenant",
            "X-Roles",
            "X-Service-Roles",
            "OpenStack-System-Scope",
        ];
        let attrs = [
            "Domain-Id",
            "Domain-Name",
            "Project-Id",
            "Project-Name",
            "Project-Domain-Id",
            "Project-Domain-Name",
            "User-Id",
            "User-Name",
            "User-Domain-Id",
            "User-Domain-Name",
        ];
        let mut all: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
        for a in attrs {
            all.push(format!("X-{a}"));
            all.push(format!("X-Service-{a}"));
        }
        let mut headers = HeaderMap::new();
        for h in &all {
            assert!(is_spoofable(&h.to_lowercase()), "{h}");
            headers.append(
                HeaderName::try_from(h.as_str()).unwrap(),
                HeaderValue::from_static("evil"),
            );
            headers.append(
                HeaderName::try_from(h.as_str()).unwrap(),
                HeaderValue::from_static("evil2"),
            );
        }
        headers.insert("x-auth-token", HeaderValue::from_static("t"));
        headers.insert("x-request-id", HeaderValue::from_static("r"));
        strip_spoofable(&mut headers);
        assert_eq!(headers.len(), 2, "{headers:?}");
        for keep in [
            "x-auth-token",
            "x-service-token",
            "x-storage-token",
            "x-forwarded-for",
            "x-project",
        ] {
            assert!(!is_spoofable(keep), "{keep}");
        }
    }

    #[test]
    fn catalog_matches_python_json_dumps() {
        let catalog: Vec<CatalogEntry> = serde_json::from_str(
            r#"[{"type":"identity","name":"keystone","endpoints":[
                {"interface":"public","url":"http://k/v3","region_id":"RegionOne"},
                {"interface":"internal","url":"http://i/v3","region_id":"RegionOne"},
                {"interface":"admin","url":"http://a/v3","region_id":"Two"}]},
               {"type":"x","endpoints":[{"interface":"public","url":"http://\u00e9"}]}]"#,
        )
        .unwrap();
        assert_eq!(
            v2_catalog_json(&catalog),
            r#"[{"type": "identity", "name": "keystone", "endpoints": [{"region": "RegionOne", "publicURL": "http://k/v3", "internalURL": "http://i/v3"}, {"region": "Two", "adminURL": "http://a/v3"}]}, {"type": "x", "endpoints": [{"publicURL": "http://\u00e9"}]}]"#
        );
    }
}
