//! The breach reporter's brain: it dedupes breaches, batches them into W3C Reporting API
//! bodies under a byte quota, and paces sending by its own rate limit and the server's backoff.
//!
//! ```
//! use resource_guard::core::json::{parse, JsonWriter, Value};
//! use resource_guard::core::report::{Breach, ReportKind, Reporter};
//! use resource_guard::core::time::Millis;
//!
//! let mut r = Reporter::new(6, 10_000, 60_000, "https://app.example/page?token=s3cret".into(), "Mozilla/5.0".into(), false);
//! let mut body = JsonWriter::new();
//! body.raw("{").key("level").str("critical").key("used_bytes").u64(48_000_000).raw("}");
//! for at in [1_000, 2_000] {
//!     r.push(Breach { kind: ReportKind::Heap, key: "heap:critical".into(), body_json: body.out.clone(), at: Millis(at) });
//! }
//! assert!(r.poll(Millis(10_999)).is_none()); // the flush interval runs from the first breach
//! let batch = r.poll(Millis(11_000)).unwrap();
//! let reports = parse(&batch.json).unwrap();
//! let Value::Arr(items) = &reports else { panic!() };
//! assert_eq!(items[0].get("type").and_then(Value::as_str), Some("resource-guard-heap"));
//! assert_eq!(items[0].get("url").and_then(Value::as_str), Some("https://app.example/page"));
//! assert_eq!(items[0].get("age").and_then(Value::as_f64), Some(10_000.0));
//! assert_eq!(items[0].get("body").and_then(|b| b.get("count")).and_then(Value::as_f64), Some(2.0));
//! r.on_sent(batch.id, Millis(11_050));
//! ```
//!
//! # Rules
//! * **Dedupe.** A breach whose `key` is pending (or in flight) adds to that report's `count`.
//!   After a key was sent, the same key is suppressed while it persists, i.e. while
//!   `breach.at − last send < dedupe_window_ms` ([`DEDUPE_WINDOW_MS`]); suppressed repeats are
//!   added to the `count` of that key's next report.
//! * **Bounds.** At most [`MAX_PENDING`] reports wait; beyond that the oldest is dropped and
//!   counted in [`ReportStats::dropped`].
//! * **When.** [`Reporter::poll`] returns a batch once `flush_interval_ms` has passed since the
//!   oldest pending report was queued (or the pending reports are estimated to fill a batch),
//!   fewer than `max_per_minute` batches left in the last 60 000 ms (sliding), and no server
//!   backoff is active.
//! * **Size.** A batch's JSON is at most `max_batch_bytes` bytes (UTF-8). A report that cannot
//!   fit alone is cut down to a minimal body `{"count":n,"truncated":true}` (type, age, url and
//!   user_agent are kept), and dropped only if even that does not fit.
//! * **Failure.** [`Reporter::on_failed`] requeues the batch and backs off: exactly
//!   `retry_after_ms` when the server gave one (429/503), else 1 s doubling to 60 s.
//!   [`Reporter::on_failed_retry_after`] takes the raw `Retry-After` header and reads it with the
//!   package's one parser ([`parse_retry_after`]).
//! * **Kept across page loads.** On page hide, what did not fit the keepalive quota is kept for
//!   the next page load by [`Reporter::keep_json`]: merged with what is already kept (another tab
//!   or an earlier hide of this page), deduped by key, and at most [`MAX_KEPT_BYTES`] of JSON
//!   (the newest first; bodies cut to `{count, truncated}` before reports are dropped).

use std::collections::VecDeque;

use super::json::{self, JsonWriter, Value};
use super::retry::retry_after::parse_retry_after;
use super::time::{Millis, MAX_TIMER_MS};

