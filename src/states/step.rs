//! The per-batch step: every check on a batch, then the store that holds
//! its keys' states scores it by the store's [`Step`].

use polars::prelude::*;

use super::dense::DenseKeyStates;
use super::encoding::{checked_kinds, encode_rows, KeyKind};
use super::hashed::{HashedKeyStates, PIECE_ROWS};
use super::sorted::{KeyOrder, SortedKeyStates};
use crate::kernels::key_table::{Codec, EncodedRows};
use crate::kernels::scan::States;
use crate::numeric::{ensure_numeric, ensure_rule_input};
use crate::scoring::{scores_series, Step};

/// Where the states are kept.
pub enum Store {
    Dense(DenseKeyStates),
    Hashed(HashedKeyStates),
    Sorted(SortedKeyStates),
}

/// Every key's state, and what each batch does to them.
pub struct BatchStep {
    /// The public function the user called, which every error names.
    method: String,
    step: Step,
    /// A key's state before its first row.
    initial: Vec<f64>,
    /// The names of a mapping rule's states (a struct of scores).
    fields: Option<Vec<String>>,
    key_sorted: bool,
    /// Each key column's kind, from the first batch whose column is not
    /// all-null (dtype Null); `None` before.
    kinds: Vec<Option<KeyKind>>,
    /// `None` until the first batch, which fixes the number of key columns.
    store: Option<Store>,
    /// Scratch space kept from batch to batch: the batch's keys as bytes,
    /// per column (several columns only) and per row.
    columns: Vec<EncodedRows>,
    rows: EncodedRows,
    /// Why the states can no longer be trusted: a load that failed half
    /// way (a key given a start state twice).
    broken: Option<String>,
    /// Whether the hashed store keeps each key's columns, for an export.
    keep_keys: bool,
}

impl BatchStep {
    /// The public function the user called, which every error names first.
    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn new(
        method: String,
        step: Step,
        initial: Vec<f64>,
        fields: Option<Vec<String>>,
        key_sorted: bool,
        keep_keys: bool,
    ) -> Self {
        Self {
            method,
            step,
            initial,
            fields,
            key_sorted,
            kinds: Vec::new(),
            store: None,
            columns: Vec::new(),
            rows: EncodedRows::default(),
            broken: None,
            keep_keys,
        }
    }

    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// The scores of one batch, named `name`: row `i` belongs to the key
    /// formed by the `keys` columns at row `i`, and each key goes on from
    /// the state the previous batches left it. A rule reads its `inputs`.
    /// Every check comes before any state changes, so an error leaves the
    /// states as they were.
    pub fn score_batch(
        &mut self,
        keys: &[Series],
        values: &Series,
        inputs: &[Series],
        name: &str,
    ) -> PolarsResult<Series> {
        self.ensure_whole()?;
        let method = self.method.as_str();
        ensure_numeric(method, values.field().as_ref())?;
        for input in inputs {
            ensure_rule_input(method, input.field().as_ref())?;
        }
        let reads = self.step.inputs();
        polars_ensure!(
            inputs.len() == reads,
            InvalidOperation: "{method}: the rule reads {reads} input columns, {} came", inputs.len()
        );
        for column in keys.iter().chain(inputs) {
            polars_ensure!(
                column.len() == values.len(),
                ShapeMismatch: "{method}: column '{}' has {} rows but value column '{}' has {}",
                column.name(), column.len(), values.name(), values.len()
            );
        }
        polars_ensure!(
            values.len() <= u32::MAX as usize,
            InvalidOperation: "{method}: a batch may hold at most {} rows, this one has {}",
            u32::MAX, values.len()
        );
        let kinds = self.key_kinds(keys)?;
        polars_ensure!(!keys.is_empty(), InvalidOperation: "{method}: no key column");
        // As Python's float(), for a rule.
        let inputs = (inputs.iter())
            .map(|input| Ok(input.cast(&DataType::Float64)?.f64()?.clone()))
            .collect::<PolarsResult<Vec<_>>>()?;

        polars_ensure!(
            self.initial.len() == self.step.width(),
            InvalidOperation: "{method}: {} starts for {} states", self.initial.len(), self.step.width()
        );
        let Self {
            step,
            initial,
            fields,
            key_sorted,
            kinds: kept_kinds,
            store,
            columns,
            rows,
            keep_keys,
            ..
        } = self;
        let keep_keys = *keep_keys;
        let store = store.get_or_insert_with(|| new_store(*key_sorted, keep_keys, keys, initial));
        *kept_kinds = kinds;
        let initial = initial.as_slice();
        let score = |values: &Series,
                     inputs: &[Float64Chunked],
                     ids: &[u32],
                     states: &mut [f64]|
         -> PolarsResult<Series> {
            let mut states = States::PerKey { ids, states };
            let scores = step.score(method, values, inputs, &mut states, name.into())?;
            scores_series(method, scores, name.into(), fields.as_deref())
        };
        loop {
            match store {
                Store::Dense(dense) => {
                    let scored = dense
                        .score_batch(&keys[0], |ids, states| score(values, &inputs, ids, states))?;
                    if let Some(scores) = scored {
                        return Ok(scores);
                    }
                    // Keys too far apart to index, or not integers: on in a hash table.
                    *store = Store::Hashed(HashedKeyStates::from_dense(dense, keep_keys));
                }
                Store::Hashed(hashed) => {
                    // Its scratch space grows with the rows of a call: a long
                    // batch goes through in pieces, so that memory is bounded
                    // whatever the batch size.
                    let mut piece = |start: usize| -> PolarsResult<Series> {
                        let cut = |column: &Series| column.slice(start as i64, PIECE_ROWS);
                        let keys: Vec<Series> = keys.iter().map(cut).collect();
                        let values = cut(values);
                        let inputs: Vec<Float64Chunked> = (inputs.iter())
                            .map(|input| input.slice(start as i64, PIECE_ROWS))
                            .collect();
                        encode_rows(method, &keys, columns, rows)?;
                        hashed.score_piece(method, rows, &keys, initial, |ids, states| {
                            score(&values, &inputs, ids, states)
                        })
                    };
                    let mut scores = piece(0)?;
                    for start in (PIECE_ROWS..values.len()).step_by(PIECE_ROWS) {
                        scores.append(&piece(start)?)?;
                    }
                    return Ok(scores);
                }
                Store::Sorted(sorted) => {
                    encode_rows(method, keys, columns, rows)?;
                    let codecs: Vec<Codec> = (kept_kinds.iter())
                        .map(|kind| kind.as_ref().and_then(KeyKind::codec).unwrap_or(Codec::Int))
                        .collect();
                    let order = KeyOrder {
                        method,
                        codecs: &codecs,
                        keys,
                    };
                    return sorted.score_batch(rows, &order, initial, |ids, states| {
                        score(values, &inputs, ids, states)
                    });
                }
            }
        }
    }
}

