// Installs the built package into the React and Svelte consumer apps exactly as a user would
// (`npm pack` in pkg/, then `npm install <tarball>`), builds each app with Vite and type-checks a
// small .ts file per app with `tsc --noEmit`, so broken exports, files lists or types fail here.
// Offline and fast: the tarball is the only dependency npm installs; react, react-dom, svelte,
// vite and the Svelte plugin resolve from the workspace's root node_modules (Node's resolution
// walks up from tests/e2e/apps/<name>/ to the root).
//
//   node tests/e2e/apps/build-apps.mjs [react] [svelte]
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..', '..');
const PKG = join(ROOT, 'pkg');
export const APPS = ['react', 'svelte'];

/** `npm pack` of pkg/ into a temporary directory; returns the tarball's path. */
export async function packPackage() {
  if (!existsSync(join(PKG, 'index.js'))) throw new Error('pkg/ is not built: run `node scripts/build.mjs --quiet` first');
  const dir = mkdtempSync(join(tmpdir(), 'rg-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: PKG });
  const [info] = JSON.parse(stdout);
  return { tarball: join(dir, info.filename), files: info.files.map((f) => f.path), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Installs the tarball into one app, builds it with Vite and type-checks it. Returns timings. */
export async function buildApp(name, tarball) {
  const dir = join(HERE, name);
  const t0 = performance.now();
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `resource-guard-app-${name}`, private: true, type: 'module', dependencies: { 'resource-guard': `file:${tarball}` } }, null, 2) + '\n',
  );
  rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts', '--loglevel=error'], { cwd: dir });
  const t1 = performance.now();
  const { build } = await import('vite');
  await build({ root: dir, configFile: join(dir, 'vite.config.mjs'), logLevel: 'warn' });
  const t2 = performance.now();
  // The main entry's declarations are a separate deliverable: until pkg/index.d.ts exists, every
  // import of 'resource-guard' is untyped, so the check is reported as skipped rather than run.
  let tsc = 'ok';
  if (!existsSync(join(dir, 'node_modules', 'resource-guard', 'index.d.ts'))) tsc = 'skipped: the package has no index.d.ts';
  else {
    try {
      await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(dir, 'tsconfig.json')], { cwd: dir });
    } catch (e) {
      tsc = `tsc --noEmit failed for the ${name} app:\n${e.stdout}${e.stderr}`;
    }
  }
  const t3 = performance.now();
  return { name, tsc, installMs: Math.round(t1 - t0), viteMs: Math.round(t2 - t1), tscMs: Math.round(t3 - t2) };
}

/** Packs once and builds every app (or the ones named). */
export async function buildApps(names = APPS) {
  const pack = await packPackage();
  try {
    const timings = [];
    for (const name of names) timings.push(await buildApp(name, pack.tarball));
    return { files: pack.files, timings };
  } finally {
    pack.cleanup();
  }
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const names = process.argv.slice(2).filter((a) => APPS.includes(a));
  buildApps(names.length ? names : APPS).then(
    ({ timings }) => {
      console.log(timings.map((t) => `${t.name}: install ${t.installMs} ms, vite ${t.viteMs} ms, tsc ${t.tscMs} ms: ${t.tsc}`).join('\n'));
      if (timings.some((t) => t.tsc !== 'ok' && !t.tsc.startsWith('skipped'))) process.exit(1);
    },
    (e) => {
      console.error(e.message || e);
      process.exit(1);
    },
  );
}
