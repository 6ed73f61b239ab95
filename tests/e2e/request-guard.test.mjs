// The request guard against the local backend in headless Chromium: the throttle holds at the
// window boundary, Retry-After (seconds and HTTP-date) is honoured, breakers open, fail fast,
// half-open and close, and an abort while queued rejects at once and frees the slot.
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

const script = (path, responses) =>
  fetch(`${server.url}/api/script`, { method: 'POST', body: JSON.stringify({ path, responses }) });
const hits = (path) => server.state.log.filter((e) => e.path === path);

test('300 requests at once under 60 per second: never more than 60 starts in any 1 s window, done close to the ideal 4 s', async () => {
  const out = await page.evaluate(async () => {
    const starts = [];
    const guard = await rg.ResourceGuard.create({ fetch: recordingFetch(starts), rateLimit: { requests: 60, perMs: 1000 } });
    const t0 = performance.now();
    const res = await Promise.all(Array.from({ length: 300 }, (_, i) => guard.fetch(`/api/echo?burst=${i}`).then((r) => r.status)));
    const elapsed = performance.now() - t0;
    guard.dispose();
    return { ok: res.every((s) => s === 200), max: maxInWindow(starts, 1000), lastStart: Math.max(...starts) - t0, elapsed, n: starts.length };
  });
  assert.equal(out.ok, true);
  assert.equal(out.n, 300);
  assert.ok(out.max <= 60, `max starts in a 1 s window: ${out.max}`);
  // The ideal is 4000 ms (60 at 0, 1000, 2000, 3000, 4000); earlier would break the limit.
  assert.ok(out.lastStart >= 3995, `last start at ${out.lastStart} ms`);
  assert.ok(out.elapsed < 4000 + 1500, `completed in ${out.elapsed} ms`);
  assert.equal(hits('/api/echo').filter((e) => e.query.startsWith('?burst=')).length, 300);
});

test('1 request, then 119 at 900 ms: the window boundary lets no second burst through', async () => {
  const out = await page.evaluate(async () => {
    const starts = [];
    const guard = await rg.ResourceGuard.create({ fetch: recordingFetch(starts), rateLimit: { requests: 60, perMs: 1000 } });
    const t0 = performance.now();
    await guard.fetch('/api/echo?edge=first');
    await new Promise((r) => setTimeout(r, 900 - (performance.now() - t0)));
    await Promise.all(Array.from({ length: 119 }, (_, i) => guard.fetch(`/api/echo?edge=${i}`)));
    guard.dispose();
    return { max: maxInWindow(starts, 1000), n: starts.length };
  });
  assert.equal(out.n, 120);
  assert.ok(out.max <= 60, `max starts in a 1 s window: ${out.max}`);
});

test('a 429 with Retry-After: 1 is retried no earlier than 1 s later, and the whole category waits', async () => {
  await script('/api/ra', [{ status: 429, headers: { 'Retry-After': '1' } }]);
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ rateLimit: { requests: 100, perMs: 1000 }, retry: { baseDelayMs: 10, jitter: 0 } });
    const events = [];
    guard.on('retry', (e) => events.push(e));
    const first = guard.fetch('/api/ra?n=1');
    await new Promise((r) => setTimeout(r, 100));
    // Issued while the category is blocked by the hint: it must wait too, not collect its own 429.
    const second = guard.fetch('/api/echo?during-block=1');
    const [a, b] = await Promise.all([first, second]);
    guard.dispose();
    return { a: a.status, b: b.status, events };
  });
  assert.equal(out.a, 200);
  assert.equal(out.b, 200);
  const tries = hits('/api/ra');
  assert.equal(tries.length, 2);
  const gap = tries[1].t - tries[0].t;
  assert.ok(gap >= 990, `retried after ${gap} ms`);
  const blocked = hits('/api/echo').find((e) => e.query === '?during-block=1');
  assert.ok(blocked.t - tries[0].t >= 990, `the second request went ${blocked.t - tries[0].t} ms after the 429`);
  assert.deepEqual(out.events.map((e) => [e.source, e.delayMs, e.status]), [['retryAfter', 1000, 429]]);
});

