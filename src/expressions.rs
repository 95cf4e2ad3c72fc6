//! The plugin functions Polars calls: thin wrappers that read kwargs, pick
//! the dtype through `with_numeric!` and hand plain slices to the kernels.
//! Each is named `pl_` + the kernel it calls (the name Python registers), so
//! that plugin functions and kernels never share a name.

use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use crate::kernels::dot::{dot, dot_scalar};
use crate::kernels::output::output_buffer;
use crate::kernels::positive_power::{positive_power_sum, positive_powers};
use crate::kernels::rolling_score::Decay;
use crate::kernels::scan::States;
use crate::kernels::ToF64;
use crate::keys::{key_ids, KeyIds};
use crate::numeric::{aligned_pieces, all_rows, ensure_numeric, rows, with_numeric};
use crate::parallelism::scoring_threads;
use crate::scoring::{scores_series, Step};

const ROLLING: &str = "scores.rolling";
const TOTAL: &str = "scores.total";
const DOT: &str = "scores.dot";

/// A Float64 output named after the first input, which must be numeric, as
/// must the other `numeric_inputs` leading inputs.
pub(crate) fn float64_field(
    method: &str,
    fields: &[Field],
    numeric_inputs: usize,
) -> PolarsResult<Field> {
    let first = fields
        .first()
        .ok_or_else(|| polars_err!(InvalidOperation: "{method}: no input column"))?;
    for field in fields.iter().take(numeric_inputs) {
        ensure_numeric(method, field)?;
    }
    Ok(Field::new(first.name().clone(), DataType::Float64))
}

fn rolling_field(fields: &[Field]) -> PolarsResult<Field> {
    float64_field(ROLLING, fields, 1)
}

fn total_field(fields: &[Field]) -> PolarsResult<Field> {
    float64_field(TOTAL, fields, 1)
}

fn dot_field(fields: &[Field]) -> PolarsResult<Field> {
    float64_field(DOT, fields, 2)
}

#[derive(Deserialize)]
struct RollingKwargs {
    rise: f64,
    fall: f64,
    initial: f64,
    /// Whether the second input is an `initial` column (else `initial` holds).
    initial_column: bool,
}

/// Where each series' state starts, for one number of the state.
pub(crate) enum Initial {
    Constant(f64),
    /// Read at each series' first row; a null there means 0.0. One row
    /// broadcasts.
    Column(PrimitiveArray<f64>),
}

impl Initial {
    pub(crate) fn new(
        method: &str,
        column: Option<&Series>,
        constant: f64,
        len: usize,
    ) -> PolarsResult<Self> {
        let Some(column) = column else {
            return Ok(Self::Constant(constant));
        };
        ensure_numeric(method, column.field().as_ref())?;
        polars_ensure!(
            column.len() == 1 || column.len() == len,
            ShapeMismatch:
            "{method}: initial column '{}' has {} rows but the value column has {len}",
            column.name(), column.len()
        );
        let as_f64 = column.cast(&DataType::Float64)?;
        let as_f64 = as_f64.f64()?.rechunk();
        Ok(Self::Column(as_f64.downcast_as_array().clone()))
    }

    fn at(&self, row: usize) -> f64 {
        match self {
            Self::Constant(value) => *value,
            Self::Column(array) if array.len() == 1 => array.get(0).unwrap_or(0.0),
            Self::Column(array) => array.get(row).unwrap_or(0.0),
        }
    }

    fn varies(&self) -> bool {
        matches!(self, Self::Column(array) if array.len() > 1)
    }
}

/// Where each series' state starts: each number of the state from its own
/// [`Initial`].
pub(crate) struct Starts(pub(crate) Vec<Initial>);

impl Starts {
    /// The state at `row`.
    pub(crate) fn at(&self, row: usize) -> Vec<f64> {
        self.0.iter().map(|initial| initial.at(row)).collect()
    }

    /// One start state per group, read at the group's first row, side by side.
    pub(crate) fn per_group(&self, keys: &KeyIds) -> Vec<f64> {
        let width = self.0.len();
        let mut states = self.at(0).repeat(keys.groups);
        if self.0.iter().any(Initial::varies) {
            let mut seen = vec![false; keys.groups];
            for (row, &id) in keys.ids.iter().enumerate() {
                let id = id as usize;
                if !seen[id] {
                    seen[id] = true;
                    states[id * width..(id + 1) * width].copy_from_slice(&self.at(row));
                }
            }
        }
        states
    }
}

/// The values, the `initial` column when `initial_column`, and the columns
/// after them, of a scoring function's inputs.
fn split_inputs<'a>(
    method: &str,
    inputs: &'a [Series],
    initial_column: bool,
) -> PolarsResult<(&'a Series, Option<&'a Series>, &'a [Series])> {
    let (values, rest) = inputs
        .split_first()
        .ok_or_else(|| polars_err!(InvalidOperation: "{method}: no input column"))?;
    Ok(match (initial_column, rest) {
        (true, [column, rest @ ..]) => (values, Some(column), rest),
        (true, []) => polars_bail!(InvalidOperation: "{method}: the initial column is missing"),
        (false, rest) => (values, None, rest),
    })
}

