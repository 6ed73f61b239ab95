// resource-guard: the durable upload queue. Records live in IndexedDB (one JSON text per entry)
// until the server acknowledges them with a 2xx; the wasm UploadCore plans batches, retries,
// 413 splits and leases from (id, byte length) pairs only. One tab of the origin sends a queue at a
// time (Web Locks); every tab may enqueue. Each send goes through guard.fetch (category 'upload',
// `retry: false`), so the guard's throttle and breaker apply while the planner owns the retries.
import { UploadCore } from './resource_guard.js';
import { ResourceGuardError, guardError, fromCore } from './errors.js';

const DB_PREFIX = 'resource-guard-upload:';
const LOCK_PREFIX = 'resource-guard-upload:';
const NUMERIC = ['maxBatchBytes', 'maxBatchItems', 'maxAttempts', 'concurrency', 'leaseMs', 'baseDelayMs', 'maxDelayMs', 'jitter'];
const KNOWN = new Set(['endpoint', 'name', 'maxDeadLetters', ...NUMERIC]);
const CODES = { 6: 'ERR_RETRIES_EXHAUSTED', 8: 'ERR_PAYLOAD_TOO_LARGE' };
const MAX_TIMER = 2147483647;
const SLICE_MS = 8; // longest stretch of main-thread work between yields during enqueue
const IDB_SLICE = 100; // IndexedDB requests issued per event-loop task
const BODY_CAP = 8192;
const PROBE_MS = 5000; // offline learned from failures: try again this often
const OFFLINE_AFTER = 5; // consecutive network failures that mean "offline"
const enc = new TextEncoder();

const invalid = (path, reason, cause) =>
  new ResourceGuardError('ERR_INVALID_OPTION', `invalid option: ${path} ${reason}`, { path }, cause === undefined ? undefined : { cause });

const yieldTask = () =>
  typeof globalThis.scheduler?.yield === 'function' ? globalThis.scheduler.yield() : new Promise((r) => setTimeout(r, 0));

const req = (r) => new Promise((ok, fail) => { r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
const done = (tx) => {
  const p = new Promise((ok, fail) => {
    tx.oncomplete = () => ok();
    tx.onerror = () => fail(tx.error);
    tx.onabort = () => fail(tx.error || new DOMException('transaction aborted', 'AbortError'));
  });
  p.catch(() => {}); // awaited later (or never, when an earlier step threw)
  return p;
};

function openDb(name) {
  return new Promise((ok, fail) => {
    const r = indexedDB.open(DB_PREFIX + name, 1);
    r.onupgradeneeded = () => {
      const db = r.result;
      db.createObjectStore('records', { autoIncrement: true }); // id -> JSON text
      db.createObjectStore('lens'); // id -> UTF-8 byte length (the planner reads only these)
      db.createObjectStore('batches'); // idempotency seed -> leased batch descriptor
      db.createObjectStore('dead', { autoIncrement: true }); // -> { text, code, status, at }
      db.createObjectStore('meta'); // 'ns' (key namespace), 'learned:<endpoint>' (bytes)
    };
    r.onsuccess = () => {
      const db = r.result;
      db.onversionchange = () => db.close();
      ok(db);
    };
    r.onerror = () => fail(r.error);
  });
}

/** UTF-8 length of a string JSON.stringify produced (well-formed UTF-16). */
function utf8Length(s) {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff) i++, (n += 2); // a pair: 2 units -> 4 bytes
    else n += 2;
  }
  return n;
}

function base64(buf) {
  const b = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s);
}

/** A UUID (version 8) from the queue's random namespace and a batch's idempotency seed. */
function keyOf(ns, seed) {
  const s = seed.toString(16).padStart(15, '0');
  return `${ns.slice(0, 8)}-${ns.slice(8, 12)}-8${ns.slice(12, 15)}-8${s.slice(0, 3)}-${s.slice(3, 15)}`;
}

