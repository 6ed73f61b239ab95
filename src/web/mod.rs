//! Browser glue: the clocks and the guard's own memory. Bound through globals (never `window`),
//! so the same code runs in a window and in workers.

pub mod clock;
pub mod error;
pub mod heap;
