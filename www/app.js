// The demo dashboard: one guard configured for a visible demo, the local misbehaving backend, and
// hand-drawn canvas charts of what the guard does. Parts of the guard that a given build lacks
// (sampleHeap, uploader, per-category queue counters, breakers in the snapshot) are detected at
// run time: their charts fall back to what the page can measure itself or say "no data".
import { ResourceGuard, isResourceGuardError } from '/pkg/index.js';

const MB = 1024 * 1024;
const WINDOW_MS = 60_000; // every chart shows the last minute
const SAMPLE_MS = 500;
const BUDGET = 64 * MB;
const FRACTIONS = { warning: 0.7, critical: 0.9, limit: 1.0 };
const OPTIONS = {
  fetch: countingFetch, // where the guard calls fetch: the only honest place to count starts
  rateLimit: { requests: 20, perMs: 1000 },
  heap: { budgetBytes: BUDGET, sampleIntervalMs: 2000 },
  breaker: { failureThreshold: 3, resetTimeoutMs: 5000 },
  retry: { maxRetries: 2, baseDelayMs: 300, maxDelayMs: 3000 },
  queue: { maxDepth: 1000 },
  categories: { upload: { requests: 5, perMs: 1000 } }, // 10,000 records in 20 batches: about 4 s
  report: { endpoint: '/reports', flushIntervalMs: 2000 },
  // Adaptive throttling: a backend that sheds load (503 + hint) lowers the effective rate, and
  // sheds locally once it refuses more than half; a 20 s window so the demo reacts quickly.
  adaptive: { windowMs: 20_000 },
};
const EVENTS = ['throttle', 'retry', 'giveUp', 'breaker', 'shed', 'heap', 'report', 'deadLetter', 'fallback'];
const PRIORITIES = ['system', 'high', 'normal', 'low'];
const COLORS = {
  heap: '#2563eb', warning: '#d97706', critical: '#dc2626', limit: '#7f1d1d',
  rps: '#2563eb', limitLine: '#dc2626', effective: '#d97706', errors: '#dc2626', pending: '#64748b',
  system: '#7c3aed', high: '#dc2626', normal: '#2563eb', low: '#94a3b8',
  closed: '#16a34a', halfOpen: '#d97706', open: '#dc2626',
  stored: '#16a34a', dead: '#dc2626', reports: '#7c3aed',
  throttle: '#d97706', retry: '#2563eb', giveUp: '#dc2626', breaker: '#dc2626', shed: '#7f1d1d', report: '#7c3aed', deadLetter: '#dc2626', fallback: '#16a34a',
};

const $ = (id) => document.getElementById(id);
const status = $('status');
const now = () => performance.now();

// ---- what the page measures itself -----------------------------------------------------------
const starts = []; // performance.now() of every platform fetch the guard started
const outcomes = new Map(); // 'HTTP 200' | 'ERR_...' -> count
let pending = 0; // guard.fetch calls issued and not yet settled
function countingFetch(input, init) {
  starts.push(now());
  return globalThis.fetch(input, init);
}
function count(key) {
  outcomes.set(key, (outcomes.get(key) || 0) + 1);
}

// ---- time series ----------------------------------------------------------------------------
const series = {
  heap: [], // [t, bytes]
  rps: [], // [t, starts in the last second]
  rate: [], // [t, effective rate per second (after adaptive throttling)]
  errors: [], // [t, failed outcomes in the last second]
  queue: [], // [t, {system, high, normal, low}] from the snapshot, or [t, pending] from the page
  breaker: new Map(), // service -> [[t, state]]
  upload: [], // [t, stored records]
  dead: [], // [t, dead letters]
  reports: [], // [t, report items received]
};
const annotations = []; // { t, type, label }
const failures = []; // performance.now() of failed outcomes
let queueSource = 'none';
let heapSource = 'none';
let heapLevels = { warning: BUDGET * FRACTIONS.warning, critical: BUDGET * FRACTIONS.critical, limit: BUDGET * FRACTIONS.limit };
let heapLevel = 'normal'; // from the latest 'heap' event
let reportCount = 0;
let reportPolls = 0;
let storedRecords = 0;
let deadLetters = 0;

