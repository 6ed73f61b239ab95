//! Plans upload batches from stored records and runs their send / retry / split / lease state machine.
//!
//! ```
//! use resource_guard::core::rng::SplitMix64;
//! use resource_guard::core::time::Millis;
//! use resource_guard::core::upload::{Action, SendResult, UploadConfig, UploadEvent, UploadPlanner};
//!
//! let mut rng = SplitMix64::new(1);
//! let mut up = UploadPlanner::new(UploadConfig::default(), None);
//! up.add(1, 120); // record 1 is 120 bytes of JSON text in IndexedDB
//! up.add(2, 80);
//! let Action::Send(batch) = up.next_action(Millis(0), &mut rng) else { panic!("expected a send") };
//! assert_eq!(batch.record_ids, vec![1, 2]);
//! assert_eq!(batch.body_bytes, 14 + 120 + 1 + 80); // {"records":[r1,r2]}
//! let events = up.on_result(batch.id, SendResult::Ok, Millis(40), &mut rng);
//! assert!(matches!(&events[..], [UploadEvent::Delivered { record_ids, .. }] if record_ids == &vec![1, 2]));
//! assert_eq!(up.stats().sent_records, 2);
//! ```
//!
//! Records never enter Rust: the driver keeps each one in IndexedDB as JSON text under an
//! increasing id and tells the planner only `(id, byte_len)`. The driver builds the body
//! `{"records":[r1,r2,...]}` from [`Batch::record_ids`] in that order, so the body is
//! [`body_bytes`] long.
//!
//! # Rules
//! - Batches take records in id order while the body stays `<=` the effective limit
//!   (`min(max_batch_bytes, learned limit)`) and `<= max_batch_items`. A record larger than the
//!   limit on its own is sent alone (the limit is a target, not a fact) unless a body of that size
//!   was already refused with 413, in which case it is dead-lettered with `ERR_PAYLOAD_TOO_LARGE`.
//! - 2xx: delivered (the driver deletes the records and the batch descriptor).
//! - 413: the batch splits in half by records (first half gets the extra one), each half with a
//!   new idempotency seed (its payload differs) and sent at once; the learned limit drops to the
//!   largest body accepted so far if that is below the refused size, else to half the refused size,
//!   never below [`LEARNED_FLOOR_BYTES`]; after [`LEARNED_GROWTH_AFTER`] deliveries in a row it
//!   grows by a quarter again (up to `max_batch_bytes`).
//!   A one-record batch refused with 413 is dead-lettered (`ERR_PAYLOAD_TOO_LARGE`, status 413).
//! - 409 (still in flight), 408, 429/503 without a hint, 5xx, other statuses:
//!   retried with the same seed after exponential backoff with proportional jitter. (408 Request
//!   Timeout is retried although API.md lists only 409/413/422/429/503 among the 4xx: it says the
//!   request took too long, not that the data is wrong.)
//! - 429/503 with a Retry-After hint: the whole queue pauses until `now + hint`, no jitter, the
//!   hint capped by `max_retry_after_ms` (a longer one waits the cap).
//! - 422 and every other 4xx: dead-lettered at once (`ERR_RETRIES_EXHAUSTED`, last status).
//! - Being unreachable is not the data's fault: a network error uses an attempt only if another
//!   send succeeded while it was out. Otherwise the attempt is given back and the queue probes
//!   the endpoint with one batch at a time, after `base_delay_ms`, doubling per failed probe up
//!   to `max_delay_ms`, until any HTTP answer (or [`UploadPlanner::wake`]). A send the guard did
//!   not make ([`SendResult::NotSent`]: breaker open, queue refused) uses no attempt either.
//! - Every other send counts as an attempt. A batch that failed `max_attempts` times (or that
//!   would be sent a `max_attempts + 1`-th time after lease expiries) is dead-lettered with its
//!   last status (0 = network error or unknown).
//! - With [`UploadPlanner::set_more_stored`] on (the driver reads the queue a window at a time),
//!   only full batches are formed.
//! - A batch in flight holds a lease until `now + lease_ms`; at `lease_until` it returns to
//!   ready with the same seed (the send probably died with the tab).
//!
//! # Crash recovery
//! When the driver sends a batch it stores [`UploadPlanner::batch_descriptor`] next to the lease.
//! On start-up it calls [`UploadPlanner::restore_batch`] for every stored descriptor and
//! [`UploadPlanner::add`] for every record not in one. A descriptor whose records all still exist
//! comes back unchanged with the same seed, so the server's idempotency-key dedupe absorbs the
//! resend; a descriptor whose lease has not run out stays leased until it does (another tab may
//! still be sending it).
//!
//! Memory is bounded by the records not yet delivered or dead-lettered: finished records are
//! forgotten (which is also why `add` can only ignore duplicates of records it still tracks).

use std::collections::VecDeque;

use super::error::{ErrorCode, GuardError};
use super::rng::Rng;
use super::time::{Millis, MAX_TIMER_MS};

