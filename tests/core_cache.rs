//! Rules of the fallback cache index and of `cacheability`.

use proptest::prelude::*;
use resource_guard::core::cache::*;
use resource_guard::core::config::CacheConfig;
use resource_guard::core::time::{Clock, ManualClock, Millis};

fn index(max_bytes: u64, max_entries: u32, max_stale_ms: u64) -> CacheIndex {
    CacheIndex::new(CacheConfig {
        max_bytes,
        max_entries,
        max_stale_ms,
        store_credentialed: false,
    })
}

#[test]
fn a_lookup_moves_an_entry_to_the_back_of_the_eviction_order() {
    let clock = ManualClock::new(1_000);
    let mut c = index(1_000, 3, 60_000);
    for k in ["a", "b", "c"] {
        assert!(c.insert(k.into(), 10, clock.now(), None).evict.is_empty());
        clock.advance(1);
    }
    assert_eq!(c.lookup("a", clock.now()), Lookup::Hit { age_ms: 3 });
    let out = c.insert("d".into(), 10, clock.now(), None);
    assert_eq!(
        out,
        InsertOutcome {
            stored: true,
            evict: vec!["b".into()]
        }
    );
    let keys: Vec<String> = c.entries().into_iter().map(|m| m.key).collect();
    assert_eq!(keys, vec!["c", "a", "d"]);
}

#[test]
fn the_byte_budget_evicts_least_recently_used_until_the_entry_fits() {
    let clock = ManualClock::new(0);
    let mut c = index(100, 10, 60_000);
    for (k, b) in [("a", 40), ("b", 30), ("c", 30)] {
        let _ = c.insert(k.into(), b, clock.now(), None);
    }
    assert_eq!(c.bytes(), 100);
    let out = c.insert("d".into(), 50, clock.now(), None);
    assert_eq!(out.evict, vec!["a", "b"]);
    assert_eq!((c.bytes(), c.len()), (80, 2));
}

#[test]
fn an_entry_larger_than_the_budget_is_not_stored_and_evicts_nothing() {
    let mut c = index(100, 10, 60_000);
    let _ = c.insert("a".into(), 100, Millis(0), None);
    let out = c.insert("big".into(), 101, Millis(0), None);
    assert_eq!(
        out,
        InsertOutcome {
            stored: false,
            evict: vec![]
        }
    );
    assert_eq!((c.len(), c.bytes()), (1, 100));
    assert_eq!(c.lookup("big", Millis(0)), Lookup::Miss);
}

#[test]
fn the_entry_cap_holds() {
    let mut c = index(u64::MAX, 2, 60_000);
    let _ = c.insert("a".into(), 1, Millis(0), None);
    let _ = c.insert("b".into(), 1, Millis(0), None);
    assert_eq!(c.insert("c".into(), 1, Millis(0), None).evict, vec!["a"]);
    assert_eq!(c.len(), 2);
    let mut none = index(100, 0, 60_000);
    assert!(!none.insert("a".into(), 1, Millis(0), None).stored);
}

#[test]
fn an_entry_is_served_until_one_ms_before_max_stale_and_expired_at_it() {
    let clock = ManualClock::new(10_000);
    let mut c = index(1_000, 10, 5_000);
    let _ = c.insert("a".into(), 1, clock.now(), None);
    clock.advance(4_999);
    assert_eq!(c.lookup("a", clock.now()), Lookup::Hit { age_ms: 4_999 });
    assert!(c.expire(clock.now()).is_empty());
    clock.advance(1);
    assert_eq!(c.lookup("a", clock.now()), Lookup::Expired);
    assert_eq!((c.len(), c.bytes()), (0, 0));
    assert_eq!(c.lookup("a", clock.now()), Lookup::Miss);
}

#[test]
fn an_entry_ttl_shorter_than_max_stale_bounds_it() {
    let clock = ManualClock::new(0);
    let mut c = index(1_000, 10, 5_000);
    let _ = c.insert("short".into(), 1, clock.now(), Some(2_000));
    let _ = c.insert("long".into(), 1, clock.now(), Some(9_000));
    clock.advance(1_999);
    assert!(c.expire(clock.now()).is_empty());
    clock.advance(1);
    assert_eq!(c.expire(clock.now()), vec!["short"]);
    clock.set(4_999);
    assert_eq!(c.lookup("long", clock.now()), Lookup::Hit { age_ms: 4_999 });
    clock.advance(1);
    assert_eq!(
        c.expire(clock.now()),
        vec!["long"],
        "max_stale_ms caps a longer ttl"
    );
}

