//! Scoring a column by a recurrence, chunk by chunk: the one path that the
//! expressions (`scores.rolling`, `scores.scan`) and the per-key states of
//! `states` share. A [`Step`] binds each chunk of the values to its
//! recurrence (the rolling score or a compiled rule), and
//! [`States::advance`] runs it, serially or on threads, for one series or
//! per key.

use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;
use polars_arrow::bitmap::Bitmap;
use polars_arrow::compute::utils::combine_validities_and;

use crate::kernels::output::output_buffer;
use crate::kernels::rolling_score::{Decay, DecayRows};
use crate::kernels::rule::{Rule, RuleRows};
use crate::kernels::scan::States;
use crate::kernels::{ToF64, ValidMask};
use crate::numeric::{all_rows, ensure_numeric, with_numeric};

/// What a row does to its state: the rolling score, or a user's rule.
pub enum Step {
    Decay(Decay),
    Rule(Arc<Rule>),
}

impl Step {
    /// The input columns the step reads besides the values.
    pub fn inputs(&self) -> usize {
        match self {
            Step::Decay(_) => 0,
            Step::Rule(rule) => rule.program().inputs(),
        }
    }

    /// The numbers in a state: one, or a rule's named states.
    pub fn width(&self) -> usize {
        match self {
            Step::Decay(_) => 1,
            Step::Rule(rule) => rule.program().states(),
        }
    }

    /// The scores of `values` (any numeric dtype), one column per number of
    /// the state, each named `name`, advancing `states` row by row and chunk
    /// by chunk. A rule reads `inputs` too (Float64 columns as long as
    /// `values`), and its row is null where the value or any input is. The
    /// output keeps the values' chunks.
    pub fn score(
        &self,
        method: &str,
        values: &Series,
        inputs: &[Float64Chunked],
        states: &mut States<'_>,
        name: PlSmallStr,
    ) -> PolarsResult<Vec<Float64Chunked>> {
        match self {
            Step::Decay(decay) => Ok(vec![with_numeric!(method, values, |ca| {
                decay_chunks(ca, *decay, states, name)
            })]),
            Step::Rule(rule) => {
                ensure_numeric(method, values.field().as_ref())?;
                // As Python's float().
                let values = values.cast(&DataType::Float64)?;
                rule_chunks(method, rule, values.f64()?, inputs, states, name)
            }
        }
    }
}

/// The scores `Step::score` gave, as one Series named `name`: the column
/// itself for a one-number state, else a struct with a field per number of
/// the state, named `fields` (which says how many there are).
pub fn scores_series(
    method: &str,
    columns: Vec<Float64Chunked>,
    name: PlSmallStr,
    fields: Option<&[String]>,
) -> PolarsResult<Series> {
    let len = columns.first().map_or(0, |column| column.len());
    match fields {
        None => {
            let [column] = <[Float64Chunked; 1]>::try_from(columns).map_err(
                |columns| polars_err!(ComputeError: "{method}: {} score columns for one state", columns.len()),
            )?;
            Ok(column.with_name(name).into_series())
        }
        Some(fields) => {
            polars_ensure!(
                fields.len() == columns.len(),
                ComputeError: "{method}: {} state names for {} states", fields.len(), columns.len()
            );
            let fields: Vec<Series> = (columns.into_iter().zip(fields))
                .map(|(column, field)| column.with_name(field.as_str().into()).into_series())
                .collect();
            Ok(StructChunked::from_series(name, len, fields.iter())?.into_series())
        }
    }
}

/// The rolling score of every chunk, in order.
fn decay_chunks<T>(
    values: &ChunkedArray<T>,
    decay: Decay,
    states: &mut States<'_>,
    name: PlSmallStr,
) -> Float64Chunked
where
    T: PolarsNumericType,
    T::Native: ToF64,
{
    let mut offset = 0;
    let arrays: Vec<_> = (values.downcast_iter())
        .map(|array| {
            let (vals, mask) = all_rows(array);
            let mut out = output_buffer(vals.len());
            states.advance(
                &DecayRows::new(vals, mask, decay),
                offset,
                vals.len(),
                &mut out,
            );
            offset += vals.len();
            PrimitiveArray::from_vec(out).with_validity(array.validity().cloned())
        })
        .collect();
    Float64Chunked::from_chunk_iter(name, arrays)
}

/// `rule`'s scores of every chunk, in order: one column per number of the
/// state.
fn rule_chunks(
    method: &str,
    rule: &Rule,
    values: &Float64Chunked,
    inputs: &[Float64Chunked],
    states: &mut States<'_>,
    name: PlSmallStr,
) -> PolarsResult<Vec<Float64Chunked>> {
    let width = rule.program().states();
    let mut arrays: Vec<Vec<PrimitiveArray<f64>>> = vec![Vec::new(); width];
    each_chunk(method, rule, values, inputs, |rows, offset, validity| {
        let len = rows.row_count();
        let scores = match width {
            1 => {
                let mut out = output_buffer(len);
                states.advance(rows, offset, len, &mut out);
                vec![out]
            }
            _ => states.advance_columns(rows, offset, len),
        };
        for (column, scores) in arrays.iter_mut().zip(scores) {
            column.push(PrimitiveArray::from_vec(scores).with_validity(validity.cloned()));
        }
    })?;
    Ok(arrays
        .into_iter()
        .map(|column| Float64Chunked::from_chunk_iter(name.clone(), column))
        .collect())
}

/// Advances `states` by every row of `values` by `rule`, keeping no scores:
/// a fold.
pub fn fold_rule(
    method: &str,
    rule: &Rule,
    values: &Series,
    inputs: &[Float64Chunked],
    states: &mut States<'_>,
) -> PolarsResult<()> {
    ensure_numeric(method, values.field().as_ref())?;
    let values = values.cast(&DataType::Float64)?;
    each_chunk(method, rule, values.f64()?, inputs, |rows, offset, _| {
        states.skip(rows, offset, rows.row_count())
    })
}

/// Binds `rule` to each chunk of `values` in turn, each input cut at the
/// chunk's rows and a row null where the value or any input is, and hands
/// `each` the bound rows, the chunk's first row in the column and its
/// validity.
fn each_chunk(
    method: &str,
    rule: &Rule,
    values: &Float64Chunked,
    inputs: &[Float64Chunked],
    mut each: impl FnMut(&RuleRows<'_>, usize, Option<&Bitmap>),
) -> PolarsResult<()> {
    let mut offset = 0;
    for array in values.downcast_iter() {
        let len = array.len();
        let columns: Vec<Float64Chunked> = inputs
            .iter()
            .map(|c| c.slice(offset as i64, len).rechunk().into_owned())
            .collect();
        let columns: Vec<&PrimitiveArray<f64>> =
            columns.iter().map(|c| c.downcast_as_array()).collect();
        let validity = columns
            .iter()
            .fold(array.validity().cloned(), |valid, input| {
                combine_validities_and(valid.as_ref(), input.validity())
            });
        // The kernels read a mask only where some row is null.
        let mask = validity
            .as_ref()
            .filter(|v| v.unset_bits() > 0)
            .map(|bitmap| {
                let (bytes, offset, _) = bitmap.as_slice();
                ValidMask::new(bytes, offset)
            });
        let slices: Vec<&[f64]> = columns
            .iter()
            .map(|input| input.values().as_slice())
            .collect();
        let rows = (rule.rows(array.values(), &slices, mask))
            .map_err(|e| polars_err!(ComputeError: "{method}: {e}"))?;
        each(&rows, offset, validity.as_ref());
        offset += len;
    }
    Ok(())
}
