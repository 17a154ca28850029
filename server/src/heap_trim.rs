//! Gives freed heap memory back to the operating system on a timer.
//!
//! A playing server allocates and frees steadily (answers, frames,
//! checkpoints, the store's batches) while its live heap stays flat; glibc's
//! allocator keeps the freed pages of its arenas, so the resident size
//! creeps up over a long day although nothing is kept. `malloc_trim(0)`
//! returns every whole free page of every arena. It runs on its own thread,
//! so no request waits for it.

use std::time::{Duration, Instant};

/// How often the heap is trimmed.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Starts the trimming thread (glibc only; elsewhere a no-op), once per
/// process however many servers it runs (tests run many). The thread lives
/// as long as the process.
pub fn start() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(spawn);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn spawn() {
    let spawned = std::thread::Builder::new()
        .name("quizroom-trim".into())
        .stack_size(64 * 1024)
        .spawn(|| loop {
            std::thread::sleep(TRIM_EVERY);
            let took = trim();
            crate::metrics::heap_trim(took.as_secs_f64());
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "heap trimming thread not started");
    }
}

/// Trims once; returns how long it took.
pub fn trim() -> Duration {
    let started = Instant::now();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks and only
    // releases pages that hold no allocation.
    unsafe {
        libc::malloc_trim(0);
    }
    started.elapsed()
}
