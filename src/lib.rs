//! resource-guard: keeps one tab, one user or one runaway feature from taking a web app (and its
//! backend) down for everyone.
//!
//! The crate is layered so that all policy can be tested natively with a manual clock:
//!
//! * [`core`]: pure policy (rate limits, queues, retries, breakers, heap levels, reports). It never
//!   reads a clock, never sleeps and never names a browser crate; every transition takes `now`.
//! * `web` (wasm32 only): browser glue: the performance clock, wasm memory, the error factory.
//! * `src/api/` (wasm32 only): the `#[wasm_bindgen]` surface that the JavaScript driver in
//!   `pkg-template/` calls with plain numbers and strings, one file per capability. It is not a
//!   module of this crate: each capability's thin cdylib crate (`crates/guard-wasm`,
//!   `crates/cache-wasm`, `crates/upload-wasm`) compiles its own file, so each wasm exports (and,
//!   with LTO, keeps) only what its capability reaches. This crate is the rlib they share.
//!
//! The asynchronous part (awaiting `fetch`, timers, IndexedDB, Cache Storage) lives in the small
//! JavaScript driver: promises and timers are native there, and the hot path crosses into wasm only
//! with numbers. See README.md, "Architecture".
#![deny(missing_docs, missing_debug_implementations)]
#![forbid(unsafe_code)]

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;
