//! The guest's memory allocator: a cache of small blocks by size class in front of the C library's
//! allocator, plus the component's `cabi_realloc` on top of it.
//!
//! An adapter call parses one response and builds one page of records: hundreds of thousands of
//! small blocks (strings, vectors, map nodes) allocated and then all freed when the call returns.
//! wasi-libc's dlmalloc walks its bins and coalesces neighbours on every one of those; glibc serves
//! the same pattern natively from a per-thread cache of small blocks by size. [`SizeClassCache`]
//! is that cache for the guest: blocks of up to [`MAX_SMALL`] bytes come in size classes (every
//! 8 bytes up to 128, then four per doubling, so a block above 128 bytes is at most a quarter
//! larger than asked), a freed block goes onto its class's free list and the next block of that
//! class is popped from it, and fresh blocks are cut from chunks taken from the C allocator (4 KiB first, doubling up to
//! 64 KiB, so a call that allocates little does not grow memory for it). Larger blocks, and
//! blocks with unusual alignment, go straight to the C allocator, which returns them whole.
//!
//! Memory of freed small blocks is kept for later small blocks of the same class and not returned:
//! an instance lives for one call (the host makes a fresh one each time), so this costs at most
//! the sum of each class's peak during the call (measured on the Wildberries report of 20,000
//! sizes when the classes were chosen: power-of-two classes took that call from 41.4 to 49.1 MiB,
//! these 44.7, at the same speed).
//!
//! `cabi_realloc` (what the host calls to place arguments in guest memory) must use the same
//! allocator as the Rust code that later frees those arguments. On `wasm32-wasip2`, wasi-libc
//! provides a weak `cabi_realloc` on top of `malloc`; the strong one below replaces it.
//!
//! Building with `--cfg stock_tracker_system_allocator` leaves both out (Rust and `cabi_realloc`
//! then use wasi-libc's `malloc` directly); the mapping benchmark uses it to measure the difference.

// Natively (and with the system allocator) only the unit tests use the cache.
#![cfg_attr(
    not(all(target_arch = "wasm32", not(target_feature = "atomics"), not(stock_tracker_system_allocator))),
    allow(dead_code)
)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr::{self, null_mut};

/// The largest block served from the size classes.
pub(crate) const MAX_SMALL: usize = 2048;
/// The smallest class, the step between classes up to [`LINEAR_MAX`], and the alignment every
/// class block has (all class sizes are multiples of it).
const MIN_CLASS: usize = 8;
/// Classes step by [`MIN_CLASS`] up to here (16 classes), then by a quarter of the power of two
/// below (160, 192, 224, 256, 320, … , 2048: 16 more).
const LINEAR_MAX: usize = 128;
const CLASSES: usize = 32;
/// Fresh class blocks are cut from chunks: the first this big, each next one twice the last…
const FIRST_CHUNK: usize = 4 * 1024;
/// … up to this size.
const MAX_CHUNK: usize = 64 * 1024;

/// A free block: the first word links to the next free block of the same class.
struct Free {
    next: *mut Free,
}

/// Small blocks by size class over a `Backing` allocator that provides chunks and large blocks.
/// Not thread-safe: the guest has one thread.
pub(crate) struct SizeClassCache<Backing> {
    backing: Backing,
    free: [Cell<*mut Free>; CLASSES],
    /// The unused rest of the current chunk.
    next: Cell<*mut u8>,
    end: Cell<*mut u8>,
    /// The size of the next chunk to take.
    chunk: Cell<usize>,
}

impl<Backing: GlobalAlloc> SizeClassCache<Backing> {
    pub(crate) const fn new(backing: Backing) -> Self {
        Self {
            backing,
            free: [const { Cell::new(null_mut()) }; CLASSES],
            next: Cell::new(null_mut()),
            end: Cell::new(null_mut()),
            chunk: Cell::new(FIRST_CHUNK),
        }
    }

    /// The class of a layout, or `None` when the backing allocator serves it.
    fn class(layout: Layout) -> Option<usize> {
        if layout.size() > MAX_SMALL || layout.align() > MIN_CLASS {
            return None;
        }
        let size = layout.size().max(1);
        if size <= LINEAR_MAX {
            return Some(size.div_ceil(MIN_CLASS) - 1);
        }
        // 2^p < size ≤ 2^(p+1), p ≥ 7: four classes of 2^(p-2) bytes each above 2^p.
        let p = (usize::BITS - 1 - (size - 1).leading_zeros()) as usize;
        let quarter = ((size - 1) >> (p - 2)) & 3;
        Some(LINEAR_MAX / MIN_CLASS + 4 * (p - 7) + quarter)
    }

    /// The block size of a class.
    const fn class_size(class: usize) -> usize {
        if class < LINEAR_MAX / MIN_CLASS {
            return (class + 1) * MIN_CLASS;
        }
        let (p, quarter) = (7 + (class - LINEAR_MAX / MIN_CLASS) / 4, (class - LINEAR_MAX / MIN_CLASS) % 4);
        (1 << p) + (quarter + 1) * (1 << (p - 2))
    }

