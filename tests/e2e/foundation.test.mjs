// The whole chain: the built package loads in a real page, guard.fetch reaches the local backend,
// and invalid options are typed errors naming the option path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

let server, browser, page;
before(async () => {
  server = await startServer();
  browser = await launch();
  page = await browser.page(`${server.url}/`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 20000 });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('the demo page loads the wasm and its guarded fetch reaches the server', async () => {
  assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', await page.textContent('#status'));
  assert.ok(server.state.log.some((e) => e.path === '/api/echo' && e.query === '?from=demo'));
  assert.equal(page.errors.length, 0, String(page.errors[0]));
});

test('guard.fetch passes method, headers and body through and strips the guard keys', async () => {
  const out = await page.evaluate(async () => {
    const res = await window.guard.fetch('/api/echo?case=post', {
      method: 'POST', body: 'hello', headers: { 'X-Test': '1' }, priority: 'low', category: 'api', timeoutMs: 5000,
    });
    return { status: res.status, body: await res.json(), isResponse: res instanceof Response };
  });
  assert.equal(out.status, 200);
  assert.equal(out.isResponse, true);
  assert.equal(out.body.method, 'POST');
  assert.equal(out.body.bytes, 5);
  const hit = server.state.log.find((e) => e.query === '?case=post');
  assert.equal(hit.headers['x-test'], '1');
});

test('an invalid option rejects with ERR_INVALID_OPTION naming its path', async () => {
  const out = await page.evaluate(async () => {
    const { ResourceGuard, isResourceGuardError } = await import('/pkg/index.js');
    const results = [];
    for (const opts of [
      { retry: { baseDelayMs: 500, maxDelayMs: 100 } },
      { rateLimit: { requests: -1, perMs: 1000 } },
      { unknownThing: true },
      { heap: { budgetBytes: () => 1 } },
      { fetch: 'not a function' },
    ]) {
      try {
        await ResourceGuard.create(opts);
        results.push({ ok: true });
      } catch (e) {
        results.push({ code: e.code, path: e.details && e.details.path, message: e.message, branded: isResourceGuardError(e), isError: e instanceof Error });
      }
    }
    return results;
  });
  assert.deepEqual(out.map((r) => r.code), Array(5).fill('ERR_INVALID_OPTION'));
  assert.deepEqual(out.map((r) => r.path), ['retry.maxDelayMs', 'rateLimit.requests', 'unknownThing', 'heap.budgetBytes', 'fetch']);
  assert.equal(out[0].message, 'invalid option: retry.maxDelayMs must be >= retry.baseDelayMs');
  assert.ok(out.every((r) => r.branded && r.isError));
});

test('isResourceGuardError works across realms (an iframe with its own copy of the package)', async () => {
  const out = await page.evaluate(async () => {
    const frame = document.createElement('iframe');
    frame.src = '/fixtures/realm.html';
    document.body.append(frame);
    await new Promise((r) => (frame.onload = r));
    const w = frame.contentWindow;
    for (let i = 0; i < 100 && !w.document.body?.dataset.ready; i++) await new Promise((r) => setTimeout(r, 50));
    const { isResourceGuardError, ResourceGuardError } = await import('/pkg/index.js');
    const foreign = w.realmError;
    return {
      code: foreign && foreign.code,
      instanceofHere: foreign instanceof ResourceGuardError,
      branded: isResourceGuardError(foreign),
      plain: isResourceGuardError(new Error('x')),
      nul: isResourceGuardError(null),
    };
  });
  assert.deepEqual(out, { code: 'ERR_INVALID_OPTION', instanceofHere: false, branded: true, plain: false, nul: false });
});