/// The scores of `values` by `step`, each series starting at `starts`: one
/// series, or one per key when `keys` split the rows; a struct of `fields`
/// where the state has named numbers.
pub(crate) fn score_series(
    method: &str,
    step: &Step,
    values: &Series,
    inputs: &[Float64Chunked],
    starts: &Starts,
    keys: Option<&KeyIds>,
    fields: Option<&[String]>,
) -> PolarsResult<Series> {
    let mut per_key;
    let mut states = match keys {
        Some(keys) => {
            per_key = starts.per_group(keys);
            States::PerKey {
                ids: &keys.ids,
                states: &mut per_key,
            }
        }
        None => States::One(starts.at(0)),
    };
    let name = values.name().clone();
    let scores = step.score(method, values, inputs, &mut states, name.clone())?;
    scores_series(method, scores, name, fields)
}

/// Inputs: the values, then the `initial` column if any, then the key columns.
#[polars_expr(output_type_func=rolling_field)]
fn pl_rolling_score(inputs: &[Series], kwargs: RollingKwargs) -> PolarsResult<Series> {
    let (values, initial_column, keys) = split_inputs(ROLLING, inputs, kwargs.initial_column)?;
    let step = Step::Decay(Decay {
        rise: kwargs.rise,
        fall: kwargs.fall,
    });
    let initial = Initial::new(ROLLING, initial_column, kwargs.initial, values.len())?;
    let keys = key_ids(ROLLING, keys, values.len(), scoring_threads(values.len()))?;
    let starts = Starts(vec![initial]);
    score_series(ROLLING, &step, values, &[], &starts, keys.as_ref(), None)
}

#[derive(Deserialize)]
struct TotalKwargs {
    exponent: f64,
}

/// Row by row: `v ** exponent` for `v > 0`, else 0.0; null stays null.
/// `scores.total()` sums this with Polars' own `sum`, which streams and
/// aggregates per group natively.
#[polars_expr(output_type_func=total_field)]
fn pl_positive_powers(inputs: &[Series], kwargs: TotalKwargs) -> PolarsResult<Series> {
    let values = &inputs[0];
    let powers = with_numeric!(TOTAL, values, |ca| {
        let arrays = ca.downcast_iter().map(|array| {
            let mut out = output_buffer(array.len());
            positive_powers(array.values(), kwargs.exponent, &mut out);
            PrimitiveArray::from_vec(out).with_validity(array.validity().cloned())
        });
        Float64Chunked::from_chunk_iter(ca.name().clone(), arrays.collect::<Vec<_>>())
    });
    Ok(powers.into_series())
}

/// Adds the per-chunk sums. Written as a fold from 0.0 because Rust's `Sum`
/// for floats starts from -0.0, which an empty column would return.
fn add(total: f64, part: f64) -> f64 {
    total + part
}

/// The whole sum in one call, for a Series: no per-row output at all.
#[polars_expr(output_type_func=total_field)]
fn pl_positive_power_sum(inputs: &[Series], kwargs: TotalKwargs) -> PolarsResult<Series> {
    let values = &inputs[0];
    let total: f64 = with_numeric!(TOTAL, values, |ca| ca
        .downcast_iter()
        .map(|array| {
            let (vals, mask) = all_rows(array);
            positive_power_sum(vals, mask, kwargs.exponent)
        })
        .fold(0.0, add));
    Ok(Series::new(values.name().clone(), [total]))
}

/// The sum of `a * b` over the rows where both are non-null. Each column is
/// read in its own dtype; a one-row column broadcasts.
#[polars_expr(output_type_func=dot_field)]
fn pl_dot(inputs: &[Series]) -> PolarsResult<Series> {
    let [a, b] = inputs else {
        polars_bail!(InvalidOperation: "{DOT}: expected two columns, got {}", inputs.len());
    };
    let total = match (a.len(), b.len()) {
        (n, m) if n == m => with_numeric!(DOT, a, |ca| with_numeric!(DOT, b, |cb| {
            aligned_pieces(ca, cb)
                .map(|((a_arr, a_at), (b_arr, b_at), len)| {
                    let (a_vals, a_mask) = rows(a_arr, a_at, len);
                    let (b_vals, b_mask) = rows(b_arr, b_at, len);
                    dot(a_vals, a_mask, b_vals, b_mask)
                })
                .fold(0.0, add)
        })),
        (1, _) => dot_broadcast(b, a)?,
        (_, 1) => dot_broadcast(a, b)?,
        (n, m) => polars_bail!(
            ShapeMismatch:
            "{DOT}: columns '{}' ({n} rows) and '{}' ({m} rows) differ in length",
            a.name(), b.name()
        ),
    };
    Ok(Series::new(a.name().clone(), [total]))
}

/// `dot` of `column` with a one-row `scalar`; a null scalar makes every
/// product null, so the sum is 0.0.
fn dot_broadcast(column: &Series, scalar: &Series) -> PolarsResult<f64> {
    let scale = with_numeric!(DOT, scalar, |cs| cs.get(0).map(ToF64::to_f64));
    let total = with_numeric!(DOT, column, |ca| match scale {
        None => 0.0,
        Some(scale) => ca
            .downcast_iter()
            .map(|array| {
                let (vals, mask) = all_rows(array);
                dot_scalar(vals, mask, scale)
            })
            .fold(0.0, add),
    });
    Ok(total)
}
