//! What an optimizer carries between steps: its buffers and the step count.

use super::OptimizerConfig;
use crate::error::{filled, zeros, Error, Result};
use crate::kernels::Shared;
use crate::network::Network;
use crate::scalar::Scalar;

/// What an optimizer carries between steps.
#[derive(Clone, Debug, Default)]
pub struct OptimizerState<T> {
    /// Completed steps.
    steps: u64,
    /// Per parameter tensor (W0, b0, W1, b1, …): its buffers.
    slots: Vec<Vec<Vec<T>>>,
}

impl<T: Scalar> OptimizerState<T> {
    pub fn new() -> Self {
        OptimizerState {
            steps: 0,
            slots: Vec::new(),
        }
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Records the steps a fit took (by a team, see `train`).
    pub(crate) fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// Allocates buffers on first use, each filled with the value the rule starts it at;
    /// afterwards checks the network still has the same shapes.
    pub fn bind(&mut self, config: &OptimizerConfig, net: &Network<T>) -> Result<()> {
        let sizes: Vec<usize> = net.param_info().iter().map(|p| p.len()).collect();
        if self.slots.is_empty() {
            let per = config.buffers_per_parameter();
            let initial = config.initial_values();
            let what = "the optimizer's state";
            self.slots = sizes
                .iter()
                .map(|&n| {
                    initial[..per]
                        .iter()
                        .map(|&v| {
                            if v == 0.0 {
                                zeros(Some(n), what)
                            } else {
                                filled(Some(n), T::of(v), what)
                            }
                        })
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<_>>()?;
            return Ok(());
        }
        let same = self.slots.len() == sizes.len()
            && self
                .slots
                .iter()
                .zip(&sizes)
                .all(|(s, &n)| s.iter().all(|b| b.len() == n));
        if same {
            Ok(())
        } else {
            Err(Error::value(
                "optimizer: its state belongs to a network with different parameter shapes; \
                 create a new optimizer for this network",
            ))
        }
    }

    /// The buffers of every parameter tensor, for a team to update row ranges of.
    pub(crate) fn slots_view(&mut self) -> Vec<Vec<Shared<'_, T>>> {
        self.slots
            .iter_mut()
            .map(|s| s.iter_mut().map(|b| Shared::new(b)).collect())
            .collect()
    }
}
