// resource-guard: the JavaScript driver. All policy (limits, queues, retries, breakers, heap
// levels, reports, upload plans) lives in the wasm core; this file awaits promises, runs timers
// and talks to browser APIs, calling the core with numbers and short strings only.
import init, { GuardCore } from './resource_guard.js';
import { ResourceGuardError, isResourceGuardError, guardError, fromCore } from './errors.js';

export { ResourceGuardError, isResourceGuardError };

let ready = null;
/** Loads and instantiates the wasm once per page (concurrent callers share the promise). */
function load() {
  if (!ready) ready = init().catch((e) => { ready = null; throw e; });
  return ready;
}

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

function isBrowserLike() {
  return typeof globalThis.document !== 'undefined' || typeof globalThis.WorkerGlobalScope !== 'undefined';
}

// Guard-only keys of the init object; removed before the platform fetch sees it.
const GUARD_KEYS = ['priority', 'category', 'service', 'timeoutMs', 'deadlineMs', 'idempotencyKey', 'fallback'];
// Our queue priority -> the platform's fetch priority hint (fetch throws on 'normal').
const FETCH_PRIORITY = { system: 'high', high: 'high', normal: 'auto', low: 'low' };

export class ResourceGuard {
  #core;
  #transport;
  #disposed = false;
  #listeners = new Map();

  /** @private use `ResourceGuard.create(options)` */
  constructor(core, transport) {
    this.#core = core;
    this.#transport = transport;
  }

  /**
   * Creates a guard, loading the wasm on first use.
   * @param {import('./index.js').GuardOptions} [options]
   */
  static async create(options = {}) {
    if (!isBrowserLike()) {
      throw new ResourceGuardError('ERR_UNSUPPORTED', 'resource-guard needs a browser window or worker; create the guard on the client (e.g. in useEffect or onMount), not during server-side rendering', { what: 'browser' });
    }
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new ResourceGuardError('ERR_INVALID_OPTION', 'invalid option: options must be an object', { path: '' });
    }
    const { fetch: transport, ...rest } = options;
    if (transport !== undefined && typeof transport !== 'function') {
      throw new ResourceGuardError('ERR_INVALID_OPTION', 'invalid option: fetch must be a function', { path: 'fetch' });
    }
    await load();
    const seed = crypto.getRandomValues(new Uint32Array(2));
    let core;
    try {
      core = new GuardCore(optionsJson(rest), seed[0] * 4294967296 + seed[1]);
    } catch (e) {
      throw fromCore(e);
    }
    return new ResourceGuard(core, transport);
  }

  /**
   * `fetch`, guarded.
   * @param {RequestInfo | URL} input
   * @param {RequestInit & { priority?: string, category?: string }} [init]
   */
  fetch(input, init) {
    if (this.#disposed) return Promise.reject(guardError('ERR_DISPOSED'));
    let platformInit = init;
    if (init) {
      platformInit = { ...init };
      for (const k of GUARD_KEYS) delete platformInit[k];
      if (init.priority !== undefined) platformInit.priority = FETCH_PRIORITY[init.priority] || 'auto';
    }
    const f = this.#transport || globalThis.fetch;
    return f(input, platformInit);
  }

  /** A plain-object view of the guard's state. */
  snapshot() {
    return JSON.parse(this.#core.snapshot());
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on(event, listener) {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Stops timers, observers and uploads; idempotent. */
  dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#core.free();
  }
}