/// Bytes of `{"records":[]}` around the records.
pub const BODY_OVERHEAD_BYTES: u64 = 14;
/// Default `uploader.maxBatchBytes`: 262 144 bytes (256 KiB, well under common 1 MiB server limits).
pub const UPLOAD_MAX_BATCH_BYTES: u64 = 262_144;
/// Default `uploader.maxBatchItems`: 500 records.
pub const UPLOAD_MAX_BATCH_ITEMS: u32 = 500;
/// Default `uploader.maxAttempts`: 8 sends per batch.
pub const UPLOAD_MAX_ATTEMPTS: u32 = 8;
/// Default `uploader.concurrency`: 2 batches in flight.
pub const UPLOAD_CONCURRENCY: u32 = 2;
/// Default `uploader.leaseMs`: 60 000 ms.
pub const UPLOAD_LEASE_MS: u64 = 60_000;
/// Default `uploader.baseDelayMs`: 1000 ms.
pub const UPLOAD_BASE_DELAY_MS: u64 = 1000;
/// Default `uploader.maxDelayMs`: 30 000 ms.
pub const UPLOAD_MAX_DELAY_MS: u64 = 30_000;
/// Default `uploader.jitter`: 0.25 (delays vary by ±25 %).
pub const UPLOAD_JITTER: f64 = 0.25;
/// Smallest accepted `uploader.maxBatchBytes`: 64 bytes.
pub const UPLOAD_MIN_BATCH_BYTES: u64 = 64;
/// Largest accepted `uploader.maxBatchBytes`: 1 073 741 824 bytes (1 GiB).
pub const UPLOAD_MAX_BATCH_BYTES_LIMIT: u64 = 1 << 30;
/// Default cap on a server pacing hint (`Retry-After`, `retryAfterMs`): 60 000 ms, the guard's
/// `retry.maxRetryAfterMs` default (the driver passes the guard's value). A longer hint waits the cap.
pub const UPLOAD_MAX_RETRY_AFTER_MS: u64 = 60_000;
/// The learned body limit never drops below this (or `max_batch_bytes` if smaller): 1024 bytes.
/// A 413 below it still splits the batch; the floor keeps a hostile or flaky 413 from collapsing
/// every later batch to one record.
pub const LEARNED_FLOOR_BYTES: u64 = 1024;
/// Deliveries in a row without a 413 after which the learned limit grows by a quarter (capped at
/// `max_batch_bytes`): 32. The endpoint may take more again.
pub const LEARNED_GROWTH_AFTER: u32 = 32;

/// Body length in bytes of `{"records":[...]}` holding `count` records of `sum_len` bytes in total.
#[must_use]
pub fn body_bytes(count: u64, sum_len: u64) -> u64 {
    BODY_OVERHEAD_BYTES
        .saturating_add(sum_len)
        .saturating_add(count.saturating_sub(1))
}

/// Upload engine settings (the JS `uploader({...})` options).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UploadConfig {
    /// Largest request body, bytes [262 144].
    pub max_batch_bytes: u64,
    /// Most records per batch [500].
    pub max_batch_items: u32,
    /// Sends per batch before it is dead-lettered [8].
    pub max_attempts: u32,
    /// Batches in flight at once [2].
    pub concurrency: u32,
    /// How long a batch in flight stays leased, ms [60 000].
    pub lease_ms: u64,
    /// First backoff delay, ms [1000].
    pub base_delay_ms: u64,
    /// Longest backoff delay, ms [30 000]; jitter never goes above it.
    pub max_delay_ms: u64,
    /// Proportional jitter as a fraction of the delay, in `[0, 1]` [0.25].
    pub jitter: f64,
    /// Longest pause a server hint (or an open breaker) may impose, ms [60 000].
    pub max_retry_after_ms: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig {
            max_batch_bytes: UPLOAD_MAX_BATCH_BYTES,
            max_batch_items: UPLOAD_MAX_BATCH_ITEMS,
            max_attempts: UPLOAD_MAX_ATTEMPTS,
            concurrency: UPLOAD_CONCURRENCY,
            lease_ms: UPLOAD_LEASE_MS,
            base_delay_ms: UPLOAD_BASE_DELAY_MS,
            max_delay_ms: UPLOAD_MAX_DELAY_MS,
            jitter: UPLOAD_JITTER,
            max_retry_after_ms: UPLOAD_MAX_RETRY_AFTER_MS,
        }
    }
}

fn join(prefix: &str, key: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + key.len() + 1);
    p.push_str(prefix);
    if !prefix.is_empty() {
        p.push('.');
    }
    p.push_str(key);
    p
}

impl UploadConfig {
    /// Checks every field; `prefix` is the JS path of the options object (e.g. `uploader`).
    ///
    /// # Errors
    /// [`GuardError::InvalidOption`] naming the path, e.g. `uploader.maxBatchBytes`.
    pub fn validate(self, prefix: &str) -> Result<Self, GuardError> {
        let bad = |key: &str, reason: &'static str| {
            Err(GuardError::invalid_option(&join(prefix, key), reason))
        };
        if self.max_batch_bytes < UPLOAD_MIN_BATCH_BYTES {
            return bad("maxBatchBytes", "must be >= 64");
        }
        if self.max_batch_bytes > UPLOAD_MAX_BATCH_BYTES_LIMIT {
            return bad("maxBatchBytes", "must be <= 1073741824");
        }
        if self.max_batch_items == 0 {
            return bad("maxBatchItems", "must be >= 1");
        }
        if self.max_batch_items > 100_000 {
            return bad("maxBatchItems", "must be <= 100000");
        }
        if self.max_attempts == 0 {
            return bad("maxAttempts", "must be >= 1");
        }
        if self.max_attempts > 1000 {
            return bad("maxAttempts", "must be <= 1000");
        }
        if self.concurrency == 0 {
            return bad("concurrency", "must be >= 1");
        }
        if self.concurrency > 64 {
            return bad("concurrency", "must be <= 64");
        }
        for (key, v) in [
            ("leaseMs", self.lease_ms),
            ("baseDelayMs", self.base_delay_ms),
            ("maxDelayMs", self.max_delay_ms),
            ("maxRetryAfterMs", self.max_retry_after_ms),
        ] {
            if v == 0 {
                return bad(key, "must be >= 1");
            }
            if v > MAX_TIMER_MS {
                return bad(key, "must be <= 2147483647 (the longest browser timer)");
            }
        }
        if self.max_delay_ms < self.base_delay_ms {
            return bad("maxDelayMs", "must be >= baseDelayMs");
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return bad("jitter", "must be a number from 0 to 1");
        }
        Ok(self)
    }
}

