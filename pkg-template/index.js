// resource-guard: the JavaScript driver. Every decision (limits, queue order, retries, breakers,
// heap levels, report batching) is made by the wasm core; this file awaits promises, runs timers
// and talks to browser APIs, calling the core with numbers and short strings only. The core never
// calls back into this file while it runs: its outputs are collected by a sink and acted on after
// each call returns.
import init, { GuardCore } from './resource_guard.js';
import { perf_now as perfNow } from './clock.js';
import { ResourceGuardError, isResourceGuardError, guardError, fromCore, CODES } from './errors.js';
import { wasmOnce, _inlineWasm } from './wasm.js';

export { ResourceGuardError, isResourceGuardError };

/** @private used by the generated `inline.js` entry: each wasm (the guard's, each part's) inlined as base64. */
export { _inlineWasm };

/** Loads and instantiates the guard's wasm once per realm (concurrent callers share the promise; a failure is retried). */
const load = wasmOnce(init, new URL('./resource_guard_bg.wasm', import.meta.url), 'guard');

// ---- lazily loaded parts ---------------------------------------------------------------------
// The cache and the uploader are separate modules with their own wasm, loaded by dynamic
// import() on first use (the cache option when a guard is created, guard.uploader()) or by
// guard.preload(part): an app that never uses one never downloads it, and a bundler splits each
// into its own chunk.
const PART_LOADERS = {
  cache: () => import('./cache.js'),
  uploader: () => import('./uploader.js'),
};
/** part -> its loading promise (dropped again on failure, so a later call retries). */
const partPromises = {};
/** part -> its module, once loaded (what lets guard.uploader() answer synchronously). */
const partModules = {};

/** Loads a part once per realm; rejects with ERR_WASM_LOAD (`details.part`) when that fails. */
function loadPart(part) {
  const loader = Object.hasOwn(PART_LOADERS, part) ? PART_LOADERS[part] : null;
  if (!loader) return Promise.reject(new ResourceGuardError('ERR_INVALID_OPTION', `invalid option: part must be one of ${Object.keys(PART_LOADERS).join(', ')}`, { path: 'part' }));
  if (partModules[part]) return Promise.resolve(partModules[part]);
  return (partPromises[part] ??= (async () => {
    let m;
    try {
      m = await loader();
    } catch (e) {
      throw new ResourceGuardError('ERR_WASM_LOAD', `resource-guard could not load its ${part} part (${e?.message || e}); check the network and that your bundler emitted the chunk`, { url: '', part }, { cause: e });
    }
    await m.ready(); // instantiates the part's own wasm (rejects ERR_WASM_LOAD with details.part)
    return (partModules[part] = m);
  })().catch((e) => {
    delete partPromises[part];
    throw e;
  }));
}

const noop = () => {};
const CACHE_NAME = 'resource-guard-v1'; // cache.js's Cache Storage name (keep the two equal)
const UNSERIALIZABLE = '\u0000unserializable';
function optionsJson(options) {
  try {
    return JSON.stringify(options, (_k, v) =>
      typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint' || (typeof v === 'number' && !Number.isFinite(v)) ? UNSERIALIZABLE : v,
    );
  } catch (e) {
    throw new ResourceGuardError('ERR_INVALID_OPTION', 'invalid option: options must be plain data without cycles', { path: '' }, { cause: e });
  }
}

// The core's own clock (pkg/clock.js, the wasm's snippet): one time base for the driver and the
// core, cheap on the hot path, and driven by fake timers installed after import (see clock.js).
const now = perfNow;

const hasHeapSource = () => {
  const p = globalThis.performance;
  return (
    typeof p?.memory?.usedJSHeapSize === 'number' ||
    typeof p?.measureUserAgentSpecificMemory === 'function' ||
    (typeof PerformanceObserver === 'function' && !!PerformanceObserver.supportedEntryTypes?.includes('longtask'))
  );
};

const PRIORITY = { system: 0, high: 1, normal: 2, low: 3 };
// Our queue priority -> the platform's fetch priority hint (fetch throws on 'normal').
const FETCH_PRIORITY = ['high', 'high', 'auto', 'low'];
const EVENTS = ['throttle', 'retry', 'giveUp', 'breaker', 'shed', 'heap'];
const LEVELS = ['normal', 'warning', 'critical', 'limit'];
const TIMEOUT_JOB = 4;
const BODY_CAP = 8192;
/** Longest an error body is read for its hints, ms (less when the attempt has less time left). */
const ERROR_BODY_MS = 2000;
/** How an attempt ended without a response (the core's networkError kinds). */
const NET = 0, ATTEMPT_TIMEOUT = 1, DEADLINE = 2;
const MAX_TIMER = 2147483647;

/**
 * The service (breaker and hint key) of a request target: the platform's own `URL` origin, so
 * protocol-relative URLs, upper-case schemes and hosts, default ports and credentials in URLs all
 * map to the right service, and query strings never make a new one. Parsed targets are memoised
 * (bounded) because `new URL` costs about a microsecond.
 */
const origins = new Map();
function originOf(input) {
  if (input && typeof input === 'object') {
    if (typeof input.origin === 'string' && typeof input.href === 'string') return input.origin; // URL
    if (typeof input.url === 'string') input = input.url; // Request (absolute)
  }
  const href = String(input);
  let o = origins.get(href);
  if (o === undefined) {
    try {
      o = new URL(href, globalThis.location?.href).origin;
    } catch {
      o = '';
    }
    if (o === 'null') o = ''; // opaque origins (data:, file:) have no service
    if (href.length <= 512) {
      if (origins.size >= 256) origins.clear();
      origins.set(href, o);
    }
  }
  return o;
}