#[test]
fn insert_reports_expired_entries_for_deletion() {
    let mut c = index(1_000, 10, 100);
    let _ = c.insert("old".into(), 1, Millis(0), None);
    let out = c.insert("new".into(), 1, Millis(100), None);
    assert_eq!(
        out,
        InsertOutcome {
            stored: true,
            evict: vec!["old".into()]
        }
    );
}

#[test]
fn clear_and_remove_free_their_bytes() {
    let mut c = index(1_000, 10, 1_000);
    let _ = c.insert("a".into(), 10, Millis(0), None);
    let _ = c.insert("b".into(), 20, Millis(0), None);
    c.remove("a");
    c.remove("zzz");
    assert_eq!(c.bytes(), 20);
    assert_eq!(c.clear(), (1, 20));
    assert!(c.is_empty());
}

#[test]
fn restore_skips_hostile_items_and_respects_budgets() {
    let now = Millis(100_000);
    let meta = |key: &str, bytes: u64, stored_at: u64, last_used: u64, ttl_ms: Option<u64>| {
        CacheEntryMeta {
            key: key.into(),
            bytes,
            stored_at: Millis(stored_at),
            last_used: Millis(last_used),
            ttl_ms,
        }
    };
    let mut c = index(100, 3, 50_000);
    let delete = c.restore(
        vec![
            meta("", 1, 99_000, 99_000, None),
            meta("future", 1, 200_000, 200_000, None),
            meta("expired", 1, 50_000, 99_000, None),
            meta("zero-ttl", 1, 99_000, 99_000, Some(0)),
            meta("huge", 101, 99_000, 99_000, None),
            meta(&"k".repeat(MAX_KEY_BYTES + 1), 1, 99_000, 99_000, None),
            meta("a", 40, 90_000, 91_000, None),
            meta("b", 40, 90_000, 92_000, None),
            meta("c", 40, 90_000, 93_000, None),
            meta("a", 10, 90_000, 94_000, None), // the later duplicate wins
            meta("d", 5, 90_000, 0, None),       // last_used before stored_at: read as stored_at
        ],
        now,
    );
    assert!(c.bytes() <= 100 && c.len() <= 3);
    let keys: Vec<String> = c.entries().into_iter().map(|m| m.key).collect();
    assert_eq!(keys, vec!["b", "c", "a"]);
    assert_eq!(c.bytes(), 90);
    for k in ["future", "expired", "zero-ttl", "huge", "d"] {
        assert!(delete.iter().any(|d| d == k), "{k} should be deleted");
    }
    assert!(!delete
        .iter()
        .any(|d| d.is_empty() || d == "a" || d == "b" || d == "c"));
}

/// method, status, Cache-Control, Vary, request had Authorization, expected policy.
type Row = (
    &'static str,
    u16,
    Option<&'static str>,
    Option<&'static str>,
    bool,
    CachePolicy,
);

