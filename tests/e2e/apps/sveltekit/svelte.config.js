// SvelteKit with adapter-node: `vite build` writes build/, `node build` serves it (SSR).
import adapter from '@sveltejs/adapter-node';

export default { kit: { adapter: adapter({ out: 'build' }) } };
