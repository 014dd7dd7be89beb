//! ferroprop: multilayer perceptrons trained by backpropagation.
//!
//! The crate is the whole engine; the PyO3 binding (feature `python`) is a thin layer at the edge.
//!
//! * [`network`] — the fully connected network: forward pass and the chain-rule backward pass.
//! * [`activations`], [`losses`] — the pieces a layer and the output are made of.
//! * [`optimizers`] — SGD, Adam and AdamW with `torch.optim` semantics.
//! * [`train`] — the mini-batch training loop.
//! * [`kernels`] — every hot loop (GEMM, bias+activation, softmax-cross-entropy, updates)
//!   behind one small interface.

pub mod activations;
pub mod error;
pub mod init;
pub mod kernels;
pub mod losses;
pub mod network;
pub mod optimizers;
pub mod rng;
pub mod scalar;
pub mod threads;
pub mod train;

#[cfg(feature = "python")]
mod python;

pub use activations::Activation;
pub use error::{Error, Result};
pub use init::Init;
pub use losses::{Loss, Targets};
pub use network::{Gradients, Network, NetworkSpec};
pub use optimizers::{OptimizerConfig, OptimizerState};
pub use scalar::Scalar;
