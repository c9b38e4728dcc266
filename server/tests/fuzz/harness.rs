//! What every target shares: its case budget, a meter of the bytes a case holds at its peak on
//! the decoding thread, and a watchdog that aborts the run when one case hangs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use proptest::test_runner::Config;

/// The proptest configuration of a target: `PROPTEST_CASES` cases if set, else `ci_cases`; no
/// regression files (a failure found is kept as a named regression test instead).
pub fn config(ci_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci_cases);
    Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    }
}

/// Any single allocation larger than this fails (the process aborts with the size asked for):
/// no input given these tests' limits should ever need one.
const LARGEST_ALLOCATION: usize = 1 << 30;

thread_local! {
    /// Bytes allocated minus bytes freed on this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The highest `LIVE` since the last [`peak_during`] began.
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// The system allocator, counting each thread's live bytes and refusing absurd sizes.
pub struct Metered;

// The one unsafe item of the campaign: a global allocator can only be written with it. It
// forwards to `System` unchanged and only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Metered {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LARGEST_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LARGEST_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (every path above forwards).
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LARGEST_ALLOCATION {
            return std::ptr::null_mut();
        }
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Adds `bytes` to this thread's live count (thread-locals without destructors never allocate).
fn count(bytes: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

/// Runs `f` and returns its result with the most bytes it held at once on this thread.
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    (out, usize::try_from(peak).unwrap_or(0))
}

/// How long one case may run before the watchdog calls it a hang.
const HANG: Duration = Duration::from_secs(20);

/// The cases running now: which target, since when.
static RUNNING: LazyLock<Mutex<HashMap<ThreadId, (&'static str, Instant)>>> = LazyLock::new(|| {
    std::thread::spawn(watch);
    Mutex::new(HashMap::new())
});

/// Aborts the process when a case has run longer than [`HANG`]: a test that never ends would
/// otherwise hold CI until its own timeout, naming nothing.
fn watch() {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((target, since)) = running.values().find(|(_, t)| t.elapsed() > HANG) {
            eprintln!(
                "fuzz: a {target} case has run for {:?}: a hang",
                since.elapsed()
            );
            std::process::abort();
        }
    }
}

/// Marks one case of `target` running on this thread until dropped.
pub struct Case(ThreadId);

/// Starts timing a case of `target`.
pub fn case(target: &'static str) -> Case {
    let id = std::thread::current().id();
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running.insert(id, (target, Instant::now()));
    Case(id)
}

impl Drop for Case {
    fn drop(&mut self) {
        RUNNING
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}
