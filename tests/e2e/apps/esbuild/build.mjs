// esbuild: `esbuild src/main.js --bundle --format=esm --outfile=dist/main.js`, nothing else; the
// wasm comes from 'resource-guard/inline'.
import { build } from 'esbuild';

export default () =>
  build({
    absWorkingDir: new URL('.', import.meta.url).pathname,
    entryPoints: ['src/main.js'],
    bundle: true,
    format: 'esm',
    outfile: 'dist/main.js',
    logLevel: 'warning',
  });
