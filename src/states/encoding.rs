//! Key columns as bytes: each column's kind (which keys can be equal) and
//! its values written row by row (`kernels::key_table`'s encoding).

use polars::prelude::*;

use crate::kernels::key_table::{
    push_bool, push_bytes, push_float, push_int, push_length, push_null, push_uint, Codec,
    EncodedRows,
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
    /// Structs with these fields, in this order, each of its kind (`None`:
    /// a field of dtype Null so far).
    Struct(Vec<(PlSmallStr, Option<KeyKind>)>),
    /// Lists of any length of values of one kind.
    List(Box<Option<KeyKind>>),
    /// Arrays of this width.
    Array(Box<Option<KeyKind>>, usize),
    /// An extension dtype, equal only under the very same dtype, written as
    /// its storage.
    Extension(DataType),
}

impl KeyKind {
    /// The kind of `key`'s dtype: `None` for dtype Null (all null, which
    /// fits every kind); an error for a dtype that cannot be a key here.
    fn of(method: &str, key: &Series) -> PolarsResult<Option<Self>> {
        Self::of_dtype(key.dtype()).ok_or_else(|| not_a_key(method, key))
    }

    /// The kind of `dtype`, at any depth; `None` for a dtype no key can have.
    fn of_dtype(dtype: &DataType) -> Option<Option<Self>> {
        Some(Some(match dtype {
            DataType::Null => return Some(None),
            dt if dt.is_integer() => Self::Int,
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Self::Float,
            DataType::Boolean => Self::Boolean,
            DataType::String | DataType::Categorical(..) | DataType::Enum(..) => Self::Text,
            DataType::Binary => Self::Binary,
            // The precision only bounds the values; the scale gives them meaning.
            DataType::Decimal(_, scale) => Self::Exact(DataType::Decimal(38, *scale)),
            dt if dt.is_temporal() => Self::Exact(dt.clone()),
            DataType::Struct(fields) => Self::Struct(
                (fields.iter())
                    .map(|field| Some((field.name().clone(), Self::of_dtype(field.dtype())?)))
                    .collect::<Option<_>>()?,
            ),
            DataType::List(inner) => Self::List(Box::new(Self::of_dtype(inner)?)),
            DataType::Array(inner, width) => Self::Array(Box::new(Self::of_dtype(inner)?), *width),
            DataType::Extension(..) => Self::Extension(dtype.clone()),
            _ => return None,
        }))
    }

    /// How the kind's values are written, for the kinds ordered as Polars
    /// sorts them; `None` for the others (nested and extension dtypes),
    /// which are never read back.
    pub fn codec(&self) -> Option<Codec> {
        Some(match self {
            Self::Int | Self::Exact(_) => Codec::Int,
            Self::Float => Codec::Float,
            Self::Boolean => Codec::Bool,
            Self::Text | Self::Binary => Codec::Bytes,
            Self::Struct(_) | Self::List(_) | Self::Array(..) | Self::Extension(_) => return None,
        })
    }

    fn describe(&self) -> String {
        match self {
            Self::Int => "integer".into(),
            Self::Float => "float".into(),
            Self::Boolean => "boolean".into(),
            Self::Text => "string".into(),
            Self::Binary => "binary".into(),
            Self::Exact(dtype) | Self::Extension(dtype) => dtype.to_string(),
            Self::Struct(fields) => {
                let fields: Vec<String> = (fields.iter())
                    .map(|(name, kind)| format!("{name}: {}", describe(kind)))
                    .collect();
                format!("struct{{{}}}", fields.join(", "))
            }
            Self::List(inner) => format!("list[{}]", describe(inner)),
            Self::Array(inner, width) => format!("array[{}, {width}]", describe(inner)),
        }
    }
}

fn describe(kind: &Option<KeyKind>) -> String {
    kind.as_ref()
        .map_or_else(|| "null".into(), KeyKind::describe)
}

/// The kind that keys of both kinds `before` and `now` have (`None` inside
/// either fits anything, at any depth); `None` when no key of one can
/// equal a key of the other.
fn merged(before: &Option<KeyKind>, now: &Option<KeyKind>) -> Option<Option<KeyKind>> {
    use KeyKind::*;
    Some(match (before, now) {
        (None, kind) | (kind, None) => kind.clone(),
        (Some(Struct(a)), Some(Struct(b))) => {
            let names = |fields: &[(PlSmallStr, Option<KeyKind>)]| -> Vec<PlSmallStr> {
                fields.iter().map(|(name, _)| name.clone()).collect()
            };
            if names(a) != names(b) {
                return None;
            }
            let fields = (a.iter().zip(b))
                .map(|((name, a), (_, b))| Some((name.clone(), merged(a, b)?)))
                .collect::<Option<_>>()?;
            Some(Struct(fields))
        }
        (Some(List(a)), Some(List(b))) => Some(List(Box::new(merged(a, b)?))),
        (Some(Array(a, n)), Some(Array(b, m))) if n == m => {
            Some(Array(Box::new(merged(a, b)?), *n))
        }
        (Some(a), Some(b)) if a == b => Some(a.clone()),
        _ => return None,
    })
}

