// resource-guard: the stale-if-error response cache. Bodies live in Cache Storage (never in wasm
// memory); the wasm `CacheCore` decides what may be stored, for how long, and what to evict
// (LRU within maxBytes / maxEntries, age limits from Cache-Control and maxStaleMs). Each entry
// carries its metadata in response headers (x-rg-*), so the index is rebuilt from Cache Storage
// when a page opens the cache. Every Cache Storage change runs on one promise chain in index
// order, so Cache Storage never holds more than the index allows (deletes run before puts).
// Private by default: a request's own `cache: 'no-store'` is never stored nor served, and a
// credentialed request (Authorization, or credentials: 'include' to another origin) is stored
// only with `cache.storeCredentialed`, under its own key. `guard.clearCache()` empties it.
import init, { CacheCore } from './resource_guard_cache.js';
import { wasmOnce } from './wasm.js';

/** Instantiates the cache's own wasm (index.js awaits it before using this part). */
export const ready = wasmOnce(init, new URL('./resource_guard_cache_bg.wasm', import.meta.url), 'cache');

const CACHE_NAME = 'resource-guard-v1'; // index.js deletes it by this name without loading this part
// Synthetic request URLs: the index key (method, URL, Vary-relevant request headers) is the
// lookup key, not the platform's URL + Vary matching.
const PREFIX = 'https://resource-guard.invalid/v1?k=';
const H_STORED_AT = 'x-rg-stored-at';
const H_BYTES = 'x-rg-bytes';
const H_TTL = 'x-rg-ttl';
const H_VARY = 'x-rg-vary'; // written by earlier versions; stripped when serving
const STALE = 'X-Resource-Guard-Stale';

let warned = false;
function warnOnce(why) {
  if (warned) return;
  warned = true;
  console.warn(`resource-guard: Cache Storage is unavailable (${why}); running without the fallback cache`);
}

const urlOf = (input) => {
  const raw = typeof input === 'string' ? input : input instanceof URL ? input.href : input?.url;
  try {
    return new URL(raw, globalThis.location?.href).href;
  } catch {
    return String(raw);
  }
};

const isRequest = (input) => typeof Request === 'function' && input instanceof Request;

/**
 * What the cache needs to know of a request: method, absolute URL, headers (from a Request,
 * overridden by init.headers), whether it asked for `cache: 'no-store'`, and whether it is
 * credentialed: an Authorization header, or `credentials: 'include'` to another origin.
 */
function describe(input, init) {
  const req = isRequest(input) ? input : undefined;
  const headers = new Headers(req?.headers);
  if (init?.headers) for (const [k, v] of new Headers(init.headers)) headers.set(k, v);
  const url = urlOf(input);
  let credentialed = headers.has('authorization');
  if (!credentialed && (init?.credentials ?? req?.credentials) === 'include') {
    try {
      credentialed = new URL(url).origin !== globalThis.location?.origin;
    } catch {
      credentialed = true;
    }
  }
  return {
    method: String(init?.method || req?.method || 'GET').toUpperCase(),
    url,
    headers,
    noStore: (init?.cache ?? req?.cache) === 'no-store',
    credentialed,
  };
}

/** Vary names of a response (lower-case, `*` kept so the policy refuses it). */
const varyNames = (v) => (v ? v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean) : []);

export class ResponseCache {
  /**
   * Opens the cache for `guard` with the (already validated) `cache` options, rebuilding the
   * index from Cache Storage. Resolves to undefined, after one console.warn per page, where
   * Cache Storage is unavailable (non-secure context, some private modes).
   */
  static async open(guard, options = {}) {
    const cs = globalThis.caches;
    if (!cs || globalThis.isSecureContext === false) {
      warnOnce(globalThis.isSecureContext === false ? 'not a secure context' : 'no caches global');
      return undefined;
    }
    let storage;
    try {
      storage = await cs.open(CACHE_NAME);
    } catch (e) {
      warnOnce(e?.name || 'caches.open failed');
      return undefined;
    }
    // Numbers only: the guard's core validated these options already (index.js creates it first).
    const num = (v) => (typeof v === 'number' ? v : NaN);
    const core = new CacheCore(num(options.maxBytes), num(options.maxEntries), num(options.maxStaleMs), options.storeCredentialed === true);
    const c = new ResponseCache(guard, storage, core, options);
    await c._restore(2 * (options.maxEntries ?? 500));
    guard.onCleanup(() => c.clear(), { level: 'critical' });
    return c;
  }