/// Most reports waiting to be sent: 200.
pub const MAX_PENDING: usize = 200;
/// How long a sent key stays suppressed: 60 000 ms.
pub const DEDUPE_WINDOW_MS: u64 = 60_000;
/// The sliding window of `max_per_minute`: 60 000 ms.
pub const RATE_WINDOW_MS: u64 = 60_000;
/// Total bytes of all batches from one [`Reporter::flush_all`] (the browser's keepalive quota): 65 536.
pub const KEEPALIVE_QUOTA_BYTES: usize = 65_536;
/// Smallest `max_batch_bytes` honoured (smaller values are raised): 512 bytes.
pub const MIN_BATCH_BYTES: usize = 512;
/// First backoff after a failed batch without a server hint: 1 000 ms.
pub const BACKOFF_INITIAL_MS: u64 = 1_000;
/// Longest computed backoff: 60 000 ms.
pub const BACKOFF_MAX_MS: u64 = 60_000;
/// Longest dedupe key kept (longer keys are cut at a character boundary): 256 bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Longest page URL or user agent kept (cut at a character boundary): 2 048 bytes.
pub const MAX_URL_BYTES: usize = 2_048;
/// Sent keys remembered for dedupe; the least recently touched are forgotten first: 256.
pub const MAX_TRACKED_KEYS: usize = 256;
/// Batches awaiting `on_sent`/`on_failed`; older ones are forgotten and counted as dropped: 16.
pub const MAX_IN_FLIGHT: usize = 16;
/// Longest JSON [`Reporter::keep_json`] returns for the driver to keep (`localStorage`): 131 072
/// bytes, well below [`MAX_RESTORE_BYTES`], so what is kept is always read back.
pub const MAX_KEPT_BYTES: usize = 131_072;
/// Longest text [`Reporter::restore_pending_json`] reads (longer input is ignored): 1 048 576 bytes.
pub const MAX_RESTORE_BYTES: usize = 1 << 20;

/// What a report is about; its `type` string on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReportKind {
    /// `resource-guard-heap`: a heap level was entered.
    Heap,
    /// `resource-guard-longtask`: too many long tasks in a window.
    LongTask,
    /// `resource-guard-shed`: work was shed.
    Shed,
    /// `resource-guard-breaker`: a circuit breaker opened.
    Breaker,
    /// `resource-guard-dead-letter`: an upload batch became a dead letter.
    DeadLetter,
    /// `resource-guard-quota`: storage refused records (`QuotaExceededError`).
    Quota,
}

impl ReportKind {
    /// The W3C report `type`, e.g. `resource-guard-heap`.
    #[must_use]
    pub fn type_str(self) -> &'static str {
        match self {
            ReportKind::Heap => "resource-guard-heap",
            ReportKind::LongTask => "resource-guard-longtask",
            ReportKind::Shed => "resource-guard-shed",
            ReportKind::Breaker => "resource-guard-breaker",
            ReportKind::DeadLetter => "resource-guard-dead-letter",
            ReportKind::Quota => "resource-guard-quota",
        }
    }

    /// The kind for a `type` string; `None` for anything else.
    #[must_use]
    pub fn from_type_str(s: &str) -> Option<ReportKind> {
        [
            ReportKind::Heap,
            ReportKind::LongTask,
            ReportKind::Shed,
            ReportKind::Breaker,
            ReportKind::DeadLetter,
            ReportKind::Quota,
        ]
        .into_iter()
        .find(|k| k.type_str() == s)
    }
}

/// One occurrence of a breach, as the guard observed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// What it is about.
    pub kind: ReportKind,
    /// Dedupe key, e.g. `heap:critical` or `breaker:https://api.example` (cut to [`MAX_KEY_BYTES`]).
    pub key: String,
    /// The report's `body` object as JSON text (built with `JsonWriter`); anything that does not
    /// parse as an object is replaced by `{}`. Must not contain `count` (the reporter adds it).
    pub body_json: String,
    /// When it happened.
    pub at: Millis,
}

/// One request body for the report endpoint (`Content-Type: application/reports+json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportBatch {
    /// Pass it back to [`Reporter::on_sent`] / [`Reporter::on_failed`].
    pub id: u32,
    /// The request body: a JSON array of reports, at most `max_batch_bytes` bytes.
    pub json: String,
    /// Reports in the array.
    pub count: usize,
}

/// Counters for `guard.snapshot()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportStats {
    /// Reports acknowledged by [`Reporter::on_sent`].
    pub sent: u64,
    /// Reports dropped: store overflow, unsendable even when truncated, or forgotten in flight.
    pub dropped: u64,
    /// Breach occurrences folded into another report's `count` instead of being queued.
    pub deduped: u64,
    /// Reports waiting.
    pub pending: usize,
    /// Batches awaiting `on_sent` / `on_failed`.
    pub in_flight: usize,
}

