//! Decides, after each attempt, whether to deliver, retry after a delay, or give up.
//!
//! ```
//! use resource_guard::core::config::GuardConfig;
//! use resource_guard::core::retry::{decide, Backoff, DelaySource, Outcome, RetryBudget, RetryDecision, RetryReason, RetryRequest};
//! use resource_guard::core::rng::SplitMix64;
//! use resource_guard::core::time::Millis;
//!
//! let cfg = GuardConfig::from_json("{}").unwrap().retry;
//! let mut backoff = Backoff::new(&cfg);
//! let mut budget = RetryBudget::new(cfg.budget_ratio, cfg.budget_min_per_sec, 10_000);
//! let mut rng = SplitMix64::new(1);
//! let req = RetryRequest { method: "GET", has_idempotency_key: false, retries_done: 0, now: Millis(0), now_wall_ms: 1_700_000_000_000, deadline: None };
//! budget.record_request(req.now);
//!
//! let outcome = Outcome::Status { status: 503, retry_after: Some("2"), body: None };
//! let decision = decide(&cfg, &req, &outcome, &mut backoff, &mut budget, &mut rng);
//! assert_eq!(decision, RetryDecision::Retry { delay_ms: 2_000, source: DelaySource::RetryAfter, reason: RetryReason::Status(503) });
//!
//! let ok = Outcome::Status { status: 200, retry_after: None, body: None };
//! assert_eq!(decide(&cfg, &req, &ok, &mut backoff, &mut budget, &mut rng), RetryDecision::Done);
//! ```
//!
//! # Order
//! [`decide`] applies its rules in this order; the first that matches wins:
//! 1. Status below 400 → [`RetryDecision::Done`].
//! 2. Not retryable → `Done` (the response is delivered as is). Retryable are network errors,
//!    attempt timeouts, statuses in `cfg.status_codes`, and 413 only with a valid `Retry-After`.
//!    409 is never retryable here, even if listed (the upload engine owns it). A body hint cannot
//!    make a status retryable.
//! 3. Body `retryable: false` → [`GiveUp::ServerSaysNo`].
//! 4. Method neither in `cfg.methods` (case-insensitive) nor carrying an Idempotency-Key →
//!    [`GiveUp::MethodNotSafe`].
//! 5. `retries_done >= cfg.max_retries` → [`GiveUp::RetriesExhausted`].
//! 6. Delay: a server hint (valid `Retry-After`, or the body's `retryAfterMs`; the larger if both)
//!    is used exactly, without jitter; one above `cfg.max_retry_after_ms` →
//!    [`GiveUp::HintTooLong`]. Without a hint, [`Backoff::delay_ms`] for retry `retries_done + 1`.
//! 7. `now + delay >= deadline` (no time left for the next attempt) → [`GiveUp::HintTooLong`]
//!    when the delay is a server hint (the server asked for more time than the caller has; it maps
//!    to `ERR_RETRY_AFTER_TOO_LONG`), else [`GiveUp::PastDeadline`].
//! 8. No retry left in the [`RetryBudget`] → [`GiveUp::BudgetExhausted`]. The budget is only
//!    withdrawn from here, when a retry is certain to be scheduled.
//! 9. Otherwise [`RetryDecision::Retry`].

pub mod backoff;
pub mod body;
pub mod budget;
pub mod rate_limit_headers;
pub mod retry_after;
mod text;

pub use backoff::Backoff;
pub use body::{parse_error_body, BodyHint};
pub use budget::RetryBudget;
pub use rate_limit_headers::{parse_ratelimit, parse_x_ratelimit, RateLimitHint};
pub use retry_after::{parse_http_date, parse_retry_after};

use crate::core::config::RetryConfig;
use crate::core::rng::Rng;
use crate::core::time::Millis;

/// How an attempt ended, as the driver saw it.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// A response arrived.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The raw `Retry-After` header, if any.
        retry_after: Option<&'a str>,
        /// The parsed JSON error body, if the response had one.
        body: Option<&'a BodyHint>,
    },
    /// `fetch` rejected (connection refused, DNS, CORS, offline...).
    NetworkError,
    /// The attempt ran past its `timeoutMs` and was aborted.
    AttemptTimeout,
}

/// Why a retry happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryReason {
    /// A retryable HTTP status.
    Status(u16),
    /// A network failure.
    Network,
    /// The attempt timed out.
    Timeout,
}

/// Where a retry delay came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelaySource {
    /// Computed exponential backoff with jitter.
    Backoff,
    /// The `Retry-After` header.
    RetryAfter,
    /// The error body's `retryAfterMs`.
    BodyHint,
}

/// Why the guard stops retrying a retryable failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// The failure is not retryable. [`decide`] never returns it (it delivers such responses with
    /// [`RetryDecision::Done`]); it exists for callers that classify failures themselves.
    NotRetryable,
    /// The method is not safe to repeat and carries no Idempotency-Key.
    MethodNotSafe,
    /// The error body said `retryable: false`.
    ServerSaysNo,
    /// `retries_done` reached `max_retries`.
    RetriesExhausted,
    /// The retry budget of the service is spent.
    BudgetExhausted,
    /// The server's hint exceeds `max_retry_after_ms` or the deadline.
    HintTooLong {
        /// The hint, ms.
        retry_after_ms: u64,
    },
    /// The backoff delay would reach the request's deadline.
    PastDeadline,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Success or a non-retryable status: deliver the response as is.
    Done,
    /// Wait `delay_ms`, then send the request again.
    Retry {
        /// How long to wait, ms.
        delay_ms: u64,
        /// Where the delay came from.
        source: DelaySource,
        /// What failed.
        reason: RetryReason,
    },
    /// Stop; the caller reports the last failure.
    GiveUp(GiveUp),
}

