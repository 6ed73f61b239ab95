// The demo dashboard under a scripted scenario: a burst of 500, an outage with some requests
// during it, recovery. Writes tests/e2e/artifacts/dashboard.png and checks that every chart holds
// data and that the backend saw the traffic. Assertions on parts of the guard that a build may not
// have yet (heap sampling, per-priority queues, breakers in the snapshot, uploads) are made only
// when the page detects the feature (window.__charts.features).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let server, browser, page, charts;

before(async () => {
  server = await startServer();
  browser = await launch();
  page = await browser.page();
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 20000 });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

test('scripted scenario: burst, outage with requests, recovery; screenshot; charts have data', async () => {
  assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', await page.textContent('#status'));
  await page.click('#leak');
  await page.click('#burst');
  await sleep(1500);
  const outageOn = performance.now(); // the server logs with this process's clock
  await page.click('#outage');
  await page.waitForFunction(() => document.querySelector('#outage').getAttribute('aria-pressed') === 'true');
  assert.equal(server.state.mode.outage, true);
  await page.click('#send10');
  await sleep(2000);
  await page.click('#outage');
  await page.waitForFunction(() => document.querySelector('#outage').getAttribute('aria-pressed') === 'false');
  const outageOff = performance.now();
  assert.equal(server.state.mode.outage, false);
  await page.click('#send10');
  // Long enough for an open breaker (resetTimeoutMs 5000) to let a probe through again.
  await sleep(6500);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  charts = await page.evaluate(() => window.__charts);

  // Sampled every 500 ms for ~11 s, polled every second.
  assert.ok(charts.rps >= 10, JSON.stringify(charts));
  assert.ok(charts.queue >= 10, JSON.stringify(charts));
  assert.ok(charts.heap >= 3, `heap readings: ${charts.heap}`);
  assert.ok(charts.reportPolls >= 3 && charts.reports >= 3, JSON.stringify(charts));
  assert.ok(charts.upload >= 3, JSON.stringify(charts));
  assert.ok(charts.maxRps > 0, 'no request start was counted');

  // The backend saw the demo's first request, the burst and both rounds of "some requests".
  const log = server.state.log;
  assert.ok(log.some((e) => e.path === '/api/echo' && e.query === '?from=demo'));
  const burst = log.filter((e) => e.query.startsWith('?burst=')).length;
  assert.ok(burst >= 20, `the backend saw ${burst} burst requests`);
  const during = log.filter((e) => e.path === '/api/echo' && e.t > outageOn && e.t < outageOff).length;
  const afterwards = log.filter((e) => e.path === '/api/echo' && e.t > outageOff).length;
  assert.ok(during >= 1, 'no request reached the backend during the outage');
  assert.ok(afterwards >= 1, 'no request reached the backend after the outage');
  // The outage was visible to the page as 503s or guard errors (giveUp, circuit open).
  const failed = Object.entries(charts.outcomes).filter(([k]) => k !== 'HTTP 200').reduce((n, [, v]) => n + v, 0);
  assert.ok(failed > 0, JSON.stringify(charts.outcomes));
  assert.equal(page.errors.length, 0, String(page.errors[0]));
});

test('the guard enforces the demo limit: never more than 20 starts in a second', (t) => {
  assert.ok(charts, 'the scenario ran');
  if (!charts.features.throttle) return t.skip('this build does not throttle yet (no startsInWindow in the snapshot)');
  // The limit is 20 per 1000 ms (sliding); the page samples a trailing 1 s window every 500 ms.
  assert.ok(charts.maxRps <= 20, `max starts per second ${charts.maxRps}`);
});

test('feature-detected charts: per-priority queues, breakers, heap sampling', (t) => {
  assert.ok(charts, 'the scenario ran');
  const f = charts.features;
  if (f.queues) assert.equal(charts.queueSource, 'guard snapshot (api)');
  else t.diagnostic('queues: the snapshot has no categories.api.queued yet; the chart shows page-side pending calls');
  if (f.breakers) {
    const services = Object.keys(charts.breaker);
    assert.ok(services.length >= 1, JSON.stringify(charts.breaker));
    assert.ok(charts.breakerStates.includes('open'), `the outage never opened the breaker: ${charts.breakerStates}`);
  } else t.diagnostic('breakers: the snapshot has no services yet');
  if (!f.sampleHeap) t.diagnostic('sampleHeap: missing; heap chart uses performance.memory');
  if (!f.uploader) t.diagnostic('uploader: missing; upload controls are disabled');
});

test('"leak memory" drives the guard through its heap levels; "free" brings it back', async (t) => {
  if (!(await page.evaluate(() => window.__charts.features.sampleHeap))) return t.skip('this build has no guard.sampleHeap');
  await page.uncheck('#steady');
  // 64 MB budget: warning at 70 %. Each click retains ~5 MB; stop as soon as the guard says so.
  for (let i = 0; i < 16; i++) {
    await page.click('#leak');
    await sleep(400);
    if ((await page.evaluate(() => window.__charts.heapLevel)) !== 'normal') break;
  }
  await page.waitForFunction(() => window.__charts.heapLevel !== 'normal', null, { timeout: 6000 });
  const high = await page.evaluate(() => window.__charts);
  assert.ok(['warning', 'critical', 'limit'].includes(high.heapLevel), high.heapLevel);
  assert.ok(high.leakedMB >= 25, `reached ${high.heapLevel} after only ${high.leakedMB} MB`);
  await page.click('#free');
  await page.evaluate(() => window.gc?.());
  await page.waitForFunction(() => window.__charts.heapLevel === 'normal', null, { timeout: 8000 });
  assert.equal(page.errors.length, 0, String(page.errors[0]));
});

test('"upload 10,000 records" delivers every record once; the chart and the panel show it', async () => {
  await page.uncheck('#steady').catch(() => {});
  await page.click('#upload');
  const deadline = Date.now() + 60000;
  let stats;
  while (Date.now() < deadline) {
    stats = await (await fetch(`${server.url}/api/uploads`)).json();
    if (stats.distinct >= 10000) break;
    await sleep(250);
  }
  assert.equal(stats.distinct, 10000, `the backend stored ${stats.distinct} records`);
  assert.equal(stats.duplicates, 0);
  assert.equal(stats.digestMismatch, 0);
  await page.waitForFunction(() => window.__charts.upload > 0, null, { timeout: 5000 });
  await page.waitForFunction(() => /10000 stored/.test(document.getElementById('upload-now')?.textContent || ''), null, { timeout: 8000 });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-upload.png') });
  assert.equal(page.errors.length, 0, String(page.errors[0]));
});

test('a backend shedding load lowers the effective rate, shown next to the configured limit', async () => {
  await page.uncheck('#steady').catch(() => {});
  assert.equal(await page.evaluate(() => window.__charts.effectiveRate), 20);
  await page.click('#shedload');
  await page.waitForFunction(() => document.querySelector('#shedload').getAttribute('aria-pressed') === 'true');
  await page.click('#burst');
  await page.waitForFunction(() => window.__charts.minEffectiveRate < 20, null, { timeout: 10000 });
  const text = await page.textContent('#rps-now');
  assert.match(text, /effective rate [\d.]+\/s of limit 20\/s/);
  await page.click('#shedload');
  await page.waitForFunction(() => document.querySelector('#shedload').getAttribute('aria-pressed') === 'false');
  assert.equal(page.errors.length, 0, String(page.errors[0]));
});
