// Builds the npm package into pkg/: cargo (release, size-tuned; one wasm per capability) ->
// wasm-bindgen --target web -> wasm-opt -Oz (the npm `binaryen` package: Debian's wasm-opt 108 corrupts wasm-bindgen output)
// -> pkg-template/ files. Idempotent; prints the sizes.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'pkg');
const TMP = join(ROOT, 'target', 'wasm-bindgen-out');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
const quiet = process.argv.includes('--quiet');

// One wasm module per capability, each a thin cdylib crate of the workspace (crates/*) compiling
// its file of src/api/ against the shared core rlib: the request guard's (loaded by index.js),
// the cache's (cache.js) and the uploader's (uploader.js). One cargo invocation builds all three.
const MODULES = [
  { crate: 'resource-guard-wasm', lib: 'rg_guard', name: 'resource_guard' },
  { crate: 'resource-guard-cache-wasm', lib: 'rg_cache', name: 'resource_guard_cache' },
  { crate: 'resource-guard-upload-wasm', lib: 'rg_upload', name: 'resource_guard_upload' },
];
run('cargo', ['build', '--locked', '--release', '--target', 'wasm32-unknown-unknown', '--lib', ...MODULES.flatMap((m) => ['-p', m.crate]), ...(quiet ? ['-q'] : [])]);
rmSync(TMP, { recursive: true, force: true });
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
// -Oz alone makes the gzip larger than its input (inlining single-caller functions duplicates
// what gzip would share); with no single-caller inlining (-ocimfs=0) and --converge it is ~3 KB
// gzip smaller than -Oz (measured 75.6 vs 78.6 KB gzip on the one-wasm build).
const WASM_OPT = ['-Oz', '-ocimfs=0', '--converge', '--strip-debug', '--strip-producers'];
const before = {};
for (const { lib, name } of MODULES) {
  run('wasm-bindgen', [
    '--target', 'web', '--out-dir', TMP, '--out-name', name,
    '--remove-name-section', '--remove-producers-section',
    join(ROOT, `target/wasm32-unknown-unknown/release/${lib}.wasm`),
  ]);
  const bg = join(TMP, `${name}_bg.wasm`);
  before[name] = statSync(bg).size;
  run(join(ROOT, 'node_modules/.bin/wasm-opt'), [...WASM_OPT, bg, '-o', bg]);
  cpSync(bg, join(OUT, `${name}_bg.wasm`)); // the glue's own .d.ts: index.d.ts replaces it
}
for (const f of readdirSync(join(ROOT, 'pkg-template'))) cpSync(join(ROOT, 'pkg-template', f), join(OUT, f), { recursive: true });
for (const f of ['LICENSE', 'CHANGELOG.md']) cpSync(join(ROOT, f), join(OUT, f));
cpSync(join(ROOT, 'src/web/clock.js'), join(OUT, 'clock.js'));

