// Bulkheads and the job runner in Chromium against the local backend: a category's concurrency
// cap holds on the wire, a job that ignores its signal still frees its slot at the timeout, and
// system jobs overtake queued low ones.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

let server, browser, page;
before(async () => {
  server = await startServer();
  browser = await launch();
  page = await browser.page(`${server.url}/fixtures/blank.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('with maxConcurrent: 2 the backend never sees more than 2 requests of that category at once', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ categories: { slow: { maxConcurrent: 2, requests: 1000, perMs: 1000 } } });
    let maxSnap = 0;
    const timer = setInterval(() => { maxSnap = Math.max(maxSnap, guard.snapshot().categories.slow.inFlight); }, 5);
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => guard.fetch(`/api/slow?tag=bulkhead&delay=20&i=${i}`, { category: 'slow' }).then((r) => r.status)));
    clearInterval(timer);
    const snap = guard.snapshot().categories.slow;
    guard.dispose();
    return { ok: all.every((s) => s === 200), maxSnap, inFlight: snap.inFlight, completed: snap.counters.completed };
  });
  assert.equal(out.ok, true);
  const seen = server.state.inFlight.get('bulkhead');
  assert.equal(seen.total, 50);
  assert.ok(seen.max <= 2, `the backend saw ${seen.max} at once`);
  assert.equal(seen.max, 2, 'the cap is used, not just respected');
  assert.ok(out.maxSnap <= 2);
  assert.equal(out.inFlight, 0);
  assert.equal(out.completed, 50);
});

test('a job that ignores its signal still frees its slot at the timeout, and rejects ERR_TIMEOUT', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ jobs: { maxConcurrent: 1, timeoutMs: 150 } });
    let sawAbort = false;
    const t0 = performance.now();
    const stuck = guard.run((signal) => {
      signal.addEventListener('abort', () => { sawAbort = true; });
      return new Promise(() => {}); // never settles, ignores the signal
    });
    const next = guard.run(async () => performance.now() - t0);
    let code, kind;
    try {
      await stuck;
    } catch (e) {
      code = e.code;
      kind = e.details.kind;
    }
    const startedAt = await next;
    const snap = guard.snapshot().categories.jobs;
    guard.dispose();
    return { code, kind, sawAbort, startedAt, inFlight: snap.inFlight, timedOut: snap.counters.timedOut };
  });
  assert.equal(out.code, 'ERR_TIMEOUT');
  assert.equal(out.kind, 'job');
  assert.equal(out.sawAbort, true, 'the task signal fired');
  assert.ok(out.startedAt >= 140, `the queued job started at ${out.startedAt} ms, after the timeout freed the slot`);
  assert.equal(out.inFlight, 0);
  assert.equal(out.timedOut, 1);
});

test('system jobs overtake queued low ones; an aborted queued job never runs', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ jobs: { maxConcurrent: 1 } });
    const order = [];
    let release;
    const gate = guard.run(() => new Promise((r) => (release = r)));
    const lows = [1, 2, 3].map((i) => guard.run(async () => order.push(`low${i}`), { priority: 'low' }));
    const ctrl = new AbortController();
    const aborted = guard.run(async () => order.push('aborted'), { priority: 'high', signal: ctrl.signal }).catch((e) => e.message);
    const sys = guard.run(async () => order.push('system'), { priority: 'system' });
    const queued = guard.snapshot().categories.jobs.queued;
    ctrl.abort(new Error('not needed'));
    await new Promise((r) => setTimeout(r, 0));
    release();
    await Promise.all([gate, sys, ...lows]);
    const snap = guard.snapshot().categories.jobs;
    guard.dispose();
    return { order, queued, aborted: await aborted, inFlight: snap.inFlight };
  });
  assert.deepEqual(out.order, ['system', 'low1', 'low2', 'low3']);
  assert.deepEqual(out.queued, { system: 1, high: 1, normal: 0, low: 3 });
  assert.equal(out.aborted, 'not needed');
  assert.equal(out.inFlight, 0);
});

test('dispose aborts running jobs and rejects queued ones with ERR_DISPOSED', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ jobs: { maxConcurrent: 1 } });
    let aborted = false;
    const running = guard.run((signal) => new Promise((_, reject) => signal.addEventListener('abort', () => { aborted = true; reject(signal.reason); })));
    const queued = guard.run(async () => 'ran');
    guard.dispose();
    const codes = await Promise.all([running, queued].map((p) => p.then(() => 'resolved', (e) => e.code)));
    return { codes, aborted };
  });
  assert.deepEqual(out.codes, ['ERR_DISPOSED', 'ERR_DISPOSED']);
  assert.equal(out.aborted, true);
});
