// resource-guard: the durable upload queue. Records live in IndexedDB until the server
// acknowledges them with a 2xx; the wasm UploadCore plans batches, retries, 413 splits and leases
// from (id, byte length) pairs only. One tab of the origin sends a queue at a time (Web Locks, or a
// lease in IndexedDB without them); every tab may enqueue. Each send goes through guard.fetch
// (category 'upload', `retry: false`), so the guard's throttle and breaker apply while the planner
// owns the retries.
//
// Storage (database version 2): `chunks` holds the records of one enqueue call a chunk at a time
// ({ t: JSON texts, l: their UTF-8 lengths }, at most CHUNK_RECORDS / CHUNK_BYTES per chunk, one
// auto-increment key per chunk, so a record's id is chunk * SPAN + index without a request per
// record); `done` marks the finished records of a partly delivered chunk; `batches` the leased batch
// descriptors (same records under the same Idempotency-Key after a reload); `dead` the dead letters;
// `meta` the key namespace, the learned limit, the sender lease and `count` = [records, bytes,
// version] (what stats() and flush() read instead of scanning). The sender reads chunks a window at a
// time, so memory follows the batches in flight, not the queue.
import init, { UploadCore } from './resource_guard_upload.js';
import { ResourceGuardError, guardError, fromCore } from './errors.js';
import { wasmOnce } from './wasm.js';

/** Instantiates the uploader's own wasm (index.js awaits it before using this part). */
export const ready = wasmOnce(init, new URL('./resource_guard_upload_bg.wasm', import.meta.url), 'uploader');

const DB_PREFIX = 'resource-guard-upload:';
const LOCK_PREFIX = 'resource-guard-upload:';
const NUMERIC = ['maxBatchBytes', 'maxBatchItems', 'maxAttempts', 'concurrency', 'leaseMs', 'baseDelayMs', 'maxDelayMs', 'jitter'];
const KNOWN = new Set(['endpoint', 'name', 'maxDeadLetters', ...NUMERIC]);
const CODES = { 6: 'ERR_RETRIES_EXHAUSTED', 8: 'ERR_PAYLOAD_TOO_LARGE' };
const MAX_TIMER = 2147483647;
const CHUNK_RECORDS = 512; // records per stored chunk (< SPAN)
const CHUNK_BYTES = 262144; // JSON bytes per stored chunk (a chunk is stringified in one task)
const SPAN = 65536; // record id = chunk key * SPAN + index (below 2^53 for 2^37 chunks)
const READ_CHUNKS = 8; // chunks per read-ahead
const BODY_CAP = 8192; // bytes of a JSON error body read, checked while streaming
const BODY_MS = 2000; // longest wait for an error body
const PROBE_MS = 5000; // offline learned from a failure: look again this often
const SENDER_LEASE_MS = 5000; // the IndexedDB sender lease without Web Locks
const STRICT = { durability: 'strict' };
const ASCII = /^[\x00-\x7f]*$/;
const enc = new TextEncoder();

const invalid = (path, reason, cause) =>
  new ResourceGuardError('ERR_INVALID_OPTION', `invalid option: ${path} ${reason}`, { path }, cause === undefined ? undefined : { cause });

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
const storageError = (e) => (e && e.name === 'QuotaExceededError' ? guardError('ERR_QUOTA', 0, undefined, e) : e);
/** The queue counter after adding `r` records of `b` bytes (negative to remove). */
const bump = (c, r, b) => [Math.max(0, ((c && c[0]) || 0) + r), Math.max(0, ((c && c[1]) || 0) + b), ((c && c[2]) || 0) + 1];

