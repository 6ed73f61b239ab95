//! Every default, with its unit. The TypeScript types repeat these as `@default`.

/// Requests allowed per window for the default category `api`: 60.
pub const RATE_LIMIT_REQUESTS: u32 = 60;
/// Length of the rate-limit window: 60 000 ms.
pub const RATE_LIMIT_PER_MS: u64 = 60_000;
/// Requests allowed per window for the category `upload`: 10 (per [`RATE_LIMIT_PER_MS`]).
pub const UPLOAD_REQUESTS: u32 = 10;
/// The category a request uses unless it names one: `api`.
pub const DEFAULT_CATEGORY: &str = "api";
/// The category of the upload engine's requests: `upload`.
pub const UPLOAD_CATEGORY: &str = "upload";
/// The category of `guard.run` jobs: `jobs`.
pub const JOBS_CATEGORY: &str = "jobs";
/// Jobs in flight at once: 5.
pub const JOBS_MAX_CONCURRENT: u32 = 5;
/// A job's timeout: 60 000 ms.
pub const JOBS_TIMEOUT_MS: u64 = 60_000;
/// Waiting requests per category queue: 1000.
pub const QUEUE_MAX_DEPTH: u32 = 1000;
/// Retries after the first attempt: 3.
pub const RETRY_MAX_RETRIES: u32 = 3;
/// First backoff delay: 1000 ms.
pub const RETRY_BASE_DELAY_MS: u64 = 1000;
/// Longest backoff delay: 10 000 ms.
pub const RETRY_MAX_DELAY_MS: u64 = 10_000;
/// Backoff growth factor: 2.
pub const RETRY_MULTIPLIER: f64 = 2.0;
/// Jitter as a fraction of the delay: 0.25.
pub const RETRY_JITTER: f64 = 0.25;
/// Statuses retried: 408, 429, 500, 502, 503, 504 (413 too, but only with Retry-After).
pub const RETRY_STATUS_CODES: [u16; 6] = [408, 429, 500, 502, 503, 504];
/// Methods retried without an Idempotency-Key: GET, HEAD, OPTIONS, PUT, DELETE.
pub const RETRY_METHODS: [&str; 5] = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"];
/// Longest server hint (Retry-After) honoured: 60 000 ms.
pub const RETRY_MAX_RETRY_AFTER_MS: u64 = 60_000;
/// Retries may add at most this fraction of the requests to a service: 0.2.
pub const RETRY_BUDGET_RATIO: f64 = 0.2;
/// Retries always allowed per second per service, whatever the ratio: 1 (gRPC's `min_retries`).
pub const RETRY_BUDGET_MIN_PER_SEC: u32 = 1;
/// Window over which the retry budget counts: 10 000 ms.
pub const RETRY_BUDGET_WINDOW_MS: u64 = 10_000;
/// Consecutive failures that open a breaker: 5.
pub const BREAKER_FAILURE_THRESHOLD: u32 = 5;
/// How long a breaker stays open before a probe: 60 000 ms.
pub const BREAKER_RESET_TIMEOUT_MS: u64 = 60_000;
/// Probes let through while half-open: 1.
pub const BREAKER_HALF_OPEN_PROBES: u32 = 1;
/// Services tracked before idle, fresh ones are pruned: 256.
pub const MAX_SERVICES: usize = 256;
/// Longest a half-open probe may go unanswered before it counts as failed, ms: 30 000 (or the
/// probe's own `timeoutMs` when shorter). A probe can therefore never wedge a breaker.
pub const PROBE_TIMEOUT_MS: u64 = 30_000;
/// Heap budget: 52 428 800 bytes (50 MB).
pub const HEAP_BUDGET_BYTES: u64 = 52_428_800;
/// Heap sampling interval: 30 000 ms.
pub const HEAP_SAMPLE_INTERVAL_MS: u64 = 30_000;
/// `warning` level: 0.7 of the budget.
pub const HEAP_WARNING: f64 = 0.7;
/// `critical` level: 0.9 of the budget.
pub const HEAP_CRITICAL: f64 = 0.9;
/// `limit` level: 1.0 of the budget.
pub const HEAP_LIMIT: f64 = 1.0;
/// A level clears only below `level - hysteresis` (fraction of the budget): 0.05.
pub const HEAP_HYSTERESIS: f64 = 0.05;
/// Long tasks per window that count as main-thread pressure: 5.
pub const LONG_TASK_THRESHOLD: u32 = 5;
/// Window for counting long tasks: 10 000 ms.
pub const LONG_TASK_WINDOW_MS: u64 = 10_000;
/// Response cache byte budget: 5 242 880 (5 MB).
pub const CACHE_MAX_BYTES: u64 = 5_242_880;
/// Response cache entries: 500.
pub const CACHE_MAX_ENTRIES: u32 = 500;
/// Oldest cached response served or kept: 86 400 000 ms (one day).
pub const CACHE_MAX_STALE_MS: u64 = 86_400_000;
/// Report requests per minute: 6.
pub const REPORT_MAX_PER_MINUTE: u32 = 6;
/// Report flush interval: 10 000 ms.
pub const REPORT_FLUSH_INTERVAL_MS: u64 = 10_000;
/// Byte quota of one report request (under the browser's 64 KiB keepalive quota): 60 000.
pub const REPORT_MAX_BATCH_BYTES: usize = 60_000;
/// Adaptive throttling (`adaptive`): off unless given (`adaptive: {}` turns it on with these).
/// SRE client-side throttling multiplier K: 2 (reject only once the backend sheds more than half).
pub const ADAPTIVE_K: f64 = 2.0;
/// SRE window over which requests and accepts are counted per service: 120 000 ms (2 minutes).
pub const ADAPTIVE_WINDOW_MS: u64 = 120_000;
/// Lowest adaptive rate, as a fraction of the configured rate: 0.1.
pub const ADAPTIVE_MIN_RATE: f64 = 0.1;
/// Multiplicative decrease of the adaptive rate on a throttling answer: 0.7 (CUBIC's β, as the
/// AWS SDKs' adaptive retry mode uses).
pub const ADAPTIVE_BETA: f64 = 0.7;
/// CUBIC's scaling constant C, with the rate as a fraction of the configured rate and time in
/// category windows: 0.4 (the AWS SDKs' value, in their units of tokens and seconds).
pub const ADAPTIVE_CUBIC_C: f64 = 0.4;
/// Longest time unit of the recovery curve: 60 000 ms (a category's `perMs`, at most a minute).
pub const ADAPTIVE_MAX_UNIT_MS: u64 = 60_000;
/// At most one rate decrease per 1000 ms (answers to requests sent together count once).
pub const ADAPTIVE_DECREASE_GUARD_MS: u64 = 1000;
/// Failure-rate breakers (`breaker.failureRate`): calls needed in the window before the rate
/// counts: 20.
pub const BREAKER_MINIMUM_CALLS: u32 = 20;
/// Failure-rate breakers: time window unless `windowCalls` is given: 30 000 ms.
pub const BREAKER_WINDOW_MS: u64 = 30_000;
