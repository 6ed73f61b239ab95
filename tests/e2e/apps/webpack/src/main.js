// @ts-check
// A plain app bundled by webpack, resource-guard installed from its npm tarball.
// webpack 5 emits the wasm as an asset by itself (new URL(..., import.meta.url)): the plain entry.
import { createGuard, isResourceGuardError } from 'resource-guard';

/** The app's one guard: 3 requests per second, retries that honour Retry-After. */
export const guard = createGuard({ rateLimit: { requests: 3, perMs: 1000 }, retry: { maxRetries: 2 } });

const out = /** @type {HTMLElement} */ (document.getElementById('result'));

async function main() {
  // A limit held: six requests, the guard spaces them three per second.
  const six = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => guard.fetch(`/api/echo?app=webpack&i=${i}`)));
  // A retry honoured: the backend answers 429 with Retry-After: 1, then 200 once the hint is respected.
  const retried = await guard.fetch('/api/limited?key=webpack&limited=1');
  const body = /** @type {{ hits: number }} */ (await retried.json());
  const api = guard.snapshot()?.categories.api;
  out.textContent = JSON.stringify({ ok: six.filter((r) => r.ok).length, retried: retried.status, hits: body.hits, throttled: api?.counters.throttled ?? -1 });
}

main().catch((e) => {
  out.textContent = JSON.stringify({ error: isResourceGuardError(e) ? e.code : String(e) });
});
