// The local backend shared by the tests, the benchmarks and the demo. It listens on 127.0.0.1
// only, serves www/ and pkg/ with cross-origin isolation (COOP/COEP, so performance.now() is
// precise and measureUserAgentSpecificMemory() is available), and misbehaves on demand:
// scripted statuses, Retry-After in every form, outages, slow responses, 413 above a size,
// dropped connections, a server-side rate limiter, load shedding (503 with a hint for a share), an upload sink that dedupes by
// Idempotency-Key and checks Content-Digest, and a report sink.
//
//   node tests/e2e/server.mjs [--port 8080] [--demo]
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { extname, join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.map': 'application/json', '.ts': 'text/plain; charset=utf-8',
};
const MOUNTS = [
  ['/pkg/', join(ROOT, 'pkg')],
  ['/apps/react/', join(ROOT, 'tests/e2e/apps/react/dist')],
  ['/apps/svelte/', join(ROOT, 'tests/e2e/apps/svelte/dist')],
  ['/apps/webpack/', join(ROOT, 'tests/e2e/apps/webpack/dist')],
  ['/apps/rollup/', join(ROOT, 'tests/e2e/apps/rollup/dist')],
  ['/apps/esbuild/', join(ROOT, 'tests/e2e/apps/esbuild/dist')],
  ['/bench/', join(ROOT, 'bench/www')],
  ['/fixtures/', join(ROOT, 'tests/e2e/fixtures')],
  ['/', join(ROOT, 'www')],
];
const EXPOSE = 'Retry-After, RateLimit, RateLimit-Policy, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, X-Request-Count, X-Resource-Guard-Stale';
const MAX_BODY = 64 * 1024 * 1024;
const MAX_LOG = 20000;