/// Identifies a batch within one planner (not persisted; the seed is what survives a crash).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u32);

/// A batch to send now: the driver builds the body from `record_ids` in this order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Pass it back to [`UploadPlanner::on_result`].
    pub id: BatchId,
    /// Records in body order.
    pub record_ids: Vec<u64>,
    /// Exact body length, bytes.
    pub body_bytes: u64,
    /// Sends of this batch including this one (1 on the first send).
    pub attempts: u32,
    /// Derive the `Idempotency-Key` from this (`< 2^53`, exact as a JS number): the same on every
    /// resend of this exact batch, new when records are split off.
    pub idempotency_seed: u64,
}

/// What the driver should persist with a lease to resend the same batch after a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchDescriptor {
    /// `(record id, byte length)` in body order.
    pub records: Vec<(u64, u64)>,
    /// Idempotency seed to reuse.
    pub idempotency_seed: u64,
    /// Sends so far.
    pub attempts: u32,
    /// Last status seen (0 = none or network error).
    pub last_status: u16,
    /// End of the current lease (0 when not in flight), in the driver's wall-clock ms.
    pub lease_until: Millis,
}

/// What the driver should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Lease this batch (store its descriptor) and send it.
    Send(Batch),
    /// Move these records to the dead-letter store and tell listeners.
    DeadLetter {
        /// Records given up on.
        record_ids: Vec<u64>,
        /// `PayloadTooLarge` or `RetriesExhausted`.
        code: ErrorCode,
        /// Last HTTP status (0 = network error or never sent).
        last_status: u16,
    },
    /// Nothing before `until` unless a result, `add`, `set_paused` or `pause_until` happens.
    Wait {
        /// When to call `next_action` again.
        until: Millis,
    },
    /// Nothing to do until a result, `add` or `set_paused(.., false)`.
    Idle,
}

/// How one send ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendResult {
    /// A 2xx response.
    Ok,
    /// Any other HTTP response (2xx here counts as `Ok` too).
    Status {
        /// The status code.
        status: u16,
        /// The parsed Retry-After hint in ms, if any.
        retry_after_ms: Option<u64>,
    },
    /// fetch rejected (offline, CORS, aborted by the lease timeout...). It uses an attempt only
    /// if another send of this planner succeeded while it was out; otherwise the endpoint counts
    /// as unreachable and the queue probes it (see [`UploadPlanner::is_unreachable`]).
    NetworkError,
    /// The guard did not send it (its breaker for the endpoint is open, its queue refused it):
    /// no attempt is used; the whole queue waits `retry_in_ms` (capped by `max_retry_after_ms`).
    NotSent {
        /// How long to wait, ms.
        retry_in_ms: u64,
    },
}

/// Something that happened in [`UploadPlanner::on_result`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadEvent {
    /// The server stored these records: delete them and the batch descriptor.
    Delivered {
        /// The batch.
        batch: BatchId,
        /// Its records.
        record_ids: Vec<u64>,
        /// Its body length, bytes.
        body_bytes: u64,
    },
    /// Give up on these records (dead-letter store, `deadLetter` event); delete the descriptor.
    DeadLetter {
        /// Records given up on.
        record_ids: Vec<u64>,
        /// `PayloadTooLarge` (413 on one record) or `RetriesExhausted`.
        code: ErrorCode,
        /// Last HTTP status (0 = network error).
        last_status: u16,
    },
    /// The batch will be resent with the same seed, not before `at`.
    RetryScheduled {
        /// The batch.
        batch: BatchId,
        /// Sends so far.
        attempts: u32,
        /// Status of the failed send (0 = network error).
        status: u16,
        /// Earliest resend.
        at: Millis,
    },
    /// 413: the batch was replaced by two halves with new seeds (replace the stored descriptor).
    Split {
        /// The refused batch (gone).
        from: BatchId,
        /// Its first half.
        first: BatchId,
        /// Its second half.
        second: BatchId,
    },
    /// The server asked the whole queue to wait until this time.
    PausedUntil(Millis),
    /// The learned body limit changed: persist it per endpoint, bytes.
    LearnedMaxBytes(u64),
}

/// Why the queue is paused by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PauseReason {
    /// `navigator.onLine` is false.
    Offline = 1,
    /// The heap guard reached its `limit` level.
    HeapLimit = 2,
}

/// Counters for `up.stats()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UploadStats {
    /// Records waiting (not in flight).
    pub pending_records: u64,
    /// Batches in flight.
    pub in_flight_batches: u32,
    /// Records in flight.
    pub in_flight_records: u64,
    /// Records delivered since start.
    pub sent_records: u64,
    /// Records dead-lettered since start.
    pub dead_lettered_records: u64,
    /// Sends since start.
    pub attempts: u64,
    /// Body bytes delivered since start.
    pub bytes_sent: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready { not_before: Millis },
    InFlight { lease_until: Millis },
}

#[derive(Clone, Debug)]
struct Slot {
    id: BatchId,
    records: Vec<(u64, u64)>,
    body_bytes: u64,
    attempts: u32,
    seed: u64,
    last_status: u16,
    state: State,
    /// The planner's success count when this send started.
    successes_at_send: u64,
    /// Sent as the one probe of an unreachable endpoint.
    probe: bool,
}

