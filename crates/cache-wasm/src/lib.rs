//! The response cache wasm module of resource-guard (CacheCore), loaded with the cache part.
//!
//! A thin cdylib: it compiles one capability's `#[wasm_bindgen]` surface (`src/api/cache.rs` of
//! the workspace root) against the shared rlib, so this wasm exports, and after LTO holds, only
//! what that capability reaches. The surface names `crate::core` and `crate::web`: the
//! re-exports below make those paths resolve here as they would in the root crate.
#![deny(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]

pub use resource_guard::core;
#[cfg(target_arch = "wasm32")]
pub use resource_guard::web;

#[cfg(target_arch = "wasm32")]
#[path = "../../../src/api/cache.rs"]
pub mod cache;

/// The global allocator (crates/alloc: why, and what it costs).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: rg_alloc::WasmAlloc = rg_alloc::WasmAlloc::new();
