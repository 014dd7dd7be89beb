//! The buffers of a batch (each layer's output, its gradient and its scratch) and of the
//! gradients, and the views of them (and of the parameters) that a team's members share.

use super::Network;
use crate::error::{zeros, Result};
use crate::kernels::{MatRef, Shared};
use crate::layers::{Io, LayerOps, Tensors};
use crate::scalar::Scalar;

/// Each buffer as a [`Shared`] view.
fn shared_all<T>(buffers: &mut [Vec<T>]) -> Vec<Shared<'_, T>> {
    buffers.iter_mut().map(|b| Shared::new(b)).collect()
}

/// Gradients of the mean loss, one per parameter tensor (see [`Network::param_info`]).
#[derive(Clone, Debug)]
pub struct Gradients<T> {
    pub tensors: Vec<Vec<T>>,
}

impl<T: Scalar> Gradients<T> {
    /// The buffers shared by a team.
    pub fn view(&mut self) -> GradientsView<'_, T> {
        GradientsView {
            tensors: shared_all(&mut self.tensors),
        }
    }
}

/// Gradient buffers written by a team, each member its own rows.
pub struct GradientsView<'a, T> {
    pub tensors: Vec<Shared<'a, T>>,
}

/// The parameters and buffers as seen by a team: read by every member in the passes,
/// updated span by span by their owners after a barrier.
pub struct ParamsView<'a, T> {
    pub params: Vec<Shared<'a, T>>,
    pub buffers: Vec<Shared<'a, T>>,
}

impl<'a, T> ParamsView<'a, T> {
    pub fn tensors(&self) -> Tensors<'a, '_, T> {
        Tensors {
            params: &self.params,
            buffers: &self.buffers,
        }
    }
}

/// Per-layer buffers for a batch of up to `rows` samples, reused by every step.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    pub(super) rows: usize,
    out: Vec<Vec<T>>,
    grad: Vec<Vec<T>>,
    aux: Vec<Vec<T>>,
    stats: Vec<Vec<T>>,
}

impl<T: Scalar> Workspace<T> {
    /// Buffers for training batches of up to `rows` samples of `net` (none for fused
    /// activations).
    pub fn new(net: &Network<T>, rows: usize) -> Result<Self> {
        Self::with(net, rows, true)
    }

    /// Buffers for evaluating up to `rows` samples: no gradient buffers.
    pub fn for_eval(net: &Network<T>, rows: usize) -> Result<Self> {
        Self::with(net, rows, false)
    }

    fn with(net: &Network<T>, rows: usize, training: bool) -> Result<Self> {
        let what = || format!("the activations of {rows} rows");
        let mut ws = Workspace {
            rows,
            out: Vec::new(),
            grad: Vec::new(),
            aux: Vec::new(),
            stats: Vec::new(),
        };
        for (i, layer) in net.layers().iter().enumerate() {
            let runs = net.stages().contains(&i);
            let per_row = if runs {
                rows.checked_mul(layer.width())
            } else {
                Some(0)
            };
            let (aux, stats) = if runs {
                layer.scratch(rows)
            } else {
                (Some(0), 0)
            };
            ws.out.push(zeros(per_row, &what())?);
            ws.grad
                .push(zeros(per_row.filter(|_| training).or(Some(0)), &what())?);
            ws.aux.push(zeros(aux, &what())?);
            ws.stats.push(zeros(Some(stats), &what())?);
        }
        Ok(ws)
    }

    /// Layer `layer`'s output rows (after a pass by one thread).
    pub fn output(&self, layer: usize) -> &[T] {
        &self.out[layer]
    }

    /// The buffers shared by a team.
    pub fn view(&mut self) -> WorkspaceView<'_, T> {
        let io = self
            .out
            .iter_mut()
            .zip(self.grad.iter_mut())
            .zip(self.aux.iter_mut().zip(self.stats.iter_mut()))
            .map(|((out, grad), (aux, stats))| Io {
                out: Shared::new(out),
                grad: Shared::new(grad),
                aux: Shared::new(aux),
                stats: Shared::new(stats),
            })
            .collect();
        WorkspaceView { io }
    }
}

/// A workspace written by a team, each member its own rows (see [`Shared`]).
pub struct WorkspaceView<'a, T> {
    pub(crate) io: Vec<Io<'a, T>>,
}

impl<'a, T: Copy> WorkspaceView<'a, T> {
    /// Layer `layer`'s output as a `rows × width` matrix.
    ///
    /// # Safety
    /// As [`Shared::matrix`].
    pub(crate) unsafe fn output(&self, layer: usize, rows: usize, width: usize) -> MatRef<'a, T> {
        self.io[layer].out.matrix(rows, width)
    }
}
