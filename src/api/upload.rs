//! The upload engine's wasm surface: [`JsUploadCore`] wraps the pure [`UploadPlanner`] for the JS
//! driver (`pkg-template/uploader.js`), which owns IndexedDB, Web Locks and fetch.
//!
//! ```text
//! const core = new UploadCore(Float64Array.of(maxBatchBytes, NaN, ...), learned, seed);
//! core.add(Float64Array.of(id1, len1, id2, len2));
//! const a = core.next();            // [1, batch, attempts, seed, bodyBytes, ...ids] = send
//! core.result(batch, 503, '1', undefined);   // -> flat events
//! ```
//!
//! Everything crosses the boundary as numbers (`Float64Array`) or short strings; only `stats`
//! is JSON. Record ids and idempotency seeds are below 2^53, so `f64` carries them exactly.
//!
//! Time is `performance.now()` shifted onto the wall clock once per instance: monotonic within a
//! page (every decision), and comparable across pages (the lease stored in a batch descriptor is
//! read back by the next page after a reload).

use crate::core::error::GuardError;
use crate::core::json::JsonWriter;
use crate::core::retry::{parse_error_body, parse_retry_after};
use crate::core::rng::SplitMix64;
use crate::core::time::{Clock, Millis};
use crate::core::upload::{
    Action, BatchDescriptor, BatchId, PauseReason, SendResult, UploadConfig, UploadEvent,
    UploadPlanner,
};
use crate::web::clock::{wall_ms, PerformanceClock};
use crate::web::error::to_js;
use wasm_bindgen::prelude::*;

/// `next()` kinds (first element).
const A_IDLE: f64 = 0.0;
const A_SEND: f64 = 1.0;
const A_DEAD: f64 = 2.0;
const A_WAIT: f64 = 3.0;

/// `result()` event kinds: each event is `[kind, n, ...n values]`.
const E_DELIVERED: f64 = 1.0;
const E_DEAD: f64 = 2.0;
const E_RETRY: f64 = 3.0;
const E_SPLIT: f64 = 4.0;
const E_PAUSED: f64 = 5.0;
const E_LEARNED: f64 = 6.0;

/// Option names in the order the driver passes them (`NaN` = default).
const KEYS: [&str; 9] = [
    "maxBatchBytes",
    "maxBatchItems",
    "maxAttempts",
    "concurrency",
    "leaseMs",
    "baseDelayMs",
    "maxDelayMs",
    "jitter",
    "maxRetryAfterMs",
];

/// Largest integer a JS number holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

fn whole(v: f64, default: u64, key: &str) -> Result<u64, GuardError> {
    if v.is_nan() {
        return Ok(default);
    }
    if !(0.0..=MAX_SAFE).contains(&v) || v.fract() != 0.0 {
        let mut p = String::from("uploader.");
        p.push_str(key);
        return Err(GuardError::invalid_option(
            &p,
            "must be a whole number >= 0",
        ));
    }
    Ok(v as u64)
}

fn config(o: &[f64]) -> Result<UploadConfig, GuardError> {
    let d = UploadConfig::default();
    let at = |i: usize| o.get(i).copied().unwrap_or(f64::NAN);
    let small = |i: usize, def: u32| -> Result<u32, GuardError> {
        // Out-of-range values saturate so `validate` names the limit.
        Ok(whole(at(i), u64::from(def), KEYS[i])?.min(u64::from(u32::MAX)) as u32)
    };
    let cfg = UploadConfig {
        max_batch_bytes: whole(at(0), d.max_batch_bytes, KEYS[0])?,
        max_batch_items: small(1, d.max_batch_items)?,
        max_attempts: small(2, d.max_attempts)?,
        concurrency: small(3, d.concurrency)?,
        lease_ms: whole(at(4), d.lease_ms, KEYS[4])?,
        base_delay_ms: whole(at(5), d.base_delay_ms, KEYS[5])?,
        max_delay_ms: whole(at(6), d.max_delay_ms, KEYS[6])?,
        jitter: if at(7).is_nan() { d.jitter } else { at(7) },
        max_retry_after_ms: whole(at(8), d.max_retry_after_ms, KEYS[8])?,
    };
    cfg.validate("uploader")
}

/// One durable upload queue's planner, driven by `uploader.js`.
#[wasm_bindgen(js_name = UploadCore)]
#[derive(Debug)]
pub struct JsUploadCore {
    planner: UploadPlanner,
    rng: SplitMix64,
    clock: PerformanceClock,
    /// Added to `performance.now()` to land on the wall clock (fixed per instance).
    wall_offset: u64,
}

impl JsUploadCore {
    fn now(&self) -> Millis {
        self.clock.now().plus(self.wall_offset)
    }
}

fn push_ids(out: &mut Vec<f64>, ids: &[u64]) {
    out.extend(ids.iter().map(|&i| i as f64));
}

