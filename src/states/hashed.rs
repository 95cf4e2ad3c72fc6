//! The store for any keys: hash tables of the keys written as bytes, which
//! number them; the states sit in an array indexed by that number.

use hashbrown::DefaultHashBuilder;
use polars::prelude::*;

use super::dense::{state_columns, DenseKeyStates};
use super::firsts::FirstRows;
use crate::kernels::key_table::{push_int, push_null, EncodedRows, ShardedKeys};

/// Rows per call of the hash-table store: its scratch space grows with them
/// (about 80 bytes a row), so a longer batch goes through in pieces. Each
/// piece reads the shard tables through once (`KeyTable::warm`), so longer
/// pieces cost less a row: with a million string keys, 256k-row pieces took
/// 46 ns a row and 512k ones (the default 500k-row batch in one) 36.
pub const PIECE_ROWS: usize = 1 << 19;

/// Any keys, one column or several, as bytes in hash tables
/// ([`ShardedKeys`]), which number each key; its state is the `width`
/// numbers at `states[number * width..]`.
pub struct HashedKeyStates {
    hasher: DefaultHashBuilder,
    keys: ShardedKeys,
    states: Vec<f64>,
    /// The key columns at each key's first row, for [`Self::export_columns`];
    /// or why they could not be kept (the key columns' dtypes across batches
    /// have no common dtype), which only an export reports: scoring goes on.
    /// `None` for a stream whose states are never exported, which spares
    /// the copy of each new key (a tenth of the time with a million string
    /// keys in ten million rows).
    firsts: Option<Result<FirstRows, String>>,
    /// Each row's key's number, kept from batch to batch.
    numbers: Vec<u32>,
}

impl HashedKeyStates {
    /// An empty store, which keeps each key's columns if `keep_keys`.
    pub fn new(keep_keys: bool) -> Self {
        Self {
            hasher: DefaultHashBuilder::default(),
            keys: ShardedKeys::default(),
            states: Vec::new(),
            firsts: keep_keys.then(|| Ok(FirstRows::default())),
            numbers: Vec::new(),
        }
    }

    /// The states of `dense`, moved into hash tables.
    pub fn from_dense(dense: &DenseKeyStates, keep_keys: bool) -> Self {
        let mut hashed = Self::new(keep_keys);
        let mut key = Vec::new();
        if keep_keys {
            let (keys, _) = dense.export_columns(&[]);
            hashed.firsts = Some(Ok(FirstRows::from_columns(keys)));
        }
        for (integer, state) in dense.export() {
            key.clear();
            match integer {
                Some(integer) => push_int(&mut key, integer.into()),
                None => push_null(&mut key),
            }
            hashed.keys.number(&key, &hashed.hasher);
            hashed.states.extend_from_slice(state);
        }
        hashed
    }

    /// The scores of the rows whose keys `rows` holds (at most
    /// [`PIECE_ROWS`]; `keys` are those rows' key columns), by `score`,
    /// given each row's state; a key met for the first time starts at
    /// `initial` (a state's numbers).
    pub fn score_piece(
        &mut self,
        method: &str,
        rows: &EncodedRows,
        keys: &[Series],
        initial: &[f64],
        score: impl FnOnce(&[u32], &mut [f64]) -> PolarsResult<Series>,
    ) -> PolarsResult<Series> {
        self.number_rows(method, rows, keys, initial)?;
        score(&self.numbers, &mut self.states)
    }

    /// Gives the keys of `rows` (at most [`PIECE_ROWS`]; `keys` are their
    /// key columns) the states `states` (one column per number of a state),
    /// each a key not met before, numbered in row order; `Some(row)` at the
    /// first row whose key was met before (or at an earlier row), and the
    /// store is then incomplete: the caller refuses every later call.
    pub fn load_piece(
        &mut self,
        method: &str,
        rows: &EncodedRows,
        keys: &[Series],
        states: &[&[f64]],
    ) -> PolarsResult<Option<usize>> {
        self.ensure_room(method, rows.len())?;
        let before = self.keys.len();
        if let Err(row) = self.keys.number_new_rows(rows, &self.hasher) {
            return Ok(Some(row));
        }
        self.states.reserve(rows.len() * states.len());
        for row in 0..rows.len() {
            self.states.extend(states.iter().map(|column| column[row]));
        }
        if let Some(Ok(firsts)) = &mut self.firsts {
            if let Err(error) = firsts.keep_all(method, keys, before) {
                self.firsts = Some(Err(error.to_string()));
            }
        }
        Ok(None)
    }

    /// Room for `more` keys of states of `width` numbers, to be loaded.
    pub fn reserve(&mut self, more: usize, width: usize) {
        self.keys.reserve(more, &self.hasher);
        self.states.reserve(more * width);
    }

    /// Numbers the rows' keys into `numbers`, a key met for the first time
    /// starting at `initial`, and keeps its key columns.
    fn number_rows(
        &mut self,
        method: &str,
        rows: &EncodedRows,
        keys: &[Series],
        initial: &[f64],
    ) -> PolarsResult<()> {
        self.ensure_room(method, rows.len())?;
        let before = self.keys.len();
        self.keys.number_rows(rows, &self.hasher, &mut self.numbers);
        let after = self.keys.len();
        while self.states.len() < after * initial.len() {
            self.states.extend_from_slice(initial);
        }
        if let Some(Ok(firsts)) = &mut self.firsts {
            if let Err(error) = firsts.keep_new(method, keys, &self.numbers, before, after) {
                self.firsts = Some(Err(error.to_string()));
            }
        }
        Ok(())
    }

    /// An error unless `rows` more keys would fit the numbers (`u32`).
    fn ensure_room(&self, method: &str, rows: usize) -> PolarsResult<()> {
        polars_ensure!(
            self.keys.len() + rows <= u32::MAX as usize,
            ComputeError: "{method}: more than {} distinct keys", u32::MAX
        );
        Ok(())
    }

    /// Every key met, as its key columns, and its state, a column per
    /// name (a state's numbers), in the order the keys were met.
    pub fn export_columns(
        &self,
        method: &str,
        names: &[String],
    ) -> PolarsResult<(Vec<Series>, Vec<Series>)> {
        let firsts = match &self.firsts {
            Some(Ok(firsts)) => firsts,
            Some(Err(problem)) => polars_bail!(ComputeError: "{problem}"),
            None => polars_bail!(
                InvalidOperation: "{method}: the states were kept without their keys' values"
            ),
        };
        let states = firsts.in_met_order(state_columns(&self.states, names))?;
        Ok((firsts.chunked_columns(), states))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn heap_bytes(&self) -> usize {
        let firsts = match &self.firsts {
            Some(Ok(firsts)) => firsts.heap_bytes(),
            _ => 0,
        };
        self.keys.heap_bytes() + self.states.capacity() * std::mem::size_of::<f64>() + firsts
    }
}
