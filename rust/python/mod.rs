//! The PyO3 binding: a thin layer that borrows NumPy arrays, releases the GIL and calls the
//! engine. Argument conversion (dtype, C order) happens in the Python package; here we check
//! shapes and values and map engine errors to Python exceptions.

mod arrays;
mod errors;
mod network;
mod optimizers;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::network::PyNetwork;
    #[pymodule_export]
    use super::optimizers::{Adam, AdamW, Optimizer, Sgd, SklearnAdam, SklearnSgd};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add(
            "DivergenceError",
            m.py().get_type::<super::errors::DivergenceError>(),
        )?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        Ok(())
    }

    /// Sets the number of threads ferroprop's kernels may use (its own pool, not rayon's global).
    #[pyfunction]
    fn set_num_threads(n: i64) -> PyResult<()> {
        let n = usize::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
            super::errors::value_error(format!("n: expected a positive integer, got {n}"))
        })?;
        Ok(crate::threads::set_num_threads(n)?)
    }

    /// The instruction-set path the kernels use: "avx512", "avx2" or "scalar"
    /// (`FERROPROP_SIMD` forces one; results are bitwise identical on every path).
    #[pyfunction]
    fn simd_path() -> &'static str {
        crate::kernels::simd::isa().name()
    }

    /// The number of threads ferroprop's kernels may use.
    #[pyfunction]
    fn get_num_threads() -> PyResult<usize> {
        Ok(crate::threads::num_threads()?)
    }
}

/// Runs engine work with the GIL released.
fn detached<R: Send>(py: Python<'_>, f: impl FnOnce() -> R + Send) -> R {
    py.detach(f)
}
