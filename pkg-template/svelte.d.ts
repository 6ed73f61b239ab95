// Types for resource-guard/svelte: readable stores by contract (`subscribe(run) => unsubscribe`),
// structurally compatible with svelte/store's Readable, `$store` and `fromStore`.
import type { AppGuard, GuardSnapshot, ResourceGuard } from './index.js';

/** The heap level the guard last reported. */
export type HeapLevel = 'normal' | 'warning' | 'critical' | 'limit';

/** What `guard.snapshot()` returns. */
export type GuardSnapshotOf = ReturnType<ResourceGuard['snapshot']>;

/** Svelte's readable-store contract. */
export interface Readable<T> {
  subscribe(this: void, run: (value: T) => void, invalidate?: () => void): () => void;
}

/** A guard: a ResourceGuard, a `createGuard()` guard, a promise of one, or nothing yet. */
export type GuardValue<C extends string = string> = ResourceGuard<C> | AppGuard<C> | PromiseLike<ResourceGuard<C>> | null | undefined;

/**
 * What the stores take: a guard (see GuardValue), or a function creating one lazily. The function
 * is called once (per function: stores given the same one share its guard), on the first
 * subscription in a browser, never during SSR; its guard is the caller's to dispose.
 */
export type GuardSource<C extends string = string> = GuardValue<C> | (() => GuardValue<C>);

/**
 * `guard.snapshot()` every `intervalMs` while the store has subscribers; `null` until there is a
 * guard (or while a `createGuard()` guard is not ready yet).
 * @param intervalMs refresh period in milliseconds. @default 1000
 */
export function snapshotStore<C extends string>(guard: GuardSource<C>, intervalMs?: number): Readable<GuardSnapshot<C> | null>;

/** The level of the latest 'heap' event; 'normal' until there is a guard or a reading. */
export function heapLevelStore(guard: GuardSource<any>): Readable<HeapLevel>;
