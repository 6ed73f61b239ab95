// The size budget check (CI suite `size`), in the spirit of size-limit: bundles what an app
// imports from the built package (pkg/) the way a bundler does (esbuild --bundle --minify
// --format=esm, code splitting on, so a dynamic import() becomes its own chunk) and measures,
// per file the browser downloads, gzip -9 and brotli -q 11:
//   fetch:<entry>  the entry chunk, every chunk it imports statically and every wasm those load:
//                  what the browser fetches before the first guarded fetch resolves;
//   part:<name>    a lazily loaded part (its dynamic chunk, the chunks only it needs, its wasm);
//   whole          every chunk and wasm of an app that uses every capability;
//   inline         the `resource-guard/inline` entry (wasm inlined as base64) as one bundle.
// Each is compared with size-budget.json; an entry over budget fails the check (exit 1) naming the
// entry and the bytes over. `--update` rewrites the budgets to the current sizes plus a small
// headroom (a ratchet: commit the file when a change makes the package smaller, or, with a
// reason in the commit message, larger). `--pkg=DIR` measures another build (the regression demo).
//
//   node scripts/size-check.mjs [--update] [--json] [--pkg=DIR]
import { build } from 'esbuild';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUDGET_FILE = join(ROOT, 'size-budget.json');

/** raw / gzip -9 / brotli -q 11 bytes of one buffer. */
export function compressed(buf) {
  return {
    raw: buf.length,
    gzip: gzipSync(buf, { level: 9 }).length,
    brotli: brotliCompressSync(buf, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: buf.length },
    }).length,
  };
}
export const add = (a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip, brotli: a.brotli + b.brotli });
const ZERO = { raw: 0, gzip: 0, brotli: 0 };

/** What an app's own module looks like for each measured entry (`PKG` is the package path). */
const APPS = {
  'fetch:ResourceGuard': `import { ResourceGuard } from 'PKG/index.js';
const guard = await ResourceGuard.create();
export const r = await guard.fetch('/api');`,
  'fetch:createGuard': `import { createGuard } from 'PKG/index.js';
const guard = createGuard();
export const r = await guard.fetch('/api');`,
  whole: `import { ResourceGuard } from 'PKG/index.js';
const guard = await ResourceGuard.create({ cache: {} });
export const r = await guard.fetch('/api');
export const up = guard.uploader({ endpoint: '/upload' });
await guard.preload?.('cache'); await guard.preload?.('uploader');`,
};
/** The lazily loaded parts: the package module each one's dynamic import() names. */
export const PARTS = { cache: 'cache.js', uploader: 'uploader.js' };

