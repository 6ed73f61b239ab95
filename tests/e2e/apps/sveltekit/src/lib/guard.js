// The app's one guard, created at module top level. This module runs on the server too (SSR):
// there the guard is real (Node's fetch and timers) and serves server-side loads, one budget per
// server process; in the browser it is the page's guard, alive for the whole visit (client-side
// navigation keeps modules loaded, so nothing leaks). Nothing here rejects unhandled, also when
// the wasm cannot load.
import { createGuard } from 'resource-guard';

export const guard = createGuard({ rateLimit: { requests: 3, perMs: 1000 }, retry: { maxRetries: 2 } });
