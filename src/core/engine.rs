//! The request and job scheduler: one state machine that composes the policies in a fixed order,
//! driven by the JS driver with plain numbers.
//!
//! ```
//! use resource_guard::core::config::GuardConfig;
//! use resource_guard::core::engine::{Engine, Priority, Submit, Verdict};
//! use resource_guard::core::rng::SeqRng;
//! use resource_guard::core::time::Millis;
//!
//! let cfg = GuardConfig::from_json(r#"{"rateLimit":{"requests":1,"perMs":1000}}"#).unwrap();
//! let mut engine = Engine::new(cfg, SeqRng::new(vec![0.5]));
//! let api = engine.category_id("api").unwrap();
//! let a = engine.submit(Millis(0), &Submit::request(api, Priority::Normal, "https://x", "GET")).unwrap();
//! assert!(a.started);                                    // the first start is free
//! let b = engine.submit(Millis(0), &Submit::request(api, Priority::Normal, "https://x", "GET")).unwrap();
//! assert!(!b.started);                                   // the second waits for the window
//! assert_eq!(engine.on_status(Millis(5), 0, a.id, 200, None, None), Verdict::Deliver);
//! // Starts are stamped 1 ms late (whole-ms clock), then when the driver has called fetch.
//! engine.stamp_starts(Millis(0));
//! assert_eq!(engine.next_wake(Millis(5)), Some(Millis(1001)));
//! engine.poll(Millis(1001));
//! assert_eq!(engine.take_outputs().len(), 1);            // b starts exactly at the window edge
//! ```
//!
//! # Order
//! A request is admitted in this order; the first rule that says no decides:
//! 1. disposed → `ERR_DISPOSED`;
//! 2. heap at `limit` and priority `low` → `ERR_SHED` (reason heapLimit);
//! 3. the service's breaker is open → `ERR_CIRCUIT_OPEN` without touching the network;
//! 4. queue: if anything of the category is already waiting, or a start is not allowed now, the
//!    request waits in its category's bounded priority queue (full: see [`Engine::submit`]);
//! 5. a start needs, in this order: a rate slot (sliding window + burst spacing), at the heap
//!    limit a slot of the halved rate for `normal`, a concurrency slot (bulkhead), and no server
//!    hint on its own (category, service) pair (Retry-After / `retryAfterMs` on 429/503,
//!    RateLimit headers). Work whose pair is held is *parked* (out of the queue, still counted
//!    against `queue.maxDepth` and its queue timeout) until the hint ends, so a third party's
//!    429 never delays another service of the same category;
//! 6. at dispatch the breaker admits (half-open lets `halfOpenProbes` through).
//!
//! After an attempt: the breaker records the outcome (5xx, 408, network errors and attempt
//! timeouts are failures; 429 is pacing, not failure; the caller's deadline or abort is neither),
//! a 429/503 hint holds its (category, service) pair for at most `retry.maxRetryAfterMs`,
//! then [`crate::core::retry::decide`] chooses deliver, retry (after the hint or a backoff, through
//! the queue again so retries also respect the rate limit), or give up.
//!
//! The concurrency slot is held from start until the attempt's outcome is reported (for a fetch:
//! until the `Response` is handed to the caller, whose body download is not counted; for a job:
//! until its promise settles or its timeout fires) and is released on every path: delivery,
//! failure, retry wait, cancel and dispose.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::adaptive::{AdaptiveRate, ClientThrottle};
use super::breaker::{Admission, BreakerState, CircuitBreaker, Transition};
use super::config::{GuardConfig, RateSpec};
use super::defaults;
use super::error::{GuardError, ShedReason, TimeoutKind};
use super::heap::{HeapGuard, HeapLevel, HeapReading, HeapSample, LevelChange};
use super::json::JsonWriter;
use super::rate_limit::{LimitReason, RateLimiter};
use super::report::{Breach, ReportBatch, ReportKind, Reporter};
use super::retry::{
    self, Backoff, BodyHint, DelaySource, GiveUp, Outcome, RetryBudget, RetryDecision, RetryReason,
};
use super::rng::Rng;
use super::time::{Millis, MAX_TIMER_MS};

mod adapt;
mod table;

/// Most live tickets (queued, running or backing off) across all categories.
pub const MAX_TICKETS: u32 = 1 << 20;
const SLOT_BITS: u32 = 20;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// Services idle this long with fresh state are pruned: 5 minutes.
pub const SERVICE_IDLE_MS: u64 = 300_000;

/// The body of a shed event or report: `{"category","priority","reason"}`.
#[must_use]
pub fn shed_json(category: &str, priority: Priority, reason: ShedReason) -> String {
    let mut w = JsonWriter::new();
    w.raw("{")
        .key("category")
        .str(category)
        .key("priority")
        .str(priority.as_str());
    w.key("reason").str(reason.as_str()).raw("}");
    w.out
}

/// Work priority: `system` > `high` > `normal` > `low`, FIFO within one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Priority {
    /// The app's own housekeeping; never shed.
    System = 0,
    /// User-visible, latency-sensitive.
    High = 1,
    /// The default.
    Normal = 2,
    /// Prefetch, analytics: shed first.
    Low = 3,
}

impl Priority {
    /// From the wire number (unknown → `Normal`).
    #[must_use]
    pub fn from_u8(n: u8) -> Priority {
        match n {
            0 => Priority::System,
            1 => Priority::High,
            3 => Priority::Low,
            _ => Priority::Normal,
        }
    }

    /// The name in options, events and snapshots.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        ["system", "high", "normal", "low"][self as usize]
    }
}

/// A request or job asking to start.
#[derive(Clone, Copy, Debug)]
pub struct Submit<'a> {
    /// Category id from [`Engine::category_id`].
    pub category: u16,
    /// Priority.
    pub priority: Priority,
    /// Breaker key (origin or service name); empty for jobs (no breaker, no retries).
    pub service: &'a str,
    /// HTTP method (empty for jobs).
    pub method: &'a str,
    /// The request carries an `Idempotency-Key` (makes POST/PATCH retryable).
    pub has_idempotency_key: bool,
    /// Retry safety already decided by the caller (the driver checks the method list itself, so
    /// the hot path passes no method string); `None`: decide from `method`.
    pub retry_safe: Option<bool>,
    /// Whole-call deadline from now, ms.
    pub deadline_ms: Option<u64>,
    /// Longest wait in the queue, ms (default `queue.timeoutMs`), measured each time the work
    /// enters the queue (first admission and every retry), from that moment.
    pub queue_timeout_ms: Option<u64>,
    /// The caller's per-attempt `timeoutMs`; bounds a half-open probe (else
    /// [`defaults::PROBE_TIMEOUT_MS`]).
    pub attempt_timeout_ms: Option<u64>,
}

impl<'a> Submit<'a> {
    /// A request with no deadline.
    #[must_use]
    pub fn request(category: u16, priority: Priority, service: &'a str, method: &'a str) -> Self {
        Submit {
            category,
            priority,
            service,
            method,
            has_idempotency_key: false,
            retry_safe: None,
            deadline_ms: None,
            queue_timeout_ms: None,
            attempt_timeout_ms: None,
        }
    }

    /// A job (no service, never retried by the engine).
    #[must_use]
    pub fn job(category: u16, priority: Priority) -> Self {
        Submit::request(category, priority, "", "")
    }
}

/// The answer to [`Engine::submit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// The ticket (slot and generation), stable until the work ends.
    pub id: u32,
    /// Whether it may start now (otherwise an [`Output::Start`] follows later).
    pub started: bool,
}

/// What the driver does after an attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Hand the response to the caller (success, non-retryable status, or retries given up on a
    /// status: the last response is returned, as fetch would).
    Deliver,
    /// Wait; an [`Output::Start`] for this ticket follows when the retry may start.
    Retry {
        /// Delay before the retry, ms (the exact server hint when there was one).
        delay_ms: u64,
    },
    /// Reject the caller's promise with this error.
    Fail(GuardError),
    /// Rethrow the platform's own error (a network failure that was not retryable).
    Rethrow,
}

