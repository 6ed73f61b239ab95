// resource-guard: the stale-if-error response cache. Bodies live in Cache Storage (never in wasm
// memory); the wasm `CacheCore` decides what may be stored, for how long, and what to evict
// (LRU within maxBytes / maxEntries, age limits from Cache-Control and maxStaleMs). Each entry
// carries its metadata in response headers (x-rg-*), so the index is rebuilt from Cache Storage
// when a page opens the cache. Every Cache Storage change runs on one promise chain in index
// order, so Cache Storage never holds more than the index allows (deletes run before puts).
import { CacheCore } from './resource_guard.js';

const CACHE_NAME = 'resource-guard-v1';
// Synthetic request URLs: the index key (method, URL, Vary-relevant request headers) is the
// lookup key, not the platform's URL + Vary matching.
const PREFIX = 'https://resource-guard.invalid/v1?k=';
const H_STORED_AT = 'x-rg-stored-at';
const H_BYTES = 'x-rg-bytes';
const H_TTL = 'x-rg-ttl';
const H_VARY = 'x-rg-vary';
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

/** The request's headers: from a Request, overridden by init.headers (when given). */
function requestHeaders(input, init) {
  const h = new Headers(typeof Request === 'function' && input instanceof Request ? input.headers : undefined);
  if (init?.headers) for (const [k, v] of new Headers(init.headers)) h.set(k, v);
  return h;
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
    const core = new CacheCore(JSON.stringify({ cache: options }));
    const c = new ResponseCache(guard, storage, core, options);
    await c._restore();
    guard.onCleanup(() => c.clear(), { level: 'critical' });
    return c;
  }

  /** @private use `ResponseCache.open` */
  constructor(guard, storage, core, options) {
    this._g = guard;
    this._cs = storage;
    this._core = core;
    this._maxBytes = options.maxBytes ?? 5242880;
    /** url -> Vary names of its stored response, to rebuild the key when the network failed */
    this._vary = new Map();
    /** The single chain every Cache Storage change runs on. */
    this._chain = Promise.resolve();
    this._gen = 0;
    /** Stores still reading their clone (not yet on the chain). */
    this._reading = new Set();
  }

  _then(step) {
    const p = this._chain.then(step);
    this._chain = p.catch(() => {});
    return p;
  }

  async _restore() {
    const now = Date.now();
    let reqs = [];
    try {
      reqs = await this._cs.keys();
    } catch {}
    const vary = new Map();
    await Promise.all(reqs.map(async (req) => {
      if (!req.url.startsWith(PREFIX)) return void this._cs.delete(req).catch(() => {});
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
      if (h) vary.set(key, varyNames(h.get(H_VARY)));
    }));
    this._core.restore(now);
    this._deleteEvicted();
    for (const [key, names] of vary) {
      const url = urlFromKey(key);
      if (url) this._vary.set(url, names);
    }
    await this._chain;
  }

  /** Deletes (on the chain) the bodies of everything the index evicted or expired. */
  _deleteEvicted() {
    const keys = this._core.takeEvicted();
    if (!keys.length) return;
    this._then(() => Promise.all(keys.map((k) => this._cs.delete(PREFIX + encodeURIComponent(k)).catch(() => false))));
  }

  _key(method, url, headers, names) {
    const lines = [];
    for (const n of names) {
      const v = headers.get(n);
      lines.push(v === null ? n : `${n}:${v}`);
    }
    return this._core.key(method, url, lines.join('\n'));
  }

  /**
   * Keeps a copy of a successful response the caller is about to receive: decides and clones
   * synchronously, stores asynchronously (never delays the caller). `init`: the request's init,
   * when the driver passes it (its method and headers; otherwise they come from `input`).
   */
  store(input, response, init) {
    const core = this._core;
    if (!core) return;
    const method = String(init?.method || (typeof Request === 'function' && input instanceof Request ? input.method : 'GET')).toUpperCase();
    // A HEAD response (and 204/205/304) has a null body: nothing to fall back on.
    if (method !== 'GET' || !response.body || response.bodyUsed) return;
    const rh = response.headers;
    const reqHeaders = requestHeaders(input, init);
    const vary = rh.get('vary');
    const ttl = core.policy(method, response.status, rh.get('cache-control') ?? undefined, vary ?? undefined, reqHeaders.has('authorization'));
    if (ttl < 0) return;
    const declared = Number(rh.get('content-length'));
    if (rh.has('content-length') && declared > this._maxBytes) return; // never cloned, never read
    let copy;
    try {
      copy = response.clone();
    } catch {
      return;
    }
    const url = urlOf(input);
    const names = varyNames(vary);
    const key = this._key(method, url, reqHeaders, names);
    const gen = this._gen;
    const reading = readCapped(copy, this._maxBytes).then((blob) => {
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
        headers.set(H_VARY, names.join(','));
        try {
          await this._cs.put(req, new Response(blob, { status: response.status, statusText: response.statusText, headers }));
          this._vary.set(url, names);
        } catch {
          // Quota or a closed cache: forget it rather than index a body that is not there.
          this._core?.remove(key);
        }
      });
    }).catch(() => {}).finally(() => this._reading.delete(reading));
    this._reading.add(reading);
  }

  /**
   * The cached response for a request whose network path failed, marked with
   * `X-Resource-Guard-Stale: <age in whole seconds>` (and a `fallback` event), or undefined.
   */
  async fallback(input, init) {
    const core = this._core;
    if (!core) return undefined;
    const method = String(init?.method || (typeof Request === 'function' && input instanceof Request ? input.method : 'GET')).toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    const url = urlOf(input);
    const names = this._vary.get(url);
    if (!names) return undefined;
    const key = this._key('GET', url, requestHeaders(input, init), names);
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

  /** Empties the cache (the heap guard's `critical` cleanup); emits `cacheCleared`. */
  async clear() {
    const core = this._core;
    if (!core) return { entries: 0, bytes: 0 };
    const entries = core.len(), bytes = core.bytes();
    core.clear();
    core.takeEvicted();
    this._vary.clear();
    this._gen++;
    await this._then(async () => {
      const reqs = await this._cs.keys();
      await Promise.all(reqs.map((r) => this._cs.delete(r).catch(() => false)));
    });
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

/** The URL inside an index key (`METHOD URL[\nvary lines]`). */
function urlFromKey(key) {
  const sp = key.indexOf(' ');
  if (sp < 0) return '';
  const nl = key.indexOf('\n', sp);
  return nl < 0 ? key.slice(sp + 1) : key.slice(sp + 1, nl);
}

/** Reads a clone's body into a Blob, giving up (undefined) past `max` bytes. */
async function readCapped(res, max) {
  const reader = res.body.getReader();
  const parts = [];
  let n = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > max) {
        reader.cancel().catch(() => {});
        return undefined;
      }
      parts.push(value);
    }
  } catch {
    return undefined;
  }
  return new Blob(parts, { type: res.headers.get('content-type') || '' });
}
