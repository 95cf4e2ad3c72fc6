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
use crate::kernels::rolling_score::{
    rolling_score, rolling_score_grouped, rolling_score_grouped_parallel, rolling_score_parallel,
    Decay,
};
use crate::kernels::ToF64;
use crate::keys::{key_ids, KeyIds};
use crate::numeric::{aligned_pieces, all_rows, ensure_numeric, rows, with_numeric};
use crate::parallelism::{keyed_scoring_threads, scoring_threads};

const ROLLING: &str = "scores.rolling";
const TOTAL: &str = "scores.total";
const DOT: &str = "scores.dot";

/// A Float64 output named after the first input, which must be numeric, as
/// must the other `numeric_inputs` leading inputs.
fn float64_field(method: &str, fields: &[Field], numeric_inputs: usize) -> PolarsResult<Field> {
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

/// Where each series' state starts.
enum Initial {
    Constant(f64),
    /// Read at each series' first row; a null there means 0.0. One row
    /// broadcasts.
    Column(PrimitiveArray<f64>),
}

impl Initial {
    fn new(column: Option<&Series>, constant: f64, len: usize) -> PolarsResult<Self> {
        let Some(column) = column else {
            return Ok(Self::Constant(constant));
        };
        ensure_numeric(ROLLING, column.field().as_ref())?;
        polars_ensure!(
            column.len() == 1 || column.len() == len,
            ShapeMismatch:
            "{ROLLING}: initial column '{}' has {} rows but the value column has {len}",
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

    /// One start state per group, read at the group's first row.
    fn per_group(&self, keys: &KeyIds) -> Vec<f64> {
        let mut states = vec![self.at(0); keys.groups];
        if matches!(self, Self::Column(array) if array.len() > 1) {
            let mut seen = vec![false; keys.groups];
            for (row, &id) in keys.ids.iter().enumerate() {
                let id = id as usize;
                if !seen[id] {
                    seen[id] = true;
                    states[id] = self.at(row);
                }
            }
        }
        states
    }
}

/// Scores every chunk in order, carrying the state(s) from chunk to chunk.
/// The output keeps the input's chunks and validity.
fn score_chunks<T>(
    values: &ChunkedArray<T>,
    initial: &Initial,
    keys: Option<&KeyIds>,
    decay: Decay,
) -> Float64Chunked
where
    T: PolarsNumericType,
    T::Native: ToF64,
{
    let mut arrays = Vec::with_capacity(values.chunks().len());
    let mut state = initial.at(0);
    let mut states = keys.map(|keys| initial.per_group(keys));
    let mut offset = 0;
    for array in values.downcast_iter() {
        let (vals, mask) = all_rows(array);
        let mut out = output_buffer(vals.len());
        match (keys, states.as_mut()) {
            (Some(keys), Some(states)) => {
                let ids = &keys.ids[offset..offset + vals.len()];
                match keyed_scoring_threads(vals.len(), keys.groups) {
                    1 => rolling_score_grouped(vals, mask, ids, states, decay, &mut out),
                    threads => {
                        rolling_score_grouped_parallel(
                            vals, mask, ids, states, decay, threads, &mut out,
                        );
                    }
                }
            }
            _ => match scoring_threads(vals.len()) {
                1 => state = rolling_score(vals, mask, state, decay, &mut out),
                threads => {
                    state = rolling_score_parallel(vals, mask, state, decay, threads, &mut out).last
                }
            },
        }
        offset += vals.len();
        arrays.push(PrimitiveArray::from_vec(out).with_validity(array.validity().cloned()));
    }
    Float64Chunked::from_chunk_iter(values.name().clone(), arrays)
}

/// Inputs: the values, then the `initial` column if any, then the key columns.
#[polars_expr(output_type_func=rolling_field)]
fn pl_rolling_score(inputs: &[Series], kwargs: RollingKwargs) -> PolarsResult<Series> {
    let (values, rest) = inputs
        .split_first()
        .ok_or_else(|| polars_err!(InvalidOperation: "{ROLLING}: no input column"))?;
    let (initial_column, keys) = match (kwargs.initial_column, rest) {
        (true, [column, keys @ ..]) => (Some(column), keys),
        (true, []) => polars_bail!(InvalidOperation: "{ROLLING}: the initial column is missing"),
        (false, keys) => (None, keys),
    };
    let decay = Decay {
        rise: kwargs.rise,
        fall: kwargs.fall,
    };
    let initial = Initial::new(initial_column, kwargs.initial, values.len())?;
    let keys = key_ids(ROLLING, keys, values.len(), scoring_threads(values.len()))?;
    let scores = with_numeric!(ROLLING, values, |ca| score_chunks(
        ca,
        &initial,
        keys.as_ref(),
        decay
    ));
    Ok(scores.into_series())
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
