// @ts-check
// The app's one guard, created at module top level (README: "One guard for the whole app").
// Tests give it a fake transport; the app passes nothing and gets the platform's fetch.
import { createGuard } from 'resource-guard';

/** @param {(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>} [transport] */
export function makeGuard(transport) {
  return createGuard({
    fetch: transport,
    rateLimit: { requests: 5, perMs: 10_000 },
    categories: { upload: { requests: 2, perMs: 60_000 } },
    retry: { maxRetries: 2, baseDelayMs: 1000 },
  });
}