/// The error for a key column of a dtype no key can have.
fn not_a_key(method: &str, key: &Series) -> PolarsError {
    polars_err!(
        InvalidOperation:
        "{method}: key column '{}' has dtype {}; keys must be integers, floats, booleans, \
         strings, categoricals, binary, temporal or decimal values, or structs, lists and \
         arrays of them",
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
        match merged(&before, &kind) {
            Some(kind) => kinds.push(kind),
            None => polars_bail!(
                SchemaMismatch:
                "{method}: key column '{}' has dtype {} in this batch, but it held {} keys in \
                 earlier batches; keys of different kinds are never equal, so cast the column \
                 to one dtype in every batch",
                key.name(), key.dtype(), describe(&before)
            ),
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
        DataType::Struct(_) | DataType::List(_) | DataType::Array(..) => {
            return encode_nested(method, key, rows);
        }
        DataType::Extension(..) => return encode_column(method, key.ext()?.storage(), rows),
        // The kinds checked first refuse these dtypes.
        _ => return Err(not_a_key(method, key)),
    }
    Ok(())
}

/// What a nested column's valid value is made of.
enum Parts {
    /// A struct's fields, written one after the other: row `i` of these
    /// rows is row `i`'s fields.
    Fields(usize, EncodedRows),
    /// A list's or an array's elements: row `i` holds elements
    /// `bounds[i]..bounds[i + 1]` of these rows.
    Elements(EncodedRows, Vec<usize>),
}

/// Appends one struct, list or array key column's values, a row each: a
/// null as a null, whatever lies beneath it, as Polars groups it; a valid
/// value as its number of parts, then each part's encoding (which its own
/// dtype decides, so that a struct of Int32 and one of Int64 write the same
/// bytes for the same numbers).
fn encode_nested(method: &str, key: &Series, rows: &mut EncodedRows) -> PolarsResult<()> {
    let encoded = |part: &Series| -> PolarsResult<EncodedRows> {
        let mut rows = EncodedRows::default();
        encode_column(method, part, &mut rows)?;
        Ok(rows)
    };
    let (validity, parts) = match key.dtype() {
        DataType::Struct(_) => {
            let ca = key.struct_()?;
            let fields = (ca.fields_as_series().iter())
                .map(encoded)
                .collect::<PolarsResult<Vec<_>>>()?;
            let mut joined = EncodedRows::default();
            joined.interleave(&fields);
            if fields.is_empty() {
                (0..key.len()).for_each(|_| joined.end_row());
            }
            (ca.rechunk_validity(), Parts::Fields(fields.len(), joined))
        }
        DataType::List(_) => {
            let ca = key.list()?.rechunk();
            let array = ca.downcast_as_array();
            let bounds = array.offsets().iter().map(|&o| o as usize).collect();
            let elements = encoded(&ca.get_inner())?;
            (array.validity().cloned(), Parts::Elements(elements, bounds))
        }
        DataType::Array(_, width) => {
            let ca = key.array()?.rechunk();
            let bounds = (0..=ca.len()).map(|row| row * width).collect();
            let elements = encoded(&ca.get_inner())?;
            (ca.rechunk_validity(), Parts::Elements(elements, bounds))
        }
        _ => return Err(not_a_key(method, key)),
    };
    for row in 0..key.len() {
        let out = rows.buffer();
        if validity.as_ref().is_some_and(|valid| !valid.get_bit(row)) {
            push_null(out);
        } else {
            match &parts {
                Parts::Fields(count, fields) => {
                    push_length(out, *count);
                    out.extend_from_slice(fields.row(row));
                }
                Parts::Elements(elements, bounds) => {
                    let (start, end) = (bounds[row], bounds[row + 1]);
                    push_length(out, end - start);
                    for element in start..end {
                        out.extend_from_slice(elements.row(element));
                    }
                }
            }
        }
        rows.end_row();
    }
    Ok(())
}