function push(list, point) {
  list.push(point);
  const cutoff = now() - WINDOW_MS - 5000;
  while (list.length && list[0][0] < cutoff) list.shift();
}
const lastMark = new Map(); // type -> time of its last chart mark
const eventCounts = new Map(); // type -> count
function annotate(type, label) {
  const t = now();
  eventCounts.set(type, (eventCounts.get(type) || 0) + 1);
  // A burst throttles or retries hundreds of requests: one chart mark per type per 500 ms.
  if (t - (lastMark.get(type) ?? -Infinity) >= 500) {
    lastMark.set(type, t);
    annotations.push({ t, type, label });
    while (annotations.length > 300) annotations.shift();
  }
  const list = $('events');
  const top = list.firstElementChild;
  // Repeats of the same event within a second fold into one line with a count.
  if (EVENTS.includes(type) && top && top.dataset.type === type && t - Number(top.dataset.t) < 1000) {
    top.dataset.n = String(Number(top.dataset.n) + 1);
    top.textContent = `${top.dataset.text}  (×${top.dataset.n})`;
    return;
  }
  const li = document.createElement('li');
  li.dataset.type = type;
  li.dataset.t = String(t);
  li.dataset.n = '1';
  li.dataset.text = `${new Date().toLocaleTimeString()}  ${type}  ${label}`;
  li.textContent = li.dataset.text;
  li.className = `ev-${type}`;
  list.prepend(li);
  while (list.children.length > 80) list.lastChild.remove();
}
function short(value) {
  try {
    const text = JSON.stringify(value);
    return text && text.length > 120 ? text.slice(0, 117) + '…' : text || '';
  } catch {
    return String(value);
  }
}

// ---- the guard --------------------------------------------------------------------------------
/** Creates the guard; an option the loaded build does not know yet is dropped (and said so). */
async function createGuard() {
  const options = { ...OPTIONS };
  for (;;) {
    try {
      return await ResourceGuard.create(options);
    } catch (e) {
      const top = isResourceGuardError(e) && e.code === 'ERR_INVALID_OPTION' ? String(e.details?.path || '').split('.')[0] : '';
      if (!top || !(top in options) || top === 'rateLimit') throw e;
      annotate('config', `option ${top} not supported by this build: ${e.message}`);
      delete options[top];
    }
  }
}

async function guarded(url, init) {
  pending += 1;
  try {
    const res = await guard.fetch(url, init);
    count(`HTTP ${res.status}`);
    if (!res.ok) failures.push(now());
    await res.arrayBuffer().catch(() => {});
    return res;
  } catch (e) {
    count(isResourceGuardError(e) ? e.code : e?.name || 'Error');
    failures.push(now());
    return null;
  } finally {
    pending -= 1;
  }
}

let guard;
try {
  guard = await createGuard();
  window.guard = guard;
  for (const type of EVENTS) guard.on(type, (event) => annotate(type, short(event)));
  guard.on('heap', (event) => {
    if (typeof event?.level === 'string') heapLevel = event.level;
  });
  const res = await guard.fetch('/api/echo?from=demo');
  count(`HTTP ${res.status}`);
  status.textContent = `guard alive; /api/echo answered ${res.status}`;
  document.body.dataset.ready = 'true';
} catch (e) {
  status.textContent = `failed: ${e && e.message}`;
  document.body.dataset.ready = 'error';
}

// ---- controls ---------------------------------------------------------------------------------
const leaked = [];
function leak() {
  // ~5 MB of doubles in a packed JS array: on the JS heap, unlike a typed array's backing store.
  const n = (5 * MB) / 8;
  const chunk = new Array(n);
  for (let i = 0; i < n; i++) chunk[i] = i + 0.5;
  leaked.push(chunk);
  annotate('page', `leaked ${leaked.length * 5} MB`);
}
function free() {
  leaked.length = 0;
  annotate('page', 'freed the leak');
}