  /** @private use `ResponseCache.open` */
  constructor(guard, storage, core, options) {
    this._g = guard;
    this._cs = storage;
    this._core = core;
    this._maxBytes = options.maxBytes ?? 5242880;
    /** The single chain every Cache Storage change runs on. */
    this._chain = Promise.resolve();
    this._gen = 0;
    /** Stores still reading their clone (not yet on the chain). */
    this._reading = new Set();
    /** Bytes those reads hold together: never more than maxBytes (a read past it gives up). */
    this._readingBytes = 0;
  }

  _then(step) {
    const p = this._chain.then(step);
    this._chain = p.catch(() => {});
    return p;
  }

  /** Rebuilds the index from Cache Storage, reading at most `max` entries (the rest is deleted). */
  async _restore(max) {
    const now = Date.now();
    let reqs = [];
    try {
      reqs = await this._cs.keys();
    } catch {}
    await Promise.all(reqs.map(async (req, i) => {
      if (i >= max || !req.url.startsWith(PREFIX)) return void this._cs.delete(req).catch(() => {});
      let key;
      try {
        key = decodeURIComponent(req.url.slice(PREFIX.length));
      } catch {
        return void this._cs.delete(req).catch(() => {});
      }
      let res;
      try {
        res = await this._cs.match(req);
      } catch {}
      const h = res?.headers;
      const num = (name) => { const v = h?.get(name); return v === null || v === undefined || v === '' ? NaN : Number(v); };
      const ttl = num(H_TTL);
      this._core.stage(key, num(H_BYTES), num(H_STORED_AT), Number.isFinite(ttl) ? ttl : -1);
    }));
    this._core.restore(now);
    this._deleteEvicted();
    await this._chain;
  }

  /** Deletes (on the chain) the bodies of everything the index evicted or expired. */
  _deleteEvicted() {
    const keys = this._core.takeEvicted();
    if (!keys.length) return;
    this._then(() => Promise.all(keys.map((k) => this._cs.delete(PREFIX + encodeURIComponent(k)).catch(() => false))));
  }

  _key(d, names) {
    const lines = [];
    for (const n of names) {
      const v = d.headers.get(n);
      lines.push(v === null ? n : `${n}:${v}`);
    }
    return this._core.key('GET', d.url, lines.join('\n'), d.credentialed);
  }

  /**
   * Keeps a copy of a successful response the caller is about to receive: decides and clones
   * synchronously, stores asynchronously (never delays the caller). `init`: the request's init,
   * when the driver passes it (its method and headers; otherwise they come from `input`).
   */
  store(input, response, init) {
    const core = this._core;
    if (!core) return;
    const d = describe(input, init);
    // A HEAD response (and 204/205/304) has a null body: nothing to fall back on. The caller's
    // own `cache: 'no-store'` is honoured like the server's.
    if (d.method !== 'GET' || d.noStore || !response.body || response.bodyUsed) return;
    const rh = response.headers;
    const vary = rh.get('vary');
    const ttl = core.policy(d.method, response.status, rh.get('cache-control') ?? undefined, vary ?? undefined, d.credentialed);
    if (ttl < 0) return;
    const declared = Number(rh.get('content-length'));
    if (rh.has('content-length') && declared > this._maxBytes) return; // never cloned, never read
    let copy;
    try {
      copy = response.clone();
    } catch {
      return;
    }
    const key = this._key(d, varyNames(vary));
    const gen = this._gen;
    let held = 0;
    const reading = readCapped(copy, this).then((blob) => {
      held = blob?.size ?? 0;
      if (!blob || gen !== this._gen || !this._core) return;
      return this._then(async () => {
        if (gen !== this._gen || !this._core) return;
        const now = Date.now();
        const ok = this._core.insert(key, blob.size, now, ttl);
        const evicted = this._core.takeEvicted();
        await Promise.all(evicted.map((k) => this._cs.delete(PREFIX + encodeURIComponent(k)).catch(() => false)));
        const req = PREFIX + encodeURIComponent(key);
        if (!ok) {
          await this._cs.delete(req).catch(() => false);
          return;
        }
        const headers = new Headers(rh);
        headers.set(H_STORED_AT, String(now));
        headers.set(H_BYTES, String(blob.size));
        headers.set(H_TTL, String(ttl));
        try {
          await this._cs.put(req, new Response(blob, { status: response.status, statusText: response.statusText, headers }));
        } catch {
          // Quota or a closed cache: forget it rather than index a body that is not there.
          this._core?.remove(key);
        }
      });
    }).catch(() => {}).finally(() => {
      this._readingBytes -= held; // the copy has landed (or was dropped)
      this._reading.delete(reading);
    });
    this._reading.add(reading);
  }

