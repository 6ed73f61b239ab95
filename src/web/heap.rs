//! The guard's own memory: the size of its wasm linear memory, always available and exact.

/// Bytes of wasm linear memory in use by this module (pages × 64 KiB).
pub fn wasm_memory_bytes() -> u64 {
    (core::arch::wasm32::memory_size(0) as u64) * 65_536
}
