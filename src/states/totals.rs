//! Per-key totals of a stream (`polars-scores total`, `total_to_file`): a
//! keyed fold that adds each row's `v ** exponent` (for `v > 0`) to its
//! key's compensated sum, or advances its key's states by a user's rule
//! (`total --rule`), batch after batch. The keys are numbered by the
//! hash-table store's [`ShardedKeys`], as the scoring side's; what is kept
//! is one sum (or state) per key and value column and each key's values at
//! its first row, so memory grows with the keys and the batch, never with
//! the rows.

use hashbrown::DefaultHashBuilder;
use polars::prelude::*;
use pyo3::prelude::*;
use pyo3_polars::PySeries;

use std::sync::Arc;

use super::encoding::{checked_kinds, encode_rows, KeyKind};
use super::firsts::FirstRows;
use super::hashed::PIECE_ROWS;
use super::{compiled, polars_exception};
use crate::kernels::key_table::{EncodedRows, ShardedKeys};
use crate::kernels::positive_power::positive_powers;
use crate::kernels::rule::Rule;
use crate::kernels::scan::States;
use crate::kernels::summation::Compensated;
use crate::numeric::{ensure_numeric, ensure_rule_input};
use crate::scoring::fold_rule;

/// What each key keeps of its rows, per value column.
pub enum Fold {
    /// The compensated sum of `v ** exponent` over the non-null `v > 0`.
    Total { exponent: f64 },
    /// The states of `rule` (a state's numbers side by side), each key
    /// starting at `initial`; the rule reads `inputs` input columns.
    Rule {
        rule: Arc<Rule>,
        initial: Vec<f64>,
        inputs: usize,
    },
}

/// Every key's totals so far, and what each batch adds to them.
pub struct KeyedTotals {
    /// The public function the user called, which every error names.
    method: String,
    fold: Fold,
    /// The number of key columns; without any, every row is one key's.
    key_columns: usize,
    /// Each key column's kind, as `checked_kinds` keeps them; `None` before
    /// the first batch.
    kinds: Option<Vec<Option<KeyKind>>>,
    hasher: DefaultHashBuilder,
    keys: ShardedKeys,
    /// The key columns at each key's first row, in the order the keys were
    /// met: the output's key columns, in their own dtypes.
    firsts: FirstRows,
    /// Per value column, each key's sum, indexed by the key's number.
    sums: Vec<Vec<Compensated>>,
    /// Per value column, each key's states (a rule's fold), side by side in
    /// the order of the keys' numbers.
    states: Vec<Vec<f64>>,
    /// Scratch space kept from batch to batch.
    columns: Vec<EncodedRows>,
    rows: EncodedRows,
    numbers: Vec<u32>,
    terms: Vec<f64>,
}

impl KeyedTotals {
    /// The public function the user called, which every error names first.
    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn new(method: String, fold: Fold, key_columns: usize, value_columns: usize) -> Self {
        Self {
            method,
            fold,
            key_columns,
            kinds: None,
            hasher: DefaultHashBuilder::default(),
            keys: ShardedKeys::default(),
            firsts: FirstRows::default(),
            sums: vec![Vec::new(); value_columns],
            states: vec![Vec::new(); value_columns],
            columns: Vec::new(),
            rows: EncodedRows::default(),
            numbers: Vec::new(),
            terms: Vec::new(),
        }
    }

    /// The number of keys met (1 without key columns).
    pub fn len(&self) -> usize {
        if self.key_columns == 0 {
            1
        } else {
            self.keys.len()
        }
    }

