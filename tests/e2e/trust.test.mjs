// Trustworthy under real traffic (issue 12), wired in Chromium against the local backend, whose
// two origins (127.0.0.1 = the app, localhost = a third party) are two services: hints pace only
// the service that sent them, origins come from the platform's URL, Request headers survive an
// idempotency key, trickling error bodies never hold a call or its slot, the caller's deadline is
// not a breaker failure, the AbortSignal.any fallback works, serverCode is kept, and snapshot()
// after dispose() keeps its shape.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

let server, browser, page, third;
before(async () => {
  server = await startServer();
  third = `http://localhost:${server.port}`;
  browser = await launch();
  page = await browser.page(`${server.url}/fixtures/blank.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const script = (path, responses) =>
  fetch(`${server.url}/api/script`, { method: 'POST', body: JSON.stringify({ path, responses }) });
const logOf = (query) => server.state.log.filter((e) => e.query.includes(query));

test('a 429 from the third-party origin never delays the app origin of the same category; its own next request waits', async () => {
  await script('/api/tp', [{ status: 429, headers: { 'Retry-After': '2' } }]);
  const out = await page.evaluate(async (third) => {
    const guard = await rg.ResourceGuard.create({ rateLimit: { requests: 100, perMs: 1000 } });
    const t0 = performance.now();
    const first = guard.fetch(`${third}/api/tp?n=1`);
    await new Promise((r) => setTimeout(r, 150));
    const own = guard.fetch('/api/echo?own=1').then(() => performance.now() - t0);
    const tp2 = guard.fetch(`${third}/api/echo?tp2=1`).then(() => performance.now() - t0);
    const snap = guard.snapshot();
    const [a, ownMs, tp2Ms] = await Promise.all([first, own, tp2]);
    guard.dispose();
    return { status: a.status, ownMs, tp2Ms, blocked: snap.services[third].blockedForMs.api, parked: snap.categories.api.parked };
  }, third);
  assert.equal(out.status, 200, 'retried after the hint');
  assert.ok(out.ownMs < 1000, `the app origin waited ${out.ownMs} ms for a third party's hint`);
  assert.ok(out.tp2Ms >= 1950, `the third party's next request went after ${out.tp2Ms} ms`);
  assert.ok(out.blocked > 1500 && out.blocked <= 2000, `snapshot blockedForMs ${out.blocked}`);
  assert.equal(out.parked, 1);
  const tp = logOf('tp2=1')[0], own = logOf('own=1')[0], firstHit = logOf('?n=1')[0];
  assert.ok(tp.t - firstHit.t >= 1950, 'the server saw the third party wait');
  assert.ok(own.t - firstHit.t < 1000);
});

test('services come from URL origins: case, default ports, protocol-relative and credentials map to one key; queries never make a new one', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ fetch: async () => new Response('ok'), rateLimit: { requests: 100, perMs: 1000 } });
    const seen = [];
    guard.on('throttle', (e) => seen.push(e));
    for (const u of ['https://Example.COM:443/a?x=1', 'HTTPS://example.com/b?y=2', 'https://user:secret@example.com/c', new URL('https://example.com/d?z'), new Request('https://EXAMPLE.com:443/e'), '//example.com/f']) {
      await guard.fetch(u);
    }
    const snap = guard.snapshot();
    guard.dispose();
    return { services: Object.keys(snap.services).sort(), text: JSON.stringify(snap) + JSON.stringify(seen) };
  });
  assert.deepEqual(out.services, ['http://example.com', 'https://example.com']);
  assert.ok(!out.text.includes('secret') && !out.text.includes('user'), 'credentials leaked into the snapshot');
});

test('idempotencyKey on a Request keeps its headers; a Request that carries Idempotency-Key is retried with that key', async () => {
  const out = await page.evaluate(async () => {
    const calls = [];
    let n = 0;
    const stub = async (input, init) => {
      const r = new Request(input, init);
      calls.push({ auth: r.headers.get('authorization'), key: r.headers.get('idempotency-key'), body: await r.text() });
      return new Response('{}', { status: n++ === 0 ? 503 : 200 });
    };
    const guard = await rg.ResourceGuard.create({ fetch: stub, retry: { baseDelayMs: 1, jitter: 0 } });
    const a = await guard.fetch(new Request('https://api.example/x', { method: 'POST', headers: { Authorization: 'Bearer t' }, body: 'one' }), { idempotencyKey: 'k-1' });
    n = 0;
    const b = await guard.fetch(new Request('https://api.example/y', { method: 'POST', headers: { 'Idempotency-Key': 'own-key', Authorization: 'Bearer u' }, body: 'two' }));
    guard.dispose();
    return { a: a.status, b: b.status, calls };
  });
  assert.equal(out.a, 200);
  assert.equal(out.b, 200);
  assert.deepEqual(out.calls, [
    { auth: 'Bearer t', key: 'k-1', body: 'one' },
    { auth: 'Bearer t', key: 'k-1', body: 'one' },
    { auth: 'Bearer u', key: 'own-key', body: 'two' },
    { auth: 'Bearer u', key: 'own-key', body: 'two' },
  ]);
});