export function startServer({ port = 0, quiet = true } = {}) {
  const state = newState();
  const server = createServer((req, res) => {
    handle(state, req, res).catch((err) => {
      if (!quiet) console.error(err);
      if (!res.headersSent) send(res, 500, { error: String(err && err.message) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 2000;
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      const url = `http://127.0.0.1:${p}`;
      ok({
        url, port: p, state,
        close: () => new Promise((done) => { server.closeAllConnections?.(); server.close(() => done()); }),
      });
    });
  });
}

function newState() {
  return {
    log: [],            // every /api request: { t, method, path, query, headers }
    seq: 0,
    scripts: new Map(), // path -> [responses]
    mode: { outage: false, slowMs: 0, dropRate: 0, rateLimit: null, max413Bytes: 0, chaos: 0, shed: null },
    limiter: new Map(), // key -> { windowStart, count }
    inFlight: new Map(), // tag -> { now, max }
    uploads: { byKey: new Map(), records: new Map(), applied: 0, duplicates: 0, digestMismatch: 0, inFlightKeys: new Set(), max413Bytes: 0, chaos: 0, seed: 1, log: [], answered: { 413: 0, 503: 0, 429: 0, dropped: 0, droppedAfterApply: 0 } },
    reports: [],
  };
}

function headers(extra = {}) {
  return {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'cross-origin',
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': '*',
    'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS',
    'Access-Control-Expose-Headers': EXPOSE,
    'Cache-Control': 'no-store',
    ...extra,
  };
}

function send(res, status, body, extra = {}) {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
  res.writeHead(status, headers({ 'Content-Type': type, ...extra }));
  res.end(text);
}

async function readBody(req, limit = MAX_BODY) {
  const chunks = [];
  let n = 0;
  for await (const c of req) {
    n += c.length;
    if (n > limit) throw new Error('body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A small deterministic PRNG so chaos runs can be replayed from their seed.
function rand(st) {
  st.seed = (st.seed * 1103515245 + 12345) % 2147483648;
  return st.seed / 2147483648;
}

async function handle(state, req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname;
  if (req.method === 'OPTIONS') {
    res.writeHead(204, headers());
    return res.end();
  }
  if (path.startsWith('/api/') || path === '/upload' || path === '/reports') {
    if (path !== '/api/log' && path !== '/api/stats' && path !== '/api/mode' && !path.startsWith('/api/uploads') && path !== '/api/reports') {
      state.log.push({ t: performance.now(), seq: ++state.seq, method: req.method, path, query: url.search, headers: { ...req.headers } });
      if (state.log.length > MAX_LOG) state.log.splice(0, state.log.length - MAX_LOG);
    }
    return api(state, req, res, url);
  }
  return serveStatic(req, res, path);
}

async function serveStatic(req, res, path) {
  for (const [prefix, dir] of MOUNTS) {
    if (!path.startsWith(prefix)) continue;
    let rel = decodeURIComponent(path.slice(prefix.length));
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const file = normalize(join(dir, rel));
    if (!file.startsWith(dir)) return send(res, 403, 'forbidden');
    try {
      const s = await stat(file);
      if (!s.isFile()) throw new Error('not a file');
      const data = await readFile(file);
      res.writeHead(200, headers({ 'Content-Type': MIME[extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-cache' }));
      return res.end(req.method === 'HEAD' ? undefined : data);
    } catch {
      return send(res, 404, 'not found');
    }
  }
  return send(res, 404, 'not found');
}

function httpDate(msFromNow, form = 'imf') {
  const d = new Date(Date.now() + msFromNow);
  if (form === 'imf') return d.toUTCString();
  const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  const mons = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n) => String(n).padStart(2, '0');
  const hms = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  if (form === 'rfc850') return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())}-${mons[d.getUTCMonth()]}-${p(d.getUTCFullYear() % 100)} ${hms} GMT`;
  // asctime
  return `${days[d.getUTCDay()].slice(0, 3)} ${mons[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${hms} ${d.getUTCFullYear()}`;
}

function track(state, tag, delta) {
  let t = state.inFlight.get(tag);
  if (!t) state.inFlight.set(tag, (t = { now: 0, max: 0, total: 0 }));
  t.now += delta;
  if (delta > 0) t.total += 1;
  t.max = Math.max(t.max, t.now);
}

async function api(state, req, res, url) {
  const path = url.pathname;
  const q = url.searchParams;
  const mode = state.mode;

  // --- control and inspection ------------------------------------------------------------
  if (path === '/api/log') return send(res, 200, { log: state.log.filter((e) => e.seq > Number(q.get('since') || 0)) });
  if (path === '/api/reset') {
    const fresh = newState();
    Object.assign(state, fresh);
    return send(res, 200, { ok: true });
  }
  if (path === '/api/stats') {
    return send(res, 200, {
      inFlight: Object.fromEntries(state.inFlight),
      uploads: { applied: state.uploads.applied, distinctRecords: state.uploads.records.size, duplicates: state.uploads.duplicates, digestMismatch: state.uploads.digestMismatch, batches: state.uploads.byKey.size },
      reports: state.reports.length,
      mode,
    });
  }
  if (path === '/api/mode' && req.method === 'POST') {
    const body = JSON.parse((await readBody(req)).toString() || '{}');
    Object.assign(mode, body);
    if ('max413Bytes' in body) state.uploads.max413Bytes = body.max413Bytes;
    if ('chaos' in body) state.uploads.chaos = body.chaos;
    if ('seed' in body) state.uploads.seed = body.seed;
    if ('uploadDrop' in body) state.uploads.drop = body.uploadDrop; // every /upload connection is cut: unreachable
    if ('uploadTrickle' in body) state.uploads.trickle = body.uploadTrickle; // n answers: 503 whose JSON body trickles for 10 s
    if ('uploadBigError' in body) state.uploads.bigError = body.uploadBigError; // n answers: 503, a 100 kB JSON body (chunked) hinting 5 s
    return send(res, 200, { ok: true, mode });
  }
  if (path === '/api/mode') return send(res, 200, { mode });
  if (path === '/api/script' && req.method === 'POST') {
    const { path: p, responses } = JSON.parse((await readBody(req)).toString());
    state.scripts.set(p, responses.slice(0, 1000));
    return send(res, 200, { ok: true });
  }
  if (path === '/api/reports') return send(res, 200, { reports: state.reports });
  if (path === '/api/uploads') {
    const ids = [...state.uploads.records.keys()];
    const u = state.uploads;
    return send(res, 200, { applied: u.applied, duplicates: u.duplicates, digestMismatch: u.digestMismatch, answered: u.answered, requests: u.requests || 0, distinct: ids.length, ids });
  }

  // --- sinks -----------------------------------------------------------------------------
  if (path === '/reports') {
    const body = (await readBody(req, 1024 * 1024)).toString();
    let items;
    try { items = JSON.parse(body); } catch { return send(res, 400, { error: 'bad json' }); }
    state.reports.push({ t: Date.now(), contentType: req.headers['content-type'], items });
    if (state.reports.length > 1000) state.reports.shift();
    if (mode.reportStatus) return send(res, mode.reportStatus, { error: 'scripted' }, mode.reportRetryAfter ? { 'Retry-After': String(mode.reportRetryAfter) } : {});
    res.writeHead(204, headers());
    return res.end();
  }
  if (path === '/upload') return upload(state, req, res);

  // --- scripted and misbehaving endpoints ---------------------------------------------------
  const script = state.scripts.get(path);
  if (script && script.length) {
    const r = script.shift();
    if (r.delayMs) await sleep(Math.min(r.delayMs, 30000));
    if (r.drop) return req.socket.destroy();
    const extra = { ...(r.headers || {}) };
    if (r.retryAfterDateMs !== undefined) extra['Retry-After'] = httpDate(r.retryAfterDateMs, r.dateForm || 'imf');
    return send(res, r.status || 200, r.body === undefined ? { ok: (r.status || 200) < 400, scripted: true } : r.body, extra);
  }
  if (mode.outage && path.startsWith('/api/')) return send(res, 503, { error: 'outage', retryable: true });
  // Load shedding: a share of /api/ requests (exactly, by a running sum) answered 503 with a hint
  // (`retryAfterMs` in the JSON body, and Retry-After when `retryAfterS` is set).
  if (mode.shed && path.startsWith('/api/')) {
    state.shedAcc = (state.shedAcc || 0) + Math.min(1, Math.max(0, Number(mode.shed.share) || 0));
    if (state.shedAcc >= 1) {
      state.shedAcc -= 1;
      state.shedCount = (state.shedCount || 0) + 1;
      const extra = mode.shed.retryAfterS !== undefined ? { 'Retry-After': String(mode.shed.retryAfterS) } : {};
      return send(res, 503, { error: 'overloaded', retryable: true, retryAfterMs: mode.shed.retryAfterMs ?? 100 }, extra);
    }
  }
  if (mode.dropRate && Math.random() < mode.dropRate) return req.socket.destroy();
  if (mode.rateLimit && path.startsWith('/api/')) {
    const { requests, perMs } = mode.rateLimit;
    const key = 'global';
    const now = Date.now();
    let w = state.limiter.get(key);
    if (!w || now - w.windowStart >= perMs) state.limiter.set(key, (w = { windowStart: now, count: 0 }));
    w.count += 1;
    if (w.count > requests) {
      const retryAfter = Math.max(1, Math.ceil((w.windowStart + perMs - now) / 1000));
      return send(res, 429, { error: 'rate limited', retryAfterMs: w.windowStart + perMs - now }, { 'Retry-After': String(retryAfter) });
    }
  }
  if (path === '/api/trickle') {
    // An error whose JSON body trickles in a byte at a time (bounded: at most 200 chunks, at
    // most 5 s apart), ending with a hint no guard should wait for.
    const every = Math.min(Number(q.get('every') || 200), 5000);
    const chunks = Math.min(Number(q.get('chunks') || 50), 200);
    res.writeHead(Number(q.get('code') || 503), headers({ 'Content-Type': 'application/json' }));
    res.write('{"retryable":true,"retryAfterMs":');
    for (let i = 0; i < chunks && !res.destroyed; i++) {
      await sleep(every);
      res.write(' ');
    }
    return res.end('3600000}');
  }
  const tag = q.get('tag') || 'default';
  track(state, tag, +1);
  try {
    const delay = Number(q.get('delay') || 0) || mode.slowMs;
    if (delay) await sleep(Math.min(delay, 30000));
    if (path === '/api/status') {
      const status = Number(q.get('code') || 200);
      const extra = {};
      if (q.get('retryAfter')) extra['Retry-After'] = q.get('retryAfter');
      if (q.get('retryAfterDateMs')) extra['Retry-After'] = httpDate(Number(q.get('retryAfterDateMs')), q.get('form') || 'imf');
      return send(res, status, { status }, extra);
    }
    if (path === '/api/limited') {
      // A limiter that keeps answering 429 until its hint is respected: any request before the
      // announced time extends nothing but is refused again.
      const key = q.get('key') || 'limited';
      const now = Date.now();
      const w = state.limiter.get(key);
      if (w && now < w.until) {
        return send(res, 429, { error: 'too early' }, { 'Retry-After': String(Math.ceil((w.until - now) / 1000)) });
      }
      const hits = (w?.hits || 0) + 1;
      if (hits <= Number(q.get('limited') || 2)) {
        state.limiter.set(key, { until: now + 1000, hits });
        return send(res, 429, { error: 'rate limited' }, { 'Retry-After': '1' });
      }
      state.limiter.set(key, { until: 0, hits });
      return send(res, 200, { ok: true, hits });
    }
    if (path === '/api/big') {
      const n = Math.min(Number(q.get('bytes') || 1024), 10 * 1024 * 1024);
      return send(res, 200, 'x'.repeat(n), { 'Cache-Control': q.get('cc') || 'max-age=60' });
    }
    const body = req.method === 'GET' || req.method === 'HEAD' ? '' : (await readBody(req, 1024 * 1024)).toString();
    // `creds=1`: a credentialed CORS answer (the caller's origin echoed, credentials allowed).
    const creds = q.get('creds') && req.headers.origin ? { 'Access-Control-Allow-Origin': req.headers.origin, 'Access-Control-Allow-Credentials': 'true' } : {};
    return send(res, 200, { ok: true, seq: state.seq, path, method: req.method, bytes: body.length, t: Date.now() }, { 'X-Request-Count': String(state.seq), 'Cache-Control': q.get('cc') || 'no-store', ...creds });
  } finally {
    track(state, tag, -1);
  }
}

// Upload sink: applies each batch once per Idempotency-Key, verifies Content-Digest over the exact
// bytes, answers 409 while the same key is in flight, 422 when a key is reused with another body,
// 413 above a size, and a random mix of failures in chaos mode (seeded, replayable).
async function upload(state, req, res) {
  const u = state.uploads;
  u.requests = (u.requests || 0) + 1;
  if (u.drop) return req.socket.destroy();
  if (u.trickle > 0) {
    u.trickle -= 1;
    // A JSON error body that never finishes in time: the client must not wait for it.
    res.writeHead(503, headers({ 'Content-Type': 'application/json' }));
    res.write('{"retryAfterMs":');
    const t = setInterval(() => res.write(' '), 100);
    const end = setTimeout(() => { clearInterval(t); res.end('1}'); }, 10000);
    res.on('close', () => { clearInterval(t); clearTimeout(end); });
    return;
  }
  if (u.bigError > 0) {
    u.bigError -= 1;
    res.writeHead(503, headers({ 'Content-Type': 'application/json' }));
    res.write('{"retryAfterMs":5000,"pad":"');
    res.write('x'.repeat(100000));
    return void res.end('"}');
  }
  const key = req.headers['idempotency-key'];
  const digest = req.headers['content-digest'];
  let raw;
  try {
    raw = await readBody(req);
  } catch {
    return send(res, 413, { error: 'too large' });
  }
  if (u.max413Bytes && raw.length > u.max413Bytes) {
    u.answered[413] += 1;
    return send(res, 413, { error: 'payload too large', max: u.max413Bytes });
  }
  const want = 'sha-256=:' + createHash('sha256').update(raw).digest('base64') + ':';
  if (digest !== want) {
    u.digestMismatch += 1;
    return send(res, 400, { error: 'content-digest mismatch', code: 'DIGEST_MISMATCH', retryable: false });
  }
  if (!key) return send(res, 400, { error: 'Idempotency-Key required', retryable: false });
  const prior = u.byKey.get(key);
  if (prior && prior.digest !== want) return send(res, 422, { error: 'key reused with another payload', retryable: false });
  if (u.inFlightKeys.has(key)) return send(res, 409, { error: 'original request still in flight' });
  if (u.chaos) {
    const r = rand(u);
    if (r < u.chaos * 0.25) return (u.answered[503] += 1), send(res, 503, { error: 'chaos outage' });
    if (r < u.chaos * 0.5) return (u.answered[429] += 1), send(res, 429, { error: 'chaos limit' }, { 'Retry-After': '1' });
    if (r < u.chaos * 0.75) return (u.answered.dropped += 1), req.socket.destroy();
  }
  if (prior) return send(res, 200, prior.response); // replay: never applied twice
  u.inFlightKeys.add(key);
  try {
    let body;
    try { body = JSON.parse(raw.toString()); } catch { return send(res, 400, { error: 'bad json', retryable: false }); }
    const records = Array.isArray(body.records) ? body.records : [];
    for (const r of records) {
      const id = r && typeof r === 'object' && 'id' in r ? String(r.id) : JSON.stringify(r);
      if (u.records.has(id)) u.duplicates += 1;
      u.records.set(id, (u.records.get(id) || 0) + 1);
      u.applied += 1;
    }
    const response = { ok: true, accepted: records.length };
    u.byKey.set(key, { digest: want, response });
    // After a successful apply, chaos may still drop the answer: the client must retry with the
    // same key and get the replay, not a second apply.
    if (u.chaos && rand(u) < u.chaos * 0.2) return (u.answered.droppedAfterApply += 1), req.socket.destroy();
    return send(res, 200, response);
  } finally {
    u.inFlightKeys.delete(key);
  }
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT || 8080);
  startServer({ port, quiet: false }).then(({ url }) => {
    console.log(`resource-guard demo: ${url}/  (Ctrl-C to stop)`);
  });
}
