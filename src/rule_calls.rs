//! The plugin functions of users' rules: `scores.scan` (a score per row) and
//! `scores.fold` (the state after the last row, per series or per key). They
//! read the same request from their inputs and kwargs.

use std::sync::Arc;

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use crate::expressions::{float64_field, score_series, Initial, Starts};
use crate::kernels::rule::Rule;
use crate::kernels::scan::States;
use crate::keys::{key_ids, KeyIds};
use crate::numeric::ensure_rule_input;
use crate::parallelism::scoring_threads;
use crate::scoring::{fold_rule, scores_series, Step};

const SCAN: &str = "scores.scan";
const FOLD: &str = "scores.fold";

#[derive(Deserialize)]
struct RuleKwargs {
    /// The rule in postfix, as `polars_scores.rules` writes it.
    ops: Vec<String>,
    operands: Vec<f64>,
    /// How many input columns follow the values (and the initial columns).
    inputs: usize,
    /// The rule's name for each input column, for error messages.
    input_names: Vec<String>,
    /// Each state's start: this number, or where `initial_column` says so,
    /// the next initial column after the values (in the states' order).
    initial: Vec<f64>,
    initial_column: Vec<bool>,
    /// The names of a mapping rule's states (a struct result); none for a
    /// one-expression rule (a Float64 result).
    states: Option<Vec<String>>,
}

impl RuleKwargs {
    /// The initial columns between the values and the inputs.
    fn initial_columns(&self) -> usize {
        self.initial_column.iter().filter(|&&column| column).count()
    }

    /// The fields of a result: one Float64 named `name` for a one-expression
    /// rule, else one per named state.
    fn state_fields(&self, name: &PlSmallStr) -> Vec<Field> {
        match &self.states {
            None => vec![Field::new(name.clone(), DataType::Float64)],
            Some(names) => (names.iter())
                .map(|state| Field::new(state.as_str().into(), DataType::Float64))
                .collect(),
        }
    }

    /// The result's field, named `name`: Float64, or a struct of the states.
    fn result_field(&self, name: &PlSmallStr) -> Field {
        match &self.states {
            None => Field::new(name.clone(), DataType::Float64),
            Some(_) => Field::new(name.clone(), DataType::Struct(self.state_fields(name))),
        }
    }

    /// The field of the values, after checking the input fields.
    fn check_fields(&self, method: &str, fields: &[Field]) -> PolarsResult<Field> {
        let inputs_from = 1 + self.initial_columns();
        let columns = inputs_from + self.inputs;
        polars_ensure!(
            fields.len() >= columns,
            InvalidOperation: "{method}: expected at least {columns} columns, got {}", fields.len()
        );
        for field in &fields[inputs_from..columns] {
            ensure_rule_input(method, field)?;
        }
        float64_field(method, fields, 1)
    }
}

/// What a rule's call reads: the compiled rule, the values, the rule's
/// input columns (Float64, as long as the values), each state's start and
/// the key columns.
struct RuleCall<'a> {
    rule: Arc<Rule>,
    values: &'a Series,
    columns: Vec<Float64Chunked>,
    starts: Starts,
    keys: &'a [Series],
}

impl<'a> RuleCall<'a> {
    /// Inputs: the values, then the initial columns if any, then the
    /// `inputs` columns in the order of the rule's names, then the keys.
    fn new(method: &str, inputs: &'a [Series], kwargs: &RuleKwargs) -> PolarsResult<Self> {
        let width = kwargs.initial.len();
        polars_ensure!(
            width > 0 && kwargs.initial_column.len() == width,
            InvalidOperation: "{method}: {} starts for {width} states", kwargs.initial_column.len()
        );
        let (values, rest) = inputs
            .split_first()
            .ok_or_else(|| polars_err!(InvalidOperation: "{method}: no input column"))?;
        let initials = kwargs.initial_columns();
        polars_ensure!(
            rest.len() >= initials + kwargs.inputs,
            InvalidOperation:
            "{method}: the rule reads {} inputs and {initials} initial columns but {} columns came",
            kwargs.inputs, rest.len()
        );
        let (initial_columns, rest) = rest.split_at(initials);
        let (columns, keys) = rest.split_at(kwargs.inputs);
        let rule = Rule::compile(&kwargs.ops, &kwargs.operands, kwargs.inputs, width)
            .map_err(|e| polars_err!(ComputeError: "{method}: invalid rule program: {e}"))?;
        let len = values.len();
        let mut initial_columns = initial_columns.iter();
        let starts = (kwargs.initial.iter().zip(&kwargs.initial_column))
            .map(|(&constant, &column)| {
                let column = if column { initial_columns.next() } else { None };
                Initial::new(method, column, constant, len)
            })
            .collect::<PolarsResult<Vec<_>>>()?;
        let names = kwargs.input_names.iter().map(String::as_str);
        let columns = (columns.iter().zip(names.chain(std::iter::repeat("?"))))
            .map(|(column, name)| float_column(method, name, column, len))
            .collect::<PolarsResult<Vec<_>>>()?;
        Ok(Self {
            rule,
            values,
            columns,
            starts: Starts(starts),
            keys,
        })
    }

    fn key_ids(&self, method: &str) -> PolarsResult<Option<KeyIds>> {
        let len = self.values.len();
        key_ids(method, self.keys, len, scoring_threads(len))
    }
}

