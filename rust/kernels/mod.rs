//! The hot loops, behind one small interface.
//!
//! Layers, losses and optimizers call only the functions re-exported here, on row-major
//! contiguous slices, so the kernels can be made faster (SIMD, threads) without touching them.

mod dropout;
mod elementwise;
mod gemm;
mod lanes;
pub mod math;
pub mod peak;
pub mod simd;
mod softmax;
mod stats;
mod update;

pub use dropout::{dropout_factors, kept, unit_draw};
pub use elementwise::{
    activation, activation_backward, add_scaled, all_finite, bias_activation, column_sums,
    finite_max_abs, multiply, sum_squares,
};
pub use gemm::{gemm, matmul, matmul_a_bt, matmul_at_b, GemmElem, MatRef};
pub use softmax::{softmax_cross_entropy, softmax_rows};
pub use stats::{count_units, squares, sum, UpdateSums};
pub use update::{adagrad, adam, rmsprop, sgd, AdagradStep, AdamStep, Grad, RmspropStep, SgdStep};

/// A mutable buffer shared by the members of a team, each writing its own disjoint part.
///
/// Barriers between phases (see `threads::Team`) order the writes of one phase before the
/// reads of the next; within a phase no element is written by one member and touched by
/// another. Every accessor is `unsafe` because that discipline is the caller's to keep.
#[derive(Clone, Copy, Debug)]
pub struct Shared<'a, T> {
    ptr: *mut T,
    len: usize,
    _life: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: see the type's contract; T itself must be shareable.
unsafe impl<T: Send + Sync> Send for Shared<'_, T> {}
unsafe impl<T: Send + Sync> Sync for Shared<'_, T> {}

impl<'a, T> Shared<'a, T> {
    pub fn new(data: &'a mut [T]) -> Self {
        Shared {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            _life: std::marker::PhantomData,
        }
    }

    /// A view of data that no one will write through it (the `part` accessor must not be
    /// used on it).
    pub fn read_only(data: &'a [T]) -> Self {
        Shared {
            ptr: data.as_ptr().cast_mut(),
            len: data.len(),
            _life: std::marker::PhantomData,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Elements `range`, for writing.
    ///
    /// # Safety
    /// No other member may access `range` until the next barrier.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn part(&self, range: std::ops::Range<usize>) -> &'a mut [T] {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "Shared::part out of bounds"
        );
        std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len())
    }

    /// The whole buffer, for reading.
    ///
    /// # Safety
    /// No member may write any of it until the next barrier.
    pub unsafe fn read(&self) -> &'a [T] {
        std::slice::from_raw_parts(self.ptr, self.len)
    }

    /// A row-major `rows × cols` view of the start of the buffer, for reading rows that no
    /// member writes meanwhile.
    ///
    /// # Safety
    /// As [`MatRef::from_raw`].
    pub unsafe fn matrix(&self, rows: usize, cols: usize) -> MatRef<'a, T>
    where
        T: Copy,
    {
        MatRef::from_raw(self.ptr, self.len, rows, cols, cols, 1)
    }

    /// Raw output pointer for kernels that write rows of this buffer.
    pub fn as_mut_ptr(&self) -> *mut T {
        self.ptr
    }
}
