// resource-guard/react: hooks over one guard per component tree. React is a peer dependency and
// the only import besides the package itself; nothing here touches `window` at module load, so
// the file is safe to import during server-side rendering (the guard is created in an effect,
// which never runs on the server).
import { createContext, createElement, useContext, useEffect, useRef, useState } from 'react';
import { ResourceGuard, createGuard } from './index.js';

const LEVELS = ['normal', 'warning', 'critical', 'limit'];

/** Narrows whatever a snapshot or an event carries to a heap level ('normal' when unknown). */
function levelOf(value) {
  return typeof value === 'string' && LEVELS.includes(value) ? value : 'normal';
}

const GuardContext = createContext(null);

/**
 * Makes `guard` (from `createGuard()`, `ResourceGuard.create()` or its promise) the guard of
 * every component below: `useGuard()` returns it, so they all share one budget. Creates nothing
 * and disposes of nothing, which keeps it StrictMode- and SSR-safe.
 */
export function GuardProvider({ guard, children }) {
  return createElement(GuardContext.Provider, { value: guard ?? null }, children);
}

let defaultGuard = null;

/**
 * The guard of the nearest `<GuardProvider>`. Without one, the page's default guard: created on
 * first use with default options and shared by every component that calls `useGuard()` (so two
 * components share one budget either way). It is never disposed; a provider is the way to choose
 * options or to dispose.
 */
export function useGuard() {
  const provided = useContext(GuardContext);
  if (provided) return provided;
  return (defaultGuard ??= createGuard());
}

/** A guard, or what a promise of one resolved to (null until then); the identity is kept. */
function useSource(source) {
  const pending = source != null && typeof source.then === 'function' && typeof source.snapshot !== 'function';
  const [resolved, setResolved] = useState(null);
  useEffect(() => {
    if (!pending) return undefined;
    let live = true;
    source.then(
      (g) => {
        if (live) setResolved({ source, guard: g ?? null });
      },
      () => {}, // creation failed: stay null; whoever created the promise owns its error
    );
    return () => {
      live = false;
    };
  }, [source, pending]);
  if (!pending) return source ?? null;
  return resolved && resolved.source === source ? resolved.guard : null;
}

/**
 * Creates a guard when the component mounts and disposes of it when it unmounts; returns `null`
 * while the guard is loading (and during server rendering). Options are read once, at mount.
 * Pass `{ guard }` to use an existing guard instead: it is returned as is and never disposed here.
 *
 * Under StrictMode React mounts, unmounts and mounts again: the first guard is disposed as soon
 * as its creation settles, so exactly one guard stays alive per mounted component.
 */
export function useResourceGuard(options) {
  const shared = options != null && typeof options === 'object' && 'guard' in options ? options.guard ?? null : undefined;
  const [owned, setOwned] = useState(null);
  const [error, setError] = useState(null);
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    if (shared !== undefined) return undefined;
    let cancelled = false;
    let created = null;
    const { guard: _ignored, ...createOptions } = optionsRef.current ?? {};
    ResourceGuard.create(createOptions).then(
      (g) => {
        if (cancelled) g.dispose();
        else {
          created = g;
          setOwned(g);
        }
      },
      (e) => {
        if (!cancelled) setError(e);
      },
    );
    return () => {
      cancelled = true;
      if (created) created.dispose();
      created = null;
      setOwned(null);
    };
  }, [shared !== undefined]);

  // Creation errors (invalid options, ERR_UNSUPPORTED) surface through the nearest error boundary.
  if (error) throw error;
  return shared !== undefined ? shared : owned;
}

/**
 * The guard's snapshot, refreshed every `intervalMs` (default 1000) while the component is
 * mounted; `null` until there is a guard (a guard, a `createGuard()` guard before it is ready, or
 * a promise of a guard).
 */
export function useGuardSnapshot(source, intervalMs = 1000) {
  const guard = useSource(source);
  const [state, setState] = useState({ guard: null, snapshot: null });

  useEffect(() => {
    if (!guard) return undefined;
    const read = () => {
      let snapshot = null;
      try {
        snapshot = guard.snapshot();
      } catch {
        return; // disposed between ticks: keep the last value until the guard prop changes
      }
      setState({ guard, snapshot });
    };
    read();
    const period = Number.isFinite(intervalMs) && intervalMs > 0 ? intervalMs : 1000;
    const timer = setInterval(read, period);
    return () => clearInterval(timer);
  }, [guard, intervalMs]);

  return guard && state.guard === guard ? state.snapshot : null;
}

/**
 * The guard's heap level ('normal' | 'warning' | 'critical' | 'limit'), updated on each 'heap'
 * event; 'normal' until there is a guard or a reading.
 */
export function useHeapLevel(source) {
  const guard = useSource(source);
  const [state, setState] = useState({ guard: null, level: 'normal' });

  useEffect(() => {
    if (!guard) return undefined;
    let initial = 'normal';
    try {
      initial = levelOf(guard.snapshot()?.heap?.level);
    } catch {
      // a disposed guard has no snapshot; stay at 'normal'
    }
    setState({ guard, level: initial });
    const off = guard.on('heap', (event) => {
      setState({ guard, level: levelOf(event?.level) });
    });
    return () => {
      if (typeof off === 'function') off();
    };
  }, [guard]);

  return guard && state.guard === guard ? state.level : 'normal';
}