for (const form of ['imf', 'rfc850', 'asctime']) {
  test(`a 503 with an HTTP-date Retry-After (${form}) is honoured`, async () => {
    await script(`/api/date-${form}`, [{ status: 503, retryAfterDateMs: 2000, dateForm: form }]);
    const status = await page.evaluate(async (form) => {
      const guard = await rg.ResourceGuard.create({ retry: { baseDelayMs: 10, jitter: 0 } });
      const r = await guard.fetch(`/api/date-${form}`);
      guard.dispose();
      return r.status;
    }, form);
    assert.equal(status, 200);
    const tries = hits(`/api/date-${form}`);
    assert.equal(tries.length, 2);
    // The date has 1 s resolution: 2 s ahead means a wait in (1 s, 2 s].
    const gap = tries[1].t - tries[0].t;
    assert.ok(gap >= 990 && gap <= 2600, `${form}: retried after ${gap} ms`);
  });
}

test('a Retry-After above maxRetryAfterMs gives up with the hint in the error', async () => {
  await script('/api/too-long', [{ status: 429, headers: { 'Retry-After': '120' } }]);
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ retry: { maxRetryAfterMs: 5000 } });
    try {
      await guard.fetch('/api/too-long');
      return { ok: true };
    } catch (e) {
      return { code: e.code, retryAfterMs: e.details.retryAfterMs, status: e.details.status };
    } finally {
      guard.dispose();
    }
  });
  assert.deepEqual(out, { code: 'ERR_RETRY_AFTER_TOO_LONG', retryAfterMs: 120000, status: 429 });
});

test('a JSON body with retryable:false stops retries and the response is returned as is', async () => {
  await script('/api/no-retry', [{ status: 503, body: { retryable: false, code: 'MAINTENANCE' } }]);
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ retry: { baseDelayMs: 10 } });
    const r = await guard.fetch('/api/no-retry');
    const body = await r.json();
    guard.dispose();
    return { status: r.status, code: body.code };
  });
  assert.deepEqual(out, { status: 503, code: 'MAINTENANCE' });
  assert.equal(hits('/api/no-retry').length, 1);
});

test('a breaker opens after consecutive failures, fails fast, half-opens and closes', async () => {
  await script('/api/flaky', [{ status: 500 }, { status: 500 }]);
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ retry: { maxRetries: 0 }, breaker: { failureThreshold: 2, resetTimeoutMs: 400 } });
    const transitions = [];
    guard.on('breaker', (e) => transitions.push(`${e.from}->${e.to}`));
    const s1 = (await guard.fetch('/api/flaky?i=1')).status;
    const s2 = (await guard.fetch('/api/flaky?i=2')).status;
    let fastFail;
    try {
      await guard.fetch('/api/flaky?i=3');
    } catch (e) {
      fastFail = { code: e.code, retryInMs: e.details.retryInMs };
    }
    const snapOpen = guard.snapshot().services[location.origin].breaker;
    await new Promise((r) => setTimeout(r, 450));
    const s4 = (await guard.fetch('/api/flaky?i=4')).status;
    const snapClosed = guard.snapshot().services[location.origin].breaker;
    guard.dispose();
    return { s1, s2, fastFail, s4, transitions, snapOpen, snapClosed };
  });
  assert.equal(out.s1, 500);
  assert.equal(out.s2, 500);
  assert.equal(out.fastFail.code, 'ERR_CIRCUIT_OPEN');
  assert.ok(out.fastFail.retryInMs > 0 && out.fastFail.retryInMs <= 400);
  assert.equal(out.s4, 200);
  assert.equal(out.snapOpen, 'open');
  assert.equal(out.snapClosed, 'closed');
  assert.deepEqual(out.transitions, ['closed->open', 'open->halfOpen', 'halfOpen->closed']);
  // The fast failure never reached the network.
  assert.deepEqual(hits('/api/flaky').map((e) => e.query), ['?i=1', '?i=2', '?i=4']);
});

test('an abort while queued rejects at once with signal.reason and frees the queue slot', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ rateLimit: { requests: 1, perMs: 60000 }, queue: { maxDepth: 1 } });
    await guard.fetch('/api/echo?abort=first');
    const ctrl = new AbortController();
    const queued = guard.fetch('/api/echo?abort=queued', { signal: ctrl.signal });
    let full;
    try {
      await guard.fetch('/api/echo?abort=overflow');
    } catch (e) {
      full = e.code;
    }
    const depthBefore = guard.snapshot().categories.api.queued.normal;
    const t0 = performance.now();
    ctrl.abort(new Error('user went away'));
    let reason;
    try {
      await queued;
    } catch (e) {
      reason = e.message;
    }
    const rejectMs = performance.now() - t0;
    const depthAfter = guard.snapshot().categories.api.queued.normal;
    // The freed slot takes a new request.
    const again = guard.fetch('/api/echo?abort=again').catch((e) => e.code);
    const depthAgain = guard.snapshot().categories.api.queued.normal;
    guard.dispose();
    return { full, reason, rejectMs, depthBefore, depthAfter, depthAgain, again: await again };
  });
  assert.equal(out.full, 'ERR_QUEUE_FULL');
  assert.equal(out.reason, 'user went away');
  assert.ok(out.rejectMs < 50, `rejected after ${out.rejectMs} ms`);
  assert.deepEqual([out.depthBefore, out.depthAfter, out.depthAgain], [1, 0, 1]);
  assert.equal(out.again, 'ERR_DISPOSED');
  assert.equal(hits('/api/echo').filter((e) => e.query.startsWith('?abort=')).length, 1);
});

