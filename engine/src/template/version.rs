//! Template formats and versions, as Heat registers them.

use indexmap::IndexMap;

use super::error::{ErrorKind, TemplateError};
use super::load::Doc;

/// The two template formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateFormat {
    /// Heat Orchestration Template (`heat_template_version`).
    Hot,
    /// CloudFormation-compatible (`AWSTemplateFormatVersion` or
    /// `HeatTemplateFormatVersion`).
    Cfn,
}

/// A template version Heat accepts. HOT versions are ordered by date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// `AWSTemplateFormatVersion: 2010-09-09`.
    Aws20100909,
    /// `HeatTemplateFormatVersion: 2012-12-12`.
    Heat20121212,
    /// `heat_template_version: 2013-05-23`.
    Hot20130523,
    /// `heat_template_version: 2014-10-16`.
    Hot20141016,
    /// `heat_template_version: 2015-04-30`.
    Hot20150430,
    /// `heat_template_version: 2015-10-15`.
    Hot20151015,
    /// `heat_template_version: 2016-04-08`.
    Hot20160408,
    /// `heat_template_version: 2016-10-14` (alias `newton`).
    Hot20161014,
    /// `heat_template_version: 2017-02-24` (alias `ocata`).
    Hot20170224,
    /// `heat_template_version: 2017-09-01` (alias `pike`).
    Hot20170901,
    /// `heat_template_version: 2018-03-02` (alias `queens`).
    Hot20180302,
    /// `heat_template_version: 2018-08-31` (alias `rocky`).
    Hot20180831,
    /// `heat_template_version: 2021-04-16` (alias `wallaby`).
    Hot20210416,
}

/// Every (key, value) Heat registers, aliases included.
const REGISTERED: &[(&str, &str, Version)] = &[
    (
        "AWSTemplateFormatVersion",
        "2010-09-09",
        Version::Aws20100909,
    ),
    (
        "HeatTemplateFormatVersion",
        "2012-12-12",
        Version::Heat20121212,
    ),
    ("heat_template_version", "2013-05-23", Version::Hot20130523),
    ("heat_template_version", "2014-10-16", Version::Hot20141016),
    ("heat_template_version", "2015-04-30", Version::Hot20150430),
    ("heat_template_version", "2015-10-15", Version::Hot20151015),
    ("heat_template_version", "2016-04-08", Version::Hot20160408),
    ("heat_template_version", "2016-10-14", Version::Hot20161014),
    ("heat_template_version", "newton", Version::Hot20161014),
    ("heat_template_version", "2017-02-24", Version::Hot20170224),
    ("heat_template_version", "ocata", Version::Hot20170224),
    ("heat_template_version", "2017-09-01", Version::Hot20170901),
    ("heat_template_version", "pike", Version::Hot20170901),
    ("heat_template_version", "2018-03-02", Version::Hot20180302),
    ("heat_template_version", "queens", Version::Hot20180302),
    ("heat_template_version", "2018-08-31", Version::Hot20180831),
    ("heat_template_version", "rocky", Version::Hot20180831),
    ("heat_template_version", "2021-04-16", Version::Hot20210416),
    ("heat_template_version", "wallaby", Version::Hot20210416),
];

const VERSION_KEYS: [&str; 3] = [
    "AWSTemplateFormatVersion",
    "HeatTemplateFormatVersion",
    "heat_template_version",
];

impl Version {
    /// The format of this version.
    pub fn format(self) -> TemplateFormat {
        match self {
            Self::Aws20100909 | Self::Heat20121212 => TemplateFormat::Cfn,
            _ => TemplateFormat::Hot,
        }
    }

    /// The top-level key that names the version.
    pub fn key(self) -> &'static str {
        match self {
            Self::Aws20100909 => "AWSTemplateFormatVersion",
            Self::Heat20121212 => "HeatTemplateFormatVersion",
            _ => "heat_template_version",
        }
    }

    /// The canonical (dated) version string.
    pub fn as_str(self) -> &'static str {
        REGISTERED
            .iter()
            .find(|(_, _, v)| *v == self)
            .map(|(_, s, _)| *s)
            .unwrap_or_default()
    }

    /// Whether this is a HOT version at least as recent as `other`.
    pub(crate) fn hot_since(self, other: Version) -> bool {
        self.format() == TemplateFormat::Hot && self >= other
    }
}