    /// Adds one batch: row `i` of each `values` column to the total (or
    /// the states) of the key formed by the `keys` columns at row `i`; a
    /// rule reads its `inputs` columns too. Every check comes first.
    pub fn add_batch(
        &mut self,
        keys: &[Series],
        values: &[Series],
        inputs: &[Series],
    ) -> PolarsResult<()> {
        let method = self.method.as_str();
        let reads = match &self.fold {
            Fold::Total { .. } => 0,
            Fold::Rule { inputs, .. } => *inputs,
        };
        polars_ensure!(
            keys.len() == self.key_columns && values.len() == self.sums.len() && inputs.len() == reads,
            ShapeMismatch:
            "{method}: {} key, {} value and {} input columns came, expected {}, {} and {reads}",
            keys.len(), values.len(), inputs.len(), self.key_columns, self.sums.len()
        );
        let height = values
            .first()
            .or(keys.first())
            .map_or(0, |column| column.len());
        for value in values {
            ensure_numeric(method, value.field().as_ref())?;
        }
        for input in inputs {
            ensure_rule_input(method, input.field().as_ref())?;
        }
        for column in keys.iter().chain(values).chain(inputs) {
            polars_ensure!(
                column.len() == height,
                ShapeMismatch: "{method}: column '{}' has {} rows, the batch {}",
                column.name(), column.len(), height
            );
        }
        let kinds = checked_kinds(method, self.kinds.as_deref(), keys)?;
        // Each value as the kernels read it (Python's float()).
        let as_floats = |columns: &[Series]| {
            (columns.iter())
                .map(|column| Ok(column.cast(&DataType::Float64)?.f64()?.clone()))
                .collect::<PolarsResult<Vec<_>>>()
        };
        let values = as_floats(values)?;
        let inputs = as_floats(inputs)?;
        self.kinds = Some(kinds);
        self.firsts.start(keys);
        // The scratch space grows with the rows of a call: a long batch
        // goes through in pieces, so that memory is bounded whatever the
        // batch size.
        for start in (0..height).step_by(PIECE_ROWS) {
            let cut = |column: &Series| column.slice(start as i64, PIECE_ROWS);
            let keys: Vec<Series> = keys.iter().map(cut).collect();
            self.number_rows(&keys)?;
            let inputs: Vec<Float64Chunked> = (inputs.iter())
                .map(|input| input.slice(start as i64, PIECE_ROWS))
                .collect();
            for (column, value) in values.iter().enumerate() {
                let value = value.slice(start as i64, PIECE_ROWS);
                match &self.fold {
                    Fold::Total { exponent } => self.add_terms(column, *exponent, &value),
                    Fold::Rule { .. } => self.fold_rows(column, &value, &inputs)?,
                }
            }
        }
        Ok(())
    }

    /// Advances each key's states of value column `column` by the rows of
    /// `values` (one piece) and the rule's `inputs`, in order.
    fn fold_rows(
        &mut self,
        column: usize,
        values: &Float64Chunked,
        inputs: &[Float64Chunked],
    ) -> PolarsResult<()> {
        let Fold::Rule { rule, initial, .. } = &self.fold else {
            return Ok(());
        };
        let keys = self.len();
        let states = &mut self.states[column];
        while states.len() < keys * initial.len() {
            states.extend_from_slice(initial);
        }
        let values = values.clone().into_series();
        let one_key;
        let ids = match self.key_columns {
            0 => {
                one_key = vec![0; values.len()];
                &one_key
            }
            _ => &self.numbers,
        };
        let mut per_key = States::PerKey { ids, states };
        fold_rule(&self.method, rule, &values, inputs, &mut per_key)
    }

    /// Each row's key's number into `numbers`, keeping the key columns of
    /// each key met for the first time.
    fn number_rows(&mut self, keys: &[Series]) -> PolarsResult<()> {
        let rows = keys.first().map_or(0, |column| column.len());
        if keys.is_empty() {
            return Ok(());
        }
        let method = self.method.as_str();
        let before = self.keys.len();
        polars_ensure!(
            before + rows <= u32::MAX as usize,
            ComputeError: "{method}: more than {} distinct keys", u32::MAX
        );
        encode_rows(method, keys, &mut self.columns, &mut self.rows)?;
        self.keys
            .number_rows(&self.rows, &self.hasher, &mut self.numbers);
        let after = self.keys.len();
        self.firsts
            .keep_new(method, keys, &self.numbers, before, after)?;
        Ok(())
    }

