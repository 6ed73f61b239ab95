//! The allocator over real memory (a zeroed buffer standing in for wasm pages): blocks are
//! aligned, disjoint and keep their contents; freed blocks are reused; the heap stays within its
//! documented bound under random sequences.
use core::alloc::Layout;
use proptest::prelude::*;
use rg_alloc::{Grow, Heap, MAX_ALIGN, PAGE};
use std::collections::BTreeMap;

/// Pages from a fixed buffer, contiguous, up to its size.
struct Buffer {
    mem: Vec<u8>,
    used_pages: usize,
    first: Option<usize>,
}

impl Buffer {
    fn new(pages: usize) -> Self {
        // One page of slack so the first page can start page-aligned like wasm memory.
        Buffer {
            mem: vec![0; (pages + 1) * PAGE],
            used_pages: 0,
            first: None,
        }
    }
    fn base(&self) -> usize {
        (self.mem.as_ptr() as usize).div_ceil(PAGE) * PAGE
    }
    fn capacity_pages(&self) -> usize {
        (self.mem.as_ptr() as usize + self.mem.len() - self.base()) / PAGE
    }
}

impl Grow for Buffer {
    fn grow(&mut self, pages: usize) -> Option<usize> {
        if self.used_pages + pages > self.capacity_pages() {
            return None;
        }
        let start = self.base() + self.used_pages * PAGE;
        self.used_pages += pages;
        self.first.get_or_insert(start);
        Some(start)
    }
}

fn class_size(size: usize, align: usize) -> usize {
    size.max(align).max(16).next_power_of_two()
}

struct Live {
    len: usize,
    align: usize,
    fill: u8,
}

/// Runs `ops` and checks every invariant after each step; returns the heap for bound checks.
fn run(ops: &[(u8, usize, u32, usize)]) -> (Heap<Buffer>, BTreeMap<usize, usize>) {
    let mut heap = Heap::new(Buffer::new(1024));
    let mut live: BTreeMap<usize, Live> = BTreeMap::new();
    let mut order: Vec<usize> = Vec::new();
    // Per class size: blocks live now and the most ever live.
    let mut now: BTreeMap<usize, usize> = BTreeMap::new();
    let mut peak: BTreeMap<usize, usize> = BTreeMap::new();
    let mut fill = 0u8;
    for &(op, size, align_log, pick) in ops {
        let align = 1usize << align_log;
        match op % 3 {
            0 => {
                let l = Layout::from_size_align(size, align).unwrap();
                let p = unsafe { heap.alloc(l) };
                assert_ne!(p, 0, "alloc of {size} B failed");
                assert_eq!(p % align, 0, "{p:#x} not aligned to {align}");
                fill = fill.wrapping_add(1);
                unsafe { std::ptr::write_bytes(p as *mut u8, fill, size) };
                live.insert(
                    p,
                    Live {
                        len: size,
                        align,
                        fill,
                    },
                );
                order.push(p);
                let c = class_size(size, align);
                let n = now.entry(c).or_default();
                *n += 1;
                let pk = peak.entry(c).or_default();
                *pk = (*pk).max(*n);
            }
            1 if !order.is_empty() => {
                let p = order.swap_remove(pick % order.len());
                let b = live.remove(&p).unwrap();
                let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, b.len) };
                assert!(
                    bytes.iter().all(|&x| x == b.fill),
                    "block {p:#x} was overwritten"
                );
                *now.get_mut(&class_size(b.len, b.align)).unwrap() -= 1;
                unsafe { heap.dealloc(p, Layout::from_size_align(b.len, b.align).unwrap()) };
            }
            2 if !order.is_empty() => {
                let i = pick % order.len();
                let p = order[i];
                let b = live.remove(&p).unwrap();
                let q = unsafe {
                    heap.realloc(p, Layout::from_size_align(b.len, b.align).unwrap(), size)
                };
                assert_ne!(q, 0);
                assert_eq!(q % b.align, 0);
                let kept = b.len.min(size);
                let bytes = unsafe { std::slice::from_raw_parts(q as *const u8, kept) };
                assert!(
                    bytes.iter().all(|&x| x == b.fill),
                    "realloc lost the contents"
                );
                unsafe { std::ptr::write_bytes(q as *mut u8, b.fill, size) };
                *now.get_mut(&class_size(b.len, b.align)).unwrap() -= 1;
                let c = class_size(size, b.align);
                let n = now.entry(c).or_default();
                *n += 1;
                let pk = peak.entry(c).or_default();
                *pk = (*pk).max(*n);
                live.insert(
                    q,
                    Live {
                        len: size,
                        align: b.align,
                        fill: b.fill,
                    },
                );
                order[i] = q;
            }
            _ => {}
        }
        // Disjoint: each live block ends before the next one starts (class sizes, not lengths).
        let mut prev_end = 0usize;
        for (&p, b) in &live {
            assert!(
                p >= prev_end,
                "block {p:#x} overlaps the previous one (ends {prev_end:#x})"
            );
            prev_end = p + class_size(b.len, b.align);
        }
    }
    (heap, peak)
}

