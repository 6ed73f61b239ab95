// Type-checked with `tsc --noEmit` against the installed tarball: broken exports or types fail
// the integration test. Not bundled.
import type { Readable as SvelteReadable } from 'svelte/store';
import { ResourceGuard } from 'resource-guard';
import { snapshotStore, heapLevelStore, type HeapLevel, type Readable } from 'resource-guard/svelte';

export function stores(guard: ResourceGuard | Promise<ResourceGuard> | null): string {
  const level: SvelteReadable<HeapLevel> = heapLevelStore(guard);
  const snapshot = snapshotStore(guard, 250);
  const asOurs: Readable<HeapLevel> = level;
  let seen = '';
  const stop: () => void = snapshot.subscribe((s) => {
    seen = s === null ? 'none' : String(s.uptimeMs);
  });
  stop();
  asOurs.subscribe((l: HeapLevel) => {
    // @ts-expect-error not a heap level
    const wrong: HeapLevel = l === 'normal' ? 'panic' : l;
    seen += wrong;
  })();
  return seen;
}
