//! The global allocator of resource-guard's wasm modules.
//!
//! Why not the standard library's (dlmalloc): its code is 2.8–3.2 KB gzip of each wasm module
//! (measured, gzip: guard 55,046 → 51,808 B, cache 19,664 → 16,709 B, upload 24,818 → 22,052 B
//! with this allocator instead), and the modules allocate little and in few sizes (queue
//! tickets, service records, short strings).
//!
//! What it costs: memory where one `Vec` grows large. Rounding to powers of two, and old blocks
//! that only their own class reuses, made 10,000 queued requests take 884 B of wasm memory each
//! against 387 B with dlmalloc (`npm run bench`, section 5), until the engine's ticket table,
//! the one structure that grows with the queue, moved to fixed 64 KiB chunks
//! (src/core/engine/table.rs): 190 B now. Code that keeps a large growing `Vec` in these modules
//! should do the same.
//!
//! # Design
//! Every request is rounded up to a power of two (at least 16 bytes), its *class*. Each class has
//! a free list threaded through its free blocks; a request takes the head of its class's list,
//! or carves a new block from the end of the heap (aligned to its size, up to 4096), growing the
//! memory by whole 64 KiB pages when needed. Freed blocks go back to their list and are reused by
//! the next request of their class. `realloc` within a class keeps the block.
//!
//! # Bounds
//! A block of a class is carved only when that class's free list is empty, so the number of
//! blocks ever carved for a class is the most blocks of that class live at once. The heap is
//! therefore less than `2 × Σ (peak live blocks of a class × class size)` (the factor covers
//! the alignment padding), plus one growth step. Memory is never returned (wasm memory cannot
//! shrink; dlmalloc did not return it either) and blocks are not split or merged across classes.
//! Rounding up to a power of two wastes less than half of each block.
//!
//! Alignments above 4096 are refused (a null pointer, which Rust reports as an allocation
//! failure); nothing in resource-guard asks for more than 16.
#![no_std]
#![deny(missing_docs, missing_debug_implementations)]

use core::alloc::Layout;

/// The wasm page size.
pub const PAGE: usize = 65536;
/// The smallest class, log2 (16 bytes: room for the free-list link at any alignment up to 16).
const MIN_LOG: u32 = 4;
/// The most a block is aligned to, and the largest alignment served.
pub const MAX_ALIGN: usize = 4096;
const CLASSES: usize = (usize::BITS - MIN_LOG) as usize;

/// Where fresh memory comes from.
pub trait Grow {
    /// Adds `pages` pages of 64 KiB; returns the address where they start, or `None` when the
    /// memory cannot grow.
    fn grow(&mut self, pages: usize) -> Option<usize>;
}

/// The allocator's state over a source of pages. Addresses are plain `usize`; 0 is failure.
#[derive(Debug)]
pub struct Heap<G> {
    next: usize,
    end: usize,
    free: [usize; CLASSES],
    grow: G,
}

/// The class index of a layout, or `None` when it cannot be served.
fn class(size: usize, align: usize) -> Option<usize> {
    if align > MAX_ALIGN {
        return None;
    }
    let s = size
        .max(align)
        .max(1 << MIN_LOG)
        .checked_next_power_of_two()?;
    Some((s.trailing_zeros() - MIN_LOG) as usize)
}

fn align_up(x: usize, a: usize) -> Option<usize> {
    Some(x.checked_add(a - 1)? & !(a - 1))
}

impl<G: Grow> Heap<G> {
    /// An empty heap that takes its pages from `grow`.
    pub const fn new(grow: G) -> Self {
        Heap {
            next: 0,
            end: 0,
            free: [0; CLASSES],
            grow,
        }
    }

    /// The source of pages.
    pub fn source(&self) -> &G {
        &self.grow
    }

    /// The address range carved so far ends here (for tests and bounds).
    pub fn carved_end(&self) -> usize {
        self.next
    }

