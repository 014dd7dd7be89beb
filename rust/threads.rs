//! ferroprop's own rayon pool: sized by `set_num_threads` or `FERROPROP_NUM_THREADS`,
//! never the global pool, so the engine's threads do not fight the caller's.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
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
                    let _ = worker.join();
                    return Err(Error::value("internal error: the training thread panicked"));
                }
            }
        }
    })
}

/// A group of threads running one closure together, meeting at barriers (SPMD).
///
/// Members split each phase's output into disjoint shares ([`Team::share`]) and call
/// [`Team::sync`] between phases. No result depends on how many members there are: every
/// output element is computed the same way by whichever member owns it.
pub struct Team<'a> {
    id: usize,
    size: usize,
    barrier: Option<&'a SpinBarrier>,
}

impl Team<'_> {
    /// A team of one: the calling thread alone.
    pub fn solo() -> Team<'static> {
        Team {
            id: 0,
            size: 1,
            barrier: None,
        }
    }

    pub fn id(&self) -> usize {
        self.id
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn is_leader(&self) -> bool {
        self.id == 0
    }

    /// Waits until every member has arrived.
    pub fn sync(&self) {
        if let Some(b) = self.barrier {
            b.wait();
        }
    }

    /// This member's contiguous share of `0..len`, cut at multiples of `unit`.
    pub fn share(&self, len: usize, unit: usize) -> std::ops::Range<usize> {
        let unit = unit.max(1);
        let per = len.div_ceil(unit).div_ceil(self.size) * unit;
        let start = (self.id * per).min(len);
        start..(start + per).min(len)
    }
}

/// A barrier for a fixed number of threads that spins (then yields, then naps) instead of
/// sleeping at once: phases last microseconds, and waking a sleeping thread costs 12–30 µs.
/// The spin is short (tens of microseconds) so a partner descheduled by another process
/// does not cost a whole time slice of busy waiting.
pub struct SpinBarrier {
    size: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl SpinBarrier {
    pub fn new(size: usize) -> Self {
        SpinBarrier {
            size,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    pub fn wait(&self) {
        let gen = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.size {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut rounds = 0u32;
        while self.generation.load(Ordering::Acquire) == gen {
            rounds = rounds.saturating_add(1);
            if rounds < 4_000 {
                std::hint::spin_loop();
            } else if rounds < 40_000 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
}

/// Serialises teams on the pool: two teams interleaving on the same workers could each wait
/// at a barrier for a member stuck behind the other team.
static TEAM_LOCK: Mutex<()> = Mutex::new(());

thread_local! {
    static IN_TEAM: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` on a team of up to `max_members` threads (the pool's size at most) and returns
/// the leader's result. Runs solo on the calling thread when one member is asked for, the
/// pool has one thread, another team holds the pool (a concurrent call from another Python
/// thread) or this thread is already in a team.
pub fn team<R: Send>(max_members: usize, f: impl Fn(&Team<'_>) -> R + Sync) -> Result<R> {
    if max_members <= 1 {
        return Ok(f(&Team::solo()));
    }
    let pool = pool()?;
    let size = max_members.min(pool.current_num_threads());
    let guard = if size > 1 && !IN_TEAM.with(Cell::get) {
        TEAM_LOCK.try_lock().ok()
    } else {
        None
    };
    let Some(_guard) = guard else {
        return Ok(f(&Team::solo()));
    };
    let barrier = SpinBarrier::new(size);
    let results = pool.broadcast(|ctx| {
        if ctx.index() >= size {
            return None;
        }
        IN_TEAM.with(|t| t.set(true));
        let r = f(&Team {
            id: ctx.index(),
            size,
            barrier: Some(&barrier),
        });
        IN_TEAM.with(|t| t.set(false));
        (ctx.index() == 0).then_some(r)
    });
    results
        .into_iter()
        .flatten()
        .next()
        .ok_or_else(|| Error::value("internal error: the team leader returned nothing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_is_an_error() {
        assert!(set_num_threads(0).is_err());
    }

    #[test]
    fn teams_cover_the_work_once_and_meet_at_barriers() {
        use std::sync::atomic::AtomicUsize;
        set_num_threads(3).unwrap();
        let hits: Vec<AtomicUsize> = (0..100).map(|_| AtomicUsize::new(0)).collect();
        let phase_two_saw = AtomicUsize::new(0);
        let size = team(3, |t| {
            for i in t.share(100, 8) {
                hits[i].fetch_add(1, Ordering::Relaxed);
            }
            t.sync();
            // After the barrier every member sees every write of the first phase.
            let seen = hits
                .iter()
                .filter(|h| h.load(Ordering::Relaxed) == 1)
                .count();
            phase_two_saw.fetch_add(seen, Ordering::Relaxed);
            t.size()
        })
        .unwrap();
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        assert_eq!(phase_two_saw.load(Ordering::Relaxed), 100 * size);
        assert_eq!(team(1, |t| t.size()).unwrap(), 1);
    }

    #[test]
    fn shares_partition_the_range() {
        for size in 1..5 {
            let mut covered = Vec::new();
            for id in 0..size {
                covered.extend(
                    Team {
                        id,
                        size,
                        barrier: None,
                    }
                    .share(37, 8),
                );
            }
            assert_eq!(covered, (0..37).collect::<Vec<_>>());
        }
    }

    #[test]
    fn watched_work_can_be_stopped() {
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
