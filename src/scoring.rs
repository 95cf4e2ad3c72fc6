//! Scoring a column by a recurrence, chunk by chunk: the one path that the
//! expressions (`scores.rolling`, `scores.scan`) and the per-key states of
//! `states` share. A [`Step`] binds each chunk of the values to its
//! recurrence (the rolling score or a compiled rule), and
//! [`States::advance`] runs it, serially or on threads, for one series or
//! per key.

use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;
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

    /// The scores of `values` (any numeric dtype), named `name`, advancing
    /// `states` row by row and chunk by chunk. A rule reads `inputs` too
    /// (Float64 columns as long as `values`), and its row is null where the
    /// value or any input is. The output keeps the values' chunks.
    pub fn score(
        &self,
        method: &str,
        values: &Series,
        inputs: &[Float64Chunked],
        states: &mut States<'_>,
        name: PlSmallStr,
    ) -> PolarsResult<Float64Chunked> {
        match self {
            Step::Decay(decay) => Ok(with_numeric!(method, values, |ca| {
                decay_chunks(ca, *decay, states, name)
            })),
            Step::Rule(rule) => {
                ensure_numeric(method, values.field().as_ref())?;
                // As Python's float().
                let values = values.cast(&DataType::Float64)?;
                rule_chunks(method, rule, values.f64()?, inputs, states, name)
            }
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

/// `rule`'s scores of every chunk, in order, each input cut at the chunk's
/// rows.
fn rule_chunks(
    method: &str,
    rule: &Rule,
    values: &Float64Chunked,
    inputs: &[Float64Chunked],
    states: &mut States<'_>,
    name: PlSmallStr,
) -> PolarsResult<Float64Chunked> {
    let mut arrays = Vec::with_capacity(values.chunks().len());
    let mut offset = 0;
    for array in values.downcast_iter() {
        let len = array.len();
        let columns: Vec<Float64Chunked> = inputs
            .iter()
            .map(|c| c.slice(offset as i64, len).rechunk().into_owned())
            .collect();
        let columns: Vec<&PrimitiveArray<f64>> =
            columns.iter().map(|c| c.downcast_as_array()).collect();
        let scored = rule_scores(method, rule, array, &columns, |rows, out| {
            states.advance(rows, offset, len, out)
        })?;
        offset += len;
        arrays.push(scored);
    }
    Ok(Float64Chunked::from_chunk_iter(name, arrays))
}

/// One chunk scored by `rule`: the rule bound to `values` and its `inputs`
/// (arrays as long), a row null where the value or any input is, and
/// `score` given the bound rows and the output buffer to fill.
fn rule_scores(
    method: &str,
    rule: &Rule,
    values: &PrimitiveArray<f64>,
    inputs: &[&PrimitiveArray<f64>],
    score: impl FnOnce(&RuleRows<'_>, &mut Vec<f64>),
) -> PolarsResult<PrimitiveArray<f64>> {
    let validity = inputs
        .iter()
        .fold(values.validity().cloned(), |valid, input| {
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
    let slices: Vec<&[f64]> = inputs
        .iter()
        .map(|input| input.values().as_slice())
        .collect();
    let rows = (rule.rows(values.values(), &slices, mask))
        .map_err(|e| polars_err!(ComputeError: "{method}: {e}"))?;
    let mut out = output_buffer(values.len());
    score(&rows, &mut out);
    Ok(PrimitiveArray::from_vec(out).with_validity(validity))
}
