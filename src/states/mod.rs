//! Per-key states that outlive one call: the streaming driver
//! (`polars_scores.stateful`) scores ordered batches through one
//! [`KeyStates`], so that a batch is one call into Rust, whatever the key
//! columns' types, for the rolling score and for a user's rule alike.
//!
//! Three stores keep the states, one module each:
//! - `dense`: one integer key column whose keys lie close together (by
//!   `kernels::key_range`'s one rule for dense keys): an array indexed by
//!   key, no hashing at all;
//! - `hashed`: any other keys, as bytes in hash tables
//!   (`kernels::key_table::ShardedKeys`), which number them; the states sit
//!   in an array indexed by that number;
//! - `sorted`: a stream sorted by key (Spark's partitions): only the last
//!   key's state, since every earlier key is finished.
//!
//! `encoding` writes the keys as bytes, and `step` checks a batch and hands
//! it to its store, which scores it by `crate::scoring`'s one chunk loop.
//! `totals` is the keyed fold of a stream's totals ([`KeyTotals`]): one
//! compensated sum per key, its keys numbered by the hashed store's tables.
//! `firsts` keeps each key's values at its first row beside those tables,
//! for the key columns of the totals and of saved states
//! ([`KeyStates`]'s `export`; `load` starts keys from saved states).
//! The modules depend one way: `step` on the stores and `encoding`,
//! `hashed` on `dense`, both on `firsts`, none of them on this one.
//!
//! A key is the same key in every batch, whatever its column's dtype there:
//! integers of every width are numbers, a Null column is the null key, a
//! categorical is its string. Kinds that cannot be equal (an integer and a
//! string) are refused, as Polars refuses to join them.

mod dense;
mod encoding;
mod firsts;
mod hashed;
mod sorted;
mod step;
mod totals;

use polars::prelude::*;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3_polars::PySeries;
use std::sync::Arc;

use crate::kernels::rolling_score::Decay;
use crate::kernels::rule::Rule;
use crate::scoring::Step;
use step::{BatchStep, Store};
pub use totals::KeyTotals;

/// A key's state before its first row: one number, or one per named state.
#[derive(FromPyObject)]
enum Start {
    One(f64),
    Several(Vec<f64>),
}

/// The states of every key met so far, for a streaming scorer with keys.
#[pyclass(module = "polars_scores._internal")]
pub struct KeyStates {
    batches: BatchStep,
}

