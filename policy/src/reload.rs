//! A policy that follows its files: reloaded when an mtime changes, keeping
//! the last good rules (and reporting) when a file is malformed.
//!
//! ```
//! use heatgate_policy::reload::{PolicySources, PolicyStore, ReloadOutcome};
//! use heatgate_policy::{Credentials, Target};
//!
//! let dir = std::env::temp_dir().join(format!("heatgate-policy-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("policy.yaml");
//! std::fs::write(&file, "stacks:index: role:reader\n").unwrap();
//!
//! let store = PolicyStore::new(PolicySources {
//!     policy_file: Some(file.clone()),
//!     ..PolicySources::heat_modern()
//! }).unwrap();
//! let reader = Credentials::builder().roles(["reader"]).project_id("p").build();
//! assert!(store.current().enforce("stacks:index", &Target::new(), &reader).unwrap());
//!
//! // A broken edit is reported and the last good rules stay in force.
//! std::fs::write(&file, "stacks:index: [\n").unwrap();
//! let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
//! std::fs::File::options().write(true).open(&file).unwrap().set_modified(later).unwrap();
//! assert!(matches!(store.refresh(), ReloadOutcome::Failed(_)));
//! assert!(store.current().enforce("stacks:index", &Target::new(), &reader).unwrap());
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use crate::enforcer::Enforcer;
use crate::ruleset::{
    load_policy_file, policy_dir_files, DefaultRule, LoadError, RuleDefault, RuleSet,
};

/// Where the rules come from (heat.conf's `[oslo_policy]` options plus the
/// in-code defaults).
#[derive(Debug, Clone)]
pub struct PolicySources {
    /// In-code defaults.
    pub defaults: Vec<RuleDefault>,
    /// `policy_file`; a missing file means defaults only.
    pub policy_file: Option<PathBuf>,
    /// `policy_dirs`; missing directories are skipped.
    pub policy_dirs: Vec<PathBuf>,
    /// What unknown names resolve to.
    pub default_rule: DefaultRule,
    /// `enforce_new_defaults`.
    pub enforce_new_defaults: bool,
}

impl PolicySources {
    /// Heat 27's defaults, Heat's default rule `"!"`, no files.
    pub fn heat_modern() -> PolicySources {
        PolicySources {
            defaults: crate::heat::modern_defaults().to_vec(),
            policy_file: None,
            policy_dirs: Vec::new(),
            default_rule: DefaultRule::Check("!".into()),
            enforce_new_defaults: true,
        }
    }

    /// Reads every file now and builds the rule set.
    pub fn load(&self) -> Result<RuleSet, LoadError> {
        let mut rs = RuleSet::new()
            .with_defaults(self.defaults.iter().cloned())
            .with_default_rule(self.default_rule.clone())
            .with_enforce_new_defaults(self.enforce_new_defaults);
        if let Some(f) = &self.policy_file {
            if f.exists() {
                rs.files.push(load_policy_file(f)?);
            }
        }
        for d in &self.policy_dirs {
            if d.exists() {
                for f in policy_dir_files(d)? {
                    rs.files.push(load_policy_file(&f)?);
                }
            }
        }
        Ok(rs)
    }

    /// Modification times of everything that is watched (absent = `None`).
    fn stamps(&self) -> Vec<(PathBuf, Option<SystemTime>)> {
        let mtime = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let mut out = Vec::new();
        if let Some(f) = &self.policy_file {
            out.push((f.clone(), mtime(f)));
        }
        for d in &self.policy_dirs {
            out.push((d.clone(), mtime(d)));
            if let Ok(files) = policy_dir_files(d) {
                for f in files {
                    let m = mtime(&f);
                    out.push((f, m));
                }
            }
        }
        out
    }
}

/// What [`PolicyStore::refresh`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// Nothing changed on disk.
    Unchanged,
    /// Files changed and the new rules are in force.
    Reloaded,
    /// Files changed but could not be loaded; the last good rules stay.
    Failed(LoadError),
}

/// The current enforcer plus what is needed to rebuild it.
#[derive(Debug)]
pub struct PolicyStore {
    sources: PolicySources,
    current: RwLock<Arc<Enforcer>>,
    stamps: Mutex<Vec<(PathBuf, Option<SystemTime>)>>,
}

impl PolicyStore {
    /// Loads the sources (failing if a file is malformed at startup).
    pub fn new(sources: PolicySources) -> Result<PolicyStore, LoadError> {
        let stamps = sources.stamps();
        let enforcer = Enforcer::new(sources.load()?);
        Ok(PolicyStore {
            sources,
            current: RwLock::new(Arc::new(enforcer)),
            stamps: Mutex::new(stamps),
        })
    }

    /// The enforcer in force.
    pub fn current(&self) -> Arc<Enforcer> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Reloads if any watched file's mtime changed (or a file appeared or vanished).
    pub fn refresh(&self) -> ReloadOutcome {
        let now = self.sources.stamps();
        let mut stamps = match self.stamps.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if *stamps == now {
            return ReloadOutcome::Unchanged;
        }
        *stamps = now;
        match self.sources.load() {
            Ok(rs) => {
                let e = Arc::new(Enforcer::new(rs));
                match self.current.write() {
                    Ok(mut g) => *g = e,
                    Err(p) => *p.into_inner() = e,
                }
                ReloadOutcome::Reloaded
            }
            Err(err) => ReloadOutcome::Failed(err),
        }
    }
}
