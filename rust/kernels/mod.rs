//! The hot loops, behind one small interface.
//!
//! Layers, losses and optimizers call only the functions re-exported here, on row-major
//! contiguous slices, so the kernels can be made faster (SIMD, threads) without touching them.

mod elementwise;
mod gemm;
mod softmax;
mod update;

pub use elementwise::{activation_backward, bias_activation, column_sums};
pub use gemm::{matmul, matmul_a_bt, matmul_at_b};
pub use softmax::{softmax_cross_entropy, softmax_rows};
pub use update::{adam, sgd, AdamStep, SgdStep};
