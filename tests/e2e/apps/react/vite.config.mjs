// Built by tests/e2e/apps/build-apps.mjs; served by the local backend at /apps/react/.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/apps/react/',
  logLevel: 'warn',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, minify: false },
});
