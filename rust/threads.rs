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
}
