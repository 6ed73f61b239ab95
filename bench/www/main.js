export { overheadStub, overheadNetwork } from './overhead.js';
export { throttle } from './throttle.js';
export { retryAfter } from './retry.js';
export { scale } from './scale.js';
export { heapSampling } from './heap.js';
export { upload, uploadMillion } from './upload.js';
export { guardIsActive } from './common.js';

export async function env() {
  return {
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated,
    hardwareConcurrency: navigator.hardwareConcurrency,
    preciseMemory: !!(performance.memory && performance.memory.usedJSHeapSize % 100000 !== 0),
    gcExposed: typeof globalThis.gc === 'function',
    // performance.now() resolution: smallest non-zero step seen
    timerResolutionUs: (() => {
      let min = Infinity;
      let last = performance.now();
      for (let i = 0; i < 200000 && min > 0.001; i++) {
        const t = performance.now();
        if (t !== last) { min = Math.min(min, t - last); last = t; }
      }
      return Math.round(min * 1000 * 10) / 10;
    })(),
  };
}
