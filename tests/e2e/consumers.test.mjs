// The package where frontend teams use it (issue 16): each consumer project in tests/e2e/apps/
// installs the `npm pack` tarball offline, builds with its own tool and type-checks strictly
// (build-apps.mjs), then runs: webpack 5, Rollup and esbuild bundles and the React app under
// `vite dev` in Chromium, a SvelteKit server rendering a page whose guard is created at module
// top level, a Node script, and component tests under Vitest (jsdom, happy-dom) and Jest with
// fake timers. Each asserts behaviour: a limit held, a retry honoured.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';
import { buildApps } from './apps/build-apps.mjs';

const run = promisify(execFile);
const APPS = join(dirname(fileURLToPath(import.meta.url)), 'apps');
const ROOT = resolve(APPS, '..', '..', '..');
const BIN = (name) => join(ROOT, 'node_modules', '.bin', name);
let server, browser, built;

before(async () => {
  built = await buildApps(['webpack', 'rollup', 'esbuild', 'node', 'sveltekit', 'vitest', 'jest', 'react']);
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const log = (app) => server.state.log.filter((e) => e.query.includes(`app=${app}&`));

test('every consumer project type-checks against the shipped types (strict, noUncheckedIndexedAccess)', () => {
  for (const a of built.timings) assert.ok(a.tsc === 'ok' || a.tsc === 'none', a.tsc);
  assert.deepEqual(built.timings.filter((a) => a.tsc === 'ok').map((a) => a.name).sort(), ['esbuild', 'node', 'react', 'rollup', 'vitest', 'webpack']);
});

/** Six requests at three per second, then a 429 + Retry-After: 1 that the guard must wait out. */
function assertLimitAndRetry(app, result) {
  assert.deepEqual({ ok: result.ok, retried: result.retried, hits: result.hits }, { ok: 6, retried: 200, hits: 2 }, JSON.stringify(result));
  const six = log(app).filter((e) => e.path === '/api/echo').map((e) => e.t).sort((a, b) => a - b);
  assert.equal(six.length, 6);
  // At most three in any second, measured where the backend saw them (a little network jitter).
  assert.ok(six[3] - six[0] >= 900, `4th request ${Math.round(six[3] - six[0])} ms after the 1st`);
  const limited = server.state.log.filter((e) => e.path === '/api/limited' && e.query.includes(`key=${app}&`)).map((e) => e.t);
  assert.equal(limited.length, 2, 'the retry waited for Retry-After (an early one is refused again)');
  assert.ok(limited[1] - limited[0] >= 950, `retry ${Math.round(limited[1] - limited[0])} ms after the 429`);
}

for (const app of ['webpack', 'rollup', 'esbuild']) {
  test(`${app}: the bundle loads the wasm with no plugin and guards requests in Chromium`, async () => {
    const page = await browser.page(`${server.url}/apps/${app}/`);
    await page.waitForFunction(() => document.querySelector('#result').textContent.startsWith('{'), null, { timeout: 20000 });
    const result = JSON.parse(await page.textContent('#result'));
    assert.equal(result.error, undefined, JSON.stringify(result));
    assertLimitAndRetry(app, result);
    assert.ok(result.throttled >= 3, JSON.stringify(result));
    assert.equal(page.errors.length, 0, String(page.errors[0]));
  });
}

test('esbuild and Rollup bundles carry the wasm inline; webpack emits it as an asset', () => {
  // Every chunk: the lazily loaded parts (cache, uploader) are chunks of their own where the
  // bundler splits dynamic imports (Rollup, webpack).
  const js = (app) => readdirSync(join(APPS, app, 'dist')).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(APPS, app, 'dist', f), 'utf8')).join('\n');
  const inlined = /b64 = ["']AGFzbQ/; // base64 of the wasm magic number
  for (const app of ['esbuild', 'rollup']) assert.match(js(app), inlined, `${app}: no inlined wasm`);
  assert.doesNotMatch(js('webpack'), inlined, 'webpack bundled the inline entry');
  assert.ok(readdirSync(join(APPS, 'webpack', 'dist')).some((f) => f.endsWith('.wasm')), 'webpack emitted no .wasm asset');
});

test('Node script: the guard runs for real (Node fetch and timers), heap sampling says unsupported, the process exits', async () => {
  const { stdout } = await run(process.execPath, ['main.mjs', server.url], { cwd: join(APPS, 'node'), timeout: 30000 });
  const result = JSON.parse(stdout.trim().split('\n').pop());
  assertLimitAndRetry('node', result);
  assert.ok(result.sixMs >= 950, JSON.stringify(result));
  assert.equal(result.heap, 'unsupported');
});

async function freePort() {
  const s = createServer();
  await new Promise((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

/** Starts a child process and waits until it prints `ready` (a RegExp); kill() ends it. */
async function serve(cmd, args, opts, ready) {
  const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const seen = new Promise((ok, fail) => {
    const on = (d) => {
      out += d;
      if (ready.test(out)) ok();
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('exit', (code) => fail(new Error(`exited ${code} before it was ready:\n${out}`)));
    setTimeout(() => fail(new Error(`not ready after 30 s:\n${out}`)), 30000).unref();
  });
  await seen;
  return { child, output: () => out, kill: () => child.kill() };
}

test('SvelteKit (adapter-node): a page whose guard is created at module top level is served, twice; server loads use the guard; the browser hydrates with it', async () => {
  const port = await freePort();
  const kit = await serve(process.execPath, ['build'], { cwd: join(APPS, 'sveltekit'), env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), BACKEND: server.url } }, /Listening on/);
  try {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/`);
      const html = await res.text();
      assert.equal(res.status, 200, html.slice(0, 500));
      // The server-side load went through the guard: it waited out Retry-After (2 hits, 200).
      assert.match(html, /id="server">status 200 after 2 hits</);
    }
    assert.equal(kit.child.exitCode, null, 'the server stays up');
    const page = await browser.page(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => document.querySelector('#answered').textContent === '4', null, { timeout: 20000 });
    await page.waitForFunction(() => document.querySelector('#sent').textContent === '4', null, { timeout: 5000 });
    assert.equal(log('sveltekit').length, 4);
    assert.equal(page.errors.length, 0, String(page.errors[0]));
    assert.doesNotMatch(kit.output(), /Unhandled|ERR_/);
  } finally {
    kit.kill();
  }
});

test('SvelteKit under `vite dev`: the SSR page with a top-level guard renders, twice, and the dev server stays up', async () => {
  const port = await freePort();
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const child = spawn(process.execPath, [vite, 'dev', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], { cwd: join(APPS, 'sveltekit'), env: { ...process.env, BACKEND: server.url, NODE_ENV: 'development' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    let html = '';
    for (let i = 0; i < 150 && !html; i++) {
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(child.exitCode, null, `vite dev exited:\n${out}`);
      html = await fetch(`http://127.0.0.1:${port}/`).then((r) => (r.ok ? r.text() : ''), () => '');
    }
    assert.match(html, /id="server">status 200 after 2 hits</, out);
    const again = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(again.status, 200);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(child.exitCode, null, `vite dev exited:\n${out}`);
    assert.doesNotMatch(out, /Unhandled|ERR_WASM_LOAD|ERR_UNSUPPORTED/);
  } finally {
    child.kill();
  }
});

test('Vite dev server (React): the dev build loads the wasm and two components under one <GuardProvider> share one budget', async () => {
  const { createServer: createVite } = await import('vite');
  process.env.RG_BACKEND = server.url;
  const dir = join(APPS, 'react');
  const vite = await createVite({ root: dir, configFile: join(dir, 'vite.config.mjs'), logLevel: 'warn', server: { host: '127.0.0.1', port: 0, strictPort: false }, cacheDir: join(tmpdir(), `rg-vite-${process.pid}`) });
  await vite.listen();
  try {
    const { port } = vite.httpServer.address();
    const page = await browser.page(`http://127.0.0.1:${port}/apps/react/`);
    await page.waitForFunction(() => window.__appReady === true, null, { timeout: 30000 });
    await page.evaluate(() => window.__appGuard.ready);
    const before = log('react-shared').length;
    for (const b of await page.$$('.loader')) await b.click();
    await page.waitForFunction(() => [...document.querySelectorAll('.loader')].every((b) => b.dataset.answered === '2'), null, { timeout: 10000 });
    const hits = log('react-shared').slice(before).map((e) => e.t).sort((a, b) => a - b);
    assert.equal(hits.length, 4);
    // Two per second for both components together: the third request waited about a second.
    assert.ok(hits[2] - hits[0] >= 900, `3rd request ${Math.round(hits[2] - hits[0])} ms after the 1st`);
    await page.waitForFunction(() => document.querySelector('#shared-sent').textContent === '4', null, { timeout: 5000 });
    assert.equal(page.errors.length, 0, String(page.errors[0]));
  } finally {
    await vite.close();
    rmSync(join(tmpdir(), `rg-vite-${process.pid}`), { recursive: true, force: true });
  }
});

/** Runs a JSON-reporting test runner and turns each of its tests into a subtest here. */
async function runner(t, cmd, args, cwd, outFile, expected) {
  try {
    // NODE_ENV: vite build (in this process) set it to production; React's act() is dev-only.
    await run(cmd, args, { cwd, timeout: 180000, env: { ...process.env, NODE_ENV: 'test' } });
  } catch (e) {
    // A failing run exits non-zero: its report still says which tests failed.
    if (!readSafe(outFile)) throw new Error(`${cmd} produced no report:\n${e.stdout}${e.stderr}`);
  }
  const report = JSON.parse(readFileSync(outFile, 'utf8'));
  rmSync(outFile, { force: true });
  const results = report.testResults.flatMap((f) => f.assertionResults);
  assert.equal(results.length, expected, `expected ${expected} tests, the runner reported ${results.length}`);
  for (const r of results) {
    await t.test(r.title, () => assert.equal(r.status, 'passed', (r.failureMessages || []).join('\n')));
  }
}
const readSafe = (f) => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

for (const env of ['jsdom', 'happy-dom']) {
  test(`Vitest + ${env}: component tests with vi.useFakeTimers(), no setup file`, async (t) => {
    const out = join(tmpdir(), `rg-vitest-${env}-${process.pid}.json`);
    await runner(t, BIN('vitest'), ['run', '--environment', env, '--reporter=json', `--outputFile=${out}`], join(APPS, 'vitest'), out, 3);
  });
}

test('Jest + jsdom (CommonJS, no transform): component tests with modern fake timers', async (t) => {
  const out = join(tmpdir(), `rg-jest-${process.pid}.json`);
  await runner(t, BIN('jest'), ['--rootDir', '.', '--json', `--outputFile=${out}`], join(APPS, 'jest'), out, 3);
});

test("a cross-origin 429 whose Retry-After is not exposed emits one 'diagnostic' event naming the header to expose", async () => {
  const other = server.url.replace('127.0.0.1', 'localhost'); // a second origin on the same backend
  const hidden = { status: 429, headers: { 'Retry-After': '1', 'Access-Control-Expose-Headers': 'X-Request-Count' } };
  const shown = { status: 429, headers: { 'Retry-After': '1' } };
  for (const [path, first] of [['/api/hidden', hidden], ['/api/shown', shown]]) {
    await fetch(`${server.url}/api/script`, { method: 'POST', body: JSON.stringify({ path, responses: [first, { status: 200 }, first, { status: 200 }] }) });
  }
  const page = await browser.page(`${server.url}/fixtures/blank.html`);
  const out = await page.evaluate(async (other) => {
    const { ResourceGuard } = await import('/pkg/index.js');
    const run = async (path) => {
      const guard = await ResourceGuard.create({ retry: { baseDelayMs: 50, jitter: 0 } });
      const events = [];
      guard.on('diagnostic', (e) => events.push(e));
      const statuses = [];
      for (let i = 0; i < 2; i++) statuses.push((await guard.fetch(`${other}${path}`)).status);
      guard.dispose();
      return { events, statuses };
    };
    return { hidden: await run('/api/hidden'), shown: await run('/api/shown') };
  }, other);
  assert.deepEqual(out.hidden.statuses, [200, 200]);
  assert.equal(out.hidden.events.length, 1, JSON.stringify(out.hidden.events));
  const [e] = out.hidden.events;
  assert.equal(e.kind, 'hiddenRetryHint');
  assert.equal(e.origin, other);
  assert.equal(e.status, 429);
  assert.match(e.message, /Access-Control-Expose-Headers: Retry-After, RateLimit, RateLimit-Policy/);
  assert.deepEqual(out.shown, { events: [], statuses: [200, 200] });
});

test('a bundle that did not emit the wasm (esbuild, plain entry) rejects ready with ERR_WASM_LOAD saying what to do; nothing is unhandled', async () => {
  const { build } = await import('esbuild');
  const contents = `
    import { createGuard } from 'resource-guard';
    const guard = createGuard();
    const show = (k, v) => (document.body.dataset[k] = JSON.stringify(v));
    guard.fetch('/api/echo?app=plain&i=1').catch((e) => show('fetch', e.code));
    guard.ready.then(() => show('ready', 'ok'), (e) => show('ready', { code: e.code, status: e.details.status, message: e.message }));`;
  const dir = join(APPS, 'esbuild');
  await build({ stdin: { contents, resolveDir: dir, loader: 'js' }, bundle: true, format: 'esm', outfile: join(dir, 'dist', 'plain.js'), logLevel: 'error' });
  await writeFile(join(dir, 'dist', 'plain.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="./plain.js"></script>');
  const page = await browser.page(`${server.url}/apps/esbuild/plain.html`);
  await page.waitForFunction(() => document.body.dataset.ready && document.body.dataset.fetch, null, { timeout: 10000 });
  const ready = JSON.parse(await page.evaluate(() => document.body.dataset.ready));
  assert.equal(ready.code, 'ERR_WASM_LOAD');
  assert.equal(ready.status, 404);
  assert.match(ready.message, /resource-guard\/inline/);
  assert.equal(JSON.parse(await page.evaluate(() => document.body.dataset.fetch)), 'ERR_WASM_LOAD');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(page.errors.length, 0, `unhandled: ${page.errors[0]}`);
  assert.equal(log('plain').length, 0, 'nothing was sent without a guard');
});

test('Node: guards that cannot be created (bad options) at module top level never crash the process with an unhandled rejection', async () => {
  const script = `
    import { createGuard } from 'resource-guard';
    process.on('unhandledRejection', (e) => { console.log('UNHANDLED ' + e); process.exitCode = 3; });
    export const a = createGuard({ nope: 1 });
    const b = createGuard({ rateLimit: { requests: -1 } });
    b.on('retry', () => {});
    const code = await b.fetch('http://127.0.0.1:9/').catch((e) => e.code);
    setTimeout(() => console.log(JSON.stringify({ code, snapshot: b.snapshot() })), 50);`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: join(APPS, 'node'), timeout: 20000 });
  assert.doesNotMatch(stdout, /UNHANDLED/);
  assert.deepEqual(JSON.parse(stdout.trim().split('\n').pop()), { code: 'ERR_INVALID_OPTION', snapshot: null });
});
