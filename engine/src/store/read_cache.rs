//! The store's memory of its hottest reads (stacks by id or name, a tenant's
//! stacks, resources, a handle's latest signals, software configs and
//! deployments), valid until the next write.
//!
//! Every write through the [`Store`](super::Store) holds a [`Written`] guard
//! that, when dropped (after the write committed, failed or was cancelled),
//! moves the cache to a new generation; an entry is answered only in the
//! generation it was read in. A read that raced a write cannot plant a stale
//! entry: it is kept only if no write ended since the read began. The engine
//! is its database's only writer (one process per data directory), so what
//! the cache answers is what the database holds.
//!
//! ```
//! # use heatgate_engine::store::Store;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Store::in_memory().await.unwrap();
//! assert!(store.stacks_of_tenant("p1").await.unwrap().is_empty()); // read, remembered
//! assert!(store.stacks_of_tenant("p1").await.unwrap().is_empty()); // from memory
//! # });
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{ConfigRow, DeploymentRow, ResourceRow, SignalRow, StackRow};

/// What is remembered: one key per read method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    /// `Store::stack(id)`
    Stack(String),
    /// `Store::stack_by_name(name, project)`
    StackByName(String, String),
    /// `Store::stacks_of_tenant(tenant)`
    Tenant(String),
    /// `Store::resource(stack_id, name)`
    Resource(String, String),
    /// `Store::resources(stack_id)`
    Resources(String),
    /// `Store::latest_signals(stack_id, resource_name)`
    Signals(String, String),
    /// `Store::config(id)`
    Config(String),
    /// `Store::deployments_for(project, server_id)`
    Deployments(Option<String>, Option<String>),
}

/// A remembered answer.
#[derive(Debug, Clone)]
pub(super) enum Value {
    /// A stack, or none.
    Stack(Option<StackRow>),
    /// A list of stacks.
    Stacks(Vec<StackRow>),
    /// A resource, or none.
    Resource(Option<ResourceRow>),
    /// A stack's resources.
    Resources(Vec<ResourceRow>),
    /// A handle's latest signals.
    Signals(Vec<SignalRow>),
    /// A software config, or none.
    Config(Option<ConfigRow>),
    /// Software deployments.
    Deployments(Vec<DeploymentRow>),
}

macro_rules! unpack {
    ($($name:ident: $variant:ident -> $t:ty),* $(,)?) => {
        impl Value {
            $(
                /// The answer, if it is of this kind.
                pub(super) fn $name(self) -> Option<$t> {
                    match self {
                        Value::$variant(v) => Some(v),
                        _ => None,
                    }
                }
            )*
        }
    };
}

unpack! {
    stack: Stack -> Option<StackRow>,
    stacks: Stacks -> Vec<StackRow>,
    resource: Resource -> Option<ResourceRow>,
    resources: Resources -> Vec<ResourceRow>,
    signals: Signals -> Vec<SignalRow>,
    config: Config -> Option<ConfigRow>,
    deployments: Deployments -> Vec<DeploymentRow>,
}

/// The cache; see the module docs.
#[derive(Debug, Default)]
pub(super) struct ReadCache {
    /// Bumped when a write ends.
    generation: AtomicU64,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// The generation every entry of `map` was read in.
    generation: u64,
    map: HashMap<Key, Value>,
}

/// Marks the cache stale when dropped; held across a write.
#[must_use = "the cache is marked stale when this is dropped, after the write"]
pub(super) struct Written<'a>(&'a ReadCache);

impl Drop for Written<'_> {
    fn drop(&mut self) {
        self.0.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl ReadCache {
    /// Entries kept at most (a tenant's list counts as one): beyond it the
    /// cache starts over.
    const MAX_ENTRIES: usize = 4096;

    /// The current generation, to take BEFORE reading the database.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A guard to hold across a write.
    pub(super) fn written(&self) -> Written<'_> {
        Written(self)
    }

    /// The remembered answer for `key`, if it was read in this generation.
    pub(super) fn get(&self, key: &Key) -> Option<Value> {
        let now = self.generation();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.generation != now {
            return None;
        }
        entries.map.get(key).cloned()
    }

    /// Remembers `value`, read from the database after `seen` was taken,
    /// unless a write ended since.
    pub(super) fn put(&self, seen: u64, key: Key, value: Value) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Under the lock, so a newer generation's entries are never mixed in.
        if seen != self.generation() {
            return;
        }
        if entries.generation != seen || entries.map.len() >= Self::MAX_ENTRIES {
            entries.map.clear();
            entries.generation = seen;
        }
        entries.map.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stacks(n: usize) -> Value {
        Value::Stacks(Vec::with_capacity(n))
    }

    #[test]
    fn an_entry_lives_until_a_write_ends() {
        let cache = ReadCache::default();
        let key = Key::Tenant("p1".into());
        assert!(cache.get(&key).is_none());
        cache.put(cache.generation(), key.clone(), stacks(0));
        assert!(matches!(cache.get(&key), Some(Value::Stacks(_))));
        {
            let _w = cache.written();
            // Still answered while the write runs: it has not committed.
            assert!(cache.get(&key).is_some());
        }
        assert!(cache.get(&key).is_none(), "stale after the write");
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = ReadCache::default();
        let key = Key::Stack("s1".into());
        let seen = cache.generation();
        drop(cache.written()); // a write ends while the read runs
        cache.put(seen, key.clone(), Value::Stack(None));
        assert!(cache.get(&key).is_none());
        // The next read is kept.
        cache.put(cache.generation(), key.clone(), Value::Stack(None));
        assert!(cache.get(&key).is_some());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = ReadCache::default();
        let seen = cache.generation();
        for i in 0..=ReadCache::MAX_ENTRIES {
            cache.put(seen, Key::Tenant(i.to_string()), stacks(0));
        }
        let kept = cache.entries.lock().unwrap().map.len();
        assert!(kept <= ReadCache::MAX_ENTRIES, "{kept}");
        assert!(cache
            .get(&Key::Tenant(ReadCache::MAX_ENTRIES.to_string()))
            .is_some());
    }
}