impl Slot {
    fn ids(&self) -> Vec<u64> {
        self.records.iter().map(|r| r.0).collect()
    }
    fn first_id(&self) -> u64 {
        self.records.first().map_or(0, |r| r.0)
    }
}

const SEED_MASK: u64 = (1 << 53) - 1;

/// The upload planner: pending records, batches, leases, backoff, pause and the learned limit.
#[derive(Debug)]
pub struct UploadPlanner {
    cfg: UploadConfig,
    /// Pending records `(id, byte_len)`, sorted by id (new ids arrive in order: appends).
    free: VecDeque<(u64, u64)>,
    /// Every record the planner holds (pending or in a batch), sorted; taken from the front as
    /// the oldest are delivered. (Sorted deques instead of B-trees: kilobytes less wasm.)
    tracked: VecDeque<u64>,
    batches: Vec<Slot>,
    next_batch: u32,
    seeds: u64,
    learned: Option<u64>,
    accepted_max: u64,
    rejected_min: Option<u64>,
    paused_until: Millis,
    paused_flags: u8,
    stats: UploadStats,
    /// More records are stored than the driver handed over: only full batches are formed.
    more_stored: bool,
    /// 2xx answers so far (tells a lost send from an unreachable endpoint).
    successes: u64,
    /// Deliveries since the last 413 (the learned limit grows back after enough).
    clean_deliveries: u32,
    /// Network failures with no success meanwhile: one probe at `probe_at`, then `probe_delay_ms`
    /// doubles up to `max_delay_ms`. Cleared by any HTTP answer.
    unreachable: bool,
    probe_at: Millis,
    probe_delay_ms: u64,
}

impl UploadPlanner {
    /// A planner; `learned_max_bytes` is the limit persisted for this endpoint, if any (bytes).
    #[must_use]
    pub fn new(cfg: UploadConfig, learned_max_bytes: Option<u64>) -> Self {
        UploadPlanner {
            cfg,
            free: VecDeque::new(),
            tracked: VecDeque::new(),
            batches: Vec::new(),
            next_batch: 0,
            seeds: 0,
            learned: learned_max_bytes,
            accepted_max: 0,
            rejected_min: None,
            paused_until: Millis(0),
            paused_flags: 0,
            stats: UploadStats::default(),
            more_stored: false,
            successes: 0,
            clean_deliveries: 0,
            unreachable: false,
            probe_at: Millis(0),
            probe_delay_ms: 0,
        }
    }

    /// The driver holds more stored records than it handed over (`true`) or handed over all it has
    /// (`false`, the default). While `true`, a batch is formed only when it is full (by items or
    /// bytes), so reading the queue a window at a time never sends a short batch mid-queue.
    pub fn set_more_stored(&mut self, more: bool) {
        self.more_stored = more;
    }

    /// What the planner holds: `(pending records not yet in a batch, their bytes, batches)`.
    /// The driver reads more from storage while the first two cover fewer than a few batches.
    #[must_use]
    pub fn window(&self) -> (u64, u64, u32) {
        let bytes = self.free.iter().fold(0u64, |a, r| a.saturating_add(r.1));
        (
            self.free.len() as u64,
            bytes,
            u32::try_from(self.batches.len()).unwrap_or(u32::MAX),
        )
    }

    /// True while network failures with no success meanwhile keep the queue probing.
    #[must_use]
    pub fn is_unreachable(&self) -> bool {
        self.unreachable
    }

    /// The network may be back (the browser's `online` event): probe at once.
    pub fn wake(&mut self, now: Millis) {
        if self.unreachable {
            self.probe_at = now;
        }
    }

    /// Adds a stored record (`byte_len` bytes of JSON text); ignored if already tracked.
    pub fn add(&mut self, id: u64, byte_len: u64) {
        if set_insert(&mut self.tracked, id) {
            if let Err(pos) = self.free.binary_search_by_key(&id, |e| e.0) {
                // `pos <= len` always; the test lets the compiler drop insert's panic branch.
                if pos <= self.free.len() {
                    self.free.insert(pos, (id, byte_len));
                }
            }
        }
    }

    /// Restores a persisted batch after a restart. If all its records are new to the planner it
    /// comes back unchanged (same seed, same attempts): leased until `lease_until` if that is
    /// still ahead of `now` (another tab may be sending it), ready otherwise. If it is empty or
    /// shares a record with what the planner already tracks, its remaining records become plain
    /// pending records (new batches, new seeds, because the payload changes) and `None` is returned.
    pub fn restore_batch(&mut self, desc: BatchDescriptor, now: Millis) -> Option<BatchId> {
        let mut seen = VecDeque::new();
        let clean = !desc.records.is_empty()
            && desc.records.iter().all(|(id, _)| {
                self.tracked.binary_search(id).is_err() && set_insert(&mut seen, *id)
            });
        if !clean {
            for (id, len) in desc.records {
                self.add(id, len);
            }
            return None;
        }
        for (id, _) in &desc.records {
            set_insert(&mut self.tracked, *id);
        }
        let sum = desc.records.iter().fold(0u64, |a, r| a.saturating_add(r.1));
        let id = self.new_batch_id();
        let state = if desc.lease_until > now {
            // Cap a hostile lease at one lease_ms from now.
            State::InFlight {
                lease_until: desc.lease_until.min(now.plus(self.cfg.lease_ms)),
            }
        } else {
            State::Ready { not_before: now }
        };
        self.batches.push(Slot {
            id,
            body_bytes: body_bytes(desc.records.len() as u64, sum),
            records: desc.records,
            attempts: desc.attempts,
            seed: desc.idempotency_seed & SEED_MASK,
            last_status: desc.last_status,
            state,
            successes_at_send: self.successes,
            probe: false,
        });
        Some(id)
    }

