// No setup file, no wasm plugin: the package loads its own wasm under jsdom and happy-dom.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { include: ['*.spec.jsx'] },
});
