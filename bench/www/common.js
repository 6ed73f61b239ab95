// Shared helpers for the in-page benchmark sections.

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects after `ms` so a hung library cannot stall the whole run. */
export function withTimeout(promise, ms, what = 'operation') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, fail) => { timer = setTimeout(() => fail(new Error(`${what} timed out after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

export function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
export const median = (xs) => quantile([...xs].sort((a, b) => a - b), 0.5);
export const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** A stub transport that answers at once with a fresh Response, as a real fetch would. */
export const stubFetch = () => Promise.resolve(new Response(null));

/** A stub that records when it was called (the moment the library starts the request). */
export function recordingStub() {
  const starts = [];
  const fetch = () => { starts.push(performance.now()); return Promise.resolve(new Response(null)); };
  return { fetch, starts };
}

export async function loadGuard() {
  return import('/pkg/index.js');
}

let vendor;
/** The competitor bundles built by bench/run.mjs (esbuild, same settings as the size table). */
export async function loadVendor() {
  if (!vendor) {
    const [ky, cockatiel, pqueue] = await Promise.all([
      import('./vendor/ky.js'), import('./vendor/cockatiel.js'), import('./vendor/p-queue.js'),
    ]);
    vendor = { ky: ky.default, cockatiel, PQueue: pqueue.default };
  }
  return vendor;
}

/** Does guard.fetch actually throttle yet, or is it still the pass-through? */
export async function guardIsActive() {
  const { ResourceGuard } = await loadGuard();
  const rec = recordingStub();
  let guard;
  try {
    guard = await ResourceGuard.create({ fetch: rec.fetch, rateLimit: { requests: 1, perMs: 60000 } });
  } catch (e) {
    return { active: false, reason: `create failed: ${e && e.message}` };
  }
  const ac = new AbortController();
  const a = guard.fetch('/api/echo', { signal: ac.signal }).catch(() => {});
  const b = guard.fetch('/api/echo', { signal: ac.signal }).catch(() => {});
  await sleep(50);
  const started = rec.starts.length;
  ac.abort();
  await Promise.race([Promise.allSettled([a, b]), sleep(500)]);
  try { guard.dispose(); } catch {}
  return { active: started === 1, startedOf2: started };
}

export function errorText(e) {
  if (!e) return String(e);
  return e.code ? `${e.code}: ${e.message}` : `${e.name || 'Error'}: ${e.message || e}`;
}

/** Watches main-thread long tasks (>= 50 ms) until `stop()`, which returns count, longest and total ms. */
export function watchLongTasks() {
  const seen = [];
  let obs;
  try {
    obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) seen.push(e.duration); });
    obs.observe({ type: 'longtask' });
  } catch {
    return () => ({ count: null, maxMs: null, totalMs: null });
  }
  return () => {
    for (const e of obs.takeRecords()) seen.push(e.duration);
    obs.disconnect();
    return { count: seen.length, maxMs: seen.length ? Math.max(...seen) : 0, totalMs: seen.reduce((a, b) => a + b, 0) };
  };
}
