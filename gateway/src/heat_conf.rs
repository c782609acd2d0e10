//! Reading an existing `heat.conf` (oslo.config INI) into the same
//! configuration table the TOML file gives, so `heatgate serve --heat-conf
//! /etc/heat/heat.conf` runs with the options Heat already has.
//!
//! The INI rules are oslo.config's: `[section]` headers (names lowercased,
//! except `DEFAULT`), `key = value` or `key: value` (whichever of `=` and `:`
//! comes first), comment lines starting with `#` or `;`, continuation lines
//! (leading whitespace continues the previous value, joined with a newline, a
//! blank line ends it), one pair of matching quotes around a value removed, and
//! no inline comments. A repeated key: the last one wins, except for
//! multi-valued options (`policy_dirs`), whose values accumulate. Values are
//! converted as oslo.config types them: booleans `true/false`, `yes/no`,
//! `on/off`, `1/0` in any case; lists comma-separated; an empty value leaves
//! the option at its default.
//!
//! Where the options go:
//!
//! | heat.conf | heatgate |
//! |---|---|
//! | `[DEFAULT]` `stack_user_domain_id`, `stack_user_domain_name`, `stack_domain_admin`, `stack_domain_admin_password`, `heat_stack_user_role`, `deferred_auth_method`, `trusts_delegated_roles`, `auth_encryption_key`, `heat_waitcondition_server_url` | `[heat]` |
//! | `[keystone_authtoken]` keystonemiddleware's options and its `password` auth plugin's (`auth_url`, `username`, `password`, `project_name`, `user_domain_*`, `project_domain_*`); `auth_uri` as the old name of `www_authenticate_uri` | `[keystone_authtoken]` |
//! | `[ec2authtoken]` `auth_uri` | `[ec2authtoken]` |
//! | `[oslo_policy]` `policy_file`, `policy_dirs` (relative to the heat.conf's directory), `enforce_new_defaults` | `[oslo_policy]` |
//! | `[heat_api]` / `[heat_api_cfn]` `bind_host`, `bind_port` | `[gateway]` `listen` / `cfn_listen` |
//! | `[database]` `connection = sqlite:///path` | `[engine]` `database` |
//!
//! Every other key (Heat's `debug`, `transport_url`, `[clients_keystone]`,
//! `[trustee]`, ...) is reported as a warning naming its file, line and key,
//! never as an error. A value that cannot be converted is an error naming the
//! file, line and key; secrets never appear in a message.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::config::ConfigError;

/// A heat.conf read into heatgate's configuration.
#[derive(Debug, Clone, Default)]
pub struct HeatConf {
    /// The options, as `[section] key = value` of the TOML configuration.
    pub table: toml::Table,
    /// Where each `(section, key)` of `table` came from: `file:line`.
    pub origins: BTreeMap<(String, String), String>,
    /// One line per key heatgate does not use (`file:line: [section] key: ...`).
    pub warnings: Vec<String>,
}

/// One `key = value` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    section: String,
    key: String,
    value: String,
    line: usize,
}

/// Reads and converts `path`.
pub fn read(path: &Path) -> Result<HeatConf, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new(""));
    parse(&text, &path.display().to_string(), base)
}

/// Converts heat.conf `text`; `file` names it in messages, relative policy
/// paths are taken from `base`.
pub fn parse(text: &str, file: &str, base: &Path) -> Result<HeatConf, ConfigError> {
    let entries = parse_ini(text, file)?;
    convert(&entries, file, base)
}

