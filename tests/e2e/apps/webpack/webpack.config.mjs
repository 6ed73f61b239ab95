// webpack 5, no loader or plugin for the wasm: `new URL('resource_guard_bg.wasm', import.meta.url)`
// in the package is emitted as an asset and rewritten to its URL.
import { fileURLToPath } from 'node:url';

export default {
  mode: 'production',
  context: fileURLToPath(new URL('.', import.meta.url)),
  entry: './src/main.js',
  output: { path: fileURLToPath(new URL('./dist', import.meta.url)), filename: 'main.js', publicPath: 'auto', clean: true, module: true },
  experiments: { outputModule: true },
  optimization: { minimize: false },
  performance: { hints: false },
};
