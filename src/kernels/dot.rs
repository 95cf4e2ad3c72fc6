//! The dot product of two numeric columns, each read in its own type.

use super::summation::{lane_sum, lane_sum_one};
use super::validity::{with_validity, ValidMask, Validity};
use super::ToF64;

/// The sum of `a[i] * b[i]` over the rows where both are valid.
/// `a` and `b` have the same length.
pub fn dot<A: ToF64, B: ToF64>(
    a: &[A],
    a_mask: Option<ValidMask>,
    b: &[B],
    b_mask: Option<ValidMask>,
) -> f64 {
    with_validity!(a_mask, b_mask, |valid| lane_sum(a, b, |i, x, y| {
        if valid.is_valid(i) {
            x.to_f64() * y.to_f64()
        } else {
            0.0
        }
    }))
}

/// The sum of `a[i] * scale` over the valid rows of `a`: a dot product with a
/// broadcast scalar, multiplied row by row like the full product.
pub fn dot_scalar<A: ToF64>(a: &[A], mask: Option<ValidMask>, scale: f64) -> f64 {
    with_validity!(mask, |valid| lane_sum_one(a, |i, x| {
        if valid.is_valid(i) {
            x.to_f64() * scale
        } else {
            0.0
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_support::pack;
    use proptest::prelude::*;

    #[test]
    fn mixed_types_and_nulls() {
        let a = [1i64, 2, 3, 4];
        let b = [0.5f64, 100.0, 2.0, -1.0];
        assert_eq!(dot(&a, None, &b, None), 0.5 + 200.0 + 6.0 - 4.0);
        let bytes = pack(&[true, false, true, true]);
        let mask = Some(ValidMask::new(&bytes, 0));
        assert_eq!(dot(&a, mask, &b, None), 0.5 + 6.0 - 4.0);
        let other = pack(&[true, true, true, false]);
        assert_eq!(dot(&a, mask, &b, Some(ValidMask::new(&other, 0))), 6.5);
        assert_eq!(dot_scalar(&a, mask, 2.0), 16.0);
    }

    proptest! {
        #[test]
        fn close_to_a_sequential_dot(
            pairs in prop::collection::vec((-1000i64..1000, -1e3f64..1e3), 0..5000),
        ) {
            let a: Vec<i64> = pairs.iter().map(|p| p.0).collect();
            let b: Vec<f64> = pairs.iter().map(|p| p.1).collect();
            let want: f64 = pairs.iter().map(|&(x, y)| x as f64 * y).sum();
            let scale: f64 = pairs.iter().map(|&(x, y)| (x as f64 * y).abs()).sum();
            prop_assert!((dot(&a, None, &b, None) - want).abs() <= 1e-12 * scale.max(1e-300));
        }
    }
}
