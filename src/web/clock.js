// The clock the wasm core (and the JS driver, which imports this same module from the package)
// reads. `performance` is looked up once: reaching it through the global object on every call
// costs ~250 ns in Chromium, and the guard reads the clock on every request. Fake timers
// (Vitest `vi.useFakeTimers()`, Jest's modern timers, @sinonjs/fake-timers) replace
// `setTimeout` and `performance` together, possibly after this module was loaded: a changed
// `setTimeout` (a plain global data property, so the check costs a few ns) makes the clock look
// `performance` up again. The offset keeps time monotonic across such a switch, so the core never
// sees time run backwards.
const real = globalThis.performance;
let perf = real;
let timer = globalThis.setTimeout;
let offset = 0;
let last = 0;

function rebind() {
  timer = globalThis.setTimeout;
  const next = globalThis.performance;
  if (next !== perf) {
    // A fake `performance` counts from its installation (fake-timers start it at 0): its time
    // continues from the last reading, so fake time advanced before the guard next looks at the
    // clock still counts. The real one continues from where it is now. Whole milliseconds: a
    // fake clock reads whole ms, and so then do the guard's times, which keeps a test's
    // `advanceTimersByTime(10_000)` landing exactly on a window boundary.
    offset = next === real ? Math.ceil(last - next.now()) : Math.ceil(last);
    perf = next;
  }
  return perf;
}

export function perf_now() {
  const t = (setTimeout === timer ? perf : rebind()).now() + offset;
  // `last` only moves forward: a fake clock's time may be set back (`vi.setSystemTime`).
  return t > last ? (last = t) : last;
}
