//! Turning `by` key columns into one dense group id per row.

use polars::prelude::*;
use polars_arrow::array::Array;
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

/// Group ids for `keys`, all of length `len` (length-1 keys broadcast and so
/// do not split anything). Null keys form their own group. `None` when no key
/// splits the rows: they are one group.
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
    let columns: Vec<Column> = keys.iter().map(|s| (*s).clone().into_column()).collect();
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
