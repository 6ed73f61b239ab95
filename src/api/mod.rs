//! The request guard's `#[wasm_bindgen]` surface, compiled into the guard's own wasm module by
//! `crates/guard-wasm` (the cache's and the uploader's surfaces, `cache.rs` and `upload.rs`, are
//! compiled by `crates/cache-wasm` and `crates/upload-wasm`: each capability is its own wasm, and
//! an export lives only in its capability's crate). The user-facing `ResourceGuard` class lives in the JS driver
//! (`pkg-template/index.js`); it owns one [`JsGuardCore`] and calls it with numbers and short
//! strings, so the hot path never serialises. Outputs (starts, failures, events) go to a JS sink
//! object the driver passes in; the driver acts on them after the call returns (never re-entering
//! the core from inside a call, which wasm-bindgen would refuse).

use crate::core::config::GuardConfig;
use crate::core::engine::{shed_json, Engine, Output, Priority, Submit, ThrottleReason, Verdict};
use crate::core::error::GuardError;
use crate::core::heap::{HeapSample, HeapSource};
use crate::core::json::JsonWriter;
use crate::core::report::{Breach, ReportKind, Reporter};
use crate::core::retry::{
    parse_error_body, parse_ratelimit, parse_x_ratelimit, DelaySource, GiveUp,
};
use crate::core::rng::SplitMix64;
use crate::core::time::{Clock, Millis};
use crate::web::clock::{wall_ms, PerformanceClock};
use crate::web::error::{error_text, to_js};
use crate::web::heap::wasm_memory_bytes;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The driver's output sink: `push(kind, id, a, b, text)`.
    pub type Sink;
    #[wasm_bindgen(method)]
    fn push(this: &Sink, kind: u32, id: u32, a: f64, b: f64, text: &str);
}

/// Output kinds sent to the sink.
const OUT_START: u32 = 1;
const OUT_FAIL: u32 = 2;
const OUT_EVENT: u32 = 3;
/// Event ids (the driver maps them to names).
const EV_THROTTLE: u32 = 0;
const EV_RETRY: u32 = 1;
const EV_GIVE_UP: u32 = 2;
const EV_BREAKER: u32 = 3;
const EV_SHED: u32 = 4;
const EV_HEAP: u32 = 5;

/// Verdict encoding returned by `status` / `networkError`.
const V_DELIVER: f64 = -1.0;
const V_RETHROW: f64 = -2.0;
const V_FAIL_BASE: f64 = -10.0;

/// The guard's policy engine, driven by the JS driver.
#[wasm_bindgen(js_name = GuardCore)]
#[derive(Debug)]
pub struct JsGuardCore {
    engine: Engine<SplitMix64>,
    clock: PerformanceClock,
    sink: Sink,
    last_error: Option<GuardError>,
    /// The JSON error body's `code` of the last `status` call (`details.serverCode`).
    server_code: Option<String>,
    created_at: Millis,
}

impl core::fmt::Debug for Sink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sink")
    }
}

fn throttle_name(r: ThrottleReason) -> &'static str {
    [
        "window",
        "burst",
        "serverHint",
        "paced",
        "concurrency",
        "degraded",
        "queue",
    ][r as usize]
}

fn give_up_name(g: &GiveUp) -> &'static str {
    match g {
        GiveUp::NotRetryable => "notRetryable",
        GiveUp::MethodNotSafe => "methodNotSafe",
        GiveUp::ServerSaysNo => "serverSaysNo",
        GiveUp::RetriesExhausted => "retriesExhausted",
        GiveUp::BudgetExhausted => "budgetExhausted",
        GiveUp::HintTooLong { .. } => "hintTooLong",
        GiveUp::PastDeadline => "pastDeadline",
    }
}

impl JsGuardCore {
    fn now(&self) -> Millis {
        self.clock.now()
    }

    fn category_name(&self, id: u16) -> &str {
        self.engine
            .config()
            .categories
            .get(id as usize)
            .map_or("", |c| c.name.as_str())
    }