#[derive(Clone, Debug)]
struct Pending {
    kind: ReportKind,
    key: String,
    /// A validated JSON object text, trimmed; `{}` when empty or truncated.
    body: String,
    truncated: bool,
    count: u64,
    /// First occurrence: `age` counts from here.
    at: Millis,
    /// When it joined the queue: the flush interval counts from here.
    queued_at: Millis,
    /// The page a restored report came from (`None`: this page).
    url: Option<String>,
}

#[derive(Clone, Debug)]
struct KeyState {
    last_sent: Option<Millis>,
    suppressed: u64,
    touched: Millis,
}

#[derive(Clone, Debug)]
struct InFlight {
    id: u32,
    items: Vec<Pending>,
}

/// Breach aggregation, dedupe, batching and pacing. Memory is bounded by the constants above.
#[derive(Clone, Debug)]
pub struct Reporter {
    max_per_minute: u32,
    flush_interval_ms: u64,
    max_batch_bytes: usize,
    dedupe_window_ms: u64,
    page_url: String,
    user_agent: String,
    keep_url_query: bool,
    pending: Vec<Pending>,
    keys: KeyMap,
    in_flight: Vec<InFlight>,
    /// Newest batch start times, at most `max_per_minute`.
    sends: VecDeque<Millis>,
    backoff_until: Millis,
    failures: u32,
    next_id: u32,
    stats: ReportStats,
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// Removes `?query` and `#fragment` (unless `keep`) and caps the length.
fn clean_url(url: &str, keep: bool) -> String {
    let u = if keep {
        url
    } else {
        url.split(['?', '#']).next().unwrap_or("")
    };
    cut(u, MAX_URL_BYTES).to_owned()
}

/// Writes a parsed value back as JSON (numbers with at most three decimals).
fn write_value(w: &mut JsonWriter, v: &Value) {
    match v {
        Value::Null => {
            w.raw("null");
        }
        Value::Bool(b) => {
            w.bool(*b);
        }
        Value::Num(n) => {
            w.f64(*n);
        }
        Value::Str(s) => {
            w.str(s);
        }
        Value::Arr(items) => {
            w.raw("[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    w.raw(",");
                }
                write_value(w, item);
            }
            w.raw("]");
        }
        Value::Obj(members) => {
            w.raw("{");
            for (k, item) in members {
                w.key(k);
                write_value(w, item);
            }
            w.raw("}");
        }
    }
}

impl Reporter {
    /// A reporter sending at most `max_per_minute` batches per sliding minute (0 counts as 1),
    /// each flushed `flush_interval_ms` after its oldest report, each at most `max_batch_bytes`
    /// bytes (raised to [`MIN_BATCH_BYTES`]). `page_url` loses its query and fragment unless
    /// `keep_url_query`; it and `user_agent` are cut to [`MAX_URL_BYTES`].
    #[must_use]
    pub fn new(
        max_per_minute: u32,
        flush_interval_ms: u64,
        max_batch_bytes: usize,
        page_url: String,
        user_agent: String,
        keep_url_query: bool,
    ) -> Self {
        Reporter {
            max_per_minute: max_per_minute.max(1),
            flush_interval_ms,
            max_batch_bytes: max_batch_bytes.max(MIN_BATCH_BYTES),
            dedupe_window_ms: DEDUPE_WINDOW_MS,
            page_url: clean_url(&page_url, keep_url_query),
            user_agent: cut(&user_agent, MAX_URL_BYTES).to_owned(),
            keep_url_query,
            pending: Vec::new(),
            keys: KeyMap::default(),
            in_flight: Vec::new(),
            sends: VecDeque::new(),
            backoff_until: Millis(0),
            failures: 0,
            next_id: 1,
            stats: ReportStats::default(),
        }
    }

    /// Replaces the dedupe window (default [`DEDUPE_WINDOW_MS`]), in ms.
    #[must_use]
    pub fn with_dedupe_window_ms(mut self, dedupe_window_ms: u64) -> Self {
        self.dedupe_window_ms = dedupe_window_ms;
        self
    }

