// Built by tests/e2e/apps/build-apps.mjs; served by the local backend at /apps/react/.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/apps/react/',
  logLevel: 'warn',
  // Dev only: the page's /api requests go to the local backend (the test sets RG_BACKEND).
  server: { proxy: { '/api': process.env.RG_BACKEND || 'http://127.0.0.1:8080' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, minify: false },
});
