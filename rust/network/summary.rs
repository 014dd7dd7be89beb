//! What `net.summary()` shows: per layer, its output width, its tensor sizes and its FLOPs per
//! sample (see [`LayerOps::flops`] for the counting convention). The loss is not a row: its
//! cost (a softmax or an elementwise function of the outputs) is not counted.

use super::Network;
use crate::layers::{Layer, LayerOps};
use crate::scalar::Scalar;

/// One layer's line of the summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryRow {
    /// The layer's index in the stack (the prefix of its `state_dict` names).
    pub index: usize,
    pub kind: &'static str,
    pub fan_in: usize,
    /// Output features per row.
    pub width: usize,
    /// Trainable elements (a Dense's `W` and `b`, a normalisation's `γ` and `β`).
    pub params: usize,
    /// Non-trainable `state_dict` elements: BatchNorm's running statistics and its
    /// `num_batches_tracked` counter (one element, as torch's 0-d tensor).
    pub buffers: usize,
    /// FLOPs per sample of a training step's forward and backward passes.
    pub flops_forward: u64,
    pub flops_backward: u64,
}

impl<T: Scalar> Network<T> {
    /// One row per layer, in stack order. The first layer's backward computes no input
    /// gradient (nothing below needs it), as the engine runs it.
    pub fn summary_rows(&self) -> Vec<SummaryRow> {
        let mut fan_in = self.input_dim;
        let mut rows = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            let size = |ids: &[usize], info: &[super::TensorInfo]| -> usize {
                ids.iter().map(|&i| info[i].len()).sum()
            };
            let (params, buffers) = match layer {
                Layer::Dense(d) => (size(&[d.weight, d.bias], &self.param_info), 0),
                Layer::LayerNorm(n) => (size(&[n.weight, n.bias], &self.param_info), 0),
                Layer::BatchNorm(n) => (
                    size(&[n.weight, n.bias], &self.param_info),
                    size(&[n.running_mean, n.running_var], &self.buffer_info) + 1,
                ),
                Layer::Activation(_) | Layer::Dropout(_) => (0, 0),
            };
            let (flops_forward, flops_backward) = layer.flops(fan_in, index > 0);
            rows.push(SummaryRow {
                index,
                kind: layer.kind(),
                fan_in,
                width: layer.width(),
                params,
                buffers,
                flops_forward,
                flops_backward,
            });
            fan_in = layer.width();
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use crate::layers::LayerSpec;
    use crate::network::{Network, StackSpec};
    use crate::{Activation, Init, Loss};

    #[test]
    fn dense_rows_follow_the_gemm_formulas() {
        let spec = StackSpec {
            layers: vec![
                LayerSpec::Dense {
                    units: 5,
                    init: Init::Glorot,
                },
                LayerSpec::Activation(Activation::Relu),
                LayerSpec::BatchNorm {
                    momentum: 0.1,
                    eps: 1e-5,
                },
                LayerSpec::Dense {
                    units: 2,
                    init: Init::Glorot,
                },
            ],
            input_dim: 3,
            loss: Loss::CROSS_ENTROPY,
            seed: 0,
        };
        let rows = Network::<f64>::stack(&spec).unwrap().summary_rows();
        assert_eq!(rows.len(), 4);
        assert_eq!((rows[0].params, rows[0].flops_forward), (20, 2 * 3 * 5 + 5));
        assert_eq!(rows[0].flops_backward, 2 * 3 * 5 + 5); // no dX for the first layer
        assert_eq!((rows[1].flops_forward, rows[1].flops_backward), (5, 5));
        assert_eq!((rows[2].params, rows[2].buffers), (10, 11));
        assert_eq!(rows[3].flops_backward, 2 * (2 * 5 * 2) + 2);
        assert_eq!((rows[3].fan_in, rows[3].width), (5, 2));
    }
}
