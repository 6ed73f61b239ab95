//! Pure, clock-injected policy. Nothing here may name a browser crate (a test enforces it).

pub mod adaptive;
pub mod breaker;
pub mod cache;
pub mod config;
pub mod defaults;
pub mod engine;
pub mod error;
pub mod heap;
pub mod json;
pub mod rate_limit;
pub mod report;
pub mod retry;
pub mod rng;
pub mod time;
pub mod upload;
pub mod window;