    /// Forwards the engine's outputs to the sink.
    fn flush(&mut self) {
        if !self.engine.has_outputs() {
            return;
        }
        for o in self.engine.take_outputs() {
            match o {
                Output::Start { id } => self.sink.push(OUT_START, id, 0.0, 0.0, ""),
                Output::Fail { id, error } => {
                    self.sink.push(
                        OUT_FAIL,
                        id,
                        f64::from(error.code().as_u8()),
                        error.detail(),
                        "",
                    );
                }
                Output::Throttle {
                    category,
                    reason,
                    wait_ms,
                } => {
                    let mut w = JsonWriter::new();
                    w.raw("{")
                        .key("category")
                        .str(self.category_name(category))
                        .key("reason")
                        .str(throttle_name(reason));
                    w.key("waitMs").u64(wait_ms);
                    // The rate in force (adaptive throttling may have lowered it).
                    if let Some((requests, per_ms)) = self.engine.effective_rate(category) {
                        w.key("effectiveRate")
                            .raw("{")
                            .key("requests")
                            .u64(u64::from(requests))
                            .key("perMs")
                            .u64(per_ms)
                            .raw("}");
                    }
                    w.raw("}");
                    self.sink.push(OUT_EVENT, EV_THROTTLE, 0.0, 0.0, &w.out);
                }
                Output::Retry {
                    id,
                    attempt,
                    delay_ms,
                    source,
                    status,
                } => {
                    let mut w = JsonWriter::new();
                    w.raw("{")
                        .key("attempt")
                        .u64(u64::from(attempt))
                        .key("delayMs")
                        .u64(delay_ms)
                        .key("source")
                        .str(match source {
                            DelaySource::Backoff => "backoff",
                            DelaySource::RetryAfter => "retryAfter",
                            DelaySource::BodyHint => "body",
                        });
                    w.key("status").u64(u64::from(status)).raw("}");
                    self.sink
                        .push(OUT_EVENT, EV_RETRY, f64::from(id), 0.0, &w.out);
                }
                Output::GiveUp {
                    id,
                    reason,
                    attempts,
                    status,
                } => {
                    let mut w = JsonWriter::new();
                    w.raw("{")
                        .key("reason")
                        .str(give_up_name(&reason))
                        .key("attempts")
                        .u64(u64::from(attempts));
                    w.key("status").u64(u64::from(status)).raw("}");
                    self.sink
                        .push(OUT_EVENT, EV_GIVE_UP, f64::from(id), 0.0, &w.out);
                }
                Output::Breaker {
                    service,
                    from,
                    to,
                    retry_in_ms,
                } => {
                    let mut w = JsonWriter::new();
                    w.raw("{")
                        .key("service")
                        .str(&service)
                        .key("from")
                        .str(from.as_str())
                        .key("to")
                        .str(to.as_str());
                    w.key("retryInMs").u64(retry_in_ms).raw("}");
                    self.sink.push(OUT_EVENT, EV_BREAKER, 0.0, 0.0, &w.out);
                }
                Output::Shed {
                    category,
                    priority,
                    reason,
                } => {
                    let body = shed_json(self.category_name(category), priority, reason);
                    self.sink.push(OUT_EVENT, EV_SHED, 0.0, 0.0, &body);
                }
                Output::Heap(ch) => {
                    let mut w = JsonWriter::new();
                    w.raw("{");
                    ch.write_fields(&mut w);
                    w.raw("}");
                    self.sink
                        .push(OUT_EVENT, EV_HEAP, f64::from(ch.to as u8), 0.0, &w.out);
                }
            }
        }
    }

    fn verdict(&mut self, v: Verdict) -> f64 {
        self.flush();
        match v {
            Verdict::Deliver => V_DELIVER,
            Verdict::Rethrow => V_RETHROW,
            Verdict::Retry { delay_ms } => delay_ms as f64,
            Verdict::Fail(e) => {
                let code = f64::from(e.code().as_u8());
                self.last_error = Some(e);
                V_FAIL_BASE - code
            }
        }
    }
}

fn opt_ms(v: f64) -> Option<u64> {
    (v.is_finite() && v >= 0.0).then(|| Millis::from_f64(v).0)
}

