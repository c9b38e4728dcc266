//! The threads that decode ingest bodies: one per core, started once, fed from one queue.
//!
//! A decode is CPU-bound, so more at once gain nothing. And each thread's allocator arena keeps
//! the buffers it freed (a 2,000-sample remote_write request unpacks to about 1 MB): decoding on
//! whichever of the runtime's blocking threads was free spread them over ten or more arenas,
//! and a server of 100k series held 1.1 KB of RSS per series with 8 requests in flight.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{LazyLock, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// The queue the decoder threads take jobs from.
static QUEUE: LazyLock<Sender<Job>> = LazyLock::new(start);

/// Starts the decoder threads; the returned sender feeds them.
fn start() -> Sender<Job> {
    let (tx, rx) = channel::<Job>();
    let rx = std::sync::Arc::new(Mutex::new(rx));
    for n in 0..crate::parallel::cores() {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("warroom-decode-{n}"))
            .spawn(move || work(&rx))
            .expect("starting a decoder thread");
    }
    tx
}

/// Runs jobs until the queue closes (it never does: the threads live as long as the process).
fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        // A panicking job drops its reply sender, which its caller reports; the thread goes on
        // (where panics unwind: the release profile aborts on any panic).
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

/// Runs `decode` on a decoder thread and awaits its result; `None` when it panicked.
pub async fn run<T, F>(decode: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (reply, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(decode());
    });
    QUEUE.send(job).ok()?;
    result.await.ok()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn decodes_run_on_the_same_threads_at_most_one_per_core_at_once() {
        // Arrange: jobs that hold their thread a while, noting who runs beside them and where.
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads = Arc::new(Mutex::new(HashSet::new()));

        // Act
        let calls: Vec<_> = (0..crate::parallel::cores() * 4)
            .map(|i| {
                let (running, most, threads) = (running.clone(), most.clone(), threads.clone());
                tokio::spawn(super::run(move || {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    let name = std::thread::current().name().map(str::to_owned);
                    threads.lock().unwrap().insert(name);
                    std::thread::sleep(Duration::from_millis(10));
                    running.fetch_sub(1, SeqCst);
                    i
                }))
            })
            .collect();
        let mut results = Vec::new();
        for call in calls {
            results.push(call.await.expect("task"));
        }

        // Assert
        let want: Vec<_> = (0..crate::parallel::cores() * 4).map(Some).collect();
        assert_eq!(results, want);
        assert!(most.load(SeqCst) <= crate::parallel::cores());
        let threads = threads.lock().unwrap();
        assert!(threads.len() <= crate::parallel::cores(), "{threads:?}");
        assert!(
            (threads.iter()).all(|t| t
                .as_deref()
                .is_some_and(|n| n.starts_with("warroom-decode-"))),
            "{threads:?}"
        );
    }

    #[tokio::test]
    async fn a_panicking_decode_is_none_and_the_threads_go_on() {
        let panicked: Option<u8> =
            super::run(|| panic!("a malformed body the decoder missed")).await;
        assert_eq!(panicked, None);
        let after = super::run(|| 7u8).await;
        assert_eq!(after, Some(7));
    }
}
