//! ferroprop's own rayon pool: sized by `set_num_threads` or `FERROPROP_NUM_THREADS`,
//! never the global pool, so the engine's threads do not fight the caller's.
//!
//! Three promises hold whatever happens:
//! * **Fork.** A process forked after the pool started has the pool's memory but none of its
//!   threads. The pool remembers the process it was built in; a call from any other process
//!   (a forked child) builds a fresh pool of the same size instead of waiting on threads that
//!   do not exist. Results do not depend on the pool, so the child computes the same bits.
//! * **Panics.** A member of a team that panics poisons the team's barrier: the others leave
//!   their barriers by unwinding, and [`team`] returns [`Error::Internal`] instead of hanging.
//! * **Resizing.** [`set_num_threads`] swaps in a new pool; work already running keeps the pool
//!   (the [`Pool`] handle) it started on, so buffers sized for a team always fit it.

mod team;

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::Duration;

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Error, Result};

pub use team::{team, team_with, SpinBarrier, Team};

/// The pool in use and the process that built it.
struct Current {
    pid: u32,
    pool: Arc<Pool>,
}

static CURRENT: RwLock<Option<Current>> = RwLock::new(None);

/// A pool of worker threads and the lock that lets one team at a time use them.
pub struct Pool {
    threads: ThreadPool,
    /// Two teams interleaving on the same workers could each wait at a barrier for a member
    /// stuck behind the other team: teams take this first (or run solo).
    team_lock: Mutex<()>,
}

/// Below this many multiply-adds a call (forward, evaluation, gradients) runs on one thread:
/// waking a thread costs tens of microseconds.
const PARALLEL_MIN_FMAS: usize = 1 << 22;
/// Below this many multiply-adds per step a fit runs on one thread: a fit wakes its team once,
/// then each step costs three barriers of well under a microsecond.
const STEP_PARALLEL_MIN_FMAS: usize = 1 << 20;

/// How many members a call of `fmas` multiply-adds is worth (`usize::MAX`: the whole pool).
pub fn members_for_call(fmas: usize) -> usize {
    if fmas >= PARALLEL_MIN_FMAS {
        usize::MAX
    } else {
        1
    }
}

/// How many members training steps of `fmas` multiply-adds each are worth.
pub fn members_for_steps(fmas: usize) -> usize {
    if fmas >= STEP_PARALLEL_MIN_FMAS {
        usize::MAX
    } else {
        1
    }
}

/// The most threads `set_num_threads` accepts: four per CPU (at least 8).
pub fn max_threads() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus.saturating_mul(4).max(8)
}

/// The default size: `FERROPROP_NUM_THREADS` when set to a positive integer (capped at
/// [`max_threads`]), else the CPUs.
fn default_threads() -> usize {
    std::env::var("FERROPROP_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(max_threads())
}

fn build(n: usize) -> Result<Arc<Pool>> {
    let threads = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("ferroprop-{i}"))
        .build()
        .map_err(|e| Error::value(format!("could not start {n} threads: {e}")))?;
    Ok(Arc::new(Pool {
        threads,
        team_lock: Mutex::new(()),
    }))
}

/// The pool to use now, created on first use and rebuilt in a forked child.
pub fn current() -> Result<Arc<Pool>> {
    let pid = std::process::id();
    if let Some(c) = CURRENT.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if c.pid == pid {
            return Ok(Arc::clone(&c.pool));
        }
    }
    let mut slot = CURRENT.write().unwrap_or_else(|e| e.into_inner());
    let size = match slot.take() {
        Some(c) if c.pid == pid => {
            let pool = Arc::clone(&c.pool);
            *slot = Some(c);
            return Ok(pool);
        }
        // Inherited through fork: its threads are not in this process. Dropping it would
        // signal threads that are not there; leaking it is the safe choice (once per fork).
        Some(stale) => {
            let size = stale.pool.size();
            std::mem::forget(stale);
            size
        }
        None => default_threads(),
    };
    let pool = build(size)?;
    *slot = Some(Current {
        pid,
        pool: Arc::clone(&pool),
    });
    Ok(pool)
}

/// Resizes the pool (1 ..= [`max_threads`]). Work already running keeps the pool it started on.
pub fn set_num_threads(n: usize) -> Result<()> {
    let cap = max_threads();
    if n == 0 || n > cap {
        return Err(Error::value(format!(
            "n: expected a number of threads in [1, {cap}] (four per CPU), got {n}"
        )));
    }
    let pool = build(n)?;
    let old = CURRENT
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .replace(Current {
            pid: std::process::id(),
            pool,
        });
    // A pool inherited through fork must not be dropped (see `current`).
    if let Some(old) = old.filter(|c| c.pid != std::process::id()) {
        std::mem::forget(old);
    }
    Ok(())
}

/// The pool's size.
pub fn num_threads() -> Result<usize> {
    Ok(current()?.size())
}

/// The text of a panic's payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs `f`, turning a panic into [`Error::Internal`] naming `what`.
pub fn catch<R>(what: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(Error::Internal(format!(
            "{what}: {}",
            panic_message(payload.as_ref())
        )))
    })
}

/// Runs `work` on a helper thread while the calling thread runs `watch` every
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
            let _ = done.send(work(stop));
        });
        loop {
            match finished.recv_timeout(every) {
                Ok(result) => return Ok(result),
                Err(mpsc::RecvTimeoutError::Timeout) => watch(stop),
                // Only if `work` panicked: report it as an error rather than unwinding further.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let msg = match worker.join() {
                        Err(payload) => panic_message(payload.as_ref()),
                        Ok(()) => "the worker ended without a result".to_string(),
                    };
                    return Err(Error::Internal(format!(
                        "the training thread panicked: {msg}"
                    )));
                }
            }
        }
    })
}