    /// The descriptor to persist for `batch` (store it with the lease when sending).
    #[must_use]
    pub fn batch_descriptor(&self, batch: BatchId) -> Option<BatchDescriptor> {
        self.batches
            .iter()
            .find(|b| b.id == batch)
            .map(|b| BatchDescriptor {
                records: b.records.clone(),
                idempotency_seed: b.seed,
                attempts: b.attempts,
                last_status: b.last_status,
                lease_until: match b.state {
                    State::InFlight { lease_until } => lease_until,
                    State::Ready { .. } => Millis(0),
                },
            })
    }

    /// Pauses the whole queue until `until` (never shortens a pause already in force).
    pub fn pause_until(&mut self, until: Millis) {
        self.paused_until = self.paused_until.max(until);
    }

    /// Turns a driver pause on or off; while any is on, `next_action` returns `Idle`.
    pub fn set_paused(&mut self, reason: PauseReason, on: bool) {
        if on {
            self.paused_flags |= reason as u8;
        } else {
            self.paused_flags &= !(reason as u8);
        }
    }

    /// Forgets the smallest body refused with 413, so a record at least that large is sent alone
    /// once more instead of dead-lettered unsent (the driver calls it when dead letters are
    /// retried: the endpoint may take more now). The learned limit stays.
    pub fn forget_refusals(&mut self) {
        self.rejected_min = None;
    }

    /// The learned body limit (bytes) to persist per endpoint; `None` until a 413 was seen.
    #[must_use]
    pub fn learned_max_bytes(&self) -> Option<u64> {
        self.learned
    }

    /// The body limit batches are planned against: `min(max_batch_bytes, learned)`, bytes.
    #[must_use]
    pub fn effective_max_bytes(&self) -> u64 {
        self.learned.map_or(self.cfg.max_batch_bytes, |l| {
            l.min(self.cfg.max_batch_bytes)
        })
    }

    /// Counters and gauges.
    #[must_use]
    pub fn stats(&self) -> UploadStats {
        let mut s = self.stats;
        s.pending_records = self.free.len() as u64;
        s.in_flight_batches = 0;
        s.in_flight_records = 0;
        for b in &self.batches {
            let n = b.records.len() as u64;
            match b.state {
                State::InFlight { .. } => {
                    s.in_flight_batches = s.in_flight_batches.saturating_add(1);
                    s.in_flight_records = s.in_flight_records.saturating_add(n);
                }
                State::Ready { .. } => s.pending_records = s.pending_records.saturating_add(n),
            }
        }
        s
    }

    /// Returns batches whose lease ended at or before `now` to ready (same seed); their ids.
    pub fn expire_leases(&mut self, now: Millis) -> Vec<BatchId> {
        let mut out = Vec::new();
        for b in &mut self.batches {
            if let State::InFlight { lease_until } = b.state {
                if lease_until <= now {
                    b.state = State::Ready { not_before: now };
                    out.push(b.id);
                }
            }
        }
        out
    }

    /// The next thing to do at `now` (expires leases first). Call it until it returns `Wait`
    /// or `Idle`. `rng` draws new idempotency seeds: seed it randomly per session
    /// (`crypto.getRandomValues`) so keys stay unique across tabs and restarts.
    pub fn next_action(&mut self, now: Millis, rng: &mut dyn Rng) -> Action {
        self.expire_leases(now);
        if self.paused_flags != 0 {
            return Action::Idle;
        }
        if now < self.paused_until {
            return Action::Wait {
                until: self.paused_until,
            };
        }
        let in_flight = self
            .batches
            .iter()
            .filter(|b| matches!(b.state, State::InFlight { .. }))
            .count();
        if in_flight >= self.cfg.concurrency as usize || (self.unreachable && in_flight > 0) {
            return self.wait_for_lease();
        }
        if self.unreachable && now < self.probe_at {
            // One probe at a time, when it is due; a result or `wake` ends the wait sooner.
            return match self.wait_for_lease() {
                Action::Wait { until } => Action::Wait {
                    until: until.min(self.probe_at),
                },
                _ => Action::Wait {
                    until: self.probe_at,
                },
            };
        }
        // A due retry first (oldest records first), then a new batch.
        let due = self
            .batches
            .iter()
            .enumerate()
            .filter(|(_, b)| matches!(b.state, State::Ready { not_before } if not_before <= now))
            .min_by_key(|(_, b)| b.first_id())
            .map(|(i, _)| i);
        if let Some(i) = due {
            if self.batches[i].attempts >= self.cfg.max_attempts.max(1) {
                let b = self.batches.swap_remove(i);
                return self.dead_letter_action(
                    b.ids(),
                    ErrorCode::RetriesExhausted,
                    b.last_status,
                );
            }
            return self.lease(i, now);
        }
        if let Some(action) = self.form_batch(now, rng) {
            return action;
        }
        let next_ready = self
            .batches
            .iter()
            .filter_map(|b| match b.state {
                State::Ready { not_before } => Some(not_before),
                State::InFlight { .. } => None,
            })
            .min();
        match (next_ready, self.wait_for_lease()) {
            (Some(r), Action::Wait { until }) => Action::Wait {
                until: r.min(until),
            },
            (Some(r), _) => Action::Wait { until: r },
            (None, other) => other,
        }
    }