/// oslo.config's INI parser: the assignments in file order.
fn parse_ini(text: &str, file: &str) -> Result<Vec<Entry>, ConfigError> {
    // Never quote the line itself: it may hold a password.
    let error = |line: usize, what: &str| ConfigError(format!("{file}:{line}: {what}"));
    let mut entries = Vec::new();
    let mut section: Option<String> = None;
    let mut pending: Option<(String, Vec<String>, usize)> = None;
    let flush = |pending: &mut Option<(String, Vec<String>, usize)>,
                 section: &Option<String>,
                 entries: &mut Vec<Entry>|
     -> Result<(), ConfigError> {
        if let Some((key, value, line)) = pending.take() {
            let section = section
                .clone()
                .ok_or_else(|| error(line, "an option before any [section]"))?;
            entries.push(Entry {
                section,
                key,
                value: value.join("\n"),
                line,
            });
        }
        Ok(())
    };
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim_end();
        if line.is_empty() {
            flush(&mut pending, &section, &mut entries)?;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match pending.as_mut() {
                Some((_, value, _)) => value.push(line.trim_start().to_owned()),
                None => return Err(error(number, "unexpected continuation line")),
            }
            continue;
        }
        flush(&mut pending, &section, &mut entries)?;
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(error(number, "invalid section header (must end with ])"));
            }
            if line.len() <= 2 {
                return Err(error(number, "empty section name"));
            }
            let name = &line[1..line.len() - 1];
            section = Some(if name == "DEFAULT" {
                name.to_owned()
            } else {
                name.to_lowercase()
            });
        } else if line.starts_with(['#', ';']) {
            continue;
        } else {
            let at = match (line.find('='), line.find(':')) {
                (Some(e), Some(c)) => e.min(c),
                (Some(e), None) => e,
                (None, Some(c)) => c,
                (None, None) => return Err(error(number, "no '=' or ':' in an assignment")),
            };
            let key = line[..at].trim();
            if key.is_empty() {
                return Err(error(number, "empty option name"));
            }
            let mut value = line[at + 1..].trim();
            let quoted = value.len() >= 2
                && (value.starts_with('"') || value.starts_with('\''))
                && value.ends_with(&value[..1]);
            if quoted {
                value = &value[1..value.len() - 1];
            }
            pending = Some((key.to_owned(), vec![value.to_owned()], number));
        }
    }
    flush(&mut pending, &section, &mut entries)?;
    Ok(entries)
}

/// How a heat.conf string becomes a configuration value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A string (`StrOpt`, URLs, names).
    Str,
    /// A path, relative ones taken from the heat.conf's directory.
    Path,
    /// `BoolOpt`.
    Bool,
    /// `IntOpt`.
    Int,
    /// A number of seconds that may have a fraction.
    Float,
    /// `ListOpt`: comma-separated.
    List,
    /// `MultiStrOpt` paths: every occurrence adds one.
    MultiPath,
}

/// heat.conf section, heatgate section, and the options copied under the
/// same name.
type Section = (&'static str, &'static str, &'static [(&'static str, Kind)]);

/// The options copied under the same name, by section.
const MAP: &[Section] = &[
    (
        "DEFAULT",
        "heat",
        &[
            ("stack_user_domain_id", Kind::Str),
            ("stack_user_domain_name", Kind::Str),
            ("stack_domain_admin", Kind::Str),
            ("stack_domain_admin_password", Kind::Str),
            ("heat_stack_user_role", Kind::Str),
            ("deferred_auth_method", Kind::Str),
            ("trusts_delegated_roles", Kind::List),
            ("auth_encryption_key", Kind::Str),
            ("heat_waitcondition_server_url", Kind::Str),
        ],
    ),
    (
        "keystone_authtoken",
        "keystone_authtoken",
        &[
            ("auth_url", Kind::Str),
            ("www_authenticate_uri", Kind::Str),
            ("username", Kind::Str),
            ("password", Kind::Str),
            ("project_name", Kind::Str),
            ("user_domain_id", Kind::Str),
            ("user_domain_name", Kind::Str),
            ("project_domain_id", Kind::Str),
            ("project_domain_name", Kind::Str),
            ("interface", Kind::Str),
            ("region_name", Kind::Str),
            ("token_cache_time", Kind::Int),
            ("delay_auth_decision", Kind::Bool),
            ("include_service_catalog", Kind::Bool),
            ("service_token_roles", Kind::List),
            ("service_token_roles_required", Kind::Bool),
            ("http_connect_timeout", Kind::Float),
            ("http_request_max_retries", Kind::Int),
            ("cafile", Kind::Str),
            ("insecure", Kind::Bool),
            ("service_type", Kind::Str),
        ],
    ),
    ("ec2authtoken", "ec2authtoken", &[("auth_uri", Kind::Str)]),
    (
        "oslo_policy",
        "oslo_policy",
        &[
            ("policy_file", Kind::Path),
            ("policy_dirs", Kind::MultiPath),
            ("enforce_new_defaults", Kind::Bool),
        ],
    ),
];