impl BatchStep {
    /// An error once a failed load left the states incomplete.
    fn ensure_whole(&self) -> PolarsResult<()> {
        match &self.broken {
            None => Ok(()),
            Some(problem) => polars_bail!(
                InvalidOperation: "{}: {problem}; the states are incomplete, start a new scorer",
                self.method
            ),
        }
    }

    /// The kinds of the key columns after `keys`, checked against those of
    /// the batches before, and, with `key_sorted`, that they can be ordered.
    fn key_kinds(&self, keys: &[Series]) -> PolarsResult<Vec<Option<KeyKind>>> {
        let method = self.method.as_str();
        let before = self.store.as_ref().map(|_| self.kinds.as_slice());
        let kinds = checked_kinds(method, before, keys)?;
        if self.key_sorted {
            let unordered = (keys.iter().zip(&kinds))
                .find(|(_, kind)| kind.as_ref().is_some_and(|kind| kind.codec().is_none()));
            if let Some((key, _)) = unordered {
                polars_bail!(
                    InvalidOperation:
                    "{method}: key column '{}' has dtype {}, but with key_sorted each key must \
                     be checked to follow the one before, and only flat keys (numbers, strings, \
                     booleans, binary, temporal values) have an order here that matches how \
                     Polars sorts them; score structs, lists, arrays and extension types \
                     without key_sorted",
                    key.name(), key.dtype()
                );
            }
        }
        Ok(kinds)
    }

