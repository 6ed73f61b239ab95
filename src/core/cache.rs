//! Decides which responses the fallback cache may keep and indexes them (keys, sizes, ages, LRU) within a byte and entry budget.
//!
//! ```
//! use resource_guard::core::cache::{cache_key, cacheability, CacheIndex, Lookup};
//! use resource_guard::core::config::CacheConfig;
//! use resource_guard::core::time::Millis;
//!
//! let policy = cacheability("GET", 200, Some("max-age=60, stale-if-error=3600"), Some("Accept-Language"), false, false);
//! assert!(policy.store);
//! assert_eq!(policy.ttl_ms, Some(3_660_000)); // fresh 60 s + stale-if-error 3600 s
//!
//! let key = cache_key("GET", "https://api.example.com/items", &[("Accept-Language", Some("de"))], false);
//! let mut index = CacheIndex::new(CacheConfig { max_bytes: 1_000_000, max_entries: 100, max_stale_ms: 86_400_000, store_credentialed: false });
//! let out = index.insert(key.clone(), 5_000, Millis(1_700_000_000_000), policy.ttl_ms);
//! assert!(out.stored && out.evict.is_empty());
//! assert_eq!(index.lookup(&key, Millis(1_700_000_030_000)), Lookup::Hit { age_ms: 30_000 });
//! // After an outage the driver rebuilds the key from the Vary names stored with the URL.
//! assert_eq!(index.vary_of("https://api.example.com/items").as_deref(), Some("accept-language"));
//! ```
//!
//! The bodies live in the browser's Cache Storage; this index holds metadata only and tells the
//! driver which keys to delete. Entries outlive the page, so every `now` given to [`CacheIndex`]
//! must be wall-clock milliseconds (`Date.now()`), not `performance.now()`.
//!
//! An entry is served while its age (`now - stored_at`) is below its limit:
//! `min(max_stale_ms, ttl_ms)`. At the limit it is expired: not served, returned for deletion.
//! The cache is a fallback: the driver consults it only when the network path failed.
//!
//! Memory is bounded: at most `max_entries` entries, keys of at most [`MAX_KEY_BYTES`] each and
//! [`MAX_INDEX_KEY_BYTES`] together (the least recently used go first). The Vary names needed
//! to rebuild a key after an outage are read back from the indexed keys ([`CacheIndex::vary_of`]),
//! so no per-URL map grows beside the index.

use super::config::CacheConfig;
use super::time::Millis;

/// Longest key kept, bytes (longer keys are never stored, to bound memory): 16 384.
pub const MAX_KEY_BYTES: usize = 16_384;
/// Most key bytes the index holds together (least recently used evicted first): 4 194 304.
pub const MAX_INDEX_KEY_BYTES: usize = 4 << 20;
/// The line [`cache_key`] appends for a credentialed request: not a header name (`(` is not a
/// token character), so no Vary line can forge it.
pub const CREDENTIALED_LINE: &str = "(credentialed)";

/// Metadata of one cached response (what the driver persists, e.g. in IndexedDB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheEntryMeta {
    /// The key from [`cache_key`].
    pub key: String,
    /// Body size, bytes.
    pub bytes: u64,
    /// When the response was stored, wall-clock ms.
    pub stored_at: Millis,
    /// When it was last served or stored, wall-clock ms.
    pub last_used: Millis,
    /// Longest age at which it may be served, ms (`None`: only `max_stale_ms` applies).
    pub ttl_ms: Option<u64>,
}

/// The result of [`CacheIndex::insert`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "evicted keys must be deleted from Cache Storage"]
pub struct InsertOutcome {
    /// Whether the entry is indexed. When `false` the driver must not store the body and must
    /// delete any body already under the key (the old entry is gone from the index).
    pub stored: bool,
    /// Other keys evicted or expired to make room: delete them from Cache Storage.
    pub evict: Vec<String>,
}

/// The result of [`CacheIndex::lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Serve it; it was stored `age_ms` ms ago (the `X-Resource-Guard-Stale` header is in seconds).
    Hit {
        /// Age of the stored response, ms.
        age_ms: u64,
    },
    /// It was too old: not served, dropped from the index; delete its body.
    Expired,
    /// Not in the index.
    Miss,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    bytes: u64,
    stored_at: Millis,
    last_used: Millis,
    ttl_ms: Option<u64>,
    tick: u64,
}

