//! Heap pages the allocator holds freed, given back to the system.
//!
//! glibc returns freed memory only from the top of each arena's heap: blocks freed below a live
//! one stay resident for reuse. Between checkpoints the server frees much of what it allocated
//! (request bodies, decoded batches, a checkpoint's copies of the chunks it stored, the index's
//! old tables as they grow), and at 100k series a fifth to two fifths of the heap was such free
//! blocks, counted in the RSS as if the series held them.

/// Asks glibc to return every whole free page of every arena (`malloc_trim(0)`); true when it
/// returned some. Elsewhere it does nothing (musl, macOS and Windows allocators have no such
/// call) and returns false.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "glibc's malloc_trim has no safe binding")]
pub fn give_back() -> bool {
    // SAFETY: malloc_trim takes no pointers; glibc locks each arena while it walks its free
    // blocks, as for any other allocator call.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Asks the allocator to return free pages: nothing to do off glibc.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back() -> bool {
    false
}
