//! Who may use a network when: one `ferroprop.Network` shared by Python threads.
//!
//! * Reads (forward, loss, weights…) share the network; writes (step, set_parameters, one
//!   epoch of a fit) have it alone. Waiting for the lock happens with the GIL released.
//! * A `fit` holds the network one epoch at a time, so its callback can read, save or edit
//!   the network between epochs. Meanwhile a call from any other thread raises
//!   `RuntimeError` instead of interleaving with the fit.
//! * A write that ends in an internal error marks the network unusable: its parameters may
//!   be half-updated, and every later call says so.
//! * A forked child inherits the network with its locks as they were: the first call in a new
//!   process checks that no (parent) thread held it at the fork — else the network is marked
//!   unusable instead of being waited for forever — and forgets the parent's fits.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use pyo3::prelude::*;

use super::errors::{busy_error, InternalError};
use crate::error::{Error, Result};
use crate::network::Network;
use crate::scalar::Scalar;

/// A network of either float type.
pub enum AnyNetwork {
    F32(Network<f32>),
    F64(Network<f64>),
}

/// The float types a network can have, and how to reach a network of that type.
pub trait Typed: Scalar + numpy::Element + super::optimizers::StateOf {
    fn typed(any: &AnyNetwork) -> Option<&Network<Self>>;
    fn typed_mut(any: &mut AnyNetwork) -> Option<&mut Network<Self>>;
}

macro_rules! typed {
    ($t:ty, $variant:ident) => {
        impl Typed for $t {
            fn typed(any: &AnyNetwork) -> Option<&Network<$t>> {
                match any {
                    AnyNetwork::$variant(n) => Some(n),
                    _ => None,
                }
            }
            fn typed_mut(any: &mut AnyNetwork) -> Option<&mut Network<$t>> {
                match any {
                    AnyNetwork::$variant(n) => Some(n),
                    _ => None,
                }
            }
        }
    };
}
typed!(f32, F32);
typed!(f64, F64);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Ids of the networks whose `fit` callback this thread is running.
    static IN_CALLBACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The network behind a `ferroprop.Network`, and who is using it.
pub struct Shared {
    /// Unique per network (an optimizer's state records the network it belongs to).
    pub id: u64,
    net: RwLock<AnyNetwork>,
    /// Fits in progress (more than one only when a callback fits the same network again).
    fits: AtomicUsize,
    broken: Mutex<Option<String>>,
    /// The process whose threads use the network; another one is a forked child.
    pid: AtomicU32,
    /// Held while a forked child checks what it inherited.
    fork_check: Mutex<()>,
}

/// Marks a fit in progress while alive.
pub struct FitSession<'a>(&'a Shared);

impl Drop for FitSession<'_> {
    fn drop(&mut self) {
        self.0.fits.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Marks this thread as running network `id`'s callback while alive.
pub struct CallbackScope(u64);

impl CallbackScope {
    pub fn enter(id: u64) -> Self {
        IN_CALLBACK.with(|c| c.borrow_mut().push(id));
        CallbackScope(id)
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| {
            let mut c = c.borrow_mut();
            if let Some(i) = c.iter().rposition(|&id| id == self.0) {
                c.remove(i);
            }
        });
    }
}

impl Shared {
    pub fn new(net: AnyNetwork) -> Self {
        Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            net: RwLock::new(net),
            fits: AtomicUsize::new(0),
            broken: Mutex::new(None),
            pid: AtomicU32::new(std::process::id()),
            fork_check: Mutex::new(()),
        }
    }

    /// In a forked child, on first use: whether a parent thread held the network at the fork
    /// (then it is unusable: it may be half-written, and its lock would never be released).
    /// Every call passes here before taking the lock, so no thread of this process holds it
    /// while the check runs.
    fn check_fork(&self) {
        let me = std::process::id();
        if self.pid.load(Ordering::Acquire) == me {
            return;
        }
        let _checking = self.fork_check.lock().unwrap_or_else(|e| e.into_inner());
        if self.pid.load(Ordering::Acquire) == me {
            return;
        }
        if self.net.try_write().is_err() {
            *self.broken.lock().unwrap_or_else(|e| e.into_inner()) = Some(
                "another thread was using it when this process was forked, so it may be half \
                 written"
                    .into(),
            );
        }
        // The parent's fits do not run here.
        self.fits.store(0, Ordering::Release);
        self.pid.store(me, Ordering::Release);
    }

    /// Refuses a call while another thread's fit uses the network, or once it is unusable.
    pub fn check_available(&self) -> PyResult<()> {
        self.check_fork();
        if let Some(why) = self
            .broken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Err(InternalError::new_err(format!(
                "Network: unusable after an internal error ({why}); rebuild it or load a saved copy"
            )));
        }
        let in_callback = IN_CALLBACK.with(|c| c.borrow().contains(&self.id));
        if self.fits.load(Ordering::Acquire) > 0 && !in_callback {
            return Err(busy_error(
                "Network: is being trained by another thread (a fit is in progress); wait for \
                 it to finish, or train a copy",
            ));
        }
        Ok(())
    }

    /// Starts a fit (see [`Self::check_available`]); atomically, so two threads cannot both
    /// start one.
    pub fn begin_fit(&self) -> PyResult<FitSession<'_>> {
        self.check_available()?;
        let in_callback = IN_CALLBACK.with(|c| c.borrow().contains(&self.id));
        let mut n = self.fits.load(Ordering::Acquire);
        loop {
            if n > 0 && !in_callback {
                return Err(busy_error(
                    "Network: is being trained by another thread (a fit is in progress); wait \
                     for it to finish, or train a copy",
                ));
            }
            match self
                .fits
                .compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(FitSession(self)),
                Err(now) => n = now,
            }
        }
    }

    /// Runs `f` on the network, shared with other readers. Call with the GIL released.
    pub fn read<T: Typed, R>(&self, f: impl FnOnce(&Network<T>) -> Result<R>) -> Result<R> {
        let any = self.net.read().unwrap_or_else(|e| e.into_inner());
        match T::typed(&any) {
            Some(net) => f(net),
            None => Err(Error::Internal("the network's dtype changed".into())),
        }
    }

    /// Runs `f` on the network alone. An internal error (or a panic) marks the network
    /// unusable. Call with the GIL released.
    pub fn write<T: Typed, R>(&self, f: impl FnOnce(&mut Network<T>) -> Result<R>) -> Result<R> {
        let mut any = self.net.write().unwrap_or_else(|e| e.into_inner());
        let result = match T::typed_mut(&mut any) {
            Some(net) => crate::threads::catch("a write to the network", || f(net)),
            None => Err(Error::Internal("the network's dtype changed".into())),
        };
        if let Err(Error::Internal(why)) = &result {
            *self.broken.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
        }
        result
    }
}
