// The breach reporter's wiring in Chromium (issue 12): a report response's raw Retry-After is read
// by the core's one parser, and reports kept in localStorage across page loads are keyed per
// report endpoint and merged on every hide, never overwritten.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

let server, browser, page;
const setMode = (mode) => fetch(`${server.url}/api/mode`, { method: 'POST', body: JSON.stringify(mode) });
const posts = () => server.state.reports.length;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  server = await startServer();
  browser = await launch();
  page = await browser.page(`${server.url}/fixtures/blank.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
});
beforeEach(async () => {
  await setMode({ reportStatus: 0, reportRetryAfter: 0 });
  await page.evaluate(() => {
    localStorage.clear();
    // Options for a guard whose `api` window is one request a minute with a one-slot queue.
    window.opts = (endpoint) => ({
      rateLimit: { requests: 1, perMs: 60000 }, queue: { maxDepth: 1 },
      categories: { probe: { requests: 100, perMs: 1000 } },
      breaker: { failureThreshold: 1 }, retry: { maxRetries: 0 },
      report: { endpoint, flushIntervalMs: 100 },
    });
    // A shed breach: the window is used up, a normal request waits in the queue, and a system
    // request takes its place (it then waits for the window; dispose rejects it).
    window.shed = async (guard, tag) => {
      await guard.fetch(`/api/echo?shed=${tag}`);
      const waiting = guard.fetch(`/api/echo?shed=${tag}-2`).then(() => 'sent', (e) => e.code);
      guard.fetch(`/api/echo?shed=${tag}-3`, { priority: 'system' }).catch(() => {});
      return waiting;
    };
    // A breaker breach: one 500 opens the breaker of this origin (its own category: no wait).
    window.trip = (guard) => guard.fetch('/api/status?code=500', { category: 'probe' });
    window.kept = () => Object.fromEntries(Object.keys(localStorage).filter((k) => k.startsWith('resource-guard:')).map((k) => [k, JSON.parse(localStorage.getItem(k)).map((r) => `${r.type}:${r.body.count}`).sort()]));
  });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test("a report response's Retry-After is read by the core: '1e3' is malformed (computed backoff), '600' pauses reporting", async () => {
  await setMode({ reportStatus: 503, reportRetryAfter: '1e3' });
  const before = posts();
  const shedCode = await page.evaluate(async () => {
    window.g = await rg.ResourceGuard.create(opts('/reports'));
    return shed(g, 'ra');
  });
  assert.equal(shedCode, 'ERR_SHED');
  // The first batch fails at once; a malformed hint means the computed backoff (1 s, then 2 s),
  // not a 1000 s pause (the removed JS parser read '1e3' as 1000 seconds).
  for (let i = 0; i < 60 && posts() - before < 2; i++) await sleep(100);
  assert.ok(posts() - before >= 2, `report POSTs: ${posts() - before}`);
  await setMode({ reportStatus: 503, reportRetryAfter: '600' });
  const at = posts();
  for (let i = 0; i < 60 && posts() === at; i++) await sleep(100);
  const paused = posts();
  await sleep(4500); // the computed backoff (at most 4 s by now) would have retried
  assert.equal(posts(), paused, 'no report POST while the server asked for 600 s');
  const snap = await page.evaluate(() => { const s = g.snapshot().reports; g.dispose(); return s; });
  assert.ok(snap.pending >= 1, 'the failed batch waits, it is not lost');
});

test('reports kept for the next page load are keyed per endpoint and merged by every hide', async () => {
  await setMode({ reportStatus: 503, reportRetryAfter: '600' }); // nothing gets through: all is kept
  const keyA = `resource-guard:reports:${server.url}/reports`;
  const keyB = `resource-guard:reports:${server.url}/reports?b=1`;
  const out = await page.evaluate(async () => {
    const a = await rg.ResourceGuard.create(opts('/reports'));
    const b = await rg.ResourceGuard.create(opts('/reports?b=1'));
    const received = async () => (await (await fetch('/api/stats')).json()).reports;
    const n0 = await received();
    await shed(a, 'a1');
    await shed(b, 'b1');
    // Both batches reached the server and failed with the 600 s hint: a hide cannot send them.
    const failed = (g) => g.snapshot().reports.pending >= 1;
    for (let i = 0; i < 50 && !((await received()) >= n0 + 2 && failed(a) && failed(b)); i++) await new Promise((r) => setTimeout(r, 50));
    dispatchEvent(new Event('pagehide'));
    const afterFirst = kept();
    await trip(a); // a breaker breach after the first hide; b has nothing new
    dispatchEvent(new Event('pagehide'));
    const afterSecond = kept();
    const pending = [a.snapshot().reports.pending, b.snapshot().reports.pending];
    a.dispose();
    b.dispose();
    return { afterFirst, afterSecond, pending, legacy: localStorage.getItem('resource-guard:reports') };
  });
  assert.deepEqual(out.afterFirst, { [keyA]: ['resource-guard-shed:1'], [keyB]: ['resource-guard-shed:1'] });
  assert.deepEqual(out.afterSecond, {
    [keyA]: ['resource-guard-breaker:1', 'resource-guard-shed:1'], // merged, not overwritten
    [keyB]: ['resource-guard-shed:1'], // another endpoint, another key; kept by b's empty hide
  });
  assert.deepEqual(out.pending, [0, 0]);
  assert.equal(out.legacy, null, 'no page-wide key any more');

  // The next page load: each guard takes back its own endpoint's reports, and sends them.
  await setMode({ reportStatus: 0, reportRetryAfter: 0 });
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const before = posts();
  const next = await page.evaluate(async () => {
    const a = await rg.ResourceGuard.create({ report: { endpoint: '/reports', flushIntervalMs: 100 } });
    const pending = a.snapshot().reports.pending;
    const left = Object.keys(localStorage).filter((k) => k.startsWith('resource-guard:'));
    for (let i = 0; i < 50 && a.snapshot().reports.sent < 2; i++) await new Promise((r) => setTimeout(r, 50));
    const sent = a.snapshot().reports.sent;
    a.dispose();
    return { pending, left, sent };
  });
  assert.equal(next.pending, 2);
  assert.deepEqual(next.left, [keyB], "the other endpoint's reports stay for its own guard");
  assert.equal(next.sent, 2);
  const types = server.state.reports.slice(before).flatMap((r) => r.items.map((i) => i.type)).sort();
  assert.deepEqual(types, ['resource-guard-breaker', 'resource-guard-shed']);
});