    /// Queues one breach occurrence, deduping by key (see the module docs).
    pub fn push(&mut self, breach: Breach) {
        let key = cut(&breach.key, MAX_KEY_BYTES);
        if let Some(p) = self.pending.iter_mut().find(|p| p.key == key) {
            p.count = p.count.saturating_add(1);
            self.stats.deduped = self.stats.deduped.saturating_add(1);
            return;
        }
        let in_flight = self
            .in_flight
            .iter()
            .any(|b| b.items.iter().any(|p| p.key == key));
        if let Some(ks) = self.keys.get_mut(key) {
            let persists = ks
                .last_sent
                .is_some_and(|t| breach.at.since(t) < self.dedupe_window_ms);
            if in_flight || persists {
                ks.suppressed = ks.suppressed.saturating_add(1);
                ks.touched = ks.touched.max(breach.at);
                self.stats.deduped = self.stats.deduped.saturating_add(1);
                return;
            }
        }
        let suppressed = self
            .keys
            .get_mut(key)
            .map_or(0, |ks| std::mem::take(&mut ks.suppressed));
        let (body, truncated) = self.normalise_body(&breach.body_json);
        self.pending.push(Pending {
            kind: breach.kind,
            key: key.to_owned(),
            body,
            truncated,
            count: suppressed.saturating_add(1),
            at: breach.at,
            queued_at: breach.at,
            url: None,
        });
        self.enforce_bound();
    }

    /// Returns one batch when one is due and allowed (see the module docs), else `None`.
    pub fn poll(&mut self, now: Millis) -> Option<ReportBatch> {
        if self.pending.is_empty() || now < self.backoff_until || self.rate_free_at(now) > now {
            return None;
        }
        if now < self.due_at() {
            return None;
        }
        let budget = self.max_batch_bytes;
        self.take_batch(now, budget)
    }

    /// On page hide: every batch that fits now, ignoring the flush interval and the own rate
    /// limit (the batches still count toward it) but not a server backoff (then nothing is
    /// returned). Each batch is at most `max_batch_bytes` and all together at most
    /// [`KEEPALIVE_QUOTA_BYTES`]; the rest stays pending for [`Reporter::drain_pending_json`].
    pub fn flush_all(&mut self, now: Millis) -> Vec<ReportBatch> {
        let mut out = Vec::new();
        if now < self.backoff_until {
            return out;
        }
        let mut quota = KEEPALIVE_QUOTA_BYTES;
        while !self.pending.is_empty() {
            let Some(b) = self.take_batch(now, self.max_batch_bytes.min(quota)) else {
                break;
            };
            quota = quota.saturating_sub(b.json.len());
            out.push(b);
        }
        out
    }

    /// The batch `batch_id` was accepted (2xx): its keys start their dedupe window at `now`,
    /// and the backoff resets. Unknown ids only reset the backoff.
    pub fn on_sent(&mut self, batch_id: u32, now: Millis) {
        self.failures = 0;
        self.backoff_until = Millis(0);
        let Some(i) = self.in_flight.iter().position(|b| b.id == batch_id) else {
            return;
        };
        let Some(batch) = super::remove_at(&mut self.in_flight, i) else {
            return;
        };
        self.stats.sent = self.stats.sent.saturating_add(batch.items.len() as u64);
        for p in batch.items {
            let ks = self.keys.or_insert(
                p.key,
                KeyState {
                    last_sent: None,
                    suppressed: 0,
                    touched: now,
                },
            );
            ks.last_sent = Some(now);
            ks.touched = now;
        }
        self.prune_keys(now);
    }

