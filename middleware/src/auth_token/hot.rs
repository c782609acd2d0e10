//! Hot tokens: the few tokens a thread sees again and again, with the
//! downstream headers they give prebuilt.
//!
//! Most traffic through a gateway is a handful of clients reusing their token,
//! so for those the layer skips the shared cache (and the token's sha256, its
//! key there) and, instead of inserting the identity headers one by one into
//! every request (hashing each name, growing the map), it clones a map that
//! already holds them and moves the request's own few headers into the clone.
//!
//! What makes this safe:
//! - an entry answers only until its token's `cached_until` (the moment the
//!   shared cache would drop it: min(token_cache_time, token expiry) from the
//!   validation) and only while the token has not expired by the wall clock,
//!   exactly the checks of a shared-cache hit; with caching disabled nothing
//!   becomes hot;
//! - an entry answers only for the layer that built it (its configuration
//!   decides the headers) and only for exactly its token: a keyed hash picks
//!   the candidate, and the bytes are compared in constant time, so response
//!   times say nothing about how close a guess came to a hot token;
//! - a token becomes hot only when the thread sees it twice within the last
//!   [`SEEN`] new tokens (remembered by their hash alone), so a stream of
//!   distinct tokens costs one lookup each and builds nothing; there are
//!   [`HOT`] entries per thread, replaced in turn (a few kB in all). A hot
//!   entry holds its token, as every request in flight does, to hand the
//!   request's [`Identity`](crate::context::Identity) a shared copy instead of
//!   a new one.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use heatgate_keystone::Secret;
use http::header::HOST;
use http::{HeaderMap, HeaderValue};

use super::validator::ValidToken;

/// Hot entries per thread.
const HOT: usize = 8;
/// Recently seen tokens per thread (the candidates for a hot entry).
const SEEN: usize = 16;

/// A token, as the key of one layer.
#[derive(Clone, Copy)]
pub(super) struct HotKey<'a> {
    /// The layer (see `Shared::id`).
    pub layer: u64,
    /// The token (well-formed or not: only a confirmed one is ever hot).
    pub token: &'a [u8],
}

/// What a hot token gives a request besides its verdict.
pub(super) struct Prebuilt {
    /// The headers the layer sets for the token, after a placeholder `Host`
    /// (for [`merge_into`]).
    pub headers: HeaderMap,
    /// The token, shared.
    pub secret: Secret,
}

struct HotEntry {
    layer: u64,
    hash: u64,
    secret: Secret,
    token: Arc<ValidToken>,
    /// The token's expiry (a cheaper comparison than `is_expired_at`).
    expires: SystemTime,
    headers: HeaderMap,
}

#[derive(Default)]
struct HotTokens {
    /// Keys this thread's hashes, anew for every thread and process.
    hasher: foldhash::fast::RandomState,
    entries: Vec<HotEntry>,
    /// Where the next entry goes once `entries` is full.
    next: usize,
    /// (layer, hash) of recently seen tokens.
    seen: Vec<(u64, u64)>,
    next_seen: usize,
}

impl HotTokens {
    fn hash(&self, key: &HotKey<'_>) -> u64 {
        self.hasher.hash_one(key.token)
    }

    fn find(&self, key: &HotKey<'_>, hash: u64) -> Option<usize> {
        self.entries.iter().position(|e| {
            e.layer == key.layer
                && e.hash == hash
                && constant_time_eq(e.secret.expose().as_bytes(), key.token)
        })
    }
}

/// Whether `a == b`, in a time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

thread_local! {
    static TOKENS: RefCell<HotTokens> = RefCell::default();
}

/// The token's verdict and prebuilt headers, when `key` is hot on this thread
/// and still within its cache lifetime.
pub(super) fn lookup(key: &HotKey<'_>) -> Option<(Arc<ValidToken>, Prebuilt)> {
    TOKENS.with(|tokens| {
        let tokens = tokens.borrow();
        let entry = &tokens.entries[tokens.find(key, tokens.hash(key))?];
        let live = Instant::now() < entry.token.cached_until && SystemTime::now() < entry.expires;
        live.then(|| {
            let prebuilt = Prebuilt {
                headers: entry.headers.clone(),
                secret: entry.secret.clone(),
            };
            (entry.token.clone(), prebuilt)
        })
    })
}