#[test]
fn cacheability_table() {
    let p = |store: bool, ttl_ms: Option<u64>| CachePolicy { store, ttl_ms };
    let rows: &[Row] = &[
        ("GET", 200, None, None, false, p(true, None)),
        (
            "get",
            200,
            Some("public, max-age=60"),
            None,
            false,
            p(true, None),
        ),
        ("HEAD", 200, None, None, false, p(false, None)),
        ("POST", 200, Some("public"), None, false, p(false, None)),
        ("GET", 203, None, None, false, p(false, None)),
        ("GET", 204, None, None, false, p(false, None)),
        ("GET", 206, None, None, false, p(false, None)),
        ("GET", 304, None, None, false, p(false, None)),
        ("GET", 500, None, None, false, p(false, None)),
        ("GET", 200, Some("no-store"), None, false, p(false, None)),
        (
            "GET",
            200,
            Some("max-age=60, NO-STORE"),
            None,
            false,
            p(false, None),
        ),
        ("GET", 200, Some("no-cache"), None, false, p(false, None)),
        ("GET", 200, Some("private"), None, false, p(true, None)),
        ("GET", 200, None, Some("*"), false, p(false, None)),
        ("GET", 200, None, Some("Accept, *"), false, p(false, None)),
        (
            "GET",
            200,
            None,
            Some("Accept-Encoding"),
            false,
            p(true, None),
        ),
        ("GET", 200, None, None, true, p(false, None)),
        ("GET", 200, Some("max-age=60"), None, true, p(false, None)),
        // Issue 12: the server's `public` / `private` no longer opt a credentialed request in;
        // only the app can (`cache.storeCredentialed`, below).
        ("GET", 200, Some("private"), None, true, p(false, None)),
        ("GET", 200, Some("public"), None, true, p(false, None)),
        (
            "GET",
            200,
            Some("stale-if-error=600"),
            None,
            false,
            p(true, Some(600_000)),
        ),
        (
            "GET",
            200,
            Some("max-age=60, stale-if-error=600"),
            None,
            false,
            p(true, Some(660_000)),
        ),
        (
            "GET",
            200,
            Some("stale-if-error=0"),
            None,
            false,
            p(false, None),
        ),
        (
            "GET",
            200,
            Some("stale-if-error=soon"),
            None,
            false,
            p(false, None),
        ),
        (
            "GET",
            200,
            Some("max-age=60, must-revalidate, stale-if-error=600"),
            None,
            false,
            p(true, Some(60_000)),
        ),
        (
            "GET",
            200,
            Some("must-revalidate"),
            None,
            false,
            p(false, None),
        ),
        (
            "GET",
            200,
            Some("max-age=\"30\", must-revalidate"),
            None,
            false,
            p(true, Some(30_000)),
        ),
        (
            "GET",
            200,
            Some("private=\"a, no-store\""),
            None,
            false,
            p(true, None),
        ),
        ("GET", 200, Some(",,, ,=,=x,"), None, false, p(true, None)),
    ];
    for (method, status, cc, vary, auth, want) in rows {
        assert_eq!(
            cacheability(method, *status, *cc, *vary, *auth, false),
            *want,
            "{method} {status} {cc:?} {vary:?} auth={auth}"
        );
    }
}

proptest! {
    #[test]
    fn the_byte_and_entry_budgets_are_never_exceeded(
        ops in prop::collection::vec((0u8..4, 0u8..12, 0u64..400, 0u64..3000), 1..200),
        max_bytes in 1u64..1000,
        max_entries in 1u32..8,
    ) {
        let mut c = index(max_bytes, max_entries, 2_000);
        let mut now = 0u64;
        for (op, k, bytes, dt) in ops {
            now += dt / 10;
            let key = (b'a' + k) as char;
            match op {
                0 | 1 => {
                    let out = c.insert(key.to_string(), bytes, Millis(now), if op == 1 { Some(bytes * 5) } else { None });
                    prop_assert_eq!(out.stored, bytes <= max_bytes && (op == 0 || bytes > 0));
                    prop_assert!(!out.evict.contains(&key.to_string()) || !out.stored);
                }
                2 => { let _ = c.lookup(&key.to_string(), Millis(now)); }
                _ => { let _ = c.expire(Millis(now)); }
            }
            prop_assert!(c.bytes() <= max_bytes);
            prop_assert!(c.len() <= max_entries as usize);
            let entries = c.entries();
            prop_assert_eq!(entries.len(), c.len());
            prop_assert_eq!(entries.iter().map(|m| m.bytes).sum::<u64>(), c.bytes());
            prop_assert_eq!(entries.iter().map(|m| m.key.len()).sum::<usize>(), c.key_bytes());
        }
    }

    #[test]
    fn the_cache_control_parser_never_panics(s in any::<String>()) {
        let _ = parse_cache_control(&s);
        let _ = cacheability("GET", 200, Some(&s), Some(&s), true, true);
    }

    #[test]
    fn the_parser_survives_directive_soup(parts in prop::collection::vec(
        prop_oneof![
            Just("max-age".to_string()), Just("stale-if-error".to_string()), Just("no-store".to_string()),
            Just("=".to_string()), Just(",".to_string()), Just("\"".to_string()), Just("\\".to_string()),
            Just(" ".to_string()), "[0-9]{0,25}", "\\PC{0,3}",
        ], 0..30)) {
        let s: String = parts.concat();
        let cc = parse_cache_control(&s);
        prop_assert!(cc.max_age_s.is_none_or(|n| n <= MAX_DELTA_SECONDS));
        prop_assert!(cc.stale_if_error_s.is_none_or(|n| n <= MAX_DELTA_SECONDS));
        let p = cacheability("GET", 200, Some(&s), None, false, false);
        prop_assert!(!(p.store && cc.no_store));
        prop_assert!(p.ttl_ms != Some(0));
    }
}

