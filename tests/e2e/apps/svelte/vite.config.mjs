// Built by tests/e2e/apps/build-apps.mjs; served by the local backend at /apps/svelte/.
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  base: '/apps/svelte/',
  logLevel: 'warn',
  plugins: [svelte()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, minify: false },
});
