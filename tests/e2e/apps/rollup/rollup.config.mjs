// Rollup: node-resolve finds packages in node_modules (as for any npm dependency); the wasm comes
// from 'resource-guard/inline', so no asset plugin is needed.
import { nodeResolve } from '@rollup/plugin-node-resolve';

export default {
  input: new URL('./src/main.js', import.meta.url).pathname,
  output: { dir: new URL('./dist', import.meta.url).pathname, format: 'es', entryFileNames: 'main.js' },
  plugins: [nodeResolve({ browser: true })],
};
