// Installs the built package into each consumer project exactly as a user would (`npm pack` in
// pkg/, then `npm install <tarball>`), builds it with its own bundler and type-checks it with
// `tsc -p` (strict; the plain apps also with noUncheckedIndexedAccess and
// exactOptionalPropertyTypes, checking their real source through checkJs), so broken exports,
// files lists or types fail here. Offline and fast: the tarball is the only dependency npm
// installs; react, svelte, vite, webpack, rollup, esbuild, vitest, jest and SvelteKit resolve from
// the workspace's root node_modules (Node's resolution walks up from tests/e2e/apps/<name>/).
//
//   node tests/e2e/apps/build-apps.mjs [react] [svelte] [webpack] ...
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..', '..');
const PKG = join(ROOT, 'pkg');

const vite = async (dir) => {
  const { build } = await import('vite');
  await build({ root: dir, configFile: join(dir, 'vite.config.mjs'), logLevel: 'warn' });
};
/** A plain page: index.html next to the bundle in dist/. */
const page = (dir) => copyFileSync(join(dir, 'index.html'), join(dir, 'dist', 'index.html'));
const fresh = (dir) => {
  rmSync(join(dir, 'dist'), { recursive: true, force: true });
  mkdirSync(join(dir, 'dist'), { recursive: true });
};

/** How each consumer project is built (nothing to build: a runner runs its source). */
export const BUILDERS = {
  react: vite,
  svelte: vite,
  async webpack(dir) {
    fresh(dir);
    const { default: webpack } = await import('webpack');
    const { default: config } = await import(pathToFileURL(join(dir, 'webpack.config.mjs')).href);
    const stats = await new Promise((ok, fail) => webpack(config).run((err, s) => (err ? fail(err) : ok(s))));
    if (stats.hasErrors()) throw new Error(`webpack: ${stats.toString({ all: false, errors: true })}`);
    page(dir);
  },
  async rollup(dir) {
    fresh(dir);
    const { rollup } = await import('rollup');
    const { default: config } = await import(pathToFileURL(join(dir, 'rollup.config.mjs')).href);
    const bundle = await rollup({ ...config, onwarn: (w) => { throw new Error(`rollup: ${w.message}`); } });
    await bundle.write(config.output);
    await bundle.close();
    page(dir);
  },
  async esbuild(dir) {
    fresh(dir);
    const { default: build } = await import(pathToFileURL(join(dir, 'build.mjs')).href);
    await build();
    page(dir);
  },
  async sveltekit(dir) {
    rmSync(join(dir, 'build'), { recursive: true, force: true });
    // `vite build` in the project (SvelteKit's own CLI flow: sync, client + server, adapter-node).
    await run(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'], { cwd: dir, timeout: 240000 });
  },
  node: null,
  vitest: null,
  jest: null,
};
export const APPS = Object.keys(BUILDERS);

/** `npm pack` of pkg/ into a temporary directory; returns the tarball's path. */
export async function packPackage() {
  if (!existsSync(join(PKG, 'index.js'))) throw new Error('pkg/ is not built: run `node scripts/build.mjs --quiet` first');
  const dir = mkdtempSync(join(tmpdir(), 'rg-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: PKG });
  const [info] = JSON.parse(stdout);
  return { tarball: join(dir, info.filename), files: info.files.map((f) => f.path), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Installs the tarball into one app, builds it and type-checks it. Returns timings. */
export async function buildApp(name, tarball) {
  const dir = join(HERE, name);
  const t0 = performance.now();
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `resource-guard-app-${name}`, private: true, type: name === 'jest' ? 'commonjs' : 'module', dependencies: { 'resource-guard': `file:${tarball}` } }, null, 2) + '\n',
  );
  rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts', '--loglevel=error'], { cwd: dir });
  const t1 = performance.now();
  if (BUILDERS[name]) await BUILDERS[name](dir);
  const t2 = performance.now();
  let tsc = 'ok';
  if (!existsSync(join(dir, 'tsconfig.json'))) tsc = 'none';
  else {
    try {
      await run(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(dir, 'tsconfig.json')], { cwd: dir });
    } catch (e) {
      tsc = `tsc --noEmit failed for the ${name} app:\n${e.stdout}${e.stderr}`;
    }
  }
  const t3 = performance.now();
  return { name, tsc, installMs: Math.round(t1 - t0), buildMs: Math.round(t2 - t1), tscMs: Math.round(t3 - t2) };
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
      console.log(timings.map((t) => `${t.name}: install ${t.installMs} ms, build ${t.buildMs} ms, tsc ${t.tscMs} ms: ${t.tsc}`).join('\n'));
      if (timings.some((t) => t.tsc !== 'ok' && t.tsc !== 'none')) process.exit(1);
    },
    (e) => {
      console.error(e.message || e);
      process.exit(1);
    },
  );
}