/// `(section, old name, new name)`: the old name applies only when the new
/// one is absent (oslo.config's deprecated names).
const OLD_NAMES: &[(&str, &str, &str)] =
    &[("keystone_authtoken", "auth_uri", "www_authenticate_uri")];

/// Keys read here but not copied one to one: the listeners, the database,
/// the auth plugin's type.
const SPECIAL: &[(&str, &str)] = &[
    ("heat_api", "bind_host"),
    ("heat_api", "bind_port"),
    ("heat_api_cfn", "bind_host"),
    ("heat_api_cfn", "bind_port"),
    ("database", "connection"),
    ("keystone_authtoken", "auth_type"),
];

/// Why a key heatgate does not use is ignored, when there is more to say
/// than "not used".
fn ignored_because(section: &str, key: &str) -> &'static str {
    match (section, key) {
        ("keystone_authtoken", "memcached_servers") => {
            "a shared token cache is not supported yet (tokens are cached in process)"
        }
        ("trustee", _) => "trusts are delegated to the [keystone_authtoken] service user",
        _ => "not used by heatgate",
    }
}

/// The value each key ends with (last wins; multi-valued keys gather all).
struct Values<'a> {
    by_key: BTreeMap<(String, String), Vec<&'a Entry>>,
}

impl<'a> Values<'a> {
    fn new(entries: &'a [Entry]) -> Self {
        let mut by_key: BTreeMap<(String, String), Vec<&Entry>> = BTreeMap::new();
        for e in entries {
            by_key
                .entry((e.section.clone(), e.key.clone()))
                .or_default()
                .push(e);
        }
        Self { by_key }
    }

    fn all(&self, section: &str, key: &str) -> &[&'a Entry] {
        self.by_key
            .get(&(section.to_owned(), key.to_owned()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn last(&self, section: &str, key: &str) -> Option<&'a Entry> {
        self.all(section, key).last().copied()
    }
}

fn invalid(file: &str, e: &Entry, what: &str) -> ConfigError {
    ConfigError(format!(
        "{file}:{}: [{}] {}: {:?} {what}",
        e.line, e.section, e.key, e.value
    ))
}

fn boolean(file: &str, e: &Entry) -> Result<bool, ConfigError> {
    match e.value.trim().to_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(invalid(
            file,
            e,
            "is not a boolean (true/false, yes/no, on/off, 1/0)",
        )),
    }
}

fn list(value: &str) -> Vec<String> {
    let s = value.trim().trim_end_matches(',');
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(|item| item.trim().to_owned()).collect()
}

fn path_value(base: &Path, value: &str) -> toml::Value {
    let path = Path::new(value);
    let path: PathBuf = if path.is_relative() {
        base.join(path)
    } else {
        path.to_path_buf()
    };
    toml::Value::String(path.display().to_string())
}

fn value_of(kind: Kind, file: &str, base: &Path, e: &Entry) -> Result<toml::Value, ConfigError> {
    let v = e.value.trim();
    Ok(match kind {
        Kind::Str => toml::Value::String(e.value.clone()),
        Kind::Path => path_value(base, v),
        Kind::Bool => toml::Value::Boolean(boolean(file, e)?),
        Kind::Int => toml::Value::Integer(
            v.parse()
                .map_err(|_| invalid(file, e, "is not an integer"))?,
        ),
        Kind::Float => {
            let n: f64 = v.parse().map_err(|_| invalid(file, e, "is not a number"))?;
            if !n.is_finite() {
                return Err(invalid(file, e, "is not a number"));
            }
            toml::Value::Float(n)
        }
        Kind::List => toml::Value::Array(list(v).into_iter().map(toml::Value::String).collect()),
        Kind::MultiPath => toml::Value::Array(vec![path_value(base, v)]),
    })
}

/// A converted key: its value and the line it came from.
struct Out {
    table: toml::Table,
    origins: BTreeMap<(String, String), String>,
}

impl Out {
    fn set(&mut self, section: &str, key: &str, value: toml::Value, origin: String) {
        let t = self
            .table
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = t {
            t.insert(key.to_owned(), value);
        }
        self.origins
            .insert((section.to_owned(), key.to_owned()), origin);
    }