/// The request being decided on.
#[derive(Clone, Copy, Debug)]
pub struct RetryRequest<'a> {
    /// The HTTP method, any case.
    pub method: &'a str,
    /// Whether the request carries an `Idempotency-Key` header.
    pub has_idempotency_key: bool,
    /// Retries already made (0 after the first attempt).
    pub retries_done: u32,
    /// Monotonic time now, ms.
    pub now: Millis,
    /// Wall-clock time now, ms since the Unix epoch (for HTTP-date hints).
    pub now_wall_ms: u64,
    /// When the whole call must be over (monotonic), if it has a deadline.
    pub deadline: Option<Millis>,
}

/// Decides what follows an attempt, in the order documented in the module docs ("# Order").
/// Draws from `rng` and advances `backoff` only when a backoff delay is computed; withdraws from
/// `budget` only when returning [`RetryDecision::Retry`].
pub fn decide(
    cfg: &RetryConfig,
    req: &RetryRequest<'_>,
    outcome: &Outcome<'_>,
    backoff: &mut Backoff,
    budget: &mut RetryBudget,
    rng: &mut dyn Rng,
) -> RetryDecision {
    let header_ms = header_hint_ms(outcome, req.now_wall_ms);
    let (reason, body) = match *outcome {
        Outcome::NetworkError => (RetryReason::Network, None),
        Outcome::AttemptTimeout => (RetryReason::Timeout, None),
        Outcome::Status { status, body, .. } => {
            let retryable = status != 409
                && (cfg.status_codes.contains(&status) || (status == 413 && header_ms.is_some()));
            if status < 400 || !retryable {
                return RetryDecision::Done;
            }
            (RetryReason::Status(status), body)
        }
    };
    if body.and_then(|b| b.retryable) == Some(false) {
        return RetryDecision::GiveUp(GiveUp::ServerSaysNo);
    }
    let safe = cfg
        .methods
        .iter()
        .any(|m| m.eq_ignore_ascii_case(req.method));
    if !safe && !req.has_idempotency_key {
        return RetryDecision::GiveUp(GiveUp::MethodNotSafe);
    }
    if req.retries_done >= cfg.max_retries {
        return RetryDecision::GiveUp(GiveUp::RetriesExhausted);
    }
    let body_ms = body.and_then(|b| b.retry_after_ms);
    let (delay_ms, source) = match (header_ms, body_ms) {
        (Some(h), Some(b)) if b > h => (b, DelaySource::BodyHint),
        (Some(h), _) => (h, DelaySource::RetryAfter),
        (None, Some(b)) => (b, DelaySource::BodyHint),
        (None, None) => (
            backoff.delay_ms(req.retries_done.saturating_add(1), rng),
            DelaySource::Backoff,
        ),
    };
    let hinted = source != DelaySource::Backoff;
    if hinted && delay_ms > cfg.max_retry_after_ms {
        return RetryDecision::GiveUp(GiveUp::HintTooLong {
            retry_after_ms: delay_ms,
        });
    }
    if req.deadline.is_some_and(|d| req.now.plus(delay_ms) >= d) {
        return RetryDecision::GiveUp(if hinted {
            GiveUp::HintTooLong {
                retry_after_ms: delay_ms,
            }
        } else {
            GiveUp::PastDeadline
        });
    }
    if !budget.try_withdraw(req.now) {
        return RetryDecision::GiveUp(GiveUp::BudgetExhausted);
    }
    RetryDecision::Retry {
        delay_ms,
        source,
        reason,
    }
}

/// The server's wait hint in ms for an error response (status >= 400): the larger of a valid
/// `Retry-After` (read against `now_wall_ms`, ms since the Unix epoch) and the body's
/// `retryAfterMs`. `None` for other outcomes or without a hint. The engine uses it to pause a
/// whole category on 429/503; which statuses do that is its choice.
#[must_use]
pub fn server_hint_ms(outcome: &Outcome<'_>, now_wall_ms: u64) -> Option<u64> {
    let body_ms = match *outcome {
        Outcome::Status { status, body, .. } if status >= 400 => {
            body.and_then(|b| b.retry_after_ms)
        }
        _ => return None,
    };
    match (header_hint_ms(outcome, now_wall_ms), body_ms) {
        (Some(h), Some(b)) => Some(h.max(b)),
        (h, b) => h.or(b),
    }
}

fn header_hint_ms(outcome: &Outcome<'_>, now_wall_ms: u64) -> Option<u64> {
    match *outcome {
        Outcome::Status {
            retry_after: Some(v),
            ..
        } => parse_retry_after(v, now_wall_ms),
        _ => None,
    }
}
