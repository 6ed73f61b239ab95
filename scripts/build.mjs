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
run(join(ROOT, 'node_modules/.bin/wasm-opt'), ['-Oz', '--strip-debug', '--strip-producers', bg, '-o', bg]);

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
for (const f of ['resource_guard.js', 'resource_guard_bg.wasm', 'resource_guard.d.ts', 'snippets']) cpSync(join(TMP, f), join(OUT, f), { recursive: true });
for (const f of readdirSync(join(ROOT, 'pkg-template'))) cpSync(join(ROOT, 'pkg-template', f), join(OUT, f), { recursive: true });

// The glue's default init() loads `new URL('resource_guard_bg.wasm', import.meta.url)`: Vite,
// esbuild and plain pages resolve that without a plugin, so users never call init() themselves.
if (!readFileSync(join(OUT, 'resource_guard.js'), 'utf8').includes("new URL('resource_guard_bg.wasm', import.meta.url)")) {
  throw new Error('wasm-bindgen glue no longer loads its wasm via import.meta.url');
}

const size = (f) => {
  const b = readFileSync(join(OUT, f));
  return { raw: b.length, gzip: gzipSync(b, { level: 9 }).length, brotli: brotliCompressSync(b).length };
};
const sizes = { wasmBeforeOpt: before, wasm: size('resource_guard_bg.wasm'), glue: size('resource_guard.js') };
writeFileSync(join(ROOT, 'target', 'pkg-sizes.json'), JSON.stringify(sizes, null, 2));
console.log(`pkg/ built: wasm ${sizes.wasm.raw} B (${sizes.wasm.gzip} B gzip; ${before} B before wasm-opt), glue ${sizes.glue.raw} B (${sizes.glue.gzip} B gzip)`);
