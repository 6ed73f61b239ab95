// Types for resource-guard/svelte: readable stores by contract (`subscribe(run) => unsubscribe`),
// structurally compatible with svelte/store's Readable, `$store` and `fromStore`.
import type { ResourceGuard } from './index.js';

/** The heap level the guard last reported. */
export type HeapLevel = 'normal' | 'warning' | 'critical' | 'limit';

/** What `guard.snapshot()` returns. */
export type GuardSnapshotOf = ReturnType<ResourceGuard['snapshot']>;

/** Svelte's readable-store contract. */
export interface Readable<T> {
  subscribe(this: void, run: (value: T) => void, invalidate?: () => void): () => void;
}

/** A guard, a promise of one (e.g. `ResourceGuard.create()`), or nothing yet. */
export type GuardSource = ResourceGuard | PromiseLike<ResourceGuard> | null | undefined;

/**
 * `guard.snapshot()` every `intervalMs` while the store has subscribers; `null` until there is a guard.
 * @param intervalMs refresh period in milliseconds. @default 1000
 */
export function snapshotStore(guard: GuardSource, intervalMs?: number): Readable<GuardSnapshotOf | null>;

/** The level of the latest 'heap' event; 'normal' until there is a guard or a reading. */
export function heapLevelStore(guard: GuardSource): Readable<HeapLevel>;
