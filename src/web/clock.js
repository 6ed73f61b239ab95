// The clock the wasm core reads. `performance` is looked up once: reaching it through the global
// object on every call costs ~250 ns in Chromium, and the guard reads the clock on every request.
const perf = globalThis.performance;
export function perf_now() {
  return perf.now();
}
