// Throttle accuracy: the stub transport records performance.now() when the library starts a
// request, so counting happens where the limiter lets go (not where the server sees it, which
// Chromium's 6-connections-per-host cap would blur).
import { recordingStub, loadGuard, loadVendor, sleep, withTimeout, errorText } from './common.js';

const LIMIT = { requests: 60, perMs: 1000 };

/** Most starts inside any window [t, t + perMs). */
export function maxInWindow(starts, perMs) {
  const s = [...starts].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (j < s.length && s[j] < s[i] + perMs) j++;
    best = Math.max(best, j - i);
  }
  return best;
}

/** Shortest time in which `n` consecutive starts happened (≥ perMs for a correct limiter). */
export function minSpan(starts, n) {
  const s = [...starts].sort((a, b) => a - b);
  let best = Infinity;
  for (let i = 0; i + n - 1 < s.length; i++) best = Math.min(best, s[i + n - 1] - s[i]);
  return best;
}

async function makeLimiters() {
  const { ResourceGuard } = await loadGuard();
  const { PQueue } = await loadVendor();
  return [
    {
      name: 'guard (sliding)',
      make: async (fetch) => {
        const g = await ResourceGuard.create({ fetch, rateLimit: LIMIT, queue: { maxDepth: 1000 } });
        return { call: (u) => g.fetch(u), dispose: () => g.dispose() };
      },
    },
    {
      name: 'p-queue (intervalCap, fixed window)',
      make: async (fetch) => {
        const q = new PQueue({ intervalCap: LIMIT.requests, interval: LIMIT.perMs });
        return { call: (u) => q.add(() => fetch(u)), dispose: () => q.clear() };
      },
    },
    {
      name: 'p-queue (strict: true, sliding)',
      make: async (fetch) => {
        const q = new PQueue({ intervalCap: LIMIT.requests, interval: LIMIT.perMs, strict: true });
        return { call: (u) => q.add(() => fetch(u)), dispose: () => q.clear() };
      },
    },
  ];
}

async function scenario(lim, plan) {
  const rec = recordingStub();
  const l = await lim.make(rec.fetch);
  const url = `${location.origin}/api/echo`;
  const pending = [];
  const t0 = performance.now();
  try {
    for (const step of plan) {
      const wait = t0 + step.at - performance.now();
      if (wait > 0) await sleep(wait);
      for (let i = 0; i < step.count; i++) pending.push(l.call(url));
    }
    const settled = await withTimeout(Promise.allSettled(pending), 20000, lim.name);
    const tDone = performance.now() - t0;
    const rejected = settled.filter((s) => s.status === 'rejected');
    const starts = rec.starts.map((t) => t - t0);
    return {
      started: starts.length,
      maxIn1000: maxInWindow(starts, LIMIT.perMs),
      // the same with 5 ms of slack, so a limiter on a millisecond clock (Date.now) is not
      // charged for sub-millisecond rounding against performance.now()
      maxIn995: maxInWindow(starts, LIMIT.perMs - 5),
      minSpan61Ms: minSpan(starts, LIMIT.requests + 1),
      lastStartMs: starts.length ? Math.max(...starts) : NaN,
      allDoneMs: tDone,
      rejected: rejected.length,
      firstError: rejected.length ? errorText(rejected[0].reason) : undefined,
    };
  } finally {
    try { l.dispose(); } catch {}
  }
}

export async function throttle() {
  const limiters = await makeLimiters();
  const scenarios = [
    { name: '300 at once', plan: [{ at: 0, count: 300 }], idealLastStartMs: 4000 },
    { name: '1, then 119 at 900 ms', plan: [{ at: 0, count: 1 }, { at: 900, count: 119 }], idealLastStartMs: 1900 },
  ];
  const rows = [];
  for (const sc of scenarios) {
    for (const lim of limiters) {
      try {
        rows.push({ scenario: sc.name, library: lim.name, idealLastStartMs: sc.idealLastStartMs, ...(await scenario(lim, sc.plan)) });
      } catch (e) {
        rows.push({ scenario: sc.name, library: lim.name, error: errorText(e) });
      }
      await sleep(1100); // let every window drain between runs
    }
  }
  return { limit: LIMIT, rows };
}
