//! polars-scores: a rolling score, a positive-power total and a dot product
//! as Polars expression plugins.
//!
//! `kernels` holds the pure computations (no Polars types); `numeric` and
//! `keys` adapt Polars columns to them; `expressions` holds the functions
//! Polars calls. Without the `plugin` feature only `kernels` is built.

pub mod kernels;

#[cfg(feature = "plugin")]
mod expressions;
#[cfg(feature = "plugin")]
mod keys;
#[cfg(feature = "plugin")]
mod numeric;
#[cfg(feature = "plugin")]
mod states;

#[cfg(feature = "plugin")]
mod module {
    use pyo3::prelude::*;
    use pyo3_polars::PolarsAllocator;

    // Share the host's allocator, so Polars counts what the plugin allocates.
    #[global_allocator]
    static ALLOC: PolarsAllocator = PolarsAllocator::new();

    #[pymodule]
    fn _internal(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add_class::<crate::states::KeyStates>()
    }
}
