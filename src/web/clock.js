// The clock the wasm core (and the JS driver, which imports this same module from the package)
// reads. `performance` is looked up once: reaching it through the global object on every call
// costs ~250 ns in Chromium, and the guard reads the clock on every request. Fake timers
// (Vitest `vi.useFakeTimers()`, Jest's modern timers, @sinonjs/fake-timers) replace
// `setTimeout` and `performance` together, possibly after this module was loaded: a changed
// `setTimeout` (a plain global data property, so the check costs a few ns) makes the clock look
// `performance` up again. The offset keeps time monotonic across such a switch (a fake clock
// starts near 0), so the core never sees time run backwards.
let perf = globalThis.performance;
let timer = globalThis.setTimeout;
let offset = 0;
let last = 0;

function rebind() {
  timer = globalThis.setTimeout;
  const next = globalThis.performance;
  if (next !== perf) {
    perf = next;
    // Whole milliseconds: a fake clock reads whole ms, and so do the guard's times on it, which
    // keeps a test's `advanceTimersByTime(10_000)` landing exactly on a window boundary.
    offset = Math.ceil(last - perf.now());
  }
  return perf;
}

export function perf_now() {
  const t = (setTimeout === timer ? perf : rebind()).now() + offset;
  // `last` only moves forward: a fake clock's time may be set back (`vi.setSystemTime`).
  return t > last ? (last = t) : last;
}