/// Indices of `keys` in ascending order, ties in input order. The module's one sort, written
/// out (a stable bottom-up merge sort, O(n log n) on hostile lists): the library sort costs
/// kilobytes of wasm, and every panic-free step here keeps `core::fmt` out of the binary.
fn order(keys: &[u64]) -> Vec<usize> {
    let key = |i: usize| keys.get(i).copied().unwrap_or(0);
    let mut a: Vec<usize> = (0..keys.len()).collect();
    let mut width = 1usize;
    while width < a.len() {
        let mut out = Vec::with_capacity(a.len());
        let mut rest: &[usize] = &a;
        while !rest.is_empty() {
            let (l, tail) = rest.split_at_checked(width).unwrap_or((rest, &[]));
            let (r, tail) = tail.split_at_checked(width).unwrap_or((tail, &[]));
            rest = tail;
            let (mut l, mut r) = (l.iter().copied().peekable(), r.iter().copied().peekable());
            loop {
                // Ties take the left run: the sort is stable.
                let next = match (l.peek(), r.peek()) {
                    (Some(&x), Some(&y)) if key(y) < key(x) => r.next(),
                    (Some(_), _) => l.next(),
                    (None, _) => r.next(),
                };
                match next {
                    Some(i) => out.push(i),
                    None => break,
                }
            }
        }
        a = out;
        width = width.saturating_mul(2);
    }
    a
}

/// `items` without duplicates (in hash order), via [`order`] on FNV-1a hashes.
fn dedup_strings(items: Vec<String>) -> Vec<String> {
    let hashes: Vec<u64> = items
        .iter()
        .map(|s| {
            s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            })
        })
        .collect();
    let mut slots: Vec<Option<String>> = items.into_iter().map(Some).collect();
    let mut out: Vec<String> = Vec::with_capacity(slots.len());
    let mut run_start = 0; // first index in `out` of the current run of equal hashes
    let mut last_hash = None;
    for i in order(&hashes) {
        let Some(s) = slots.get_mut(i).and_then(Option::take) else {
            continue;
        };
        let hash = hashes.get(i).copied();
        if last_hash != hash {
            last_hash = hash;
            run_start = out.len();
        }
        if !out.get(run_start..).unwrap_or(&[]).contains(&s) {
            out.push(s);
        }
    }
    out
}

#[derive(Debug, Default)]
struct Entries(Vec<(String, Entry)>, usize);