test('a trickling error body holds neither the call nor its bulkhead slot past timeoutMs (or the 2 s body cap without one)', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ categories: { api: { maxConcurrent: 1 } }, retry: { maxRetries: 0 } });
    const t0 = performance.now();
    const slow = await guard.fetch('/api/trickle?every=200&chunks=100', { timeoutMs: 600 });
    const slowMs = performance.now() - t0;
    // The slot is free at once: the next call is not queued behind the trickle.
    const t1 = performance.now();
    await guard.fetch('/api/echo?after-trickle=1');
    const nextMs = performance.now() - t1;
    const t2 = performance.now();
    const capped = await guard.fetch('/api/trickle?every=200&chunks=100');
    const cappedMs = performance.now() - t2;
    const snap = guard.snapshot();
    guard.dispose();
    return { status: slow.status, slowMs, nextMs, cappedStatus: capped.status, cappedMs, inFlight: snap.categories.api.inFlight };
  });
  assert.equal(out.status, 503);
  assert.ok(out.slowMs < 1500, `held ${out.slowMs} ms by a body trickling for 20 s`);
  assert.ok(out.nextMs < 1000, `the next call waited ${out.nextMs} ms for the slot`);
  assert.equal(out.cappedStatus, 503);
  assert.ok(out.cappedMs >= 1900 && out.cappedMs < 3500, `no-timeout body read took ${out.cappedMs} ms`);
  assert.equal(out.inFlight, 0);
});

test("the caller's deadline ending an attempt never opens the breaker; a per-attempt timeout does", async () => {
  const out = await page.evaluate(async (third) => {
    const guard = await rg.ResourceGuard.create({ retry: { maxRetries: 0 }, breaker: { failureThreshold: 1, resetTimeoutMs: 60000 } });
    const codes = [];
    for (let i = 0; i < 3; i++) {
      try { await guard.fetch(`/api/echo?delay=800&deadline=${i}`, { deadlineMs: 150 }); } catch (e) { codes.push(`${e.code}:${e.details.kind}`); }
    }
    const own = location.origin;
    const afterDeadlines = guard.snapshot().services[own].breaker;
    try { await guard.fetch(`${third}/api/echo?delay=800`, { timeoutMs: 150 }); } catch (e) { codes.push(`${e.code}:${e.details.kind}`); }
    const afterTimeout = guard.snapshot().services[third].breaker;
    const ok = (await guard.fetch('/api/echo?still-closed=1')).status;
    guard.dispose();
    return { codes, afterDeadlines, afterTimeout, ok };
  }, third);
  assert.deepEqual(out.codes, ['ERR_TIMEOUT:deadline', 'ERR_TIMEOUT:deadline', 'ERR_TIMEOUT:deadline', 'ERR_TIMEOUT:attempt']);
  assert.equal(out.afterDeadlines, 'closed');
  assert.equal(out.afterTimeout, 'open');
  assert.equal(out.ok, 200);
});

test('a JSON error code reaches details.serverCode', async () => {
  await script('/api/quota', [{ status: 429, headers: { 'Retry-After': '3600' }, body: { error: { code: 'QUOTA_EXCEEDED', retryable: true } } }]);
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create();
    try {
      await guard.fetch('/api/quota');
      return 'resolved';
    } catch (e) {
      return { code: e.code, serverCode: e.details.serverCode, status: e.details.status, retryAfterMs: e.details.retryAfterMs };
    } finally {
      guard.dispose();
    }
  });
  assert.deepEqual(out, { code: 'ERR_RETRY_AFTER_TOO_LONG', serverCode: 'QUOTA_EXCEEDED', status: 429, retryAfterMs: 3600000 });
});

test('snapshot() after dispose() keeps its shape, with disposed: true and nothing live', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ rateLimit: { requests: 1, perMs: 60000 } });
    await guard.fetch('/api/echo?snap=1');
    const waiting = guard.fetch('/api/echo?snap=2').catch((e) => e.code);
    const before = guard.snapshot();
    guard.dispose();
    const s = guard.snapshot();
    return { before: before.disposed, code: await waiting, disposed: s.disposed, live: s.liveTickets, queued: s.categories.api.queued.normal, sent: s.categories.api.counters.sent, uploads: s.uploads, hasServices: typeof s.services === 'object' };
  });
  assert.deepEqual(out, { before: false, code: 'ERR_DISPOSED', disposed: true, live: 0, queued: 0, sent: 1, uploads: {}, hasServices: true });
});

test('without AbortSignal.any the fallback links signals: timeouts and aborts still work and free their tickets', async () => {
  const p2 = await browser.context.newPage();
  await p2.addInitScript(() => { delete AbortSignal.any; });
  await p2.goto(`${server.url}/fixtures/blank.html`);
  await p2.waitForFunction(() => document.body.dataset.ready === 'true');
  const out = await p2.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ retry: { maxRetries: 0 } });
    const ctrl = new AbortController();
    const r = [];
    r.push(await guard.fetch('/api/echo?delay=800', { timeoutMs: 150, signal: ctrl.signal }).catch((e) => `${e.code}:${e.details.kind}`));
    const p = guard.fetch('/api/echo?delay=800', { timeoutMs: 5000, signal: ctrl.signal }).catch((e) => e.name);
    setTimeout(() => ctrl.abort(new DOMException('user left', 'AbortError')), 100);
    r.push(await p);
    r.push((await guard.fetch('/api/echo?fallback-ok=1', { timeoutMs: 5000, signal: new AbortController().signal })).status);
    const live = guard.snapshot().liveTickets;
    guard.dispose();
    return { r, live, hasAny: typeof AbortSignal.any };
  });
  await p2.close();
  assert.equal(out.hasAny, 'undefined');
  assert.deepEqual(out.r, ['ERR_TIMEOUT:attempt', 'AbortError', 200]);
  assert.equal(out.live, 0);
});
