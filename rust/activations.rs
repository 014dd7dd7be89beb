//! Hidden-layer activations: the function and its derivative.

use crate::error::{Error, Result};
use crate::kernels::math;
use crate::scalar::Scalar;

/// A hidden layer's nonlinearity, applied elementwise to the pre-activation `z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    /// `z` for `z > 0`, `0.01·z` otherwise (PyTorch's default slope).
    LeakyRelu,
    /// The logistic function `1 / (1 + e^-z)`.
    Sigmoid,
    Tanh,
    /// GELU, tanh approximation (PyTorch's `approximate="tanh"`).
    Gelu,
}

const LEAKY_SLOPE: f64 = 0.01;
/// √(2/π), the GELU tanh approximation's scale.
const GELU_C: f64 = 0.797_884_560_802_865_4;
const GELU_A: f64 = 0.044_715;

impl Activation {
    /// Every accepted name (with `logistic` as scikit-learn's alias for `sigmoid`).
    pub const NAMES: &'static str = "identity, relu, leaky_relu, sigmoid (or logistic), tanh, gelu";

    /// The canonical names, then the aliases.
    pub const ALL_NAMES: [&'static str; 7] = [
        "identity",
        "relu",
        "leaky_relu",
        "sigmoid",
        "tanh",
        "gelu",
        "logistic",
    ];

    /// Parses a user-facing name.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "identity" => Activation::Identity,
            "relu" => Activation::Relu,
            "leaky_relu" => Activation::LeakyRelu,
            "sigmoid" | "logistic" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "gelu" => Activation::Gelu,
            _ => {
                return Err(Error::value(format!(
                    "activation: unknown name {name:?}; expected one of {}",
                    Self::NAMES
                )))
            }
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
        }
    }

    /// `act(z)`.
    #[inline(always)]
    pub fn apply<T: Scalar>(self, z: T) -> T {
        match self {
            Activation::Identity => z,
            Activation::Relu => z.max(T::zero()),
            Activation::LeakyRelu => {
                if z > T::zero() {
                    z
                } else {
                    z * T::of(LEAKY_SLOPE)
                }
            }
            Activation::Sigmoid => math::sigmoid(z),
            Activation::Tanh => math::tanh(z),
            Activation::Gelu => {
                let half = T::of(0.5);
                let u = T::of(GELU_C) * (z + T::of(GELU_A) * z * z * z);
                half * z * (T::one() + math::tanh(u))
            }
        }
    }

    /// `act'(z)`, given both `z` and `a = act(z)` so each case uses the cheaper one.
    /// relu's derivative at 0 is 0, leaky_relu's is the slope.
    #[inline(always)]
    pub fn derivative<T: Scalar>(self, z: T, a: T) -> T {
        match self {
            Activation::Identity => T::one(),
            Activation::Relu => {
                if z > T::zero() {
                    T::one()
                } else {
                    T::zero()
                }
            }
            Activation::LeakyRelu => {
                if z > T::zero() {
                    T::one()
                } else {
                    T::of(LEAKY_SLOPE)
                }
            }
            Activation::Sigmoid => a * (T::one() - a),
            Activation::Tanh => T::one() - a * a,
            Activation::Gelu => {
                let half = T::of(0.5);
                let z2 = z * z;
                let t = math::tanh(T::of(GELU_C) * (z + T::of(GELU_A) * z2 * z));
                let du = T::of(GELU_C) * (T::one() + T::of(3.0 * GELU_A) * z2);
                half * (T::one() + t) + half * z * (T::one() - t * t) * du
            }
        }
    }
}

/// The logistic function.
pub use crate::kernels::math::sigmoid;

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 6] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
    ];

    #[test]
    fn derivative_matches_central_difference() {
        for act in ALL {
            for &z in &[-2.3f64, -0.7, 0.4, 1.9] {
                let h = 1e-6;
                let numeric = (act.apply(z + h) - act.apply(z - h)) / (2.0 * h);
                let analytic = act.derivative(z, act.apply(z));
                assert!((numeric - analytic).abs() < 1e-8, "{act:?} at {z}");
            }
        }
    }

    #[test]
    fn kinks_and_names() {
        assert_eq!(Activation::Relu.derivative(0.0f64, 0.0), 0.0);
        assert_eq!(Activation::LeakyRelu.apply(-2.0f64), -0.02);
        assert_eq!(Activation::parse("logistic"), Ok(Activation::Sigmoid));
        assert!(Activation::parse("swish").is_err());
        for act in ALL {
            assert_eq!(Activation::parse(act.name()), Ok(act));
        }
    }

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        assert!(sigmoid(-1000.0f64) < 1e-300);
        assert_eq!(sigmoid(1000.0f64), 1.0);
        assert!((sigmoid(0.0f32) - 0.5).abs() < 1e-7);
    }
}