/// Tells the thread that `token` was just confirmed for `key`: on its second
/// sighting it becomes hot, with the headers `build` inserts.
pub(super) fn offer(key: &HotKey<'_>, token: &Arc<ValidToken>, build: impl FnOnce(&mut HeaderMap)) {
    if Instant::now() >= token.cached_until {
        return;
    }
    TOKENS.with(|tokens| {
        let mut tokens = tokens.borrow_mut();
        let tokens = &mut *tokens;
        let hash = tokens.hash(key);
        if let Some(at) = tokens.find(key, hash) {
            let entry = &mut tokens.entries[at];
            // Expired and validated again: the new confirmation replaces it.
            if !Arc::ptr_eq(&entry.token, token) {
                entry.token = token.clone();
                entry.expires = token.identity.expires_at.into();
                entry.headers = prebuilt(build);
            }
            return;
        }
        match tokens.seen.iter().position(|k| *k == (key.layer, hash)) {
            Some(at) => {
                tokens.seen.swap_remove(at);
                // A confirmed token is visible ASCII.
                let Ok(secret) = std::str::from_utf8(key.token) else {
                    return;
                };
                let entry = HotEntry {
                    layer: key.layer,
                    hash,
                    secret: Secret::new(secret),
                    token: token.clone(),
                    expires: token.identity.expires_at.into(),
                    headers: prebuilt(build),
                };
                if tokens.entries.len() < HOT {
                    tokens.entries.push(entry);
                } else {
                    tokens.entries[tokens.next] = entry;
                    tokens.next = (tokens.next + 1) % HOT;
                }
            }
            None if tokens.seen.len() < SEEN => tokens.seen.push((key.layer, hash)),
            None => {
                tokens.seen[tokens.next_seen] = (key.layer, hash);
                tokens.next_seen = (tokens.next_seen + 1) % SEEN;
            }
        }
    });
}

/// Room in a prebuilt map for `Host`, the identity headers (about 20) and the
/// request's own: a clone keeps the map's index table, so the request's
/// headers go in without rehashing.
const ROOM: usize = 48;

/// A map of a placeholder `Host`, so that a request's `Host` keeps its place
/// at the front (user agents send it first, and so does a proxy), then the
/// headers `build` inserts.
fn prebuilt(build: impl FnOnce(&mut HeaderMap)) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(ROOM);
    headers.insert(HOST, HeaderValue::from_static(""));
    build(&mut headers);
    headers
}