    fn has(&self, section: &str, key: &str) -> bool {
        self.origins
            .contains_key(&(section.to_owned(), key.to_owned()))
    }
}

fn convert(entries: &[Entry], file: &str, base: &Path) -> Result<HeatConf, ConfigError> {
    let values = Values::new(entries);
    let mut out = Out {
        table: toml::Table::new(),
        origins: BTreeMap::new(),
    };
    let same = MAP.iter().flat_map(|&(section, to, keys)| {
        keys.iter()
            .map(move |&(key, kind)| (section, key, to, key, kind))
    });
    let old = OLD_NAMES.iter().map(|&(section, old, new)| {
        let to = MAP.iter().find(|m| m.0 == section).map_or(section, |m| m.1);
        (section, old, to, new, Kind::Str)
    });
    // The new names first, so that an old name yields to them.
    for (section, key, to_section, to_key, kind) in same.chain(old) {
        if kind == Kind::MultiPath {
            let all: Vec<&Entry> = values
                .all(section, key)
                .iter()
                .copied()
                .filter(|e| !e.value.trim().is_empty())
                .collect();
            if let Some(last) = all.last() {
                let paths = all.iter().map(|e| path_value(base, e.value.trim()));
                let origin = format!("{file}:{}", last.line);
                out.set(
                    to_section,
                    to_key,
                    toml::Value::Array(paths.collect()),
                    origin,
                );
            }
            continue;
        }
        let Some(e) = values.last(section, key) else {
            continue;
        };
        // An empty value leaves the default.
        if e.value.trim().is_empty() || out.has(to_section, to_key) {
            continue;
        }
        let value = value_of(kind, file, base, e)?;
        out.set(to_section, to_key, value, format!("{file}:{}", e.line));
    }
    if let Some(e) = values.last("keystone_authtoken", "auth_type") {
        let kind = e.value.trim();
        if !kind.is_empty() && kind != "password" && kind != "v3password" {
            return Err(invalid(
                file,
                e,
                "is not supported (only the password auth plugin is)",
            ));
        }
    }
    for (section, to) in [("heat_api", "listen"), ("heat_api_cfn", "cfn_listen")] {
        if let Some((addr, line)) = listen(&values, file, section)? {
            out.set(
                "gateway",
                to,
                toml::Value::String(addr.to_string()),
                format!("{file}:{line}"),
            );
        }
    }
    if let Some(e) = values.last("database", "connection") {
        if !e.value.trim().is_empty() {
            let path = sqlite_path(file, e)?;
            out.set(
                "engine",
                "database",
                path_value(Path::new(""), &path),
                format!("{file}:{}", e.line),
            );
        }
    }
    let mut warnings = Vec::new();
    let mut warned = std::collections::BTreeSet::new();
    for e in entries {
        let (s, k) = (e.section.as_str(), e.key.as_str());
        let used = MAP
            .iter()
            .any(|m| m.0 == s && m.2.iter().any(|(key, _)| *key == k))
            || OLD_NAMES.iter().any(|o| o.0 == s && o.1 == k)
            || SPECIAL.contains(&(s, k));
        if !used && warned.insert((s, k)) {
            warnings.push(format!(
                "{file}:{}: [{s}] {k}: {}; ignored",
                e.line,
                ignored_because(s, k)
            ));
        }
    }
    Ok(HeatConf {
        table: out.table,
        origins: out.origins,
        warnings,
    })
}

/// `bind_host`/`bind_port` of `section` as one address; an absent host is
/// heatgate's default (127.0.0.1, not Heat's 0.0.0.0), an absent port Heat's.
fn listen(
    values: &Values<'_>,
    file: &str,
    section: &str,
) -> Result<Option<(SocketAddr, usize)>, ConfigError> {
    let host = values
        .last(section, "bind_host")
        .filter(|e| !e.value.trim().is_empty());
    let port = values
        .last(section, "bind_port")
        .filter(|e| !e.value.trim().is_empty());
    if host.is_none() && port.is_none() {
        return Ok(None);
    }
    let ip: IpAddr = match host {
        Some(e) => e
            .value
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| invalid(file, e, "is not an IP address"))?,
        None => IpAddr::from([127, 0, 0, 1]),
    };
    let port_number: u16 = match port {
        Some(e) => e
            .value
            .trim()
            .parse()
            .map_err(|_| invalid(file, e, "is not a port number (0 to 65535)"))?,
        None if section == "heat_api" => 8004,
        None => 8000,
    };
    let line = port.or(host).map(|e| e.line).unwrap_or_default();
    Ok(Some((SocketAddr::new(ip, port_number), line)))
}

