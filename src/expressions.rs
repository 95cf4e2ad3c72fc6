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
use crate::kernels::rule::Rule;
use crate::kernels::scan::States;
use crate::kernels::ToF64;
use crate::keys::{key_ids, KeyIds};
use crate::numeric::{
    aligned_pieces, all_rows, ensure_numeric, ensure_rule_input, rows, with_numeric,
};
use crate::parallelism::scoring_threads;
use crate::scoring::Step;

const ROLLING: &str = "scores.rolling";
const TOTAL: &str = "scores.total";
const DOT: &str = "scores.dot";
const SCAN: &str = "scores.scan";

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
    fn new(method: &str, column: Option<&Series>, constant: f64, len: usize) -> PolarsResult<Self> {
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

/// The scores of `values` by `step`, each series starting at `initial`:
/// one series, or one per key when `keys` split the rows.
fn score_series(
    method: &str,
    step: &Step,
    values: &Series,
    inputs: &[Float64Chunked],
    initial: &Initial,
    keys: Option<&KeyIds>,
) -> PolarsResult<Series> {
    let mut per_key;
    let mut states = match keys {
        Some(keys) => {
            per_key = initial.per_group(keys);
            States::PerKey {
                ids: &keys.ids,
                states: &mut per_key,
            }
        }
        None => States::One(initial.at(0)),
    };
    let name = values.name().clone();
    let scores = step.score(method, values, inputs, &mut states, name)?;
    Ok(scores.into_series())
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
    score_series(ROLLING, &step, values, &[], &initial, keys.as_ref())
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

#[derive(Deserialize)]
struct ScanKwargs {
    /// The rule in postfix, as `polars_scores.rules` writes it.
    ops: Vec<String>,
    operands: Vec<f64>,
    /// How many input columns follow the values (and the initial column).
    inputs: usize,
    /// The rule's name for each input column, for error messages.
    input_names: Vec<String>,
    initial: f64,
    initial_column: bool,
}

/// A Float64 output; the values must be numeric, every input numeric or Boolean.
fn scan_field(fields: &[Field], kwargs: ScanKwargs) -> PolarsResult<Field> {
    let columns = 1 + usize::from(kwargs.initial_column) + kwargs.inputs;
    polars_ensure!(
        fields.len() >= columns,
        InvalidOperation: "{SCAN}: expected at least {columns} columns, got {}", fields.len()
    );
    for field in &fields[1 + usize::from(kwargs.initial_column)..columns] {
        ensure_rule_input(SCAN, field)?;
    }
    float64_field(SCAN, fields, 1)
}

/// `column` as Float64 (converted like Python's `float()`), `len` rows long:
/// one row broadcasts.
fn float_column(name: &str, column: &Series, len: usize) -> PolarsResult<Float64Chunked> {
    ensure_rule_input(SCAN, column.field().as_ref())?;
    let column = match column.len() {
        n if n == len => column.clone(),
        1 => column.new_from_index(0, len),
        n => polars_bail!(
            ShapeMismatch:
            "{SCAN}: input '{name}' (column '{}') has {n} rows but the value column has {len}",
            column.name()
        ),
    };
    Ok(column.cast(&DataType::Float64)?.f64()?.clone())
}

/// Inputs: the values, then the `initial` column if any, then the `inputs`
/// columns in the order of the rule's names, then the key columns.
#[polars_expr(output_type_func_with_kwargs=scan_field)]
fn pl_scan(inputs: &[Series], kwargs: ScanKwargs) -> PolarsResult<Series> {
    let (values, initial_column, rest) = split_inputs(SCAN, inputs, kwargs.initial_column)?;
    polars_ensure!(
        rest.len() >= kwargs.inputs,
        InvalidOperation: "{SCAN}: the rule reads {} inputs but {} columns came", kwargs.inputs, rest.len()
    );
    let (columns, keys) = rest.split_at(kwargs.inputs);
    let rule = Rule::compile(&kwargs.ops, &kwargs.operands, kwargs.inputs)
        .map_err(|e| polars_err!(ComputeError: "{SCAN}: invalid rule program: {e}"))?;
    let len = values.len();
    let initial = Initial::new(SCAN, initial_column, kwargs.initial, len)?;
    let names = kwargs.input_names.iter().map(String::as_str);
    let columns = (columns.iter().zip(names.chain(std::iter::repeat("?"))))
        .map(|(column, name)| float_column(name, column, len))
        .collect::<PolarsResult<Vec<_>>>()?;
    let keys = key_ids(SCAN, keys, len, scoring_threads(len))?;
    score_series(
        SCAN,
        &Step::Rule(rule),
        values,
        &columns,
        &initial,
        keys.as_ref(),
    )
}