impl Entries {
    fn get(&self, key: &str) -> Option<&Entry> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, e)| e)
    }
    fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, e)| e)
    }
    fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    fn remove(&mut self, key: &str) -> Option<Entry> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        let (k, e) = self.0.swap_remove(i);
        self.1 = self.1.saturating_sub(k.len());
        Some(e)
    }
    fn insert(&mut self, key: String, e: Entry) {
        match self.get_mut(&key) {
            Some(old) => *old = e,
            None => {
                self.1 = self.1.saturating_add(key.len());
                self.0.push((key, e));
            }
        }
    }
    /// Key bytes held.
    fn key_bytes(&self) -> usize {
        self.1
    }
    fn pop_oldest(&mut self) -> Option<(String, Entry)> {
        let i = self
            .0
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, e))| e.tick)
            .map(|(i, _)| i)?;
        let (k, e) = self.0.swap_remove(i);
        self.1 = self.1.saturating_sub(k.len());
        Some((k, e))
    }
    fn clear(&mut self) {
        self.0.clear();
        self.1 = 0;
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The fallback cache's index: LRU within `max_bytes` and `max_entries`, expiry by age.
#[derive(Debug)]
pub struct CacheIndex {
    cfg: CacheConfig,
    /// Entries with their last-use tick; LRU order is the tick order. A vector (the entry cap
    /// is small) costs far less wasm than two `BTreeMap`s.
    entries: Entries,
    tick: u64,
    bytes: u64,
}

impl CacheIndex {
    /// An empty index with these budgets.
    #[must_use]
    pub fn new(cfg: CacheConfig) -> Self {
        CacheIndex {
            cfg,
            entries: Entries::default(),
            tick: 0,
            bytes: 0,
        }
    }

    /// Indexes a response of `bytes` bytes stored at `now` (wall-clock ms), expiring entries and
    /// evicting the least recently used ones to stay within both budgets. A response larger than
    /// `max_bytes`, with a key over [`MAX_KEY_BYTES`], or with `ttl_ms == Some(0)` is not stored.
    pub fn insert(
        &mut self,
        key: String,
        bytes: u64,
        now: Millis,
        ttl_ms: Option<u64>,
    ) -> InsertOutcome {
        let mut evict = self.expire(now);
        evict.retain(|k| *k != key);
        self.remove(&key);
        let meta = CacheEntryMeta {
            key,
            bytes,
            stored_at: now,
            last_used: now,
            ttl_ms,
        };
        let stored = self.put(meta, &mut evict);
        InsertOutcome { stored, evict }
    }

    /// Looks `key` up at `now`: a hit becomes the most recently used; an entry at or past its
    /// age limit is dropped and reported as [`Lookup::Expired`].
    pub fn lookup(&mut self, key: &str, now: Millis) -> Lookup {
        let Some(e) = self.entries.get(key).copied() else {
            return Lookup::Miss;
        };
        let age_ms = now.since(e.stored_at);
        if age_ms >= self.limit_ms(&e) {
            self.remove(key);
            return Lookup::Expired;
        }
        self.tick = self.tick.saturating_add(1);
        let tick = self.tick;
        if let Some(entry) = self.entries.get_mut(key) {
            entry.tick = tick;
            entry.last_used = now.max(entry.last_used);
        }
        Lookup::Hit { age_ms }
    }

    /// Drops `key` from the index (the driver deletes the body itself).
    pub fn remove(&mut self, key: &str) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes = self.bytes.saturating_sub(e.bytes);
        }
    }

    /// Drops everything; returns `(entries, bytes)` freed.
    pub fn clear(&mut self) -> (usize, u64) {
        let freed = (self.entries.len(), self.bytes);
        self.entries.clear();
        self.bytes = 0;
        freed
    }

    /// Drops every entry at or past its age limit at `now`; returns their keys for deletion.
    pub fn expire(&mut self, now: Millis) -> Vec<String> {
        let dead: Vec<String> = self
            .entries
            .0
            .iter()
            .filter(|(_, e)| now.since(e.stored_at) >= self.limit_ms(e))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &dead {
            self.remove(k);
        }
        dead
    }

    /// Indexed body bytes (always `<= max_bytes`).
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Indexed entries (always `<= max_entries`).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is indexed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Key bytes held (always `<= MAX_INDEX_KEY_BYTES`).
    #[must_use]
    pub fn key_bytes(&self) -> usize {
        self.entries.key_bytes()
    }

    /// The Vary names (lower-case, `\n`-separated, possibly empty) of the most recently used
    /// `GET` entry for `url`, to rebuild a request's key when its network path failed; `None`
    /// when no entry has this URL. A linear scan: it runs on the failure path only.
    #[must_use]
    pub fn vary_of(&self, url: &str) -> Option<String> {
        let (key, _) = self
            .entries
            .0
            .iter()
            .filter(|(k, _)| {
                let line = k.split('\n').next().unwrap_or("");
                line.strip_prefix("GET ") == Some(url)
            })
            .max_by_key(|(_, e)| e.tick)?;
        let mut names = String::new();
        for line in key.split('\n').skip(1) {
            if line == CREDENTIALED_LINE {
                continue;
            }
            if !names.is_empty() {
                names.push('\n');
            }
            names.push_str(line.split(':').next().unwrap_or(""));
        }
        Some(names)
    }

    /// Every entry, least recently used first: what the driver persists.
    #[must_use]
    pub fn entries(&self) -> Vec<CacheEntryMeta> {
        let all = &self.entries.0;
        let ticks: Vec<u64> = all.iter().map(|(_, e)| e.tick).collect();
        order(&ticks)
            .into_iter()
            .filter_map(|i| all.get(i))
            .map(|(k, e)| CacheEntryMeta {
                key: k.clone(),
                bytes: e.bytes,
                stored_at: e.stored_at,
                last_used: e.last_used,
                ttl_ms: e.ttl_ms,
            })
            .collect()
    }

    /// Rebuilds the index from a persisted list (hostile input) at `now` (wall-clock ms). Items
    /// are replayed in `last_used` order; a duplicated key keeps its most recently used item.
    /// Returns the keys whose bodies the driver must delete: expired items, items too large, with
    /// a key over [`MAX_KEY_BYTES`], stored in the future or with `ttl_ms == Some(0)`, and items
    /// evicted to respect the budgets. Items with an empty key are skipped silently.
    pub fn restore(&mut self, mut items: Vec<CacheEntryMeta>, now: Millis) -> Vec<String> {
        let mut delete = self.expire(now);
        let used: Vec<u64> = items.iter().map(|m| m.last_used.0).collect();
        let mut slots: Vec<Option<CacheEntryMeta>> = items.drain(..).map(Some).collect();
        for i in order(&used) {
            let Some(mut m) = slots.get_mut(i).and_then(Option::take) else {
                continue;
            };
            if m.key.is_empty() {
                continue;
            }
            if m.stored_at > now {
                delete.push(m.key);
                continue;
            }
            m.last_used = m.last_used.max(m.stored_at).min(now);
            let e = Entry {
                bytes: m.bytes,
                stored_at: m.stored_at,
                last_used: m.last_used,
                ttl_ms: m.ttl_ms,
                tick: 0,
            };
            if now.since(m.stored_at) >= self.limit_ms(&e) {
                delete.push(m.key);
                continue;
            }
            self.remove(&m.key);
            let key = m.key.clone();
            if !self.put(m, &mut delete) {
                delete.push(key);
            }
        }
        // A key evicted or refused earlier in the list may be indexed again by a later duplicate:
        // never tell the driver to delete a body the index now holds.
        delete.retain(|k| !self.entries.contains_key(k));
        dedup_strings(delete)
    }

    fn limit_ms(&self, e: &Entry) -> u64 {
        e.ttl_ms
            .map_or(self.cfg.max_stale_ms, |t| t.min(self.cfg.max_stale_ms))
    }

    /// Adds an entry not in the index, evicting LRU entries into `evict`; false if it cannot fit.
    fn put(&mut self, m: CacheEntryMeta, evict: &mut Vec<String>) -> bool {
        if m.bytes > self.cfg.max_bytes
            || self.cfg.max_entries == 0
            || m.ttl_ms == Some(0)
            || m.key.len() > MAX_KEY_BYTES
        {
            return false;
        }
        while self.bytes.saturating_add(m.bytes) > self.cfg.max_bytes
            || self.entries.len() >= self.cfg.max_entries as usize
            || self.entries.key_bytes().saturating_add(m.key.len()) > MAX_INDEX_KEY_BYTES
        {
            let Some((oldest, e)) = self.entries.pop_oldest() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(e.bytes);
            evict.push(oldest);
        }
        self.tick = self.tick.saturating_add(1);
        self.bytes = self.bytes.saturating_add(m.bytes);
        self.entries.insert(
            m.key,
            Entry {
                bytes: m.bytes,
                stored_at: m.stored_at,
                last_used: m.last_used,
                ttl_ms: m.ttl_ms,
                tick: self.tick,
            },
        );
        true
    }
}