/// `column` as Float64 (converted like Python's `float()`), `len` rows long:
/// one row broadcasts.
fn float_column(
    method: &str,
    name: &str,
    column: &Series,
    len: usize,
) -> PolarsResult<Float64Chunked> {
    ensure_rule_input(method, column.field().as_ref())?;
    let column = match column.len() {
        n if n == len => column.clone(),
        1 => column.new_from_index(0, len),
        n => polars_bail!(
            ShapeMismatch:
            "{method}: input '{name}' (column '{}') has {n} rows but the value column has {len}",
            column.name()
        ),
    };
    Ok(column.cast(&DataType::Float64)?.f64()?.clone())
}

fn scan_field(fields: &[Field], kwargs: RuleKwargs) -> PolarsResult<Field> {
    let values = kwargs.check_fields(SCAN, fields)?;
    Ok(kwargs.result_field(values.name()))
}

/// A score per row: Float64, or a struct of the named states.
#[polars_expr(output_type_func_with_kwargs=scan_field)]
fn pl_scan(inputs: &[Series], kwargs: RuleKwargs) -> PolarsResult<Series> {
    let call = RuleCall::new(SCAN, inputs, &kwargs)?;
    let keys = call.key_ids(SCAN)?;
    score_series(
        SCAN,
        &Step::Rule(call.rule.clone()),
        call.values,
        &call.columns,
        &call.starts,
        keys.as_ref(),
        kwargs.states.as_deref(),
    )
}

fn fold_field(fields: &[Field], kwargs: RuleKwargs) -> PolarsResult<Field> {
    let values = kwargs.check_fields(FOLD, fields)?;
    Ok(kwargs.result_field(values.name()))
}

/// The state after the last row (an aggregation): one row, Float64 or a
/// struct of the named states. Keys are not taken here.
#[polars_expr(output_type_func_with_kwargs=fold_field)]
fn pl_fold(inputs: &[Series], kwargs: RuleKwargs) -> PolarsResult<Series> {
    let call = RuleCall::new(FOLD, inputs, &kwargs)?;
    polars_ensure!(
        call.keys.is_empty(),
        InvalidOperation: "{FOLD}: {} unexpected columns after the inputs", call.keys.len()
    );
    let mut state = call.starts.at(0);
    let mut states = States::One(std::mem::take(&mut state));
    fold_rule(FOLD, &call.rule, call.values, &call.columns, &mut states)?;
    if let States::One(last) = states {
        state = last;
    }
    let name = call.values.name().clone();
    let columns = (state.iter())
        .map(|&number| Float64Chunked::from_slice(name.clone(), &[number]))
        .collect();
    scores_series(FOLD, columns, name, kwargs.states.as_deref())
}

fn fold_by_field(fields: &[Field], kwargs: RuleKwargs) -> PolarsResult<Field> {
    let values = kwargs.check_fields(FOLD, fields)?;
    let keys_from = 1 + kwargs.initial_columns() + kwargs.inputs;
    let mut all = fields[keys_from..].to_vec();
    all.extend(kwargs.state_fields(values.name()));
    for (i, field) in all.iter().enumerate() {
        polars_ensure!(
            !all[..i].iter().any(|earlier| earlier.name() == field.name()),
            Duplicate: "{FOLD}: the result would have two fields named '{}' (a key and a state)",
            field.name()
        );
    }
    Ok(Field::new(values.name().clone(), DataType::Struct(all)))
}

/// The state after each key's last row, one row per key in the order the
/// keys first appear: a struct of the key columns and the states.
#[polars_expr(output_type_func_with_kwargs=fold_by_field)]
fn pl_fold_by(inputs: &[Series], kwargs: RuleKwargs) -> PolarsResult<Series> {
    let call = RuleCall::new(FOLD, inputs, &kwargs)?;
    let len = call.values.len();
    let keys = match call.key_ids(FOLD)? {
        Some(keys) => keys,
        // No key splits the rows: they are one group (or none at all).
        None => KeyIds {
            ids: vec![0; len],
            groups: usize::from(len > 0),
        },
    };
    let width = call.starts.0.len();
    let mut per_key = call.starts.per_group(&keys);
    let mut states = States::PerKey {
        ids: &keys.ids,
        states: &mut per_key,
    };
    fold_rule(FOLD, &call.rule, call.values, &call.columns, &mut states)?;

    // Each key's first row, in the order the keys first appear.
    let mut seen = vec![false; keys.groups];
    let mut first_rows: Vec<IdxSize> = Vec::new();
    let mut order: Vec<usize> = Vec::new();
    for (row, &id) in keys.ids.iter().enumerate() {
        let id = id as usize;
        if !seen[id] {
            seen[id] = true;
            first_rows.push(row as IdxSize);
            order.push(id);
        }
    }
    let first_rows = IdxCa::from_vec(PlSmallStr::EMPTY, first_rows);
    let mut fields: Vec<Series> = Vec::with_capacity(call.keys.len() + width);
    for key in call.keys {
        let key = match key.len() {
            1 => key.new_from_index(0, len),
            _ => key.clone(),
        };
        fields.push(key.take(&first_rows)?);
    }
    let name = call.values.name().clone();
    let state_fields = kwargs.state_fields(&name);
    for (number, field) in state_fields.iter().enumerate() {
        let column: Vec<f64> = order
            .iter()
            .map(|&id| per_key[id * width + number])
            .collect();
        fields.push(Float64Chunked::from_vec(field.name().clone(), column).into_series());
    }
    let rows = order.len();
    Ok(StructChunked::from_series(name, rows, fields.iter())?.into_series())
}
