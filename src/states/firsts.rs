//! Each key's values at its first row, kept beside a store that numbers its
//! keys by hashing their bytes: the bytes say which keys are equal, but only
//! these columns can give the keys back in their own dtypes (the key
//! columns of `total`'s output, and of saved states).

use polars::prelude::*;

/// The key columns at each key's first row, in the order the keys were
/// met, and the keys' numbers in that order: the tables number the keys of
/// a batch shard by shard, and their hashes are seeded at random, so that
/// only this order is the same from run to run.
#[derive(Default)]
pub struct FirstRows {
    columns: Vec<Series>,
    /// The keys' numbers in the order they were met.
    met: Vec<IdxSize>,
}

impl FirstRows {
    /// Columns of keys numbered `0..` in the order they were met.
    pub fn from_columns(columns: Vec<Series>) -> Self {
        let keys = columns.first().map_or(0, |column| column.len());
        Self {
            columns,
            met: (0..keys as IdxSize).collect(),
        }
    }

    /// `columns` (one row per key, in the order of the keys' numbers) in
    /// the order the keys were met, as the key columns are. The keys
    /// numbered as they were met (all that saved states loaded, and often
    /// most) keep their rows; only the others are gathered.
    pub fn in_met_order(&self, columns: Vec<Series>) -> PolarsResult<Vec<Series>> {
        let kept = (self.met.iter().enumerate())
            .take_while(|&(at, &number)| number as usize == at)
            .count();
        if kept == self.met.len() {
            return Ok(columns);
        }
        let rest = IdxCa::from_vec(PlSmallStr::EMPTY, self.met[kept..].to_vec());
        (columns.iter())
            .map(|column| {
                let mut ordered = column.slice(0, kept);
                ordered.append(&column.take(&rest)?)?;
                Ok(ordered)
            })
            .collect()
    }

    /// Starts empty columns of the `keys` columns' names and dtypes, unless
    /// some are kept already.
    pub fn start(&mut self, keys: &[Series]) {
        if self.columns.is_empty() {
            self.columns = keys.iter().map(Series::clear).collect();
        }
    }

    /// Keeps the `keys` columns at the first row of each key numbered
    /// `before..` in `numbers` (each row's key's number), the keys met for
    /// the first time in these rows.
    pub fn keep_new(
        &mut self,
        method: &str,
        keys: &[Series],
        numbers: &[u32],
        before: usize,
        after: usize,
    ) -> PolarsResult<()> {
        self.start(keys);
        let new = after - before;
        if new == 0 {
            return Ok(());
        }
        // The new keys' first rows, in row order (the order they were met),
        // in one pass over the rows.
        let mut seen = vec![false; new];
        let mut first_rows = Vec::with_capacity(new);
        self.met.reserve(new);
        for (row, &number) in numbers.iter().enumerate() {
            if let Some(first) = (number as usize).checked_sub(before) {
                if !std::mem::replace(&mut seen[first], true) {
                    first_rows.push(row as IdxSize);
                    self.met.push(number as IdxSize);
                }
            }
        }
        let first_rows = IdxCa::from_vec(PlSmallStr::EMPTY, first_rows);
        for (kept, key) in self.columns.iter_mut().zip(keys) {
            append_widened(method, kept, compacted(key.take(&first_rows)?))?;
        }
        Ok(())
    }

    /// Keeps the `keys` columns whole: each row a key met for the first
    /// time, numbered `before..` in row order (saved states that load).
    /// The columns are kept as they are, sharing their buffers.
    pub fn keep_all(&mut self, method: &str, keys: &[Series], before: usize) -> PolarsResult<()> {
        self.start(keys);
        let rows = keys.first().map_or(0, |key| key.len());
        self.met
            .extend((before..before + rows).map(|number| number as IdxSize));
        for (kept, key) in self.columns.iter_mut().zip(keys) {
            append_widened(method, kept, key.clone())?;
        }
        Ok(())
    }

    /// The key columns, each in one chunk.
    pub fn columns(&self) -> Vec<Series> {
        self.columns.iter().map(|column| column.rechunk()).collect()
    }

    /// The key columns, as they are (in chunks).
    pub fn chunked_columns(&self) -> Vec<Series> {
        self.columns.clone()
    }

    /// The key columns, each in one chunk, leaving none kept; the order the
    /// keys were met stays, for [`Self::in_met_order`].
    pub fn take(&mut self) -> Vec<Series> {
        let columns = std::mem::take(&mut self.columns);
        columns.into_iter().map(|column| column.rechunk()).collect()
    }

    pub fn heap_bytes(&self) -> usize {
        let columns: usize = self.columns.iter().map(Series::estimated_size).sum();
        columns + self.met.capacity() * std::mem::size_of::<IdxSize>()
    }
}

/// `key` with its strings in buffers of its own. A String or Binary column
/// taken from a batch shares the batch's whole buffers of long (over 12
/// bytes) strings: kept from batch to batch, those would grow with the rows
/// for a few keys' sake.
fn compacted(key: Series) -> Series {
    if let Ok(strings) = key.str() {
        let arrays = strings.downcast_iter().map(|array| array.clone().gc());
        return StringChunked::from_chunk_iter(key.name().clone(), arrays).into_series();
    }
    if let Ok(bytes) = key.binary() {
        let arrays = bytes.downcast_iter().map(|array| array.clone().gc());
        return BinaryChunked::from_chunk_iter(key.name().clone(), arrays).into_series();
    }
    key
}

/// Appends `more` to `kept`, both cast to the dtype that holds both when a
/// key column's dtype differs between batches (Int32 then Int64, or an
/// all-null batch); strings where they are text of different dtypes
/// (a categorical, then strings), which are one kind of key.
pub fn append_widened(method: &str, kept: &mut Series, more: Series) -> PolarsResult<()> {
    if kept.dtype() == more.dtype() {
        kept.append(&more)?;
        return Ok(());
    }
    let wide = polars_core::utils::try_get_supertype(kept.dtype(), more.dtype())
        .ok()
        .filter(|wide| kept.cast(wide).is_ok() && more.cast(wide).is_ok())
        .or_else(|| {
            let text = |dtype: &DataType| {
                matches!(
                    dtype,
                    DataType::String | DataType::Categorical(..) | DataType::Enum(..)
                )
            };
            (text(kept.dtype()) && text(more.dtype())).then_some(DataType::String)
        })
        .ok_or_else(|| {
            polars_err!(
                SchemaMismatch:
                "{method}: key column '{}' has dtype {} in one batch and {} in another, and no \
                 dtype holds both; cast the column to one dtype in every batch",
                kept.name(), kept.dtype(), more.dtype()
            )
        })?;
    *kept = kept.cast(&wide)?;
    kept.append(&more.cast(&wide)?)?;
    Ok(())
}