function randomHex(n) {
  const b = crypto.getRandomValues(new Uint8Array(Math.ceil(n / 2)));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('').slice(0, n);
}

/** A JSON error body (for `retryAfterMs`), at most BODY_CAP characters. */
async function errorBody(res) {
  try {
    if (!(res.headers.get('content-type') || '').includes('json')) {
      res.body?.cancel().catch(() => {});
      return undefined;
    }
    const t = await res.text();
    return t.length <= BODY_CAP ? t : undefined;
  } catch {
    return undefined;
  }
}

export class Uploader {
  /**
   * @param {import('./index.js').ResourceGuard} guard
   * @param {import('./index.js').UploaderOptions} opts
   */
  constructor(guard, opts) {
    if (!guard._core) throw guardError('ERR_DISPOSED');
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw invalid('uploader', 'must be an object');
    for (const k of Object.keys(opts)) if (!KNOWN.has(k)) throw invalid(`uploader.${k}`, 'is not a known option');
    const { endpoint, name = 'default', maxDeadLetters = 10000 } = opts;
    if (typeof endpoint !== 'string' && !(endpoint instanceof URL)) throw invalid('uploader.endpoint', 'must be a URL string');
    let url;
    try {
      url = new URL(String(endpoint), globalThis.location?.href);
    } catch (e) {
      throw invalid('uploader.endpoint', 'must be a URL', e);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('uploader.endpoint', 'must be an http(s) URL');
    if (typeof name !== 'string' || !name || name.length > 200) throw invalid('uploader.name', 'must be a non-empty string of at most 200 characters');
    if (!(Number.isInteger(maxDeadLetters) && maxDeadLetters >= 1 && maxDeadLetters <= 1e6)) throw invalid('uploader.maxDeadLetters', 'must be a whole number from 1 to 1000000');
    const nums = new Float64Array(NUMERIC.length);
    NUMERIC.forEach((k, i) => {
      const v = opts[k];
      if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v))) throw invalid(`uploader.${k}`, 'must be a number');
      nums[i] = v === undefined ? NaN : v;
    });
    if (typeof indexedDB === 'undefined') throw new ResourceGuardError('ERR_UNSUPPORTED', 'the uploader needs IndexedDB', { what: 'indexedDB' });
    this._g = guard;
    this._endpoint = url.href;
    this._name = name;
    this._opts = nums;
    this._maxDead = maxDeadLetters;
    this._core = this._newCore(-1); // validates now: uploader() throws ERR_INVALID_OPTION synchronously
    const lease = opts.leaseMs ?? 60000;
    // A send must end (guard queue included) before its lease does, or the batch would go twice.
    this._deadlineMs = Math.max(1, lease - Math.min(1000, lease / 10));
    this._listeners = new Map();
    this._sender = false;
    this._stopped = false;
    this._seedOfBatch = new Map(); // planner batch id -> idempotency seed (descriptor key)
    this._seedOfFirst = new Map(); // first record id of a stored descriptor -> its seed
    this._watermark = 0; // highest record id handed to the planner
    this._scan = null;
    this._rescanAgain = false;
    this._wakeTimer = 0;
    this._probeTimer = 0;
    this._netFailures = 0;
    this._offline = false;
    this._heapLimit = guard._level === 3;
    this._dropped = 0;
    this._waiters = new Set();
    this._abort = new AbortController();
    this._db = openDb(name);
    this._db.catch(() => {});

    this._onOffline = () => this._setOffline(true);
    this._onOnline = () => this._setOffline(false);
    globalThis.addEventListener?.('offline', this._onOffline);
    globalThis.addEventListener?.('online', this._onOnline);
    this._unsubHeap = guard.on('heap', (e) => this._setHeap(e.level === 'limit'));
    if (typeof BroadcastChannel === 'function') {
      this._bc = new BroadcastChannel(DB_PREFIX + name);
      // 1: records enqueued, 2: progress, 3: dead letters retried (in another tab).
      this._bc.onmessage = (e) => {
        if (e.data === 3) this._core?.forgetRefusals();
        this._rescan();
        this._notify();
      };
    }
    this._disposer = () => this.close();
    guard._disposers.push(this._disposer);
    this._acquire();
  }

  _newCore(learned) {
    try {
      return new UploadCore(this._opts, learned, crypto.getRandomValues(new Uint32Array(2)).reduce((a, b) => a * 4294967296 + b, 0) % 9007199254740991);
    } catch (e) {
      throw fromCore(e);
    }
  }

  // ---- public surface -------------------------------------------------------------------------

  /** Stores `records` durably (all or none); resolves once IndexedDB committed them. */
  async enqueue(records) {
    this._alive();
    if (!Array.isArray(records)) throw invalid('records', 'must be an array');
    const n = records.length;
    const texts = new Array(n);
    const lens = new Array(n);
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      let s;
      try {
        s = JSON.stringify(records[i]);
      } catch (e) {
        throw invalid(`records[${i}]`, 'is not JSON-serialisable', e);
      }
      if (typeof s !== 'string') throw invalid(`records[${i}]`, 'is not JSON-serialisable');
      texts[i] = s;
      lens[i] = utf8Length(s);
      // Stringifying 10,000 records can take longer than a frame: yield so it is no long task.
      if ((i & 31) === 31 && performance.now() - t0 > SLICE_MS) {
        await yieldTask();
        this._alive();
        t0 = performance.now();
      }
    }
    if (!n) return;
    const db = await this._db;
    this._alive();
    await new Promise((ok, fail) => {
      // One transaction (all or nothing), fed a slice per success callback: the transaction stays
      // active inside its callbacks, and no single task issues all the requests.
      const tx = db.transaction(['records', 'lens'], 'readwrite');
      done(tx).then(ok, fail);
      const rs = tx.objectStore('records');
      const ls = tx.objectStore('lens');
      let i = 0;
      const slice = () => {
        const start = i;
        const end = Math.min(i + IDB_SLICE, n);
        for (; i < end; i++) {
          const len = lens[i];
          const r = rs.add(texts[i]);
          texts[i] = undefined;
          // The next slice is issued when this slice's first add lands, so requests stay queued.
          const next = i === start && end < n;
          r.onsuccess = () => {
            ls.put(len, r.result);
            if (next) slice();
          };
        }
      };
      slice();
    });
    this._bc?.postMessage(1);
    this._rescan();
    this._notify();
  }

  /** Resolves when no record is left to send (dead letters do not count). */
  async flush() {
    for (;;) {
      this._alive();
      const db = await this._db;
      this._alive();
      const tx = db.transaction('lens');
      const count = await req(tx.objectStore('lens').count());
      if (count === 0) return;
      // Woken by this tab's progress, another tab's broadcast, or a slow poll as a safety net.
      await new Promise((r) => {
        const w = () => {
          clearTimeout(t);
          this._waiters.delete(w);
          r();
        };
        const t = setTimeout(w, 1000);
        this._waiters.add(w);
      });
    }
  }

  /** Counters of this tab's planner (zeros in a tab that is not the sender) and the pauses. */
  stats() {
    const s = this._core ? JSON.parse(this._core.stats()) : {};
    return {
      ...s,
      sender: this._sender,
      offline: this._offline,
      heapLimit: this._heapLimit,
      deadLettersDropped: this._dropped,
    };
  }

  /** Subscribes to 'progress' | 'batch' | 'deadLetter'; returns the unsubscribe function. */
  on(event, listener) {
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** The dead letters, oldest first: `{ id, record, code, status, at }`. */
  async deadLetters() {
    this._alive();
    const db = await this._db;
    const s = db.transaction('dead').objectStore('dead');
    const [keys, vals] = await Promise.all([req(s.getAllKeys()), req(s.getAll())]);
    return keys.map((id, i) => ({ id, record: JSON.parse(vals[i].text), code: vals[i].code, status: vals[i].status, at: vals[i].at }));
  }

  /** Moves dead letters (all, or those `ids`) back into the queue; resolves with how many. */
  async retryDeadLetters(ids) {
    return this._takeDead(ids, true);
  }

  /** Deletes dead letters (all, or those `ids`); resolves with how many. */
  async discardDeadLetters(ids) {
    return this._takeDead(ids, false);
  }

  /** Stops sending in this tab (releases the queue to another tab); stored records stay. */
  close() {
    if (this._stopped) return;
    this._stopped = true;
    this._sender = false;
    clearTimeout(this._wakeTimer);
    clearTimeout(this._probeTimer);
    this._abort.abort(guardError('ERR_DISPOSED'));
    this._lockAbort?.abort();
    this._release?.();
    this._bc?.close();
    globalThis.removeEventListener?.('offline', this._onOffline);
    globalThis.removeEventListener?.('online', this._onOnline);
    this._unsubHeap();
    const i = this._g._disposers.indexOf(this._disposer);
    if (i >= 0) this._g._disposers.splice(i, 1);
    this._core?.free();
    this._core = null;
    this._db.then((db) => db.close(), () => {});
    this._notify();
  }

  // ---- sender ---------------------------------------------------------------------------------

  _alive() {
    if (this._stopped) throw guardError('ERR_DISPOSED');
  }

  _acquire() {
    const locks = globalThis.navigator?.locks;
    if (!locks) {
      this._becomeSender(false);
      return;
    }
    this._lockAbort = new AbortController();
    locks
      .request(LOCK_PREFIX + this._name, { signal: this._lockAbort.signal }, () => {
        if (this._stopped) return undefined;
        // Held until close(): the lock is what keeps a second tab from sending this queue.
        return new Promise((release) => {
          this._release = release;
          this._becomeSender(true);
        });
      })
      .catch(() => {}); // AbortError after close()
  }

  /**
   * Loads the queue into a fresh planner. `exclusive`: this tab holds the lock, so any stored lease
   * belongs to a tab that is gone and its batch is ready at once (same key); without Web Locks a
   * lease is honoured until it runs out.
   */
  async _becomeSender(exclusive) {
    try {
      const db = await this._db;
      if (this._stopped) return;
      const tx = db.transaction(['meta', 'batches', 'lens'], 'readwrite');
      const committed = done(tx);
      const meta = tx.objectStore('meta');
      const bs = tx.objectStore('batches');
      const ls = tx.objectStore('lens');
      const [ns, learned, descKeys, descs, ids, lens] = await Promise.all([
        req(meta.get('ns')), req(meta.get('learned:' + this._endpoint)),
        req(bs.getAllKeys()), req(bs.getAll()), req(ls.getAllKeys()), req(ls.getAll()),
      ]);
      this._ns = ns || randomHex(15);
      if (!ns) meta.put(this._ns, 'ns');
      const core = this._newCore(typeof learned === 'number' ? learned : -1);
      const have = new Set(ids);
      descs.forEach((d, k) => {
        const recs = d.records;
        let whole = recs.length > 0;
        for (let i = 0; i < recs.length && whole; i += 2) whole = have.has(recs[i]);
        // A descriptor whose records are not all there can never be resent as it was.
        if (!whole) return void bs.delete(descKeys[k]);
        const arr = new Float64Array(4 + recs.length);
        arr.set([d.seed, d.attempts, d.lastStatus, exclusive ? 0 : d.leaseUntil]);
        arr.set(recs, 4);
        const b = core.restore(arr);
        if (b >= 0) {
          this._seedOfBatch.set(b, d.seed);
          this._seedOfFirst.set(recs[0], d.seed);
        } else bs.delete(descKeys[k]);
      });
      const pairs = new Float64Array(ids.length * 2);
      for (let i = 0; i < ids.length; i++) (pairs[2 * i] = ids[i]), (pairs[2 * i + 1] = lens[i]);
      core.add(pairs);
      await committed;
      if (this._stopped) return void core.free();
      this._watermark = ids.length ? ids[ids.length - 1] : 0;
      this._core.free();
      this._core = core;
      if (this._offline) core.setPaused(1, true);
      if (this._heapLimit) core.setPaused(2, true);
      this._sender = true;
      this._pump();
      this._rescan(); // records committed while this ran
    } catch (e) {
      // IndexedDB failed (quota, private mode...): try again later rather than never.
      if (!this._stopped) setTimeout(() => this._becomeSender(exclusive), PROBE_MS);
    }
  }

  /** Hands records committed since the last look (any tab) to the planner. */
  _rescan() {
    if (!this._sender || this._stopped) return;
    if (this._scan) {
      this._rescanAgain = true;
      return;
    }
    this._scan = (async () => {
      do {
        this._rescanAgain = false;
        const db = await this._db;
        if (!this._core) return;
        const s = db.transaction('lens').objectStore('lens');
        const range = IDBKeyRange.lowerBound(this._watermark, true);
        const [ids, lens] = await Promise.all([req(s.getAllKeys(range)), req(s.getAll(range))]);
        if (!this._core || !ids.length) continue;
        const pairs = new Float64Array(ids.length * 2);
        for (let i = 0; i < ids.length; i++) (pairs[2 * i] = ids[i]), (pairs[2 * i + 1] = lens[i]);
        this._core.add(pairs);
        this._watermark = ids[ids.length - 1];
        this._pump();
      } while (this._rescanAgain);
    })()
      .catch(() => {})
      .finally(() => {
        this._scan = null;
      });
  }

  /** Runs the planner until it waits: starts sends, dead-letters, arms the wake timer. */
  _pump() {
    const core = this._core;
    if (!this._sender || !core) return;
    clearTimeout(this._wakeTimer);
    this._wakeTimer = 0;
    for (;;) {
      const a = core.next();
      if (a[0] === 1) {
        this._send(a[1], a[2], a[3], a[4], a.subarray(5));
      } else if (a[0] === 2) {
        const ids = Array.from(a.subarray(3));
        const seed = this._seedOfFirst.get(ids[0]);
        this._seedOfFirst.delete(ids[0]);
        this._settle([2, 2 + ids.length, a[1], a[2], ...ids], { seeds: [seed] });
      } else {
        if (a[0] === 3) this._wakeTimer = setTimeout(() => this._pump(), Math.min(a[1], MAX_TIMER));
        return;
      }
    }
  }

  async _send(batch, attempts, seed, bodyBytes, ids) {
    const core = this._core;
    const info = { batch, first: ids[0], attempts, records: ids.length, bytes: bodyBytes, key: keyOf(this._ns, seed), status: 0 };
    let status = 0, retryAfter, body;
    try {
      const db = await this._db;
      // The lease and descriptor are durable before the first byte is sent: a reload re-sends the
      // same records under the same key, and the server's dedupe absorbs it.
      const d = core.descriptor(batch);
      this._seedOfBatch.set(batch, seed);
      this._seedOfFirst.set(ids[0], seed);
      const tx = db.transaction(['batches', 'records'], 'readwrite');
      const committed = done(tx);
      tx.objectStore('batches').put({ seed, attempts: d[1], lastStatus: d[2], leaseUntil: d[3], records: d.subarray(4) }, seed);
      const rs = tx.objectStore('records');
      const texts = await Promise.all(Array.from(ids, (id) => req(rs.get(id))));
      await committed;
      if (this._stopped) return;
      // Only the sender deletes records, after their batch ended: a gap means a second sender
      // (no Web Locks); fail this send so the batch backs off rather than sending a broken body.
      if (texts.some((t) => typeof t !== 'string')) throw new Error('record missing');
      const bytes = enc.encode('{"records":[' + texts.join(',') + ']}');
      const digest = base64(await crypto.subtle.digest('SHA-256', bytes));
      if (this._stopped) return;
      const res = await this._g.fetch(this._endpoint, {
        method: 'POST',
        body: bytes,
        category: 'upload',
        retry: false,
        deadlineMs: this._deadlineMs,
        signal: this._abort.signal,
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': info.key, 'Content-Digest': `sha-256=:${digest}:` },
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after') ?? undefined;
      if (res.ok) res.body?.cancel().catch(() => {});
      else body = await errorBody(res);
      this._netFailures = 0;
    } catch (e) {
      if (this._stopped || e?.code === 'ERR_DISPOSED') return;
      if (e?.code === 'ERR_CIRCUIT_OPEN') {
        // The guard's breaker is open for this endpoint: the whole queue waits for it.
        status = 503;
        retryAfter = String(Math.max(1, Math.ceil((e.details?.retryInMs || 1000) / 1000)));
      } else if (e?.code === 'ERR_SHED' && e.details?.reason === 'adaptive') {
        // Adaptive throttling refused it locally (the backend is shedding load): the queue waits.
        status = 503;
        retryAfter = '1';
      } else if (e instanceof TypeError) {
        this._netFailure();
      }
    }
    if (this._core !== core) return;
    info.status = status;
    this._settle(core.result(batch, status, retryAfter, body), info);
  }

  /** A fetch failed without a response: offline if the browser says so or it keeps happening. */
  _netFailure() {
    this._netFailures++;
    if (globalThis.navigator?.onLine === false || this._netFailures >= OFFLINE_AFTER) {
      this._setOffline(true);
      // Resume by itself: probe again later even if no 'online' event comes.
      clearTimeout(this._probeTimer);
      this._probeTimer = setTimeout(() => this._setOffline(false), PROBE_MS);
    }
  }

  _setOffline(on) {
    if (this._offline === on) return;
    this._offline = on;
    if (!on) this._netFailures = 0;
    this._core?.setPaused(1, on);
    if (!on) this._pump();
  }

  _setHeap(on) {
    if (this._heapLimit === on) return;
    this._heapLimit = on;
    this._core?.setPaused(2, on);
    if (!on) this._pump();
  }

  /**
   * Applies the planner's events in one transaction: delivered records and their descriptor are
   * deleted, dead records move to the dead-letter store, a split batch's descriptor goes, a learned
   * limit is stored. Then tells listeners and pumps.
   */
  async _settle(ev, info) {
    const del = [], dead = [], seeds = info.seeds ? info.seeds.filter((s) => s !== undefined) : [];
    let delivered = 0, learned, outcome = 'retry', delayMs;
    for (let i = 0; i < ev.length; i += 2 + ev[i + 1]) {
      const kind = ev[i], v = ev.subarray ? ev.subarray(i + 2, i + 2 + ev[i + 1]) : ev.slice(i + 2, i + 2 + ev[i + 1]);
      if (kind === 1) {
        outcome = 'delivered';
        const ids = v.subarray(2);
        delivered += ids.length;
        del.push(...ids);
      } else if (kind === 2) {
        outcome = 'deadLetter';
        const ids = Array.from(v.slice(2));
        dead.push({ ids, code: CODES[v[0]] || 'ERR_RETRIES_EXHAUSTED', status: v[1] });
      } else if (kind === 3) {
        delayMs = v[3];
      } else if (kind === 4) {
        outcome = 'split';
      } else if (kind === 6) {
        learned = v[0];
      }
    }
    // Every event of a result concerns that batch: once it ended, its descriptor goes.
    if (info.batch !== undefined && outcome !== 'retry') this._forget(info.batch, info.first, seeds);
    try {
      if (del.length || dead.length || seeds.length || learned !== undefined) {
        const db = await this._db;
        const tx = db.transaction(['records', 'lens', 'batches', 'dead', 'meta'], 'readwrite');
        const committed = done(tx);
        const rs = tx.objectStore('records'), ls = tx.objectStore('lens'), ds = tx.objectStore('dead');
        for (const id of del) rs.delete(id), ls.delete(id);
        const at = Date.now();
        for (const d of dead) {
          for (const id of d.ids) {
            const r = rs.get(id);
            r.onsuccess = () => {
              if (typeof r.result === 'string') ds.add({ text: r.result, code: d.code, status: d.status, at });
              rs.delete(id);
              ls.delete(id);
            };
          }
        }
        for (const s of new Set(seeds)) tx.objectStore('batches').delete(s);
        if (learned !== undefined) tx.objectStore('meta').put(learned, 'learned:' + this._endpoint);
        await committed;
        if (dead.length) await this._boundDead(db);
      }
    } catch {
      // The transaction failed: the planner already moved on; the records stay stored and come
      // back on the next start (at worst resent under a new key, never lost).
    }
    if (info.key !== undefined) this._emit('batch', { key: info.key, records: info.records, bytes: info.bytes, attempts: info.attempts, status: info.status, outcome, ...(delayMs !== undefined ? { retryInMs: delayMs } : {}) });
    for (const d of dead) this._deadLetter(d);
    if (delivered || dead.length) {
      const s = this.stats();
      this._emit('progress', { sentRecords: s.sentRecords, pendingRecords: s.pendingRecords, inFlightRecords: s.inFlightRecords, deadLetteredRecords: s.deadLetteredRecords });
      this._bc?.postMessage(2);
      this._notify();
    }
    this._pump();
  }

  _forget(batch, firstId, seeds) {
    const s = this._seedOfBatch.get(batch);
    if (s !== undefined) seeds.push(s), this._seedOfBatch.delete(batch);
    if (firstId !== undefined) this._seedOfFirst.delete(firstId);
  }

  /** Keeps the dead-letter store at maxDeadLetters, dropping the oldest (counted). */
  async _boundDead(db) {
    const tx = db.transaction('dead', 'readwrite');
    const committed = done(tx);
    const ds = tx.objectStore('dead');
    const n = await req(ds.count());
    let extra = n - this._maxDead;
    if (extra > 0) {
      this._dropped += extra;
      const c = ds.openKeyCursor();
      c.onsuccess = () => {
        const cur = c.result;
        if (!cur || extra-- <= 0) return;
        ds.delete(cur.primaryKey);
        cur.continue();
      };
    }
    await committed;
  }

  _deadLetter(d) {
    const payload = { uploader: this._name, count: d.ids.length, code: d.code, status: d.status };
    this._emit('deadLetter', payload);
    const g = this._g;
    if (g._core) {
      g._core.pushBreach(4, 'dead-letter:' + this._name, JSON.stringify(payload));
      g._emit('deadLetter', payload);
      g._schedule();
    }
  }

  async _takeDead(ids, requeue) {
    this._alive();
    const db = await this._db;
    const tx = db.transaction(['dead', 'records', 'lens'], 'readwrite');
    const committed = done(tx);
    const ds = tx.objectStore('dead'), rs = tx.objectStore('records'), ls = tx.objectStore('lens');
    const keys = ids === undefined ? await req(ds.getAllKeys()) : Array.from(ids);
    let n = 0;
    for (const k of keys) {
      const r = ds.get(k);
      r.onsuccess = () => {
        if (!r.result) return;
        n++;
        ds.delete(k);
        if (requeue) {
          const text = r.result.text;
          const a = rs.add(text);
          a.onsuccess = () => ls.put(utf8Length(text), a.result);
        }
      };
    }
    await committed;
    if (requeue && n) {
      // The endpoint may take more now: give records refused with 413 one more send alone.
      this._core?.forgetRefusals();
      this._bc?.postMessage(3);
      this._rescan();
    }
    return n;
  }

  _emit(name, payload) {
    const set = this._listeners.get(name);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
  }

  _notify() {
    const w = [...this._waiters];
    this._waiters.clear();
    for (const f of w) f();
  }
}