/// The file of a `sqlite:///path` URL (SQLAlchemy's: `sqlite:///relative`,
/// `sqlite:////absolute`); any other database is refused without quoting the
/// URL (it usually holds a password).
fn sqlite_path(file: &str, e: &Entry) -> Result<String, ConfigError> {
    let url = e.value.trim();
    let refuse = |what: String| {
        ConfigError(format!(
            "{file}:{}: [{}] {}: {what}",
            e.line, e.section, e.key
        ))
    };
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    let Some(rest) = url.strip_prefix("sqlite:///") else {
        let scheme = if scheme.is_empty() || scheme.contains(['/', '@']) {
            "an unrecognised".to_owned()
        } else {
            format!("a {scheme}")
        };
        return Err(refuse(format!(
            "{scheme} database URL; only sqlite:///path is supported"
        )));
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(refuse(
            "an in-memory SQLite database is not supported; name a file".into(),
        ));
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> HeatConf {
        parse(text, "heat.conf", Path::new("/etc/heat")).unwrap()
    }

    fn error(text: &str) -> String {
        parse(text, "heat.conf", Path::new("/etc/heat"))
            .unwrap_err()
            .to_string()
    }

    fn get<'a>(c: &'a HeatConf, section: &str, key: &str) -> &'a toml::Value {
        c.table[section]
            .as_table()
            .unwrap()
            .get(key)
            .unwrap_or_else(|| panic!("[{section}] {key} missing"))
    }

    #[test]
    fn ini_rules_follow_oslo_config() {
        let entries = parse_ini(
            "# comment\n; another\n[DEFAULT]\na = 1\nb: 2\nc = x:y\nd: p=q\n[Keystone_Authtoken]\n\
             e = \"quoted\"\nf = 'one\nf2 =\n  continued\n\tagain\n\ng = # not a comment\n",
            "heat.conf",
        )
        .unwrap();
        let got: Vec<(&str, &str, &str, usize)> = entries
            .iter()
            .map(|e| (e.section.as_str(), e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("DEFAULT", "a", "1", 4),
                ("DEFAULT", "b", "2", 5),
                ("DEFAULT", "c", "x:y", 6),
                ("DEFAULT", "d", "p=q", 7),
                ("keystone_authtoken", "e", "quoted", 9),
                ("keystone_authtoken", "f", "'one", 10),
                ("keystone_authtoken", "f2", "\ncontinued\nagain", 11),
                ("keystone_authtoken", "g", "# not a comment", 15),
            ]
        );
    }

    #[test]
    fn syntax_errors_name_the_line_but_never_quote_it() {
        for (text, line, what) in [
            ("[DEFAULT]\nok = 1\npassword s3cret\n", 3, "no '=' or ':'"),
            ("[DEFAULT\n", 1, "must end with ]"),
            ("[]\n", 1, "empty section name"),
            ("password = s3cret\n", 1, "before any [section]"),
            ("[DEFAULT]\n  s3cret\n", 2, "unexpected continuation"),
            ("[DEFAULT]\n= s3cret\n", 2, "empty option name"),
        ] {
            let e = error(text);
            assert!(e.starts_with(&format!("heat.conf:{line}: ")), "{e}");
            assert!(e.contains(what), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn a_devstack_heat_conf_maps_onto_heatgate_sections() {
        let c = conf(
            "[DEFAULT]\n\
             debug = True\n\
             stack_user_domain_id = 4a1b\n\
             stack_domain_admin = heat_domain_admin\n\
             stack_domain_admin_password = dapw\n\
             deferred_auth_method = trusts\n\
             trusts_delegated_roles = member, reader,\n\
             auth_encryption_key = 0123456789abcdef0123456789abcdef\n\
             heat_waitcondition_server_url = http://10.0.0.1:8000/v1/waitcondition\n\
             [keystone_authtoken]\n\
             auth_type = password\n\
             auth_url = http://10.0.0.1/identity\n\
             username = heat\n\
             password = hpw\n\
             project_name = service\n\
             user_domain_name = Default\n\
             project_domain_name = Default\n\
             www_authenticate_uri = http://10.0.0.1/identity\n\
             service_token_roles_required = True\n\
             delay_auth_decision = off\n\
             token_cache_time = -1\n\
             http_connect_timeout = 2.5\n\
             memcached_servers = localhost:11211\n\
             [ec2authtoken]\n\
             auth_uri = http://10.0.0.1/identity/v3\n\
             [oslo_policy]\n\
             policy_file = policy.yaml\n\
             policy_dirs = policy.d\n\
             policy_dirs = /srv/more\n\
             enforce_new_defaults = yes\n\
             [heat_api]\n\
             bind_host = 0.0.0.0\n\
             bind_port = 18004\n\
             [heat_api_cfn]\n\
             bind_port = 18000\n\
             [database]\n\
             connection = sqlite:////var/lib/heat/heat.sqlite?timeout=5\n\
             [trustee]\n\
             username = heat\n",
        );
        let s = |v: &toml::Value| v.as_str().unwrap().to_owned();
        assert_eq!(s(get(&c, "heat", "stack_user_domain_id")), "4a1b");
        assert_eq!(s(get(&c, "heat", "stack_domain_admin_password")), "dapw");
        assert_eq!(
            get(&c, "heat", "trusts_delegated_roles"),
            &toml::Value::Array(vec!["member".into(), "reader".into()])
        );
        assert_eq!(s(get(&c, "keystone_authtoken", "password")), "hpw");
        assert_eq!(
            s(get(&c, "keystone_authtoken", "user_domain_name")),
            "Default"
        );
        assert_eq!(
            get(&c, "keystone_authtoken", "service_token_roles_required"),
            &toml::Value::Boolean(true)
        );
        assert_eq!(
            get(&c, "keystone_authtoken", "delay_auth_decision"),
            &toml::Value::Boolean(false)
        );
        assert_eq!(
            get(&c, "keystone_authtoken", "token_cache_time"),
            &toml::Value::Integer(-1)
        );
        assert_eq!(
            get(&c, "keystone_authtoken", "http_connect_timeout"),
            &toml::Value::Float(2.5)
        );
        assert_eq!(
            s(get(&c, "ec2authtoken", "auth_uri")),
            "http://10.0.0.1/identity/v3"
        );
        assert_eq!(
            s(get(&c, "oslo_policy", "policy_file")),
            "/etc/heat/policy.yaml"
        );
        assert_eq!(
            get(&c, "oslo_policy", "policy_dirs"),
            &toml::Value::Array(vec!["/etc/heat/policy.d".into(), "/srv/more".into()])
        );
        assert_eq!(
            get(&c, "oslo_policy", "enforce_new_defaults"),
            &toml::Value::Boolean(true)
        );
        assert_eq!(s(get(&c, "gateway", "listen")), "0.0.0.0:18004");
        assert_eq!(s(get(&c, "gateway", "cfn_listen")), "127.0.0.1:18000");
        assert_eq!(
            s(get(&c, "engine", "database")),
            "/var/lib/heat/heat.sqlite"
        );
        assert!(!c.table["keystone_authtoken"]
            .as_table()
            .unwrap()
            .contains_key("auth_type"));
        assert!(!c.table["keystone_authtoken"]
            .as_table()
            .unwrap()
            .contains_key("memcached_servers"));
        assert_eq!(
            c.origins[&("keystone_authtoken".into(), "password".into())],
            "heat.conf:14"
        );
        assert_eq!(
            c.origins[&("oslo_policy".into(), "policy_dirs".into())],
            "heat.conf:29"
        );
        assert_eq!(
            c.warnings,
            vec![
                "heat.conf:2: [DEFAULT] debug: not used by heatgate; ignored",
                "heat.conf:23: [keystone_authtoken] memcached_servers: a shared token cache is not supported yet (tokens are cached in process); ignored",
                "heat.conf:39: [trustee] username: trusts are delegated to the [keystone_authtoken] service user; ignored",
            ]
        );
    }

    #[test]
    fn the_last_value_wins_the_new_name_beats_the_old_and_empty_means_default() {
        let c = conf(
            "[keystone_authtoken]\nauth_uri = http://old\nwww_authenticate_uri = http://new\n\
             username = a\nusername = b\nproject_name =\n[DEFAULT]\ntrusts_delegated_roles =\n",
        );
        assert_eq!(
            get(&c, "keystone_authtoken", "www_authenticate_uri").as_str(),
            Some("http://new")
        );
        assert_eq!(
            get(&c, "keystone_authtoken", "username").as_str(),
            Some("b")
        );
        assert_eq!(
            c.origins[&("keystone_authtoken".into(), "username".into())],
            "heat.conf:5"
        );
        assert!(!c.table["keystone_authtoken"]
            .as_table()
            .unwrap()
            .contains_key("project_name"));
        assert!(!c.table.contains_key("heat"));
        let old = conf("[keystone_authtoken]\nauth_uri = http://old\n");
        assert_eq!(
            get(&old, "keystone_authtoken", "www_authenticate_uri").as_str(),
            Some("http://old")
        );
    }

    #[test]
    fn booleans_and_lists_are_read_as_oslo_types_them() {
        for (word, want) in [
            ("TRUE", true),
            ("Yes", true),
            ("on", true),
            ("1", true),
            ("False", false),
            ("NO", false),
            ("Off", false),
            ("0", false),
        ] {
            let c = conf(&format!("[keystone_authtoken]\ninsecure = {word}\n"));
            assert_eq!(
                get(&c, "keystone_authtoken", "insecure"),
                &toml::Value::Boolean(want),
                "{word}"
            );
        }
        assert_eq!(list(" a , b,c ,"), vec!["a", "b", "c"]);
        assert!(list("  ").is_empty());
    }

    #[test]
    fn invalid_values_name_file_line_and_key() {
        let e = error("[DEFAULT]\n\n[keystone_authtoken]\nhttp_connect_timeout = abc\n");
        assert_eq!(
            e,
            r#"heat.conf:4: [keystone_authtoken] http_connect_timeout: "abc" is not a number"#
        );
        let e = error("[keystone_authtoken]\ninsecure = maybe\n");
        assert!(
            e.starts_with(
                r#"heat.conf:2: [keystone_authtoken] insecure: "maybe" is not a boolean"#
            ),
            "{e}"
        );
        let e = error("[keystone_authtoken]\ntoken_cache_time = 1.5\n");
        assert!(
            e.starts_with("heat.conf:2: [keystone_authtoken] token_cache_time:"),
            "{e}"
        );
        let e = error("[heat_api]\nbind_host = 0.0.0.0\nbind_port = 80000\n");
        assert!(e.starts_with("heat.conf:3: [heat_api] bind_port:"), "{e}");
        let e = error("[heat_api_cfn]\nbind_host = heat.example.org\n");
        assert!(
            e.starts_with("heat.conf:2: [heat_api_cfn] bind_host:"),
            "{e}"
        );
        let e = error("[keystone_authtoken]\nauth_type = v3token\n");
        assert!(
            e.starts_with("heat.conf:2: [keystone_authtoken] auth_type:"),
            "{e}"
        );
    }

    #[test]
    fn only_sqlite_databases_and_never_the_url_in_the_message() {
        let e =
            error("[database]\nconnection = mysql+pymysql://heat:s3cret@db/heat?charset=utf8\n");
        assert_eq!(
            e,
            "heat.conf:2: [database] connection: a mysql+pymysql database URL; only sqlite:///path is supported"
        );
        let e = error("[database]\nconnection = sqlite://\n");
        assert!(e.contains("only sqlite:///path"), "{e}");
        let e = error("[database]\nconnection = sqlite:///:memory:\n");
        assert!(e.contains("in-memory"), "{e}");
        let c = conf("[database]\nconnection = sqlite:///heat.db\n");
        assert_eq!(get(&c, "engine", "database").as_str(), Some("heat.db"));
    }

    #[test]
    fn unused_keys_are_warned_once_with_their_first_line() {
        let c = conf("[DEFAULT]\ntransport_url = rabbit://u:p@h\n[clients_keystone]\nauth_uri = x\n[DEFAULT]\ntransport_url = again\n");
        assert_eq!(
            c.warnings,
            vec![
                "heat.conf:2: [DEFAULT] transport_url: not used by heatgate; ignored",
                "heat.conf:4: [clients_keystone] auth_uri: not used by heatgate; ignored",
            ]
        );
        assert!(c.table.is_empty());
    }
}