/// Why a request had to wait (the `throttle` event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ThrottleReason {
    /// The sliding window is full.
    Window = 0,
    /// Burst spacing.
    Burst = 1,
    /// A server hint (Retry-After) blocks the category.
    ServerHint = 2,
    /// The server's rate-limit headers pace the category.
    Paced = 3,
    /// The category's bulkhead is full.
    Concurrency = 4,
    /// Heap at its limit: `normal` admitted at half rate.
    Degraded = 5,
    /// Others are already waiting ahead of it.
    Queue = 6,
}

/// Everything the driver must act on or may tell listeners, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Start (or retry) this ticket now.
    Start {
        /// The ticket.
        id: u32,
    },
    /// Reject this ticket (queue timeout, deadline, shed, breaker opened while it waited).
    Fail {
        /// The ticket.
        id: u32,
        /// Why.
        error: GuardError,
    },
    /// A request had to wait.
    Throttle {
        /// Category id.
        category: u16,
        /// Why.
        reason: ThrottleReason,
        /// Expected wait, ms (0 when unknown, e.g. waiting for a concurrency slot).
        wait_ms: u64,
    },
    /// A retry was scheduled.
    Retry {
        /// The ticket.
        id: u32,
        /// Retry number (1 = first retry).
        attempt: u32,
        /// Delay, ms.
        delay_ms: u64,
        /// Where the delay came from.
        source: DelaySource,
        /// Status that caused it (0 network, 1 timeout).
        status: u16,
    },
    /// Retries ended without success.
    GiveUp {
        /// The ticket.
        id: u32,
        /// Why.
        reason: GiveUp,
        /// Attempts made.
        attempts: u32,
        /// Last status (0 network, 1 timeout).
        status: u16,
    },
    /// A breaker changed state.
    Breaker {
        /// The service key.
        service: String,
        /// Old state.
        from: BreakerState,
        /// New state.
        to: BreakerState,
        /// For `Open`: ms until half-open.
        retry_in_ms: u64,
    },
    /// Work was shed.
    Shed {
        /// Category id.
        category: u16,
        /// Its priority.
        priority: Priority,
        /// Why.
        reason: ShedReason,
    },
    /// The heap level changed.
    Heap(LevelChange),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Queued,
    /// Out of the queue, being dispatched (holds no slot yet).
    Admitting,
    Running,
    Backoff,
    /// Out of the queue because its (category, service) pair is held by a server hint; back in
    /// the queue, in submit order, at `ready_at`.
    Parked,
}

#[derive(Debug)]
struct Ticket {
    gen: u32,
    state: State,
    category: u16,
    priority: Priority,
    /// Index + 1 into `services`; 0 for none.
    service: u32,
    retry_safe: bool,
    probe: bool,
    retries: u32,
    /// Submit order (FIFO within a priority when parked work returns to the queue).
    seq: u64,
    deadline: Option<Millis>,
    queue_timeout: Option<u64>,
    queue_deadline: Option<Millis>,
    attempt_timeout: Option<u64>,
    /// A half-open probe that has not answered by then counts as failed.
    probe_until: Option<Millis>,
    ready_at: Millis,
    backoff: Option<Backoff>,
}

/// Per-category counters (snapshot and events).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Attempts started (including retries).
    pub sent: u64,
    /// Retries scheduled.
    pub retried: u64,
    /// Requests that had to wait.
    pub throttled: u64,
    /// Shed by the heap limit or by a higher priority.
    pub shed: u64,
    /// Ended in an error (including give-ups and queue-full rejections).
    pub failed: u64,
    /// Timed out in the queue, at the deadline or per attempt.
    pub timed_out: u64,
    /// Delivered to the caller.
    pub completed: u64,
}

#[derive(Debug)]
struct Category {
    name: String,
    limiter: Option<RateLimiter>,
    /// At the heap limit, `normal` work also needs a slot of this half-rate limiter.
    degraded: Option<RateLimiter>,
    max_concurrent: Option<u32>,
    in_flight: u32,
    lanes: [VecDeque<u32>; 4],
    queued: [u32; 4],
    /// Tickets parked by a server hint on their (category, service) pair.
    parked: u32,
    counters: Counters,
    /// Starts not yet confirmed by the driver (see [`Engine::stamp_starts`]).
    unstamped: u32,
    /// The adaptive rate (`adaptive` option; see `engine/adapt.rs`).
    adaptive: Option<AdaptiveRate>,
}

#[derive(Debug)]
struct Service {
    name: String,
    breaker: CircuitBreaker,
    budget: RetryBudget,
    /// Server hints per category this service was reached through (a handful at most: one per
    /// configured category).
    hints: Vec<PairHint>,
    refs: u32,
    last_used: Millis,
    sent: u64,
    failed: u64,
    /// SRE client-side throttling (`adaptive` option; see `engine/adapt.rs`).
    throttle: Option<ClientThrottle>,
}

/// What a service's server said about one (category, service) pair: a Retry-After / JSON
/// `retryAfterMs` block and the `RateLimit` / `X-RateLimit-*` quota. Both already capped by
/// `retry.maxRetryAfterMs` when recorded.
#[derive(Clone, Copy, Debug)]
struct PairHint {
    category: u16,
    /// No start before this (0: none).
    block: Millis,
    /// Starts left before `reset_at` (meaningful while `reset_at > now`).
    remaining: u32,
    /// End of the advertised quota window (0: no quota).
    reset_at: Millis,
}

impl PairHint {
    /// When the pair may start again and why, if it is held at `now`.
    fn held(&self, now: Millis) -> Option<(Millis, ThrottleReason)> {
        let paced = (self.remaining == 0 && self.reset_at > now).then_some(self.reset_at);
        match (self.block > now, paced) {
            (true, Some(p)) if p > self.block => Some((p, ThrottleReason::Paced)),
            (true, _) => Some((self.block, ThrottleReason::ServerHint)),
            (false, Some(p)) => Some((p, ThrottleReason::Paced)),
            (false, None) => None,
        }
    }

    fn expired(&self, now: Millis) -> bool {
        self.block <= now && self.reset_at <= now
    }
}

impl Service {
    fn hint(&self, cat: u16) -> Option<&PairHint> {
        self.hints.iter().find(|h| h.category == cat)
    }

    fn hint_mut(&mut self, cat: u16, now: Millis) -> &mut PairHint {
        // Expired hints go first, so the list stays as small as the live hints.
        self.hints.retain(|h| !h.expired(now));
        match self.hints.iter().position(|h| h.category == cat) {
            Some(i) => &mut self.hints[i],
            None => {
                self.hints.push(PairHint {
                    category: cat,
                    block: Millis(0),
                    remaining: 0,
                    reset_at: Millis(0),
                });
                let last = self.hints.len() - 1;
                &mut self.hints[last]
            }
        }
    }

    /// Nothing is held for any category at `now`.
    fn hints_fresh(&mut self, now: Millis) -> bool {
        self.hints.retain(|h| !h.expired(now));
        self.hints.is_empty()
    }
}

/// The scheduler. Generic over the jitter source so tests replay exact delays.
#[derive(Debug)]
pub struct Engine<R: Rng> {
    cfg: GuardConfig,
    categories: Vec<Category>,
    services: Vec<Option<Service>>,
    tickets: table::Table<Ticket>,
    free: Vec<u32>,
    live: u32,
    /// (time, ticket id): queue timeouts, deadlines and backoff ends, checked lazily.
    timers: BinaryHeap<Reverse<(u64, u32)>>,
    out: Vec<Output>,
    rng: R,
    heap: HeapGuard,
    reporter: Option<Reporter>,
    /// Emit informational outputs (throttle, retry, ...) only when someone listens.
    pub verbose: bool,
    /// Whether some category has starts the driver has not confirmed yet.
    unstamped: bool,
    disposed: bool,
    /// Submit counter (ticket `seq`).
    next_seq: u64,
}