let burstSeq = 0;
function burst(n, tag) {
  const b = ++burstSeq;
  annotate('page', `${tag} of ${n} requests`);
  for (let i = 0; i < n; i++) {
    const priority = PRIORITIES[1 + (i % 3)]; // high, normal, low in turn
    guarded(`/api/echo?${tag}=${b}&i=${i}`, { priority });
  }
}

async function setMode(patch) {
  const res = await fetch('/api/mode', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(patch) });
  const { mode } = await res.json();
  showMode(mode);
  annotate('api', short(patch));
  return mode;
}
function showMode(mode) {
  const on = { outage: !!mode.outage, ratelimit: !!mode.rateLimit, slow: !!mode.slowMs, drop: !!mode.dropRate, shedload: !!mode.shed };
  for (const [id, value] of Object.entries(on)) $(id).setAttribute('aria-pressed', String(value));
}
const toggles = {
  outage: (on) => ({ outage: on }),
  ratelimit: (on) => ({ rateLimit: on ? { requests: 10, perMs: 1000 } : null }),
  slow: (on) => ({ slowMs: on ? 1500 : 0 }),
  drop: (on) => ({ dropRate: on ? 0.3 : 0 }),
  shedload: (on) => ({ shed: on ? { share: 0.5, retryAfterMs: 200 } : null }),
};
for (const [id, patch] of Object.entries(toggles)) {
  $(id).addEventListener('click', () => setMode(patch($(id).getAttribute('aria-pressed') !== 'true')).catch((e) => annotate('api', `mode failed: ${e.message}`)));
}

let steadyTimer = null;
function steady(on) {
  clearInterval(steadyTimer);
  steadyTimer = on ? setInterval(() => guarded(`/api/echo?steady=1&t=${Math.round(now())}`, { priority: 'low' }), 500) : null;
}

// Uploads need guard.uploader; without it the panel stays visible and disabled.
let uploader = null;
function getUploader() {
  if (!uploader && typeof guard?.uploader === 'function') {
    uploader = guard.uploader({ endpoint: '/upload', name: 'demo', maxBatchBytes: 64 * 1024, maxBatchItems: 500 });
    uploader.on?.('deadLetter', (e) => annotate('deadLetter', short(e)));
    uploader.on?.('batch', (e) => annotate('batch', short(e)));
  }
  return uploader;
}
async function upload(total) {
  const up = getUploader();
  annotate('page', `enqueue ${total} records`);
  const base = Date.now();
  for (let i = 0; i < total; i += 1000) {
    const records = Array.from({ length: Math.min(1000, total - i) }, (_, k) => ({ id: `${base}-${i + k}`, value: Math.random(), at: base }));
    await up.enqueue(records);
  }
  await up.flush();
  annotate('page', 'upload flushed');
}

if (guard) {
  for (const id of ['leak', 'free', 'burst', 'send10']) $(id).disabled = false;
  $('leak').addEventListener('click', leak);
  $('free').addEventListener('click', free);
  $('burst').addEventListener('click', () => burst(500, 'burst'));
  $('send10').addEventListener('click', () => burst(10, 'some'));
  $('steady').addEventListener('change', (e) => steady(e.target.checked));
  steady($('steady').checked);
  if (typeof guard.uploader === 'function') {
    $('upload').disabled = false;
    $('reload').disabled = false;
    $('upload').addEventListener('click', () => upload(10_000).catch((e) => annotate('upload', `failed: ${e.message}`)));
    $('reload').addEventListener('click', () => {
      sessionStorage.setItem('resource-guard-demo-resume', '1');
      upload(10_000).catch(() => {});
      setTimeout(() => location.reload(), 800); // the uploader must resume from IndexedDB after this
    });
    if (sessionStorage.getItem('resource-guard-demo-resume')) {
      sessionStorage.removeItem('resource-guard-demo-resume');
      annotate('page', 'reloaded mid-upload: resuming');
      getUploader()
        .flush()
        .then(() => annotate('page', 'resumed upload flushed'), (e) => annotate('upload', `resume failed: ${e.message}`));
    }
  } else {
    $('upload-note').textContent = 'this build has no guard.uploader yet';
  }
  fetch('/api/mode').then((r) => r.json()).then(({ mode }) => showMode(mode), () => {});
}

