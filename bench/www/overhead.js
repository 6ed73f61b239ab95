// Per-call overhead: sequential awaited calls against a stub fetch that resolves at once (a new
// Response per call), interleaving the contenders and repeating in rounds. The mean comes from
// the round's total time; p50/p99 from batches of 100 calls (performance.now() has ~5 µs
// resolution even when cross-origin isolated, so single calls cannot be timed).
import { stubFetch, loadGuard, loadVendor, median, quantile, sum, errorText, sleep } from './common.js';

const HUGE = { requests: 100000, perMs: 1000 }; // the throttle is on but never binds here

async function contenders(transport, { withRetryOnlyGuard = true } = {}) {
  const { ResourceGuard } = await loadGuard();
  const { ky, cockatiel, PQueue } = await loadVendor();
  const { retry, circuitBreaker, wrap, handleAll, ExponentialBackoff, ConsecutiveBreaker } = cockatiel;
  const url = `${location.origin}/api/echo`;
  const list = [];
  const notes = [];
  list.push({ name: 'raw fetch', call: () => transport(url) });

  const guards = [];
  if (withRetryOnlyGuard) {
    try {
      const g = await ResourceGuard.create({ fetch: transport, rateLimit: HUGE, retry: { maxRetries: 0 } });
      guards.push(g);
      list.push({ name: 'guard (throttle only)', call: () => g.fetch(url), guard: g });
    } catch (e) {
      notes.push(`guard (throttle only) with retry.maxRetries=0 rejected (${errorText(e)}); using defaults`);
      const g = await ResourceGuard.create({ fetch: transport, rateLimit: HUGE });
      guards.push(g);
      list.push({ name: 'guard (throttle, defaults)', call: () => g.fetch(url), guard: g });
    }
  }
  const gFull = await ResourceGuard.create({
    fetch: transport,
    rateLimit: HUGE,
    retry: { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 2000 },
    breaker: { failureThreshold: 5, resetTimeoutMs: 10000 },
  });
  guards.push(gFull);
  list.push({ name: 'guard (throttle+retry+breaker)', call: () => gFull.fetch(url), guard: gFull });

  const api = ky.create({ fetch: transport, retry: { limit: 3 } });
  list.push({ name: 'ky (retry on)', call: () => api.get(url) });

  const isFailure = handleAll.orWhenResult((r) => r instanceof Response && (r.status === 429 || r.status >= 500));
  const policy = () => wrap(
    retry(isFailure, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
    circuitBreaker(isFailure, { halfOpenAfter: 10000, breaker: new ConsecutiveBreaker(5) }),
  );
  const cPolicy = policy();
  list.push({ name: 'cockatiel (retry+breaker)', call: () => cPolicy.execute(() => transport(url)) });

  const pqPolicy = policy();
  const queue = new PQueue({ intervalCap: HUGE.requests, interval: HUGE.perMs });
  list.push({ name: 'p-queue (interval) + cockatiel', call: () => queue.add(() => pqPolicy.execute(() => transport(url))) });

  // For reference: p-queue without a rate limit (concurrency only), i.e. no throttle at all.
  const plainQueue = new PQueue({ concurrency: 6 });
  list.push({ name: 'p-queue (no interval) + cockatiel', call: () => plainQueue.add(() => pqPolicy.execute(() => transport(url))) });

  // Count throttle events so the table can show the huge limit really never bound.
  for (const c of list) {
    if (c.guard) {
      c.throttled = 0;
      try { c.guard.on('throttle', () => { c.throttled += 1; }); } catch {}
    }
  }
  return { list, notes, dispose: () => guards.forEach((g) => { try { g.dispose(); } catch {} }) };
}

async function timeCalls(call, n, batch, batchUs) {
  const t0 = performance.now();
  let tb = t0;
  for (let i = 0; i < n; i += batch) {
    for (let j = 0; j < batch; j++) {
      const r = await call();
      if (r === undefined) throw new Error('call resolved without a Response');
    }
    const t = performance.now();
    batchUs.push(((t - tb) * 1000) / batch);
    tb = t;
  }
  return performance.now() - t0;
}

function summarize(name, rounds, extra = {}) {
  const means = rounds.map((r) => r.meanUs);
  return {
    name,
    meanUs: median(means),
    p50Us: median(rounds.map((r) => r.p50Us)),
    p99Us: median(rounds.map((r) => r.p99Us)),
    meanMinUs: Math.min(...means),
    meanMaxUs: Math.max(...means),
    rounds: rounds.length,
    ...extra,
  };
}

/** Stub transport: { rounds, calls, warmup } → per contender mean/p50/p99 µs. */
export async function overheadStub({ rounds = 5, calls = 20000, warmup = 3000, batch = 100 } = {}) {
  const { list, notes, dispose } = await contenders(stubFetch);
  const perRound = new Map(list.map((c) => [c.name, []]));
  const errors = {};
  try {
    for (const c of list) {
      try { await timeCalls(c.call, warmup, batch, []); } catch (e) { errors[c.name] = errorText(e); }
    }
    for (let r = 0; r < rounds; r++) {
      // rotate the order each round so no contender always runs right after the same one
      const order = list.map((_, i) => list[(i + r) % list.length]);
      for (const c of order) {
        if (errors[c.name]) continue;
        const batches = [];
        try {
          const ms = await timeCalls(c.call, calls, batch, batches);
          batches.sort((a, b) => a - b);
          perRound.get(c.name).push({ meanUs: (ms * 1000) / calls, p50Us: quantile(batches, 0.5), p99Us: quantile(batches, 0.99) });
        } catch (e) {
          errors[c.name] = errorText(e);
        }
        await sleep(0);
      }
    }
  } finally {
    dispose();
  }
  const rows = list.map((c) => summarize(c.name, perRound.get(c.name), {
    error: errors[c.name], throttled: c.throttled,
  }));
  const raw = rows[0].meanUs;
  for (const row of rows) row.overheadUs = row.meanUs - raw;
  return { rows, notes, rounds, calls, warmup, batch };
}

/** Real GETs to the local backend: raw fetch vs guard vs ky, interleaved in rounds. */
export async function overheadNetwork({ rounds = 5, callsPerRound = 100, warmup = 30 } = {}) {
  const { ResourceGuard } = await loadGuard();
  const { ky } = await loadVendor();
  const url = `${location.origin}/api/echo?bench=net`;
  const guard = await ResourceGuard.create({ rateLimit: HUGE });
  const api = ky.create({ retry: { limit: 3 } });
  const list = [
    { name: 'raw fetch', call: () => fetch(url) },
    { name: 'guard (defaults, huge limit)', call: () => guard.fetch(url) },
    { name: 'ky (retry on)', call: () => api.get(url) },
  ];
  const samples = new Map(list.map((c) => [c.name, []]));
  const errors = {};
  try {
    for (const c of list) {
      try { for (let i = 0; i < warmup; i++) await (await c.call()).arrayBuffer(); } catch (e) { errors[c.name] = errorText(e); }
    }
    for (let r = 0; r < rounds; r++) {
      const order = list.map((_, i) => list[(i + r) % list.length]);
      for (const c of order) {
        if (errors[c.name]) continue;
        try {
          for (let i = 0; i < callsPerRound; i++) {
            const t = performance.now();
            const res = await c.call();
            await res.arrayBuffer();
            samples.get(c.name).push((performance.now() - t) * 1000);
          }
        } catch (e) { errors[c.name] = errorText(e); }
      }
    }
  } finally {
    try { guard.dispose(); } catch {}
  }
  const rows = list.map((c) => {
    const s = samples.get(c.name).sort((a, b) => a - b);
    return { name: c.name, calls: s.length, meanUs: sum(s) / s.length, p50Us: quantile(s, 0.5), p99Us: quantile(s, 0.99), error: errors[c.name] };
  });
  return { rows, rounds, callsPerRound };
}
