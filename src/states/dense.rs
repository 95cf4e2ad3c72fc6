//! The store for one integer key column whose keys lie close together: an
//! array indexed by key, no hashing at all.

use polars::prelude::*;

use super::firsts::append_widened;
use crate::kernels::key_range::{dense_slot_count, slots, Density};
use crate::kernels::output::filled;
use crate::numeric::all_rows;

/// Keys beyond ±this are not indexed (their differences could overflow).
const INDEXABLE: i64 = 1 << 62;

/// The states of one integer key column: slot 0 holds the null key's state,
/// slot `1 + key - offset` key `key`'s, each state `initial.len()` numbers
/// side by side. A slot starts at `initial`, the state of a key before its
/// first row, so a gather needs no "not seen yet" case; `seen` marks the
/// slots of keys met, for the count that bounds the store's size and for
/// [`DenseKeyStates::export`].
pub struct DenseKeyStates {
    initial: Vec<f64>,
    states: Vec<f64>,
    seen: Vec<bool>,
    offset: i64,
    /// The key column's name and the dtype that holds its keys in every
    /// batch so far (Int32 then Int64 is Int64), an empty column: what
    /// [`Self::export_columns`] gives the keys back as.
    key: Option<Series>,
}

impl DenseKeyStates {
    pub fn new(initial: &[f64]) -> Self {
        Self {
            initial: initial.to_vec(),
            states: initial.to_vec(),
            seen: vec![false],
            offset: 0,
            key: None,
        }
    }

    pub fn len(&self) -> usize {
        self.seen.iter().filter(|&&seen| seen).count()
    }

    pub fn heap_bytes(&self) -> usize {
        self.states.capacity() * std::mem::size_of::<f64>() + self.seen.capacity()
    }