    /// The batch `batch_id` failed: its reports go back to the front of the queue (with any
    /// repeats suppressed meanwhile; the oldest are dropped beyond [`MAX_PENDING`]) and sending
    /// backs off until `now + retry_after_ms` exactly (capped at [`MAX_TIMER_MS`]) when the
    /// server gave a hint, else `now + 1 s × 2^(failures − 1)`, at most [`BACKOFF_MAX_MS`].
    pub fn on_failed(&mut self, batch_id: u32, now: Millis, retry_after_ms: Option<u64>) {
        self.failures = self.failures.saturating_add(1);
        let delay = match retry_after_ms {
            Some(ms) => ms.min(MAX_TIMER_MS),
            None => {
                let shift = self.failures.saturating_sub(1).min(16);
                (BACKOFF_INITIAL_MS << shift).min(BACKOFF_MAX_MS)
            }
        };
        self.backoff_until = now.plus(delay);
        let Some(i) = self.in_flight.iter().position(|b| b.id == batch_id) else {
            return;
        };
        let Some(batch) = super::remove_at(&mut self.in_flight, i) else {
            return;
        };
        let mut requeue = Vec::with_capacity(batch.items.len());
        for mut p in batch.items {
            if let Some(ks) = self.keys.get_mut(&p.key) {
                p.count = p.count.saturating_add(std::mem::take(&mut ks.suppressed));
            }
            if let Some(q) = self.pending.iter_mut().find(|q| q.key == p.key) {
                q.count = q.count.saturating_add(p.count);
                q.at = q.at.min(p.at);
                q.queued_at = q.queued_at.min(p.queued_at);
            } else {
                requeue.push(p);
            }
        }
        requeue.append(&mut self.pending);
        self.pending = requeue;
        self.enforce_bound();
    }

    /// [`Reporter::on_failed`] with the raw `Retry-After` header of the answer (`None`: none, or
    /// no answer), read by [`parse_retry_after`] against `now_wall_ms` (ms since the epoch, for
    /// the HTTP-date form). A malformed value counts as no hint.
    pub fn on_failed_retry_after(
        &mut self,
        batch_id: u32,
        now: Millis,
        retry_after: Option<&str>,
        now_wall_ms: u64,
    ) {
        let hint = retry_after.and_then(|v| parse_retry_after(v, now_wall_ms));
        self.on_failed(batch_id, now, hint);
    }

    /// When [`Reporter::poll`] may next return a batch (at least `now`); `None` when nothing
    /// is pending.
    #[must_use]
    pub fn next_wake(&self, now: Millis) -> Option<Millis> {
        if self.pending.is_empty() {
            return None;
        }
        Some(
            self.due_at()
                .max(self.backoff_until)
                .max(self.rate_free_at(now))
                .max(now),
        )
    }

    /// Reports waiting.
    #[must_use]
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Counters: sent, dropped, deduped, pending, in flight.
    #[must_use]
    pub fn stats(&self) -> ReportStats {
        ReportStats {
            pending: self.pending.len(),
            in_flight: self.in_flight.len(),
            ..self.stats
        }
    }

