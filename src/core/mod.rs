//! Pure, clock-injected policy. Nothing here may name a browser crate (a test enforces it).

pub mod config;
pub mod defaults;
pub mod error;
pub mod json;
pub mod rng;
pub mod time;