// ---- sampling ---------------------------------------------------------------------------------
let heapInFlight = false;
function sampleHeap(t) {
  if (typeof guard.sampleHeap === 'function') {
    if (heapInFlight) return;
    heapInFlight = true;
    guard.sampleHeap().then(
      (r) => {
        heapInFlight = false;
        if (r && Number.isFinite(r.usedBytes)) {
          heapSource = `guard (${r.source}${r.precise ? ', precise' : ''})`;
          push(series.heap, [now(), r.usedBytes]);
        }
      },
      () => (heapInFlight = false),
    );
    return;
  }
  const used = performance.memory?.usedJSHeapSize;
  if (Number.isFinite(used)) {
    heapSource = 'performance.memory (page-side)';
    push(series.heap, [t, used]);
  }
}

function sample() {
  if (!guard) return;
  const t = now();
  let snap = null;
  try {
    snap = guard.snapshot();
  } catch {
    return;
  }
  sampleHeap(t);
  const levels = snap?.heap?.levels;
  if (levels && Number.isFinite(levels.warning)) heapLevels = levels;

  while (starts.length && starts[0] < t - 1000) starts.shift();
  while (failures.length && failures[0] < t - 1000) failures.shift();
  push(series.rps, [t, starts.length]);
  push(series.errors, [t, failures.length]);
  const eff = snap?.categories?.api?.effectiveRate;
  if (eff && eff.perMs > 0) push(series.rate, [t, (eff.requests * 1000) / eff.perMs]);

  const queued = snap?.categories?.api?.queued;
  if (queued && typeof queued === 'object') {
    queueSource = 'guard snapshot (api)';
    const q = {};
    for (const p of PRIORITIES) q[p] = Number(queued[p]) || 0;
    push(series.queue, [t, q]);
  } else {
    queueSource = 'page-side: guard.fetch calls not yet settled';
    push(series.queue, [t, { pending }]);
  }

  const services = snap?.services;
  if (services && typeof services === 'object') {
    for (const [name, s] of Object.entries(services)) {
      if (!series.breaker.has(name)) series.breaker.set(name, []);
      push(series.breaker.get(name), [t, s?.breaker || 'closed']);
    }
  }

  render(snap);
}

async function pollBackend() {
  try {
    const [reports, stats] = await Promise.all([fetch('/api/reports').then((r) => r.json()), fetch('/api/stats').then((r) => r.json())]);
    reportPolls += 1;
    reportCount = reports.reports.reduce((n, r) => n + (Array.isArray(r.items) ? r.items.length : 1), 0);
    push(series.reports, [now(), reportCount]);
    storedRecords = stats.uploads?.distinctRecords ?? 0;
    push(series.upload, [now(), storedRecords]);
    if (uploader?.deadLetters) deadLetters = (await uploader.deadLetters()).length;
    push(series.dead, [now(), deadLetters]);
    showMode(stats.mode);
  } catch {
    // the backend is the thing being broken on purpose; the next poll tries again
  }
}

