// resource-guard/otel: OpenTelemetry metrics and span events for a guard. An opt-in entry: the
// guard itself never imports it (or @opentelemetry/api, an optional peer dependency), so an app
// without OpenTelemetry pays nothing. Built on the guard's events and snapshot; instruments follow
// OpenTelemetry's naming rules and reuse the semantic-convention attributes where they exist
// (http.request.method, server.address, server.port, http.response.status_code,
// http.request.resend_count). The README has the table.
import { metrics, trace, createNoopMeter, ValueType } from '@opentelemetry/api';

const SCOPE = 'resource-guard';
const VERSION = '0.1.0';
const LEVELS = { normal: 0, warning: 1, critical: 2, limit: 3 };

/** `server.address` / `server.port` of a service key (an origin, or a name the app chose). */
function serverAttrs(service) {
  if (!service) return {};
  if (service.startsWith('http://') || service.startsWith('https://')) {
    try {
      const u = new URL(service);
      const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
      return { 'server.address': u.hostname, 'server.port': port };
    } catch {}
  }
  return { 'resource_guard.service': service };
}

/**
 * Records the guard's activity through OpenTelemetry: metrics on the meter provider (the global
 * one unless given) and events on the caller's active span (retries, give-ups, fallback serves).
 * Returns a function that removes the instrumentation. With no SDK registered (the API's no-op
 * meter, no active spans) it installs nothing and costs nothing.
 *
 * @param {import('./index.js').ResourceGuard} guard
 * @param {{ meterProvider?: import('@opentelemetry/api').MeterProvider, spans?: boolean }} [options]
 */
