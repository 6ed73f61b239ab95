// The heap guard and the breach reporter in Chromium (started with --enable-precise-memory-info
// and --js-flags=--expose-gc): allocating memory drives the guard through warning -> critical ->
// limit and back, cleanups run in order, low-priority requests are shed at the limit, and the
// backend receives reports in the W3C Reporting API shape, also when the page is hidden.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

let server, browser, page;
before(async () => {
  server = await startServer();
  browser = await launch();
  page = await browser.page(`${server.url}/fixtures/blank.html?secret=token#frag`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('a reading says what it is: source, precision and age', async () => {
  const r = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create();
    const reading = await guard.sampleHeap();
    guard.dispose();
    return reading;
  });
  assert.equal(r.source, 'performance.memory');
  assert.equal(typeof r.precise, 'boolean');
  assert.equal(typeof r.quantized, 'boolean');
  assert.ok(r.usedBytes > 100000, `usedBytes ${r.usedBytes}`);
  assert.ok(r.wasmBytes >= 65536 && r.wasmBytes % 65536 === 0);
  assert.ok(Math.abs(r.sampledAt - Date.now()) < 60000, 'sampledAt is epoch ms');
  assert.ok(r.ageMs >= 0 && r.ageMs < 1000);
  assert.equal(r.level, 'normal');
});

// Issue 12: while measureUserAgentSpecificMemory drives the level, a bucketed performance.memory
// (here Chromium's coarse value, stubbed: constant and on the 100 kB grid) must not also drive
// it: levels flapped between the two sources and the warning cleanup reran on every measurement.
test('a bucketed performance.memory does not drive the level while measureUserAgentSpecificMemory does', async () => {
  const out = await page.evaluate(async () => {
    (await rg.ResourceGuard.create()).dispose(); // the wasm and its memory are loaded before measuring
    const uas = (await performance.measureUserAgentSpecificMemory()).bytes;
    const real = performance.measureUserAgentSpecificMemory.bind(performance);
    let measured = 0;
    performance.measureUserAgentSpecificMemory = () => real().then((m) => { measured++; return m; });
    Object.defineProperty(performance, 'memory', { configurable: true, get: () => ({ usedJSHeapSize: 100000, totalJSHeapSize: 100000, jsHeapSizeLimit: 4e9 }) });
    try {
      // The measurement sits at 50% of the budget (warning at 20%, clear at 15%); the coarse
      // value at a small fraction of it, below the clear threshold.
      const guard = await rg.ResourceGuard.create({ heap: { budgetBytes: Math.ceil(uas / 0.5), sampleIntervalMs: 50, warning: 0.2, critical: 3, limit: 4 } });
      const levels = [];
      let cleanups = 0;
      guard.on('heap', (e) => levels.push(e.level));
      guard.onCleanup(() => { cleanups++; }, { level: 'warning' });
      let reading;
      for (let i = 0; i < 200 && measured < 5; i++) {
        reading = await guard.sampleHeap();
        await new Promise((r) => setTimeout(r, 20));
      }
      reading = await guard.sampleHeap();
      guard.dispose();
      return { measured, levels, cleanups, reading, uas };
    } finally {
      delete performance.memory;
      delete performance.measureUserAgentSpecificMemory;
    }
  });
  assert.ok(out.measured >= 5, `measurements: ${out.measured}`);
  assert.deepEqual(out.levels, ['warning'], `levels: ${out.levels} (measured ${out.uas} B)`);
  assert.equal(out.cleanups, 1, 'the warning cleanup ran once');
  assert.equal(out.reading.level, 'warning');
  assert.equal(out.reading.source, 'measureUserAgentSpecificMemory', 'the reading that drives is the one returned');
  assert.equal(out.reading.precise, true);
  assert.equal(out.reading.drives, true);
});

test('allocating drives warning -> critical -> limit and back; cleanups run once per entry, in order; low work is shed at the limit', async () => {
  const out = await page.evaluate(async () => {
    gc();
    const base = performance.memory.usedJSHeapSize;
    // A budget 20 MB above today's heap: warning at 70%, critical at 90%, limit at 100%.
    const budget = Math.ceil((base + 20e6) / 1e6) * 1e6;
    const guard = await rg.ResourceGuard.create({ heap: { budgetBytes: budget, sampleIntervalMs: 600000 }, report: { endpoint: '/reports', flushIntervalMs: 100 } });
    const levels = [];
    const cleanups = [];
    guard.on('heap', (e) => levels.push(e.level));
    guard.onCleanup(() => cleanups.push('warning'), { level: 'warning' });
    guard.onCleanup(() => cleanups.push('critical'), { level: 'critical' });
    guard.onCleanup(() => { throw new Error('a buggy cleanup'); }, { level: 'critical' });
    guard.onCleanup(() => cleanups.push('limit'), { level: 'limit' });
    const cleanupErrors = [];
    guard.on('cleanupError', (e) => cleanupErrors.push(e.error.message));
    const hoard = [];
    let reading = await guard.sampleHeap();
    for (let i = 0; i < 200 && reading.level !== 'limit'; i++) {
      hoard.push(new Array(62500).fill(i + 0.5)); // 0.5 MB of unboxed doubles on the JS heap
      reading = await guard.sampleHeap();
    }
    let shed;
    try {
      await guard.fetch('/api/echo?heap=low', { priority: 'low' });
    } catch (e) {
      shed = { code: e.code, reason: e.details.reason };
    }
    const normal = (await guard.fetch('/api/echo?heap=normal')).status;
    hoard.length = 0;
    // Freed memory shows in usedJSHeapSize once the collector has swept it: collect, sample,
    // and give the sweeper a moment if needed (bounded).
    for (let i = 0; i < 20; i++) {
      gc();
      reading = await guard.sampleHeap();
      if (reading.level === 'normal') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = (await guard.fetch('/api/echo?heap=low-after', { priority: 'low' })).status;
    // The reporter flushes on its own (flushIntervalMs 100), not only when the page goes away.
    for (let i = 0; i < 40 && !(guard.snapshot().reports.sent >= 3); i++) await new Promise((r) => setTimeout(r, 50));
    const sentBeforeDispose = guard.snapshot().reports.sent;
    guard.dispose();
    return { levels, cleanups, cleanupErrors, shed, normal, after, final: reading.level, budget, finalBytes: reading.usedBytes, base, sentBeforeDispose };
  });
  // A collection may briefly drop the reading below a level (hysteresis: 5% of the budget), so
  // check the order of first entries, and that cleanups ran once per entry of each level passed.
  const first = (l) => out.levels.indexOf(l);
  assert.ok(first('warning') >= 0 && first('warning') < first('critical') && first('critical') < first('limit'), `levels: ${out.levels}`);
  const order = ['normal', 'warning', 'critical', 'limit'];
  const expectedCleanups = [];
  let prev = 0;
  for (const l of out.levels) {
    const next = order.indexOf(l);
    for (let k = prev + 1; k <= next; k++) expectedCleanups.push(order[k]);
    prev = next;
  }
  assert.equal(out.final, 'normal', `after freeing: ${out.finalBytes} bytes used of ${out.budget} (started at ${out.base})`);
  assert.equal(out.levels.at(-1), 'normal');
  assert.deepEqual(out.cleanups, expectedCleanups);
  assert.deepEqual(out.cleanups.slice(0, 3), ['warning', 'critical', 'limit']);
  assert.ok(out.sentBeforeDispose >= 3, `reports sent by the periodic flush: ${out.sentBeforeDispose}`);
  assert.equal(out.cleanupErrors.length, expectedCleanups.filter((l) => l === 'critical').length);
  assert.ok(out.cleanupErrors.every((m) => m === 'a buggy cleanup'));
  assert.deepEqual(out.shed, { code: 'ERR_SHED', reason: 'heapLimit' });
  assert.equal(out.normal, 200);
  assert.equal(out.after, 200);
  const received = server.state.reports.flatMap((r) => r.items.map((item) => ({ ...item, contentType: r.contentType })));
  const heap = received.filter((r) => r.type === 'resource-guard-heap');
  assert.ok(heap.length >= 3, `heap reports: ${JSON.stringify(received.map((r) => r.type))}`);
  for (const r of received) {
    assert.equal(r.contentType, 'application/reports+json');
    assert.deepEqual(Object.keys(r).filter((k) => k !== 'contentType').sort(), ['age', 'body', 'type', 'url', 'user_agent']);
    assert.equal(r.url, `${server.url}/fixtures/blank.html`, 'query and fragment stripped');
    assert.ok(r.age >= 0);
  }
  assert.ok(heap.some((r) => r.body.level === 'limit' && r.body.budgetBytes === out.budget));
  assert.ok(received.some((r) => r.type === 'resource-guard-shed' && r.body.reason === 'heapLimit'));
});

test('hiding the page flushes pending reports with a beacon', async () => {
  const before = server.state.reports.length;
  await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({ rateLimit: { requests: 1, perMs: 60000 }, queue: { maxDepth: 1 }, report: { endpoint: '/reports', flushIntervalMs: 600000 } });
    window.keepGuard = guard;
    await guard.fetch('/api/echo?hide=1');
    // The window is used up: a normal request waits in the one-slot queue, then a system request
    // takes its place (queue full), which sheds it: a shed breach is now pending, and the flush
    // interval is ten minutes away.
    guard.fetch('/api/echo?hide=2').catch(() => {});
    guard.fetch('/api/echo?hide=3', { priority: 'system' }).catch(() => {});
  });
  await page.goto('about:blank'); // pagehide
  for (let i = 0; i < 50 && server.state.reports.length === before; i++) await new Promise((r) => setTimeout(r, 100));
  const got = server.state.reports.slice(before).flatMap((r) => r.items);
  assert.ok(got.some((r) => r.type === 'resource-guard-shed' && r.body.reason === 'queueFull'), JSON.stringify(got));
  await page.goto(`${server.url}/fixtures/blank.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
});
