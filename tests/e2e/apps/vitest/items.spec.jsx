// Runs under jsdom and under happy-dom (`vitest --environment ...`), with no setup file: the wasm
// loads from the installed package, and vi.useFakeTimers() (installed after the guard was
// created at import) drives the guard's clock and timers.
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { act, render, screen, cleanup } from '@testing-library/react';
import { GuardProvider } from 'resource-guard/react';
import { isResourceGuardError } from 'resource-guard';
import { makeGuard } from './src/guard.js';
import { Items } from './src/Items.jsx';

const starts = [];
let answer = () => new Response('{}', { status: 200 });
const guard = makeGuard(async (input) => {
  starts.push({ url: String(input), at: Date.now() });
  return answer(starts.length);
});

beforeEach(async () => {
  vi.useFakeTimers();
  await guard.ready;
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

test('60 s of fake time drain the queue exactly as the limit allows (5 per 10 s)', async () => {
  starts.length = 0;
  const t0 = Date.now();
  render(
    <GuardProvider guard={guard}>
      <Items count={40} />
    </GuardProvider>,
  );
  await act(() => vi.advanceTimersByTimeAsync(0));
  expect(starts.length).toBe(5);
  await act(() => vi.advanceTimersByTimeAsync(60_000));
  // Six windows in 60 s. Each batch starts as soon as the previous one leaves the window: the
  // guard stamps a start 1 ms late (it cannot know the sub-millisecond moment fetch was called),
  // so on a whole-millisecond fake clock the batches start at 0, 10001, 20002, ... 50005 ms.
  expect(starts.length).toBe(30);
  expect(screen.getByTestId('done').textContent).toBe('30');
  const at = starts.map((s) => s.at - t0);
  for (let k = 1; k < 6; k++) {
    const gap = at[k * 5] - at[(k - 1) * 5];
    expect(gap).toBeGreaterThanOrEqual(10_000);
    expect(gap).toBeLessThanOrEqual(10_001);
  }
  // No 10 s window ever held more than 5 starts.
  for (const a of at) expect(at.filter((b) => b >= a && b < a + 10_000).length).toBeLessThanOrEqual(5);
  await act(() => vi.advanceTimersByTimeAsync(20_010));
  expect(starts.length).toBe(40);
  expect(guard.snapshot()?.categories.api.queued.normal).toBe(0);
});

test('a Retry-After hint is honoured to the millisecond of fake time', async () => {
  await act(() => vi.advanceTimersByTimeAsync(60_000)); // a fresh window
  starts.length = 0;
  answer = (n) => (n === 1 ? new Response('busy', { status: 429, headers: { 'Retry-After': '7' } }) : new Response('{}', { status: 200 }));
  const t0 = Date.now();
  const res = guard.fetch('https://api.example.test/busy');
  await vi.advanceTimersByTimeAsync(6_999);
  expect(starts.length).toBe(1);
  await vi.advanceTimersByTimeAsync(1);
  expect(starts.length).toBe(2);
  expect(starts[1].at - t0).toBe(7_000);
  expect((await res).status).toBe(200);
  answer = () => new Response('{}', { status: 200 });
});

test('an unknown category is refused with a typed error', async () => {
  const e = await guard.fetch('https://api.example.test/x', { category: 'uplod' }).catch((x) => x);
  expect(isResourceGuardError(e) && e.code).toBe('ERR_INVALID_OPTION');
});
