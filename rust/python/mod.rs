//! The PyO3 binding: a thin layer that borrows NumPy arrays, releases the GIL and calls the
//! engine. Argument conversion (dtype, alignment, C order) happens in the Python package; here
//! we check shapes and values and map engine errors to Python exceptions. Every entry point
//! runs under `errors::guarded`, so no panic reaches Python as `PanicException`.

mod access;
mod arrays;
mod errors;
mod extract;
mod fit;
mod layers;
mod losses;
mod network;
mod optimizers;
mod schedules;
mod tensors;

use pyo3::prelude::*;

#[pymodule]
mod _core {
    use pyo3::prelude::*;

    use super::errors::{guarded, value_error};

    #[pymodule_export]
    use super::layers::{ActivationLayer, BatchNorm, Dense, Dropout, LayerNorm, PyLayer};
    #[pymodule_export]
    use super::losses::{
        make_loss, BinaryCrossEntropy, BinaryLogLoss, CrossEntropy, Huber, LogLoss, Mse, Poisson,
        PyLoss, SquaredError, L1,
    };
    #[pymodule_export]
    use super::network::PyNetwork;
    #[pymodule_export]
    use super::optimizers::{
        Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd, SklearnAdam, SklearnSgd,
    };
    #[pymodule_export]
    use super::schedules::{
        CosineLr, ExponentialLr, MultiStepLr, OneCycle, Plateau, PySchedule, StepLr, Warmup,
    };

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add(
            "DivergenceError",
            m.py().get_type::<super::errors::DivergenceError>(),
        )?;
        m.add(
            "InternalError",
            m.py().get_type::<super::errors::InternalError>(),
        )?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        let tuple = |names: &[&str]| pyo3::types::PyTuple::new(m.py(), names.iter().copied());
        m.add("LAYERS", tuple(&crate::layers::LayerSpec::KINDS)?)?;
        m.add(
            "ACTIVATIONS",
            tuple(&crate::activations::Activation::ALL_NAMES)?,
        )?;
        // The optimizer classes' names, for messages and the CLI (Python never retypes them).
        let names = pyo3::types::PyTuple::new(m.py(), crate::optimizers::NAMES)?;
        m.add("OPTIMIZERS", names)?;
        m.add("SCHEDULES", tuple(&crate::schedules::NAMES)?)?;
        // Every loss name, for Python to take rather than retype.
        m.add(
            "LOSSES",
            pyo3::types::PyTuple::new(m.py(), crate::losses::NAMES)?,
        )?;
        Ok(())
    }

    /// Sets the number of threads ferroprop's kernels may use (its own pool, not rayon's
    /// global), 1 to `max_threads()`. Takes effect for calls that start afterwards.
    #[pyfunction]
    fn set_num_threads(py: Python<'_>, n: u64) -> PyResult<()> {
        guarded("set_num_threads", || {
            let cap = crate::threads::max_threads();
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| (1..=cap).contains(&n))
                .ok_or_else(|| {
                    value_error(format!(
                        "n: expected a number of threads in [1, {cap}] (four per CPU), got {n}"
                    ))
                })?;
            // Starting threads takes a while: without the GIL.
            Ok(py.detach(|| crate::threads::set_num_threads(n))?)
        })
    }

    /// The most threads `set_num_threads` accepts (four per CPU, at least 8).
    #[pyfunction]
    fn max_threads() -> usize {
        crate::threads::max_threads()
    }

    /// The instruction-set path the kernels use: "avx512", "avx2" or "scalar"
    /// (`FERROPROP_SIMD` forces one; results are bitwise identical on every path).
    #[pyfunction]
    fn simd_path() -> &'static str {
        crate::kernels::simd::isa().name()
    }

    /// This CPU's single-thread fp32 FMA peak in GFLOPS, measured over `millis` milliseconds
    /// (the best of a few short repetitions; `benches/compare.py` calls it from two threads at
    /// once for the two-core peak, which is why the GIL is released).
    #[pyfunction]
    fn _fma_peak(py: Python<'_>, millis: f64) -> PyResult<f64> {
        guarded("_fma_peak", || {
            Ok(py.detach(|| crate::kernels::peak::fma_peak_gflops(millis))?)
        })
    }

    /// The number of threads ferroprop's kernels may use.
    #[pyfunction]
    fn get_num_threads(py: Python<'_>) -> PyResult<usize> {
        guarded("get_num_threads", || {
            Ok(py.detach(crate::threads::num_threads)?)
        })
    }

    /// Panics inside a team of `members` threads (the member `culprit` panics, the others
    /// wait at a barrier): tests that a panic becomes `InternalError` and nothing hangs.
    #[pyfunction]
    fn _panic_in_team(py: Python<'_>, members: usize, culprit: usize) -> PyResult<()> {
        guarded("_panic_in_team", || {
            Ok(py.detach(|| {
                crate::threads::team(members.max(1), |t| {
                    for _ in 0..3 {
                        if t.id() == culprit {
                            panic!("deliberate panic in member {culprit}");
                        }
                        t.sync();
                    }
                })
            })?)
        })
    }

    /// Panics in the binding itself (outside any team).
    #[pyfunction]
    fn _panic_here() -> PyResult<()> {
        guarded("_panic_here", || panic!("deliberate panic in the binding"))
    }
}