    /// Applies the outcome of sending `batch` at `now`; `rng` draws backoff jitter and the seeds
    /// of split halves. Unknown ids are ignored; a late failure for a batch no longer in flight
    /// is ignored, a late success still delivers it.
    pub fn on_result(
        &mut self,
        batch: BatchId,
        result: SendResult,
        now: Millis,
        rng: &mut dyn Rng,
    ) -> Vec<UploadEvent> {
        let Some(i) = self.batches.iter().position(|b| b.id == batch) else {
            return Vec::new();
        };
        let (status, retry_after_ms) = match result {
            SendResult::Ok => (200, None),
            SendResult::Status {
                status,
                retry_after_ms,
            } => (status, retry_after_ms),
            SendResult::NetworkError => (0, None),
            SendResult::NotSent { retry_in_ms } => return self.not_sent(i, retry_in_ms, now),
        };
        let mut events = Vec::new();
        if status != 0 {
            // The endpoint answered: it is reachable.
            self.unreachable = false;
            self.probe_delay_ms = 0;
        }
        if (200..300).contains(&status) {
            self.successes = self.successes.saturating_add(1);
            let b = self.batches.swap_remove(i);
            self.forget(&b.records);
            self.stats.sent_records = self
                .stats
                .sent_records
                .saturating_add(b.records.len() as u64);
            self.stats.bytes_sent = self.stats.bytes_sent.saturating_add(b.body_bytes);
            self.accepted_max = self.accepted_max.max(b.body_bytes);
            if let Some(l) = self.learned {
                self.clean_deliveries = self.clean_deliveries.saturating_add(1);
                let max = self.cfg.max_batch_bytes;
                let grown = if b.body_bytes > l {
                    // A lone record above the learned limit got through: the endpoint takes more.
                    Some(b.body_bytes)
                } else if self.clean_deliveries >= LEARNED_GROWTH_AFTER && l < max {
                    // Long enough without a 413: try a quarter more (a 413 lowers it again).
                    Some(l.saturating_add(l / 4).min(max))
                } else {
                    None
                };
                if let Some(g) = grown {
                    self.clean_deliveries = 0;
                    self.learned = Some(g);
                    events.push(UploadEvent::LearnedMaxBytes(g));
                }
            }
            events.insert(
                0,
                UploadEvent::Delivered {
                    batch,
                    record_ids: b.ids(),
                    body_bytes: b.body_bytes,
                },
            );
            return events;
        }
        if !matches!(self.batches[i].state, State::InFlight { .. }) {
            return events;
        }
        if status == 0 && self.successes <= self.batches[i].successes_at_send {
            return self.unreachable_failure(i, batch, now);
        }
        self.batches[i].last_status = status;
        match status {
            413 => {
                self.clean_deliveries = 0;
                let refused = self.batches[i].body_bytes;
                self.rejected_min = Some(self.rejected_min.map_or(refused, |r| r.min(refused)));
                let known_good = if self.accepted_max < refused {
                    self.accepted_max
                } else {
                    0
                };
                let target = known_good.max(refused / 2);
                let floor = LEARNED_FLOOR_BYTES.min(self.cfg.max_batch_bytes);
                let lowered = self.learned.map_or(target, |l| l.min(target)).max(floor);
                if self.learned != Some(lowered) {
                    self.learned = Some(lowered);
                    events.push(UploadEvent::LearnedMaxBytes(lowered));
                }
                let b = self.batches.swap_remove(i);
                if b.records.len() <= 1 {
                    events.push(self.dead_letter(&b.records, ErrorCode::PayloadTooLarge, 413));
                } else {
                    let mid = b.records.len().div_ceil(2);
                    let first = self.push_ready(b.records[..mid].to_vec(), now, rng);
                    let second = self.push_ready(b.records[mid..].to_vec(), now, rng);
                    events.push(UploadEvent::Split {
                        from: batch,
                        first,
                        second,
                    });
                }
            }
            429 | 503 if retry_after_ms.is_some() => {
                // The hint is authoritative and applies to the whole queue: no jitter; a hint
                // beyond `max_retry_after_ms` waits the cap (the next answer may say more).
                let cap = self.cfg.max_retry_after_ms.min(MAX_TIMER_MS);
                let until = now.plus(retry_after_ms.unwrap_or(0).min(cap));
                self.pause_until(until);
                events.push(UploadEvent::PausedUntil(self.paused_until));
                if let Some(e) = self.exhausted(i) {
                    events.push(e);
                } else {
                    let b = &mut self.batches[i];
                    b.state = State::Ready { not_before: until };
                    events.push(UploadEvent::RetryScheduled {
                        batch,
                        attempts: b.attempts,
                        status,
                        at: until,
                    });
                }
            }
            400..=499 if !matches!(status, 408 | 409 | 429) => {
                let b = self.batches.swap_remove(i);
                events.push(self.dead_letter(&b.records, ErrorCode::RetriesExhausted, status));
            }
            _ => {
                if let Some(e) = self.exhausted(i) {
                    events.push(e);
                } else {
                    let attempts = self.batches[i].attempts;
                    let at = now.plus(backoff_delay_ms(&self.cfg, attempts, rng));
                    self.batches[i].state = State::Ready { not_before: at };
                    events.push(UploadEvent::RetryScheduled {
                        batch,
                        attempts,
                        status,
                        at,
                    });
                }
            }
        }
        events
    }

    /// The guard did not send batch `i`: give the attempt back, pause the queue.
    fn not_sent(&mut self, i: usize, retry_in_ms: u64, now: Millis) -> Vec<UploadEvent> {
        let cap = self.cfg.max_retry_after_ms.min(MAX_TIMER_MS);
        let at = now.plus(retry_in_ms.min(cap));
        let Some(b) = self.batches.get_mut(i) else {
            return Vec::new();
        };
        if !matches!(b.state, State::InFlight { .. }) {
            return Vec::new();
        }
        b.attempts = b.attempts.saturating_sub(1);
        b.state = State::Ready { not_before: at };
        let (batch, attempts) = (b.id, b.attempts);
        self.stats.attempts = self.stats.attempts.saturating_sub(1);
        self.pause_until(at);
        vec![
            UploadEvent::PausedUntil(self.paused_until),
            UploadEvent::RetryScheduled {
                batch,
                attempts,
                status: 0,
                at,
            },
        ]
    }

