//! Integer keys as dense slots: `1 + key - min`, so that per-key states can
//! sit in an array indexed by key, with no hashing.

use std::mem::MaybeUninit;

use super::{widest_simd, ValidMask};

/// An integer key. `bits` widens it to 64 bits (signed keys sign-extended),
/// so that `key.bits() - min.bits()`, wrapping, is the distance from `min`
/// for signed and unsigned keys alike.
pub trait IntKey: Copy + Ord {
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
        let rows = out.iter_mut().zip(keys);
        match mask {
            None => rows.for_each(|(out, &key)| {
                out.write(slot(key));
            }),
            Some(mask) => rows.enumerate().for_each(|(i, (out, &key))| {
                out.write(if mask.is_valid(i) { slot(key) } else { 0 });
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
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
            let mut out = Vec::with_capacity(keys.len());
            slots(&keys, None, min, &mut out.spare_capacity_mut()[..keys.len()]);
            // SAFETY: `slots` wrote one slot per key.
            unsafe { out.set_len(keys.len()) };
            let want: Vec<u32> = keys.iter().map(|&k| (i128::from(k) - i128::from(min) + 1) as u32).collect();
            prop_assert_eq!(out, want);
        }

        #[test]
        fn unsigned_keys_beyond_the_signed_range(offsets in prop::collection::vec(0u8..=255, 1..50)) {
            let keys: Vec<u64> = offsets.iter().map(|&o| u64::MAX - 300 + u64::from(o)).collect();
            let (min, max) = min_max(&keys).unwrap();
            let mut out = Vec::with_capacity(keys.len());
            slots(&keys, None, min, &mut out.spare_capacity_mut()[..keys.len()]);
            // SAFETY: `slots` wrote one slot per key.
            unsafe { out.set_len(keys.len()) };
            prop_assert!(out.iter().zip(&keys).all(|(&s, &k)| u64::from(s) == k - min + 1));
            prop_assert_eq!(max, *keys.iter().max().unwrap());
        }
    }
}
