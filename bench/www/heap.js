// Cost of one guard.sampleHeap() call, when the guard has it.
import { loadGuard, withTimeout, errorText, watchLongTasks } from './common.js';

export async function heapSampling({ budgetMs = 3000, maxCalls = 500 } = {}) {
  const { ResourceGuard } = await loadGuard();
  const guard = await ResourceGuard.create({});
  try {
    if (typeof guard.sampleHeap !== 'function') return { available: false };
    const t0 = performance.now();
    const first = await withTimeout(guard.sampleHeap(), 30000, 'sampleHeap');
    const firstUs = (performance.now() - t0) * 1000;
    const n = Math.max(5, Math.min(maxCalls, Math.floor((budgetMs * 1000) / Math.max(firstUs, 1))));
    const stopWatch = watchLongTasks();
    const t1 = performance.now();
    let last = first;
    for (let i = 0; i < n; i++) last = await withTimeout(guard.sampleHeap(), 30000, 'sampleHeap');
    const meanUs = ((performance.now() - t1) * 1000) / n;
    const longTasks = stopWatch();
    return { available: true, firstUs, meanUs, calls: n, source: last && last.source, precise: last && last.precise, longTasks };
  } catch (e) {
    return { available: true, error: errorText(e) };
  } finally {
    try { guard.dispose(); } catch {}
  }
}
