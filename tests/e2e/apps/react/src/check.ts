// Type-checked with `tsc --noEmit` against the installed tarball: broken exports or types fail
// the integration test. Not bundled.
import { ResourceGuard, isResourceGuardError } from 'resource-guard';
import { useResourceGuard, useGuardSnapshot, useHeapLevel, type HeapLevel } from 'resource-guard/react';

export function usePanel(shared: ResourceGuard | null): string {
  const guard: ResourceGuard | null = useResourceGuard({ rateLimit: { requests: 20, perMs: 1000 } });
  const same: ResourceGuard | null = useResourceGuard({ guard: shared });
  const snapshot = useGuardSnapshot(guard, 500);
  const level: HeapLevel = useHeapLevel(same);
  // @ts-expect-error not a heap level
  const wrong: HeapLevel = 'panic';
  // @ts-expect-error an interval is a number
  useGuardSnapshot(guard, '1s');
  const uptime: number | undefined = snapshot?.uptimeMs;
  return `${level} ${wrong} ${uptime ?? 0}`;
}

export async function load(guard: ResourceGuard): Promise<number> {
  try {
    const res: Response = await guard.fetch('/api/echo', { priority: 'high', category: 'api', timeoutMs: 1000 });
    return res.status;
  } catch (e: unknown) {
    if (isResourceGuardError(e)) return e.code.length;
    throw e;
  }
}
