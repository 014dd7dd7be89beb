//! The engine's error type. The binding maps each variant to a Python exception.

use std::fmt;

/// Everything that can go wrong in the engine. Only [`Error::Internal`] is a bug.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An argument is out of range or malformed; the message names it (→ `ValueError`).
    Value(String),
    /// The loss, a gradient or an update became non-finite; parameters and optimizer state
    /// were left at the last finite step
    /// (→ `ferroprop.DivergenceError`).
    /// `at` is the 1-based (epoch, batch) inside `fit`, None for a single step.
    Diverged {
        at: Option<(usize, usize)>,
        loss: f64,
    },
    /// A caller-supplied poll asked training to stop (Ctrl-C); the binding re-raises its error.
    Interrupted,
    /// A buffer sized by the input could not be allocated; the message names it
    /// (→ `MemoryError`).
    Memory(String),
    /// A bug: a panic caught at the engine's edge, or a broken invariant; the message names
    /// the operation (→ `ferroprop.InternalError`).
    Internal(String),
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A `Value` error from anything printable.
    pub fn value(msg: impl Into<String>) -> Self {
        Error::Value(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Value(msg) => f.write_str(msg),
            Error::Diverged { at, loss } => {
                write!(
                    f,
                    "training diverged: the loss, a gradient or an updated parameter became \
                     non-finite (loss = {loss})"
                )?;
                if let Some((epoch, batch)) = at {
                    write!(f, " at epoch {epoch}, batch {batch}")?;
                }
                f.write_str(
                    "; the parameters are those of the last finite step. Lower the learning \
                     rate or scale the inputs.",
                )
            }
            Error::Interrupted => f.write_str("training interrupted"),
            Error::Memory(what) => write!(f, "out of memory: {what}"),
            Error::Internal(msg) => write!(
                f,
                "internal error (a bug in ferroprop; please report it): {msg}"
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A vector of `len` copies of `value`, or [`Error::Memory`] naming `what` when it cannot be
/// allocated (or `len` is `None`: an overflowed size). Every buffer whose size comes from the
/// input is made here, so a request too large for memory raises instead of aborting.
pub fn filled<T: Clone>(len: Option<usize>, value: T, what: &str) -> Result<Vec<T>> {
    let fail = |len: Option<usize>| {
        let bytes = len.and_then(|n| n.checked_mul(std::mem::size_of::<T>()));
        Error::Memory(match bytes {
            Some(b) => format!("could not allocate {b} bytes for {what}"),
            None => format!("{what} would need more memory than can be addressed"),
        })
    };
    let n = len.ok_or_else(|| fail(None))?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| fail(Some(n)))?;
    v.resize(n, value);
    Ok(v)
}