fn op() -> impl Strategy<Value = (u8, usize, u32, usize)> {
    (
        0u8..3,
        prop_oneof![4 => 0usize..64, 3 => 64usize..2048, 1 => 2048usize..200_000],
        0u32..5,
        any::<usize>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_sequences_keep_blocks_aligned_disjoint_intact_and_the_heap_bounded(
        ops in proptest::collection::vec(op(), 1..300)
    ) {
        let (heap, peak) = run(&ops);
        // The documented bound: carved bytes < 2 x the sum of peak live blocks x class size.
        let carved = heap.source().first.map_or(0, |base| heap.carved_end() - base);
        let bound: usize = peak.iter().map(|(c, n)| c * n).sum::<usize>() * 2;
        prop_assert!(carved <= bound, "carved {} B > bound {} B", carved, bound);
    }
}

#[test]
fn a_freed_block_is_reused_so_churn_does_not_grow_the_heap() {
    let mut heap = Heap::new(Buffer::new(4));
    let l = Layout::from_size_align(100, 8).unwrap();
    let first = unsafe { heap.alloc(l) };
    unsafe { heap.dealloc(first, l) };
    let end = heap.carved_end();
    for _ in 0..100_000 {
        let a = unsafe { heap.alloc(l) };
        let b = unsafe { heap.alloc(Layout::from_size_align(20, 4).unwrap()) };
        assert_eq!(a, first);
        unsafe { heap.dealloc(b, Layout::from_size_align(20, 4).unwrap()) };
        unsafe { heap.dealloc(a, l) };
    }
    // One 32-byte block was carved for the 20-byte requests; nothing else.
    assert!(heap.carved_end() <= end + 32, "churn grew the heap");
}

#[test]
fn realloc_within_a_class_keeps_the_block_and_growing_moves_it_with_its_bytes() {
    let mut heap = Heap::new(Buffer::new(4));
    let l = Layout::from_size_align(40, 8).unwrap();
    let p = unsafe { heap.alloc(l) };
    unsafe { std::ptr::write_bytes(p as *mut u8, 7, 40) };
    assert_eq!(
        unsafe { heap.realloc(p, l, 64) },
        p,
        "40 -> 64 B stays in the 64 B class"
    );
    let q = unsafe { heap.realloc(p, Layout::from_size_align(64, 8).unwrap(), 65) };
    assert_ne!(q, p);
    let bytes = unsafe { std::slice::from_raw_parts(q as *const u8, 40) };
    assert!(bytes.iter().all(|&x| x == 7));
    // The old block went back to the 64 B list.
    assert_eq!(
        unsafe { heap.alloc(Layout::from_size_align(50, 8).unwrap()) },
        p
    );
}

#[test]
fn refusals_are_null_not_panics() {
    let mut heap = Heap::new(Buffer::new(2));
    // Alignment above the maximum.
    assert_eq!(
        unsafe { heap.alloc(Layout::from_size_align(8, MAX_ALIGN * 2).unwrap()) },
        0
    );
    // More than the memory can grow to.
    assert_eq!(
        unsafe { heap.alloc(Layout::from_size_align(10 * PAGE, 8).unwrap()) },
        0
    );
    // A size whose class is the largest there is (and far more than the memory).
    assert_eq!(
        unsafe { heap.alloc(Layout::from_size_align(isize::MAX as usize / 2 + 2, 1).unwrap()) },
        0
    );
    // The heap still works afterwards.
    let p = unsafe { heap.alloc(Layout::from_size_align(8, 8).unwrap()) };
    assert_ne!(p, 0);
    // A failed realloc leaves the block as it was.
    unsafe { (p as *mut u64).write(42) };
    assert_eq!(
        unsafe { heap.realloc(p, Layout::from_size_align(8, 8).unwrap(), 10 * PAGE) },
        0
    );
    assert_eq!(unsafe { (p as *const u64).read() }, 42);
}

#[test]
fn large_blocks_are_aligned_to_at_most_a_page_fraction_and_grow_the_memory_by_whole_pages() {
    let mut heap = Heap::new(Buffer::new(64));
    let small = unsafe { heap.alloc(Layout::from_size_align(24, 8).unwrap()) };
    let big = unsafe { heap.alloc(Layout::from_size_align(100_000, 8).unwrap()) };
    assert_ne!(big, 0);
    assert_eq!(big % MAX_ALIGN, 0);
    assert!(
        big >= small + 32,
        "the big block does not overlap the small one"
    );
    unsafe { std::ptr::write_bytes(big as *mut u8, 1, 100_000) };
    let again = unsafe { heap.alloc(Layout::from_size_align(24, 8).unwrap()) };
    assert!(again >= big + 131_072 || again + 32 <= big);
}

/// Pages handed out with a gap before each grow (as when something else grew the memory).
struct Gappy {
    inner: Buffer,
}

impl Grow for Gappy {
    fn grow(&mut self, pages: usize) -> Option<usize> {
        self.inner.grow(1)?; // a page someone else took
        self.inner.grow(pages)
    }
}

#[test]
fn memory_grown_by_someone_else_is_skipped_not_handed_out() {
    let mut heap = Heap::new(Gappy {
        inner: Buffer::new(64),
    });
    // Class 64 KiB.
    let l = Layout::from_size_align(40_000, 8).unwrap();
    // Each grow asks for 2 pages (the block plus room for its alignment): two blocks fit in
    // the first grow, the third needs another, which comes after a second gap page.
    let a = unsafe { heap.alloc(l) };
    let b = unsafe { heap.alloc(l) };
    let c = unsafe { heap.alloc(l) };
    assert!(a != 0 && b != 0 && c != 0);
    let base = heap.source().inner.first.unwrap();
    assert_eq!(
        a,
        base + PAGE,
        "the first block is after the page someone else took"
    );
    assert_eq!(b, a + 65_536);
    assert_eq!(
        c,
        b + 65_536 + PAGE,
        "the third block skips the second gap page"
    );
    for (p, v) in [(a, 1u8), (b, 2), (c, 3)] {
        unsafe { std::ptr::write_bytes(p as *mut u8, v, 40_000) };
    }
    for (p, v) in [(a, 1u8), (b, 2), (c, 3)] {
        let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, 40_000) };
        assert!(bytes.iter().all(|&x| x == v));
    }
}