    /// A block of `class` from its free list, else cut from the current chunk (taking a new chunk
    /// when this one is used up; its tail, smaller than the block, is left unused).
    unsafe fn take(&self, class: usize) -> *mut u8 {
        let head = self.free[class].get();
        if !head.is_null() {
            // SAFETY: free-list entries are blocks of this class that were handed back to us.
            self.free[class].set(unsafe { (*head).next });
            return head.cast();
        }
        let size = Self::class_size(class);
        let mut start = self.next.get();
        if (self.end.get() as usize) - (start as usize) < size {
            let chunk = self.chunk.get();
            // SAFETY: chunk sizes are non-zero and MIN_CLASS a power of two.
            start = unsafe { self.backing.alloc(Layout::from_size_align_unchecked(chunk, MIN_CLASS)) };
            if start.is_null() {
                return null_mut();
            }
            // SAFETY: the chunk is `chunk` bytes long.
            self.end.set(unsafe { start.add(chunk) });
            self.chunk.set((chunk * 2).min(MAX_CHUNK));
        }
        // SAFETY: `size` bytes fit between `start` and `end` (checked above, or a fresh chunk).
        self.next.set(unsafe { start.add(size) });
        start
    }

    /// Hands a block of `class` back for reuse.
    unsafe fn give(&self, ptr: *mut u8, class: usize) {
        let block = ptr.cast::<Free>();
        // SAFETY: the block is at least MIN_CLASS bytes, MIN_CLASS-aligned, and no longer used.
        unsafe { block.write(Free { next: self.free[class].get() }) };
        self.free[class].set(block);
    }
}