  /**
   * The cached response for a request whose network path failed, marked with
   * `X-Resource-Guard-Stale: <age in whole seconds>` (and a `fallback` event), or undefined.
   */
  async fallback(input, init) {
    const core = this._core;
    if (!core) return undefined;
    const d = describe(input, init);
    const { method, url } = d;
    if ((method !== 'GET' && method !== 'HEAD') || d.noStore) return undefined;
    const names = core.varyOf(url);
    if (names === undefined) return undefined;
    const key = this._key(d, names ? names.split('\n') : []);
    // After any store still on the chain (a response stored just before the outage).
    await this._chain;
    if (!this._core) return undefined;
    const ageMs = this._core.lookup(key, Date.now());
    if (ageMs < 0) {
      this._deleteEvicted();
      return undefined;
    }
    let res;
    try {
      res = await this._cs.match(PREFIX + encodeURIComponent(key));
    } catch {}
    if (!res) {
      // The browser dropped it (storage pressure) or it was cleared meanwhile.
      this._core?.remove(key);
      return undefined;
    }
    const ageS = Math.floor(ageMs / 1000);
    const headers = new Headers(res.headers);
    for (const h of [H_STORED_AT, H_BYTES, H_TTL, H_VARY]) headers.delete(h);
    headers.set(STALE, String(ageS));
    const out = new Response(method === 'HEAD' ? null : res.body, { status: res.status, statusText: res.statusText, headers });
    this._g._emit('fallback', { url, ageS });
    return out;
  }

  /**
   * Empties the index and every entry in Cache Storage (the heap guard's `critical` cleanup and
   * `guard.clearCache()`); stores still reading their copy are dropped. Emits `cacheCleared`.
   * Never rejects: what Cache Storage cannot delete it cannot serve either.
   */
  async clear() {
    const core = this._core;
    if (!core) return { entries: 0, bytes: 0 };
    const entries = core.len(), bytes = core.bytes();
    core.clear();
    core.takeEvicted();
    this._gen++;
    await this._then(async () => {
      const reqs = await this._cs.keys();
      await Promise.all(reqs.map((r) => this._cs.delete(r).catch(() => false)));
    }).catch(() => {});
    this._g._emit('cacheCleared', { entries, bytes });
    return { entries, bytes };
  }

  /** What the index holds: `{ entries, bytes }`. */
  stats() {
    const core = this._core;
    return core ? { entries: core.len(), bytes: core.bytes() } : { entries: 0, bytes: 0 };
  }

  /** Resolves once every store begun so far (and every other Cache Storage change) has landed. */
  async idle() {
    while (this._reading.size) await Promise.all([...this._reading]);
    await this._chain;
  }

  /** Frees the index (Cache Storage keeps the bodies for the next page). */
  dispose() {
    const core = this._core;
    if (!core) return;
    this._core = null;
    core.free();
  }
}

/**
 * Reads a clone's body into a Blob, giving up (undefined) once the body, or all copies of `c`
 * not yet stored together (`c._readingBytes`), pass `c._maxBytes`: copies waiting to be stored
 * never hold more memory than the cache may keep. A Blob returned stays counted until the
 * caller releases it.
 */
async function readCapped(res, c) {
  const reader = res.body.getReader();
  const parts = [];
  let n = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      n += value.byteLength;
      c._readingBytes += value.byteLength;
      if (c._readingBytes > c._maxBytes) {
        c._readingBytes -= n;
        reader.cancel().catch(() => {});
        return undefined;
      }
      parts.push(value);
    }
  } catch {
    c._readingBytes -= n;
    return undefined;
  }
  return new Blob(parts, { type: res.headers.get('content-type') || '' });
}
