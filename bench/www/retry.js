// Retry-After handling: attempts and the real waits between them, read from the server's log
// (performance.now() timestamps on the server), per library.
import { loadGuard, loadVendor, withTimeout, errorText } from './common.js';

async function lastSeq() {
  const { log } = await (await fetch('/api/log?since=0')).json();
  return log.length ? log[log.length - 1].seq : 0;
}

async function script(path, responses) {
  const r = await fetch('/api/script', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ path, responses }) });
  if (!r.ok) throw new Error(`script ${path}: ${r.status}`);
}

async function libraries() {
  const { ResourceGuard } = await loadGuard();
  const { ky, cockatiel } = await loadVendor();
  const { retry, handleWhenResult, ExponentialBackoff } = cockatiel;
  const statuses = [408, 429, 500, 502, 503, 504];
  const guard = await ResourceGuard.create({ retry: { maxRetries: 3 } });
  const kyApi = ky.create({ retry: { limit: 3, statusCodes: statuses, afterStatusCodes: [413, 429, 503], maxRetryAfter: 60000 } });
  const policy = retry(handleWhenResult((r) => r instanceof Response && statuses.includes(r.status)), {
    maxAttempts: 3, backoff: new ExponentialBackoff(),
  });
  return {
    dispose: () => { try { guard.dispose(); } catch {} },
    list: [
      { name: 'guard', call: (u) => guard.fetch(u) },
      { name: 'ky', call: (u) => kyApi.get(u) },
      { name: 'cockatiel (exp. backoff)', call: (u) => policy.execute(() => fetch(u)) },
    ],
  };
}

export async function retryAfter() {
  const run = Date.now().toString(36);
  const scenarios = [
    {
      name: '429 + Retry-After: 1, twice, then 200',
      prepare: async (lib) => {
        const path = `/api/ra/${run}/${lib}/twice`;
        await script(path, [
          { status: 429, headers: { 'Retry-After': '1' } },
          { status: 429, headers: { 'Retry-After': '1' } },
          { status: 200 },
        ]);
        return { url: path, match: (e) => e.path === path };
      },
      ideal: 'waits ≥ 1000, 1000 ms; 3 attempts',
    },
    {
      name: '/api/limited (429 until the hint is respected)',
      prepare: async (lib) => {
        const key = `${run}-${lib}`;
        return { url: `/api/limited?key=${key}`, match: (e) => e.path === '/api/limited' && e.query.includes(`key=${key}`) };
      },
      ideal: 'waits ≥ 1000, 1000 ms; 3 attempts',
    },
    {
      name: '503 + Retry-After: HTTP-date 2 s ahead',
      prepare: async (lib) => {
        const path = `/api/ra/${run}/${lib}/date`;
        await script(path, [{ status: 503, retryAfterDateMs: 2000 }, { status: 200 }]);
        return { url: path, match: (e) => e.path === path };
      },
      // An HTTP-date has 1 s resolution: the server truncates, so the honest wait is 1000–2000 ms.
      ideal: 'one wait of 1000–2000 ms (date has 1 s resolution); 2 attempts',
    },
  ];
  const { list, dispose } = await libraries();
  const rows = [];
  try {
    for (const sc of scenarios) {
      // libraries run one after another so the server log is unambiguous
      for (const lib of list) {
        const row = { scenario: sc.name, library: lib.name, ideal: sc.ideal };
        try {
          const since = await lastSeq();
          const { url, match } = await sc.prepare(lib.name.split(' ')[0]);
          const t0 = performance.now();
          try {
            const res = await withTimeout(Promise.resolve(lib.call(url)), 20000, lib.name);
            row.finalStatus = res.status;
            try { await res.arrayBuffer(); } catch {}
          } catch (e) {
            row.finalStatus = e && e.response ? e.response.status : undefined;
            row.error = errorText(e);
          }
          row.elapsedMs = performance.now() - t0;
          const { log } = await (await fetch(`/api/log?since=${since}`)).json();
          const hits = log.filter(match);
          row.attempts = hits.length;
          row.waitsMs = hits.slice(1).map((h, i) => h.t - hits[i].t);
        } catch (e) {
          row.error = errorText(e);
        }
        rows.push(row);
      }
    }
  } finally {
    dispose();
  }
  return { rows };
}
