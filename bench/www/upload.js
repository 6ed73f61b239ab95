// Upload throughput: guard.uploader (IndexedDB-backed, idempotent batches) against /upload, next to
// the durable baseline, the least any durable queue must do in the same page: a raw IndexedDB put
// of the records in one transaction (strict durability, as the uploader's enqueue), a plain fetch
// loop posting the same batches with the same wire format (Idempotency-Key and Content-Digest,
// which the sink requires), and a raw delete of the sent records in one transaction.
import { watchLongTasks, loadGuard, withTimeout, errorText, sleep } from './common.js';

function makeRecords(n, tag, padBytes = 80, from = 0) {
  const pad = 'x'.repeat(padBytes);
  return Array.from({ length: n }, (_, i) => ({ id: `${tag}-${from + i}`, t: from + i, kind: 'bench', pad }));
}

async function digest(bytes) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let s = '';
  for (const b of h) s += String.fromCharCode(b);
  return `sha-256=:${btoa(s)}:`;
}

async function plainLoop(records, batchItems, concurrency) {
  const batches = [];
  for (let i = 0; i < records.length; i += batchItems) batches.push(records.slice(i, i + batchItems));
  let bytes = 0;
  let next = 0;
  const t0 = performance.now();
  async function worker() {
    while (next < batches.length) {
      const b = batches[next++];
      const body = new TextEncoder().encode(JSON.stringify({ records: b }));
      bytes += body.length;
      const res = await fetch('/upload', {
        method: 'POST', body,
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID(), 'Content-Digest': await digest(body) },
      });
      if (!res.ok) throw new Error(`upload ${res.status}`);
      await res.arrayBuffer();
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const s = (performance.now() - t0) / 1000;
  return { records: records.length, batches: batches.length, seconds: s, recordsPerS: records.length / s, mbPerS: bytes / 1e6 / s, bytes };
}

const idbDone = (tx) => new Promise((ok, fail) => { tx.oncomplete = ok; tx.onerror = tx.onabort = () => fail(tx.error); });

function openRaw(name) {
  return new Promise((ok, fail) => {
    const r = indexedDB.open(name, 1);
    r.onupgradeneeded = () => r.result.createObjectStore('q', { autoIncrement: true });
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}

/** Raw put (one strict transaction) + the plain loop + raw delete (one transaction). */
async function durableBaseline(records, batchItems, concurrency, tag) {
  const name = `bench-raw-${tag}`;
  const db = await openRaw(name);
  const t0 = performance.now();
  const tx = db.transaction('q', 'readwrite', { durability: 'strict' });
  const s = tx.objectStore('q');
  for (const r of records) s.put(r);
  await idbDone(tx);
  const t1 = performance.now();
  const plain = await plainLoop(records, batchItems, concurrency);
  const t2 = performance.now();
  const del = db.transaction('q', 'readwrite');
  del.objectStore('q').delete(IDBKeyRange.bound(1, records.length));
  await idbDone(del);
  const t3 = performance.now();
  db.close();
  indexedDB.deleteDatabase(name);
  return { putS: (t1 - t0) / 1000, sendS: (t2 - t1) / 1000, deleteS: (t3 - t2) / 1000, seconds: (t3 - t0) / 1000, plain };
}

/** Polls `cond` every 5 ms (at most `ms`). */
async function until(cond, ms = 30000) {
  const t0 = performance.now();
  while (!cond() && performance.now() - t0 < ms) await sleep(5);
}

export async function upload({ records = 20000, batchItems = 500, concurrency = 4, padBytes = 80 } = {}) {
  const out = { records, batchItems, concurrency, padBytes };
  const tag = `${Date.now()}`;
  try {
    out.baseline = await durableBaseline(makeRecords(records, `raw-${tag}`, padBytes), batchItems, concurrency, tag);
  } catch (e) {
    out.baseline = { error: errorText(e) };
  }
  const { ResourceGuard } = await loadGuard();
  let guard;
  try {
    guard = await ResourceGuard.create({ categories: { upload: { requests: 100000, perMs: 60000 } } });
    // The uploader's defaults otherwise: maxBatchBytes 256 KiB, so 5 KB records go ~51 per batch.
    const opts = { endpoint: '/upload', maxBatchItems: batchItems, concurrency };
    const up = guard.uploader({ ...opts, name: `bench-${tag}` });
    const recs = makeRecords(records, `guard-${tag}`, padBytes);
    const bytes = new TextEncoder().encode(JSON.stringify({ records: recs })).length;
    const wasmBefore = guard.snapshot().wasmMemoryBytes;
    // Measuring `bytes` above is the bench's own long task: end it before watching.
    await sleep(20);
    const stopWatch = watchLongTasks();
    const t0 = performance.now();
    await up.enqueue(recs); // one call, as the baseline's one put; sending starts once it is stored
    const tEnq = performance.now();
    await withTimeout(up.flush(), 120000, 'uploader.flush');
    const s = (performance.now() - t0) / 1000;
    const longTasks = stopWatch();
    const wasmAfter = guard.snapshot().wasmMemoryBytes;
    const st = await (await fetch('/api/uploads')).json();
    out.guard = {
      longTasks, wasmBefore, wasmAfter, seconds: s, enqueueSeconds: (tEnq - t0) / 1000, recordsPerS: records / s, mbPerS: bytes / 1e6 / s,
      stats: up.stats(), serverDuplicates: st.duplicates,
    };
    up.close();

    // enqueue while the queue is sending: a quarter of the records keeps the sender busy, then a
    // call with as many records as the raw put took is timed.
    const busy = guard.uploader({ ...opts, name: `bench-busy-${tag}` });
    await busy.enqueue(makeRecords(Math.ceil(records / 4), `busy-${tag}`, padBytes));
    await until(() => busy.stats().inFlightBatches > 0);
    const more = makeRecords(records, `more-${tag}`, padBytes);
    const watch2 = watchLongTasks();
    const sendingAtStart = busy.stats().inFlightBatches;
    const t1 = performance.now();
    await busy.enqueue(more);
    const whileS = (performance.now() - t1) / 1000;
    const sentDuring = busy.stats().sentRecords;
    await withTimeout(busy.flush(), 120000, 'uploader.flush (busy)');
    out.whileSending = { seconds: whileS, sendingAtStart, sentDuring, longTasks: watch2() };
  } catch (e) {
    out.guard = { ...(out.guard || {}), error: errorText(e) };
  } finally {
    try { guard && guard.dispose(); } catch {}
    await sleep(0);
  }
  return out;
}

/**
 * A million small records through one uploader: enqueued in calls of 10,000 (made per call, so
 * the page never holds them all), then drained, with the JS heap and wasm memory sampled every
 * 250 ms. The queue lives in IndexedDB; memory should follow the batches in flight.
 */
export async function uploadMillion({ records = 1000000, perCall = 10000, batchItems = 500, concurrency = 4, padBytes = 80 } = {}) {
  const out = { records, perCall, batchItems, concurrency, padBytes };
  const { ResourceGuard } = await loadGuard();
  const heap = () => (performance.memory ? performance.memory.usedJSHeapSize : NaN);
  let guard, timer;
  try {
    guard = await ResourceGuard.create({ categories: { upload: { requests: 100000, perMs: 60000 } } });
    const tag = `${Date.now()}`;
    const up = guard.uploader({ endpoint: '/upload', name: `bench-million-${tag}`, maxBatchItems: batchItems, concurrency });
    globalThis.gc?.();
    await sleep(50);
    const heapStart = heap();
    const wasmStart = guard.snapshot().wasmMemoryBytes;
    let heapMax = heapStart, wasmMax = wasmStart, retainedMax = 0;
    const retained = []; // [queued records, heap after a full GC]
    // Long tasks, minus the bench's own forced GCs (retained heap is read after a full GC).
    const long = [], gcs = [];
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) long.push([e.startTime, e.duration]); });
    obs.observe({ type: 'longtask' });
    timer = setInterval(() => {
      heapMax = Math.max(heapMax, heap());
      wasmMax = Math.max(wasmMax, guard.snapshot().wasmMemoryBytes);
    }, 250);
    let gcTimer;
    const sampleRetained = () => {
      const t = performance.now();
      globalThis.gc?.();
      gcs.push([t, performance.now()]);
      retainedMax = Math.max(retainedMax, heap());
      retained.push([up.stats().queuedRecords, heap()]);
    };
    const t0 = performance.now();
    for (let i = 0; i < records; i += perCall) await up.enqueue(makeRecords(Math.min(perCall, records - i), `m-${tag}`, padBytes, i));
    const tEnq = performance.now();
    const queuedAfterEnqueue = up.stats().queuedRecords;
    sampleRetained();
    gcTimer = setInterval(sampleRetained, 2000);
    await withTimeout(up.flush(), 600000, 'uploader.flush (million)');
    const s = (performance.now() - t0) / 1000;
    clearInterval(timer);
    clearInterval(gcTimer);
    for (const e of obs.takeRecords()) long.push([e.startTime, e.duration]);
    obs.disconnect();
    const oursAt = long.filter(([st, d]) => !gcs.some(([a, b]) => st < b + 1 && st + d > a - 1));
    const ours = oursAt.map(([, d]) => d);
    globalThis.gc?.();
    await sleep(50);
    const heapEnd = heap(), wasmEnd = guard.snapshot().wasmMemoryBytes, stats = up.stats();
    const st = await (await fetch('/api/uploads')).json();
    out.guard = {
      seconds: s, enqueueSeconds: (tEnq - t0) / 1000, recordsPerS: records / s, queuedAfterEnqueue,
      heapStart, heapMax, retainedMax, heapEnd, wasmStart, wasmMax, wasmEnd,
      longTasks: { count: ours.length, maxMs: ours.length ? Math.max(...ours) : 0, gcExcluded: long.length - ours.length, inEnqueue: oursAt.filter(([st]) => st < tEnq).length },
      retained,
      stats, serverDistinct: st.distinct, serverDuplicates: st.duplicates,
    };
  } catch (e) {
    out.guard = { error: errorText(e) };
  } finally {
    clearInterval(timer);
    try { guard && guard.dispose(); } catch {}
  }
  return out;
}