#[wasm_bindgen(js_class = GuardCore)]
impl JsGuardCore {
    /// Validates `options_json` (the driver's `JSON.stringify(options)`) and builds the engine.
    /// `page_url` and `user_agent` feed the breach reporter.
    #[wasm_bindgen(constructor)]
    pub fn new(
        options_json: &str,
        seed: f64,
        sink: Sink,
        page_url: &str,
        user_agent: &str,
    ) -> Result<JsGuardCore, JsValue> {
        #[cfg(feature = "debug-panic")]
        console_error_panic_hook::set_once();
        let config = GuardConfig::from_json(options_json).map_err(|e| to_js(&e))?;
        let report = config.report.clone();
        let mut engine = Engine::new(config, SplitMix64::new(seed as u64));
        if let Some(r) = report {
            engine.set_reporter(Reporter::new(
                r.max_per_minute,
                r.flush_interval_ms,
                crate::core::defaults::REPORT_MAX_BATCH_BYTES,
                page_url.to_owned(),
                user_agent.to_owned(),
                r.keep_url_query,
            ));
        }
        Ok(JsGuardCore {
            engine,
            clock: PerformanceClock,
            sink,
            last_error: None,
            server_code: None,
            created_at: PerformanceClock.now(),
        })
    }

    /// The id of a configured category, or -1.
    pub fn category(&self, name: &str) -> i32 {
        self.engine.category_id(name).map_or(-1, i32::from)
    }

    /// Emit throttle/retry/giveUp events (only while someone listens).
    #[wasm_bindgen(js_name = setVerbose)]
    pub fn set_verbose(&mut self, on: bool) {
        self.engine.verbose = on;
    }

    /// Admits a request or job. `flags` bit 0: retry-safe (the driver checked `retry.methods` and
    /// the Idempotency-Key; jobs pass 0). Returns `id * 2 + 1` when it may start now, `id * 2`
    /// when it waits (a start output follows), or `-code` on refusal (`lastError` has the rest).
    pub fn submit(
        &mut self,
        category: u32,
        priority: u32,
        service: &str,
        flags: u32,
        deadline_ms: f64,
        queue_timeout_ms: f64,
        attempt_timeout_ms: f64,
    ) -> f64 {
        let now = self.now();
        let req = Submit {
            category: category.min(u32::from(u16::MAX)) as u16,
            priority: Priority::from_u8(priority.min(255) as u8),
            service,
            method: "",
            has_idempotency_key: false,
            retry_safe: Some(flags & 1 == 1),
            deadline_ms: opt_ms(deadline_ms),
            queue_timeout_ms: opt_ms(queue_timeout_ms),
            attempt_timeout_ms: opt_ms(attempt_timeout_ms),
        };
        let r = self.engine.submit(now, &req);
        self.flush();
        match r {
            Ok(a) => f64::from(a.id) * 2.0 + if a.started { 1.0 } else { 0.0 },
            Err(e) => {
                let code = f64::from(e.code().as_u8());
                self.last_error = Some(e);
                -code
            }
        }
    }

    /// The JSON error body's `code` seen by the last `status` call, if any.
    #[wasm_bindgen(js_name = serverCode)]
    pub fn server_code(&self) -> Option<String> {
        self.server_code.clone()
    }

    /// The last refusal or failure as `"CODE\nmessage\ndetail"`.
    #[wasm_bindgen(js_name = lastError)]
    pub fn last_error(&self) -> String {
        self.last_error
            .as_ref()
            .map_or_else(String::new, error_text)
    }

    /// An attempt answered with `status`. Returns -1 deliver, -2 rethrow, -10-code fail, or the
    /// retry delay in ms (a start output follows when the retry may go).
    pub fn status(
        &mut self,
        id: u32,
        status: u32,
        retry_after: Option<String>,
        body: Option<String>,
    ) -> f64 {
        let now = self.now();
        let hint = body.as_deref().map(parse_error_body);
        self.server_code = hint.as_ref().and_then(|h| h.code.clone());
        // The wall clock only matters for an HTTP-date hint; a success does not pay for it.
        let wall = if status >= 400 || retry_after.is_some() {
            wall_ms()
        } else {
            0
        };
        let v = self.engine.on_status(
            now,
            wall,
            id,
            status.min(999) as u16,
            retry_after.as_deref(),
            hint.as_ref(),
        );
        self.verdict(v)
    }

