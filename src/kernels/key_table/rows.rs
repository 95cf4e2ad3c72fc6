//! A batch's keys as bytes, row by row, and its runs of equal keys.

/// The keys of a batch's rows, written back to back.
#[derive(Debug, Default)]
pub struct EncodedRows {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl EncodedRows {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Room for `rows` more rows of about `bytes_per_row` bytes.
    pub fn reserve(&mut self, rows: usize, bytes_per_row: usize) {
        self.ends.reserve(rows);
        self.bytes.reserve(rows.saturating_mul(bytes_per_row));
    }

    /// Where the current row's bytes go: write them, then [`Self::end_row`].
    #[inline]
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    #[inline]
    pub fn end_row(&mut self) {
        self.ends.push(self.bytes.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Row `row`'s key; empty beyond the last row.
    #[inline]
    pub fn row(&self, row: usize) -> &[u8] {
        let start = match row.checked_sub(1) {
            Some(before) => self.ends.get(before).copied().unwrap_or(0),
            None => 0,
        };
        let end = self.ends.get(row).copied().unwrap_or(start);
        self.bytes.get(start..end).unwrap_or_default()
    }

    /// Appends, row by row, the columns of `columns` (each as long as the
    /// others), so that several key columns make one key per row.
    pub fn interleave(&mut self, columns: &[EncodedRows]) {
        let rows = columns.first().map_or(0, EncodedRows::len);
        let width: usize = columns.iter().map(|c| c.bytes.len()).sum();
        self.reserve(rows, width.div_ceil(rows.max(1)));
        for row in 0..rows {
            for column in columns {
                self.bytes.extend_from_slice(column.row(row));
            }
            self.end_row();
        }
    }
}

/// Runs of equal consecutive keys within one batch, for a stream sorted by
/// key.
#[derive(Debug, Default)]
pub struct BatchGroups {
    /// One group per row.
    pub ids: Vec<u32>,
    /// Each group's first row.
    pub first_rows: Vec<u32>,
}

impl BatchGroups {
    pub fn len(&self) -> usize {
        self.first_rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first_rows.is_empty()
    }

    /// Groups `rows` into runs of equal consecutive keys.
    pub fn by_runs(&mut self, rows: &EncodedRows) {
        self.ids.clear();
        self.first_rows.clear();
        self.ids.reserve(rows.len());
        let mut group = 0;
        for row in 0..rows.len() {
            if row == 0 || rows.row(row) != rows.row(row - 1) {
                group = self.first_rows.len() as u32;
                self.first_rows.push(row as u32);
            }
            self.ids.push(group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::encoding::{decode, push_bytes, push_int, Cell, Codec};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn runs_split_where_the_key_changes(keys in prop::collection::vec(0i128..3, 0..100)) {
            let mut rows = EncodedRows::default();
            for &key in &keys {
                push_int(rows.buffer(), key);
                rows.end_row();
            }
            let mut groups = BatchGroups::default();
            groups.by_runs(&rows);
            let mut want = Vec::new();
            let mut run = 0u32;
            for row in 0..keys.len() {
                if row > 0 && keys[row] != keys[row - 1] {
                    run += 1;
                }
                want.push(run);
            }
            prop_assert_eq!(&groups.ids, &want);
            prop_assert_eq!(groups.len(), want.last().map_or(0, |&r| r as usize + 1));
        }

    }

    #[test]
    fn rows_interleave_column_by_column() {
        let mut a = EncodedRows::default();
        let mut b = EncodedRows::default();
        for i in 0..3 {
            push_int(a.buffer(), i);
            a.end_row();
            push_bytes(b.buffer(), format!("s{i}").as_bytes());
            b.end_row();
        }
        let mut both = EncodedRows::default();
        both.interleave(&[a, b]);
        assert_eq!(both.len(), 3);
        let codecs = [Codec::Int, Codec::Bytes];
        assert_eq!(
            decode(&codecs, both.row(2)),
            Some(vec![Cell::Int(2), Cell::Bytes(b"s2")])
        );
        assert_eq!(both.row(3), &[] as &[u8]);
    }
}
