// Launches Debian's Chromium through playwright-core (no browser download) with the flags this
// machine needs, a fresh profile each time, and precise memory info for the heap guard tests.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-precise-memory-info', '--enable-blink-features=ForceEagerMeasureMemory',
  '--js-flags=--expose-gc',
];

/** Starts a browser with a fresh user-data-dir; `close()` removes it. */
export async function launch(extraArgs = []) {
  const dir = mkdtempSync(join(tmpdir(), 'rg-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...ARGS, ...extraArgs],
  });
  return {
    context,
    async page(url) {
      const page = context.pages()[0] || (await context.newPage());
      const errors = [];
      page.on('pageerror', (e) => errors.push(e));
      page.errors = errors;
      if (url) await page.goto(url);
      return page;
    },
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