// Issue 12: a response to a credentialed request (Authorization, or credentials: 'include' to
// another origin) is stored only when the app opted in, and then under the same HTTP rules.
#[test]
fn credentialed_responses_are_stored_only_with_the_apps_opt_in() {
    for cc in [
        None,
        Some("public, max-age=60"),
        Some("private"),
        Some("stale-if-error=60"),
    ] {
        assert!(
            !cacheability("GET", 200, cc, None, true, false).store,
            "{cc:?}"
        );
        assert_eq!(
            cacheability("GET", 200, cc, None, true, true),
            cacheability("GET", 200, cc, None, false, false),
            "{cc:?}"
        );
    }
    // The opt-in never overrides the server's no-store / no-cache, nor Vary: *.
    assert!(!cacheability("GET", 200, Some("no-store"), None, true, true).store);
    assert!(!cacheability("GET", 200, Some("no-cache"), None, true, true).store);
    assert!(!cacheability("GET", 200, None, Some("*"), true, true).store);
}

// Issue 12: a credentialed and an anonymous request for the same URL never share an entry, and
// no Vary name can forge the credentialed marker.
#[test]
fn credentialed_and_anonymous_requests_have_different_keys() {
    let anon = cache_key("GET", "https://a/x", &[("Accept", Some("json"))], false);
    let cred = cache_key("GET", "https://a/x", &[("Accept", Some("json"))], true);
    assert_ne!(anon, cred);
    assert_eq!(cred, format!("{anon}\n{CREDENTIALED_LINE}"));
    let forged = cache_key(
        "GET",
        "https://a/x",
        &[("Accept", Some("json")), (CREDENTIALED_LINE, None)],
        false,
    );
    assert_eq!(forged, anon, "a non-token Vary name is dropped");
}

// Issue 12: the per-URL Vary names come from the bounded index itself, not a map beside it.
#[test]
fn vary_names_are_read_back_from_the_index_and_go_with_their_entries() {
    let mut c = index(10_000, 2, 60_000);
    let de = cache_key(
        "GET",
        "https://a/x",
        &[("Accept-Language", Some("de"))],
        true,
    );
    assert!(c.insert(de.clone(), 10, Millis(0), None).stored);
    assert_eq!(c.vary_of("https://a/x").as_deref(), Some("accept-language"));
    assert_eq!(c.vary_of("https://a/y"), None);
    assert_eq!(c.vary_of("https://a/"), None, "no prefix match");
    // The most recently used entry for the URL wins (the server changed its Vary).
    let both = cache_key(
        "GET",
        "https://a/x",
        &[("Accept", None), ("Accept-Language", Some("de"))],
        false,
    );
    assert!(c.insert(both, 10, Millis(1), None).stored);
    assert_eq!(
        c.vary_of("https://a/x").as_deref(),
        Some("accept\naccept-language")
    );
    assert!(matches!(c.lookup(&de, Millis(2)), Lookup::Hit { .. }));
    assert_eq!(c.vary_of("https://a/x").as_deref(), Some("accept-language"));
    // Evicting the entries forgets their names: nothing outlives the budget.
    for i in 0..2 {
        assert!(
            c.insert(format!("GET https://b/{i}"), 10, Millis(3), None)
                .stored
        );
    }
    assert_eq!(c.vary_of("https://a/x"), None);
    assert_eq!(c.vary_of("https://b/1").as_deref(), Some(""));
}

// Issue 12: everything the index keeps is bounded, keys included.
#[test]
fn key_bytes_are_bounded_by_evicting_least_recently_used() {
    let mut c = index(u64::MAX / 2, 100_000, 60_000);
    let long = |i: usize| format!("GET https://a/{i:05}?{}", "q".repeat(MAX_KEY_BYTES - 40));
    let fit = MAX_INDEX_KEY_BYTES / long(0).len();
    for i in 0..fit {
        let out = c.insert(long(i), 1, Millis(0), None);
        assert!(out.stored && out.evict.is_empty(), "{i}");
    }
    let out = c.insert(long(fit), 1, Millis(0), None);
    assert!(out.stored);
    assert_eq!(out.evict, vec![long(0)]);
    assert!(c.key_bytes() <= MAX_INDEX_KEY_BYTES);
    assert_eq!(c.len(), fit);
    c.remove(&long(1));
    assert_eq!(c.key_bytes(), (fit - 1) * long(0).len());
    let _ = c.clear();
    assert_eq!(c.key_bytes(), 0);
}
