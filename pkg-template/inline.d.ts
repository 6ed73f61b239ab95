// resource-guard/inline: the same API as 'resource-guard', with the wasm inlined as base64 (for
// bundlers that do not emit `new URL(..., import.meta.url)` assets, e.g. esbuild and Rollup).
export * from './index.js';