#[pymethods]
impl KeyStates {
    /// An empty store for the score `(rise, fall)`, or for the rule given
    /// as the postfix program `ops`/`operands` over `inputs` input columns
    /// (what `polars_scores.rules.parse_rule` makes), starting each key at
    /// `initial` (a number, or one per state of a rule with the named
    /// `states`, whose scores are then a struct); `key_sorted` when the
    /// batches arrive sorted by key. `method` is the public function the
    /// user called, which every error names. Without `keep_keys`, the
    /// hashed store keeps no key's values, and the states cannot be
    /// exported (a stream whose states are never saved).
    #[new]
    #[pyo3(signature = (
        rise, fall, initial, key_sorted, ops=None, operands=None, inputs=0, *,
        states=None, method=String::from("KeyStates.score"), keep_keys=true
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        rise: f64,
        fall: f64,
        initial: Start,
        key_sorted: bool,
        ops: Option<Vec<String>>,
        operands: Option<Vec<f64>>,
        inputs: usize,
        states: Option<Vec<String>>,
        method: String,
        keep_keys: bool,
    ) -> PyResult<Self> {
        let initial = match initial {
            Start::One(number) => vec![number],
            Start::Several(numbers) => numbers,
        };
        let step = match (ops, operands) {
            (None, None) => Step::Decay(Decay { rise, fall }),
            (Some(ops), Some(operands)) => {
                Step::Rule(compiled(&method, &ops, &operands, inputs, initial.len())?)
            }
            _ => {
                return Err(PyValueError::new_err(format!(
                    "{method}: a rule needs both its ops and its operands"
                )))
            }
        };
        Ok(Self {
            batches: BatchStep::new(method, step, initial, states, key_sorted, keep_keys),
        })
    }

    /// The scores of one batch, named `name`: row `i` belongs to the key
    /// formed by the `keys` columns at row `i`, and each key goes on from
    /// the state the previous batches left it. A rule reads its `inputs`
    /// columns, in the order of its input names. An error changes no state.
    #[pyo3(signature = (keys, values, name, inputs=Vec::new()))]
    fn score(
        &mut self,
        py: Python<'_>,
        keys: Vec<PySeries>,
        values: PySeries,
        name: &str,
        inputs: Vec<PySeries>,
    ) -> PyResult<PySeries> {
        let keys: Vec<Series> = keys.into_iter().map(|key| key.0).collect();
        let inputs: Vec<Series> = inputs.into_iter().map(|input| input.0).collect();
        let values = values.0;
        let batches = &mut self.batches;
        let scored = py.detach(|| batches.score_batch(&keys, &values, &inputs, name));
        scored
            .map(PySeries)
            .map_err(|e| polars_exception(py, self.batches.method(), e))
    }

    /// Gives each key of the `keys` columns the start state in the `states`
    /// columns (one per number of a state) at its row: keys not met yet,
    /// each once. A key met before, or given twice, is an error after which
    /// the states are incomplete and every call fails.
    fn load(&mut self, py: Python<'_>, keys: Vec<PySeries>, states: Vec<PySeries>) -> PyResult<()> {
        let keys: Vec<Series> = keys.into_iter().map(|key| key.0).collect();
        let states: Vec<Series> = states.into_iter().map(|state| state.0).collect();
        let batches = &mut self.batches;
        let loaded = py.detach(|| batches.load(&keys, &states));
        loaded.map_err(|e| polars_exception(py, self.batches.method(), e))
    }

    /// Every key met so far and its state: the key columns (in the dtype
    /// that holds each column's keys in every batch), then a Float64 column
    /// per name, one per number of a state; `None` before any batch.
    fn export(&self, py: Python<'_>, names: Vec<String>) -> PyResult<Option<Vec<PySeries>>> {
        let batches = &self.batches;
        let columns = py.detach(|| batches.export(&names));
        let columns = columns.map_err(|e| polars_exception(py, self.batches.method(), e))?;
        Ok(columns.map(|columns| columns.into_iter().map(PySeries).collect()))
    }

    /// The number of states held: every key met so far, except in a sorted
    /// stream, which holds only the last key's.
    fn __len__(&self) -> usize {
        match self.batches.store() {
            None => 0,
            Some(Store::Dense(dense)) => dense.len(),
            Some(Store::Hashed(hashed)) => hashed.len(),
            Some(Store::Sorted(sorted)) => sorted.len(),
        }
    }

    /// Which store holds the states: "dense" (an array indexed by integer
    /// key), "hashed" or "sorted" (the last key's only); "empty" before the
    /// first batch.
    #[getter]
    fn layout(&self) -> &'static str {
        match self.batches.store() {
            None => "empty",
            Some(Store::Dense(_)) => "dense",
            Some(Store::Hashed(_)) => "hashed",
            Some(Store::Sorted(_)) => "sorted",
        }
    }

    /// The bytes the states and their keys hold on the heap (scratch space
    /// for the batches excluded).
    fn heap_bytes(&self) -> usize {
        match self.batches.store() {
            None => 0,
            Some(Store::Dense(dense)) => dense.heap_bytes(),
            Some(Store::Hashed(hashed)) => hashed.heap_bytes(),
            Some(Store::Sorted(sorted)) => sorted.heap_bytes(),
        }
    }
}

/// The rule of the postfix program `ops`/`operands` over `inputs` input
/// columns, whose state is `width` numbers, for a class's constructor: a
/// program that does not compile is an error of `method`.
fn compiled(
    method: &str,
    ops: &[String],
    operands: &[f64],
    inputs: usize,
    width: usize,
) -> PyResult<Arc<Rule>> {
    Rule::compile(ops, operands, inputs, width)
        .map_err(|e| PyValueError::new_err(format!("{method}: invalid rule program: {e}")))
}

/// A Polars error as the Python exception Polars itself raises for it
/// (`polars.exceptions.SchemaError`, ...), so users can catch it as usual.
/// `error` as the Polars exception of its kind. Its `problem` attribute is the
/// message without the leading `method: `, so that a caller that names the
/// method itself (the command line) can say the problem alone.
fn polars_exception(py: Python<'_>, method: &str, error: PolarsError) -> PyErr {
    let class = match &error {
        PolarsError::InvalidOperation(_) => "InvalidOperationError",
        PolarsError::SchemaMismatch(_) => "SchemaError",
        PolarsError::ShapeMismatch(_) => "ShapeError",
        _ => "ComputeError",
    };
    let message = match &error {
        PolarsError::InvalidOperation(m)
        | PolarsError::SchemaMismatch(m)
        | PolarsError::ShapeMismatch(m)
        | PolarsError::ComputeError(m) => m.to_string(),
        other => other.to_string(),
    };
    let raised = py
        .import("polars.exceptions")
        .and_then(|module| module.getattr(class))
        .and_then(|class| class.call1((message.clone(),)))
        .and_then(|exception| {
            let problem = message
                .strip_prefix(method)
                .and_then(|m| m.strip_prefix(": "));
            exception.setattr("problem", problem.unwrap_or(&message))?;
            Ok(exception)
        });
    match raised {
        Ok(exception) => PyErr::from_value(exception),
        Err(_) => PyRuntimeError::new_err(message),
    }
}