// ---- charts -----------------------------------------------------------------------------------
function setup(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 400;
  const h = canvas.clientHeight || 160;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  return { ctx, w, h, left: 46, right: w - 8, top: 8, bottom: h - 18 };
}
function frame(c, yMax, format, t1) {
  const { ctx, left, right, top, bottom } = c;
  ctx.strokeStyle = '#e2e8f0';
  ctx.fillStyle = '#64748b';
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = bottom - ((bottom - top) * i) / 4;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(right, y);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText(format((yMax * i) / 4), left - 4, y + 4);
  }
  ctx.textAlign = 'center';
  for (let s = 0; s <= 60; s += 15) ctx.fillText(s === 0 ? 'now' : `-${s}s`, xOf(c, t1 - s * 1000, t1), c.h - 4);
}
const xOf = (c, t, t1) => c.left + ((c.right - c.left) * (t - (t1 - WINDOW_MS))) / WINDOW_MS;
const yOf = (c, v, yMax) => c.bottom - ((c.bottom - c.top) * Math.min(v, yMax)) / yMax;
function line(c, points, pick, yMax, color, t1, width = 2) {
  const { ctx } = c;
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.beginPath();
  let first = true;
  for (const p of points) {
    const x = xOf(c, p[0], t1);
    if (x < c.left) continue;
    const y = yOf(c, pick(p), yMax);
    if (first) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
    first = false;
  }
  ctx.stroke();
}
function hline(c, value, yMax, color, label) {
  const { ctx } = c;
  const y = yOf(c, value, yMax);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1;
  ctx.setLineDash([5, 4]);
  ctx.beginPath();
  ctx.moveTo(c.left, y);
  ctx.lineTo(c.right, y);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = color;
  ctx.textAlign = 'right';
  ctx.fillText(label, c.right - 2, y - 3);
}
function marks(c, types, t1) {
  const { ctx } = c;
  for (const a of annotations) {
    if (!types.includes(a.type)) continue;
    const x = xOf(c, a.t, t1);
    if (x < c.left) continue;
    ctx.strokeStyle = COLORS[a.type] || '#94a3b8';
    ctx.globalAlpha = 0.5;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(x, c.top);
    ctx.lineTo(x, c.bottom);
    ctx.stroke();
    ctx.globalAlpha = 1;
    ctx.fillStyle = COLORS[a.type] || '#64748b';
    ctx.fillText('▼', x, c.top + 6);
  }
}
function legend(c, items) {
  const { ctx } = c;
  let x = c.left + 6;
  ctx.textAlign = 'left';
  for (const [label, color] of items) {
    ctx.fillStyle = color;
    ctx.fillRect(x, c.top + 2, 8, 8);
    ctx.fillStyle = '#334155';
    ctx.fillText(label, x + 11, c.top + 10);
    x += ctx.measureText(label).width + 24;
  }
}
function empty(c, text) {
  c.ctx.fillStyle = '#94a3b8';
  c.ctx.textAlign = 'center';
  c.ctx.fillText(text, (c.left + c.right) / 2, (c.top + c.bottom) / 2);
}
const niceMax = (v, min) => {
  const m = Math.max(v, min);
  const p = 10 ** Math.floor(Math.log10(m));
  return [1, 2, 2.5, 5, 10].map((k) => k * p).find((k) => k >= m);
};
const fmtMB = (v) => `${(v / MB).toFixed(0)} MB`;
const fmtN = (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : `${Math.round(v * 10) / 10}`);

