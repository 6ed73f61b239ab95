// Types for resource-guard/react. React is a peer dependency; these declarations do not need
// @types/react (hooks take and return resource-guard types only; GuardProvider is typed as a
// function component returning an opaque element).
import type { AppGuard, GuardOptions, GuardSnapshot, ResourceGuard } from './index.js';

/** The heap level the guard last reported. */
export type HeapLevel = 'normal' | 'warning' | 'critical' | 'limit';

/** What `ResourceGuard.create` accepts. */
export type GuardCreateOptions = GuardOptions;

/** What `guard.snapshot()` returns. */
export type GuardSnapshotOf = GuardSnapshot;

/** A guard the hooks accept: a ResourceGuard, a `createGuard()` guard, or a promise of a guard. */
export type GuardSource<C extends string = string> = ResourceGuard<C> | AppGuard<C> | PromiseLike<ResourceGuard<C>> | null | undefined;

/** Share an existing guard (created elsewhere, never disposed by the hook). */
export interface SharedGuardOption {
  guard: ResourceGuard | null;
}

/**
 * Makes `guard` the guard of every component below (`useGuard()` returns it): one budget for the
 * tree. Creates and disposes of nothing, so StrictMode's double render and SSR are harmless.
 */
export function GuardProvider(props: { guard: AppGuard<any> | ResourceGuard<any>; children?: unknown }): any;

/**
 * The nearest `<GuardProvider>`'s guard; without a provider, the page's default guard (created on
 * first use with default options, shared by every caller, never disposed).
 */
export function useGuard<C extends string = string>(): AppGuard<C> | ResourceGuard<C>;

/**
 * Creates one guard per mounted component (options are read once, at mount) and disposes of it
 * on unmount; `null` while loading and during server rendering. StrictMode's double mount leaves
 * exactly one live guard. With `{ guard }`, returns that guard and never disposes of it.
 * A creation error (ERR_INVALID_OPTION, ERR_WASM_LOAD) is thrown to the nearest error boundary.
 * For one guard shared by the whole app, prefer `createGuard()` + `<GuardProvider>`.
 */
export function useResourceGuard(options?: GuardCreateOptions | SharedGuardOption): ResourceGuard | null;

/**
 * `guard.snapshot()`, refreshed every `intervalMs` while mounted; `null` until there is a guard
 * (or while a `createGuard()` guard is not ready yet).
 * @param intervalMs refresh period in milliseconds. @default 1000
 */
export function useGuardSnapshot<C extends string>(guard: GuardSource<C>, intervalMs?: number): GuardSnapshot<C> | null;

/** The level of the latest 'heap' event; 'normal' until there is a guard or a reading. */
export function useHeapLevel(guard: GuardSource<any>): HeapLevel;
