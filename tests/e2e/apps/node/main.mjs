// @ts-check
// A Node (>= 20) script using the guard for real: Node's fetch and timers, the wasm read from the
// installed package. Server-side data loading gets the same throttle, retries and breakers.
//
//   node main.mjs http://127.0.0.1:8080
import { createGuard, isResourceGuardError } from 'resource-guard';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const guard = createGuard({ rateLimit: { requests: 3, perMs: 1000 }, retry: { maxRetries: 2 } });

try {
  await guard.ready; // optional: calls made before this wait for the wasm anyway
  const t0 = performance.now();
  // A limit held: six requests, three per second.
  const six = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => guard.fetch(`${base}/api/echo?app=node&i=${i}`)));
  const sixMs = performance.now() - t0;
  // A retry honoured: 429 with Retry-After: 1, then 200 once the hint was respected.
  const retried = await guard.fetch(`${base}/api/limited?key=node&limited=1`);
  const { hits } = /** @type {{ hits: number }} */ (await retried.json());
  const heap = await guard.sampleHeap();
  console.log(JSON.stringify({ ok: six.filter((r) => r.ok).length, sixMs: Math.round(sixMs), retried: retried.status, hits, heap: heap.source }));
} catch (e) {
  console.log(JSON.stringify({ error: isResourceGuardError(e) ? e.code : String(e) }));
  process.exitCode = 1;
} finally {
  guard.dispose(); // no timer is left: the process exits
}