#[wasm_bindgen(js_class = UploadCore)]
impl JsUploadCore {
    /// Validates the options (`opts` in the order maxBatchBytes, maxBatchItems, maxAttempts,
    /// concurrency, leaseMs, baseDelayMs, maxDelayMs, jitter, maxRetryAfterMs; `NaN` = default) and builds the
    /// planner. `learned_max_bytes` <= 0: none learned yet. `seed` seeds the idempotency seeds
    /// and jitter (from `crypto.getRandomValues`).
    ///
    /// # Errors
    /// `ERR_INVALID_OPTION` naming `uploader.<key>`.
    #[wasm_bindgen(constructor)]
    pub fn new(opts: &[f64], learned_max_bytes: f64, seed: f64) -> Result<JsUploadCore, JsValue> {
        let cfg = config(opts).map_err(|e| to_js(&e))?;
        let learned = (learned_max_bytes.is_finite() && learned_max_bytes >= 1.0)
            .then(|| Millis::from_f64(learned_max_bytes).0);
        let clock = PerformanceClock;
        Ok(JsUploadCore {
            planner: UploadPlanner::new(cfg, learned),
            rng: SplitMix64::new(seed as u64),
            clock,
            wall_offset: wall_ms().saturating_sub(clock.now().0),
        })
    }

    /// Adds stored records as `(id, byte length)` pairs; ids the planner tracks are ignored.
    pub fn add(&mut self, pairs: &[f64]) {
        for p in pairs.chunks_exact(2) {
            self.planner
                .add(Millis::from_f64(p[0]).0, Millis::from_f64(p[1]).0);
        }
    }

    /// Restores a persisted descriptor `[seed, attempts, lastStatus, leaseUntil, id, len, ...]`
    /// (a `leaseUntil` of 0 returns it to ready at once). Returns its batch id, or -1 when its
    /// records became plain pending records (new seeds).
    pub fn restore(&mut self, d: &[f64]) -> f64 {
        let n = |i: usize| Millis::from_f64(d.get(i).copied().unwrap_or(0.0)).0;
        let records = d
            .get(4..)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|p| (Millis::from_f64(p[0]).0, Millis::from_f64(p[1]).0))
            .collect();
        let desc = BatchDescriptor {
            records,
            idempotency_seed: n(0),
            attempts: n(1).min(u64::from(u32::MAX)) as u32,
            last_status: n(2).min(999) as u16,
            lease_until: Millis(n(3)),
        };
        let now = self.now();
        self.planner
            .restore_batch(desc, now)
            .map_or(-1.0, |b| f64::from(b.0))
    }

    /// The descriptor to persist with `batch`'s lease, as `restore` takes it (empty if unknown).
    pub fn descriptor(&self, batch: u32) -> Vec<f64> {
        let Some(d) = self.planner.batch_descriptor(BatchId(batch)) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(4 + d.records.len() * 2);
        out.push(d.idempotency_seed as f64);
        out.push(f64::from(d.attempts));
        out.push(f64::from(d.last_status));
        out.push(d.lease_until.0 as f64);
        for (id, len) in d.records {
            out.push(id as f64);
            out.push(len as f64);
        }
        out
    }

    /// The next action: `[0]` idle, `[1, batch, attempts, seed, bodyBytes, ...ids]` send,
    /// `[2, codeU8, lastStatus, ...ids]` dead letter, `[3, delayMs]` wait.
    #[wasm_bindgen(js_name = next)]
    pub fn next_action(&mut self) -> Vec<f64> {
        let now = self.now();
        match self.planner.next_action(now, &mut self.rng) {
            Action::Send(b) => {
                let mut out = Vec::with_capacity(5 + b.record_ids.len());
                out.extend([
                    A_SEND,
                    f64::from(b.id.0),
                    f64::from(b.attempts),
                    b.idempotency_seed as f64,
                    b.body_bytes as f64,
                ]);
                push_ids(&mut out, &b.record_ids);
                out
            }
            Action::DeadLetter {
                record_ids,
                code,
                last_status,
            } => {
                let mut out = vec![A_DEAD, f64::from(code.as_u8()), f64::from(last_status)];
                push_ids(&mut out, &record_ids);
                out
            }
            Action::Wait { until } => vec![A_WAIT, now.until(until) as f64],
            Action::Idle => vec![A_IDLE],
        }
    }

    /// The outcome of sending `batch`: `status` 0 = network error; `retry_after` the header,
    /// `body` a JSON error body (its `retryAfterMs` counts as a hint). Returns the events, each
    /// `[kind, n, ...n values]`: 1 delivered `[batch, bodyBytes, ...ids]`, 2 dead letter
    /// `[codeU8, lastStatus, ...ids]`, 3 retry `[batch, attempts, status, delayMs]`, 4 split
    /// `[from, first, second]`, 5 paused `[delayMs]`, 6 learned `[bytes]`.
    pub fn result(
        &mut self,
        batch: u32,
        status: u32,
        retry_after: Option<String>,
        body: Option<String>,
    ) -> Vec<f64> {
        let now = self.now();
        let result = match status {
            0 => SendResult::NetworkError,
            200..=299 => SendResult::Ok,
            s => {
                // The header is authoritative; a JSON `retryAfterMs` stands in when it is absent.
                let hint = retry_after
                    .as_deref()
                    .and_then(|v| parse_retry_after(v, wall_ms()))
                    .or_else(|| {
                        body.as_deref()
                            .and_then(|b| parse_error_body(b).retry_after_ms)
                    });
                SendResult::Status {
                    status: s.min(999) as u16,
                    retry_after_ms: hint,
                }
            }
        };
        let events = self
            .planner
            .on_result(BatchId(batch), result, now, &mut self.rng);
        flat(events, now)
    }

    /// The guard did not send `batch` (breaker open, queue refused): no attempt used, the queue
    /// waits `retry_in_ms` (capped). Returns events like `result`.
    #[wasm_bindgen(js_name = notSent)]
    pub fn not_sent(&mut self, batch: u32, retry_in_ms: f64) -> Vec<f64> {
        let now = self.now();
        let r = SendResult::NotSent {
            retry_in_ms: Millis::from_f64(retry_in_ms).0,
        };
        let events = self
            .planner
            .on_result(BatchId(batch), r, now, &mut self.rng);
        flat(events, now)
    }

    /// More records are stored than were handed over (`true`): only full batches are formed.
    #[wasm_bindgen(js_name = setMore)]
    pub fn set_more(&mut self, more: bool) {
        self.planner.set_more_stored(more);
    }

    /// `[pending records not in a batch, their bytes, batches held, unreachable 0/1]`.
    pub fn window(&self) -> Vec<f64> {
        let (n, bytes, batches) = self.planner.window();
        vec![
            n as f64,
            bytes as f64,
            f64::from(batches),
            f64::from(u8::from(self.planner.is_unreachable())),
        ]
    }

    /// The browser says it is online again: probe an unreachable endpoint at once.
    pub fn wake(&mut self) {
        let now = self.now();
        self.planner.wake(now);
    }

    /// Turns a driver pause on or off (`reason` 1 offline, 2 heap at its limit).
    #[wasm_bindgen(js_name = setPaused)]
    pub fn set_paused(&mut self, reason: u32, on: bool) {
        let r = if reason == 2 {
            PauseReason::HeapLimit
        } else {
            PauseReason::Offline
        };
        self.planner.set_paused(r, on);
    }

    /// Dead letters are being retried: a record as large as a body refused with 413 is sent
    /// alone once more instead of dead-lettered unsent.
    #[wasm_bindgen(js_name = forgetRefusals)]
    pub fn forget_refusals(&mut self) {
        self.planner.forget_refusals();
    }

    /// Counters as JSON: pendingRecords, inFlightBatches, inFlightRecords, sentRecords,
    /// deadLetteredRecords, attempts, bytesSent, maxBatchBytes (effective), learnedMaxBytes.
    pub fn stats(&self) -> String {
        let s = self.planner.stats();
        let mut w = JsonWriter::new();
        w.raw("{")
            .key("pendingRecords")
            .u64(s.pending_records)
            .key("inFlightBatches")
            .u64(u64::from(s.in_flight_batches))
            .key("inFlightRecords")
            .u64(s.in_flight_records);
        w.key("sentRecords")
            .u64(s.sent_records)
            .key("deadLetteredRecords")
            .u64(s.dead_lettered_records)
            .key("attempts")
            .u64(s.attempts);
        w.key("bytesSent")
            .u64(s.bytes_sent)
            .key("maxBatchBytes")
            .u64(self.planner.effective_max_bytes())
            .key("learnedMaxBytes");
        match self.planner.learned_max_bytes() {
            Some(l) => w.u64(l),
            None => w.raw("null"),
        };
        w.raw("}");
        w.out
    }
}

