//! The ticket table: slots in chunks of at most 64 KiB instead of one growing `Vec`.
//!
//! One `Vec` of 10,000 tickets (168 bytes each) doubles to a 2.75 MB buffer that the wasm
//! allocator rounds to 4 MB, leaving every earlier buffer (2 MB, 1 MB, …) to its own size class:
//! 884 B of wasm memory per queued request, against 387 B with dlmalloc. Chunks of a fixed size
//! fit one size class exactly, are reused as such, and growing never copies the table (a 10,000
//! deep queue used to move 2.75 MB inside one `submit`).

/// Bytes per full chunk: the allocator's 64 KiB class.
const CHUNK_BYTES: usize = 65_536;

/// An append-only table of slots, indexed like a `Vec`.
#[derive(Debug)]
pub(super) struct Table<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Table<T> {
    /// Slots per chunk (at least 1).
    const PER: usize = {
        let s = core::mem::size_of::<T>();
        if s == 0 || s >= CHUNK_BYTES {
            1
        } else {
            CHUNK_BYTES / s
        }
    };

    pub(super) const fn new() -> Self {
        Table {
            chunks: Vec::new(),
            len: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i / Self::PER)?.get(i % Self::PER)
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.chunks.get_mut(i / Self::PER)?.get_mut(i % Self::PER)
    }

    /// Appends a slot; its index is the `len()` before the call.
    pub(super) fn push(&mut self, v: T) {
        let per = Self::PER;
        match self.chunks.last_mut() {
            Some(c) if c.len() < per => {
                // The first chunk grows by doubling from 4 slots (a small guard stays small), never
                // past a full chunk; later chunks are allocated full at once.
                if c.len() == c.capacity() {
                    c.reserve_exact(c.len().max(4).min(per - c.len()));
                }
                c.push(v);
            }
            _ => {
                let cap = if self.chunks.is_empty() {
                    per.min(4)
                } else {
                    per
                };
                let mut c = Vec::with_capacity(cap);
                c.push(v);
                self.chunks.push(c);
            }
        }
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn indexes_like_a_vec_across_chunk_boundaries() {
        let mut t: Table<[u64; 21]> = Table::new(); // 168 B, like a ticket: 390 per chunk
        assert_eq!(Table::<[u64; 21]>::PER, 390);
        for i in 0..2000u64 {
            assert_eq!(t.len(), i as usize);
            t.push([i; 21]);
        }
        for i in 0..2000usize {
            assert_eq!(t.get(i).map(|v| v[20]), Some(i as u64));
        }
        assert!(t.get(2000).is_none());
        *t.get_mut(390).unwrap() = [7; 21];
        assert_eq!(t.get(390).map(|v| v[0]), Some(7));
        assert_eq!(t.get(389).map(|v| v[0]), Some(389));
        // Every chunk but the last is full, and none holds more than 64 KiB.
        assert_eq!(t.chunks.len(), 2000usize.div_ceil(390));
        for c in &t.chunks {
            assert!(
                c.capacity() * 168 <= 65_536,
                "a chunk of {} slots",
                c.capacity()
            );
        }
        for c in &t.chunks[..t.chunks.len() - 1] {
            assert_eq!(c.len(), 390);
        }
    }

    #[test]
    fn a_small_table_stays_small() {
        let mut t: Table<[u64; 21]> = Table::new();
        t.push([0; 21]);
        assert_eq!(t.chunks[0].capacity(), 4);
        for _ in 0..5 {
            t.push([0; 21]);
        }
        assert_eq!(t.chunks[0].capacity(), 8);
    }
}