    /// Adds each valid row's `v ** exponent` of `values` (one piece) to its
    /// key's sum of value column `column`.
    fn add_terms(&mut self, column: usize, exponent: f64, values: &Float64Chunked) {
        let keys = self.len();
        let sums = &mut self.sums[column];
        sums.resize(keys, Compensated::default());
        let mut row = 0;
        for array in values.downcast_iter() {
            self.terms.clear();
            positive_powers(array.values(), exponent, &mut self.terms);
            let valid = |i: usize| array.validity().is_none_or(|bits| bits.get_bit(i));
            for (i, &term) in self.terms.iter().enumerate() {
                if valid(i) {
                    let number = match self.key_columns {
                        0 => 0,
                        _ => self.numbers[row + i] as usize,
                    };
                    sums[number].add(term);
                }
            }
            row += array.len();
        }
    }

    /// One column per key column (its values at each key's first row) and
    /// one Float64 column per name: per value column, its total, or each
    /// number of the rule's state; a row per key in the order the keys were
    /// met; no key column and one row without keys.
    pub fn export(&self, names: &[String]) -> PolarsResult<Vec<Series>> {
        let width = self.check_names(names)?;
        let keys = self.len();
        let mut columns = self.firsts.columns();
        for (column, names) in names.chunks(width).enumerate() {
            let results = self.result_columns(column, names, keys);
            columns.extend(self.firsts.in_met_order(results)?);
        }
        Ok(columns)
    }

    /// [`Self::export`], leaving the totals empty, as new. The key tables go
    /// before any output column is made, and each key column's pieces and
    /// each value column's sums (or states) as soon as their columns are
    /// made, so that the output takes the memory they free instead of
    /// adding to it (with 10M keys the tables alone are over 400 MB).
    pub fn finish(&mut self, names: &[String]) -> PolarsResult<Vec<Series>> {
        let width = self.check_names(names)?;
        let keys = self.len();
        self.keys = ShardedKeys::default();
        self.kinds = None;
        let mut columns = self.firsts.take();
        for (column, names) in names.chunks(width).enumerate() {
            let results = self.result_columns(column, names, keys);
            self.sums[column] = Vec::new();
            self.states[column] = Vec::new();
            columns.extend(self.firsts.in_met_order(results)?);
        }
        self.firsts = FirstRows::default();
        Ok(columns)
    }

    /// The numbers in each value column's result: 1 for a total, a state's
    /// for a rule; an error unless there is a name for each.
    fn check_names(&self, names: &[String]) -> PolarsResult<usize> {
        let method = self.method.as_str();
        let width = match &self.fold {
            Fold::Total { .. } => 1,
            Fold::Rule { initial, .. } => initial.len(),
        };
        polars_ensure!(
            names.len() == self.sums.len() * width,
            ShapeMismatch: "{method}: {} names for {} value columns of {width} numbers",
            names.len(), self.sums.len()
        );
        Ok(width)
    }

    /// Value column `column`'s results of keys `0..keys`, one column per
    /// name: its total (0 for a key whose terms were all null or not
    /// positive, which never grew the sums), or each number of its state.
    fn result_columns(&self, column: usize, names: &[String], keys: usize) -> Vec<Series> {
        let width = names.len();
        let results = |number: usize| -> Vec<f64> {
            match &self.fold {
                Fold::Total { .. } => {
                    let sums = &self.sums[column];
                    let sum = |key: usize| sums.get(key).copied().unwrap_or_default().value();
                    (0..keys).map(sum).collect()
                }
                Fold::Rule { initial, .. } => {
                    let states = &self.states[column];
                    let start = initial.get(number).copied().unwrap_or_default();
                    let state =
                        |key: usize| states.get(key * width + number).copied().unwrap_or(start);
                    (0..keys).map(state).collect()
                }
            }
        };
        (names.iter().enumerate())
            .map(|(number, name)| {
                Float64Chunked::from_vec(name.into(), results(number)).into_series()
            })
            .collect()
    }
}

