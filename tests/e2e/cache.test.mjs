// The stale-if-error cache in Chromium against the local backend: a GET that succeeded once is
// served stale (marked) when the backend is down and the breaker is open, `no-store` never is,
// Cache Storage stays within the byte budget over 500 distinct responses, the heap guard's
// `critical` level empties it, the index survives a reload, it works in a worker, and without
// Cache Storage the guard runs without a cache after one warning. Privacy (issue 12): a request's
// own `cache: 'no-store'`, credentialed requests (stored only with cache.storeCredentialed, keyed
// apart), guard.clearCache() for sign-out, and copies in flight bounded by maxBytes together.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

let server, browser, page;
const setMode = (mode) => fetch(`${server.url}/api/mode`, { method: 'POST', body: JSON.stringify(mode) });

before(async () => {
  server = await startServer();
  browser = await launch();
  page = await browser.page(`${server.url}/fixtures/blank.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
});
beforeEach(async () => {
  await setMode({ outage: false });
  await page.evaluate(async () => {
    // Helpers: what is really in Cache Storage (not what the index says).
    window.cacheContents = async () => {
      const c = await caches.open('resource-guard-v1');
      const reqs = await c.keys();
      let bytes = 0;
      const urls = [];
      for (const r of reqs) {
        const res = await c.match(r);
        bytes += (await res.blob()).size;
        urls.push(decodeURIComponent(r.url.slice(r.url.indexOf('?k=') + 3)));
      }
      return { entries: reqs.length, bytes, urls };
    };
    await caches.delete('resource-guard-v1');
  });
});
after(async () => {
  await setMode({ outage: false }).catch(() => {});
  await browser?.close();
  await server?.close();
});

test('a GET that succeeded once is served stale, marked, when the backend is down and the breaker open', async () => {
  const first = await page.evaluate(async () => {
    window.g = await rg.ResourceGuard.create({ cache: {}, breaker: { failureThreshold: 2 }, retry: { maxRetries: 0 } });
    window.events = { fallback: [], breaker: [] };
    g.on('fallback', (e) => events.fallback.push(e));
    g.on('breaker', (e) => events.breaker.push(e.to));
    const res = await g.fetch('/api/echo?cc=max-age=0,stale-if-error=3600&id=stale');
    const body = await res.json();
    await g._cache.idle();
    return { status: res.status, body, stats: g._cache.stats() };
  });
  assert.equal(first.status, 200);
  assert.equal(first.stats.entries, 1);
  await new Promise((r) => setTimeout(r, 1100)); // so the stale age is at least 1 s
  await setMode({ outage: true });
  const logBefore = server.state.log.length;
  const out = await page.evaluate(async () => {
    const answers = [];
    // Two 503s (no retries) open the breaker; the third request fails fast with
    // ERR_CIRCUIT_OPEN without touching the network; all three are answered from the cache.
    for (let i = 0; i < 3; i++) {
      const res = await g.fetch('/api/echo?cc=max-age=0,stale-if-error=3600&id=stale');
      answers.push({ status: res.status, stale: res.headers.get('X-Resource-Guard-Stale'), body: await res.json() });
    }
    let optOut;
    try {
      optOut = (await g.fetch('/api/echo?cc=max-age=0,stale-if-error=3600&id=stale', { fallback: false })).status;
    } catch (e) {
      optOut = e.code;
    }
    const services = g.snapshot().services;
    g.dispose();
    return { answers, events, optOut, breaker: Object.values(services)[0]?.breaker };
  });
  for (const a of out.answers) {
    assert.equal(a.status, 200);
    assert.ok(Number(a.stale) >= 1, `X-Resource-Guard-Stale: ${a.stale}`);
    assert.deepEqual(a.body, first.body, 'the stored body, byte for byte');
  }
  assert.deepEqual(out.events.breaker, ['open']);
  assert.equal(out.breaker, 'open');
  assert.equal(server.state.log.length - logBefore, 2, 'the request after the breaker opened never reached the backend');
  assert.equal(out.events.fallback.length, 3);
  assert.match(out.events.fallback[0].url, /\/api\/echo\?cc=max-age=0,stale-if-error=3600&id=stale$/);
  assert.ok(out.events.fallback.every((e) => e.ageS >= 1));
  assert.equal(out.optOut, 'ERR_CIRCUIT_OPEN', 'fallback: false opts out');
  await setMode({ outage: false });
});

test('a no-store response is never cached nor served stale', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ cache: {}, breaker: { failureThreshold: 2 }, retry: { maxRetries: 0 } });
    const ok = (await guard.fetch('/api/echo?cc=no-store&id=ns')).status;
    const priv = (await guard.fetch('/api/echo?cc=private,max-age=60&id=priv')).status;
    await guard._cache.idle();
    const stored = await cacheContents();
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: true }) });
    const down = await guard.fetch('/api/echo?cc=no-store&id=ns');
    let fastFail;
    await guard.fetch('/api/echo?cc=no-store&id=ns').catch(() => {});
    try {
      await guard.fetch('/api/echo?cc=no-store&id=ns');
    } catch (e) {
      fastFail = e.code;
    }
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: false }) });
    guard.dispose();
    return { ok, priv, stored, down: { status: down.status, stale: down.headers.get('X-Resource-Guard-Stale') }, fastFail };
  });
  assert.equal(out.ok, 200);
  assert.deepEqual(out.stored.urls.map((u) => u.replace(/^GET https?:\/\/[^/]+/, '')), ['/api/echo?cc=private,max-age=60&id=priv'], 'only the private (this browser only) response is kept');
  assert.equal(out.down.status, 503, 'the failure itself, not a stale copy');
  assert.equal(out.down.stale, null);
  assert.equal(out.fastFail, 'ERR_CIRCUIT_OPEN');
});

// Issue 12: the caller's own RequestInit.cache / Request.cache 'no-store' is honoured.
test("a request's own cache: 'no-store' is never stored, nor answered from the cache", async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ cache: {}, breaker: { failureThreshold: 100 }, retry: { maxRetries: 0 } });
    const u = (id) => `/api/echo?cc=max-age=0,stale-if-error=3600&id=${id}`; // max-age=0: never from the HTTP cache
    const statuses = [
      (await guard.fetch(u('init'), { cache: 'no-store' })).status,
      (await guard.fetch(new Request(u('request'), { cache: 'no-store' }))).status,
      (await guard.fetch(u('plain'))).status,
    ];
    await guard._cache.idle();
    const stored = (await cacheContents()).urls.map((k) => k.slice(k.indexOf('id=') + 3));
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: true }) });
    const read = async (input, init) => { const r = await guard.fetch(input, init); return `${r.status} ${r.headers.get('X-Resource-Guard-Stale') !== null}`; };
    const down = {
      noStoreInit: await read(u('plain'), { cache: 'no-store' }),
      noStoreRequest: await read(new Request(u('plain'), { cache: 'no-store' })),
      initOverridesRequest: await read(new Request(u('plain'), { cache: 'no-store' }), { cache: 'default' }),
      plain: await read(u('plain')),
    };
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: false }) });
    guard.dispose();
    return { statuses, stored, down };
  });
  assert.deepEqual(out.statuses, [200, 200, 200]);
  assert.deepEqual(out.stored, ['plain'], 'only the request without no-store was kept');
  assert.deepEqual(out.down, { noStoreInit: '503 false', noStoreRequest: '503 false', initOverridesRequest: '200 true', plain: '200 true' });
});

// Issue 12: responses to credentialed requests stay out of the cache unless the app opts in,
// and then never answer an anonymous request.
test('credentialed responses are not stored unless cache.storeCredentialed; then they are keyed apart', async () => {
  const other = server.url.replace('127.0.0.1', 'localhost'); // a second origin of the backend
  const out = await page.evaluate(async (other) => {
    const auth = { Authorization: 'Bearer secret-token' };
    const u = (id) => `/api/echo?cc=public,max-age=0,stale-if-error=3600&creds=1&id=${id}`;
    const plain = await rg.ResourceGuard.create({ cache: {}, retry: { maxRetries: 0 } });
    const statuses = [
      (await plain.fetch(u('auth'), { headers: auth })).status,
      (await plain.fetch(new Request(u('auth-request'), { headers: auth }))).status,
      (await plain.fetch(other + u('include-cross'), { credentials: 'include' })).status,
      (await plain.fetch(u('include-same'), { credentials: 'include' })).status,
      (await plain.fetch(other + u('cross-anonymous'))).status,
    ];
    await plain._cache.idle();
    const storedPlain = (await cacheContents()).urls.map((k) => k.slice(k.indexOf('id=') + 3)).sort();
    plain.dispose();
    await caches.delete('resource-guard-v1');

    const opted = await rg.ResourceGuard.create({ cache: { storeCredentialed: true }, retry: { maxRetries: 0 } });
    await (await opted.fetch(u('auth'), { headers: auth })).text();
    await opted._cache.idle();
    const storedOpted = (await cacheContents()).entries;
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: true }) });
    const read = async (init) => { const r = await opted.fetch(u('auth'), init); return `${r.status} ${r.headers.get('X-Resource-Guard-Stale') !== null}`; };
    const down = { withAuth: await read({ headers: auth }), anonymous: await read() };
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: false }) });
    opted.dispose();
    return { statuses, storedPlain, storedOpted, down };
  }, other);
  assert.deepEqual(out.statuses, [200, 200, 200, 200, 200]);
  assert.deepEqual(out.storedPlain, ['cross-anonymous', 'include-same'], 'Authorization and cross-origin credentials: include are not stored');
  assert.equal(out.storedOpted, 1);
  assert.deepEqual(out.down, { withAuth: '200 true', anonymous: '503 false' });
});

// Issue 12: sign-out.
test('guard.clearCache() empties Cache Storage and the index, also without a cache and after dispose', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ cache: {}, retry: { maxRetries: 0 } });
    for (const id of ['a', 'b']) await (await guard.fetch(`/api/echo?cc=max-age=0,stale-if-error=3600&id=${id}`)).text();
    await guard._cache.idle();
    const before = guard.snapshot().cache;
    const cleared = [];
    guard.on('cacheCleared', (e) => cleared.push(e));
    const result = await guard.clearCache();
    const after = { index: guard.snapshot().cache, real: (await cacheContents()).entries };
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: true }) });
    const down = (await guard.fetch('/api/echo?cc=max-age=0,stale-if-error=3600&id=a')).status;
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: false }) });
    await (await guard.fetch('/api/echo?cc=max-age=600&id=c')).text();
    await guard._cache.idle();
    guard.dispose();
    const leftover = await caches.has('resource-guard-v1');
    const afterDispose = await guard.clearCache();
    const goneAfterDispose = !(await caches.has('resource-guard-v1'));
    // A guard without `cache` still wipes what an earlier page left (sign-out must not depend on options).
    await (await caches.open('resource-guard-v1')).put('https://resource-guard.invalid/v1?k=x', new Response('x'));
    const bare = await rg.ResourceGuard.create();
    const bareResult = await bare.clearCache();
    const goneBare = !(await caches.has('resource-guard-v1'));
    bare.dispose();
    return { before, result, cleared, after, down, leftover, afterDispose, goneAfterDispose, bareResult, goneBare };
  });
  assert.deepEqual(out.before, { entries: 2, bytes: out.before.bytes });
  assert.equal(out.result, undefined);
  assert.deepEqual(out.cleared, [{ entries: 2, bytes: out.before.bytes }]);
  assert.deepEqual(out.after, { index: { entries: 0, bytes: 0 }, real: 0 });
  assert.equal(out.down, 503, 'nothing left to serve stale');
  assert.equal(out.leftover, true);
  assert.equal(out.afterDispose, undefined);
  assert.equal(out.goneAfterDispose, true);
  assert.equal(out.bareResult, undefined);
  assert.equal(out.goneBare, true);
});

// Issue 12: copies waiting to be stored are bounded by maxBytes together, not only each.
test('copies being read for the cache never hold more than maxBytes together', async () => {
  const out = await page.evaluate(async () => {
    const opened = [];
    const transport = (input) => {
      let ctrl;
      const body = new ReadableStream({ start(c) { ctrl = c; c.enqueue(new Uint8Array(3000)); } });
      opened.push(() => ctrl.close());
      return Promise.resolve(new Response(body, { headers: { 'Cache-Control': 'max-age=600', 'X-Id': String(input) } }));
    };
    const guard = await rg.ResourceGuard.create({ fetch: transport, cache: { maxBytes: 10000 }, rateLimit: { requests: 1000, perMs: 1000 } });
    const res = [];
    for (let i = 1; i <= 5; i++) {
      res.push(await guard.fetch(`${location.origin}/stream/${i}`));
      await new Promise((r) => setTimeout(r, 20)); // its copy has read the first 3000 bytes
    }
    for (const close of opened) close();
    const lengths = await Promise.all(res.map(async (r) => (await r.arrayBuffer()).byteLength));
    await guard._cache.idle();
    const stored = (await cacheContents()).urls.map((k) => k.slice(k.lastIndexOf('/') + 1)).sort();
    guard.dispose();
    return { lengths, stored };
  });
  assert.deepEqual(out.lengths, [3000, 3000, 3000, 3000, 3000], 'callers get every body');
  // Three copies (9000 B) fit; the fourth and fifth were abandoned while reading. Without the
  // shared cap all five are read and LRU keeps 3, 4, 5.
  assert.deepEqual(out.stored, ['1', '2', '3']);
});

test('responses are keyed by the request headers named in Vary; Vary: * is never stored', async () => {
  const cc = 'max-age=0, stale-if-error=600';
  await fetch(`${server.url}/api/script`, {
    method: 'POST',
    body: JSON.stringify({ path: '/api/vary', responses: [
      { body: 'de', headers: { Vary: 'Accept-Language', 'Cache-Control': cc } },
      { body: 'en', headers: { Vary: 'Accept-Language', 'Cache-Control': cc } },
    ] }),
  });
  await fetch(`${server.url}/api/script`, { method: 'POST', body: JSON.stringify({ path: '/api/star', responses: [{ body: 'star', headers: { Vary: '*', 'Cache-Control': cc } }] }) });
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ cache: {}, retry: { maxRetries: 0 } });
    // The driver hands the cache the request's input: headers travel on a Request.
    const req = (lang) => new Request('/api/vary', { headers: { 'Accept-Language': lang } });
    const fresh = [await (await guard.fetch(req('de'))).text(), await (await guard.fetch(req('en'))).text()];
    await (await guard.fetch('/api/star')).text();
    await guard._cache.idle();
    const entries = guard._cache.stats().entries;
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: true }) });
    const read = async (r) => { const res = await guard.fetch(r); return `${res.status} ${await res.text()}`; };
    const stale = { de: await read(req('de')), en: await read(req('en')), fr: (await read(req('fr'))).slice(0, 3), star: (await read('/api/star')).slice(0, 3) };
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: false }) });
    guard.dispose();
    return { fresh, entries, stale };
  });
  assert.deepEqual(out.fresh, ['de', 'en']);
  assert.equal(out.entries, 2, 'two variants; Vary: * not stored');
  assert.deepEqual(out.stale, { de: '200 de', en: '200 en', fr: '503', star: '503' });
});

test('500 distinct responses never push Cache Storage past maxBytes; LRU keeps the newest; a body above maxBytes is never stored', async () => {
  const out = await page.evaluate(async () => {
    const maxBytes = 200000;
    const guard = await rg.ResourceGuard.create({ cache: { maxBytes }, rateLimit: { requests: 100000, perMs: 1000 } });
    const checks = [];
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 50 }, async (_, j) => {
        const i = batch * 50 + j;
        const res = await guard.fetch(`/api/big?bytes=${1500 + ((i * 37) % 1000)}&cc=max-age=600&i=${i}`);
        await res.text();
      }));
      await guard._cache.idle();
      const real = await cacheContents();
      checks.push({ real: { entries: real.entries, bytes: real.bytes }, index: guard._cache.stats() });
    }
    const contents = await cacheContents();
    const huge = await guard.fetch(`/api/big?bytes=${maxBytes + 1}&cc=max-age=600&huge=1`);
    const hugeLen = (await huge.text()).length;
    await guard._cache.idle();
    const afterHuge = await cacheContents();
    guard.dispose();
    const has = (i) => contents.urls.some((u) => u.endsWith(`&i=${i}`));
    return { checks, newest: has(499), oldest: has(0), hugeLen, hugeStored: afterHuge.urls.some((u) => u.includes('huge=1')), maxBytes };
  });
  for (const [n, c] of out.checks.entries()) {
    assert.ok(c.real.bytes <= out.maxBytes, `after ${(n + 1) * 50} fetches Cache Storage holds ${c.real.bytes} B`);
    assert.deepEqual(c.real, c.index, `after ${(n + 1) * 50} fetches the index matches Cache Storage`);
  }
  assert.ok(out.checks.at(-1).real.bytes > out.maxBytes * 0.95, 'the budget is used, not just respected');
  assert.ok(out.checks.at(-1).real.entries >= 80);
  assert.equal(out.newest, true);
  assert.equal(out.oldest, false);
  assert.equal(out.hugeLen, 200001, 'the caller still gets the whole body');
  assert.equal(out.hugeStored, false);
});

test("entering the heap guard's critical level empties the cache and reports what it freed", async () => {
  const out = await page.evaluate(async () => {
    gc();
    const base = performance.memory.usedJSHeapSize;
    const budget = Math.ceil((base + 20e6) / 1e6) * 1e6;
    const guard = await rg.ResourceGuard.create({ cache: {}, heap: { budgetBytes: budget, sampleIntervalMs: 600000 }, rateLimit: { requests: 1000, perMs: 1000 } });
    const cleared = [];
    guard.on('cacheCleared', (e) => cleared.push(e));
    for (let i = 0; i < 5; i++) await (await guard.fetch(`/api/big?bytes=3000&cc=max-age=600&heap=${i}`)).text();
    await guard._cache.idle();
    const before = { stats: guard._cache.stats(), real: await cacheContents() };
    const hoard = [];
    let reading = await guard.sampleHeap();
    for (let i = 0; i < 200 && reading.level !== 'critical' && reading.level !== 'limit'; i++) {
      hoard.push(new Array(62500).fill(i + 0.5)); // 0.5 MB of unboxed doubles
      reading = await guard.sampleHeap();
    }
    const level = reading.level;
    for (let i = 0; i < 100 && !cleared.length; i++) await new Promise((r) => setTimeout(r, 10));
    const afterStats = guard._cache.stats();
    const afterReal = await cacheContents();
    hoard.length = 0;
    gc();
    await guard.sampleHeap();
    guard.dispose();
    return { before, level, cleared, afterStats, afterReal: { entries: afterReal.entries, bytes: afterReal.bytes } };
  });
  assert.deepEqual(out.before.stats, { entries: 5, bytes: 15000 });
  assert.equal(out.before.real.entries, 5);
  assert.ok(out.level === 'critical' || out.level === 'limit', `level ${out.level}`);
  assert.deepEqual(out.cleared, [{ entries: 5, bytes: 15000 }]);
  assert.deepEqual(out.afterStats, { entries: 0, bytes: 0 });
  assert.deepEqual(out.afterReal, { entries: 0, bytes: 0 });
});

test('the index is rebuilt from Cache Storage after a reload (bogus entries are dropped)', async () => {
  const stored = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ cache: {} });
    await (await guard.fetch('/api/big?bytes=1000&cc=max-age=600&reload=1')).text();
    await (await guard.fetch('/api/echo?cc=max-age=0,stale-if-error=3600&reload=2')).text();
    await guard._cache.idle();
    const stats = guard._cache.stats();
    guard.dispose();
    // Hostile leftovers: unreadable metadata, a future date, a foreign URL.
    const c = await caches.open('resource-guard-v1');
    const P = 'https://resource-guard.invalid/v1?k=';
    await c.put(P + encodeURIComponent('GET http://x/bad'), new Response('x', { headers: { 'x-rg-bytes': 'abc', 'x-rg-stored-at': String(Date.now()) } }));
    await c.put(P + encodeURIComponent('GET http://x/future'), new Response('x', { headers: { 'x-rg-bytes': '1', 'x-rg-stored-at': String(Date.now() + 1e9) } }));
    await c.put('https://elsewhere.invalid/', new Response('x'));
    return stats;
  });
  assert.equal(stored.entries, 2);
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ cache: {}, retry: { maxRetries: 0 } });
    const stats = guard._cache.stats();
    await guard._cache.idle();
    const c = await caches.open('resource-guard-v1');
    const left = (await c.keys()).length;
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: true }) });
    const res = await guard.fetch('/api/echo?cc=max-age=0,stale-if-error=3600&reload=2');
    const stale = res.headers.get('X-Resource-Guard-Stale');
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ outage: false }) });
    guard.dispose();
    return { stats, left, status: res.status, stale };
  });
  assert.equal(out.stats.entries, 2);
  assert.equal(out.stats.bytes, stored.bytes);
  assert.equal(out.left, 2, 'the bogus entries were deleted');
  assert.equal(out.status, 200);
  assert.notEqual(out.stale, null);
});

test('works in a module worker (globalThis.caches)', async () => {
  const out = await page.evaluate(async () => {
    const src = `
      import * as rg from '${location.origin}/pkg/index.js';
      const guard = await rg.ResourceGuard.create({ cache: {}, retry: { maxRetries: 0 } });
      const O = '${location.origin}';
      const fresh = (await guard.fetch(O + '/api/echo?cc=max-age=0,stale-if-error=3600&worker=1').then((r) => r.json())).seq;
      await guard._cache.idle();
      await fetch(O + '/api/mode', { method: 'POST', body: JSON.stringify({ outage: true }) });
      const res = await guard.fetch(O + '/api/echo?cc=max-age=0,stale-if-error=3600&worker=1');
      const stale = res.headers.get('X-Resource-Guard-Stale');
      const seq = (await res.json()).seq;
      await fetch(O + '/api/mode', { method: 'POST', body: JSON.stringify({ outage: false }) });
      guard.dispose();
      postMessage({ fresh, seq, stale, status: res.status });
    `;
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const w = new Worker(url, { type: 'module' });
    try {
      return await new Promise((ok, fail) => {
        w.onmessage = (e) => ok(e.data);
        w.onerror = (e) => fail(new Error(e.message || 'worker error'));
        setTimeout(() => fail(new Error('worker timed out')), 10000);
      });
    } finally {
      w.terminate();
    }
  });
  assert.equal(out.status, 200);
  assert.equal(out.seq, out.fresh, 'the stored body');
  assert.notEqual(out.stale, null);
});

test('without Cache Storage the guard warns once and runs without a cache', async () => {
  const warnings = [];
  const onConsole = (m) => { if (m.type() === 'warning') warnings.push(m.text()); };
  page.on('console', onConsole);
  const out = await page.evaluate(async () => {
    Object.defineProperty(window, 'caches', { value: undefined, configurable: true });
    const a = await rg.ResourceGuard.create({ cache: {} });
    const b = await rg.ResourceGuard.create({ cache: {} });
    const status = (await a.fetch('/api/echo?cc=max-age=60&nocache=1')).status;
    const r = { hasCache: a._cache !== undefined || b._cache !== undefined, status };
    a.dispose();
    b.dispose();
    delete window.caches;
    return r;
  });
  page.off('console', onConsole);
  assert.equal(out.hasCache, false);
  assert.equal(out.status, 200);
  assert.equal(warnings.filter((w) => w.includes('resource-guard')).length, 1, `warnings: ${warnings}`);
  assert.equal(page.errors.length, 0, `page errors: ${page.errors}`);
});