// Each glue, made safe to import anywhere and sharing one clock module with the driver:
// - the clock snippet becomes pkg/clock.js (index.js imports it too: one time base, one place
//   where fake timers are noticed); the wasm's import *module name* stays the snippet path;
// - TextDecoder/TextEncoder are created at module top level: where a runtime lacks them
//   (Jest's jsdom environment), importing must not throw; the guard's load reports it instead.
const snippetDirs = readdirSync(join(TMP, 'snippets'));
if (snippetDirs.length !== 1) throw new Error('wasm-bindgen glue: expected exactly one snippet crate (src/web/clock.js)');
const guarded = (name) => `(typeof ${name} !== 'undefined' ? new ${name}($1) : { decode() { throw new Error('${name} is not available'); }, encode() { throw new Error('${name} is not available'); } })`;
for (const { name } of MODULES) {
  let glue = readFileSync(join(TMP, `${name}.js`), 'utf8');
  const clockImport = new RegExp(`import \\* as (\\w+) from "\\./snippets/${snippetDirs[0]}/src/web/clock\\.js"`);
  glue = glue.replace(clockImport, 'import * as $1 from "./clock.js"');
  if (/snippets\/[^"]*\.js"(?!:)/.test(glue.replace(/"\.\/snippets\/[^"]*": /g, ''))) throw new Error(`${name}.js imports another snippet: ship it`);
  let n = 0;
  glue = glue.replace(/new (TextDecoder|TextEncoder)\(([^)]*)\)/g, (_m, cls, args) => (n++, guarded(cls).replace('$1', args)));
  glue = glue.replace(/^(cachedTextDecoder\.decode\(\);)$/gm, "if (typeof TextDecoder !== 'undefined') $1");
  if (n < 2) throw new Error(`${name}.js: TextDecoder/TextEncoder construction not found`);
  // The glue's own declarations are not shipped (index.d.ts is the API): drop the pointer to them.
  glue = glue.replace(new RegExp(`^/\\* @ts-self-types="\\./${name}\\.d\\.ts" \\*/\\n`), '');
  // The default init() loads `new URL('<name>_bg.wasm', import.meta.url)`: Vite, webpack 5 and
  // plain pages resolve that without a plugin (the drivers pass the same URL themselves).
  if (!glue.includes(`new URL('${name}_bg.wasm', import.meta.url)`)) throw new Error(`${name}.js no longer loads its wasm via import.meta.url`);
  writeFileSync(join(OUT, `${name}.js`), glue);
}

// resource-guard/inline: the same API with each wasm inlined as base64, for bundlers that do not
// emit `new URL(..., import.meta.url)` assets (esbuild, Rollup without a plugin). The guard's
// wasm is in inline.js; each part's is in its own module, imported only when the part loads
// (a bundler that splits dynamic imports keeps it out of the fetch path).
const b64 = (name) => readFileSync(join(OUT, `${name}_bg.wasm`)).toString('base64');
const decode = (v) => `(Uint8Array.fromBase64 ? Uint8Array.fromBase64(${v}) : Uint8Array.from(atob(${v}), (c) => c.charCodeAt(0)))`;
const INLINE_PARTS = { cache: 'resource_guard_cache', uploader: 'resource_guard_upload' };
for (const [part, name] of Object.entries(INLINE_PARTS)) {
  writeFileSync(join(OUT, `inline-${part}.js`), `// The ${part} part's WebAssembly, inlined (base64) for resource-guard/inline.\nconst b64 = '${b64(name)}';\nexport const bytes = () => ${decode('b64')};\n`);
}
writeFileSync(
  join(OUT, 'inline.js'),
  `// resource-guard with its WebAssembly inlined (base64): no asset to emit, copy or serve.\n` +
    `import { _inlineWasm } from './index.js';\n` +
    `const b64 = '${b64('resource_guard')}';\n` +
    `_inlineWasm(() => ${decode('b64')});\n` +
    Object.keys(INLINE_PARTS).map((part) => `_inlineWasm(() => import('./inline-${part}.js').then((m) => m.bytes()), '${part}');\n`).join('') +
    `export * from './index.js';\n`,
);

// CommonJS for require() and Jest (which runs CommonJS unless configured for ESM): one bundle
// of the driver and the glue reading the wasm next to it; react.cjs requires it.
const esbuild = await import('esbuild');
const cjsBanner = [
  "var __rg_url = require('url').pathToFileURL(__filename).href;",
  "var __rg_fs = require('fs/promises');",
  // Jest's jsdom environment lacks these Node globals; the vm context still has require().
  "var TextDecoder = globalThis.TextDecoder || require('util').TextDecoder;",
  "var TextEncoder = globalThis.TextEncoder || require('util').TextEncoder;",
  // ...and fetch's classes: no Request can exist there, so `instanceof Request` is just false.
  'var Request = globalThis.Request || function Request() {};',
  'var Response = globalThis.Response || function Response() {};',
].join('\n');
const cjs = { bundle: true, format: 'cjs', platform: 'neutral', target: 'es2022', logLevel: 'warning', define: { 'import.meta.url': '__rg_url' }, banner: { js: cjsBanner } };
await esbuild.build({ ...cjs, entryPoints: [join(OUT, 'index.js')], outfile: join(OUT, 'index.cjs') });
await esbuild.build({
  ...cjs,
  banner: undefined,
  define: undefined,
  entryPoints: [join(OUT, 'react.js')],
  outfile: join(OUT, 'react.cjs'),
  plugins: [{ name: 'index-cjs', setup: (b) => b.onResolve({ filter: /^(\.\/index\.js|react)$/ }, (a) => ({ path: a.path === 'react' ? 'react' : './index.cjs', external: true })) }],
});

const size = (f) => {
  const b = readFileSync(join(OUT, f));
  return { raw: b.length, gzip: gzipSync(b, { level: 9 }).length, brotli: brotliCompressSync(b).length };
};
const modules = Object.fromEntries(MODULES.map(({ name }) => [name, { wasmBeforeOpt: before[name], wasm: size(`${name}_bg.wasm`), glue: size(`${name}.js`) }]));
// `wasmBeforeOpt`/`wasm`/`glue`: the guard's module (what bench/sizes.mjs reads); `modules`: all.
const sizes = { ...modules.resource_guard, modules };
writeFileSync(join(ROOT, 'target', 'pkg-sizes.json'), JSON.stringify(sizes, null, 2));
for (const [name, m] of Object.entries(modules)) {
  console.log(`pkg/ built: ${name}_bg.wasm ${m.wasm.raw} B (${m.wasm.gzip} B gzip; ${m.wasmBeforeOpt} B before wasm-opt), glue ${m.glue.raw} B (${m.glue.gzip} B gzip)`);
}
