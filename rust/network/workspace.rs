//! The buffers of a batch (pre-activations, activations, deltas) and of its gradients, and the
//! views of them (and of the parameters) that a team's members share.

use super::{zeroed, Dense, Network};
use crate::error::Result;
use crate::kernels::Shared;
use crate::scalar::Scalar;

/// Each buffer as a [`Shared`] view.
fn shared_all<T>(buffers: &mut [Vec<T>]) -> Vec<Shared<'_, T>> {
    buffers.iter_mut().map(|b| Shared::new(b)).collect()
}

/// Gradients of the mean loss, shaped like the parameters.
#[derive(Clone, Debug)]
pub struct Gradients<T> {
    pub weights: Vec<Vec<T>>,
    pub biases: Vec<Vec<T>>,
}

impl<T: Scalar> Gradients<T> {
    /// The buffers shared by a team.
    pub fn view(&mut self) -> GradientsView<'_, T> {
        GradientsView {
            weights: shared_all(&mut self.weights),
            biases: shared_all(&mut self.biases),
        }
    }
}

/// Gradient buffers written by a team, each member its own rows.
pub struct GradientsView<'a, T> {
    pub weights: Vec<Shared<'a, T>>,
    pub biases: Vec<Shared<'a, T>>,
}

/// The parameters as seen by a team: read by every member in the forward and delta passes,
/// updated row by row by their owners after a barrier.
pub struct ParamsView<'a, T> {
    pub weights: Vec<Shared<'a, T>>,
    pub biases: Vec<Shared<'a, T>>,
}

/// Per-layer buffers for a batch of up to `rows` samples, reused by every step.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    pub(super) rows: usize,
    /// Pre-activations per layer (rows × fan_out).
    pub(super) z: Vec<Vec<T>>,
    /// Activations per hidden layer (rows × fan_out).
    pub(super) a: Vec<Vec<T>>,
    /// `dL/dZ` per layer (rows × fan_out).
    pub(super) dz: Vec<Vec<T>>,
}

impl<T: Scalar> Workspace<T> {
    /// Buffers for batches of up to `rows` samples of `net`.
    pub fn new(net: &Network<T>, rows: usize) -> Result<Self> {
        let per_layer = |layers: &[Dense<T>]| -> Result<Vec<Vec<T>>> {
            layers
                .iter()
                .map(|l| {
                    zeroed(rows.checked_mul(l.fan_out), || {
                        format!("the activations of {rows} rows")
                    })
                })
                .collect()
        };
        let hidden = net.layers.len() - 1;
        Ok(Workspace {
            rows,
            z: per_layer(&net.layers)?,
            a: per_layer(&net.layers[..hidden])?,
            dz: per_layer(&net.layers)?,
        })
    }

    /// The buffers shared by a team.
    pub fn view(&mut self) -> WorkspaceView<'_, T> {
        WorkspaceView {
            rows: self.rows,
            z: shared_all(&mut self.z),
            a: shared_all(&mut self.a),
            dz: shared_all(&mut self.dz),
        }
    }
}

/// A workspace written by a team, each member its own rows (see [`Shared`]).
pub struct WorkspaceView<'a, T> {
    pub(super) rows: usize,
    pub(super) z: Vec<Shared<'a, T>>,
    pub(super) a: Vec<Shared<'a, T>>,
    pub(super) dz: Vec<Shared<'a, T>>,
}
