// Types for resource-guard/react. React is a peer dependency; these declarations do not need
// @types/react (hooks take and return resource-guard types only).
import type { ResourceGuard } from './index.js';

/** The heap level the guard last reported. */
export type HeapLevel = 'normal' | 'warning' | 'critical' | 'limit';

/** What `ResourceGuard.create` accepts. */
export type GuardCreateOptions = NonNullable<Parameters<typeof ResourceGuard.create>[0]>;

/** What `guard.snapshot()` returns. */
export type GuardSnapshotOf = ReturnType<ResourceGuard['snapshot']>;

/** Share an existing guard (created elsewhere, never disposed by the hook). */
export interface SharedGuardOption {
  guard: ResourceGuard | null;
}

/**
 * Creates one guard per mounted component (options are read once, at mount) and disposes of it
 * on unmount; `null` while loading and during server rendering. StrictMode's double mount leaves
 * exactly one live guard. With `{ guard }`, returns that guard and never disposes of it.
 * A creation error (ERR_INVALID_OPTION, ERR_UNSUPPORTED) is thrown to the nearest error boundary.
 */
export function useResourceGuard(options?: GuardCreateOptions | SharedGuardOption): ResourceGuard | null;

/**
 * `guard.snapshot()`, refreshed every `intervalMs` while mounted; `null` until there is a guard.
 * @param intervalMs refresh period in milliseconds. @default 1000
 */
export function useGuardSnapshot(guard: ResourceGuard | null | undefined, intervalMs?: number): GuardSnapshotOf | null;

/** The level of the latest 'heap' event; 'normal' until there is a guard or a reading. */
export function useHeapLevel(guard: ResourceGuard | null | undefined): HeapLevel;
