// resource-guard/otel with the real OpenTelemetry JS SDK in headless Chromium (issue 17): the
// metrics SDK (a pull reader, collected on demand) and the trace SDK (an in-memory exporter) are
// bundled for the page with esbuild; a scripted scenario (a Retry-After retry inside a span,
// queued requests, a queue-full shed, a breaker that opens after give-ups, a fallback serve in a
// span, an upload, a heap sample) must show up with the documented names, values and attributes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { startServer } from './server.mjs';
import { launch } from './browser.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let server, browser, page;

// The page's OpenTelemetry: the SDKs, a synchronous context manager (enough for spans made active
// around a synchronous guard.fetch call) and the instrumentation from the built package.
const ENTRY = `
import { context, trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { instrument } from './pkg/otel.js';
class StackContextManager {
  constructor() { this.stack = [ROOT_CONTEXT]; }
  active() { return this.stack[this.stack.length - 1]; }
  with(ctx, fn, thisArg, ...args) { this.stack.push(ctx); try { return fn.call(thisArg, ...args); } finally { this.stack.pop(); } }
  bind(_ctx, target) { return target; }
  enable() { return this; }
  disable() { this.stack = [ROOT_CONTEXT]; return this; }
}
class PullReader extends MetricReader { async onForceFlush() {} async onShutdown() {} }
context.setGlobalContextManager(new StackContextManager());
const spans = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
const reader = new PullReader();
const meterProvider = new MeterProvider({ readers: [reader] });
window.otel = { instrument, meterProvider, reader, spans, tracer: trace.getTracer('e2e') };
`;