/// Heat's `get_version` + `get_template_class`: which version the template
/// declares (and the value as written).
pub(crate) fn detect(map: &IndexMap<String, Doc>) -> Result<(Version, String), TemplateError> {
    let present: Vec<(&str, &str)> = map
        .iter()
        .filter_map(|(k, v)| match v {
            Doc::Str(s) if VERSION_KEYS.contains(&k.as_str()) => Some((k.as_str(), s.as_str())),
            _ => None,
        })
        .collect();
    let (key, value) = match present.as_slice() {
        [] => {
            let path = VERSION_KEYS
                .iter()
                .find(|k| map.contains_key(**k))
                .copied()
                .unwrap_or("");
            return Err(TemplateError::new(
                ErrorKind::InvalidTemplateVersion,
                path,
                "Template version was not provided",
            ));
        }
        [one] => *one,
        many => {
            let keys: Vec<&str> = many.iter().map(|(k, _)| *k).collect();
            return Err(TemplateError::new(
                ErrorKind::InvalidTemplateVersion,
                "",
                format!("Ambiguous versions ({})", keys.join(", ")),
            ));
        }
    };
    if let Some((_, _, v)) = REGISTERED.iter().find(|(k, s, _)| *k == key && *s == value) {
        return Ok((*v, value.to_string()));
    }
    let mut available: Vec<&str> = REGISTERED
        .iter()
        .filter(|(k, _, _)| *k == key)
        .map(|(_, s, _)| *s)
        .collect();
    available.sort_unstable();
    let message = if available.len() > 1 {
        format!(
            "\"{key}: {value}\". \"{key}\" should be one of: {}",
            available.join(", ")
        )
    } else {
        format!(
            "\"{key}: {value}\". \"{key}\" should be: {}",
            available.join(", ")
        )
    };
    Err(TemplateError::new(
        ErrorKind::InvalidTemplateVersion,
        key,
        message,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::load::parse_text;

    fn detect_text(text: &str) -> Result<(Version, String), TemplateError> {
        detect(&parse_text(text).unwrap())
    }

    #[test]
    fn versions_and_aliases() {
        assert_eq!(
            detect_text("heat_template_version: 2013-05-23").unwrap(),
            (Version::Hot20130523, "2013-05-23".into())
        );
        assert_eq!(
            detect_text("heat_template_version: wallaby").unwrap(),
            (Version::Hot20210416, "wallaby".into())
        );
        assert_eq!(
            detect_text("heat_template_version: '2016-10-14'")
                .unwrap()
                .0,
            Version::Hot20161014
        );
        assert_eq!(
            detect_text(r#"{"AWSTemplateFormatVersion": "2010-09-09"}"#)
                .unwrap()
                .0,
            Version::Aws20100909
        );
        assert_eq!(
            detect_text(r#"{"HeatTemplateFormatVersion": "2012-12-12"}"#)
                .unwrap()
                .0,
            Version::Heat20121212
        );
        assert_eq!(Version::Hot20210416.as_str(), "2021-04-16");
        assert_eq!(Version::Aws20100909.key(), "AWSTemplateFormatVersion");
        assert!(Version::Hot20210416.hot_since(Version::Hot20161014));
        assert!(!Version::Aws20100909.hot_since(Version::Hot20130523));
    }

    #[test]
    fn heat_messages() {
        let e = detect_text("heat_template_version: 2012-01-01").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidTemplateVersion);
        assert_eq!(
            e.heat_message(),
            "The template version is invalid: \"heat_template_version: 2012-01-01\". \
             \"heat_template_version\" should be one of: 2013-05-23, 2014-10-16, 2015-04-30, \
             2015-10-15, 2016-04-08, 2016-10-14, 2017-02-24, 2017-09-01, 2018-03-02, 2018-08-31, \
             2021-04-16, newton, ocata, pike, queens, rocky, wallaby"
        );
        let e = detect_text(r#"{"AWSTemplateFormatVersion": "2010-09-10"}"#).unwrap_err();
        assert_eq!(
            e.message,
            "\"AWSTemplateFormatVersion: 2010-09-10\". \"AWSTemplateFormatVersion\" should be: 2010-09-09"
        );
        let e = detect_text("heat_template_version: 2013").unwrap_err();
        assert_eq!(e.message, "Template version was not provided");
        let e = detect_text(
            r#"{"AWSTemplateFormatVersion": "2010-09-09", "heat_template_version": "2013-05-23"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "Ambiguous versions (AWSTemplateFormatVersion, heat_template_version)"
        );
    }
}
