//! The fallback cache's index for the driver (`pkg-template/cache.js`): cacheability, keys, the
//! LRU/byte/entry budgets and expiry of [`CacheIndex`], with numbers and short strings only.
//!
//! ```js
//! const idx = new CacheCore(200000, NaN, NaN, false); // maxBytes, maxEntries, maxStaleMs (NaN: default), storeCredentialed
//! const ttl = idx.policy('GET', 200, 'max-age=60', undefined, false); // -1: never store
//! const key = idx.key('GET', url, 'accept:application/json', false);
//! if (ttl >= 0 && idx.insert(key, 2048, Date.now(), ttl)) { /* put the body */ }
//! for (const k of idx.takeEvicted()) { /* delete its body */ }
//! ```
//!
//! The bodies live in Cache Storage, never in wasm memory. Every `now` is wall-clock ms
//! (`Date.now()`): entries outlive the page. Keys the driver must delete from Cache Storage
//! (evicted, expired, refused on restore) collect in a list read with `takeEvicted`.

use crate::core::cache::{
    cache_key, cacheability, CacheEntryMeta, CacheIndex, Lookup, MAX_KEY_BYTES,
};
use crate::core::config::CacheConfig;
use crate::core::defaults as d;
use crate::core::time::Millis;
use wasm_bindgen::prelude::*;

/// Most persisted items staged for one restore, whatever the entry budget; more (and keys over
/// `MAX_KEY_BYTES`) are deleted unread (hostile storage).
const MAX_STAGED: usize = 100_000;

/// `lookup`: not in the index.
const L_MISS: f64 = -1.0;
/// `lookup`: too old; dropped from the index, its key is in `takeEvicted`.
const L_EXPIRED: f64 = -2.0;

/// The fallback cache's metadata index, driven by `cache.js`.
#[wasm_bindgen(js_name = CacheCore)]
#[derive(Debug)]
pub struct JsCacheCore {
    index: CacheIndex,
    store_credentialed: bool,
    /// Most entries staged for one restore (twice the entry budget).
    max_staged: usize,
    staged: Vec<CacheEntryMeta>,
    evicted: Vec<String>,
}

/// A validated option as a whole number in `1..=max` (NaN: `default`); never panics.
fn bounded(v: f64, default: u64, max: u64) -> u64 {
    if v.is_nan() {
        default
    } else {
        (v.max(1.0) as u64).min(max)
    }
}

/// A JS number as an optional ttl: negative or NaN is "none".
fn ttl_of(v: f64) -> Option<u64> {
    (v >= 0.0).then(|| Millis::from_f64(v).0)
}

#[wasm_bindgen(js_class = CacheCore)]
impl JsCacheCore {
    /// Builds an empty index from the `cache` options as numbers (NaN: the default of
    /// `core::defaults`). The guard's own core validated them first (same option paths and
    /// messages, `ERR_INVALID_OPTION`); here they are only clamped into their ranges, so this
    /// wasm carries no options parser.
    #[wasm_bindgen(constructor)]
    pub fn new(
        max_bytes: f64,
        max_entries: f64,
        max_stale_ms: f64,
        store_credentialed: bool,
    ) -> JsCacheCore {
        let cfg = CacheConfig {
            max_bytes: bounded(max_bytes, d::CACHE_MAX_BYTES, 1 << 40),
            max_entries: u32::try_from(bounded(
                max_entries,
                u64::from(d::CACHE_MAX_ENTRIES),
                100_000,
            ))
            .unwrap_or(d::CACHE_MAX_ENTRIES),
            max_stale_ms: bounded(max_stale_ms, d::CACHE_MAX_STALE_MS, 1 << 53),
            store_credentialed,
        };
        JsCacheCore {
            index: CacheIndex::new(cfg),
            store_credentialed: cfg.store_credentialed,
            max_staged: (cfg.max_entries as usize).saturating_mul(2).min(MAX_STAGED),
            staged: Vec::new(),
            evicted: Vec::new(),
        }
    }

    /// Whether a response may be stored: -1 never, 0 yes (only `maxStaleMs` limits its age), or
    /// its longest servable age in ms. `credentialed`: the request carried `Authorization` or
    /// was `credentials: 'include'` to another origin (stored only with `cache.storeCredentialed`).
    pub fn policy(
        &self,
        method: &str,
        status: u32,
        cache_control: Option<String>,
        vary: Option<String>,
        credentialed: bool,
    ) -> f64 {
        let p = cacheability(
            method,
            status.min(999) as u16,
            cache_control.as_deref(),
            vary.as_deref(),
            credentialed,
            self.store_credentialed,
        );
        match (p.store, p.ttl_ms) {
            (false, _) | (true, Some(0)) => -1.0,
            (true, None) => 0.0,
            (true, Some(t)) => t as f64,
        }
    }