    /// The server's pacing headers for the category of `id` (any may be absent).
    pub fn pacing(
        &mut self,
        id: u32,
        ratelimit: Option<String>,
        x_remaining: Option<String>,
        x_reset: Option<String>,
    ) {
        let now = self.now();
        let hint = ratelimit.as_deref().and_then(parse_ratelimit).or_else(|| {
            x_remaining
                .as_deref()
                .and_then(|r| parse_x_ratelimit(r, x_reset.as_deref(), wall_ms()))
        });
        if let Some(h) = hint {
            self.engine.on_pacing(now, id, h.remaining, h.reset_ms);
        }
        self.flush();
    }

    /// An attempt failed without a response: `kind` 0 network error, 1 its `timeoutMs` fired
    /// (a failure of the service), 2 the caller's `deadlineMs` ended it (not a failure). Same
    /// encoding as `status`.
    #[wasm_bindgen(js_name = networkError)]
    pub fn network_error(&mut self, id: u32, kind: u32) -> f64 {
        let now = self.now();
        let v = if kind == 2 {
            self.engine.on_deadline(now, id)
        } else {
            self.engine.on_network_error(now, wall_ms(), id, kind == 1)
        };
        self.verdict(v)
    }

    /// A job ended (or an attempt the core need not judge); frees its slot.
    pub fn done(&mut self, id: u32, ok: bool) {
        let now = self.now();
        self.engine.done(now, id, ok);
        self.flush();
    }

    /// Aborted by the caller, or timed out (`timed_out`); frees the ticket wherever it is.
    pub fn cancel(&mut self, id: u32, timed_out: bool) {
        let now = self.now();
        self.engine.cancel(now, id, timed_out);
        self.flush();
    }

    /// Fires due timers and starts what may start; returns the next wake-up as an absolute
    /// `performance.now()` time, or -1 when nothing is scheduled.
    pub fn poll(&mut self) -> f64 {
        let now = self.now();
        self.engine.poll(now);
        self.flush();
        self.engine.next_wake(now).map_or(-1.0, |w| w.0 as f64)
    }

    /// The driver has called fetch for every start it was given (see `Engine::stamp_starts`).
    #[wasm_bindgen(js_name = stampStarts)]
    pub fn stamp_starts(&mut self) {
        let now = self.now();
        self.engine.stamp_starts(now);
    }

    /// The next wake-up without polling (-1: none).
    #[wasm_bindgen(js_name = nextWake)]
    pub fn next_wake(&self) -> f64 {
        self.engine
            .next_wake(self.now())
            .map_or(-1.0, |w| w.0 as f64)
    }

    /// Records a heap sample (`source`: 1 measureUserAgentSpecificMemory, 2 performance.memory,
    /// 3 wasm memory, 0 unsupported) and returns the reading as JSON.
    #[wasm_bindgen(js_name = heapSample)]
    pub fn heap_sample(&mut self, used_bytes: f64, source: u32) -> String {
        let now = self.now();
        let src = HeapSource::from_u8(source.min(255) as u8);
        let used = if src == HeapSource::WasmMemory {
            wasm_memory_bytes()
        } else {
            Millis::from_f64(used_bytes).0
        };
        let r = self.engine.record_heap(HeapSample {
            used_bytes: used,
            source: src,
            at: now,
        });
        self.flush();
        let mut w = JsonWriter::new();
        w.raw("{");
        r.write_fields(&mut w);
        w.key("sampledAt").u64(r.sampled_at.0);
        w.key("wasmBytes").u64(wasm_memory_bytes()).raw("}");
        w.out
    }

    /// Next heap sample delay in ms (`u` uniform in [0,1) for the Poisson option).
    #[wasm_bindgen(js_name = heapDelay)]
    pub fn heap_delay(&mut self, u: f64) -> f64 {
        self.engine.heap().next_sample_delay_ms(u) as f64
    }