    /// Gives each key of the `keys` columns the state in the `states`
    /// columns (one per number of a state) at its row, as if its earlier
    /// rows had left it there: keys not met yet, each once. Every check on
    /// the columns comes first; a key met before (or given twice) is an
    /// error that leaves the states incomplete, and every later call fails.
    pub fn load(&mut self, keys: &[Series], states: &[Series]) -> PolarsResult<()> {
        self.ensure_whole()?;
        let method = self.method.as_str();
        polars_ensure!(
            !self.key_sorted,
            InvalidOperation:
            "{method}: with key_sorted only the current key's state is kept, so it takes no \
             start states; score without key_sorted"
        );
        let width = self.step.width();
        polars_ensure!(
            states.len() == width,
            ShapeMismatch: "{method}: {} start state columns came for {width} numbers of a state",
            states.len()
        );
        polars_ensure!(!keys.is_empty(), InvalidOperation: "{method}: no key column");
        let rows = keys[0].len();
        for column in keys.iter().chain(states) {
            polars_ensure!(
                column.len() == rows,
                ShapeMismatch: "{method}: start state column '{}' has {} rows, key column '{}' {rows}",
                column.name(), column.len(), keys[0].name()
            );
        }
        let numbers = (states.iter())
            .map(|column| {
                ensure_numeric(method, column.field().as_ref())?;
                polars_ensure!(
                    column.null_count() == 0,
                    InvalidOperation: "{method}: start state column '{}' has {} nulls; a state is a number",
                    column.name(), column.null_count()
                );
                Ok(column.cast(&DataType::Float64)?.f64()?.rechunk().into_owned())
            })
            .collect::<PolarsResult<Vec<Float64Chunked>>>()?;
        let numbers: Vec<&[f64]> = (numbers.iter())
            .map(|column| column.cont_slice())
            .collect::<PolarsResult<_>>()?;
        let kinds = self.key_kinds(keys)?;
        polars_ensure!(
            rows <= u32::MAX as usize,
            InvalidOperation: "{method}: at most {} start states, {rows} came", u32::MAX
        );
        let Self {
            initial,
            kinds: kept_kinds,
            store,
            columns,
            rows: encoded,
            keep_keys,
            ..
        } = self;
        let keep_keys = *keep_keys;
        let store = store.get_or_insert_with(|| new_store(false, keep_keys, keys, initial));
        *kept_kinds = kinds;
        let twice = loop {
            match store {
                Store::Dense(dense) => match dense.load(&keys[0], &numbers)? {
                    Some(twice) => break twice,
                    None => *store = Store::Hashed(HashedKeyStates::from_dense(dense, keep_keys)),
                },
                Store::Hashed(hashed) => {
                    let mut twice = None;
                    hashed.reserve(rows, initial.len());
                    // An empty load too, which starts the key columns kept.
                    for start in (0..rows.max(1)).step_by(PIECE_ROWS) {
                        let end = (start + PIECE_ROWS).min(rows);
                        let piece: Vec<Series> = (keys.iter())
                            .map(|key| key.slice(start as i64, end - start))
                            .collect();
                        let states: Vec<&[f64]> =
                            numbers.iter().map(|column| &column[start..end]).collect();
                        encode_rows(method, &piece, columns, encoded)?;
                        if let Some(row) = hashed.load_piece(method, encoded, &piece, &states)? {
                            twice = Some(start + row);
                            break;
                        }
                    }
                    break twice;
                }
                Store::Sorted(_) => break None,
            }
        };
        if let Some(row) = twice {
            let key: Vec<String> = (keys.iter())
                .map(|key| {
                    key.get(row)
                        .map_or_else(|_| "?".into(), |value| value.to_string())
                })
                .collect();
            let key = match key.as_slice() {
                [one] => one.clone(),
                _ => format!("({})", key.join(", ")),
            };
            let problem = format!("the start states give key {key} a state twice");
            let message = format!("{method}: {problem}");
            self.broken = Some(problem);
            polars_bail!(InvalidOperation: "{message}");
        }
        Ok(())
    }

    /// Every key met and its state: the key columns, then a Float64 column
    /// per name (a state's numbers); `None` before any batch or load.
    pub fn export(&self, names: &[String]) -> PolarsResult<Option<Vec<Series>>> {
        self.ensure_whole()?;
        let method = self.method.as_str();
        let width = self.step.width();
        polars_ensure!(
            names.len() == width,
            ShapeMismatch: "{method}: {} names for {width} numbers of a state", names.len()
        );
        let (keys, states) = match &self.store {
            None => return Ok(None),
            Some(Store::Dense(dense)) => dense.export_columns(names),
            Some(Store::Hashed(hashed)) => hashed.export_columns(method, names)?,
            Some(Store::Sorted(_)) => polars_bail!(
                InvalidOperation:
                "{method}: with key_sorted only the current key's state is kept; score \
                 without key_sorted to have every key's state"
            ),
        };
        Ok(Some([keys, states].concat()))
    }
}

/// The store for a stream's first batch (or load) of `keys`.
fn new_store(key_sorted: bool, keep_keys: bool, keys: &[Series], initial: &[f64]) -> Store {
    match (key_sorted, keys) {
        (true, _) => Store::Sorted(SortedKeyStates::default()),
        (false, [_]) => Store::Dense(DenseKeyStates::new(initial)),
        (false, _) => Store::Hashed(HashedKeyStates::new(keep_keys)),
    }
}