function drawHeap(t1) {
  const c = setup($('chart-heap'));
  const yMax = niceMax(Math.max(heapLevels.limit * 1.1, ...series.heap.map((p) => p[1])), 8 * MB);
  frame(c, yMax, fmtMB, t1);
  hline(c, heapLevels.warning, yMax, COLORS.warning, 'warning');
  hline(c, heapLevels.critical, yMax, COLORS.critical, 'critical');
  hline(c, heapLevels.limit, yMax, COLORS.limit, 'limit');
  if (!series.heap.length) empty(c, 'no heap readings in this browser');
  line(c, series.heap, (p) => p[1], yMax, COLORS.heap, t1);
  marks(c, ['heap', 'shed'], t1);
  const last = series.heap.at(-1);
  $('heap-now').textContent = last ? `${fmtMB(last[1])} of ${fmtMB(BUDGET)} budget · level ${heapLevel} · ${heapSource} · ${leaked.length * 5} MB leaked` : '';
}
function drawRps(t1) {
  const c = setup($('chart-rps'));
  const limit = OPTIONS.rateLimit.requests * (1000 / OPTIONS.rateLimit.perMs);
  // Scaled to starts: failures (an open breaker rejects hundreds at once) are clipped at the top.
  const yMax = niceMax(Math.max(0, ...series.rps.map((p) => p[1])) * 1.1, limit * 1.5);
  frame(c, yMax, fmtN, t1);
  hline(c, limit, yMax, COLORS.limitLine, `limit ${limit}/s`);
  c.ctx.setLineDash([3, 3]);
  line(c, series.rate, (p) => p[1], yMax, COLORS.effective, t1, 2);
  c.ctx.setLineDash([]);
  line(c, series.errors, (p) => p[1], yMax, COLORS.errors, t1, 1);
  line(c, series.rps, (p) => p[1], yMax, COLORS.rps, t1);
  legend(c, [['started/s', COLORS.rps], ['failed/s', COLORS.errors], ['effective rate', COLORS.effective]]);
  marks(c, ['throttle', 'retry', 'giveUp', 'shed'], t1);
  const last = series.rps.at(-1);
  const eff = series.rate.at(-1);
  const rate = eff ? ` · effective rate ${fmtN(eff[1])}/s of limit ${limit}/s` : '';
  $('rps-now').textContent = last ? `${last[1]}/s now · ${series.errors.at(-1)?.[1] ?? 0} failed/s${rate}` : '';
}
function drawQueue(t1) {
  const c = setup($('chart-queue'));
  const totals = series.queue.map(([, q]) => Object.values(q).reduce((a, b) => a + b, 0));
  const yMax = niceMax(Math.max(0, ...totals) * 1.1, 10);
  frame(c, yMax, fmtN, t1);
  const keys = queueSource.startsWith('guard') ? PRIORITIES : ['pending'];
  // Stacked: draw cumulative sums from the top layer down so lower layers paint over.
  for (let k = keys.length - 1; k >= 0; k--) {
    const upto = keys.slice(0, k + 1);
    const pts = series.queue.map(([t, q]) => [t, upto.reduce((s, key) => s + (q[key] || 0), 0)]);
    const { ctx } = c;
    ctx.fillStyle = COLORS[keys[k]];
    ctx.globalAlpha = 0.55;
    ctx.beginPath();
    let started = false;
    let lastX = c.left;
    for (const [t, v] of pts) {
      const x = xOf(c, t, t1);
      if (x < c.left) continue;
      if (!started) ctx.moveTo(x, c.bottom);
      ctx.lineTo(x, yOf(c, v, yMax));
      started = true;
      lastX = x;
    }
    ctx.lineTo(lastX, c.bottom);
    ctx.closePath();
    if (started) ctx.fill();
    ctx.globalAlpha = 1;
  }
  legend(c, keys.map((k) => [k, COLORS[k]]));
  marks(c, ['shed'], t1);
  const last = totals.at(-1);
  $('queue-now').textContent = `${last ?? 0} now · ${queueSource}`;
}
function drawBreaker(t1) {
  const c = setup($('chart-breaker'));
  const { ctx } = c;
  const names = [...series.breaker.keys()];
  ctx.fillStyle = '#64748b';
  ctx.textAlign = 'center';
  for (let s = 0; s <= 60; s += 15) ctx.fillText(s === 0 ? 'now' : `-${s}s`, xOf(c, t1 - s * 1000, t1), c.h - 4);
  if (!names.length) {
    empty(c, typeof guard?.snapshot()?.services === 'object' ? 'no service called yet' : 'this build has no breakers in its snapshot yet');
    marks(c, ['breaker'], t1);
    return;
  }
  const rowH = Math.min(28, (c.bottom - c.top - 14) / names.length);
  names.forEach((name, i) => {
    const y = c.top + 14 + i * rowH;
    const pts = series.breaker.get(name);
    for (let k = 0; k < pts.length; k++) {
      const x0 = Math.max(c.left, xOf(c, pts[k][0], t1));
      const x1 = k + 1 < pts.length ? xOf(c, pts[k + 1][0], t1) : xOf(c, t1, t1);
      if (x1 < c.left) continue;
      ctx.fillStyle = COLORS[pts[k][1]] || '#94a3b8';
      ctx.fillRect(x0, y, Math.max(1, x1 - x0 + 1), rowH - 6); // +1: no hairline gaps between samples
    }
    ctx.fillStyle = '#0f172a';
    ctx.textAlign = 'left';
    ctx.fillText(name.replace(/^https?:\/\//, ''), c.left + 4, y + rowH - 10);
  });
  legend(c, [['closed', COLORS.closed], ['half-open', COLORS.halfOpen], ['open', COLORS.open]]);
  marks(c, ['breaker'], t1);
  $('breaker-now').textContent = names.map((n) => `${n.replace(/^https?:\/\//, '')}: ${series.breaker.get(n).at(-1)?.[1]}`).join(' · ');
}
function drawUpload(t1) {
  const c = setup($('chart-upload'));
  const yMax = niceMax(Math.max(0, ...series.upload.map((p) => p[1]), ...series.dead.map((p) => p[1])) * 1.1, 100);
  frame(c, yMax, fmtN, t1);
  line(c, series.upload, (p) => p[1], yMax, COLORS.stored, t1);
  line(c, series.dead, (p) => p[1], yMax, COLORS.dead, t1);
  legend(c, [['stored', COLORS.stored], ['dead letters', COLORS.dead]]);
  marks(c, ['deadLetter', 'batch'], t1);
  const stats = uploader?.stats?.();
  $('upload-now').textContent = `${storedRecords} stored · ${deadLetters} dead${stats ? ' · ' + short(stats) : ''}`;
}
function drawReports(t1) {
  const c = setup($('chart-reports'));
  const yMax = niceMax(Math.max(0, ...series.reports.map((p) => p[1])) * 1.1, 5);
  frame(c, yMax, fmtN, t1);
  line(c, series.reports, (p) => p[1], yMax, COLORS.reports, t1);
  marks(c, ['report'], t1);
  $('reports-now').textContent = `${reportCount} received`;
}

function render(snap) {
  const t1 = now();
  drawHeap(t1);
  drawRps(t1);
  drawQueue(t1);
  drawBreaker(t1);
  drawUpload(t1);
  drawReports(t1);
  const tbody = $('outcomes').tBodies[0];
  tbody.replaceChildren(
    ...[...outcomes].sort().map(([k, v]) => {
      const tr = document.createElement('tr');
      tr.innerHTML = `<td></td><td></td>`;
      tr.cells[0].textContent = k;
      tr.cells[1].textContent = String(v);
      return tr;
    }),
  );
  $('snapshot').textContent = JSON.stringify(snap, null, 1);
  // For tests and curious readers: how much each chart holds.
  window.__charts = {
    heap: series.heap.length,
    heapLevel,
    leakedMB: leaked.length * 5,
    rps: series.rps.length,
    maxRps: Math.max(0, ...series.rps.map((p) => p[1])),
    effectiveRate: series.rate.at(-1)?.[1] ?? null,
    minEffectiveRate: series.rate.length ? Math.min(...series.rate.map((p) => p[1])) : null,
    queue: series.queue.length,
    queueSource,
    breaker: Object.fromEntries([...series.breaker].map(([k, v]) => [k, v.length])),
    breakerStates: [...new Set([...series.breaker.values()].flatMap((v) => v.map((p) => p[1])))],
    upload: series.upload.length,
    reports: series.reports.length,
    reportPolls,
    reportCount,
    annotations: annotations.length,
    events: Object.fromEntries(eventCounts),
    outcomes: Object.fromEntries(outcomes),
    pending,
    features: {
      sampleHeap: typeof guard?.sampleHeap === 'function',
      uploader: typeof guard?.uploader === 'function',
      queues: queueSource.startsWith('guard'),
      breakers: typeof guard?.snapshot()?.services === 'object',
      throttle: Number.isFinite(guard?.snapshot()?.categories?.api?.startsInWindow),
    },
  };
}

if (guard) {
  sample();
  setInterval(sample, SAMPLE_MS);
  pollBackend();
  setInterval(pollBackend, 1000);
  addEventListener('resize', () => sample());
}
