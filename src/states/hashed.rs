//! The store for any keys: hash tables of the keys written as bytes, which
//! number them; the states sit in an array indexed by that number.

use hashbrown::DefaultHashBuilder;
use polars::prelude::*;

use super::dense::DenseKeyStates;
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
    /// Each row's key's number, kept from batch to batch.
    numbers: Vec<u32>,
}

impl HashedKeyStates {
    pub fn new() -> Self {
        Self {
            hasher: DefaultHashBuilder::default(),
            keys: ShardedKeys::default(),
            states: Vec::new(),
            numbers: Vec::new(),
        }
    }

    /// The states of `dense`, moved into hash tables.
    pub fn from_dense(dense: &DenseKeyStates) -> Self {
        let mut hashed = Self::new();
        let mut key = Vec::new();
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
    /// [`PIECE_ROWS`]), by `score`, given each row's state; a key met for
    /// the first time starts at `initial` (a state's numbers).
    pub fn score_piece(
        &mut self,
        method: &str,
        rows: &EncodedRows,
        initial: &[f64],
        score: impl FnOnce(&[u32], &mut [f64]) -> PolarsResult<Series>,
    ) -> PolarsResult<Series> {
        polars_ensure!(
            self.keys.len() + rows.len() <= u32::MAX as usize,
            ComputeError: "{method}: more than {} distinct keys", u32::MAX
        );
        self.keys.number_rows(rows, &self.hasher, &mut self.numbers);
        while self.states.len() < self.keys.len() * initial.len() {
            self.states.extend_from_slice(initial);
        }
        score(&self.numbers, &mut self.states)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes() + self.states.capacity() * std::mem::size_of::<f64>()
    }
}