/// Whether to cache a response, and for how long it may be served as a fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    /// Store it.
    pub store: bool,
    /// Longest age at which it may be served, ms (`None`: `cache.maxStaleMs` alone decides).
    pub ttl_ms: Option<u64>,
}

const NO_STORE: CachePolicy = CachePolicy {
    store: false,
    ttl_ms: None,
};

/// The response directives of a `Cache-Control` header that the fallback cache acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (with or without a field list).
    pub no_cache: bool,
    /// `private`.
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `max-age`, seconds (the smallest if repeated; an invalid value reads as 0).
    pub max_age_s: Option<u64>,
    /// `stale-if-error` (RFC 5861), seconds (the smallest if repeated; an invalid value reads as 0).
    pub stale_if_error_s: Option<u64>,
}

/// Delta-seconds above this are read as this (RFC 9111 §1.2.2): 2 147 483 648.
pub const MAX_DELTA_SECONDS: u64 = 1 << 31;

/// Parses a `Cache-Control` header value: case-insensitive names, quoted values (with `\`
/// escapes; an unterminated quote runs to the end), commas inside quotes, unknown directives
/// ignored. Never panics; bogus numbers read as 0 (the safest reading: no freshness, no staleness).
#[must_use]
pub fn parse_cache_control(value: &str) -> CacheControl {
    let mut cc = CacheControl::default();
    let s = value.as_bytes();
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && (s[i] == b',' || s[i].is_ascii_whitespace()) {
            i += 1;
        }
        let start = i;
        while i < s.len() && s[i] != b',' && s[i] != b'=' {
            i += 1;
        }
        let name = value.get(start..i).unwrap_or("").trim();
        let mut arg: Option<String> = None;
        if i < s.len() && s[i] == b'=' {
            i += 1;
            while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
                i += 1;
            }
            // Copied as runs of `value` (every run ends before an ASCII byte or at the end, so
            // on a char boundary): no UTF-8 re-validation, no lossy-conversion code in the wasm.
            let mut v = String::new();
            if i < s.len() && s[i] == b'"' {
                i += 1;
                let mut from = i;
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' && i + 1 < s.len() {
                        v.push_str(value.get(from..i).unwrap_or(""));
                        i += 1;
                        from = i; // the escaped byte opens the next run
                    }
                    i += 1;
                }
                v.push_str(value.get(from..i).unwrap_or(""));
                // Skip the closing quote and anything up to the next comma.
                while i < s.len() && s[i] != b',' {
                    i += 1;
                }
            } else {
                let from = i;
                while i < s.len() && s[i] != b',' {
                    i += 1;
                }
                v.push_str(value.get(from..i).unwrap_or(""));
            }
            arg = Some(v.trim().to_owned());
        }
        let seconds = || arg.as_deref().map_or(0, delta_seconds);
        if name.eq_ignore_ascii_case("no-store") {
            cc.no_store = true;
        } else if name.eq_ignore_ascii_case("no-cache") {
            cc.no_cache = true;
        } else if name.eq_ignore_ascii_case("private") {
            cc.private = true;
        } else if name.eq_ignore_ascii_case("public") {
            cc.public = true;
        } else if name.eq_ignore_ascii_case("must-revalidate") {
            cc.must_revalidate = true;
        } else if name.eq_ignore_ascii_case("max-age") {
            let n = seconds();
            cc.max_age_s = Some(cc.max_age_s.map_or(n, |m| m.min(n)));
        } else if name.eq_ignore_ascii_case("stale-if-error") {
            let n = seconds();
            cc.stale_if_error_s = Some(cc.stale_if_error_s.map_or(n, |m| m.min(n)));
        }
    }
    cc
}