    /// A network failure with no success since the send: the endpoint (or the network) is
    /// unreachable, which is not the data's fault. The attempt is given back and the queue
    /// probes: first after `base_delay_ms`, doubling per failed probe up to `max_delay_ms`.
    fn unreachable_failure(&mut self, i: usize, batch: BatchId, now: Millis) -> Vec<UploadEvent> {
        let probe = self.batches.get(i).is_some_and(|b| b.probe);
        if !self.unreachable {
            self.unreachable = true;
            self.probe_delay_ms = self.cfg.base_delay_ms;
            self.probe_at = now.plus(self.probe_delay_ms);
        } else if probe {
            self.probe_delay_ms = self
                .probe_delay_ms
                .saturating_mul(2)
                .min(self.cfg.max_delay_ms)
                .max(1);
            self.probe_at = now.plus(self.probe_delay_ms);
        }
        let at = self.probe_at;
        let Some(b) = self.batches.get_mut(i) else {
            return Vec::new();
        };
        b.attempts = b.attempts.saturating_sub(1);
        b.last_status = 0;
        b.state = State::Ready { not_before: now };
        vec![UploadEvent::RetryScheduled {
            batch,
            attempts: b.attempts,
            status: 0,
            at,
        }]
    }

    fn exhausted(&mut self, i: usize) -> Option<UploadEvent> {
        if self.batches[i].attempts < self.cfg.max_attempts.max(1) {
            return None;
        }
        let b = self.batches.swap_remove(i);
        Some(self.dead_letter(&b.records, ErrorCode::RetriesExhausted, b.last_status))
    }

    fn forget(&mut self, records: &[(u64, u64)]) {
        for (id, _) in records {
            set_remove(&mut self.tracked, *id);
        }
    }

    fn dead_letter(
        &mut self,
        records: &[(u64, u64)],
        code: ErrorCode,
        last_status: u16,
    ) -> UploadEvent {
        self.forget(records);
        self.stats.dead_lettered_records = self
            .stats
            .dead_lettered_records
            .saturating_add(records.len() as u64);
        UploadEvent::DeadLetter {
            record_ids: records.iter().map(|r| r.0).collect(),
            code,
            last_status,
        }
    }

    fn dead_letter_action(
        &mut self,
        record_ids: Vec<u64>,
        code: ErrorCode,
        last_status: u16,
    ) -> Action {
        for id in &record_ids {
            set_remove(&mut self.tracked, *id);
        }
        self.stats.dead_lettered_records = self
            .stats
            .dead_lettered_records
            .saturating_add(record_ids.len() as u64);
        Action::DeadLetter {
            record_ids,
            code,
            last_status,
        }
    }

    fn wait_for_lease(&self) -> Action {
        self.batches
            .iter()
            .filter_map(|b| match b.state {
                State::InFlight { lease_until } => Some(lease_until),
                State::Ready { .. } => None,
            })
            .min()
            .map_or(Action::Idle, |until| Action::Wait { until })
    }

    fn new_batch_id(&mut self) -> BatchId {
        // Skip ids still in use after wrap-around (at most batches.len() + 1 tries).
        for _ in 0..=self.batches.len() {
            let id = BatchId(self.next_batch);
            self.next_batch = self.next_batch.wrapping_add(1);
            if !self.batches.iter().any(|b| b.id == id) {
                return id;
            }
        }
        BatchId(self.next_batch)
    }

    fn new_seed(&mut self, rng: &mut dyn Rng) -> u64 {
        // Random bits mixed with a counter: unique within this planner even with a constant rng;
        // unique across tabs and sessions only if the driver seeds the rng randomly.
        let r = rng.next_f64();
        let r = if (0.0..1.0).contains(&r) { r } else { 0.5 };
        self.seeds = self.seeds.wrapping_add(1);
        let mut z =
            ((r * (1u64 << 53) as f64) as u64) ^ self.seeds.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) & SEED_MASK
    }

    fn push_ready(&mut self, records: Vec<(u64, u64)>, now: Millis, rng: &mut dyn Rng) -> BatchId {
        let id = self.new_batch_id();
        let seed = self.new_seed(rng);
        let sum = records.iter().fold(0u64, |a, r| a.saturating_add(r.1));
        self.batches.push(Slot {
            id,
            body_bytes: body_bytes(records.len() as u64, sum),
            records,
            attempts: 0,
            seed,
            last_status: 0,
            state: State::Ready { not_before: now },
            successes_at_send: 0,
            probe: false,
        });
        id
    }

    fn lease(&mut self, i: usize, now: Millis) -> Action {
        let lease_until = now.plus(self.cfg.lease_ms);
        let (successes, probe) = (self.successes, self.unreachable);
        let b = &mut self.batches[i];
        b.attempts = b.attempts.saturating_add(1);
        b.state = State::InFlight { lease_until };
        b.successes_at_send = successes;
        b.probe = probe;
        self.stats.attempts = self.stats.attempts.saturating_add(1);
        let b = &self.batches[i];
        Action::Send(Batch {
            id: b.id,
            record_ids: b.ids(),
            body_bytes: b.body_bytes,
            attempts: b.attempts,
            idempotency_seed: b.seed,
        })
    }

    fn form_batch(&mut self, now: Millis, rng: &mut dyn Rng) -> Option<Action> {
        let &(first_id, first_len) = self.free.front()?;
        if let Some(r) = self.rejected_min {
            // A body this size was already refused: do not send the record alone again.
            if body_bytes(1, first_len) >= r {
                self.free.pop_front();
                return Some(self.dead_letter_action(
                    vec![first_id],
                    ErrorCode::PayloadTooLarge,
                    413,
                ));
            }
        }
        let limit = self.effective_max_bytes();
        let max_items = self.cfg.max_batch_items.max(1) as usize;
        let mut records = Vec::new();
        let mut sum = 0u64;
        for &(id, len) in &self.free {
            let next_sum = sum.saturating_add(len);
            if !records.is_empty()
                && (records.len() >= max_items
                    || body_bytes(records.len() as u64 + 1, next_sum) > limit)
            {
                break;
            }
            records.push((id, len));
            sum = next_sum;
        }
        // While more records wait in storage, a short batch would only be short because the
        // driver has not read further yet: wait for it (it reads before the window runs dry).
        let full = records.len() >= max_items || records.len() < self.free.len();
        if self.more_stored && !full {
            return None;
        }
        // The batch is the front of the sorted pending list.
        // Not `drain(..n)`: its range check carries a formatted panic message.
        for _ in 0..records.len() {
            self.free.pop_front();
        }
        self.push_ready(records, now, rng);
        let i = self.batches.len() - 1;
        Some(self.lease(i, now))
    }
}

