// Type-level checks of the shipped declarations (tsc, strict + noUncheckedIndexedAccess +
// exactOptionalPropertyTypes). Every @ts-expect-error must be an error, or tsc fails.
import { createGuard, ResourceGuard, isResourceGuardError, type GuardSnapshot } from 'resource-guard';
import { GuardProvider, useGuard, useGuardSnapshot } from 'resource-guard/react';
import { snapshotStore } from 'resource-guard/svelte';

const guard = createGuard({ categories: { upload: { requests: 10, perMs: 60_000 }, thumbs: { maxConcurrent: 2 } } });

export async function categories(): Promise<number> {
  await guard.fetch('/a', { category: 'thumbs' });
  await guard.fetch('/a', { category: 'api' });
  // @ts-expect-error a category the options do not name
  await guard.fetch('/a', { category: 'uplod' });
  await guard.run(async () => 1, { category: 'jobs' });
  // @ts-expect-error not a priority
  await guard.fetch('/a', { priority: 'urgent' });
  const created = await ResourceGuard.create({ categories: { search: {} } });
  // @ts-expect-error not one of this guard's categories
  await created.fetch('/a', { category: 'thumbs' });
  // @ts-expect-error unknown option
  createGuard({ ratelimit: { requests: 1, perMs: 1 } });
  return 0;
}

export function snapshots(s: GuardSnapshot<'api' | 'thumbs'>): number {
  // Configured categories are always present, under noUncheckedIndexedAccess too.
  const queued: number = s.categories.thumbs.queued.normal + s.categories.api.inFlight;
  // @ts-expect-error services are keyed by origin: any key may be missing
  const failures: number = s.services['https://api.example.test'].failures;
  const snap = guard.snapshot();
  // @ts-expect-error null until the guard is ready
  snap.categories.api;
  return queued + failures + (snap?.categories.thumbs.inFlight ?? 0);
}

export function errors(e: unknown): number | string {
  if (!isResourceGuardError(e)) return 0;
  switch (e.code) {
    case 'ERR_CIRCUIT_OPEN':
      return e.details.retryInMs;
    case 'ERR_INVALID_OPTION':
      return e.details.path;
    case 'ERR_SHED':
      return e.details.reason;
    case 'ERR_WASM_LOAD':
      return e.details.url + (e.details.status ?? 0);
    case 'ERR_TIMEOUT':
      // @ts-expect-error retryInMs belongs to ERR_CIRCUIT_OPEN
      return e.details.retryInMs;
    default:
      return e.code;
  }
}

export function adapters(): unknown {
  const provided = useGuard<'api'>();
  const snap = useGuardSnapshot(guard, 500);
  const fromPromise = useGuardSnapshot(ResourceGuard.create(), 500);
  const store = snapshotStore(() => createGuard());
  // @ts-expect-error the provider needs a guard
  GuardProvider({ children: null });
  return [provided, snap?.categories.thumbs.inFlight, fromPromise?.categories.api.inFlight, store];
}
