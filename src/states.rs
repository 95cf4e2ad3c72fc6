//! Per-key states that outlive one call: the streaming driver
//! (`polars_scores.stateful.RollingScorer`) scores ordered batches through
//! one [`KeyStates`], so that a batch is one call into Rust, whatever the
//! key columns' types, for the rolling score and for a user's rule alike.
//!
//! Three stores keep the states:
//! - one integer key column whose keys lie close together: an array indexed
//!   by key ([`DenseKeyStates`]), no hashing at all;
//! - any other keys: hash tables of the keys written as bytes
//!   (`kernels::key_table::ShardedKeys`), which number them; the states sit
//!   in an array indexed by that number;
//! - a stream sorted by key (Spark's partitions): only the last key's state,
//!   since every earlier key is finished.
//!
//! A key is the same key in every batch, whatever its column's dtype there:
//! integers of every width are numbers, a Null column is the null key, a
//! categorical is its string. Kinds that cannot be equal (an integer and a
//! string) are refused, as Polars refuses to join them.

use std::cmp::Ordering;
use std::sync::Arc;

use hashbrown::DefaultHashBuilder;
use polars::prelude::*;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3_polars::PySeries;

use crate::kernels::key_range::{min_max, slots, widest};
use crate::kernels::key_table::{
    compare, decode, push_bool, push_bytes, push_float, push_int, push_null, push_uint,
    BatchGroups, Cell, Codec, EncodedRows, ShardedKeys,
};
use crate::kernels::output::filled;
use crate::kernels::rolling_score::{rolling_score_grouped, Decay};
use crate::kernels::rule::Rule;
use crate::kernels::scan::scan_keyed;
use crate::numeric::{all_rows, ensure_numeric, output_buffer, rule_scores, with_numeric};

const METHOD: &str = "RollingScorer.score";

/// The states of every key met so far, for a `RollingScorer` with keys.
#[pyclass(module = "polars_scores._internal")]
pub struct KeyStates {
    step: Step,
    initial: f64,
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
}

#[pymethods]
impl KeyStates {
    /// An empty store for the score `(rise, fall)`, or for the rule given
    /// as the postfix program `ops`/`operands` over `inputs` input columns
    /// (what `polars_scores.rules.parse_rule` makes), starting each key at
    /// `initial`; `key_sorted` when the batches arrive sorted by key.
    #[new]
    #[pyo3(signature = (rise, fall, initial, key_sorted, ops=None, operands=None, inputs=0))]
    fn new(
        rise: f64,
        fall: f64,
        initial: f64,
        key_sorted: bool,
        ops: Option<Vec<String>>,
        operands: Option<Vec<f64>>,
        inputs: usize,
    ) -> PyResult<Self> {
        let step = match (ops, operands) {
            (None, None) => Step::Decay(Decay { rise, fall }),
            (Some(ops), Some(operands)) => Rule::compile(&ops, &operands, inputs)
                .map(Step::Rule)
                .map_err(|e| {
                PyValueError::new_err(format!("{METHOD}: invalid rule program: {e}"))
            })?,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "{METHOD}: a rule needs both its ops and its operands"
                )))
            }
        };
        Ok(Self {
            step,
            initial,
            key_sorted,
            kinds: Vec::new(),
            store: None,
            columns: Vec::new(),
            rows: EncodedRows::default(),
        })
    }

    /// The scores of one batch, named `name`: row `i` belongs to the key
    /// formed by the `keys` columns at row `i`, and each key goes on from
    /// the state the previous batches left it. A rule reads its `inputs`
    /// columns, in the order of its input names. An error changes no state.
    #[pyo3(signature = (keys, values, name, inputs=Vec::new()))]
    fn score(
        &mut self,
        py: Python<'_>,
        keys: Vec<PySeries>,
        values: PySeries,
        name: &str,
        inputs: Vec<PySeries>,
    ) -> PyResult<PySeries> {
        let keys: Vec<Series> = keys.into_iter().map(|key| key.0).collect();
        let inputs: Vec<Series> = inputs.into_iter().map(|input| input.0).collect();
        let values = values.0;
        let scored = py.detach(|| self.score_batch(&keys, &values, &inputs, name));
        scored.map(PySeries).map_err(|e| polars_exception(py, e))
    }

    /// The number of states held: every key met so far, except in a sorted
    /// stream, which holds only the last key's.
    fn __len__(&self) -> usize {
        match &self.store {
            None => 0,
            Some(Store::Dense(dense)) => dense.len(),
            Some(Store::Hashed(hashed)) => hashed.len(),
            Some(Store::Sorted(sorted)) => usize::from(sorted.last.is_some()),
        }
    }

    /// Which store holds the states: "dense" (an array indexed by integer
    /// key), "hashed" or "sorted" (the last key's only); "empty" before the
    /// first batch.
    #[getter]
    fn layout(&self) -> &'static str {
        match &self.store {
            None => "empty",
            Some(Store::Dense(_)) => "dense",
            Some(Store::Hashed(_)) => "hashed",
            Some(Store::Sorted(_)) => "sorted",
        }
    }

    /// The bytes the states and their keys hold on the heap (scratch space
    /// for the batches excluded).
    fn heap_bytes(&self) -> usize {
        match &self.store {
            None => 0,
            Some(Store::Dense(dense)) => dense.heap_bytes(),
            Some(Store::Hashed(hashed)) => hashed.heap_bytes(),
            Some(Store::Sorted(sorted)) => {
                sorted.last.as_ref().map_or(0, |(key, _)| key.capacity())
            }
        }
    }
}

