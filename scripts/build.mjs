// Builds the npm package into pkg/: cargo (release, size-tuned) -> wasm-bindgen --target web ->
// wasm-opt -Oz (the npm `binaryen` package: Debian's wasm-opt 108 corrupts wasm-bindgen output)
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

run('cargo', ['build', '--locked', '--release', '--target', 'wasm32-unknown-unknown', '--lib', ...(quiet ? ['-q'] : [])]);
rmSync(TMP, { recursive: true, force: true });
run('wasm-bindgen', [
  '--target', 'web', '--out-dir', TMP, '--out-name', 'resource_guard',
  '--remove-name-section', '--remove-producers-section',
  join(ROOT, 'target/wasm32-unknown-unknown/release/resource_guard.wasm'),
]);
const bg = join(TMP, 'resource_guard_bg.wasm');
const before = statSync(bg).size;
// -Oz alone makes the gzip larger than its input (inlining single-caller functions duplicates
// what gzip would share); with no single-caller inlining (-ocimfs=0) and --converge it is ~3 KB
// gzip smaller than -Oz (measured 75.6 vs 78.6 KB gzip on the one-wasm build).
const WASM_OPT = ['-Oz', '-ocimfs=0', '--converge', '--strip-debug', '--strip-producers'];
run(join(ROOT, 'node_modules/.bin/wasm-opt'), [...WASM_OPT, bg, '-o', bg]);

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
cpSync(join(TMP, 'resource_guard_bg.wasm'), join(OUT, 'resource_guard_bg.wasm')); // the glue's own .d.ts: index.d.ts replaces it
for (const f of readdirSync(join(ROOT, 'pkg-template'))) cpSync(join(ROOT, 'pkg-template', f), join(OUT, f), { recursive: true });
for (const f of ['LICENSE', 'CHANGELOG.md']) cpSync(join(ROOT, f), join(OUT, f));

// The glue, made safe to import anywhere and sharing one clock module with the driver:
// - the clock snippet becomes pkg/clock.js (index.js imports it too: one time base, one place
//   where fake timers are noticed); the wasm's import *module name* stays the snippet path;
// - TextDecoder/TextEncoder are created at module top level: where a runtime lacks them
//   (Jest's jsdom environment), importing must not throw; the guard's load reports it instead.
let glue = readFileSync(join(TMP, 'resource_guard.js'), 'utf8');
const snippetDirs = readdirSync(join(TMP, 'snippets'));
const clockImport = new RegExp(`import \\* as (\\w+) from "\\./snippets/${snippetDirs[0]}/src/web/clock\\.js"`);
if (snippetDirs.length !== 1 || !clockImport.test(glue)) throw new Error('wasm-bindgen glue: expected exactly one snippet (src/web/clock.js)');
glue = glue.replace(clockImport, 'import * as $1 from "./clock.js"');
if (/snippets\/[^"]*\.js"(?!:)/.test(glue.replace(/"\.\/snippets\/[^"]*": /g, ''))) throw new Error('wasm-bindgen glue imports another snippet: ship it');
cpSync(join(ROOT, 'src/web/clock.js'), join(OUT, 'clock.js'));
const guarded = (name) => `(typeof ${name} !== 'undefined' ? new ${name}($1) : { decode() { throw new Error('${name} is not available'); }, encode() { throw new Error('${name} is not available'); } })`;
let n = 0;
glue = glue.replace(/new (TextDecoder|TextEncoder)\(([^)]*)\)/g, (_m, name, args) => (n++, guarded(name).replace('$1', args)));
glue = glue.replace(/^(cachedTextDecoder\.decode\(\);)$/gm, "if (typeof TextDecoder !== 'undefined') $1");
if (n < 2) throw new Error('wasm-bindgen glue: TextDecoder/TextEncoder construction not found');
// The glue's own declarations are not shipped (index.d.ts is the API): drop the pointer to them.
glue = glue.replace(/^\/\* @ts-self-types="\.\/resource_guard\.d\.ts" \*\/\n/, '');
writeFileSync(join(OUT, 'resource_guard.js'), glue);

// The glue's default init() loads `new URL('resource_guard_bg.wasm', import.meta.url)`: Vite,
// webpack 5 and plain pages resolve that without a plugin, so users never call init() themselves.
if (!glue.includes("new URL('resource_guard_bg.wasm', import.meta.url)")) {
  throw new Error('wasm-bindgen glue no longer loads its wasm via import.meta.url');
}

// resource-guard/inline: the same API with the wasm inlined as base64, for bundlers that do not
// emit `new URL(..., import.meta.url)` assets (esbuild, Rollup without a plugin).
const wasmB64 = readFileSync(join(OUT, 'resource_guard_bg.wasm')).toString('base64');
writeFileSync(
  join(OUT, 'inline.js'),
  `// resource-guard with its WebAssembly inlined (base64): no asset to emit, copy or serve.\n` +
    `import { _inlineWasm } from './index.js';\n` +
    `const b64 = '${wasmB64}';\n` +
    `_inlineWasm(() => (Uint8Array.fromBase64 ? Uint8Array.fromBase64(b64) : Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));\n` +
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
const sizes = { wasmBeforeOpt: before, wasm: size('resource_guard_bg.wasm'), glue: size('resource_guard.js') };
writeFileSync(join(ROOT, 'target', 'pkg-sizes.json'), JSON.stringify(sizes, null, 2));
console.log(`pkg/ built: wasm ${sizes.wasm.raw} B (${sizes.wasm.gzip} B gzip; ${before} B before wasm-opt), glue ${sizes.glue.raw} B (${sizes.glue.gzip} B gzip)`);
