// Scale: 10,000 requests queued in the guard (1 request per hour, so all but the first wait),
// memory growth per queued request (wasm linear memory and JS heap, after a forced GC) and the
// enqueue cost per request as the queue grows; p-queue holding the same backlog for reference.
import { stubFetch, loadGuard, loadVendor, sleep, withTimeout, errorText, sum, median } from './common.js';

const N = 10000;
const BLOCK = 100;
const DEPTHS = [1000, 5000, 10000];

async function settle() {
  for (let i = 0; i < 3; i++) {
    if (globalThis.gc) globalThis.gc();
    await sleep(20);
  }
}
const jsHeap = () => (performance.memory ? performance.memory.usedJSHeapSize : NaN);

async function wasmBytes(guard) {
  try {
    const s = guard.snapshot();
    if (s && typeof s.wasmMemoryBytes === 'number') return { bytes: s.wasmMemoryBytes, source: 'snapshot().wasmMemoryBytes' };
  } catch {}
  const glue = await import('/pkg/resource_guard.js');
  const w = await glue.default();
  return { bytes: w.memory.buffer.byteLength, source: 'wasm.memory.buffer.byteLength' };
}

/** Enqueue N calls in blocks; returns µs per call for the blocks ending at each depth. Each call
 * gets its own AbortController (one shared signal would measure Blink's listener list, which
 * grows linearly, instead of the library). */
function enqueue(call, controllers, promises) {
  const blockUs = [];
  for (let i = 0; i < N; i += BLOCK) {
    for (let j = 0; j < BLOCK; j++) controllers.push(new AbortController());
    const t = performance.now();
    for (let j = 0; j < BLOCK; j++) promises.push(call(controllers[i + j].signal));
    blockUs.push(((performance.now() - t) * 1000) / BLOCK);
  }
  // median of the 10 blocks ending at each depth (robust to a GC pause landing in one block)
  const at = {};
  for (const d of DEPTHS) {
    const end = d / BLOCK;
    at[d] = median(blockUs.slice(Math.max(0, end - 10), end));
  }
  return { at, totalMs: (sum(blockUs) * BLOCK) / 1000 };
}

async function measure(name, setup) {
  const row = { name };
  const promises = [];
  const controllers = [];
  let ctx;
  try {
    ctx = await setup();
    await ctx.call(undefined); // takes the one token
    await settle();
    const heap0 = jsHeap();
    const wasm0 = ctx.wasm ? await ctx.wasm() : null;
    const { at, totalMs } = enqueue(ctx.call, controllers, promises);
    promises.forEach((p) => p.catch(() => {}));
    await sleep(50); // let the async part of enqueueing run
    row.enqueueUsAt = at;
    row.enqueueTotalMs = totalMs;
    row.startedWhileQueued = ctx.started(); // 1 means everything after the first really waited
    await settle();
    const heap1 = jsHeap();
    const wasm1 = ctx.wasm ? await ctx.wasm() : null;
    row.jsHeapBytesPerRequest = (heap1 - heap0) / N;
    if (wasm0) {
      row.wasmBytesPerRequest = (wasm1.bytes - wasm0.bytes) / N;
      row.wasmBefore = wasm0.bytes; row.wasmAfter = wasm1.bytes; row.wasmSource = wasm0.source;
    }
    const t = performance.now();
    for (const c of controllers) c.abort();
    const settled = await withTimeout(Promise.allSettled(promises), 30000, `${name} abort`);
    row.abortMs = performance.now() - t;
    row.fulfilled = settled.filter((s) => s.status === 'fulfilled').length;
    row.rejected = settled.length - row.fulfilled;
  } catch (e) {
    row.error = errorText(e);
  } finally {
    try { ctx && ctx.dispose(); } catch {}
  }
  return row;
}

export async function scale() {
  const { ResourceGuard } = await loadGuard();
  const { PQueue } = await loadVendor();
  const rows = [];
  rows.push(await measure('guard', async () => {
    let started = 0;
    const counting = () => { started += 1; return stubFetch(); };
    const g = await ResourceGuard.create({ fetch: counting, rateLimit: { requests: 1, perMs: 3600000 }, queue: { maxDepth: 100000 } });
    return {
      call: (signal) => g.fetch('/api/echo', signal ? { signal } : undefined),
      wasm: () => wasmBytes(g),
      started: () => started,
      dispose: () => g.dispose(),
    };
  }));
  await settle();
  rows.push(await measure('p-queue (reference)', async () => {
    let started = 0;
    const q = new PQueue({ intervalCap: 1, interval: 3600000 });
    return {
      call: (signal) => q.add(() => { started += 1; return stubFetch(); }, signal ? { signal } : undefined),
      started: () => started,
      dispose: () => q.clear(),
    };
  }));
  return { n: N, depths: DEPTHS, preciseMemory: !!performance.memory, gc: typeof globalThis.gc === 'function', rows };
}
