//! Per-key rolling-score states that outlive one call: the streaming driver
//! (`polars_scores.stateful`) scores ordered batches through one
//! [`DenseKeyStates`], which keeps each integer key's state in an array
//! indexed by key, so a batch is one gather, score and scatter in Rust.

use polars::prelude::*;
use pyo3::prelude::*;
use pyo3_polars::error::PyPolarsErr;
use pyo3_polars::PySeries;

use crate::kernels::key_range::slots;
use crate::kernels::rolling_score::{rolling_score_grouped, Decay};
use crate::numeric::{all_rows, ensure_numeric, output_buffer, with_numeric};

const METHOD: &str = "RollingScorer.score";

/// Slots the store may take whatever the key count (512 KiB).
const MIN_SLOTS: usize = 1 << 16;
/// Slots it may take per key seen and per row of the batch.
const SLACK: usize = 4;
/// Keys beyond ±this are not indexed (their differences could overflow).
const INDEXABLE: i64 = 1 << 62;

/// The states of one integer key column: slot 0 holds the null key's state,
/// slot `1 + key - offset` key `key`'s. A slot starts at `initial`, the
/// state of a key before its first row, so a gather needs no "not seen yet"
/// case; `seen` marks the slots of keys met, for the count that bounds the
/// store's size and for [`DenseKeyStates::export`].
#[pyclass(module = "polars_scores._internal")]
pub struct DenseKeyStates {
    decay: Decay,
    initial: f64,
    states: Vec<f64>,
    seen: Vec<bool>,
    offset: i64,
}

#[pymethods]
impl DenseKeyStates {
    #[new]
    fn new(rise: f64, fall: f64, initial: f64) -> Self {
        Self {
            decay: Decay { rise, fall },
            initial,
            states: vec![initial],
            seen: vec![false],
            offset: 0,
        }
    }

    /// The rolling scores of one batch, named `name`, each key going on from
    /// the state the previous batches left it; `None` (and no state changed)
    /// when the batch's keys are too far apart to index, and the caller
    /// should carry on with [`DenseKeyStates::export`]ed states instead.
    fn score(
        &mut self,
        py: Python<'_>,
        keys: PySeries,
        values: PySeries,
        name: &str,
    ) -> PyResult<Option<PySeries>> {
        let (keys, values) = (keys.0, values.0);
        let scored = py.detach(|| self.score_batch(&keys, &values, name));
        Ok(scored.map_err(PyPolarsErr::from)?.map(PySeries))
    }

    /// The states so far: each key met (Int64) with its state, and the null
    /// key's state if a null key was met.
    fn export(&self) -> (PySeries, PySeries, Option<f64>) {
        let slots = (1..self.states.len()).filter(|&slot| self.seen[slot]);
        let keys: Vec<i64> = slots.clone().map(|slot| self.key_at(slot)).collect();
        let states: Vec<f64> = slots.map(|slot| self.states[slot]).collect();
        let null_key = self.seen[0].then_some(self.states[0]);
        (
            PySeries(Series::new("key".into(), keys)),
            PySeries(Series::new("state".into(), states)),
            null_key,
        )
    }
}

impl DenseKeyStates {
    fn key_at(&self, slot: usize) -> i64 {
        self.offset + (slot as i64 - 1)
    }

    fn score_batch(
        &mut self,
        keys: &Series,
        values: &Series,
        name: &str,
    ) -> PolarsResult<Option<Series>> {
        polars_ensure!(
            keys.len() == values.len(),
            ShapeMismatch: "{METHOD}: key column '{}' has {} rows but value column '{}' has {}",
            keys.name(), keys.len(), values.name(), values.len()
        );
        polars_ensure!(
            keys.dtype().is_integer(),
            InvalidOperation: "{METHOD}: key column '{}' has dtype {}; expected an integer column",
            keys.name(), keys.dtype()
        );
        // Before any state changes, so an error leaves the store as it was.
        ensure_numeric(METHOD, values.field().as_ref())?;
        let Some(ids) = self.slot_ids(keys)? else {
            return Ok(None);
        };
        let values = values.rechunk();
        let scores = with_numeric!(METHOD, &values, |ca| {
            let array = ca.downcast_as_array();
            let (vals, mask) = all_rows(array);
            let mut out = output_buffer(vals.len());
            rolling_score_grouped(vals, mask, &ids, &mut self.states, self.decay, &mut out);
            Float64Chunked::from_vec_validity(name.into(), out, array.validity().cloned())
        });
        Ok(Some(scores.into_series()))
    }

    /// Each row's slot, after widening the store to the batch's keys; `None`
    /// if that would take more than [`SLACK`] slots per key and row.
    fn slot_ids(&mut self, keys: &Series) -> PolarsResult<Option<Vec<u32>>> {
        let (Some(low), Some(high)) = (keys.min::<i128>()?, keys.max::<i128>()?) else {
            // Only null keys.
            self.seen[0] |= !keys.is_empty();
            return Ok(Some(vec![0; keys.len()]));
        };
        if low < -i128::from(INDEXABLE) || high > i128::from(INDEXABLE) {
            return Ok(None);
        }
        if !self.make_room(low as i64, high as i64, keys.len()) {
            return Ok(None);
        }
        let keys = keys.cast(&DataType::Int64)?.rechunk();
        let keys = keys.i64()?.downcast_as_array();
        let (keys, mask) = all_rows(keys);
        let mut ids = output_buffer(keys.len());
        slots(
            keys,
            mask,
            self.offset,
            &mut ids.spare_capacity_mut()[..keys.len()],
        );
        // SAFETY: `slots` wrote one slot per key.
        unsafe { ids.set_len(keys.len()) };
        for &id in &ids {
            self.seen[id as usize] = true;
        }
        Ok(Some(ids))
    }

    /// Makes slots for keys `low..=high`, unless the store would then take
    /// more than its allowance; false (and nothing changed) in that case.
    fn make_room(&mut self, low: i64, high: i64, batch_rows: usize) -> bool {
        let size = self.states.len() - 1;
        let end = self.offset + size as i64;
        if size > 0 && low >= self.offset && high < end {
            return true;
        }
        let (low, high) = if size > 0 {
            (low.min(self.offset), high.max(end - 1))
        } else {
            (low, high)
        };
        let needed = (i128::from(high) - i128::from(low) + 1) as usize;
        let known = self.seen.iter().filter(|&&seen| seen).count();
        let allowed = MIN_SLOTS.max(SLACK * (known + batch_rows));
        if needed > allowed || needed >= u32::MAX as usize {
            return false;
        }
        // Spare slots above when the keys rise, so that keys in increasing
        // order do not copy the states at every batch.
        let rising = size == 0 || high >= end;
        let spare = if rising {
            needed.min(allowed - needed)
        } else {
            0
        };
        let spare = spare.min(u32::MAX as usize - 1 - needed);
        let mut states = vec![self.initial; 1 + needed + spare];
        let mut seen = vec![false; 1 + needed + spare];
        states[0] = self.states[0];
        seen[0] = self.seen[0];
        if size > 0 {
            let at = 1 + (self.offset - low) as usize;
            states[at..at + size].copy_from_slice(&self.states[1..]);
            seen[at..at + size].copy_from_slice(&self.seen[1..]);
        }
        self.states = states;
        self.seen = seen;
        self.offset = low;
        true
    }
}
