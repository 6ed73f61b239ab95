// A component test under Jest + jsdom with modern fake timers (installed after the guard was
// created at module load): the queue drains exactly as the limit allows, Retry-After is exact.
const { createElement, useEffect, useState } = require('react');
const { render, screen, act, cleanup } = require('@testing-library/react');
const { createGuard, isResourceGuardError } = require('resource-guard');
const { GuardProvider, useGuard, useGuardSnapshot } = require('resource-guard/react');

// Jest's jsdom environment has no fetch classes: a transport stub answers with Response-like objects.
const reply = (status, headers = {}) => ({ status, ok: status < 400, body: null, headers: { get: (k) => headers[k.toLowerCase()] ?? null } });
const starts = [];
let answer = () => reply(200);
const guard = createGuard({
  fetch: async (input) => {
    starts.push({ url: String(input), at: Date.now() });
    return answer(starts.length);
  },
  rateLimit: { requests: 5, perMs: 10_000 },
});

function Items({ count }) {
  const g = useGuard();
  const snapshot = useGuardSnapshot(g, 1000);
  const [done, setDone] = useState(0);
  useEffect(() => {
    for (let i = 0; i < count; i++) g.fetch(`https://api.example.test/items/${i}`).then((r) => r.ok && setDone((n) => n + 1));
  }, [g, count]);
  const waiting = snapshot?.categories.api?.queued.normal ?? 0;
  return createElement('p', null, createElement('b', { 'data-testid': 'done' }, String(done)), ` done, ${waiting} waiting`);
}

beforeEach(async () => {
  jest.useFakeTimers();
  await guard.ready;
});
afterEach(() => {
  cleanup();
  jest.useRealTimers();
});

test('60 s of fake time drain the queue exactly as the limit allows (5 per 10 s)', async () => {
  starts.length = 0;
  const t0 = Date.now();
  render(createElement(GuardProvider, { guard }, createElement(Items, { count: 40 })));
  await act(() => jest.advanceTimersByTimeAsync(0));
  expect(starts.length).toBe(5);
  await act(() => jest.advanceTimersByTimeAsync(60_000));
  expect(starts.length).toBe(30); // batches at 0, 10001, ... 50005 ms (a start is stamped 1 ms late)
  expect(screen.getByTestId('done').textContent).toBe('30');
  const at = starts.map((s) => s.at - t0);
  for (let k = 1; k < 6; k++) expect([10_000, 10_001]).toContain(at[k * 5] - at[(k - 1) * 5]);
  for (const a of at) expect(at.filter((b) => b >= a && b < a + 10_000).length).toBeLessThanOrEqual(5);
  await act(() => jest.advanceTimersByTimeAsync(20_010));
  expect(starts.length).toBe(40);
});

test('a Retry-After hint is honoured to the millisecond of fake time', async () => {
  await jest.advanceTimersByTimeAsync(60_000);
  starts.length = 0;
  answer = (n) => (n === 1 ? reply(503, { 'retry-after': '4' }) : reply(200));
  const t0 = Date.now();
  const res = guard.fetch('https://api.example.test/busy');
  await jest.advanceTimersByTimeAsync(3_999);
  expect(starts.length).toBe(1);
  await jest.advanceTimersByTimeAsync(1);
  expect(starts.length).toBe(2);
  expect(starts[1].at - t0).toBe(4_000);
  expect((await res).status).toBe(200);
  answer = () => reply(200);
});

test('errors are typed: an unknown category', async () => {
  const e = await guard.fetch('https://api.example.test/x', { category: 'uplod' }).catch((x) => x);
  expect(isResourceGuardError(e)).toBe(true);
  expect(e.code).toBe('ERR_INVALID_OPTION');
});