/// Digits only, saturating at [`MAX_DELTA_SECONDS`]; anything else is 0.
fn delta_seconds(v: &str) -> u64 {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    v.bytes()
        .fold(0u64, |n, b| {
            n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        })
        .min(MAX_DELTA_SECONDS)
}

/// Whether a response may enter the fallback cache, and its ttl. The rules, in order:
/// - only `GET` (ASCII case-insensitive): a `HEAD` response has no body to fall back on;
/// - only status 200: 203 is a proxy-transformed copy, 204/206 have no (whole) body to serve;
/// - never with `Vary: *` (no key can describe it);
/// - never with `no-store`, nor with `no-cache`, which forbids serving without revalidation
///   (RFC 9111 §4.2.4: no stale responses when a directive prohibits it);
/// - a credentialed request (`Authorization`, or `credentials: 'include'` to another origin)
///   only when the app opted in (`store_credentialed`, option `cache.storeCredentialed`): Cache
///   Storage outlives a sign-out, and a server's `public` must not make one user's answer
///   another's. `private` is fine: Cache Storage is this browser profile's private cache;
/// - `must-revalidate`: ttl = `max-age` (no stale serving beyond freshness; no max-age → not stored);
/// - else `stale-if-error=N`: ttl = `max-age` (0 if absent) + N seconds (RFC 5861);
/// - else ttl `None` (`cache.maxStaleMs` decides). A ttl of 0 means "not stored".
#[must_use]
pub fn cacheability(
    method: &str,
    status: u16,
    cache_control: Option<&str>,
    vary: Option<&str>,
    credentialed: bool,
    store_credentialed: bool,
) -> CachePolicy {
    if !method.eq_ignore_ascii_case("GET") || status != 200 {
        return NO_STORE;
    }
    if vary.is_some_and(|v| v.split(',').any(|t| t.trim() == "*")) {
        return NO_STORE;
    }
    let cc = parse_cache_control(cache_control.unwrap_or(""));
    if cc.no_store || cc.no_cache || (credentialed && !store_credentialed) {
        return NO_STORE;
    }
    let max_age = cc.max_age_s.unwrap_or(0);
    let ttl_s = if cc.must_revalidate {
        Some(max_age)
    } else {
        cc.stale_if_error_s.map(|sie| max_age.saturating_add(sie))
    };
    match ttl_s {
        Some(0) => NO_STORE,
        Some(s) => CachePolicy {
            store: true,
            ttl_ms: Some(s.saturating_mul(1000)),
        },
        None => CachePolicy {
            store: true,
            ttl_ms: None,
        },
    }
}

