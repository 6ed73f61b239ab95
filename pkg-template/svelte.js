// resource-guard/svelte: readable stores over a guard. The store contract is implemented by hand
// (`subscribe(run) -> unsubscribe`, `run` called synchronously with the current value), so this
// file imports nothing from svelte and works with `$store`, runes (`fromStore`) and Svelte 3/4.
// Timers and listeners start with the first subscriber and stop with the last, which keeps the
// module safe to import and to use during server-side rendering.

const LEVELS = ['normal', 'warning', 'critical', 'limit'];
const levelOf = (value) => (typeof value === 'string' && LEVELS.includes(value) ? value : 'normal');

/** A readable store whose `start(set)` runs while it has subscribers and returns its stop function. */
function readable(initial, start) {
  let value = initial;
  const subscribers = new Set();
  let stop = null;
  const set = (next) => {
    value = next;
    for (const s of [...subscribers]) s.run(value);
  };
  return {
    subscribe(run, invalidate) {
      const sub = { run, invalidate };
      subscribers.add(sub);
      if (subscribers.size === 1) stop = start(set) || null;
      run(value);
      return () => {
        if (!subscribers.delete(sub)) return;
        if (subscribers.size === 0 && stop) {
          stop();
          stop = null;
        }
      };
    },
  };
}

/** What each lazy source (a function) returned: two stores given one function share its guard. */
const lazy = new WeakMap();

/**
 * A guard, a promise of one, or a function creating one: the function is called once, on the
 * first subscription in a browser (never during SSR, where `document` is absent), and its guard
 * belongs to the caller (stores never dispose of it).
 */
function resolveSource(source) {
  if (typeof source !== 'function') return source;
  if (typeof document === 'undefined') return null;
  if (!lazy.has(source)) lazy.set(source, source());
  return lazy.get(source);
}

/** Calls `use(guard)` once the source resolves to a guard; returns a function that cancels it. */
function withGuard(input, use) {
  const source = resolveSource(input);
  if (source == null) return () => {};
  if (typeof source.then === 'function' && typeof source.snapshot !== 'function') {
    let cancelled = false;
    let stop = null;
    source.then(
      (g) => {
        if (!cancelled && g) stop = use(g);
      },
      () => {}, // creation failed: the store keeps its initial value; the caller owns the promise
    );
    return () => {
      cancelled = true;
      if (stop) stop();
    };
  }
  return use(source);
}

/** `guard.snapshot()` every `intervalMs` (default 1000) while subscribed; `null` until there is a guard. */
export function snapshotStore(guard, intervalMs = 1000) {
  const period = Number.isFinite(intervalMs) && intervalMs > 0 ? intervalMs : 1000;
  return readable(null, (set) =>
    withGuard(guard, (g) => {
      const read = () => {
        try {
          set(g.snapshot());
        } catch {
          // disposed: keep the last value
        }
      };
      read();
      const timer = setInterval(read, period);
      return () => clearInterval(timer);
    }),
  );
}

/** The level of the latest 'heap' event; 'normal' until there is a guard or a reading. */
export function heapLevelStore(guard) {
  return readable('normal', (set) =>
    withGuard(guard, (g) => {
      try {
        set(levelOf(g.snapshot()?.heap?.level));
      } catch {
        // disposed guard: stay at the current level
      }
      const off = g.on('heap', (event) => set(levelOf(event?.level)));
      return () => {
        if (typeof off === 'function') off();
      };
    }),
  );
}