    /// Empties the queue into one JSON array for the driver to persist across page loads: the
    /// wire objects (ages as of `now`) plus a `key` member each. Deviation from the brief: it
    /// takes `now`, because `age` needs it and core never reads a clock.
    pub fn drain_pending_json(&mut self, now: Millis) -> String {
        let mut w = JsonWriter::new();
        w.raw("[");
        for (i, p) in std::mem::take(&mut self.pending).iter().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            self.write_item(&mut w, p, now, p.truncated, Some(&p.key));
        }
        w.raw("]");
        w.out
    }

    /// Empties the queue for the driver to keep across a page unload, merged with `kept` (what
    /// is kept already: an earlier hide of this page or another tab with the same endpoint;
    /// hostile, read as by [`Reporter::restore_pending_json`]; empty for none). The result is a
    /// JSON array like [`Reporter::drain_pending_json`]'s, at most [`MAX_KEPT_BYTES`]: the newest
    /// reports are kept first, a report that no longer fits whole is kept as
    /// `{count, truncated}`, and what does not fit even so is dropped (counted in `dropped`).
    pub fn keep_json(&mut self, kept: &str, now: Millis) -> String {
        if !kept.is_empty() {
            self.restore_pending_json(kept, now);
        }
        let pending = std::mem::take(&mut self.pending);
        let mut chosen: Vec<String> = Vec::new();
        let mut used = 2usize; // `[` and `]`
        let mut one = JsonWriter::new();
        let mut dropped = 0u64;
        for p in pending.iter().rev() {
            let sep = usize::from(!chosen.is_empty());
            one.out.clear();
            self.write_item(&mut one, p, now, p.truncated, Some(&p.key));
            if used + sep + one.out.len() > MAX_KEPT_BYTES {
                one.out.clear();
                self.write_item(&mut one, p, now, true, Some(&p.key));
            }
            if used + sep + one.out.len() > MAX_KEPT_BYTES {
                dropped += 1;
                continue;
            }
            used += sep + one.out.len();
            chosen.push(std::mem::take(&mut one.out));
        }
        self.stats.dropped = self.stats.dropped.saturating_add(dropped);
        let mut w = JsonWriter::new();
        w.raw("[");
        for (i, item) in chosen.iter().rev().enumerate() {
            if i > 0 {
                w.raw(",");
            }
            w.raw(item);
        }
        w.raw("]");
        w.out
    }

    /// Re-queues what [`Reporter::drain_pending_json`] produced on an earlier page. The text is
    /// hostile: input over [`MAX_RESTORE_BYTES`] or not a JSON array is ignored; an item is
    /// accepted only with a known `type` and an object `body`. `age` (default 0) is kept, so
    /// `at = now − age`; `body.count` (a number ≥ 1, default 1) becomes the count; a missing
    /// `key` becomes the type; a string `url` is kept (cleaned like the page URL). Items whose
    /// key is already pending are merged; the store stays within [`MAX_PENDING`] by dropping
    /// the oldest (restored items count as older than current ones).
    pub fn restore_pending_json(&mut self, text: &str, now: Millis) {
        if text.len() > MAX_RESTORE_BYTES {
            return;
        }
        let Ok(Value::Arr(items)) = json::parse(text) else {
            return;
        };
        let mut restored: Vec<Pending> = Vec::new();
        for item in &items {
            let Some(kind) = item
                .get("type")
                .and_then(Value::as_str)
                .and_then(ReportKind::from_type_str)
            else {
                continue;
            };
            let Some(Value::Obj(members)) = item.get("body") else {
                continue;
            };
            let num = |v: Option<&Value>| {
                v.and_then(Value::as_f64)
                    .filter(|n| n.is_finite() && *n >= 0.0)
            };
            let count =
                num(item.get("body").and_then(|b| b.get("count"))).map_or(1, |n| (n as u64).max(1));
            let age = Millis::from_f64(num(item.get("age")).unwrap_or(0.0)).0;
            let key = match item.get("key").and_then(Value::as_str) {
                Some(k) if !k.is_empty() => cut(k, MAX_KEY_BYTES).to_owned(),
                _ => kind.type_str().to_owned(),
            };
            let url = item
                .get("url")
                .and_then(Value::as_str)
                .map(|u| clean_url(u, self.keep_url_query));
            let was_truncated =
                item.get("body").and_then(|b| b.get("truncated")) == Some(&Value::Bool(true));
            let kept: Vec<(String, Value)> = members
                .iter()
                .filter(|(k, _)| k != "count" && k != "truncated")
                .cloned()
                .collect();
            let mut w = JsonWriter::new();
            write_value(&mut w, &Value::Obj(kept));
            let (body, truncated) = if was_truncated {
                ("{}".to_owned(), true)
            } else {
                self.normalise_body(&w.out)
            };
            let at = Millis(now.0.saturating_sub(age));
            let p = Pending {
                kind,
                key,
                body,
                truncated,
                count,
                at,
                queued_at: now,
                url,
            };
            if let Some(q) = self
                .pending
                .iter_mut()
                .chain(restored.iter_mut())
                .find(|q| q.key == p.key)
            {
                q.count = q.count.saturating_add(p.count);
                q.at = q.at.min(p.at);
                self.stats.deduped = self.stats.deduped.saturating_add(1);
            } else {
                restored.push(p);
            }
        }
        restored.append(&mut self.pending);
        self.pending = restored;
        self.enforce_bound();
    }

    /// Validates a body: an object's trimmed text, `{}` for anything else, and `{}` + truncated
    /// when it could never fit a batch anyway (saves memory).
    fn normalise_body(&self, text: &str) -> (String, bool) {
        if text.len() > self.max_batch_bytes {
            return ("{}".to_owned(), true);
        }
        match json::parse(text) {
            Ok(Value::Obj(m)) if !m.is_empty() => (text.trim().to_owned(), false),
            _ => ("{}".to_owned(), false),
        }
    }

    fn enforce_bound(&mut self) {
        if self.pending.len() > MAX_PENDING {
            let excess = self.pending.len() - MAX_PENDING;
            self.pending.drain(..excess);
            self.stats.dropped = self.stats.dropped.saturating_add(excess as u64);
        }
    }

    /// When the flush interval of the oldest pending report ends, or at once if the pending
    /// reports are estimated (raw lengths + 100 bytes each) to fill a batch.
    fn due_at(&self) -> Millis {
        let mut est = 2usize;
        let mut oldest = Millis(u64::MAX);
        for p in &self.pending {
            let url = p.url.as_ref().map_or(self.page_url.len(), String::len);
            est = est.saturating_add(p.body.len() + url + self.user_agent.len() + 100);
            oldest = oldest.min(p.queued_at);
        }
        if est >= self.max_batch_bytes {
            Millis(0)
        } else {
            oldest.plus(self.flush_interval_ms)
        }
    }

    /// When the own rate limit next allows a batch (`now` if it does).
    fn rate_free_at(&self, now: Millis) -> Millis {
        let in_window = self
            .sends
            .iter()
            .filter(|t| now.since(**t) < RATE_WINDOW_MS)
            .count();
        if in_window < self.max_per_minute as usize {
            return now;
        }
        // `sends` holds the newest `max_per_minute` starts: a slot frees when the oldest leaves.
        self.sends.front().map_or(now, |t| t.plus(RATE_WINDOW_MS))
    }

    fn write_item(
        &self,
        w: &mut JsonWriter,
        p: &Pending,
        now: Millis,
        minimal: bool,
        key: Option<&str>,
    ) {
        w.raw("{")
            .key("type")
            .str(p.kind.type_str())
            .key("age")
            .u64(now.since(p.at));
        w.key("url").str(p.url.as_deref().unwrap_or(&self.page_url));
        w.key("user_agent").str(&self.user_agent).key("body");
        if minimal || p.truncated {
            w.raw("{")
                .key("count")
                .u64(p.count)
                .key("truncated")
                .bool(true)
                .raw("}");
        } else if p.body == "{}" {
            w.raw("{").key("count").u64(p.count).raw("}");
        } else {
            // A validated, non-empty object: drop its closing brace and append the count.
            let open = p.body.strip_suffix('}').unwrap_or("{").trim_end();
            w.raw(open).raw(",").raw("\"count\":").u64(p.count).raw("}");
        }
        if let Some(k) = key {
            w.key("key").str(k);
        }
        w.raw("}");
    }

    /// Moves reports from the front of the queue into one batch of at most `budget` bytes.
    fn take_batch(&mut self, now: Millis, budget: usize) -> Option<ReportBatch> {
        let mut w = JsonWriter::new();
        w.raw("[");
        let mut items: Vec<Pending> = Vec::new();
        let mut one = JsonWriter::new();
        while let Some(p) = self.pending.first() {
            let sep = usize::from(!items.is_empty());
            one.out.clear();
            self.write_item(&mut one, p, now, false, None);
            let fits = |len: usize| w.out.len() + sep + len < budget; // + 1 for the closing `]`
            if fits(one.out.len()) {
                // fits as it is
            } else if one.out.len() + 2 <= self.max_batch_bytes {
                break; // fits a fresh batch: leave it for the next one
            } else {
                one.out.clear();
                self.write_item(&mut one, p, now, true, None);
                if one.out.len() + 2 > self.max_batch_bytes {
                    // Unsendable even truncated (a huge URL or user agent): drop, don't block.
                    super::remove_at(&mut self.pending, 0);
                    self.stats.dropped = self.stats.dropped.saturating_add(1);
                    continue;
                }
                if !fits(one.out.len()) {
                    break;
                }
                if let Some(p) = self.pending.first_mut() {
                    p.truncated = true;
                    p.body = "{}".to_owned();
                }
            }
            if sep == 1 {
                w.raw(",");
            }
            w.raw(&one.out);
            let Some(p) = super::remove_at(&mut self.pending, 0) else {
                break;
            };
            items.push(p);
        }
        if items.is_empty() {
            return None;
        }
        w.raw("]");
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        for p in &items {
            let ks = self.keys.or_insert(
                p.key.clone(),
                KeyState {
                    last_sent: None,
                    suppressed: 0,
                    touched: now,
                },
            );
            ks.touched = now;
        }
        let count = items.len();
        self.in_flight.push(InFlight { id, items });
        if self.in_flight.len() > MAX_IN_FLIGHT {
            if let Some(lost) = super::remove_at(&mut self.in_flight, 0) {
                self.stats.dropped = self.stats.dropped.saturating_add(lost.items.len() as u64);
            }
        }
        self.sends.push_back(now);
        while self.sends.len() > self.max_per_minute as usize {
            self.sends.pop_front();
        }
        self.prune_keys(now);
        Some(ReportBatch {
            id,
            json: w.out,
            count,
        })
    }

    /// Forgets keys that are no longer in flight, pending, suppressing or inside their dedupe
    /// window; then the least recently touched beyond [`MAX_TRACKED_KEYS`].
    fn prune_keys(&mut self, now: Millis) {
        let window = self.dedupe_window_ms;
        let in_flight = &self.in_flight;
        self.keys.retain(|k, ks| {
            ks.suppressed > 0
                || ks.last_sent.is_some_and(|t| now.since(t) < window)
                || in_flight
                    .iter()
                    .any(|b| b.items.iter().any(|p| &p.key == k))
        });
        while self.keys.len() > MAX_TRACKED_KEYS {
            let Some(k) = self
                .keys
                .iter()
                .min_by_key(|(_, ks)| ks.touched)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.keys.remove(&k);
        }
    }
}