/// Per-key totals of a stream's batches (a Python class): the sum of
/// `v ** exponent` over each key's non-null `v > 0`, per value column.
#[pyclass(module = "polars_scores._internal")]
pub struct KeyTotals {
    totals: KeyedTotals,
}

#[pymethods]
impl KeyTotals {
    /// Empty totals for `values` value columns by `keys` key columns (none:
    /// one total over all rows); or, given the postfix program
    /// `ops`/`operands` of a rule over `inputs` input columns, each key's
    /// states of that rule (its fold), starting at `initial` (one number per
    /// state). `method` is the public function the user called, which every
    /// error names.
    #[new]
    #[pyo3(signature = (
        exponent, keys, values, *, ops=None, operands=None, inputs=0, initial=vec![0.0],
        method=String::from("KeyTotals.add")
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        exponent: f64,
        keys: usize,
        values: usize,
        ops: Option<Vec<String>>,
        operands: Option<Vec<f64>>,
        inputs: usize,
        initial: Vec<f64>,
        method: String,
    ) -> PyResult<Self> {
        let fold = match (ops, operands) {
            (Some(ops), Some(operands)) => Fold::Rule {
                rule: compiled(&method, &ops, &operands, inputs, initial.len())?,
                initial,
                inputs,
            },
            _ => Fold::Total { exponent },
        };
        Ok(Self {
            totals: KeyedTotals::new(method, fold, keys, values),
        })
    }

    /// Adds one batch: row `i` of each `values` column goes to the key
    /// formed by the `keys` columns at row `i`; a rule reads `inputs` too.
    #[pyo3(signature = (keys, values, inputs=Vec::new()))]
    fn add(
        &mut self,
        py: Python<'_>,
        keys: Vec<PySeries>,
        values: Vec<PySeries>,
        inputs: Vec<PySeries>,
    ) -> PyResult<()> {
        let unwrap = |columns: Vec<PySeries>| -> Vec<Series> {
            columns.into_iter().map(|column| column.0).collect()
        };
        let (keys, values, inputs) = (unwrap(keys), unwrap(values), unwrap(inputs));
        let totals = &mut self.totals;
        let added = py.detach(|| totals.add_batch(&keys, &values, &inputs));
        added.map_err(|e| polars_exception(py, self.totals.method(), e))
    }

    /// The key columns, then a total column per name, a row per key in the
    /// order the keys were first met (no key column, one row, without keys;
    /// no column at all for keys before any batch).
    fn export(&self, py: Python<'_>, names: Vec<String>) -> PyResult<Vec<PySeries>> {
        let columns = self.totals.export(&names);
        let columns = columns.map_err(|e| polars_exception(py, self.totals.method(), e))?;
        Ok(columns.into_iter().map(PySeries).collect())
    }

    /// `export`, leaving the totals empty: what they held is freed as the
    /// columns are made, so that the output does not add to it.
    fn finish(&mut self, py: Python<'_>, names: Vec<String>) -> PyResult<Vec<PySeries>> {
        let method = self.totals.method().to_owned();
        let totals = &mut self.totals;
        let columns = py.detach(|| totals.finish(&names));
        let columns = columns.map_err(|e| polars_exception(py, &method, e))?;
        Ok(columns.into_iter().map(PySeries).collect())
    }

    /// The number of keys met (1 without key columns).
    fn __len__(&self) -> usize {
        self.totals.len()
    }

    /// The bytes the keys and totals hold on the heap (scratch space for
    /// the batches excluded).
    fn heap_bytes(&self) -> usize {
        let sums: usize = self.totals.sums.iter().map(Vec::capacity).sum();
        let states: usize = self.totals.states.iter().map(Vec::capacity).sum();
        let firsts = self.totals.firsts.heap_bytes();
        self.totals.keys.heap_bytes()
            + sums * std::mem::size_of::<Compensated>()
            + states * std::mem::size_of::<f64>()
            + firsts
    }
}
