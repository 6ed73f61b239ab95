// The durable upload engine in Chromium against the local upload sink (which dedupes by
// Idempotency-Key and checks Content-Digest): the happy path, 413 re-chunking that is learned and
// remembered, exactly-once delivery under seeded chaos with two page reloads mid-upload, a poison
// record that ends as a dead letter, and two tabs that never send the same queue at once.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

let server, browser, page;
const PAGE = () => `${server.url}/fixtures/blank.html`;
const api = (path, body) =>
  fetch(server.url + path, body === undefined ? undefined : { method: 'POST', body: JSON.stringify(body) }).then((r) => r.json());
const uploadLog = (since = 0) => server.state.log.filter((e) => e.path === '/upload' && e.seq > since);

// Every page of these tests builds its guard like this: a throttle that lets the test run fast
// and a breaker that the chaos does not trip (both are covered elsewhere).
const GUARD = { categories: { upload: { requests: 1000, perMs: 1000 } }, breaker: { failureThreshold: 1000 } };

before(async () => {
  server = await startServer();
  browser = await launch();
  page = await browser.page(PAGE());
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
});
after(async () => {
  await browser?.close();
  await server?.close();
});
beforeEach(async () => {
  await api('/api/reset', {});
});

test('happy path: records arrive once, with a valid Content-Digest and one key per batch', async () => {
  const out = await page.evaluate(async (GUARD) => {
    const guard = await rg.ResourceGuard.create(GUARD);
    const up = guard.uploader({ endpoint: '/upload', name: 'happy', maxBatchItems: 40 });
    const batches = [];
    let progress = 0;
    up.on('batch', (e) => batches.push(e));
    up.on('progress', () => progress++);
    await up.enqueue(Array.from({ length: 100 }, (_, i) => ({ id: i, text: `record ${i} é ✓ 😀` })));
    await up.flush();
    const stats = up.stats();
    guard.dispose();
    return { batches, progress, stats };
  }, GUARD);
  const st = await api('/api/uploads');
  assert.equal(st.distinct, 100);
  assert.equal(st.duplicates, 0);
  assert.equal(st.digestMismatch, 0, 'the server recomputed every Content-Digest over the exact bytes');
  assert.deepEqual(st.ids.map(Number).sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  // Batches run concurrently, so they may finish in any order.
  assert.deepEqual(out.batches.map((b) => b.records).sort((a, b) => b - a), [40, 40, 20], 'maxBatchItems holds');
  assert.ok(out.batches.every((b) => b.outcome === 'delivered' && b.status === 200));
  const sent = uploadLog();
  assert.equal(sent.length, 3);
  for (const e of sent) {
    assert.match(e.headers['idempotency-key'], /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(e.headers['content-digest'], /^sha-256=:[A-Za-z0-9+/]+=*:$/);
    assert.equal(e.headers['content-type'], 'application/json');
  }
  assert.equal(new Set(sent.map((e) => e.headers['idempotency-key'])).size, 3, 'one key per batch');
  assert.deepEqual(sent.map((e) => e.headers['idempotency-key']), out.batches.map((b) => b.key));
  assert.equal(out.progress, 3);
  assert.equal(out.stats.sentRecords, 100);
  assert.equal(out.stats.pendingRecords, 0);
  assert.equal(out.stats.sender, true);
});

test('invalid options and unserialisable records reject with ERR_INVALID_OPTION; a failed enqueue stores nothing', async () => {
  const out = await page.evaluate(async (GUARD) => {
    const guard = await rg.ResourceGuard.create(GUARD);
    await guard.preload('uploader'); // loaded: uploader() validates synchronously (lazy.test.mjs covers before)
    const err = (fn) => { try { fn(); return null; } catch (e) { return { code: e.code, path: e.details.path, rg: rg.isResourceGuardError(e) }; } };
    const bad = {
      batchBytes: err(() => guard.uploader({ endpoint: '/upload', maxBatchBytes: 10 })),
      items: err(() => guard.uploader({ endpoint: '/upload', maxBatchItems: 0 })),
      fraction: err(() => guard.uploader({ endpoint: '/upload', concurrency: 1.5 })),
      delays: err(() => guard.uploader({ endpoint: '/upload', baseDelayMs: 500, maxDelayMs: 100 })),
      endpoint: err(() => guard.uploader({ endpoint: 42 })),
      unknown: err(() => guard.uploader({ endpoint: '/upload', maxBatchSize: 1 })),
    };
    const up = guard.uploader({ endpoint: '/upload', name: 'invalid' });
    const cyclic = { id: 1 };
    cyclic.self = cyclic;
    let enqueueErr;
    try {
      await up.enqueue([{ id: 'ok-1' }, { id: 'ok-2' }, cyclic]);
    } catch (e) {
      enqueueErr = { code: e.code, path: e.details.path };
    }
    let fnErr;
    try {
      await up.enqueue([{ id: 'ok-3' }, () => 1]);
    } catch (e) {
      fnErr = { code: e.code, path: e.details.path };
    }
    await up.flush(); // nothing stored: resolves at once
    guard.dispose();
    return { bad, enqueueErr, fnErr };
  }, GUARD);
  const opt = (path) => ({ code: 'ERR_INVALID_OPTION', path, rg: true });
  assert.deepEqual(out.bad.batchBytes, opt('uploader.maxBatchBytes'));
  assert.deepEqual(out.bad.items, opt('uploader.maxBatchItems'));
  assert.deepEqual(out.bad.fraction, opt('uploader.concurrency'));
  assert.deepEqual(out.bad.delays, opt('uploader.maxDelayMs'));
  assert.deepEqual(out.bad.endpoint, opt('uploader.endpoint'));
  assert.deepEqual(out.bad.unknown, opt('uploader.maxBatchSize'));
  assert.deepEqual(out.enqueueErr, { code: 'ERR_INVALID_OPTION', path: 'records[2]' });
  assert.deepEqual(out.fnErr, { code: 'ERR_INVALID_OPTION', path: 'records[1]' });
  assert.equal(uploadLog().length, 0, 'nothing of a failed enqueue was stored or sent');
});

test('413: batches split in half, the accepted size is learned, stored, and used by a new uploader', async () => {
  await api('/api/mode', { max413Bytes: 3000 });
  const first = await page.evaluate(async ({ GUARD, n }) => {
    const guard = await rg.ResourceGuard.create(GUARD);
    const up = guard.uploader({ endpoint: '/upload', name: 'chunk', maxBatchBytes: 16384 });
    const outcomes = [];
    up.on('batch', (e) => outcomes.push([e.outcome, e.status, e.bytes]));
    await up.enqueue(Array.from({ length: n }, (_, i) => ({ id: i, pad: 'x'.repeat(180) }))); // ~200 B each
    await up.flush();
    const stats = up.stats();
    up.close();
    guard.dispose();
    return { outcomes, stats };
  }, { GUARD, n: 100 });
  assert.ok(first.outcomes.some(([o, s]) => o === 'split' && s === 413), 'a 413 split the first batch');
  assert.ok(first.stats.learnedMaxBytes <= 3000, `learned ${first.stats.learnedMaxBytes}`);
  assert.ok(first.outcomes.filter(([o]) => o === 'delivered').every(([, , b]) => b <= 3000));
  let st = await api('/api/uploads');
  assert.equal(st.distinct, 100);
  assert.equal(st.duplicates, 0);
  assert.equal(st.digestMismatch, 0);

  // A new page, guard and uploader start from the stored limit: no 413 at all.
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const since = server.state.seq;
  const second = await page.evaluate(async ({ GUARD }) => {
    const guard = await rg.ResourceGuard.create(GUARD);
    const up = guard.uploader({ endpoint: '/upload', name: 'chunk', maxBatchBytes: 16384 });
    const statuses = [];
    up.on('batch', (e) => statuses.push(e.status));
    await up.enqueue(Array.from({ length: 100 }, (_, i) => ({ id: 1000 + i, pad: 'x'.repeat(180) })));
    await up.flush();
    const stats = up.stats();
    guard.dispose();
    return { statuses, stats };
  }, { GUARD });
  assert.equal(second.stats.learnedMaxBytes, first.stats.learnedMaxBytes, 'the learned size survived the reload');
  assert.ok(second.statuses.length > 0 && second.statuses.every((s) => s === 200), `statuses ${second.statuses}`);
  assert.ok(uploadLog(since).length >= Math.ceil((100 * 200) / 3000), 'batches were planned small from the start');
  st = await api('/api/uploads');
  assert.equal(st.distinct, 200);
  assert.equal(st.duplicates, 0);
});


const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Polls the in-process backend (a condition, not a timing rule). */
async function until(cond, what, ms = 30000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
const distinct = () => server.state.uploads.records.size;

/** Creates a guard and an uploader on `p` (window.guard, window.up, window.batches). */
const startUploader = (p, opts, guard = GUARD) =>
  p.evaluate(async ({ opts, guard }) => {
    const g = await rg.ResourceGuard.create(guard);
    window.guard = g;
    window.up = g.uploader(opts);
    const list = (window.batches = []);
    up.on('batch', (e) => list.push({ ...e, t: Date.now() }));
  }, { opts, guard });
/** Starts up.flush() without waiting for it (window.flushed). */
const startFlush = (p) => p.evaluate(() => { window.flushed = up.flush().then(() => 'drained', (e) => e.code); });

test('chaos: 2,000 records through 503/429/413/drops and two reloads arrive exactly once; the poison record is a dead letter', async () => {
  await api('/api/mode', { max413Bytes: 8000, chaos: 0.4, seed: 20240611 });
  const N = 2000;
  const OPTS = { endpoint: '/upload', name: 'chaos', maxBatchBytes: 65536, maxAttempts: 40, baseDelayMs: 20, maxDelayMs: 250 };
  const t0 = Date.now();
  await startUploader(page, OPTS);
  const enq = await page.evaluate(async (N) => {
    const records = Array.from({ length: N }, (_, i) => ({ id: i, kind: 'event', at: 1718000000000 + i, pad: 'p'.repeat(150) }));
    records.splice(N / 2, 0, { id: 'poison', pad: 'X'.repeat(12000) }); // alone above the 8000 B limit
    const t = performance.now();
    await up.enqueue(records);
    return performance.now() - t;
  }, N);

  // Reload twice while batches are in flight or backing off; each new page resumes the same queue.
  await until(() => distinct() >= 400, '400 records');
  const atFirst = distinct();
  const seen = await page.evaluate(() => batches);
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  await startUploader(page, OPTS);
  await startFlush(page);
  await until(() => distinct() >= 1200, '1200 records');
  const atSecond = distinct();
  seen.push(...(await page.evaluate(() => batches)));
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  await startUploader(page, OPTS);
  await startFlush(page);
  const out = await page.evaluate(async () => {
    const result = await flushed;
    const dead = await up.deadLetters();
    const stats = up.stats();
    guard.dispose();
    return { result, dead, stats, batches };
  });
  const seconds = (Date.now() - t0) / 1000;

  const st = await api('/api/uploads');
  assert.equal(out.result, 'drained');
  assert.ok(atFirst < N && atSecond < N, `reloads happened mid-upload (at ${atFirst} and ${atSecond} records)`);
  assert.equal(st.distinct, N, 'every record arrived (the poison excepted)');
  assert.equal(st.duplicates, 0, 'none arrived twice');
  assert.equal(st.digestMismatch, 0);
  assert.equal(st.ids.includes('poison'), false);
  assert.equal(out.dead.length, 1);
  assert.equal(out.dead[0].record.id, 'poison');
  assert.equal(out.dead[0].code, 'ERR_PAYLOAD_TOO_LARGE');
  assert.equal(out.dead[0].status, 413);
  // The chaos really happened: every kind of failure was met and survived.
  const log = server.state.log.filter((e) => e.path === '/upload');
  seen.push(...out.batches);
  const statuses = new Set(seen.map((x) => x.status));
  // What the server answered is the truth (a page that reloads loses the events of its last
  // batches): every kind of failure happened and was survived.
  for (const [kind, n] of Object.entries(st.answered)) assert.ok(n > 0, `the server answered ${kind} ${n} times: ${JSON.stringify(st.answered)}`);
  const keys = log.map((e) => e.headers['idempotency-key']);
  assert.ok(keys.length > new Set(keys).size, 'some batches were re-sent under the same key');
  console.log(`# chaos: ${N} records in ${seconds.toFixed(1)} s (${Math.round(N / seconds)} records/s), ${log.length} POSTs, ` +
    `enqueue ${Math.round(enq)} ms, reloads at ${atFirst} and ${atSecond}; outcomes by status ${JSON.stringify(Object.fromEntries([...statuses].map((s) => [s, seen.filter((x) => x.status === s).length])))}`);
  assert.ok(seconds < 60, `took ${seconds} s`);
});

test('two tabs with the same queue: only the lock holder sends, the other enqueues durably and takes over when it closes', async () => {
  const OPTS = { endpoint: '/upload', name: 'tabs', maxBatchItems: 50 };
  // A slow throttle so the upload is still running when tab A closes.
  const SLOW = { ...GUARD, categories: { upload: { requests: 10, perMs: 1000, burst: 1 } } };
  const a = page;
  const b = await browser.context.newPage();
  await b.goto(PAGE());
  await b.waitForFunction(() => document.body.dataset.ready === 'true');
  await startUploader(a, OPTS, SLOW);
  await a.waitForFunction(() => up.stats().sender);
  await startUploader(b, OPTS, SLOW);
  const enqueue = (p, from) => p.evaluate((from) => up.enqueue(Array.from({ length: 1000 }, (_, i) => ({ id: from + i }))), from);
  await Promise.all([enqueue(a, 0), enqueue(b, 1000)]);
  await startFlush(b);
  await until(() => distinct() >= 300, '300 records');
  const before = await b.evaluate(async () => ({ sender: up.stats().sender, sends: batches.length, locks: await navigator.locks.query() }));
  const closedAt = Date.now();
  const sentByA = await a.evaluate(() => batches.map((x) => x.key));
  await a.close();
  const out = await b.evaluate(async () => {
    const result = await flushed;
    const stats = up.stats();
    guard.dispose();
    return { result, stats, batches };
  });
  page = b; // for later tests
  assert.equal(before.sender, false, 'tab B waited while A held the queue');
  assert.equal(before.sends, 0, 'tab B sent nothing while A was open');
  assert.deepEqual(before.locks.held.map((l) => l.name), ['resource-guard-upload:tabs']);
  assert.deepEqual(before.locks.pending.map((l) => l.name), ['resource-guard-upload:tabs']);
  assert.equal(out.result, 'drained');
  assert.equal(out.stats.sender, true, 'B took over');
  assert.ok(out.batches.every((x) => x.t >= closedAt), 'B sent only after A closed');
  assert.ok(out.batches.every((x) => x.status !== 409), 'no 409: never the same key in flight from two tabs');
  assert.ok(sentByA.length > 0 && out.batches.length > 0);
  const st = await api('/api/uploads');
  assert.equal(st.distinct, 2000, 'records enqueued in both tabs arrived');
  assert.equal(st.duplicates, 0, 'and none twice, across the takeover');
  assert.equal(st.digestMismatch, 0);
});

test('enqueueing 10,000 records causes no long task and resolves once they are stored', async () => {
  const out = await page.evaluate(async (GUARD) => {
    const guard = await rg.ResourceGuard.create(GUARD);
    const records = Array.from({ length: 10000 }, (_, i) => ({ id: i, user: `u${i % 97}`, tags: ['a', 'b', 'c'], payload: { x: i * 1.5, text: 'lorem ipsum '.repeat(12) } }));
    // A closed uploader refuses.
    const closed = guard.uploader({ endpoint: '/upload', name: 'bulk' });
    closed.close();
    let closedCode;
    try { await closed.enqueue(records.slice(0, 1)); } catch (e) { closedCode = e.code; }
    await new Promise((r) => setTimeout(r, 50));
    const long = [];
    const obs = new PerformanceObserver((l) => long.push(...l.getEntries().map((e) => [e.startTime, e.duration])));
    obs.observe({ type: 'longtask' });
    const t0 = performance.now();
    const up = guard.uploader({ endpoint: '/upload', name: 'bulk' });
    await up.enqueue(records); // and it starts sending meanwhile
    const t1 = performance.now();
    await new Promise((r) => setTimeout(r, 100)); // let the observer deliver the last entries
    obs.disconnect();
    guard.dispose();
    // Only tasks that started while enqueue ran (a garbage collection afterwards is not its doing).
    return { long: long.filter(([t]) => t >= t0 && t < t1).map(([, d]) => Math.round(d)), ms: t1 - t0, closedCode };
  }, GUARD);
  assert.equal(out.closedCode, 'ERR_DISPOSED');
  assert.deepEqual(out.long, [], `long tasks during enqueue: ${out.long}`);
  console.log(`# enqueue of 10,000 records: ${Math.round(out.ms)} ms, no long task`);
});

test('dead letters: reported (uploader event, guard event, breach report), bounded, retried and discarded', async () => {
  await api('/api/mode', { max413Bytes: 2000 });
  const out = await page.evaluate(async (GUARD) => {
    const guard = await rg.ResourceGuard.create({ ...GUARD, report: { endpoint: '/reports', flushIntervalMs: 100 } });
    const up = guard.uploader({ endpoint: '/upload', name: 'dead', maxDeadLetters: 2 });
    const upEvents = [], guardEvents = [];
    up.on('deadLetter', (e) => upEvents.push(e));
    guard.on('deadLetter', (e) => guardEvents.push(e));
    const big = (id) => ({ id, pad: 'X'.repeat(3000) });
    await up.enqueue([{ id: 'ok-1' }, big('p1'), { id: 'ok-2' }, big('p2'), big('p3')]);
    await up.flush();
    const dead = await up.deadLetters();
    const stats = up.stats();
    await new Promise((r) => setTimeout(r, 300)); // the reporter's flush interval
    // The endpoint now takes them: retry one, discard the other.
    await fetch('/api/mode', { method: 'POST', body: JSON.stringify({ max413Bytes: 0 }) });
    const retried = await up.retryDeadLetters([dead[1].id]);
    await up.flush();
    const discarded = await up.discardDeadLetters();
    const left = await up.deadLetters();
    guard.dispose();
    return { dead, stats, upEvents, guardEvents, retried, discarded, left };
  }, GUARD);
  assert.equal(out.dead.length, 2, 'the oldest of three was dropped (maxDeadLetters: 2)');
  for (const d of out.dead) {
    assert.match(d.record.id, /^p[123]$/);
    assert.equal(d.code, 'ERR_PAYLOAD_TOO_LARGE');
    assert.equal(d.status, 413);
  }
  assert.equal(out.stats.deadLettersDropped, 1);
  assert.equal(out.stats.deadLetteredRecords, 3);
  assert.equal(out.upEvents.length, 3, JSON.stringify(out.upEvents));
  assert.deepEqual(out.upEvents[0], { uploader: 'dead', count: 1, code: 'ERR_PAYLOAD_TOO_LARGE', status: 413 });
  assert.deepEqual(out.guardEvents, out.upEvents);
  const reports = server.state.reports.flatMap((r) => r.items).filter((i) => i.type === 'resource-guard-dead-letter');
  assert.ok(reports.length >= 1, 'a dead-letter breach report reached the report endpoint');
  assert.equal(reports[0].body.uploader, 'dead');
  assert.equal(out.retried, 1);
  assert.equal(out.discarded, 1);
  assert.deepEqual(out.left, []);
  const st = await api('/api/uploads');
  assert.deepEqual(st.ids.sort(), ['ok-1', 'ok-2', out.dead[1].record.id].sort(), 'the retried dead letter was delivered');
});

test('offline pauses the queue (no request is even attempted) and online resumes it by itself', async () => {
  const since = server.state.seq;
  await startUploader(page, { endpoint: '/upload', name: 'offline' });
  await page.waitForFunction(() => up.stats().sender);
  await browser.context.setOffline(true);
  await page.waitForFunction(() => up.stats().offline);
  await page.evaluate(() => up.enqueue(Array.from({ length: 50 }, (_, i) => ({ id: i }))));
  await startFlush(page);
  const whileOffline = await page.evaluate(async () => {
    await new Promise((r) => setTimeout(r, 200));
    return { sends: batches.length, stats: up.stats() };
  });
  await browser.context.setOffline(false);
  const out = await page.evaluate(async () => {
    const result = await flushed;
    const stats = up.stats();
    guard.dispose();
    return { result, stats };
  });
  assert.equal(whileOffline.sends, 0, 'nothing was sent while offline');
  assert.equal(whileOffline.stats.pendingRecords, 50);
  assert.equal(out.result, 'drained');
  assert.equal(out.stats.offline, false);
  assert.equal(uploadLog(since).length, 1);
  assert.equal((await api('/api/uploads')).distinct, 50);
});

test('the queue pauses while the heap guard is at its limit and resumes by itself when it clears', async () => {
  const since = server.state.seq;
  const out = await page.evaluate(async (GUARD) => {
    gc();
    const budget = Math.ceil((performance.memory.usedJSHeapSize + 20e6) / 1e6) * 1e6;
    const guard = await rg.ResourceGuard.create({ ...GUARD, heap: { budgetBytes: budget, sampleIntervalMs: 600000 } });
    const hoard = [];
    let reading = await guard.sampleHeap();
    for (let i = 0; i < 200 && reading.level !== 'limit'; i++) {
      hoard.push(new Array(62500).fill(i + 0.5));
      reading = await guard.sampleHeap();
    }
    const up = guard.uploader({ endpoint: '/upload', name: `heap-${Date.now()}`, maxBatchItems: 50 });
    await up.enqueue(Array.from({ length: 100 }, (_, i) => ({ id: `heap-${i}` })));
    await new Promise((r) => setTimeout(r, 600));
    const whileLimited = { level: reading.level, stats: up.stats() };
    hoard.length = 0;
    for (let i = 0; i < 20 && reading.level !== 'normal'; i++) {
      gc();
      reading = await guard.sampleHeap();
      if (reading.level !== 'normal') await new Promise((r) => setTimeout(r, 50));
    }
    await up.flush();
    const after = up.stats();
    guard.dispose();
    return { whileLimited, after, finalLevel: reading.level };
  }, GUARD);
  assert.equal(out.whileLimited.level, 'limit');
  assert.equal(out.whileLimited.stats.heapLimit, true);
  assert.equal(out.whileLimited.stats.sentRecords ?? 0, 0);
  assert.equal(out.finalLevel, 'normal');
  const sent = uploadLog(since);
  assert.ok(sent.length >= 2, `batches sent after the level cleared: ${sent.length}`);
  const stored = (await (await fetch(`${server.url}/api/uploads`)).json()).ids.filter((id) => id.startsWith('heap-'));
  assert.equal(stored.length, 100);
});

// Issue 14: one enqueue call is one transaction fed a chunk at a time; a failure in a later chunk
// (after earlier chunks were written) stores nothing of the call, and earlier calls stay.
test('a multi-chunk enqueue is all or nothing: a bad record after several stored chunks stores none of the call', async () => {
  const out = await page.evaluate(async (GUARD) => {
    const guard = await rg.ResourceGuard.create({ ...GUARD, categories: { upload: { requests: 1, perMs: 600000 } } });
    await guard.fetch('/api/echo', { category: 'upload' }); // the category's one start: nothing is sent below
    const name = `atomic-${Date.now()}`;
    const up = guard.uploader({ endpoint: '/upload', name });
    await up.enqueue(Array.from({ length: 10 }, (_, i) => ({ id: `kept-${i}` })));
    const before = up.stats().queuedRecords;
    const big = Array.from({ length: 5000 }, (_, i) => ({ id: `atomic-${i}`, pad: 'y'.repeat(100) }));
    big[4321] = { id: 'bad', n: 10n }; // BigInt: JSON.stringify throws, ~8 chunks in
    let err;
    try { await up.enqueue(big); } catch (e) { err = { code: e.code, path: e.details.path }; }
    const after = up.stats().queuedRecords;
    up.close();
    // What is on disk, read by a fresh uploader of the same queue.
    const again = guard.uploader({ endpoint: '/upload', name });
    for (let i = 0; i < 100 && !again.stats().queuedRecords; i++) await new Promise((r) => setTimeout(r, 20));
    const stored = again.stats().queuedRecords;
    guard.dispose();
    const dbs = await indexedDB.databases();
    return { err, before, after, stored, hasDb: dbs.some((d) => d.name === `resource-guard-upload:${name}` && d.version === 2) };
  }, GUARD);
  assert.deepEqual(out.err, { code: 'ERR_INVALID_OPTION', path: 'records[4321]' });
  assert.equal(out.before, 10);
  assert.equal(out.after, 10, 'the failed call added nothing');
  assert.equal(out.stored, 10, 'and nothing of it is on disk');
  assert.ok(out.hasDb);
});

// Issue 14: QuotaExceededError -> ERR_QUOTA and a breach report; what was stored before stays.
test('a full disk rejects enqueue with ERR_QUOTA, reports it, and loses nothing already stored', async () => {
  // A second origin of the local backend whose IndexedDB nothing has opened yet: Chromium reads
  // an origin's quota when its storage is first opened, so the override must come before.
  const url = new URL(PAGE());
  url.hostname = 'localhost';
  const q = await browser.context.newPage();
  const cdp = await browser.context.newCDPSession(q);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: url.origin, quotaSize: 1_000_000 });
  await q.goto(url.href);
  await q.waitForFunction(() => document.body.dataset.ready === 'true');
  await q.evaluate(async (GUARD) => {
    const guard = await rg.ResourceGuard.create({ ...GUARD, report: { endpoint: '/reports', flushIntervalMs: 100 } });
    window.guard = guard;
    const up = (window.up = guard.uploader({ endpoint: '/upload', name: `quota-${Date.now()}` }));
    await up.enqueue(Array.from({ length: 20 }, (_, i) => ({ id: `before-quota-${i}` })));
  }, GUARD);
  const res = await q.evaluate(async () => {
    let err;
    try {
      // 20 MB that does not compress away (IndexedDB's usage is counted after compression).
      const rnd = () => Array.from(crypto.getRandomValues(new Uint8Array(50_000)), (x) => String.fromCharCode(97 + (x % 26))).join('');
      await up.enqueue(Array.from({ length: 400 }, (_, i) => ({ id: `too-much-${i}`, pad: rnd() })));
    } catch (e) {
      err = { code: e.code, rg: rg.isResourceGuardError(e), cause: e.cause && e.cause.name };
    }
    const queued = up.stats().queuedRecords;
    return { err, queued };
  });
  await cdp.send('Storage.overrideQuotaForOrigin', { origin: url.origin }); // back to the default quota
  const done = await q.evaluate(async () => {
    await up.flush();
    await new Promise((r) => setTimeout(r, 300)); // the reporter's flush interval
    const stats = up.stats();
    guard.dispose();
    return { stats };
  });
  await cdp.detach();
  await q.close();
  assert.deepEqual(res.err, { code: 'ERR_QUOTA', rg: true, cause: 'QuotaExceededError' });
  assert.ok(res.queued >= 0 && res.queued <= 20, `only the first call is queued: ${res.queued}`);
  const st = await api('/api/uploads');
  assert.deepEqual(st.ids.sort(), Array.from({ length: 20 }, (_, i) => `before-quota-${i}`).sort(), 'the records stored before were delivered, none of the refused call');
  const reports = server.state.reports.flatMap((r) => r.items).filter((i) => i.type === 'resource-guard-quota');
  assert.equal(reports.length, 1, 'one quota breach report');
  assert.equal(reports[0].body.code, 'ERR_QUOTA');
  assert.equal(reports[0].body.records, 400);
  assert.equal(done.stats.queuedRecords, 0);
});

// Issue 12: an unreachable endpoint (every connection cut) and an open breaker pause the queue
// without using attempts; nothing becomes a dead letter, and it resumes by itself.
test('an unreachable endpoint and an open breaker use no attempts: nothing is dead-lettered, and the queue resumes', async () => {
  await api('/api/mode', { uploadDrop: true });
  await startUploader(page, { endpoint: '/upload', name: `unreachable-${Date.now()}`, maxAttempts: 2, baseDelayMs: 30, maxDelayMs: 120 },
    { ...GUARD, breaker: { failureThreshold: 3, resetTimeoutMs: 200 } });
  await page.evaluate(() => up.enqueue(Array.from({ length: 30 }, (_, i) => ({ id: `u-${i}` }))));
  await until(() => (server.state.uploads.requests || 0) >= 8, '8 cut connections');
  const during = await page.evaluate(async () => ({ stats: up.stats(), dead: (await up.deadLetters()).length, breakers: guard.snapshot().breakers }));
  await api('/api/mode', { uploadDrop: false });
  await startFlush(page);
  const out = await page.evaluate(async () => {
    const result = await flushed;
    const stats = up.stats();
    const dead = (await up.deadLetters()).length;
    guard.dispose();
    return { result, stats, dead };
  });
  assert.equal(during.dead, 0, 'maxAttempts 2, yet no dead letter while unreachable');
  assert.equal(during.stats.deadLetteredRecords, 0);
  assert.equal(during.stats.offline, true, 'stats().offline says the endpoint is unreachable');
  assert.equal(out.result, 'drained');
  assert.equal(out.dead, 0);
  assert.equal(out.stats.offline, false);
  assert.equal((await api('/api/uploads')).distinct, 30);
});

// Issue 12: the uploader reads an error body with a byte cap applied while streaming.
test('an error body above the byte cap is not read: its hint is ignored and the batch backs off', async () => {
  await api('/api/mode', { uploadBigError: 1 });
  const out = await page.evaluate(async (GUARD) => {
    const guard = await rg.ResourceGuard.create(GUARD);
    const up = guard.uploader({ endpoint: '/upload', name: `bigerror-${Date.now()}`, baseDelayMs: 20, maxDelayMs: 50 });
    const batches = [];
    up.on('batch', (e) => batches.push(e));
    const t0 = performance.now();
    await up.enqueue([{ id: 'big-error-1' }]);
    await up.flush();
    const ms = performance.now() - t0;
    guard.dispose();
    return { ms, batches };
  }, GUARD);
  assert.deepEqual(out.batches.map((b) => [b.status, b.outcome]), [[503, 'retry'], [200, 'delivered']]);
  assert.ok(out.batches[0].retryInMs <= 50, `backoff, not the body's 5000 ms hint: ${out.batches[0].retryInMs}`);
  assert.ok(out.ms < 4000, `${Math.round(out.ms)} ms`);
});

// Issue 12: ... and under a time cap: the request guard abandons a trickling error body at its
// 2 s cap (or the attempt's time left), and so does the uploader's own read.
test('an error body that trickles in does not hold the batch', async () => {
  await api('/api/mode', { uploadTrickle: 1 });
  const out = await page.evaluate(async (GUARD) => {
    const guard = await rg.ResourceGuard.create(GUARD);
    const up = guard.uploader({ endpoint: '/upload', name: `trickle-${Date.now()}`, baseDelayMs: 20, maxDelayMs: 50 });
    const batches = [];
    up.on('batch', (e) => batches.push({ ...e, t: performance.now() }));
    const t0 = performance.now();
    await up.enqueue([{ id: 'trickle-1' }]);
    await up.flush();
    const ms = performance.now() - t0;
    guard.dispose();
    return { ms, batches };
  }, GUARD);
  assert.deepEqual(out.batches.map((b) => [b.status, b.outcome]), [[503, 'retry'], [200, 'delivered']]);
  assert.ok(out.ms < 6000, `the 503's body streams for 10 s; the batch moved on after ${Math.round(out.ms)} ms`);
});

// Issue 12: without Web Locks, two tabs never send the same records under different keys: a lease
// in IndexedDB picks one sender; every sender write checks it in the same transaction.
test('without Web Locks an IndexedDB lease picks one sender; the other takes over on close', async () => {
  const noLocks = () => Object.defineProperty(navigator, 'locks', { value: undefined, configurable: true });
  const OPTS = { endpoint: '/upload', name: `lease-${Date.now()}`, maxBatchItems: 50 };
  const SLOW = { ...GUARD, categories: { upload: { requests: 10, perMs: 1000, burst: 1 } } };
  const a = page;
  const b = await browser.context.newPage();
  await b.goto(PAGE());
  await b.waitForFunction(() => document.body.dataset.ready === 'true');
  await a.evaluate(noLocks);
  await b.evaluate(noLocks);
  await startUploader(a, OPTS, SLOW);
  await a.waitForFunction(() => up.stats().sender);
  await startUploader(b, OPTS, SLOW);
  const enqueue = (p, from) => p.evaluate((from) => up.enqueue(Array.from({ length: 500 }, (_, i) => ({ id: `lease-${from + i}` }))), from);
  await Promise.all([enqueue(a, 0), enqueue(b, 500)]);
  await startFlush(b);
  await until(() => distinct() >= 150, '150 records');
  const before = await b.evaluate(() => ({ sender: up.stats().sender, sends: batches.length, queued: up.stats().queuedRecords }));
  const closedAt = Date.now();
  await a.evaluate(() => up.close());
  const out = await b.evaluate(async () => {
    const result = await flushed;
    const stats = up.stats();
    guard.dispose();
    return { result, stats, batches };
  });
  await a.evaluate(() => guard.dispose());
  await b.close();
  assert.equal(before.sender, false, 'tab B waited while A held the lease');
  assert.equal(before.sends, 0);
  assert.ok(before.queued > 0 && before.queued <= 1000, `B sees the queue size without sending: ${before.queued}`);
  assert.equal(out.result, 'drained');
  assert.equal(out.stats.sender, true, 'B took over');
  assert.ok(out.batches.length > 0 && out.batches.every((x) => x.t >= closedAt), 'B sent only after A closed');
  assert.ok(out.batches[0].t - closedAt < 3000, `B took over at once on close (${out.batches[0].t - closedAt} ms)`);
  const st = await api('/api/uploads');
  assert.equal(st.distinct, 1000);
  assert.equal(st.duplicates, 0, 'no record under two keys');
});

// The storage layout changed (issue 14): a queue written by version 1 (one entry per record in
// 'records' + 'lens') is moved into chunks on open, in order, and delivered; nothing is lost.
test('a version-1 queue is migrated into chunks and delivered', async () => {
  const out = await page.evaluate(async (GUARD) => {
    const name = `migrate-${Date.now()}`;
    await new Promise((ok, fail) => {
      const r = indexedDB.open('resource-guard-upload:' + name, 1);
      r.onupgradeneeded = () => {
        const db = r.result;
        db.createObjectStore('records', { autoIncrement: true });
        db.createObjectStore('lens');
        db.createObjectStore('batches');
        db.createObjectStore('dead', { autoIncrement: true });
        db.createObjectStore('meta');
      };
      r.onsuccess = () => {
        const db = r.result;
        const tx = db.transaction(['records', 'lens'], 'readwrite');
        for (let i = 0; i < 700; i++) {
          const text = JSON.stringify({ id: `v1-${i}`, s: 'é' });
          const a = tx.objectStore('records').add(text);
          a.onsuccess = () => tx.objectStore('lens').put(text.length + 1, a.result);
        }
        tx.oncomplete = () => { db.close(); ok(); };
        tx.onerror = () => fail(tx.error);
      };
      r.onerror = () => fail(r.error);
    });
    const guard = await rg.ResourceGuard.create(GUARD);
    const up = guard.uploader({ endpoint: '/upload', name });
    const order = [];
    up.on('batch', (e) => order.push(e.records));
    await up.flush();
    const stats = up.stats();
    guard.dispose();
    return { stats, order };
  }, GUARD);
  const st = await api('/api/uploads');
  assert.equal(st.distinct, 700);
  assert.deepEqual(st.ids.filter((id) => id.startsWith('v1-')).length, 700);
  assert.equal(st.duplicates, 0);
  assert.equal(out.stats.queuedRecords, 0);
});
