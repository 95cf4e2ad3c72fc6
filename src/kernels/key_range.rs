//! Integer keys as dense slots: `1 + key - min`, so that per-key states can
//! sit in an array indexed by key, with no hashing.

use std::mem::MaybeUninit;

use super::validity::{with_validity, ValidMask, Validity};
use super::{on_threads, widest_simd};

/// An integer key. `bits` widens it to 64 bits (signed keys sign-extended),
/// so that `key.bits() - min.bits()`, wrapping, is the distance from `min`
/// for signed and unsigned keys alike.
pub trait IntKey: Copy + Ord + Send + Sync + Into<i128> {
    fn bits(self) -> u64;
}

macro_rules! impl_int_key {
    ($($t:ty),*) => {
        $(impl IntKey for $t {
            #[inline(always)]
            fn bits(self) -> u64 {
                self as u64
            }
        })*
    };
}
impl_int_key!(i8, i16, i32, i64, u8, u16, u32, u64);

widest_simd! {
    /// The smallest and the largest key, `None` when there is none. One pass
    /// in eight lanes, which the compiler turns into vector compares.
    pub fn min_max<T: IntKey>(keys: &[T]) -> Option<(T, T)> {
        let &first = keys.first()?;
        let (rows, tail) = keys.as_chunks::<8>();
        let (mut low, mut high) = ([first; 8], [first; 8]);
        for row in rows {
            for lane in 0..8 {
                low[lane] = low[lane].min(row[lane]);
                high[lane] = high[lane].max(row[lane]);
            }
        }
        let low = low.into_iter().chain(tail.iter().copied()).min()?;
        let high = high.into_iter().chain(tail.iter().copied()).max()?;
        Some((low, high))
    }
}

widest_simd! {
    /// Writes each key's slot, `1 + key - min`, to `out`, and slot 0 for the
    /// rows `mask` marks null. Every other key must lie in
    /// `min..min + u32::MAX - 1`.
    pub fn slots<T: IntKey>(keys: &[T], mask: Option<ValidMask>, min: T, out: &mut [MaybeUninit<u32>]) {
        let base = min.bits();
        let slot = |key: T| key.bits().wrapping_sub(base) as u32 + 1;
        with_validity!(mask, |valid| {
            for (i, (out, &key)) in out.iter_mut().zip(keys).enumerate() {
                out.write(if valid.is_valid(i) { slot(key) } else { 0 });
            }
        })
    }
}

/// How densely integer keys must lie for their states to sit in an array
/// indexed by key (see [`dense_slot_count`]): at most `per_row` keys of range
/// per row, or `floor` whatever the rows. The one rule for dense keys, with
/// two settings because its callers see keys differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Density {
    pub per_row: usize,
    pub floor: usize,
}

impl Density {
    /// One whole column, scored in one call (`by` keys): a range of at most
    /// twice the rows (or 2,048), which keeps the states array no larger
    /// than a few copies of the ids.
    pub const COLUMN: Self = Self {
        per_row: 2,
        floor: 2048,
    };

    /// States kept across batches, whose range grows batch by batch: `rows`
    /// counts the keys met so far and the batch's rows, and the array keeps
    /// spare slots for keys to come, so it may take four slots per row, and
    /// always 65,536 (512 KiB).
    pub const ACROSS_BATCHES: Self = Self {
        per_row: 4,
        floor: 1 << 16,
    };

    /// The most keys of range `rows` rows may index.
    pub fn allowance(self, rows: usize) -> usize {
        self.per_row.saturating_mul(rows).max(self.floor)
    }
}

/// The number of slots keys `min..=max` take (the null key's included),
/// when they lie dense enough, by `density`, for `rows` rows to index states
/// by key, and every slot fits a `u32`.
pub fn dense_slot_count<T: IntKey>(min: T, max: T, rows: usize, density: Density) -> Option<usize> {
    let keys = max.into() - min.into() + 1;
    let dense = keys <= density.allowance(rows) as i128 && keys < i128::from(u32::MAX);
    dense.then(|| keys as usize + 1)
}

/// [`min_max`] on up to `threads` threads.
pub fn min_max_parallel<T: IntKey>(keys: &[T], threads: usize) -> Option<(T, T)> {
    let ranges = on_threads(keys.chunks(piece_len(keys.len(), threads)), min_max);
    ranges.into_iter().flatten().reduce(widest)
}

/// [`slots`] on up to `threads` threads.
pub fn slots_parallel<T: IntKey>(
    keys: &[T],
    mask: Option<ValidMask>,
    min: T,
    threads: usize,
    out: &mut [MaybeUninit<u32>],
) {
    let piece = piece_len(keys.len(), threads);
    let pieces = keys.chunks(piece).zip(out.chunks_mut(piece));
    on_threads(pieces.enumerate(), |(part, (keys, out))| {
        slots(keys, mask.map(|m| m.skip(part * piece)), min, out);
    });
}

/// The range covering two ranges.
pub fn widest<T: Ord>((low, high): (T, T), (other_low, other_high): (T, T)) -> (T, T) {
    (low.min(other_low), high.max(other_high))
}