before(async () => {
  const out = await build({
    stdin: { contents: ENTRY, resolveDir: ROOT, loader: 'js' },
    bundle: true, format: 'iife', write: false, platform: 'browser', logLevel: 'silent',
  });
  server = await startServer();
  browser = await launch();
  page = await browser.page(`${server.url}/fixtures/blank.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  await page.addScriptTag({ content: out.outputFiles[0].text });
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const script = (path, responses) =>
  fetch(`${server.url}/api/script`, { method: 'POST', body: JSON.stringify({ path, responses }) });
const setMode = (mode) => fetch(`${server.url}/api/mode`, { method: 'POST', body: JSON.stringify(mode) });

test('metrics and span events from the real OpenTelemetry SDK after a scripted scenario', async () => {
  await script('/api/otel-retry', [{ status: 503, headers: { 'Retry-After': '1' } }, { status: 200 }]);
  await script('/api/otel-fail', [{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }]);
  const firstLeg = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create({
      rateLimit: { requests: 100, perMs: 1000 },
      categories: { bulk: { requests: 1, perMs: 60000 } },
      queue: { maxDepth: 2 },
      retry: { maxRetries: 1, baseDelayMs: 10, jitter: 0 },
      breaker: { services: { 'https://payments.example:8443': { failureThreshold: 4 } } },
      cache: {},
    });
    window.guard = guard;
    window.stop = otel.instrument(guard, { meterProvider: otel.meterProvider });
    const base = location.origin;
    // 1. A Retry-After retry inside the caller's span.
    await otel.tracer.startActiveSpan('load-items', async (span) => {
      const r = await guard.fetch('/api/otel-retry');
      span.end();
      return r.status;
    });
    // 2. Queued: the bulk category lets one start a minute; a queue-full shed of a low entry.
    const bulk = [];
    bulk.push(guard.fetch('/api/echo?bulk=0', { category: 'bulk' }));
    bulk.push(guard.fetch('/api/echo?bulk=1', { category: 'bulk', priority: 'low' }).catch((e) => e.code + ':' + e.details.reason));
    bulk.push(guard.fetch('/api/echo?bulk=2', { category: 'bulk', priority: 'low' }).catch((e) => e.code + ':' + e.details.reason));
    bulk.push(guard.fetch('/api/echo?bulk=3', { category: 'bulk', priority: 'high' }).catch((e) => e.code));
    const shedResult = await bulk[2];
    // 3. Two give-ups on 500 (one retry each): the fourth failure opens the named service's breaker.
    const fails = [];
    for (let i = 0; i < 2; i++) fails.push((await guard.fetch('/api/otel-fail', { service: 'https://payments.example:8443' })).status);
    // 4. A response cached once, then served stale inside a span while the backend is down.
    const ok = await guard.fetch('/api/echo?cc=max-age=0,stale-if-error=3600&id=otel');
    await ok.text();
    await guard._cache.idle();
    return { shedResult, fails, base };
  });
  assert.equal(firstLeg.shedResult, 'ERR_SHED:queueFull');
  assert.deepEqual(firstLeg.fails, [500, 500]);
  await setMode({ outage: true });
  const out = await page.evaluate(async () => {
    const guard = window.guard;
    const stale = await otel.tracer.startActiveSpan('show-cached', async (span) => {
      const r = await guard.fetch('/api/echo?cc=max-age=0,stale-if-error=3600&id=otel');
      span.end();
      return r.headers.get('x-resource-guard-stale');
    });
    return { stale };
  });
  await setMode({ outage: false });
  const collected = await page.evaluate(async () => {
    const guard = window.guard;
    // 5. Three upload records stored by the endpoint, and a heap sample.
    const up = guard.uploader({ endpoint: '/upload', name: 'otel' });
    await up.enqueue([{ a: 1 }, { a: 2 }, { a: 3 }]);
    await up.flush();
    await guard.sampleHeap();
    const { resourceMetrics, errors } = await otel.reader.collect();
    const metrics = {};
    for (const sm of resourceMetrics.scopeMetrics) {
      for (const m of sm.metrics) {
        metrics[m.descriptor.name] = { unit: m.descriptor.unit, scope: sm.scope.name, points: m.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value })) };
      }
    }
    const spans = otel.spans.getFinishedSpans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })) }));
    window.stop();
    guard.dispose();
    return { metrics, spans, errors: errors.map(String) };
  });
  assert.equal(out.stale !== null, true, 'served stale');
  const { metrics, spans } = collected;
  const info = JSON.stringify(collected);
  assert.deepEqual(collected.errors, []);
  const sum = (name, match = {}) =>
    (metrics[name]?.points ?? []).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v)).reduce((a, p) => a + p.value, 0);
  const host = new URL(firstLeg.base);

  // Attempts: the retried request counted twice, the retry with http.request.resend_count = 1.
  assert.equal(metrics['resource_guard.requests.started'].scope, 'resource-guard');
  assert.equal(metrics['resource_guard.requests.started'].unit, '{request}');
  assert.equal(sum('resource_guard.requests.started', { 'http.request.method': 'GET', 'server.address': host.hostname, 'server.port': Number(host.port), 'resource_guard.category': 'api', 'http.request.resend_count': 1 }) >= 1, true, info);
  // The payments service: 2 requests × 2 attempts.
  assert.equal(sum('resource_guard.requests.started', { 'server.address': 'payments.example', 'server.port': 8443 }), 4, info);
  // Retries: the Retry-After one (source retryAfter, status 503) and the two on 500.
  assert.equal(sum('resource_guard.requests.retries', { 'http.response.status_code': 503, 'resource_guard.retry.source': 'retryAfter', 'http.request.resend_count': 1, 'http.request.method': 'GET', 'server.address': host.hostname }), 1, info);
  assert.equal(sum('resource_guard.requests.retries', { 'http.response.status_code': 500, 'server.address': 'payments.example' }), 2, info);
  // Give-ups: two on the payments service (retries exhausted, last status 500).
  assert.equal(sum('resource_guard.requests.give_ups', { 'resource_guard.give_up.reason': 'retriesExhausted', 'http.response.status_code': 500, 'server.address': 'payments.example', 'http.request.method': 'GET' }), 2, info);
  // Breaker: it opened once.
  assert.equal(sum('resource_guard.breaker.transitions', { 'resource_guard.breaker.state': 'open', 'resource_guard.breaker.previous_state': 'closed', 'server.address': 'payments.example', 'server.port': 8443 }), 1, info);
  // Queued: the bulk entries had to wait (the rate window), shed: one low entry for the high one.
  assert.ok(sum('resource_guard.requests.queued', { 'resource_guard.category': 'bulk', 'resource_guard.throttle.reason': 'window' }) >= 1, info);
  assert.equal(sum('resource_guard.requests.shed', { 'resource_guard.category': 'bulk', 'resource_guard.priority': 'low', 'resource_guard.shed.reason': 'queueFull' }), 1, info);
  // Queue depth now: the bulk entries still waiting for their window (one low, one high).
  assert.equal(sum('resource_guard.queue.depth', { 'resource_guard.category': 'bulk' }), 2, info);
  // Fallback: one stale serve for this origin.
  assert.equal(sum('resource_guard.fallback.served', { 'server.address': host.hostname }), 1, info);
  // Rates: configured and in force, per category.
  assert.equal(sum('resource_guard.rate.limit', { 'resource_guard.category': 'api', 'resource_guard.rate.per_ms': 1000 }), 100, info);
  assert.equal(sum('resource_guard.rate.effective', { 'resource_guard.category': 'bulk' }), 1, info);
  // Heap: bytes and level from the last sample.
  assert.equal(metrics['resource_guard.heap.used'].unit, 'By');
  assert.ok(sum('resource_guard.heap.used') > 0, info);
  assert.equal(sum('resource_guard.heap.limit'), 52428800, info);
  assert.equal(sum('resource_guard.heap.level'), 0, info);
  // Uploads: three records stored, none queued or dead-lettered.
  assert.equal(sum('resource_guard.upload.records.stored', { 'resource_guard.upload.queue': 'otel' }), 3, info);
  assert.equal(sum('resource_guard.upload.records.queued', { 'resource_guard.upload.queue': 'otel' }), 0, info);
  assert.equal(sum('resource_guard.upload.records.dead_lettered', { 'resource_guard.upload.queue': 'otel' }), 0, info);

  // Spans: the caller's span shows the retry (waited for the Retry-After) and the fallback.
  const load = spans.find((s) => s.name === 'load-items');
  assert.ok(load, info);
  assert.deepEqual(load.events.map((e) => e.name), ['resource_guard.retry']);
  assert.deepEqual(load.events[0].attributes, { 'http.request.resend_count': 1, 'resource_guard.retry.delay_ms': 1000, 'resource_guard.retry.source': 'retryAfter', 'http.response.status_code': 503 });
  assert.equal(load.attributes['http.request.resend_count'], 1);
  const cached = spans.find((s) => s.name === 'show-cached');
  assert.ok(cached, info);
  const names = cached.events.map((e) => e.name);
  assert.ok(names.includes('resource_guard.fallback') && names.includes('resource_guard.give_up'), info);
  assert.ok(cached.events.find((e) => e.name === 'resource_guard.fallback').attributes['resource_guard.fallback.age_s'] >= 0);
  assert.equal(cached.attributes['resource_guard.fallback'], true);
});

test('without an SDK (the API no-op meter) and spans off, instrument installs nothing', async () => {
  const out = await page.evaluate(async () => {
    const guard = await rg.ResourceGuard.create();
    const listeners = () => [...guard._listeners.values()].reduce((n, s) => n + s.size, 0);
    // No meterProvider and no global one registered: the API's no-op meter.
    const stop = otel.instrument(guard, { spans: false });
    const r = { listeners: listeners(), tap: guard._tap === undefined };
    stop();
    guard.dispose();
    return r;
  });
  assert.deepEqual(out, { listeners: 0, tap: true });
});