test('POST is retried only with an Idempotency-Key, which stays the same across attempts', async () => {
  await script('/api/post-nokey', [{ status: 503 }]);
  await script('/api/post-key', [{ status: 503 }]);
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ retry: { baseDelayMs: 10, jitter: 0 } });
    const a = (await guard.fetch('/api/post-nokey', { method: 'POST', body: 'x' })).status;
    const b = (await guard.fetch('/api/post-key', { method: 'POST', body: 'x', idempotencyKey: true })).status;
    guard.dispose();
    return { a, b };
  });
  assert.deepEqual(out, { a: 503, b: 200 });
  assert.equal(hits('/api/post-nokey').length, 1);
  const keyed = hits('/api/post-key');
  assert.equal(keyed.length, 2);
  assert.match(keyed[0].headers['idempotency-key'], /^[0-9a-f-]{36}$/);
  assert.equal(keyed[0].headers['idempotency-key'], keyed[1].headers['idempotency-key']);
});

test('a Request object with a body is cloned per attempt, so a retry sends the same body', async () => {
  await script('/api/req-body', [{ status: 503 }]);
  const status = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ retry: { baseDelayMs: 10, jitter: 0 } });
    const req = new Request('/api/req-body', { method: 'PUT', body: 'payload-123' });
    const r = await guard.fetch(req);
    guard.dispose();
    return r.status;
  });
  assert.equal(status, 200);
  const tries = hits('/api/req-body');
  assert.equal(tries.length, 2);
  assert.equal(tries[1].method, 'PUT');
});

test('timeoutMs aborts a slow attempt and retries it; deadlineMs bounds the whole call', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ retry: { maxRetries: 1, baseDelayMs: 10, jitter: 0 } });
    const t0 = performance.now();
    let attempt;
    try {
      await guard.fetch('/api/slow?delay=400&tag=timeout', { timeoutMs: 100 });
    } catch (e) {
      attempt = { code: e.code, kind: e.details.kind, ms: performance.now() - t0 };
    }
    const t1 = performance.now();
    let deadline;
    try {
      await guard.fetch('/api/slow?delay=400&tag=deadline', { timeoutMs: 1000, deadlineMs: 150 });
    } catch (e) {
      deadline = { code: e.code, kind: e.details.kind, ms: performance.now() - t1 };
    }
    guard.dispose();
    return { attempt, deadline };
  });
  assert.equal(out.attempt.code, 'ERR_TIMEOUT');
  assert.equal(out.attempt.kind, 'attempt');
  assert.ok(out.attempt.ms >= 200 && out.attempt.ms < 400, `two 100 ms attempts took ${out.attempt.ms} ms`);
  assert.equal(server.state.inFlight.get('timeout').total, 2);
  assert.equal(out.deadline.code, 'ERR_TIMEOUT');
  assert.ok(out.deadline.ms >= 140 && out.deadline.ms < 400, `deadline after ${out.deadline.ms} ms`);
});

test('RateLimit and X-RateLimit headers pace the category before a 429 happens', async () => {
  await script('/api/paced', [{ status: 200, headers: { RateLimit: '"default";r=0;t=1' } }]);
  await script('/api/xpaced', [{ status: 200, headers: { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '1' } }]);
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ rateLimit: { requests: 100, perMs: 1000 } });
    const throttles = [];
    guard.on('throttle', (e) => throttles.push(e.reason));
    const gaps = [];
    for (const path of ['/api/paced', '/api/xpaced']) {
      const t0 = performance.now();
      await guard.fetch(path);
      await guard.fetch(`/api/echo?after=${path}`);
      gaps.push(performance.now() - t0);
    }
    guard.dispose();
    return { gaps, throttles };
  });
  for (const gap of out.gaps) assert.ok(gap >= 950 && gap < 2500, `the next request waited ${gap} ms`);
  assert.deepEqual(out.throttles, ['paced', 'paced']);
  assert.equal(hits('/api/echo').filter((e) => e.query.startsWith('?after=')).length, 2);
});
