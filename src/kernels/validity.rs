//! Which rows hold a value, as a type: a kernel loop is written once over
//! any [`Validity`] and compiled twice, once for [`AllValid`] (the check is
//! `true` and vanishes) and once for an Arrow bitmap ([`ValidMask`]).

/// Which rows of a slice hold a value.
pub trait Validity: Copy {
    fn is_valid(&self, row: usize) -> bool;

    /// The same validity, starting `rows` rows later.
    fn skip(self, rows: usize) -> Self;
}

/// Every row holds a value: a column without nulls.
#[derive(Clone, Copy, Debug)]
pub struct AllValid;

impl Validity for AllValid {
    #[inline(always)]
    fn is_valid(&self, _row: usize) -> bool {
        true
    }

    #[inline(always)]
    fn skip(self, _rows: usize) -> Self {
        self
    }
}

/// Which rows hold a value: an Arrow validity bitmap (least significant bit
/// first), starting `offset` bits into `bytes`.
#[derive(Clone, Copy, Debug)]
pub struct ValidMask<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> ValidMask<'a> {
    pub fn new(bytes: &'a [u8], offset: usize) -> Self {
        Self { bytes, offset }
    }

    /// The bitmap's bytes; row 0 is bit [`Self::offset`].
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    // Inherent as well as the trait's, so code holding a `ValidMask` reads
    // it without importing `Validity`.
    #[inline(always)]
    pub fn is_valid(&self, row: usize) -> bool {
        let bit = self.offset + row;
        (self.bytes[bit >> 3] >> (bit & 7)) & 1 == 1
    }

    /// The same mask, starting `rows` rows later.
    #[inline(always)]
    pub fn skip(self, rows: usize) -> Self {
        Self {
            bytes: self.bytes,
            offset: self.offset + rows,
        }
    }
}

impl Validity for ValidMask<'_> {
    #[inline(always)]
    fn is_valid(&self, row: usize) -> bool {
        ValidMask::is_valid(self, row)
    }

    #[inline(always)]
    fn skip(self, rows: usize) -> Self {
        ValidMask::skip(self, rows)
    }
}

/// A row holds a value in both columns: a pair of validities.
impl<A: Validity, B: Validity> Validity for (A, B) {
    #[inline(always)]
    fn is_valid(&self, row: usize) -> bool {
        self.0.is_valid(row) && self.1.is_valid(row)
    }

    #[inline(always)]
    fn skip(self, rows: usize) -> Self {
        (self.0.skip(rows), self.1.skip(rows))
    }
}

/// Evaluates `$body` with `$valid` bound to the [`Validity`] of an
/// `Option<ValidMask>` (`None`: no nulls), so that the body is compiled once
/// for [`AllValid`] and once for [`ValidMask`]. With two masks, the rows
/// valid in both: one mask alone is read as that mask, so three variants are
/// compiled, not four.
macro_rules! with_validity {
    ($mask:expr, |$valid:ident| $body:expr) => {
        match $mask {
            None => {
                let $valid = $crate::kernels::validity::AllValid;
                $body
            }
            Some(mask) => {
                let $valid: $crate::kernels::validity::ValidMask = mask;
                $body
            }
        }
    };
    ($mask:expr, $other:expr, |$valid:ident| $body:expr) => {
        match ($mask, $other) {
            (None, None) => {
                let $valid = $crate::kernels::validity::AllValid;
                $body
            }
            (Some(mask), None) | (None, Some(mask)) => {
                let $valid: $crate::kernels::validity::ValidMask = mask;
                $body
            }
            (Some(mask), Some(other)) => {
                let $valid: (
                    $crate::kernels::validity::ValidMask,
                    $crate::kernels::validity::ValidMask,
                ) = (mask, other);
                $body
            }
        }
    };
}
pub(crate) use with_validity;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_support::pack;

    fn rows<V: Validity>(valid: V, len: usize) -> Vec<bool> {
        (0..len).map(|row| valid.is_valid(row)).collect()
    }

    #[test]
    fn mask_reads_bits_from_an_offset() {
        let bytes = pack(&[true, false, true, true, false, false, false, false, true]);
        let mask = ValidMask::new(&bytes, 2);
        assert_eq!(
            rows(mask, 7),
            [true, true, false, false, false, false, true]
        );
        assert!(!mask.skip(2).is_valid(0));
        assert!(mask.skip(6).is_valid(0));
    }

    #[test]
    fn all_valid_and_pairs() {
        let bytes = pack(&[true, false, true, true]);
        let other = pack(&[true, true, false, true]);
        let (a, b) = (ValidMask::new(&bytes, 0), ValidMask::new(&other, 0));
        assert_eq!(rows(AllValid.skip(3), 4), [true; 4]);
        assert_eq!(rows((a, AllValid), 4), rows(a, 4));
        assert_eq!(rows((a, b), 4), [true, false, false, true]);
        assert_eq!(rows((a, b).skip(1), 3), [false, false, true]);
    }

    #[test]
    fn the_macro_picks_the_rows_valid_in_both() {
        let bytes = pack(&[true, false, true]);
        let other = pack(&[false, true, true]);
        let (a, b) = (ValidMask::new(&bytes, 0), ValidMask::new(&other, 0));
        let count = |x: Option<ValidMask>, y: Option<ValidMask>| {
            with_validity!(x, y, |valid| rows(valid, 3).iter().filter(|&&v| v).count())
        };
        assert_eq!(count(None, None), 3);
        assert_eq!(count(Some(a), None), 2);
        assert_eq!(count(None, Some(b)), 2);
        assert_eq!(count(Some(a), Some(b)), 1);
        assert!(!with_validity!(Some(b), |valid| valid.is_valid(0)));
    }
}
