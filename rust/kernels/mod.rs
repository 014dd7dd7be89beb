//! The hot loops, behind one small interface.
//!
//! Layers, losses and optimizers call only the functions re-exported here, on row-major
//! contiguous slices, so the kernels can be made faster (SIMD, threads) without touching them.

mod elementwise;
mod gemm;
mod lanes;
pub mod simd;
mod softmax;
mod update;

pub use elementwise::{activation_backward, bias_activation, column_sums};
pub use gemm::{gemm, matmul, matmul_a_bt, matmul_at_b, GemmElem, MatRef};
pub use softmax::{softmax_cross_entropy, softmax_rows};
pub use update::{adam, sgd, AdamStep, SgdStep};

/// A raw pointer that may cross threads: kernels hand disjoint parts of one buffer to workers.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub *mut T);
// SAFETY: users only dereference disjoint ranges from different threads.
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}