    /// Records a long task of `duration_ms`; true when it completes a breach.
    #[wasm_bindgen(js_name = longTask)]
    pub fn long_task(&mut self, duration_ms: f64) -> bool {
        let now = self.now();
        self.engine
            .record_long_task(now, Millis::from_f64(duration_ms).0)
    }

    /// A report batch due now as `"<id>\n<json>"`, or undefined.
    #[wasm_bindgen(js_name = reportPoll)]
    pub fn report_poll(&mut self) -> Option<String> {
        let now = self.now();
        self.engine
            .poll_reports(now)
            .map(|b| batch_text(b.id, &b.json))
    }

    /// Every pending report, ignoring the flush interval (page hide), within the keepalive quota.
    #[wasm_bindgen(js_name = reportFlushAll)]
    pub fn report_flush_all(&mut self) -> Vec<String> {
        let now = self.now();
        match self.engine.reporter() {
            Some(r) => r
                .flush_all(now)
                .into_iter()
                .map(|b| batch_text(b.id, &b.json))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The outcome of sending report batch `id`: `retry_after` is the answer's raw `Retry-After`
    /// header (undefined: none, or no answer), read by the core's one parser.
    #[wasm_bindgen(js_name = reportResult)]
    pub fn report_result(&mut self, id: u32, ok: bool, retry_after: Option<String>) {
        let now = self.now();
        if let Some(r) = self.engine.reporter() {
            if ok {
                r.on_sent(id, now);
            } else {
                let wall = if retry_after.is_some() { wall_ms() } else { 0 };
                r.on_failed_retry_after(id, now, retry_after.as_deref(), wall);
            }
        }
    }

    /// Pending reports merged with `kept` (what the driver kept already; '' for none) as one
    /// bounded JSON array to keep across a page unload (`Reporter::keep_json`), removing them.
    #[wasm_bindgen(js_name = reportDrain)]
    pub fn report_drain(&mut self, kept: &str) -> String {
        let now = self.now();
        self.engine
            .reporter()
            .map_or_else(String::new, |r| r.keep_json(kept, now))
    }

    /// Restores reports kept by an earlier page (hostile input: validated, bounded).
    #[wasm_bindgen(js_name = reportRestore)]
    pub fn report_restore(&mut self, text: &str) {
        let now = self.now();
        if let Some(r) = self.engine.reporter() {
            r.restore_pending_json(text, now);
        }
    }

    /// Queues a breach report from another part of the driver (the upload engine's dead letters):
    /// `kind` 4 = dead letter, 5 = storage quota; `key` dedupes; `body` is the report body as JSON (hostile input:
    /// validated by the reporter).
    #[wasm_bindgen(js_name = pushBreach)]
    pub fn push_breach(&mut self, kind: u32, key: &str, body: &str) {
        let now = self.now();
        let kind = match kind {
            0 => ReportKind::Heap,
            1 => ReportKind::LongTask,
            2 => ReportKind::Shed,
            3 => ReportKind::Breaker,
            5 => ReportKind::Quota,
            _ => ReportKind::DeadLetter,
        };
        if let Some(r) = self.engine.reporter() {
            r.push(Breach {
                kind,
                key: key.chars().take(256).collect(),
                body_json: body.to_owned(),
                at: now,
            });
        }
    }

    /// A JSON snapshot of the guard's state.
    pub fn snapshot(&self) -> String {
        let now = self.now();
        let mut s = self.engine.snapshot_json(now);
        // Splice in what only the browser side knows.
        s.pop();
        let mut w = JsonWriter::new();
        w.raw(",\"wasmMemoryBytes\":").u64(wasm_memory_bytes());
        w.raw(",\"uptimeMs\":")
            .u64(now.since(self.created_at))
            .raw("}");
        s.push_str(&w.out);
        s
    }

    /// Frees everything; returns the ids that were live so the driver rejects their promises.
    pub fn dispose(&mut self) -> Vec<u32> {
        self.engine.dispose()
    }
}

fn batch_text(id: u32, json: &str) -> String {
    let mut w = JsonWriter::new();
    w.u64(u64::from(id)).raw("\n").raw(json);
    w.out
}
