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

/// Types whose all-zero bit pattern is their zero (`0.0`, `0`, `false`).
///
/// # Safety
/// An all-zero bit pattern must be a valid value of the type.
pub unsafe trait ZeroBits: Copy {}
// SAFETY: all-zero bits are 0.0, 0 and false.
unsafe impl ZeroBits for f32 {}
unsafe impl ZeroBits for f64 {}
unsafe impl ZeroBits for i64 {}
unsafe impl ZeroBits for usize {}
unsafe impl ZeroBits for bool {}

/// A vector of `len` zeros, or [`Error::Memory`] naming `what`, as [`filled`] but from
/// zeroed memory: large buffers come as fresh zero pages, first touched (so placed) by the
/// thread that writes them rather than by the one that allocates.
pub fn zeros<T: ZeroBits>(len: Option<usize>, what: &str) -> Result<Vec<T>> {
    let n = match len {
        Some(0) => return Ok(Vec::new()),
        Some(n) => n,
        None => return filled(None, unsafe_zero::<T>(), what),
    };
    let Ok(layout) = std::alloc::Layout::array::<T>(n) else {
        return filled(None, unsafe_zero::<T>(), what);
    };
    // SAFETY: the layout has a non-zero size; the pointer is checked for null; all-zero bits
    // are valid `T`s (`ZeroBits`); the vector owns the allocation with the same layout.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<T>();
        if ptr.is_null() {
            return Err(Error::Memory(format!(
                "could not allocate {} bytes for {what}",
                layout.size()
            )));
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

/// The zero of a [`ZeroBits`] type.
fn unsafe_zero<T: ZeroBits>() -> T {
    // SAFETY: all-zero bits are a valid `T` (`ZeroBits`).
    unsafe { std::mem::zeroed() }
}

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
