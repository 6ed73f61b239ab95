// Upload throughput: guard.uploader (IndexedDB-backed, idempotent batches) against /upload vs a
// plain fetch loop posting the same batches with the same wire format (Idempotency-Key and
// Content-Digest, which the sink requires).
import { watchLongTasks, loadGuard, withTimeout, errorText, sleep } from './common.js';

function makeRecords(n, tag, padBytes = 80) {
  const pad = 'x'.repeat(padBytes);
  return Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, t: i, kind: 'bench', pad }));
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

export async function upload({ records = 20000, batchItems = 500, concurrency = 4, padBytes = 80 } = {}) {
  const out = { records, batchItems, concurrency, padBytes };
  try {
    out.plain = await plainLoop(makeRecords(records, `plain-${Date.now()}`, padBytes), batchItems, concurrency);
  } catch (e) {
    out.plain = { error: errorText(e) };
  }
  const { ResourceGuard } = await loadGuard();
  let guard;
  try {
    guard = await ResourceGuard.create({ categories: { upload: { requests: 100000, perMs: 60000 } } });
    if (typeof guard.uploader !== 'function') {
      out.guard = { available: false };
      return out;
    }
    const up = guard.uploader({ endpoint: '/upload', name: `bench-${Date.now()}`, maxBatchItems: batchItems, concurrency });
    const recs = makeRecords(records, `guard-${Date.now()}`, padBytes);
    const bytes = new TextEncoder().encode(JSON.stringify({ records: recs })).length;
    const wasmBefore = guard.snapshot().wasmMemoryBytes;
    // Measuring `bytes` above is the bench's own long task: end it before watching.
    await sleep(20);
    const stopWatch = watchLongTasks();
    const t0 = performance.now();
    for (let i = 0; i < recs.length; i += batchItems) await up.enqueue(recs.slice(i, i + batchItems));
    const tEnq = performance.now();
    await withTimeout(up.flush(), 120000, 'uploader.flush');
    const s = (performance.now() - t0) / 1000;
    const longTasks = stopWatch();
    const wasmAfter = guard.snapshot().wasmMemoryBytes;
    const st = await (await fetch('/api/uploads')).json();
    out.guard = {
      longTasks, wasmBefore, wasmAfter,
      available: true, seconds: s, enqueueSeconds: (tEnq - t0) / 1000, recordsPerS: records / s, mbPerS: bytes / 1e6 / s,
      stats: typeof up.stats === 'function' ? up.stats() : undefined, serverDuplicates: st.duplicates,
    };
  } catch (e) {
    out.guard = { available: true, error: errorText(e) };
  } finally {
    try { guard && guard.dispose(); } catch {}
    await sleep(0);
  }
  return out;
}