/// Inserts `id` into a sorted deque; false if present. O(1) for the usual increasing ids.
fn set_insert(set: &mut VecDeque<u64>, id: u64) -> bool {
    match set.binary_search(&id) {
        Ok(_) => false,
        Err(pos) if pos <= set.len() => {
            set.insert(pos, id);
            true
        }
        Err(_) => false, // unreachable: binary_search returns a position <= len
    }
}

/// Removes `id` from a sorted deque, if present. Cheap at either end (oldest records go first).
fn set_remove(set: &mut VecDeque<u64>, id: u64) {
    if let Ok(pos) = set.binary_search(&id) {
        set.remove(pos);
    }
}

/// The backoff before resend number `attempts + 1`, ms: `base · 2^(attempts-1)` capped at
/// `max_delay_ms`, then ±`jitter` of itself, never above `max_delay_ms`.
#[must_use]
pub fn backoff_delay_ms(cfg: &UploadConfig, attempts: u32, rng: &mut dyn Rng) -> u64 {
    let exp = attempts.saturating_sub(1).min(62);
    let raw = (cfg.base_delay_ms as f64) * ((1u64 << exp) as f64);
    let capped = raw.min(cfg.max_delay_ms as f64);
    let jitter = if cfg.jitter.is_finite() {
        cfg.jitter.max(0.0).min(1.0)
    } else {
        0.0
    };
    let r = rng.next_f64();
    let r = if (0.0..1.0).contains(&r) { r } else { 0.5 };
    let d = capped * (1.0 + jitter * (2.0 * r - 1.0));
    Millis::from_f64(d.min(cfg.max_delay_ms as f64)).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rng::SeqRng;

    #[test]
    fn body_bytes_matches_the_real_body() {
        let recs = ["{\"a\":1}", "[]", "\"x\""];
        for n in 1..=recs.len() {
            let body = {
                let mut s = String::from("{\"records\":[");
                s.push_str(&recs[..n].join(","));
                s.push_str("]}");
                s
            };
            let sum: u64 = recs[..n].iter().map(|r| r.len() as u64).sum();
            assert_eq!(body_bytes(n as u64, sum), body.len() as u64);
        }
    }

    #[test]
    fn validate_names_js_paths() {
        let bad = UploadConfig {
            max_batch_bytes: 10,
            ..UploadConfig::default()
        };
        assert_eq!(
            bad.validate("uploader").unwrap_err().message(),
            "invalid option: uploader.maxBatchBytes must be >= 64"
        );
        let bad = UploadConfig {
            base_delay_ms: 500,
            max_delay_ms: 100,
            ..UploadConfig::default()
        };
        assert_eq!(
            bad.validate("uploader").unwrap_err().message(),
            "invalid option: uploader.maxDelayMs must be >= baseDelayMs"
        );
        let bad = UploadConfig {
            jitter: f64::NAN,
            ..UploadConfig::default()
        };
        assert_eq!(
            bad.validate("").unwrap_err().message(),
            "invalid option: jitter must be a number from 0 to 1"
        );
        assert!(UploadConfig::default().validate("uploader").is_ok());
    }

    #[test]
    fn duplicates_and_unknown_results_are_ignored() {
        let mut rng = SeqRng::new(vec![0.5]);
        let mut up = UploadPlanner::new(UploadConfig::default(), None);
        up.add(1, 10);
        up.add(1, 99);
        assert_eq!(up.stats().pending_records, 1);
        assert!(up
            .on_result(BatchId(77), SendResult::Ok, Millis(0), &mut rng)
            .is_empty());
    }

    #[test]
    fn hostile_config_never_panics() {
        let cfg = UploadConfig {
            max_batch_items: 0,
            max_attempts: 0,
            concurrency: 0,
            lease_ms: u64::MAX,
            jitter: f64::NAN,
            ..UploadConfig::default()
        };
        let mut rng = SeqRng::new(vec![f64::NAN]);
        let mut up = UploadPlanner::new(cfg, Some(0));
        up.add(1, u64::MAX);
        assert_eq!(up.next_action(Millis(u64::MAX), &mut rng), Action::Idle);
        assert!(backoff_delay_ms(&cfg, u32::MAX, &mut rng) <= cfg.max_delay_ms);
    }
}
