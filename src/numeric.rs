//! The one place that decides which dtypes the kernels accept and how a
//! Polars array is handed to them.

use polars::prelude::*;

use polars_arrow::array::{Array, PrimitiveArray};
use polars_arrow::types::NativeType;

use crate::kernels::ValidMask;

/// The error for a column the kernels cannot read, naming the method, the
/// column and its dtype.
pub fn not_numeric(method: &str, column: &str, dtype: &DataType) -> PolarsError {
    polars_err!(
        InvalidOperation:
        "{method}: column '{column}' has dtype {dtype}, but the score needs a numeric column \
         (an integer or Float32/Float64)"
    )
}

/// Checks a column's dtype when the query is planned, so a wrong dtype fails
/// before any data is read.
pub fn ensure_numeric(method: &str, field: &Field) -> PolarsResult<()> {
    match field.dtype() {
        // Float16 is numeric to Polars but not among the kernels' inputs.
        DataType::Float16 => Err(not_numeric(method, field.name(), field.dtype())),
        dt if dt.is_primitive_numeric() || dt.is_null() => Ok(()),
        dt => Err(not_numeric(method, field.name(), dt)),
    }
}

/// Checks a rule's input column: a number, or a Boolean, which the rule
/// reads as 0.0 or 1.0 (Python's `float(True)`), so that a flag serves both
/// as a condition and as a number.
pub fn ensure_rule_input(method: &str, field: &Field) -> PolarsResult<()> {
    match field.dtype() {
        DataType::Boolean => Ok(()),
        dtype => ensure_numeric(method, field).map_err(|_| {
            polars_err!(
                InvalidOperation:
                "{method}: input column '{}' has dtype {dtype}, but a rule reads numbers (an \
                 integer or Float32/Float64) or Booleans (as 0.0 and 1.0)",
                field.name()
            )
        }),
    }
}

/// Binds `$ca` to `$series` as its typed `ChunkedArray` and evaluates `$body`
/// once per accepted dtype (every integer width, Float32, Float64; an all-null
/// column reads as Float64). Any other dtype returns the `not_numeric` error.
macro_rules! with_numeric {
    ($method:expr, $series:expr, |$ca:ident| $body:expr) => {{
        let series: &Series = $series;
        match series.dtype() {
            DataType::Int8 => {
                let $ca = series.i8()?;
                $body
            }
            DataType::Int16 => {
                let $ca = series.i16()?;
                $body
            }
            DataType::Int32 => {
                let $ca = series.i32()?;
                $body
            }
            DataType::Int64 => {
                let $ca = series.i64()?;
                $body
            }
            DataType::Int128 => {
                let $ca = series.i128()?;
                $body
            }
            DataType::UInt8 => {
                let $ca = series.u8()?;
                $body
            }
            DataType::UInt16 => {
                let $ca = series.u16()?;
                $body
            }
            DataType::UInt32 => {
                let $ca = series.u32()?;
                $body
            }
            DataType::UInt64 => {
                let $ca = series.u64()?;
                $body
            }
            DataType::UInt128 => {
                let $ca = series.u128()?;
                $body
            }
            DataType::Float32 => {
                let $ca = series.f32()?;
                $body
            }
            DataType::Float64 => {
                let $ca = series.f64()?;
                $body
            }
            DataType::Null => {
                let all_null = series.cast(&DataType::Float64)?;
                let $ca = all_null.f64()?;
                $body
            }
            dtype => return Err($crate::numeric::not_numeric($method, series.name(), dtype)),
        }
    }};
}
pub(crate) use with_numeric;

/// Rows `start..start + len` of one array: its values and, when it has
/// nulls, its validity.
pub fn rows<T: NativeType>(
    array: &PrimitiveArray<T>,
    start: usize,
    len: usize,
) -> (&[T], Option<ValidMask<'_>>) {
    let values = &array.values()[start..start + len];
    let mask = array
        .validity()
        .filter(|_| array.null_count() > 0)
        .map(|bitmap| {
            let (bytes, offset, _) = bitmap.as_slice();
            ValidMask::new(bytes, offset + start)
        });
    (values, mask)
}

/// All rows of one array.
pub fn all_rows<T: NativeType>(array: &PrimitiveArray<T>) -> (&[T], Option<ValidMask<'_>>) {
    rows(array, 0, array.len())
}

/// Where a piece starts: an array and a row offset into it.
type PieceStart<'a, T> = (&'a PrimitiveArray<T>, usize);

/// The same-length pieces of two equally long chunked columns, cut where
/// either one changes chunk, so neither is copied to align the other.
pub fn aligned_pieces<'a, A, B>(
    a: &'a ChunkedArray<A>,
    b: &'a ChunkedArray<B>,
) -> impl Iterator<Item = (PieceStart<'a, A::Native>, PieceStart<'a, B::Native>, usize)>
where
    A: PolarsNumericType,
    B: PolarsNumericType,
{
    let mut a_arrays = a.downcast_iter().filter(|arr| arr.len() > 0);
    let mut b_arrays = b.downcast_iter().filter(|arr| arr.len() > 0);
    let mut a_cur = a_arrays.next().map(|arr| (arr, 0usize));
    let mut b_cur = b_arrays.next().map(|arr| (arr, 0usize));
    std::iter::from_fn(move || {
        let (a_arr, a_at) = a_cur?;
        let (b_arr, b_at) = b_cur?;
        let len = (a_arr.len() - a_at).min(b_arr.len() - b_at);
        let piece = ((a_arr, a_at), (b_arr, b_at), len);
        a_cur = if a_at + len == a_arr.len() {
            a_arrays.next().map(|arr| (arr, 0))
        } else {
            Some((a_arr, a_at + len))
        };
        b_cur = if b_at + len == b_arr.len() {
            b_arrays.next().map(|arr| (arr, 0))
        } else {
            Some((b_arr, b_at + len))
        };
        Some(piece)
    })
}
