// Lazily loaded parts (issue 13) in Chromium, observed on the network: a page that creates a guard
// and fetches through it never downloads the uploader's or the cache's code or wasm; the first
// guard.uploader() downloads the uploader part exactly once (and later calls none); a part whose
// file answers 404/500 rejects with ERR_WASM_LOAD naming the part, and a later call retries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

// A part's files: its JS module and, where it has Rust, its wasm-bindgen glue and wasm.
const FILES = {
  uploader: /\/pkg\/(uploader\.js|resource_guard_upload(_bg\.wasm|\.js))(\?|$)/,
  cache: /\/pkg\/(cache\.js|resource_guard_cache(_bg\.wasm|\.js))(\?|$)/,
};
let server, browser, page;
const requests = [];

before(async () => {
  server = await startServer();
  browser = await launch();
  page = await browser.page();
  page.on('request', (r) => requests.push(r.url()));
});
after(async () => {
  await browser?.close();
  await server?.close();
});

async function freshPage() {
  requests.length = 0;
  await page.goto(`${server.url}/fixtures/blank.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
}
const fetched = (part) => requests.filter((u) => FILES[part].test(u));
const byFile = (part) => {
  const n = {};
  for (const u of fetched(part)) n[new URL(u).pathname] = (n[new URL(u).pathname] || 0) + 1;
  return n;
};

test('a guard that fetches never downloads the uploader or the cache; the first uploader() downloads its part once', async () => {
  await freshPage();
  const status = await page.evaluate(async () => {
    const guard = (window.guard = await rg.ResourceGuard.create());
    const handle = (window.handle = rg.createGuard());
    const a = await guard.fetch('/api/items?lazy=1');
    const b = await handle.fetch('/api/items?lazy=2');
    guard.snapshot();
    await guard.clearCache(); // no cache: must not load the cache part either
    return [a.status, b.status];
  });
  assert.deepEqual(status, [200, 200]);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(fetched('uploader'), [], 'no uploader file fetched');
  assert.deepEqual(fetched('cache'), [], 'no cache file fetched');

  const out = await page.evaluate(async () => {
    // Before the part is loaded an invalid option cannot throw at once: the deferred uploader's
    // methods reject with it instead.
    const up = guard.uploader({ endpoint: '/upload', name: `lazy-${Date.now()}` });
    const before = up.stats(); // deferred: null until the part is loaded
    const bad = guard.uploader({ endpoint: '/upload', maxBatchItems: 0 });
    const badErr = await bad.enqueue([{ id: 'never' }]).then(() => null, (e) => ({ code: e.code, path: e.details.path }));
    await up.enqueue([{ id: 'lazy-1' }]);
    await up.flush();
    const again = guard.uploader({ endpoint: '/upload', name: `lazy2-${Date.now()}` });
    const sync = typeof again.stats() === 'object' && again.stats() !== null; // the part is loaded: a real Uploader
    const viaHandle = handle.uploader({ endpoint: '/upload', name: `lazy3-${Date.now()}` });
    await viaHandle.enqueue([{ id: 'lazy-3' }]);
    await guard.preload('uploader');
    const sent = up.stats()?.sentRecords;
    up.close(); again.close(); viaHandle.close();
    return { before, sync, sent, badErr };
  });
  assert.equal(out.before, null);
  assert.deepEqual(out.badErr, { code: 'ERR_INVALID_OPTION', path: 'uploader.maxBatchItems' });
  assert.equal(out.sync, true);
  assert.equal(out.sent, 1);
  const files = byFile('uploader');
  assert.ok(Object.keys(files).length >= 1, 'the uploader part was fetched');
  for (const [f, n] of Object.entries(files)) assert.equal(n, 1, `${f} fetched once`);
  assert.deepEqual(fetched('cache'), [], 'still no cache file');

  // The cache part loads with the first guard that has a cache, once.
  await page.evaluate(async () => {
    const g = await rg.ResourceGuard.create({ cache: {} });
    await g.fetch('/api/items?lazy=3');
    await rg.ResourceGuard.create({ cache: {} });
  });
  const c = byFile('cache');
  assert.ok(Object.keys(c).length >= 1, 'the cache part was fetched');
  for (const [f, n] of Object.entries(c)) assert.equal(n, 1, `${f} fetched once`);
  assert.deepEqual(page.errors, []);
});

for (const status of [404, 500]) {
  test(`a part that answers ${status} rejects with ERR_WASM_LOAD (details.part); a later call retries`, async () => {
    await freshPage();
    let fail = true;
    const seen = [];
    const handler = (route) => {
      seen.push(route.request().url());
      return fail ? route.fulfill({ status, contentType: 'text/plain', body: 'nope' }) : route.continue();
    };
    await page.route(FILES.uploader, handler);
    try {
      const first = await page.evaluate(async () => {
        const guard = (window.guard = await rg.ResourceGuard.create());
        const err = (e) => ({ code: e?.code, part: e?.details?.part, rg: rg.isResourceGuardError(e) });
        const pre = await guard.preload('uploader').then(() => null, err);
        const up = guard.uploader({ endpoint: '/upload', name: `fail-${Date.now()}` });
        const enq = await up.enqueue([{ id: 'x' }]).then(() => null, err);
        const ok = (await guard.fetch('/api/items?still=1')).status; // the guard itself is unaffected
        window.up = up;
        return { pre, enq, ok };
      });
      assert.deepEqual(first.pre, { code: 'ERR_WASM_LOAD', part: 'uploader', rg: true });
      assert.deepEqual(first.enq, { code: 'ERR_WASM_LOAD', part: 'uploader', rg: true });
      assert.equal(first.ok, 200);
      assert.ok(seen.length >= 1);
      fail = false;
      const retry = await page.evaluate(async () => {
        await guard.preload('uploader');
        await up.enqueue([{ id: 'retried' }]); // the same deferred uploader, created this time
        await up.flush();
        const s = up.stats();
        up.close();
        return s.sentRecords;
      });
      assert.equal(retry, 1);
    } finally {
      await page.unroute(FILES.uploader, handler);
    }
  });
}

test('preload rejects an unknown part with ERR_INVALID_OPTION (path part)', async () => {
  await freshPage();
  const e = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create();
    return guard.preload('nope').then(() => null, (e) => ({ code: e.code, path: e.details.path }));
  });
  assert.deepEqual(e, { code: 'ERR_INVALID_OPTION', path: 'part' });
});