export function instrument(guard, { meterProvider, spans = true } = {}) {
  const meter = (meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE, VERSION);
  const metered = meter !== createNoopMeter();
  if (!metered && !spans) return () => {};
  const offs = [];
  const on = (name, fn) => offs.push(guard.on(name, fn));
  const INT = { valueType: ValueType.INT };

  let startCounter;
  const attemptAttrs = (call) => {
    const a = { 'http.request.method': call.method, 'resource_guard.category': call.category, ...serverAttrs(call.service) };
    if (call.attempts > 1) a['http.request.resend_count'] = call.attempts - 1;
    return a;
  };
  // The driver's instrumentation hooks: `call` runs synchronously inside guard.fetch (so the
  // active span is the caller's), `start` at every attempt, `fallback` when the cache answers.
  guard._tap = {
    call: spans ? () => trace.getActiveSpan() : () => undefined,
    start: (call) => {
      call.attempts = (call.attempts ?? 0) + 1;
      startCounter?.add(1, attemptAttrs(call));
    },
    fallback: (call, res) => {
      const span = call.ctx;
      if (!span) return;
      span.addEvent('resource_guard.fallback', { 'resource_guard.fallback.age_s': Number(res.headers.get('x-resource-guard-stale')) || 0 });
      span.setAttribute('resource_guard.fallback', true);
    },
  };
  offs.push(() => { delete guard._tap; });

  if (metered) {
    startCounter = meter.createCounter('resource_guard.requests.started', { description: 'Attempts the guard sent (fetch called), retries included', unit: '{request}', ...INT });
    const queued = meter.createCounter('resource_guard.requests.queued', { description: 'Requests that had to wait in their queue', unit: '{request}', ...INT });
    const shed = meter.createCounter('resource_guard.requests.shed', { description: 'Work refused or dropped to protect the page or the backend', unit: '{request}', ...INT });
    const retries = meter.createCounter('resource_guard.requests.retries', { description: 'Retries scheduled', unit: '{retry}', ...INT });
    const giveUps = meter.createCounter('resource_guard.requests.give_ups', { description: 'Requests whose retries ended without success', unit: '{request}', ...INT });
    const breaker = meter.createCounter('resource_guard.breaker.transitions', { description: 'Circuit breaker state changes', unit: '{transition}', ...INT });
    const fallback = meter.createCounter('resource_guard.fallback.served', { description: 'Requests answered from the stale-if-error cache', unit: '{response}', ...INT });
    on('throttle', (e) => queued.add(1, { 'resource_guard.category': e.category, 'resource_guard.throttle.reason': e.reason }));
    on('shed', (e) => shed.add(1, { 'resource_guard.category': e.category, 'resource_guard.priority': e.priority, 'resource_guard.shed.reason': e.reason }));
    on('retry', (e) => {
      const a = { 'http.request.resend_count': e.attempt, 'resource_guard.retry.source': e.source, ...serverAttrs(e.service) };
      if (e.method) a['http.request.method'] = e.method;
      if (e.status >= 100) a['http.response.status_code'] = e.status;
      else a['error.type'] = e.status === 1 ? 'timeout' : 'network';
      retries.add(1, a);
    });
    on('giveUp', (e) => {
      const a = { 'resource_guard.give_up.reason': e.reason, ...serverAttrs(e.service) };
      if (e.method) a['http.request.method'] = e.method;
      if (e.status >= 100) a['http.response.status_code'] = e.status;
      giveUps.add(1, a);
    });
    on('breaker', (e) => breaker.add(1, { 'resource_guard.breaker.state': e.to, 'resource_guard.breaker.previous_state': e.from, ...serverAttrs(e.service) }));
    on('fallback', (e) => {
      let service = '';
      try { service = new URL(e.url, globalThis.location?.href).origin; } catch {}
      fallback.add(1, serverAttrs(service));
    });

    // Levels and totals are read from one snapshot per collection (nothing runs in between).
    const heapUsed = meter.createObservableGauge('resource_guard.heap.used', { description: 'Heap in use at the last sample', unit: 'By', ...INT });
    const heapLimit = meter.createObservableGauge('resource_guard.heap.limit', { description: 'The heap budget', unit: 'By', ...INT });
    const heapLevel = meter.createObservableGauge('resource_guard.heap.level', { description: 'Heap level: 0 normal, 1 warning, 2 critical, 3 limit', unit: '1', ...INT });
    const depth = meter.createObservableUpDownCounter('resource_guard.queue.depth', { description: 'Requests and jobs waiting', unit: '{request}', ...INT });
    const rate = meter.createObservableGauge('resource_guard.rate.effective', { description: 'Starts allowed per window now (after adaptive throttling)', unit: '{request}', ...INT });
    const rateLimit = meter.createObservableGauge('resource_guard.rate.limit', { description: 'Starts allowed per window as configured', unit: '{request}', ...INT });
    const upQueued = meter.createObservableUpDownCounter('resource_guard.upload.records.queued', { description: 'Upload records stored locally, not yet delivered', unit: '{record}', ...INT });
    const upStored = meter.createObservableCounter('resource_guard.upload.records.stored', { description: 'Upload records the endpoint stored', unit: '{record}', ...INT });
    const upDead = meter.createObservableUpDownCounter('resource_guard.upload.records.dead_lettered', { description: 'Upload records kept as dead letters', unit: '{record}', ...INT });
    const observed = [heapUsed, heapLimit, heapLevel, depth, rate, rateLimit, upQueued, upStored, upDead];
    const collect = (r) => {
      const s = guard.snapshot();
      if (s.disposed) return;
      if (s.heap) {
        r.observe(heapUsed, s.heap.usedBytes, { 'resource_guard.heap.source': s.heap.source });
        r.observe(heapLimit, s.heap.budgetBytes);
      }
      r.observe(heapLevel, LEVELS[s.heapLevel] ?? 0);
      for (const [category, c] of Object.entries(s.categories)) {
        for (const [priority, n] of Object.entries(c.queued)) r.observe(depth, n, { 'resource_guard.category': category, 'resource_guard.priority': priority });
        if (c.effectiveRate) {
          const a = { 'resource_guard.category': category, 'resource_guard.rate.per_ms': c.effectiveRate.perMs };
          r.observe(rate, c.effectiveRate.requests, a);
          r.observe(rateLimit, c.limit.requests, a);
        }
      }
      for (const [queue, u] of Object.entries(s.uploads || {})) {
        const a = { 'resource_guard.upload.queue': queue };
        r.observe(upQueued, (u.pendingRecords ?? 0) + (u.inFlightRecords ?? 0), a);
        r.observe(upStored, u.sentRecords ?? 0, a);
        r.observe(upDead, u.deadLetteredRecords ?? 0, a);
      }
    };
    meter.addBatchObservableCallback(collect, observed);
    offs.push(() => meter.removeBatchObservableCallback(collect, observed));
  }

  if (spans) {
    // Retries and give-ups on the caller's span: a trace shows that a request waited for a
    // Retry-After, how long, and why it ended.
    on('retry', (e, span) => {
      if (!span) return;
      const a = { 'http.request.resend_count': e.attempt, 'resource_guard.retry.delay_ms': e.delayMs, 'resource_guard.retry.source': e.source };
      if (e.status >= 100) a['http.response.status_code'] = e.status;
      span.addEvent('resource_guard.retry', a);
      span.setAttribute('http.request.resend_count', e.attempt);
    });
    on('giveUp', (e, span) => {
      if (!span) return;
      const a = { 'resource_guard.give_up.reason': e.reason, 'resource_guard.attempts': e.attempts };
      if (e.status >= 100) a['http.response.status_code'] = e.status;
      span.addEvent('resource_guard.give_up', a);
    });
  }

  return () => {
    for (const off of offs.splice(0)) off();
  };
}
