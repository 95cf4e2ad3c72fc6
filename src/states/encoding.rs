//! Key columns as bytes: each column's kind (which keys can be equal) and
//! its values written row by row (`kernels::key_table`'s encoding).

use polars::prelude::*;

use crate::kernels::key_table::{
    push_bool, push_bytes, push_float, push_int, push_null, push_uint, Codec, EncodedRows,
};

/// What a key column holds, as far as equality goes: two keys can be equal
/// only within one kind.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyKind {
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
    fn of(method: &str, key: &Series) -> PolarsResult<Option<Self>> {
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
            _ => return Err(not_a_key(method, key)),
        }))
    }

    /// How the kind's values are written.
    pub fn codec(&self) -> Codec {
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

/// The error for a key column of a dtype no key can have.
fn not_a_key(method: &str, key: &Series) -> PolarsError {
    polars_err!(
        InvalidOperation:
        "{method}: key column '{}' has dtype {}; keys must be integers, floats, booleans, \
         strings, categoricals, binary, temporal or decimal values",
        key.name(), key.dtype()
    )
}

/// The key columns' kinds after this batch, given the kinds `before` it
/// (`None` before the first batch); an error if a column's kind differs from
/// earlier batches' or the number of columns changed.
pub fn checked_kinds(
    method: &str,
    before: Option<&[Option<KeyKind>]>,
    keys: &[Series],
) -> PolarsResult<Vec<Option<KeyKind>>> {
    if let Some(before) = before {
        polars_ensure!(
            keys.len() == before.len(),
            ShapeMismatch: "{method}: {} key columns, but earlier batches had {}",
            keys.len(), before.len()
        );
    }
    let mut kinds = Vec::with_capacity(keys.len());
    for (column, key) in keys.iter().enumerate() {
        let kind = KeyKind::of(method, key)?;
        let before = before.and_then(|kinds| kinds.get(column).cloned().flatten());
        match (before, kind) {
            (Some(before), Some(now)) if before != now => polars_bail!(
                SchemaMismatch:
                "{method}: key column '{}' has dtype {} in this batch, but it held {} keys in \
                 earlier batches; keys of different kinds are never equal, so cast the column \
                 to one dtype in every batch",
                key.name(), key.dtype(), before.describe()
            ),
            (before, now) => kinds.push(now.or(before)),
        }
    }
    Ok(kinds)
}

/// Writes each row's key (the `keys` columns at that row) to `rows`; with
/// several columns, `columns` holds each column's encodings on the way.
pub fn encode_rows(
    method: &str,
    keys: &[Series],
    columns: &mut Vec<EncodedRows>,
    rows: &mut EncodedRows,
) -> PolarsResult<()> {
    rows.clear();
    if let [key] = keys {
        return encode_column(method, key, rows);
    }
    columns.resize_with(keys.len(), EncodedRows::default);
    for (key, column) in keys.iter().zip(columns.iter_mut()) {
        column.clear();
        encode_column(method, key, column)?;
    }
    rows.interleave(columns);
    Ok(())
}

/// Appends one key column's values, a row each.
fn encode_column(method: &str, key: &Series, rows: &mut EncodedRows) -> PolarsResult<()> {
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
            return encode_column(method, &key.cast(&DataType::Float64)?, rows);
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
            return encode_column(method, &key.cast(&DataType::String)?, rows);
        }
        dt if dt.is_temporal() || matches!(dt, DataType::Decimal(..)) => {
            return encode_column(method, &key.to_physical_repr(), rows);
        }
        // The kinds checked first refuse these dtypes.
        _ => return Err(not_a_key(method, key)),
    }
    Ok(())
}
