//! Teams: a group of the pool's threads running one closure together, meeting at barriers
//! that a panicking member poisons, so no member is ever left waiting.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::{catch, current, panic_message, Pool};
use crate::error::{Error, Result};

///
/// Members split each phase's output into disjoint shares ([`Team::share`]) and call
/// [`Team::sync`] between phases. No result depends on how many members there are: every
/// output element is computed the same way by whichever member owns it.
pub struct Team<'a> {
    id: usize,
    size: usize,
    barrier: Option<&'a SpinBarrier>,
}

impl Team<'static> {
    /// A team of one, as a constant.
    pub const SOLO: Team<'static> = Team {
        id: 0,
        size: 1,
        barrier: None,
    };
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

    /// Waits until every member has arrived. If another member panicked, unwinds instead
    /// (quietly: [`team`] reports the first panic).
    pub fn sync(&self) {
        if let Some(b) = self.barrier {
            b.wait();
        }
    }

    /// This member's contiguous share of `0..len`, cut at multiples of `unit`.
    pub fn share(&self, len: usize, unit: usize) -> std::ops::Range<usize> {
        let unit = unit.max(1);
        let per = len.div_ceil(unit).div_ceil(self.size) * unit;
        let start = self.id.saturating_mul(per).min(len);
        start..start.saturating_add(per).min(len)
    }
}

/// The payload a member unwinds with when it leaves a poisoned barrier.
struct Poisoned;

/// A barrier for a fixed number of threads that spins (then yields, then naps) instead of
/// sleeping at once: phases last microseconds, and waking a sleeping thread costs 12–30 µs.
/// The spin is short (tens of microseconds) so a partner descheduled by another process
/// does not cost a whole time slice of busy waiting. [`SpinBarrier::poison`] releases every
/// waiter, now and later.
pub struct SpinBarrier {
    size: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    poisoned: AtomicBool,
}

impl SpinBarrier {
    pub fn new(size: usize) -> Self {
        SpinBarrier {
            size,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
        }
    }

    /// Waits for every member; unwinds with a quiet payload once the barrier is poisoned.
    pub fn wait(&self) {
        let leave = || panic::resume_unwind(Box::new(Poisoned));
        if self.poisoned.load(Ordering::Acquire) {
            leave();
        }
        let gen = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.size {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut rounds = 0u32;
        while self.generation.load(Ordering::Acquire) == gen {
            if self.poisoned.load(Ordering::Acquire) {
                leave();
            }
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

    /// Releases every member waiting now or later.
    pub fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }
}

thread_local! {
    static IN_TEAM: Cell<bool> = const { Cell::new(false) };
}

impl Pool {
    /// The number of worker threads.
    pub fn size(&self) -> usize {
        self.threads.current_num_threads()
    }

    /// Runs `f` on a team of up to `max_members` of this pool's threads and returns the
    /// leader's result. Runs solo on the calling thread when one member is asked for, the
    /// pool has one thread, another team holds the pool (a concurrent call from another Python
    /// thread) or this thread is already in a team. Team ids are always below [`Self::size`].
    /// A panic in any member becomes [`Error::Internal`]; no member is left waiting.
    pub fn team<R: Send>(
        &self,
        max_members: usize,
        f: impl Fn(&Team<'_>) -> R + Sync,
    ) -> Result<R> {
        let size = max_members.min(self.size());
        let guard = if size > 1 && !IN_TEAM.with(Cell::get) {
            self.team_lock.try_lock().ok()
        } else {
            None
        };
        let Some(_guard) = guard else {
            return catch("a worker thread panicked", || Ok(f(&Team::solo())));
        };
        let barrier = SpinBarrier::new(size);
        let first_panic: Mutex<Option<String>> = Mutex::new(None);
        let results = self.threads.broadcast(|ctx| {
            if ctx.index() >= size {
                return None;
            }
            IN_TEAM.with(|t| t.set(true));
            let team = Team {
                id: ctx.index(),
                size,
                barrier: Some(&barrier),
            };
            let r = panic::catch_unwind(AssertUnwindSafe(|| f(&team)));
            IN_TEAM.with(|t| t.set(false));
            match r {
                Ok(r) => (ctx.index() == 0).then_some(r),
                Err(payload) => {
                    if !payload.is::<Poisoned>() {
                        let mut first = first_panic.lock().unwrap_or_else(|e| e.into_inner());
                        first.get_or_insert_with(|| panic_message(payload.as_ref()));
                    }
                    barrier.poison();
                    None
                }
            }
        });
        if let Some(msg) = first_panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(Error::Internal(format!("a worker thread panicked: {msg}")));
        }
        results
            .into_iter()
            .flatten()
            .next()
            .ok_or_else(|| Error::Internal("the team leader returned nothing".into()))
    }
}

impl Pool {
    /// [`Self::team`] with one buffer per member, each made by `make` before the team starts
    /// (so a failed allocation is an error, not a panic inside a member) and lent to that
    /// member alone.
    pub fn team_with<B: Send, R: Send>(
        &self,
        max_members: usize,
        make: impl Fn() -> Result<B>,
        f: impl Fn(&Team<'_>, &mut B) -> R + Sync,
    ) -> Result<R> {
        let count = max_members.clamp(1, self.size());
        let buffers = (0..count)
            .map(|_| make().map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        self.team(max_members, |t| {
            let mut b = buffers[t.id()].lock().unwrap_or_else(|e| e.into_inner());
            f(t, &mut b)
        })
    }
}

/// [`Pool::team`] on the current pool (no pool is touched for a team of one).
pub fn team<R: Send>(max_members: usize, f: impl Fn(&Team<'_>) -> R + Sync) -> Result<R> {
    if max_members <= 1 {
        return catch("a worker thread panicked", || Ok(f(&Team::solo())));
    }
    current()?.team(max_members, f)
}

/// [`Pool::team_with`] on the current pool (no pool is touched for a team of one).
pub fn team_with<B: Send, R: Send>(
    max_members: usize,
    make: impl Fn() -> Result<B>,
    f: impl Fn(&Team<'_>, &mut B) -> R + Sync,
) -> Result<R> {
    if max_members <= 1 {
        let mut b = make()?;
        return catch("a worker thread panicked", || Ok(f(&Team::solo(), &mut b)));
    }
    current()?.team_with(max_members, make, f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads::{build, max_threads, run_watched, set_num_threads};

    #[test]
    fn thread_counts_out_of_range_are_errors() {
        assert!(set_num_threads(0).is_err());
        assert!(set_num_threads(max_threads() + 1).is_err());
    }

    #[test]
    fn teams_cover_the_work_once_and_meet_at_barriers() {
        let pool = build(3).unwrap();
        let hits: Vec<AtomicUsize> = (0..100).map(|_| AtomicUsize::new(0)).collect();
        let phase_two_saw = AtomicUsize::new(0);
        let size = pool
            .team(3, |t| {
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
    fn a_panicking_member_releases_the_others() {
        let pool = build(3).unwrap();
        for culprit in 0..3 {
            let err = pool
                .team(3, |t| {
                    for _ in 0..10 {
                        if t.id() == culprit {
                            panic!("member {culprit} fails");
                        }
                        t.sync();
                    }
                })
                .unwrap_err();
            assert_eq!(
                err,
                Error::Internal(format!("a worker thread panicked: member {culprit} fails"))
            );
        }
        // The pool is still usable afterwards.
        assert_eq!(pool.team(2, |t| t.size()).unwrap(), 2);
        assert!(team(1, |_| panic!("solo")).is_err());
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
