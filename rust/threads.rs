//! ferroprop's own rayon pool: sized by `set_num_threads` or `FERROPROP_NUM_THREADS`,
//! never the global pool, so the engine's threads do not fight the caller's.

use std::sync::{Arc, RwLock};

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

/// Runs `f` on the pool; kernels called inside may split work across its threads.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool()?.install(f))
}

/// Runs `work` on the pool while the calling thread runs `watch` until `work` is done.
///
/// `watch` is called at least every `every` with a flag it may set to ask `work` to stop; the
/// binding uses it to look for Ctrl-C, which Python only delivers to the main thread.
pub fn run_watched<R: Send>(
    every: std::time::Duration,
    work: impl FnOnce(&std::sync::atomic::AtomicBool) -> R + Send,
    mut watch: impl FnMut(&std::sync::atomic::AtomicBool),
) -> Result<R> {
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    let stop = AtomicBool::new(false);
    let (done, finished) = mpsc::channel();
    let pool = pool()?;
    let result = pool.in_place_scope(|scope| {
        let stop = &stop;
        scope.spawn(move |_| {
            // The receiver outlives the scope, so this send cannot fail.
            let _ = done.send(work(stop));
        });
        loop {
            match finished.recv_timeout(every) {
                Ok(r) => return Some(r),
                Err(mpsc::RecvTimeoutError::Timeout) => watch(stop),
                // Only if `work` panicked; the scope re-raises that panic on exit.
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    });
    result.ok_or_else(|| Error::value("internal error: the training task stopped unexpectedly"))
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
        let inside = install(current_parallelism).unwrap();
        assert_eq!(inside, num_threads().unwrap());
        assert_eq!(current_parallelism(), 1);
        assert!(set_num_threads(0).is_err());
    }

    #[test]
    fn watched_work_can_be_stopped() {
        use std::sync::atomic::Ordering;
        let every = std::time::Duration::from_millis(1);
        let spins = run_watched(
            every,
            |stop| {
                (0u64..)
                    .take_while(|_| !stop.load(Ordering::Relaxed))
                    .count()
            },
            |stop| stop.store(true, Ordering::Relaxed),
        )
        .unwrap();
        assert!(spins > 0);
    }
}
