// resource-guard public types. Every default below is the one the wasm core applies
// (src/core/defaults.rs); ../shared/API.md is the contract.

export type Priority = 'system' | 'high' | 'normal' | 'low';
export type HeapLevel = 'normal' | 'warning' | 'critical' | 'limit';
export type BreakerStateName = 'closed' | 'open' | 'halfOpen';

export interface RateLimitOptions {
  /** Starts allowed in any window of `perMs` (sliding, also across window boundaries). @default 60 */
  requests?: number;
  /** Window length in ms. @default 60000 */
  perMs?: number;
  /** Starts allowed back to back before they are spaced `perMs / requests` apart. @default requests */
  burst?: number;
}

export interface CategoryOptions {
  /** Starts allowed in any window of `perMs`; without it the category inherits `rateLimit` (its own window). @default rateLimit.requests (`upload`: 10; `jobs`: no rate limit) */
  requests?: number;
  /** Window length in ms. @default rateLimit.perMs (`upload`: 60000) */
  perMs?: number;
  /** Starts allowed back to back before they are spaced `perMs / requests` apart. @default requests */
  burst?: number;
  /** Requests or jobs in flight at once in this category (a bulkhead). @default no cap (`jobs`: 5) */
  maxConcurrent?: number;
}

export interface RetryOptions {
  /** Retries after the first attempt. @default 3 */
  maxRetries?: number;
  /** First backoff delay, ms. @default 1000 */
  baseDelayMs?: number;
  /** Longest backoff delay, ms. @default 10000 */
  maxDelayMs?: number;
  /** Backoff growth factor. @default 2 */
  multiplier?: number;
  /** Jitter as a fraction of the delay (never applied to a server hint). @default 0.25 */
  jitter?: number;
  /** Jitter shape. @default 'proportional' */
  jitterKind?: 'proportional' | 'full' | 'decorrelated';
  /** Retryable statuses (413 is retried only with Retry-After). @default [408, 429, 500, 502, 503, 504] */
  statusCodes?: number[];
  /** Methods retried without an Idempotency-Key. @default ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'] */
  methods?: string[];
  /** Longest server hint honoured; a longer one rejects with ERR_RETRY_AFTER_TOO_LONG. @default 60000 */
  maxRetryAfterMs?: number;
  /** Retries may add at most this fraction of a service's requests (retry budget). @default 0.2 */
  budgetRatio?: number;
  /** Retries always allowed per second per service. @default 1 */
  budgetMinPerSec?: number;
}

export interface BreakerSpecOptions {
  /** Consecutive failures (5xx, 408, network errors, attempt timeouts) that open it. @default 5 */
  failureThreshold?: number;
  /** Open time before a probe, ms. @default 60000 */
  resetTimeoutMs?: number;
  /** Probes let through while half-open. @default 1 */
  halfOpenProbes?: number;
  /**
   * Failure-rate mode (0.01 to 1): open when `failures / calls >= failureRate` over the window
   * with at least `minimumCalls` calls, instead of counting consecutive failures (resilience4j,
   * cockatiel's SamplingBreaker). A service inherits the default breaker's mode and keys.
   * @default none: consecutive mode
   */
  failureRate?: number;
  /** Failure-rate mode: calls in the window before the rate counts. @default 20 */
  minimumCalls?: number;
  /** Failure-rate mode: a time window of this many ms (12 buckets). @default 30000 */
  windowMs?: number;
  /** Failure-rate mode: a count window of the last N calls instead (not with windowMs). @default none: time window */
  windowCalls?: number;
}

/**
 * Adaptive throttling: SRE client-side throttling per service (reject locally, as ERR_SHED with
 * reason 'adaptive', with probability max(0, (requests − k·accepts) / (requests + 1)); `system`
 * priority exempt) and an adaptive rate per category (429 or 503 with a hint multiply it by 0.7;
 * it recovers along a CUBIC curve to the configured rate, which is the ceiling).
 */
export interface AdaptiveOptions {
  /** SRE multiplier K (1 to 100): nothing is rejected while accepts >= requests / k. @default 2 */
  k?: number;
  /** Window over which requests and accepts are counted, ms. @default 120000 */
  windowMs?: number;
  /** Lowest adaptive rate, as a fraction of the configured rate (0.001 to 1). @default 0.1 */
  minRate?: number;
}