/// The index key of a request: upper-cased method, a space, the URL, then one line per header
/// named in `Vary` (`\n` + lower-cased name, plus `:` + trimmed value when present), sorted by
/// name, duplicates and empty names dropped, then [`CREDENTIALED_LINE`] for a credentialed
/// request (so an anonymous request is never answered with a credentialed response, nor the
/// reverse). An opaque string: the driver may embed it (encoded) in a synthetic Cache Storage URL.
#[must_use]
pub fn cache_key(
    method: &str,
    url: &str,
    vary_values: &[(&str, Option<&str>)],
    credentialed: bool,
) -> String {
    let mut vary: Vec<(String, Option<&str>)> = vary_values
        .iter()
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.map(str::trim)))
        // Header names are tokens (RFC 9110 §5.1): anything else is dropped, so no line can
        // forge the credentialed marker.
        .filter(|(n, _)| !n.is_empty() && n.bytes().all(is_token_byte))
        .collect();
    // Insertion sort: a Vary list is a handful of names, and a library sort would add kilobytes.
    for i in 1..vary.len() {
        let mut j = i;
        while j > 0 && vary[j - 1].0 > vary[j].0 {
            vary.swap(j - 1, j);
            j -= 1;
        }
    }
    vary.dedup_by(|a, b| a.0 == b.0);
    let mut key = method.to_ascii_uppercase();
    key.push(' ');
    key.push_str(url);
    for (name, value) in vary {
        key.push('\n');
        key.push_str(&name);
        if let Some(v) = value {
            key.push(':');
            key.push_str(v);
        }
    }
    if credentialed {
        key.push('\n');
        key.push_str(CREDENTIALED_LINE);
    }
    key
}

