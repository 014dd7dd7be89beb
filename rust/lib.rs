//! ferroprop: multilayer perceptrons trained by backpropagation.
//!
//! The crate is the whole engine; the PyO3 binding (feature `python`) is a thin layer at the edge.
//!
//! * [`layers`] — Dense, Activation, Dropout, LayerNorm, BatchNorm: one file each.
//! * [`network`] — a stack of layers: forward pass and the chain-rule backward pass.
//! * [`activations`], [`losses`] — the pieces a layer and the output are made of.
//! * [`optimizers`] — SGD, Adam and AdamW with `torch.optim` semantics.
//! * [`train`] — the mini-batch training loop.
//! * [`kernels`] — every hot loop (GEMM, bias+activation, softmax-cross-entropy, updates)
//!   behind one small interface.
//!
//! Used from Rust, without Python (the `python` feature adds the PyO3 binding):
//!
//! ```
//! use ferroprop::losses::Targets;
//! use ferroprop::rng::Rng;
//! use ferroprop::train::{self, Dataset, FitConfig, NoHooks};
//! use ferroprop::{Activation, Init, LayerSpec, Loss, Network, OptimizerConfig, OptimizerState};
//! use ferroprop::StackSpec;
//!
//! // XOR: Dense(8) → LayerNorm → tanh → Dense(2), with a softmax cross-entropy output.
//! let spec = StackSpec {
//!     input_dim: 2,
//!     layers: vec![
//!         LayerSpec::dense(8, Init::Glorot)?,
//!         LayerSpec::layer_norm(1e-5)?,
//!         LayerSpec::Activation(Activation::Tanh),
//!         LayerSpec::dense(2, Init::Glorot)?,
//!     ],
//!     loss: Loss::CROSS_ENTROPY,
//!     seed: 1,
//! };
//! let mut net = Network::<f64>::stack(&spec)?;
//! let (x, y) = ([0., 0., 0., 1., 1., 0., 1., 1.], [0i64, 1, 1, 0]);
//! let data = Dataset { x: &x, rows: 4, cols: 2, targets: Targets::Classes(&y), weights: None };
//! let adam = OptimizerConfig::adam(0.05, (0.9, 0.999), 1e-8, 0.0, false)?;
//! let settings = FitConfig {
//!     epochs: 300,
//!     batch_size: 2,
//!     shuffle: true,
//!     alpha: 0.0,
//!     inputs_checked: false,
//!     clip: None,
//!     diagnostics: false,
//! };
//! let mut state = OptimizerState::new();
//! let mut rng = Rng::new(5, 1);
//! let reports = train::fit(
//!     &mut net, &adam, &mut state, &data, Some(&data), settings, None, &mut rng, &mut NoHooks,
//! )?;
//! assert_eq!(reports.last().unwrap().val_accuracy, Some(1.0));
//! let mut out = [0.0; 8];
//! net.forward(&x, 4, &mut out)?; // class probabilities, one row per sample
//! assert!(out[0] > 0.5 && out[3] > 0.5 && out[5] > 0.5 && out[6] > 0.5);
//! # Ok::<(), ferroprop::Error>(())
//! ```

pub mod activations;
pub mod error;
pub mod init;
pub mod kernels;
pub mod layers;
pub mod losses;
pub mod network;
pub mod optimizers;
pub mod rng;
pub mod scalar;
pub mod schedules;
pub mod threads;
pub mod train;

#[cfg(feature = "python")]
mod python;

pub use activations::Activation;
pub use error::{Error, Result};
pub use init::Init;
pub use layers::LayerSpec;
pub use losses::{Loss, Targets};
pub use network::{Gradients, Network, NetworkSpec, StackSpec};
pub use optimizers::{OptimizerConfig, OptimizerState};
pub use scalar::Scalar;
