//! Turning `by` key columns into one dense group id per row.

use polars::prelude::*;
use polars_arrow::array::Array;
use polars_core::frame::group_by::GroupsType;

/// One group id per row, each below `groups`.
pub struct KeyIds {
    pub ids: Vec<u32>,
    pub groups: usize,
}

/// Group ids for `keys`, all of length `len` (length-1 keys broadcast and so
/// do not split anything). Null keys form their own group. `None` when no key
/// splits the rows: they are one group.
pub fn key_ids(method: &str, keys: &[Series], len: usize) -> PolarsResult<Option<KeyIds>> {
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
        if let Some(dense) = dense_integer_ids(key) {
            return Ok(Some(dense));
        }
    }
    hashed_ids(method, &splitting, len).map(Some)
}

/// Integer keys whose range is at most a few times the row count index the
/// state directly, like a hand-written loop over dense keys: no hashing.
fn dense_integer_ids(key: &Series) -> Option<KeyIds> {
    macro_rules! dense {
        ($ca:expr) => {{
            let ca = $ca;
            let (min, max) = (i128::from(ca.min()?), i128::from(ca.max()?));
            let span = max - min;
            if span >= 2 * ca.len().max(1024) as i128 || span >= i128::from(u32::MAX - 1) {
                return None;
            }
            // Slot 0 is the null key's; a chunk without nulls skips the check.
            let slot = |k| (i128::from(k) - min) as u32 + 1;
            let mut ids = Vec::with_capacity(ca.len());
            for array in ca.downcast_iter() {
                if array.null_count() == 0 {
                    ids.extend(array.values().iter().map(|&k| slot(k)));
                } else {
                    ids.extend(array.iter().map(|k| k.map_or(0, |&k| slot(k))));
                }
            }
            Some(KeyIds {
                ids,
                groups: span as usize + 2,
            })
        }};
    }
    match key.dtype() {
        DataType::Int8 => dense!(key.i8().ok()?),
        DataType::Int16 => dense!(key.i16().ok()?),
        DataType::Int32 => dense!(key.i32().ok()?),
        DataType::Int64 => dense!(key.i64().ok()?),
        DataType::UInt8 => dense!(key.u8().ok()?),
        DataType::UInt16 => dense!(key.u16().ok()?),
        DataType::UInt32 => dense!(key.u32().ok()?),
        DataType::UInt64 => dense!(key.u64().ok()?),
        _ => None,
    }
}

/// Any other keys, one column or several, through Polars' own group-by.
fn hashed_ids(method: &str, keys: &[&Series], len: usize) -> PolarsResult<KeyIds> {
    let columns: Vec<Column> = keys.iter().map(|s| (*s).clone().into_column()).collect();
    // Only large inputs are worth threads of our own beside the host's.
    let multithreaded = len >= 1 << 20;
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