export interface BreakerOptions extends BreakerSpecOptions {
  /** Per service (origin or service name) overrides. */
  services?: Record<string, BreakerSpecOptions>;
}

export interface HeapOptions {
  /** Heap budget in bytes. @default 52428800 (50 MB) */
  budgetBytes?: number;
  /** Sampling interval, ms. @default 30000 */
  sampleIntervalMs?: number;
  /** Randomise the interval (Poisson), as advised for measureUserAgentSpecificMemory. @default false */
  randomize?: boolean;
  /** Fraction of the budget. @default 0.7 */
  warning?: number;
  /** Fraction of the budget. @default 0.9 */
  critical?: number;
  /** Fraction of the budget; low work is shed and normal work halved at this level. @default 1.0 */
  limit?: number;
  /** A level clears only below (level - hysteresis) × budget. @default 0.05 */
  hysteresis?: number;
  /** Long tasks per window that count as main-thread pressure (reported). @default 5 */
  longTaskThreshold?: number;
  /** Window for long tasks, ms. @default 10000 */
  longTaskWindowMs?: number;
}

export interface CacheOptions {
  /** Byte budget. @default 5242880 (5 MB) */
  maxBytes?: number;
  /** Entry budget. @default 500 */
  maxEntries?: number;
  /** Entries older than this are neither served nor kept, ms. @default 86400000 */
  maxStaleMs?: number;
  /**
   * Also store responses to credentialed requests (an `Authorization` header, or
   * `credentials: 'include'` to another origin), under a key of their own. Call
   * `guard.clearCache()` on sign-out. @default false
   */
  storeCredentialed?: boolean;
}

export interface ReportOptions {
  /** Where breach reports go (same-origin unless allowCrossOrigin). @default none: reporting off */
  endpoint?: string;
  /** @default false */
  allowCrossOrigin?: boolean;
  /** Report requests per minute. @default 6 */
  maxPerMinute?: number;
  /** Flush interval, ms. @default 10000 */
  flushIntervalMs?: number;
  /** Keep query strings and fragments in reported page URLs. @default false */
  keepUrlQuery?: boolean;
}

/** Categories every guard has: `api` (the default), `upload` (the uploader's) and `jobs` (`guard.run`'s). */
export type BuiltinCategory = 'api' | 'upload' | 'jobs';

/**
 * Guard options. `C` is inferred from the keys of `categories`, so a guard knows its category
 * names: `guard.fetch(url, { category: 'uplod' })` is a type error.
 */
export interface GuardOptions<C extends string = string> {
  /** The transport to wrap. @default globalThis.fetch, looked up at call time */
  fetch?: ((input: RequestInfo | URL, init?: RequestInit) => Promise<Response>) | undefined;
  /** The default category `api`. @default { requests: 60, perMs: 60000 } */
  rateLimit?: RateLimitOptions;
  /** Named categories (`upload` defaults to 10 per 60000 ms; `jobs` to 5 at a time, no rate). */
  categories?: Record<C, CategoryOptions>;
  /** Defaults for `guard.run`. */
  jobs?: { /** Jobs running at once. @default 5 */ maxConcurrent?: number; /** Per job, ms (ERR_TIMEOUT, kind 'job'). @default 60000 */ timeoutMs?: number };
  /** Waiting requests per category, and the longest wait. */
  queue?: { /** Waiting entries per category. @default 1000 */ maxDepth?: number; /** Longest wait in the queue, ms (ERR_TIMEOUT, kind 'queue'). @default none */ timeoutMs?: number };
  retry?: RetryOptions;
  breaker?: BreakerOptions;
  heap?: HeapOptions;
  cache?: CacheOptions;
  report?: ReportOptions;
  /** Adaptive throttling; `true` or `{}` for the defaults. @default false (off) */
  adaptive?: AdaptiveOptions | boolean;
}

