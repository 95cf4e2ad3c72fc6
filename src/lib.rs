//! polars-scores: a rolling score, a positive-power total and a dot product
//! as Polars expression plugins.
//!
//! - `kernels`: the pure computations (no Polars types), among them
//!   `kernels::scan`, the runs of any recurrence, and `kernels::key_range`,
//!   the one rule for when integer keys index states directly;
//! - `parallelism`: what runs on several threads, and where;
//! - `numeric` and `keys`: Polars columns and `by` keys adapted to the
//!   kernels;
//! - `scoring`: the one chunk loop that scores a column by a recurrence (the
//!   rolling score or a user's rule), for one series or per key;
//! - `expressions`: the functions Polars calls;
//! - `states`: `KeyStates`, the per-key states kept across a stream's
//!   batches (a Python class): `step` checks a batch, `encoding` writes its
//!   keys as bytes, and the `dense`, `hashed` and `sorted` stores hold the
//!   states.
//!
//! Without the `plugin` feature only `kernels` and `parallelism` are built.

pub mod kernels;
pub mod parallelism;

#[cfg(feature = "plugin")]
mod expressions;
#[cfg(feature = "plugin")]
mod keys;
#[cfg(feature = "plugin")]
mod numeric;
#[cfg(feature = "plugin")]
mod rule_calls;
#[cfg(feature = "plugin")]
mod scoring;
#[cfg(feature = "plugin")]
mod states;

#[cfg(feature = "plugin")]
mod module {
    use pyo3::prelude::*;
    use pyo3_polars::PolarsAllocator;

    // Share the host's allocator, so Polars counts what the plugin allocates.
    #[global_allocator]
    static ALLOC: PolarsAllocator = PolarsAllocator::new();

    /// Whether the kernels run their AVX2 copies (see `POLARS_SCORES_NO_AVX2`).
    #[pyfunction]
    fn avx2_enabled() -> bool {
        crate::kernels::avx2_enabled()
    }

    /// The names of the value dtypes the kernels read, as `ensure_numeric`
    /// decides (with `rule_input`, those of a rule's inputs, as
    /// `ensure_rule_input` decides): Python checks columns against them
    /// before streaming or Spark runs start, with no list of its own that
    /// could drift.
    #[pyfunction]
    #[pyo3(signature = (rule_input=false))]
    fn accepted_dtype_names(rule_input: bool) -> Vec<String> {
        use polars::prelude::{DataType, Field};
        use DataType::*;
        // Every dtype without parameters; the rule itself picks among them.
        let candidates = [
            Boolean, Int8, Int16, Int32, Int64, Int128, UInt8, UInt16, UInt32, UInt64, UInt128,
            Float16, Float32, Float64, String, Binary, Date, Time, Null,
        ];
        candidates
            .into_iter()
            .filter(|dtype| {
                let field = Field::new("".into(), dtype.clone());
                if rule_input {
                    crate::numeric::ensure_rule_input("", &field).is_ok()
                } else {
                    crate::numeric::ensure_numeric("", &field).is_ok()
                }
            })
            .map(|dtype| format!("{dtype:?}"))
            .collect()
    }

    #[pymodule]
    fn _internal(module: &Bound<'_, PyModule>) -> PyResult<()> {
        // The one source of the version is Cargo.toml: maturin writes it into
        // the wheel's metadata, and the library reports the one it was built as.
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        module.add_function(wrap_pyfunction!(avx2_enabled, module)?)?;
        module.add_function(wrap_pyfunction!(accepted_dtype_names, module)?)?;
        module.add_class::<crate::states::KeyStates>()?;
        module.add_class::<crate::states::KeyTotals>()
    }
}