    /// The index key of a request. `vary` holds one line per header the response varies on:
    /// `name:value`, or `name` alone when the request did not send it (lines split on `\n`;
    /// header values never contain one). `credentialed` as for `policy`.
    pub fn key(&self, method: &str, url: &str, vary: &str, credentialed: bool) -> String {
        let pairs: Vec<(&str, Option<&str>)> = vary
            .split('\n')
            .filter(|l| !l.trim().is_empty())
            .map(|l| match l.split_once(':') {
                Some((n, v)) => (n, Some(v)),
                None => (l, None),
            })
            .collect();
        cache_key(method, url, &pairs, credentialed)
    }

    /// The Vary names (`\n`-separated) stored with the most recently used entry for `url`, or
    /// undefined when none is indexed: what the driver needs to rebuild a key after an outage.
    #[wasm_bindgen(js_name = varyOf)]
    pub fn vary_of(&self, url: &str) -> Option<String> {
        self.index.vary_of(url)
    }

    /// Indexes a body of `bytes` stored at `now` (wall-clock ms) with `ttl_ms` as returned by
    /// `policy` (0: none). False: do not store it, and delete any body under `key`. Keys evicted
    /// to make room go to `takeEvicted`.
    pub fn insert(&mut self, key: String, bytes: f64, now: f64, ttl_ms: f64) -> bool {
        if !(bytes.is_finite() && bytes >= 0.0) {
            self.index.remove(&key);
            return false;
        }
        let ttl = if ttl_ms > 0.0 { ttl_of(ttl_ms) } else { None };
        // An eviction not yet taken must not delete the body stored now.
        self.evicted.retain(|k| *k != key);
        let out = self
            .index
            .insert(key, Millis::from_f64(bytes).0, Millis::from_f64(now), ttl);
        self.evicted.extend(out.evict);
        out.stored
    }

    /// Looks `key` up at `now` (wall-clock ms): its age in ms (a hit, now the most recently
    /// used), -1 not indexed, or -2 too old (dropped; its key is in `takeEvicted`).
    pub fn lookup(&mut self, key: &str, now: f64) -> f64 {
        match self.index.lookup(key, Millis::from_f64(now)) {
            Lookup::Hit { age_ms } => age_ms as f64,
            Lookup::Miss => L_MISS,
            Lookup::Expired => {
                self.evicted.push(key.to_owned());
                L_EXPIRED
            }
        }
    }

    /// Drops `key` from the index (its body is gone or the driver deletes it).
    pub fn remove(&mut self, key: &str) {
        self.index.remove(key);
    }

    /// Drops every entry; the driver empties Cache Storage itself.
    pub fn clear(&mut self) {
        let _ = self.index.clear();
        self.staged.clear();
    }

    /// Drops entries too old at `now` (wall-clock ms); their keys go to `takeEvicted`.
    pub fn expire(&mut self, now: f64) {
        let dead = self.index.expire(Millis::from_f64(now));
        self.evicted.extend(dead);
    }

    /// Indexed entries.
    pub fn len(&self) -> u32 {
        self.index.len() as u32
    }

    /// Whether nothing is indexed.
    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Indexed body bytes (never above `maxBytes`).
    pub fn bytes(&self) -> f64 {
        self.index.bytes() as f64
    }

    /// Stages one persisted entry for `restore` (hostile input: numbers as read from stored
    /// headers, NaN when unreadable). An entry with an unusable size or time is deleted.
    pub fn stage(&mut self, key: String, bytes: f64, stored_at: f64, ttl_ms: f64) {
        let valid = |v: f64| v.is_finite() && v >= 0.0;
        if !valid(bytes)
            || !valid(stored_at)
            || key.len() > MAX_KEY_BYTES
            || self.staged.len() >= self.max_staged
        {
            if !key.is_empty() {
                self.evicted.push(key);
            }
            return;
        }
        let at = Millis::from_f64(stored_at);
        self.staged.push(CacheEntryMeta {
            key,
            bytes: Millis::from_f64(bytes).0,
            stored_at: at,
            last_used: at,
            ttl_ms: if ttl_ms > 0.0 { ttl_of(ttl_ms) } else { None },
        });
    }

    /// Rebuilds the index from the staged entries at `now` (wall-clock ms): expired, oversized,
    /// future-dated and over-budget entries go to `takeEvicted`.
    pub fn restore(&mut self, now: f64) {
        let items = core::mem::take(&mut self.staged);
        let delete = self.index.restore(items, Millis::from_f64(now));
        self.evicted.extend(delete);
        // A key refused by `stage` may have been indexed by a valid duplicate.
        let index = &self.index;
        let live: Vec<String> = index.entries().into_iter().map(|m| m.key).collect();
        self.evicted.retain(|k| !live.contains(k));
    }

    /// The keys whose bodies must be deleted from Cache Storage since the last call.
    #[wasm_bindgen(js_name = takeEvicted)]
    pub fn take_evicted(&mut self) -> Vec<String> {
        core::mem::take(&mut self.evicted)
    }
}
