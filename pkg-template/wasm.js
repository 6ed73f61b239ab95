// resource-guard: loading a wasm module (the guard's, and each lazily loaded part's), one way
// for all of them. Node and test runners (jsdom, happy-dom) read the package's own file: `fetch`
// of a `file:` URL fails there. A browser fetches the file the bundler emitted next to the module
// that names it (each caller writes its own `new URL('<file>', import.meta.url)`, the pattern
// bundlers recognise); a missing file becomes an ERR_WASM_LOAD that says what to do instead of a
// bare CompileError about an HTML 404 page. `resource-guard/inline` registers the bytes instead.
import { ResourceGuardError } from './errors.js';

/** part ('guard', 'cache', 'uploader') -> its bytes, or a function returning them (inline entry). */
const inlined = {};
/** @private used by the generated `inline.js` entry: the wasm is inlined there as base64. */
export function _inlineWasm(bytes, part = 'guard') {
  inlined[part] = bytes;
}

const WASM_HELP = 'resource-guard could not load its WebAssembly module';
const wasmError = (what, details, part, cause) =>
  new ResourceGuardError('ERR_WASM_LOAD', `${WASM_HELP}${part === 'guard' ? '' : ` (${part})`}: ${what}`, part === 'guard' ? details : { ...details, part }, cause === undefined ? undefined : { cause });

/** The wasm's bytes (or a Response for streaming compilation). */
async function wasmSource(url, part) {
  await null; // `inline.js` sets the bytes after index.js evaluated: decide in a microtask
  const b = inlined[part];
  if (b) return typeof b === 'function' ? await b() : b;
  const file = url.pathname.slice(url.pathname.lastIndexOf('/') + 1);
  if (url.protocol === 'file:') {
    const proc = globalThis.process;
    if (!proc?.versions?.node && !globalThis.Deno) {
      throw wasmError(`cannot read ${url.href} in this runtime; import from 'resource-guard/inline' (the wasm inlined as base64)`, { url: url.href }, part);
    }
    let fs;
    try {
      // getBuiltinModule (Node >= 20.16) keeps the import invisible to bundlers; the import()
      // fallback carries the comments webpack and Vite need to leave it alone.
      // (index.cjs defines __rg_fs: Jest's CommonJS runtime has no dynamic import().)
      const spec = 'node:fs/promises';
      fs = typeof __rg_fs === 'object' ? __rg_fs : proc?.getBuiltinModule?.(spec) ?? (await import(/* webpackIgnore: true */ /* @vite-ignore */ spec));
      return await fs.readFile(url);
    } catch (e) {
      // A server bundle (SvelteKit's adapter-node, any SSR build that inlines this package) moved
      // this module away from its wasm: find the installed package from the working directory.
      try {
        const { createRequire } = proc.getBuiltinModule('node:module');
        return await fs.readFile(createRequire(`${proc.cwd()}/`).resolve(`resource-guard/${file}`));
      } catch {}
      throw wasmError(`reading ${url.href} failed (${e?.code || e?.message || e}); reinstall the package, keep resource-guard external in a server bundle, or import from 'resource-guard/inline'`, { url: url.href }, part, e);
    }
  }
  let res;
  try {
    res = await globalThis.fetch(url);
  } catch (e) {
    throw wasmError(`fetching ${url.href} failed (${e?.message || e}); check the network and any Content-Security-Policy (it needs 'wasm-unsafe-eval' and connect-src for this URL)`, { url: url.href }, part, e);
  }
  if (!res.ok) {
    throw wasmError(
      `${url.href} answered ${res.status}. Your bundler did not emit ${file} next to the bundle: import from 'resource-guard/inline' instead (the wasm inlined as base64, no asset needed), or serve node_modules/resource-guard/${file} at that URL`,
      { url: url.href, status: res.status },
      part,
    );
  }
  return res;
}

/**
 * Instantiates one wasm-bindgen module: `init` is its glue's default export, `url` where its
 * wasm is (`new URL('<file>', import.meta.url)` in the caller), `part` names it in errors.
 */
export async function loadWasm(init, url, part) {
  if (typeof WebAssembly !== 'object') {
    throw new ResourceGuardError('ERR_UNSUPPORTED', 'resource-guard needs WebAssembly, which this runtime does not provide (or a Content-Security-Policy forbids)', { what: 'WebAssembly' });
  }
  const source = await wasmSource(url, part);
  try {
    await init({ module_or_path: source });
  } catch (e) {
    throw wasmError(`instantiating it failed (${e?.message || e}); if a Content-Security-Policy is set, allow 'wasm-unsafe-eval'`, { url: source instanceof Response ? source.url : '' }, part, e);
  }
}

/** A part's `ready()`: instantiates its wasm once (a failure is retried by the next call). */
export function wasmOnce(init, url, part) {
  let p = null;
  return () =>
    (p ??= loadWasm(init, url, part).catch((e) => {
      p = null;
      throw e;
    }));
}