    /// Each key met (`None` for the null key) with its state.
    pub fn export(&self) -> impl Iterator<Item = (Option<i64>, &[f64])> + '_ {
        let width = self.initial.len();
        (0..self.seen.len())
            .filter(|&slot| self.seen[slot])
            .map(move |slot| {
                let state = &self.states[slot * width..(slot + 1) * width];
                ((slot > 0).then(|| self.key_at(slot)), state)
            })
    }

    fn key_at(&self, slot: usize) -> i64 {
        self.offset + (slot as i64 - 1)
    }

    /// Every key met, as a key column in its dtype, and its state, a column
    /// per name (a state's numbers), keys in ascending order after the null
    /// key.
    pub fn export_columns(&self, names: &[String]) -> (Vec<Series>, Vec<Series>) {
        let (keys, states): (Vec<Option<i64>>, Vec<&[f64]>) = self.export().unzip();
        let Some(key) = &self.key else {
            return (Vec::new(), state_columns(&[], names));
        };
        let integers = Int64Chunked::from_iter_options(key.name().clone(), keys.into_iter());
        let column = integers
            .into_series()
            .cast(key.dtype())
            .unwrap_or_else(|_| Series::full_null(key.name().clone(), states.len(), key.dtype()));
        (vec![column], state_columns(&states.concat(), names))
    }

    /// The batch's scores by `score`, given each row's state, each key going
    /// on from its state; `None` (and no state changed) when the keys are
    /// not integers of at most 64 bits, or too far apart to index.
    pub fn score_batch(
        &mut self,
        keys: &Series,
        score: impl FnOnce(&[u32], &mut [f64]) -> PolarsResult<Series>,
    ) -> PolarsResult<Option<Series>> {
        if !indexable(keys.dtype()) {
            return Ok(None);
        }
        let Some(ids) = self.slot_ids(keys)? else {
            return Ok(None);
        };
        for &id in &ids {
            self.seen[id as usize] = true;
        }
        self.widen_key(keys);
        score(&ids, &mut self.states).map(Some)
    }

    /// Gives the keys of `keys` the states `states` (one column per number
    /// of a state), each a key not met before: `Ok(None)` when the keys are
    /// not integers this store indexes (and nothing changed), `Ok(Some(row))`
    /// at the first row whose key was met before (or at an earlier row),
    /// whose state is then left as it was.
    pub fn load(
        &mut self,
        keys: &Series,
        states: &[&[f64]],
    ) -> PolarsResult<Option<Option<usize>>> {
        if !indexable(keys.dtype()) {
            return Ok(None);
        }
        let Some(ids) = self.slot_ids(keys)? else {
            return Ok(None);
        };
        self.widen_key(keys);
        let width = self.initial.len();
        for (row, &id) in ids.iter().enumerate() {
            let slot = id as usize;
            if std::mem::replace(&mut self.seen[slot], true) {
                return Ok(Some(Some(row)));
            }
            for (at, column) in states.iter().enumerate() {
                self.states[slot * width + at] = column[row];
            }
        }
        Ok(Some(None))
    }

    /// Keeps the dtype that holds the keys of `keys` and those before.
    fn widen_key(&mut self, keys: &Series) {
        let empty = keys.clear();
        match &mut self.key {
            None => self.key = Some(empty),
            Some(kept) => {
                // Integers and nulls always have a common dtype.
                let _ = append_widened("", kept, empty);
            }
        }
    }

    /// Each row's slot, after widening the store to the batch's keys; `None`
    /// if that would take more slots than [`Density::ACROSS_BATCHES`] allows.
    fn slot_ids(&mut self, keys: &Series) -> PolarsResult<Option<Vec<u32>>> {
        let range = key_range(keys)?;
        let Some((low, high)) = range else {
            // Only null keys.
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
        Ok(Some(filled(keys.len(), |out| {
            slots(keys, mask, self.offset, out)
        })))
    }

    /// Makes slots for keys `low..=high`, unless they are not dense enough
    /// for the keys met and the batch's rows; false (and nothing changed)
    /// in that case.
    fn make_room(&mut self, low: i64, high: i64, batch_rows: usize) -> bool {
        let width = self.initial.len();
        let size = self.seen.len() - 1;
        let end = self.offset + size as i64;
        if size > 0 && low >= self.offset && high < end {
            return true;
        }
        let (low, high) = if size > 0 {
            (low.min(self.offset), high.max(end - 1))
        } else {
            (low, high)
        };
        let rows = self.len() + batch_rows;
        let density = Density::ACROSS_BATCHES;
        let Some(slots) = dense_slot_count(low, high, rows, density) else {
            return false;
        };
        // The slots of keys `low..=high`, without the null key's.
        let needed = slots - 1;
        // Spare slots above when the keys rise, so that keys in increasing
        // order do not copy the states at every batch.
        let rising = size == 0 || high >= end;
        let spare = if rising {
            needed.min(density.allowance(rows) - needed)
        } else {
            0
        };
        let spare = spare.min(u32::MAX as usize - 1 - needed);
        let mut states = self.initial.repeat(1 + needed + spare);
        let mut seen = vec![false; 1 + needed + spare];
        states[..width].copy_from_slice(&self.states[..width]);
        seen[0] = self.seen[0];
        if size > 0 {
            let at = 1 + (self.offset - low) as usize;
            states[at * width..(at + size) * width].copy_from_slice(&self.states[width..]);
            seen[at..at + size].copy_from_slice(&self.seen[1..]);
        }
        self.states = states;
        self.seen = seen;
        self.offset = low;
        true
    }
}

/// The states (each `names.len()` numbers side by side) as a column per name.
pub fn state_columns(states: &[f64], names: &[String]) -> Vec<Series> {
    let width = names.len().max(1);
    (names.iter().enumerate())
        .map(|(at, name)| {
            let numbers: Vec<f64> = states.iter().skip(at).step_by(width).copied().collect();
            Float64Chunked::from_vec(name.into(), numbers).into_series()
        })
        .collect()
}

/// Whether keys of `dtype` can index slots: integers of at most 64 bits,
/// or all null.
fn indexable(dtype: &DataType) -> bool {
    dtype.is_null()
        || (dtype.is_integer() && !matches!(dtype, DataType::Int128 | DataType::UInt128))
}

/// The smallest and the largest key of an integer or Null column, `None`
/// if all are null: in one pass for the usual Int64 column without nulls.
fn key_range(keys: &Series) -> PolarsResult<Option<(i128, i128)>> {
    if keys.dtype().is_null() {
        return Ok(None);
    }
    if let (DataType::Int64, 0) = (keys.dtype(), keys.null_count()) {
        let range = crate::keys::key_range(keys.i64()?, 1);
        return Ok(range.map(|(low, high)| (low.into(), high.into())));
    }
    Ok(keys.min::<i128>()?.zip(keys.max::<i128>()?))
}