impl<R: Rng> Engine<R> {
    /// An engine for `cfg`; `rng` draws jitter.
    pub fn new(cfg: GuardConfig, rng: R) -> Self {
        let categories = cfg
            .categories
            .iter()
            .map(|c| Category {
                name: c.name.clone(),
                limiter: c.rate.map(RateLimiter::new),
                degraded: c.rate.map(|r| {
                    let half = (r.requests / 2).max(1);
                    RateLimiter::new(RateSpec {
                        requests: half,
                        per_ms: r.per_ms,
                        burst: r.burst.min(half),
                    })
                }),
                max_concurrent: c.max_concurrent,
                in_flight: 0,
                lanes: Default::default(),
                queued: [0; 4],
                parked: 0,
                counters: Counters::default(),
                unstamped: 0,
                adaptive: cfg
                    .adaptive
                    .and_then(|a| c.rate.map(|r| AdaptiveRate::new(a, r.per_ms))),
            })
            .collect();
        let heap = HeapGuard::new(cfg.heap);
        Engine {
            cfg,
            categories,
            services: Vec::new(),
            tickets: table::Table::new(),
            free: Vec::new(),
            live: 0,
            timers: BinaryHeap::new(),
            out: Vec::new(),
            rng,
            heap,
            reporter: None,
            verbose: false,
            unstamped: false,
            disposed: false,
            next_seq: 0,
        }
    }

    /// The validated configuration.
    pub fn config(&self) -> &GuardConfig {
        &self.cfg
    }

    /// Attaches the breach reporter (the driver knows the page URL and user agent).
    pub fn set_reporter(&mut self, reporter: Reporter) {
        self.reporter = Some(reporter);
    }

    /// The id of a configured category.
    #[must_use]
    pub fn category_id(&self, name: &str) -> Option<u16> {
        self.categories
            .iter()
            .position(|c| c.name == name)
            .map(|i| i as u16)
    }

    /// Live tickets (queued, running or backing off).
    #[must_use]
    pub fn live_tickets(&self) -> u32 {
        self.live
    }

    /// Outputs since the last call, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Whether outputs are pending (cheap check for the driver's hot path).
    #[must_use]
    pub fn has_outputs(&self) -> bool {
        !self.out.is_empty()
    }

    fn ticket(&self, id: u32) -> Option<&Ticket> {
        let t = self.tickets.get((id & SLOT_MASK) as usize)?;
        (t.gen == id >> SLOT_BITS && t.state != State::Free).then_some(t)
    }

    fn ticket_mut(&mut self, id: u32) -> Option<&mut Ticket> {
        let t = self.tickets.get_mut((id & SLOT_MASK) as usize)?;
        (t.gen == id >> SLOT_BITS && t.state != State::Free).then_some(t)
    }