async function bundleApp(pkg, contents, outdir) {
  const r = await build({
    stdin: { contents: contents.replaceAll('PKG', pkg), resolveDir: ROOT, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    target: 'es2022',
    outdir,
    write: true,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
    absWorkingDir: ROOT,
  });
  return r.metafile;
}

/**
 * Measures one build of the package (default pkg/). Returns { entries: { name: { raw, gzip,
 * brotli, files } } } where `files` lists what was counted.
 */
export async function measure(pkg = join(ROOT, 'pkg')) {
  if (!existsSync(join(pkg, 'index.js'))) throw new Error(`${pkg}/index.js missing: run node scripts/build.mjs first`);
  const tmp = mkdtempSync(join(tmpdir(), 'rg-size-'));
  const entries = {};
  const wasmOf = (inputs) => {
    // A wasm-bindgen glue module `<name>.js` of the package loads `<name>_bg.wasm`.
    const w = new Set();
    for (const i of inputs) {
      const abs = resolve(ROOT, i);
      if (dirname(abs) !== resolve(pkg)) continue;
      const wasm = abs.replace(/\.js$/, '_bg.wasm');
      if (wasm !== abs && existsSync(wasm)) w.add(wasm);
    }
    return [...w];
  };
  const label = (f) => (f.startsWith(tmp) ? `chunk ${basename(f)}` : relative(ROOT, f));
  const sizeOf = (files) => {
    let s = ZERO;
    for (const f of files) s = add(s, compressed(readFileSync(f)));
    return s;
  };
  try {
    for (const [name, contents] of Object.entries(APPS)) {
      const outdir = join(tmp, name.replace(/\W/g, '_'));
      const meta = await bundleApp(pkg, contents, outdir);
      const outs = meta.outputs;
      const key = (f) => resolve(ROOT, f);
      const main = Object.keys(outs).find((o) => outs[o].entryPoint === '<stdin>');
      // Static closure of a chunk (import-statement edges only).
      const closure = (start, skip = new Set()) => {
        const seen = new Set();
        const todo = [start];
        while (todo.length) {
          const o = todo.pop();
          if (seen.has(o) || skip.has(o)) continue;
          seen.add(o);
          for (const imp of outs[o].imports || []) if (imp.kind === 'import-statement' && !imp.external) todo.push(imp.path);
        }
        return seen;
      };
      const chunkInputs = (set) => [...set].flatMap((o) => Object.keys(outs[o].inputs));
      const eager = closure(main);
      const eagerWasm = wasmOf(chunkInputs(eager));
      const eagerFiles = [...[...eager].map(key), ...eagerWasm];
      if (name === 'whole') {
        const all = [...Object.keys(outs).filter((o) => o.endsWith('.js')).map(key), ...wasmOf(chunkInputs(new Set(Object.keys(outs))))];
        entries.whole = { ...sizeOf(all), files: all.map(label) };
        for (const [part, file] of Object.entries(PARTS)) {
          const chunk = Object.keys(outs).find((o) => outs[o].entryPoint && resolve(ROOT, outs[o].entryPoint) === resolve(pkg, file));
          if (!chunk) {
            entries[`part:${part}`] = { ...ZERO, files: [], note: 'not a separate chunk: bundled into the fetch path' };
            continue;
          }
          const own = closure(chunk, eager);
          const files = [...[...own].map(key), ...wasmOf(chunkInputs(own)).filter((w) => !eagerWasm.includes(w))];
          entries[`part:${part}`] = { ...sizeOf(files), files: files.map(label) };
        }
      } else {
        entries[name] = { ...sizeOf(eagerFiles), files: eagerFiles.map(label) };
      }
    }
    // resource-guard/inline: one self-contained bundle (no splitting: the wasm is in the JS).
    if (existsSync(join(pkg, 'inline.js'))) {
      const out = join(tmp, 'inline.js');
      await build({
        stdin: { contents: `import { ResourceGuard } from '${pkg}/inline.js';\nconst g = await ResourceGuard.create();\nexport const r = await g.fetch('/api');`, resolveDir: ROOT, loader: 'js' },
        bundle: true, minify: true, format: 'esm', platform: 'browser', target: 'es2022', outfile: out, write: true, logLevel: 'silent', legalComments: 'none',
      });
      entries.inline = { ...compressed(readFileSync(out)), files: ['(one bundle of inline.js)'] };
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { entries };
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
/** Budget = current + 1% headroom, at most 512 bytes (a 1 KB regression always fails). */
const headroom = (n) => n + Math.min(512, Math.ceil(n / 100));

async function main() {
  const argv = process.argv.slice(2);
  const pkgArg = argv.find((a) => a.startsWith('--pkg='));
  const pkg = pkgArg ? resolve(pkgArg.slice(6)) : join(ROOT, 'pkg');
  const { entries } = await measure(pkg);
  const file = existsSync(BUDGET_FILE) ? JSON.parse(readFileSync(BUDGET_FILE, 'utf8')) : { budgets: {} };
  if (argv.includes('--json')) console.log(JSON.stringify(entries, null, 2));
  if (argv.includes('--update')) {
    const budgets = {};
    for (const [name, e] of Object.entries(entries)) budgets[name] = { gzip: headroom(e.gzip), brotli: headroom(e.brotli) };
    writeFileSync(BUDGET_FILE, JSON.stringify({ ...file, budgets }, null, 2) + '\n');
    console.log(`size-budget.json updated (current + 1% headroom, at most 512 B)`);
  }
  const budgets = JSON.parse(readFileSync(BUDGET_FILE, 'utf8')).budgets;
  const goals = file.goals || {};
  const failures = [];
  console.log('entry                  gzip (budget)              brotli (budget)');
  for (const [name, e] of Object.entries(entries)) {
    const b = budgets[name];
    const cells = ['gzip', 'brotli'].map((k) => `${String(e[k]).padStart(7)} B (${b ? String(b[k]).padStart(7) : '      —'})`);
    const goal = goals[name] ? `  goal ≤ ${kb(goals[name].gzip)} gzip: ${e.gzip <= goals[name].gzip ? 'met' : `${kb(e.gzip - goals[name].gzip)} to go`}` : '';
    console.log(`${name.padEnd(22)} ${cells.join('   ')}${e.note ? `  (${e.note})` : ''}${goal}`);
    if (!b) {
      failures.push(`${name}: no budget in size-budget.json (run node scripts/size-check.mjs --update)`);
      continue;
    }
    for (const k of ['gzip', 'brotli']) if (e[k] > b[k]) failures.push(`${name}: ${k} ${e[k]} B is ${e[k] - b[k]} B over its budget of ${b[k]} B (files: ${e.files.join(', ')})`);
  }
  for (const name of Object.keys(budgets)) if (!entries[name]) failures.push(`${name}: has a budget but was not measured`);
  // For scripts/test.sh's total: one test per entry measured.
  console.log(`# size pass ${Object.keys(entries).filter((n) => !failures.some((f) => f.startsWith(`${n}: `))).length}`);
  console.log(`# size fail ${Object.keys(entries).filter((n) => failures.some((f) => f.startsWith(`${n}: `))).length + failures.filter((f) => !Object.keys(entries).some((n) => f.startsWith(`${n}: `))).length}`);
  if (failures.length) {
    console.error(`\nsize check FAILED:\n  ${failures.join('\n  ')}\nShrink it, or if the growth is intended, run node scripts/size-check.mjs --update and commit size-budget.json with the reason.`);
    process.exit(1);
  }
  console.log(`\nsize check passed: ${Object.keys(entries).length} entries within budget`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`size check could not run: ${e.stack || e}`);
    process.exit(2);
  });
}