/// The length of each of `threads` consecutive pieces of `len` rows.
fn piece_len(len: usize, threads: usize) -> usize {
    len.div_ceil(threads.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::output::filled;
    use crate::kernels::test_support::pack;
    use proptest::prelude::*;

    #[test]
    fn null_rows_take_slot_zero() {
        let keys = [5i32, -2, 7, 9, -2];
        let bytes = pack(&[true, false, true, false, true]);
        let mask = Some(ValidMask::new(&bytes, 0));
        let out = filled(keys.len(), |out| slots(&keys, mask, -2, out));
        assert_eq!(out, [8, 0, 10, 0, 1]);
    }

    #[test]
    fn dense_keys_span_at_most_twice_the_rows() {
        let count = |min, max, rows| dense_slot_count(min, max, rows, Density::COLUMN);
        assert_eq!(count(0i64, 0, 1), Some(2));
        assert_eq!(dense_slot_count(-5i8, 5, 0, Density::COLUMN), Some(12));
        // At least 1,024 rows' worth of range is always dense.
        assert_eq!(
            dense_slot_count(0u16, 2047, 10, Density::COLUMN),
            Some(2049)
        );
        assert_eq!(dense_slot_count(0u16, 2048, 10, Density::COLUMN), None);
        assert_eq!(count(0i64, 19_999, 10_000), Some(20_001));
        assert_eq!(count(0i64, 20_000, 10_000), None);
        assert_eq!(count(i64::MIN, i64::MAX, usize::MAX), None);
        assert_eq!(
            dense_slot_count(0u64, u64::MAX, usize::MAX, Density::COLUMN),
            None
        );
        assert_eq!(
            dense_slot_count(0u32, u32::MAX - 2, usize::MAX, Density::COLUMN),
            Some(u32::MAX as usize)
        );
        assert_eq!(
            dense_slot_count(0u32, u32::MAX - 1, usize::MAX, Density::COLUMN),
            None
        );
    }

    #[test]
    fn states_across_batches_take_four_slots_a_row_or_65536() {
        let count = |min, max, rows| dense_slot_count(min, max, rows, Density::ACROSS_BATCHES);
        assert_eq!(count(0i64, (1 << 16) - 1, 1), Some((1 << 16) + 1));
        assert_eq!(count(0i64, 1 << 16, 1), None);
        assert_eq!(count(-10i64, 399_989, 100_000), Some(400_001));
        assert_eq!(count(-10i64, 399_990, 100_000), None);
        assert_eq!(Density::ACROSS_BATCHES.allowance(100_000), 400_000);
    }

    #[test]
    fn pieces_cover_every_row() {
        assert_eq!(piece_len(0, 4), 1);
        assert_eq!(piece_len(10, 0), 10);
        assert_eq!(piece_len(10, 3), 4);
        assert_eq!(piece_len(3, 8), 1);
    }

    proptest! {
        #[test]
        fn parallel_range_and_slots_match_the_serial_ones(
            rows in prop::collection::vec((-500i32..500, any::<bool>()), 0..3000),
            threads in 1usize..9,
        ) {
            let keys: Vec<i32> = rows.iter().map(|r| r.0).collect();
            let bytes = pack(&rows.iter().map(|r| r.1).collect::<Vec<_>>());
            let mask = Some(ValidMask::new(&bytes, 0));
            prop_assert_eq!(min_max_parallel(&keys, threads), min_max(&keys));
            let min = -500;
            let serial = filled(keys.len(), |out| slots(&keys, mask, min, out));
            let parallel = filled(keys.len(), |out| slots_parallel(&keys, mask, min, threads, out));
            prop_assert_eq!(parallel, serial);
        }

        #[test]
        fn min_max_matches_the_iterator(keys in prop::collection::vec(any::<i64>(), 0..100)) {
            let want = keys.iter().min().copied().zip(keys.iter().max().copied());
            prop_assert_eq!(min_max(&keys), want);
        }

        #[test]
        fn slots_are_distances_from_min(
            base in any::<i64>(),
            offsets in prop::collection::vec(0u32..1000, 1..50),
        ) {
            let keys: Vec<i64> = offsets.iter().map(|&o| base.saturating_add(i64::from(o))).collect();
            let (min, _) = min_max(&keys).unwrap();
            let out = filled(keys.len(), |out| slots(&keys, None, min, out));
            let want: Vec<u32> = keys.iter().map(|&k| (i128::from(k) - i128::from(min) + 1) as u32).collect();
            prop_assert_eq!(out, want);
        }

        #[test]
        fn unsigned_keys_beyond_the_signed_range(offsets in prop::collection::vec(0u8..=255, 1..50)) {
            let keys: Vec<u64> = offsets.iter().map(|&o| u64::MAX - 300 + u64::from(o)).collect();
            let (min, max) = min_max(&keys).unwrap();
            let out = filled(keys.len(), |out| slots(&keys, None, min, out));
            prop_assert!(out.iter().zip(&keys).all(|(&s, &k)| u64::from(s) == k - min + 1));
            prop_assert_eq!(max, *keys.iter().max().unwrap());
        }
    }
}