/// Dedupe state by key: a small vector (at most [`MAX_TRACKED_KEYS`] entries), searched
/// linearly; a `BTreeMap` cost several KiB of wasm for no gain at this size.
#[derive(Clone, Debug, Default)]
struct KeyMap(Vec<(String, KeyState)>);

impl KeyMap {
    fn get_mut(&mut self, key: &str) -> Option<&mut KeyState> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn or_insert(&mut self, key: String, value: KeyState) -> &mut KeyState {
        let i = match self.0.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.0.push((key, value));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }

    fn retain(&mut self, mut f: impl FnMut(&String, &mut KeyState) -> bool) {
        self.0.retain_mut(|(k, v)| f(k, v));
    }

    fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &KeyState)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_cleaning() {
        assert_eq!(
            clean_url("https://a.example/p?q=1#f", false),
            "https://a.example/p"
        );
        assert_eq!(
            clean_url("https://a.example/p#f?x", false),
            "https://a.example/p"
        );
        assert_eq!(
            clean_url("https://a.example/p?q=1#f", true),
            "https://a.example/p?q=1#f"
        );
        assert_eq!(clean_url(&"é".repeat(2_000), true).len(), 2_048);
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            ReportKind::Heap,
            ReportKind::LongTask,
            ReportKind::Shed,
            ReportKind::Breaker,
            ReportKind::DeadLetter,
            ReportKind::Quota,
        ] {
            assert_eq!(ReportKind::from_type_str(k.type_str()), Some(k));
        }
        assert_eq!(ReportKind::from_type_str("resource-guard-other"), None);
    }

    #[test]
    fn bodies_are_validated() {
        let r = Reporter::new(6, 10_000, 60_000, String::new(), String::new(), false);
        assert_eq!(
            r.normalise_body(" {\"a\":1} "),
            ("{\"a\":1}".to_owned(), false)
        );
        assert_eq!(r.normalise_body("{\"a\":"), ("{}".to_owned(), false));
        assert_eq!(r.normalise_body("[1]"), ("{}".to_owned(), false));
        assert_eq!(
            r.normalise_body(&"x".repeat(60_001)),
            ("{}".to_owned(), true)
        );
    }

    #[test]
    fn value_writer_round_trips() {
        let v = json::parse(r#"{"a":[1,2.5,"x\n",null,true,{}],"b":{"c":[]}}"#).unwrap();
        let mut w = JsonWriter::new();
        write_value(&mut w, &v);
        assert_eq!(json::parse(&w.out).unwrap(), v);
    }
}