/// A `tchar` of RFC 9110 §5.6.2.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    #[cfg(not(target_arch = "wasm32"))]
    use super::{delta_seconds, CacheControl};

    /// The parser before diet step 6 (issue 13): it copied an argument byte by byte and converted
    /// it with `String::from_utf8_lossy`. The new one must read every header the same way.
    #[cfg(not(target_arch = "wasm32"))]
    fn reference_parse_cache_control(value: &str) -> CacheControl {
        let mut cc = CacheControl::default();
        let s = value.as_bytes();
        let mut i = 0;
        while i < s.len() {
            while i < s.len() && (s[i] == b',' || s[i].is_ascii_whitespace()) {
                i += 1;
            }
            let start = i;
            while i < s.len() && s[i] != b',' && s[i] != b'=' {
                i += 1;
            }
            let name = value.get(start..i).unwrap_or("").trim();
            let mut arg: Option<String> = None;
            if i < s.len() && s[i] == b'=' {
                i += 1;
                while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
                    i += 1;
                }
                let mut v = Vec::new();
                if i < s.len() && s[i] == b'"' {
                    i += 1;
                    while i < s.len() && s[i] != b'"' {
                        if s[i] == b'\\' && i + 1 < s.len() {
                            i += 1;
                        }
                        v.push(s[i]);
                        i += 1;
                    }
                    // Skip the closing quote and anything up to the next comma.
                    while i < s.len() && s[i] != b',' {
                        i += 1;
                    }
                } else {
                    while i < s.len() && s[i] != b',' {
                        v.push(s[i]);
                        i += 1;
                    }
                }
                arg = Some(String::from_utf8_lossy(&v).trim().to_owned());
            }
            let seconds = || arg.as_deref().map_or(0, delta_seconds);
            if name.eq_ignore_ascii_case("no-store") {
                cc.no_store = true;
            } else if name.eq_ignore_ascii_case("no-cache") {
                cc.no_cache = true;
            } else if name.eq_ignore_ascii_case("private") {
                cc.private = true;
            } else if name.eq_ignore_ascii_case("public") {
                cc.public = true;
            } else if name.eq_ignore_ascii_case("must-revalidate") {
                cc.must_revalidate = true;
            } else if name.eq_ignore_ascii_case("max-age") {
                let n = seconds();
                cc.max_age_s = Some(cc.max_age_s.map_or(n, |m| m.min(n)));
            } else if name.eq_ignore_ascii_case("stale-if-error") {
                let n = seconds();
                cc.stale_if_error_s = Some(cc.stale_if_error_s.map_or(n, |m| m.min(n)));
            }
        }
        cc
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #[test]
        fn cache_control_reads_as_before_step_6(parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just("max-age".to_owned()),
                proptest::strategy::Just("stale-if-error".to_owned()),
                proptest::strategy::Just("=".to_owned()),
                proptest::strategy::Just(",".to_owned()),
                proptest::strategy::Just("\"".to_owned()),
                proptest::strategy::Just("\\".to_owned()),
                proptest::strategy::Just(" ".to_owned()),
                proptest::strategy::Just("é".to_owned()),
                "[0-9]{0,12}",
                "\\PC{0,3}",
            ],
            0..30,
        )) {
            let s: String = parts.concat();
            proptest::prop_assert_eq!(super::parse_cache_control(&s), reference_parse_cache_control(&s));
        }
    }

    #[cfg(not(target_arch = "wasm32"))] // proptest is a native dev-dependency
    proptest::proptest! {
        // The hand-written sort is the library's stable sort by key (diet step 2, issue 13).
        #[test]
        fn order_matches_a_stable_library_sort(keys in proptest::collection::vec(0u64..8, 0..200)) {
            let mut want: Vec<usize> = (0..keys.len()).collect();
            want.sort_by_key(|&i| keys[i]);
            proptest::prop_assert_eq!(order(&keys), want);
        }
    }

    #[test]
    fn order_is_ascending_with_ties_in_input_order_and_dedup_keeps_one_of_each() {
        assert_eq!(order(&[5, 1, 5, 0, 1]), vec![3, 1, 4, 0, 2]);
        assert_eq!(order(&[]), Vec::<usize>::new());
        assert_eq!(order(&[7]), vec![0]);
        let mut out = dedup_strings(vec![
            "b".into(),
            "a".into(),
            "b".into(),
            "".into(),
            "a".into(),
            "c".into(),
        ]);
        out.sort_unstable();
        assert_eq!(out, vec!["", "a", "b", "c"]);
    }

    use super::*;

    #[test]
    fn parser_reads_quotes_case_and_duplicates() {
        let cc = parse_cache_control(
            r#"Max-Age="60", private="Set-Cookie, X-A", max-age=30, STALE-IF-ERROR=abc"#,
        );
        assert_eq!(cc.max_age_s, Some(30));
        assert!(cc.private && !cc.public);
        assert_eq!(cc.stale_if_error_s, Some(0));
        assert_eq!(
            parse_cache_control("max-age=99999999999999999999999").max_age_s,
            Some(MAX_DELTA_SECONDS)
        );
        assert_eq!(
            parse_cache_control("no-cache=\"unterminated, no-store"),
            CacheControl {
                no_cache: true,
                ..CacheControl::default()
            }
        );
    }

    #[test]
    fn cache_key_is_canonical() {
        let a = cache_key(
            "get",
            "https://x/a",
            &[("Accept", Some(" json ")), ("accept-language", None)],
            false,
        );
        let b = cache_key(
            "GET",
            "https://x/a",
            &[
                ("Accept-Language", None),
                ("ACCEPT", Some("json")),
                ("Accept", Some("other")),
            ],
            false,
        );
        assert_eq!(a, "GET https://x/a\naccept:json\naccept-language");
        assert_eq!(a, b);
        assert_ne!(
            a,
            cache_key("GET", "https://x/a", &[("Accept", Some("xml"))], false)
        );
    }

    #[test]
    fn reinsert_replaces_without_double_counting() {
        let mut c = CacheIndex::new(CacheConfig {
            max_bytes: 100,
            max_entries: 10,
            max_stale_ms: 1000,
            store_credentialed: false,
        });
        assert!(c.insert("a".into(), 60, Millis(0), None).stored);
        let out = c.insert("a".into(), 70, Millis(1), None);
        assert!(out.stored && out.evict.is_empty());
        assert_eq!((c.len(), c.bytes()), (1, 70));
        let out = c.insert("a".into(), 101, Millis(2), None);
        assert!(!out.stored);
        assert_eq!((c.len(), c.bytes()), (0, 0));
    }
}