// SAFETY: blocks handed out are `layout.size()` bytes or more, aligned to `layout.align()` (class
// blocks are multiples of MIN_CLASS cut from MIN_CLASS-aligned chunks; larger alignments go to the
// backing allocator), and a block is never handed out twice before it is freed.
unsafe impl<Backing: GlobalAlloc> GlobalAlloc for SizeClassCache<Backing> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match Self::class(layout) {
            Some(class) => unsafe { self.take(class) },
            None => unsafe { self.backing.alloc(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match Self::class(layout) {
            Some(class) => unsafe { self.give(ptr, class) },
            None => unsafe { self.backing.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to the alignment, does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (Self::class(layout), Self::class(new_layout)) {
            // The block already has room for the new size.
            (Some(old), Some(new)) if old == new => ptr,
            (None, None) => unsafe { self.backing.realloc(ptr, layout, new_size) },
            _ => {
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    unsafe {
                        ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics"), not(stock_tracker_system_allocator)))]
mod guest {
    use super::*;

    struct SingleThreaded(SizeClassCache<std::alloc::System>);
    // SAFETY: a wasm32 guest built without the `atomics` feature has exactly one thread.
    unsafe impl Sync for SingleThreaded {}
    // SAFETY: forwards to the cache.
    unsafe impl GlobalAlloc for SingleThreaded {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            unsafe { self.0.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { self.0.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            unsafe { self.0.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: SingleThreaded = SingleThreaded(SizeClassCache::new(std::alloc::System));

    /// The canonical ABI's allocation function (what the host calls to place arguments in guest
    /// memory), on the global allocator so the Rust code that owns those arguments can free them.
    #[unsafe(export_name = "cabi_realloc")]
    unsafe extern "C" fn cabi_realloc(old: *mut u8, old_len: usize, align: usize, new_len: usize) -> *mut u8 {
        // SAFETY: the canonical ABI passes a power-of-two alignment, and `old` with `old_len`
        // and `align` as this function returned it.
        let block = unsafe {
            if old_len == 0 {
                if new_len == 0 {
                    return align as *mut u8;
                }
                std::alloc::alloc(Layout::from_size_align_unchecked(new_len, align))
            } else {
                std::alloc::realloc(old, Layout::from_size_align_unchecked(old_len, align), new_len)
            }
        };
        if block.is_null() {
            // Out of memory (the host's limit): trap, as the C library's version does.
            core::arch::wasm32::unreachable();
        }
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;
    use std::collections::HashSet;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn every_size_gets_the_smallest_class_that_holds_it() {
        type C = SizeClassCache<System>;
        assert_eq!(C::class(layout(1, 1)), Some(0));
        assert_eq!(C::class(layout(8, 8)), Some(0));
        assert_eq!(C::class(layout(9, 1)), Some(1));
        assert_eq!(C::class(layout(128, 8)), Some(15));
        assert_eq!(C::class(layout(129, 8)), Some(16));
        assert_eq!(C::class(layout(MAX_SMALL, 8)), Some(CLASSES - 1));
        let sizes: Vec<usize> = (0..CLASSES).map(C::class_size).collect();
        assert_eq!(sizes[14..22], [120, 128, 160, 192, 224, 256, 320, 384]);
        assert_eq!(sizes[CLASSES - 1], MAX_SMALL);
        for size in 1..=MAX_SMALL {
            let class = C::class(layout(size, 1)).unwrap();
            assert!(C::class_size(class) >= size, "{size} fits its class");
            assert!(class == 0 || C::class_size(class - 1) < size, "{size}: no smaller class fits");
            assert!(C::class_size(class) * 4 <= size * 5 + 4 * MIN_CLASS, "{size}: waste bounded");
            assert_eq!(C::class_size(class) % MIN_CLASS, 0, "class sizes keep blocks aligned");
        }
        assert_eq!(C::class(layout(MAX_SMALL + 1, 1)), None, "large blocks go to the backing allocator");
        assert_eq!(C::class(layout(32, 16)), None, "so do alignments above 8");
    }

    #[test]
    fn live_blocks_never_overlap_and_keep_their_contents() {
        let cache = SizeClassCache::new(System);
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        // A deterministic mix of sizes across every class and the large path, freeing every third.
        for i in 0..20_000usize {
            let size = 1 + (i * 7919) % 3000;
            let l = layout(size, [1, 2, 4, 8, 16][i % 5]);
            let p = unsafe { cache.alloc(l) };
            assert!(!p.is_null());
            assert_eq!(p as usize % l.align(), 0, "aligned");
            let mark = (i % 251) as u8;
            unsafe { ptr::write_bytes(p, mark, size) };
            live.push((p, l, mark));
            if i % 3 == 2 {
                let (p, l, mark) = live.swap_remove(i % live.len());
                assert!(unsafe { std::slice::from_raw_parts(p, l.size()) }.iter().all(|b| *b == mark));
                unsafe { cache.dealloc(p, l) };
            }
        }
        let mut ranges: Vec<(usize, usize)> =
            live.iter().map(|(p, l, _)| (*p as usize, *p as usize + l.size())).collect();
        ranges.sort();
        assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "no two live blocks overlap");
        for (p, l, mark) in live {
            assert!(unsafe { std::slice::from_raw_parts(p, l.size()) }.iter().all(|b| *b == mark), "contents kept");
            unsafe { cache.dealloc(p, l) };
        }
    }

    /// The system allocator, recording the sizes asked of it.
    #[derive(Default)]
    struct Recording(std::sync::Mutex<Vec<usize>>);
    unsafe impl GlobalAlloc for Recording {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.0.lock().unwrap().push(layout.size());
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[test]
    fn small_use_takes_a_small_chunk_and_chunks_grow_to_a_cap() {
        let cache = SizeClassCache::new(Recording::default());
        unsafe { cache.alloc(layout(100, 1)) };
        assert_eq!(*cache.backing.0.lock().unwrap(), [4096], "a call that allocates little takes 4 KiB");
        for _ in 0..200 {
            unsafe { cache.alloc(layout(2048, 8)) };
        }
        let asked = cache.backing.0.lock().unwrap().clone();
        assert_eq!(asked[..6], [4096, 8192, 16384, 32768, 65536, 65536]);
        assert!(asked.iter().all(|size| *size <= MAX_CHUNK));
        unsafe { cache.alloc(layout(5000, 8)) };
        assert_eq!(cache.backing.0.lock().unwrap().last(), Some(&5000), "large blocks go to the backing allocator");
    }

    #[test]
    fn freed_blocks_are_reused_so_churn_does_not_grow_memory() {
        let cache = SizeClassCache::new(System);
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let a = unsafe { cache.alloc(layout(24, 8)) };
            let b = unsafe { cache.alloc(layout(100, 1)) };
            seen.insert(a as usize);
            seen.insert(b as usize);
            unsafe {
                cache.dealloc(b, layout(100, 1));
                cache.dealloc(a, layout(24, 8));
            }
        }
        assert_eq!(seen.len(), 2, "the same two blocks serve every round");
    }

    #[test]
    fn realloc_keeps_contents_across_classes_and_into_large_blocks() {
        let cache = SizeClassCache::new(System);
        let mut l = layout(5, 1);
        let mut p = unsafe { cache.alloc(l) };
        unsafe { ptr::copy_nonoverlapping(b"hello".as_ptr(), p, 5) };
        let within = unsafe { cache.realloc(p, l, 7) };
        assert_eq!(within, p, "growing inside the class stays in place");
        l = layout(7, 1);
        for size in [16, 200, 2048, 5000, 100_000, 300, 3] {
            p = unsafe { cache.realloc(p, l, size) };
            assert!(!p.is_null());
            l = layout(size, 1);
            assert_eq!(unsafe { std::slice::from_raw_parts(p, 3) }, b"hel");
        }
        unsafe { cache.dealloc(p, l) };
    }
}