/// Events as `[kind, n, ...n values]` each (see `result`).
fn flat(events: Vec<UploadEvent>, now: Millis) -> Vec<f64> {
    let mut out = Vec::new();
    let mut put = |kind: f64, head: &[f64], ids: &[u64]| {
        out.push(kind);
        out.push((head.len() + ids.len()) as f64);
        out.extend_from_slice(head);
        push_ids(&mut out, ids);
    };
    for e in events {
        match e {
            UploadEvent::Delivered {
                batch,
                record_ids,
                body_bytes,
            } => put(
                E_DELIVERED,
                &[f64::from(batch.0), body_bytes as f64],
                &record_ids,
            ),
            UploadEvent::DeadLetter {
                record_ids,
                code,
                last_status,
            } => put(
                E_DEAD,
                &[f64::from(code.as_u8()), f64::from(last_status)],
                &record_ids,
            ),
            UploadEvent::RetryScheduled {
                batch,
                attempts,
                status,
                at,
            } => put(
                E_RETRY,
                &[
                    f64::from(batch.0),
                    f64::from(attempts),
                    f64::from(status),
                    now.until(at) as f64,
                ],
                &[],
            ),
            UploadEvent::Split {
                from,
                first,
                second,
            } => put(
                E_SPLIT,
                &[f64::from(from.0), f64::from(first.0), f64::from(second.0)],
                &[],
            ),
            UploadEvent::PausedUntil(t) => put(E_PAUSED, &[now.until(t) as f64], &[]),
            UploadEvent::LearnedMaxBytes(b) => put(E_LEARNED, &[b as f64], &[]),
        }
    }
    out
}
