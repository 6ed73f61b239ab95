// The package as users get it: `npm pack`ed, installed into a React and a Svelte Vite app, built,
// type-checked (tsc --noEmit against the shipped .d.ts), then driven in Chromium against the
// local backend. Also: importing every entry point in plain Node (SSR) is safe, and creating a
// guard there rejects with ERR_UNSUPPORTED.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';
import { buildApps } from './apps/build-apps.mjs';

const APPS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'apps');
let server, browser, built;

before(async () => {
  built = await buildApps(['react', 'svelte']);
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('the tarball ships every entry point and the adapters\' types', () => {
  for (const f of ['index.js', 'react.js', 'react.d.ts', 'svelte.js', 'svelte.d.ts', 'resource_guard_bg.wasm', 'package.json']) {
    assert.ok(built.files.includes(f), `npm pack is missing ${f}: ${built.files.join(', ')}`);
  }
});

test('the shipped types check: tsc --noEmit on a .ts file per app importing every entry point', (t) => {
  // Skipped (visibly) only while the package ships no index.d.ts for its main entry.
  const skipped = built.timings.filter((a) => a.tsc.startsWith('skipped'));
  if (skipped.length) return t.skip(skipped[0].tsc);
  for (const a of built.timings) assert.equal(a.tsc, 'ok');
});

async function openApp(name) {
  const page = await browser.page(`${server.url}/apps/${name}/`);
  await page.waitForFunction(() => window.__appReady === true, null, { timeout: 15000 });
  return page;
}

async function clickAndCheck(page, name) {
  await page.click('#send');
  await page.waitForFunction(() => document.querySelector('#answered').textContent === '3', null, { timeout: 10000 });
  const hits = server.state.log.filter((e) => e.path === '/api/echo' && e.query.startsWith(`?app=${name}&`));
  assert.equal(hits.length, 3, `the backend saw ${hits.length} requests from the ${name} app`);
  // The snapshot is refreshed every 200 ms: a few updates, the default category, a moving uptime.
  await page.waitForFunction(() => Number(document.querySelector('#updates').textContent) >= 3, null, { timeout: 5000 });
  const ui = await page.evaluate(() => ({
    level: document.querySelector('#level').textContent,
    categories: document.querySelector('#categories').textContent,
    snapshotKeys: Object.keys(window.__guard.snapshot()),
  }));
  assert.ok(['normal', 'warning', 'critical', 'limit'].includes(ui.level), ui.level);
  assert.notEqual(ui.categories, 'none');
  assert.ok(ui.snapshotKeys.includes('categories'), ui.snapshotKeys.join(','));
  assert.equal(page.errors.length, 0, String(page.errors[0]));
}

test('React app: hooks render the snapshot and heap level, guarded requests reach the backend, StrictMode leaks no guard', async () => {
  const page = await openApp('react');
  await clickAndCheck(page, 'react');
  // StrictMode mounted the panel twice: every guard but the live one has been disposed.
  let counts = await page.evaluate(() => window.__guards);
  assert.equal(counts.created - counts.disposed, 1, JSON.stringify(counts));
  await page.click('#toggle'); // unmount: the hook disposes of its guard
  await page.waitForFunction(() => window.__guards.created === window.__guards.disposed, null, { timeout: 5000 });
  await page.click('#toggle'); // mount again: a fresh guard
  await page.waitForFunction(() => window.__guards.created - window.__guards.disposed === 1, null, { timeout: 5000 });
  counts = await page.evaluate(() => window.__guards);
  assert.ok(counts.created >= 2, JSON.stringify(counts));
});

test('Svelte app: stores work with $store and runes, guarded requests reach the backend', async () => {
  const page = await openApp('svelte');
  await clickAndCheck(page, 'svelte');
  const uptime = await page.textContent('#uptime');
  assert.ok(uptime !== 'n/a' || !('uptimeMs' in (await page.evaluate(() => window.__guard.snapshot()))), `fromStore: ${uptime}`);
});

test('SSR: every entry point imports in plain Node; a guard created there works (heap: unsupported), bad options reject typed', async () => {
  // Run inside the React app so 'resource-guard' resolves to the installed tarball, like a user's SSR build.
  const script = `
    const { ResourceGuard, isResourceGuardError } = await import('resource-guard');
    const react = await import('resource-guard/react');
    const svelte = await import('resource-guard/svelte');
    const { createElement } = await import('react');
    const { renderToString } = await import('react-dom/server');
    function App() {
      const guard = react.useResourceGuard({ rateLimit: { requests: 5, perMs: 1000 } });
      const snapshot = react.useGuardSnapshot(guard);
      return createElement('p', null, String(guard) + ' ' + String(snapshot) + ' ' + react.useHeapLevel(guard));
    }
    const html = renderToString(createElement(App));
    const values = [];
    svelte.snapshotStore(null).subscribe((v) => values.push(v))();
    svelte.heapLevelStore(undefined).subscribe((v) => values.push(v))();
    // A lazily created guard is never created during SSR (no document).
    let lazyCalls = 0;
    svelte.snapshotStore(() => { lazyCalls++; return null; }).subscribe((v) => values.push(v))();
    values.push(lazyCalls);
    // Node >= 20 runs the guard for real (issue 16): the wasm is read from the package's file.
    const g = await ResourceGuard.create({ rateLimit: { requests: 5, perMs: 1000 } });
    const heap = (await g.sampleHeap()).source;
    const limit = g.snapshot().categories.api.limit.requests;
    g.dispose();
    let code = null, branded = false;
    try { await ResourceGuard.create({ rateLimit: { requests: -1 } }); } catch (e) { code = e.code; branded = isResourceGuardError(e); }
    console.log(JSON.stringify({ html, values, heap, limit, code, branded }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: join(APPS_DIR, 'react'), timeout: 20000 });
  const out = JSON.parse(stdout.trim().split('\n').pop());
  assert.equal(out.html, '<p>null null normal</p>');
  assert.deepEqual(out.values, [null, 'normal', null, 0]);
  assert.equal(out.heap, 'unsupported');
  assert.equal(out.limit, 5);
  assert.equal(out.code, 'ERR_INVALID_OPTION');
  assert.equal(out.branded, true);
});
