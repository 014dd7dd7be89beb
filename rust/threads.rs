//! ferroprop's own rayon pool: sized by `set_num_threads` or `FERROPROP_NUM_THREADS`,
//! never the global pool, so the engine's threads do not fight the caller's.

use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, RwLock};
use std::time::Duration;

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Error, Result};

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

/// The default size: `FERROPROP_NUM_THREADS` when set to a positive integer, else the cores.
fn default_threads() -> usize {
    std::env::var("FERROPROP_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn build(n: usize) -> Result<Arc<ThreadPool>> {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("ferroprop-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| Error::value(format!("could not start {n} threads: {e}")))
}

/// The pool, created on first use.
fn pool() -> Result<Arc<ThreadPool>> {
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(Arc::clone(p));
    }
    let mut slot = POOL.write().unwrap_or_else(|e| e.into_inner());
    if slot.is_none() {
        *slot = Some(build(default_threads())?);
    }
    Ok(Arc::clone(slot.as_ref().expect("pool was just set")))
}

/// Resizes the pool. Work already running keeps the pool it started on.
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::value("n: the number of threads must be at least 1"));
    }
    let new = build(n)?;
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(new);
    Ok(())
}

/// The pool's size.
pub fn num_threads() -> Result<usize> {
    Ok(pool()?.current_num_threads())
}

/// Runs `f` where its kernels may use `num_threads` threads: inline on the calling thread when
/// that is 1 (so concurrent callers each keep their own core), otherwise on the pool.
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    let pool = pool()?;
    Ok(if pool.current_num_threads() == 1 {
        f()
    } else {
        pool.install(f)
    })
}

/// Runs `work` (through [`run`]) on a helper thread while the calling thread runs `watch` every
/// `every` until `work` is done. `watch` may set the flag to ask `work` to stop: the binding
/// uses it to look for Ctrl-C, which Python only delivers to the main thread.
pub fn run_watched<R: Send>(
    every: Duration,
    work: impl FnOnce(&AtomicBool) -> R + Send,
    mut watch: impl FnMut(&AtomicBool),
) -> Result<R> {
    let stop = AtomicBool::new(false);
    let (done, finished) = mpsc::channel();
    std::thread::scope(|scope| {
        let stop = &stop;
        let worker = scope.spawn(move || {
            // The receiver outlives this thread, so the send cannot fail.
            let _ = done.send(run(|| work(stop)));
        });
        loop {
            match finished.recv_timeout(every) {
                Ok(result) => return result,
                Err(mpsc::RecvTimeoutError::Timeout) => watch(stop),
                // Only if `work` panicked: report it as an error rather than unwinding further.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = worker.join();
                    return Err(Error::value("internal error: the training thread panicked"));
                }
            }
        }
    })
}

/// How many threads a kernel may use: the pool's size inside [`install`], otherwise 1.
pub fn current_parallelism() -> usize {
    if rayon::current_thread_index().is_some() {
        rayon::current_num_threads()
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_runs_on_the_pool() {
        set_num_threads(2).unwrap();
        assert_eq!(run(current_parallelism).unwrap(), 2);
        assert_eq!(current_parallelism(), 1);
        assert!(set_num_threads(0).is_err());
    }

    #[test]
    fn watched_work_can_be_stopped() {
        use std::sync::atomic::Ordering;
        let every = Duration::from_millis(1);
        // The work only ends once the watcher, running on this thread, has asked it to.
        let answer = run_watched(
            every,
            |stop| {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::yield_now();
                }
                42
            },
            |stop| stop.store(true, Ordering::Relaxed),
        )
        .unwrap();
        assert_eq!(answer, 42);
    }
}
