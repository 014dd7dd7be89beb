//! The engine's error type. The binding maps each variant to a Python exception.

use std::fmt;

/// Everything that can go wrong in the engine. No variant is a bug: bugs are `debug_assert!`s.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An argument is out of range or malformed; the message names it (→ `ValueError`).
    Value(String),
    /// The loss or a gradient became non-finite; parameters were left at the last finite step
    /// (→ `ferroprop.DivergenceError`).
    /// `at` is the 1-based (epoch, batch) inside `fit`, None for a single step.
    Diverged {
        at: Option<(usize, usize)>,
        loss: f64,
    },
    /// A caller-supplied poll asked training to stop (Ctrl-C); the binding re-raises its error.
    Interrupted,
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
                    "training diverged: the loss or a gradient became non-finite (loss = {loss})"
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
        }
    }
}

impl std::error::Error for Error {}