/// A Polars error as the Python exception Polars itself raises for it
/// (`polars.exceptions.SchemaError`, ...), so users can catch it as usual.
fn polars_exception(py: Python<'_>, error: PolarsError) -> PyErr {
    let class = match &error {
        PolarsError::InvalidOperation(_) => "InvalidOperationError",
        PolarsError::SchemaMismatch(_) => "SchemaError",
        PolarsError::ShapeMismatch(_) => "ShapeError",
        _ => "ComputeError",
    };
    let message = match &error {
        PolarsError::InvalidOperation(m)
        | PolarsError::SchemaMismatch(m)
        | PolarsError::ShapeMismatch(m)
        | PolarsError::ComputeError(m) => m.to_string(),
        other => other.to_string(),
    };
    let raised = py
        .import("polars.exceptions")
        .and_then(|module| module.getattr(class))
        .and_then(|class| class.call1((message.clone(),)));
    match raised {
        Ok(exception) => PyErr::from_value(exception),
        Err(_) => PyRuntimeError::new_err(message),
    }
}

enum Store {
    Dense(DenseKeyStates),
    Hashed(HashedKeyStates),
    Sorted(SortedKeyStates),
}

impl KeyStates {
    fn score_batch(
        &mut self,
        keys: &[Series],
        values: &Series,
        inputs: &[Series],
        name: &str,
    ) -> PolarsResult<Series> {
        // Every check before any state changes, so an error leaves the store as it was.
        ensure_numeric(METHOD, values.field().as_ref())?;
        for input in inputs {
            ensure_numeric(METHOD, input.field().as_ref())?;
        }
        let reads = match &self.step {
            Step::Decay(_) => 0,
            Step::Rule(rule) => rule.program().inputs(),
        };
        polars_ensure!(
            inputs.len() == reads,
            InvalidOperation: "{METHOD}: the rule reads {reads} input columns, {} came", inputs.len()
        );
        for column in keys.iter().chain(inputs) {
            polars_ensure!(
                column.len() == values.len(),
                ShapeMismatch: "{METHOD}: column '{}' has {} rows but value column '{}' has {}",
                column.name(), column.len(), values.name(), values.len()
            );
        }
        polars_ensure!(
            values.len() <= u32::MAX as usize,
            InvalidOperation: "{METHOD}: a batch may hold at most {} rows, this one has {}",
            u32::MAX, values.len()
        );
        let kinds = self.checked_kinds(keys)?;
        if self.store.is_none() {
            polars_ensure!(
                !keys.is_empty(),
                InvalidOperation: "{METHOD}: no key column"
            );
            self.store = Some(if self.key_sorted {
                Store::Sorted(SortedKeyStates::default())
            } else if keys.len() == 1 {
                Store::Dense(DenseKeyStates::new(self.initial))
            } else {
                Store::Hashed(HashedKeyStates::new())
            });
        }
        self.kinds = kinds;
        let initial = self.initial;
        let step = &self.step;
        let score = |ids: &[u32], states: &mut [f64]| step.score(values, inputs, ids, states, name);

        if let Some(Store::Dense(dense)) = &mut self.store {
            if dense.accepts(&keys[0]) {
                if let Some(scores) = dense.score_batch(&keys[0], &score)? {
                    return Ok(scores);
                }
            }
            // Keys too far apart to index, or not integers: on in a hash table.
            let hashed = HashedKeyStates::from_dense(dense);
            self.store = Some(Store::Hashed(hashed));
        }
        if let Some(Store::Hashed(hashed)) = &mut self.store {
            // Its scratch space grows with the rows of a call (about 80
            // bytes a row): a long batch goes through in pieces, so that
            // memory is bounded whatever the batch size.
            let mut scores: Option<Series> = None;
            for start in (0..values.len().max(1)).step_by(HASHED_PIECE_ROWS) {
                let piece = |column: &Series| column.slice(start as i64, HASHED_PIECE_ROWS);
                let keys: Vec<Series> = keys.iter().map(piece).collect();
                let (values, inputs) =
                    (piece(values), inputs.iter().map(piece).collect::<Vec<_>>());
                encode_rows(&keys, &mut self.columns, &mut self.rows)?;
                let score = |ids: &[u32], states: &mut [f64]| {
                    step.score(&values, &inputs, ids, states, name)
                };
                let scored = hashed.score_batch(&self.rows, initial, &score)?;
                match &mut scores {
                    Some(all) => {
                        all.append(&scored)?;
                    }
                    None => scores = Some(scored),
                }
            }
            return scores.ok_or_else(|| polars_err!(ComputeError: "{METHOD}: no rows scored"));
        }
        encode_rows(keys, &mut self.columns, &mut self.rows)?;
        match &mut self.store {
            Some(Store::Sorted(sorted)) => {
                let codecs: Vec<Codec> = (self.kinds.iter())
                    .map(|kind| kind.as_ref().map_or(Codec::Int, KeyKind::codec))
                    .collect();
                let order = KeyOrder {
                    codecs: &codecs,
                    keys,
                };
                sorted.score_batch(&self.rows, &order, initial, &score)
            }
            _ => Err(polars_err!(ComputeError: "{METHOD}: no store for the keys")),
        }
    }

