//! A global allocator for property tests that records the largest single
//! request and refuses (null, so the process aborts with the size) any
//! request above [`LIMIT`]: an allocation sized by a hostile number shows up
//! as a failure instead of eating the machine's memory.

#![allow(unsafe_code)]
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest single allocation a parser of client bytes may make here.
pub const LIMIT: usize = 64 << 20;

/// The largest request seen so far.
pub static LARGEST: AtomicUsize = AtomicUsize::new(0);

/// The allocator (install with `#[global_allocator]`).
pub struct Bounded;

fn note(size: usize) -> bool {
    LARGEST.fetch_max(size, Ordering::Relaxed);
    size <= LIMIT
}

// SAFETY: every call is forwarded unchanged to the system allocator, or
// answered with null (allowed: "allocation failed").
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !note(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// The largest request so far, for assertions.
pub fn largest() -> usize {
    LARGEST.load(Ordering::Relaxed)
}
