//! The store for a stream sorted by key (Spark's partitions): only the last
//! key's state, since every earlier key is finished.

use std::cmp::Ordering;

use polars::prelude::*;

use crate::kernels::key_table::{compare, decode, BatchGroups, Cell, Codec, EncodedRows};

/// The keys of a sorted stream, and how to show them in an error.
pub struct KeyOrder<'a> {
    pub method: &'a str,
    pub codecs: &'a [Codec],
    pub keys: &'a [Series],
}

impl KeyOrder<'_> {
    fn order(&self, a: &[u8], b: &[u8]) -> PolarsResult<Ordering> {
        compare(self.codecs, a, b).ok_or_else(|| {
            polars_err!(
                ComputeError: "{}: a key could not be read back (a bug: please report it)",
                self.method
            )
        })
    }

    /// A key as its values: `"a"`, `(1, null)`.
    fn show(&self, key: &[u8]) -> String {
        let Some(cells) = decode(self.codecs, key) else {
            return "?".into();
        };
        let shown: Vec<String> = cells
            .iter()
            .map(|cell| match cell {
                Cell::Null => "null".into(),
                Cell::Int(v) => v.to_string(),
                Cell::HugeUint(v) => v.to_string(),
                Cell::Float(v) => v.to_string(),
                Cell::Bool(v) => v.to_string(),
                Cell::Bytes(v) => format!("{:?}", String::from_utf8_lossy(v)),
            })
            .collect();
        match shown.as_slice() {
            [one] => one.clone(),
            _ => format!("({})", shown.join(", ")),
        }
    }

    fn names(&self) -> String {
        let names: Vec<String> = self
            .keys
            .iter()
            .map(|k| format!("'{}'", k.name()))
            .collect();
        names.join(", ")
    }
}

/// The state of the last key of a stream sorted by key: every earlier key
/// is finished, so its state is never needed again.
#[derive(Default)]
pub struct SortedKeyStates {
    last: Option<(Vec<u8>, Vec<f64>)>,
    /// Scratch space kept from batch to batch.
    groups: BatchGroups,
    batch_states: Vec<f64>,
}

impl SortedKeyStates {
    /// The scores of the rows whose keys `rows` holds, by `score`, given
    /// each row's state; an error if a key comes before the one it follows.
    pub fn score_batch(
        &mut self,
        rows: &EncodedRows,
        order: &KeyOrder<'_>,
        initial: &[f64],
        score: impl FnOnce(&[u32], &mut [f64]) -> PolarsResult<Series>,
    ) -> PolarsResult<Series> {
        self.groups.by_runs(rows);
        let runs = &self.groups.first_rows;
        // Each run's key must follow the one before (and the first run's
        // the last key of the earlier batches, or be that key).
        let mut previous = self.last.as_ref().map(|(key, _)| key.as_slice());
        let mut continues = false;
        for &row in runs {
            let key = rows.row(row as usize);
            if let Some(before) = previous {
                match order.order(before, key)? {
                    Ordering::Less => {}
                    Ordering::Equal => continues = true,
                    Ordering::Greater => polars_bail!(
                        InvalidOperation:
                        "{}: the scorer was told that the batches arrive sorted by the key \
                         columns ({}), but key {} comes after key {}; sort by the keys (nulls \
                         first), or score without key_sorted",
                        order.method, order.names(), order.show(key), order.show(before)
                    ),
                }
            }
            previous = Some(key);
        }
        let width = initial.len();
        self.batch_states.clear();
        for _ in runs {
            self.batch_states.extend_from_slice(initial);
        }
        if let (true, Some((_, state))) = (continues, &self.last) {
            self.batch_states[..width].copy_from_slice(state);
        }
        let scores = score(&self.groups.ids, &mut self.batch_states)?;
        let last_state = self.batch_states.len().checked_sub(width);
        if let (Some(&row), Some(at)) = (runs.last(), last_state) {
            let key = self.last.get_or_insert_with(Default::default);
            key.0.clear();
            key.0.extend_from_slice(rows.row(row as usize));
            key.1.clear();
            key.1.extend_from_slice(&self.batch_states[at..]);
        }
        Ok(scores)
    }

    /// 1 once a key was met, else 0.
    pub fn len(&self) -> usize {
        usize::from(self.last.is_some())
    }

    pub fn heap_bytes(&self) -> usize {
        self.last.as_ref().map_or(0, |(key, _)| key.capacity())
    }
}