    /// The key columns' kinds after this batch; an error if a column's kind
    /// differs from earlier batches' or the number of columns changed.
    fn checked_kinds(&self, keys: &[Series]) -> PolarsResult<Vec<Option<KeyKind>>> {
        if self.store.is_some() {
            polars_ensure!(
                keys.len() == self.kinds.len(),
                ShapeMismatch: "{METHOD}: {} key columns, but earlier batches had {}",
                keys.len(), self.kinds.len()
            );
        }
        let mut kinds = Vec::with_capacity(keys.len());
        for (column, key) in keys.iter().enumerate() {
            let kind = KeyKind::of(key)?;
            let before = self.kinds.get(column).cloned().flatten();
            match (before, kind) {
                (Some(before), Some(now)) if before != now => polars_bail!(
                    SchemaMismatch:
                    "{METHOD}: key column '{}' has dtype {} in this batch, but it held {} keys in \
                     earlier batches; keys of different kinds are never equal, so cast the column \
                     to one dtype in every batch",
                    key.name(), key.dtype(), before.describe()
                ),
                (before, now) => kinds.push(now.or(before)),
            }
        }
        Ok(kinds)
    }
}

/// What a key column holds, as far as equality goes: two keys can be equal
/// only within one kind.
#[derive(Clone, Debug, PartialEq)]
enum KeyKind {
    /// Integers of any width.
    Int,
    /// Float16, Float32 or Float64.
    Float,
    Boolean,
    /// Strings, categoricals and enums: equal when their strings are.
    Text,
    Binary,
    /// Dates, times, durations and decimals: their integer representation,
    /// equal only under the very same dtype (time unit, time zone, scale).
    Exact(DataType),
}

impl KeyKind {
    /// The kind of `key`'s dtype: `None` for dtype Null (all null, which
    /// fits every kind); an error for a dtype that cannot be a key here.
    fn of(key: &Series) -> PolarsResult<Option<Self>> {
        let dtype = key.dtype();
        Ok(Some(match dtype {
            DataType::Null => return Ok(None),
            dt if dt.is_integer() => Self::Int,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Self::Float,
            DataType::Boolean => Self::Boolean,
            DataType::String | DataType::Categorical(..) | DataType::Enum(..) => Self::Text,
            DataType::Binary => Self::Binary,
            // The precision only bounds the values; the scale gives them meaning.
            DataType::Decimal(_, scale) => Self::Exact(DataType::Decimal(38, *scale)),
            dt if dt.is_temporal() => Self::Exact(dt.clone()),
            dt => polars_bail!(
                InvalidOperation:
                "{METHOD}: key column '{}' has dtype {dt}; keys must be integers, floats, \
                 booleans, strings, categoricals, binary, temporal or decimal values",
                key.name()
            ),
        }))
    }