/** `AbortSignal.any([a, b])`, or a linked controller where the platform lacks it (Safari < 17.4). */
function anySignal(a, b) {
  if (typeof AbortSignal.any === 'function') {
    try {
      return [AbortSignal.any([a, b]), null];
    } catch {}
  }
  const c = new AbortController();
  if (a.aborted || b.aborted) {
    c.abort(a.aborted ? a.reason : b.reason);
    return [c.signal, null];
  }
  const fa = () => c.abort(a.reason), fb = () => c.abort(b.reason);
  a.addEventListener('abort', fa, { once: true });
  b.addEventListener('abort', fb, { once: true });
  return [c.signal, () => { a.removeEventListener('abort', fa); b.removeEventListener('abort', fb); }];
}

const TIMED_OUT = {};
/**
 * Reads at most BODY_CAP bytes of a JSON error body from a clone (never the caller's body), for
 * at most `ms`: the cap is applied while streaming, and a body that trickles in is abandoned at
 * the time cap, so it cannot hold the call, its bulkhead slot or a probe.
 */
async function readCapped(res, ms) {
  const type = res.headers.get('content-type') || '';
  if (!type.includes('json') || !res.body || !(ms > 0)) return undefined;
  const reader = res.clone().body.getReader();
  const parts = [];
  let n = 0, timer;
  const late = new Promise((r) => { timer = setTimeout(r, Math.min(ms, MAX_TIMER), TIMED_OUT); });
  try {
    while (n <= BODY_CAP) {
      const r = await Promise.race([reader.read(), late]);
      if (r === TIMED_OUT) return undefined;
      if (r.done) break;
      parts.push(r.value);
      n += r.value.length;
    }
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
  if (n > BODY_CAP) return undefined; // truncated JSON would not parse anyway
  const buf = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new TextDecoder().decode(buf);
}

const HINT_HELP = 'Access-Control-Expose-Headers: Retry-After, RateLimit, RateLimit-Policy';

/**
 * A cross-origin 429/503 whose pacing hint cannot be read: CORS hides every response header that
 * is not safelisted, so a Retry-After the server did send is invisible unless exposed. Emits one
 * 'diagnostic' event per origin and guard (at most 64 origins), never changes the decision.
 * Called with the capped JSON body (a `retryAfterMs` there is a readable hint).
 */
function noteHiddenHint(g, res, body) {
  if (res.type !== 'cors') return;
  const h = res.headers;
  if (h.get('ratelimit') !== null || h.get('x-ratelimit-reset') !== null || body?.includes('retryAfterMs')) return;
  let origin;
  try {
    origin = new URL(res.url).origin;
  } catch {
    return;
  }
  const seen = (g._hintsHidden ??= new Set());
  if (seen.has(origin) || seen.size >= 64) return;
  seen.add(origin);
  g._emit('diagnostic', {
    kind: 'hiddenRetryHint',
    origin,
    status: res.status,
    message: `${origin} answered ${res.status} with no readable Retry-After or RateLimit header. If the server sends one, it must also send ${HINT_HELP}; until then the guard falls back to its own backoff.`,
  });
}

function coreError(core, code, cause) {
  const text = core.lastError();
  const [, , detail] = text.split('\n');
  return guardError(CODES[code] || 'ERR_UNSUPPORTED', Number(detail) || 0, undefined, cause);
}

/** One guarded fetch: its attempts, timers and abort wiring. */
class Call {
  constructor(guard, id, input, init, timeoutMs, deadlineAt, signal, resolve, reject) {
    this.g = guard;
    this.id = id;
    this.input = input;
    this.init = init;
    this.timeoutMs = timeoutMs;
    this.deadlineAt = deadlineAt;
    this.signal = signal;
    this.resolve = resolve;
    this.reject = reject;
    this.settled = false;
    this.timer = 0;
    this.timedOut = NET;
    this.limitAt = Infinity;
    this.unlink = null;
    this.aborted = false;
    // Stale-if-error applies to GET/HEAD with a cache, unless the caller opted out.
    this.cacheable = false;
    if (signal) {
      this.onAbort = () => this.abort();
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  /** Starts one attempt (the core admitted it). A throw here never leaks the ticket. */
  go() {
    if (this.settled) return;
    this.g._tap?.start(this); // instrumentation (resource-guard/otel), when installed
    this.timedOut = NET;
    this.limitAt = Infinity;
    let p;
    try {
      let init = this.init;
      let limit = this.timeoutMs, kind = ATTEMPT_TIMEOUT;
      if (this.deadlineAt !== undefined) {
        const left = Math.max(0, this.deadlineAt - now());
        if (limit === undefined || left <= limit) (limit = left), (kind = DEADLINE);
      }
      if (limit !== undefined) {
        const ctrl = new AbortController();
        let signal = ctrl.signal;
        if (this.signal) [signal, this.unlink] = anySignal(this.signal, ctrl.signal);
        init = { ...init, signal };
        this.limitAt = now() + limit;
        this.timer = setTimeout(() => {
          this.timer = 0;
          this.timedOut = kind;
          ctrl.abort(new DOMException('resource-guard attempt timeout', 'TimeoutError'));
        }, Math.min(limit, MAX_TIMER));
      }
      // A Request's body can be read once: every attempt sends a clone, the original stays intact.
      p = this.g._transport(this.input instanceof Request ? this.input.clone() : this.input, init);
    } catch (e) {
      p = Promise.reject(e);
    }
    Promise.resolve(p).then((res) => this.onResponse(res), (err) => this.onError(err));
  }

  /** The attempt is over: its timer and signal link go (an answered request is never aborted). */
  endAttempt() {
    if (this.timer) clearTimeout(this.timer), (this.timer = 0);
    if (this.unlink) this.unlink(), (this.unlink = null);
  }

  onResponse(res) {
    this.endAttempt();
    if (this.settled) return;
    const core = this.g._core;
    if (!core) return this.settle(undefined, guardError('ERR_DISPOSED'));
    const status = res.status;
    if (status < 400) {
      const h = res.headers;
      const rl = h.get('ratelimit');
      const xr = rl ? null : h.get('x-ratelimit-remaining');
      if (rl !== null || xr !== null) core.pacing(this.id, rl ?? undefined, xr ?? undefined, xr !== null ? h.get('x-ratelimit-reset') ?? undefined : undefined);
      return this.verdict(core.status(this.id, status, undefined, undefined), res);
    }
    const h = res.headers;
    const ra = h.get('retry-after') ?? undefined;
    const rl = h.get('ratelimit');
    const xr = rl ? null : h.get('x-ratelimit-remaining');
    if (rl !== null || xr !== null) core.pacing(this.id, rl ?? undefined, xr ?? undefined, xr !== null ? h.get('x-ratelimit-reset') ?? undefined : undefined);
    // The error body's hints are read within what is left of the attempt's time.
    readCapped(res, Math.min(ERROR_BODY_MS, this.limitAt - now())).then((body) => {
      if ((status === 429 || status === 503) && ra === undefined) noteHiddenHint(this.g, res, body);
      if (this.settled) return;
      const c = this.g._core;
      if (!c) return this.settle(undefined, guardError('ERR_DISPOSED'));
      this.verdict(c.status(this.id, status, ra, body), res);
    });
  }

  onError(err) {
    this.endAttempt();
    if (this.settled) return;
    const core = this.g._core;
    if (!core) return this.settle(undefined, guardError('ERR_DISPOSED'));
    if (this.signal?.aborted) return this.abort();
    // timeoutMs ending it is the service being too slow; the caller's deadline is not.
    this.verdict(core.networkError(this.id, this.timedOut), undefined, err);
  }

  verdict(v, res, err) {
    const g = this.g;
    // Events about this call go out while it is still known (retry and giveUp carry its method
    // and service); the error is read from the core first.
    const failed = v < -2 ? coreError(g._core, -10 - v, err) : undefined;
    const serverCode = failed && res ? g._core.serverCode() : undefined;
    if (g._out.length) g._drain();
    if (v === -1) {
      this.settle(res);
    } else if (v === -2) {
      this.settle(undefined, err);
    } else if (v >= 0) {
      // Retry: the core emits a start for this id when the wait (and the queue) allow.
      if (res && res.body) res.body.cancel().catch(() => {});
      g._schedule();
    } else {
      if (res) {
        failed.details.status = res.status;
        if (serverCode !== undefined) failed.details.serverCode = serverCode;
      }
      this.settle(undefined, failed);
    }
    g._drain();
  }

  fail(e) {
    this.settle(undefined, e);
  }

  /** The caller aborted: reject with the signal's reason wherever the request is. */
  abort() {
    if (this.settled) return;
    this.aborted = true;
    this.endAttempt();
    const g = this.g;
    if (g._core) g._core.cancel(this.id, false);
    this.settle(undefined, this.signal.reason);
    g._drain();
  }

  settle(res, err) {
    if (this.settled) return;
    this.settled = true;
    const g = this.g;
    g._calls.delete(this.id);
    if (this.onAbort) this.signal.removeEventListener('abort', this.onAbort);
    const cache = g._cache;
    if (cache && this.cacheable && !this.aborted) {
      if (res && res.ok) {
        cache.store(this.input, res, this.init); // clones synchronously; the caller gets the original
      } else if (!res || res.status >= 500 || res.status === 429) {
        // The service cannot answer: serve the last good response, marked stale.
        fallbackOr(g, this.input, this.init, res, err, this).then(this.resolve, this.reject);
        return;
      }
    }
    if (err !== undefined || !res) this.reject(err);
    else this.resolve(res);
  }
}

/** Resolves with the cached response for `input` (marked stale) or settles as the failure did. */
function fallbackOr(g, input, init, res, err, call) {
  const original = () => {
    if (res && err === undefined) return res;
    throw err;
  };
  return g._cache.fallback(input, init).then((stale) => {
    if (stale && call) g._tap?.fallback(call, stale);
    return stale || original();
  }, original);
}

/** One guarded job (`guard.run`). */
class Job {
  constructor(guard, id, task, timeoutMs, signal, resolve, reject) {
    Object.assign(this, { g: guard, id, task, timeoutMs, signal, resolve, reject, settled: false, started: false, timer: 0 });
    this.ctrl = new AbortController();
    if (signal) {
      this.onAbort = () => this.end(false, signal.reason, 'abort');
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  go() {
    if (this.settled) return;
    this.started = true;
    this.timer = setTimeout(() => this.end(false, guardError('ERR_TIMEOUT', TIMEOUT_JOB), 'timeout'), Math.min(this.timeoutMs, MAX_TIMER));
    let p;
    try {
      p = Promise.resolve(this.task(this.ctrl.signal));
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then((v) => this.end(true, v, 'done'), (e) => this.end(false, e, 'done'));
  }

  /** The core (shed, queue timeout) or dispose ended it: the core already freed the ticket. */
  fail(e) {
    this.end(false, e, 'core');
  }

  /**
   * Settles once and frees the slot at once: a task that ignores its aborted signal after a
   * timeout no longer holds a concurrency slot.
   */
  end(ok, value, how) {
    if (this.settled) return;
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.onAbort) this.signal.removeEventListener('abort', this.onAbort);
    const g = this.g;
    g._calls.delete(this.id);
    if (!ok) this.ctrl.abort(value);
    if (how !== 'core' && g._core) {
      if (how === 'done') g._core.done(this.id, ok);
      else g._core.cancel(this.id, how === 'timeout');
    }
    if (ok) this.resolve(value);
    else this.reject(value);
    g._drain();
  }
}

export class ResourceGuard {
  /** @private use `ResourceGuard.create(options)` */
  constructor(core, transport, options) {
    this._core = core;
    this._transport = transport ? (i, o) => transport(i, o) : (i, o) => globalThis.fetch(i, o);
    /** Every live call or job by core ticket id: waiting, running or backing off. */
    this._calls = new Map();
    this._out = [];
    this._listeners = new Map();
    this._timer = 0;
    this._timerAt = Infinity;
    this._categories = new Map();
    this._cleanups = [[], [], [], []];
    this._jobsTimeoutMs = options.jobs?.timeoutMs ?? 60000;
    this._level = 0;
    this._heap = options.heap || {};
    this._report = options.report?.endpoint ? options.report.endpoint : null;
    this._disposers = [];
    /** The stale-if-error response cache (cache.js), when `options.cache` is given. */
    this._cache = undefined;
    /** Open upload queues, for the snapshot (a closed one removes itself). */
    this._uploaders = new Set();
    this._maxRetryAfterMs = options.retry?.maxRetryAfterMs ?? 60000; // caps the uploaders' hints too
    /** Methods retried without an Idempotency-Key (`retry.methods`; the core validated them). */
    this._safeMethods = new Set((options.retry?.methods ?? ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']).map((m) => String(m).toUpperCase()));
  }

  /**
   * Creates a guard, loading the wasm on first use.
   * @param {import('./index.js').GuardOptions} [options]
   */
  static async create(options = {}) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new ResourceGuardError('ERR_INVALID_OPTION', 'invalid option: options must be an object', { path: '' });
    }
    const { fetch: transport, ...rest } = options;
    if (transport !== undefined && typeof transport !== 'function') {
      throw new ResourceGuardError('ERR_INVALID_OPTION', 'invalid option: fetch must be a function', { path: 'fetch' });
    }
    const endpoint = rest.report?.endpoint;
    if (typeof endpoint === 'string' && globalThis.location) {
      let url;
      try {
        url = new URL(endpoint, location.href);
      } catch {
        throw new ResourceGuardError('ERR_INVALID_OPTION', 'invalid option: report.endpoint must be a URL', { path: 'report.endpoint' });
      }
      if (url.origin !== location.origin && rest.report.allowCrossOrigin !== true) {
        throw new ResourceGuardError('ERR_INVALID_OPTION', 'invalid option: report.endpoint must be same-origin unless report.allowCrossOrigin is true', { path: 'report.endpoint' });
      }
    }
    await load();
    const seed = crypto.getRandomValues(new Uint32Array(2));
    const out = [];
    const sink = { push: (kind, id, a, b, s) => { out.push(kind, id, a, b, s); } };
    let core;
    try {
      const page = globalThis.location ? location.href : '';
      core = new GuardCore(optionsJson(rest), seed[0] * 4294967296 + seed[1], sink, page, globalThis.navigator?.userAgent || '');
    } catch (e) {
      throw fromCore(e);
    }
    const guard = new ResourceGuard(core, transport, rest);
    if (rest.cache) {
      try {
        guard._cache = await (await loadPart('cache')).ResponseCache.open(guard, rest.cache);
      } catch (e) {
        guard.dispose();
        throw e;
      }
    }
    guard._out = out;
    guard._sink = sink;
    // Node, Deno, jsdom and happy-dom have no heap reading (performance.memory,
    // measureUserAgentSpecificMemory) and no long tasks: no sampler timer there (it would keep a
    // Node process alive for nothing); sampleHeap() still answers, with source 'unsupported'.
    if (hasHeapSource()) guard._startHeap();
    guard._startReporter();
    return guard;
  }

  // ---- the core's outputs -------------------------------------------------------------------

  /** Acts on what the core emitted during the last call(s), then re-arms the wake timer. */
  _drain() {
    const o = this._out;
    if (o.length) {
      const items = o.splice(0, o.length);
      let started = false;
      let breach = false;
      for (let i = 0; i < items.length; i += 5) {
        const kind = items[i], id = items[i + 1];
        // One output's failure must never drop the others (their tickets would leak).
        try {
          if (kind === 1) {
            started = true;
            this._calls.get(id)?.go();
          } else if (kind === 2) {
            this._calls.get(id)?.fail(guardError(CODES[items[i + 2]], items[i + 3]));
          } else {
            // Heap, breaker and shed events are also breaches: the reporter has a flush to plan.
            if (this._report && id >= 3) breach = true;
            this._event(EVENTS[id], items[i + 4], items[i + 2]);
          }
        } catch (e) {
          queueMicrotask(() => { throw e; });
        }
      }
      // The window rule is measured where fetch is really called: re-stamp this batch's starts.
      if (started) this._core?.stampStarts();
      if (breach) this._schedule();
    }
  }

  _event(name, json, num) {
    if (name === 'heap') this._onLevel(num);
    const set = this._listeners.get(name);
    if (!set || !set.size) return;
    const payload = JSON.parse(json);
    // retry and giveUp name their ticket: add the request's method and service, and hand the
    // caller's context (captured by resource-guard/otel) to listeners as a second argument.
    const call = name === 'retry' || name === 'giveUp' ? this._calls.get(num) : undefined;
    if (call?.method) payload.method = call.method, payload.service = call.service;
    for (const fn of [...set]) {
      try {
        fn(payload, call?.ctx);
      } catch (e) {
        queueMicrotask(() => { throw e; }); // a listener's bug must not break the guard
      }
    }
  }

  /** Arms the single wake timer for the core's next deadline (`at`: already known). */
  _schedule(at) {
    const core = this._core;
    if (!core) return;
    if (at === undefined) at = core.nextWake();
    if (at < 0) return;
    // A timer armed under another setTimeout (fake timers installed or removed since) never fires.
    if (this._timer && this._timerAt <= at && this._timerFn === setTimeout) return;
    if (this._timer) clearTimeout(this._timer);
    this._timerAt = at;
    this._timerFn = setTimeout;
    // Absolute deadlines: a background tab whose timers fire late catches up by time, not by
    // counting ticks, so it neither drifts nor bursts past the limits when it wakes.
    this._timer = setTimeout(() => this._wake(), Math.min(Math.max(0, at - now()), MAX_TIMER));
  }

  _wake() {
    this._timer = 0;
    this._timerAt = Infinity;
    const core = this._core;
    if (!core) return;
    core.poll();
    this._sendReports();
    this._drain();
    // Asked again after acting: starts and reports may have moved the next deadline.
    if (this._core) this._schedule();
  }

  _category(name) {
    let id = this._categories.get(name);
    if (id === undefined) {
      id = this._core.category(String(name));
      if (id >= 0) this._categories.set(name, id);
    }
    return id;
  }

  // ---- requests -----------------------------------------------------------------------------

  /**
   * `fetch`, guarded: throttle, queue, retries, breaker. Resolves with the platform's Response
   * (HTTP errors are responses, as with fetch; after retries give up on a status, the last
   * response is returned). Rejects with a ResourceGuardError (or the platform's own network
   * error when the request was not retryable, or `signal.reason` on abort).
   */
  fetch(input, init) {
    const core = this._core;
    if (!core) return Promise.reject(guardError('ERR_DISPOSED'));
    let prio = 2, category = 'api', service, timeoutMs, deadlineMs, signal, method = 'GET', hasKey = false, noRetry = false;
    let platformInit = init;
    if (input instanceof Request) {
      method = input.method;
      signal = input.signal;
    }
    if (init) {
      if (init.method) method = String(init.method).toUpperCase();
      if (init.signal) signal = init.signal;
      if (init.priority !== undefined || init.category !== undefined || init.service !== undefined || init.timeoutMs !== undefined || init.deadlineMs !== undefined || init.idempotencyKey !== undefined || init.fallback !== undefined || init.retry !== undefined) {
        platformInit = { ...init };
        delete platformInit.category; delete platformInit.service; delete platformInit.timeoutMs;
        delete platformInit.deadlineMs; delete platformInit.idempotencyKey; delete platformInit.fallback;
        delete platformInit.retry;
        // `retry: false`: the caller retries itself (the upload engine); the guard never does.
        if (init.retry === false) noRetry = true;
        if (init.priority !== undefined) {
          prio = PRIORITY[init.priority];
          if (prio === undefined) return Promise.reject(new ResourceGuardError('ERR_INVALID_OPTION', "invalid option: init.priority must be 'system', 'high', 'normal' or 'low'", { path: 'init.priority' }));
          platformInit.priority = FETCH_PRIORITY[prio];
        }
        if (init.category !== undefined) category = init.category;
        service = init.service;
        timeoutMs = init.timeoutMs;
        deadlineMs = init.deadlineMs;
        for (const [k, v] of [['timeoutMs', timeoutMs], ['deadlineMs', deadlineMs]]) {
          if (v !== undefined && !(typeof v === 'number' && v > 0 && v <= MAX_TIMER)) {
            return Promise.reject(new ResourceGuardError('ERR_INVALID_OPTION', `invalid option: init.${k} must be a number from 1 to ${MAX_TIMER}`, { path: `init.${k}` }));
          }
        }
        const key = init.idempotencyKey;
        if (key !== undefined && key !== false) {
          // A Request input keeps every header it carries (Authorization included).
          const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
          headers.set('Idempotency-Key', key === true ? crypto.randomUUID() : String(key));
          platformInit.headers = headers;
          hasKey = true;
        }
      }
    }
    if (!hasKey && (method === 'POST' || method === 'PATCH')) {
      // An Idempotency-Key the caller (or its Request) already carries makes it retryable too.
      const h = init?.headers ?? (input instanceof Request ? input.headers : undefined);
      if (h) hasKey = (h instanceof Headers ? h : new Headers(h)).has('idempotency-key');
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const cat = this._category(category);
    if (cat < 0) return Promise.reject(new ResourceGuardError('ERR_INVALID_OPTION', `invalid option: init.category '${category}' is not a configured category`, { path: 'init.category' }));
    if (service === undefined) service = originOf(input);
    const cacheable = this._cache !== undefined && (method === 'GET' || method === 'HEAD') && init?.fallback !== false;
    const safe = !noRetry && (hasKey || this._safeMethods.has(method));
    const r = core.submit(cat, prio, String(service), safe ? 1 : 0, deadlineMs ?? NaN, NaN, timeoutMs ?? NaN);
    if (r < 0) {
      const e = coreError(core, -r);
      this._drain();
      // An open breaker (or a hint outlasting the deadline) fails fast without the network: the
      // cache may still answer.
      if (cacheable && (e.code === 'ERR_CIRCUIT_OPEN' || e.code === 'ERR_RETRY_AFTER_TOO_LONG')) return fallbackOr(this, input, platformInit, undefined, e, this._tap && { method, service: String(service), category, ctx: this._tap.call({ method, service: String(service), category }) });
      return Promise.reject(e);
    }
    const id = (r - (r % 2)) / 2;
    const deadlineAt = deadlineMs === undefined ? undefined : now() + deadlineMs;
    return new Promise((resolve, reject) => {
      const call = new Call(this, id, input, platformInit, timeoutMs, deadlineAt, signal, resolve, reject);
      call.cacheable = cacheable;
      call.method = method;
      call.service = String(service);
      call.category = category;
      // Instrumentation (resource-guard/otel): the caller's context (its active span) at this call.
      if (this._tap) call.ctx = this._tap.call(call);
      this._calls.set(id, call);
      if (r % 2 === 1) {
        call.go();
        // fetch has been called: its rate-limit stamp moves to now (see the core's stampStarts),
        // so a pause between the decision and the call cannot let the window slip.
        core.stampStarts();
        if (this._out.length) this._drain();
      } else {
        this._drain();
        this._schedule();
      }
    });
  }

  /**
   * Runs heavy client work under the same queue, priorities, concurrency caps and timeouts.
   * The task gets an AbortSignal that fires on timeout, on the caller's abort and on dispose.
   */
  run(task, opts = {}) {
    const core = this._core;
    if (!core) return Promise.reject(guardError('ERR_DISPOSED'));
    if (typeof task !== 'function') return Promise.reject(new ResourceGuardError('ERR_INVALID_OPTION', 'invalid option: task must be a function', { path: 'task' }));
    const prio = opts.priority === undefined ? 2 : PRIORITY[opts.priority];
    if (prio === undefined) return Promise.reject(new ResourceGuardError('ERR_INVALID_OPTION', "invalid option: opts.priority must be 'system', 'high', 'normal' or 'low'", { path: 'opts.priority' }));
    const timeoutMs = opts.timeoutMs ?? this._jobsTimeoutMs;
    if (!(typeof timeoutMs === 'number' && timeoutMs > 0 && timeoutMs <= MAX_TIMER)) {
      return Promise.reject(new ResourceGuardError('ERR_INVALID_OPTION', `invalid option: opts.timeoutMs must be a number from 1 to ${MAX_TIMER}`, { path: 'opts.timeoutMs' }));
    }
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const category = opts.category ?? 'jobs';
    const cat = this._category(category);
    if (cat < 0) return Promise.reject(new ResourceGuardError('ERR_INVALID_OPTION', `invalid option: opts.category '${category}' is not a configured category`, { path: 'opts.category' }));
    const r = core.submit(cat, prio, '', 0, NaN, NaN, NaN);
    if (r < 0) {
      const e = coreError(core, -r);
      this._drain();
      return Promise.reject(e);
    }
    const id = (r - (r % 2)) / 2;
    return new Promise((resolve, reject) => {
      const job = new Job(this, id, task, timeoutMs, signal, resolve, reject);
      this._calls.set(id, job);
      if (r % 2 === 1) job.go();
      this._drain();
      if (r % 2 === 0) this._schedule();
    });
  }

  // ---- visibility ---------------------------------------------------------------------------

  /** A plain-object view of queues, limits, breakers, heap and reports. */
  snapshot() {
    // After dispose: the final state (nothing live), same shape, `disposed: true`.
    if (!this._core) return JSON.parse(this._finalSnapshot);
    const s = JSON.parse(this._core.snapshot());
    s.disposed = false;
    s.uploads = {};
    for (const up of this._uploaders) {
      if (up._stopped) this._uploaders.delete(up);
      else s.uploads[up._name] = up.stats();
    }
    s.cache = this._cache ? this._cache.stats() : null;
    return s;
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on(event, listener) {
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(listener);
    this._verbose();
    return () => {
      set.delete(listener);
      this._verbose();
    };
  }

  _verbose() {
    const any = ['throttle', 'retry', 'giveUp'].some((n) => this._listeners.get(n)?.size);
    this._core?.setVerbose(any);
  }

  _emit(name, payload) {
    const set = this._listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try { fn(payload); } catch (e) { queueMicrotask(() => { throw e; }); }
    }
  }

  // ---- heap guard ---------------------------------------------------------------------------

  /**
   * Registers a cleanup run each time `level` is entered (default 'critical'); errors are caught
   * and emitted as 'cleanupError'. Returns the unregister function.
   */
  onCleanup(fn, { level = 'critical' } = {}) {
    const i = LEVELS.indexOf(level);
    if (i < 1 || typeof fn !== 'function') throw new ResourceGuardError('ERR_INVALID_OPTION', "invalid option: onCleanup needs a function and level 'warning', 'critical' or 'limit'", { path: 'level' });
    this._cleanups[i].push(fn);
    return () => {
      const k = this._cleanups[i].indexOf(fn);
      if (k >= 0) this._cleanups[i].splice(k, 1);
    };
  }

  _onLevel(level) {
    const prev = this._level;
    this._level = level;
    // Entering a level runs its cleanups once, and those of every level passed on the way up.
    for (let l = prev + 1; l <= level; l++) {
      for (const fn of [...this._cleanups[l]]) {
        try {
          const r = fn({ level: LEVELS[l] });
          if (r && typeof r.then === 'function') r.then(undefined, (error) => this._emit('cleanupError', { level: LEVELS[l], error }));
        } catch (error) {
          this._emit('cleanupError', { level: LEVELS[l], error });
        }
      }
    }
  }

  /**
   * Samples memory now (never waits for a garbage collection). `performance.memory` drives the
   * levels when it proves precise (moving off its bucket grid); otherwise, on a cross-origin
   * isolated page, `measureUserAgentSpecificMemory()` does: it resolves at a later collection, is
   * recorded when it arrives, at most once per sampling interval, and is ignored once
   * `performance.memory` is precise (a late result describes an older heap). The core lets one
   * source drive the level (see core/heap.rs): while a measurement drives, a bucketed
   * `performance.memory` does not, and the reading returned is that measurement.
   */
  async sampleHeap() {
    const core = this._core;
    if (!core) throw guardError('ERR_DISPOSED');
    const pm = performance.memory;
    const hasPm = pm && typeof pm.usedJSHeapSize === 'number';
    const t = now();
    if (!this._pmPrecise && globalThis.crossOriginIsolated && typeof performance.measureUserAgentSpecificMemory === 'function' && !this._uasInFlight && !(t - this._uasAt < (this._heap.sampleIntervalMs ?? 30000))) {
      this._uasInFlight = true;
      this._uasAt = t;
      performance.measureUserAgentSpecificMemory().then(
        (m) => {
          this._uasInFlight = false;
          if (this._core && !this._pmPrecise) {
            this._lastUas = JSON.parse(this._core.heapSample(m.bytes, 1));
            this._drain();
          }
        },
        () => { this._uasInFlight = false; },
      );
    }
    let r;
    if (hasPm) {
      r = JSON.parse(core.heapSample(pm.usedJSHeapSize, 2));
      this._pmPrecise = r.precise;
      // A bucketed value that does not drive the level: the measurement that does says more.
      if (!r.drives && this._lastUas) r = { ...this._lastUas, level: r.level };
    } else if (this._lastUas) {
      r = { ...this._lastUas }; // the latest measurement, with its true age
    } else {
      r = JSON.parse(core.heapSample(0, 0)); // nothing to read (yet): say so, never guess
    }
    this._drain();
    r.sampledAt = performance.timeOrigin + r.sampledAt;
    r.ageMs = Math.max(0, Date.now() - r.sampledAt);
    return r;
  }

  _startHeap() {
    const tick = () => {
      if (!this._core) return;
      this.sampleHeap().catch(() => {});
      const delay = this._core.heapDelay(Math.random());
      this._heapTimer = setTimeout(tick, Math.min(delay, MAX_TIMER));
    };
    this._heapTimer = setTimeout(tick, 0);
    if (typeof PerformanceObserver === 'function' && PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
      const obs = new PerformanceObserver((list) => {
        if (!this._core) return;
        let breach = false;
        for (const e of list.getEntries()) breach = this._core.longTask(e.duration) || breach;
        if (breach && this._report) this._schedule();
      });
      obs.observe({ type: 'longtask' });
      this._disposers.push(() => obs.disconnect());
    }
  }

  // ---- breach reporter ----------------------------------------------------------------------

  /**
   * Reports that did not fit the keepalive quota on page hide are kept in `localStorage` under
   * `resource-guard:reports:<endpoint URL>` (one key per report endpoint, so guards reporting
   * elsewhere never take each other's): taken back on the next page load or when the page is
   * shown again, and merged with what is kept already on the next hide (another tab, an earlier
   * hide), never overwritten; the core keeps the stored JSON within 128 KiB.
   */
  _startReporter() {
    if (!this._report) return;
    let KEY;
    try {
      KEY = 'resource-guard:reports:' + new URL(this._report, globalThis.location?.href).href;
    } catch {
      KEY = 'resource-guard:reports:' + this._report;
    }
    const take = () => {
      try {
        const kept = globalThis.localStorage?.getItem(KEY);
        if (kept && this._core) {
          localStorage.removeItem(KEY);
          this._core.reportRestore(kept);
          this._schedule();
        }
      } catch {}
    };
    take();
    const hide = () => {
      if (!this._core) return;
      // Flush within the keepalive quota (the core sizes the batches); keep the rest for the
      // next page load.
      for (const b of this._core.reportFlushAll()) {
        const i = b.indexOf('\n');
        const id = Number(b.slice(0, i)), json = b.slice(i + 1);
        let ok = false;
        try {
          ok = navigator.sendBeacon?.(this._report, new Blob([json], { type: 'application/reports+json' })) === true;
        } catch {}
        if (!ok) {
          try {
            this._transport(this._report, { method: 'POST', body: json, keepalive: true, headers: { 'Content-Type': 'application/reports+json' } }).catch(() => {});
            ok = true;
          } catch {}
        }
        this._core.reportResult(id, ok, undefined);
      }
      try {
        const store = globalThis.localStorage;
        if (!store) return;
        const rest = this._core.reportDrain(store.getItem(KEY) || '');
        if (rest && rest !== '[]') store.setItem(KEY, rest);
        else store.removeItem(KEY);
      } catch {}
    };
    const onVis = () => { if (document.visibilityState === 'hidden') hide(); else take(); };
    if (globalThis.document) {
      document.addEventListener('visibilitychange', onVis);
      globalThis.addEventListener('pagehide', hide);
      globalThis.addEventListener('pageshow', take);
      this._disposers.push(() => {
        document.removeEventListener('visibilitychange', onVis);
        globalThis.removeEventListener('pagehide', hide);
        globalThis.removeEventListener('pageshow', take);
      });
    }
    this._flushReports = hide;
    this._schedule();
  }

  _sendReports() {
    if (!this._report || !this._core) return;
    let b;
    while ((b = this._core.reportPoll()) !== undefined) {
      const i = b.indexOf('\n');
      const id = Number(b.slice(0, i)), json = b.slice(i + 1);
      // Reports use the raw transport: they never spend the user's throttle budget.
      Promise.resolve()
        .then(() => this._transport(this._report, { method: 'POST', body: json, keepalive: json.length < 60000, headers: { 'Content-Type': 'application/reports+json' } }))
        .then(
          (res) => {
            if (!this._core) return;
            // The raw header: the core's one Retry-After parser reads it.
            this._core.reportResult(id, res.ok, res.ok ? undefined : res.headers.get('retry-after') ?? undefined);
            if (res.ok) this._emit('report', { count: JSON.parse(json).length, bytes: json.length });
            this._drain();
            this._schedule(); // a failed batch is pending again: wake for its backoff
          },
          () => { if (this._core) { this._core.reportResult(id, false, undefined); this._drain(); this._schedule(); } },
        );
    }
  }

  /**
   * Empties the fallback cache: its Cache Storage entries and the in-memory index (call it on
   * sign-out). Copies of responses still being stored are dropped. Resolves also when the guard
   * has no cache or is disposed (then the Cache Storage an earlier page may have left is deleted);
   * never rejects.
   */
  async clearCache() {
    const c = this._cache;
    if (c && c._core) await c.clear();
    else {
      // No cache here: delete what an earlier page may have left without loading the cache part.
      try {
        await globalThis.caches?.delete(CACHE_NAME);
      } catch {}
    }
  }

  /**
   * A durable upload queue (IndexedDB), sending through the guard. Once the uploader part is
   * loaded (an earlier call, or `preload('uploader')`) this is the Uploader itself, and invalid
   * options throw here; before, the part loads in the background and a deferred uploader is
   * returned whose methods wait for it (invalid options reject them).
   */
  uploader(opts) {
    if (!partModules.uploader) return deferredUploader(() => this._uploaderLater(opts));
    const up = new partModules.uploader.Uploader(this, opts);
    this._uploaders.add(up);
    return up;
  }

  /** The Uploader, once its part is loaded. */
  _uploaderLater(opts) {
    return loadPart('uploader').then(() => this.uploader(opts));
  }

  /** Loads a lazily loaded part now ('cache' or 'uploader'), for apps that want it early. */
  preload(part) {
    return loadPart(part).then(noop);
  }

  /** Stops timers, observers and uploads and rejects pending work with ERR_DISPOSED; idempotent. */
  dispose() {
    const core = this._core;
    if (!core) return;
    this._flushReports?.();
    this._core = null;
    clearTimeout(this._timer);
    clearTimeout(this._heapTimer);
    for (const d of [...this._disposers]) d();
    this._cache?.dispose();
    core.dispose();
    try {
      const s = JSON.parse(core.snapshot());
      Object.assign(s, { disposed: true, uploads: {}, cache: null });
      this._finalSnapshot = JSON.stringify(s);
    } catch {
      this._finalSnapshot = '{"disposed":true}';
    }
    core.free();
    // Waiting, running and backing-off work all reject; running jobs see their signal abort.
    const err = guardError('ERR_DISPOSED');
    for (const c of [...this._calls.values()]) c.fail(err);
    this._calls.clear();
  }
}

// ---- one app-wide guard, created synchronously -----------------------------------------------

const DEFERRED = ['enqueue', 'flush', 'deadLetters', 'retryDeadLetters', 'discardDeadLetters'];

/**
 * `guard.uploader()` before the guard is ready or before the uploader part is loaded: the same
 * methods, each waiting for the real uploader (created once, by `create()`, on the first call).
 * `stats()` is null until then; `on()` subscribes as soon as the uploader exists. A creation
 * error (invalid options, a failed part load) rejects the call; a later call tries again.
 */
function deferredUploader(create) {
  let up = null;
  let closed = false;
  let creating = null;
  const subs = [];
  const get = () =>
    (up ? Promise.resolve(up) : (creating ??= create().finally(() => { creating = null; }))).then((u) => {
      if (closed) {
        if (u !== up) u.close();
        throw guardError('ERR_DISPOSED');
      }
      if (!up) {
        up = u;
        for (const s of subs) s.off = up.on(s.event, s.fn);
      }
      return up;
    });
  const u = {
    stats: () => (up ? up.stats() : null),
    on(event, fn) {
      if (up) return up.on(event, fn);
      const s = { event, fn, off: null };
      subs.push(s);
      return () => {
        const i = subs.indexOf(s);
        if (i >= 0) subs.splice(i, 1);
        s.off?.();
      };
    },
    close() {
      closed = true;
      up?.close();
    },
  };
  for (const m of DEFERRED) u[m] = (...args) => get().then((x) => x[m](...args));
  return u;
}

/**
 * The guard `createGuard()` returns: usable at once, before the wasm is ready. Calls made
 * before then wait for it (and reject with the creation error if it failed); afterwards they go
 * straight to the guard. Not a thenable, so it can be exported and passed around as is.
 */
class GuardHandle {
  constructor(options) {
    /** The ResourceGuard once created (null before, and after dispose). */
    this._g = null;
    this._disposed = false;
    this._subs = [];
    this._cleanups = [];
    this._p = ResourceGuard.create(options).then((g) => {
      if (this._disposed) {
        g.dispose();
        throw guardError('ERR_DISPOSED');
      }
      this._g = g;
      for (const s of this._subs) s.off = g.on(s.event, s.fn);
      for (const c of this._cleanups) c.off = g.onCleanup(c.fn, c.opts);
      this._subs = this._cleanups = null;
      return g;
    });
    // Nobody may be waiting: a guard created at module top level during SSR or in a test must
    // never turn its creation error into an unhandled rejection. Awaiting `ready` still rejects.
    this._p.catch(noop);
    /** Resolves once the guard can decide synchronously; rejects with the create() error. */
    this.ready = this._p.then(noop);
    this.ready.catch(noop);
  }

  /** The guard, once ready (null before): for code that needs the class itself. */
  get guard() {
    return this._g;
  }

  fetch(input, init) {
    const g = this._g;
    return g ? g.fetch(input, init) : this._p.then((x) => x.fetch(input, init));
  }

  run(task, opts) {
    const g = this._g;
    return g ? g.run(task, opts) : this._p.then((x) => x.run(task, opts));
  }

  sampleHeap() {
    const g = this._g;
    return g ? g.sampleHeap() : this._p.then((x) => x.sampleHeap());
  }

  clearCache() {
    return this._p.then((x) => (typeof x.clearCache === 'function' ? x.clearCache() : undefined));
  }

  /** `null` until the guard is ready (and after dispose: `{ disposed: true }`, as the guard's). */
  snapshot() {
    const g = this._g;
    if (g) return g.snapshot();
    return this._disposed ? { disposed: true } : null;
  }

  on(event, listener) {
    return this._defer(this._subs, { event, fn: listener }, (g) => g.on(event, listener));
  }

  onCleanup(fn, opts) {
    if (typeof fn !== 'function') throw new ResourceGuardError('ERR_INVALID_OPTION', 'invalid option: onCleanup needs a function', { path: 'fn' });
    return this._defer(this._cleanups, { fn, opts }, (g) => g.onCleanup(fn, opts));
  }

  _defer(list, entry, attach) {
    if (this._g) return attach(this._g);
    if (!list) return noop; // disposed or failed
    entry.off = null;
    list.push(entry);
    return () => {
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
      entry.off?.();
    };
  }

  uploader(opts) {
    return this._g ? this._g.uploader(opts) : deferredUploader(() => this._p.then((g) => g._uploaderLater(opts)));
  }

  preload(part) {
    return loadPart(part).then(noop);
  }

  /** Disposes of the guard (now, or as soon as it is created); pending calls reject ERR_DISPOSED. */
  dispose() {
    if (this._disposed) return;
    this._disposed = true;
    const g = this._g;
    this._g = null;
    g?.dispose();
  }
}

/**
 * Creates a guard synchronously: `export const guard = createGuard(options)` gives the whole app
 * one budget. The wasm loads in the background; `guard.ready` says when (or why not). Invalid
 * options reject `ready` and every call with ERR_INVALID_OPTION. Safe during SSR and in tests.
 */
export function createGuard(options) {
  return new GuardHandle(options);
}