/// Replaces `request` by `prebuilt` (from [`lookup`]) with the request's own
/// headers added: `Host` first, then the identity headers, then the others in
/// their order. The request must hold none of the prebuilt names (the layer
/// strips them all first).
pub(super) fn merge_into(request: &mut HeaderMap, mut prebuilt: HeaderMap) {
    let own = std::mem::take(request);
    // Only a hint: a map that cannot grow fails below as it would anyway.
    let _ = prebuilt.try_reserve(own.len());
    let mut host = false;
    let mut last = None;
    for (name, value) in own {
        if let Some(name) = name {
            last = Some(name);
        }
        // The first item always has a name.
        let Some(name) = &last else { continue };
        if *name == HOST && !host {
            prebuilt.insert(HOST, value);
            host = true;
        } else {
            prebuilt.append(name, value);
        }
    }
    if !host {
        prebuilt.remove(HOST);
    }
    *request = prebuilt;
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    use time::OffsetDateTime;

    use crate::auth_token::IdentityHeaders;
    use crate::context::IdentityData;

    fn token(cached_for: Duration, expires_in: time::Duration) -> Arc<ValidToken> {
        let body: heatgate_keystone::TokenBody = serde_json::from_value(serde_json::json!({
            "methods": ["password"],
            "expires_at": (OffsetDateTime::now_utc() + expires_in)
                .format(&time::format_description::well_known::Rfc3339).unwrap(),
            "user": {"id": "u1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": "p1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r1", "name": "member"}],
        }))
        .unwrap();
        let identity = IdentityData::from_token(&body);
        Arc::new(ValidToken {
            access_rules: None,
            headers: IdentityHeaders::new(&identity, None),
            identity: Arc::new(identity),
            cached_until: Instant::now() + cached_for,
        })
    }

    fn headers(token: &ValidToken) -> impl FnOnce(&mut HeaderMap) + '_ {
        |headers| {
            for (name, value) in token.headers.user() {
                headers.insert(name.clone(), value.clone());
            }
        }
    }

    /// A token of 32 visible ASCII bytes: `n`, then `x`s.
    fn token_bytes(n: u8) -> Vec<u8> {
        format!("{n:x<32}").into_bytes()
    }

    fn key(layer: u64, token: &[u8]) -> HotKey<'_> {
        HotKey { layer, token }
    }

    // Each test runs on a thread of its own, so starts with no hot tokens.

    #[test]
    fn a_token_is_hot_from_its_second_confirmation_until_its_cache_time() {
        let t = token(Duration::from_millis(300), time::Duration::hours(1));
        let bytes = token_bytes(1);
        let k = key(1, &bytes);
        assert!(lookup(&k).is_none());
        offer(&k, &t, headers(&t));
        assert!(lookup(&k).is_none(), "hot only when seen twice");
        offer(&k, &t, headers(&t));
        let (hit, prebuilt) = lookup(&k).expect("hot");
        assert!(Arc::ptr_eq(&hit, &t));
        assert_eq!(
            prebuilt.secret.expose().as_bytes(),
            bytes,
            "the token itself"
        );
        assert_eq!(
            prebuilt.headers.keys().next(),
            Some(&HOST),
            "Host placeholder first"
        );
        assert_eq!(prebuilt.headers.len(), t.headers.user().len() + 1);
        // Another layer's key, with the same token, is not the same entry.
        assert!(lookup(&key(2, &bytes)).is_none());
        std::thread::sleep(Duration::from_millis(350));
        assert!(lookup(&k).is_none(), "past cached_until");
    }

    #[test]
    fn only_exactly_the_hot_token_is_hot() {
        let t = token(Duration::from_secs(300), time::Duration::hours(1));
        let bytes = token_bytes(1);
        offer(&key(1, &bytes), &t, headers(&t));
        offer(&key(1, &bytes), &t, headers(&t));
        assert!(lookup(&key(1, &bytes)).is_some());
        let mut last = bytes.clone();
        *last.last_mut().unwrap() = b'y';
        let shorter = &bytes[..bytes.len() - 1];
        let mut longer = bytes.clone();
        longer.push(b'x');
        for other in [&last[..], shorter, &longer[..], &token_bytes(2)[..], b""] {
            assert!(lookup(&key(1, other)).is_none(), "{other:?}");
        }
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn nothing_is_hot_when_caching_is_off_or_the_token_expired() {
        let uncached = token(Duration::ZERO, time::Duration::hours(1));
        let bytes = token_bytes(2);
        let k = key(1, &bytes);
        offer(&k, &uncached, headers(&uncached));
        offer(&k, &uncached, headers(&uncached));
        assert!(lookup(&k).is_none(), "token_cache_time 0");

        let expired = token(Duration::from_secs(300), time::Duration::seconds(-1));
        let bytes = token_bytes(3);
        let k = key(1, &bytes);
        offer(&k, &expired, headers(&expired));
        offer(&k, &expired, headers(&expired));
        assert!(lookup(&k).is_none(), "expired by the wall clock");
    }

    #[test]
    fn a_stream_of_distinct_tokens_builds_nothing_and_the_table_stays_bounded() {
        let t = token(Duration::from_secs(300), time::Duration::hours(1));
        let tokens: Vec<Vec<u8>> = (0..=255u8).map(token_bytes).collect();
        let mut built = 0;
        for bytes in &tokens {
            offer(&key(1, bytes), &t, |h| {
                built += 1;
                headers(&t)(h)
            });
        }
        assert_eq!(built, 0);
        for bytes in &tokens {
            offer(&key(1, bytes), &t, headers(&t));
            offer(&key(1, bytes), &t, headers(&t));
        }
        TOKENS.with(|table| {
            let table = table.borrow();
            assert_eq!(table.entries.len(), HOT);
            assert!(table.seen.len() <= SEEN);
        });
        assert!(lookup(&key(1, &tokens[255])).is_some(), "the latest is hot");
        assert!(
            lookup(&key(1, &tokens[0])).is_none(),
            "the oldest was replaced"
        );
    }

    #[test]
    fn merging_keeps_host_first_and_every_value_of_the_request() {
        let t = token(Duration::from_secs(300), time::Duration::hours(1));
        let prebuilt = prebuilt(headers(&t));
        let mut request = HeaderMap::new();
        request.insert("user-agent", HeaderValue::from_static("curl"));
        request.insert(HOST, HeaderValue::from_static("example.org"));
        request.append("accept", HeaderValue::from_static("a/b"));
        request.append("accept", HeaderValue::from_static("c/d"));
        request.insert("x-auth-token", HeaderValue::from_static("tok"));
        merge_into(&mut request, prebuilt.clone());
        let names: Vec<_> = request.keys().map(|n| n.as_str()).collect();
        assert_eq!(names[0], "host");
        assert_eq!(request[HOST], "example.org");
        let accept: Vec<_> = request.get_all("accept").iter().collect();
        assert_eq!(accept, ["a/b", "c/d"]);
        assert_eq!(request["user-agent"], "curl");
        assert_eq!(request["x-auth-token"], "tok");
        for (name, value) in t.headers.user() {
            assert_eq!(request.get_all(name).iter().collect::<Vec<_>>(), [value]);
        }
        assert_eq!(request.len(), t.headers.user().len() + 5);

        // Without Host, none is made up.
        let mut request = HeaderMap::new();
        request.insert("x-auth-token", HeaderValue::from_static("tok"));
        merge_into(&mut request, prebuilt);
        assert!(!request.contains_key(HOST));
        assert_eq!(request.len(), t.headers.user().len() + 1);
    }
}