    /// Allocates a block for `layout`; 0 when it cannot.
    ///
    /// # Safety
    /// The pages `grow` returns must be writable memory owned by this heap, and every block
    /// handed back to [`Heap::dealloc`] must come from this heap with the same layout.
    pub unsafe fn alloc(&mut self, layout: Layout) -> usize {
        let Some(c) = class(layout.size(), layout.align()) else {
            return 0;
        };
        let head = self.free[c];
        if head != 0 {
            // SAFETY: `head` is a free block of this class: its first word is the link.
            self.free[c] = unsafe { (head as *const usize).read() };
            return head;
        }
        self.carve(c).unwrap_or(0)
    }

    fn carve(&mut self, c: usize) -> Option<usize> {
        let size = 1usize << (c as u32 + MIN_LOG);
        let align = size.min(MAX_ALIGN);
        let mut p = align_up(self.next, align)?;
        if p.checked_add(size)? > self.end {
            let pages = size.checked_add(align)?.div_ceil(PAGE);
            let start = self.grow.grow(pages)?;
            if start != self.end {
                // Not contiguous (someone else grew the memory): start over at the new pages.
                self.next = start;
            }
            self.end = start.checked_add(pages.checked_mul(PAGE)?)?;
            p = align_up(self.next, align)?;
        }
        self.next = p + size;
        Some(p)
    }

    /// Returns a block to its class's free list.
    ///
    /// # Safety
    /// `ptr` came from [`Heap::alloc`] (or [`Heap::realloc`]) of this heap with `layout`, and is
    /// not used afterwards.
    pub unsafe fn dealloc(&mut self, ptr: usize, layout: Layout) {
        let Some(c) = class(layout.size(), layout.align()) else {
            return;
        };
        // SAFETY: the block is at least 16 bytes and aligned to at least 16: room for the link.
        unsafe { (ptr as *mut usize).write(self.free[c]) };
        self.free[c] = ptr;
    }

    /// Resizes a block, in place when the new size is in the same class; 0 when it cannot (the
    /// old block is then untouched).
    ///
    /// # Safety
    /// As for [`Heap::dealloc`]; on success the old pointer must not be used again.
    pub unsafe fn realloc(&mut self, ptr: usize, layout: Layout, new_size: usize) -> usize {
        let old = class(layout.size(), layout.align());
        if old.is_some() && old == class(new_size, layout.align()) {
            return ptr;
        }
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return 0;
        };
        // SAFETY: forwarded from the caller.
        let q = unsafe { self.alloc(new_layout) };
        if q != 0 {
            // SAFETY: both blocks are live, distinct and at least this long.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    ptr as *const u8,
                    q as *mut u8,
                    layout.size().min(new_size),
                );
                self.dealloc(ptr, layout);
            }
        }
        q
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::{Grow, Heap};
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;

    #[cfg(target_feature = "atomics")]
    compile_error!("rg_alloc is single-threaded: build the wasm modules without atomics");

    /// Pages from `memory.grow` of memory 0.
    #[derive(Debug)]
    pub struct MemoryGrow;

    impl Grow for MemoryGrow {
        fn grow(&mut self, pages: usize) -> Option<usize> {
            let old = core::arch::wasm32::memory_grow(0, pages);
            (old != usize::MAX).then(|| old * super::PAGE)
        }
    }

    /// The global allocator: `#[global_allocator] static A: rg_alloc::WasmAlloc = rg_alloc::WasmAlloc::new();`
    #[derive(Debug)]
    pub struct WasmAlloc(UnsafeCell<Heap<MemoryGrow>>);

    // SAFETY: wasm32 without the atomics feature has one thread (checked above).
    unsafe impl Sync for WasmAlloc {}

    impl WasmAlloc {
        /// The allocator with nothing allocated.
        #[must_use]
        pub const fn new() -> Self {
            WasmAlloc(UnsafeCell::new(Heap::new(MemoryGrow)))
        }
    }

    impl Default for WasmAlloc {
        fn default() -> Self {
            Self::new()
        }
    }

    // SAFETY: the heap hands out disjoint blocks of at least the layout's size and alignment
    // (tests/heap.rs checks it under random sequences), and one thread uses it at a time.
    unsafe impl GlobalAlloc for WasmAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { (*self.0.get()).alloc(layout) as *mut u8 }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { (*self.0.get()).dealloc(ptr as usize, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            unsafe { (*self.0.get()).realloc(ptr as usize, layout, new_size) as *mut u8 }
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use wasm::{MemoryGrow, WasmAlloc};
