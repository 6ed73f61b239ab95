// The package a user installs (issue 16): the npm README is the manual and cannot rot (its
// options table is checked against index.d.ts, its examples against the consumer projects'
// code), the error code lists agree (Rust, errors.js, index.d.ts, README), and the tarball ships
// exactly what its entry points reach, with the metadata npm shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname, resolve, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dtsOptions } from './dts-options.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PKG = join(ROOT, 'pkg');
const README = readFileSync(join(ROOT, 'pkg-template', 'README.md'), 'utf8');
const read = (p) => readFileSync(join(ROOT, p), 'utf8');

test('README: the options table lists every option of index.d.ts with the same default, and nothing else', () => {
  const fromDts = dtsOptions(join(ROOT, 'pkg-template', 'index.d.ts'));
  const section = README.slice(README.indexOf('## Options'), README.indexOf('## Errors'));
  const rows = new Map();
  for (const m of section.matchAll(/^\| `([^`]+)` \| (.+?) \| .* \|$/gm)) {
    const cell = m[2].trim();
    rows.set(m[1], cell === '—' ? null : cell.replace(/^`|`$/g, ''));
  }
  assert.ok(fromDts.size > 40, `only ${fromDts.size} options read from index.d.ts`);
  const missing = [...fromDts.keys()].filter((k) => !rows.has(k));
  const extra = [...rows.keys()].filter((k) => !fromDts.has(k));
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
  for (const [k, v] of fromDts) assert.equal(rows.get(k), v === null ? null : v.replace(/`/g, ''), `default of ${k}`);
});

test("README: every example marked with its source is that consumer project's code, verbatim", () => {
  const blocks = [...README.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)];
  assert.ok(blocks.length >= 10, `${blocks.length} marked examples`);
  for (const [, file, code] of blocks) {
    assert.ok(existsSync(join(ROOT, file)), `${file} does not exist`);
    const src = read(file).split('\n').map((l) => l.trimEnd());
    const lines = code.split('\n').map((l) => l.trimEnd());
    const at = src.findIndex((_, i) => lines.every((l, j) => src[i + j] === l));
    assert.ok(at >= 0, `README example is not in ${file}:\n${code}`);
  }
  // Every consumer project the test suite runs is quoted at least once.
  const quoted = new Set(blocks.map((b) => b[1].split('/')[3]));
  for (const app of ['webpack', 'react', 'sveltekit', 'node', 'vitest']) assert.ok(quoted.has(app), `no example from ${app}`);
});

test('error codes: Rust, errors.js, index.d.ts and the README list the same codes', async () => {
  const rust = [...read('src/core/error.rs').matchAll(/\("(ERR_[A-Z_]+)", (\d+)\)/g)].map((m) => [m[1], Number(m[2])]);
  const { CODES } = await import(join(ROOT, 'pkg-template', 'errors.js'));
  assert.deepEqual(rust, CODES.map((c, i) => [c, i]).filter(([c]) => c));
  const dts = [...read('pkg-template/index.d.ts').match(/export type ErrorCode =([^;]+);/)[1].matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1]);
  assert.deepEqual(dts, rust.map(([c]) => c));
  const details = read('pkg-template/index.d.ts').match(/export interface ErrorDetailsByCode \{([\s\S]*?)\n\}/)[1];
  for (const [c] of rust) {
    assert.match(details, new RegExp(`\\b${c}:`), `ErrorDetailsByCode lacks ${c}`);
    assert.match(README, new RegExp(`\\| \`${c}\` \\|`), `README errors table lacks ${c}`);
  }
});

test('the tarball ships what its entry points reach, nothing else, and the metadata npm shows', async () => {
  assert.ok(existsSync(join(PKG, 'index.js')), 'pkg/ is not built');
  const meta = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8'));
  for (const k of ['license', 'repository', 'homepage', 'bugs', 'engines']) assert.ok(meta[k], `package.json lacks ${k}`);
  assert.equal(meta.engines.node, '>=20');
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json'], { cwd: PKG });
  const shipped = new Set(JSON.parse(stdout)[0].files.map((f) => f.path));
  for (const f of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']) assert.ok(shipped.has(f), `${f} is not shipped`);

  // Walk from every exports target through relative imports and `new URL('x', import.meta.url)`.
  const targets = [];
  const collect = (v) => (typeof v === 'string' ? targets.push(v) : Object.values(v).forEach(collect));
  collect(meta.exports);
  const reached = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md']);
  const queue = targets.map((t) => normalize(t));
  while (queue.length) {
    const f = queue.pop();
    if (reached.has(f)) continue;
    assert.ok(shipped.has(f), `${f} is reachable but not shipped`);
    reached.add(f);
    if (!/\.(c?js|d\.ts)$/.test(f)) continue;
    const text = readFileSync(join(PKG, f), 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|require\(\s*|new URL\(\s*|@ts-self-types=)['"](\.{1,2}\/[^'"]+|[\w-]+\.wasm)['"]/g)) {
      const dep = normalize(join(dirname(f), m[1]));
      assert.ok(!dep.startsWith('..'), `${f} points outside the package: ${m[1]}`);
      queue.push(dep);
    }
  }
  const unreached = [...shipped].filter((f) => !reached.has(f));
  assert.deepEqual(unreached, [], 'shipped files that nothing exports or imports');
});
