// The project's own tools parse: `npm run bench` once shipped with a syntax error in
// bench/report.mjs that no suite loaded (the bench is not run by CI, being timing and not pass/fail).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

test('every bench and build script passes node --check', () => {
  const files = ['bench', 'scripts'].flatMap((d) => readdirSync(join(ROOT, d)).filter((f) => /\.m?js$/.test(f)).map((f) => join(d, f)));
  assert.ok(files.includes(join('bench', 'report.mjs')), files.join(', '));
  const bad = files.filter((f) => {
    try { execFileSync(process.execPath, ['--check', join(ROOT, f)], { stdio: 'pipe' }); return false; } catch { return true; }
  });
  assert.deepEqual(bad, []);
});
