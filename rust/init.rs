//! Weight initialisation schemes.

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::rng::Rng;
use crate::scalar::Scalar;

/// How initial weights are drawn. Biases always start at zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Glorot/Xavier uniform, bound `√(6/(fan_in+fan_out))`, with 2 instead of 6 next to a
    /// sigmoid (scikit-learn's rule).
    Glorot,
    /// Kaiming/He uniform for ReLU, bound `√(6/fan_in)`.
    He,
}

impl Init {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "glorot" | "xavier" => Ok(Init::Glorot),
            "he" | "kaiming" => Ok(Init::He),
            _ => Err(Error::value(format!(
                "init: unknown name {name:?}; expected 'glorot' or 'he'"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Init::Glorot => "glorot",
            Init::He => "he",
        }
    }

    /// The uniform bound for a layer. `near` is the hidden activation next to the layer: its
    /// own for a hidden layer, the last hidden layer's for the output layer (None without one).
    pub fn bound(self, fan_in: usize, fan_out: usize, near: Option<Activation>) -> f64 {
        match self {
            Init::Glorot => {
                let factor = if near == Some(Activation::Sigmoid) {
                    2.0
                } else {
                    6.0
                };
                (factor / (fan_in + fan_out) as f64).sqrt()
            }
            Init::He => (6.0 / fan_in as f64).sqrt(),
        }
    }

    /// Fills `w` with uniform draws in `[-bound, bound)`, drawn in f64 then rounded so f32 and
    /// f64 networks from one seed start from the same numbers.
    pub fn fill<T: Scalar>(bound: f64, rng: &mut Rng, w: &mut [T]) {
        for wi in w {
            *wi = T::of(rng.symmetric(bound));
        }
    }
}
