//! The threads that serve the channel sockets: a Tokio runtime of their own, one per
//! process, whose threads run at a lower scheduling priority than the application's
//! (on Linux). Handing one event to a thousand subscribers is a thousand socket writes;
//! on the runtime that also runs `dispatch`, those writes queue the commands' own
//! wake-ups behind them, and share the CPU with them evenly. Here they take the CPU the
//! commands leave: a burst of commands commits at its own pace while the subscribers
//! fall behind and catch up from the hub's recent events (`hub.rs`).
//!
//! The runtime is never shut down: it lives as long as the process, so that a store
//! connection it opened stays usable by every runtime that shares the pool.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// How much lower the channels' threads are scheduled: a `nice` value of 10 (out of 19)
/// gives a busy application thread about nine times their share of a core.
const NICENESS: i32 = 10;

/// At most this many threads serve the sockets.
const THREADS: usize = 2;

/// Runs `task` on the channels' threads.
pub(crate) fn spawn<F>(task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(task)
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(THREADS));
        Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("herald-channels")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .expect("the channels' runtime: its threads could not start")
    })
}

/// Lowers the calling thread's priority. Linux keeps a nice value per thread, so only
/// this thread's changes; elsewhere it would be the whole process's, so it stays.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(error) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), NICENESS)
    {
        tracing::debug!(%error, "a channels thread keeps the default priority");
    }
}