function openDb(name) {
  return new Promise((ok, fail) => {
    const r = indexedDB.open(DB_PREFIX + name, 2);
    r.onupgradeneeded = (ev) => {
      const db = r.result;
      const tx = r.transaction;
      const mk = (n, o) => db.objectStoreNames.contains(n) || db.createObjectStore(n, o);
      mk('chunks', { autoIncrement: true });
      mk('done');
      mk('batches');
      mk('dead', { autoIncrement: true });
      mk('meta');
      if (ev.oldVersion !== 1 || !db.objectStoreNames.contains('records')) return;
      // Version 1 kept one entry per record: move them into chunks, in order. Its leases refer to
      // the old ids and go, so a batch in flight during the upgrade may be sent once more.
      tx.objectStore('batches').clear();
      const cs = tx.objectStore('chunks');
      let t = [], l = [], n = 0, b = 0;
      const put = () => t.length && cs.add({ t, l });
      const c = tx.objectStore('records').openCursor();
      c.onsuccess = () => {
        const cur = c.result;
        if (cur) {
          if (typeof cur.value === 'string') {
            const len = utf8Length(cur.value);
            t.push(cur.value), l.push(len), n++, (b += len);
            if (t.length >= CHUNK_RECORDS) put(), (t = []), (l = []);
          }
          return void cur.continue();
        }
        put();
        tx.objectStore('meta').put([n, b, 1], 'count');
        db.deleteObjectStore('records');
        db.deleteObjectStore('lens');
      };
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
  if (ASCII.test(s)) return s.length;
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

/**
 * A JSON error body (for `retryAfterMs`): at most BODY_CAP bytes, counted while streaming (a
 * Content-Length above it is not even read), and at most `ms` of waiting, so a body that trickles
 * in cannot hold the batch.
 */
async function errorBody(res, ms) {
  const body = res.body;
  if (!body) return undefined;
  if (!(res.headers.get('content-type') || '').includes('json') || Number(res.headers.get('content-length')) > BODY_CAP) {
    body.cancel().catch(() => {});
    return undefined;
  }
  const reader = body.getReader();
  let late = false;
  const timer = setTimeout(() => { late = true; reader.cancel().catch(() => {}); }, ms);
  const parts = [];
  let n = 0;
  try {
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      n += value.length;
      if (n > BODY_CAP) return undefined; // truncated JSON would not parse anyway
      parts.push(value);
    }
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => {});
  }
  if (late) return undefined;
  const buf = new Uint8Array(n);
  let o = 0;
  for (const p of parts) buf.set(p, o), (o += p.length);
  return new TextDecoder().decode(buf);
}

/** A cached chunk: its texts and lengths, which records are finished, how many are left. */
function entry(v, fin) {
  const n = v.l.length;
  const f = fin instanceof Uint8Array && fin.length === n ? fin : new Uint8Array(n);
  let left = 0;
  for (let i = 0; i < n; i++) if (!f[i]) left++;
  return { t: v.t, l: v.l, fin: f, left };
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
    const nums = new Float64Array(NUMERIC.length + 1);
    NUMERIC.forEach((k, i) => {
      const v = opts[k];
      if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v))) throw invalid(`uploader.${k}`, 'must be a number');
      nums[i] = v === undefined ? NaN : v;
    });
    // Server hints are capped like the request guard's (retry.maxRetryAfterMs).
    const cap = guard._maxRetryAfterMs;
    nums[NUMERIC.length] = typeof cap === 'number' && cap >= 0 ? Math.max(1, Math.min(Math.floor(cap), MAX_TIMER)) : NaN;
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
    // The read-ahead window: a few batches of records (by count or bytes), a bounded number of batches.
    const conc = opts.concurrency ?? 2;
    this._winRecords = 2 * conc * (opts.maxBatchItems ?? 500);
    this._winBytes = 2 * conc * (opts.maxBatchBytes ?? 262144);
    this._winBatches = 4 * conc + 4;
    this._listeners = new Map();
    this._tab = randomHex(16);
    this._sender = false;
    this._exclusive = false;
    this._stopped = false;
    this._seedOfBatch = new Map(); // planner batch id -> idempotency seed (descriptor key)
    this._seedOfFirst = new Map(); // first record id of a stored descriptor -> its seed
    this._chunks = new Map(); // chunk key -> cached entry (records handed to the planner)
    this._gone = new Set(); // chunks finished (deleted) before the read-ahead reached them
    this._readKey = 0; // last chunk key handed to the planner
    this._more = true; // more chunks may be stored beyond _readKey
    this._storedGen = 0;
    this._reading = false;
    this._readAgain = false;
    this._count = [0, 0, 0]; // [records, bytes, version] stored and not finished (all tabs)
    this._wakeTimer = 0;
    this._probeTimer = 0;
    this._leaseTimer = 0;
    this._offline = globalThis.navigator?.onLine === false;
    this._heapLimit = guard._level === 3;
    this._dropped = 0;
    this._waiters = new Set();
    this._abort = new AbortController();
    this._db = openDb(name);
    this._db.then((db) => req(db.transaction('meta').objectStore('meta').get('count'))).then((c) => this._seeCount(c), () => {});

    this._onOffline = () => this._setOffline(true);
    this._onOnline = () => this._setOffline(false);
    globalThis.addEventListener?.('offline', this._onOffline);
    globalThis.addEventListener?.('online', this._onOnline);
    this._unsubHeap = guard.on('heap', (e) => this._setHeap(e.level === 'limit'));
    if (typeof BroadcastChannel === 'function') {
      this._bc = new BroadcastChannel(DB_PREFIX + name);
      // k 1: records enqueued, 2: progress, 3: dead letters requeued, 4: the sender lease was released.
      this._bc.onmessage = (e) => {
        const m = e.data || {};
        this._seeCount(m.c);
        if (m.k === 3) this._core?.forgetRefusals();
        if (m.k === 1 || m.k === 3) this._stored();
        if (m.k === 4 && !this._exclusive) this._leaseTry();
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

  /**
   * Stores `records` durably: all of them or none. One strict-durability transaction per call, fed
   * a chunk per task (each chunk stringified while IndexedDB writes the previous one), so a huge
   * call is no long task and a failure (a record JSON cannot represent, a full disk) stores nothing.
   */
  async enqueue(records) {
    this._alive();
    if (!Array.isArray(records)) throw invalid('records', 'must be an array');
    const n = records.length;
    if (!n) return;
    const db = await this._db;
    this._alive();
    let count;
    try {
      count = await new Promise((ok, fail) => {
        const tx = db.transaction(['chunks', 'meta'], 'readwrite', STRICT);
        const cs = tx.objectStore('chunks');
        const ms = tx.objectStore('meta');
        let err, cnt, i = 0, out = 0, recs = 0, bytes = 0;
        tx.oncomplete = () => ok(cnt);
        tx.onabort = () => fail(err || storageError(tx.error) || new DOMException('transaction aborted', 'AbortError'));
        const c = ms.get('count');
        c.onsuccess = () => { cnt = c.result; };
        const chunk = () => {
          const t = [], l = [];
          let b = 0;
          while (i < n && t.length < CHUNK_RECORDS && b < CHUNK_BYTES) {
            let s;
            try {
              s = JSON.stringify(records[i]);
            } catch (e) {
              err = invalid(`records[${i}]`, 'is not JSON-serialisable', e);
            }
            if (!err && typeof s !== 'string') err = invalid(`records[${i}]`, 'is not JSON-serialisable');
            if (err) {
              try { tx.abort(); } catch {}
              return;
            }
            const len = utf8Length(s);
            t.push(s), l.push(len), (b += len), i++;
          }
          recs += t.length;
          bytes += b;
          out++;
          cs.add({ t, l }).onsuccess = landed;
        };
        const landed = () => {
          out--;
          if (err) return;
          if (i < n) chunk();
          else if (out === 0) ms.put((cnt = bump(cnt, recs, bytes)), 'count');
        };
        chunk();
        if (i < n && !err) chunk(); // two in flight: IndexedDB writes one while the page stringifies the next
      });
    } catch (e) {
      if (e?.code === 'ERR_QUOTA') this._quota(n);
      throw e;
    }
    this._seeCount(count);
    this._bc?.postMessage({ k: 1, c: count });
    this._stored();
    this._notify();
  }

  /** Resolves when no record is left to send (dead letters do not count), whichever tab sends. */
  async flush() {
    for (;;) {
      this._alive();
      const db = await this._db;
      this._alive();
      const c = await req(db.transaction('meta').objectStore('meta').get('count'));
      this._seeCount(c);
      if (!c || c[0] <= 0) return;
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

  /** Counters of this tab's planner, the queue's size (every tab; no scan) and the pauses. */
  stats() {
    const core = this._core;
    const s = core ? JSON.parse(core.stats()) : {};
    const w = core ? core.window() : undefined;
    const [queued, bytes] = this._count;
    return {
      ...s,
      pendingRecords: Math.max(0, queued - (this._sender ? s.inFlightRecords || 0 : 0)),
      queuedRecords: queued,
      queuedBytes: bytes,
      sender: this._sender,
      offline: this._offline || (!!w && w[3] === 1),
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

  /** Stops sending in this tab (releases the queue to another tab at once); stored records stay. */
  close() {
    if (this._stopped) return;
    this._stopped = true;
    const held = this._sender && !this._exclusive;
    const seeds = [...this._seedOfBatch.values()];
    this._sender = false;
    clearTimeout(this._wakeTimer);
    clearTimeout(this._probeTimer);
    clearTimeout(this._leaseTimer);
    this._abort.abort(guardError('ERR_DISPOSED'));
    this._lockAbort?.abort();
    this._release?.();
    globalThis.removeEventListener?.('offline', this._onOffline);
    globalThis.removeEventListener?.('online', this._onOnline);
    this._unsubHeap();
    const i = this._g._disposers.indexOf(this._disposer);
    if (i >= 0) this._g._disposers.splice(i, 1);
    this._g._uploaders?.delete(this);
    this._core?.free();
    this._core = null;
    this._chunks.clear();
    const bc = this._bc;
    this._db.then(
      (db) => {
        if (held) {
          // Without Web Locks: give the lease up, and end this tab's batch leases (their sends were
          // aborted) so the next sender resends them at once, under the same keys.
          try {
            const tx = db.transaction(['meta', 'batches'], 'readwrite');
            const ms = tx.objectStore('meta');
            const g = ms.get('sender');
            g.onsuccess = () => {
              if (g.result?.id !== this._tab) return;
              ms.delete('sender');
              const bs = tx.objectStore('batches');
              for (const s of seeds) {
                const d = bs.get(s);
                d.onsuccess = () => d.result && bs.put({ ...d.result, leaseUntil: 0 }, s);
              }
            };
          } catch {}
          bc?.postMessage({ k: 4 });
        }
        bc?.close();
        db.close();
      },
      () => bc?.close(),
    );
    this._notify();
  }

  // ---- sender ---------------------------------------------------------------------------------

  _alive() {
    if (this._stopped) throw guardError('ERR_DISPOSED');
  }

  _seeCount(c) {
    if (Array.isArray(c) && c.length === 3 && c[2] > this._count[2]) this._count = c;
  }

  _acquire() {
    const locks = globalThis.navigator?.locks;
    if (!locks || typeof locks.request !== 'function') {
      // No Web Locks: one sender chosen by a lease in IndexedDB (meta 'sender'), renewed every
      // SENDER_LEASE_MS / 3; every write of the sender checks it in the same transaction.
      this._leaseTry();
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

  /** Takes or renews the IndexedDB sender lease (no Web Locks); resigns when another tab has it. */
  async _leaseTry() {
    if (this._stopped) return;
    clearTimeout(this._leaseTimer);
    let ours = false;
    try {
      const db = await this._db;
      if (this._stopped) return;
      const tx = db.transaction('meta', 'readwrite');
      const ms = tx.objectStore('meta');
      const g = ms.get('sender');
      g.onsuccess = () => {
        const s = g.result, now = Date.now();
        // Free, ours, run out, or absurdly far ahead (a clock jump): take it.
        if (!s || s.id === this._tab || !(s.until > now) || s.until > now + 2 * SENDER_LEASE_MS) {
          ms.put({ id: this._tab, until: now + SENDER_LEASE_MS }, 'sender');
          ours = true;
        }
      };
      await done(tx);
    } catch {
      ours = false;
    }
    if (this._stopped) return;
    if (ours && !this._sender && !this._becoming) this._becomeSender(false);
    else if (!ours && this._sender) this._resign();
    this._leaseTimer = setTimeout(() => this._leaseTry(), ours ? SENDER_LEASE_MS / 3 : SENDER_LEASE_MS / 2);
  }

  /** In `tx`, runs `write` only while this tab holds the sender lease; otherwise aborts `tx`. */
  _owned(tx, write) {
    if (this._exclusive) return void write();
    const g = tx.objectStore('meta').get('sender');
    g.onsuccess = () => {
      if (g.result?.id === this._tab) return void write();
      this._lost = true;
      try { tx.abort(); } catch {}
    };
  }

  /** Another tab took the lease: stop sending (in-flight sends finish under their keys, unrecorded). */
  _resign() {
    this._sender = false;
    this._lost = false;
    clearTimeout(this._wakeTimer);
    const old = this._core;
    this._core = this._newCore(-1);
    old?.free();
    this._chunks.clear();
    this._seedOfBatch.clear();
    this._seedOfFirst.clear();
  }

  /**
   * Loads the stored batches into a fresh planner and starts reading the queue. `exclusive`: this
   * tab holds the Web Lock, so any stored lease belongs to a tab that is gone and its batch is ready
   * at once (same key); with the IndexedDB lease, a batch lease is honoured until it runs out.
   */
  async _becomeSender(exclusive) {
    this._becoming = true;
    try {
      const db = await this._db;
      if (this._stopped) return;
      const tx = db.transaction(['meta', 'batches', 'chunks', 'done'], 'readwrite');
      const committed = done(tx);
      const meta = tx.objectStore('meta');
      const bs = tx.objectStore('batches');
      const cs = tx.objectStore('chunks');
      const dn = tx.objectStore('done');
      const [ns, learned, count, descKeys, descs] = await Promise.all([
        req(meta.get('ns')), req(meta.get('learned:' + this._endpoint)), req(meta.get('count')), req(bs.getAllKeys()), req(bs.getAll()),
      ]);
      this._ns = ns || randomHex(15);
      if (!ns) meta.put(this._ns, 'ns');
      const core = this._newCore(typeof learned === 'number' ? learned : -1);
      // The chunks the stored batches take their records from (a bounded set: the last window).
      const keys = [...new Set(descs.flatMap((d) => Array.from(d.records.filter((_, i) => i % 2 === 0), (id) => Math.floor(id / SPAN))))];
      const vals = await Promise.all(keys.flatMap((k) => [req(cs.get(k)), req(dn.get(k))]));
      const chunks = new Map();
      keys.forEach((k, i) => vals[2 * i] && chunks.set(k, entry(vals[2 * i], vals[2 * i + 1])));
      const seedOfBatch = new Map(), seedOfFirst = new Map();
      descs.forEach((d, k) => {
        const recs = d.records;
        let whole = recs.length > 0;
        for (let i = 0; i < recs.length && whole; i += 2) {
          const e = chunks.get(Math.floor(recs[i] / SPAN));
          whole = !!e && !e.fin[recs[i] % SPAN];
        }
        // A descriptor whose records are not all there can never be resent as it was.
        if (!whole) return void bs.delete(descKeys[k]);
        const arr = new Float64Array(4 + recs.length);
        arr.set([d.seed, d.attempts, d.lastStatus, exclusive ? 0 : d.leaseUntil]);
        arr.set(recs, 4);
        const b = core.restore(arr);
        if (b >= 0) {
          seedOfBatch.set(b, d.seed);
          seedOfFirst.set(recs[0], d.seed);
        } else bs.delete(descKeys[k]);
      });
      await committed;
      if (this._stopped) return void core.free();
      this._core.free();
      this._core = core;
      this._chunks = chunks;
      this._seedOfBatch = seedOfBatch;
      this._seedOfFirst = seedOfFirst;
      this._gone.clear();
      this._readKey = 0;
      this._more = true;
      core.setMore(true);
      this._seeCount(count);
      if (this._offline) core.setPaused(1, true);
      if (this._heapLimit) core.setPaused(2, true);
      this._exclusive = exclusive;
      this._sender = true;
      this._fill();
    } catch (e) {
      // IndexedDB failed (quota, private mode...): try again later rather than never.
      if (!this._stopped) setTimeout(() => (exclusive ? this._becomeSender(true) : this._leaseTry()), PROBE_MS);
    } finally {
      this._becoming = false;
    }
  }

  /** Records were stored (this tab or another): read on when the window runs low. */
  _stored() {
    this._storedGen++;
    this._more = true;
    this._core?.setMore(true);
    this._fill();
  }

  /** Reads chunks into the planner while its window holds fewer than a few batches. */
  _fill() {
    if (!this._sender || this._stopped) return;
    if (this._reading) {
      this._readAgain = true;
      return;
    }
    this._reading = true;
    (async () => {
      for (;;) {
        this._readAgain = false;
        const core = this._core;
        if (!core || !this._sender) return;
        const w = core.window();
        if (this._more && w[0] < this._winRecords && w[1] < this._winBytes && w[2] < this._winBatches) {
          const gen = this._storedGen;
          const got = await this._read(core);
          if (this._core !== core) return;
          if (got < READ_CHUNKS && gen === this._storedGen) {
            this._more = false;
            core.setMore(false);
          }
          this._pump();
          continue;
        }
        this._pump();
        if (!this._readAgain) return;
      }
    })()
      .catch(() => {})
      .finally(() => {
        this._reading = false;
      });
  }

  /** Hands the next READ_CHUNKS chunks after _readKey to the planner; returns how many it read. */
  async _read(core) {
    const db = await this._db;
    const tx = db.transaction(['chunks', 'done']);
    const range = IDBKeyRange.lowerBound(this._readKey, true);
    const cs = tx.objectStore('chunks'), dn = tx.objectStore('done');
    const [keys, vals, doneKeys, doneVals] = await Promise.all([
      req(cs.getAllKeys(range, READ_CHUNKS)), req(cs.getAll(range, READ_CHUNKS)), req(dn.getAllKeys(range)), req(dn.getAll(range)),
    ]);
    if (this._core !== core || !keys.length) return keys.length;
    const fin = new Map(doneKeys.map((k, i) => [k, doneVals[i]]));
    const pairs = [];
    keys.forEach((key, j) => {
      if (this._gone.delete(key)) return; // finished while this read was under way
      let e = this._chunks.get(key);
      if (!e) {
        e = entry(vals[j], fin.get(key));
        if (e.left) this._chunks.set(key, e);
      }
      for (let x = 0; x < e.l.length; x++) if (!e.fin[x]) pairs.push(key * SPAN + x, e.l[x]);
    });
    this._readKey = keys[keys.length - 1];
    for (const k of this._gone) if (k <= this._readKey) this._gone.delete(k);
    core.add(Float64Array.from(pairs));
    return keys.length;
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

  /** Loads the chunks of `ids` that are not cached (batches restored after a reload). */
  async _ensure(db, ids) {
    const missing = [...new Set(Array.from(ids, (id) => Math.floor(id / SPAN)))].filter((k) => !this._chunks.has(k));
    if (!missing.length) return;
    const tx = db.transaction(['chunks', 'done']);
    const vals = await Promise.all(missing.flatMap((k) => [req(tx.objectStore('chunks').get(k)), req(tx.objectStore('done').get(k))]));
    missing.forEach((k, i) => vals[2 * i] && !this._chunks.has(k) && this._chunks.set(k, entry(vals[2 * i], vals[2 * i + 1])));
  }

  async _send(batch, attempts, seed, bodyBytes, ids) {
    const core = this._core;
    const info = { batch, first: ids[0], attempts, records: ids.length, bytes: bodyBytes, key: keyOf(this._ns, seed), status: 0 };
    let status = 0, retryAfter, body, notSent = -1;
    try {
      const db = await this._db;
      // The lease and descriptor are durable before the first byte is sent: a reload re-sends the
      // same records under the same key, and the server's dedupe absorbs it.
      const d = core.descriptor(batch);
      this._seedOfBatch.set(batch, seed);
      this._seedOfFirst.set(ids[0], seed);
      await this._ensure(db, ids);
      if (this._core !== core) return;
      const texts = new Array(ids.length);
      let missing = false;
      for (let j = 0; j < ids.length && !missing; j++) {
        const e = this._chunks.get(Math.floor(ids[j] / SPAN)), x = ids[j] % SPAN;
        texts[j] = e && !e.fin[x] ? e.t[x] : undefined;
        missing = typeof texts[j] !== 'string';
      }
      if (missing) {
        // Finished elsewhere (only the sender deletes, so this is a former sender's batch): nothing to send.
        status = 200;
      } else {
        const tx = db.transaction(['batches', 'meta'], 'readwrite', STRICT);
        const committed = done(tx);
        this._owned(tx, () => tx.objectStore('batches').put({ seed, attempts: d[1], lastStatus: d[2], leaseUntil: d[3], records: d.subarray(4) }, seed));
        try {
          await committed;
        } catch (e) {
          if (this._lost) return void this._resign();
          throw e;
        }
        if (this._core !== core) return;
        const bytes = enc.encode('{"records":[' + texts.join(',') + ']}');
        const digest = base64(await crypto.subtle.digest('SHA-256', bytes));
        if (this._core !== core) return;
        const t0 = performance.now();
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
        else body = await errorBody(res, Math.max(1, Math.min(BODY_MS, this._deadlineMs - (performance.now() - t0))));
      }
    } catch (e) {
      if (this._stopped || e?.code === 'ERR_DISPOSED' || this._core !== core) return;
      const c = e?.code, det = e?.details || {};
      // Not sent by the guard: no attempt used, the queue waits (the planner caps the wait).
      if (c === 'ERR_CIRCUIT_OPEN') notSent = det.retryInMs || 1000;
      else if (c === 'ERR_RETRY_AFTER_TOO_LONG') notSent = det.retryAfterMs || 1000;
      else if (c === 'ERR_QUEUE_FULL' || c === 'ERR_SHED' || (c === 'ERR_TIMEOUT' && det.kind === 'queue')) notSent = 1000;
      else if (globalThis.navigator?.onLine === false) {
        this._setOffline(true);
        notSent = 0;
      }
      // Otherwise a network failure (status 0): the planner tells a lost send from an unreachable endpoint.
    }
    if (this._core !== core) return;
    info.status = status;
    this._settle(notSent >= 0 ? core.notSent(batch, notSent) : core.result(batch, status, retryAfter, body), info);
  }

  _setOffline(on) {
    clearTimeout(this._probeTimer);
    // The browser said offline: look again by itself even if no 'online' event comes.
    if (on) this._probeTimer = setTimeout(() => this._setOffline(false), PROBE_MS);
    if (this._offline === on) return;
    this._offline = on;
    this._core?.setPaused(1, on);
    if (!on) {
      this._core?.wake();
      this._pump();
    }
  }

  _setHeap(on) {
    if (this._heapLimit === on) return;
    this._heapLimit = on;
    this._core?.setPaused(2, on);
    if (!on) this._pump();
  }

  /**
   * Applies the planner's events in one transaction: finished chunks are deleted (a partly finished
   * one gets its `done` marks), dead records move to the dead-letter store, ended descriptors go, a
   * learned limit is stored, the counter drops. Then tells listeners, pumps and reads on.
   */
  async _settle(ev, info) {
    const core = this._core;
    const fin = [], dead = [], seeds = info.seeds ? info.seeds.filter((s) => s !== undefined) : [];
    let learned, outcome = 'retry', delayMs;
    for (let i = 0; i < ev.length; i += 2 + ev[i + 1]) {
      const kind = ev[i], v = ev.subarray ? ev.subarray(i + 2, i + 2 + ev[i + 1]) : ev.slice(i + 2, i + 2 + ev[i + 1]);
      if (kind === 1) {
        outcome = 'delivered';
        for (const id of v.subarray(2)) fin.push(id);
      } else if (kind === 2) {
        outcome = 'deadLetter';
        dead.push({ ids: Array.from(v.slice(2)), code: CODES[v[0]] || 'ERR_RETRIES_EXHAUSTED', status: v[1] });
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
    const touched = new Map(), marked = [], rows = [];
    let recs = 0, bytes = 0, cnt;
    const at = Date.now();
    const mark = (id, d) => {
      const key = Math.floor(id / SPAN), x = id % SPAN, e = this._chunks.get(key);
      if (!e || e.fin[x]) return;
      e.fin[x] = 1;
      e.left--;
      recs++;
      bytes += e.l[x];
      if (d) rows.push({ text: e.t[x], code: d.code, status: d.status, at });
      marked.push(id);
      touched.set(key, e);
    };
    for (const id of fin) mark(id);
    for (const d of dead) for (const id of d.ids) mark(id, d);
    let ok = true;
    try {
      if (touched.size || seeds.length || learned !== undefined) {
        const db = await this._db;
        // Moving records to the dead-letter store holds user data: strict. Deleting delivered ones
        // may be relaxed: if an OS crash lost it, the descriptor comes back too (same key, deduped).
        const tx = db.transaction(['chunks', 'done', 'batches', 'dead', 'meta'], 'readwrite', rows.length ? STRICT : undefined);
        const committed = done(tx);
        const ms = tx.objectStore('meta');
        this._owned(tx, () => {
          const cs = tx.objectStore('chunks'), dn = tx.objectStore('done'), ds = tx.objectStore('dead'), bs = tx.objectStore('batches');
          for (const [key, e] of touched) {
            if (e.left <= 0) cs.delete(key), dn.delete(key);
            else dn.put(e.fin, key);
          }
          for (const s of new Set(seeds)) bs.delete(s);
          for (const r of rows) ds.add(r);
          if (learned !== undefined) ms.put(learned, 'learned:' + this._endpoint);
          if (recs) {
            const g = ms.get('count');
            g.onsuccess = () => ms.put((cnt = bump(g.result, -recs, -bytes)), 'count');
          }
        });
        await committed;
        this._seeCount(cnt);
        for (const [key, e] of touched) {
          if (e.left > 0) {
            for (let x = 0; x < e.fin.length; x++) if (e.fin[x]) e.t[x] = undefined; // keep only what is left to send
          } else if (this._chunks.get(key) === e) {
            this._chunks.delete(key);
            if (key > this._readKey) this._gone.add(key);
          }
        }
        if (rows.length) await this._boundDead(db);
      }
    } catch {
      ok = false;
      if (this._lost) return void this._resign();
      // The transaction failed: the records stay stored; send them again (at worst under a new
      // key: a duplicate, never a loss).
      if (this._core === core && core) {
        const pairs = [];
        for (const id of marked) {
          const e = this._chunks.get(Math.floor(id / SPAN)), x = id % SPAN;
          if (!e) continue;
          e.fin[x] = 0;
          e.left++;
          pairs.push(id, e.l[x]);
        }
        core.add(Float64Array.from(pairs));
      }
    }
    if (info.key !== undefined) this._emit('batch', { key: info.key, records: info.records, bytes: info.bytes, attempts: info.attempts, status: info.status, outcome, ...(delayMs !== undefined ? { retryInMs: delayMs } : {}) });
    if (ok) for (const d of dead) this._deadLetter(d);
    if (ok && recs) {
      const s = this.stats();
      this._emit('progress', { sentRecords: s.sentRecords, pendingRecords: s.pendingRecords, inFlightRecords: s.inFlightRecords, deadLetteredRecords: s.deadLetteredRecords });
      this._bc?.postMessage({ k: 2, c: this._count });
      this._notify();
    }
    this._fill();
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

  /** Storage refused an enqueue: a breach report (`resource-guard-quota`). */
  _quota(records) {
    const g = this._g;
    if (!g._core) return;
    g._core.pushBreach(5, 'quota:' + this._name, JSON.stringify({ uploader: this._name, code: 'ERR_QUOTA', records, queuedRecords: this._count[0], queuedBytes: this._count[1] }));
    g._schedule();
  }

  async _takeDead(ids, requeue) {
    this._alive();
    const db = await this._db;
    const tx = db.transaction(['dead', 'chunks', 'meta'], 'readwrite', STRICT);
    const committed = done(tx);
    const ds = tx.objectStore('dead'), cs = tx.objectStore('chunks'), ms = tx.objectStore('meta');
    const keys = ids === undefined ? await req(ds.getAllKeys()) : Array.from(ids);
    const vals = await Promise.all(keys.map((k) => req(ds.get(k))));
    let n = 0, cnt, recs = 0, bytes = 0, t = [], l = [];
    const put = () => t.length && cs.add({ t, l });
    keys.forEach((k, i) => {
      const v = vals[i];
      if (!v) return;
      n++;
      ds.delete(k);
      if (!requeue || typeof v.text !== 'string') return;
      const len = utf8Length(v.text);
      t.push(v.text), l.push(len), recs++, (bytes += len);
      if (t.length >= CHUNK_RECORDS) put(), (t = []), (l = []);
    });
    put();
    if (recs) {
      const g = ms.get('count');
      g.onsuccess = () => ms.put((cnt = bump(g.result, recs, bytes)), 'count');
    }
    try {
      await committed;
    } catch (e) {
      throw storageError(e);
    }
    this._seeCount(cnt);
    if (requeue && n) {
      // The endpoint may take more now: give records refused with 413 one more send alone.
      this._core?.forgetRefusals();
      this._bc?.postMessage({ k: 3, c: this._count });
      this._stored();
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