    fn codec(&self) -> Codec {
        match self {
            Self::Int | Self::Exact(_) => Codec::Int,
            Self::Float => Codec::Float,
            Self::Boolean => Codec::Bool,
            Self::Text | Self::Binary => Codec::Bytes,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Int => "integer".into(),
            Self::Float => "float".into(),
            Self::Boolean => "boolean".into(),
            Self::Text => "string".into(),
            Self::Binary => "binary".into(),
            Self::Exact(dtype) => dtype.to_string(),
        }
    }
}

/// Writes each row's key (the `keys` columns at that row) to `rows`; with
/// several columns, `columns` holds each column's encodings on the way.
fn encode_rows(
    keys: &[Series],
    columns: &mut Vec<EncodedRows>,
    rows: &mut EncodedRows,
) -> PolarsResult<()> {
    rows.clear();
    if let [key] = keys {
        return encode_column(key, rows);
    }
    columns.resize_with(keys.len(), EncodedRows::default);
    for (key, column) in keys.iter().zip(columns.iter_mut()) {
        column.clear();
        encode_column(key, column)?;
    }
    rows.interleave(columns);
    Ok(())
}

/// Appends one key column's values, a row each.
fn encode_column(key: &Series, rows: &mut EncodedRows) -> PolarsResult<()> {
    fn each<X>(
        rows: &mut EncodedRows,
        values: impl Iterator<Item = Option<X>>,
        push: impl Fn(&mut Vec<u8>, X),
    ) {
        for value in values {
            match value {
                Some(value) => push(rows.buffer(), value),
                None => push_null(rows.buffer()),
            }
            rows.end_row();
        }
    }
    macro_rules! ints {
        ($ca:expr, $push:expr) => {
            each(
                rows,
                $ca.downcast_iter().flat_map(|a| a.iter()),
                |out, &v| $push(out, v.into()),
            )
        };
    }
    rows.reserve(key.len(), 9);
    match key.dtype() {
        DataType::Null => (0..key.len()).for_each(|_| {
            push_null(rows.buffer());
            rows.end_row();
        }),
        DataType::Int8 => ints!(key.i8()?, push_int),
        DataType::Int16 => ints!(key.i16()?, push_int),
        DataType::Int32 => ints!(key.i32()?, push_int),
        DataType::Int64 => ints!(key.i64()?, push_int),
        DataType::Int128 => ints!(key.i128()?, push_int),
        DataType::UInt8 => ints!(key.u8()?, push_int),
        DataType::UInt16 => ints!(key.u16()?, push_int),
        DataType::UInt32 => ints!(key.u32()?, push_int),
        DataType::UInt64 => ints!(key.u64()?, push_uint),
        DataType::UInt128 => ints!(key.u128()?, push_uint),
        DataType::Float64 => {
            let ca = key.f64()?;
            each(
                rows,
                ca.downcast_iter().flat_map(|a| a.iter()),
                |out, &v| push_float(out, v),
            )
        }
        DataType::Float16 | DataType::Float32 => {
            // Exact: every Float16 and Float32 value is a Float64 value.
            return encode_column(&key.cast(&DataType::Float64)?, rows);
        }
        DataType::Boolean => {
            let ca = key.bool()?;
            each(rows, ca.downcast_iter().flat_map(|a| a.iter()), push_bool)
        }
        DataType::String => {
            let ca = key.str()?;
            each(rows, ca.downcast_iter().flat_map(|a| a.iter()), |out, v| {
                push_bytes(out, v.as_bytes())
            })
        }
        DataType::Binary => {
            let ca = key.binary()?;
            each(rows, ca.downcast_iter().flat_map(|a| a.iter()), push_bytes)
        }
        DataType::Categorical(..) | DataType::Enum(..) => {
            return encode_column(&key.cast(&DataType::String)?, rows);
        }
        dt if dt.is_temporal() || matches!(dt, DataType::Decimal(..)) => {
            return encode_column(&key.to_physical_repr(), rows);
        }
        dt => polars_bail!(
            InvalidOperation: "{METHOD}: key column '{}' has dtype {dt}, which cannot be a key",
            key.name()
        ),
    }
    Ok(())
}

