//! What a network is built from: a stack of layer specs, or the widths and activations of a
//! plain MLP (which becomes the stack `Dense, Activation, …, Dense`).

use crate::activations::Activation;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::layers::LayerSpec;
use crate::losses::Loss;

/// A stack of layers: what `ferroprop.Sequential` is built from.
#[derive(Clone, Debug)]
pub struct StackSpec {
    pub input_dim: usize,
    pub layers: Vec<LayerSpec>,
    pub loss: Loss,
    /// Seeds initialisation and the dropout masks.
    pub seed: u64,
}

/// A plain multilayer perceptron `[n_in, h1, …, n_out]`: Dense and activation layers.
#[derive(Clone, Debug)]
pub struct NetworkSpec {
    /// `[n_in, h1, …, n_out]`.
    pub widths: Vec<usize>,
    /// One per hidden layer (`widths.len() - 2` of them), or one for all of them.
    pub activations: Vec<Activation>,
    pub loss: Loss,
    pub init: Init,
    pub seed: u64,
}

impl NetworkSpec {
    /// The same network as a stack: `Dense, Activation` per hidden layer, then a Dense.
    pub fn stack(&self) -> Result<StackSpec> {
        let widths = &self.widths;
        if widths.len() < 2 {
            return Err(Error::value(format!(
                "widths: expected at least [n_in, n_out], got {widths:?}"
            )));
        }
        if let Some(w) = widths.iter().find(|&&w| w == 0) {
            return Err(Error::value(format!(
                "widths: every width must be positive, got {w} in {widths:?}"
            )));
        }
        let hidden = widths.len() - 2;
        // One activation stands for every hidden layer.
        let activations = match self.activations[..] {
            [only] => vec![only; hidden],
            _ => self.activations.clone(),
        };
        if activations.len() != hidden {
            return Err(Error::value(format!(
                "activation: expected one name per hidden layer ({hidden}), got {}",
                self.activations.len()
            )));
        }
        let mut layers = Vec::new();
        for (l, &units) in widths[1..].iter().enumerate() {
            layers.push(LayerSpec::Dense {
                units,
                init: self.init,
            });
            if let Some(&act) = activations.get(l) {
                layers.push(LayerSpec::Activation(act));
            }
        }
        Ok(StackSpec {
            input_dim: widths[0],
            layers,
            loss: self.loss,
            seed: self.seed,
        })
    }
}

/// The activation whose rule a Dense's initial bound follows (scikit-learn's: its own hidden
/// activation, or for the output layer the last hidden one): the first activation after layer
/// `i` before the next Dense, else the last one before it.
pub(super) fn init_neighbour(specs: &[LayerSpec], i: usize) -> Option<Activation> {
    let act = |s: &LayerSpec| match s {
        LayerSpec::Activation(a) => Some(*a),
        _ => None,
    };
    let after = specs[i + 1..]
        .iter()
        .take_while(|s| !matches!(s, LayerSpec::Dense { .. }))
        .find_map(act);
    after.or_else(|| specs[..i].iter().rev().find_map(act))
}
