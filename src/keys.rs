//! Turning `by` key columns into one dense group id per row.

use polars::prelude::*;
use polars_arrow::array::{Array, FixedSizeListArray, ListArray, StructArray};
use polars_arrow::bitmap::{Bitmap, MutableBitmap};
use polars_arrow::compute::utils::combine_validities_and;
use polars_core::frame::group_by::GroupsType;

use crate::kernels::key_range::{
    dense_slot_count, min_max_parallel, slots_parallel, widest, Density, IntKey,
};
use crate::kernels::output::filled;
use crate::numeric::all_rows;
use crate::parallelism::MIN_ROWS_FOR_PARALLEL_HASHING;

/// One group id per row, each below `groups`.
pub struct KeyIds {
    pub ids: Vec<u32>,
    pub groups: usize,
}

/// Group ids for `keys`, all of length `len` (length-1 keys broadcast and
/// keys of dtype Null are all null, so neither splits anything). Null keys
/// form their own group. `None` when no key splits the rows: they are one
/// group.
/// Dense integer keys are read on up to `threads` threads.
pub fn key_ids(
    method: &str,
    keys: &[Series],
    len: usize,
    threads: usize,
) -> PolarsResult<Option<KeyIds>> {
    let mut splitting = Vec::with_capacity(keys.len());
    for key in keys {
        match key.len() {
            // All null: one key, which splits nothing.
            _ if key.dtype().is_null() => {}
            1 => {}
            n if n == len => splitting.push(key),
            n => polars_bail!(
                ShapeMismatch:
                "{method}: key column '{}' has {n} rows but the value column has {len}",
                key.name()
            ),
        }
    }
    if splitting.is_empty() || len <= 1 {
        return Ok(None);
    }
    if let [key] = splitting.as_slice() {
        if let Some(dense) = dense_integer_ids(key, threads) {
            return Ok(Some(dense));
        }
    }
    hashed_ids(method, &splitting, len).map(Some)
}

/// Integer keys whose range is at most a few times the row count index the
/// state directly, like a hand-written loop over dense keys: no hashing.
fn dense_integer_ids(key: &Series, threads: usize) -> Option<KeyIds> {
    match key.dtype() {
        DataType::Int8 => dense_ids(key.i8().ok()?, threads),
        DataType::Int16 => dense_ids(key.i16().ok()?, threads),
        DataType::Int32 => dense_ids(key.i32().ok()?, threads),
        DataType::Int64 => dense_ids(key.i64().ok()?, threads),
        DataType::UInt8 => dense_ids(key.u8().ok()?, threads),
        DataType::UInt16 => dense_ids(key.u16().ok()?, threads),
        DataType::UInt32 => dense_ids(key.u32().ok()?, threads),
        DataType::UInt64 => dense_ids(key.u64().ok()?, threads),
        _ => None,
    }
}

/// The smallest and the largest non-null key, `None` if there is none; a
/// chunk without nulls is read on up to `threads` threads.
pub fn key_range<T>(ca: &ChunkedArray<T>, threads: usize) -> Option<(T::Native, T::Native)>
where
    T: PolarsNumericType,
    T::Native: IntKey,
{
    let ranges = ca.downcast_iter().filter_map(|array| {
        if array.null_count() == 0 {
            min_max_parallel(array.values(), threads)
        } else {
            let valid = array.iter().flatten().copied();
            valid.clone().min().zip(valid.max())
        }
    });
    ranges.reduce(widest)
}

fn dense_ids<T>(ca: &ChunkedArray<T>, threads: usize) -> Option<KeyIds>
where
    T: PolarsNumericType,
    T::Native: IntKey,
{
    let (min, max) = key_range(ca, threads)?;
    let groups = dense_slot_count(min, max, ca.len(), Density::COLUMN)?;
    let ids = filled(ca.len(), |mut rest| {
        for array in ca.downcast_iter() {
            let (out, after) = rest.split_at_mut(array.len());
            rest = after;
            let (keys, mask) = all_rows(array);
            slots_parallel(keys, mask, min, threads, out);
        }
    });
    Some(KeyIds { ids, groups })
}