/// Rows per call of the hash-table store: its scratch space grows with them
/// (about 80 bytes a row), so a longer batch goes through in pieces. Each
/// piece reads the shard tables through once (`KeyTable::warm`), so longer
/// pieces cost less a row: with a million string keys, 256k-row pieces took
/// 46 ns a row and 512k ones (the default 500k-row batch in one) 36.
const HASHED_PIECE_ROWS: usize = 1 << 19;

/// What a row does to its key's state: the rolling score, or a user's rule.
enum Step {
    Decay(Decay),
    Rule(Arc<Rule>),
}

/// Scores a batch's rows, row `i` advancing `states[ids[i]]`: what every
/// store calls once it knows each row's state.
type ScoreRows<'a> = dyn Fn(&[u32], &mut [f64]) -> PolarsResult<Series> + 'a;

impl Step {
    /// The scores of `values` (any numeric dtype), row `i` advancing
    /// `states[ids[i]]`; a rule reads `inputs` too, and a row is null where
    /// the value or any input is.
    fn score(
        &self,
        values: &Series,
        inputs: &[Series],
        ids: &[u32],
        states: &mut [f64],
        name: &str,
    ) -> PolarsResult<Series> {
        let rule = match self {
            Step::Decay(decay) => {
                let values = values.rechunk();
                let scores = with_numeric!(METHOD, &values, |ca| {
                    let array = ca.downcast_as_array();
                    let (vals, mask) = all_rows(array);
                    let mut out = output_buffer(vals.len());
                    rolling_score_grouped(vals, mask, ids, states, *decay, &mut out);
                    Float64Chunked::from_vec_validity(name.into(), out, array.validity().cloned())
                });
                return Ok(scores.into_series());
            }
            Step::Rule(rule) => rule,
        };
        // As Python's float(): every column as Float64, in one chunk.
        let as_f64 = |column: &Series| -> PolarsResult<Float64Chunked> {
            Ok(column
                .cast(&DataType::Float64)?
                .f64()?
                .rechunk()
                .into_owned())
        };
        let values = as_f64(values)?;
        let inputs = inputs
            .iter()
            .map(as_f64)
            .collect::<PolarsResult<Vec<_>>>()?;
        let columns: Vec<_> = inputs.iter().map(|c| c.downcast_as_array()).collect();
        let array = values.downcast_as_array();
        let scored = rule_scores(METHOD, rule, array, &columns, |rows, out| {
            scan_keyed(rows, ids, states, out)
        })?;
        Ok(Float64Chunked::with_chunk(name.into(), scored).into_series())
    }
}

/// Any keys, one column or several, as bytes in hash tables
/// ([`ShardedKeys`]), which number each key; `states[number]` is its state.
struct HashedKeyStates {
    hasher: DefaultHashBuilder,
    keys: ShardedKeys,
    states: Vec<f64>,
    /// Each row's key's number, kept from batch to batch.
    numbers: Vec<u32>,
}

impl HashedKeyStates {
    fn new() -> Self {
        Self {
            hasher: DefaultHashBuilder::default(),
            keys: ShardedKeys::default(),
            states: Vec::new(),
            numbers: Vec::new(),
        }
    }

    /// The states of `dense`, moved into hash tables.
    fn from_dense(dense: &DenseKeyStates) -> Self {
        let mut hashed = Self::new();
        let mut key = Vec::new();
        for (integer, state) in dense.export() {
            key.clear();
            match integer {
                Some(integer) => push_int(&mut key, integer.into()),
                None => push_null(&mut key),
            }
            hashed.keys.number(&key, &hashed.hasher);
            hashed.states.push(state);
        }
        hashed
    }

    fn score_batch(
        &mut self,
        rows: &EncodedRows,
        initial: f64,
        score: &ScoreRows<'_>,
    ) -> PolarsResult<Series> {
        polars_ensure!(
            self.keys.len() + rows.len() <= u32::MAX as usize,
            ComputeError: "{METHOD}: more than {} distinct keys", u32::MAX
        );
        self.keys.number_rows(rows, &self.hasher, &mut self.numbers);
        self.states.resize(self.keys.len(), initial);
        score(&self.numbers, &mut self.states)
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn heap_bytes(&self) -> usize {
        self.keys.heap_bytes() + self.states.capacity() * std::mem::size_of::<f64>()
    }
}

/// The keys of a sorted stream, and how to show them in an error.
struct KeyOrder<'a> {
    codecs: &'a [Codec],
    keys: &'a [Series],
}

