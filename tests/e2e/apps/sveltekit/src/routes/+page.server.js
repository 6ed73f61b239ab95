// Server-side data loading through the same guard: throttled and retried like the browser's.
import { env } from '$env/dynamic/private';
import { guard } from '$lib/guard.js';

export async function load() {
  const backend = env.BACKEND;
  if (!backend) return { server: 'no backend' };
  const res = await guard.fetch(`${backend}/api/limited?key=sveltekit-ssr-${Date.now()}&limited=1`);
  const { hits } = await res.json();
  return { server: `status ${res.status} after ${hits} hits`, backend };
}