export interface GuardRequestInit<C extends string = string> extends Omit<RequestInit, 'priority'> {
  /** Queue priority; mapped onto the fetch priority hint. @default 'normal' */
  priority?: Priority;
  /** A configured category (unknown names reject with ERR_INVALID_OPTION). @default 'api' */
  category?: C;
  /** Breaker and retry-budget key. @default the request's origin */
  service?: string;
  /**
   * Per attempt, ms. An attempt that runs out of it is a failure of the service (breaker, retry);
   * it also bounds a half-open probe and the reading of an error body.
   */
  timeoutMs?: number;
  /**
   * The whole call (queue + attempts + backoff), ms. Running out of it is the caller's limit, not
   * a failure of the service: it never counts toward the breaker or the retry budget.
   */
  deadlineMs?: number;
  /** `true`: generate one. Makes POST/PATCH retryable; the same key is sent on every attempt. */
  idempotencyKey?: string | true;
  /**
   * Serve stale on failure. A request with the platform's `cache: 'no-store'` is neither stored
   * nor served from the fallback cache. @default true for GET/HEAD when the guard has a cache
   */
  fallback?: boolean;
  /** `false`: never retried by the guard (the caller retries itself, as the upload engine does). */
  retry?: false;
}

export interface RunOptions<C extends string = string> {
  /** @default 'jobs' */
  category?: C;
  /** @default 'normal' */
  priority?: Priority;
  /** @default jobs.timeoutMs */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface CategorySnapshot {
  limit: { requests: number; perMs: number; burst: number } | null;
  maxConcurrent: number | null;
  inFlight: number;
  queued: Record<Priority, number>;
  startsInWindow: number;
  nextFreeInMs: number;
  /** Requests waiting for a server hint on their own (category, service) pair, out of the queue. */
  parked: number;
  /** The longest server hint holding any service of this category, ms (0: none). */
  blockedForMs: number;
  /** The rate in force after adaptive throttling (`factor` of `limit`; 1 when off). */
  effectiveRate: { requests: number; perMs: number; factor: number } | null;
  counters: { sent: number; retried: number; throttled: number; shed: number; failed: number; timedOut: number; completed: number };
}

export interface ServiceSnapshot {
  breaker: BreakerStateName;
  failures: number;
  retryInMs: number;
  retryBudget: number;
  /** Server hints (Retry-After, `retryAfterMs`, RateLimit) holding this service, ms left per category. */
  blockedForMs: Record<string, number>;
  /** Failure-rate mode: calls and failures in the window. */
  window?: { calls: number; failures: number };
  /** Adaptive throttling: SRE counts over `adaptive.windowMs` and the current rejection probability. */
  adaptive?: { requests: number; accepts: number; rejectProbability: number };
  counters: { sent: number; failed: number };
}

export interface HeapSnapshot {
  usedBytes: number;
  source: HeapSource;
  precise: boolean;
  quantized: boolean;
  stale: boolean;
  level: HeapLevel;
  budgetBytes: number;
  ageMs: number;
  levels: { warning: number; critical: number; limit: number };
}

/**
 * `guard.snapshot()`. With a guard's own category names (`C`), `categories.api` and the configured
 * names are always present, also under `noUncheckedIndexedAccess`; `services` is keyed by origin or
 * service name and may lack any key.
 */
export interface GuardSnapshot<C extends string = string> {
  /** True after `dispose()`: the snapshot is the final state, with nothing live. */
  disposed: boolean;
  uptimeMs: number;
  wasmMemoryBytes: number;
  liveTickets: number;
  categories: { [K in C]: CategorySnapshot };
  services: Record<string, ServiceSnapshot>;
  heap: HeapSnapshot | null;
  heapLevel: HeapLevel;
  reports: { sent: number; pending: number; dropped: number; deduped: number } | null;
  /** Open upload queues by name (this tab's view). */
  uploads: Record<string, UploadStats>;
  /** The fallback cache, when enabled. */
  cache: { entries: number; bytes: number } | null;
}

export type HeapSource = 'measureUserAgentSpecificMemory' | 'performance.memory' | 'wasm' | 'unsupported';

export interface HeapReading {
  usedBytes: number;
  source: HeapSource;
  /** false for performance.memory unless it is seen moving off its bucket grid */
  precise: boolean;
  quantized: boolean;
  /** the same value as the previous reading */
  stale: boolean;
  /**
   * this reading drives the level: no more trusted source (precise performance.memory, then
   * measureUserAgentSpecificMemory, then a bucketed performance.memory) answered recently
   */
  drives: boolean;
  /** ms since the epoch */
  sampledAt: number;
  ageMs: number;
  level: HeapLevel;
  /** the guard's own wasm memory */
  wasmBytes: number;
}

/** `effectiveRate`: the category's rate in force (after adaptive throttling) when it has one. */
export interface ThrottleEvent { category: string; reason: 'window' | 'burst' | 'serverHint' | 'paced' | 'concurrency' | 'degraded' | 'queue'; waitMs: number; effectiveRate?: { requests: number; perMs: number } }
/** `method` and `service` (the breaker key, usually the origin) are those of the request. */
export interface RetryEvent { attempt: number; delayMs: number; source: 'backoff' | 'retryAfter' | 'body'; status: number; method?: string; service?: string }
export interface GiveUpEvent { reason: 'notRetryable' | 'methodNotSafe' | 'serverSaysNo' | 'retriesExhausted' | 'budgetExhausted' | 'hintTooLong' | 'pastDeadline'; attempts: number; status: number; method?: string; service?: string }
export interface BreakerEvent { service: string; from: BreakerStateName; to: BreakerStateName; retryInMs: number }
export interface ShedEvent { category: string; priority: Priority; reason: 'heapLimit' | 'queueFull' | 'adaptive' }
export interface HeapEvent { level: HeapLevel; previous: HeapLevel; usedBytes: number }
export interface ReportEvent { count: number; bytes: number }
export interface CleanupErrorEvent { level: HeapLevel; error: unknown }
/** A request answered from the fallback cache; `ageS` is the `X-Resource-Guard-Stale` value. */
export interface FallbackEvent { url: string; ageS: number }

/**
 * Advice about the integration, emitted once per origin: `hiddenRetryHint` is a cross-origin
 * 429/503 without a readable Retry-After/RateLimit header (the server must send
 * `Access-Control-Expose-Headers: Retry-After, RateLimit, RateLimit-Policy`).
 */
export interface DiagnosticEvent { kind: 'hiddenRetryHint'; origin: string; status: number; message: string }

export interface GuardEvents {
  throttle: ThrottleEvent;
  retry: RetryEvent;
  giveUp: GiveUpEvent;
  breaker: BreakerEvent;
  shed: ShedEvent;
  heap: HeapEvent;
  report: ReportEvent;
  cleanupError: CleanupErrorEvent;
  cacheCleared: { entries: number; bytes: number };
  fallback: FallbackEvent;
  deadLetter: DeadLetterEvent;
  diagnostic: DiagnosticEvent;
}

/** Options of `guard.uploader()`. Its requests use the category 'upload' (`categories.upload`). */
export interface UploaderOptions {
  /** Where batches are POSTed (`{"records":[...]}` with Idempotency-Key and Content-Digest). */
  endpoint: string | URL;
  /** The queue's name: its IndexedDB database and Web Lock; tabs with the same name share it. @default 'default' */
  name?: string;
  /**
   * Largest request body in bytes, 64 to 1073741824. A 413 teaches a smaller one (remembered per
   * endpoint, never below 1024 bytes); after 32 deliveries in a row it grows back by a quarter.
   * Server hints (Retry-After, `retryAfterMs`) pause the queue for at most `retry.maxRetryAfterMs`
   * of the guard. @default 262144
   */
  maxBatchBytes?: number;
  /** Most records per batch, 1 to 100000. @default 500 */
  maxBatchItems?: number;
  /** Batches in flight at once, 1 to 64. @default 2 */
  concurrency?: number;
  /**
   * Sends per batch before it becomes a dead letter, 1 to 1000. Only server answers use attempts,
   * and network failures while another send to the endpoint succeeded; being offline, an
   * unreachable endpoint or an open breaker do not. @default 8
   */
  maxAttempts?: number;
  /** How long a batch in flight stays leased, ms. @default 60000 */
  leaseMs?: number;
  /** First retry backoff, ms. @default 1000 */
  baseDelayMs?: number;
  /** Longest retry backoff, ms (>= baseDelayMs). @default 30000 */
  maxDelayMs?: number;
  /** Proportional backoff jitter, 0 to 1. @default 0.25 */
  jitter?: number;
  /** Dead letters kept; the oldest are dropped beyond it (counted in `stats().deadLettersDropped`). @default 10000 */
  maxDeadLetters?: number;
}

/**
 * `up.stats()`: the queue's size (every tab, from a stored counter: no scan), this tab's planner
 * counters (zeros in a tab that is not the sender) and its pauses.
 */
export interface UploadStats {
  /** Records stored and not yet delivered or dead-lettered, minus those in flight from this tab. */
  pendingRecords: number;
  /** Records stored and not yet delivered or dead-lettered (in flight included), as of this tab's last look. */
  queuedRecords: number;
  /** Their JSON bytes (UTF-8). */
  queuedBytes: number;
  inFlightBatches: number;
  inFlightRecords: number;
  sentRecords: number;
  deadLetteredRecords: number;
  attempts: number;
  bytesSent: number;
  /** The body limit batches are planned against (min of maxBatchBytes and the learned limit). */
  maxBatchBytes: number;
  /** Learned from 413 answers for this endpoint; null until one was seen. */
  learnedMaxBytes: number | null;
  /** This tab sends the queue (it holds the Web Lock, or the IndexedDB lease where Web Locks are missing). */
  sender: boolean;
  /**
   * Paused: the browser is offline ('offline' event, navigator.onLine), or the endpoint is
   * unreachable (network failures with no success meanwhile: one probe at a time, backing off
   * from baseDelayMs to maxDelayMs). Neither uses a batch's attempts.
   */
  offline: boolean;
  /** Paused: the heap guard is at its 'limit' level. */
  heapLimit: boolean;
  deadLettersDropped: number;
}

/** A record the uploader gave up on. */
export interface DeadLetter {
  /** Pass to retryDeadLetters / discardDeadLetters. */
  id: number;
  record: unknown;
  code: 'ERR_PAYLOAD_TOO_LARGE' | 'ERR_RETRIES_EXHAUSTED';
  /** Last HTTP status (0: network error). */
  status: number;
  /** ms since the epoch */
  at: number;
}

/** `deadLetter` event, on the uploader and on the guard. */
export interface DeadLetterEvent { uploader: string; count: number; code: DeadLetter['code']; status: number }
/** `batch` event: one send ended. `outcome` 'retry' carries `retryInMs`. */
export interface UploadBatchEvent { key: string; records: number; bytes: number; attempts: number; status: number; outcome: 'delivered' | 'retry' | 'split' | 'deadLetter'; retryInMs?: number }
/** `progress` event, after records were delivered or dead-lettered. */
export interface UploadProgressEvent { sentRecords: number; pendingRecords: number; inFlightRecords: number; deadLetteredRecords: number }

export interface UploaderEvents {
  progress: UploadProgressEvent;
  batch: UploadBatchEvent;
  deadLetter: DeadLetterEvent;
}

/** A durable upload queue in IndexedDB; one tab of the origin sends it at a time. */
export interface Uploader {
  /**
   * Resolves once the records are durably stored (one IndexedDB transaction with `durability: 'strict'`):
   * all of them or none. ERR_INVALID_OPTION (`details.path` `records[i]`) for a record JSON cannot
   * represent; ERR_QUOTA (`cause`: the QuotaExceededError) when storage is full, with a
   * `resource-guard-quota` breach report; records stored before are kept either way.
   */
  enqueue(records: unknown[]): Promise<void>;
  /** Resolves when nothing is left to send (dead letters aside), whichever tab sends. */
  flush(): Promise<void>;
  stats(): UploadStats;
  on<E extends keyof UploaderEvents>(event: E, listener: (event: UploaderEvents[E]) => void): () => void;
  deadLetters(): Promise<DeadLetter[]>;
  /** Moves dead letters (all, or those ids) back into the queue; resolves with how many. */
  retryDeadLetters(ids?: number[]): Promise<number>;
  /** Deletes dead letters (all, or those ids); resolves with how many. */
  discardDeadLetters(ids?: number[]): Promise<number>;
  /** Stops sending from this tab (another tab may take over); stored records stay. Also done by guard.dispose(). */
  close(): void;
}

export type ErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_QUEUE_FULL'
  | 'ERR_SHED'
  | 'ERR_TIMEOUT'
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_RETRIES_EXHAUSTED'
  | 'ERR_RETRY_AFTER_TOO_LONG'
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_UNSUPPORTED'
  | 'ERR_DISPOSED'
  | 'ERR_QUOTA'
  | 'ERR_WASM_LOAD';

/** What `details` holds, per code. `status` is the last HTTP status where a response was seen. */
export interface ErrorDetailsByCode {
  /** `path`: the option's path, e.g. `retry.maxDelayMs`, `init.category`, `records[3]`. */
  ERR_INVALID_OPTION: { path: string };
  /** `capacity`: the queue's depth when the request was refused. */
  ERR_QUEUE_FULL: { capacity: number };
  ERR_SHED: { reason: 'queueFull' | 'heapLimit' | 'adaptive' };
  ERR_TIMEOUT: { kind: 'attempt' | 'deadline' | 'queue' | 'job'; status?: number };
  ERR_CIRCUIT_OPEN: { retryInMs: number };
  /** `lastStatus`: 0 after network failures. */
  ERR_RETRIES_EXHAUSTED: { lastStatus: number; status?: number; serverCode?: string };
  ERR_RETRY_AFTER_TOO_LONG: { retryAfterMs: number; status?: number; serverCode?: string };
  ERR_PAYLOAD_TOO_LARGE: { bytes: number };
  /** `what`: the missing platform part, e.g. `indexedDB`, `WebAssembly`. */
  ERR_UNSUPPORTED: { what: string };
  ERR_DISPOSED: { [key: string]: never };
  /** `url`: where the wasm was looked for; `status`: the HTTP status when it was fetched. */
  /** `part`: which lazily loaded part failed (absent: the guard's own wasm). */
  ERR_WASM_LOAD: { url: string; status?: number; part?: GuardPart };
  /** Storage is full (IndexedDB `QuotaExceededError`, the error's `cause`): nothing of the call was stored. */
  ERR_QUOTA: { [key: string]: never };
}

export class ResourceGuardError<K extends ErrorCode = ErrorCode> extends Error {
  readonly name: 'ResourceGuardError';
  /** Stable; never renamed. */
  readonly code: K;
  /** Typed per code (see ErrorDetailsByCode); narrow on `code` first. */
  readonly details: ErrorDetailsByCode[K];
  constructor(code: K, message: string, details?: ErrorDetailsByCode[K], options?: { cause?: unknown });
}

/** A ResourceGuardError whose `details` narrow with its `code` (a discriminated union). */
export type AnyResourceGuardError = { [K in ErrorCode]: ResourceGuardError<K> }[ErrorCode];

/** True for any resource-guard error, from any realm or copy of the package. */
export function isResourceGuardError(e: unknown): e is AnyResourceGuardError;

/**
 * The parts loaded on first use (dynamic `import()`, each with its own code and wasm): `cache` when
 * a guard is created with the `cache` option, `uploader` at the first `guard.uploader()`.
 * `guard.preload(part)` loads one early; a failed load rejects with ERR_WASM_LOAD (`details.part`).
 */
export type GuardPart = 'cache' | 'uploader';

export class ResourceGuard<C extends string = string> {
  private constructor();
  /**
   * Creates a guard, loading the wasm on first use (browser, worker, Node >= 20, jsdom,
   * happy-dom). Rejects with ERR_INVALID_OPTION (with `details.path`), ERR_WASM_LOAD, or
   * ERR_UNSUPPORTED where there is no WebAssembly.
   */
  static create<C extends string = never>(options?: GuardOptions<C>): Promise<ResourceGuard<C | BuiltinCategory>>;
  /**
   * `fetch`, guarded. Resolves with the platform's Response (HTTP errors are responses; after
   * retries give up on a status the last response is returned). Rejects with a
   * ResourceGuardError, the platform's own error for a non-retryable network failure, or
   * `signal.reason` on abort.
   */
  fetch(input: RequestInfo | URL, init?: GuardRequestInit<C>): Promise<Response>;
  /** Runs heavy client work under the same queue, priorities, concurrency caps and timeouts. */
  run<T>(task: (signal: AbortSignal) => T | Promise<T>, opts?: RunOptions<C>): Promise<T>;
  snapshot(): GuardSnapshot<C>;
  on<E extends keyof GuardEvents>(event: E, listener: (event: GuardEvents[E]) => void): () => void;
  /** Runs `fn` each time `level` is entered. @default level 'critical' */
  onCleanup(fn: (info: { level: HeapLevel }) => void | Promise<void>, opts?: { level?: Exclude<HeapLevel, 'normal'> }): () => void;
  sampleHeap(): Promise<HeapReading>;
  /**
   * Empties the fallback cache (Cache Storage entries and the in-memory index); call it on
   * sign-out. Resolves also without a cache or after dispose(); never rejects.
   */
  clearCache(): Promise<void>;
  /**
   * A durable upload queue (IndexedDB), sending through the guard. Once the uploader part is loaded
   * (`await guard.preload('uploader')`, or an earlier call) it returns the Uploader and throws
   * ERR_INVALID_OPTION (`details.path` like `uploader.maxBatchBytes`) at once; before, it returns a
   * DeferredUploader while the part loads, and an invalid option or a failed load
   * (ERR_WASM_LOAD, `details.part: 'uploader'`) rejects its methods instead.
   */
  uploader(opts: UploaderOptions): Uploader | DeferredUploader;
  /** Loads a lazily loaded part now; rejects with ERR_WASM_LOAD (`details.part`) when it cannot. */
  preload(part: GuardPart): Promise<void>;
  /** Stops timers, observers and uploads; pending work rejects with ERR_DISPOSED. Idempotent. */
  dispose(): void;
}

/** `guard.uploader()` before the guard is ready or its part is loaded: usable at once. */
export interface DeferredUploader extends Omit<Uploader, 'stats'> {
  /** null until the guard is ready, the part loaded and the uploader exists (its first call creates it). */
  stats(): UploadStats | null;
}

/**
 * The guard `createGuard()` returns, usable at once: calls made before the wasm is ready wait for
 * it (and reject with the creation error if that failed), later calls go straight to the guard.
 */
export interface AppGuard<C extends string = string> {
  /** Resolves when the guard is ready; rejects with the creation error (never unhandled). */
  readonly ready: Promise<void>;
  /** The ResourceGuard once ready; null before and after dispose. */
  readonly guard: ResourceGuard<C> | null;
  fetch(input: RequestInfo | URL, init?: GuardRequestInit<C>): Promise<Response>;
  run<T>(task: (signal: AbortSignal) => T | Promise<T>, opts?: RunOptions<C>): Promise<T>;
  /** null until the guard is ready. */
  snapshot(): GuardSnapshot<C> | null;
  /** Subscribes now; events flow once the guard is ready. Returns the unsubscribe function. */
  on<E extends keyof GuardEvents>(event: E, listener: (event: GuardEvents[E]) => void): () => void;
  onCleanup(fn: (info: { level: HeapLevel }) => void | Promise<void>, opts?: { level?: Exclude<HeapLevel, 'normal'> }): () => void;
  sampleHeap(): Promise<HeapReading>;
  /** Empties the fallback cache (e.g. at sign-out); resolves at once when there is none. */
  clearCache(): Promise<void>;
  uploader(opts: UploaderOptions): Uploader | DeferredUploader;
  /** Loads a lazily loaded part now, even before the guard is ready. */
  preload(part: GuardPart): Promise<void>;
  /** Disposes of the guard now, or as soon as it is created; idempotent. */
  dispose(): void;
}

/**
 * Creates a guard synchronously, for one app-wide guard: `export const guard = createGuard(options)`.
 * Safe at module top level during SSR and in tests: a creation error rejects `guard.ready` and
 * every call, never as an unhandled rejection.
 */
export function createGuard<C extends string = never>(options?: GuardOptions<C>): AppGuard<C | BuiltinCategory>;