    fn service_index(&mut self, name: &str, now: Millis) -> u32 {
        if name.is_empty() {
            return 0;
        }
        if let Some(i) = self
            .services
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.name == name))
        {
            return i as u32 + 1;
        }
        // Idle, fresh services are forgotten once the table is a quarter full; at capacity the
        // least recently used unreferenced one goes, so the table never grows past MAX_SERVICES.
        if self.services.iter().filter(|s| s.is_some()).count() >= defaults::MAX_SERVICES / 4 {
            self.prune_services(now, SERVICE_IDLE_MS);
        }
        if self.services.iter().filter(|s| s.is_some()).count() >= defaults::MAX_SERVICES {
            self.prune_services(now, 0);
        }
        let spec = self.cfg.breaker_for(name);
        let r = &self.cfg.retry;
        let svc = Service {
            name: name.to_owned(),
            breaker: CircuitBreaker::new(spec).with_failure_rate(self.cfg.breaker_rate_for(name)),
            budget: RetryBudget::new(
                r.budget_ratio,
                r.budget_min_per_sec,
                defaults::RETRY_BUDGET_WINDOW_MS,
            ),
            hints: Vec::new(),
            refs: 0,
            last_used: now,
            sent: 0,
            failed: 0,
            throttle: self.new_client_throttle(),
        };
        match self.services.iter().position(Option::is_none) {
            Some(i) => {
                self.services[i] = Some(svc);
                i as u32 + 1
            }
            None => {
                self.services.push(Some(svc));
                self.services.len() as u32
            }
        }
    }

    /// Drops services that nobody references and whose state is indistinguishable from fresh,
    /// idle for at least `idle_ms`; when that frees nothing and the table is full, the least
    /// recently used unreferenced service goes. Returns how many were dropped.
    pub fn prune_services(&mut self, now: Millis, idle_ms: u64) -> usize {
        let mut dropped = 0;
        for s in &mut self.services {
            if let Some(svc) = s {
                if svc.refs == 0
                    && svc.breaker.is_fresh_at(now)
                    && svc.throttle.as_ref().map_or(true, |t| t.is_fresh(now))
                    && svc.budget.is_fresh(now)
                    && svc.hints_fresh(now)
                    && now.since(svc.last_used) >= idle_ms
                {
                    *s = None;
                    dropped += 1;
                }
            }
        }
        if dropped == 0
            && self.services.iter().filter(|s| s.is_some()).count() >= defaults::MAX_SERVICES
        {
            let lru = self
                .services
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.as_ref().filter(|s| s.refs == 0).map(|s| (s.last_used, i)))
                .min();
            if let Some((_, i)) = lru {
                self.services[i] = None;
                dropped = 1;
            }
        }
        dropped
    }

    fn svc(&mut self, idx: u32) -> Option<&mut Service> {
        if idx == 0 {
            return None;
        }
        self.services
            .get_mut(idx as usize - 1)
            .and_then(Option::as_mut)
    }

    fn alloc(&mut self, t: Ticket) -> Option<u32> {
        if let Some(slot) = self.free.pop() {
            // Free slots index `tickets` by construction; `get_mut` keeps the panic branch out.
            if let Some(old) = self.tickets.get_mut(slot as usize) {
                let gen = (old.gen + 1) & 0xFFF;
                *old = Ticket { gen, ..t };
                self.live += 1;
                return Some((gen << SLOT_BITS) | slot);
            }
        }
        let slot = self.tickets.len() as u32;
        if slot >= MAX_TICKETS {
            return None;
        }
        self.tickets.push(Ticket { gen: 0, ..t });
        self.live += 1;
        Some(slot)
    }

    /// Frees a ticket's slot and its service reference. Idempotent per generation.
    fn release(&mut self, id: u32) {
        let slot = (id & SLOT_MASK) as usize;
        let Some(t) = self.tickets.get_mut(slot) else {
            return;
        };
        if t.gen != id >> SLOT_BITS || t.state == State::Free {
            return;
        }
        let (state, cat, prio, service) =
            (t.state, t.category as usize, t.priority as usize, t.service);
        t.state = State::Free;
        t.backoff = None;
        self.free.push(slot as u32);
        self.live -= 1;
        if let Some(c) = self.categories.get_mut(cat) {
            match state {
                State::Running => c.in_flight = c.in_flight.saturating_sub(1),
                State::Queued => c.queued[prio] = c.queued[prio].saturating_sub(1),
                State::Parked => c.parked = c.parked.saturating_sub(1),
                _ => {}
            }
        }
        if let Some(s) = self.svc(service) {
            s.refs = s.refs.saturating_sub(1);
        }
    }

    fn emit(&mut self, o: Output) {
        self.out.push(o);
    }

    fn breaker_transition(&mut self, service: u32, tr: Option<Transition>, now: Millis) {
        let Some(tr) = tr else { return };
        let Some(s) = self.svc(service) else { return };
        let name = s.name.clone();
        let retry_in_ms = s.breaker.retry_in_ms(now);
        if tr.to == BreakerState::Open {
            if let Some(r) = self.reporter.as_mut() {
                let mut key = String::from("breaker:");
                key.push_str(&name);
                let mut w = JsonWriter::new();
                w.raw("{")
                    .key("service")
                    .str(&name)
                    .key("state")
                    .str("open")
                    .key("retryInMs")
                    .u64(retry_in_ms)
                    .raw("}");
                r.push(Breach {
                    kind: ReportKind::Breaker,
                    key,
                    body_json: w.out,
                    at: now,
                });
            }
        }
        self.emit(Output::Breaker {
            service: name,
            from: tr.from,
            to: tr.to,
            retry_in_ms,
        });
    }

    fn shed_breach(&mut self, cat: u16, priority: Priority, reason: ShedReason, now: Millis) {
        if let Some(c) = self.categories.get_mut(cat as usize) {
            c.counters.shed += 1;
            c.counters.failed += 1;
        }
        if let Some(r) = self.reporter.as_mut() {
            let name = self
                .categories
                .get(cat as usize)
                .map_or("", |c| c.name.as_str());
            let mut key = String::from("shed:");
            key.push_str(name);
            let body_json = shed_json(name, priority, reason);
            r.push(Breach {
                kind: ReportKind::Shed,
                key,
                body_json,
                at: now,
            });
        }
        self.emit(Output::Shed {
            category: cat,
            priority,
            reason,
        });
    }

    /// Whether a request may be retried: a configured method (`retry.methods`), or any method
    /// with an `Idempotency-Key`. Jobs (no method) never are.
    #[must_use]
    pub fn is_retry_safe(&self, method: &str, has_idempotency_key: bool) -> bool {
        !method.is_empty()
            && (has_idempotency_key
                || self
                    .cfg
                    .retry
                    .methods
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(method)))
    }

    /// Asks to start a request or job.
    ///
    /// A full queue: when a `low` (or otherwise lower-priority) entry is waiting, the newest of the
    /// lowest-priority entries is shed (`ERR_SHED`, reason queueFull) to make room for a higher
    /// priority; otherwise the newcomer is rejected with `ERR_QUEUE_FULL`. So `system` work is
    /// never refused while lower work waits.
    ///
    /// # Errors
    /// `ERR_DISPOSED`, `ERR_SHED`, `ERR_CIRCUIT_OPEN`, `ERR_QUEUE_FULL` (see the module's "# Order").
    pub fn submit(&mut self, now: Millis, req: &Submit<'_>) -> Result<Admitted, GuardError> {
        if self.disposed {
            return Err(GuardError::Disposed);
        }
        let cat = req.category;
        if cat as usize >= self.categories.len() {
            return Err(GuardError::invalid_option(
                "category",
                "is not a configured category",
            ));
        }
        if req.priority == Priority::Low && self.heap.level() == HeapLevel::Limit {
            self.shed_breach(cat, req.priority, ShedReason::HeapLimit, now);
            return Err(GuardError::Shed {
                reason: ShedReason::HeapLimit,
            });
        }
        let service = self.service_index(req.service, now);
        if let Some(s) = self.svc(service) {
            s.last_used = now;
            if s.breaker.state(now) == BreakerState::Open && s.breaker.retry_in_ms(now) > 0 {
                let retry_in_ms = s.breaker.retry_in_ms(now);
                self.categories[cat as usize].counters.failed += 1;
                return Err(GuardError::CircuitOpen { retry_in_ms });
            }
        }
        if let Some(e) = self.adaptive_shed(cat, service, req.priority, now) {
            return Err(e);
        }
        Self::apply_adaptive_rate(&mut self.categories[cat as usize], now);
        let retry_safe = req
            .retry_safe
            .unwrap_or_else(|| self.is_retry_safe(req.method, req.has_idempotency_key));
        let queue_timeout = req
            .queue_timeout_ms
            .or(self.cfg.queue_timeout_ms)
            .map(|d| d.min(MAX_TIMER_MS));
        let deadline = req.deadline_ms.map(|d| now.plus(d.min(MAX_TIMER_MS)));
        // A server hint on this (category, service) pair that outlasts the caller's deadline can
        // only end in a timeout: say so now (the fallback cache may answer instead).
        let held = self.pair_held(cat, service, now);
        if let (Some((until, _)), Some(d)) = (held, deadline) {
            if until >= d {
                self.categories[cat as usize].counters.failed += 1;
                return Err(GuardError::RetryAfterTooLong {
                    retry_after_ms: now.until(until),
                });
            }
        }
        self.next_seq += 1;
        let ticket = Ticket {
            gen: 0,
            state: State::Queued,
            category: cat,
            priority: req.priority,
            service,
            retry_safe,
            probe: false,
            retries: 0,
            seq: self.next_seq,
            deadline,
            queue_timeout,
            queue_deadline: queue_timeout.map(|d| now.plus(d)),
            attempt_timeout: req.attempt_timeout_ms,
            probe_until: None,
            ready_at: now,
            backoff: None,
        };
        let c = &self.categories[cat as usize];
        let in_lanes: u32 = c.queued.iter().sum();
        let waiting = in_lanes + c.parked;
        if in_lanes == 0 && held.is_none() && self.can_start(cat, req.priority, now).is_ok() {
            let id = self
                .alloc(Ticket {
                    state: State::Admitting,
                    queue_deadline: None,
                    ..ticket
                })
                .ok_or(GuardError::QueueFull {
                    capacity: MAX_TICKETS,
                })?;
            if let Some(s) = self.svc(service) {
                s.refs += 1;
            }
            if self.dispatch(id, now) {
                return Ok(Admitted { id, started: true });
            }
            // The breaker refused at dispatch (half-open probes taken): it has been failed.
            let err = self.last_fail(id);
            return Err(err);
        }
        // It waits: make room if the queue is full.
        if waiting >= self.cfg.queue_max_depth {
            let victim_lane = (req.priority as usize + 1..4)
                .rev()
                .find(|&p| self.categories[cat as usize].queued[p] > 0);
            match victim_lane {
                Some(p) => {
                    if let Some(victim) = self.pop_lane_back(cat, p) {
                        let prio = Priority::from_u8(p as u8);
                        self.release(victim);
                        self.shed_breach(cat, prio, ShedReason::QueueFull, now);
                        self.emit(Output::Fail {
                            id: victim,
                            error: GuardError::Shed {
                                reason: ShedReason::QueueFull,
                            },
                        });
                    }
                }
                None => {
                    self.categories[cat as usize].counters.failed += 1;
                    return Err(GuardError::QueueFull {
                        capacity: self.cfg.queue_max_depth,
                    });
                }
            }
        }
        let queue_deadline = ticket.queue_deadline;
        let id = self.alloc(ticket).ok_or(GuardError::QueueFull {
            capacity: MAX_TICKETS,
        })?;
        if let Some(s) = self.svc(service) {
            s.refs += 1;
        }
        self.categories[cat as usize].counters.throttled += 1;
        for at in [queue_deadline, deadline].into_iter().flatten() {
            self.push_timer(at, id);
        }
        let why = match held {
            // Held by its own service's hint: park it, the rest of the category is not delayed.
            Some((until, reason)) => {
                self.park(id, until);
                Some((reason, now.until(until)))
            }
            None => {
                self.enqueue(id);
                self.can_start(cat, req.priority, now).err()
            }
        };
        if self.verbose {
            let (reason, wait_ms) = why.unwrap_or((ThrottleReason::Queue, 0));
            self.emit(Output::Throttle {
                category: cat,
                reason,
                wait_ms,
            });
        }
        Ok(Admitted { id, started: false })
    }

    /// When the (category, service) pair may start again and why, if a server hint holds it.
    fn pair_held(&self, cat: u16, service: u32, now: Millis) -> Option<(Millis, ThrottleReason)> {
        if service == 0 {
            return None;
        }
        self.services
            .get(service as usize - 1)?
            .as_ref()?
            .hint(cat)?
            .held(now)
    }

    /// Takes a queued ticket out of its lane until `until` (its pair is held by a hint).
    fn park(&mut self, id: u32, until: Millis) {
        let Some(t) = self.ticket_mut(id) else { return };
        t.state = State::Parked;
        t.ready_at = until;
        let cat = t.category as usize;
        self.categories[cat].parked += 1;
        self.push_timer(until, id);
    }

    fn last_fail(&mut self, id: u32) -> GuardError {
        match self
            .out
            .iter()
            .rposition(|o| matches!(o, Output::Fail { id: i, .. } if *i == id))
        {
            Some(i) => match super::remove_at(&mut self.out, i) {
                Some(Output::Fail { error, .. }) => error,
                _ => GuardError::CircuitOpen { retry_in_ms: 0 },
            },
            None => GuardError::CircuitOpen { retry_in_ms: 0 },
        }
    }

    /// Appends a ticket to its lane (newcomers).
    fn enqueue(&mut self, id: u32) {
        let Some(t) = self.ticket_mut(id) else { return };
        t.state = State::Queued;
        let (cat, prio) = (t.category as usize, t.priority as usize);
        let c = &mut self.categories[cat];
        c.lanes[prio].push_back(id);
        c.queued[prio] += 1;
        // Drop tombstones (cancelled entries) when they outnumber the live ones.
        if c.lanes[prio].len() > 2 * c.queued[prio] as usize + 64 {
            let tickets = &self.tickets;
            c.lanes[prio].retain(|&i| {
                tickets
                    .get((i & SLOT_MASK) as usize)
                    .is_some_and(|t| t.gen == i >> SLOT_BITS && t.state == State::Queued)
            });
        }
    }

    /// Puts a ticket that was admitted earlier (a retry after its backoff, parked work whose
    /// hint ended) back into its lane in submit order, ahead of everything submitted after it.
    fn requeue(&mut self, id: u32) {
        let Some(t) = self.ticket_mut(id) else { return };
        let was_parked = t.state == State::Parked;
        t.state = State::Queued;
        let (cat, prio, seq) = (t.category as usize, t.priority as usize, t.seq);
        let tickets = &self.tickets;
        let c = &mut self.categories[cat];
        if was_parked {
            c.parked = c.parked.saturating_sub(1);
        }
        let lane = &mut c.lanes[prio];
        // Bounded scan: lanes hold at most `queue.maxDepth` live entries plus tombstones.
        let at = lane
            .iter()
            .take(4096)
            .position(|&i| {
                tickets
                    .get((i & SLOT_MASK) as usize)
                    .is_some_and(|t| t.seq > seq)
            })
            .unwrap_or(lane.len().min(4096));
        // `at <= len` by construction; the test lets the compiler drop insert's panic branch.
        if at <= lane.len() {
            lane.insert(at, id);
        }
        c.queued[prio] += 1;
    }

    /// Schedules a lazy timer; compacts the heap when finished tickets' timers pile up, so
    /// memory stays proportional to live work.
    fn push_timer(&mut self, at: Millis, id: u32) {
        if self.timers.len() > 4 * self.live as usize + 1024 {
            let tickets = &self.tickets;
            let keep: Vec<_> = self
                .timers
                .drain()
                .filter(|Reverse((_, i))| {
                    tickets
                        .get((i & SLOT_MASK) as usize)
                        .is_some_and(|t| t.gen == i >> SLOT_BITS && t.state != State::Free)
                })
                .collect();
            self.timers = keep.into();
        }
        self.timers.push(Reverse((at.0, id)));
    }

    fn pop_lane_back(&mut self, cat: u16, lane: usize) -> Option<u32> {
        loop {
            let id = self
                .categories
                .get_mut(cat as usize)?
                .lanes
                .get_mut(lane)?
                .pop_back()?;
            if self.ticket(id).is_some_and(|t| t.state == State::Queued) {
                return Some(id);
            }
        }
    }

    fn front(&mut self, cat: u16) -> Option<u32> {
        for lane in 0..4 {
            while let Some(&id) = self.categories[cat as usize].lanes[lane].front() {
                if self.ticket(id).is_some_and(|t| t.state == State::Queued) {
                    return Some(id);
                }
                self.categories[cat as usize].lanes[lane].pop_front();
            }
        }
        None
    }

    /// Whether a start in `cat` at `prio` is allowed now; otherwise why and for how long.
    fn can_start(
        &self,
        cat: u16,
        prio: Priority,
        now: Millis,
    ) -> Result<(), (ThrottleReason, u64)> {
        let c = &self.categories[cat as usize];
        if let Some(l) = &c.limiter {
            if let Err(nu) = l.check(now) {
                let reason = match nu.reason {
                    LimitReason::Window => ThrottleReason::Window,
                    LimitReason::Burst => ThrottleReason::Burst,
                    LimitReason::ServerHint => ThrottleReason::ServerHint,
                    LimitReason::Paced => ThrottleReason::Paced,
                };
                return Err((reason, nu.wait_time_from(now)));
            }
        }
        if prio == Priority::Normal && self.heap.level() == HeapLevel::Limit {
            if let Some(d) = &c.degraded {
                if let Err(nu) = d.check(now) {
                    return Err((ThrottleReason::Degraded, nu.wait_time_from(now)));
                }
            }
        }
        if let Some(max) = c.max_concurrent {
            if c.in_flight >= max {
                return Err((ThrottleReason::Concurrency, 0));
            }
        }
        Ok(())
    }

    /// Moves an admitted ticket to Running (consuming the slots), or fails it when its breaker
    /// refuses. Returns whether it started.
    fn dispatch(&mut self, id: u32, now: Millis) -> bool {
        let Some(t) = self.ticket(id) else {
            return false;
        };
        let (cat, prio, service, first, attempt_timeout) = (
            t.category as usize,
            t.priority,
            t.service,
            t.retries == 0,
            t.attempt_timeout,
        );
        if let Some(s) = self.svc(service) {
            let (adm, tr) = s.breaker.admit(now);
            match adm {
                Admission::Allowed { probe } => {
                    // The budget counts original requests; retries are what it rations.
                    if first {
                        s.budget.record_request(now);
                    }
                    s.sent += 1;
                    // A start spends one of the pair's advertised quota.
                    if let Some(h) = s.hints.iter_mut().find(|h| h.category == cat as u16) {
                        if h.reset_at > now {
                            h.remaining = h.remaining.saturating_sub(1);
                        }
                    }
                    let probe_until = probe.then(|| {
                        now.plus(
                            attempt_timeout
                                .unwrap_or(defaults::PROBE_TIMEOUT_MS)
                                .min(defaults::PROBE_TIMEOUT_MS),
                        )
                    });
                    if let Some(t) = self.ticket_mut(id) {
                        t.probe = probe;
                        t.probe_until = probe_until;
                    }
                    if let Some(at) = probe_until {
                        self.push_timer(at, id);
                    }
                    self.breaker_transition(service, tr, now);
                }
                Admission::Rejected { retry_in_ms } => {
                    self.breaker_transition(service, tr, now);
                    self.categories[cat].counters.failed += 1;
                    self.release(id);
                    self.emit(Output::Fail {
                        id,
                        error: GuardError::CircuitOpen { retry_in_ms },
                    });
                    return false;
                }
            }
        }
        let degraded = prio == Priority::Normal && self.heap.level() == HeapLevel::Limit;
        let c = &mut self.categories[cat];
        // Stamped late: `now` is floored to whole ms and the fetch happens after this decision, so
        // the start is stamped +1 now and re-stamped by `stamp_starts` once the driver has called
        // fetch (a pause of the page, e.g. a garbage collection, may come in between). The window
        // rule then holds where the requests really start.
        let stamp = now.plus(1);
        if let Some(l) = c.limiter.as_mut() {
            l.record_start(stamp);
        }
        if let Some(d) = c.degraded.as_mut() {
            // The half-rate limiter sees every start, so that entering the limit level does not
            // grant a fresh burst; only `normal` work is held back by it.
            if degraded || d.check(now).is_ok() {
                d.record_start(stamp);
            }
        }
        c.in_flight += 1;
        c.counters.sent += 1;
        if c.limiter.is_some() {
            c.unstamped += 1;
            self.unstamped = true;
        }
        if let Some(t) = self.ticket_mut(id) {
            t.state = State::Running;
        }
        true
    }

    /// Starts whatever may start in `cat` now (priority order, FIFO within a priority).
    fn pump(&mut self, cat: u16, now: Millis) {
        if let Some(c) = self.categories.get_mut(cat as usize) {
            Self::apply_adaptive_rate(c, now);
        }
        while let Some(id) = self.front(cat) {
            let (prio, service) = self
                .ticket(id)
                .map_or((Priority::Normal, 0), |t| (t.priority, t.service));
            if self.can_start(cat, prio, now).is_err() {
                break;
            }
            let c = &mut self.categories[cat as usize];
            let lane = prio as usize;
            c.lanes[lane].pop_front();
            c.queued[lane] = c.queued[lane].saturating_sub(1);
            // Its own service asked to wait: step aside, the other services go on.
            if let Some((until, _)) = self.pair_held(cat, service, now) {
                self.park(id, until);
                continue;
            }
            if let Some(t) = self.ticket_mut(id) {
                // Out of the queue; `dispatch` makes it Running (or fails it).
                t.state = State::Admitting;
            }
            if self.dispatch(id, now) {
                self.emit(Output::Start { id });
            }
        }
    }

    /// The driver has acted on the starts emitted since the last call: their rate-limit stamps
    /// move to `now` (+1 ms), so a burst that took the driver a few ms to send still spaces the
    /// next window from its last real start.
    pub fn stamp_starts(&mut self, now: Millis) {
        if !std::mem::take(&mut self.unstamped) {
            return;
        }
        let to = now.plus(1);
        for c in &mut self.categories {
            let n = std::mem::take(&mut c.unstamped) as usize;
            if n == 0 {
                continue;
            }
            if let Some(l) = c.limiter.as_mut() {
                l.restamp_last(n, to);
            }
            if let Some(d) = c.degraded.as_mut() {
                d.restamp_last(n, to);
            }
        }
    }

    /// Fires due timers (queue timeouts, deadlines, retry waits, parked work, probe timeouts)
    /// and starts what may start.
    pub fn poll(&mut self, now: Millis) {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now.0 {
                break;
            }
            self.timers.pop();
            let Some(t) = self.ticket(id) else { continue };
            let (state, cat) = (t.state, t.category);
            let waiting = matches!(state, State::Queued | State::Parked);
            let deadline_due = t.deadline.is_some_and(|d| d <= now);
            let queue_due = waiting && t.queue_deadline.is_some_and(|d| d <= now);
            let probe_due = t.probe && t.probe_until.is_some_and(|p| p <= now);
            match state {
                State::Queued | State::Backoff | State::Parked if deadline_due || queue_due => {
                    let kind = if deadline_due {
                        TimeoutKind::Deadline
                    } else {
                        TimeoutKind::Queue
                    };
                    let c = &mut self.categories[cat as usize].counters;
                    c.timed_out += 1;
                    c.failed += 1;
                    self.release(id);
                    self.emit(Output::Fail {
                        id,
                        error: GuardError::Timeout { kind },
                    });
                }
                State::Backoff if t.ready_at <= now => {
                    // A retry waits in the queue again: its queue timeout starts now.
                    let qd = t.queue_timeout.map(|d| now.plus(d));
                    if let Some(t) = self.ticket_mut(id) {
                        t.queue_deadline = qd;
                    }
                    if let Some(at) = qd {
                        self.push_timer(at, id);
                    }
                    self.requeue(id);
                }
                State::Parked if t.ready_at <= now => self.requeue(id),
                State::Running if probe_due => self.probe_expired(id, now),
                _ => {}
            }
        }
        for cat in 0..self.categories.len() as u16 {
            self.pump(cat, now);
        }
    }

    /// A half-open probe that has not answered in time counts as failed (the breaker reopens and
    /// a later call may probe again); its late answer no longer counts.
    fn probe_expired(&mut self, id: u32, now: Millis) {
        let Some(t) = self.ticket_mut(id) else { return };
        t.probe = false;
        t.probe_until = None;
        let service = t.service;
        if let Some(s) = self.svc(service) {
            s.failed += 1;
            let tr = s.breaker.record_failure(now, true);
            self.breaker_transition(service, tr, now);
        }
    }

    /// When the driver should call [`Engine::poll`] next (absolute; `None`: nothing scheduled;
    /// work waiting only for a concurrency slot wakes on the release instead).
    #[must_use]
    pub fn next_wake(&self, now: Millis) -> Option<Millis> {
        let mut wake = self.timers.peek().map(|Reverse((at, _))| Millis(*at));
        for (i, c) in self.categories.iter().enumerate() {
            if c.queued.iter().all(|&q| q == 0) {
                continue;
            }
            let prio = (0..4)
                .find(|&p| c.queued[p] > 0)
                .map_or(Priority::Normal, |p| Priority::from_u8(p as u8));
            if let Err((reason, wait)) = self.can_start(i as u16, prio, now) {
                if reason != ThrottleReason::Concurrency {
                    let at = now.plus(wait.max(1));
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                }
            } else {
                wake = Some(now);
            }
        }
        if let Some(r) = &self.reporter {
            if let Some(at) = r.next_wake(now) {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        wake
    }

    fn finish(&mut self, id: u32, now: Millis) {
        let cat = self.ticket(id).map(|t| t.category);
        self.release(id);
        if let Some(cat) = cat {
            self.pump(cat, now);
        }
    }

    /// Records an attempt that produced an HTTP status and decides what follows. `now_wall_ms` is
    /// `Date.now()` (for HTTP-date Retry-After); `retry_after` is the raw header; `body` the
    /// parsed JSON error body, if the driver read one.
    pub fn on_status(
        &mut self,
        now: Millis,
        now_wall_ms: u64,
        id: u32,
        status: u16,
        retry_after: Option<&str>,
        body: Option<&BodyHint>,
    ) -> Verdict {
        let outcome = Outcome::Status {
            status,
            retry_after,
            body,
        };
        let failure = status >= 500 || status == 408;
        self.after_attempt(now, now_wall_ms, id, &outcome, failure)
    }

    /// Records a failed attempt without a response (`timeout`: the attempt's `timeoutMs` fired).
    /// A per-attempt timeout is a failure of the service (breaker, retries); see
    /// [`Engine::on_deadline`] for the caller's own deadline.
    pub fn on_network_error(
        &mut self,
        now: Millis,
        now_wall_ms: u64,
        id: u32,
        timeout: bool,
    ) -> Verdict {
        let outcome = if timeout {
            Outcome::AttemptTimeout
        } else {
            Outcome::NetworkError
        };
        self.after_attempt(now, now_wall_ms, id, &outcome, true)
    }

    /// The caller's `deadlineMs` ended a running attempt. That is the caller's limit, not a
    /// failure of the service: the breaker and the retry budget learn nothing (a probe frees its
    /// slot), and the call fails with `ERR_TIMEOUT` (deadline).
    pub fn on_deadline(&mut self, now: Millis, id: u32) -> Verdict {
        let Some(t) = self.ticket(id) else {
            return Verdict::Fail(GuardError::Disposed);
        };
        let (state, service, probe, cat) = (t.state, t.service, t.probe, t.category);
        if state == State::Running && probe {
            if let Some(s) = self.svc(service) {
                s.breaker.record_cancel(true);
            }
        }
        let c = &mut self.categories[cat as usize].counters;
        c.failed += 1;
        c.timed_out += 1;
        self.finish(id, now);
        Verdict::Fail(GuardError::Timeout {
            kind: TimeoutKind::Deadline,
        })
    }

    fn after_attempt(
        &mut self,
        now: Millis,
        now_wall_ms: u64,
        id: u32,
        outcome: &Outcome<'_>,
        failure: bool,
    ) -> Verdict {
        let Some(t) = self.ticket(id) else {
            return Verdict::Fail(GuardError::Disposed);
        };
        if t.state != State::Running {
            return Verdict::Fail(GuardError::Disposed);
        }
        let (cat, service, probe, retries, retry_safe, deadline) = (
            t.category,
            t.service,
            t.probe,
            t.retries,
            t.retry_safe,
            t.deadline,
        );
        // 1. The breaker learns the outcome.
        if let Some(s) = self.svc(service) {
            let tr = if failure {
                s.breaker.record_failure(now, probe)
            } else {
                s.breaker.record_success(now, probe)
            };
            if failure {
                s.failed += 1;
            }
            self.breaker_transition(service, tr, now);
        }
        self.adaptive_outcome(cat, service, outcome, now_wall_ms, now);
        // 2. A 429/503 hint holds the (category, service) pair that sent it, never the other
        //    services of the category; capped by `retry.maxRetryAfterMs` even when this request
        //    gives up on it or was not retryable.
        if let Outcome::Status {
            status: 429 | 503, ..
        } = outcome
        {
            if let Some(hint) = retry::server_hint_ms(outcome, now_wall_ms) {
                let until = now.plus(hint.min(self.cfg.retry.max_retry_after_ms));
                if let Some(s) = self.svc(service) {
                    let h = s.hint_mut(cat, now);
                    h.block = h.block.max(until);
                }
            }
        }
        // 3. Decide.
        let decision = if service == 0 {
            RetryDecision::Done
        } else {
            let mut backoff = self.ticket_mut(id).and_then(|t| t.backoff.take());
            let backoff_ref = backoff.get_or_insert_with(|| Backoff::new(&self.cfg.retry));
            let req = retry::RetryRequest {
                // Method safety was settled at submit (configured methods or an Idempotency-Key).
                method: "",
                has_idempotency_key: retry_safe,
                retries_done: retries,
                now,
                now_wall_ms,
                deadline,
            };
            let svc_idx = service as usize - 1;
            let d = match self.services.get_mut(svc_idx).and_then(Option::as_mut) {
                Some(s) => retry::decide(
                    &self.cfg.retry,
                    &req,
                    outcome,
                    backoff_ref,
                    &mut s.budget,
                    &mut self.rng,
                ),
                None => RetryDecision::Done,
            };
            if let Some(t) = self.ticket_mut(id) {
                t.backoff = backoff;
            }
            d
        };
        let status = match outcome {
            Outcome::Status { status, .. } => *status,
            Outcome::NetworkError => 0,
            Outcome::AttemptTimeout => 1,
        };
        let is_status = status >= 100;
        match decision {
            RetryDecision::Done => {
                self.categories[cat as usize].counters.completed += 1;
                self.finish(id, now);
                if is_status {
                    Verdict::Deliver
                } else {
                    self.categories[cat as usize].counters.failed += 1;
                    Verdict::Rethrow
                }
            }
            RetryDecision::Retry {
                delay_ms,
                source,
                reason,
            } => {
                let delay_ms = delay_ms.min(MAX_TIMER_MS);
                let c = &mut self.categories[cat as usize];
                c.counters.retried += 1;
                if matches!(reason, RetryReason::Timeout) {
                    c.counters.timed_out += 1;
                }
                c.in_flight = c.in_flight.saturating_sub(1);
                let ready_at = now.plus(delay_ms);
                if let Some(t) = self.ticket_mut(id) {
                    t.state = State::Backoff;
                    t.retries += 1;
                    t.ready_at = ready_at;
                    t.probe = false;
                }
                if self.verbose {
                    self.emit(Output::Retry {
                        id,
                        attempt: retries + 1,
                        delay_ms,
                        source,
                        status,
                    });
                }
                self.push_timer(ready_at, id);
                if let Some(d) = deadline {
                    self.push_timer(d, id);
                }
                self.pump(cat, now);
                Verdict::Retry { delay_ms }
            }
            RetryDecision::GiveUp(reason) => {
                if self.verbose {
                    self.emit(Output::GiveUp {
                        id,
                        reason,
                        attempts: retries + 1,
                        status,
                    });
                }
                let c = &mut self.categories[cat as usize].counters;
                let verdict = match reason {
                    GiveUp::HintTooLong { retry_after_ms } => {
                        c.failed += 1;
                        Verdict::Fail(GuardError::RetryAfterTooLong { retry_after_ms })
                    }
                    _ if is_status => {
                        c.completed += 1;
                        Verdict::Deliver
                    }
                    GiveUp::PastDeadline => {
                        c.failed += 1;
                        c.timed_out += 1;
                        Verdict::Fail(GuardError::Timeout {
                            kind: TimeoutKind::Deadline,
                        })
                    }
                    GiveUp::MethodNotSafe | GiveUp::NotRetryable => {
                        c.failed += 1;
                        Verdict::Rethrow
                    }
                    _ if status == 1 => {
                        c.failed += 1;
                        c.timed_out += 1;
                        Verdict::Fail(GuardError::Timeout {
                            kind: TimeoutKind::Attempt,
                        })
                    }
                    _ => {
                        c.failed += 1;
                        Verdict::Fail(GuardError::RetriesExhausted {
                            attempts: retries + 1,
                            last_status: if status == 1 { 0 } else { status },
                        })
                    }
                };
                self.finish(id, now);
                verdict
            }
        }
    }

    /// The server's pacing headers (`RateLimit`, `X-RateLimit-*`) for the (category, service)
    /// pair of `id`: at most `remaining` more starts of that pair before the reset, which is
    /// capped by `retry.maxRetryAfterMs` (a longer reset waits at most the cap; it never fails a
    /// call by itself). Replaces the pair's earlier quota.
    pub fn on_pacing(&mut self, now: Millis, id: u32, remaining: u32, reset_ms: u64) {
        let Some((cat, service)) = self.ticket(id).map(|t| (t.category, t.service)) else {
            return;
        };
        let cap = self.cfg.retry.max_retry_after_ms;
        if let Some(s) = self.svc(service) {
            let h = s.hint_mut(cat, now);
            h.remaining = remaining;
            h.reset_at = now.plus(reset_ms.min(cap));
        }
    }

    /// A job (or an attempt the engine need not judge) ended; frees its slot.
    pub fn done(&mut self, now: Millis, id: u32, ok: bool) {
        if let Some((State::Running, cat)) = self.ticket(id).map(|t| (t.state, t.category)) {
            {
                let c = &mut self.categories[cat as usize].counters;
                if ok {
                    c.completed += 1;
                } else {
                    c.failed += 1;
                }
            }
        }
        self.finish(id, now);
    }

    /// The caller aborted (or a job timed out): frees the ticket wherever it is. `timed_out`
    /// counts it as a timeout.
    pub fn cancel(&mut self, now: Millis, id: u32, timed_out: bool) {
        let Some(t) = self.ticket(id) else { return };
        let (state, service, probe, cat) = (t.state, t.service, t.probe, t.category);
        if state == State::Running && probe {
            if let Some(s) = self.svc(service) {
                s.breaker.record_cancel(true);
            }
        }
        let c = &mut self.categories[cat as usize].counters;
        c.failed += 1;
        if timed_out {
            c.timed_out += 1;
        }
        self.finish(id, now);
    }

    /// Frees everything; later calls fail with `ERR_DISPOSED`. Returns the ids that were live, so
    /// the driver rejects their promises.
    pub fn dispose(&mut self) -> Vec<u32> {
        self.disposed = true;
        let mut ids = Vec::new();
        for slot in 0..self.tickets.len() {
            if let Some(t) = self.tickets.get(slot) {
                if t.state != State::Free {
                    ids.push((t.gen << SLOT_BITS) | slot as u32);
                }
            }
        }
        for &id in &ids {
            self.release(id);
        }
        for c in &mut self.categories {
            for l in &mut c.lanes {
                l.clear();
            }
        }
        self.timers.clear();
        ids
    }

    /// Records a heap sample; at `limit`, `low` work is shed (also what already waits) and
    /// `normal` admitted at half rate until the level clears.
    pub fn record_heap(&mut self, sample: HeapSample) -> HeapReading {
        let now = sample.at;
        let (reading, change) = self.heap.record(sample);
        if let Some(ch) = change {
            if ch.to == HeapLevel::Limit {
                for cat in 0..self.categories.len() as u16 {
                    while let Some(id) = self.pop_lane_back(cat, Priority::Low as usize) {
                        self.release(id);
                        self.shed_breach(cat, Priority::Low, ShedReason::HeapLimit, now);
                        self.emit(Output::Fail {
                            id,
                            error: GuardError::Shed {
                                reason: ShedReason::HeapLimit,
                            },
                        });
                    }
                }
            }
            if let Some(r) = self.reporter.as_mut() {
                let mut w = JsonWriter::new();
                w.raw("{");
                ch.write_fields(&mut w);
                w.key("budgetBytes").u64(self.cfg.heap.budget_bytes);
                w.key("source")
                    .str(reading.source.as_str())
                    .key("precise")
                    .bool(reading.precise)
                    .raw("}");
                let mut key = String::from("heap:");
                key.push_str(ch.to.as_str());
                r.push(Breach {
                    kind: ReportKind::Heap,
                    key,
                    body_json: w.out,
                    at: now,
                });
            }
            self.emit(Output::Heap(ch));
            if ch.to < HeapLevel::Limit {
                for cat in 0..self.categories.len() as u16 {
                    self.pump(cat, now);
                }
            }
        }
        reading
    }

    /// The heap guard (readings, level, long tasks).
    pub fn heap(&mut self) -> &mut HeapGuard {
        &mut self.heap
    }

    /// Records a long task; a breach goes to the reporter. Returns whether it was a breach.
    pub fn record_long_task(&mut self, now: Millis, duration_ms: u64) -> bool {
        let Some(b) = self.heap.record_long_task(now, duration_ms) else {
            return false;
        };
        if let Some(r) = self.reporter.as_mut() {
            let mut w = JsonWriter::new();
            w.raw("{")
                .key("count")
                .u64(u64::from(b.count))
                .key("windowMs")
                .u64(b.window_ms)
                .key("totalMs")
                .u64(b.total_ms)
                .raw("}");
            r.push(Breach {
                kind: ReportKind::LongTask,
                key: String::from("longtask"),
                body_json: w.out,
                at: now,
            });
        }
        true
    }

    /// The reporter, if configured.
    pub fn reporter(&mut self) -> Option<&mut Reporter> {
        self.reporter.as_mut()
    }

    /// A batch of reports due now, if any.
    pub fn poll_reports(&mut self, now: Millis) -> Option<ReportBatch> {
        self.reporter.as_mut()?.poll(now)
    }

    /// A JSON snapshot of queues, limits, breakers, heap and reports.
    #[must_use]
    pub fn snapshot_json(&self, now: Millis) -> String {
        let mut w = JsonWriter::new();
        w.raw("{").key("liveTickets").u64(u64::from(self.live));
        w.key("categories").raw("{");
        for (ci, c) in self.categories.iter().enumerate() {
            w.key(&c.name).raw("{");
            match &c.limiter {
                Some(l) => {
                    let s = l.spec();
                    w.key("limit")
                        .raw("{")
                        .key("requests")
                        .u64(u64::from(s.requests))
                        .key("perMs")
                        .u64(s.per_ms)
                        .key("burst")
                        .u64(u64::from(s.burst))
                        .raw("}");
                    w.key("startsInWindow")
                        .u64(u64::from(l.starts_in_window(now)));
                    w.key("nextFreeInMs").u64(now.until(l.next_free_at(now)));
                }
                None => {
                    w.key("limit")
                        .raw("null")
                        .key("startsInWindow")
                        .u64(0)
                        .key("nextFreeInMs")
                        .u64(0);
                }
            }
            match c.max_concurrent {
                Some(n) => w.key("maxConcurrent").u64(u64::from(n)),
                None => w.key("maxConcurrent").raw("null"),
            };
            w.key("inFlight").u64(u64::from(c.in_flight));
            w.key("queued").raw("{");
            for (p, &n) in c.queued.iter().enumerate() {
                w.key(Priority::from_u8(p as u8).as_str()).u64(u64::from(n));
            }
            w.raw("}");
            w.key("parked").u64(u64::from(c.parked));
            let blocked = self
                .services
                .iter()
                .flatten()
                .filter_map(|s| s.hint(ci as u16).and_then(|h| h.held(now)))
                .map(|(until, _)| now.until(until))
                .max()
                .unwrap_or(0);
            w.key("blockedForMs").u64(blocked);
            Self::write_adaptive_category(c, now, &mut w);
            let k = &c.counters;
            w.key("counters")
                .raw("{")
                .key("sent")
                .u64(k.sent)
                .key("retried")
                .u64(k.retried)
                .key("throttled")
                .u64(k.throttled);
            w.key("shed")
                .u64(k.shed)
                .key("failed")
                .u64(k.failed)
                .key("timedOut")
                .u64(k.timed_out)
                .key("completed")
                .u64(k.completed);
            w.raw("}}");
        }
        w.raw("}").key("services").raw("{");
        for s in self.services.iter().flatten() {
            w.key(&s.name)
                .raw("{")
                .key("breaker")
                .str(s.breaker.state(now).as_str());
            w.key("failures")
                .u64(u64::from(s.breaker.failures()))
                .key("retryInMs")
                .u64(s.breaker.retry_in_ms(now));
            w.key("retryBudget").u64(u64::from(s.budget.available(now)));
            // Server hints holding this service, per category (ms left).
            w.key("blockedForMs").raw("{");
            for h in &s.hints {
                if let Some((until, _)) = h.held(now) {
                    if let Some(c) = self.categories.get(h.category as usize) {
                        w.key(&c.name).u64(now.until(until));
                    }
                }
            }
            w.raw("}");
            Self::write_adaptive_service(s, now, &mut w);
            w.key("counters")
                .raw("{")
                .key("sent")
                .u64(s.sent)
                .key("failed")
                .u64(s.failed)
                .raw("}}");
        }
        w.raw("}").key("heap");
        match self.heap.last() {
            Some(r) => {
                let h = &self.cfg.heap;
                w.raw("{");
                r.write_fields(&mut w);
                w.key("budgetBytes").u64(h.budget_bytes);
                w.key("ageMs").u64(now.since(r.sampled_at));
                w.key("levels").raw("{");
                for (name, l) in [
                    ("warning", HeapLevel::Warning),
                    ("critical", HeapLevel::Critical),
                    ("limit", HeapLevel::Limit),
                ] {
                    w.key(name).u64(self.heap.enter_bytes(l));
                }
                w.raw("}}");
            }
            None => {
                w.raw("null");
            }
        }
        w.key("heapLevel").str(self.heap.level().as_str());
        w.key("reports");
        match &self.reporter {
            Some(r) => {
                let s = r.stats();
                w.raw("{")
                    .key("sent")
                    .u64(s.sent)
                    .key("pending")
                    .u64(s.pending as u64)
                    .key("dropped")
                    .u64(s.dropped)
                    .key("deduped")
                    .u64(s.deduped)
                    .raw("}");
            }
            None => {
                w.raw("null");
            }
        }
        w.raw("}");
        w.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rng::SeqRng;

    fn engine(json: &str) -> Engine<SeqRng> {
        Engine::new(
            GuardConfig::from_json(json).unwrap(),
            SeqRng::new(vec![0.5]),
        )
    }

    #[test]
    fn tickets_are_reused_with_a_new_generation() {
        let mut e = engine(r#"{"rateLimit":{"requests":1000,"perMs":1000}}"#);
        let a = e
            .submit(Millis(0), &Submit::request(0, Priority::Normal, "s", "GET"))
            .unwrap();
        e.done(Millis(1), a.id, true);
        let b = e
            .submit(Millis(2), &Submit::request(0, Priority::Normal, "s", "GET"))
            .unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id & SLOT_MASK, b.id & SLOT_MASK);
        // A stale id is ignored, never frees the new ticket.
        e.done(Millis(3), a.id, true);
        assert_eq!(e.live_tickets(), 1);
    }
}