/// Any other keys, one column or several, through Polars' own group-by.
fn hashed_ids(method: &str, keys: &[&Series], len: usize) -> PolarsResult<KeyIds> {
    let columns = (keys.iter())
        .map(|key| Ok(nulls_all_the_way_down(key)?.into_column()))
        .collect::<PolarsResult<Vec<Column>>>()?;
    let multithreaded = len >= MIN_ROWS_FOR_PARALLEL_HASHING;
    let no_columns = DataFrame::empty();
    let groups = no_columns
        .group_by_with_series(columns, multithreaded, false)
        .map_err(
            |e| polars_err!(InvalidOperation: "{method}: cannot group by the key columns: {e}"),
        )?;
    let groups = groups.get_groups();
    polars_ensure!(
        groups.len() <= u32::MAX as usize,
        InvalidOperation: "{method}: more than {} distinct keys", u32::MAX
    );
    let mut ids = vec![0u32; len];
    match &**groups {
        GroupsType::Idx(idx) => {
            for (group, rows) in idx.all().iter().enumerate() {
                for &row in rows.iter() {
                    ids[row as usize] = group as u32;
                }
            }
        }
        GroupsType::Slice { groups: slices, .. } => {
            for (group, &[first, n]) in slices.iter().enumerate() {
                ids[first as usize..(first + n) as usize].fill(group as u32);
            }
        }
    }
    Ok(KeyIds {
        ids,
        groups: groups.len(),
    })
}

/// `key` with every value that lies beneath a null (a struct's fields, an
/// array's elements, at any depth) null too, so that Polars' row encoding,
/// which writes what lies beneath a null struct or array, sees one null
/// whatever was hidden there: Polars groups a null as one value. Polars'
/// own `propagate_nulls` leaves a struct field alone when its validity
/// covers every valid row of the struct (a field with an all-valid bitmap,
/// as keys passed to a plugin have), so it cannot be relied on here.
/// A null list's elements are never written, so a list keeps them.
fn nulls_all_the_way_down(key: &Series) -> PolarsResult<Series> {
    if !key.dtype().is_nested() {
        return Ok(key.clone());
    }
    let chunks = (key.chunks().iter())
        .map(|chunk| null_beneath(chunk.as_ref(), None))
        .collect::<PolarsResult<Vec<_>>>()?;
    // SAFETY: only validities changed, so every chunk still holds the
    // physical arrays of `key`'s dtype, with the same lengths.
    Ok(unsafe { Series::from_chunks_and_dtype_unchecked(key.name().clone(), chunks, key.dtype()) })
}

/// `array` with its values null where `outer` (its parent's validity, one
/// bit per value) is unset, and the same beneath each of its own nulls.
fn null_beneath(array: &dyn Array, outer: Option<&Bitmap>) -> PolarsResult<Box<dyn Array>> {
    let validity = combine_validities_and(array.validity(), outer);
    let any = array.as_any();
    if let Some(structs) = any.downcast_ref::<StructArray>() {
        let fields = (structs.values().iter())
            .map(|field| null_beneath(field.as_ref(), validity.as_ref()))
            .collect::<PolarsResult<Vec<_>>>()?;
        let dtype = structs.dtype().clone();
        return Ok(StructArray::try_new(dtype, structs.len(), fields, validity)?.boxed());
    }
    if let Some(arrays) = any.downcast_ref::<FixedSizeListArray>() {
        let each = validity.as_ref().map(|v| repeat_each(v, arrays.size()));
        let values = null_beneath(arrays.values().as_ref(), each.as_ref())?;
        let dtype = arrays.dtype().clone();
        return Ok(FixedSizeListArray::try_new(dtype, arrays.len(), values, validity)?.boxed());
    }
    if let Some(lists) = any.downcast_ref::<ListArray<i64>>() {
        let values = null_beneath(lists.values().as_ref(), None)?;
        let (dtype, offsets) = (lists.dtype().clone(), lists.offsets().clone());
        return Ok(ListArray::try_new(dtype, offsets, values, validity)?.boxed());
    }
    Ok(array.with_validity(validity))
}

/// Each bit of `bits` `times` times in a row.
fn repeat_each(bits: &Bitmap, times: usize) -> Bitmap {
    let mut out = MutableBitmap::with_capacity(bits.len() * times);
    for bit in bits.iter() {
        out.extend_constant(times, bit);
    }
    out.into()
}