impl KeyOrder<'_> {
    fn order(&self, a: &[u8], b: &[u8]) -> PolarsResult<Ordering> {
        compare(self.codecs, a, b).ok_or_else(|| {
            polars_err!(ComputeError: "{METHOD}: a key could not be read back (a bug: please report it)")
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
struct SortedKeyStates {
    last: Option<(Vec<u8>, f64)>,
    /// Scratch space kept from batch to batch.
    groups: BatchGroups,
    batch_states: Vec<f64>,
}

impl SortedKeyStates {
    fn score_batch(
        &mut self,
        rows: &EncodedRows,
        order: &KeyOrder<'_>,
        initial: f64,
        score: &ScoreRows<'_>,
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
                        "{METHOD}: the scorer was told that the batches arrive sorted by the key \
                         columns ({}), but key {} comes after key {}; sort by the keys (nulls \
                         first), or score without key_sorted",
                        order.names(), order.show(key), order.show(before)
                    ),
                }
            }
            previous = Some(key);
        }
        self.batch_states.clear();
        self.batch_states.resize(runs.len(), initial);
        if let (true, Some((_, state))) = (continues, &self.last) {
            self.batch_states[0] = *state;
        }
        let scores = score(&self.groups.ids, &mut self.batch_states)?;
        if let (Some(&row), Some(&state)) = (runs.last(), self.batch_states.last()) {
            let key = self.last.get_or_insert_with(|| (Vec::new(), state));
            key.0.clear();
            key.0.extend_from_slice(rows.row(row as usize));
            key.1 = state;
        }
        Ok(scores)
    }
}

/// The smallest and the largest key of an integer or Null column, `None`
/// if all are null: in one pass for the usual Int64 column without nulls.
fn key_range(keys: &Series) -> PolarsResult<Option<(i128, i128)>> {
    if keys.dtype().is_null() {
        return Ok(None);
    }
    if let (DataType::Int64, 0) = (keys.dtype(), keys.null_count()) {
        let ranges = keys
            .i64()?
            .downcast_iter()
            .filter_map(|a| min_max(a.values()));
        let range = ranges.reduce(widest);
        return Ok(range.map(|(low, high)| (low.into(), high.into())));
    }
    Ok(keys.min::<i128>()?.zip(keys.max::<i128>()?))
}

/// Slots the dense store may take whatever the key count (512 KiB).
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
struct DenseKeyStates {
    initial: f64,
    states: Vec<f64>,
    seen: Vec<bool>,
    offset: i64,
}

impl DenseKeyStates {
    fn new(initial: f64) -> Self {
        Self {
            initial,
            states: vec![initial],
            seen: vec![false],
            offset: 0,
        }
    }

    /// Whether `keys` can be indexed at all: integers of at most 64 bits,
    /// or all null.
    fn accepts(&self, keys: &Series) -> bool {
        let dtype = keys.dtype();
        dtype.is_null()
            || (dtype.is_integer() && !matches!(dtype, DataType::Int128 | DataType::UInt128))
    }

    fn len(&self) -> usize {
        self.seen.iter().filter(|&&seen| seen).count()
    }

    fn heap_bytes(&self) -> usize {
        self.states.capacity() * std::mem::size_of::<f64>() + self.seen.capacity()
    }

    /// Each key met (`None` for the null key) with its state.
    fn export(&self) -> impl Iterator<Item = (Option<i64>, f64)> + '_ {
        (0..self.states.len())
            .filter(|&slot| self.seen[slot])
            .map(|slot| ((slot > 0).then(|| self.key_at(slot)), self.states[slot]))
    }

    fn key_at(&self, slot: usize) -> i64 {
        self.offset + (slot as i64 - 1)
    }

    /// The batch's scores, each key going on from its state; `None` (and no
    /// state changed) when the keys are too far apart to index.
    fn score_batch(
        &mut self,
        keys: &Series,
        score: &ScoreRows<'_>,
    ) -> PolarsResult<Option<Series>> {
        let Some(ids) = self.slot_ids(keys)? else {
            return Ok(None);
        };
        score(&ids, &mut self.states).map(Some)
    }

    /// Each row's slot, after widening the store to the batch's keys; `None`
    /// if that would take more than [`SLACK`] slots per key and row.
    fn slot_ids(&mut self, keys: &Series) -> PolarsResult<Option<Vec<u32>>> {
        let range = key_range(keys)?;
        let Some((low, high)) = range else {
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
        let ids = filled(keys.len(), |out| slots(keys, mask, self.offset, out));
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
        let known = self.len();
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
